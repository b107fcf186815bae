"""Reduction and cumulative primitives (primitives/reductions.py, primitives/cumulative.py).

hypothesis draws operands (0-d and empty included), axes and dtypes, and compares each impl
with a NumPy oracle written independently of it: sums and products accumulate in 64 bits and
are then cast (which wraps exactly like the narrow accumulator), max/min/argmax handle NaN
explicitly, bitwise reductions go bit by bit, reduce_precision rounds with frexp/rint, and the
scans loop over the axis. Every abstract_eval error is checked by its message.
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
from functrans import core
from functrans import dtypes as dt
from functrans import lax
from functrans.core import ShapedArray
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import cumulative as C
from functrans.primitives import reductions as R
from tests.harness import assert_same_values

# --- strategies and helpers ---------------------------------------------------------------------

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


def elements(dtype: np.dtype, bound: float | None = None, nan: bool = False) -> st.SearchStrategy:
    """Values of ``dtype``; floats within ``bound`` (when given), with NaN/inf when ``nan``."""
    if dtype.kind in "fc" and bound is not None:
        if dtype.kind == "c":
            return hnp.from_dtype(dtype, max_magnitude=bound, allow_nan=False,
                                  allow_infinity=False)
        return hnp.from_dtype(dtype, min_value=-bound, max_value=bound, allow_nan=False,
                              allow_infinity=False, allow_subnormal=False)
    if dtype.kind in "fc":
        return hnp.from_dtype(dtype, allow_nan=nan, allow_infinity=nan)
    return hnp.from_dtype(dtype)


@st.composite
def operand_and_axes(draw: st.DrawFn, dtypes: tuple, bound: float | None = None,
                     nan: bool = False, shapes: st.SearchStrategy = SHAPES
                     ) -> tuple[np.ndarray, tuple[int, ...]]:
    dtype = draw(st.sampled_from(dtypes))
    x = draw(hnp.arrays(dtype, draw(shapes), elements=elements(dtype, bound, nan)))
    axes = tuple(draw(st.permutations(range(x.ndim)))[:draw(st.integers(0, x.ndim))])
    return readonly(x), axes


def readonly(x: np.ndarray) -> np.ndarray:
    """Inputs are read-only, so an impl that writes into them fails loudly."""
    x = np.array(x)
    x.flags.writeable = False
    return x


def rows(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``x`` with the reduced axes moved last and flattened into one: (kept..., n)."""
    kept = [d for d in range(x.ndim) if d not in axes]
    n = math.prod(x.shape[a] for a in axes)
    return np.transpose(x, kept + list(axes)).reshape(tuple(x.shape[d] for d in kept) + (n,))


def wide(dtype: np.dtype) -> np.dtype:
    """64-bit accumulator of the same kind: casting its result back wraps like the narrow one."""
    return {"b": np.int64, "i": np.int64, "u": np.uint64, "f": np.float64,
            "c": np.complex128}[dtype.kind]


def check_aval(prim, x: np.ndarray, out: np.ndarray, params: dict, weak: bool = False) -> None:
    aval = prim.abstract_eval(ShapedArray(x.shape, x.dtype, weak), **params)
    assert (aval.shape, aval.dtype) == (out.shape, out.dtype)
    assert type(out) is np.ndarray


def assert_close(got: np.ndarray, want: np.ndarray, n: int, scale: np.ndarray | float) -> None:
    """Float comparison with an error bound that grows with the number of terms summed."""
    assert got.dtype == want.dtype and got.shape == want.shape
    eps = float(np.finfo(got.dtype).eps)
    np.testing.assert_allclose(got.astype(wide(got.dtype)), want.astype(wide(got.dtype)),
                               rtol=4 * max(n, 1) * eps,
                               atol=4 * max(n, 1) * eps * np.max(scale, initial=1.0))


def same_bits(got: np.ndarray, want: np.ndarray) -> None:
    """Equal values, NaN payloads and signs of zero included."""
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes(), \
        (got, want)


def raises(exc: type, msg: str):
    return pytest.raises(exc, match=re.escape(msg))


def f32(*shape: int, weak: bool = False) -> ShapedArray:
    return ShapedArray(shape, dt.float32, weak)


# --- samples ------------------------------------------------------------------------------------

REDUCTION_PRIMS = [R.reduce_sum_p, R.reduce_prod_p, R.reduce_max_p, R.reduce_min_p,
                   R.reduce_and_p, R.reduce_or_p, R.reduce_xor_p, R.argmax_p, R.argmin_p,
                   R.reduce_precision_p]
CUMULATIVE_PRIMS = [C.cumsum_p, C.cumprod_p, C.cummax_p, C.cummin_p, C.cumlogsumexp_p]


@pytest.mark.parametrize("prim", REDUCTION_PRIMS + CUMULATIVE_PRIMS, ids=lambda p: p.name)
def test_samples_are_small_and_cover_edge_shapes(prim):
    for dtype in prim.dtypes:
        exs = prim.sample(dtype)
        assert 1 <= len(exs) <= 16
        shapes = [np.shape(ex.args[0]) for ex in exs]
        assert any(0 in s for s in shapes), prim
        if prim.family == "reduction" and prim not in (R.argmax_p, R.argmin_p):
            assert () in shapes, prim
        for ex in exs:
            assert np.asarray(ex.args[0]).dtype == dtype


def test_families_and_dtypes():
    assert {p.family for p in REDUCTION_PRIMS} == {"reduction"}
    assert {p.family for p in CUMULATIVE_PRIMS} == {"cumulative"}
    assert R.reduce_sum_p.dtypes == frozenset(dt.NUMERIC)
    assert R.reduce_max_p.dtypes == frozenset(dt.REAL + dt.BOOL)
    assert R.reduce_xor_p.dtypes == frozenset(dt.INTEGER + dt.BOOL)
    assert R.reduce_precision_p.dtypes == frozenset(dt.FLOATING)
    assert C.cumlogsumexp_p.dtypes == frozenset(dt.FLOATING)
    assert C.cummax_p.dtypes == frozenset(dt.REAL)


# --- reduce_sum, reduce_prod --------------------------------------------------------------------


@given(operand_and_axes(dt.NUMERIC, bound=100.0))
def test_reduce_sum_matches_wide_accumulation(case):
    x, axes = case
    out = R.reduce_sum_p.impl(x, axes=axes)
    check_aval(R.reduce_sum_p, x, out, {"axes": axes})
    r = rows(x, axes)
    want = np.sum(r.astype(wide(x.dtype)), axis=-1)
    if x.dtype.kind in "iu":
        np.testing.assert_array_equal(out, want.astype(x.dtype))  # wraps like the impl
        assert out.dtype == x.dtype
    else:
        assert_close(out, want.astype(x.dtype), r.shape[-1], np.sum(np.abs(r), axis=-1))


@given(operand_and_axes(dt.NUMERIC, bound=1.5, shapes=hnp.array_shapes(
    min_dims=0, max_dims=3, min_side=0, max_side=3)))
def test_reduce_prod_matches_wide_accumulation(case):
    x, axes = case
    out = R.reduce_prod_p.impl(x, axes=axes)
    check_aval(R.reduce_prod_p, x, out, {"axes": axes})
    r = rows(x, axes)
    want = np.prod(r.astype(wide(x.dtype)), axis=-1)
    if x.dtype.kind in "iu":
        np.testing.assert_array_equal(out, want.astype(x.dtype))
    else:
        assert_close(out, want.astype(x.dtype), r.shape[-1], 1.0)


def test_integer_sums_and_products_wrap_in_the_operand_dtype():
    x = np.array([100, 100, 100], np.int8)
    out = np.asarray(lax.reduce_sum(x, (0,)))
    assert out.dtype == np.int8 and out == np.int8(44)  # 300 - 256
    out = np.asarray(lax.reduce_prod(np.array([16, 16], np.uint8), [-1]))
    assert out.dtype == np.uint8 and out == 0
    big = np.array([2**62, 2**62], np.int64)
    assert np.asarray(lax.reduce_sum(big, (0,))) == np.int64(-(2**63))


def test_empty_sums_and_products_are_the_identities():
    for dtype in (dt.int8, dt.float16, dt.complex64, dt.uint64):
        x = np.zeros((2, 0), dtype)
        s, p = lax.reduce_sum(x, (1,)), lax.reduce_prod(x, (1,))
        np.testing.assert_array_equal(s, np.zeros(2, dtype))
        np.testing.assert_array_equal(p, np.ones(2, dtype))
        assert s.dtype == dtype and p.dtype == dtype


def test_zero_d_and_no_axes():
    x = np.array(3.5, np.float32)
    out = lax.reduce_sum(x, ())
    assert out.shape == () and out.dtype == np.float32 and float(out) == 3.5
    y = np.arange(6, dtype=np.int16).reshape(2, 3)
    np.testing.assert_array_equal(lax.reduce_max(y, ()), y)


def test_float_sum_overflows_to_inf_without_warning():
    x = np.array([60000, 60000], np.float16)
    with np.errstate(all="raise"):
        assert np.isinf(np.asarray(lax.reduce_sum(x, (0,))))


# --- reduce_max, reduce_min ---------------------------------------------------------------------


def nan_max(r: np.ndarray, want_max: bool) -> np.ndarray:
    """Oracle: NaN if the row has one, else the extreme, else the identity."""
    d = r.dtype
    if d.kind == "f":
        ident = -np.inf if want_max else np.inf
    elif d.kind == "b":
        ident = not want_max
    else:
        ident = np.iinfo(d).min if want_max else np.iinfo(d).max
    out = np.full(r.shape[:-1], ident, d)
    for idx in np.ndindex(*r.shape[:-1]):
        for v in r[idx]:
            if d.kind == "f" and (np.isnan(v) or np.isnan(out[idx])):
                out[idx] = np.nan
            elif (v > out[idx]) if want_max else (v < out[idx]):
                out[idx] = v
    return out


@given(operand_and_axes(dt.REAL + dt.BOOL, nan=True))
def test_reduce_max_min_propagate_nan_and_keep_dtype(case):
    x, axes = case
    for prim, want_max in ((R.reduce_max_p, True), (R.reduce_min_p, False)):
        out = prim.impl(x, axes=axes)
        check_aval(prim, x, out, {"axes": axes})
        want = nan_max(rows(x, axes), want_max)
        np.testing.assert_array_equal(out, want)
        assert out.dtype == x.dtype


def test_empty_max_min_give_the_identity():
    cases = [(dt.float32, -np.inf, np.inf), (dt.int8, -128, 127), (dt.uint16, 0, 65535),
             (dt.bool_, False, True), (dt.int64, -(2**63), 2**63 - 1)]
    for dtype, lo, hi in cases:
        x = np.zeros((0, 2), dtype)
        mx, mn = np.asarray(lax.reduce_max(x, (0,))), np.asarray(lax.reduce_min(x, (0,)))
        assert mx.dtype == dtype and mn.dtype == dtype
        np.testing.assert_array_equal(mx, np.array([lo, lo], dtype))
        np.testing.assert_array_equal(mn, np.array([hi, hi], dtype))


def test_max_min_exact_values():
    x = np.array([[1.0, np.nan, 3.0], [-np.inf, 2.0, -0.0]], np.float32)
    np.testing.assert_array_equal(lax.reduce_max(x, (1,)), np.array([np.nan, 2.0], np.float32))
    np.testing.assert_array_equal(lax.reduce_min(x, (-1,)),
                                  np.array([np.nan, -np.inf], np.float32))
    b = np.array([[True, False], [False, False]])
    np.testing.assert_array_equal(lax.reduce_max(b, (1,)), [True, False])
    np.testing.assert_array_equal(lax.reduce_min(b, (0,)), [False, False])


# --- reduce_and, reduce_or, reduce_xor ----------------------------------------------------------


def bitwise_oracle(r: np.ndarray, op: str) -> np.ndarray:
    """Bit by bit: and = all bits set, or = any set, xor = odd count set."""
    if r.dtype.kind == "b":
        counts = np.sum(r, axis=-1)
        n = r.shape[-1]
        return {"and": counts == n, "or": counts > 0, "xor": counts % 2 == 1}[op]
    nbits = r.dtype.itemsize * 8
    u = r.view(np.dtype(f"u{r.dtype.itemsize}")).astype(np.uint64)
    out = np.zeros(r.shape[:-1], np.uint64)
    for b in range(nbits):
        bit = (u >> np.uint64(b)) & np.uint64(1)
        count = np.sum(bit, axis=-1)
        on = {"and": count == r.shape[-1], "or": count > 0, "xor": count % 2 == 1}[op]
        out |= on.astype(np.uint64) << np.uint64(b)
    return out.astype(np.dtype(f"u{r.dtype.itemsize}")).view(r.dtype)


@given(operand_and_axes(dt.INTEGER + dt.BOOL))
def test_bitwise_reductions_bit_by_bit(case):
    x, axes = case
    for prim, op in ((R.reduce_and_p, "and"), (R.reduce_or_p, "or"), (R.reduce_xor_p, "xor")):
        out = prim.impl(x, axes=axes)
        check_aval(prim, x, out, {"axes": axes})
        np.testing.assert_array_equal(out, bitwise_oracle(rows(x, axes), op))
        assert out.dtype == x.dtype


def test_bitwise_exact_values():
    x = np.array([0b1100, 0b1010], np.uint8)
    assert int(lax.reduce_and(x, (0,))) == 0b1000
    assert int(lax.reduce_or(x, (0,))) == 0b1110
    assert int(lax.reduce_xor(x, (0,))) == 0b0110
    assert int(lax.reduce_and(np.zeros(0, np.uint8), (0,))) == 255  # all ones
    assert int(lax.reduce_and(np.zeros(0, np.int8), (0,))) == -1
    assert bool(lax.reduce_and(np.zeros(0, bool), (0,))) is True
    assert bool(lax.reduce_xor(np.array([True, True, True]), (0,))) is True


# --- argmax, argmin -----------------------------------------------------------------------------


def arg_oracle(r: np.ndarray, want_max: bool) -> np.ndarray:
    """The first NaN if any, else the first index of the extreme value."""
    out = np.zeros(r.shape[:-1], np.int64)
    for idx in np.ndindex(*r.shape[:-1]):
        row = r[idx]
        nans = np.flatnonzero(np.isnan(row)) if row.dtype.kind == "f" else []
        if len(nans):
            out[idx] = nans[0]
            continue
        best = 0
        for j in range(1, len(row)):
            if (row[j] > row[best]) if want_max else (row[j] < row[best]):
                best = j
        out[idx] = best
    return out


@st.composite
def arg_case(draw: st.DrawFn) -> tuple[np.ndarray, int, np.dtype]:
    dtype = draw(st.sampled_from(dt.REAL + dt.BOOL))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    axis = draw(st.integers(0, len(shape) - 1))
    shape = shape[:axis] + (max(shape[axis], 1),) + shape[axis + 1:]
    small = draw(st.booleans())  # few distinct values: many ties
    elems = st.sampled_from([0, 1, 2]).map(lambda v: np.array(v).astype(dtype)) if small \
        else elements(dtype, nan=True)
    x = draw(hnp.arrays(dtype, shape, elements=elems))
    index_dtype = draw(st.sampled_from([dt.int32, dt.int64, dt.uint8, dt.int16]))
    return readonly(x), axis, index_dtype


@given(arg_case())
def test_argmax_argmin_first_nan_then_lowest_index(case):
    x, axis, index_dtype = case
    for prim, want_max in ((R.argmax_p, True), (R.argmin_p, False)):
        params = {"axes": (axis,), "index_dtype": index_dtype}
        out = prim.impl(x, **params)
        check_aval(prim, x, out, params)
        assert out.dtype == index_dtype
        want = arg_oracle(rows(x, (axis,)), want_max)
        np.testing.assert_array_equal(out, want.astype(index_dtype))
        np.testing.assert_array_equal(
            out, (np.argmax if want_max else np.argmin)(x, axis=axis))  # NumPy agrees


def test_argmax_wrapper_values():
    x = np.array([[1.0, np.nan, 5.0, np.nan], [2.0, 7.0, 7.0, -1.0]])
    out = lax.argmax(x, -1, np.int32)
    assert out.dtype == np.int32 and out.aval.weak_type is False
    np.testing.assert_array_equal(out, [1, 1])
    np.testing.assert_array_equal(lax.argmin(x, 1, "int64"), [1, 3])
    np.testing.assert_array_equal(lax.argmax(np.zeros((0, 3)), 1, np.int32), np.zeros(0))


# --- reduce_precision ---------------------------------------------------------------------------


def reduce_precision_oracle(x: np.ndarray, exponent_bits: int, mantissa_bits: int
                            ) -> np.ndarray:
    """Round to ``mantissa_bits`` with frexp/rint in float64 (exact for these inputs)."""
    info = np.finfo(x.dtype)
    v = x.astype(np.float64)
    with np.errstate(all="ignore"):
        _, e = np.frexp(v)
        exponent = np.maximum(e - 1, info.minexp)  # below minexp the source is subnormal
        quantum = np.ldexp(1.0, exponent - mantissa_bits)
        r = np.where(np.isfinite(v), np.rint(v / quantum) * quantum, v)
        if mantissa_bits == 0:
            # With no mantissa bits the last kept bit is the exponent's lowest: a tie rounds
            # toward the even biased exponent, not toward rint's even significand.
            tie = np.abs(v / quantum) == 1.5
            even = (exponent + info.maxexp - 1) % 2 == 0
            r = np.where(tie, np.copysign(np.where(even, 1.0, 2.0) * quantum, v), r)
        if exponent_bits < info.nexp:
            emax = 2 ** (exponent_bits - 1) - 1
            r = np.where(np.abs(r) >= 2.0 ** (emax + 1), np.copysign(np.inf, v), r)
            r = np.where(np.abs(r) < 2.0 ** (1 - emax), np.copysign(0.0, v), r)
        out = r.astype(x.dtype)
    nan = np.isnan(x)
    out[nan] = x[nan] if mantissa_bits > 0 else np.inf
    return out


@st.composite
def precision_case(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    dtype = draw(st.sampled_from(dt.FLOATING))
    x = draw(hnp.arrays(dtype, draw(SHAPES), elements=hnp.from_dtype(dtype)))
    info = np.finfo(dtype)
    exponent_bits = draw(st.integers(1, info.nexp + 1))
    mantissa_bits = draw(st.integers(0, info.nmant + 1))
    return readonly(x), exponent_bits, mantissa_bits


@given(precision_case())
def test_reduce_precision_matches_frexp_rounding(case):
    x, exponent_bits, mantissa_bits = case
    params = {"exponent_bits": exponent_bits, "mantissa_bits": mantissa_bits}
    out = R.reduce_precision_p.impl(x, **params)
    check_aval(R.reduce_precision_p, x, out, params)
    same_bits(out, reduce_precision_oracle(x, exponent_bits, mantissa_bits))


def test_reduce_precision_to_float16_is_a_cast_except_subnormals():
    x = np.array([1.0, 3.14159, 65504.0, 65519.0, 65520.0, 1e-4, -2.5e-5, 1e-8, -0.0],
                 np.float32)
    out = np.asarray(lax.reduce_precision(x, 5, 10))
    with np.errstate(over="ignore"):
        cast = x.astype(np.float16).astype(np.float32)
    normal = np.abs(cast) >= np.finfo(np.float16).tiny
    np.testing.assert_array_equal(out[normal], cast[normal])
    np.testing.assert_array_equal(out[~normal], np.zeros((~normal).sum()))  # flushed, like XLA
    assert np.signbit(out[-1]) and np.signbit(out[6])


def test_reduce_precision_exact_values():
    x = np.array([1.0 + 2**-8, 1.0 + 3 * 2**-8, 1.5 * 2**-9, np.nan, -np.inf], np.float32)
    out = np.asarray(lax.reduce_precision(x, 8, 7))  # bfloat16: ties to even
    np.testing.assert_array_equal(out[:3], np.array([1.0, 1.0 + 2**-6, 1.5 * 2**-9], np.float32))
    assert np.isnan(out[3]) and out[4] == -np.inf
    # No mantissa bits: powers of two only; a tie goes to the even biased exponent (as XLA's
    # bit-level rounding does), NaN becomes +inf, and above 2**3 is inf.
    x = np.array([np.nan, 1.5, 3.0, 6.0, 12.0, -24.0, 0.2], np.float64)
    e3m0 = np.asarray(lax.reduce_precision(x, 3, 0))
    np.testing.assert_array_equal(e3m0, [np.inf, 2.0, 2.0, 8.0, 8.0, -np.inf, 0.25])


# --- reduction errors ---------------------------------------------------------------------------


def test_reduction_errors():
    with raises(DtypeError, "functrans.lax.reduce_sum: operand bool[3] has dtype bool; "
                            "expected a numeric (non-boolean) dtype"):
        R.reduce_sum_p.abstract_eval(ShapedArray((3,), dt.bool_), axes=(0,))
    with raises(DtypeError, "functrans.lax.reduce_max: operand c64[3] has dtype complex64; "
                            "expected a non-complex dtype"):
        R.reduce_max_p.abstract_eval(ShapedArray((3,), dt.complex64), axes=(0,))
    with raises(DtypeError, "functrans.lax.reduce_or: operand f32[3] has dtype float32; "
                            "expected an integer or boolean dtype"):
        R.reduce_or_p.abstract_eval(f32(3), axes=(0,))
    with raises(ShapeError, "functrans.lax.reduce_prod: axes=(2,) out of range for an operand "
                            "of rank 2"):
        R.reduce_prod_p.abstract_eval(f32(2, 3), axes=(2,))
    with raises(ShapeError, "functrans.lax.reduce_min: axes=(1, 1) has repeated axes"):
        R.reduce_min_p.abstract_eval(f32(2, 3), axes=(1, 1))
    with raises(TypeError, "functrans.lax.reduce_sum: axes must be a tuple of ints, got [0]"):
        R.reduce_sum_p.abstract_eval(f32(2), axes=[0])
    with raises(ShapeError, "functrans.lax.reduce_sum: axes=(-3,) out of range"):
        lax.reduce_sum(np.zeros((2, 3)), (-3,))  # the wrapper keeps what it cannot fix
    with pytest.raises(TypeError):
        lax.reduce_sum(np.zeros(3), (0.5,))


def test_reductions_keep_weak_type():
    for prim in (R.reduce_sum_p, R.reduce_max_p):
        assert prim.abstract_eval(f32(2, 3, weak=True), axes=(1,)) == f32(2, weak=True)
        assert prim.abstract_eval(f32(2, 3), axes=(0, 1)) == f32()
    weak = core.Array(np.array([1.0, 2.0], np.float32), weak_type=True)
    assert lax.reduce_sum(weak, (0,)).weak_type
    arg = R.argmax_p.abstract_eval(f32(4, weak=True), axes=(0,), index_dtype=dt.int32)
    assert arg == ShapedArray((), dt.int32, False)


def test_argmax_errors():
    with raises(DtypeError, "functrans.lax.argmax: operand c128[3] has dtype complex128; "
                            "expected a non-complex dtype"):
        R.argmax_p.abstract_eval(ShapedArray((3,), dt.complex128), axes=(0,),
                                 index_dtype=dt.int32)
    with raises(ShapeError, "functrans.lax.argmin: axes must hold exactly one axis, got (0, 1)"):
        R.argmin_p.abstract_eval(f32(2, 3), axes=(0, 1), index_dtype=dt.int32)
    with raises(ShapeError, "functrans.lax.argmax: axes=(2,) out of range for an operand of "
                            "rank 2"):
        R.argmax_p.abstract_eval(f32(2, 3), axes=(2,), index_dtype=dt.int32)
    with raises(DtypeError, "functrans.lax.argmax: index_dtype must be an integer dtype, got "
                            "float32"):
        R.argmax_p.abstract_eval(f32(2, 3), axes=(0,), index_dtype=dt.float32)
    with raises(ShapeError, "functrans.lax.argmin: axis 1 of f32[2,0] is empty, so there is no "
                            "index to return; reduce over a non-empty axis"):
        R.argmin_p.abstract_eval(f32(2, 0), axes=(1,), index_dtype=dt.int32)
    with raises(DtypeError, "functrans.lax.argmax: index_dtype int8 cannot hold the indices of "
                            "axis 0 of f32[300] (up to 299); use a wider index_dtype such as "
                            "int32"):
        R.argmax_p.abstract_eval(f32(300), axes=(0,), index_dtype=dt.int8)
    R.argmax_p.abstract_eval(f32(128), axes=(0,), index_dtype=dt.int8)  # 127 fits
    with raises(ShapeError, "functrans.lax.argmax: axes=(0,) out of range for an operand of "
                            "rank 0"):
        lax.argmax(np.float32(1), 0, np.int32)


def test_reduce_precision_errors():
    with raises(DtypeError, "functrans.lax.reduce_precision: operand i32[2] has dtype int32; "
                            "expected a floating dtype"):
        R.reduce_precision_p.abstract_eval(ShapedArray((2,), dt.int32), exponent_bits=5,
                                           mantissa_bits=10)
    with raises(ValueError, "functrans.lax.reduce_precision: exponent_bits must be >= 1, got 0"):
        R.reduce_precision_p.abstract_eval(f32(2), exponent_bits=0, mantissa_bits=10)
    with raises(ValueError, "functrans.lax.reduce_precision: mantissa_bits must be >= 0, got -1"):
        R.reduce_precision_p.abstract_eval(f32(2), exponent_bits=5, mantissa_bits=-1)
    with raises(TypeError, "functrans.lax.reduce_precision: exponent_bits must be a Python int, "
                           "got 5.0"):
        R.reduce_precision_p.abstract_eval(f32(2), exponent_bits=5.0, mantissa_bits=1)
    with pytest.raises(TypeError):
        lax.reduce_precision(np.zeros(2, np.float32), 5.5, 2)


# --- cumulative ---------------------------------------------------------------------------------


@st.composite
def scan_case(draw: st.DrawFn, dtypes: tuple, bound: float | None = None, nan: bool = False
              ) -> tuple[np.ndarray, int, bool]:
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    x = draw(hnp.arrays(dtype, shape, elements=elements(dtype, bound, nan)))
    return readonly(x), draw(st.integers(0, len(shape) - 1)), draw(st.booleans())


def scan_oracle(x: np.ndarray, axis: int, reverse: bool, step) -> np.ndarray:
    """Loop over the axis: out[i] = step(out[i-1], x[i])."""
    xs = np.moveaxis(x, axis, 0)
    if reverse:
        xs = xs[::-1]
    out = np.empty_like(xs)
    for i in range(xs.shape[0]):
        out[i] = xs[0] if i == 0 else step(out[i - 1], xs[i])
    if reverse:
        out = out[::-1]
    return np.moveaxis(out, 0, axis)


@given(scan_case(dt.NUMERIC, bound=100.0))
def test_cumsum_matches_wide_accumulation(case):
    x, axis, reverse = case
    params = {"axis": axis, "reverse": reverse}
    out = C.cumsum_p.impl(x, **params)
    check_aval(C.cumsum_p, x, out, params)
    w = np.flip(x, axis) if reverse else x
    want = np.cumsum(w.astype(wide(x.dtype)), axis=axis)
    want = np.flip(want, axis) if reverse else want
    if x.dtype.kind in "iu":
        np.testing.assert_array_equal(out, want.astype(x.dtype))
    else:
        assert_close(out, want.astype(x.dtype), x.shape[axis], 100.0 * x.shape[axis])


@given(scan_case(dt.NUMERIC, bound=1.5))
def test_cumprod_matches_wide_accumulation(case):
    x, axis, reverse = case
    params = {"axis": axis, "reverse": reverse}
    out = C.cumprod_p.impl(x, **params)
    check_aval(C.cumprod_p, x, out, params)
    want = scan_oracle(x.astype(wide(x.dtype)), axis, reverse, np.multiply)
    if x.dtype.kind in "iu":
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(out, want.astype(x.dtype))
    else:
        assert_close(out, want.astype(x.dtype), x.shape[axis], 1.0)


def nan_step(want_max: bool):
    def step(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        better = cur > prev if want_max else cur < prev
        out = np.where(better, cur, prev)
        if prev.dtype.kind == "f":
            out = np.where(np.isnan(prev) | np.isnan(cur), np.nan, out)
        return out
    return step


@given(scan_case(dt.REAL, nan=True))
def test_cummax_cummin_propagate_nan(case):
    x, axis, reverse = case
    params = {"axis": axis, "reverse": reverse}
    for prim, want_max in ((C.cummax_p, True), (C.cummin_p, False)):
        out = prim.impl(x, **params)
        check_aval(prim, x, out, params)
        np.testing.assert_array_equal(out, scan_oracle(x, axis, reverse, nan_step(want_max)))


@given(scan_case(dt.FLOATING, bound=30.0))
def test_cumlogsumexp_matches_shifted_log_of_sums(case):
    x, axis, reverse = case
    params = {"axis": axis, "reverse": reverse}
    out = C.cumlogsumexp_p.impl(x, **params)
    check_aval(C.cumlogsumexp_p, x, out, params)
    xs = np.moveaxis(x.astype(np.float64), axis, -1)
    if reverse:
        xs = xs[..., ::-1]
    want = np.empty_like(xs)
    for i in range(xs.shape[-1]):
        prefix = xs[..., :i + 1]
        m = np.max(prefix, axis=-1, keepdims=True)
        want[..., i] = (m + np.log(np.sum(np.exp(prefix - m), axis=-1, keepdims=True)))[..., 0]
    if reverse:
        want = want[..., ::-1]
    want = np.moveaxis(want, -1, axis).astype(x.dtype)
    assert_close(out, want, x.shape[axis], 30.0)


def test_cumulative_exact_values():
    x = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
    np.testing.assert_array_equal(lax.cumsum(x, axis=1), [[1, 3, 6], [4, 9, 15]])
    np.testing.assert_array_equal(lax.cumsum(x, axis=-1, reverse=True), [[6, 5, 3], [15, 11, 6]])
    np.testing.assert_array_equal(lax.cumprod(x), [[1, 2, 3], [4, 10, 18]])
    np.testing.assert_array_equal(lax.cummin(x, 0, True), [[1, 2, 3], [4, 5, 6]])
    wrap = np.asarray(lax.cumsum(np.array([100, 100, 100], np.int8)))
    assert wrap.dtype == np.int8
    np.testing.assert_array_equal(wrap, np.array([100, -56, 44], np.int8))
    f = np.array([1.0, np.nan, 5.0], np.float32)
    np.testing.assert_array_equal(lax.cummax(f), [1.0, np.nan, np.nan])
    np.testing.assert_array_equal(lax.cummax(f, reverse=True), [np.nan, np.nan, 5.0])
    big = np.asarray(lax.cumlogsumexp(np.array([1000.0, 1000.0, -np.inf])))
    np.testing.assert_allclose(big, [1000.0, 1000.0 + np.log(2), 1000.0 + np.log(2)])
    small = np.asarray(lax.cumlogsumexp(np.array([-1000.0, -1000.0], np.float32)))
    np.testing.assert_allclose(small, np.array([-1000.0, -1000.0 + np.log(2)], np.float32))
    assert lax.cumsum(np.zeros((0, 2)), 0).shape == (0, 2)


def test_cumulative_errors():
    with raises(DtypeError, "functrans.lax.cumsum: operand bool[3] has dtype bool; expected a "
                            "numeric (non-boolean) dtype"):
        C.cumsum_p.abstract_eval(ShapedArray((3,), dt.bool_), axis=0, reverse=False)
    with raises(DtypeError, "functrans.lax.cummax: operand c64[3] has dtype complex64; expected "
                            "a real (integer or floating) dtype"):
        C.cummax_p.abstract_eval(ShapedArray((3,), dt.complex64), axis=0, reverse=False)
    with raises(DtypeError, "functrans.lax.cumlogsumexp: operand i32[3] has dtype int32; "
                            "expected a floating dtype"):
        C.cumlogsumexp_p.abstract_eval(ShapedArray((3,), dt.int32), axis=0, reverse=False)
    with raises(ShapeError, "functrans.lax.cumprod: axis 2 is out of range for f32[2,3] (rank "
                            "2)"):
        C.cumprod_p.abstract_eval(f32(2, 3), axis=2, reverse=False)
    with raises(ShapeError, "functrans.lax.cumsum: axis 0 is out of range for f32[] (rank 0)"):
        lax.cumsum(np.float32(2.0))
    with raises(TypeError, "functrans.lax.cummin: axis must be an int, got 0.0"):
        C.cummin_p.abstract_eval(f32(2), axis=0.0, reverse=False)
    with raises(TypeError, "functrans.lax.cumsum: reverse must be a bool, got 1"):
        C.cumsum_p.abstract_eval(f32(2), axis=0, reverse=1)
    assert C.cumsum_p.abstract_eval(f32(2, weak=True), axis=0, reverse=True) == f32(2, weak=True)


# --- through bind and make_jaxpr ----------------------------------------------------------------


def test_wrappers_bind_and_stage():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = lax.reduce_sum(x, (-1, 0))
    assert isinstance(out, ft.Array) and out.dtype == np.float32 and float(out) == 66.0
    closed = ft.make_jaxpr(lambda a: lax.cumsum(lax.reduce_max(a, (1,)), reverse=True))(x)
    text = str(closed)
    assert "reduce_max" in text and "cumsum" in text
    jaxpr = ft.make_jaxpr(lambda a: lax.argmax(a, -1, np.int32))(x)
    assert "argmax" in str(jaxpr)


# --- derivatives (end to end, against hand-derived NumPy formulas) -----------------------------


def brute_jacobian(f, x: np.ndarray) -> np.ndarray:
    """d f(x)[i] / d x[j] by exact central differences of a multilinear/smooth NumPy ``f``."""
    eps = 1e-6
    cols = []
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = eps
        e = e.reshape(x.shape)
        cols.append(((f(x + e) - f(x - e)) / (2 * eps)).ravel())
    return np.stack(cols, axis=-1).reshape(np.shape(f(x)) + x.shape)


def jacobian_fwd(f, x: np.ndarray) -> np.ndarray:
    """d f(x) / d x column by column with ft.jvp (no vmap: only the jvp rules are tested)."""
    cols = [np.asarray(ft.jvp(f, (x,), (e.reshape(x.shape),))[1]) for e in np.eye(x.size)]
    out_shape = np.shape(f(x))
    return np.stack(cols, axis=-1).reshape(out_shape + x.shape) if cols else \
        np.zeros(out_shape + x.shape)


def jacobian_rev(f, x: np.ndarray) -> np.ndarray:
    """d f(x) / d x row by row with ft.vjp (the transposes of the jvp rules)."""
    y, pullback = ft.vjp(f, x)
    rows_ = [np.asarray(pullback(e.reshape(np.shape(y)))[0]) for e in np.eye(np.size(y))]
    return np.stack(rows_).reshape(np.shape(y) + x.shape) if rows_ else \
        np.zeros(np.shape(y) + x.shape)


def others_product(x: np.ndarray) -> np.ndarray:
    """prod of every element but one, by deleting it (a zero-safe oracle)."""
    flat = x.ravel()
    return np.array([np.prod(np.delete(flat, i)) for i in range(flat.size)]).reshape(x.shape)


def test_grad_of_reduce_sum_and_its_transpose():
    w = np.arange(12.0).reshape(3, 4)
    g = ft.grad(lambda x: lax.reduce_sum(lax.reduce_sum(x * w, (1,)) ** 2, (0,)))(np.ones((3, 4)))
    np.testing.assert_allclose(np.asarray(g), 2 * w.sum(1, keepdims=True) * w)
    _, t = ft.jvp(lambda x: lax.reduce_sum(x, (0, 2)), (np.ones((2, 3, 4)),),
                  (np.arange(24.0).reshape(2, 3, 4),))
    np.testing.assert_allclose(np.asarray(t), np.arange(24.0).reshape(2, 3, 4).sum((0, 2)))


@pytest.mark.parametrize("zeros", [[], [5], [2, 7]])
def test_grad_of_reduce_prod_is_the_product_of_the_others_even_at_zeros(zeros):
    x = np.linspace(0.5, 1.6, 12).reshape(3, 4)
    x.ravel()[zeros] = 0.0
    g = ft.grad(lambda v: lax.reduce_prod(v, (0, 1)))(x)
    np.testing.assert_allclose(np.asarray(g), others_product(x), rtol=1e-12, atol=1e-300)
    # Reducing one axis of three, two and three zeros in a row included.
    y = np.linspace(-1.3, 1.7, 24).reshape(2, 3, 4)
    y[0, :, 1] = 0.0
    y[1, 0, 2] = 0.0
    jac = jacobian_rev(lambda v: lax.reduce_prod(v, (1,)), y)
    want = brute_jacobian(lambda v: np.prod(v, axis=1), y)
    np.testing.assert_allclose(jac, want, atol=1e-8)


def test_reduce_prod_second_derivative_at_a_zero():
    x = np.array([2.0, 0.0, 3.0, 0.5])
    h = jacobian_fwd(ft.grad(lambda v: lax.reduce_prod(v, (0,))), x)
    want = [[0.0 if i == j else np.prod(np.delete(x, [i, j])) for j in range(4)]
            for i in range(4)]
    np.testing.assert_allclose(h, want)


def test_reduce_max_min_share_the_tangent_among_ties():
    x = np.array([[3.0, 1.0, 3.0, 3.0], [0.0, -2.0, 5.0, 1.0]])
    g = np.asarray(ft.grad(lambda v: lax.reduce_sum(lax.reduce_max(v, (1,)), (0,)))(x))
    np.testing.assert_allclose(g, [[1 / 3, 0, 1 / 3, 1 / 3], [0, 0, 1, 0]])
    g = np.asarray(ft.grad(lambda v: lax.reduce_min(v, (0, 1)))(x))
    np.testing.assert_allclose(g, [[0, 0, 0, 0], [0, 1, 0, 0]])
    # An empty reduction is a constant: its tangent is zero, not 0/0.
    _, t = ft.jvp(lambda v: lax.reduce_max(v, (1,)), (np.zeros((2, 0)),), (np.zeros((2, 0)),))
    np.testing.assert_array_equal(np.asarray(t), [0.0, 0.0])


def test_argmax_and_bitwise_reductions_have_float0_tangents():
    x = np.array([[1.0, 3.0, 2.0]])
    _, t = ft.jvp(lambda v: lax.argmax(v, 1, np.int32), (x,), (np.ones_like(x),))
    assert np.asarray(t).dtype == ft.float0 and np.shape(t) == (1,)
    g = ft.grad(lambda v: lax.reduce_sum(v * lax.convert_element_type(
        lax.argmin(v, 1, np.int32), np.float64), (0, 1)))(x)
    np.testing.assert_array_equal(np.asarray(g), [[0.0, 0.0, 0.0]])
    assert R.reduce_and_p.jvp is not None and R.reduce_xor_p.transpose is None


def test_reduce_precision_is_differentiated_as_the_identity():
    x = np.array([1.0 + 2.0**-12, 0.3, -7.1])
    g = ft.grad(lambda v: lax.reduce_sum(lax.reduce_precision(v, 5, 10) * v, (0,)))(x)
    np.testing.assert_array_equal(np.asarray(g), np.asarray(lax.reduce_precision(x, 5, 10)) + x)
    t = 1.0 + 2.0**-20  # passes through unrounded
    _, tout = ft.jvp(lambda v: lax.reduce_precision(v, 8, 7), (x,), (np.full(3, t),))
    np.testing.assert_array_equal(np.asarray(tout), np.full(3, t))


@pytest.mark.parametrize("reverse", [False, True])
def test_grad_of_cumsum_is_a_reversed_cumsum(reverse):
    w = np.array([[1.0, -2.0, 0.5, 4.0], [3.0, 0.0, 1.0, -1.0]])
    g = ft.grad(lambda x: lax.reduce_sum(lax.cumsum(x, 1, reverse) * w, (0, 1)))(np.ones((2, 4)))
    want = np.cumsum(w, axis=1) if reverse else np.flip(np.cumsum(np.flip(w, 1), axis=1), 1)
    np.testing.assert_allclose(np.asarray(g), want)


def cumprod_jacobian(x: np.ndarray) -> np.ndarray:
    """d cumprod(x)[i] / d x[j] = prod_{k <= i, k != j} x[k] for j <= i (no division)."""
    n = x.size
    return np.array([[np.prod(np.delete(x[:i + 1], j)) if j <= i else 0.0 for j in range(n)]
                     for i in range(n)]).reshape(n, n)


@pytest.mark.parametrize("x", [
    [2.0, 0.0, 3.0, 0.0, 5.0], [0.0, 0.0, 1.5, -2.0, 0.5, 3.0, 1.0], [1.5, -0.5, 2.0, 0.7],
    [0.0], [],
])
def test_jacobian_of_cumprod_is_exact_at_zeros(x):
    x = np.array(x)
    for reverse in (False, True):
        def f(v, reverse=reverse):
            return lax.cumprod(v, 0, reverse)

        jac = jacobian_fwd(f, x)
        want = np.flip(cumprod_jacobian(np.flip(x)), (0, 1)) if reverse else cumprod_jacobian(x)
        np.testing.assert_allclose(jac, want, atol=1e-15)
        np.testing.assert_allclose(jacobian_rev(f, x), jac, atol=1e-15)


def test_cummax_cummin_average_the_tangent_over_ties():
    x = np.array([1.0, 1.0, 1.0, 0.5, 2.0])
    jac = jacobian_rev(lambda v: lax.cummax(v), x)
    third = 1 / 3
    np.testing.assert_allclose(jac, [[1, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0],
                                     [third, third, third, 0, 0], [third, third, third, 0, 0],
                                     [0, 0, 0, 0, 1]])
    jac = jacobian_fwd(lambda v: lax.cummin(v, reverse=True), x)
    np.testing.assert_allclose(jac, [[0, 0, 0, 1, 0]] * 4 + [[0, 0, 0, 0, 1]])


def test_cumlogsumexp_jacobian_is_softmax_weights_and_stays_finite():
    x = np.array([-800.0, 0.0, 1.0, 700.0, -3.0])
    for reverse in (False, True):
        y = np.flip(np.logaddexp.accumulate(np.flip(x))) if reverse else \
            np.logaddexp.accumulate(x)
        i, j = np.indices((5, 5))
        inside = (j >= i) if reverse else (j <= i)
        want = np.where(inside, np.exp(np.where(inside, x[j] - y[i], 0.0)), 0.0)
        jac = jacobian_rev(lambda v, r=reverse: lax.cumlogsumexp(v, 0, r), x)
        np.testing.assert_allclose(jac, want, atol=1e-15)
    # Equal infinities share the tangent, as equal finite values do.
    jac = jacobian_fwd(lambda v: lax.cumlogsumexp(v), np.array([-np.inf, -np.inf, 0.0]))
    np.testing.assert_allclose(jac, [[1, 0, 0], [0.5, 0.5, 0], [0, 0, 1]])


@given(scan_case((dt.float64,), bound=2.0), st.sampled_from(["cumsum", "cumprod", "cummax",
                                                              "cummin", "cumlogsumexp"]))
def test_cumulative_jvp_matches_finite_differences_and_its_vjp(case, name):
    x, axis, reverse = case
    prim = getattr(C, f"{name}_p")
    if name in ("cummax", "cummin"):
        # Values well apart in the same order: (near) ties are not differentiable points.
        ranks = np.argsort(np.argsort(x.ravel(), kind="stable"), kind="stable")
        x = readonly((0.25 * ranks - 1.0).reshape(x.shape))
    rng = np.random.default_rng(0)
    t = rng.normal(size=x.shape)

    def f(v):
        return prim.bind(v, axis=axis, reverse=reverse)

    _, jt = ft.jvp(f, (x,), (t,))
    eps = 1e-6
    fd = (prim.impl(x + eps * t, axis=axis, reverse=reverse)
          - prim.impl(x - eps * t, axis=axis, reverse=reverse)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(jt), fd, rtol=1e-5, atol=1e-6)
    ct = rng.normal(size=x.shape)
    (g,) = ft.vjp(f, x)[1](ct)
    np.testing.assert_allclose(np.sum(ct * np.asarray(jt)), np.sum(np.asarray(g) * t),
                               rtol=1e-10, atol=1e-10)


# --- batching (vmap) ------------------------------------------------------------------------------


@st.composite
def batched_operand(draw: st.DrawFn, example: np.ndarray) -> tuple[np.ndarray, int]:
    """A batch of 0-3 variants of ``example`` (rolled, so they stay in its domain), stacked
    along a drawn axis; and that axis."""
    size = draw(st.integers(0, 3))
    bdim = draw(st.integers(0, example.ndim))
    variants = [np.roll(example.ravel(), b).reshape(example.shape) for b in range(size)]
    xs = np.stack(variants, axis=bdim) if size else \
        np.zeros(example.shape[:bdim] + (0,) + example.shape[bdim:], example.dtype)
    return readonly(xs), bdim


def loop_over(f, xs: np.ndarray, bdim: int, out_dim: int, like: np.ndarray) -> np.ndarray:
    """``f`` on each example of ``xs`` (split along ``bdim``), stacked along ``out_dim``; an
    empty batch stacks ``like``'s shape and dtype."""
    outs = [np.asarray(f(np.take(xs, i, axis=bdim))) for i in range(xs.shape[bdim])]
    if not outs:
        return np.zeros(like.shape[:out_dim] + (0,) + like.shape[out_dim:], like.dtype)
    return np.stack(outs, axis=out_dim)


def assert_one_equation(f, xs: np.ndarray, bdim: int, out_dim: int, prim) -> None:
    """vmap of ``f`` at ``bdim`` with the result's batch dimension left at ``out_dim`` is the
    primitive alone: nothing is transposed, copied or broadcast."""
    jaxpr = ft.make_jaxpr(ft.vmap(f, in_axes=bdim, out_axes=out_dim))(xs)
    assert [e.prim for e in jaxpr.eqns] == [prim], str(jaxpr)


_BATCH_REDUCERS = [R.reduce_sum_p, R.reduce_prod_p, R.reduce_max_p, R.reduce_min_p,
                   R.reduce_and_p, R.reduce_or_p, R.reduce_xor_p]
_BATCH_DTYPES = (dt.bool_, dt.uint8, dt.int32, dt.int64, dt.float32, dt.float64, dt.complex128)


@given(st.sampled_from(_BATCH_REDUCERS), st.data())
def test_vmap_of_reductions_shifts_axes_and_matches_a_loop(prim, data):
    dtypes = tuple(d for d in _BATCH_DTYPES if d in prim.dtypes)
    x, axes = data.draw(operand_and_axes(dtypes, bound=2.0))
    xs, bdim = data.draw(batched_operand(x))
    # The batch dimension stays where it was, after the kept axes that were before it.
    out_dim = bdim - sum(a < bdim for a in axes)

    def f(v):
        return prim.bind(v, axes=axes)

    got = ft.vmap(f, in_axes=bdim, out_axes=out_dim)(xs)
    assert_same_values(got, loop_over(lambda v: prim.impl(v, axes=axes), xs, bdim, out_dim,
                                      prim.impl(x, axes=axes)), prim.name)
    assert_one_equation(f, xs, bdim, out_dim, prim)


@given(st.sampled_from([R.argmax_p, R.argmin_p]), st.data())
def test_vmap_of_argmax_argmin_with_nan_and_ties(prim, data):
    dtype = data.draw(st.sampled_from((dt.float32, dt.float64, dt.int8, dt.bool_)))
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    # Few distinct values, so that ties (and NaNs) are common.
    elems = st.sampled_from([0.0, 1.0, np.nan]) if dtype.kind == "f" else \
        elements(dtype)
    x = readonly(data.draw(hnp.arrays(dtype, shape, elements=elems)))
    axis = data.draw(st.integers(0, x.ndim - 1))
    xs, bdim = data.draw(batched_operand(x))
    params = {"axes": (axis,), "index_dtype": dt.int32}
    out_dim = bdim - (axis < bdim)
    got = ft.vmap(lambda v: prim.bind(v, **params), in_axes=bdim, out_axes=out_dim)(xs)
    want = loop_over(lambda v: prim.impl(v, **params), xs, bdim, out_dim,
                     prim.impl(x, **params))
    assert_same_values(got, want, prim.name)
    assert_one_equation(lambda v: prim.bind(v, **params), xs, bdim, out_dim, prim)


@given(scan_case((dt.int32, dt.uint8, dt.float32, dt.float64, dt.complex128), bound=2.0),
       st.sampled_from(["cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp"]), st.data())
def test_vmap_of_cumulative_ops_shifts_the_axis_and_matches_a_loop(case, name, data):
    x, axis, reverse = case
    prim = getattr(C, f"{name}_p")
    if x.dtype not in prim.dtypes:
        x = readonly(x.real.astype(dt.float64))
    xs, bdim = data.draw(batched_operand(x))
    params = {"axis": axis, "reverse": reverse}
    got = ft.vmap(lambda v: prim.bind(v, **params), in_axes=bdim, out_axes=bdim)(xs)
    want = loop_over(lambda v: prim.impl(v, **params), xs, bdim, bdim, x)
    assert_same_values(got, want, name)
    assert_one_equation(lambda v: prim.bind(v, **params), xs, bdim, bdim, prim)


def test_vmap_of_reduce_precision_rounds_every_example():
    # Normal float16 values only: reduce_precision flushes the narrow format's subnormals.
    x = np.array([[0.1, 1.0 + 2.0**-11, -3.7], [70000.0, np.nan, 1e-3]])
    got = ft.vmap(lambda v: lax.reduce_precision(v, 5, 10), in_axes=1)(x)
    with np.errstate(over="ignore"):
        want = x.T.astype(np.float16).astype(np.float64)  # float16's format, as float64
    np.testing.assert_array_equal(np.asarray(got), want)


def test_vmap_of_the_lax_wrappers_with_negative_axes():
    x = np.arange(24.0).reshape(2, 3, 4) - 11.5
    fns = [lambda v: lax.reduce_sum(v, (-1,)), lambda v: lax.reduce_max(v, (0, -1)),
           lambda v: lax.argmin(v, -1, np.int32), lambda v: lax.cumsum(v, -1, reverse=True),
           lambda v: lax.cummax(v, 0)]
    for f in fns:
        for in_axis in (0, 1, 2, -1):
            got = ft.vmap(f, in_axes=in_axis)(x)
            want = np.stack([np.asarray(f(np.take(x, i, axis=in_axis)))
                             for i in range(x.shape[in_axis])])
            assert_same_values(got, want)


def logsumexp(v):
    """Stable log-sum-exp over the last axis, through reduce_max, reduce_sum and cumsum."""
    m = lax.stop_gradient(lax.reduce_max(v, (v.ndim - 1,)))
    shifted = lax.exp(v - lax.expand_dims(m, (v.ndim - 1,)))
    total = lax.index_in_dim(lax.cumsum(shifted, v.ndim - 1), -1, v.ndim - 1, keepdims=False)
    return lax.log(total) + m


def test_vmap_of_grad_matches_a_loop_of_grads():
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(5, 3, 4))

    def f(v):  # a scalar from one (3, 4) example, through every differentiable reducer
        return (lax.reduce_sum(logsumexp(v), (0,)) + lax.reduce_prod(v, (0, 1))
                + lax.reduce_min(lax.cumprod(v, 1), (0, 1))
                + lax.reduce_sum(lax.cumlogsumexp(v, 0, reverse=True), (0, 1)))

    got = ft.vmap(ft.grad(f))(xs)
    want = np.stack([np.asarray(ft.grad(f)(x)) for x in xs])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)
    # ... and the gradient of the batch's total is the same per-example gradient.
    total = ft.grad(lambda v: lax.reduce_sum(ft.vmap(f, in_axes=2)(v), (0,)))
    np.testing.assert_allclose(np.asarray(total(np.moveaxis(xs, 0, 2))),
                               np.moveaxis(want, 0, 2), rtol=1e-12, atol=1e-12)


def test_nested_vmap_with_different_in_axes():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4, 5))

    def f(v):  # one (2, 4) example
        return lax.reduce_max(lax.cumsum(v, 1), (1,)), lax.argmax(v, 0, np.int32)

    inner = ft.vmap(f, in_axes=2)       # maps axis 2 of a (2, 4, 5) value
    outer = ft.vmap(inner, in_axes=1)   # maps axis 1 of x
    got_max, got_arg = outer(x)         # [i, j] is f(x[:, i, :, j])
    want_max = np.max(np.cumsum(x, axis=2), axis=2).transpose(1, 2, 0)
    want_arg = np.argmax(x, axis=0).transpose(0, 2, 1)
    np.testing.assert_allclose(np.asarray(got_max), want_max, rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(got_arg), want_arg.astype(np.int32))
