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
from functrans.fpstate import quietly
from functrans.primitives import rules, special
from functrans.primitives.ad_rules import (
    JVPRule, MaskedCotangent, Zero, broadcast_to_aval, check_linear_in_one, handles_masks,
    is_undefined, jvp_linear, jvp_partials, jvp_zero, masked_result, tangent_aval,
    transpose_elementwise, transpose_linear, unbroadcast, unmask, zeros_like_aval,
)
from functrans.primitives.batch_rules import batch_elementwise, batch_unary
from functrans.primitives.registry import Example, Primitive, define_primitive
from functrans.primitives.rules import elementwise_sample

ALL, BOOL, INEXACT, FLOATING, COMPLEX = dt.ALL, dt.BOOL, dt.INEXACT, dt.FLOATING, dt.COMPLEX
NUMERIC, INTEGER, REAL = dt.NUMERIC, dt.INTEGER, dt.REAL


_quiet = quietly


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
        sample=elementwise_sample(1, domain, params=params), batch=batch_unary(),
        **rule_slots)

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
        sample=elementwise_sample(2, domain), batch=batch_elementwise(), **rule_slots)

    def wrapper(x: Any, y: Any) -> Any:
        return prim.bind(*coerce_scalars(x, y))

    return prim, _named(wrapper, _wrapper_name(name), doc)


def _wrapper_name(name: str) -> str:
    return {"and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor",
            "not": "bitwise_not"}.get(name, name)


_SCALARS = (bool, int, float, complex)


def coerce_scalars(*args: Any) -> list[Any]:
    """``lax`` accepts Python scalars beside arrays: give them the arrays' dtype."""
    for a in args:  # (a loop, not any(genexpr): this runs for every lax elementwise call)
        if type(a) in _SCALARS:
            break
    else:
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


# --- derivative helpers (the rules below call them when they differentiate) ------------------


def _c(x: Any, value: Any) -> np.ndarray:
    """``value`` as a 0-d constant of ``x``'s dtype (real dtype for real values of complex x
    are promoted by NumPy, so use x's own dtype)."""
    return np.asarray(value, core.get_aval(x).dtype)


def _linear(fn: Callable, linear_in: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """transpose/linear_in fields for a unary linear primitive whose transpose is ``fn``."""
    return {"transpose": transpose_linear(fn, masked=True), "linear_in": linear_in}


def _bilinear_transpose(name: str, lhs: Callable, rhs: Callable) -> Callable:
    """Transpose of a product linear in each operand separately (mul)."""

    def rule(ct: Any, x: Any, y: Any) -> list[Any]:
        check_linear_in_one(name, (x, y))
        if is_undefined(x):
            return [masked_result(ct, lhs(unmask(ct), y), x.aval), None]
        return [None, masked_result(ct, rhs(x, unmask(ct)), y.aval)]

    return handles_masks(rule)


def _mask(pred: Any, like: Any) -> Any:
    """A 0/1 array of ``like``'s dtype from a boolean (lets 0-d operands broadcast freely)."""
    return convert_element_type(pred, core.get_aval(like).dtype)


def _abs_jvp(g: Any, ans: Any, x: Any) -> Any:
    if core.get_aval(x).dtype.kind != "c":
        return mul(g, sign(x))
    # d|x| = Re(conj(x) dx) / |x|, and 0 at x = 0.
    zero = _mask(eq(ans, _c(ans, 0)), ans)
    safe = add(ans, zero)
    return mul(div(real(mul(conj(x), g)), safe), sub(_c(ans, 1), zero))


def _sign_jvp(g: Any, ans: Any, x: Any) -> Any:
    """Zero for real x (piecewise constant). For complex x, sign(x) = x/|x| is smooth away from
    0: d sign = (dx - sign * Re(conj(sign) dx)) / |x| (JAX returns zero here, which is wrong)."""
    if core.get_aval(x).dtype.kind != "c":
        return mul(g, _c(x, 0))
    mag = abs_(x)
    zero = _mask(eq(mag, _c(mag, 0)), mag)
    radial = real(mul(conj(ans), g))
    tangential = sub(g, mul(ans, convert_element_type(radial, core.get_aval(x).dtype)))
    scale = div(sub(_c(mag, 1), zero), add(mag, zero))
    return mul(tangential, convert_element_type(scale, core.get_aval(x).dtype))


def _integer_pow_jvp(g: Any, x: Any, y: int) -> Any:
    if y == 0:
        return mul(g, _c(x, 0))
    if y == 1:
        return g
    return mul(g, mul(_c(x, y), integer_pow(x, y - 1)))


def _rem_jvp_rhs(g: Any, x: Any, y: Any) -> Any:
    q = div(x, y)
    return neg(mul(g, mul(sign(q), floor(abs_(q)))))


def _pow_jvp_lhs(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # y * x**(y-1), written so that y == 0 gives 0 even where x == 0.
    y_zero = _mask(eq(y, _c(y, 0)), y)
    safe_y = add(y, y_zero)
    jac = mul(mul(safe_y, pow_(x, sub(safe_y, _c(y, 1)))), sub(_c(y, 1), y_zero))
    return mul(g, jac)


def _pow_jvp_rhs(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # log(x) * x**y, taken as 0 where x == 0 (the limit along real y > 0).
    safe_x = add(x, _mask(eq(x, _c(x, 0)), x))
    return mul(g, mul(log(safe_x), ans))


def _balanced_eq(x: Any, z: Any, y: Any) -> Any:
    """1 where x alone attains the extreme z, 1/2 where x and y tie, 0 elsewhere."""
    x_eq, y_eq = _mask(eq(x, z), z), _mask(eq(y, z), z)
    return mul(x_eq, sub(_c(z, 1), mul(_c(z, 0.5), y_eq)))


def _sum_sq(x: Any, y: Any) -> Any:
    return add(mul(x, x), mul(y, y))


neg_p, neg = unary("neg", np.negative, NUMERIC, doc="-x",
                  jvp=jvp_linear(), **_linear(lambda ct, x: [neg(ct)]))
sign_p, sign = unary("sign", _sign, NUMERIC, doc="sign of x (x/|x| for complex)",
                     jvp=jvp_partials(lambda g, ans, x: _sign_jvp(g, ans, x), with_ans=True))
floor_p, floor = unary("floor", np.floor, FLOATING, doc="largest integer <= x", jvp=jvp_zero())
ceil_p, ceil = unary("ceil", np.ceil, FLOATING, doc="smallest integer >= x", jvp=jvp_zero())
round_p = define_primitive(
    "round", family="unary", impl=_round, abstract_eval=_round_rule, dtypes=FLOATING,
    sample=elementwise_sample(1, "real", params=({"rounding_method": 0},
                                                 {"rounding_method": 1})),
    jvp=jvp_zero(),
    batch=batch_unary(),
    doc="round to integer: rounding_method 0 = half away from zero, 1 = half to even")
is_finite_p, is_finite = unary("is_finite", np.isfinite, FLOATING, out_dtype=lambda d: dt.bool_,
                               doc="x is neither infinite nor NaN", jvp=jvp_zero())
abs_p, abs_ = unary("abs", np.abs, NUMERIC, out_dtype=rules.real_dtype, doc="|x|",
                    jvp=jvp_partials(lambda g, ans, x: _abs_jvp(g, ans, x), with_ans=True))
exp_p, exp = unary("exp", np.exp, INEXACT, domain="exp", doc="e**x",
                   jvp=jvp_partials(lambda g, ans, x: mul(g, ans), with_ans=True))
exp2_p, exp2 = unary("exp2", _exp2, INEXACT, domain="exp", doc="2**x",
                     jvp=jvp_partials(lambda g, ans, x: mul(g, mul(ans, _c(x, np.log(2)))),
                                      with_ans=True))
expm1_p, expm1 = unary("expm1", np.expm1, INEXACT, domain="small", doc="e**x - 1",
                       jvp=jvp_partials(lambda g, ans, x: mul(g, add(ans, _c(x, 1))),
                                        with_ans=True))
log_p, log = unary("log", np.log, INEXACT, domain="positive", doc="natural logarithm",
                   jvp=jvp_partials(lambda g, x: div(g, x)))
log1p_p, log1p = unary("log1p", np.log1p, INEXACT, domain="positive", doc="log(1 + x)",
                       jvp=jvp_partials(lambda g, x: div(g, add(x, _c(x, 1)))))
sqrt_p, sqrt = unary("sqrt", np.sqrt, INEXACT, domain="positive", doc="square root",
                     jvp=jvp_partials(lambda g, ans, x: div(g, mul(ans, _c(x, 2))),
                                      with_ans=True))
rsqrt_p, rsqrt = unary("rsqrt", _rsqrt, INEXACT, domain="positive", doc="1 / sqrt(x)",
                       jvp=jvp_partials(lambda g, ans, x: mul(g, mul(_c(x, -0.5),
                                                                     div(ans, x))),
                                        with_ans=True))
cbrt_p, cbrt = unary("cbrt", np.cbrt, FLOATING, domain="nonzero", doc="cube root",
                     jvp=jvp_partials(lambda g, ans, x: mul(g, div(_c(x, 1 / 3),
                                                                   mul(ans, ans))),
                                      with_ans=True))
sin_p, sin = unary("sin", np.sin, INEXACT, doc="sine",
                   jvp=jvp_partials(lambda g, x: mul(g, cos(x))))
cos_p, cos = unary("cos", np.cos, INEXACT, doc="cosine",
                   jvp=jvp_partials(lambda g, x: neg(mul(g, sin(x)))))
tan_p, tan = unary("tan", np.tan, INEXACT, domain="small", doc="tangent",
                   jvp=jvp_partials(lambda g, ans, x: mul(g, add(_c(x, 1), mul(ans, ans))),
                                    with_ans=True))
asin_p, asin = unary("asin", np.arcsin, INEXACT, domain="unit", doc="inverse sine",
                     jvp=jvp_partials(lambda g, x: mul(g, rsqrt(sub(_c(x, 1), mul(x, x))))))
acos_p, acos = unary("acos", np.arccos, INEXACT, domain="unit", doc="inverse cosine",
                     jvp=jvp_partials(lambda g, x: neg(mul(g, rsqrt(sub(_c(x, 1),
                                                                        mul(x, x)))))))
atan_p, atan = unary("atan", np.arctan, INEXACT, doc="inverse tangent",
                     jvp=jvp_partials(lambda g, x: div(g, add(_c(x, 1), mul(x, x)))))
sinh_p, sinh = unary("sinh", np.sinh, INEXACT, doc="hyperbolic sine",
                     jvp=jvp_partials(lambda g, x: mul(g, cosh(x))))
cosh_p, cosh = unary("cosh", np.cosh, INEXACT, doc="hyperbolic cosine",
                     jvp=jvp_partials(lambda g, x: mul(g, sinh(x))))
tanh_p, tanh = unary("tanh", np.tanh, INEXACT, doc="hyperbolic tangent",
                     jvp=jvp_partials(lambda g, ans, x: mul(g, sub(_c(x, 1), mul(ans, ans))),
                                      with_ans=True))
asinh_p, asinh = unary("asinh", np.arcsinh, INEXACT, doc="inverse hyperbolic sine",
                       jvp=jvp_partials(lambda g, x: mul(g, rsqrt(add(mul(x, x), _c(x, 1))))))
acosh_p, acosh = unary("acosh", np.arccosh, INEXACT, domain="ge1",
                       doc="inverse hyperbolic cosine",
                       jvp=jvp_partials(lambda g, x: mul(g, rsqrt(mul(sub(x, _c(x, 1)),
                                                                      add(x, _c(x, 1)))))))
atanh_p, atanh = unary("atanh", np.arctanh, INEXACT, domain="unit",
                       doc="inverse hyperbolic tangent",
                       jvp=jvp_partials(lambda g, x: div(g, sub(_c(x, 1), mul(x, x)))))
logistic_p, logistic = unary("logistic", _logistic, INEXACT, doc="1 / (1 + e**-x)",
                             jvp=jvp_partials(lambda g, ans, x: mul(g, mul(ans, sub(_c(x, 1),
                                                                                    ans))),
                                              with_ans=True))
erf_p, erf = unary("erf", special.erf, FLOATING, doc="error function",
                   jvp=jvp_partials(lambda g, x: mul(g, mul(_c(x, 2 / np.sqrt(np.pi)),
                                                            exp(neg(mul(x, x)))))))
erfc_p, erfc = unary("erfc", special.erfc, FLOATING, doc="1 - erf(x), accurate for large x",
                     jvp=jvp_partials(lambda g, x: mul(g, mul(_c(x, -2 / np.sqrt(np.pi)),
                                                              exp(neg(mul(x, x)))))))
erf_inv_p, erf_inv = unary("erf_inv", special.erf_inv, FLOATING, domain="unit",
                           doc="inverse error function",
                           jvp=jvp_partials(lambda g, ans, x: mul(g, mul(
                               _c(x, np.sqrt(np.pi) / 2), exp(mul(ans, ans)))), with_ans=True))
lgamma_p, lgamma = unary("lgamma", special.lgamma, FLOATING, domain="positive",
                         doc="log |Gamma(x)|",
                         jvp=jvp_partials(lambda g, x: mul(g, digamma(x))))
digamma_p, digamma = unary("digamma", special.digamma, FLOATING, domain="positive",
                           doc="d/dx log Gamma(x)")
integer_pow_p = define_primitive(
    "integer_pow", family="unary", impl=_quiet(_integer_pow), abstract_eval=_integer_pow_rule,
    dtypes=NUMERIC, sample=elementwise_sample(1, "real", params=({"y": 2}, {"y": 3}, {"y": 0})),
    jvp=jvp_partials(lambda g, x, y: _integer_pow_jvp(g, x, y)),
    batch=batch_unary(),
    doc="x ** y for a static Python int y")
square_p, square = unary("square", np.square, NUMERIC, doc="x * x",
                         jvp=jvp_partials(lambda g, x: mul(g, mul(x, _c(x, 2)))))
reciprocal_p, reciprocal = unary("reciprocal", _reciprocal, INEXACT, domain="nonzero",
                                 doc="1 / x",
                                 jvp=jvp_partials(lambda g, ans, x: neg(mul(g, mul(ans, ans))),
                                                  with_ans=True))
not_p, bitwise_not = unary("not", np.invert, INTEGER + BOOL, family="logical",
                           doc="bitwise not (logical not for booleans)", jvp=jvp_zero())
real_p, real = unary("real", np.real, COMPLEX, out_dtype=rules.real_dtype,
                     doc="real part of a complex number",
                     jvp=jvp_linear(), **_linear(lambda ct, x: [complex_(ct, _c(ct, 0))]))
imag_p, imag = unary("imag", np.imag, COMPLEX, out_dtype=rules.real_dtype,
                     doc="imaginary part of a complex number",
                     jvp=jvp_linear(), **_linear(lambda ct, x: [complex_(_c(ct, 0), neg(ct))]))
conj_p, conj = unary("conj", np.conj, INEXACT, doc="complex conjugate",
                     jvp=jvp_linear(), **_linear(lambda ct, x: [conj(ct)]))


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


add_p, add = binary("add", np.add, NUMERIC, doc="x + y",
                   jvp=jvp_partials(lambda g, x, y: g, lambda g, x, y: g),
                   transpose=transpose_elementwise(lambda ct, x, y: ct, lambda ct, x, y: ct),
                   linear_in=(0, 1))
sub_p, sub = binary("sub", np.subtract, NUMERIC, doc="x - y",
                   jvp=jvp_partials(lambda g, x, y: g, lambda g, x, y: neg(g)),
                   transpose=transpose_elementwise(lambda ct, x, y: ct,
                                                   lambda ct, x, y: neg(ct)),
                   linear_in=(0, 1))
mul_p, mul = binary("mul", np.multiply, NUMERIC, doc="x * y",
                   jvp=jvp_partials(lambda g, x, y: mul(g, y), lambda g, x, y: mul(x, g)),
                   transpose=_bilinear_transpose("mul", lambda ct, y: mul(ct, y),
                                                 lambda x, ct: mul(x, ct)),
                   linear_in=(0, 1))
div_p, div = binary("div", _div, NUMERIC, domain=("real", "nonzero"),
                    doc="x / y; integer division truncates toward zero (C semantics)",
                    jvp=jvp_partials(lambda g, ans, x, y: div(g, y),
                                     lambda g, ans, x, y: neg(mul(g, div(ans, y))),
                                     with_ans=True),
                    transpose=transpose_elementwise(lambda ct, x, y: div(ct, y), None),
                    linear_in=(0,))
rem_p, rem = binary("rem", _rem, REAL, domain=("real", "nonzero"),
                    doc="remainder with the sign of x (C fmod semantics)",
                    jvp=jvp_partials(lambda g, x, y: g, lambda g, x, y: _rem_jvp_rhs(g, x, y)))
pow_p, pow_ = binary("pow", _pow, INEXACT, domain=("positive", "real"), doc="x ** y",
                     jvp=jvp_partials(lambda g, ans, x, y: _pow_jvp_lhs(g, ans, x, y),
                                      lambda g, ans, x, y: _pow_jvp_rhs(g, ans, x, y),
                                      with_ans=True))
max_p, max_ = binary("max", np.maximum, REAL + BOOL, doc="elementwise maximum (NaN propagates)",
                     jvp=jvp_partials(lambda g, ans, x, y: mul(g, _balanced_eq(x, ans, y)),
                                      lambda g, ans, x, y: mul(g, _balanced_eq(y, ans, x)),
                                      with_ans=True))
min_p, min_ = binary("min", np.minimum, REAL + BOOL, doc="elementwise minimum (NaN propagates)",
                     jvp=jvp_partials(lambda g, ans, x, y: mul(g, _balanced_eq(x, ans, y)),
                                      lambda g, ans, x, y: mul(g, _balanced_eq(y, ans, x)),
                                      with_ans=True))
atan2_p, atan2 = binary("atan2", np.arctan2, FLOATING, doc="arctangent of x / y by quadrant",
                        jvp=jvp_partials(lambda g, x, y: mul(g, div(y, _sum_sq(x, y))),
                                         lambda g, x, y: neg(mul(g, div(x, _sum_sq(x, y))))))
nextafter_p, nextafter = binary("nextafter", np.nextafter, FLOATING,
                                doc="next float after x toward y",
                                jvp=jvp_partials(lambda g, x, y: g, None))
complex_p, complex_ = binary(
    "complex", _complex, (dt.float32, dt.float64), out_dtype=rules.complex_dtype,
    doc="x + 1j * y", jvp=jvp_linear(),
    transpose=transpose_elementwise(lambda ct, x, y: real(ct), lambda ct, x, y: imag(neg(ct))),
    linear_in=(0, 1))
and_p, bitwise_and = binary("and", np.bitwise_and, INTEGER + BOOL, family="logical",
                            doc="bitwise and (logical and for booleans)", jvp=jvp_zero())
or_p, bitwise_or = binary("or", np.bitwise_or, INTEGER + BOOL, family="logical",
                          doc="bitwise or (logical or for booleans)", jvp=jvp_zero())
xor_p, bitwise_xor = binary("xor", np.bitwise_xor, INTEGER + BOOL, family="logical",
                            doc="bitwise exclusive or", jvp=jvp_zero())
shift_left_p, shift_left = binary("shift_left", _shift_left, INTEGER, family="logical",
                                  doc="x << y (0 when y is out of range)", jvp=jvp_zero())
shift_right_arithmetic_p, shift_right_arithmetic = binary(
    "shift_right_arithmetic", _shift_right_arithmetic, INTEGER, family="logical",
    doc="x >> y, filling with the sign bit", jvp=jvp_zero())
shift_right_logical_p, shift_right_logical = binary(
    "shift_right_logical", _shift_right_logical, INTEGER, family="logical",
    doc="x >> y, filling with zeros", jvp=jvp_zero())


def _bool_out(d: np.dtype) -> np.dtype:
    return dt.bool_


def _compare(name: str, impl: Callable, dtypes: tuple, doc: str) -> tuple[Primitive, Callable]:
    return binary(name, impl, dtypes, out_dtype=_bool_out, family="compare", doc=doc,
                  jvp=jvp_zero())


eq_p, eq = _compare("eq", np.equal, ALL, "x == y")
ne_p, ne = _compare("ne", np.not_equal, ALL, "x != y")
lt_p, lt = _compare("lt", np.less, REAL + BOOL, "x < y")
le_p, le = _compare("le", np.less_equal, REAL + BOOL, "x <= y")
gt_p, gt = _compare("gt", np.greater, REAL + BOOL, "x > y")
ge_p, ge = _compare("ge", np.greater_equal, REAL + BOOL, "x >= y")


# --- select_n, clamp ----------------------------------------------------------------------------


def _select_n_impl(which: np.ndarray, *cases: np.ndarray) -> np.ndarray:
    if len(cases) == 1:
        return np.broadcast_to(cases[0], np.broadcast_shapes(which.shape, cases[0].shape))
    if which.dtype == np.bool_:
        return np.where(which, cases[1], cases[0])
    which = np.clip(which, 0, len(cases) - 1)
    if len(cases) <= 32:  # np.choose takes at most 64 arrays (which and the cases)
        return np.choose(which, cases)
    shape = np.broadcast_shapes(which.shape, *(c.shape for c in cases))
    stacked = np.stack([np.broadcast_to(c, shape) for c in cases])
    return np.take_along_axis(stacked, np.broadcast_to(which, shape)[None], axis=0)[0]


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


def _select_n_jvp() -> JVPRule:
    def build(prim: Primitive) -> Callable:
        def rule(primals: list, tangents: list) -> tuple[Any, Any]:
            which, *cases = primals
            ans = prim.bind(which, *cases)
            case_tangents = tangents[1:]
            if all(type(t) is Zero for t in case_tangents):
                return ans, Zero(tangent_aval(core.get_aval(ans)))
            return ans, prim.bind(which, *map(_instantiate_like_ans(ans), case_tangents))

        return rule

    return JVPRule(build)


def _instantiate_like_ans(ans: Any) -> Callable:
    aval = tangent_aval(core.get_aval(ans))

    def inst(t: Any) -> Any:
        return zeros_like_aval(aval) if type(t) is Zero else broadcast_to_aval(t, aval)

    return inst


def _select_transpose(safe: bool) -> Callable:
    """Transpose of select_n: each case gets the cotangent where it was selected, zero
    elsewhere. The ``safe`` variant (safe_where) marks those zeros as exact (MaskedCotangent),
    so NaN/inf derivatives in the unselected branch cannot leak through them."""

    def rule(ct: Any, which: Any, *cases: Any) -> list[Any]:
        if is_undefined(which):
            raise ValueError("functrans: select_n is not linear in its selector")
        out: list[Any] = [None]
        for i, c in enumerate(cases):
            if not is_undefined(c):
                out.append(None)
                continue
            value = unmask(ct)
            zeros = zeros_like_aval(core.get_aval(value))
            picked = select_n_p.bind(which, *[value if j == i else zeros
                                              for j in range(len(cases))])
            if safe or type(ct) is MaskedCotangent:
                keep = _selected(which, i, len(cases), core.get_aval(value).shape)
                if type(ct) is MaskedCotangent:
                    keep = bitwise_and(keep, ct.keep)
                out.append(masked_result(MaskedCotangent(picked, keep), picked, c.aval))
            else:
                out.append(unbroadcast(picked, c.aval))
        return out

    return handles_masks(rule)


def _selected(which: Any, i: int, n: int, shape: tuple[int, ...]) -> Any:
    """Boolean mask of the positions where case ``i`` is selected, at ``shape``."""
    w = core.get_aval(which)
    if w.dtype == np.bool_:
        keep = which if i == 1 else bitwise_not(which)
    else:
        keep = eq(which, np.asarray(i, w.dtype))
    from functrans.primitives.structural import broadcast_in_dim
    return keep if w.shape == shape else broadcast_in_dim(keep, shape, ())


select_n_p = define_primitive(
    "select_n", family="select", impl=_select_n_impl, abstract_eval=_select_n_rule, dtypes=ALL,
    sample=_select_n_sample, batch=batch_elementwise(scalar_ok=lambda i: i == 0),
    doc="cases[which]: pick elementwise among the cases",
    jvp=_select_n_jvp(),
    transpose=_select_transpose(safe=False), linear_in=(1, 2))

safe_select_n_p = define_primitive(
    "safe_select_n", family="select", impl=_select_n_impl, abstract_eval=_select_n_rule,
    dtypes=ALL, sample=_select_n_sample,
    batch=batch_elementwise(scalar_ok=lambda i: i == 0),
    doc="select_n whose reverse-mode derivative never carries NaN/inf from unselected cases",
    jvp=_select_n_jvp(),
    transpose=_select_transpose(safe=True), linear_in=(1, 2))


def select_n(which: Any, *cases: Any) -> Any:
    """Elementwise ``cases[which]``; ``which`` is bool (two cases) or int32."""
    return select_n_p.bind(which, *coerce_scalars(*cases))


def safe_select_n(which: Any, *cases: Any) -> Any:
    """select_n for NaN-safe masking; see functrans.numpy.safe_where."""
    return safe_select_n_p.bind(which, *coerce_scalars(*cases))


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
    sample=_clamp_sample, batch=batch_elementwise(scalar_ok=lambda i: i != 1),
    doc="min(max(x, lo), hi)",
    jvp=jvp_partials(lambda g, lo, x, hi: mul(g, _mask(gt(lo, x), lo)),
                     lambda g, lo, x, hi: mul(g, _mask(bitwise_and(ge(x, lo), le(x, hi)), x)),
                     lambda g, lo, x, hi: mul(g, _mask(lt(hi, x), hi))))


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


def _convert_jvp(primals: list, tangents: list, new_dtype: np.dtype,
                 weak_type: bool = False) -> tuple[Any, Any]:
    (x,), (t,) = primals, tangents
    ans = convert_element_type_p.bind(x, new_dtype=new_dtype, weak_type=weak_type)
    if type(t) is Zero or new_dtype.kind not in "fc":
        return ans, Zero(tangent_aval(core.get_aval(ans)))
    return ans, convert_element_type_p.bind(t, new_dtype=new_dtype, weak_type=False)


@handles_masks
def _convert_transpose(ct: Any, x: Any, new_dtype: np.dtype, weak_type: bool = False
                       ) -> list[Any]:
    out = convert_element_type_p.bind(unmask(ct), new_dtype=x.aval.dtype, weak_type=False)
    return [masked_result(ct, out, x.aval)]


convert_element_type_p = define_primitive(
    "convert_element_type", family="convert", impl=_convert_impl, abstract_eval=_convert_rule,
    dtypes=ALL, sample=_convert_sample,
    jvp=_convert_jvp, transpose=_convert_transpose, linear_in=(0,),
    batch=batch_unary(),
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
    doc="x, with a zero derivative: gradients do not flow through it", jvp=jvp_zero())
copy_p, copy = unary("copy", _identity, ALL, family="identity", doc="a copy of x",
                     jvp=jvp_linear(), **_linear(lambda ct, x: [copy(ct)]))


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
    dtypes=NUMERIC, sample=_bitcast_sample, jvp=jvp_zero(),
    batch=batch_unary(),
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
