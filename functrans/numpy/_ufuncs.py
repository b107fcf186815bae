"""Elementwise functions of ``functrans.numpy`` (NumPy's ufuncs), built from lax primitives.

Each function promotes its arguments (``_promotion``) and then binds primitives, so every
transformation handles it. The semantics are NumPy's where JAX agrees with NumPy, and JAX's
where they differ (integer inputs of transcendental functions compute in the default float
dtype; ``floor`` of an integer is the integer). Imports ``lax`` and ``_promotion``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from functrans import dtypes as dt
from functrans import lax
from functrans.errors import DtypeError
from functrans.transforms.custom_derivatives import custom_jvp
from functrans.numpy._promotion import (
    asarray_leaf, broadcast_shapes, broadcast_to, cast, promote_args, promote_args_inexact,
    promote_args_numeric, promote_shapes, shape_of, typeof,
)

__all__: list[str] = []


def _export(fn: Callable, name: str, doc: str) -> Callable:
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    fn.__module__ = "functrans.numpy"
    globals()[name] = fn
    __all__.append(name)
    return fn


def _unary_inexact(name: str, op: Callable, doc: str) -> Callable:
    def fn(x: Any, /) -> Any:
        (x,) = promote_args_inexact(name, x)
        return op(x)

    return _export(fn, name, f"{doc}, elementwise (like numpy.{name}).")


def _unary_numeric(name: str, op: Callable, doc: str) -> Callable:
    def fn(x: Any, /) -> Any:
        (x,) = promote_args_numeric(name, x)
        return op(x)

    return _export(fn, name, f"{doc}, elementwise (like numpy.{name}).")


def _binary(name: str, op: Callable, doc: str, promote: Callable = promote_args) -> Callable:
    def fn(x: Any, y: Any, /) -> Any:
        return op(*promote(name, x, y))

    return _export(fn, name, f"{doc}, elementwise with broadcasting (like numpy.{name}).")


def _is_int_or_bool(x: Any) -> bool:
    return typeof(x)[0].kind in "iub"


# --- transcendental and other float functions ---------------------------------------------------

for _name, _op, _doc in [
    ("sin", lax.sin, "Sine"), ("cos", lax.cos, "Cosine"), ("tan", lax.tan, "Tangent"),
    ("arcsin", lax.asin, "Inverse sine"), ("arccos", lax.acos, "Inverse cosine"),
    ("arctan", lax.atan, "Inverse tangent"), ("sinh", lax.sinh, "Hyperbolic sine"),
    ("cosh", lax.cosh, "Hyperbolic cosine"), ("tanh", lax.tanh, "Hyperbolic tangent"),
    ("arcsinh", lax.asinh, "Inverse hyperbolic sine"),
    ("arccosh", lax.acosh, "Inverse hyperbolic cosine"),
    ("arctanh", lax.atanh, "Inverse hyperbolic tangent"),
    ("exp", lax.exp, "Exponential"), ("exp2", lax.exp2, "2**x"),
    ("expm1", lax.expm1, "exp(x) - 1"), ("log", lax.log, "Natural logarithm"),
    ("log1p", lax.log1p, "log(1 + x)"), ("sqrt", lax.sqrt, "Square root"),
]:
    _unary_inexact(_name, _op, _doc)

asin, acos, atan, asinh, acosh, atanh = (  # NumPy 2 aliases
    _export(globals()[n], a, globals()[n].__doc__) for n, a in [
        ("arcsin", "asin"), ("arccos", "acos"), ("arctan", "atan"), ("arcsinh", "asinh"),
        ("arccosh", "acosh"), ("arctanh", "atanh")])


def _log_base(base: float) -> Callable:
    def op(x: Any) -> Any:
        return lax.div(lax.log(x), cast(np.log(base), typeof(x)[0]))

    return op


_unary_inexact("log2", _log_base(2.0), "Base-2 logarithm")
_unary_inexact("log10", _log_base(10.0), "Base-10 logarithm")


def _real_only(name: str, op: Callable) -> Callable:
    def checked(*xs: Any) -> Any:
        if any(typeof(x)[0].kind == "c" for x in xs):
            raise DtypeError(f"functrans.numpy.{name}: not defined for complex inputs")
        return op(*xs)

    return checked


_unary_inexact("cbrt", _real_only("cbrt", lax.cbrt), "Cube root")
_unary_inexact("reciprocal", lax.reciprocal, "1 / x")
_unary_inexact("deg2rad", lambda x: lax.mul(x, cast(np.pi / 180, typeof(x)[0])),
               "Degrees to radians")
_unary_inexact("rad2deg", lambda x: lax.mul(x, cast(180 / np.pi, typeof(x)[0])),
               "Radians to degrees")
radians = _export(globals()["deg2rad"], "radians", globals()["deg2rad"].__doc__)
degrees = _export(globals()["rad2deg"], "degrees", globals()["rad2deg"].__doc__)


# --- sign, magnitude, rounding ------------------------------------------------------------------


def _keep_ints(name: str, op: Callable, doc: str) -> Callable:
    """Rounding functions return integer and boolean inputs unchanged (as JAX does)."""

    def fn(x: Any, /) -> Any:
        x = asarray_leaf(x)
        if _is_int_or_bool(x):
            return lax.copy(x) if not isinstance(x, (int, bool)) else x
        if typeof(x)[0].kind == "c":
            raise DtypeError(f"functrans.numpy.{name}: not defined for complex inputs")
        return op(x)

    return _export(fn, name, f"{doc}, elementwise (like numpy.{name}).")


_keep_ints("floor", lax.floor, "Round down")
_keep_ints("ceil", lax.ceil, "Round up")
_keep_ints("trunc", lambda x: lax.mul(lax.sign(x), lax.floor(lax.abs(x))), "Round toward zero")
_keep_ints("rint", lambda x: lax.round(x, 1), "Round to the nearest integer, halves to even")
fix = _export(globals()["trunc"], "fix", "Round toward zero (like numpy.fix).")


def round(a: Any, decimals: int = 0) -> Any:  # noqa: A001 - NumPy's name
    """Round to ``decimals`` decimal places, halves to even (like numpy.round)."""
    a = asarray_leaf(a)
    if _is_int_or_bool(a):
        if decimals >= 0:
            return a
        (a,) = promote_args(round.__name__, a)
        factor = cast(10 ** (-decimals), typeof(a)[0])
        return lax.mul(lax.div(a, factor), factor)  # integer rounding toward zero is NumPy's
    if decimals == 0:
        return lax.round(a, 1)
    factor = cast(10.0 ** decimals, typeof(a)[0].type(0).real.dtype)
    if typeof(a)[0].kind == "c":
        return lax.complex(round(lax.real(a), decimals), round(lax.imag(a), decimals))
    return lax.div(lax.round(lax.mul(a, factor), 1), factor)


_export(round, "round", round.__doc__)
around = _export(lambda a, decimals=0: round(a, decimals), "around", round.__doc__)


def absolute(x: Any, /) -> Any:
    x = asarray_leaf(x)
    d = typeof(x)[0]
    if d.kind in "bu":
        return x
    return lax.abs(x)


_export(absolute, "absolute", "Absolute value, elementwise (like numpy.absolute).")
abs = _export(lambda x, /: absolute(x), "abs", absolute.__doc__)  # noqa: A001
_unary_inexact("fabs", _real_only("fabs", lax.abs), "Absolute value of floats")
_unary_numeric("negative", lax.neg, "Numerical negative")
_unary_numeric("positive", lambda x: x, "Numerical positive (a copy)")
_unary_numeric("sign", lax.sign, "Sign (-1, 0 or 1; x/|x| for complex)")
_unary_numeric("square", lax.square, "x * x")


def conjugate(x: Any, /) -> Any:
    x = asarray_leaf(x)
    return lax.conj(x) if typeof(x)[0].kind == "c" else x


_export(conjugate, "conjugate", "Complex conjugate, elementwise (like numpy.conjugate).")
conj = _export(lambda x, /: conjugate(x), "conj", conjugate.__doc__)


def real(val: Any, /) -> Any:
    val = asarray_leaf(val)
    return lax.real(val) if typeof(val)[0].kind == "c" else val


def imag(val: Any, /) -> Any:
    val = asarray_leaf(val)
    if typeof(val)[0].kind == "c":
        return lax.imag(val)
    from functrans.numpy._creation import zeros_like
    return zeros_like(val)


_export(real, "real", "Real part (like numpy.real).")
_export(imag, "imag", "Imaginary part (like numpy.imag).")


# --- classification -----------------------------------------------------------------------------


def _classify(name: str, float_op: Callable, int_value: bool, doc: str) -> Callable:
    def fn(x: Any, /) -> Any:
        x = asarray_leaf(x)
        d = typeof(x)[0]
        if d.kind in "iub":
            from functrans.numpy._creation import full_like
            return full_like(x, int_value, dtype=dt.bool_)
        if d.kind == "c":
            re, im = float_op(lax.real(x)), float_op(lax.imag(x))
            return lax.bitwise_and(re, im) if int_value else lax.bitwise_or(re, im)
        return float_op(x)

    return _export(fn, name, f"{doc}, elementwise (like numpy.{name}).")


_classify("isfinite", lax.is_finite, True, "Test for finiteness")
_classify("isnan", lambda x: lax.ne(x, x), False, "Test for NaN")
_classify("isinf", lambda x: lax.eq(lax.abs(x), cast(np.inf, typeof(x)[0])), False,
          "Test for positive or negative infinity")


def signbit(x: Any, /) -> Any:
    """True where the sign bit is set (including -0.0 and -nan), like numpy.signbit."""
    x = asarray_leaf(x)
    d = typeof(x)[0]
    if d.kind == "u" or d.kind == "b":
        from functrans.numpy._creation import full_like
        return full_like(x, False, dtype=dt.bool_)
    if d.kind == "i":
        return lax.lt(x, cast(0, d))
    bits = {2: dt.int16, 4: dt.int32, 8: dt.int64}[d.itemsize]
    from functrans.numpy._creation import bitcast
    return lax.lt(bitcast(x, bits), cast(0, bits))


_export(signbit, "signbit", signbit.__doc__)


# --- arithmetic ---------------------------------------------------------------------------------


def add(x: Any, y: Any, /) -> Any:
    x, y = promote_args("add", x, y)
    return lax.bitwise_or(x, y) if typeof(x)[0] == dt.bool_ else lax.add(x, y)


def multiply(x: Any, y: Any, /) -> Any:
    x, y = promote_args("multiply", x, y)
    return lax.bitwise_and(x, y) if typeof(x)[0] == dt.bool_ else lax.mul(x, y)


_export(add, "add", "x + y, elementwise with broadcasting (like numpy.add).")
_export(multiply, "multiply", "x * y, elementwise with broadcasting (like numpy.multiply).")
_binary("subtract", lax.sub, "x - y", promote_args_numeric)
_binary("true_divide", lax.div, "x / y in floating point", promote_args_inexact)
divide = _export(globals()["true_divide"], "divide", globals()["true_divide"].__doc__)


def _maximum(x: Any, y: Any) -> Any:
    return lax.max(x, y) if typeof(x)[0].kind != "c" else _complex_extreme(x, y, lax.gt)


def _minimum(x: Any, y: Any) -> Any:
    return lax.min(x, y) if typeof(x)[0].kind != "c" else _complex_extreme(x, y, lax.lt)


def _complex_extreme(x: Any, y: Any, cmp: Callable) -> Any:
    # NumPy orders complex numbers lexicographically by (real, imag).
    rx, ry, ix, iy = lax.real(x), lax.real(y), lax.imag(x), lax.imag(y)
    pick_x = lax.bitwise_or(cmp(rx, ry), lax.bitwise_and(lax.eq(rx, ry), cmp(ix, iy)))
    return lax.select_n(pick_x, y, x)


_binary("maximum", _maximum, "Maximum (NaN propagates)")
_binary("minimum", _minimum, "Minimum (NaN propagates)")


def _nan_ignoring(extreme: Callable) -> Callable:
    def op(x: Any, y: Any) -> Any:
        if typeof(x)[0].kind not in "fc":
            return extreme(x, y)
        x_nan, y_nan = lax.ne(x, x), lax.ne(y, y)
        return lax.select_n(x_nan, lax.select_n(y_nan, extreme(x, y), x), y)

    return op


_binary("fmax", _nan_ignoring(_maximum), "Maximum, ignoring NaN")
_binary("fmin", _nan_ignoring(_minimum), "Minimum, ignoring NaN")
_binary("arctan2", _real_only("arctan2", lambda x, y: lax.atan2(x, y)),
        "Arctangent of x1/x2 by quadrant", promote_args_inexact)
atan2 = _export(globals()["arctan2"], "atan2", globals()["arctan2"].__doc__)
_binary("nextafter", lax.nextafter, "Next float after x1 toward x2", promote_args_inexact)


def _hypot(x: Any, y: Any) -> Any:
    # Scale by the larger magnitude so squares neither overflow nor underflow.
    ax, ay = lax.abs(x), lax.abs(y)
    big, small = lax.max(ax, ay), lax.min(ax, ay)
    safe = lax.select_n(lax.eq(big, cast(0, typeof(big)[0])), big, cast(1, typeof(big)[0]))
    r = lax.div(small, safe)
    out = lax.mul(big, lax.sqrt(lax.add(cast(1, typeof(r)[0]), lax.mul(r, r))))
    return lax.select_n(lax.eq(big, cast(np.inf, typeof(big)[0])), out, big)


_binary("hypot", _real_only("hypot", _hypot), "sqrt(x1**2 + x2**2) without overflow",
        promote_args_inexact)


def _copysign(x: Any, y: Any) -> Any:
    return lax.select_n(signbit(y), lax.abs(x), lax.neg(lax.abs(x)))


_binary("copysign", _real_only("copysign", _copysign), "x1 with the sign of x2",
        promote_args_inexact)


def _logaddexp_value(x: Any, y: Any) -> Any:
    # max + log1p(exp(-|x - y|)), with the infinities handled exactly.
    amax = lax.max(x, y)
    delta = lax.sub(x, y)
    finite = lax.select_n(lax.ne(delta, delta), delta, lax.add(x, y))  # NaN only if x or y is
    body = lax.add(amax, lax.log1p(lax.exp(lax.neg(lax.abs(delta)))))
    return lax.select_n(lax.ne(delta, delta), body, finite)


def _finite_or_zero(v: Any) -> Any:
    zero = lax.broadcast_in_dim(cast(0, typeof(v)[0]), shape_of(v), ())
    return lax.select_n(lax.is_finite(v), zero, v)


@custom_jvp
def _logaddexp(x: Any, y: Any) -> Any:
    return _logaddexp_value(x, y)


@_logaddexp.defjvp
def _logaddexp_jvp(primals: tuple, tangents: tuple) -> tuple:
    # d out = tx * exp(x - out) + ty * exp(y - out): smooth at x == y, where differentiating the
    # max/abs formula would give a wrong second derivative (the kinks cancel only in value).
    # Infinities are replaced by 0 so that out = x = inf gives weight 1, not NaN.
    x, y = primals
    tx, ty = tangents
    out = _logaddexp(x, y)
    fo = _finite_or_zero(out)
    wx = lax.exp(lax.sub(_finite_or_zero(x), fo))
    wy = lax.exp(lax.sub(_finite_or_zero(y), fo))
    return out, lax.add(lax.mul(tx, wx), lax.mul(ty, wy))


_binary("logaddexp", _real_only("logaddexp", _logaddexp), "log(exp(x1) + exp(x2))",
        promote_args_inexact)


def _logaddexp2(x: Any, y: Any) -> Any:
    ln2 = cast(np.log(2.0), typeof(x)[0])
    return lax.div(_logaddexp(lax.mul(x, ln2), lax.mul(y, ln2)), ln2)


_binary("logaddexp2", _real_only("logaddexp2", _logaddexp2), "log2(2**x1 + 2**x2)",
        promote_args_inexact)


def _floor_divide(x: Any, y: Any) -> Any:
    d = typeof(x)[0]
    if d.kind == "b":
        raise DtypeError("functrans.numpy.floor_divide: not defined for booleans")
    if d.kind == "c":
        raise DtypeError("functrans.numpy.floor_divide: not defined for complex inputs")
    if d.kind in "iu":
        q = lax.div(x, y)
        if d.kind == "u":
            return q
        r = lax.rem(x, y)
        zero = cast(0, d)
        adjust = lax.bitwise_and(lax.ne(r, zero), lax.ne(lax.lt(r, zero), lax.lt(y, zero)))
        return lax.select_n(adjust, q, lax.sub(q, cast(1, d)))
    div, _ = _float_divmod(x, y)
    return div


def _float_divmod(x: Any, y: Any) -> tuple[Any, Any]:
    """NumPy's float floor division and modulo (the same algorithm as CPython's)."""
    d = typeof(x)[0]
    zero = cast(0, d)
    mod = lax.rem(x, y)
    div = lax.div(lax.sub(x, mod), y)
    fix_sign = lax.bitwise_and(lax.ne(mod, zero), lax.ne(lax.lt(y, zero), lax.lt(mod, zero)))
    mod = lax.select_n(fix_sign, mod, lax.add(mod, y))
    div = lax.select_n(fix_sign, div, lax.sub(div, cast(1, d)))
    floordiv = lax.floor(div)
    # Round away floating error from (x - mod) / y.
    floordiv = lax.select_n(lax.gt(lax.sub(div, floordiv), cast(0.5, d)), floordiv,
                            lax.add(floordiv, cast(1, d)))
    floordiv = lax.select_n(lax.eq(div, zero), floordiv,
                            lax.mul(zero, lax.div(x, y)))  # keep the sign of zero
    return floordiv, mod


def _remainder(x: Any, y: Any) -> Any:
    d = typeof(x)[0]
    if d.kind == "c":
        raise DtypeError("functrans.numpy.remainder: not defined for complex inputs")
    if d.kind == "b":
        raise DtypeError("functrans.numpy.remainder: not defined for booleans")
    if d.kind == "f":
        return _float_divmod(x, y)[1]
    r = lax.rem(x, y)
    if d.kind == "u":
        return r
    zero = cast(0, d)
    adjust = lax.bitwise_and(lax.ne(r, zero), lax.ne(lax.lt(r, zero), lax.lt(y, zero)))
    return lax.select_n(adjust, r, lax.add(r, y))


_binary("floor_divide", _floor_divide, "x1 // x2 (rounds toward minus infinity)")
_binary("remainder", _remainder, "x1 % x2 with the sign of x2 (Python semantics)")
mod = _export(globals()["remainder"], "mod", globals()["remainder"].__doc__)
_binary("fmod", _real_only("fmod", lax.rem), "C-style remainder (sign of x1)",
        promote_args_numeric)


def divmod(x: Any, y: Any, /) -> tuple[Any, Any]:  # noqa: A001 - NumPy's name
    """``(x1 // x2, x1 % x2)`` (like numpy.divmod)."""
    return floor_divide(x, y), remainder(x, y)  # type: ignore[name-defined]  # noqa: F821


_export(divmod, "divmod", divmod.__doc__)


def power(x: Any, y: Any, /) -> Any:
    """``x1 ** x2`` with broadcasting (like numpy.power)."""
    if isinstance(y, int) and not isinstance(y, bool):
        # A static Python exponent: repeated multiplication, exact for integers.
        (x,) = promote_args_numeric("power", x)
        if y >= 0 or typeof(x)[0].kind in "fc":
            return lax.integer_pow(x, y)
    x, y = promote_args_numeric("power", x, y)
    d = typeof(x)[0]
    if d.kind in "fc":
        return lax.pow(x, y)
    return _int_pow(x, y)


def _int_pow(x: Any, y: Any) -> Any:
    """Integer power by square-and-multiply over the exponent's bits. A negative exponent
    gives 0, except for bases 1 and -1 (JAX's integer semantics; NumPy raises instead)."""
    shape = broadcast_shapes("power", shape_of(x), shape_of(y))
    x, y = broadcast_to(x, shape, "power"), broadcast_to(y, shape, "power")
    d = typeof(x)[0]

    def const(v: int) -> Any:
        return broadcast_to(cast(v, d), shape, "power")

    one, zero = const(1), const(0)
    acc, base, e = one, x, y
    for _ in range(d.itemsize * 8 if d.kind == "u" else d.itemsize * 8 - 1):
        bit = lax.ne(lax.bitwise_and(e, one), zero)
        acc = lax.select_n(bit, acc, lax.mul(acc, base))
        base = lax.mul(base, base)
        e = lax.shift_right_logical(e, one)
    if d.kind == "i":
        odd = lax.ne(lax.rem(y, const(2)), zero)
        minus_one_pow = lax.select_n(odd, one, const(-1))
        neg_val = lax.select_n(lax.eq(x, one),
                               lax.select_n(lax.eq(x, const(-1)), zero, minus_one_pow), one)
        acc = lax.select_n(lax.lt(y, zero), acc, neg_val)
    return acc


_export(power, "power", power.__doc__)
pow = _export(lambda x, y, /: power(x, y), "pow", power.__doc__)  # noqa: A001


def float_power(x: Any, y: Any, /) -> Any:
    """``x1 ** x2`` computed in floating point (like numpy.float_power)."""
    x, y = promote_args_inexact("float_power", x, y)
    return lax.pow(x, y)


_export(float_power, "float_power", float_power.__doc__)


def heaviside(x1: Any, x2: Any, /) -> Any:
    """0 where x1 < 0, x2 where x1 == 0, 1 where x1 > 0 (like numpy.heaviside)."""
    x1, x2 = promote_args_inexact("heaviside", x1, x2)
    d = typeof(x1)[0]
    zero = cast(0, d)
    return lax.select_n(lax.gt(x1, zero), lax.select_n(lax.lt(x1, zero), x2, zero),
                        cast(1, d))


_export(heaviside, "heaviside", heaviside.__doc__)


# --- comparisons and logic ----------------------------------------------------------------------

for _name, _op, _sym in [("equal", lax.eq, "=="), ("not_equal", lax.ne, "!="),
                         ("less", lax.lt, "<"), ("less_equal", lax.le, "<="),
                         ("greater", lax.gt, ">"), ("greater_equal", lax.ge, ">=")]:
    _binary(_name, _op, f"x1 {_sym} x2")


def _to_bool(x: Any) -> Any:
    x = asarray_leaf(x)
    d = typeof(x)[0]
    return x if d == dt.bool_ else lax.ne(x, cast(0, d))


def _logical(name: str, op: Callable, doc: str) -> Callable:
    def fn(x: Any, y: Any, /) -> Any:
        return op(*promote_shapes(name, _to_bool(x), _to_bool(y)))

    return _export(fn, name, f"{doc}, elementwise (like numpy.{name}).")


_logical("logical_and", lax.bitwise_and, "Logical and")
_logical("logical_or", lax.bitwise_or, "Logical or")
_logical("logical_xor", lax.bitwise_xor, "Logical exclusive or")
_export(lambda x, /: lax.bitwise_not(_to_bool(x)), "logical_not",
        "Logical not, elementwise (like numpy.logical_not).")


def _int_or_bool_op(name: str, op: Callable, doc: str) -> Callable:
    def fn(x: Any, y: Any, /) -> Any:
        x, y = promote_args(name, x, y)
        if typeof(x)[0].kind not in "iub":
            raise DtypeError(f"functrans.numpy.{name}: needs integer or boolean inputs, got "
                             f"{typeof(x)[0]}")
        return op(x, y)

    return _export(fn, name, f"{doc}, elementwise (like numpy.{name}).")


_int_or_bool_op("bitwise_and", lax.bitwise_and, "Bitwise and")
_int_or_bool_op("bitwise_or", lax.bitwise_or, "Bitwise or")
_int_or_bool_op("bitwise_xor", lax.bitwise_xor, "Bitwise exclusive or")


def _shift_right(x: Any, y: Any) -> Any:
    shift = lax.shift_right_logical if typeof(x)[0].kind == "u" else lax.shift_right_arithmetic
    return shift(x, y)


_int_or_bool_op("left_shift", lax.shift_left, "x1 << x2")
_int_or_bool_op("right_shift", _shift_right, "x1 >> x2 (arithmetic for signed integers)")
bitwise_left_shift = _export(globals()["left_shift"], "bitwise_left_shift",
                             globals()["left_shift"].__doc__)
bitwise_right_shift = _export(globals()["right_shift"], "bitwise_right_shift",
                              globals()["right_shift"].__doc__)


def invert(x: Any, /) -> Any:
    x = asarray_leaf(x)
    if typeof(x)[0].kind not in "iub":
        raise DtypeError(f"functrans.numpy.invert: needs integer or boolean input, got "
                         f"{typeof(x)[0]}")
    return lax.bitwise_not(x)


_export(invert, "invert", "Bitwise not (logical not for booleans), like numpy.invert.")
bitwise_not = _export(lambda x, /: invert(x), "bitwise_not", invert.__doc__)
bitwise_invert = _export(lambda x, /: invert(x), "bitwise_invert", invert.__doc__)


# --- selection ----------------------------------------------------------------------------------


def where(condition: Any, x: Any = None, y: Any = None, /, *, safe: bool = False) -> Any:
    """Elementwise ``x if condition else y`` with broadcasting (like numpy.where).

    The gradient follows JAX exactly: the branch that is not taken gets a zero cotangent, but
    a NaN or infinite derivative inside that branch (``where(x > 0, sqrt(x), 0)`` at x < 0)
    still turns it into NaN. ``safe=True`` is ``safe_where``, which prevents that.
    """
    if x is None and y is None:
        from functrans.numpy._selection import nonzero
        return nonzero(condition)
    if x is None or y is None:
        raise TypeError("functrans.numpy.where: give both x and y, or neither")
    x, y = promote_args("where", x, y)
    cond, x, y = promote_shapes("where", _to_bool(condition), x, y)
    select = lax.safe_select_n if safe else lax.select_n
    cond, x, y = _full_shape(cond, x, y)
    return select(cond, y, x)


def _full_shape(*args: Any) -> list[Any]:
    """select_n needs its cases at the full shape (a 0-d selector is allowed)."""
    shapes = [shape_of(a) for a in args]
    full = max(shapes, key=len)
    if not full:
        return list(args)
    return [a if s == full or (i == 0 and not s) else broadcast_to(a, full, "where")
            for i, (a, s) in enumerate(zip(args, shapes, strict=True))]


def safe_where(condition: Any, x: Any, y: Any, /) -> Any:
    """``where(condition, x, y)`` whose gradient never carries NaN or inf from the branch that
    is not taken.

    >>> import functrans as ft, functrans.numpy as fnp
    >>> f = lambda x: fnp.sum(fnp.safe_where(x > 0, fnp.sqrt(x), 0.0))
    >>> ft.grad(f)(fnp.asarray([-1.0, 4.0]))
    Array([0.  , 0.25], dtype=float32)

    (With ``fnp.where`` the first entry would be NaN: JAX #1052, PyTorch #52248.) Exactly what
    it does: in reverse mode, the cotangent sent into each branch is zero where that branch was
    not selected, and stays *exactly* zero through every elementwise operation on the way back
    (arithmetic, sqrt, log, division, casts, nested wheres): an inf or NaN local derivative
    there is masked instead of multiplied. The guarantee ends where the path leaves elementwise
    code (a reduction, reshape, matmul or gather inside the branch); from there on values are
    ordinary. Forward values and forward-mode derivatives are those of ``where``.
    """
    return where(condition, x, y, safe=True)


_export(where, "where", where.__doc__)
_export(safe_where, "safe_where", safe_where.__doc__)


def clip(arr: Any = None, /, min: Any = None, max: Any = None, *,  # noqa: A002
         a: Any = None, a_min: Any = None, a_max: Any = None) -> Any:
    """Limit values to ``[min, max]`` (like numpy.clip; either bound may be None)."""
    arr = a if arr is None else arr
    lo = a_min if min is None else min
    hi = a_max if max is None else max
    if lo is not None:
        arr = globals()["maximum"](arr, lo)
    if hi is not None:
        arr = globals()["minimum"](arr, hi)
    return asarray_leaf(arr)


_export(clip, "clip", clip.__doc__)
