"""Elementwise primitives: unary math, binary arithmetic, comparisons, bitwise/logical ops,
select_n, clamp, convert_element_type, and the identity-like stop_gradient and copy.

Each primitive is one table row (``unary(...)``/``binary(...)``) giving its NumPy impl, the
dtypes it accepts and the value domain of its samples; the ``functrans.lax`` wrapper is made
beside it. n-ary operands must share a dtype and a shape, except that 0-d operands broadcast
(as in ``lax``). Imports ``core``, ``registry``, ``rules`` and ``special``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import rules, special
from functrans.primitives.registry import Example, Primitive, define_primitive
from functrans.primitives.rules import elementwise_sample

ALL, BOOL, INEXACT, FLOATING, COMPLEX = dt.ALL, dt.BOOL, dt.INEXACT, dt.FLOATING, dt.COMPLEX
NUMERIC, INTEGER, REAL = dt.NUMERIC, dt.INTEGER, dt.REAL


def _quiet(fn: Callable) -> Callable:
    """Run a NumPy impl without floating-point warnings (log(0) is -inf, not a warning)."""

    def impl(*args: Any, **params: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args, **params)

    impl.__name__ = getattr(fn, "__name__", "impl")
    return impl


def _named(fn: Callable, name: str, doc: str) -> Callable:
    # Wrappers named like builtins (abs, max, ...) end in "_" in this module; lax drops it.
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    fn.__module__ = "functrans.lax"
    return fn


def unary(name: str, impl: Callable, dtypes: tuple, domain: str = "real",
          out_dtype: Callable | None = None, doc: str = "", family: str = "unary",
          params: tuple[dict, ...] = ({},), **rule_slots: Any) -> tuple[Primitive, Callable]:
    """Define a one-operand elementwise primitive and its ``lax`` wrapper."""
    prim = define_primitive(
        name, family=family, impl=_quiet(impl), dtypes=dtypes, doc=doc,
        abstract_eval=rules.unary_rule(name, dtypes, out_dtype),
        sample=elementwise_sample(1, domain, params=params), **rule_slots)

    def wrapper(x: Any, **params: Any) -> Any:
        return prim.bind(x, **params)

    return prim, _named(wrapper, _wrapper_name(name), doc)


def binary(name: str, impl: Callable, dtypes: tuple, domain: str | tuple = "real",
           out_dtype: Callable | None = None, doc: str = "", family: str = "binary",
           **rule_slots: Any) -> tuple[Primitive, Callable]:
    """Define a two-operand elementwise primitive and its ``lax`` wrapper."""
    prim = define_primitive(
        name, family=family, impl=_quiet(impl), dtypes=dtypes, doc=doc,
        abstract_eval=rules.nary_rule(name, dtypes, out_dtype),
        sample=elementwise_sample(2, domain), **rule_slots)

    def wrapper(x: Any, y: Any) -> Any:
        return prim.bind(*coerce_scalars(x, y))

    return prim, _named(wrapper, _wrapper_name(name), doc)


def _wrapper_name(name: str) -> str:
    return {"and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor",
            "not": "bitwise_not"}.get(name, name)


_SCALARS = (bool, int, float, complex)


def coerce_scalars(*args: Any) -> list[Any]:
    """``lax`` accepts Python scalars beside arrays: give them the arrays' dtype."""
    if not any(type(a) in _SCALARS for a in args):
        return list(args)
    strong = [core.get_aval(a) for a in args if type(a) not in _SCALARS]
    if strong:
        dtype = strong[0].dtype
        return [np.asarray(a, dtype) if type(a) in _SCALARS else a
                for a in args]
    dtype, weak = dt.result_type_of(*[(dt.scalar_dtype(a), type(a) is not bool) for a in args])
    return [core.Array._wrap(_readonly(np.asarray(a, dtype)), weak) for a in args]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# --- unary math ---------------------------------------------------------------------------------


def _sign(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind == "c":
        mag = np.abs(x)
        return np.where(mag == 0, 0, x / np.where(mag == 0, 1, mag)).astype(x.dtype)
    return np.sign(x)


def _round(x: np.ndarray, rounding_method: int = 0) -> np.ndarray:
    if rounding_method == 1:
        return np.round(x)
    t = np.trunc(x)
    return np.where(np.abs(x - t) >= 0.5, t + np.sign(x), t).astype(x.dtype)


def _exp2(x: np.ndarray) -> np.ndarray:
    return np.exp2(x) if x.dtype.kind == "f" else np.exp(x * np.log(2).astype(x.dtype))


def _rsqrt(x: np.ndarray) -> np.ndarray:
    return (1 / np.sqrt(x)).astype(x.dtype)


def _logistic(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind == "c":
        return 1 / (1 + np.exp(-x))
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype)


def _reciprocal(x: np.ndarray) -> np.ndarray:
    return (1 / x).astype(x.dtype)


def _integer_pow(x: np.ndarray, y: int) -> np.ndarray:
    if y == 0:
        return np.ones_like(x)
    return np.power(x, y).astype(x.dtype, copy=False)


def _integer_pow_rule(x: ShapedArray, y: int) -> ShapedArray:
    rules.check_dtype("integer_pow", x, frozenset(NUMERIC))
    if not isinstance(y, (int, np.integer)):
        raise TypeError(f"functrans.lax.integer_pow: the exponent y must be a Python int, "
                        f"got {type(y).__name__}")
    if y < 0 and x.dtype.kind in "iu":
        raise DtypeError(f"functrans.lax.integer_pow: a negative exponent ({y}) needs a "
                         f"floating operand, got {x.str_short()}")
    return x


def _round_rule(x: ShapedArray, rounding_method: int = 0) -> ShapedArray:
    rules.check_dtype("round", x, frozenset(FLOATING))
    if rounding_method not in (0, 1):
        raise ValueError("functrans.lax.round: rounding_method must be 0 (AWAY_FROM_ZERO) or "
                         f"1 (TO_NEAREST_EVEN), got {rounding_method!r}")
    return x


neg_p, neg = unary("neg", np.negative, NUMERIC, doc="-x")
sign_p, sign = unary("sign", _sign, NUMERIC, doc="sign of x (x/|x| for complex)")
floor_p, floor = unary("floor", np.floor, FLOATING, doc="largest integer <= x")
ceil_p, ceil = unary("ceil", np.ceil, FLOATING, doc="smallest integer >= x")
round_p = define_primitive(
    "round", family="unary", impl=_round, abstract_eval=_round_rule, dtypes=FLOATING,
    sample=elementwise_sample(1, "real", params=({"rounding_method": 0},
                                                 {"rounding_method": 1})),
    doc="round to integer: rounding_method 0 = half away from zero, 1 = half to even")
is_finite_p, is_finite = unary("is_finite", np.isfinite, FLOATING, out_dtype=lambda d: dt.bool_,
                               doc="x is neither infinite nor NaN")
abs_p, abs_ = unary("abs", np.abs, NUMERIC, out_dtype=rules.real_dtype, doc="|x|")
exp_p, exp = unary("exp", np.exp, INEXACT, domain="exp", doc="e**x")
exp2_p, exp2 = unary("exp2", _exp2, INEXACT, domain="exp", doc="2**x")
expm1_p, expm1 = unary("expm1", np.expm1, INEXACT, domain="small", doc="e**x - 1")
log_p, log = unary("log", np.log, INEXACT, domain="positive", doc="natural logarithm")
log1p_p, log1p = unary("log1p", np.log1p, INEXACT, domain="positive", doc="log(1 + x)")
sqrt_p, sqrt = unary("sqrt", np.sqrt, INEXACT, domain="positive", doc="square root")
rsqrt_p, rsqrt = unary("rsqrt", _rsqrt, INEXACT, domain="positive", doc="1 / sqrt(x)")
cbrt_p, cbrt = unary("cbrt", np.cbrt, FLOATING, domain="nonzero", doc="cube root")
sin_p, sin = unary("sin", np.sin, INEXACT, doc="sine")
cos_p, cos = unary("cos", np.cos, INEXACT, doc="cosine")
tan_p, tan = unary("tan", np.tan, INEXACT, domain="small", doc="tangent")
asin_p, asin = unary("asin", np.arcsin, INEXACT, domain="unit", doc="inverse sine")
acos_p, acos = unary("acos", np.arccos, INEXACT, domain="unit", doc="inverse cosine")
atan_p, atan = unary("atan", np.arctan, INEXACT, doc="inverse tangent")
sinh_p, sinh = unary("sinh", np.sinh, INEXACT, doc="hyperbolic sine")
cosh_p, cosh = unary("cosh", np.cosh, INEXACT, doc="hyperbolic cosine")
tanh_p, tanh = unary("tanh", np.tanh, INEXACT, doc="hyperbolic tangent")
asinh_p, asinh = unary("asinh", np.arcsinh, INEXACT, doc="inverse hyperbolic sine")
acosh_p, acosh = unary("acosh", np.arccosh, INEXACT, domain="ge1", doc="inverse hyperbolic cosine")
atanh_p, atanh = unary("atanh", np.arctanh, INEXACT, domain="unit", doc="inverse hyperbolic tangent")
logistic_p, logistic = unary("logistic", _logistic, INEXACT, doc="1 / (1 + e**-x)")
erf_p, erf = unary("erf", special.erf, FLOATING, doc="error function")
erfc_p, erfc = unary("erfc", special.erfc, FLOATING, doc="1 - erf(x), accurate for large x")
erf_inv_p, erf_inv = unary("erf_inv", special.erf_inv, FLOATING, domain="unit",
                           doc="inverse error function")
lgamma_p, lgamma = unary("lgamma", special.lgamma, FLOATING, domain="positive",
                         doc="log |Gamma(x)|")
digamma_p, digamma = unary("digamma", special.digamma, FLOATING, domain="positive",
                           doc="d/dx log Gamma(x)")
integer_pow_p = define_primitive(
    "integer_pow", family="unary", impl=_quiet(_integer_pow), abstract_eval=_integer_pow_rule,
    dtypes=NUMERIC, sample=elementwise_sample(1, "real", params=({"y": 2}, {"y": 3}, {"y": 0})),
    doc="x ** y for a static Python int y")
square_p, square = unary("square", np.square, NUMERIC, doc="x * x")
reciprocal_p, reciprocal = unary("reciprocal", _reciprocal, INEXACT, domain="nonzero",
                                 doc="1 / x")
not_p, bitwise_not = unary("not", np.invert, INTEGER + BOOL, family="logical",
                           doc="bitwise not (logical not for booleans)")
real_p, real = unary("real", np.real, COMPLEX, out_dtype=rules.real_dtype,
                     doc="real part of a complex number")
imag_p, imag = unary("imag", np.imag, COMPLEX, out_dtype=rules.real_dtype,
                     doc="imaginary part of a complex number")
conj_p, conj = unary("conj", np.conj, INEXACT, doc="complex conjugate")


def round_(x: Any, rounding_method: int = 0) -> Any:
    """Round to an integer value: ``rounding_method`` 0 rounds halves away from zero (the
    default, like C's ``round``), 1 rounds halves to even (like ``np.round``)."""
    return round_p.bind(x, rounding_method=int(rounding_method))


def integer_pow(x: Any, y: int) -> Any:
    """``x ** y`` for a static Python int ``y``."""
    return integer_pow_p.bind(x, y=int(y))


# --- binary arithmetic --------------------------------------------------------------------------


def _int_div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """C-style integer division (truncates toward zero); x / 0 is -1 (all ones), as in XLA."""
    safe = np.where(y == 0, 1, y)
    q = np.floor_divide(x, safe)
    if x.dtype.kind == "i":
        q = q + ((q < 0) & (q * safe != x))  # floor -> trunc for negative inexact quotients
    return np.where(y == 0, np.array(-1).astype(x.dtype), q).astype(x.dtype)


def _div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.dtype.kind in "iu":
        return _int_div(x, y)
    return np.true_divide(x, y).astype(x.dtype, copy=False)


def _rem(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """C-style remainder (sign of the dividend); for integers x % 0 is x, as in XLA."""
    if x.dtype.kind in "iu":
        return np.where(y == 0, x, np.fmod(x, np.where(y == 0, 1, y))).astype(x.dtype)
    return np.fmod(x, y)


def _pow(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.power(x, y).astype(np.result_type(x, y), copy=False)


def _shift_bits(x: np.ndarray) -> int:
    return x.dtype.itemsize * 8


def _shift_left(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    bits = _shift_bits(x)
    out_of_range = (y < 0) | (y >= bits)
    return np.where(out_of_range, 0, np.left_shift(x, np.where(out_of_range, 0, y))
                    ).astype(x.dtype)


def _shift_right_arithmetic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    bits = _shift_bits(x)
    clipped = np.where((y < 0) | (y >= bits), bits - 1, y)
    if x.dtype.kind == "u":
        signed = x.view(np.dtype(f"i{x.dtype.itemsize}"))
        return np.right_shift(signed, clipped.astype(signed.dtype)).view(x.dtype)
    return np.right_shift(x, clipped)


def _shift_right_logical(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    bits = _shift_bits(x)
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    ux = x.view(unsigned) if x.ndim else np.asarray(x).reshape(1).view(unsigned).reshape(())
    out_of_range = (y < 0) | (y >= bits)
    shifted = np.right_shift(ux, np.where(out_of_range, 0, y).astype(unsigned))
    res = np.where(out_of_range, 0, shifted).astype(unsigned)
    return res.view(x.dtype) if res.ndim else res.reshape(1).view(x.dtype).reshape(())


def _complex(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x + 1j * y).astype(rules.complex_dtype(x.dtype))


add_p, add = binary("add", np.add, NUMERIC, doc="x + y")
sub_p, sub = binary("sub", np.subtract, NUMERIC, doc="x - y")
mul_p, mul = binary("mul", np.multiply, NUMERIC, doc="x * y")
div_p, div = binary("div", _div, NUMERIC, domain=("real", "nonzero"),
                    doc="x / y; integer division truncates toward zero (C semantics)")
rem_p, rem = binary("rem", _rem, REAL, domain=("real", "nonzero"),
                    doc="remainder with the sign of x (C fmod semantics)")
pow_p, pow_ = binary("pow", _pow, INEXACT, domain=("positive", "real"), doc="x ** y")
max_p, max_ = binary("max", np.maximum, REAL + BOOL, doc="elementwise maximum (NaN propagates)")
min_p, min_ = binary("min", np.minimum, REAL + BOOL, doc="elementwise minimum (NaN propagates)")
atan2_p, atan2 = binary("atan2", np.arctan2, FLOATING, doc="arctangent of x / y by quadrant")
nextafter_p, nextafter = binary("nextafter", np.nextafter, FLOATING,
                                doc="next float after x toward y")
complex_p, complex_ = binary("complex", _complex, (dt.float32, dt.float64),
                            out_dtype=rules.complex_dtype, doc="x + 1j * y")
and_p, bitwise_and = binary("and", np.bitwise_and, INTEGER + BOOL, family="logical",
                            doc="bitwise and (logical and for booleans)")
or_p, bitwise_or = binary("or", np.bitwise_or, INTEGER + BOOL, family="logical",
                          doc="bitwise or (logical or for booleans)")
xor_p, bitwise_xor = binary("xor", np.bitwise_xor, INTEGER + BOOL, family="logical",
                            doc="bitwise exclusive or")
shift_left_p, shift_left = binary("shift_left", _shift_left, INTEGER, family="logical",
                                  doc="x << y (0 when y is out of range)")
shift_right_arithmetic_p, shift_right_arithmetic = binary(
    "shift_right_arithmetic", _shift_right_arithmetic, INTEGER, family="logical",
    doc="x >> y, filling with the sign bit")
shift_right_logical_p, shift_right_logical = binary(
    "shift_right_logical", _shift_right_logical, INTEGER, family="logical",
    doc="x >> y, filling with zeros")


def _bool_out(d: np.dtype) -> np.dtype:
    return dt.bool_


eq_p, eq = binary("eq", np.equal, ALL, out_dtype=_bool_out, family="compare", doc="x == y")
ne_p, ne = binary("ne", np.not_equal, ALL, out_dtype=_bool_out, family="compare", doc="x != y")
lt_p, lt = binary("lt", np.less, REAL + BOOL, out_dtype=_bool_out, family="compare", doc="x < y")
le_p, le = binary("le", np.less_equal, REAL + BOOL, out_dtype=_bool_out, family="compare",
                  doc="x <= y")
gt_p, gt = binary("gt", np.greater, REAL + BOOL, out_dtype=_bool_out, family="compare",
                  doc="x > y")
ge_p, ge = binary("ge", np.greater_equal, REAL + BOOL, out_dtype=_bool_out, family="compare",
                  doc="x >= y")


# --- select_n, clamp ----------------------------------------------------------------------------


def _select_n_impl(which: np.ndarray, *cases: np.ndarray) -> np.ndarray:
    if len(cases) == 1:
        return np.broadcast_to(cases[0], np.broadcast_shapes(which.shape, cases[0].shape))
    if which.dtype == np.bool_:
        return np.where(which, cases[1], cases[0])
    return np.choose(np.clip(which, 0, len(cases) - 1), cases)


def _select_n_rule(which: ShapedArray, *cases: ShapedArray) -> ShapedArray:
    if not cases:
        raise TypeError("functrans.lax.select_n: needs at least one case")
    dtype = rules.check_same_dtypes("select_n", cases)
    if which.dtype == np.bool_:
        if len(cases) > 2:
            raise DtypeError(f"functrans.lax.select_n: a boolean selector picks between at "
                             f"most 2 cases, got {len(cases)}; use an int32 selector")
    elif which.dtype != np.int32:
        raise DtypeError(f"functrans.lax.select_n: the selector must be bool or int32, got "
                         f"{which.str_short()}")
    shape = rules.broadcast_scalars("select_n", cases)
    if any(c.shape != shape for c in cases):
        raise ShapeError(f"functrans.lax.select_n: cases must all have the same shape, got "
                         f"{', '.join(c.str_short() for c in cases)}")
    if which.shape not in ((), shape):
        raise ShapeError(f"functrans.lax.select_n: the selector {which.str_short()} must be 0-d "
                         f"or have the cases' shape {shape}")
    return ShapedArray(shape, dtype, all(c.weak_type for c in cases))


def _select_n_sample(dtype: np.dtype) -> list[Example]:
    out = []
    for shape in rules.ELEMENTWISE_SHAPES:
        pred = rules.sample_array(shape, dt.bool_, seed=3)
        out.append(Example((pred, rules.sample_array(shape, dtype, seed=1),
                            rules.sample_array(shape, dtype, seed=2))))
    which = np.array([0, 2, 1], np.int32)
    out.append(Example((which, *(rules.sample_array((3,), dtype, seed=s) for s in (4, 5, 6))),
                       note="int-selector"))
    out.append(Example((np.array(True), rules.sample_array((2, 3), dtype, seed=1),
                        rules.sample_array((2, 3), dtype, seed=2)), note="scalar-selector"))
    return out


select_n_p = define_primitive(
    "select_n", family="select", impl=_select_n_impl, abstract_eval=_select_n_rule, dtypes=ALL,
    sample=_select_n_sample, doc="cases[which]: pick elementwise among the cases")


def select_n(which: Any, *cases: Any) -> Any:
    """Elementwise ``cases[which]``; ``which`` is bool (two cases) or int32."""
    return select_n_p.bind(which, *coerce_scalars(*cases))


def _clamp_rule(lo: ShapedArray, x: ShapedArray, hi: ShapedArray) -> ShapedArray:
    rules.check_same_dtypes("clamp", (lo, x, hi))
    rules.check_dtype("clamp", x, frozenset(REAL))
    for bound, name in ((lo, "min"), (hi, "max")):
        if bound.shape not in ((), x.shape):
            raise ShapeError(f"functrans.lax.clamp: {name} {bound.str_short()} must be 0-d or "
                             f"have the operand's shape {x.shape}")
    return x.update(weak_type=x.weak_type and lo.weak_type and hi.weak_type)


def _clamp_impl(lo: np.ndarray, x: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(x, lo), hi).astype(x.dtype, copy=False)


def _clamp_sample(dtype: np.dtype) -> list[Example]:
    out = []
    low = 1 if dtype.kind == "u" else -1
    lo, hi = np.asarray(low, dtype), np.asarray(3, dtype)
    for shape in rules.ELEMENTWISE_SHAPES:
        out.append(Example((lo, rules.sample_array(shape, dtype), hi)))
    out.append(Example((np.full((2, 3), low, dtype), rules.sample_array((2, 3), dtype),
                        np.full((2, 3), 2, dtype)), note="array-bounds"))
    return out


clamp_p = define_primitive(
    "clamp", family="select", impl=_quiet(_clamp_impl), abstract_eval=_clamp_rule, dtypes=REAL,
    sample=_clamp_sample, doc="min(max(x, lo), hi)")


def clamp(min: Any, x: Any, max: Any) -> Any:  # noqa: A002 - lax's argument names
    """``min(max(x, min), max)`` with 0-d or same-shape bounds."""
    return clamp_p.bind(*coerce_scalars(min, x, max))


# --- dtype conversion ---------------------------------------------------------------------------


def _convert_impl(x: np.ndarray, new_dtype: np.dtype, weak_type: bool = False) -> np.ndarray:
    if x.dtype == new_dtype:
        return x
    if x.dtype.kind == "c" and new_dtype.kind != "c":
        x = x.real
    if new_dtype.kind == "b":
        return x != 0
    if new_dtype.kind in "iu" and x.dtype.kind == "f":
        # Saturate out-of-range floats and send NaN to 0, as XLA does (NumPy's cast is
        # undefined there). Compare in float64, where every integer bound is exact or rounds up.
        info = np.iinfo(new_dtype)
        xf = np.nan_to_num(x.astype(np.float64), nan=0.0)
        hi, lo = xf >= float(info.max), xf <= float(info.min)
        safe = np.where(hi | lo, 0, xf).astype(new_dtype)
        return np.where(hi, info.max, np.where(lo, info.min, safe)).astype(new_dtype)
    with np.errstate(all="ignore"):
        return x.astype(new_dtype)


def _convert_rule(x: ShapedArray, new_dtype: np.dtype, weak_type: bool = False) -> ShapedArray:
    if x.dtype not in ALL:
        raise DtypeError(f"functrans.lax.convert_element_type: cannot convert {x.str_short()}")
    return ShapedArray(x.shape, new_dtype, bool(weak_type))


def _convert_sample(dtype: np.dtype) -> list[Example]:
    out = []
    for target in (dt.bool_, dt.int8, dt.int32, dt.uint8, dt.float16, dt.float32, dt.float64,
                   dt.complex64):
        for shape in ((), (0,), (5,)):
            out.append(Example((rules.sample_array(shape, dtype, seed=2),),
                               {"new_dtype": target, "weak_type": False}, note=target.name))
    if dtype.kind == "f":
        with np.errstate(over="ignore"):
            special_vals = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 2.5, -2.5]).astype(
                dtype)
        out.append(Example((special_vals,), {"new_dtype": dt.int32, "weak_type": False},
                           note="saturate"))
    return out


convert_element_type_p = define_primitive(
    "convert_element_type", family="convert", impl=_convert_impl, abstract_eval=_convert_rule,
    dtypes=ALL, sample=_convert_sample,
    doc="cast to new_dtype (floats saturate when cast to integers, NaN becomes 0)")


def convert_element_type(operand: Any, new_dtype: Any) -> Any:
    """Cast ``operand`` to ``new_dtype`` (a strongly typed result)."""
    return convert_element_type_p.bind(operand, new_dtype=dt.canonicalize(new_dtype),
                                       weak_type=False)


# --- identity-like ------------------------------------------------------------------------------


def _identity(x: np.ndarray) -> np.ndarray:
    return x


stop_gradient_p, stop_gradient = unary(
    "stop_gradient", _identity, ALL, family="identity",
    doc="x, with a zero derivative: gradients do not flow through it")
copy_p, copy = unary("copy", _identity, ALL, family="identity", doc="a copy of x")


def _bitcast_rule(x: ShapedArray, new_dtype: np.dtype) -> ShapedArray:
    if x.dtype.itemsize != new_dtype.itemsize:
        raise DtypeError(f"functrans.lax.bitcast_convert_type: {x.str_short()} and {new_dtype} "
                         f"have different item sizes ({x.dtype.itemsize} vs "
                         f"{new_dtype.itemsize} bytes)")
    return ShapedArray(x.shape, new_dtype, False)


def _bitcast_impl(x: np.ndarray, new_dtype: np.dtype) -> np.ndarray:
    return np.ascontiguousarray(x).view(new_dtype).reshape(x.shape)


def _bitcast_sample(dtype: np.dtype) -> list[Example]:
    same_size = [d for d in ALL if d.itemsize == dtype.itemsize and d.kind != "b"]
    return [Example((rules.sample_array(shape, dtype, seed=4),), {"new_dtype": target},
                    note=target.name)
            for target in same_size for shape in ((), (0,), (3,))]


bitcast_convert_type_p = define_primitive(
    "bitcast_convert_type", family="convert", impl=_bitcast_impl, abstract_eval=_bitcast_rule,
    dtypes=NUMERIC, sample=_bitcast_sample,
    doc="reinterpret the bits of each element as new_dtype (same item size)")


def bitcast_convert_type(operand: Any, new_dtype: Any) -> Any:
    """Reinterpret each element's bits as ``new_dtype`` (which must have the same size)."""
    return bitcast_convert_type_p.bind(operand, new_dtype=dt.canonicalize(new_dtype))


# Everything ``functrans.lax`` re-exports: the primitives and their wrappers (names ending in
# "_" are re-exported there without it).
_BUILDERS = {"unary", "binary", "coerce_scalars"}
__all__ = sorted(
    name for name, value in list(globals().items())
    if (isinstance(value, Primitive)
        or getattr(value, "__module__", None) in ("functrans.lax", __name__))
    and not name.startswith("_") and not name.endswith("_")
    and name not in _BUILDERS and not isinstance(value, type))
