"""More elementwise functions and predicates of ``functrans.numpy``: angle, sinc, i0, frexp,
ldexp, modf, gcd, lcm, spacing, nan_to_num, bitwise_count, isposinf/isneginf, isreal/iscomplex,
the dtype queries, isclose/allclose/array_equal/array_equiv.

Integer inputs of float functions compute in the default float dtype (JAX). frexp and ldexp
work on the exponent bits (exact, subnormals included, as NumPy); ldexp has a custom derivative
and frexp's mantissa is ``ldexp(x, -e)``, so both differentiate. Imports lax and fnp modules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from functrans import dtypes as dt
from functrans import lax
from functrans.core import Array, Tracer
from functrans.errors import DtypeError
from functrans.numpy import _creation, _reductions, _ufuncs
from functrans.numpy._indexing import _as_array
from functrans.numpy._promotion import (
    asarray_leaf, cast, promote_args, promote_args_inexact, promote_shapes, shape_of, typeof,
)

__all__ = [
    "allclose", "angle", "array_equal", "array_equiv", "bitwise_count", "frexp", "gcd", "i0",
    "isclose", "iscomplex", "iscomplexobj", "isdtype", "isneginf", "isposinf", "isreal",
    "isrealobj", "isscalar", "lcm", "ldexp", "modf", "nan_to_num", "sinc", "spacing",
]


def _err(name: str, msg: str) -> str:
    return f"functrans.numpy.{name}: {msg}"


def _const(value: Any, like: Any) -> np.ndarray:
    return np.asarray(value, typeof(like)[0])


def _real_inexact(name: str, *args: Any) -> list[Any]:
    out = promote_args_inexact(name, *args)
    if typeof(out[0])[0].kind == "c":
        raise DtypeError(_err(name, f"not defined for complex inputs, got {typeof(out[0])[0]}"))
    return out


# --- angle, sinc, i0 ----------------------------------------------------------------------------


def angle(z: Any, deg: bool = False) -> Any:
    """The counterclockwise angle from the positive real axis (like numpy.angle); real inputs
    give 0 or pi."""
    (z,) = promote_args_inexact("angle", z)
    if typeof(z)[0].kind == "c":
        re, im = lax.real(z), lax.imag(z)
    else:
        re, im = z, lax.broadcast_in_dim(_const(0, z), shape_of(z), ())
    out = lax.atan2(im, re)
    return lax.mul(out, _const(180 / np.pi, out)) if deg else out


def sinc(x: Any, /) -> Any:
    """``sin(pi x) / (pi x)``, 1 at 0 (like numpy.sinc). At 0 the value comes from the Taylor
    series ``1 - (pi x)**2 / 6``, so the first two derivatives there are right (0, -pi**2/3)."""
    (x,) = promote_args_inexact("sinc", x)
    zero = lax.eq(x, _const(0, x))
    pi_x = lax.mul(x, _const(np.pi, x))
    safe = lax.select_n(zero, pi_x, lax.broadcast_in_dim(_const(1, x), shape_of(x), ()))
    series = lax.sub(_const(1, x), lax.div(lax.mul(pi_x, pi_x), _const(6, x)))
    return lax.select_n(zero, lax.div(lax.sin(safe), safe), series)


# Cephes' Chebyshev coefficients for exp(-|x|) I0(x) on [0, 8] and (8, inf) (as in NumPy).
_I0A = (
    -4.4153416464793395e-18, 3.3307945188222384e-17, -2.431279846547955e-16,
    1.715391285555133e-15, -1.1685332877993451e-14, 7.676185498604936e-14,
    -4.856446783111929e-13, 2.95505266312964e-12, -1.726826291441556e-11,
    9.675809035373237e-11, -5.189795601635263e-10, 2.6598237246823866e-09,
    -1.300025009986248e-08, 6.046995022541919e-08, -2.670793853940612e-07,
    1.1173875391201037e-06, -4.4167383584587505e-06, 1.6448448070728896e-05,
    -5.754195010082104e-05, 0.00018850288509584165, -0.0005763755745385824,
    0.0016394756169413357, -0.004324309995050576, 0.010546460394594998,
    -0.02373741480589947, 0.04930528423967071, -0.09490109704804764, 0.17162090152220877,
    -0.3046826723431984, 0.6767952744094761,
)
_I0B = (
    -7.233180487874754e-18, -4.830504485944182e-18, 4.46562142029676e-17,
    3.461222867697461e-17, -2.8276239805165836e-16, -3.425485619677219e-16,
    1.7725601330565263e-15, 3.8116806693526224e-15, -9.554846698828307e-15,
    -4.150569347287222e-14, 1.54008621752141e-14, 3.8527783827421426e-13,
    7.180124451383666e-13, -1.7941785315068062e-12, -1.3215811840447713e-11,
    -3.1499165279632416e-11, 1.1889147107846439e-11, 4.94060238822497e-10,
    3.3962320257083865e-09, 2.266668990498178e-08, 2.0489185894690638e-07,
    2.8913705208347567e-06, 6.889758346916825e-05, 0.0033691164782556943,
    0.8044904110141088,
)


def _chbevl(x: Any, coefs: tuple[float, ...]) -> Any:
    """Clenshaw's recurrence for a Chebyshev series (Cephes' chbevl)."""
    b0 = lax.mul(x, _const(0, x))
    b1 = b0
    b2 = b0
    for c in coefs:
        b2 = b1
        b1 = b0
        b0 = lax.add(lax.sub(lax.mul(x, b1), b2), _const(c, x))
    return lax.mul(lax.sub(b0, b2), _const(0.5, x))


def i0(x: Any) -> Any:
    """The modified Bessel function of the first kind, order 0 (like numpy.i0)."""
    (x,) = _real_inexact("i0", x)
    ax = lax.abs(x)
    small = lax.le(ax, _const(8, x))
    # Each branch sees an argument in its own range, so neither produces inf/NaN (nor NaN
    # gradients) where it is not selected.
    xs = lax.min(ax, _const(8, x))
    xb = lax.max(ax, _const(8, x))
    lo = _chbevl(lax.sub(lax.div(xs, _const(2, x)), _const(2, x)), _I0A)
    hi = lax.div(_chbevl(lax.sub(lax.div(_const(32, x), xb), _const(2, x)), _I0B),
                 lax.sqrt(xb))
    return lax.mul(lax.exp(ax), lax.select_n(small, hi, lo))


# --- frexp, ldexp, modf, spacing ----------------------------------------------------------------

_BITS = {2: dt.int16, 4: dt.int32, 8: dt.int64}


def _float_layout(d: np.dtype) -> tuple[np.dtype, int, int, int]:
    info = np.finfo(d)
    return _BITS[d.itemsize], int(info.nmant), (1 << int(info.nexp)) - 1, 1 - int(info.minexp)


def _normalize(x: Any) -> tuple[Any, Any]:
    """The bits of ``x`` with subnormals scaled up to normal numbers, and the exponent offset
    (``-nmant`` for those, else 0)."""
    d = typeof(x)[0]
    int_t, nmant, _, _ = _float_layout(d)
    tiny = np.asarray(np.finfo(d).smallest_normal, d)
    denormal = lax.lt(lax.abs(x), tiny)
    scaled = lax.select_n(denormal, x, lax.mul(x, np.asarray(2.0 ** nmant, d)))
    offset = lax.select_n(denormal, np.zeros(shape_of(x), int_t), np.full(shape_of(x), -nmant,
                                                                             int_t))
    return lax.bitcast_convert_type(scaled, int_t), offset


def _exponent_field(bits: Any, nmant: int, mask: int) -> Any:
    int_t = typeof(bits)[0]
    return lax.bitwise_and(lax.shift_right_arithmetic(bits, np.asarray(nmant, int_t)),
                           np.asarray(mask, int_t))


def _with_exponent(bits: Any, biased: Any, nmant: int, mask: int) -> Any:
    int_t = typeof(bits)[0]
    clear = np.asarray(~(mask << nmant), int_t)
    return lax.bitwise_or(lax.bitwise_and(bits, clear),
                          lax.shift_left(biased, np.asarray(nmant, int_t)))


def _special(x: Any) -> Any:
    """0, +-inf and NaN: values that frexp and ldexp return unchanged."""
    return lax.bitwise_or(lax.eq(x, _const(0, x)), lax.bitwise_not(lax.is_finite(x)))


def _ldexp_impl(x1: Any, x2: Any) -> Any:
    d = typeof(x1)[0]
    int_t, nmant, mask, bias = _float_layout(d)
    # Exponents beyond this range overflow or underflow anyway; clamping keeps the integer
    # arithmetic below from wrapping.
    limit = 2 * bias + nmant + 2
    e = cast(lax.clamp(np.asarray(-limit, typeof(x2)[0]), x2,
                       np.asarray(limit, typeof(x2)[0])), int_t)
    bits, offset = _normalize(x1)
    e = lax.add(lax.add(e, offset), lax.sub(_exponent_field(bits, nmant, mask),
                                            np.asarray(bias, int_t)))
    underflow = lax.lt(e, np.asarray(-(bias + nmant), int_t))
    overflow = lax.gt(e, np.asarray(bias, int_t))
    # A subnormal result: build the normal number 2**nmant times larger, then scale it down
    # with one (correctly rounded) multiplication.
    sub = lax.lt(e, np.asarray(1 - bias, int_t))
    e = lax.select_n(sub, e, lax.add(e, np.asarray(nmant, int_t)))
    scale = lax.select_n(sub, np.ones(shape_of(e), d), np.full(shape_of(e), 2.0 ** -nmant, d))
    biased = lax.clamp(np.asarray(1, int_t), lax.add(e, np.asarray(bias, int_t)),
                       np.asarray(mask - 1, int_t))
    out = lax.mul(scale, lax.bitcast_convert_type(_with_exponent(bits, biased, nmant, mask), d))
    out = lax.select_n(underflow, out, lax.mul(x1, _const(0, x1)))
    inf = lax.mul(lax.sign(x1), _const(np.inf, x1))
    out = lax.select_n(overflow, out, inf)
    return lax.select_n(_special(x1), out, x1)


def _make_ldexp() -> Any:
    from functrans.transforms.custom_derivatives import custom_jvp

    @custom_jvp
    def ldexp_core(x1: Any, x2: Any) -> Any:
        return _ldexp_impl(x1, x2)

    @ldexp_core.defjvp
    def _jvp(primals: Any, tangents: Any) -> Any:
        x1, x2 = primals
        t1, _ = tangents
        # Linear in t1: the tangent is scaled by the (primal) factor 2**x2.
        factor = _ldexp_impl(lax.broadcast_in_dim(_const(1, x1), shape_of(x1), ()), x2)
        return ldexp_core(x1, x2), lax.mul(t1, factor)

    return ldexp_core


_LDEXP: list[Any] = []


def ldexp(x1: Any, x2: Any, /) -> Any:
    """``x1 * 2**x2`` for integer ``x2``, exact (no intermediate overflow, one rounding for
    subnormal results), like numpy.ldexp."""
    x1 = asarray_leaf(x1)
    x2 = asarray_leaf(x2)
    if typeof(x2)[0].kind not in "iub":
        raise DtypeError(_err("ldexp", f"x2 must be an integer array, got {typeof(x2)[0]}"))
    (x1,) = _real_inexact("ldexp", x1)
    x1, x2 = promote_shapes("ldexp", x1, x2)
    shape = max(shape_of(x1), shape_of(x2), key=len)
    from functrans.numpy._promotion import broadcast_to
    x1, x2 = broadcast_to(x1, shape, "ldexp"), broadcast_to(cast(x2, typeof(x2)[0]), shape,
                                                           "ldexp")
    if typeof(x2)[0].kind == "b":
        x2 = cast(x2, dt.int32)
    if not _LDEXP:
        _LDEXP.append(_make_ldexp())
    return _LDEXP[0](x1, x2)


def frexp(x: Any, /) -> tuple[Any, Any]:
    """``(mantissa, exponent)`` with ``x == mantissa * 2**exponent`` and ``0.5 <= |mantissa|
    < 1`` (like numpy.frexp; 0, inf and NaN give themselves and exponent 0). The exponent is
    int32."""
    (x,) = _real_inexact("frexp", x)
    d = typeof(x)[0]
    int_t, nmant, mask, bias = _float_layout(d)
    bits, offset = _normalize(x)
    e = lax.add(lax.sub(_exponent_field(bits, nmant, mask), np.asarray(bias - 1, int_t)), offset)
    e = lax.select_n(_special(x), e, lax.mul(e, np.asarray(0, int_t)))
    e = cast(e, dt.int32)
    return ldexp(x, lax.neg(e)), e


def modf(x: Any, /, out: None = None) -> tuple[Any, Any]:
    """``(fractional part, integral part)``, both with the sign of ``x`` (like numpy.modf)."""
    (x,) = _real_inexact("modf", x)
    whole = _ufuncs._copysign(lax.floor(lax.abs(x)), x)
    frac = lax.sub(x, whole)
    frac = lax.select_n(lax.is_finite(x), lax.broadcast_in_dim(_const(0, x), shape_of(x), ()),
                        frac)
    frac = lax.select_n(_ufuncs.isnan(x), frac, x)
    return _ufuncs._copysign(frac, x), whole


def spacing(x: Any, /) -> Any:
    """The distance from ``x`` to the next float away from zero, with ``x``'s sign."""
    (x,) = _real_inexact("spacing", x)
    inf = lax.broadcast_in_dim(_const(np.inf, x), shape_of(x), ())
    # -0.0 counts as positive, as in NumPy.
    toward = lax.select_n(lax.lt(x, _const(0, x)), inf, lax.neg(inf))
    return lax.sub(lax.nextafter(x, toward), x)


# --- integer functions --------------------------------------------------------------------------


def _ints(name: str, x1: Any, x2: Any) -> list[Any]:
    x1, x2 = promote_args(name, x1, x2)
    if typeof(x1)[0].kind not in "iu":
        raise DtypeError(_err(name, f"arguments must be integers, got {typeof(x1)[0]}"))
    return promote_shapes(name, x1, x2)


def gcd(x1: Any, x2: Any) -> Any:
    """Greatest common divisor of ``|x1|`` and ``|x2|`` (like numpy.gcd), by Euclid's
    algorithm unrolled to its worst case for the dtype (Fibonacci inputs)."""
    x1, x2 = _ints("gcd", x1, x2)
    d = typeof(x1)[0]
    shape = max(shape_of(x1), shape_of(x2), key=len)
    from functrans.numpy._promotion import broadcast_to
    # |x| in the unsigned type of the same width: |INT_MIN| does not fit the signed one.
    u = np.dtype(f"u{d.itemsize}")

    def magnitude(v: Any) -> Any:
        v = broadcast_to(v, shape, "gcd")
        return lax.bitcast_convert_type(lax.abs(v), u) if d.kind == "i" else v

    a, b = magnitude(x1), magnitude(x2)
    zero, one = np.zeros((), u), np.ones((), u)
    steps = int(np.ceil(d.itemsize * 8 * 1.4405)) + 2
    for _ in range(steps):
        nz = lax.ne(b, zero)
        safe_b = lax.select_n(nz, lax.broadcast_in_dim(one, shape, ()), b)
        a, b = lax.select_n(nz, a, b), lax.select_n(nz, lax.broadcast_in_dim(zero, shape, ()),
                                                    lax.rem(a, safe_b))
    return lax.bitcast_convert_type(a, d) if d.kind == "i" else a


def lcm(x1: Any, x2: Any) -> Any:
    """Least common multiple of ``|x1|`` and ``|x2|`` (like numpy.lcm)."""
    x1, x2 = _ints("lcm", x1, x2)
    d = typeof(x1)[0]
    g = gcd(x1, x2)
    zero = lax.eq(g, np.zeros((), d))
    safe = _ufuncs.where(zero, np.ones((), d), g)
    out = _ufuncs.absolute(_ufuncs.multiply(_ufuncs.floor_divide(x1, safe), x2))
    return _ufuncs.where(zero, np.zeros((), d), out)


def bitwise_count(x: Any, /) -> Any:
    """The number of 1 bits in ``|x|``, as uint8 (like numpy.bitwise_count)."""
    x = _as_array(x)
    d = typeof(x)[0]
    if d.kind not in "iu":
        raise DtypeError(_err("bitwise_count", f"needs an integer array, got {d}"))
    u = np.dtype(f"u{d.itemsize}")
    v = lax.bitcast_convert_type(lax.abs(x) if d.kind == "i" else x, u)
    bits = d.itemsize * 8

    def c(pattern: int) -> np.ndarray:
        return np.asarray(int.from_bytes(bytes([pattern]) * d.itemsize, "little"), u)

    v = lax.sub(v, lax.bitwise_and(lax.shift_right_logical(v, np.asarray(1, u)), c(0x55)))
    v = lax.add(lax.bitwise_and(v, c(0x33)),
                lax.bitwise_and(lax.shift_right_logical(v, np.asarray(2, u)), c(0x33)))
    v = lax.bitwise_and(lax.add(v, lax.shift_right_logical(v, np.asarray(4, u))), c(0x0F))
    if bits > 8:
        v = lax.shift_right_logical(lax.mul(v, c(0x01)), np.asarray(bits - 8, u))
    return cast(v, dt.uint8)


# --- NaN and infinity handling, classification --------------------------------------------------


def nan_to_num(x: Any, copy: bool = True, nan: Any = 0.0, posinf: Any = None,
               neginf: Any = None) -> Any:
    """NaN replaced by ``nan``, +inf by ``posinf`` (default: the largest finite value), -inf by
    ``neginf`` (default: the most negative), like numpy.nan_to_num; complex parts separately.
    """
    x = _as_array(x)
    d = typeof(x)[0]
    if d.kind not in "fc":
        return x
    if d.kind == "c":
        return lax.complex(nan_to_num(lax.real(x), nan=nan, posinf=posinf, neginf=neginf),
                           nan_to_num(lax.imag(x), nan=nan, posinf=posinf, neginf=neginf))
    info = np.finfo(d)
    hi = info.max if posinf is None else posinf
    lo = info.min if neginf is None else neginf
    out = _ufuncs.where(_ufuncs.isnan(x), cast(asarray_leaf(nan), d), x)
    out = _ufuncs.where(isposinf(x), cast(asarray_leaf(hi), d), out)
    return _ufuncs.where(isneginf(x), cast(asarray_leaf(lo), d), out)


def _infinity(name: str, x: Any, negative: bool) -> Any:
    x = _as_array(x)
    d = typeof(x)[0]
    if d.kind == "c":
        raise DtypeError(_err(name, "not defined for complex inputs"))
    if d.kind != "f":
        return _creation.full_like(x, False, dtype=dt.bool_)
    return lax.eq(x, np.asarray(-np.inf if negative else np.inf, d))


def isposinf(x: Any, /, out: None = None) -> Any:
    """True where ``x`` is +inf."""
    return _infinity("isposinf", x, False)


def isneginf(x: Any, /, out: None = None) -> Any:
    """True where ``x`` is -inf."""
    return _infinity("isneginf", x, True)


def isreal(x: Any) -> Any:
    """True where the imaginary part is zero (everywhere for real dtypes)."""
    x = _as_array(x)
    if typeof(x)[0].kind == "c":
        return lax.eq(lax.imag(x), np.zeros((), typeof(lax.imag(x))[0]))
    return _creation.full_like(x, True, dtype=dt.bool_)


def iscomplex(x: Any) -> Any:
    """True where the imaginary part is nonzero (nowhere for real dtypes)."""
    x = _as_array(x)
    if typeof(x)[0].kind == "c":
        return lax.ne(lax.imag(x), np.zeros((), typeof(lax.imag(x))[0]))
    return _creation.full_like(x, False, dtype=dt.bool_)


def _dtype_of(x: Any) -> np.dtype | None:
    if x is None:
        return None
    if hasattr(x, "dtype"):
        return np.dtype(x.dtype)
    try:
        return typeof(asarray_leaf(x))[0]
    except TypeError:
        return np.asarray(x).dtype


def iscomplexobj(x: Any) -> bool:
    """Whether ``x`` has a complex dtype (whatever its values)."""
    d = _dtype_of(x)
    return d is not None and d.kind == "c"


def isrealobj(x: Any) -> bool:
    """Whether ``x`` does not have a complex dtype."""
    return not iscomplexobj(x)


def isscalar(element: Any) -> bool:
    """True for Python and NumPy scalars and, as in JAX, 0-d arrays."""
    if isinstance(element, (Array, Tracer, np.ndarray)):
        return len(shape_of(element)) == 0
    return bool(np.isscalar(element))


def isdtype(dtype: Any, kind: Any) -> bool:
    """Array-API dtype test: ``kind`` is a dtype, one of 'bool', 'signed integer',
    'unsigned integer', 'integral', 'real floating', 'complex floating', 'numeric', or a tuple
    of those."""
    d = dt.canonicalize(dtype)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return any(np.isdtype(d, k if isinstance(k, str) else dt.canonicalize(k)) for k in kinds)


# --- comparisons of whole arrays ----------------------------------------------------------------


def isclose(a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False
            ) -> Any:
    """Elementwise ``|a - b| <= atol + rtol * |b|``, with equal infinities close and NaN never
    close unless ``equal_nan`` (like numpy.isclose)."""
    a, b = promote_args_inexact("isclose", a, b)
    d = typeof(a)[0]
    rd = np.dtype(d.type(0).real.dtype)
    rtol, atol = cast(asarray_leaf(rtol), rd), cast(asarray_leaf(atol), rd)
    diff = _ufuncs.absolute(_ufuncs.subtract(a, b))
    out = _ufuncs.less_equal(diff, _ufuncs.add(atol, _ufuncs.multiply(rtol,
                                                                      _ufuncs.absolute(b))))
    a_inf, b_inf = _ufuncs.isinf(a), _ufuncs.isinf(b)
    out = _ufuncs.logical_and(out, _ufuncs.logical_not(_ufuncs.logical_or(a_inf, b_inf)))
    same_inf = _ufuncs.logical_and(_ufuncs.logical_and(a_inf, b_inf), _ufuncs.equal(a, b))
    out = _ufuncs.logical_or(out, same_inf)
    a_nan, b_nan = _ufuncs.isnan(a), _ufuncs.isnan(b)
    out = _ufuncs.logical_and(out, _ufuncs.logical_not(_ufuncs.logical_or(a_nan, b_nan)))
    if equal_nan:
        out = _ufuncs.logical_or(out, _ufuncs.logical_and(a_nan, b_nan))
    return out


def allclose(a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False
             ) -> Any:
    """Whether every element of ``a`` is close to ``b`` (a 0-d boolean array)."""
    return _reductions.all(isclose(a, b, rtol, atol, equal_nan))


def array_equal(a1: Any, a2: Any, equal_nan: bool = False) -> Any:
    """Whether the arrays have the same shape and elements (a 0-d boolean array)."""
    a1, a2 = _as_array(a1), _as_array(a2)
    if shape_of(a1) != shape_of(a2):
        return Array(np.bool_(False))
    eq = _ufuncs.equal(a1, a2)
    if equal_nan:
        eq = _ufuncs.logical_or(eq, _ufuncs.logical_and(_ufuncs.isnan(a1), _ufuncs.isnan(a2)))
    return _reductions.all(eq)


def array_equiv(a1: Any, a2: Any) -> Any:
    """Whether the arrays broadcast to each other and are equal elementwise."""
    a1, a2 = _as_array(a1), _as_array(a2)
    try:
        eq = _ufuncs.equal(a1, a2)
    except ValueError:
        return Array(np.bool_(False))
    return _reductions.all(eq)
