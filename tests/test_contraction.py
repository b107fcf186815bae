"""The contraction primitive (primitives/contraction.py): dot_general, lax.dot, Precision.

hypothesis draws dimension numbers (batch, contracting and free dimensions in any positions,
sizes 0 included, 0-d operands included) and operands of every dtype, and compares with
``np.einsum`` over a 64-bit accumulator (casting back wraps integers exactly as the narrow
accumulator does). The MLP fast path is checked to be one ``np.matmul`` on the inputs
themselves, and every abstract_eval error is checked by its message.
"""

from __future__ import annotations

import math
import re
import string

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import functrans as ft
from functrans import core
from functrans import dtypes as dt
from functrans import lax
from functrans.core import ShapedArray
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import contraction as K
from functrans.primitives.contraction import Precision

# --- helpers ------------------------------------------------------------------------------------


def readonly(x: np.ndarray) -> np.ndarray:
    x = np.array(x)
    x.flags.writeable = False
    return x


def raises(exc: type, msg: str):
    return pytest.raises(exc, match=re.escape(msg))


def sa(shape: tuple[int, ...], dtype: np.dtype = dt.float32, weak: bool = False) -> ShapedArray:
    return ShapedArray(tuple(shape), np.dtype(dtype), weak)


def dn(lc, rc, lb=(), rb=()) -> tuple:
    return ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))


def wide(dtype: np.dtype) -> np.dtype:
    return {"b": np.int64, "i": np.int64, "u": np.uint64, "f": np.float64,
            "c": np.complex128}[dtype.kind]


def einsum_subscripts(lhs_ndim: int, rhs_ndim: int, dimension_numbers) -> tuple[str, str, str]:
    """Einsum subscripts of lhs, rhs and the output of dot_general: batch letters, then lhs
    free letters, then rhs free letters."""
    (lc, rc), (lb, rb) = dimension_numbers
    letters = iter(string.ascii_letters)
    lsub = [None] * lhs_ndim
    rsub = [None] * rhs_ndim
    for dl, dr in zip(lc + lb, rc + rb, strict=True):
        lsub[dl] = rsub[dr] = next(letters)
    for sub in (lsub, rsub):
        for i, s in enumerate(sub):
            if s is None:
                sub[i] = next(letters)
    out = [lsub[d] for d in lb]
    out += [s for d, s in enumerate(lsub) if d not in lc and d not in lb]
    out += [s for d, s in enumerate(rsub) if d not in rc and d not in rb]
    return "".join(lsub), "".join(rsub), "".join(out)


def einsum_oracle(lhs: np.ndarray, rhs: np.ndarray, dimension_numbers, out_dtype: np.dtype
                  ) -> np.ndarray:
    """dot_general by einsum."""
    lsub, rsub, out = einsum_subscripts(lhs.ndim, rhs.ndim, dimension_numbers)
    spec = f"{lsub},{rsub}->{out}"
    acc = wide(lhs.dtype) if out_dtype.kind in "biu" else wide(out_dtype)
    if lhs.dtype.kind in "iu" and out_dtype.kind in "fc":
        acc = wide(out_dtype)
    res = np.einsum(spec, lhs.astype(acc), rhs.astype(acc))
    if out_dtype.kind == "b":
        return res > 0
    with np.errstate(all="ignore"):
        return np.asarray(res).astype(out_dtype)


@st.composite
def dot_case(draw: st.DrawFn, dtypes: tuple = dt.ALL):
    """Operands and dimension numbers with every kind of dimension in any position."""
    nb, nc, nlf, nrf = (draw(st.integers(0, 2)) for _ in range(4))
    size = st.integers(0, 3)
    batch = [draw(size) for _ in range(nb)]
    contract = [draw(size) for _ in range(nc)]
    lfree = [draw(size) for _ in range(nlf)]
    rfree = [draw(size) for _ in range(nrf)]
    lperm = draw(st.permutations(range(nb + nc + nlf)))  # logical dim -> position in lhs
    rperm = draw(st.permutations(range(nb + nc + nrf)))
    lshape = [0] * len(lperm)
    for logical, s in enumerate(batch + contract + lfree):
        lshape[lperm[logical]] = s
    rshape = [0] * len(rperm)
    for logical, s in enumerate(batch + contract + rfree):
        rshape[rperm[logical]] = s
    lb = tuple(lperm[i] for i in range(nb))
    rb = tuple(rperm[i] for i in range(nb))
    lc = tuple(lperm[nb + i] for i in range(nc))
    rc = tuple(rperm[nb + i] for i in range(nc))
    dtype = draw(st.sampled_from(dtypes))
    if dtype.kind in "fc":
        elems = hnp.from_dtype(dtype, min_value=-4, max_value=4, allow_nan=False,
                               allow_infinity=False, allow_subnormal=False) \
            if dtype.kind == "f" else hnp.from_dtype(dtype, max_magnitude=4, allow_nan=False,
                                                    allow_infinity=False)
    else:
        elems = hnp.from_dtype(dtype)
    lhs = draw(hnp.arrays(dtype, tuple(lshape), elements=elems))
    rhs = draw(hnp.arrays(dtype, tuple(rshape), elements=elems))
    return readonly(lhs), readonly(rhs), dn(lc, rc, lb, rb), max(1, int(np.prod(contract)))


def check_against_einsum(lhs, rhs, dims, k, preferred=None):
    params = {"dimension_numbers": dims, "precision": None, "preferred_element_type": preferred}
    out = K.dot_general_p.impl(lhs, rhs, **params)
    aval = K.dot_general_p.abstract_eval(core.get_aval(lhs), core.get_aval(rhs), **params)
    assert type(out) is np.ndarray
    assert (out.shape, out.dtype) == (aval.shape, aval.dtype)
    want = einsum_oracle(lhs, rhs, dims, aval.dtype)
    if out.dtype.kind in "fc":
        eps = float(np.finfo(out.dtype).eps)
        np.testing.assert_allclose(out, want, rtol=8 * k * eps, atol=8 * k * eps * 16)
    else:
        np.testing.assert_array_equal(out, want)


# --- dot_general against einsum -----------------------------------------------------------------


def test_samples_cover_edge_shapes():
    assert K.dot_general_p.family == "contraction"
    assert K.dot_general_p.dtypes == frozenset(dt.ALL)
    for dtype in dt.ALL:
        exs = K.dot_general_p.sample(dtype)
        assert 1 <= len(exs) <= 12
        assert any(np.ndim(ex.args[0]) == 0 for ex in exs)
        assert any(np.size(ex.args[0]) == 0 for ex in exs)
        assert any(ex.params["preferred_element_type"] is not None for ex in exs)


@given(dot_case())
def test_dot_general_matches_einsum(case):
    lhs, rhs, dims, k = case
    check_against_einsum(lhs, rhs, dims, k)


@given(dot_case(dt.INTEGER + dt.BOOL), st.sampled_from([dt.int64, dt.float64, dt.float32]))
def test_dot_general_preferred_element_type(case, preferred):
    lhs, rhs, dims, k = case
    if lhs.dtype.kind == "u" and preferred == dt.int64 and lhs.dtype == dt.uint64:
        preferred = dt.float64  # uint64 does not fit int64: not allowed
    check_against_einsum(lhs, rhs, dims, k, preferred)


def test_integer_dot_wraps_unless_a_wider_type_is_preferred():
    a = np.full((1, 4), 100, np.int8)
    b = np.full((4, 1), 2, np.int8)
    wrapped = lax.dot(a, b)
    assert wrapped.dtype == np.int8 and int(np.asarray(wrapped)[0, 0]) == 800 - 3 * 256
    exact = lax.dot(a, b, preferred_element_type=np.int32)
    assert exact.dtype == np.int32 and int(np.asarray(exact)[0, 0]) == 800
    floats = lax.dot(a, b, preferred_element_type=np.float32)
    assert floats.dtype == np.float32 and float(np.asarray(floats)[0, 0]) == 800.0
    counts = lax.dot_general(np.ones((2, 3), bool), np.ones((3,), bool), dn((1,), (0,)),
                             preferred_element_type=np.int32)
    np.testing.assert_array_equal(counts, [3, 3])


def test_bool_dot_is_or_of_ands():
    a = np.array([[True, False], [False, False]])
    b = np.array([[True, True], [True, False]])
    out = lax.dot(a, b)
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out, [[True, True], [False, False]])


def test_narrower_preferred_float_rounds_once_at_the_end():
    a = np.array([[1.0, 2.0**-20]], np.float64)
    b = np.array([[1.0], [1.0]], np.float64)
    out = lax.dot_general(a, b, dn((1,), (0,)), preferred_element_type=np.float32)
    assert out.dtype == np.float32 and np.asarray(out)[0, 0] == np.float32(1.0 + 2.0**-20)


def test_output_dimension_order_is_batch_lhs_free_rhs_free():
    lhs = np.zeros((5, 2, 3, 7), np.float32)   # free 5, batch 2, contract 3, free 7
    rhs = np.zeros((11, 3, 2), np.float32)     # free 11, contract 3, batch 2
    out = lax.dot_general(lhs, rhs, dn((2,), (1,), (1,), (2,)))
    assert out.shape == (2, 5, 7, 11)
    out = lax.dot_general(lhs, rhs, dn((-2,), (-2,), (-3,), (-1,)))  # negative dims normalized
    assert out.shape == (2, 5, 7, 11)


def test_zero_d_and_empty_operands():
    out = lax.dot_general(np.float32(3.0), np.arange(3, dtype=np.float32), dn((), ()))
    np.testing.assert_array_equal(out, [0.0, 3.0, 6.0])
    zeros = lax.dot(np.ones((2, 0), np.float32), np.ones((0, 3), np.float32))
    np.testing.assert_array_equal(zeros, np.zeros((2, 3), np.float32))
    assert lax.dot(np.ones((0, 4)), np.ones((4, 3))).shape == (0, 3)


# --- the fast path ------------------------------------------------------------------------------


def test_matrix_product_is_one_matmul_on_the_inputs(monkeypatch):
    calls = []
    real_matmul = np.matmul

    def spy(*args, **kwargs):
        calls.append(args)
        return real_matmul(*args, **kwargs)

    monkeypatch.setattr(K.np, "matmul", spy)
    x = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((16, 4)).astype(np.float32)
    out = K.dot_general_p.impl(x, w, dimension_numbers=dn((1,), (0,)))
    assert len(calls) == 1 and calls[0][0] is x and calls[0][1] is w
    np.testing.assert_array_equal(out, real_matmul(x, w))
    assert out.base is None  # a fresh array: wrapping it in an Array needs no copy

    calls.clear()  # x @ w2.T: both operands reach matmul as views, nothing copied
    w2 = np.ascontiguousarray(w.T)
    out = K.dot_general_p.impl(x, w2, dimension_numbers=dn((1,), (1,)))
    assert len(calls) == 1
    assert np.shares_memory(calls[0][0], x) and np.shares_memory(calls[0][1], w2)
    np.testing.assert_allclose(out, x @ w, rtol=1e-5)
    assert out.base is None


def test_batched_product_is_one_matmul(monkeypatch):
    calls = []
    real_matmul = np.matmul
    monkeypatch.setattr(K.np, "matmul", lambda *a, **k: calls.append(a) or real_matmul(*a, **k))
    a = np.ones((4, 2, 3), np.float64)
    b = np.ones((4, 3, 5), np.float64)
    out = K.dot_general_p.impl(a, b, dimension_numbers=dn((2,), (1,), (0,), (0,)))
    assert len(calls) == 1 and np.shares_memory(calls[0][0], a)
    np.testing.assert_array_equal(out, np.full((4, 2, 5), 3.0))


# --- lax.dot ------------------------------------------------------------------------------------


@given(st.sampled_from([((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                        ((0, 3), (3, 0)), ((2, 0), (0,))]),
       st.sampled_from([dt.float32, dt.int16, dt.complex64, dt.float64]), st.data())
def test_dot_matches_np_dot(shapes, dtype, data):
    ls, rs = shapes
    elems = st.integers(-5, 5).map(lambda v: np.array(v).astype(dtype)[()])
    lhs = data.draw(hnp.arrays(dtype, ls, elements=elems))
    rhs = data.draw(hnp.arrays(dtype, rs, elements=elems))
    out = lax.dot(lhs, rhs)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.dot(lhs, rhs))


# --- avals, weak types, precision ---------------------------------------------------------------


def test_weak_type_rules():
    rule = K.dot_general_p.abstract_eval
    std = {"dimension_numbers": dn((1,), (0,))}
    assert rule(sa((2, 3), weak=True), sa((3, 4), weak=True), **std).weak_type
    assert not rule(sa((2, 3), weak=True), sa((3, 4)), **std).weak_type
    assert not rule(sa((2, 3), weak=True), sa((3, 4), weak=True), **std,
                    preferred_element_type=dt.float64).weak_type
    assert rule(sa((2, 3), weak=True), sa((3, 4), weak=True), **std,
                preferred_element_type=dt.float32).weak_type


def test_precision_canonicalization():
    assert K.canonicalize_precision(None) is None
    assert K.canonicalize_precision("highest") == (Precision.HIGHEST, Precision.HIGHEST)
    assert K.canonicalize_precision(Precision.HIGH) == (Precision.HIGH, Precision.HIGH)
    assert K.canonicalize_precision(("bfloat16", "float32")) == (Precision.DEFAULT,
                                                                 Precision.HIGHEST)
    assert Precision("tensorfloat32") is Precision.HIGH
    out = lax.dot(np.eye(2), np.eye(2), precision="highest")
    np.testing.assert_array_equal(out, np.eye(2))
    closed = ft.make_jaxpr(lambda a: lax.dot(a, a, precision=Precision.HIGH))(np.eye(2))
    assert "precision=(Precision.HIGH, Precision.HIGH)" in str(closed)
    with raises(ValueError, "functrans.lax.dot_general: precision must be None, a lax.Precision, "
                            "one of ['bfloat16', 'bfloat16_3x', 'default', 'fastest', 'float32', "
                            "'high', 'highest', 'tensorfloat32'], or a pair of these (one per "
                            "operand); got 'best'"):
        lax.dot(np.eye(2), np.eye(2), precision="best")
    with pytest.raises(ValueError, match="got \\('high', 'high', 'high'\\)"):
        K.canonicalize_precision(("high", "high", "high"))


# --- errors -------------------------------------------------------------------------------------


def test_dot_general_shape_errors():
    rule = K.dot_general_p.abstract_eval
    with raises(ShapeError, "functrans.lax.dot_general: contracting dimensions have different "
                            "sizes: lhs f32[2,3] dim 1 (3) vs rhs f32[4,5] dim 0 (4)"):
        rule(sa((2, 3)), sa((4, 5)), dimension_numbers=dn((1,), (0,)))
    with raises(ShapeError, "functrans.lax.dot_general: contracting dimensions have different "
                            "sizes: lhs f32[2,3] dim 1 (3) vs rhs f32[4,5] dim 0 (4)"):
        lax.dot_general(np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32),
                        (((1,), (0,)), ((), ())))
    with raises(ShapeError, "functrans.lax.dot_general: batch dimensions have different sizes: "
                            "lhs f32[2,3,4] dim 0 (2) vs rhs f32[5,4,3] dim 0 (5)"):
        rule(sa((2, 3, 4)), sa((5, 4, 3)), dimension_numbers=dn((2,), (1,), (0,), (0,)))
    with raises(ShapeError, "functrans.lax.dot_general: lhs and rhs need as many contracting "
                            "dimensions, got lhs (1,) and rhs (0, 1) for lhs f32[2,3] and rhs "
                            "f32[3,3]"):
        rule(sa((2, 3)), sa((3, 3)), dimension_numbers=dn((1,), (0, 1)))
    with raises(ShapeError, "functrans.lax.dot_general: lhs and rhs need as many batch "
                            "dimensions, got lhs (0,) and rhs () for lhs f32[2,3] and rhs "
                            "f32[3,2]"):
        rule(sa((2, 3)), sa((3, 2)), dimension_numbers=dn((1,), (0,), (0,), ()))
    with raises(ShapeError, "functrans.lax.dot_general: lhs contracting dimension 2 is out of "
                            "range for lhs f32[2,3] (rank 2)"):
        rule(sa((2, 3)), sa((3, 4)), dimension_numbers=dn((2,), (0,)))
    with raises(ShapeError, "functrans.lax.dot_general: rhs batch dimension 3 is out of range "
                            "for rhs f32[3,4] (rank 2)"):
        rule(sa((2, 3)), sa((3, 4)), dimension_numbers=dn((1,), (0,), (0,), (3,)))
    with raises(ShapeError, "functrans.lax.dot_general: lhs batch dimension -3 is out of range "
                            "for lhs f64[2,3] (rank 2)"):
        lax.dot_general(np.zeros((2, 3)), np.zeros((3, 2)), dn((1,), (0,), (-3,), (1,)))
    with raises(ShapeError, "functrans.lax.dot_general: each lhs dimension may be used once, "
                            "but the contracting dimensions (1,) and batch dimensions (1,) of "
                            "lhs f32[2,3] repeat one"):
        rule(sa((2, 3)), sa((3, 3)), dimension_numbers=dn((1,), (0,), (1,), (1,)))
    with raises(ShapeError, "functrans.lax.dot_general: each rhs dimension may be used once, "
                            "but the contracting dimensions (0, 0) and batch dimensions () of "
                            "rhs f32[3,3] repeat one"):
        rule(sa((3, 3)), sa((3, 3)), dimension_numbers=dn((0, 1), (0, 0)))


def test_dot_general_dtype_and_param_errors():
    rule = K.dot_general_p.abstract_eval
    std = {"dimension_numbers": dn((1,), (0,))}
    with raises(DtypeError, "functrans.lax.dot_general: operands must have the same dtype, got "
                            "f32[2,3], i32[3,4]. Convert one with .astype(...) or "
                            "lax.convert_element_type; functrans.numpy functions promote "
                            "dtypes for you."):
        rule(sa((2, 3)), sa((3, 4), dt.int32), **std)
    with raises(DtypeError, "functrans.lax.dot_general: preferred_element_type int32 does not "
                            "suit float32 operands; use a floating dtype"):
        rule(sa((2, 3)), sa((3, 4)), **std, preferred_element_type=dt.int32)
    with raises(DtypeError, "functrans.lax.dot_general: preferred_element_type int16 does not "
                            "suit int32 operands; use an integer dtype that holds every int32 "
                            "value (e.g. int64), or a floating dtype"):
        rule(sa((2, 3), dt.int32), sa((3, 4), dt.int32), **std, preferred_element_type=dt.int16)
    with raises(DtypeError, "functrans.lax.dot_general: preferred_element_type uint16 does not "
                            "suit int8 operands; use an integer dtype that holds every int8 "
                            "value (e.g. int32), or a floating dtype"):
        rule(sa((2, 3), dt.int8), sa((3, 4), dt.int8), **std, preferred_element_type=dt.uint16)
    with raises(DtypeError, "functrans.lax.dot_general: preferred_element_type float64 does not "
                            "suit complex64 operands; use a complex dtype"):
        rule(sa((2, 3), dt.complex64), sa((3, 4), dt.complex64), **std,
             preferred_element_type=dt.float64)
    with raises(TypeError, "functrans.lax.dot_general: preferred_element_type must be None or a "
                           "dtype, got 'float32'"):
        rule(sa((2, 3)), sa((3, 4)), **std, preferred_element_type="float32")
    with raises(TypeError, "functrans.lax.dot_general: precision must be None or a pair of "
                           "lax.Precision values, got 'highest'"):
        rule(sa((2, 3)), sa((3, 4)), **std, precision="highest")
    for bad in (((1,), (0,)), (((1,), (0,)), ((), ()), ()), [[[1], [0]], [[], []]],
                (((1.0,), (0,)), ((), ()))):
        with raises(TypeError, "functrans.lax.dot_general: dimension_numbers must be "
                               "((lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch)), "
                               f"each a tuple of ints; got {bad!r}"):
            rule(sa((2, 3)), sa((3, 4)), dimension_numbers=bad)
    with raises(TypeError, "functrans.lax.dot_general: dimension_numbers must be "
                           "((lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch)), each "
                           "a sequence of ints; got (1, 0)"):
        lax.dot_general(np.zeros((2, 3)), np.zeros((3, 4)), (1, 0))
    ok = lax.dot_general(np.ones((2, 3)), np.ones((3, 4)), [[[1], [0]], [[], []]])
    assert ok.shape == (2, 4)  # the wrapper accepts lists and normalizes them


def test_dot_errors():
    for ls, rs in (((2, 3), (4,)), ((2, 3, 4), (4,)), ((), (3,)), ((3,), (2, 3))):
        lhs, rhs = sa(ls), sa(rs)
        with raises(ShapeError, f"functrans.lax.dot: incompatible shapes {lhs.str_short()} and "
                                f"{rhs.str_short()}; lax.dot takes vectors and matrices (rank 1 "
                                f"or 2) with lhs.shape[-1] == rhs.shape[0]. Use "
                                f"lax.dot_general for other contractions."):
            lax.dot(np.zeros(ls, np.float32), np.zeros(rs, np.float32))


# --- derivatives (end to end, against hand-derived NumPy formulas) -----------------------------


def test_grad_of_a_matrix_product():
    a = np.arange(6.0).reshape(2, 3) / 7
    b = np.arange(12.0).reshape(3, 4) / 5 - 1
    w = np.linspace(-1, 1, 8).reshape(2, 4)
    ga, gb = ft.grad(lambda x, y: lax.reduce_sum(lax.dot(x, y) * w, (0, 1)),
                     argnums=(0, 1))(a, b)
    np.testing.assert_allclose(np.asarray(ga), w @ b.T)
    np.testing.assert_allclose(np.asarray(gb), a.T @ w)
    # Forward mode: the product rule.
    _, t = ft.jvp(lambda x, y: lax.dot(x, y), (a, b), (np.ones_like(a), b))
    np.testing.assert_allclose(np.asarray(t), np.ones_like(a) @ b + a @ b)
    # Second order: d^2/da^2 sum((a b)^2) = 2 (b b^T) per row.
    grad = ft.grad(lambda x: lax.reduce_sum(lax.dot(x, b) ** 2, (0,)))
    h = np.stack([np.asarray(ft.jvp(grad, (a[0],), (e,))[1]) for e in np.eye(3)])
    np.testing.assert_allclose(h, 2 * b @ b.T)


def test_grads_with_batch_dimensions_inside_and_a_wider_preferred_type():
    # lhs (3, b=2, k=4) and rhs (k=4, 5, b=2): batch and contracting dims in the middle/end.
    rng = np.random.default_rng(0)
    lhs = rng.normal(size=(3, 2, 4)).astype(np.float32)
    rhs = rng.normal(size=(4, 5, 2)).astype(np.float32)
    dims = dn((2,), (0,), (1,), (2,))
    ct = rng.normal(size=(2, 3, 5))

    def f(x, y):
        out = lax.dot_general(x, y, dims, preferred_element_type=np.float64)
        return lax.reduce_sum(out * ct, (0, 1, 2))

    ga, gb = ft.grad(f, argnums=(0, 1))(lhs, rhs)
    assert np.asarray(ga).dtype == np.float32 and np.asarray(gb).dtype == np.float32
    x64, y64 = lhs.astype(np.float64), rhs.astype(np.float64)
    # lhs is "ibk", rhs "kmb", the output "bim".
    np.testing.assert_allclose(np.asarray(ga), np.einsum("bim,kmb->ibk", ct, y64),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(gb), np.einsum("ibk,bim->kmb", x64, ct),
                               rtol=1e-5, atol=1e-5)


@given(dot_case((dt.float64, dt.complex128)))
def test_transposes_are_einsums_with_the_subscripts_swapped(case):
    lhs, rhs, dims, _ = case
    lsub, rsub, osub = einsum_subscripts(lhs.ndim, rhs.ndim, dims)
    rng = np.random.default_rng(0)

    def rand(shape: tuple[int, ...]) -> np.ndarray:
        x = rng.normal(size=shape)
        return x + 1j * rng.normal(size=shape) if lhs.dtype.kind == "c" else x

    ct = rand(np.einsum(f"{lsub},{rsub}->{osub}", lhs, rhs).shape)

    def f(x, y):
        return lax.dot_general(x, y, dims)

    ga, gb = ft.vjp(f, lhs, rhs)[1](ct)
    # Cotangents are plain (unconjugated) transposes, as in JAX.
    np.testing.assert_allclose(np.asarray(ga), np.einsum(f"{osub},{rsub}->{lsub}", ct, rhs),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gb), np.einsum(f"{lsub},{osub}->{rsub}", lhs, ct),
                               rtol=1e-12, atol=1e-12)
    tl, tr = rand(lhs.shape), rand(rhs.shape)
    _, t = ft.jvp(f, (lhs, rhs), (tl, tr))
    want = (np.einsum(f"{lsub},{rsub}->{osub}", tl, rhs)
            + np.einsum(f"{lsub},{rsub}->{osub}", lhs, tr))
    np.testing.assert_allclose(np.asarray(t), want, rtol=1e-12, atol=1e-12)


# --- batching (vmap) ------------------------------------------------------------------------------


def stack_variants(x: np.ndarray, size: int, bdim: int) -> np.ndarray:
    """``size`` variants of ``x`` (rolled and scaled) stacked at ``bdim``."""
    if not size:
        return readonly(np.zeros(x.shape[:bdim] + (0,) + x.shape[bdim:], x.dtype))
    flat = x.ravel()
    return readonly(np.stack([np.roll(flat, b).reshape(x.shape) for b in range(size)],
                             axis=bdim))


def bump(dims: tuple[int, ...], bdim: int) -> tuple[int, ...]:
    return tuple(d + (d >= bdim) for d in dims)


def expected_out_dim(lhs: np.ndarray, rhs: np.ndarray, dims, lbd, rbd) -> int:
    """Where the batch dimension of the result is when only one operand is batched: treat the
    batch dimension as one more free dimension of that operand and find its einsum letter in
    dot_general's output. (Both batched: a new leading batch dimension, 0.)"""
    if lbd is not None and rbd is not None:
        return 0
    (lc, rc), (lb, rb) = dims
    if lbd is not None:
        new = ((bump(lc, lbd), rc), (bump(lb, lbd), rb))
        lsub, _, out = einsum_subscripts(lhs.ndim + 1, rhs.ndim, new)
        return out.index(lsub[lbd])
    new = ((lc, bump(rc, rbd)), (lb, bump(rb, rbd)))
    _, rsub, out = einsum_subscripts(lhs.ndim, rhs.ndim + 1, new)
    return out.index(rsub[rbd])


@given(dot_case((dt.float64, dt.complex128, dt.int32, dt.bool_)), st.data())
def test_vmap_of_dot_general_folds_the_batch_into_the_dimension_numbers(case, data):
    lhs, rhs, dims, k = case
    size = data.draw(st.integers(0, 3))
    which = data.draw(st.sampled_from(["lhs", "rhs", "both"]))
    lbd = data.draw(st.integers(0, lhs.ndim)) if which != "rhs" else None
    rbd = data.draw(st.integers(0, rhs.ndim)) if which != "lhs" else None
    ls = lhs if lbd is None else stack_variants(lhs, size, lbd)
    rs = rhs if rbd is None else stack_variants(rhs, size, rbd)
    params = {"dimension_numbers": dims, "precision": None, "preferred_element_type": None}

    def f(x, y):
        return K.dot_general_p.bind(x, y, **params)

    out_dim = expected_out_dim(lhs, rhs, dims, lbd, rbd)
    got = np.asarray(ft.vmap(f, in_axes=(lbd, rbd), out_axes=out_dim)(ls, rs))
    example = K.dot_general_p.impl(lhs, rhs, **params)
    if size:
        want = np.stack([K.dot_general_p.impl(
            lhs if lbd is None else np.take(ls, i, axis=lbd),
            rhs if rbd is None else np.take(rs, i, axis=rbd), **params)
            for i in range(size)], axis=out_dim)
    else:
        want = np.zeros(example.shape[:out_dim] + (0,) + example.shape[out_dim:], example.dtype)
    assert got.shape == want.shape and got.dtype == want.dtype
    if got.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=1e-12 * k, atol=1e-12 * k)
    else:
        np.testing.assert_array_equal(got, want)
    # One contraction, and nothing moved, copied or broadcast.
    closed = ft.make_jaxpr(ft.vmap(f, in_axes=(lbd, rbd), out_axes=out_dim))(ls, rs)
    assert [e.prim for e in closed.eqns] == [K.dot_general_p], str(closed)


def test_vmap_of_a_matrix_vector_product_uses_the_matrix_as_is():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3))
    xs = rng.normal(size=(3, 5))  # five vectors, batched along axis 1

    for fun, in_axes, want in (
            (lambda x: lax.dot(w, x), 1, (w @ xs).T),         # W @ x: rhs batched
            (lambda x: lax.dot(x, w.T), 1, (w @ xs).T),       # x @ W^T: lhs batched
            (lambda x: lax.dot(w.T, x), 0, xs.T @ w.T @ w)):  # lhs unbatched, rhs rows
        xin = xs if in_axes == 1 else (w @ xs).T
        got = ft.vmap(fun, in_axes=in_axes)(xin)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
        closed = ft.make_jaxpr(ft.vmap(fun, in_axes=in_axes))(xin)
        prims = [e.prim.name for e in closed.eqns]
        assert "broadcast_in_dim" not in prims and prims.count("dot_general") == 1, str(closed)


def test_nested_vmap_with_different_in_axes():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 3))
    b = rng.normal(size=(3, 5))
    # Inner: rows of a against one column; outer: columns of b against all of a.
    inner = ft.vmap(lambda u, v: lax.dot(u, v), in_axes=(0, None))
    outer = ft.vmap(inner, in_axes=(None, 1))
    np.testing.assert_allclose(np.asarray(outer(a, b)), (a @ b).T, rtol=1e-12)
    closed = ft.make_jaxpr(outer)(a, b)
    assert "broadcast_in_dim" not in str(closed), str(closed)
    # Both levels batch both operands, at different positions: a batched matmul of batches.
    x = rng.normal(size=(2, 4, 6, 3))   # "aick": outer a, inner c (axis 1 once a is gone)
    y = rng.normal(size=(3, 6, 5, 2))   # "kcja": outer a, inner c
    f = ft.vmap(ft.vmap(lambda p, q: lax.dot(p, q), in_axes=(1, 1)), in_axes=(0, 3))
    np.testing.assert_allclose(np.asarray(f(x, y)), np.einsum("aick,kcja->acij", x, y),
                               rtol=1e-12)


def mlp_loss(params: dict, x, y):
    """Squared error of a 2-layer tanh MLP on one example."""
    hidden = lax.tanh(lax.dot(x, params["W1"]) + params["b1"])
    out = lax.dot(hidden, params["W2"]) + params["b2"]
    return lax.reduce_sum((out - y) ** 2, (0,))


def mlp_setup(batch: int):
    rng = np.random.default_rng(0)
    params = {"W1": rng.normal(size=(4, 5)), "b1": rng.normal(size=5),
              "W2": rng.normal(size=(5, 3)), "b2": rng.normal(size=3)}
    return params, rng.normal(size=(batch, 4)), rng.normal(size=(batch, 3))


def test_per_example_gradients_of_an_mlp_match_a_loop_of_grads():
    params, xs, ys = mlp_setup(6)
    per_example = ft.vmap(ft.grad(mlp_loss), in_axes=(None, 0, 0))
    got = per_example(params, xs, ys)
    for i in range(len(xs)):
        want = ft.grad(mlp_loss)(params, xs[i], ys[i])
        for name in params:
            assert np.shape(got[name]) == (6, *params[name].shape)
            np.testing.assert_allclose(np.asarray(got[name][i]), np.asarray(want[name]),
                                       rtol=1e-12, atol=1e-12)
    # The gradient of the batch's mean is the mean of the per-example gradients.
    mean = ft.grad(lambda p: lax.reduce_sum(ft.vmap(mlp_loss, in_axes=(None, 0, 0))(
        p, xs, ys), (0,)) / 6)(params)
    for name in params:
        np.testing.assert_allclose(np.asarray(mean[name]), np.asarray(got[name]).mean(0),
                                   rtol=1e-12, atol=1e-12)
    # An empty batch gives empty gradients.
    empty = per_example(params, xs[:0], ys[:0])
    assert all(np.shape(empty[n]) == (0, *params[n].shape) for n in params)


def test_per_example_gradients_of_an_mlp_use_the_weights_as_they_are():
    params, xs, ys = mlp_setup(6)
    per_example = ft.make_jaxpr(ft.vmap(ft.grad(mlp_loss), in_axes=(None, 0, 0)))
    closed = per_example(params, xs, ys)
    # The params flatten in sorted key order: W1, W2, b1, b2.
    w1, w2 = closed.jaxpr.invars[0], closed.jaxpr.invars[1]
    for eqn in closed.eqns:
        if w1 in eqn.invars or w2 in eqn.invars:
            # The weights go into contractions untransposed and unbroadcast ...
            assert eqn.prim is K.dot_general_p, str(closed)
            # ... and are never given a batch dimension (no contraction of batched weights).
            assert eqn.params["dimension_numbers"][1] == ((), ()), str(closed)
    # No transposes at all: the weights' cotangents come out of their contractions in the
    # weights' own layout (batched at 0). Broadcasts are only of the biases and of the
    # per-example seed 1.0, never of a weight. No Python loop: the program does not grow with
    # the batch.
    single = ft.make_jaxpr(ft.grad(mlp_loss))(params, xs[0], ys[0])

    def count(c, name: str) -> int:
        return sum(e.prim.name == name for e in c.eqns)

    assert count(closed, "transpose") == count(single, "transpose") == 0, str(closed)
    assert count(closed, "dot_general") == count(single, "dot_general") == 5
    weight_sizes = {params["W1"].size, params["W2"].size}
    for eqn in closed.eqns:
        if eqn.prim.name == "broadcast_in_dim":
            assert math.prod(eqn.invars[0].aval.shape) not in weight_sizes, str(closed)
    assert len(per_example(*mlp_setup(2)).eqns) == len(closed.eqns)


def test_vmap_of_grad_with_batch_dimensions_inside():
    rng = np.random.default_rng(2)
    lhs = rng.normal(size=(3, 3, 2, 4))   # batched along axis 1 (size 3) for vmap
    rhs = rng.normal(size=(4, 5, 2))
    ct = rng.normal(size=(2, 3, 5))
    dims = dn((2,), (0,), (1,), (2,))

    def f(x, y):
        return lax.reduce_sum(lax.dot_general(x, y, dims) * ct, (0, 1, 2))

    ga, gb = ft.vmap(ft.grad(f, argnums=(0, 1)), in_axes=(1, None))(lhs, rhs)
    for i in range(3):
        wa, wb = ft.grad(f, argnums=(0, 1))(lhs[:, i], rhs)
        np.testing.assert_allclose(np.asarray(ga[i]), np.asarray(wa), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(gb[i]), np.asarray(wb), rtol=1e-12)
