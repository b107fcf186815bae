"""functrans.numpy indexing against NumPy: ``x[idx]``, ``x.at[idx]`` and the index functions.

Index expressions are drawn by ``index_cases`` (ints, slices with any step, None, Ellipsis,
integer arrays, boolean masks, in any mix) and checked eagerly and through
``make_jaxpr`` + ``eval_jaxpr``, where the integer arrays are traced arguments. Also: the
out-of-bounds modes, update dtype casting, booleans, immutability, the traced-mask error, and
which primitives the jaxprs use.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import functrans as ft
import functrans.numpy as fnp
from functrans.errors import ConcretizationTypeError, DtypeError, ShapeError
from functrans.ir import eval_jaxpr
from functrans.numpy import _selection as sel
from tests.harness import assert_same_values

DTYPES = [np.float32, np.float64, np.int16, np.uint8, np.bool_, np.complex64]
INDEX_DTYPES = [np.int8, np.int32, np.int64, np.uint8]


def sample(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype) == np.bool_:
        return np.asarray(rng.random(shape) < 0.5)
    values = rng.integers(-50, 50, shape) if np.dtype(dtype).kind in "fci" else \
        rng.integers(0, 100, shape)
    return np.asarray(values.astype(dtype))


def traced(f: Any, *args: Any) -> list[Any]:
    """``f(*args)`` evaluated from its jaxpr, so every input is a traced value."""
    closed = ft.make_jaxpr(f)(*args)
    return eval_jaxpr(closed.jaxpr, closed.consts, *args)


def primitives(f: Any, *args: Any) -> list[str]:
    return [eqn.prim.name for eqn in ft.make_jaxpr(f)(*args).jaxpr.eqns]


# --- drawing index expressions ------------------------------------------------------------------


KINDS = {"arrays": ["int", "slice", "scalar", "array", "array", "array"],
         "mask": ["int", "slice", "mask", "mask"], "none": ["int", "slice", "scalar"]}


@st.composite
def index_cases(draw: st.DrawFn, masks: bool = True) -> tuple[tuple[int, ...], list[Any]]:
    """A shape and a list of index items that is mostly valid for it. The integer arrays of
    one case broadcast to a common block shape; a case uses index arrays or one mask."""
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=4)))
    ndim = len(shape)
    consumed = draw(st.integers(0, ndim))
    ellipsis = draw(st.booleans())
    before = draw(st.integers(0, consumed)) if ellipsis else consumed
    dims = list(range(before)) + list(range(ndim - (consumed - before), ndim))
    block = tuple(draw(st.lists(st.integers(0, 3), min_size=1, max_size=2)))
    advanced = draw(st.sampled_from(["arrays", "mask", "none"] if masks else ["arrays", "none"]))
    items: list[Any] = []
    k = 0
    ellipsis_at = 0
    while k < len(dims):
        if k == before:
            ellipsis_at = len(items)
        d = dims[k]
        size = shape[d]
        kind = draw(st.sampled_from(KINDS[advanced]))
        if kind == "mask" and advanced == "mask":
            span = 1
            while (k + span < len(dims) and k + span != before and dims[k + span] == d + span
                   and draw(st.booleans())):
                span += 1
            items.append(draw(hnp.arrays(np.bool_, shape[d:d + span])))
            advanced = "none"  # one mask per case
            k += span
            continue
        if kind == "array" and advanced == "arrays" and (size or 0 in block):
            n = draw(st.integers(1, len(block)))
            sub = [b if (size == 0 or draw(st.booleans())) else 1 for b in block[-n:]]
            dtype = draw(st.sampled_from(INDEX_DTYPES))
            lo = 0 if np.dtype(dtype).kind == "u" else -size
            items.append(draw(hnp.arrays(dtype, tuple(sub), elements=st.integers(
                lo, max(lo, size - 1)))))
        elif kind in ("int", "scalar", "array") and size:
            value = draw(st.integers(-size, size - 1))
            items.append(value if kind == "int" else np.asarray(value, np.int32))
        else:
            bound = st.none() | st.integers(-size - 2, size + 2)
            items.append(slice(draw(bound), draw(bound),
                               draw(st.none() | st.sampled_from([-3, -2, -1, 1, 2, 3]))))
        k += 1
    if ellipsis:
        items.insert(ellipsis_at if before < len(dims) else len(items), Ellipsis)
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))),
                     draw(st.sampled_from([None, None, True, False])))
    return shape, items


def as_index(items: list[Any], single: bool) -> Any:
    return items[0] if single and len(items) == 1 else tuple(items)


def split_traced(items: list[Any]) -> tuple[list[Any], Any]:
    """The integer arrays of ``items`` (to be traced) and a function that rebuilds the index
    from traced values of them (masks and everything else stay static)."""
    where = [i for i, v in enumerate(items)
             if isinstance(v, np.ndarray) and v.dtype.kind in "iu"]

    def rebuild(arrays: Any) -> tuple[Any, ...]:
        out = list(items)
        for i, a in zip(where, arrays, strict=True):
            out[i] = a
        return tuple(out)

    return [items[i] for i in where], rebuild


def numpy_or_error(f: Any) -> Any:
    try:
        return f()
    except IndexError as e:
        return e


# --- x[idx] -------------------------------------------------------------------------------------


@given(index_cases(), st.sampled_from(DTYPES), st.booleans())
def test_getitem_matches_numpy_eagerly(case, dtype, single):
    shape, items = case
    x = sample(shape, dtype)
    idx = as_index(items, single)
    want = numpy_or_error(lambda: x[idx])
    a = fnp.asarray(x)
    if isinstance(want, IndexError):
        with pytest.raises(IndexError):
            a[idx]
        return
    got = a[idx]
    assert isinstance(got, ft.Array)
    assert_same_values(got, want, f"x{shape}[{idx!r}]")


@given(index_cases(), st.sampled_from(DTYPES))
def test_getitem_matches_numpy_traced(case, dtype):
    shape, items = case
    x = sample(shape, dtype, seed=1)
    want = numpy_or_error(lambda: x[tuple(items)])
    if isinstance(want, IndexError):
        return
    arrays, rebuild = split_traced(items)
    (got,) = traced(lambda x, *arrays: x[rebuild(arrays)], x, *arrays)
    assert_same_values(got, want, f"traced x{shape}[{tuple(items)!r}]")


INDEX_FORMS = {
    "numpy": lambda v: v, "array": fnp.asarray, "list": lambda v: v.tolist(),
}


@pytest.mark.parametrize("form", INDEX_FORMS)
def test_index_arrays_may_be_numpy_functrans_or_lists(form):
    x = np.arange(24).reshape(2, 3, 4)
    i, j, m = np.array([[0, -1], [1, 0]]), np.array([3, -4]), np.array([False, True])
    empty = np.array([], int)
    convert = INDEX_FORMS[form]
    for idx in [(i,), (slice(None), i), (0, i, j), (m, Ellipsis), (Ellipsis, j), (empty,),
                (m, 1, j)]:
        got = fnp.asarray(x)[tuple(convert(v) if isinstance(v, np.ndarray) else v
                                   for v in idx)]
        assert_same_values(got, x[idx], f"{form} {idx}")


def test_numpy_layout_rule_for_separated_advanced_indices():
    x = np.arange(120).reshape(2, 3, 4, 5)
    a = fnp.asarray(x)
    for idx in [(slice(None), 0, slice(None), [1, 2]), ([0], None, [0]), ([0], ..., [1]),
                (slice(None), [0], ..., [1]), (slice(None), [[0]], 1),
                (Ellipsis, [0, 1], [2, 3]), (0, [0, 1], slice(None), None),
                (slice(None), [0, 1], [[1], [2]])]:
        assert_same_values(a[idx], x[idx], str(idx))
    z = np.zeros((2, 3, 4))
    # An Ellipsis that expands to no axis still separates advanced indices (NumPy's rule).
    assert fnp.asarray(z)[:, [0], ..., [0]].shape == z[:, [0], ..., [0]].shape == (1, 2)


def test_scalar_booleans_add_an_axis():
    x = np.arange(6).reshape(2, 3)
    a = fnp.asarray(x)
    for idx in [True, False, (slice(None), True), ([0, 1], True), (True, 0), (None, False, 1)]:
        assert_same_values(a[idx], x[idx], str(idx))


def test_out_of_bounds_index_arrays_clamp_and_static_ints_raise():
    a = fnp.asarray([10, 11, 12])
    assert a[np.array([-4, 3, 100, -1])].tolist() == [10, 12, 12, 12]
    (got,) = traced(lambda a, i: a[i], a, np.array([5, -7], np.int32))
    assert got.tolist() == [12, 10]
    for idx in [3, -4, (0, 3)]:
        with pytest.raises(IndexError, match="out of bounds"):
            fnp.asarray(np.zeros((3, 3)))[idx]
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 1 with size 3"):
        fnp.zeros((2, 3))[[0, 1], 5]
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 0"):
        fnp.zeros((0, 3))[np.array([0])]
    assert fnp.zeros((0, 3))[np.array([], int)].shape == (0, 3)


def test_huge_unsigned_indices_stay_out_of_bounds_when_traced():
    # uint64 indices above int64's maximum once wrapped negative under tracing (indexing from
    # the end) while eager evaluation clamped them to the last element.
    a = np.arange(5.0, dtype=np.float32)
    idx = np.array([2**64 - 3, 1, 2**63 + 5], np.uint64)
    for f in (lambda a, i: fnp.asarray(a)[i], lambda a, i: fnp.take(a, i, mode="clip"),
              lambda a, i: fnp.asarray(a).at[i].add(1.0)):
        eager = np.asarray(f(a, idx))
        (got,) = traced(f, a, idx)
        np.testing.assert_array_equal(np.asarray(got), eager)
        np.testing.assert_array_equal(np.asarray(ft.jit(f)(a, idx)), eager)
    assert np.asarray(fnp.asarray(a)[idx]).tolist() == [4.0, 1.0, 4.0]


def test_traced_scalar_index_clamps():
    (got,) = traced(lambda a, i: a[i], np.arange(4.0), np.int32(9))
    assert float(got) == 3.0
    (got,) = traced(lambda a, i: a[i], np.arange(4.0), np.int8(-1))
    assert float(got) == 3.0


def test_bad_indices_raise_index_error():
    a = fnp.zeros((2, 3))
    for idx, match in [(1.5, "only integers"), (np.array([1.0]), "only integers"),
                       ((0, 0, 0), "too many indices"), ((..., ...), "single ellipsis"),
                       (np.ones(3, bool), "boolean index did not match"),
                       (([0, 1], [0, 1, 2]), "shape mismatch")]:
        with pytest.raises(IndexError, match=match):
            a[idx]


def test_traced_boolean_mask_raises_a_helpful_error():
    f = lambda x, m: x[m]
    with pytest.raises(ft.errors.NonConcreteBooleanIndexError) as info:
        ft.make_jaxpr(f)(np.ones(3), np.array([True, False, True]))
    assert isinstance(info.value, ConcretizationTypeError)
    assert isinstance(info.value, IndexError)
    message = str(info.value)
    assert "concrete" in message and "bool[3]" in message
    assert "fnp.where(mask, x, 0)" in message and "fnp.nonzero(mask, size=" in message
    with pytest.raises(ft.errors.NonConcreteBooleanIndexError):
        ft.make_jaxpr(lambda x, m: x.at[m].set(0.0))(np.ones(3), np.ones(3, bool))
    with pytest.raises(ConcretizationTypeError, match="slice bounds must be static"):
        ft.make_jaxpr(lambda x, i: x[i:])(np.ones(3), np.int32(1))


def test_jaxpr_of_traced_scalar_index_is_a_dynamic_slice():
    names = primitives(lambda x, i: x[i], np.ones((3, 4)), np.int32(1))
    assert "dynamic_slice" in names and "gather" not in names
    names = primitives(lambda x, i: x[1:, i, ::-1], np.ones((3, 4, 5)), np.int32(1))
    assert "dynamic_slice" in names and "gather" not in names
    assert primitives(lambda x: x[1:, 2, ::-2, None], np.ones((3, 4, 5))) == [
        "rev", "slice", "reshape"]
    assert primitives(lambda x: x[1:, 2, ::-2], np.ones((3, 4, 5))) == [
        "rev", "slice", "squeeze"]


def test_jaxpr_of_index_array_is_exactly_one_gather():
    cases = [(lambda x, i: x[i], (np.ones((5, 4)), np.array([0, -1, 2]))),
             (lambda x, i: x[:, i, None, ::2], (np.ones((3, 4, 5)), np.array([[0], [2]]))),
             (lambda x, i: x[i, 1:3, i], (np.ones((4, 4, 4)), np.array([1, 2]))),
             (lambda x: x[np.array([0, 2]), ::-1], (np.ones((3, 3)),)),
             (lambda x: x[np.array([True, False, True])], (np.ones((3, 3)),))]
    for f, args in cases:
        assert primitives(f, *args).count("gather") == 1


# --- x.at[idx] ----------------------------------------------------------------------------------


def numpy_update(x: np.ndarray, idx: Any, v: np.ndarray, method: str) -> np.ndarray:
    out = x.copy()
    if method == "set":
        out[idx] = v
    elif method == "add":
        (np.logical_or if x.dtype == np.bool_ else np.add).at(out, idx, v)
    elif method == "multiply":
        (np.logical_and if x.dtype == np.bool_ else np.multiply).at(out, idx, v)
    else:
        {"subtract": np.subtract, "min": np.minimum, "max": np.maximum}[method].at(out, idx, v)
    return out


UPDATE_METHODS = ["set", "add", "subtract", "multiply", "min", "max"]


@given(index_cases(), st.sampled_from(DTYPES), st.sampled_from(UPDATE_METHODS),
       st.booleans(), st.booleans())
def test_at_updates_match_numpy(case, dtype, method, scalar_values, trace):
    shape, items = case
    x = sample(shape, dtype, seed=2)
    idx = tuple(items)
    if (method == "subtract" and dtype == np.bool_) or (
            method in ("min", "max") and dtype == np.complex64):
        return
    indexed = numpy_or_error(lambda: x[idx])
    if isinstance(indexed, IndexError):
        return
    v = sample(() if scalar_values else indexed.shape, dtype, seed=3)
    want = numpy_update(x, idx, v, method)
    a = fnp.asarray(x)
    if trace:
        arrays, rebuild = split_traced(items)
        (got,) = traced(lambda a, v, *arrays: getattr(a.at[rebuild(arrays)], method)(v),
                        a, v, *arrays)
    else:
        got = getattr(a.at[idx], method)(v)
    assert_same_values(got, want, f"x{shape}.at[{idx!r}].{method}")
    assert_same_values(a, x, "x itself is unchanged")


def test_at_set_and_add_with_duplicates_and_broadcasting():
    x = np.zeros((3, 4), np.float32)
    a = fnp.asarray(x)
    assert a.at[[0, 0, 2], 1].add(1.0).tolist() == [[0, 2, 0, 0], [0] * 4, [0, 1, 0, 0]]
    assert a.at[[0, 0]].set(np.array([[1.0], [2.0]])).tolist()[0] == [2.0] * 4
    assert a.at[1].set(np.ones((1, 1, 4))).tolist()[1] == [1.0] * 4  # leading 1s dropped
    assert a.at[:, ::2].add(np.arange(2.0)).tolist()[2] == [0, 0, 1, 0]
    with pytest.raises(ShapeError, match="do not broadcast to the indexed shape"):
        a.at[0].set(np.ones(3))


def test_at_casts_updates_to_the_array_dtype():
    a = fnp.asarray(np.zeros(3, np.int32))
    got = a.at[1].set(2.7)
    assert got.dtype == np.int32 and got.tolist() == [0, 2, 0]
    got = a.at[np.array([0, 2])].add(np.array([1.9, -1.9]))
    assert got.dtype == np.int32 and got.tolist() == [1, 0, -1]
    f = fnp.asarray(np.zeros(2, np.float16))
    assert f.at[0].set(np.float64(1.5)).dtype == np.float16
    b = fnp.asarray(np.array([True, False, False]))
    assert b.at[np.array([1, 1])].add(True).tolist() == [True, True, False]
    assert b.at[0].multiply(False).tolist() == [False, False, False]
    with pytest.raises(DtypeError, match="subtract is not defined for boolean"):
        b.at[0].subtract(True)


def test_at_out_of_bounds_modes():
    a = fnp.asarray(np.arange(4.0))
    idx = np.array([1, 4, -1, -9])
    assert a.at[idx].set(10.0).tolist() == [0, 10, 2, 10]  # dropped by default
    assert a.at[idx].set(10.0, mode="drop").tolist() == [0, 10, 2, 10]
    assert a.at[idx].add(10.0, mode="clip").tolist() == [10, 11, 2, 23]
    assert a.at[idx].get().tolist() == [1, 3, 3, 0]  # reads clamp
    assert a.at[idx].get(mode="clip").tolist() == [1, 3, 3, 0]
    got = a.at[idx].get(mode="fill", fill_value=-1.0).tolist()
    assert got == [1, -1, 3, -1]
    assert np.isnan(a.at[idx].get(mode="fill").tolist()[1])
    assert a.at[7].get(mode="fill", fill_value=5.0).tolist() == 5.0
    assert a.at[7].set(1.0).tolist() == [0, 1, 2, 3]  # a static int out of bounds is dropped
    (got,) = traced(lambda a, i: a.at[i].add(1.0), a, np.array([2, 9], np.int32))
    assert got.tolist() == [0, 1, 3, 3]
    (got,) = traced(lambda a, i: a.at[i].get(mode="fill", fill_value=0.0), a, np.int32(9))
    assert float(got) == 0.0


def test_at_divide_power_apply_and_get():
    x = np.array([1.0, 2.0, 4.0, 8.0], np.float32)
    a = fnp.asarray(x)
    assert a.at[[1, 1, 3]].divide(2.0).tolist() == [1.0, 0.5, 4.0, 4.0]
    assert a.at[[1, 1]].power(2.0).tolist() == [1.0, 16.0, 4.0, 8.0]
    assert a.at[2:].apply(fnp.sqrt).tolist() == [1.0, 2.0, 2.0, np.sqrt(8.0).astype(np.float32)]
    assert a.at[::2].get().tolist() == [1.0, 4.0]
    assert a.at[[0]].mul(3.0).tolist() == [3.0, 2.0, 4.0, 8.0]
    (got,) = traced(lambda a: a.at[[0, 3]].apply(lambda v: -v), a)
    assert got.tolist() == [-1.0, 2.0, 4.0, -8.0]


def test_at_never_modifies_and_returns_new_arrays():
    x = np.arange(6.0).reshape(2, 3)
    a = fnp.asarray(x)
    for out in [a.at[0].set(9.0), a.at[:, 1].add(1.0), a.at[[1, 0]].max(100.0),
                a.at[...].min(-1.0), a.at[a > 2].set(0.0), a.at[0, 0].apply(lambda v: v + 1)]:
        assert isinstance(out, ft.Array) and out is not a
    np.testing.assert_array_equal(np.asarray(a), x)
    np.testing.assert_array_equal(x, np.arange(6.0).reshape(2, 3))


def test_jaxprs_of_updates():
    assert primitives(lambda x: x.at[1:3, 0].set(1.0), np.ones((4, 4))) == [
        "broadcast_in_dim", "dynamic_update_slice"]
    assert primitives(lambda x, i: x.at[i].add(1.0), np.ones(4), np.array([0, 1])).count(
        "scatter_add") == 1
    assert "scatter" in primitives(lambda x: x.at[::2].set(1.0), np.ones(4))


# --- take, take_along_axis, put_along_axis ------------------------------------------------------


@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), st.data())
def test_take_matches_numpy(shape, data):
    x = sample(shape, np.float32, seed=4)
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    n = x.size if axis is None else shape[axis]
    i = data.draw(hnp.arrays(np.int32, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0),
                             elements=st.integers(-n, n - 1)))
    assert_same_values(sel.take(x, i, axis=axis), np.take(x, i, axis=axis))
    (got,) = traced(lambda x, i: sel.take(x, i, axis=axis), x, i)
    assert_same_values(got, np.take(x, i, axis=axis))
    big = i + 3 * n
    for mode in ["clip", "wrap"]:
        assert_same_values(sel.take(x, big, axis=axis, mode=mode),
                           np.take(x, big, axis=axis, mode=mode))


def test_take_modes():
    x = np.array([1.0, 2.0, 3.0], np.float32)
    got = sel.take(x, np.array([0, -1, 3, -4]))
    np.testing.assert_array_equal(np.asarray(got), [1.0, 3.0, np.nan, np.nan])
    assert sel.take(x, np.array([3]), fill_value=0.0).tolist() == [0.0]
    assert sel.take(x, np.array([-1, 5]), mode="clip").tolist() == [1.0, 3.0]
    assert sel.take(x, np.array([-1, 5]), mode="wrap").tolist() == [3.0, 3.0]
    assert sel.take(np.arange(6).reshape(2, 3), 4).tolist() == 4
    with pytest.raises(IndexError, match="out of bounds"):
        sel.take(x, np.array([3]), mode="raise")
    with pytest.raises(ConcretizationTypeError, match="mode='raise'"):
        ft.make_jaxpr(lambda i: sel.take(x, i, mode="raise"))(np.array([0]))


@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), st.data())
def test_take_and_put_along_axis_match_numpy(shape, data):
    x = sample(shape, np.int32, seed=5)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    i_shape = tuple(data.draw(st.integers(0, 3)) if d == axis % len(shape) else
                    data.draw(st.sampled_from([1, s])) for d, s in enumerate(shape))
    i = data.draw(hnp.arrays(np.int32, i_shape, elements=st.integers(-n, n - 1)))
    want = np.take_along_axis(x, i, axis=axis)
    assert_same_values(sel.take_along_axis(x, i, axis=axis), want)
    (got,) = traced(lambda x, i: sel.take_along_axis(x, i, axis=axis), x, i)
    assert_same_values(got, want)
    # put_along_axis with unique indices (NumPy's order for repeated ones is unspecified).
    unique = np.argsort(sample(shape, np.float64, seed=6), axis=axis).astype(np.int32)
    v = sample(shape, np.int32, seed=7)
    out = x.copy()
    np.put_along_axis(out, unique, v, axis=axis)
    assert_same_values(sel.put_along_axis(x, unique, v, axis), out)
    (got,) = traced(lambda x, i, v: sel.put_along_axis(x, i, v, axis), x, unique, v)
    assert_same_values(got, out)


def test_along_axis_edge_cases():
    x = np.arange(6.0).reshape(2, 3)
    assert sel.take_along_axis(x, np.array([[5], [-1]]), axis=1).tolist()[1] == [5.0]
    assert np.isnan(sel.take_along_axis(x, np.array([[5]]), axis=1).tolist()[0][0])
    assert sel.take_along_axis(x, np.array([4, 0]), axis=None).tolist() == [4.0, 0.0]
    assert sel.put_along_axis(x, np.array([5, 0]), -1.0, None).tolist() == [
        [-1, 1, 2], [3, 4, -1]]
    with pytest.raises(ValueError, match="inplace=False"):
        sel.put_along_axis(x, np.array([[0]]), 1.0, 1, inplace=True)
    with pytest.raises(ValueError, match="same number of dimensions"):
        sel.take_along_axis(x, np.array([0]), axis=1)


# --- nonzero and friends ------------------------------------------------------------------------


def padded(found: np.ndarray, size: int, fill: int) -> np.ndarray:
    out = np.full(size, fill, np.int32)
    out[:min(size, len(found))] = found[:size]
    return out


@given(hnp.arrays(st.sampled_from([np.bool_, np.int16, np.float32]),
                  hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
                  elements=st.integers(0, 1)), st.integers(0, 8), st.integers(-3, 3))
def test_nonzero_matches_numpy(a, size, fill):
    want = np.nonzero(a)
    for got, w in zip(sel.nonzero(a), want, strict=True):
        assert_same_values(got, w.astype(np.int32))
    wants = [padded(w, size, fill) for w in want]
    for got, w in zip(sel.nonzero(a, size=size, fill_value=fill), wants, strict=True):
        assert_same_values(got, w)
    got = traced(lambda a: sel.nonzero(a, size=size, fill_value=fill), a)
    for g, w in zip(got, wants, strict=True):
        assert_same_values(g, w)
    assert_same_values(sel.flatnonzero(a), np.flatnonzero(a).astype(np.int32))
    (flat,) = traced(lambda a: sel.flatnonzero(a, size=size, fill_value=fill), a)
    assert_same_values(flat, padded(np.flatnonzero(a), size, fill))
    assert_same_values(sel.argwhere(a), np.argwhere(a).astype(np.int32))
    (rows,) = traced(lambda a: sel.argwhere(a, size=size, fill_value=fill), a)
    assert_same_values(rows, np.stack(wants, axis=1) if wants else rows)


def test_nonzero_errors_and_edge_cases():
    with pytest.raises(ft.errors.NonConcreteBooleanIndexError, match="size="):
        ft.make_jaxpr(sel.nonzero)(np.ones(3))
    with pytest.raises(ValueError, match="0-d"):
        sel.nonzero(np.float32(1.0))
    assert sel.argwhere(np.float32(2.0)).shape == np.argwhere(2.0).shape == (1, 0)
    assert sel.argwhere(np.float32(0.0)).shape == (0, 0)
    assert [i.tolist() for i in sel.nonzero(np.eye(2), size=3, fill_value=(7, 8))] == [
        [0, 1, 7], [0, 1, 8]]
    assert fnp.where(np.array([0, 2, 3]))[0].tolist() == [1, 2]


@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4), st.data())
def test_compress_and_extract_match_numpy(shape, data):
    x = sample(shape, np.float32, seed=8)
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    n = x.size if axis is None else shape[axis]
    cond = data.draw(hnp.arrays(np.bool_, (data.draw(st.integers(0, n)),)))
    want = np.compress(cond, x, axis=axis)
    assert_same_values(sel.compress(cond, x, axis=axis), want)
    ax = 0 if axis is None else axis
    size = data.draw(st.integers(0, 5))
    (got,) = traced(lambda c, x: sel.compress(c, x, axis=axis, size=size, fill_value=-1.0),
                    cond, x)
    keep = np.take(want, np.arange(min(size, want.shape[ax])), axis=ax)
    pad_shape = list(want.shape)
    pad_shape[ax] = size - keep.shape[ax]
    assert_same_values(got, np.concatenate([keep, np.full(pad_shape, -1.0, np.float32)], ax))
    mask = sample(shape, np.bool_, seed=9)
    assert_same_values(sel.extract(mask, x), np.extract(mask, x))


def test_compress_errors():
    with pytest.raises(ValueError, match="1-d"):
        sel.compress(np.ones((2, 2), bool), np.ones(4))
    with pytest.raises(ValueError, match="past the 2"):
        sel.compress([True, False, True], np.ones(2))
    with pytest.raises(ft.errors.NonConcreteBooleanIndexError, match="compress"):
        ft.make_jaxpr(lambda c: sel.compress(c, np.ones(3)))(np.ones(3, bool))


def test_select():
    x = np.arange(6)
    conds, choices = [x < 2, x > 3, x < 3], [x, x ** 2, -x]
    assert_same_values(sel.select(conds, choices, 99), np.select(conds, choices, 99))
    (got,) = traced(lambda x: sel.select([x < 2, x > 3], [x, x * 2]), x)
    assert got.tolist() == [0, 1, 0, 0, 8, 10]
    with pytest.raises(ValueError, match="same length"):
        sel.select([x < 1], [])


# --- diagonals and triangles --------------------------------------------------------------------


@given(hnp.array_shapes(min_dims=2, max_dims=4, min_side=0, max_side=4), st.data())
def test_diagonal_and_trace_match_numpy(shape, data):
    x = sample(shape, np.int16, seed=10)
    nd = len(shape)
    axis1 = data.draw(st.integers(-nd, nd - 1))
    axis2 = data.draw(st.integers(-nd, nd - 1).filter(lambda a: a % nd != axis1 % nd))
    offset = data.draw(st.integers(-5, 5))
    want = np.diagonal(x, offset, axis1, axis2)
    assert_same_values(sel.diagonal(x, offset, axis1, axis2), want)
    (got,) = traced(lambda x: sel.diagonal(x, offset, axis1, axis2), x)
    assert_same_values(got, want)
    np.testing.assert_array_equal(np.asarray(sel.trace(x, offset, axis1, axis2)),
                                  np.trace(x, offset, axis1, axis2))
    k = data.draw(st.integers(-4, 4))
    assert_same_values(sel.tril(x, k), np.tril(x, k))
    assert_same_values(sel.triu(x, k), np.triu(x, k))


@pytest.mark.parametrize("k", [-2, 0, 1, 3])
def test_diag(k):
    v = np.arange(1, 4, dtype=np.float32)
    assert_same_values(sel.diag(v, k), np.diag(v, k))
    m = np.arange(12).reshape(3, 4)
    assert_same_values(sel.diag(m, k), np.diag(m, k))
    with pytest.raises(ValueError, match="1-d or 2-d"):
        sel.diag(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="cannot be the same"):
        sel.diagonal(m, 0, 1, -1)


def test_trace_dtype_and_triangle_errors():
    assert sel.trace(np.ones((3, 3), np.float32), dtype=np.float64).dtype == np.float64
    b = np.ones((2, 3), bool)
    assert_same_values(sel.triu(b), np.triu(b))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        sel.tril(np.ones(3))


# --- index arithmetic ---------------------------------------------------------------------------


@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), st.data())
def test_unravel_and_ravel_multi_index_match_numpy(shape, data):
    n = math.prod(shape)
    flat = data.draw(hnp.arrays(np.int32, (data.draw(st.integers(0, 5)),),
                                elements=st.integers(0, n - 1)))
    coords = np.unravel_index(flat, shape)
    for got, want in zip(sel.unravel_index(flat, shape), coords, strict=True):
        assert_same_values(got, want.astype(np.int32))
    got = traced(lambda f: sel.unravel_index(f, shape), flat)
    for g, want in zip(got, coords, strict=True):
        assert_same_values(g, want.astype(np.int32))
    multi = tuple(c.astype(np.int32) for c in coords)
    for order in "CF":
        want = np.ravel_multi_index(multi, shape, order=order).astype(np.int32)
        assert_same_values(sel.ravel_multi_index(multi, shape, order=order), want)
        (g,) = traced(lambda *m, order=order: sel.ravel_multi_index(m, shape, mode="clip",
                                                                   order=order), *multi)
        assert_same_values(g, want)


def test_index_arithmetic_modes_and_errors():
    # As in JAX: negative flat indices count from the end, others are clipped.
    assert [int(i) for i in sel.unravel_index(-1, (2, 3))] == [1, 2]
    assert [int(i) for i in sel.unravel_index(100, (2, 3))] == [1, 2]
    assert [int(i) for i in sel.unravel_index(-100, (2, 3))] == [0, 0]
    i, j = np.array([0, 5, -1]), np.array([4, 1, 2])
    for mode in ["clip", "wrap"]:
        assert sel.ravel_multi_index((i, j), (3, 4), mode=mode).tolist() == \
            np.ravel_multi_index((i, j), (3, 4), mode=mode).tolist()
    with pytest.raises(ValueError, match="invalid entry"):
        sel.ravel_multi_index((i, j), (3, 4))
    with pytest.raises(ConcretizationTypeError, match="mode='clip'"):
        ft.make_jaxpr(lambda i: sel.ravel_multi_index((i,), (3,)))(np.array([0]))


@pytest.mark.parametrize("dims", [(2, 3), (4,), (2, 0, 3), ()])
def test_indices_and_ix(dims):
    assert_same_values(sel.indices(dims), np.indices(dims).astype(np.int32))
    for got, want in zip(sel.indices(dims, sparse=True), np.indices(dims, sparse=True),
                         strict=True):
        assert_same_values(got, want.astype(np.int32))
    assert sel.indices(dims, dtype=np.int64).dtype == np.int64
    x = np.arange(12).reshape(3, 4)
    rows, cols = np.array([0, 2]), np.array([True, False, True, True])
    assert_same_values(fnp.asarray(x)[sel.ix_(rows, cols)], x[np.ix_(rows, cols)])
    assert [a.shape for a in sel.ix_([0, 1], [], [2])] == [(2, 1, 1), (1, 0, 1), (1, 1, 1)]
    with pytest.raises(ValueError, match="1-d"):
        sel.ix_(np.ones((2, 2), int))
