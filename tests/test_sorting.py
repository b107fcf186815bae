"""Sorting primitives (primitives/sorting.py): sort and top_k.

hypothesis draws operands of every dtype (NaNs, infinities and signed zeros included for
floats, NaN parts for complex), dimensions and key counts. The oracle is Python's stable
``sorted`` with an explicit total-order key (NaN last and equal to NaN, -0.0 equal to 0.0,
complex by (real, imag)); NumPy's ``np.sort``/``np.lexsort`` are checked too where their order
is lax's. Results are compared bit for bit, so a reordered NaN payload or signed zero shows.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import functrans as ft
from functrans import dtypes as dt
from functrans import lax
from functrans.core import ShapedArray
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import sorting as S

# --- helpers ------------------------------------------------------------------------------------


def readonly(x: np.ndarray) -> np.ndarray:
    x = np.array(x)
    x.flags.writeable = False
    return x


def same_bits(got, want) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got, want)
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes(), \
        (got, want)


def raises(exc: type, msg: str):
    return pytest.raises(exc, match=re.escape(msg))


def f32(*shape: int, weak: bool = False) -> ShapedArray:
    return ShapedArray(shape, dt.float32, weak)


def real_key(v: float) -> tuple:
    """lax's order on one real value: NaNs after everything and equal; -0.0 == 0.0."""
    return (1, 0.0) if math.isnan(v) else (0, v)


def total_key(v: np.generic) -> tuple:
    if isinstance(v, np.complexfloating):
        return (real_key(float(v.real)), real_key(float(v.imag)))
    if isinstance(v, np.floating):
        return real_key(float(v))
    return (0, int(v))


def sort_oracle(operands: list[np.ndarray], dimension: int, num_keys: int) -> list[np.ndarray]:
    """Python's stable sorted, row by row, by the first num_keys operands."""
    moved = [np.moveaxis(op, dimension, -1) for op in operands]
    outs = [np.empty_like(m) for m in moved]
    for idx in np.ndindex(*moved[0].shape[:-1]):
        n = moved[0].shape[-1]
        perm = sorted(range(n), key=lambda j: tuple(total_key(m[idx][j])
                                                    for m in moved[:num_keys]))
        for m, o in zip(moved, outs, strict=True):
            o[idx] = m[idx][perm]
    return [np.moveaxis(o, -1, dimension) for o in outs]


def values_of(dtype: np.dtype, ties: bool) -> st.SearchStrategy:
    """Anything the dtype holds (NaN, inf, -0.0...), or a few values when ``ties``."""
    if ties:
        pool = [0.0, -0.0, 1.0, np.nan] if dtype.kind in "fc" else [0, 1]
        if dtype.kind == "c":
            pool = [complex(a, b) for a in pool for b in pool]
        return st.sampled_from(pool).map(lambda v: np.array(v).astype(dtype)[()])
    return hnp.from_dtype(dtype)


@st.composite
def sort_case(draw: st.DrawFn) -> tuple[list[np.ndarray], int, int]:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5))
    count = draw(st.integers(1, 3))
    ties = draw(st.booleans())
    operands = []
    for _ in range(count):
        dtype = draw(st.sampled_from(dt.ALL))
        operands.append(readonly(draw(hnp.arrays(dtype, shape, elements=values_of(dtype, ties)))))
    return operands, draw(st.integers(0, len(shape) - 1)), draw(st.integers(1, count))


# --- sort ---------------------------------------------------------------------------------------


def test_samples_are_small_and_cover_edge_shapes():
    for prim in (S.sort_p, S.top_k_p):
        assert prim.family == "sort" and prim.multiple_results
        for dtype in prim.dtypes:
            exs = prim.sample(dtype)
            assert 1 <= len(exs) <= 12
            assert any(np.size(ex.args[0]) == 0 for ex in exs)
    assert S.sort_p.dtypes == frozenset(dt.ALL)
    assert S.top_k_p.dtypes == frozenset(dt.REAL + dt.BOOL)


@given(sort_case(), st.booleans())
def test_sort_matches_stable_total_order_oracle(case, is_stable):
    operands, dimension, num_keys = case
    params = {"dimension": dimension, "is_stable": is_stable, "num_keys": num_keys}
    outs = S.sort_p.impl(*operands, **params)
    avals = S.sort_p.abstract_eval(*(ShapedArray(o.shape, o.dtype) for o in operands), **params)
    assert len(outs) == len(avals) == len(operands)
    for o, a in zip(outs, avals, strict=True):
        assert type(o) is np.ndarray and (o.shape, o.dtype) == (a.shape, a.dtype)
    for got, want in zip(outs, sort_oracle(operands, dimension, num_keys), strict=True):
        same_bits(got, want)


@given(hnp.arrays(st.sampled_from(dt.REAL + dt.BOOL),
                  hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5)),
       st.data())
def test_single_real_operand_matches_np_sort(x, data):
    dimension = data.draw(st.integers(0, x.ndim - 1))
    (out,) = S.sort_p.impl(readonly(x), dimension=dimension, is_stable=True, num_keys=1)
    np.testing.assert_array_equal(out, np.sort(x, axis=dimension, kind="stable"))


@given(st.lists(hnp.arrays(st.sampled_from(dt.INTEGER + dt.BOOL), (3, 6),
                           elements=st.integers(0, 1)), min_size=2, max_size=3),
       st.integers(0, 1))
def test_integer_keys_match_np_lexsort(keys, dimension):
    positions = np.broadcast_to(np.arange(keys[0].shape[dimension]).reshape(
        (-1, 1) if dimension == 0 else (1, -1)), keys[0].shape).copy()
    outs = S.sort_p.impl(*keys, positions, dimension=dimension, is_stable=True,
                         num_keys=len(keys))
    perm = np.lexsort(keys[::-1], axis=dimension)
    np.testing.assert_array_equal(outs[-1], perm)


def test_sort_float_total_order_exact():
    x = np.array([np.nan, 1.0, -0.0, 0.0, -np.inf, -np.nan, np.inf, -1.0], np.float32)
    keys, pos = lax.sort_key_val(x, np.arange(8, dtype=np.int32))
    np.testing.assert_array_equal(pos, [4, 7, 2, 3, 1, 6, 0, 5])  # zeros and NaNs: stable
    assert np.signbit(np.asarray(keys)[2]) and not np.signbit(np.asarray(keys)[3])
    assert np.signbit(np.asarray(keys)[7])  # -NaN kept its sign and its place after NaN


def test_sort_complex_lexicographic_with_nan_parts():
    nan = np.nan
    x = np.array([complex(nan, 0), complex(1, nan), 2 + 0j, 1 + 1j, 1 - 1j, complex(nan, nan),
                  -1 + 0j, complex(nan, -1)], np.complex64)
    out = np.asarray(lax.sort(x))
    # NumPy would put 2+0j before 1+nanj (it sorts every NaN-imaginary value after all others).
    want = np.array([-1 + 0j, 1 - 1j, 1 + 1j, complex(1, nan), 2 + 0j, complex(nan, -1),
                     complex(nan, 0), complex(nan, nan)], np.complex64)
    same_bits(out, want)


def test_sort_and_top_k_are_stable_on_long_rows():
    # NumPy's default sorts are stable for short rows only (insertion sort below 16 elements),
    # so this uses long rows full of ties, signed zeros and signed NaNs.
    rng = np.random.default_rng(0)
    pool = np.array([0.0, -0.0, 1.0, np.nan, -np.nan, -1.0], np.float32)
    x = readonly(pool[rng.integers(0, len(pool), size=(3, 300))])
    (out,) = S.sort_p.impl(x, dimension=1, is_stable=False, num_keys=1)
    (want,) = sort_oracle([x], 1, 1)
    same_bits(out, want)
    values, indices = S.top_k_p.impl(x, k=300, axis=1)
    want_values, want_indices = top_k_oracle(x, 300, 1)
    np.testing.assert_array_equal(indices, want_indices)
    same_bits(values, want_values)


def test_sort_wrapper_structures():
    x = np.array([[3, 1, 2], [0, 5, 4]], np.int16)
    out = lax.sort(x)
    assert isinstance(out, ft.Array) and out.dtype == np.int16
    np.testing.assert_array_equal(out, [[1, 2, 3], [0, 4, 5]])
    np.testing.assert_array_equal(lax.sort(x, dimension=0), [[0, 1, 2], [3, 5, 4]])
    one = lax.sort([x])
    assert isinstance(one, tuple) and len(one) == 1
    a = np.array([1, 0, 1, 0])
    b = np.array([4.0, 3.0, 2.0, 1.0], np.float32)
    ka, kb = lax.sort((a, b), num_keys=2)
    np.testing.assert_array_equal(ka, [0, 0, 1, 1])
    np.testing.assert_array_equal(kb, [1.0, 3.0, 2.0, 4.0])
    assert kb.dtype == np.float32
    ka, kb = lax.sort((a, b))  # one key: ties keep their order
    np.testing.assert_array_equal(kb, [3.0, 1.0, 4.0, 2.0])
    keys, values = lax.sort_key_val(np.array([2.0, np.nan, 1.0]), np.array([0, 1, 2]))
    np.testing.assert_array_equal(values, [2, 0, 1])
    assert np.asarray(lax.sort(np.zeros((2, 0)))).shape == (2, 0)


def test_sort_keeps_weak_types_per_operand():
    avals = S.sort_p.abstract_eval(f32(3, weak=True), ShapedArray((3,), dt.int32),
                                   dimension=0, is_stable=True, num_keys=1)
    assert avals == [f32(3, weak=True), ShapedArray((3,), dt.int32)]


def test_sort_errors():
    with raises(TypeError, "functrans.lax.sort: needs at least one operand"):
        S.sort_p.abstract_eval(dimension=0, is_stable=True, num_keys=1)
    with raises(TypeError, "functrans.lax.sort: needs at least one operand"):
        lax.sort([])
    with raises(ShapeError, "functrans.lax.sort: operands must all have the same shape, got "
                            "f32[3], i32[4]"):
        S.sort_p.abstract_eval(f32(3), ShapedArray((4,), dt.int32), dimension=0,
                               is_stable=True, num_keys=1)
    with raises(ShapeError, "functrans.lax.sort: dimension 2 is out of range for f32[2,3] "
                            "(rank 2)"):
        S.sort_p.abstract_eval(f32(2, 3), dimension=2, is_stable=True, num_keys=1)
    with raises(ShapeError, "functrans.lax.sort: dimension -1 is out of range for f32[] "
                            "(rank 0)"):
        lax.sort(np.float32(1.0))
    with raises(TypeError, "functrans.lax.sort: dimension must be an int, got 0.0"):
        S.sort_p.abstract_eval(f32(2), dimension=0.0, is_stable=True, num_keys=1)
    with raises(TypeError, "functrans.lax.sort: is_stable must be a bool, got 'yes'"):
        S.sort_p.abstract_eval(f32(2), dimension=0, is_stable="yes", num_keys=1)
    with raises(TypeError, "functrans.lax.sort: num_keys must be an int, got 1.0"):
        S.sort_p.abstract_eval(f32(2), dimension=0, is_stable=True, num_keys=1.0)
    for bad in (0, 3):
        with raises(ValueError, f"functrans.lax.sort: num_keys={bad} must be between 1 and the "
                                f"number of operands (2)"):
            S.sort_p.abstract_eval(f32(2), f32(2), dimension=0, is_stable=True, num_keys=bad)
    with raises(ValueError, "functrans.lax.sort: num_keys=2 must be 1 for a single operand"):
        lax.sort(np.zeros(3), num_keys=2)
    with raises(DtypeError, "functrans.lax.sort: operand 1 float0[2] has dtype"):
        S.sort_p.abstract_eval(f32(2), ShapedArray((2,), dt.float0), dimension=0,
                               is_stable=True, num_keys=1)


# --- top_k --------------------------------------------------------------------------------------


def top_k_oracle(x: np.ndarray, k: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Descending by lax's order (NaN largest), equal values in index order."""
    moved = np.moveaxis(x, axis, -1)
    values = np.empty(moved.shape[:-1] + (k,), x.dtype)
    indices = np.empty(moved.shape[:-1] + (k,), np.int32)

    def descending(v: np.generic) -> tuple:
        if isinstance(v, np.floating):
            return (0, 0.0) if math.isnan(float(v)) else (1, -float(v))
        return (1, -int(v))

    for idx in np.ndindex(*moved.shape[:-1]):
        row = moved[idx]
        order = sorted(range(len(row)), key=lambda j: (descending(row[j]), j))[:k]
        values[idx] = row[order]
        indices[idx] = order
    return np.moveaxis(values, -1, axis), np.moveaxis(indices, -1, axis)


@st.composite
def top_k_case(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    dtype = draw(st.sampled_from(dt.REAL + dt.BOOL))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5))
    x = draw(hnp.arrays(dtype, shape, elements=values_of(dtype, draw(st.booleans()))))
    axis = draw(st.integers(0, len(shape) - 1))
    return readonly(x), draw(st.integers(0, shape[axis])), axis


@given(top_k_case())
def test_top_k_matches_descending_oracle(case):
    x, k, axis = case
    values, indices = S.top_k_p.impl(x, k=k, axis=axis)
    va, ia = S.top_k_p.abstract_eval(ShapedArray(x.shape, x.dtype), k=k, axis=axis)
    assert (values.shape, values.dtype) == (va.shape, va.dtype)
    assert (indices.shape, indices.dtype) == (ia.shape, ia.dtype) and ia.dtype == np.int32
    want_values, want_indices = top_k_oracle(x, k, axis)
    np.testing.assert_array_equal(indices, want_indices)
    same_bits(values, want_values)


def test_top_k_exact_values():
    x = np.array([9.0, 3.0, 6.0, 4.0, 10.0], np.float32)
    values, indices = lax.top_k(x, 3)
    np.testing.assert_array_equal(values, [10.0, 9.0, 6.0])
    np.testing.assert_array_equal(indices, [4, 0, 2])
    assert indices.dtype == np.int32 and values.dtype == np.float32
    values, indices = lax.top_k(np.array([1.0, np.nan, 2.0, np.nan, 2.0]), 4)
    np.testing.assert_array_equal(indices, [1, 3, 2, 4])  # NaN largest; ties by index
    m = np.array([[1, 5], [7, 2], [3, 3]], np.int8)
    values, indices = lax.top_k(m, 2, axis=0)
    np.testing.assert_array_equal(values, [[7, 5], [3, 3]])
    np.testing.assert_array_equal(indices, [[1, 0], [2, 2]])
    values, indices = lax.top_k(np.zeros((2, 3)), 0)
    assert values.shape == (2, 0) and indices.shape == (2, 0)


def test_top_k_avals_and_weak_type():
    va, ia = S.top_k_p.abstract_eval(f32(2, 5, weak=True), k=3, axis=1)
    assert va == f32(2, 3, weak=True) and ia == ShapedArray((2, 3), dt.int32, False)


def test_top_k_errors():
    with raises(DtypeError, "functrans.lax.top_k: operand c64[3] has dtype complex64; expected "
                            "a non-complex dtype"):
        S.top_k_p.abstract_eval(ShapedArray((3,), dt.complex64), k=1, axis=0)
    with raises(ValueError, "functrans.lax.top_k: k must be non-negative, got -1"):
        S.top_k_p.abstract_eval(f32(3), k=-1, axis=0)
    with raises(TypeError, "functrans.lax.top_k: k must be an int, got 1.5"):
        S.top_k_p.abstract_eval(f32(3), k=1.5, axis=0)
    with raises(ShapeError, "functrans.lax.top_k: k=4 is larger than axis 1 of f32[2,3] "
                            "(size 3)"):
        S.top_k_p.abstract_eval(f32(2, 3), k=4, axis=1)
    with raises(ShapeError, "functrans.lax.top_k: axis -1 is out of range for f32[] (rank 0); "
                            "top_k needs an operand of rank >= 1"):
        lax.top_k(np.float32(3.0), 1)
    with raises(ShapeError, "functrans.lax.top_k: axis 2 is out of range for f32[2,3] (rank 2)"):
        S.top_k_p.abstract_eval(f32(2, 3), k=1, axis=2)
    with raises(ShapeError, "functrans.lax.top_k: axis 0 of f32[2147483649] is too long for the "
                            "int32 indices top_k returns"):
        S.top_k_p.abstract_eval(f32(2**31 + 1), k=1, axis=0)
    with pytest.raises(TypeError):
        lax.top_k(np.zeros(3), 1.5)


def test_sort_and_top_k_stage_to_jaxprs():
    x = np.array([[3.0, 1.0, 2.0]], np.float32)
    closed = ft.make_jaxpr(lambda a: lax.top_k(lax.sort(a), 2))(x)
    assert "sort" in str(closed) and "top_k" in str(closed)


# --- derivatives (end to end, against hand-derived NumPy formulas) -----------------------------


def test_grad_of_sort_sends_each_weight_back_to_where_its_value_came_from():
    x = np.array([[0.3, -1.2, 2.5, 0.0], [1.0, 4.0, -3.0, 2.0]])
    w = np.arange(1.0, 9.0).reshape(2, 4)
    g = np.asarray(ft.grad(lambda v: lax.reduce_sum(lax.sort(v) * w, (0, 1)))(x))
    perm = np.argsort(x, axis=1)
    want = np.zeros_like(x)
    np.put_along_axis(want, perm, w, axis=1)
    np.testing.assert_array_equal(g, want)
    # Along the first axis, forward mode: the tangents are permuted like the values.
    t = np.arange(8.0).reshape(2, 4)
    _, tout = ft.jvp(lambda v: lax.sort(v, dimension=0), (x,), (t,))
    np.testing.assert_array_equal(np.asarray(tout),
                                  np.take_along_axis(t, np.argsort(x, axis=0), axis=0))


def test_sorted_values_carry_their_tangents_and_integer_keys_have_none():
    keys = np.array([2, 0, 1, 0], np.int32)  # tied keys keep their order (stability)
    vals = np.array([10.0, 20.0, 30.0, 40.0])
    t = np.array([1.0, 2.0, 3.0, 4.0])
    (_, v), (tk, tv) = ft.jvp(lambda a: lax.sort_key_val(keys, a), (vals,), (t,))
    np.testing.assert_array_equal(np.asarray(v), [20.0, 40.0, 30.0, 10.0])
    np.testing.assert_array_equal(np.asarray(tv), [2.0, 4.0, 3.0, 1.0])
    assert np.asarray(tk).dtype == ft.float0
    # Two float operands, the second as a secondary key.
    a = np.array([1.0, 0.0, 1.0])
    b = np.array([0.5, 0.7, -0.5])
    ga, gb = ft.grad(lambda p, q: lax.reduce_sum(
        lax.sort((p, q), num_keys=2)[1] * np.array([1.0, 10.0, 100.0]), (0,)),
        argnums=(0, 1))(a, b)
    np.testing.assert_array_equal(np.asarray(ga), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(gb), [100.0, 1.0, 10.0])


def test_grad_of_top_k_scatters_into_the_chosen_positions():
    x = np.array([[0.5, 3.0, -1.0, 2.0, 7.0], [1.0, 0.0, 4.0, 3.0, -2.0]])
    w = np.array([[1.0, 10.0, 100.0], [2.0, 20.0, 200.0]])
    g = np.asarray(ft.grad(lambda v: lax.reduce_sum(lax.top_k(v, 3)[0] * w, (0, 1)))(x))
    want = np.zeros_like(x)
    np.put_along_axis(want, np.argsort(-x, axis=1)[:, :3], w, axis=1)
    np.testing.assert_array_equal(g, want)
    (vals, _), (tv, ti) = ft.jvp(lambda v: lax.top_k(v, 2, axis=0), (x,), (x * 10,))
    np.testing.assert_array_equal(np.asarray(tv), 10 * np.asarray(vals))
    assert np.asarray(ti).dtype == ft.float0 and np.shape(ti) == (2, 5)
    _, (tv, _) = ft.jvp(lambda v: lax.top_k(v, 0), (x,), (x,))
    assert np.shape(tv) == (2, 0)


@given(sort_case(), st.booleans())
def test_sort_vjp_is_the_transpose_of_its_jvp(case, is_stable):
    operands, dimension, num_keys = case
    # Floats (NaN, inf and ties included: the identity holds everywhere) become float64.
    operands = [o.astype(np.float64) if o.dtype.kind == "f" else o for o in operands]
    float_ops = [i for i, o in enumerate(operands) if o.dtype == np.float64]
    if not float_ops:
        return
    rng = np.random.default_rng(0)

    def f(*xs):
        full = list(operands)
        for i, x in zip(float_ops, xs, strict=True):
            full[i] = x
        return S.sort_p.bind(*full, dimension=dimension, is_stable=is_stable,
                             num_keys=num_keys)

    xs = [operands[i] for i in float_ops]
    ts = [rng.normal(size=x.shape) for x in xs]
    outs, touts = ft.jvp(f, xs, ts)
    kinds = [np.asarray(o).dtype for o in outs]
    cts = [rng.normal(size=np.shape(o)) if d == np.float64 else
           np.zeros(np.shape(o), d if d.kind == "c" else ft.float0)
           for o, d in zip(outs, kinds, strict=True)]
    gs = ft.vjp(f, *xs)[1](cts)
    lhs = sum(np.sum(c * np.asarray(t)) for c, t in zip(cts, touts, strict=True)
              if np.asarray(t).dtype == np.float64)
    rhs = sum(np.sum(np.asarray(g) * t) for g, t in zip(gs, ts, strict=True))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12)


# --- batching (vmap) ------------------------------------------------------------------------------


def stack_variants(x: np.ndarray, size: int, bdim: int) -> np.ndarray:
    """``size`` variants of ``x`` (rolled: same values, another order) stacked at ``bdim``."""
    if not size:
        return readonly(np.zeros(x.shape[:bdim] + (0,) + x.shape[bdim:], x.dtype))
    return readonly(np.stack([np.roll(x.ravel(), b).reshape(x.shape) for b in range(size)],
                             axis=bdim))


def loop_results(f, args: list, in_axes: list, size: int, out_axis: int, like: list) -> list:
    """``f``'s results on each example (args split along in_axes), stacked at ``out_axis``."""
    per = [[np.asarray(r) for r in f(*[a if ax is None else np.take(a, i, axis=ax)
                                       for a, ax in zip(args, in_axes, strict=True)])]
           for i in range(size)]
    if not per:
        return [np.zeros(np.shape(w)[:out_axis] + (0,) + np.shape(w)[out_axis:],
                         np.asarray(w).dtype) for w in like]
    return [np.stack(rs, axis=out_axis) for rs in zip(*per, strict=True)]


@given(sort_case(), st.booleans(), st.data())
def test_vmap_of_sort_matches_a_loop_with_mixed_batch_dims(case, is_stable, data):
    operands, dimension, num_keys = case
    size = data.draw(st.integers(0, 3))
    # Each operand batched at its own position, or not batched; at least one batched.
    in_axes = [data.draw(st.one_of(st.none(), st.integers(0, op.ndim))) for op in operands]
    if all(ax is None for ax in in_axes):
        in_axes[0] = 0
    args = [op if ax is None else stack_variants(op, size, ax)
            for op, ax in zip(operands, in_axes, strict=True)]
    out_axis = data.draw(st.integers(0, operands[0].ndim))
    params = {"dimension": dimension, "is_stable": is_stable, "num_keys": num_keys}

    def f(*xs):
        return S.sort_p.bind(*xs, **params)

    got = ft.vmap(f, in_axes=tuple(in_axes), out_axes=out_axis)(*args)
    want = loop_results(lambda *xs: S.sort_p.impl(*xs, **params), args, in_axes, size,
                        out_axis, operands)
    for g, w in zip(got, want, strict=True):
        same_bits(g, w)


def test_vmap_of_sort_keeps_a_shared_batch_dim_and_broadcasts_unbatched_operands():
    keys = np.array([[3, 1, 2], [0, 2, 1]], np.int32)    # batched at 1: three examples of 2
    vals = np.array([10.0, 20.0])                         # shared by every example
    f = ft.vmap(lambda k, v: lax.sort_key_val(k, v), in_axes=(1, None), out_axes=1)
    sk, sv = f(keys, vals)
    np.testing.assert_array_equal(np.asarray(sk), np.sort(keys, axis=0))
    np.testing.assert_array_equal(np.asarray(sv), vals[np.argsort(keys, 0, kind="stable")])
    # Operands batched at one place: the sort alone, nothing moved.
    two = ft.make_jaxpr(ft.vmap(lambda k, v: lax.sort_key_val(k, v), in_axes=1, out_axes=1))(
        keys, keys.astype(np.float64))
    assert [e.prim for e in two.eqns] == [S.sort_p], str(two)
    # An unbatched operand is broadcast to the batch: one broadcast_in_dim, no transpose.
    one = ft.make_jaxpr(f)(keys, vals)
    assert [e.prim.name for e in one.eqns] == ["broadcast_in_dim", "sort"], str(one)


@given(top_k_case(), st.data())
def test_vmap_of_top_k_shifts_the_axis_and_matches_a_loop(case, data):
    x, k, axis = case
    size = data.draw(st.integers(0, 3))
    bdim = data.draw(st.integers(0, x.ndim))   # the last position included
    xs = stack_variants(x, size, bdim)

    def f(v):
        return S.top_k_p.bind(v, k=k, axis=axis)

    got = ft.vmap(f, in_axes=bdim, out_axes=bdim)(xs)
    want = loop_results(lambda v: S.top_k_p.impl(v, k=k, axis=axis), [xs], [bdim], size, bdim,
                        S.top_k_p.impl(x, k=k, axis=axis))
    for g, w in zip(got, want, strict=True):
        same_bits(g, w)
    closed = ft.make_jaxpr(ft.vmap(f, in_axes=bdim, out_axes=bdim))(xs)
    assert [e.prim for e in closed.eqns] == [S.top_k_p], str(closed)


def test_vmap_of_the_top_k_wrapper_on_the_last_axis_with_the_batch_last():
    x = np.array([[0.5, 3.0, -1.0], [2.0, 7.0, 1.0], [4.0, 0.0, 6.0], [5.0, 8.0, 9.0]])
    values, indices = ft.vmap(lambda v: lax.top_k(v, 2), in_axes=1)(x)  # rows of x.T
    np.testing.assert_array_equal(np.asarray(values), -np.sort(-x.T, axis=1)[:, :2])
    np.testing.assert_array_equal(np.asarray(indices), np.argsort(-x.T, axis=1)[:, :2])


def test_vmap_of_grad_of_sort_and_top_k_matches_a_loop_of_grads():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(4, 2, 5))
    w = rng.normal(size=(2, 5))

    def f(v):  # one (2, 5) example
        sorted_ = lax.sort(v, dimension=1)
        top, _ = lax.top_k(v, 3, axis=1)
        keyed = lax.sort((lax.neg(v), v), dimension=0, num_keys=1)[1]
        return (lax.reduce_sum(sorted_ * w, (0, 1)) + lax.reduce_sum(top * top, (0, 1))
                + lax.reduce_sum(keyed * w, (0, 1)))

    for in_axis in (0, 1, 2):
        batch = np.moveaxis(xs, 0, in_axis)
        got = ft.vmap(ft.grad(f), in_axes=in_axis, out_axes=in_axis)(batch)
        want = np.stack([np.asarray(ft.grad(f)(x)) for x in xs], axis=in_axis)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13, atol=1e-13)


def test_nested_vmap_with_different_in_axes():
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 3, size=(4, 3, 6)).astype(np.int32)
    vals = rng.normal(size=(6, 3))

    # Outer: keys' axis 1 and vals' axis 1; inner: keys' axis 0 only (vals shared).
    inner = ft.vmap(lambda k, v: lax.sort_key_val(k, v), in_axes=(0, None))
    got_k, got_v = ft.vmap(inner, in_axes=(1, 1))(keys, vals)     # [j, i] from keys[i, j]
    want_k = np.empty((3, 4, 6), np.int32)
    want_v = np.empty((3, 4, 6))
    for j in range(3):
        for i in range(4):
            order = np.argsort(keys[i, j], kind="stable")
            want_k[j, i], want_v[j, i] = keys[i, j][order], vals[:, j][order]
    np.testing.assert_array_equal(np.asarray(got_k), want_k)
    np.testing.assert_array_equal(np.asarray(got_v), want_v)
