"""Tests for the indexing primitives (gather, scatter, scatter_add/mul/min/max).

Two kinds of oracle: NumPy equivalents for the familiar cases (``np.take``, ``x[i, j]``,
slicing windows, ``np.add.at``...), and a literal, element-by-element transcription of XLA's
gather/scatter semantics (``naive_gather``/``naive_scatter``) for drawn dimension numbers,
batching dimensions and out-of-bounds modes. Also: exact values of each mode, default fill
values, every abstract_eval error message, parameter normalization by the wrappers, and that
the operand is never written.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import core, lax
from functrans.errors import DtypeError, ShapeError, TracerIntegerConversionError
from functrans.primitives import indexing as ix
from functrans.primitives.batch_rules import AxisData
from functrans.primitives.indexing import GatherDimensionNumbers as GDN
from functrans.primitives.indexing import GatherScatterMode as Mode
from functrans.primitives.indexing import ScatterDimensionNumbers as SDN
from functrans.primitives.registry import Primitive

CLIP, FILL, PROMISE = Mode.CLIP, Mode.FILL_OR_DROP, Mode.PROMISE_IN_BOUNDS
SCATTERS = {
    "scatter": (ix.scatter_p, lambda a, b: b),
    "scatter_add": (ix.scatter_add_p, np.add),
    "scatter_mul": (ix.scatter_mul_p, np.multiply),
    "scatter_min": (ix.scatter_min_p, np.minimum),
    "scatter_max": (ix.scatter_max_p, np.maximum),
}
ALL_PRIMS = [ix.gather_p] + [p for p, _ in SCATTERS.values()]
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def aval(shape: tuple[int, ...], dtype: str = "float32") -> core.ShapedArray:
    return core.ShapedArray(tuple(shape), np.dtype(dtype))


def gparams(dnums: GDN, slice_sizes: tuple[int, ...], mode: Mode = PROMISE,
            fill_value: object = None) -> dict:
    return dict(dimension_numbers=dnums, slice_sizes=tuple(slice_sizes),
                indices_are_sorted=False, unique_indices=False, mode=mode,
                fill_value=fill_value)


def sparams(dnums: SDN, mode: Mode = FILL) -> dict:
    return dict(dimension_numbers=dnums, indices_are_sorted=False, unique_indices=False,
                mode=mode)


def run_gather(x: np.ndarray, idx: np.ndarray, dnums: GDN, slice_sizes: tuple[int, ...],
               mode: Mode = PROMISE, fill_value: object = None) -> np.ndarray:
    """impl, checked against abstract_eval (shape, dtype, weak type) and eager bind."""
    params = gparams(dnums, slice_sizes, mode, fill_value)
    out_aval = ix.gather_p.abstract_eval(core.get_aval(x), core.get_aval(idx), **params)
    out = ix.gather_p.impl(x, idx, **params)
    assert type(out) is np.ndarray
    assert (out.shape, out.dtype) == (out_aval.shape, out_aval.dtype)
    np.testing.assert_array_equal(np.asarray(ix.gather_p.bind(x, idx, **params)), out)
    return out


def run_scatter(prim: Primitive, x: np.ndarray, idx: np.ndarray, upd: np.ndarray, dnums: SDN,
                mode: Mode = FILL) -> np.ndarray:
    params = sparams(dnums, mode)
    before = x.copy()
    out_aval = prim.abstract_eval(*map(core.get_aval, (x, idx, upd)), **params)
    out = prim.impl(x, idx, upd, **params)
    assert type(out) is np.ndarray
    assert (out.shape, out.dtype) == (out_aval.shape, out_aval.dtype)
    np.testing.assert_array_equal(x, before)  # the operand is never written
    assert not np.shares_memory(out, x)
    return out


# --- literal transcriptions of XLA's semantics (the oracle for drawn dimension numbers) --------


def naive_gather(operand: np.ndarray, indices: np.ndarray, dn: GDN,
                 slice_sizes: tuple[int, ...], mode: Mode, fill_value: object) -> np.ndarray:
    batch_shape = indices.shape[:-1]
    window_dims = [d for d in range(operand.ndim)
                   if d not in dn.collapsed_slice_dims and d not in dn.operand_batching_dims]
    out_rank = len(batch_shape) + len(window_dims)
    batch_axes = [a for a in range(out_rank) if a not in dn.offset_dims]
    out_shape = [0] * out_rank
    for a, size in zip(batch_axes, batch_shape, strict=True):
        out_shape[a] = size
    for a, d in zip(dn.offset_dims, window_dims, strict=True):
        out_shape[a] = slice_sizes[d]
    out = np.zeros(out_shape, operand.dtype)
    for o in np.ndindex(*out_shape):
        g = tuple(o[a] for a in batch_axes)
        vec = indices[g]
        full = [0] * operand.ndim
        in_bounds = True
        for j, d in enumerate(dn.start_index_map):
            hi = operand.shape[d] - slice_sizes[d]
            s = int(vec[j])
            in_bounds &= 0 <= s <= hi
            full[d] = min(max(s, 0), hi)
        for d, a in zip(dn.operand_batching_dims, dn.start_indices_batching_dims, strict=True):
            full[d] = g[a]
        for a, d in zip(dn.offset_dims, window_dims, strict=True):
            full[d] += o[a]
        out[o] = fill_value if (mode == FILL and not in_bounds) else operand[tuple(full)]
    return out


def naive_scatter(operand: np.ndarray, indices: np.ndarray, updates: np.ndarray, dn: SDN,
                  mode: Mode, combine: object) -> np.ndarray:
    out = operand.copy()
    window_dims = [d for d in range(operand.ndim)
                   if d not in dn.inserted_window_dims and d not in dn.operand_batching_dims]
    window = dict(zip(window_dims, dn.update_window_dims, strict=True))
    sizes = [updates.shape[window[d]] if d in window else 1 for d in range(operand.ndim)]
    scatter_axes = [a for a in range(updates.ndim) if a not in dn.update_window_dims]
    for u in np.ndindex(*updates.shape):  # C order: the order "last update wins" refers to
        g = tuple(u[a] for a in scatter_axes)
        vec = indices[g]
        full = [0] * operand.ndim
        in_bounds = True
        for j, d in enumerate(dn.scatter_dims_to_operand_dims):
            hi = operand.shape[d] - sizes[d]
            s = int(vec[j])
            in_bounds &= 0 <= s <= hi
            full[d] = min(max(s, 0), hi)
        if not in_bounds and mode != CLIP:
            continue
        for d, a in zip(dn.operand_batching_dims, dn.scatter_indices_batching_dims,
                        strict=True):
            full[d] = g[a]
        for d, a in window.items():
            full[d] += u[a]
        with np.errstate(all="ignore"):
            out[tuple(full)] = combine(out[tuple(full)], updates[u])
    return out


# --- hypothesis strategies for general dimension numbers ---------------------------------------

INDEX_DTYPES = st.sampled_from(["int8", "int32", "int64", "uint8", "uint64"])


def draw_indices(draw: st.DrawFn, shape: list[int], bounds: list[int]) -> np.ndarray:
    """Index values around [0, bound] for each index-vector entry, out of bounds included."""
    dtype = np.dtype(draw(INDEX_DTYPES))
    lo = 0 if dtype.kind == "u" else -2
    n = math.prod(shape)
    cols = [draw(st.lists(st.integers(lo, b + 2), min_size=n // max(len(bounds), 1),
                          max_size=n // max(len(bounds), 1))) for b in bounds]
    values = np.array(cols, np.int64).T if bounds else np.zeros((n,), np.int64)
    return values.reshape(shape).astype(dtype)


@st.composite
def gather_cases(draw: st.DrawFn) -> tuple:
    rank = draw(st.integers(0, 3))
    roles = draw(st.lists(st.sampled_from(["window", "collapsed", "batch"]),
                          min_size=rank, max_size=rank))
    shape = [draw(st.integers(0 if r == "window" else 1, 4)) for r in roles]
    collapsed = tuple(d for d in range(rank) if roles[d] == "collapsed")
    obd = tuple(d for d in range(rank) if roles[d] == "batch")
    n_window = roles.count("window")
    slice_sizes = tuple(draw(st.integers(0, shape[d])) if roles[d] == "window" else 1
                        for d in range(rank))
    mappable = [d for d in range(rank) if roles[d] != "batch"]
    sim = tuple(draw(st.permutations(mappable))[:draw(st.integers(0, len(mappable)))])
    nb = len(obd) + draw(st.integers(0, 2))
    batch_shape = [draw(st.integers(0, 3)) for _ in range(nb)]
    sibd = tuple(draw(st.permutations(range(nb)))[:len(obd)])
    for d, a in zip(obd, sibd, strict=True):
        batch_shape[a] = shape[d]
    offset_dims = tuple(sorted(draw(st.permutations(range(nb + n_window)))[:n_window]))
    bounds = [shape[d] - slice_sizes[d] for d in sim]
    indices = draw_indices(draw, batch_shape + [len(sim)], bounds)
    operand = np.arange(1, math.prod(shape) + 1, dtype=np.float64).reshape(shape)
    mode = draw(st.sampled_from(list(Mode)))
    return operand, indices, GDN(offset_dims, collapsed, sim, obd, sibd), slice_sizes, mode


@st.composite
def scatter_cases(draw: st.DrawFn) -> tuple:
    rank = draw(st.integers(0, 3))
    roles = draw(st.lists(st.sampled_from(["window", "inserted", "batch"]),
                          min_size=rank, max_size=rank))
    shape = [draw(st.integers(0 if r == "window" else 1, 4)) for r in roles]
    inserted = tuple(d for d in range(rank) if roles[d] == "inserted")
    obd = tuple(d for d in range(rank) if roles[d] == "batch")
    window_dims = [d for d in range(rank) if roles[d] == "window"]
    sizes = [draw(st.integers(0, shape[d])) if roles[d] == "window" else 1 for d in range(rank)]
    mappable = [d for d in range(rank) if roles[d] != "batch"]
    sdod = tuple(draw(st.permutations(mappable))[:draw(st.integers(0, len(mappable)))])
    nb = len(obd) + draw(st.integers(0, 2))
    batch_shape = [draw(st.integers(0, 3)) for _ in range(nb)]
    sibd = tuple(draw(st.permutations(range(nb)))[:len(obd)])
    for d, a in zip(obd, sibd, strict=True):
        batch_shape[a] = shape[d]
    n_window = len(window_dims)
    uwd = tuple(sorted(draw(st.permutations(range(nb + n_window)))[:n_window]))
    updates_shape = [0] * (nb + n_window)
    for a, size in zip([a for a in range(nb + n_window) if a not in uwd], batch_shape,
                       strict=True):
        updates_shape[a] = size
    for a, d in zip(uwd, window_dims, strict=True):
        updates_shape[a] = sizes[d]
    indices = draw_indices(draw, batch_shape + [len(sdod)], [shape[d] - sizes[d] for d in sdod])
    operand = np.arange(1, math.prod(shape) + 1, dtype=np.float64).reshape(shape)
    updates = np.array(draw(st.lists(st.integers(-9, 9), min_size=math.prod(updates_shape),
                                     max_size=math.prod(updates_shape))),
                       np.float64).reshape(updates_shape)
    mode = draw(st.sampled_from(list(Mode)))
    name = draw(st.sampled_from(sorted(SCATTERS)))
    return name, operand, indices, updates, SDN(uwd, inserted, sdod, obd, sibd), mode


@SETTINGS
@given(gather_cases())
def test_gather_matches_xla_semantics(case: tuple) -> None:
    operand, indices, dnums, slice_sizes, mode = case
    fill = -1.0 if mode == FILL else None
    out = run_gather(operand, indices, dnums, slice_sizes, mode, fill)
    np.testing.assert_array_equal(
        out, naive_gather(operand, indices, dnums, slice_sizes, mode, fill))


@SETTINGS
@given(scatter_cases())
def test_scatter_matches_xla_semantics(case: tuple) -> None:
    name, operand, indices, updates, dnums, mode = case
    prim, combine = SCATTERS[name]
    out = run_scatter(prim, operand, indices, updates, dnums, mode)
    np.testing.assert_array_equal(
        out, naive_scatter(operand, indices, updates, dnums, mode, combine))


# --- NumPy equivalents ---------------------------------------------------------------------------

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3)


@SETTINGS
@given(shapes, st.data())
def test_gather_is_np_take(shape: list[int], data: st.DataObject) -> None:
    axis = data.draw(st.integers(0, len(shape) - 1))
    idx_shape = data.draw(st.lists(st.integers(0, 3), max_size=2))
    idx = np.asarray(data.draw(st.lists(st.integers(0, shape[axis] - 1),
                                        min_size=math.prod(idx_shape),
                                        max_size=math.prod(idx_shape))),
                     np.int32).reshape(idx_shape)
    x = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    nb = len(idx_shape)
    dnums = GDN(offset_dims=tuple(range(axis)) + tuple(range(axis + nb, len(shape) - 1 + nb)),
                collapsed_slice_dims=(axis,), start_index_map=(axis,))
    slice_sizes = tuple(1 if d == axis else n for d, n in enumerate(shape))
    out = run_gather(x, idx[..., None], dnums, slice_sizes)
    np.testing.assert_array_equal(out, np.take(x, idx, axis=axis))


@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=2, max_size=4), st.data())
def test_gather_is_point_indexing(shape: list[int], data: st.DataObject) -> None:
    """x[i, j] (advanced indexing on the first two axes), also with the index vector's
    entries mapped to the axes in the other order."""
    swap = data.draw(st.booleans())
    n = data.draw(st.integers(0, 5))
    i = np.asarray(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=n, max_size=n)))
    j = np.asarray(data.draw(st.lists(st.integers(0, shape[1] - 1), min_size=n, max_size=n)))
    x = np.arange(math.prod(shape), dtype=np.int16).reshape(shape)
    idx = np.stack([j, i] if swap else [i, j], axis=-1).astype(np.int64).reshape(n, 2)
    dnums = GDN(offset_dims=tuple(range(1, len(shape) - 1)), collapsed_slice_dims=(0, 1),
                start_index_map=(1, 0) if swap else (0, 1))
    out = run_gather(x, idx, dnums, (1, 1) + tuple(shape[2:]))
    np.testing.assert_array_equal(out, x[i.astype(int), j.astype(int)])


@SETTINGS
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.data())
def test_gather_windows_are_slices(shape: list[int], data: st.DataObject) -> None:
    """Offset dims: each batch element is x[s0:s0+k0, s1:s1+k1, ...] (dynamic_slice)."""
    sizes = [data.draw(st.integers(0, n)) for n in shape]
    n = data.draw(st.integers(0, 3))
    starts = np.array([[data.draw(st.integers(0, s - k)) for s, k in zip(shape, sizes)]
                       for _ in range(n)], np.int32).reshape(n, len(shape))
    x = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)
    rank = len(shape)
    dnums = GDN(offset_dims=tuple(range(1, rank + 1)), collapsed_slice_dims=(),
                start_index_map=tuple(range(rank)))
    out = run_gather(x, starts, dnums, tuple(sizes))
    expected = np.stack([x[tuple(slice(s, s + k) for s, k in zip(row, sizes))]
                         for row in starts]) if n else np.zeros((0, *sizes))
    np.testing.assert_array_equal(out, expected)


@SETTINGS
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data(),
       st.sampled_from(["scatter_add", "scatter_mul", "scatter_min", "scatter_max"]))
def test_scatter_combiners_are_ufunc_at(shape: list[int], data: st.DataObject,
                                        name: str) -> None:
    """x.at[idx].add(v) along axis 0 (windows of whole rows), duplicates included."""
    n = data.draw(st.integers(0, 6))
    idx = np.asarray(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=n,
                                        max_size=n)), np.int32)
    x = np.asarray(data.draw(st.lists(st.integers(-5, 5), min_size=math.prod(shape),
                                      max_size=math.prod(shape))), np.int64).reshape(shape)
    upd = np.asarray(data.draw(st.lists(st.integers(-3, 3), min_size=n * math.prod(shape[1:]),
                                        max_size=n * math.prod(shape[1:]))),
                     np.int64).reshape((n, *shape[1:]))
    dnums = SDN(update_window_dims=tuple(range(1, len(shape))), inserted_window_dims=(0,),
                scatter_dims_to_operand_dims=(0,))
    prim, ufunc = SCATTERS[name]
    out = run_scatter(prim, x, idx[:, None], upd, dnums)
    expected = x.copy()
    ufunc.at(expected, idx, upd)
    np.testing.assert_array_equal(out, expected)


@SETTINGS
@given(st.integers(1, 6), st.data())
def test_scatter_is_fancy_assignment_and_last_update_wins(size: int,
                                                           data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 8))
    idx = np.asarray(data.draw(st.lists(st.integers(0, size - 1), min_size=n, max_size=n)),
                     np.int32)
    upd = np.arange(100, 100 + n, dtype=np.float32)
    x = np.zeros(size, np.float32)
    out = run_scatter(ix.scatter_p, x, idx[:, None], upd, SDN((), (0,), (0,)))
    expected = x.copy()
    for i, v in zip(idx, upd, strict=True):
        expected[i] = v
    np.testing.assert_array_equal(out, expected)


def test_gather_and_scatter_2d_points() -> None:
    x = np.arange(12).reshape(3, 4).astype(np.int32)
    idx = np.array([[2, 1], [0, 3], [2, 1]])
    out = run_gather(x, idx, GDN((), (0, 1), (0, 1)), (1, 1))
    np.testing.assert_array_equal(out, [9, 3, 9])
    added = run_scatter(ix.scatter_add_p, x, idx, np.array([1, 2, 3], np.int32),
                        SDN((), (0, 1), (0, 1)))
    expected = x.copy()
    np.add.at(expected, (idx[:, 0], idx[:, 1]), [1, 2, 3])
    np.testing.assert_array_equal(added, expected)


def test_batching_dims_are_a_vmapped_take() -> None:
    """operand_batching_dims pairs operand axis 0 with indices axis 1: out[b, i] =
    x[i, idx[b, i]] for indices of shape (B, I, 1) and x of shape (I, N)."""
    x = np.arange(12.0).reshape(3, 4)
    idx = np.array([[[0], [3], [1]], [[2], [2], [0]]])
    dnums = GDN(offset_dims=(), collapsed_slice_dims=(1,), start_index_map=(1,),
                operand_batching_dims=(0,), start_indices_batching_dims=(1,))
    out = run_gather(x, idx, dnums, (1, 1))
    np.testing.assert_array_equal(out, np.take_along_axis(x[None], idx, axis=2)[..., 0])
    sdn = SDN(update_window_dims=(), inserted_window_dims=(1,),
              scatter_dims_to_operand_dims=(1,), operand_batching_dims=(0,),
              scatter_indices_batching_dims=(1,))
    added = run_scatter(ix.scatter_add_p, x, idx, np.ones((2, 3)), sdn)
    expected = x.copy()
    np.add.at(expected, (np.broadcast_to(np.arange(3), (2, 3)), idx[..., 0]), 1.0)
    np.testing.assert_array_equal(added, expected)


# --- modes ---------------------------------------------------------------------------------------

ROW_WINDOW = GDN(offset_dims=(1,), collapsed_slice_dims=(), start_index_map=(0,))


@pytest.mark.parametrize("mode", [CLIP, PROMISE])
def test_gather_clip_and_promise_clamp_the_whole_window(mode: Mode) -> None:
    x = np.arange(5, dtype=np.float32)
    idx = np.array([[4], [-3], [1], [2**62]], np.int64)
    out = run_gather(x, idx, ROW_WINDOW, (3,), mode)
    np.testing.assert_array_equal(out, [[2, 3, 4], [0, 1, 2], [1, 2, 3], [2, 3, 4]])


def test_gather_fill_replaces_every_window_not_entirely_in_bounds() -> None:
    x = np.arange(5, dtype=np.float32)
    idx = np.array([[2], [3], [-1], [0]], np.int32)
    out = run_gather(x, idx, ROW_WINDOW, (3,), FILL, 7.0)
    np.testing.assert_array_equal(out, [[2, 3, 4], [7, 7, 7], [7, 7, 7], [0, 1, 2]])


def test_gather_fill_with_leading_offset_dims() -> None:
    """x[:, idx] with a fill: the filled windows are columns of the output."""
    x = np.arange(8, dtype=np.int32).reshape(2, 4)
    dnums = GDN(offset_dims=(0,), collapsed_slice_dims=(1,), start_index_map=(1,))
    out = run_gather(x, np.array([[1], [5], [3]]), dnums, (2, 1), FILL, -1)
    np.testing.assert_array_equal(out, [[1, -1, 3], [5, -1, 7]])


def test_gather_unsigned_indices_beyond_int64_are_out_of_bounds() -> None:
    x = np.arange(5, dtype=np.int32)
    idx = np.array([[2**64 - 1], [1]], np.uint64)
    take = GDN((), (0,), (0,))
    np.testing.assert_array_equal(run_gather(x, idx, take, (1,), CLIP), [4, 1])
    np.testing.assert_array_equal(run_gather(x, idx, take, (1,), FILL, 9), [9, 1])


@pytest.mark.parametrize("dtype, fill", [
    ("float16", np.nan), ("float32", np.nan), ("float64", np.nan), ("complex64", np.nan),
    ("complex128", np.nan), ("int8", -128), ("int32", -2**31), ("int64", -2**63),
    ("uint8", 255), ("uint16", 65535), ("uint64", 2**64 - 1), ("bool", True),
])
def test_gather_default_fill_values_follow_jax(dtype: str, fill: object) -> None:
    x = np.ones(3, dtype)
    out = np.asarray(ix.gather(x, np.array([[5], [0]]), GDN((), (0,), (0,)), (1,),
                               mode="fill"))
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, np.array([fill, 1], dtype))


def test_gather_fill_value_is_cast_to_the_operand_dtype() -> None:
    x = np.arange(3, dtype=np.int8)
    out = ix.gather(x, np.array([[7]]), GDN((), (0,), (0,)), (1,), mode="fill", fill_value=2.9)
    np.testing.assert_array_equal(np.asarray(out), np.array([2], np.int8))


SCATTER_ROWS = SDN(update_window_dims=(1,), inserted_window_dims=(),
                   scatter_dims_to_operand_dims=(0,))


@pytest.mark.parametrize("mode", [FILL, PROMISE])
def test_scatter_drop_and_promise_drop_whole_windows(mode: Mode) -> None:
    x = np.zeros(5, np.float32)
    idx = np.array([[3], [-1], [2], [5]])
    out = run_scatter(ix.scatter_add_p, x, idx, np.ones((4, 3), np.float32), SCATTER_ROWS, mode)
    # Only the window at 2 fits; the one at 3 would write 3, 4 and 5, so all of it is dropped.
    np.testing.assert_array_equal(out, [0, 0, 1, 1, 1])


def test_scatter_clip_clamps_the_window_start() -> None:
    x = np.zeros(5, np.float32)
    idx = np.array([[3], [-4]])
    out = run_scatter(ix.scatter_add_p, x, idx, np.array([[1, 2, 3], [10, 20, 30]],
                                                         np.float32), SCATTER_ROWS, CLIP)
    np.testing.assert_array_equal(out, [10, 20, 31, 2, 3])


def test_negative_indices_do_not_wrap_like_numpy() -> None:
    x = np.arange(4, dtype=np.float64)
    idx = np.array([[-1]])
    take = GDN((), (0,), (0,))
    np.testing.assert_array_equal(run_gather(x, idx, take, (1,), CLIP), [0.0])
    assert np.isnan(run_gather(x, idx, take, (1,), FILL, np.nan)).all()
    np.testing.assert_array_equal(
        run_scatter(ix.scatter_p, x, idx, np.array([9.0]), SDN((), (0,), (0,))), x)


def test_scatter_min_max_propagate_nan_and_combine_duplicates() -> None:
    x = np.array([1.0, 5.0, 3.0])
    idx = np.array([[0], [0], [2], [1]])
    upd = np.array([0.5, -2.0, np.nan, 7.0])
    dn = SDN((), (0,), (0,))
    np.testing.assert_array_equal(run_scatter(ix.scatter_min_p, x, idx, upd, dn),
                                  [-2.0, 5.0, np.nan])
    np.testing.assert_array_equal(run_scatter(ix.scatter_max_p, x, idx, upd, dn),
                                  [1.0, 7.0, np.nan])
    np.testing.assert_array_equal(run_scatter(ix.scatter_mul_p, x, idx, upd, dn),
                                  [-1.0, 35.0, np.nan])


def test_mode_defaults_and_from_any(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Mode.from_any(None) is FILL
    assert Mode.from_any("fill") is FILL and Mode.from_any("drop") is FILL
    assert Mode.from_any("clip") is CLIP
    assert Mode.from_any("promise_in_bounds") is PROMISE
    assert Mode.from_any(CLIP) is CLIP
    with pytest.raises(ValueError, match="unknown gather/scatter mode 'wrap'"):
        Mode.from_any("wrap")
    assert repr(CLIP) == str(CLIP) == "GatherScatterMode.CLIP"

    seen: list[dict] = []
    monkeypatch.setattr(Primitive, "bind", lambda self, *args, **params: seen.append(params))
    x = np.zeros((4, 3), np.float32)
    ix.gather(x, [[1]], GDN([1], [0], [np.int64(0)]), [1, np.int32(3)])
    ix.scatter_add(x, [[1]], np.zeros((1, 3), np.float32),
                   {"update_window_dims": [1], "inserted_window_dims": [0],
                    "scatter_dims_to_operand_dims": [0]})
    gather_params, scatter_params = seen
    # lax.gather's mode=None is PROMISE_IN_BOUNDS (as in jax.lax.gather); scatters' is FILL.
    assert gather_params["mode"] is PROMISE and gather_params["fill_value"] is None
    assert scatter_params["mode"] is FILL
    assert gather_params["dimension_numbers"] == GDN((1,), (0,), (0,), (), ())
    assert type(gather_params["dimension_numbers"]) is GDN
    assert all(type(d) is int for dims in gather_params["dimension_numbers"] for d in dims)
    assert gather_params["slice_sizes"] == (1, 3)
    assert all(type(s) is int for s in gather_params["slice_sizes"])
    assert type(scatter_params["dimension_numbers"]) is SDN
    hash(tuple(gather_params.items()))
    hash(tuple(scatter_params.items()))


def test_fill_value_params_are_stable_cache_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict] = []
    monkeypatch.setattr(Primitive, "bind", lambda self, *args, **params: seen.append(params))
    for dtype in ("float32", "complex64", "int16", "bool"):
        x = np.zeros(3, dtype)
        for _ in range(2):
            ix.gather(x, np.array([[1]]), GDN((), (0,), (0,)), (1,), mode="fill")
        ix.gather(x, np.array([[1]]), GDN((), (0,), (0,)), (1,), mode="clip", fill_value=3)
    for k in range(0, len(seen), 3):
        assert seen[k] == seen[k + 1]  # NaN fill values compare equal as params
        assert seen[k + 2]["fill_value"] is None  # ignored outside FILL_OR_DROP
    assert seen[0]["fill_value"] is np.nan
    assert seen[6]["fill_value"] == -32768 and type(seen[6]["fill_value"]) is int


# --- wrappers, eager evaluation, immutability ---------------------------------------------------


def test_wrappers_evaluate_eagerly_to_arrays() -> None:
    x = np.array([10, 11, 12], np.int32)
    out = ix.gather(x, np.array([[0], [1], [1], [2], [2], [2]]), GDN((), (0,), (0,)), (1,))
    assert isinstance(out, core.Array)
    np.testing.assert_array_equal(np.asarray(out), [10, 11, 11, 12, 12, 12])
    for name, expected in [("scatter", [1, 5, 1]), ("scatter_add", [1, 10, 1]),
                           ("scatter_mul", [1, 20, 1]), ("scatter_min", [1, 1, 1]),
                           ("scatter_max", [1, 5, 1])]:
        out = getattr(ix, name)(np.ones(3, np.int32), np.array([[1], [1]]),
                                np.array([4, 5], np.int32), SDN((), (0,), (0,)))
        assert isinstance(out, core.Array)
        np.testing.assert_array_equal(np.asarray(out), expected, err_msg=name)
        assert getattr(ix, name).__name__ == name


def test_scatter_accepts_python_scalar_updates_for_0d_windows() -> None:
    out = ix.scatter_add(np.zeros(3, np.float32), np.array([2]), 1.5, SDN((), (0,), (0,)))
    np.testing.assert_array_equal(np.asarray(out), np.array([0, 0, 1.5], np.float32))
    assert np.asarray(out).dtype == np.float32
    out = ix.scatter(np.zeros((), np.int8), np.zeros((0,), np.int32), 2, SDN((), (), ()))
    assert np.asarray(out).dtype == np.int8 and np.asarray(out) == 2


def test_weak_type_follows_the_operand() -> None:
    params = gparams(GDN((), (0,), (0,)), (1,))
    weak = core.ShapedArray((3,), np.dtype("float32"), True)
    assert ix.gather_p.abstract_eval(weak, aval((2, 1), "int32"), **params).weak_type
    assert not ix.gather_p.abstract_eval(aval((3,)), aval((2, 1), "int32"), **params).weak_type
    out = ix.scatter_add_p.abstract_eval(weak, aval((2, 1), "int32"), aval((2,)),
                                         **sparams(SDN((), (0,), (0,))))
    assert out.weak_type and out.shape == (3,)


def test_operand_is_never_written_and_result_is_fresh() -> None:
    x = np.arange(6.0).reshape(2, 3)
    x_copy = x.copy()
    for name, (prim, _) in SCATTERS.items():
        out = prim.impl(x, np.array([[0], [0]]), np.ones((2, 3)),
                        **sparams(SDN((1,), (0,), (0,))))
        assert not np.shares_memory(out, x), name
        out[...] = -1
        np.testing.assert_array_equal(x, x_copy)
    # Empty updates take the shortcut path: the result must still be a copy.
    out = ix.scatter_add_p.impl(x, np.zeros((0, 1), np.int32), np.zeros((0, 3)),
                                **sparams(SDN((1,), (0,), (0,))))
    assert not np.shares_memory(out, x)


@pytest.mark.parametrize("prim", ALL_PRIMS, ids=lambda p: p.name)
def test_samples_match_abstract_eval_for_every_dtype(prim: Primitive) -> None:
    assert prim.family == "indexing"
    for dtype in sorted(prim.dtypes, key=str):
        examples = prim.sample(dtype)
        assert 1 <= len(examples) <= 12
        for ex in examples:
            before = [np.array(a, copy=True) for a in ex.args]
            out_aval = prim.abstract_eval(*map(core.get_aval, ex.args), **ex.params)
            out = prim.impl(*ex.args, **ex.params)
            assert type(out) is np.ndarray, ex.label()
            assert (out.shape, out.dtype) == (out_aval.shape, out_aval.dtype), ex.label()
            for a, b in zip(ex.args, before, strict=True):
                np.testing.assert_array_equal(a, b)
            hash(tuple(ex.params.items()))


# --- abstract_eval errors ------------------------------------------------------------------------

TAKE = GDN((1,), (0,), (0,))
GATHER_ERRORS = [
    # (operand, indices, params changes, error type, message fragment)
    ((4, 3), ((2, 1), "float32"), {}, DtypeError,
     "start_indices must have an integer dtype, got float32"),
    ((4, 3), ((), "int32"), {}, ShapeError, "start_indices must have rank >= 1"),
    ((4, 3), ((2, 1), "int32"), dict(dimension_numbers=GDN((2, 1), (), (0,)), slice_sizes=(1, 3)),
     ShapeError, "offset_dims=(2, 1) must be sorted in increasing order"),
    ((4, 3), ((2, 1), "int32"), dict(dimension_numbers=GDN((1, 1), (), (0,)), slice_sizes=(1, 3)),
     ShapeError, "offset_dims=(1, 1) repeats a dimension"),
    ((4, 3), ((2, 1), "int32"), dict(dimension_numbers=GDN((2,), (0,), (0,))), ShapeError,
     "offset_dims=(2,) has dimension 2, out of range for the output of rank 2"),
    ((4, 3), ((2, 2), "int32"), {}, ShapeError,
     "start_index_map=(0,) has 1 entries but the index vector (last dimension of "
     "start_indices) has 2"),
    ((4, 3), ((2, 1), "int32"), dict(dimension_numbers=GDN((1,), (0,), (5,))), ShapeError,
     "start_index_map=(5,) has dimension 5, out of range for the operand of rank 2"),
    ((4, 3), ((2, 2), "int32"), dict(dimension_numbers=GDN((1,), (0,), (0, 0))), ShapeError,
     "start_index_map=(0, 0) repeats a dimension"),
    ((4, 3), ((2, 2), "int32"), dict(dimension_numbers=GDN((), (1, 0), (0, 1)),
                                     slice_sizes=(1, 1)),
     ShapeError, "collapsed_slice_dims=(1, 0) must be sorted"),
    ((4, 3), ((2, 1), "int32"), dict(dimension_numbers=GDN((1,), (0,), (0,), (0,), (0,))),
     ShapeError, "collapsed_slice_dims=(0,) and operand_batching_dims=(0,) must be disjoint"),
    ((4, 3), ((4, 1), "int32"), dict(dimension_numbers=GDN((1,), (), (0,), (0,), (0,))),
     ShapeError, "start_index_map=(0,) and operand_batching_dims=(0,) must be disjoint"),
    ((4, 3), ((4, 1), "int32"), dict(dimension_numbers=GDN((), (1,), (1,), (0,), (1,)),
                                     slice_sizes=(1, 1)),
     ShapeError, "contains the index vector dimension 1"),
    ((4, 3), ((4, 1), "int32"), dict(dimension_numbers=GDN((1,), (1,), (1,), (0,), ()),
                                     slice_sizes=(1, 1)),
     ShapeError, "operand_batching_dims=(0,) and start_indices_batching_dims=() must have the "
     "same length"),
    ((4, 3), ((5, 1), "int32"), dict(dimension_numbers=GDN((), (1,), (1,), (0,), (0,)),
                                     slice_sizes=(1, 1)),
     ShapeError, "the operand's batching dimensions have sizes (4,) but the indices' batching "
     "dimensions have sizes (5,)"),
    ((4, 3), ((2, 1), "int32"), dict(slice_sizes=(1,)), ShapeError,
     "slice_sizes=(1,) must have one entry per operand dimension (2)"),
    ((4, 3), ((2, 1), "int32"), dict(dimension_numbers=GDN((), (0,), (0,))), ShapeError,
     "every operand dimension must be an offset (window) dimension or a collapsed or batching "
     "one"),
    ((4, 3), ((2, 1), "int32"), dict(slice_sizes=(1, 4)), ShapeError,
     "slice_sizes[1]=4 is out of range for operand dimension 1 of size 3 (valid: 0 to 3)"),
    ((4, 3), ((2, 1), "int32"), dict(slice_sizes=(2, 3)), ShapeError,
     "collapsed_slice_dims=(0,) contains dimension 0, whose slice size is 2"),
    ((4, 3), ((4, 1), "int32"), dict(dimension_numbers=GDN((1,), (), (1,), (0,), (0,)),
                                     slice_sizes=(2, 1)),
     ShapeError, "batching dimensions must have slice size 1"),
    ((4, 3), ((2, 1), "int32"), dict(dimension_numbers=((1,), (0,), (0,), (), ())), TypeError,
     "dimension_numbers must be a GatherDimensionNumbers, got tuple"),
    ((4, 3), ((2, 1), "int32"), dict(dimension_numbers=GDN([1], (0,), (0,))), TypeError,
     "dimension_numbers.offset_dims must be a tuple of Python ints, got [1]"),
    ((4, 3), ((2, 1), "int32"), dict(mode="clip"), TypeError,
     "mode must be a GatherScatterMode, got 'clip'"),
    ((4, 3), ((2, 1), "int32"), dict(slice_sizes=[1, 3]), TypeError,
     "slice_sizes must be a tuple of Python ints, got [1, 3]"),
    ((4, 3), ((2, 1), "int32"), dict(fill_value=[0]), TypeError,
     "fill_value must be None or a scalar"),
    ((4, 3), ((2, 1), "int32"), dict(unique_indices=1), TypeError,
     "unique_indices must be a bool, got 1"),
]


@pytest.mark.parametrize("operand, indices, changes, error, fragment", GATHER_ERRORS,
                         ids=[e[-1][:40] for e in GATHER_ERRORS])
def test_gather_errors(operand: tuple, indices: tuple, changes: dict, error: type,
                       fragment: str) -> None:
    params = {**gparams(TAKE, (1, 3)), **changes}
    with pytest.raises(error) as info:
        ix.gather_p.abstract_eval(aval(operand), aval(*indices), **params)
    message = str(info.value)
    assert message.startswith("functrans.lax.gather: ")
    assert fragment in message
    if error is not TypeError:
        assert f"operand f32[{','.join(map(str, operand))}]" in message


ROWS = SDN((1,), (0,), (0,))
SCATTER_ERRORS = [
    # (operand, indices, updates, params changes, error type, message fragment)
    ((4, 3), ((2, 1), "float64"), ((2, 3), "float32"), {}, DtypeError,
     "scatter_indices must have an integer dtype, got float64"),
    ((4, 3), ((2, 1), "int32"), ((2, 3), "float64"), {}, DtypeError,
     "operands must have the same dtype"),
    ((4, 3), ((2, 1), "int32"), ((2, 3, 1), "float32"), {}, ShapeError,
     "updates must have rank 2 (the 1 batch dimensions of scatter_indices plus 1 "
     "update_window_dims), got rank 3"),
    ((4, 3), ((2, 1), "int32"), ((2, 3), "float32"),
     dict(dimension_numbers=SDN((1,), (0,), (0, 1))), ShapeError,
     "scatter_dims_to_operand_dims=(0, 1) has 2 entries but the index vector"),
    ((4, 3), ((1,), "int32"), ((3, 2), "float32"), dict(dimension_numbers=SDN((1, 0), (), (0,))),
     ShapeError, "update_window_dims=(1, 0) must be sorted"),
    ((4, 3), ((2, 1), "int32"), ((2, 3), "float32"), dict(dimension_numbers=SDN((1,), (2,), (0,))),
     ShapeError, "inserted_window_dims=(2,) has dimension 2, out of range for the operand of "
     "rank 2"),
    ((4, 3), ((4, 1), "int32"), ((4, 3), "float32"),
     dict(dimension_numbers=SDN((1,), (0,), (0,), (0,), (0,))), ShapeError,
     "inserted_window_dims=(0,) and operand_batching_dims=(0,) must be disjoint"),
    ((4, 3), ((4, 1), "int32"), ((4, 3), "float32"),
     dict(dimension_numbers=SDN((1,), (), (0,), (0,), (0,))), ShapeError,
     "scatter_dims_to_operand_dims=(0,) and operand_batching_dims=(0,) must be disjoint"),
    ((4, 3), ((5, 1), "int32"), ((5,), "float32"),
     dict(dimension_numbers=SDN((), (1,), (1,), (0,), (0,))), ShapeError,
     "the operand's batching dimensions have sizes (4,) but the indices' batching dimensions "
     "have sizes (5,)"),
    ((4, 3), ((2, 1), "int32"), ((2,), "float32"), dict(dimension_numbers=SDN((), (0,), (0,))),
     ShapeError, "every operand dimension must be a window dimension or an inserted or "
     "batching one"),
    ((4, 3), ((2, 2), "int32"), ((2,), "float32"), dict(dimension_numbers=SDN((), (0, 1), (1, 1))),
     ShapeError, "scatter_dims_to_operand_dims=(1, 1) repeats a dimension"),
    ((4, 3), ((2, 1), "int32"), ((2, 4), "float32"), {}, ShapeError,
     "the window of updates dimension 1 (size 4) is larger than operand dimension 1 (size 3)"),
    ((4, 3), ((2, 1), "int32"), ((5, 3), "float32"), {}, ShapeError,
     "the scatter (non-window) dimensions (0,) of updates have sizes (5,), but the batch "
     "dimensions of scatter_indices have sizes (2,)"),
    ((4, 3), ((2, 1), "int32"), ((2, 3), "float32"), dict(mode=None), TypeError,
     "mode must be a GatherScatterMode, got None"),
]


@pytest.mark.parametrize("operand, indices, updates, changes, error, fragment", SCATTER_ERRORS,
                         ids=[e[-1][:40] for e in SCATTER_ERRORS])
def test_scatter_errors(operand: tuple, indices: tuple, updates: tuple, changes: dict,
                        error: type, fragment: str) -> None:
    params = {**sparams(ROWS), **changes}
    with pytest.raises(error) as info:
        ix.scatter_max_p.abstract_eval(aval(operand), aval(*indices), aval(*updates), **params)
    message = str(info.value)
    assert message.startswith("functrans.lax.scatter_max: ")
    assert fragment in message


@pytest.mark.parametrize("name", ["scatter_add", "scatter_mul"])
def test_scatter_arithmetic_rejects_bool(name: str) -> None:
    prim, _ = SCATTERS[name]
    with pytest.raises(DtypeError, match=f"functrans.lax.{name}: operand bool"):
        prim.abstract_eval(aval((3,), "bool"), aval((1, 1), "int32"), aval((1,), "bool"),
                           **sparams(SDN((), (0,), (0,))))


def test_wrapper_errors() -> None:
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(TypeError, match="dimension_numbers must be a "
                                        "functrans.lax.GatherDimensionNumbers"):
        ix.gather(x, [[0]], ((1,), (0,), (0,)), (1, 3))
    with pytest.raises(TypeError, match="slice_sizes must be a sequence of ints"):
        ix.gather(x, [[0]], TAKE, (1.0, 3))
    with pytest.raises(ValueError, match="unknown gather/scatter mode 'wrap'"):
        ix.scatter(x, [[0]], np.zeros((1, 3), np.float32), ROWS, mode="wrap")
    with pytest.raises(ValueError, match="fill_value must be a scalar"):
        ix.gather(x, [[0]], TAKE, (1, 3), mode="fill", fill_value=np.zeros(2))
    with pytest.raises(TypeError, match="bad dimension_numbers"):
        ix.scatter(x, [[0]], np.zeros((1, 3), np.float32), {"window": (1,)})


def test_traced_slice_sizes_raise_the_tracer_error() -> None:
    """A traced int where a static one is needed gets the tracer's own error (it says what to
    do), not the wrapper's 'must be a sequence of ints'."""
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(TracerIntegerConversionError):
        ft.jit(lambda n: ix.gather(x, [[0]], TAKE, (n, 3)))(1)


# --- derivatives ---------------------------------------------------------------------------------
# The jvp and transpose rules, end to end through ft.grad / ft.jvp / ft.vjp: hand-derived
# gradients for the familiar cases, and for drawn dimension numbers the dense Jacobian of the
# impl (for the linear gather, scatter_add and scatter) or central differences (for the others).
# Scalar losses are sums built from scatter_add into a 0-d zero, so that these tests depend on
# this family's rules only.

POINT = SDN((), (0,), (0,))  # x.at[i] for a 1-d x and indices of shape (n, 1)
TAKE1 = GDN((), (0,), (0,))  # x[i] for a 1-d x
DERIVATIVE_SETTINGS = settings(max_examples=100, deadline=None,
                               suppress_health_check=[HealthCheck.too_slow])


def total(y: object) -> object:
    """sum(y): every element scatter-added into a 0-d zero."""
    shape = core.get_aval(y).shape
    flat = lax.reshape(y, (math.prod(shape),))
    return ix.scatter_add(np.zeros((), np.float64), np.zeros((math.prod(shape), 0), np.int32),
                          flat, SDN((), (), ()))


def weighted(y: object, w: np.ndarray) -> object:
    """sum(w * y): its gradient with respect to y is w."""
    return total(lax.mul(y, w))


def dense_jacobian(f: object, args: list[np.ndarray]) -> np.ndarray:
    """The matrix of a map linear in all of ``args`` (NumPy in, NumPy out), from its values on
    basis vectors; columns follow the flattened args, concatenated."""
    zeros = [np.zeros_like(a) for a in args]
    out_size = np.asarray(f(*zeros)).size
    cols = []
    for i, a in enumerate(args):
        for k in range(a.size):
            basis = [z.copy() for z in zeros]
            basis[i].reshape(-1)[k] = 1
            cols.append(np.asarray(f(*basis)).reshape(-1))
    return np.array(cols).T if cols else np.zeros((out_size, 0))


def flat_concat(arrays: list[object]) -> np.ndarray:
    return np.concatenate([np.asarray(a, np.float64).reshape(-1) for a in arrays])


def test_grad_of_sum_of_squares_of_a_gather_counts_repeated_indices() -> None:
    x = np.array([1.0, -2.0, 3.0, 0.5, 4.0])
    idx = np.array([[0], [2], [2], [4], [2]])
    grad = ft.grad(lambda x: total(lax.square(ix.gather(x, idx, TAKE1, (1,)))))(x)
    np.testing.assert_allclose(np.asarray(grad), 2 * x * np.bincount(idx[:, 0], minlength=5))
    rows = np.arange(12.0).reshape(4, 3)
    ridx = np.array([[3], [0], [3]])
    grad = ft.grad(lambda x: total(lax.square(ix.gather(x, ridx, TAKE, (1, 3)))))(rows)
    counts = np.bincount(ridx[:, 0], minlength=4)[:, None]
    np.testing.assert_allclose(np.asarray(grad), 2 * rows * counts)


@pytest.mark.parametrize("mode, used", [
    # promise_in_bounds gathers clamp (as XLA does), so the gradient follows the clamp; JAX
    # transposes them into a dropping scatter and loses these contributions.
    (None, [0, 2, 2, 4, 4, 0]), ("clip", [0, 2, 2, 4, 4, 0]), ("fill", [0, 2, 2, 4])])
def test_gather_gradient_follows_each_out_of_bounds_mode(mode: object, used: list[int]) -> None:
    x = np.array([1.0, -2.0, 3.0, 0.5, 4.0])
    idx = np.array([[0], [2], [2], [4], [9], [-1]])
    # With 'fill' the filled windows are NaN (the default), and their cotangent (2 * NaN) must
    # not reach x.
    grad = ft.grad(lambda x: total(lax.square(ix.gather(x, idx, TAKE1, (1,), mode=mode))))(x)
    np.testing.assert_allclose(np.asarray(grad), 2 * x * np.bincount(used, minlength=5))


@pytest.mark.parametrize("fill", [None, 1.0, -3.5])
def test_gather_tangent_of_a_filled_window_is_zero(fill: object) -> None:
    x = np.arange(1.0, 13.0).reshape(4, 3)
    idx = np.array([[1], [3], [-1]])
    window = GDN((1, 2), (), (0,))
    out, tangent = ft.jvp(lambda x: ix.gather(x, idx, window, (2, 3), mode="fill",
                                              fill_value=fill), (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(np.asarray(tangent), [np.ones((2, 3)), np.zeros((2, 3)),
                                                        np.zeros((2, 3))])
    np.testing.assert_array_equal(np.asarray(out)[1:],
                                  np.full((2, 2, 3), np.nan if fill is None else fill))


@pytest.mark.parametrize("mode, gathered", [
    ("drop", [4.0, 3.0, 3.0, 0.0, 0.0]), ("clip", [4.0, 3.0, 3.0, 7.0, 4.0])])
def test_grad_of_scatter_add_wrt_operand_and_updates(mode: str, gathered: list[float]) -> None:
    x = np.zeros(5)
    w = np.array([4.0, 5.0, 3.0, 6.0, 7.0])
    idx = np.array([[0], [2], [2], [8], [-3]])
    v = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    gx, gv = ft.grad(lambda x, v: weighted(ix.scatter_add(x, idx, v, POINT, mode=mode), w),
                     argnums=(0, 1))(x, v)
    np.testing.assert_array_equal(np.asarray(gx), w)
    np.testing.assert_array_equal(np.asarray(gv), gathered)


def test_grad_of_scatter_follows_last_write_wins() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    w = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    idx = np.array([[1], [3], [1], [7], [1]])
    v = np.array([-1.0, -2.0, -3.0, -4.0, -5.0])
    out = ix.scatter(x, idx, v, POINT)
    np.testing.assert_array_equal(np.asarray(out), [1.0, -5.0, 3.0, -2.0, 5.0])
    gx, gv = ft.grad(lambda x, v: weighted(ix.scatter(x, idx, v, POINT), w),
                     argnums=(0, 1))(x, v)
    np.testing.assert_array_equal(np.asarray(gx), [10.0, 0.0, 30.0, 0.0, 50.0])
    # v[4] is the last write to x[1]; v[3] is dropped (out of bounds).
    np.testing.assert_array_equal(np.asarray(gv), [0.0, 40.0, 0.0, 0.0, 20.0])
    _, tangent = ft.jvp(lambda x, v: ix.scatter(x, idx, v, POINT), (x, v),
                        (np.ones(5), np.arange(1.0, 6.0)))
    np.testing.assert_array_equal(np.asarray(tangent), [1.0, 5.0, 1.0, 2.0, 1.0])


def test_grad_of_scatter_with_overlapping_clamped_windows() -> None:
    x = np.zeros(5)
    w = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    idx = np.array([[0], [1], [4]])  # windows of 2 start at 0, 1 and (clamped) 3
    v = np.arange(1.0, 7.0).reshape(3, 2)
    dn = SDN((1,), (), (0,))
    out = ix.scatter(x, idx, v, dn, mode="clip")
    np.testing.assert_array_equal(np.asarray(out), [1.0, 3.0, 4.0, 5.0, 6.0])
    gv = ft.grad(lambda v: weighted(ix.scatter(x, idx, v, dn, mode="clip"), w))(v)
    np.testing.assert_array_equal(np.asarray(gv), [[1.0, 0.0], [2.0, 3.0], [4.0, 5.0]])


def test_scatter_mul_derivatives_with_repeated_indices_and_zeros() -> None:
    x = np.array([2.0, 3.0, 5.0, 7.0])
    idx = np.array([[0], [0], [1], [1], [1], [2], [2], [9]])
    u = np.array([3.0, 0.5, 0.0, 4.0, 2.0, 0.0, 0.0, 6.0])
    out = ix.scatter_mul(x, idx, u, POINT)
    np.testing.assert_array_equal(np.asarray(out), [3.0, 0.0, 0.0, 7.0])
    gx, gu = ft.grad(lambda x, u: total(ix.scatter_mul(x, idx, u, POINT)),
                     argnums=(0, 1))(x, u)
    # d/dx = product of the updates; d/du_k = x times the product of the other updates there
    # (u[2] is the only zero at x[1]; x[2] has two zeros; u[7] is dropped). JAX refuses
    # repeated indices here.
    np.testing.assert_array_equal(np.asarray(gx), [1.5, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(gu), [1.0, 6.0, 24.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    tx, tu = np.array([0.5, -1.0, 2.0, 1.0]), np.linspace(-1.0, 1.0, 8)
    _, tangent = ft.jvp(lambda x, u: ix.scatter_mul(x, idx, u, POINT), (x, u), (tx, tu))
    eps = 1e-6
    fd = (ix.scatter_mul_p.impl(x + eps * tx, idx, u + eps * tu, **sparams(POINT))
          - ix.scatter_mul_p.impl(x - eps * tx, idx, u - eps * tu, **sparams(POINT))) / (2 * eps)
    np.testing.assert_allclose(np.asarray(tangent), fd, rtol=1e-7, atol=1e-7)


def test_scatter_min_max_ties_share_the_derivative() -> None:
    x = np.array([1.0, 5.0, 2.0])
    idx = np.array([[0], [0], [1], [2], [2]])
    u = np.array([1.0, 3.0, 2.0, 0.5, 0.5])
    gx, gu = ft.grad(lambda x, u: total(ix.scatter_min(x, idx, u, POINT)), argnums=(0, 1))(x, u)
    np.testing.assert_array_equal(np.asarray(gx), [0.5, 0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(gu), [0.5, 0.0, 1.0, 0.5, 0.5])
    gx, gu = ft.grad(lambda x, u: total(ix.scatter_max(x, idx, u, POINT)), argnums=(0, 1))(x, u)
    np.testing.assert_array_equal(np.asarray(gx), [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(gu), [0.0, 1.0, 0.0, 0.0, 0.0])


def test_scatter_max_nan_results_and_dropped_updates_get_zero_derivative() -> None:
    x = np.array([1.0, 2.0])
    idx = np.array([[0], [1], [5]])
    u = np.array([np.nan, 3.0, 9.0])
    gx, gu = ft.grad(lambda x, u: weighted(ix.scatter_max(x, idx, u, POINT), np.ones(2)),
                     argnums=(0, 1))(x, u)
    np.testing.assert_array_equal(np.asarray(gx), [0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(gu), [0.0, 1.0, 0.0])


def test_second_order_derivatives_through_gather_and_scatter_add() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    v = np.array([0.5, 0.625, 0.75, 0.875, 1.0])
    idx = np.array([[0], [2], [2], [4], [9]])
    counts = np.array([1.0, 0.0, 2.0, 0.0, 2.0])  # 9 is clamped to 4

    def f(x: object) -> object:
        return total(lax.integer_pow(ix.gather(x, idx, TAKE1, (1,), mode="clip"), 3))

    # The Hessian of f is diag(6 * x * counts).
    hvp = ft.grad(lambda x: weighted(ft.grad(f)(x), v))(x)
    np.testing.assert_allclose(np.asarray(hvp), 6 * x * counts * v)


@DERIVATIVE_SETTINGS
@given(gather_cases(), st.integers(0, 2**32 - 1))
def test_gather_derivatives_are_its_jacobian(case: tuple, seed: int) -> None:
    operand, indices, dnums, slice_sizes, mode = case
    fill = 0.0 if mode == FILL else None  # a linear gather: the one its jvp binds
    params = gparams(dnums, slice_sizes, mode, fill)
    jac = dense_jacobian(lambda x: ix.gather_p.impl(x, indices, **params), [operand])
    rng = np.random.default_rng(seed)

    def f(x: object) -> object:
        return ix.gather(x, indices, dnums, slice_sizes, mode=mode, fill_value=fill)

    t = rng.normal(size=operand.shape)
    out, tangent = ft.jvp(f, (operand,), (t,))
    np.testing.assert_allclose(np.asarray(tangent).reshape(-1), jac @ t.reshape(-1))
    ct = rng.normal(size=np.shape(out))
    (ct_x,) = ft.vjp(f, operand)[1](ct)
    np.testing.assert_allclose(np.asarray(ct_x).reshape(-1), jac.T @ ct.reshape(-1))


@DERIVATIVE_SETTINGS
@given(scatter_cases(), st.integers(0, 2**32 - 1))
def test_scatter_derivatives_match_jacobians_and_finite_differences(case: tuple, seed: int
                                                                    ) -> None:
    name, operand, indices, updates, dnums, mode = case
    prim = SCATTERS[name][0]
    params = sparams(dnums, mode)
    rng = np.random.default_rng(seed)
    if name in ("scatter_min", "scatter_max"):
        # Distinct values, none an integer like the operand's: no ties for the differences.
        updates = 0.25 + 1.5 * rng.permutation(updates.size).reshape(updates.shape) - 6
    elif name == "scatter_mul":
        updates = rng.choice([0.0, 0.5, -1.5, 2.0], size=updates.shape)

    def f(x: object, u: object) -> object:
        return getattr(ix, name)(x, indices, u, dnums, mode=mode)

    tx, tu = rng.normal(size=operand.shape), rng.normal(size=updates.shape)
    out, tangent = ft.jvp(f, (operand, updates), (tx, tu))
    np.testing.assert_array_equal(np.asarray(out), prim.impl(operand, indices, updates, **params))
    ct = rng.normal(size=np.shape(out))
    ct_x, ct_u = ft.vjp(f, operand, updates)[1](ct)
    if name in ("scatter", "scatter_add"):  # linear in (operand, updates) together
        jac = dense_jacobian(lambda x, u: prim.impl(x, indices, u, **params), [operand, updates])
        np.testing.assert_allclose(np.asarray(tangent).reshape(-1), jac @ flat_concat([tx, tu]))
        np.testing.assert_allclose(flat_concat([ct_x, ct_u]), jac.T @ ct.reshape(-1))
        return
    eps = 1e-6
    fd = (prim.impl(operand + eps * tx, indices, updates + eps * tu, **params)
          - prim.impl(operand - eps * tx, indices, updates - eps * tu, **params)) / (2 * eps)
    scale = 1.0 + np.abs(fd).max(initial=0.0)
    np.testing.assert_allclose(np.asarray(tangent), fd, rtol=1e-6, atol=1e-6 * scale)
    # The reverse mode is the transpose of the forward mode: <ct, J t> = <J^T ct, t>.
    lhs = float(np.sum(ct * np.asarray(tangent)))
    rhs = float(np.sum(np.asarray(ct_x) * tx) + np.sum(np.asarray(ct_u) * tu))
    assert abs(lhs - rhs) <= 1e-9 * (1 + abs(lhs)) * scale


# --- batching (vmap) -----------------------------------------------------------------------------
# The batching rules fold the batch into the dimension numbers, so every check compares vmap
# with a per-example loop over the impl (or over the unbatched function), for drawn dimension
# numbers, every out-of-bounds mode, and batch dimensions anywhere, the indices' last
# dimension (the index vector's place) included.

BATCH_SETTINGS = settings(max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])


def example_variant(x: np.ndarray, b: int, role: str) -> np.ndarray:
    """Example b of a batch: operands shift (distinct values), indices and updates roll (they
    stay in their dtype and in or out of bounds alike)."""
    if role == "operand":
        return x + 100.0 * b
    return np.roll(x.reshape(-1), b).reshape(x.shape) if x.size else x


def stack_batch(examples: list[np.ndarray], axis: int, like: np.ndarray) -> np.ndarray:
    if examples:
        return np.stack(examples, axis=axis)
    return np.zeros(like.shape[:axis] + (0,) + like.shape[axis:], like.dtype)


def check_vmap_against_loop(fun: object, args: list[np.ndarray], roles: list[str],
                            axes: list[int | None], size: int) -> None:
    """vmap of ``fun`` (NumPy in, one array out) with the unmapped args shared and the mapped
    ones varied per example, against a loop over the examples."""
    per_example = [[example_variant(a, b, r) if ax is not None else a
                    for a, r, ax in zip(args, roles, axes, strict=True)] for b in range(size)]
    batched = [a if ax is None else stack_batch([ex[i] for ex in per_example], ax, a)
               for i, (a, ax) in enumerate(zip(args, axes, strict=True))]
    got = np.asarray(ft.vmap(fun, in_axes=tuple(axes))(*batched))
    if size:
        want = np.stack([np.asarray(fun(*ex)) for ex in per_example])
    else:
        want = np.zeros((0, *np.shape(fun(*args))), got.dtype)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@st.composite
def batch_axes(draw: st.DrawFn, args: list[np.ndarray]) -> tuple[list[int | None], int]:
    """Where each argument is batched (None: not at all; at least one is), and the size."""
    axes = [draw(st.none() | st.integers(0, np.ndim(a))) for a in args]
    if all(ax is None for ax in axes):
        i = draw(st.integers(0, len(args) - 1))
        axes[i] = draw(st.integers(0, np.ndim(args[i])))
    return axes, draw(st.integers(0, 3))


@BATCH_SETTINGS
@given(gather_cases(), st.data())
def test_vmap_of_gather_matches_a_loop(case: tuple, data: st.DataObject) -> None:
    operand, indices, dnums, slice_sizes, mode = case
    fill = -1.0 if mode == FILL else None
    axes, size = data.draw(batch_axes([operand, indices]))

    def f(x: object, i: object) -> object:
        return ix.gather(x, i, dnums, slice_sizes, mode=mode, fill_value=fill)

    check_vmap_against_loop(f, [operand, indices], ["operand", "indices"], axes, size)


@BATCH_SETTINGS
@given(scatter_cases(), st.data())
def test_vmap_of_scatters_matches_a_loop(case: tuple, data: st.DataObject) -> None:
    name, operand, indices, updates, dnums, mode = case
    axes, size = data.draw(batch_axes([operand, indices, updates]))

    def f(x: object, i: object, u: object) -> object:
        return getattr(ix, name)(x, i, u, dnums, mode=mode)

    check_vmap_against_loop(f, [operand, indices, updates], ["operand", "indices", "updates"],
                            axes, size)


def batched_rule_ops(prim: Primitive, args: list[np.ndarray], axes: list[int | None],
                     params: dict) -> tuple[list[str], object]:
    """The operations that ``prim``'s batching rule emits for a batch of 2 at ``axes``, and
    the batch dimension of its result."""
    batched = [a if ax is None else np.stack([a, a], axis=ax) for a, ax in zip(args, axes)]
    out_dims = []

    def f(*xs: object) -> object:
        out, out_dim = prim.batch(AxisData(None, 2), list(xs), list(axes), **params)
        out_dims.append(out_dim)
        return out

    return [e.prim.name for e in ft.make_jaxpr(f)(*batched).eqns], out_dims[0]


@pytest.mark.parametrize("prim", ALL_PRIMS, ids=lambda p: p.name)
def test_batching_stays_one_op_and_moves_only_when_it_must(prim: Primitive) -> None:
    """Whatever is batched, the result is ONE gather/scatter. The only forced move is a batch
    in the indices' last dimension (the index vector's place); a scatter with batched updates
    may also move one operand to match the other's batch position (at most one move)."""
    for ex in prim.sample(np.dtype("float64")):
        args = [np.asarray(a) for a in ex.args]
        choices = [[None, *range(a.ndim + 1)] for a in args]
        for axes in itertools.product(*choices):
            if all(ax is None for ax in axes):
                continue
            ops, out_dim = batched_rule_ops(prim, args, list(axes), ex.params)
            assert ops.count(prim.name) == 1 and isinstance(out_dim, int), (ops, ex.note)
            index_vector_batched = axes[1] == args[1].ndim
            moves = ops.count("transpose")
            if prim is ix.gather_p or axes[2] is None or axes[:2] == (None, None):
                assert moves == index_vector_batched, (ops, axes, ex.note)
            else:
                assert moves <= 1, (ops, axes, ex.note)


def test_vmap_of_batching_dims_gather_and_scatter_adds_a_batching_pair() -> None:
    """A gather/scatter that already has batching dimensions, batched in both operand and
    indices: the vmapped axis becomes a second pair (one gather, no loop)."""
    x = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)  # (vmapped, I, N)
    idx = np.array([[[0], [3], [1]], [[2], [2], [0]]])  # (vmapped, I, 1)
    dnums = GDN((), (1,), (1,), (0,), (0,))
    out = ft.vmap(lambda x, i: ix.gather(x, i, dnums, (1, 1)))(x, idx)
    np.testing.assert_array_equal(np.asarray(out), np.take_along_axis(x, idx, axis=2)[..., 0])
    closed = ft.make_jaxpr(ft.vmap(lambda x, i: ix.gather(x, i, dnums, (1, 1))))(x, idx)
    (eqn,) = closed.eqns
    assert eqn.params["dimension_numbers"].operand_batching_dims == (0, 1)
    sdn = SDN((), (1,), (1,), (0,), (0,))
    added = ft.vmap(lambda x, i: ix.scatter_add(x, i, np.ones(3), sdn))(x[:, :, None, :][:, :, 0],
                                                                        idx)
    expected = x.copy()
    b, r = np.meshgrid(np.arange(2), np.arange(3), indexing="ij")
    np.add.at(expected, (b, r, idx[..., 0]), 1.0)
    np.testing.assert_array_equal(np.asarray(added), expected)


def test_nested_vmap_of_gather_and_scatter_add_with_different_in_axes() -> None:
    x = np.arange(2 * 5 * 3, dtype=np.float64).reshape(2, 5, 3)
    idx = np.array([[[4], [0]], [[1], [1]], [[2], [3]], [[0], [4]]])  # 4 examples of (2, 1)

    def take(x: object, i: object) -> object:
        return ix.gather(x, i, TAKE, (1, 3))

    # Outer over x's axis 0, inner over the indices' axis 0; then the other way round.
    got = ft.vmap(ft.vmap(take, in_axes=(None, 0)), in_axes=(0, None))(x, idx)
    want = np.stack([np.stack([x[a][idx[b, :, 0]] for b in range(4)]) for a in range(2)])
    np.testing.assert_array_equal(np.asarray(got), want)
    got = ft.vmap(ft.vmap(take, in_axes=(0, None)), in_axes=(None, 1))(x, idx)
    want = np.stack([np.stack([x[a][idx[:, b, 0]] for a in range(2)]) for b in range(2)])
    np.testing.assert_array_equal(np.asarray(got), want)

    def add_rows(x: object, i: object, u: object) -> object:
        return ix.scatter_add(x, i, u, SDN((1,), (0,), (0,)))

    u = np.arange(4 * 2 * 3, dtype=np.float64).reshape(4, 2, 3)
    got = ft.vmap(ft.vmap(add_rows, in_axes=(None, 0, 0)), in_axes=(0, None, None))(x, idx, u)
    want = np.zeros((2, 4, 5, 3))
    for a in range(2):
        for b in range(4):
            want[a, b] = x[a]
            np.add.at(want[a, b], idx[b, :, 0], u[b])
    np.testing.assert_array_equal(np.asarray(got), want)


def test_vmap_of_grad_through_gather_and_scatter_add() -> None:
    """Per-example gradients: the jvp and transpose rules (gather <-> scatter_add) under vmap."""
    xs = np.arange(12.0).reshape(3, 4) - 5
    idx = np.array([[[0], [2], [2]], [[3], [3], [1]], [[9], [0], [-1]]])

    def loss(x: object, i: object) -> object:
        return total(lax.square(ix.gather(x, i, TAKE1, (1,), mode="clip")))

    got = ft.vmap(ft.grad(loss))(xs, idx)
    for b in range(3):
        counts = np.bincount(np.clip(idx[b, :, 0], 0, 3), minlength=4)
        np.testing.assert_array_equal(np.asarray(got[b]), 2 * xs[b] * counts)
    # The same examples with one shared index set, and the gradient of the updates too.
    u = np.arange(6.0).reshape(2, 3)
    w = np.arange(4.0)

    def scatter_loss(x: object, u: object) -> object:
        return weighted(lax.square(ix.scatter_add(x, idx[0], u, POINT)), w)

    gx, gu = ft.vmap(ft.grad(scatter_loss, argnums=(0, 1)), in_axes=(None, 0))(xs[0], u)
    for b in range(2):
        y = xs[0].copy()
        np.add.at(y, idx[0, :, 0], u[b])
        np.testing.assert_array_equal(np.asarray(gx[b]), 2 * y * w)
        np.testing.assert_array_equal(np.asarray(gu[b]), (2 * y * w)[idx[0, :, 0]])


def test_vmap_over_indices_alone_drops_the_uniqueness_hints() -> None:
    """Examples that index one shared operand may pick the same elements: the batched gather
    no longer promises sorted or unique indices (JAX does the same)."""
    x = np.arange(5.0)
    i = np.array([[0], [1]])

    def f(x: object, i: object) -> object:
        return ix.gather(x, i, TAKE1, (1,), indices_are_sorted=True, unique_indices=True)

    (eqn,) = ft.make_jaxpr(ft.vmap(f, in_axes=(None, 0)))(x, np.stack([i, i])).eqns
    assert not eqn.params["unique_indices"] and not eqn.params["indices_are_sorted"]
    # A batched operand keeps them: every example reads its own operand.
    (eqn,) = ft.make_jaxpr(ft.vmap(f, in_axes=(0, None)))(np.stack([x, x]), i).eqns
    assert eqn.params["unique_indices"] and eqn.params["indices_are_sorted"]


# --- functrans.numpy indexing under vmap ---------------------------------------------------------
# x[idx], x.at[idx].op(v) and take_along_axis plan ONE gather/scatter (functrans/numpy/
# _indexing.py), so under vmap they run through the rules above; the oracle is a loop of the
# same function over the examples.

X53 = np.arange(15.0).reshape(5, 3) - 4
GETITEMS = [
    ("x[i]", lambda x, i: x[i], np.array([4, -1, 0, 2])),
    ("x[:, i]", lambda x, i: x[:, i], np.array([[2, 0], [-3, 1]])),
    ("x[i, 1:]", lambda x, i: x[i, 1:], np.array([3, 3, -5])),
    ("x[i, i % 3]", lambda x, i: x[i, i % 3], np.array([0, 4, 2, 1])),
    ("x[::-2, None, i]", lambda x, i: x[::-2, None, i], np.array([1, 2])),
    ("x[i] (scalar i)", lambda x, i: x[i], np.array(3)),
    ("x[..., i[:, None], i[None, :2] % 3]",
     lambda x, i: x[..., i[:, None], i[None, :2] % 3], np.array([1, 0, 4])),
]


@pytest.mark.parametrize("name, index, i", GETITEMS, ids=[g[0] for g in GETITEMS])
@pytest.mark.parametrize("axes", [(0, 0), (None, 0), (0, None), (2, 0), (1, -1)],
                         ids=str)
def test_vmap_of_numpy_getitem_matches_a_loop(name: str, index: object, i: np.ndarray,
                                              axes: tuple) -> None:
    axes = tuple(None if a is None else a % (np.ndim(arg) + 1)
                 for a, arg in zip(axes, (X53, i)))

    def f(x: object, i: object) -> object:
        return index(fnp.asarray(x), fnp.asarray(i))

    for size in (0, 1, 3):
        check_vmap_against_loop(f, [X53, i], ["operand", "indices"], list(axes), size)


UPDATE_METHODS = ["set", "add", "subtract", "multiply", "min", "max"]


@pytest.mark.parametrize("method", UPDATE_METHODS)
def test_vmap_of_numpy_at_updates_matches_a_loop(method: str) -> None:
    """Repeated (and negative) indices, every choice of batched arguments and batch position."""
    i = np.array([1, 3, 1, -4])  # -4 is row 1 again
    v = np.arange(12.0).reshape(4, 3) / 4 - 1

    def f(x: object, i: object, v: object) -> object:
        return getattr(fnp.asarray(x).at[i], method)(v)

    for axes in itertools.product([None, 0, -1], repeat=3):
        if axes == (None, None, None):
            continue
        axes = tuple(None if a is None else a % (np.ndim(arg) + 1)
                     for a, arg in zip(axes, (X53, i, v)))
        check_vmap_against_loop(f, [X53, i, v], ["operand", "indices", "updates"],
                                list(axes), 3)
    check_vmap_against_loop(f, [X53, i, v], ["operand", "indices", "updates"], [0, 0, 0], 0)


def test_vmap_of_numpy_at_with_slices_and_modes_matches_a_loop() -> None:
    x = np.arange(24.0).reshape(2, 4, 3)
    i = np.array([3, 0, 7])  # 7 is out of bounds: dropped by 'drop', clamped by 'clip'
    v = np.arange(6.0).reshape(3, 2)

    def add_drop(x: object, i: object, v: object) -> object:
        return fnp.asarray(x).at[1, i, 1:].add(v, mode="drop")

    def set_clip(x: object, i: object, v: object) -> object:
        return fnp.asarray(x).at[:, i, ::2].set(v, mode="clip")

    def get_fill(x: object, i: object, v: object) -> object:
        return fnp.asarray(x).at[:, i].get(mode="fill", fill_value=-7.0)

    for f in (add_drop, set_clip, get_fill):
        for axes in ([0, 0, 0], [None, 0, 1], [2, None, None], [1, 1, None]):
            check_vmap_against_loop(f, [x, i, v], ["operand", "indices", "updates"], axes, 3)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_vmap_of_take_along_axis_matches_a_loop(axis: int) -> None:
    x = np.arange(20.0).reshape(4, 5)
    i = np.array([[0, 4, 1, 2, 2], [3, 3, 0, 1, 4]]) if axis == 0 else \
        np.array([[4, 0], [1, 1], [2, 3], [0, 0]])

    def f(x: object, i: object) -> object:
        return fnp.take_along_axis(fnp.asarray(x), i, axis=axis)

    for axes in ([0, 0], [None, 0], [0, None], [2, 1], [1, 2]):
        check_vmap_against_loop(f, [x, i], ["operand", "indices"], axes, 3)


def test_vmap_of_grad_through_numpy_indexing() -> None:
    """Per-example gradients through x[i] (a gather: its transpose is a scatter_add) and
    through x.at[i].add(v), batched over the inputs, the indices, or both."""
    xs = np.arange(15.0).reshape(3, 5) / 3 - 2
    idx = np.array([[0, 2, 2], [4, -1, 1], [3, 3, 3]])
    v = np.array([0.5, -1.0, 2.0])

    def loss(x: object, i: object) -> object:
        y = fnp.asarray(x)[i]
        return total(y * y * v)

    def loss_at(x: object, i: object) -> object:
        y = fnp.asarray(x).at[i].add(v)
        return total(y * y)

    for f in (loss, loss_at):
        g = ft.grad(f)
        for in_axes in ((0, 0), (None, 0), (0, None)):
            xb = xs if in_axes[0] == 0 else xs[0]
            ib = idx if in_axes[1] == 0 else idx[0]
            got = np.asarray(ft.vmap(g, in_axes=in_axes)(xb, ib))
            want = np.stack([np.asarray(g(xs[b] if in_axes[0] == 0 else xb,
                                          idx[b] if in_axes[1] == 0 else ib))
                             for b in range(3)])
            np.testing.assert_allclose(got, want, rtol=1e-12)
    # And against the closed form of the first: d/dx sum(v * x[i]^2) = scatter-add of 2 v x[i].
    got = np.asarray(ft.vmap(ft.grad(loss))(xs, idx))
    for b in range(3):
        want = np.zeros(5)
        np.add.at(want, idx[b], 2 * v * xs[b][idx[b]])
        np.testing.assert_allclose(got[b], want, rtol=1e-12)


def test_nested_vmap_of_numpy_indexing_with_different_in_axes() -> None:
    xs = np.arange(2 * 5 * 3, dtype=np.float64).reshape(2, 5, 3)
    idx = np.array([[4, 0, 4], [1, -2, 1], [2, 2, 0], [0, 3, 3]])

    def f(x: object, i: object) -> object:
        x = fnp.asarray(x)
        return x.at[i].add(x[i[::-1]] * 2)

    # Inner over the indices (rows of idx), outer over the operands; and outer over the
    # columns of idx (axis 1) with the operand batched on its last axis inside.
    got = ft.vmap(ft.vmap(f, in_axes=(None, 0)), in_axes=(0, None))(xs, idx)
    want = np.stack([np.stack([np.asarray(f(xs[a], idx[b])) for b in range(4)])
                     for a in range(2)])
    np.testing.assert_array_equal(np.asarray(got), want)
    xt = np.moveaxis(xs, 0, -1)  # (5, 3, 2)
    got = ft.vmap(ft.vmap(f, in_axes=(-1, None)), in_axes=(None, 1))(xt, idx)
    want = np.stack([np.stack([np.asarray(f(xs[a], idx[:, b])) for a in range(2)])
                     for b in range(3)])
    np.testing.assert_array_equal(np.asarray(got), want)


@pytest.mark.parametrize("n", [2, 33, 70])
def test_select_n_and_choose_take_any_number_of_cases(n):
    # np.choose takes at most 64 arrays; select_n (and fnp.choose built on it) must not.
    rng = np.random.default_rng(n)
    cases = [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(n)]
    which = rng.integers(0, n, size=(3, 4)).astype(np.int32)
    want = np.choose(which, cases) if n <= 32 else np.stack(cases)[(which, *np.indices((3, 4)))]
    np.testing.assert_array_equal(np.asarray(lax.select_n(which, *cases)), want)
    np.testing.assert_array_equal(
        np.asarray(ft.jit(lambda w, *c: lax.select_n(w, *c))(which, *cases)), want)
    np.testing.assert_array_equal(np.asarray(fnp.choose(which, cases)), want)
