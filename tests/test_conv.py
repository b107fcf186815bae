"""conv_general_dilated and its lax wrappers: values against a direct-loop NumPy convolution on
drawn configurations (1 to 3 spatial dimensions, strides, padding, dilations, feature and batch
groups, every layout), shape and parameter errors, derivatives against finite differences, and
vmap against loops."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import functrans as ft
from functrans import core
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import convolution as conv_mod
from functrans.primitives.convolution import (
    ConvDimensionNumbers, conv, conv_dimension_numbers, conv_general_dilated,
    conv_general_dilated_p, conv_general_permutations, conv_transpose,
    conv_with_general_padding, padtype_to_pads,
)
from functrans.testing import check_grads

# --- the reference: one output element at a time ------------------------------------------------


def reference_conv(lhs, rhs, strides, padding, lhs_dilation, rhs_dilation, dnums,
                   feature_group_count=1, batch_group_count=1):
    """XLA's ConvGeneralDilated written as loops over output elements and kernel taps."""
    lhs_spec, rhs_spec, out_spec = dnums
    x = np.transpose(lhs, lhs_spec)
    w = np.transpose(rhs, rhs_spec)
    n, c = x.shape[:2]
    o, i = w.shape[:2]
    in_sp, k_sp = x.shape[2:], w.shape[2:]
    # Dilate, then pad (negative pads crop).
    dil = [0 if d == 0 else (d - 1) * s + 1 for d, s in zip(in_sp, lhs_dilation)]
    xd = np.zeros((n, c, *dil), x.dtype)
    xd[(slice(None), slice(None), *(slice(None, None, s) for s in lhs_dilation))] = x
    padded_sp = [d + lo + hi for d, (lo, hi) in zip(dil, padding)]
    span = [0 if k == 0 else (k - 1) * r + 1 for k, r in zip(k_sp, rhs_dilation)]
    out_sp = [0 if p < sp else (p - sp) // s + 1 for p, sp, s in zip(padded_sp, span, strides)]
    g_feat, g_batch = feature_group_count, batch_group_count
    n_out = n // g_batch
    out = np.zeros((n_out, o, *out_sp), np.result_type(x.dtype, w.dtype))

    def value(b, ch, pos):
        # pos: coordinates in the padded, dilated input
        coords = [p - lo for p, (lo, _) in zip(pos, padding)]
        if any(q < 0 or q >= d for q, d in zip(coords, dil)):
            return 0
        return xd[(b, ch, *coords)]

    for b, f in itertools.product(range(n_out), range(o)):
        if g_batch > 1:
            group = f // (o // g_batch)
            batch, channels = group * n_out + b, range(c)
        else:
            group = f // (o // g_feat)
            batch, channels = b, range(group * i, (group + 1) * i)
        for out_pos in itertools.product(*map(range, out_sp)):
            total = 0
            for ci, ch in enumerate(channels):
                for tap in itertools.product(*map(range, k_sp)):
                    pos = [q * s + t * r for q, s, t, r in zip(out_pos, strides, tap,
                                                                rhs_dilation)]
                    total = total + value(batch, ch, pos) * w[(f, ci, *tap)]
            out[(b, f, *out_pos)] = total
    return np.transpose(out, np.argsort(out_spec))


def place(canonical_shape, spec):
    shape = [0] * len(spec)
    for pos, size in zip(spec, canonical_shape):
        shape[pos] = size
    return tuple(shape)


LAYOUTS = {
    0: [("NC", "OI", "NC"), ("CN", "IO", "NC")],
    1: [("NCH", "OIH", "NCH"), ("NHC", "HIO", "NHC"), ("HCN", "OHI", "CHN")],
    2: [("NCHW", "OIHW", "NCHW"), ("NHWC", "HWIO", "NHWC"), ("NCHW", "HWIO", "NHWC"),
        ("WNCH", "IWHO", "HCWN")],
    3: [("NCDHW", "OIDHW", "NCDHW"), ("NDHWC", "DHWIO", "NDHWC"),
        ("DNHCW", "WDHOI", "CWNDH")],
}


@st.composite
def configs(draw, dtype="float64"):
    nsp = draw(st.integers(1, 3))
    layout = draw(st.sampled_from(LAYOUTS[nsp]))
    dnums = conv_dimension_numbers((0,) * (nsp + 2), (0,) * (nsp + 2), layout)
    groups = draw(st.sampled_from(["none", "feature", "batch"]))
    g = draw(st.integers(2, 3)) if groups != "none" else 1
    fgc, bgc = (g, 1) if groups == "feature" else (1, g) if groups == "batch" else (1, 1)
    n = draw(st.integers(0 if bgc == 1 else 1, 2)) * bgc
    cin = draw(st.integers(1, 2)) * fgc
    cout = draw(st.integers(1, 2)) * g
    max_side = {1: 7, 2: 5, 3: 4}[nsp]
    in_sp = [draw(st.integers(1, max_side)) for _ in range(nsp)]
    k_sp = [draw(st.integers(1, 3)) for _ in range(nsp)]
    strides = tuple(draw(st.integers(1, 3)) for _ in range(nsp))
    lhs_dil = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    rhs_dil = tuple(draw(st.integers(1, 2)) for _ in range(nsp))
    padding = tuple((draw(st.integers(-1, 2)), draw(st.integers(-1, 2))) for _ in range(nsp))
    padding = tuple((max(lo, -d), hi) for (lo, hi), d in zip(padding, in_sp))
    lhs_shape = place((n, cin, *in_sp), dnums.lhs_spec)
    rhs_shape = place((cout, cin // fgc, *k_sp), dnums.rhs_spec)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    lhs = rng.normal(size=lhs_shape).astype(dtype)
    rhs = rng.normal(size=rhs_shape).astype(dtype)
    params = dict(window_strides=strides, padding=padding, lhs_dilation=lhs_dil,
                  rhs_dilation=rhs_dil, dimension_numbers=dnums, feature_group_count=fgc,
                  batch_group_count=bgc, precision=None, preferred_element_type=None)
    return lhs, rhs, params, layout


def reference_of(lhs, rhs, params):
    return reference_conv(lhs, rhs, params["window_strides"], params["padding"],
                          params["lhs_dilation"], params["rhs_dilation"],
                          params["dimension_numbers"], params["feature_group_count"],
                          params["batch_group_count"])


@given(configs())
def test_matches_direct_loop_reference(config):
    lhs, rhs, params, layout = config
    try:
        aval = conv_general_dilated_p.abstract_eval(core.get_aval(lhs), core.get_aval(rhs),
                                                    **params)
    except ShapeError:
        return  # negative padding that crops more than the dilated input: checked below
    got = conv_general_dilated_p.bind(lhs, rhs, **params)
    want = reference_of(lhs, rhs, params)
    assert aval.shape == want.shape
    assert np.asarray(got).dtype == np.float64
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-10)
    # The wrapper with layout strings gives the same.
    got = conv_general_dilated(lhs, rhs, params["window_strides"], params["padding"],
                               params["lhs_dilation"], params["rhs_dilation"], layout,
                               params["feature_group_count"], params["batch_group_count"])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int8", "complex64"])
def test_dtypes(dtype):
    rng = np.random.default_rng(0)
    lhs = (rng.normal(size=(2, 3, 5, 4)) * 3).astype(dtype)
    rhs = (rng.normal(size=(4, 3, 2, 2)) * 3).astype(dtype)
    if np.dtype(dtype).kind == "c":
        lhs = lhs + 1j * np.flip(lhs)
    got = conv_general_dilated(lhs, rhs, (1, 2), ((1, 0), (0, 1)), rhs_dilation=(2, 1))
    dn = ConvDimensionNumbers((0, 1, 2, 3), (0, 1, 2, 3), (0, 1, 2, 3))
    want = reference_conv(lhs.astype(np.complex128), rhs.astype(np.complex128), (1, 2),
                          ((1, 0), (0, 1)), (1, 1), (2, 1), dn)
    got = np.asarray(got)
    assert got.dtype == np.dtype(dtype)
    if np.dtype(dtype).kind in "iu":
        np.testing.assert_array_equal(got, want.real.astype(np.int64).astype(dtype))
    else:
        tol = 1e-2 if dtype == "float16" else 1e-5
        np.testing.assert_allclose(got, want if got.dtype.kind == "c" else want.real,
                                   rtol=tol, atol=tol * 10)


def test_preferred_element_type_accumulates_wide():
    lhs = np.full((1, 1, 4), 100, np.int8)
    rhs = np.full((1, 1, 3), 100, np.int8)
    got = conv_general_dilated(lhs, rhs, (1,), "VALID", preferred_element_type=np.int32)
    np.testing.assert_array_equal(np.asarray(got), np.full((1, 1, 2), 30000, np.int32))
    assert np.asarray(conv_general_dilated(lhs, rhs, (1,), "VALID")).dtype == np.int8


def test_exact_values():
    x = np.arange(5.0).reshape(1, 1, 5)
    w = np.array([1.0, -1.0]).reshape(1, 1, 2)
    np.testing.assert_array_equal(np.asarray(conv(x, w, (1,), "VALID")),
                                  [[[-1, -1, -1, -1]]])
    # 'SAME' keeps the size and pads at the end; SAME_LOWER pads at the start.
    np.testing.assert_array_equal(np.asarray(conv(x, w, (1,), "SAME")), [[[-1, -1, -1, -1, 4]]])
    got = conv_general_dilated(x, w, (1,), "SAME_LOWER")
    np.testing.assert_array_equal(np.asarray(got), [[[0, -1, -1, -1, -1]]])
    got = conv_with_general_padding(x, w, (2,), ((0, 0),), (1,), (2,))
    np.testing.assert_array_equal(np.asarray(got), [[[-2, -2]]])


def test_padding_helpers_match_jax():
    assert padtype_to_pads((5, 6), (3, 2), (2, 2), "SAME") == [(1, 1), (0, 0)]
    assert padtype_to_pads((5, 6), (2, 3), (1, 1), "same") == [(0, 1), (1, 1)]
    assert padtype_to_pads((5, 6), (2, 3), (1, 1), "SAME_LOWER") == [(1, 0), (1, 1)]
    assert padtype_to_pads((5, 6), (2, 3), (1, 1), "VALID") == [(0, 0), (0, 0)]
    assert conv_general_permutations(("NHWC", "HWIO", "NHWC")) == (
        (0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    dn = conv_dimension_numbers((1, 2, 3, 4), (1, 2, 3, 4), None)
    assert dn == ConvDimensionNumbers((0, 1, 2, 3), (0, 1, 2, 3), (0, 1, 2, 3))


def test_conv_transpose_matches_gradient_of_conv():
    """conv_transpose with transpose_kernel=True is the input gradient of a strided conv (the
    check JAX's lax tests make), for inputs whose size conv_transpose reproduces."""
    rng = np.random.default_rng(1)
    k = rng.normal(size=(3, 2, 3, 4))      # HWIO
    dn = ("NHWC", "HWIO", "NHWC")
    for padding, spatial in (("SAME", (8, 6)), ("VALID", (7, 6))):
        x = rng.normal(size=(2, *spatial, 3))
        _, vjp = ft.vjp(lambda a, padding=padding: conv_general_dilated(
            a, k, (2, 2), padding, dimension_numbers=dn), x)
        ct = rng.normal(size=np.shape(conv_general_dilated(x, k, (2, 2), padding,
                                                           dimension_numbers=dn)))
        (want,) = vjp(ct)
        got = conv_transpose(ct, k, (2, 2), padding, dimension_numbers=dn,
                             transpose_kernel=True)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-10)


def test_conv_transpose_shapes():
    x = np.ones((1, 4, 4, 2))
    k = np.ones((3, 3, 2, 5))
    assert np.shape(conv_transpose(x, k, (2, 2), "SAME")) == (1, 8, 8, 5)
    assert np.shape(conv_transpose(x, k, (2, 2), "VALID")) == (1, 9, 9, 5)
    assert np.shape(conv_transpose(np.ones((2, 5, 3)), np.ones((2, 3, 4)), (3,),
                                   "SAME")) == (2, 15, 4)


# --- errors ---------------------------------------------------------------------------------------


def _params(nsp=1, **overrides):
    p = dict(window_strides=(1,) * nsp, padding=((0, 0),) * nsp, lhs_dilation=(1,) * nsp,
             rhs_dilation=(1,) * nsp,
             dimension_numbers=ConvDimensionNumbers(*(tuple(range(nsp + 2)),) * 3),
             feature_group_count=1, batch_group_count=1, precision=None,
             preferred_element_type=None)
    p.update(overrides)
    return p


@pytest.mark.parametrize("lhs, rhs, params, error, message", [
    ((2, 3, 5), (4, 3, 2, 2), _params(), ShapeError,
     r"lhs and rhs must have the same rank, got lhs f32\[2,3,5\] and rhs f32\[4,3,2,2\]"),
    ((3,), (3,), _params(), ShapeError, r"need a batch and a feature dimension \(rank >= 2\)"),
    ((2, 4, 5), (4, 3, 2), _params(feature_group_count=2), ShapeError,
     r"lhs feature dimension divided by feature_group_count \(4 // 2 = 2\) must equal the rhs "
     r"input feature dimension \(3\)"),
    ((2, 3, 5), (4, 3, 2), _params(feature_group_count=2), ShapeError,
     r"feature_group_count=2 must divide the lhs feature dimension \(3\) of lhs "
     r"f32\[2,3,5\] and rhs f32\[4,3,2\]"),
    ((2, 4, 5), (3, 2, 2), _params(feature_group_count=2), ShapeError,
     r"rhs output feature dimension \(3\) must be a multiple of feature_group_count=2"),
    ((3, 4, 5), (4, 4, 2), _params(batch_group_count=2), ShapeError,
     r"batch_group_count=2 must divide the lhs batch dimension \(3\)"),
    ((4, 4, 5), (3, 4, 2), _params(batch_group_count=2), ShapeError,
     r"rhs output feature dimension \(3\) must be a multiple of batch_group_count=2"),
    ((4, 4, 5), (4, 2, 2), _params(batch_group_count=2, feature_group_count=2), ValueError,
     r"at most one of feature_group_count and batch_group_count may be > 1"),
    ((2, 3, 5), (4, 3, 2), _params(feature_group_count=0), ValueError,
     r"feature_group_count must be a positive int, got 0"),
    ((2, 3, 5), (4, 3, 2), _params(window_strides=(1, 1)), ShapeError,
     r"window_strides=\(1, 1\) must have one entry per spatial dimension \(1\)"),
    ((2, 3, 5), (4, 3, 2), _params(window_strides=(0,)), ValueError,
     r"window_strides=\(0,\) must be >= 1"),
    ((2, 3, 5), (4, 3, 2), _params(rhs_dilation=(0,)), ValueError,
     r"rhs_dilation=\(0,\) must be >= 1"),
    ((2, 3, 5), (4, 3, 2), _params(padding=((-3, -3),)), ShapeError,
     r"padding \(-3, -3\) of spatial dimension 0 \(dilated size 5\) .* more negative"),
    ((2, 3, 5), (4, 3, 2), _params(padding=(0, 0)), TypeError,
     r"padding must be a tuple of \(low, high\) int pairs"),
    ((2, 3, 5), (4, 3, 2), _params(dimension_numbers=ConvDimensionNumbers(
        (0, 1, 1), (0, 1, 2), (0, 1, 2))), TypeError,
     r"dimension_numbers.lhs_spec must be a permutation of range\(3\)"),
    ((2, 3, 5), (4, 3, 2), _params(preferred_element_type=np.dtype(np.int32)), DtypeError,
     r"preferred_element_type int32 does not suit float32 operands"),
])
def test_abstract_eval_errors(lhs, rhs, params, error, message):
    la = core.ShapedArray(lhs, np.dtype(np.float32))
    ra = core.ShapedArray(rhs, np.dtype(np.float32))
    with pytest.raises(error, match=message):
        conv_general_dilated_p.abstract_eval(la, ra, **params)


def test_dtype_errors():
    with pytest.raises(DtypeError, match=r"operands must have the same dtype, got f32\[1,1,3\], "
                                         r"f64\[1,1,2\]"):
        conv(np.ones((1, 1, 3), np.float32), np.ones((1, 1, 2)), (1,), "VALID")
    with pytest.raises(DtypeError, match=r"lhs bool\[1,1,3\] has dtype bool"):
        conv(np.ones((1, 1, 3), bool), np.ones((1, 1, 2), bool), (1,), "VALID")


def test_wrapper_errors():
    x, w = np.ones((1, 1, 4)), np.ones((1, 1, 2))
    with pytest.raises(ValueError, match="unrecognized padding type 'FULL'"):
        conv(x, w, (1,), "FULL")
    with pytest.raises(ValueError, match="string padding is not implemented for transposed"):
        conv_general_dilated(x, w, (1,), "SAME", lhs_dilation=(2,))
    with pytest.raises(TypeError, match="padding must be 'SAME', 'VALID', 'SAME_LOWER' or a"):
        conv(x, w, (1,), [1, 2])
    with pytest.raises(TypeError, match=r"dimension_numbers\[1\] must contain the characters "
                                        r"'O' and 'I' exactly once, got 'OOW'"):
        conv_general_dilated(x, w, (1,), "VALID", dimension_numbers=("NCW", "OOW", "NCW"))
    with pytest.raises(TypeError, match="must each have the same spatial characters"):
        conv_general_dilated(x, w, (1,), "VALID", dimension_numbers=("NCW", "OIH", "NCW"))
    with pytest.raises(TypeError, match=r"dimension_numbers\[0\] = 'NCHW' must have one "
                                        r"character per dimension"):
        conv_general_dilated(x, w, (1,), "VALID", dimension_numbers=("NCHW", "OIW", "NCW"))
    with pytest.raises(ValueError, match="precision must be None, a lax.Precision"):
        conv(x, w, (1,), "VALID", precision="bogus")


# --- derivatives --------------------------------------------------------------------------------


@given(configs())
def test_grads_match_finite_differences(config):
    lhs, rhs, params, _ = config
    try:
        conv_general_dilated_p.abstract_eval(core.get_aval(lhs), core.get_aval(rhs), **params)
    except ShapeError:
        return
    check_grads(lambda a, b: conv_general_dilated_p.bind(a, b, **params), (lhs, rhs), order=1,
                modes=("fwd", "rev"), directions=1)


def test_second_order_grads():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 4, 5, 3))
    k = rng.normal(size=(4, 2, 2, 2))

    def f(a, b):
        y = conv_general_dilated(a, b, (2, 1), "SAME", rhs_dilation=(1, 2),
                                 feature_group_count=2)
        return ft.numpy.sum(ft.numpy.tanh(y))

    check_grads(f, (x, k), order=2, modes=("fwd", "rev"), directions=1)


def test_grad_matches_hand_derivation():
    # d/dw sum(conv(x, w)) for a 1-d valid correlation is the sum of x over each tap's window.
    x = np.random.default_rng(3).normal(size=(2, 1, 6))
    w = np.zeros((1, 1, 3))
    g = ft.grad(lambda b: ft.numpy.sum(conv(x, b, (1,), "VALID")))(w)
    want = np.array([x[:, 0, t:t + 4].sum() for t in range(3)]).reshape(1, 1, 3)
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-12)
    gx = ft.grad(lambda a: ft.numpy.sum(conv(a, np.ones((1, 1, 3)), (1,), "VALID")))(x)
    np.testing.assert_allclose(np.asarray(gx)[0, 0], [1, 2, 3, 3, 2, 1])


# --- vmap ---------------------------------------------------------------------------------------


@given(configs(), st.sampled_from(["lhs", "rhs", "both"]), st.integers(0, 3),
       st.integers(0, 2))
def test_vmap_matches_loop(config, which, lhs_axis, size):
    lhs, rhs, params, _ = config
    try:
        conv_general_dilated_p.abstract_eval(core.get_aval(lhs), core.get_aval(rhs), **params)
    except ShapeError:
        return
    rng = np.random.default_rng(size)
    lhs_axis = min(lhs_axis, lhs.ndim)
    rhs_axis = (lhs_axis + 1) % (rhs.ndim + 1)
    lhss = [lhs + rng.normal(size=lhs.shape) for _ in range(size)]
    rhss = [rhs + rng.normal(size=rhs.shape) for _ in range(size)]
    def stack(xs, like, axis):
        if not xs:
            return np.zeros(like.shape[:axis] + (0,) + like.shape[axis:])
        return np.stack(xs, axis)
    in_axes = (lhs_axis if which != "rhs" else None, rhs_axis if which != "lhs" else None)
    args = (stack(lhss, lhs, lhs_axis) if which != "rhs" else lhs,
            stack(rhss, rhs, rhs_axis) if which != "lhs" else rhs)
    got = ft.vmap(lambda a, b: conv_general_dilated_p.bind(a, b, **params), in_axes)(*args)
    per = [reference_of(lhss[b] if which != "rhs" else lhs,
                        rhss[b] if which != "lhs" else rhs, params) for b in range(size)]
    out_shape = conv_general_dilated_p.abstract_eval(core.get_aval(lhs), core.get_aval(rhs),
                                                     **params).shape
    want = np.stack(per) if per else np.zeros((0, *out_shape))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-10)


def test_vmap_of_grad_and_nested_vmap():
    rng = np.random.default_rng(4)
    xs = rng.normal(size=(3, 2, 2, 6))
    k = rng.normal(size=(4, 2, 3))

    def loss(x, w):
        return ft.numpy.sum(conv(x, w, (2,), "SAME") ** 2)

    got = ft.vmap(ft.grad(loss, argnums=1), in_axes=(0, None))(xs, k)
    want = np.stack([np.asarray(ft.grad(loss, argnums=1)(x, k)) for x in xs])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10)
    ks = rng.normal(size=(2, 4, 2, 3))
    nested = ft.vmap(ft.vmap(lambda x, w: conv(x, w, (1,), "VALID"), in_axes=(None, 0)),
                     in_axes=(0, None))(xs, ks)
    want = np.stack([np.stack([np.asarray(conv(x, w, (1,), "VALID")) for w in ks])
                     for x in xs])
    np.testing.assert_allclose(np.asarray(nested), want, rtol=1e-10)


def test_impl_on_a_cnn_layer():
    """A small CNN layer ((8, 3, 32, 32) x (16, 3, 3, 3)); its speed is in
    benchmarks/primitive_speed.py."""
    x = np.ones((8, 3, 32, 32), np.float32)
    w = np.ones((16, 3, 3, 3), np.float32)
    params = _params(2, padding=((1, 1), (1, 1)))
    out = conv_mod._conv_impl(x, w, **params)
    assert out.shape == (8, 16, 32, 32) and out[0, 0, 5, 5] == 27
    assert math.isclose(float(out[0, 0, 0, 0]), 12.0)
