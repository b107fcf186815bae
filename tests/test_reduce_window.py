"""Windowed reductions (reduce_window_sum/max/min, lax.reduce_window, max_pool, avg_pool):
values against a direct-loop reference on drawn windows, strides, padding and dilations;
errors; derivatives (finite differences and hand-derived, ties included); vmap vs loops."""

from __future__ import annotations

import itertools
import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import core
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import elementwise as ew
from functrans.primitives.windowed import (
    avg_pool, max_pool, reduce_window, reduce_window_max_p, reduce_window_min_p,
    reduce_window_sum_p, select_and_gather_add_p, select_and_scatter_add_p,
)
from functrans.testing import check_grads

# --- the reference ------------------------------------------------------------------------------


def reference(x, init, op, window_dimensions, window_strides, padding, base_dilation,
              window_dilation):
    """XLA's ReduceWindow as loops: padding and dilation holes hold ``init``, which also
    starts every window's reduction."""
    x = np.asarray(x)
    dims, strides = window_dimensions, window_strides
    dil = [0 if n == 0 else (n - 1) * b + 1 for n, b in zip(x.shape, base_dilation)]
    padded = [d + lo + hi for d, (lo, hi) in zip(dil, padding)]
    span = [(w - 1) * d + 1 for w, d in zip(dims, window_dilation)]
    out_shape = [0 if p < s else (p - s) // st_ + 1 for p, s, st_ in zip(padded, span, strides)]

    def at(pos):
        coords = []
        for p, (lo, _), b, n in zip(pos, padding, base_dilation, x.shape):
            q = p - lo
            if q < 0 or q % b or q // b >= n:
                return init
            coords.append(q // b)
        return x[tuple(coords)]

    out = np.empty(out_shape, x.dtype)
    for o in itertools.product(*map(range, out_shape)):
        acc = init
        for k in itertools.product(*map(range, dims)):
            acc = op(acc, at([oi * s + ki * wd for oi, s, ki, wd in
                              zip(o, strides, k, window_dilation)]))
        out[o] = acc
    return out


@st.composite
def windows(draw, max_rank=3):
    rank = draw(st.integers(0, max_rank))
    shape = tuple(draw(st.integers(0 if rank else 1, 5)) for _ in range(rank))
    dims = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    base = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    wdil = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    padding = []
    for n, b in zip(shape, base):
        dilated = 0 if n == 0 else (n - 1) * b + 1
        lo = draw(st.integers(-min(dilated, 1), 2))
        hi = draw(st.integers(-min(dilated + lo, 1), 2))
        padding.append((lo, hi))
    return shape, dict(window_dimensions=dims, window_strides=strides, padding=tuple(padding),
                       base_dilation=base, window_dilation=wdil)


PRIMS = {"sum": (reduce_window_sum_p, operator.add), "max": (reduce_window_max_p, max),
         "min": (reduce_window_min_p, min)}


def identity(kind, dtype):
    dtype = np.dtype(dtype)
    if kind == "sum":
        return dtype.type(0)
    if dtype.kind == "f":
        return dtype.type(-np.inf if kind == "max" else np.inf)
    if dtype.kind == "b":
        return kind == "min"
    info = np.iinfo(dtype)
    return dtype.type(info.min if kind == "max" else info.max)


@given(windows(), st.sampled_from(["sum", "max", "min"]),
       st.sampled_from(["float64", "float32", "int32", "int8", "bool"]), st.integers(0, 99))
def test_primitives_match_reference(window, kind, dtype, seed):
    if kind == "sum" and dtype == "bool":
        dtype = "uint8"
    shape, params = window
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=shape) * 50).astype(dtype)
    prim, op = PRIMS[kind]
    got = np.asarray(prim.bind(x, **params))
    with np.errstate(over="ignore"):
        want = reference(x, identity(kind, dtype), op, **params)
    assert got.dtype == np.dtype(dtype) and got.shape == want.shape
    if np.dtype(dtype).kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-5)
    else:
        np.testing.assert_array_equal(got, want)


def test_nan_propagates_and_empty_windows():
    x = np.array([1.0, np.nan, 3.0, 0.5])
    p = dict(window_dimensions=(2,), window_strides=(1,), padding=((0, 0),),
             base_dilation=(1,), window_dilation=(1,))
    np.testing.assert_array_equal(np.asarray(reduce_window_max_p.bind(x, **p)),
                                  [np.nan, np.nan, 3.0])
    # A window made only of padding gives the identity.
    p = dict(p, padding=((3, 0),), window_strides=(2,))
    np.testing.assert_array_equal(np.asarray(reduce_window_max_p.bind(x[:2], **p)),
                                  [-np.inf, 1.0])


# --- lax.reduce_window ------------------------------------------------------------------------


@given(windows(max_rank=2), st.sampled_from(["add", "max", "min", "fnp.add", "fnp.maximum",
                                             "operator.add"]),
       st.sampled_from([None, 0.0, 2.5, -1.0]), st.integers(0, 99))
def test_reduce_window_matches_reference_with_any_init(window, computation, init, seed):
    shape, params = window
    x = np.random.default_rng(seed).normal(size=shape)
    fn = {"add": ew.add, "max": ew.max_, "min": ew.min_, "fnp.add": fnp.add,
          "fnp.maximum": fnp.maximum, "operator.add": operator.add}[computation]
    kind = {"add": "sum", "fnp.add": "sum", "operator.add": "sum", "max": "max",
            "fnp.maximum": "max", "min": "min"}[computation]
    init = identity(kind, "float64") if init is None else init
    got = reduce_window(x, init, fn, params["window_dimensions"], params["window_strides"],
                        params["padding"], params["base_dilation"], params["window_dilation"])
    want = reference(x, np.float64(init), PRIMS[kind][1], **params)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)


def test_reduce_window_string_padding_and_traced_init():
    x = np.arange(10.0).reshape(2, 5)
    got = reduce_window(x, -np.inf, ew.max_, (1, 2), (1, 2), "SAME")
    np.testing.assert_array_equal(np.asarray(got), [[1, 3, 4], [6, 8, 9]])
    got = reduce_window(x, 0.0, ew.add, (2, 2), (1, 1), "VALID")
    np.testing.assert_array_equal(np.asarray(got), [[12, 16, 20, 24]])
    # init is traced under grad: each window uses it once plus once per padding element.
    g = ft.grad(lambda c: fnp.sum(reduce_window(x, c, ew.add, (1, 2), (1, 2), "SAME")))(1.0)
    assert float(np.asarray(g)) == 6 + 2  # six windows, two of them with one padding element


def test_reduce_window_errors():
    x = np.ones((3, 4))
    with pytest.raises(NotImplementedError, match="computation mul is not supported; functrans "
                                                  "reduces windows with lax.add, lax.max"):
        reduce_window(x, 1.0, ew.mul, (2, 2), (1, 1), "VALID")
    with pytest.raises(NotImplementedError, match="computation <lambda> is not supported"):
        reduce_window(x, 0.0, lambda a, b: a + b, (2, 2), (1, 1), "VALID")
    with pytest.raises(NotImplementedError, match="several operands"):
        reduce_window((x, x), (0.0, 0.0), ew.add, (2, 2), (1, 1), "VALID")
    with pytest.raises(ShapeError, match=r"init_value must be a scalar of the operand's dtype "
                                         r"float64, got f32\[\]"):
        reduce_window(x, np.float32(0), ew.add, (2, 2), (1, 1), "VALID")
    with pytest.raises(ValueError, match="unrecognized padding type 'FULL'"):
        reduce_window(x, 0.0, ew.add, (2, 2), (1, 1), "FULL")


@pytest.mark.parametrize("prim, shape, dtype, params, error, message", [
    (reduce_window_sum_p, (3, 4), "float32", dict(window_dimensions=(2,)), ShapeError,
     r"reduce_window_sum: window_dimensions=\(2,\) must have one entry per operand dimension "
     r"\(rank 2\)"),
    (reduce_window_max_p, (3, 4), "float32", dict(window_strides=(0, 1)), ValueError,
     r"reduce_window_max: window_strides=\(0, 1\) must be >= 1 everywhere"),
    (reduce_window_min_p, (3, 4), "float32", dict(window_dimensions=(0, 1)), ValueError,
     r"window_dimensions=\(0, 1\) must be >= 1 everywhere"),
    (reduce_window_sum_p, (3, 4), "float32", dict(padding=((0, 0),)), ShapeError,
     r"padding=\(\(0, 0\),\) must have one \(low, high\) pair per operand dimension"),
    (reduce_window_sum_p, (3, 4), "float32", dict(padding=((0, 0), (-3, -2))), ShapeError,
     r"padding \(-3, -2\) of dimension 1 of f32\[3,4\] is more negative"),
    (reduce_window_sum_p, (3, 4), "float32", dict(base_dilation=[1, 1]), TypeError,
     r"base_dilation must be a tuple of ints, got \[1, 1\]"),
    (reduce_window_sum_p, (3, 4), "bool", {}, DtypeError,
     r"reduce_window_sum: operand bool\[3,4\] has dtype bool; expected a numeric"),
    (reduce_window_max_p, (3, 4), "complex64", {}, DtypeError,
     r"reduce_window_max: operand c64\[3,4\] has dtype complex64"),
])
def test_abstract_eval_errors(prim, shape, dtype, params, error, message):
    full = dict(window_dimensions=(1, 1), window_strides=(1, 1), padding=((0, 0), (0, 0)),
                base_dilation=(1, 1), window_dilation=(1, 1))
    full.update(params)
    with pytest.raises(error, match=message):
        prim.abstract_eval(core.ShapedArray(shape, np.dtype(dtype)), **full)


def test_select_primitive_errors():
    p = dict(window_dimensions=(2,), window_strides=(1,), padding=((0, 0),),
             base_dilation=(1,), window_dilation=(1,))
    f = core.ShapedArray((4,), np.dtype(np.float32))
    with pytest.raises(ShapeError, match=r"select_and_scatter_add: source f32\[4\] must have "
                                         r"shape \(3,\)"):
        select_and_scatter_add_p.abstract_eval(f, f, select_prim=ew.ge_p, **p)
    with pytest.raises(ValueError, match="select_prim must be lax.ge_p"):
        select_and_gather_add_p.abstract_eval(f, f, select_prim=ew.gt_p, **p)


# --- pooling ------------------------------------------------------------------------------------


def test_max_and_avg_pool_match_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 6, 3)).astype(np.float32)   # (batch, H, W, features)
    for padding in ("VALID", "SAME", ((1, 0), (0, 1))):
        got = max_pool(x, (2, 3), strides=(2, 2), padding=padding)
        pads = padding
        if isinstance(padding, str):
            from functrans.primitives.convolution import padtype_to_pads
            pads = padtype_to_pads((5, 6), (2, 3), (2, 2), padding)
        params = dict(window_dimensions=(1, 2, 3, 1), window_strides=(1, 2, 2, 1),
                      padding=((0, 0), *pads, (0, 0)), base_dilation=(1,) * 4,
                      window_dilation=(1,) * 4)
        want = reference(x, np.float32(-np.inf), max, **params)
        np.testing.assert_array_equal(np.asarray(got), want)
        total = reference(x, np.float32(0), operator.add, **params)
        np.testing.assert_allclose(np.asarray(avg_pool(x, (2, 3), (2, 2), padding)),
                                   total / 6, rtol=1e-6)
        counts = reference(np.ones_like(x), np.float32(0), operator.add, **params)
        np.testing.assert_allclose(
            np.asarray(avg_pool(x, (2, 3), (2, 2), padding, count_include_pad=False)),
            total / counts, rtol=1e-6)
    # Unbatched inputs (H, W, features) and integer inputs (averaged in floats).
    assert np.shape(max_pool(x[0], (2, 2))) == (4, 5, 3)
    out = avg_pool(np.arange(8).reshape(1, 4, 2), (2,), (2,))
    np.testing.assert_allclose(np.asarray(out), [[[1, 2], [5, 6]]])
    with pytest.raises(ShapeError, match=r"max_pool: inputs f32\[5,3\] need 2 window "
                                         r"dimensions and a feature dimension"):
        max_pool(x[0, :, 0], (2, 2))


# --- derivatives --------------------------------------------------------------------------------


@given(windows(max_rank=2), st.sampled_from(["sum", "max", "min"]), st.integers(0, 99))
def test_grads_match_finite_differences(window, kind, seed):
    shape, params = window
    x = np.random.default_rng(seed).permutation(np.prod(shape, dtype=int)).reshape(shape)
    x = x.astype(np.float64) + 0.25  # distinct values: no ties for max/min
    prim = PRIMS[kind][0]
    out = np.asarray(prim.bind(x, **params))
    if not np.all(np.isfinite(out)):
        return  # a window made only of padding: a constant +-inf, not differentiable by FD
    check_grads(lambda a: prim.bind(a, **params), (x,), order=2, modes=("fwd", "rev"),
                directions=1)


def test_max_pool_gradient_by_hand():
    x = np.array([[1.0, 5.0, 2.0, 0.0],
                  [3.0, 4.0, 8.0, 7.0]]).reshape(1, 2, 4, 1)
    g = ft.grad(lambda a: fnp.sum(max_pool(a, (2, 2), (2, 2))))(x)
    want = np.array([[0, 1, 0, 0], [0, 0, 1, 0]], float).reshape(1, 2, 4, 1)
    np.testing.assert_array_equal(np.asarray(g), want)
    # Overlapping windows add their cotangents; ties share them equally.
    x = np.array([2.0, 2.0, 1.0, 3.0])
    p = dict(window_dimensions=(2,), window_strides=(1,), padding=((0, 0),),
             base_dilation=(1,), window_dilation=(1,))
    g = ft.grad(lambda a: fnp.sum(reduce_window_max_p.bind(a, **p)))(x)
    np.testing.assert_array_equal(np.asarray(g), [0.5, 1.5, 0.0, 1.0])
    # A window wholly in padding (its max is -inf) contributes nothing.
    def finite_part(a):
        y = reduce_window_max_p.bind(a, **dict(p, padding=((3, 0),), window_strides=(2,)))
        return fnp.sum(fnp.where(fnp.isfinite(y), y, 0.0))

    np.testing.assert_array_equal(np.asarray(ft.grad(finite_part)(x[:2])), [1.0, 0.0])


def test_avg_pool_gradient_by_hand():
    x = np.random.default_rng(1).normal(size=(1, 4, 4, 2))
    g = ft.grad(lambda a: fnp.sum(avg_pool(a, (2, 2), (1, 1))))(x)
    weights = np.outer([1, 2, 2, 1], [1, 2, 2, 1]) / 4
    np.testing.assert_allclose(np.asarray(g)[0, :, :, 0], weights)


def test_grad_with_window_dilation_and_base_dilation():
    # JAX cannot differentiate max pooling with window dilation; here it works.
    x = np.random.default_rng(2).permutation(12).reshape(3, 4).astype(float)
    p = dict(window_dimensions=(2, 2), window_strides=(1, 2), padding=((1, 0), (0, 1)),
             base_dilation=(2, 1), window_dilation=(1, 2))
    check_grads(lambda a: reduce_window_max_p.bind(a, **p), (x,), order=2)
    check_grads(lambda a: reduce_window_min_p.bind(a, **p), (x,), order=2)
    check_grads(lambda a: reduce_window_sum_p.bind(a, **p), (x,), order=2)


# --- vmap ---------------------------------------------------------------------------------------


@given(windows(max_rank=2), st.sampled_from(["sum", "max", "min"]), st.integers(0, 2),
       st.integers(0, 3))
def test_vmap_matches_loop(window, kind, axis, size):
    shape, params = window
    prim = PRIMS[kind][0]
    axis = min(axis, len(shape))
    rng = np.random.default_rng(size)
    xs = [rng.normal(size=shape) for _ in range(size)]
    batch = np.stack(xs, axis) if xs else np.zeros(shape[:axis] + (0,) + shape[axis:])
    got = ft.vmap(lambda a: prim.bind(a, **params), in_axes=axis)(batch)
    out_shape = prim.abstract_eval(core.get_aval(np.zeros(shape)), **params).shape
    want = (np.stack([np.asarray(prim.bind(x, **params)) for x in xs]) if xs
            else np.zeros((0, *out_shape)))
    np.testing.assert_array_equal(np.asarray(got), want)


def test_vmap_of_grad_and_nested_vmap():
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(3, 2, 6, 6, 2))

    def loss(x):
        return fnp.sum(max_pool(x, (3, 3), (2, 2), "SAME") ** 2)

    got = ft.vmap(ft.grad(loss), in_axes=0)(xs)
    grads = np.stack([np.asarray(ft.grad(loss)(x)) for x in xs])
    np.testing.assert_allclose(np.asarray(got), grads, rtol=1e-12)
    got = ft.vmap(ft.vmap(lambda x: avg_pool(x, (2, 2)), in_axes=1, out_axes=0),
                  in_axes=0)(xs)
    want = np.stack([np.stack([np.asarray(avg_pool(xs[i][:, j], (2, 2)))
                               for j in range(6)]) for i in range(3)])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
    # Nested vmap of a gradient (select_and_gather_add / select_and_scatter_add batched).
    g = ft.vmap(ft.vmap(ft.grad(loss)), in_axes=1, out_axes=1)(xs[:, :, None])
    np.testing.assert_allclose(np.asarray(g)[:, :, 0], grads, rtol=1e-12)
