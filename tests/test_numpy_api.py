"""The breadth of ``functrans.numpy`` (``_math``, ``_nanfunctions``, ``_sorting``, ``_manip``,
``_numeric``, ``_einsum``) against NumPy.

hypothesis draws shapes (0-d and empty included, broadcasting where the function broadcasts),
dtypes and parameters; each test compares values with a NumPy oracle and checks the result
dtype against JAX's rule (which differs from NumPy's where noted: integers become the default
float in inexact functions, index results are int32, integer sums accumulate in int32). The
end of the file checks error messages, grad/vmap through the composites, and einsum's path
search.
"""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import functrans as ft
import functrans.numpy as fnp
from functrans.errors import ConcretizationTypeError, DtypeError, ShapeError

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
C64, C128 = np.dtype(np.complex64), np.dtype(np.complex128)
I8, I16, I32, I64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
U8, U32, U64, BOOL = np.dtype(np.uint8), np.dtype(np.uint32), np.dtype(np.uint64), \
    np.dtype(np.bool_)
FLOATS = (F32, F64)
INEXACT = (F32, F64, C64, C128)
INTS = (I8, I32, I64, U8)
REALS = FLOATS + INTS
INDEX = I32  # JAX's index dtype (NumPy: intp)

TOL = {F16: 2e-3, F32: 2e-5, F64: 1e-10, C64: 2e-5, C128: 1e-10}

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
NONEMPTY = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
VECTORS = hnp.array_shapes(min_dims=1, max_dims=1, min_side=0, max_side=6)

# NumPy warns on the NaN/inf cases the oracles compute on purpose.
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:Arrays of 2-dimensional vectors:"
                                         "DeprecationWarning")]


# --- helpers ------------------------------------------------------------------------------------


def inexact(d: np.dtype) -> np.dtype:
    """JAX's dtype for a float function of ``d``: integers and booleans become float32."""
    return d if d.kind in "fc" else F32


def accumulator(d: np.dtype) -> np.dtype:
    """JAX's sum/prod dtype: narrow ints and bools widen to int32 (uint to uint32)."""
    if d.kind == "b":
        return I32
    if d.kind == "i" and d.itemsize < 4:
        return I32
    if d.kind == "u" and d.itemsize < 4:
        return U32
    return d


def elements(d: np.dtype, bound: float = 100.0, nan: bool = False) -> st.SearchStrategy:
    if d.kind == "f":
        return hnp.from_dtype(d, min_value=-bound, max_value=bound, allow_nan=False,
                              allow_infinity=False, allow_subnormal=False) if not nan else \
            st.one_of(hnp.from_dtype(d, min_value=-bound, max_value=bound,
                                     allow_subnormal=False, allow_nan=False,
                                     allow_infinity=False),
                      st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0]))
    if d.kind == "c":
        return hnp.from_dtype(d, max_magnitude=bound, allow_nan=False, allow_infinity=False)
    if d.kind in "iu":
        info = np.iinfo(d)
        return st.integers(max(info.min, -int(bound)), min(info.max, int(bound)))
    return st.booleans()


@st.composite
def arrays(draw: st.DrawFn, dtypes: tuple = REALS, shapes: st.SearchStrategy = SHAPES,
           bound: float = 100.0, nan: bool = False) -> np.ndarray:
    d = draw(st.sampled_from(dtypes))
    return draw(hnp.arrays(d, draw(shapes), elements=elements(d, bound, nan)))


def axis_of(draw: st.DrawFn, ndim: int, allow_none: bool = True, allow_tuple: bool = True):
    choices = []
    if allow_none:
        choices.append(None)
    if ndim:
        choices += list(range(-ndim, ndim))
        if allow_tuple and ndim > 1:
            choices.append(tuple(range(ndim))[:2])
    return draw(st.sampled_from(choices)) if choices else None


def check(got, want, dtype: np.dtype | None = None, tol: float | None = None,
          what: str = "") -> None:
    """Shape, dtype (``dtype``, when given) and values (NaN-aware; ``want`` is cast to the
    expected dtype first, since NumPy's own dtype often differs)."""
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if dtype is not None:
        assert got.dtype == dtype, f"{what}: dtype {got.dtype} != {dtype}"
    if got.dtype.kind in "fc":
        t = TOL[got.dtype] if tol is None else tol
        with np.errstate(all="ignore"):
            w = want.astype(got.dtype) if want.dtype.kind in "fc" or got.dtype.kind == "c" \
                else want.astype(np.float64)
        np.testing.assert_allclose(got.astype(np.complex128 if got.dtype.kind == "c"
                                              else np.float64),
                                   np.asarray(w).astype(np.complex128 if got.dtype.kind == "c"
                                                        else np.float64),
                                   rtol=t, atol=t, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want.astype(got.dtype) if want.size else want,
                                      err_msg=what)


def as64(x: np.ndarray) -> np.ndarray:
    """The oracle computes in float64 (complex128), or int64 for integers."""
    if x.dtype.kind == "c":
        return x.astype(np.complex128)
    if x.dtype.kind == "f":
        return x.astype(np.float64)
    if x.dtype.kind == "b":
        return x
    return x.astype(np.int64) if x.dtype.kind == "i" else x.astype(np.uint64)


def raises(exc: type, pattern: str, fn, *args, **kwargs) -> None:
    with pytest.raises(exc, match=pattern):
        fn(*args, **kwargs)


# --- _math: elementwise -------------------------------------------------------------------------


@given(arrays(REALS + (C64, C128, BOOL)))
def test_angle_sinc(x):
    d = inexact(x.dtype)
    real = np.dtype(d.type(0).real.dtype)
    check(fnp.angle(x), np.angle(as64(x)), real, what="angle")
    check(fnp.angle(x, deg=True), np.angle(as64(x), deg=True), real, tol=TOL[real] * 200,
          what="angle deg")
    if x.dtype.kind != "c":
        check(fnp.sinc(x), np.sinc(as64(x).astype(d)), d, tol=TOL[d] * 10, what="sinc")


@given(arrays(REALS, bound=40.0))
def test_i0(x):
    d = inexact(x.dtype)
    check(fnp.i0(x), np.i0(x.astype(d).astype(np.float64)), d, tol=TOL[d] * 20)


@given(arrays((F16, F32, F64), nan=True, bound=1e4), st.integers(-1100, 1100))
def test_frexp_ldexp_modf_spacing(x, e):
    m, ex = fnp.frexp(x)
    wm, we = np.frexp(x)
    check(m, wm, x.dtype, tol=0, what="frexp mantissa")
    check(ex, we, I32, what="frexp exponent")
    e_arr = np.full(x.shape[-1:] if x.ndim else (), e, np.int32)  # broadcasts
    check(fnp.ldexp(x, e_arr), np.ldexp(x, e_arr), x.dtype, tol=0, what="ldexp")
    frac, whole = fnp.modf(x)
    wf, ww = np.modf(x)
    check(frac, wf, x.dtype, tol=0, what="modf frac")
    check(whole, ww, x.dtype, tol=0, what="modf whole")
    finite = np.isfinite(x)
    assert np.array_equal(np.signbit(np.asarray(frac))[finite], np.signbit(wf)[finite])
    # NumPy's float16 spacing is wrong for negative inputs (spacing(-1) = +2**-11); the
    # definition is nextafter(x, +-inf) - x.
    want = np.nextafter(x, np.where(x < 0, -np.inf, np.inf).astype(x.dtype)) - x
    check(fnp.spacing(x), want, x.dtype, tol=0, what="spacing")
    if x.dtype != F16:
        check(fnp.spacing(x), np.spacing(x), x.dtype, tol=0, what="spacing")


@given(arrays(INTS))
def test_inexact_of_integers(x):
    # Integer inputs compute in float32 (JAX); NumPy would use float64.
    check(fnp.modf(x)[0], np.modf(x.astype(F32))[0], F32)
    check(fnp.spacing(x), np.spacing(x.astype(F32)), F32, tol=0)
    m, e = fnp.frexp(x)
    check(m, np.frexp(x.astype(F32))[0], F32)
    check(e, np.frexp(x.astype(F32))[1], I32)


@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4),
       st.sampled_from((I8, I16, I32, I64, U8)), st.data())
def test_gcd_lcm(shapes, d, data):
    info = np.iinfo(d)
    lo, hi = info.min, min(info.max, 10 ** 6)  # INT_MIN included: |INT_MIN| overflows
    a = data.draw(hnp.arrays(d, shapes.input_shapes[0], elements=st.integers(lo, hi)))
    b = data.draw(hnp.arrays(d, shapes.input_shapes[1], elements=st.integers(lo, hi)))
    check(fnp.gcd(a, b), np.gcd(as64(a), as64(b)), d, what="gcd")
    exact = np.frompyfunc(math.lcm, 2, 1)(a.astype(object), b.astype(object))
    if np.all((exact <= info.max) & (exact >= info.min)):  # no overflow: NumPy would wrap
        check(fnp.lcm(a, b), np.asarray(exact, dtype=np.int64), d, what="lcm")
    check(fnp.gcd(a, 6), np.gcd(as64(a), 6), d, what="gcd with a weak scalar")


@given(arrays(REALS + (I16, U64)))
def test_bitwise_count(x):
    if x.dtype.kind not in "iu":
        raises(DtypeError, "bitwise_count: needs an integer array", fnp.bitwise_count, x)
        return
    check(fnp.bitwise_count(x), np.bitwise_count(x), U8)


@given(arrays(REALS + (C64, C128, BOOL), nan=True, bound=1e4))
def test_nan_to_num_and_predicates(x):
    check(fnp.nan_to_num(x), np.nan_to_num(x), x.dtype, tol=0, what="nan_to_num")
    check(fnp.nan_to_num(x, nan=-1.5, posinf=7, neginf=-7),
          np.nan_to_num(x, nan=-1.5, posinf=7, neginf=-7), x.dtype, tol=0)
    check(fnp.isreal(x), np.isreal(x), BOOL)
    check(fnp.iscomplex(x), np.iscomplex(x), BOOL)
    if x.dtype.kind != "c":
        check(fnp.isposinf(x), np.isposinf(x), BOOL)
        check(fnp.isneginf(x), np.isneginf(x), BOOL)
    assert fnp.iscomplexobj(x) == np.iscomplexobj(x)
    assert fnp.isrealobj(x) == np.isrealobj(x)


@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4),
       st.sampled_from(FLOATS), st.data())
def test_isclose_allclose(shapes, d, data):
    e = elements(d, 10.0, nan=True)
    a = data.draw(hnp.arrays(d, shapes.input_shapes[0], elements=e))
    b = data.draw(hnp.arrays(d, shapes.input_shapes[1], elements=e))
    b = np.where(data.draw(hnp.arrays(BOOL, b.shape)), b, np.broadcast_to(a, np.broadcast_shapes(
        a.shape, b.shape))[(0,) * (len(np.broadcast_shapes(a.shape, b.shape)) - b.ndim)]
        if a.ndim >= b.ndim else b)
    for equal_nan in (False, True):
        check(fnp.isclose(a, b, equal_nan=equal_nan), np.isclose(a, b, equal_nan=equal_nan),
              BOOL)
        assert bool(fnp.allclose(a, b, equal_nan=equal_nan)) == np.allclose(
            a, b, equal_nan=equal_nan)
    check(fnp.isclose(a, b, rtol=0.5, atol=0.1), np.isclose(a, b, rtol=0.5, atol=0.1), BOOL)


@given(arrays(REALS, nan=True), st.booleans())
def test_array_equal_equiv(x, same):
    y = x.copy() if same else x + 1
    for equal_nan in (False, True):
        assert bool(fnp.array_equal(x, y, equal_nan=equal_nan)) == np.array_equal(
            x, y, equal_nan=equal_nan)
    assert bool(fnp.array_equal(x, np.zeros(x.shape + (1,)))) is False
    assert bool(fnp.array_equiv(x, y)) == np.array_equiv(x, y)
    if x.ndim:
        assert bool(fnp.array_equiv(x, x[:1])) == np.array_equiv(x, x[:1])


def test_scalar_and_dtype_queries():
    assert fnp.isscalar(1.0) and fnp.isscalar(np.float32(1)) and fnp.isscalar("s")
    assert fnp.isscalar(fnp.asarray(1.0))  # JAX: 0-d arrays are scalars (NumPy says False)
    assert not fnp.isscalar([1]) and not fnp.isscalar(np.ones(2))
    assert fnp.iscomplexobj(1j) and not fnp.iscomplexobj(1.0) and fnp.isrealobj([1, 2])
    assert fnp.isdtype(F32, "real floating") and not fnp.isdtype(F32, "integral")
    assert fnp.isdtype("int8", ("bool", "signed integer")) and fnp.isdtype(C64, C64)


# --- _nanfunctions ------------------------------------------------------------------------------


@st.composite
def with_nans(draw: st.DrawFn, dtypes: tuple = FLOATS + INTS, shapes=SHAPES):
    x = draw(arrays(dtypes, shapes, bound=20.0))
    if x.dtype.kind == "f" and x.size:
        mask = draw(hnp.arrays(BOOL, x.shape))
        x = np.where(mask, np.nan, x).astype(x.dtype)
    axis = axis_of(draw, x.ndim)
    return x, axis, draw(st.booleans())


@given(with_nans())
def test_nansum_nanprod_nancum(args):
    x, axis, keepdims = args
    acc = accumulator(x.dtype)
    check(fnp.nansum(x, axis, keepdims=keepdims), np.nansum(as64(x), axis, keepdims=keepdims),
          acc, what="nansum")
    small = np.clip(x, -3, 3) if x.dtype.kind == "f" else np.clip(as64(x), -3, 3).astype(x.dtype)
    want = np.nanprod(as64(small), axis, keepdims=keepdims)
    if acc.kind != "f" or np.all(np.abs(want) < 1e30):
        check(fnp.nanprod(small, axis, keepdims=keepdims), want, acc, tol=1e-4, what="nanprod")
    ax = axis if isinstance(axis, int) else None
    check(fnp.nancumsum(x, ax), np.nancumsum(as64(x), ax), acc, what="nancumsum")
    check(fnp.nancumprod(small, ax), np.nancumprod(as64(small), ax), acc, tol=1e-4,
          what="nancumprod")


@given(with_nans(shapes=NONEMPTY))
def test_nanmax_nanmin_nanarg(args):
    x, axis, keepdims = args
    check(fnp.nanmax(x, axis, keepdims=keepdims), np.nanmax(x, axis, keepdims=keepdims),
          x.dtype, what="nanmax")
    check(fnp.nanmin(x, axis, keepdims=keepdims), np.nanmin(x, axis, keepdims=keepdims),
          x.dtype, what="nanmin")
    ax = axis if isinstance(axis, int) else None
    all_nan = np.all(np.isnan(x), axis=ax) if x.dtype.kind == "f" else np.zeros((), bool)
    got = np.asarray(fnp.nanargmax(x, ax))
    assert got.dtype == INDEX
    # JAX's answer for an all-NaN slice is -1 (NumPy raises).
    assert np.all(got[all_nan] == -1) if got.ndim else (got == -1) == bool(all_nan)
    if not np.any(all_nan):
        check(got, np.nanargmax(x, ax), INDEX)
        check(fnp.nanargmin(x, ax), np.nanargmin(x, ax), INDEX)


@given(with_nans(), st.integers(0, 1))
def test_nanmean_nanvar_nanstd(args, ddof):
    x, axis, keepdims = args
    d = inexact(x.dtype)
    tol = TOL[d] * 50
    check(fnp.nanmean(x, axis, keepdims=keepdims), np.nanmean(as64(x), axis,
                                                              keepdims=keepdims), d, tol)
    check(fnp.nanvar(x, axis, ddof=ddof, keepdims=keepdims),
          np.nanvar(as64(x), axis, ddof=ddof, keepdims=keepdims), d, tol, "nanvar")
    check(fnp.nanstd(x, axis, ddof=ddof, keepdims=keepdims),
          np.nanstd(as64(x), axis, ddof=ddof, keepdims=keepdims), d, tol, "nanstd")


# --- _sorting -----------------------------------------------------------------------------------


@given(arrays(REALS + (BOOL, C64), NONEMPTY, nan=True), st.data())
def test_sort_argsort(x, data):
    axis = data.draw(st.sampled_from([None] + list(range(-x.ndim, x.ndim))))
    check(fnp.sort(x, axis), np.sort(x, axis), x.dtype, tol=0)
    check(fnp.argsort(x, axis), np.argsort(x, axis, kind="stable"), INDEX)
    if x.dtype.kind in "iuf" and axis is not None:
        # Descending and still stable: ties keep their original order.
        def oracle(v):
            # NaN sorts last ascending, so first descending.
            key = [((0, 0.0) if np.isnan(e) else (1, -float(e)), i) for i, e in enumerate(v)]
            return np.array([i for _, i in sorted(key)])
        want = np.apply_along_axis(oracle, axis, x) if x.size else np.zeros(x.shape, int)
        check(fnp.argsort(x, axis, descending=True), want, INDEX, what="argsort descending")
        check(fnp.sort(x, axis, descending=True), np.flip(np.sort(x, axis), axis), x.dtype, 0)


@given(st.lists(arrays((I8, F32), st.just((5,)), bound=3), min_size=1, max_size=3))
def test_lexsort(keys):
    check(fnp.lexsort(keys), np.lexsort(keys), INDEX)
    stacked = np.stack([k.astype(np.float32) for k in keys])
    check(fnp.lexsort(stacked), np.lexsort(stacked), INDEX)


@given(arrays((I32, F32, F64), VECTORS, bound=5, nan=True), arrays((I32, F32), SHAPES, 6),
       st.sampled_from(["left", "right"]), st.sampled_from(["scan", "compare_all", "sort"]))
def test_searchsorted(a, v, side, method):
    a = np.sort(a)
    want = np.searchsorted(a, v.astype(np.result_type(a, v)), side)
    check(fnp.searchsorted(a, v, side, method=method), want, INDEX)
    perm = np.argsort(a[::-1], kind="stable")
    check(fnp.searchsorted(a[::-1], v, side, sorter=perm),
          np.searchsorted(a[::-1], v.astype(np.result_type(a, v)), side, sorter=perm), INDEX)


@given(arrays((F64, I32), SHAPES, 6), arrays((F64,), VECTORS, 5), st.booleans(),
       st.booleans())
def test_digitize(x, bins, increasing, right):
    bins = np.unique(bins)
    bins = bins if increasing else bins[::-1]
    check(fnp.digitize(x, bins, right), np.digitize(x, bins, right), INDEX)


@given(arrays(REALS, NONEMPTY, bound=5), st.data())
def test_partition(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    kth = data.draw(st.integers(0, x.shape[axis] - 1))
    p = np.asarray(fnp.partition(x, kth, axis))
    s = np.sort(x, axis)
    assert p.dtype == x.dtype
    pm, sm = np.moveaxis(p, axis, -1), np.moveaxis(s, axis, -1)
    np.testing.assert_array_equal(pm[..., kth], sm[..., kth])
    assert np.all(pm[..., :kth] <= pm[..., kth:kth + 1])
    assert np.all(pm[..., kth + 1:] >= pm[..., kth:kth + 1])
    idx = np.asarray(fnp.argpartition(x, kth, axis))
    assert idx.dtype == INDEX
    np.testing.assert_array_equal(np.take_along_axis(x, idx, axis), p)


@given(arrays(REALS + (C64,), SHAPES))
def test_sort_complex(x):
    if not x.ndim:
        raises(np.exceptions.AxisError, "sort: axis -1 is out of bounds for a 0-d array",
               fnp.sort_complex, x)
        return
    want = np.sort_complex(x)
    d = want.dtype if x.dtype in (F64, C64, C128) else C64
    if x.dtype == F64:
        d = C128
    check(fnp.sort_complex(x), want, d)


@given(arrays((I8, I32, F32, F64), SHAPES, bound=3, nan=True), st.booleans(), st.booleans(),
       st.booleans())
def test_unique(x, ri, rv, rc):
    got = fnp.unique(x, ri, rv, rc)
    want = np.unique(x, ri, rv, rc)
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    check(got[0], want[0], x.dtype, tol=0)
    for g, w in zip(got[1:], want[1:], strict=True):
        check(g, w, INDEX)


@given(arrays((I8, F32), NONEMPTY, bound=2), st.data())
def test_unique_axis_and_array_api(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    for g, w in zip(fnp.unique(x, True, True, True, axis=axis),
                    np.unique(x, True, True, True, axis=axis), strict=True):
        check(g, w, what=f"unique axis={axis}")
    flat = x.ravel()
    for name in ("unique_all", "unique_counts", "unique_inverse"):
        for g, w in zip(getattr(fnp, name)(flat), getattr(np, name)(flat), strict=True):
            check(g, w, what=name)
    # NumPy 2.4's unique_values is unordered (the Array API allows it); ours is sorted.
    check(fnp.unique_values(flat), np.sort(np.unique_values(flat)), x.dtype)


@given(arrays((I32,), VECTORS, bound=4), st.integers(0, 8), st.sampled_from([None, -1]))
def test_unique_size(x, size, fill):
    vals, idx, inv, counts = fnp.unique(x, True, True, True, size=size, fill_value=fill)
    wv, wi, winv, wc = np.unique(x, True, True, True)
    k = min(size, wv.size)
    check(np.asarray(vals)[:k], wv[:k], I32)
    check(np.asarray(idx)[:k], wi[:k], INDEX)
    check(np.asarray(counts)[:k], wc[:k], INDEX)
    check(inv, winv, INDEX)
    if size > wv.size:
        pad = wv[0] if fill is None and wv.size else (fill if fill is not None else 0)
        assert np.all(np.asarray(vals)[wv.size:] == pad)
        assert np.all(np.asarray(counts)[wv.size:] == 0)
    traced = ft.vmap(lambda v: fnp.unique(v, size=size, fill_value=fill))(x[None])
    np.testing.assert_array_equal(np.asarray(traced)[0], np.asarray(vals))


@given(arrays((I32,), VECTORS, bound=5), arrays((I32,), VECTORS, bound=5))
def test_set_functions(a, b):
    check(fnp.isin(a, b), np.isin(a, b), BOOL)
    check(fnp.isin(a, b, invert=True), np.isin(a, b, invert=True), BOOL)
    check(fnp.union1d(a, b), np.union1d(a, b), I32)
    check(fnp.setdiff1d(a, b), np.setdiff1d(a, b), I32)
    check(fnp.setxor1d(a, b), np.setxor1d(a, b), I32)
    got, want = fnp.intersect1d(a, b, return_indices=True), np.intersect1d(
        a, b, return_indices=True)
    for g, w in zip(got, want, strict=True):
        check(g, w)
    n = 6
    padded = np.asarray(fnp.setdiff1d(a, b, size=n))
    w = np.setdiff1d(a, b)[:n]
    np.testing.assert_array_equal(padded[:w.size], w)
    assert np.all(padded[w.size:] == 0)


@st.composite
def quantile_case(draw: st.DrawFn):
    x = draw(arrays((F32, F64, I32), NONEMPTY, bound=50.0))
    axis = axis_of(draw, x.ndim)
    # Multiples of 1/8 are exact in every dtype, so float32 positions round like NumPy's
    # float64 ones.
    eighths = st.integers(0, 8).map(lambda k: k / 8)
    q = draw(st.one_of(eighths, hnp.arrays(F64, draw(st.sampled_from([(), (3,), (2, 2)])),
                                           elements=eighths)))
    method = draw(st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest"]))
    return x, axis, q, method, draw(st.booleans())


@given(quantile_case())
def test_quantile_percentile_median(case):
    x, axis, q, method, keepdims = case
    qd = np.asarray(q).dtype if isinstance(q, np.ndarray) else None
    d = inexact(np.result_type(x.dtype, qd) if qd is not None and x.dtype.kind == "f"
                else x.dtype) if qd is None or x.dtype.kind == "f" else F64
    tol = TOL[d] * 100
    check(fnp.quantile(x, q, axis, method=method, keepdims=keepdims),
          np.quantile(as64(x), q, axis, method=method, keepdims=keepdims), d, tol, "quantile")
    check(fnp.percentile(x, np.asarray(q) * 100, axis, method=method, keepdims=keepdims),
          np.percentile(as64(x), np.asarray(q) * 100, axis, method=method, keepdims=keepdims),
          None, tol * 100, "percentile")
    check(fnp.median(x, axis, keepdims=keepdims), np.median(as64(x), axis, keepdims=keepdims),
          inexact(x.dtype), TOL[inexact(x.dtype)] * 100, "median")


@given(quantile_case(), st.data())
def test_nan_quantiles(case, data):
    x, axis, q, method, keepdims = case
    if x.dtype.kind != "f":
        x = x.astype(F64)
    x = np.where(data.draw(hnp.arrays(BOOL, x.shape)), np.nan, x).astype(x.dtype)
    got = fnp.nanquantile(x, q, axis, method=method, keepdims=keepdims)
    # NumPy misplaces the q dimensions for a 2-d q with a tuple axis; ask it for a flat q.
    qa = np.asarray(q)
    want = np.nanquantile(as64(x), qa.ravel(), axis, method=method, keepdims=keepdims)
    want = want.reshape(qa.shape + want.shape[1:])
    check(got, want, None, TOL[x.dtype] * 100, "nanquantile")
    check(fnp.nanmedian(x, axis, keepdims=keepdims),
          np.nanmedian(as64(x), axis, keepdims=keepdims), x.dtype, TOL[x.dtype] * 100)
    check(fnp.nanpercentile(x, 50, axis), np.nanpercentile(as64(x), 50, axis), x.dtype,
          TOL[x.dtype] * 100)
    # Without nan-awareness a NaN poisons its slice.
    check(fnp.quantile(x, q, axis, method=method),
          np.quantile(as64(x), q, axis, method=method), None, TOL[x.dtype] * 100)


@given(hnp.arrays(I32, VECTORS, elements=st.integers(0, 7)), st.integers(0, 10), st.booleans())
def test_bincount(x, minlength, weighted):
    w = np.linspace(0.5, 2, x.size).astype(F32) if weighted else None
    want = np.bincount(x, w, minlength)
    check(fnp.bincount(x, w, minlength), want, F32 if weighted else INDEX)
    length = max(want.size, 1) + 2
    traced = ft.vmap(lambda v: fnp.bincount(v, length=length))(x[None])
    check(np.asarray(traced)[0], np.bincount(x, minlength=length), INDEX)


@given(arrays((F64,), VECTORS, bound=10), st.sampled_from([1, 3, 10]), st.booleans(),
       st.booleans(), st.booleans())
def test_histogram(x, bins, use_range, weighted, density):
    assume(x.size or use_range)
    kw = {"range": (-5.0, 7.0)} if use_range else {}
    w = np.abs(x) + 0.5 if weighted else None
    counts, edges = fnp.histogram(x, bins, weights=w, density=density, **kw)
    wc, we = np.histogram(x, bins, weights=w, density=density, **kw)
    check(edges, we, F64)
    check(counts, wc, F64)
    edges_arr = np.array([-3.0, 0.0, 0.5, 8.0])
    check(fnp.histogram(x, edges_arr)[0], np.histogram(x, edges_arr)[0], F64)
    check(fnp.histogram_bin_edges(x, bins, **kw), np.histogram_bin_edges(x, bins, **kw), F64)


@given(hnp.arrays(F64, st.tuples(st.integers(1, 8), st.just(2)),
                  elements=st.floats(-5, 5, allow_subnormal=False)),
       st.sampled_from([2, 3, (2, 4)]), st.booleans())
def test_histogram2d_dd(pts, bins, density):
    got = fnp.histogram2d(pts[:, 0], pts[:, 1], bins, density=density)
    want = np.histogram2d(pts[:, 0], pts[:, 1], bins, density=density)
    for g, w in zip(got, want, strict=True):
        check(g, w)
    counts, edges = fnp.histogramdd(pts, bins if isinstance(bins, int) else list(bins))
    wcounts, wedges = np.histogramdd(pts, bins if isinstance(bins, int) else list(bins))
    check(counts, wcounts, INDEX)  # JAX's dtype for unweighted counts
    for g, w in zip(edges, wedges, strict=True):
        check(g, w)


# --- _manip -------------------------------------------------------------------------------------


@given(arrays(REALS + (BOOL,)), st.lists(st.integers(0, 3), max_size=4))
def test_tile(x, reps):
    check(fnp.tile(x, reps), np.tile(x, reps), x.dtype)
    check(fnp.tile(x, 2), np.tile(x, 2), x.dtype)


@given(arrays(REALS + (BOOL,)), st.integers(0, 3), st.data())
def test_repeat(x, r, data):
    axis = axis_of(data.draw, x.ndim, allow_tuple=False) if x.ndim else None
    check(fnp.repeat(x, r, axis), np.repeat(x, r, axis), x.dtype)
    n = x.size if axis is None else x.shape[axis]
    reps = data.draw(hnp.arrays(I32, (n,), elements=st.integers(0, 3)))
    want = np.repeat(x, reps, axis)
    check(fnp.repeat(x, reps, axis), want, x.dtype)
    if n:
        total = want.size // max(1, want.size // max(1, reps.sum())) if axis is not None \
            else want.size
        total = int(reps.sum())
        got = ft.vmap(lambda rr: fnp.repeat(x, rr, axis, total_repeat_length=total))(reps[None])
        check(np.asarray(got)[0], want, x.dtype, what="repeat with total_repeat_length")


@given(arrays(REALS), st.data())
def test_roll_rollaxis_rot90(x, data):
    shift = data.draw(st.integers(-7, 7))
    check(fnp.roll(x, shift), np.roll(x, shift), x.dtype)
    if x.ndim:
        axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
        check(fnp.roll(x, shift, axis), np.roll(x, shift, axis), x.dtype)
        traced = ft.vmap(lambda s: fnp.roll(x, s, axis))(np.array([shift], np.int32))
        check(np.asarray(traced)[0], np.roll(x, shift, axis), x.dtype, what="traced shift")
        start = data.draw(st.integers(-x.ndim, x.ndim))
        check(fnp.rollaxis(x, axis, start), np.rollaxis(x, axis, start), x.dtype)
    if x.ndim >= 2:
        k = data.draw(st.integers(-5, 5))
        axes = tuple(data.draw(st.permutations(range(x.ndim)))[:2])
        check(fnp.rot90(x, k, axes), np.rot90(x, k, axes), x.dtype)


PAD_MODES = ["constant", "edge", "linear_ramp", "maximum", "mean", "median", "minimum",
             "reflect", "symmetric", "wrap", "empty"]


@given(arrays((F32, F64, I32, U8), SHAPES, bound=50), st.sampled_from(PAD_MODES), st.data())
def test_pad(x, mode, data):
    widths = [tuple(data.draw(st.integers(0, 5)) for _ in range(2)) for _ in range(x.ndim)] \
        if x.ndim else 2
    kwargs = {}
    lo = 0 if x.dtype.kind == "u" else -3  # NumPy 2 refuses -1 for uint8, and so do we
    if mode == "constant":
        kwargs["constant_values"] = data.draw(st.integers(lo, 3))
    if mode == "linear_ramp":
        kwargs["end_values"] = data.draw(st.integers(lo, 3))
    if mode in ("maximum", "mean", "median", "minimum") and data.draw(st.booleans()):
        kwargs["stat_length"] = data.draw(st.integers(1, 3))
    if mode in ("reflect", "symmetric"):
        kwargs["reflect_type"] = data.draw(st.sampled_from(["even", "odd"]))
    needs_data = mode not in ("constant", "empty")
    if needs_data and x.ndim and any(x.shape[i] == 0 and any(widths[i])
                                     for i in range(x.ndim)):
        raises(ValueError, "can't extend empty axis", fnp.pad, x, widths, mode, **kwargs)
        return
    got = fnp.pad(x, widths, mode, **kwargs)
    want = np.pad(x, widths, mode, **kwargs)
    if mode == "empty":
        want = np.pad(x, widths)  # NumPy leaves garbage; functrans writes zeros
    tol = 1e-5 if mode in ("linear_ramp", "mean") and x.dtype.kind == "f" else None
    check(got, want, x.dtype, tol=tol, what=f"pad {mode} {widths} {kwargs}")


@given(arrays(REALS, NONEMPTY), st.data())
def test_split_family(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    k = data.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    for g, w in zip(fnp.split(x, k, axis), np.split(x, k, axis), strict=True):
        check(g, w, x.dtype)
    k2 = data.draw(st.integers(1, 5))
    for g, w in zip(fnp.array_split(x, k2, axis), np.array_split(x, k2, axis), strict=True):
        check(g, w, x.dtype)
    idx = data.draw(st.lists(st.integers(-6, 6), max_size=3))
    for g, w in zip(fnp.split(x, idx, axis), np.split(x, idx, axis), strict=True):
        check(g, w, x.dtype)
    for name, need in (("hsplit", 1), ("vsplit", 2), ("dsplit", 3)):
        if x.ndim >= need:
            ax = 1 if name == "hsplit" and x.ndim > 1 else (2 if name == "dsplit" else 0)
            if x.shape[ax] % 1 == 0:
                for g, w in zip(getattr(fnp, name)(x, [1]), getattr(np, name)(x, [1]),
                                strict=True):
                    check(g, w, x.dtype)
    for g, w in zip(fnp.unstack(x, axis=axis), np.moveaxis(x, axis, 0), strict=True):
        check(g, w, x.dtype)


@given(arrays(REALS, NONEMPTY), st.data())
def test_delete_insert_append(x, data):
    axis = data.draw(st.sampled_from([None] + list(range(-x.ndim, x.ndim))))
    n = x.size if axis is None else x.shape[axis]
    obj = data.draw(st.one_of(st.integers(-n, n - 1),
                              st.lists(st.integers(-n, n - 1), max_size=3),
                              st.builds(slice, st.integers(0, n), st.integers(0, n))))
    check(fnp.delete(x, obj, axis), np.delete(x, obj, axis), x.dtype)
    mask = data.draw(hnp.arrays(BOOL, (n,)))
    check(fnp.delete(x, mask, axis), np.delete(x, mask, axis), x.dtype)
    where = data.draw(st.one_of(st.integers(-n, n), st.lists(st.integers(-n, n), min_size=2,
                                                              max_size=3)))
    check(fnp.insert(x, where, 7, axis), np.insert(x, where, 7, axis), x.dtype, what="insert")
    check(fnp.append(x, x, axis), np.append(x, x, axis), x.dtype)


@given(arrays(REALS), st.lists(st.integers(0, 4), max_size=3))
def test_resize_trim_zeros(x, shape):
    check(fnp.resize(x, shape), np.resize(x, shape), x.dtype)
    flat = np.concatenate([np.zeros(2, x.dtype), x.ravel(), np.zeros(1, x.dtype)])
    for trim in ("fb", "f", "b"):
        check(fnp.trim_zeros(flat, trim), np.trim_zeros(flat, trim), x.dtype)


@given(st.lists(arrays((F32,), VECTORS), min_size=1, max_size=3), st.booleans(),
       st.sampled_from(["xy", "ij"]))
def test_meshgrid(xs, sparse, indexing):
    for g, w in zip(fnp.meshgrid(*xs, sparse=sparse, indexing=indexing),
                    np.meshgrid(*xs, sparse=sparse, indexing=indexing), strict=True):
        check(g, w, F32)


def test_block():
    a, b = np.ones((2, 2)), np.zeros((2, 3))
    check(fnp.block([[a, b], [b[:, :2], np.ones((2, 3))]]),
          np.block([[a, b], [b[:, :2], np.ones((2, 3))]]), F64)
    check(fnp.block([1, 2, np.array([3, 4])]), np.block([1, 2, np.array([3, 4])]))
    check(fnp.block([[[np.ones((1, 1, 2))]], [[np.zeros((1, 1, 2))]]]),
          np.block([[[np.ones((1, 1, 2))]], [[np.zeros((1, 1, 2))]]]))


@given(st.integers(0, 5), st.integers(-3, 3), st.integers(0, 5))
def test_index_helpers(n, k, m):
    for g, w in zip(fnp.tril_indices(n, k, m), np.tril_indices(n, k, m), strict=True):
        check(g, w, INDEX)
    for g, w in zip(fnp.triu_indices(n, k, m), np.triu_indices(n, k, m), strict=True):
        check(g, w, INDEX)
    a = np.zeros((n, m))
    for g, w in zip(fnp.tril_indices_from(a, k), np.tril_indices_from(a, k), strict=True):
        check(g, w, INDEX)
    for g, w in zip(fnp.triu_indices_from(a, k), np.triu_indices_from(a, k), strict=True):
        check(g, w, INDEX)
    for g, w in zip(fnp.diag_indices(n, 3), np.diag_indices(n, 3), strict=True):
        check(g, w, INDEX)
    for g, w in zip(fnp.diag_indices_from(np.zeros((n, n))),
                    np.diag_indices_from(np.zeros((n, n))), strict=True):
        check(g, w, INDEX)
    for g, w in zip(fnp.mask_indices(n, fnp.triu, k), np.mask_indices(n, np.triu, k),
                    strict=True):
        check(g, w, INDEX)
    v = np.arange(n * 2).reshape(n, 2)
    check(fnp.diagflat(v, k), np.diagflat(v, k))


@given(hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=5), st.booleans(),
       st.integers(1, 3))
def test_fill_diagonal(shape, wrap, nval):
    if len(shape) == 3:
        shape = (shape[0],) * 3
    a = np.zeros(shape, F32)
    val = np.arange(1, nval + 1, dtype=F32)
    want = a.copy()
    np.fill_diagonal(want, val, wrap=wrap)
    check(fnp.fill_diagonal(a, val, wrap=wrap, inplace=False), want, F32)


@given(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3), st.data(),
       st.sampled_from(["raise", "wrap", "clip"]))
def test_choose(shapes, data, mode):
    sa, s1, s2 = shapes.input_shapes
    hi = 1 if mode == "raise" else 4
    a = data.draw(hnp.arrays(I32, sa, elements=st.integers(-2 if mode != "raise" else 0, hi)))
    c1 = data.draw(hnp.arrays(F32, s1, elements=elements(F32)))
    c2 = data.draw(hnp.arrays(I8, s2, elements=elements(I8)))
    check(fnp.choose(a, [c1, c2], mode=mode), np.choose(a, [c1, c2], mode=mode), F32)


@given(arrays((F32, I32), NONEMPTY), st.data())
def test_place_put(x, data):
    mask = data.draw(hnp.arrays(BOOL, x.shape))
    vals = data.draw(hnp.arrays(x.dtype, st.integers(1, 3), elements=elements(x.dtype)))
    want = x.copy()
    np.place(want, mask, vals)
    check(fnp.place(x, mask, vals, inplace=False), want, x.dtype)
    ind = data.draw(hnp.arrays(I32, st.integers(0, 4), elements=st.integers(-x.size,
                                                                             x.size * 2)))
    for mode in ("clip", "wrap"):
        want = x.copy()
        np.put(want, ind, vals, mode=mode)
        check(fnp.put(x, ind, vals, mode=mode, inplace=False), want, x.dtype, what=mode)


@given(arrays(REALS + (C64, BOOL)), st.sampled_from(REALS + (BOOL, C128)))
def test_astype_copy(x, d):
    want = (x.real if x.dtype.kind == "c" and d.kind != "c" else x).astype(d)
    if x.dtype.kind in "fc" and d.kind in "iu":
        return  # out-of-range float -> int casts are implementation-defined
    check(fnp.astype(x, d), want, d)
    check(fnp.copy(x), x, x.dtype)


@given(arrays((BOOL, I32, U8), SHAPES, bound=3), st.sampled_from(["big", "little"]),
       st.data())
def test_packbits_unpackbits(x, order, data):
    axis = axis_of(data.draw, x.ndim, allow_tuple=False)
    check(fnp.packbits(x, axis, order), np.packbits(x, axis, bitorder=order), U8)
    u = x.astype(U8)
    count = data.draw(st.one_of(st.none(), st.integers(-3, 20)))
    # NumPy fills bits past the input with uninitialized memory when count is larger than
    # 8 * size; the oracle pads with zeros instead.
    bits = np.unpackbits(u, axis, None, order)
    ax = 0 if axis is None else axis
    total = bits.shape[ax]
    keep = total if count is None else (count if count >= 0 else max(total + count, 0))
    want = np.take(bits, np.arange(min(keep, total)), axis=ax)
    if keep > total:
        pad = [(0, 0)] * want.ndim
        pad[ax] = (0, keep - total)
        want = np.pad(want, pad)
    check(fnp.unpackbits(u, axis, count, order), want, U8)


def test_functions_along_axes():
    x = np.arange(24.0).reshape(2, 3, 4)
    for axis in range(3):
        check(fnp.apply_along_axis(lambda v: fnp.cumsum(v)[:2] * fnp.sum(v), axis, x),
              np.apply_along_axis(lambda v: np.cumsum(v)[:2] * np.sum(v), axis, x))
    check(fnp.apply_over_axes(fnp.sum, x, [0, 2]), np.apply_over_axes(np.sum, x, [0, 2]))
    vdot = fnp.vectorize(lambda a, b: fnp.sum(a * b), signature="(n),(n)->()")
    check(vdot(x, np.arange(4.0)), x @ np.arange(4.0))
    scalar_fn = fnp.vectorize(lambda a, b: fnp.where(a > b, a, b * 2))
    check(scalar_fn(x[0], np.arange(4.0)), np.where(x[0] > np.arange(4.0), x[0],
                                                    np.arange(4.0) * 2))
    exc = fnp.vectorize(lambda a, k: a[k], excluded={1}, signature="(n)->()")
    check(exc(x, 2), x[..., 2])
    check(fnp.fromfunction(lambda i, j: i * 10 + j, (3, 4), dtype=int),
          np.fromfunction(lambda i, j: i * 10 + j, (3, 4), dtype=int), I32)
    xs = np.linspace(-2, 2, 9)
    cond = [xs < 0, xs > 1]
    check(fnp.piecewise(xs, cond, [lambda v: -v, lambda v: v * v, 0.5]),
          np.piecewise(xs, cond, [lambda v: -v, lambda v: v * v, 0.5]))
    u = fnp.frompyfunc(lambda a, b: a * b + 1, 2, 1, identity=0)
    assert isinstance(u, fnp.ufunc) and (u.nin, u.nout, u.identity) == (2, 1, 0)
    nu = np.frompyfunc(lambda a, b: a * b + 1, 2, 1, identity=0)
    v = np.arange(1.0, 5.0)
    check(u(v, 2.0), nu(v, 2.0).astype(F64))
    check(u.reduce(v), float(nu.reduce(v)))
    check(u.accumulate(v), nu.accumulate(v).astype(F64))
    check(u.outer(v[:2], v[:3]), nu.outer(v[:2], v[:3]).astype(F64))
    check(u.reduceat(v, [0, 2]), nu.reduceat(v, [0, 2]).astype(F64))
    w = v.copy()
    nu.at(w, [0, 0, 2], 3.0)
    check(u.at(v, np.array([0, 0, 2]), 3.0, inplace=False), w)


def test_io_and_printing(tmp_path):
    x = np.arange(6, dtype=F32)
    check(fnp.frombuffer(x.tobytes(), F32), x, F32)
    check(fnp.fromstring("1 2 3", dtype=F32, sep=" "), [1, 2, 3], F32)
    check(fnp.fromiter(iter(range(4)), F64), np.arange(4.0), F64)
    check(fnp.from_dlpack(x), x, F32)
    buf = io.BytesIO()
    fnp.save(buf, fnp.asarray(x))
    buf.seek(0)
    check(fnp.load(buf), x, F32)
    path = tmp_path / "arrays.npz"
    fnp.savez(path, a=fnp.asarray(x))
    assert np.array_equal(np.load(path)["a"], x)
    assert fnp.array_str(x) == np.array_str(x)
    assert "Array(" in fnp.array_repr(fnp.asarray(x))
    assert fnp.iterable([1]) and not fnp.iterable(1)
    with fnp.printoptions(precision=2):
        assert fnp.get_printoptions()["precision"] == 2
    old = fnp.get_printoptions()["precision"]
    fnp.set_printoptions(precision=3)
    assert fnp.get_printoptions()["precision"] == 3
    fnp.set_printoptions(precision=old)
    raw = tmp_path / "raw.bin"
    x.tofile(raw)
    check(fnp.fromfile(raw, dtype=F32), x, F32)


# --- _numeric -----------------------------------------------------------------------------------


@given(arrays(REALS + (BOOL, C64), NONEMPTY, bound=50), st.integers(0, 3), st.data())
def test_diff_ediff1d(x, n, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    if x.dtype.kind == "b" and n > 0:
        check(fnp.diff(x, n, axis), np.diff(x, n, axis), BOOL)
        return
    check(fnp.diff(x, n, axis), np.diff(as64(x), n, axis), x.dtype, what="diff")
    if x.dtype.kind != "b":
        check(fnp.diff(x, 1, axis, prepend=1, append=x.take([0], axis)),
              np.diff(as64(x), 1, axis, prepend=1, append=as64(x).take([0], axis)), x.dtype)
    ends, begin = np.array([1, 2]).astype(x.dtype), np.array(3).astype(x.dtype)
    if x.dtype.kind == "b":  # NumPy's ediff1d subtracts booleans and fails; JAX uses diff
        check(fnp.ediff1d(x), np.diff(x.ravel()), BOOL)
        return
    check(fnp.ediff1d(x, to_end=ends, to_begin=begin),
          np.ediff1d(x, to_end=ends, to_begin=begin), x.dtype, what="ediff1d")


@given(arrays((F32, F64, I32), hnp.array_shapes(min_dims=1, max_dims=3, min_side=3,
                                                 max_side=5), bound=10),
       st.sampled_from([1, 2]), st.booleans(), st.data())
def test_gradient(f, edge_order, coords, data):
    d = inexact(f.dtype)
    axis = data.draw(st.integers(0, f.ndim - 1))
    if coords:
        steps = data.draw(hnp.arrays(F64, (f.shape[axis],), elements=st.floats(0.5, 2)))
        h = np.cumsum(steps).astype(d)
    else:
        h = data.draw(st.floats(0.5, 2))
    got = fnp.gradient(f, h, axis=axis, edge_order=edge_order)
    want = np.gradient(as64(f).astype(d), np.asarray(h, np.float64) if coords else h,
                       axis=axis, edge_order=edge_order)
    check(got, want, d, TOL[d] * 1000)
    all_axes = fnp.gradient(f)
    want_all = np.gradient(as64(f))
    for g, w in zip(all_axes if f.ndim > 1 else [all_axes],
                    want_all if f.ndim > 1 else [want_all], strict=True):
        check(g, w, d, TOL[d] * 1000)


@given(arrays((F32, F64, I32), NONEMPTY, bound=10), st.booleans(), st.data())
def test_trapezoid(y, use_x, data):
    axis = data.draw(st.integers(-y.ndim, y.ndim - 1))
    d = inexact(y.dtype)
    if use_x:
        x = np.cumsum(data.draw(hnp.arrays(F64, (y.shape[axis],), elements=st.floats(0, 2))))
        check(fnp.trapezoid(y, x.astype(d), axis=axis), np.trapezoid(as64(y), x.astype(d),
                                                                      axis=axis),
              d, TOL[d] * 100)
    else:
        check(fnp.trapezoid(y, dx=0.5, axis=axis), np.trapezoid(as64(y), dx=0.5, axis=axis),
              d, TOL[d] * 100)


@given(arrays((F64, F32, I32), NONEMPTY, bound=20), st.sampled_from([None, 2.0, 4.0]),
       st.sampled_from([2 * np.pi, 5.0]))
def test_unwrap(p, discont, period):
    d = inexact(p.dtype)
    check(fnp.unwrap(p, discont, period=period),
          np.unwrap(as64(p).astype(d), discont, period=period), d, TOL[d] * 100)


@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
       st.sampled_from([(3, 3), (2, 3), (3, 2), (2, 2)]), st.sampled_from((F32, F64, I32)),
       st.data())
def test_cross(shapes, dims, d, data):
    a = data.draw(hnp.arrays(d, shapes.input_shapes[0] + (dims[0],), elements=elements(d, 10)))
    b = data.draw(hnp.arrays(d, shapes.input_shapes[1] + (dims[1],), elements=elements(d, 10)))
    check(fnp.cross(a, b), np.cross(as64(a), as64(b)), d, TOL.get(d, 0) * 100)
    if dims == (3, 3) and a.ndim > 1:
        check(fnp.cross(np.moveaxis(a, -1, 0), b, axisa=0),
              np.cross(np.moveaxis(as64(a), -1, 0), as64(b), axisa=0), d, TOL.get(d, 0) * 100)


@given(arrays(REALS), arrays(REALS))
def test_kron(a, b):
    d = fnp.result_type(a, b)
    check(fnp.kron(a, b), np.kron(as64(a), as64(b)), d)


@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
       st.integers(1, 3), st.integers(1, 3), st.data())
def test_matvec_vecmat(shapes, m, n, data):
    a = data.draw(hnp.arrays(F64, shapes.input_shapes[0] + (m, n), elements=elements(F64)))
    v = data.draw(hnp.arrays(C128, shapes.input_shapes[1] + (n,), elements=elements(C128)))
    check(fnp.matvec(a, v), np.matvec(a, v), C128)
    w = data.draw(hnp.arrays(C128, shapes.input_shapes[1] + (m,), elements=elements(C128)))
    check(fnp.vecmat(w, a), np.vecmat(w, a), C128)


@given(arrays((F32, F64, I32, C64), hnp.array_shapes(min_dims=1, max_dims=1, min_side=1,
                                                      max_side=7), bound=10),
       arrays((F32, F64, I32, BOOL), hnp.array_shapes(min_dims=1, max_dims=1, min_side=1,
                                                       max_side=7), bound=10),
       st.sampled_from(["full", "same", "valid"]))
def test_convolve_correlate(a, v, mode):
    d = inexact(fnp.result_type(a, v))
    # JAX computes integer and boolean convolutions in floating point.
    check(fnp.convolve(a, v, mode), np.convolve(as64(a), as64(v), mode), d, TOL[d] * 100)
    check(fnp.correlate(a, v, mode), np.correlate(as64(a), as64(v), mode), d, TOL[d] * 100)


def test_convolve_correlate_all_small_sizes():
    # 'same' is centred differently by convolve and correlate when v is longer: try every
    # pair of lengths.
    r = np.random.default_rng(0)
    for n in range(1, 7):
        for m in range(1, 7):
            a, v = r.normal(size=n), r.normal(size=m) + 1j * r.normal(size=m)
            for mode in ("full", "same", "valid"):
                check(fnp.convolve(a, v, mode), np.convolve(a, v, mode), C128, 1e-12,
                      f"convolve {n} {m} {mode}")
                check(fnp.correlate(a, v, mode), np.correlate(a, v, mode), C128, 1e-12,
                      f"correlate {n} {m} {mode}")


@given(arrays((F64, F32), SHAPES, bound=5), arrays((F64,), hnp.array_shapes(
    min_dims=1, max_dims=1, min_side=1, max_side=6), bound=4), st.booleans(), st.data())
def test_interp(x, xp, complex_fp, data):
    xp = np.unique(xp)
    fp = data.draw(hnp.arrays(F64, xp.shape, elements=elements(F64, 10)))
    if complex_fp:
        fp = fp + 1j * fp[::-1]
    x = np.concatenate([x.ravel(), xp]).astype(x.dtype)  # sample points are exact
    d = np.result_type(inexact(x.dtype), xp.dtype, fp.dtype)
    check(fnp.interp(x, xp, fp), np.interp(x, xp, fp), d, 1e-9)
    check(fnp.interp(x, xp, fp, left=-1, right=2), np.interp(x, xp, fp, left=-1, right=2), d,
          1e-9)
    wrapped = np.mod(xp, 3.0)
    if not complex_fp and xp.size > 1 and np.unique(wrapped).size == xp.size and np.all(
            wrapped < 3.0):
        # (With two sample points equal modulo the period, NumPy's unstable sort decides.)
        check(fnp.interp(x, xp, fp, period=3.0), np.interp(x, xp, fp, period=3.0), d, 1e-9)


@given(arrays((F64, I32), hnp.array_shapes(min_dims=1, max_dims=1, min_side=1, max_side=5),
              bound=5),
       arrays((F64, I32), hnp.array_shapes(min_dims=1, max_dims=1, min_side=1, max_side=4),
              bound=5),
       arrays((F64, I32), SHAPES, bound=3), st.integers(0, 3))
def test_polynomials(p, q, x, m):
    d = fnp.result_type(p, x)
    check(fnp.polyval(p, x), np.polyval(as64(p), as64(x)), d, 1e-9)  # JAX keeps int dtypes
    check(fnp.polyadd(p, q), np.polyadd(as64(p), as64(q)), fnp.result_type(p, q))
    check(fnp.polysub(p, q), np.polysub(as64(p), as64(q)), fnp.result_type(p, q))
    fd = inexact(fnp.result_type(p, q))
    # NumPy's polymul trims leading zeros (through poly1d); JAX's keeps the full length.
    check(fnp.polymul(p, q), np.convolve(as64(p), as64(q)), fd, 1e-9)
    pd = inexact(p.dtype)
    check(fnp.polyder(p, m), np.polyder(as64(p), m), pd)
    check(fnp.polyint(p, m), np.polyint(as64(p), m), pd, TOL[pd] * 10)
    check(fnp.polyint(p, 2, [1.5, -2]), np.polyint(as64(p), 2, [1.5, -2]), pd, TOL[pd] * 10)
    check(fnp.poly(p), np.poly(as64(p)), pd, max(TOL[pd] * 100, 1e-6))
    if abs(q[0]) > 0.5:
        quot, rem = fnp.polydiv(p, q)
        wq, wr = np.polydiv(as64(p), as64(q))
        check(quot, wq if len(p) >= len(q) else np.zeros(1), fd, TOL[fd] * 100)
        np.testing.assert_allclose(np.asarray(rem)[len(rem) - len(wr):], wr,
                                   atol=TOL[fd] * 1000)
    check(fnp.vander(p, 4), np.vander(as64(p), 4), p.dtype, 1e-9)
    check(fnp.vander(p, increasing=True), np.vander(as64(p), increasing=True), p.dtype, 1e-9)


@given(hnp.arrays(F64, st.integers(4, 10), elements=st.floats(-3, 3)), st.integers(0, 3),
       st.booleans())
def test_polyfit(x, deg, weighted):
    assume(len(np.unique(np.round(x, 3))) > deg + 1)
    y = 1.0 - 2.0 * x + 0.5 * x ** 2
    w = np.linspace(0.5, 1.5, x.size) if weighted else None
    check(fnp.polyfit(x, y, deg, w=w), np.polyfit(x, y, deg, w=w), F64, 1e-6)
    check(fnp.polyfit(x, np.stack([y, -y], 1), deg), np.polyfit(x, np.stack([y, -y], 1), deg),
          F64, 1e-6)


@given(arrays((F32, F64, I32), NONEMPTY, bound=10), st.booleans(), st.booleans(), st.data())
def test_average(a, weighted, returned, data):
    d = inexact(a.dtype)
    axis = axis_of(data.draw, a.ndim, allow_tuple=False)
    w = None
    if weighted:
        shape = a.shape if axis is None or data.draw(st.booleans()) else (a.shape[axis],)
        w = data.draw(hnp.arrays(F32, shape, elements=st.floats(0.5, 2, width=32)))
    got = fnp.average(a, axis, w, returned)
    want = np.average(as64(a), axis, w, returned)
    for g, wv in zip(got if returned else [got], want if returned else [want], strict=True):
        check(g, wv, d, TOL[d] * 100)


@given(hnp.arrays(F64, st.tuples(st.integers(1, 3), st.integers(2, 6)),
                  elements=st.floats(-5, 5)),
       st.booleans(), st.booleans(), st.booleans())
def test_cov_corrcoef(m, rowvar, bias, weighted):
    x = m if rowvar else m.T
    fw = np.arange(1, m.shape[1] + 1) if weighted else None
    aw = np.linspace(0.5, 1, m.shape[1]) if weighted else None
    check(fnp.cov(x, rowvar=rowvar, bias=bias, fweights=fw, aweights=aw),
          np.cov(x, rowvar=rowvar, bias=bias, fweights=fw, aweights=aw), F64, 1e-9)
    check(fnp.cov(m[0], m[-1]), np.cov(m[0], m[-1]), F64, 1e-9)
    if np.all(np.std(m, axis=1) > 1e-3):
        check(fnp.corrcoef(x, rowvar=rowvar), np.corrcoef(x, rowvar=rowvar), F64, 1e-9)
    check(fnp.cov(m.astype(np.int32)), np.cov(m.astype(np.int32)), F32, 1e-4)


@pytest.mark.parametrize("n", [0, 1, 2, 7])
def test_windows(n):
    for name in ("bartlett", "blackman", "hamming", "hanning"):
        check(getattr(fnp, name)(n), getattr(np, name)(n), F32, what=name)
    check(fnp.kaiser(n, 3.5), np.kaiser(n, 3.5), F32)
    traced = ft.vmap(lambda b: fnp.kaiser(n, b))(np.array([3.5], F32))
    check(np.asarray(traced)[0], np.kaiser(n, 3.5), F32, 1e-5)


# --- einsum -------------------------------------------------------------------------------------


@st.composite
def einsum_case(draw: st.DrawFn):
    """Random subscripts: up to 4 operands over labels a..f, repeated labels, implicit or
    explicit outputs, an optional ellipsis, and sizes with size-1 broadcasting."""
    labels = "abcdef"
    sizes = {c: draw(st.integers(1, 4)) for c in labels}
    n_ops = draw(st.integers(1, 4))
    use_ell = draw(st.booleans())
    ell_shape = tuple(draw(st.lists(st.integers(1, 3), max_size=2))) if use_ell else ()
    terms, shapes = [], []
    for _ in range(n_ops):
        term = draw(st.lists(st.sampled_from(labels), max_size=3))
        shape = [sizes[c] for c in term]
        # Size-1 broadcasting of non-repeated labels.
        for i, c in enumerate(term):
            if term.count(c) == 1 and draw(st.integers(0, 5)) == 0:
                shape[i] = 1
        text = "".join(term)
        if use_ell and draw(st.booleans()):
            k = draw(st.integers(0, len(ell_shape)))
            pos = draw(st.integers(0, len(term)))
            text = text[:pos] + "..." + text[pos:]
            shape = shape[:pos] + list(ell_shape[len(ell_shape) - k:]) + shape[pos:]
        terms.append(text)
        shapes.append(tuple(shape))
    used = sorted({c for t in terms for c in t if c != "."})
    if draw(st.booleans()):
        out = "".join(draw(st.permutations(used))[:draw(st.integers(0, len(used)))])
        if any("..." in t for t in terms):
            out = "..." + out
        expr = ",".join(terms) + "->" + out
    else:
        expr = ",".join(terms)
    dtype = draw(st.sampled_from([F32, F64, I32, C64]))
    ops = [draw(hnp.arrays(dtype, s, elements=elements(dtype, 3))) for s in shapes]
    return expr, ops


@given(einsum_case(), st.sampled_from(["auto", "greedy", "optimal", False]))
def test_einsum_matches_numpy(case, optimize):
    expr, ops = case
    try:
        want = np.einsum(expr, *[as64(o) for o in ops])
    except ValueError:
        with pytest.raises((ValueError, ShapeError)):
            fnp.einsum(expr, *ops, optimize=optimize)
        return
    d = ops[0].dtype
    check(fnp.einsum(expr, *ops, optimize=optimize), want, d, TOL.get(d, 0) * 100, expr)


@given(einsum_case())
def test_einsum_path_is_valid(case):
    expr, ops = case
    try:
        np.einsum(expr, *ops)
    except ValueError:
        return
    path, report = fnp.einsum_path(expr, *ops)
    assert path[0] == "einsum_path" and len(path) == len(ops)  # one step per pair
    assert "Optimized FLOP count" in report
    check(fnp.einsum(expr, *ops, optimize=path), np.einsum(expr, *[as64(o) for o in ops]),
          ops[0].dtype, TOL.get(ops[0].dtype, 0) * 100)


def _path_flops(expr, shapes, optimize):
    from functrans.numpy._einsum import path_flops
    return path_flops(expr, *[np.ones(s) for s in shapes], optimize=optimize)


def test_einsum_order_beats_left_to_right():
    # A chain with mismatched sizes: (ij,jk) first makes a 100x100 intermediate; (jk,kl) first
    # keeps everything tiny.
    shapes = [(100, 2), (2, 100), (100, 2)]
    naive = _path_flops("ij,jk,kl->il", shapes, False)
    greedy = _path_flops("ij,jk,kl->il", shapes, "greedy")
    optimal = _path_flops("ij,jk,kl->il", shapes, "optimal")
    assert naive == 2 * 100 * 2 * 100 * 2  # 2 FLOPs per multiply-add, (i, j, k) then (i, k, l)
    assert greedy == optimal == 1600 and greedy * 50 == naive
    path, _ = fnp.einsum_path("ij,jk,kl->il", *[np.ones(s) for s in shapes])
    assert path == ["einsum_path", (1, 2), (0, 1)]  # NumPy's greedy path as well
    shapes = [(2, 50), (50, 3), (3, 40), (40, 2), (2, 60)]
    expr = "ab,bc,cd,de,ef->af"
    assert _path_flops(expr, shapes, "optimal") <= _path_flops(expr, shapes, "greedy") \
        <= _path_flops(expr, shapes, False)


def test_einsum_interleaved_and_options():
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    check(fnp.einsum(a, [0, 1], b, [1, 2], [0, 2]), a @ b, F64)
    check(fnp.einsum(a, [Ellipsis, 1], b, [1, 2]), a @ b, F64)
    i8 = np.ones((2, 3), np.int8)
    check(fnp.einsum("ij,jk", i8, i8.T, preferred_element_type=np.int32), np.full((2, 2), 3),
          I32)
    check(fnp.einsum("ij,jk", a > 2, b > 5), np.einsum("ij,jk", a > 2, b > 5), BOOL)
    check(fnp.einsum("i,i->", a[0], a[1], precision="highest"), a[0] @ a[1], F64)
    check(fnp.einsum(",i->i", 2.0, np.ones(3, F32)), np.full(3, 2.0), F32)


# --- errors -------------------------------------------------------------------------------------


def test_error_messages():
    x = np.ones((2, 3), F32)
    raises(ValueError, r"functrans.numpy.einsum: subscripts 'ij,jk' name 2 operand\(s\) but 1",
           fnp.einsum, "ij,jk", x)
    raises(ShapeError, r"einsum: size of label 'j' for operand 1 \(4\) does not match "
                       r"previous terms \(3\)", fnp.einsum, "ij,jk", x, np.ones((4, 2)))
    raises(ValueError, r"einsum: output subscript 'k' does not appear", fnp.einsum,
           "ij->k", x)
    raises(ValueError, r"einsum: operand of shape \(2, 3\) \(rank 2\) does not match "
                       r"subscript 'i'", fnp.einsum, "i", x)
    raises(ValueError, "optimize='optimal' searches exhaustively", fnp.einsum,
           ",".join("a" * 9), *[np.ones(2)] * 9, optimize="optimal")
    raises(ValueError, r"functrans.numpy.split: array split does not result in an equal "
                       r"division: axis of size 3 into 2", fnp.split, x, 2, 1)
    raises(ValueError, r"functrans.numpy.pad: mode 'bogus' is not supported", fnp.pad, x, 1,
           "bogus")
    raises(ValueError, r"functrans.numpy.pad: unsupported keyword arguments for mode 'edge'",
           fnp.pad, x, 1, "edge", constant_values=3)
    raises(ValueError, r"pad_width of shape \(3, 2\) cannot be broadcast to \(2, 2\)",
           fnp.pad, x, [(1, 1)] * 3)
    raises(DtypeError, r"functrans.numpy.gcd: arguments must be integers, got float32",
           fnp.gcd, x, 2)
    raises(DtypeError, r"functrans.numpy.ldexp: x2 must be an integer array, got float32",
           fnp.ldexp, x, x)
    raises(DtypeError, r"functrans.numpy.frexp: not defined for complex inputs", fnp.frexp,
           np.ones(2, C64))
    raises(ValueError, r"functrans.numpy.searchsorted: a must be 1-d, got shape \(2, 3\)",
           fnp.searchsorted, x, 1.0)
    raises(ValueError, r"quantile: Quantiles must be in the range \[0, 1\]", fnp.quantile, x,
           1.5)
    raises(ValueError, r"percentile: Percentiles must be in the range \[0, 100\]",
           fnp.percentile, x, 150)
    raises(ValueError, r"quantile: method must be one of linear, lower, higher, midpoint, "
                       r"nearest, got 'inverted_cdf'", fnp.quantile, x, 0.5,
           method="inverted_cdf")
    raises(DtypeError, r"functrans.numpy.bincount: x must be integers, got float32",
           fnp.bincount, x)
    raises(ValueError, r"functrans.numpy.partition: kth\(=5\) out of bounds for an axis of "
                       r"size 3", fnp.partition, x, 5)
    raises(ValueError, r"functrans.numpy.convolve: only 1-d inputs are supported, got shapes "
                       r"\(2, 3\) and \(3,\)", fnp.convolve, x, np.ones(3))
    raises(ValueError, r"functrans.numpy.convolve: inputs cannot be empty", fnp.convolve,
           np.ones(0), np.ones(3))
    raises(ValueError, r"functrans.numpy.cross: incompatible dimensions for cross product "
                       r"\(dimension must be 2 or 3\), got 4 and 3", fnp.cross, np.ones(4),
           np.ones(3))
    raises(ValueError, r"functrans.numpy.interp: fp and xp are not of the same length: 2 and "
                       r"3", fnp.interp, 1.0, np.arange(3.0), np.ones(2))
    raises(ValueError, r"functrans.numpy.gradient: shape of the array along axis 0 \(2\) is "
                       r"too small", fnp.gradient, np.ones(2), edge_order=2)
    raises(ValueError, r"functrans.numpy.fill_diagonal: arrays are immutable", 
           fnp.fill_diagonal, x, 1)
    raises(ValueError, r"functrans.numpy.put: arrays are immutable", fnp.put, x, [0], 1)
    raises(ValueError, r"functrans.numpy.choose: invalid entry in choice array", fnp.choose,
           np.array([0, 3]), [np.ones(2), np.zeros(2)])
    raises(IndexError, r"functrans.numpy.insert: index 9 is out of bounds for axis 1 with "
                       r"size 3", fnp.insert, x, 9, 1.0, axis=1)
    raises(IndexError, r"functrans.numpy.delete: index 7 is out of bounds", fnp.delete, x, 7,
           axis=1)
    raises(DtypeError, r"functrans.numpy.unpackbits: expected an input array of unsigned "
                       r"byte data type \(uint8\), got int32", fnp.unpackbits,
           np.ones(2, np.int32))
    raises(ValueError, r"functrans.numpy.vsplit: vsplit only works on arrays of 2 or more "
                       r"dimensions, got shape \(3,\)", fnp.vsplit, np.ones(3), 1)
    raises(ValueError, r"functrans.numpy.tile: negative repetitions are not allowed",
           fnp.tile, x, -1)
    raises(ValueError, r"functrans.numpy.repeat: repeats may not contain negative values",
           fnp.repeat, x, -1)


def test_traced_errors_name_the_fix():
    raises(ConcretizationTypeError, r"unique: the number of results depends on the values.*"
                                    r"pass size=N", ft.vmap(fnp.unique), np.ones((2, 3)))
    raises(ConcretizationTypeError, r"bincount: the result length is max\(x\) \+ 1.*"
                                    r"pass length=N", ft.vmap(fnp.bincount),
           np.ones((2, 3), np.int32))
    raises(ConcretizationTypeError, r"repeat: a traced `repeats` array needs "
                                    r"total_repeat_length=",
           ft.vmap(lambda r: fnp.repeat(np.ones(3), r)), np.ones((2, 3), np.int32))
    raises(ConcretizationTypeError, r"delete: a traced obj needs assume_unique_indices=True",
           ft.vmap(lambda o: fnp.delete(np.ones(3), o)), np.ones((2, 1), np.int32))
    raises(ConcretizationTypeError, r"insert: obj must be concrete",
           ft.vmap(lambda o: fnp.insert(np.ones(3), o, 1.0)), np.ones((2,), np.int32))


# --- transformations through the composites -----------------------------------------------------


def test_grad_and_vmap_through_composites():
    r = np.random.default_rng(0)
    x = r.normal(size=(3, 4))
    # vmap of einsum equals the batched einsum.
    b = r.normal(size=(4, 5))
    check(ft.vmap(lambda v: fnp.einsum("j,jk->k", v, b))(x), x @ b, F64)
    check(ft.vmap(lambda v: fnp.einsum("ij,jk", v, b), in_axes=1)(np.stack([x, x], 1)),
          np.stack([x @ b] * 2), F64)
    # Gradients by finite differences.
    from functrans.testing import check_grads
    check_grads(lambda v: fnp.sum(fnp.sort(v, axis=1)[:, 1:] ** 2), (x,), order=1)
    check_grads(lambda v: fnp.quantile(v, 0.3, axis=1), (x,), order=1)
    check_grads(lambda v: fnp.sum(fnp.einsum("ij,jk,kl->il", v, b, b.T)), (x,), order=2)
    check_grads(lambda v: fnp.sum(fnp.pad(v, ((1, 2), (2, 1)), "reflect") ** 2), (x,), order=1)
    check_grads(lambda v: fnp.sum(fnp.convolve(v[0], v[1]) ** 2), (x,), order=1)
    check_grads(lambda v: fnp.sum(fnp.interp(np.linspace(-1, 3, 7), np.arange(4.0), v[0])),
                (x,), order=1)
    check_grads(lambda v: fnp.nansum(fnp.gradient(v, axis=1) ** 2), (x,), order=1)
    check_grads(lambda v: fnp.sum(fnp.cov(v)), (x,), order=1)
    check_grads(lambda v: fnp.sum(fnp.kron(v, v[:2, :2])), (x,), order=1)
    check_grads(lambda v: fnp.sum(fnp.roll(fnp.tile(v, (2, 1)), 3, 0) * np.arange(4.0)),
                (x,), order=1)
    check_grads(lambda v: fnp.sum(fnp.sinc(v) + fnp.i0(v)), (x,), order=2)
    # ldexp/frexp have exact derivatives; sinc's second derivative at 0 is -pi^2/3.
    assert float(ft.grad(lambda v: fnp.ldexp(v, np.int32(3)))(1.5)) == 8.0
    assert float(ft.grad(lambda v: fnp.frexp(v)[0])(3.0)) == 0.25
    np.testing.assert_allclose(float(ft.grad(ft.grad(fnp.sinc))(0.0)), -np.pi ** 2 / 3,
                               rtol=1e-6)
    # vmap of data-dependent functions with their static-size forms.
    check(ft.vmap(lambda v: fnp.searchsorted(np.arange(4.0), v))(x),
          np.searchsorted(np.arange(4.0), x), INDEX)
    got = ft.vmap(lambda v: fnp.median(v))(x)
    check(got, np.median(x, axis=1), F64)


def test_partial_broadcast_dtype_rules():
    """Spot checks of the promotion table in the module docstring."""
    assert fnp.sinc(np.int64(1)).dtype == F32  # NumPy: float64
    assert fnp.nansum(np.ones(3, np.int8)).dtype == I32  # NumPy: int64
    assert fnp.argsort(np.ones(3)).dtype == I32  # NumPy: int64
    assert fnp.histogram(np.arange(3))[0].dtype == F32  # NumPy: int64 counts
    assert fnp.convolve(np.arange(3), np.arange(2)).dtype == F32  # NumPy: int64
    assert fnp.polyval(np.arange(3, dtype=I32), 2).dtype == I32  # NumPy: int64
    assert fnp.gcd(np.int8(4), 6).dtype == I8  # weak Python scalar
    assert fnp.ldexp(np.float16(1.5), np.int32(2)).dtype == F16
    assert fnp.quantile(np.ones(3, F16), 0.5).dtype == F16
    assert fnp.nanargmax(np.array([np.nan, np.nan])) == -1  # NumPy raises
    assert math.isnan(float(fnp.nanmax(np.array([np.nan]))))
    assert re.search("int32", str(fnp.unique(np.arange(3), return_counts=True)[1].dtype))


@pytest.mark.parametrize("name,f", [
    ("einsum", lambda v: fnp.einsum("ij,jk->ik", v, v.T)),
    ("sort", lambda v: fnp.sort(v, axis=0)),
    ("quantile", lambda v: fnp.quantile(v, np.array([0.2, 0.7]), axis=1)),
    ("nanvar", lambda v: fnp.nanvar(v, axis=0)),
    ("pad", lambda v: fnp.pad(v, 2, "symmetric", reflect_type="odd")),
    ("roll", lambda v: fnp.roll(v, 2, 1)),
    ("convolve", lambda v: fnp.convolve(v[0], v[1], "same")),
    ("unique", lambda v: fnp.unique(fnp.round(v), size=6)),
    ("histogram", lambda v: fnp.histogram(v, 4)[0]),
    ("gradient", lambda v: fnp.gradient(v, axis=1)),
    ("frexp", lambda v: fnp.frexp(v)[0]),
    ("interp", lambda v: fnp.interp(v, np.arange(3.0), np.array([1.0, 0.0, 2.0]))),
])
def test_jit_matches_eager(name, f):
    x = np.random.default_rng(1).normal(size=(4, 5))
    check(ft.jit(f)(x), f(x), what=name)


def test_creation_weak_types_follow_jax():
    assert not fnp.zeros(3, "int32").weak_type and not fnp.full(3, 1.0, "float32").weak_type
    assert not fnp.zeros(3).weak_type  # creation functions give strong float32
    assert fnp.full(3, 1.0).weak_type and fnp.full((), 2).weak_type  # dtype from a weak scalar
    assert isinstance(fnp.full((), 2, "int8"), ft.Array)


def test_max_with_where_and_initial_and_var_with_large_ddof():
    a = np.array([1.0, 5.0, 3.0])
    m = np.array([True, False, True])
    assert float(fnp.max(a, where=m, initial=-10.0)) == np.max(a, where=m, initial=-10.0)
    with pytest.raises(ValueError, match="needs an `initial`"):
        fnp.max(a, where=m)
    with np.errstate(all="ignore"):
        for x, ddof in ((np.array([1.0, 2.0]), 2), (np.array([1.0, 1.0]), 3)):
            np.testing.assert_array_equal(np.asarray(fnp.var(x, ddof=ddof)), np.var(x, ddof=ddof))


def test_eye_and_tri_are_constants_eagerly_and_iotas_when_traced():
    for fn, ref in ((fnp.eye, np.eye), (fnp.tri, np.tri)):
        for args in ((4,), (3, 5, 1), (5, 3, -2)):
            eager = fn(*args, dtype=np.int32)
            np.testing.assert_array_equal(np.asarray(eager), ref(*args, dtype=np.int32))
            assert eager.dtype == np.int32 and not eager.aval.weak_type
            np.testing.assert_array_equal(np.asarray(ft.jit(lambda: fn(*args))()),
                                          ref(*args, dtype=np.float32))
        # A jitted program computes the mask: it does not carry an N x M constant.
        assert not ft.make_jaxpr(lambda: fn(300))().jaxpr.constvars
        with pytest.raises(ValueError, match=f"functrans.numpy.{fn.__name__}: negative"):
            fn(-1)
