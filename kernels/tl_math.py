"""Hand-written ``@triton.jit`` math helpers that generated kernels call.

Triton's core library has exp, log, sin, cos, sqrt, floor, ceil, erf, but no tanh, expm1,
log1p, atan, ... and its libdevice versions cannot run in the interpreter
(anchors/lowering.md section 1.4). These formulas use only the core operations, so the same
kernel runs on a GPU and in the interpreter, and they avoid cancellation where the textbook
formula has it (expm1 and log1p use Kahan's tricks; tanh/sinh go through expm1; atan is
Cephes' rational approximation, accurate to double precision). Every helper works on float32
and float64 tensors (half types are computed in float32 by the caller).

This module imports triton: only generated kernel modules import it.
"""

# ruff: noqa: PLR0124  (x != x is the NaN test: Triton has no isnan)
from __future__ import annotations

import triton
import triton.language as tl

PI = tl.constexpr(3.141592653589793)
PI_2 = tl.constexpr(1.5707963267948966)
PI_4 = tl.constexpr(0.7853981633974483)
LN2 = tl.constexpr(0.6931471805599453)


@triton.jit
def maximum(a, b):
    """NaN-propagating maximum (NumPy's np.maximum)."""
    return tl.maximum(a, b, propagate_nan=tl.PropagateNan.ALL)


@triton.jit
def minimum(a, b):
    """NaN-propagating minimum (NumPy's np.minimum)."""
    return tl.minimum(a, b, propagate_nan=tl.PropagateNan.ALL)


@triton.jit
def add(a, b):
    return a + b


@triton.jit
def multiply(a, b):
    return a * b


@triton.jit
def bit_and(a, b):
    return a & b


@triton.jit
def bit_or(a, b):
    return a | b


@triton.jit
def bit_xor(a, b):
    return a ^ b


@triton.jit
def argmax_combine(v1, i1, v2, i2):
    """(value, index) pairs: the larger value, NaN largest, ties to the lower index."""
    nan1 = v1 != v1
    nan2 = v2 != v2
    gt = (v1 > v2) | (nan1 & (nan2 == 0))
    eq = (v1 == v2) | (nan1 & nan2)
    pick1 = gt | (eq & (i1 < i2))
    return tl.where(pick1, v1, v2), tl.where(pick1, i1, i2)


@triton.jit
def argmin_combine(v1, i1, v2, i2):
    """(value, index) pairs: the smaller value, NaN smallest-first, ties to the lower index."""
    nan1 = v1 != v1
    nan2 = v2 != v2
    lt = (v1 < v2) | (nan1 & (nan2 == 0))
    eq = (v1 == v2) | (nan1 & nan2)
    pick1 = lt | (eq & (i1 < i2))
    return tl.where(pick1, v1, v2), tl.where(pick1, i1, i2)


@triton.jit
def expm1(x):
    # Kahan: (u - 1) * x / log(u) with u = exp(x) is accurate where exp(x) - 1 cancels.
    u = tl.exp(x)
    um1 = u - 1.0
    safe = tl.where((u == 1.0) | (um1 == -1.0) | (u == float("inf")), 2.0, u)
    r = um1 * x / tl.log(safe)
    r = tl.where(u == 1.0, x, r)
    r = tl.where(um1 == -1.0, -1.0, r)
    return tl.where(u == float("inf"), float("inf"), r)


@triton.jit
def log1p(x):
    # Goldberg: log(u) * x / (u - 1) with u = 1 + x.
    u = 1.0 + x
    d = u - 1.0
    safe_d = tl.where(d == 0.0, 1.0, d)
    r = tl.log(u) * (x / safe_d)
    r = tl.where(d == 0.0, x, r)
    return tl.where(x == float("inf"), float("inf"), r)


@triton.jit
def tanh(x):
    t = expm1(-2.0 * tl.abs(x))
    r = -t / (2.0 + t)
    return tl.where(x < 0.0, -r, tl.where(x == x, r, x))


@triton.jit
def sinh(x):
    a = tl.abs(x)
    u = expm1(a)
    r = 0.5 * (u + u / (u + 1.0))
    r = tl.where(u == float("inf"), float("inf"), r)
    return tl.where(x < 0.0, -r, tl.where(a == 0.0, x, r))


@triton.jit
def cosh(x):
    a = tl.abs(x)
    e = tl.exp(a - LN2)
    return e + 0.25 / e


@triton.jit
def logistic(x):
    z = tl.exp(-tl.abs(x))
    return tl.where(x >= 0.0, 1.0 / (1.0 + z), z / (1.0 + z))


@triton.jit
def _atan_positive(x):
    # Cephes atan.c (double precision): range reduction to |x| <= 0.66, then P/Q.
    big = x > 2.414213562373095
    mid = (x > 0.66) & (big == 0)
    safe = tl.where(x == 0.0, 1.0, x)
    z = tl.where(big, -1.0 / safe, tl.where(mid, (x - 1.0) / (x + 1.0), x))
    # (Constants go through a tensor of x's dtype: a where() of two Python floats would be
    # float32, too coarse for float64 inputs.)
    zero = x * 0.0
    y0 = tl.where(big, zero + PI_2, tl.where(mid, zero + PI_4, zero))
    zz = z * z
    p = (((-8.750608600031904122785e-1 * zz - 1.615753718733365076637e1) * zz
          - 7.500855792314704667340e1) * zz - 1.228866684490136173410e2) * zz \
        - 6.485021904942025371773e1
    q = ((((zz + 2.485846490142306297962e1) * zz + 1.650270098316988542046e2) * zz
          + 4.328810604912902668951e2) * zz + 4.853903996359136964868e2) * zz \
        + 1.945506571482613964425e2
    r = z * (zz * p / q) + z
    r = r + tl.where(big, zero + 6.123233995736765886130e-17,
                     tl.where(mid, zero + 3.061616997868382943065e-17, zero))
    return y0 + r


@triton.jit
def atan(x):
    r = _atan_positive(tl.abs(x))
    r = tl.where(tl.abs(x) == float("inf"), PI_2, r)
    return tl.where(x < 0.0, -r, tl.where(x == x, tl.where(x == 0.0, x, r), x))


@triton.jit
def _signbit(x):
    return (x < 0.0) | ((x == 0.0) & (1.0 / tl.where(x == 0.0, x, 1.0) < 0.0))


@triton.jit
def atan2(y, x):
    y, x = tl.broadcast(y, x)
    ax = tl.abs(x)
    ay = tl.abs(y)
    small = ay <= ax
    num = tl.where(small, ay, ax)
    den = tl.where(small, ax, ay)
    ratio = num / tl.where(den == 0.0, 1.0, den)
    t = _atan_positive(tl.where(ratio == ratio, ratio, 0.0))
    t = tl.where(small, t, PI_2 - t)
    t = tl.where((ax == float("inf")) & (ay == float("inf")), PI_4, t)
    t = tl.where(_signbit(x), PI - t, t)
    t = tl.where(_signbit(y), -t, t)
    return tl.where((x != x) | (y != y), x + y, t)


@triton.jit
def tan(x):
    return tl.sin(x) / tl.cos(x)


@triton.jit
def asin(x):
    return atan2(x, tl.sqrt((1.0 - x) * (1.0 + x)))


@triton.jit
def acos(x):
    return atan2(tl.sqrt((1.0 - x) * (1.0 + x)), x)


@triton.jit
def asinh(x):
    a = tl.abs(x)
    r = log1p(a + a * a / (1.0 + tl.sqrt(1.0 + a * a)))
    r = tl.where(a > 1.0e15, tl.log(a) + LN2, r)
    return tl.where(x < 0.0, -r, tl.where(a == 0.0, x, r))


@triton.jit
def acosh(x):
    t = x - 1.0
    r = log1p(t + tl.sqrt(t * (x + 1.0)))
    return tl.where(x > 1.0e15, tl.log(x) + LN2, r)


@triton.jit
def atanh(x):
    a = tl.abs(x)
    r = 0.5 * log1p(2.0 * a / (1.0 - a))
    return tl.where(x < 0.0, -r, tl.where(a == 0.0, x, r))


@triton.jit
def cbrt(x):
    a = tl.abs(x)
    safe = tl.where(a == 0.0, 1.0, a)
    r = tl.exp2(tl.log2(safe) / 3.0)
    r = r - (r * r * r - safe) / (3.0 * r * r)
    r = tl.where((a == 0.0) | (a == float("inf")) | (a != a), a, r)
    return tl.where(x < 0.0, -r, tl.where(a == 0.0, x, r))


@triton.jit
def power(x, y):
    """x ** y for floats, with NumPy's special cases (negative bases need integer y)."""
    x, y = tl.broadcast(x, y)
    ax = tl.abs(x)
    r = tl.exp2(y * tl.log2(ax))
    fy = tl.floor(y)
    y_int = fy == y
    half = fy * 0.5
    y_odd = y_int & (tl.floor(half) != half)
    r = tl.where(x < 0.0, tl.where(y_int, tl.where(y_odd, -r, r), float("nan")), r)
    r = tl.where((x == -1.0) & (tl.abs(y) == float("inf")), 1.0, r)
    r = tl.where((x == 1.0) | (y == 0.0), 1.0, r)
    return r


@triton.jit
def round_away(x):
    t = tl.where(x < 0.0, tl.ceil(x), tl.floor(x))
    return tl.where(tl.abs(x - t) >= 0.5, t + tl.where(x < 0.0, -1.0, 1.0), t)


@triton.jit
def round_even(x):
    f = tl.floor(x)
    d = x - f
    half = f * 0.5
    f_even = tl.floor(half) == half
    r = tl.where(d > 0.5, f + 1.0, tl.where(d < 0.5, f, tl.where(f_even, f, f + 1.0)))
    return tl.where(tl.abs(x) == float("inf"), x, r)


@triton.jit
def sign(x):
    return tl.where(x > 0, 1, tl.where(x < 0, -1, x))


@triton.jit
def float_to_int(x, lo, hi):
    """Saturating float -> int bounds test in float64 (NaN -> 0), as XLA and the impl do.
    Returns (in_range_value_as_float, is_high, is_low)."""
    xf = x.to(tl.float64)
    xf = tl.where(xf != xf, 0.0, xf)
    is_hi = xf >= hi
    is_lo = xf <= lo
    return tl.where(is_hi | is_lo, 0.0, xf), is_hi, is_lo
