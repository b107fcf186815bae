"""Special functions: erf, erfc, erf_inv, lgamma, digamma, igamma, igammac, log_ndtr, ndtri.

This module owns the eager NumPy implementations of functrans' special-function primitives,
which generated NumPy code also calls. It imports only numpy and math (plus collections.abc for
type hints); no scipy. Every public function is vectorized like a ufunc: it takes float16/32/64
arrays or scalars of any shape, broadcasts its arguments, never modifies them, computes in
float64 and returns the input dtype (a NumPy scalar for 0-d input). Edge values follow
scipy.special unless a docstring says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "digamma",
    "erf",
    "erf_inv",
    "erfc",
    "igamma",
    "igammac",
    "lgamma",
    "log_ndtr",
    "ndtri",
]

_F64 = np.float64
_EPS = 2.0**-53
_ONE_MINUS_EULER = 0.42278433509846713  # 1 - Euler's gamma
_LOG_SQRT_2PI = 0.9189385332046728
_SQRT2 = 1.4142135623730951
_INV_SQRT2 = 0.7071067811865476
_INV_SQRT_PI = 0.5641895835477563

# --------------------------------------------------------------------------------------------
# Plumbing: dtype handling, broadcasting, Horner evaluation.
# --------------------------------------------------------------------------------------------


def _result_dtype(args: Sequence[ArrayLike], arrays: Sequence[np.ndarray]) -> np.dtype:
    """Promote like a ufunc (Python scalars are weak); non-float results become float64."""
    if any(np.iscomplexobj(arr) for arr in arrays):
        raise TypeError("functrans special functions accept real inputs only")
    weak = [arg if _is_python_scalar(arg) else arr for arg, arr in zip(args, arrays)]
    dtype = np.result_type(*weak)
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(_F64)


def _is_python_scalar(arg: object) -> bool:
    return isinstance(arg, (int, float)) and not isinstance(arg, np.generic)


def _apply(func: Callable[..., np.ndarray], *args: ArrayLike) -> np.ndarray | np.generic:
    """Run ``func`` on flat float64 copies of the broadcast args; restore shape and dtype."""
    arrays = [np.asarray(arg) for arg in args]
    dtype = _result_dtype(args, arrays)
    shape = np.broadcast_shapes(*(arr.shape for arr in arrays))
    flat = [np.broadcast_to(arr, shape).astype(_F64).ravel() for arr in arrays]
    with np.errstate(all="ignore"):
        out = func(*flat).reshape(shape).astype(dtype, copy=False)
    return out[()] if out.ndim == 0 else out


def _horner(coefs: Sequence[float], x: np.ndarray) -> np.ndarray:
    """Evaluate the polynomial with coefficients ``coefs`` (highest degree first) at x."""
    acc = np.full_like(x, coefs[0])
    for c in coefs[1:]:
        acc *= x
        acc += c
    return acc


def _split(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices where ``mask`` holds and where it does not (faster than boolean indexing)."""
    return np.flatnonzero(mask), np.flatnonzero(~mask)


# --------------------------------------------------------------------------------------------
# erf / erfc: W. J. Cody, "Rational Chebyshev approximations for the error function",
# Math. Comp. 23 (1969) 631-637 (the CALERF coefficients), reordered here for _horner.
# --------------------------------------------------------------------------------------------

_ERF_SMALL = 0.46875  # |x| <= this: erf(x) = x * A(x^2) / B(x^2)
_ERF_A_NUM = (1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02,
              3.77485237685302021e02, 3.20937758913846947e03)
_ERF_A_DEN = (1.0, 2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
              2.84423683343917062e03)
# 0.46875 < y <= 4: erfc(y) = exp(-y^2) * C(y) / D(y)
_ERF_C_NUM = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00,
              6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
              1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03)
_ERF_C_DEN = (1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
              1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
              3.43936767414372164e03, 1.23033935480374942e03)
# y > 4: erfc(y) = exp(-y^2) / y * (1/sqrt(pi) - z P(z) / Q(z)), z = 1/y^2
_ERF_P_NUM = (1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
              1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4)
_ERF_Q_DEN = (1.0, 2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
              6.05183413124413191e-2, 2.33520497626869185e-3)
_ERFC_UNDERFLOW = 27.3  # erfc(y) == 0 in float64 beyond this


def _erf_small(x: np.ndarray) -> np.ndarray:
    z = x * x
    return x * _horner(_ERF_A_NUM, z) / _horner(_ERF_A_DEN, z)


def _erfcx_big(y: np.ndarray) -> np.ndarray:
    """exp(y^2) * erfc(y) for y > 0.46875 (Cody's second and third intervals)."""
    out = np.empty_like(y)
    mid, big = _split(y <= 4.0)
    ym = y[mid]
    out[mid] = _horner(_ERF_C_NUM, ym) / _horner(_ERF_C_DEN, ym)
    yb = y[big]
    z = 1.0 / (yb * yb)
    out[big] = (_INV_SQRT_PI - z * _horner(_ERF_P_NUM, z) / _horner(_ERF_Q_DEN, z)) / yb
    return out


def _exp_neg_square(y: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """exp(-scale y^2) for finite y, splitting y^2 as Cody does to avoid its rounding error.

    ``scale`` must be a power of two so that scale * head^2 is exact.
    """
    head = np.trunc(y * 16.0) / 16.0
    return np.exp(-scale * head * head) * np.exp(-scale * (y - head) * (y + head))


def _erfc_big(y: np.ndarray) -> np.ndarray:
    """erfc(y) for y > 0.46875 (inf and nan allowed)."""
    fin, rest = _split(y < _ERFC_UNDERFLOW)
    out = np.empty_like(y)
    yf = y[fin]
    out[fin] = _exp_neg_square(yf) * _erfcx_big(yf)
    out[rest] = np.where(np.isnan(y[rest]), np.nan, 0.0)
    return out


def _erf64(x: np.ndarray) -> np.ndarray:
    y = np.abs(x)
    small, big = _split(y <= _ERF_SMALL)
    out = np.empty_like(x)
    out[small] = _erf_small(x[small])
    out[big] = np.copysign(1.0 - _erfc_big(y[big]), x[big])
    return out


def _erfc64(x: np.ndarray) -> np.ndarray:
    y = np.abs(x)
    small, big = _split(y <= _ERF_SMALL)
    out = np.empty_like(x)
    out[small] = 1.0 - _erf_small(x[small])
    tail = _erfc_big(y[big])
    out[big] = np.where(x[big] < 0.0, 2.0 - tail, tail)
    return out


def _erfcx64(y: np.ndarray) -> np.ndarray:
    """Scaled complementary error function exp(y^2) erfc(y) for y >= 0 (or nan)."""
    small, big = _split(y <= _ERF_SMALL)
    out = np.empty_like(y)
    ys = y[small]
    out[small] = np.exp(ys * ys) * (1.0 - _erf_small(ys))
    out[big] = _erfcx_big(y[big])
    return out


def erf(x: ArrayLike) -> np.ndarray | np.generic:
    """Error function; erf(+-inf) = +-1 (Cody's rational approximations)."""
    return _apply(_erf64, x)


def erfc(x: ArrayLike) -> np.ndarray | np.generic:
    """Complementary error function 1 - erf(x), accurate in the right tail; erfc(-inf) = 2."""
    return _apply(_erfc64, x)


# --------------------------------------------------------------------------------------------
# erf_inv, ndtri, log_ndtr. Initial guesses: P. J. Acklam's rational approximation of the
# normal quantile (relative error < 1.15e-9), then one Halley step against the accurate
# erf / erfc / log_ndtr above, which gives full double precision.
# --------------------------------------------------------------------------------------------

_ACKLAM_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
             1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_ACKLAM_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
             6.680131188771972e01, -1.328068155288572e01, 1.0)
_ACKLAM_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
             -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_ACKLAM_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
             3.754408661907416e00, 1.0)
_ACKLAM_P_LOW = 0.02425


def _acklam_central(q: np.ndarray) -> np.ndarray:
    """Approximate normal quantile at p = 0.5 + q, for |q| <= 0.5 - 0.02425."""
    r = q * q
    return q * _horner(_ACKLAM_A, r) / _horner(_ACKLAM_B, r)


def _acklam_tail(p: np.ndarray) -> np.ndarray:
    """Approximate normal quantile at 0 < p <= 0.02425 (negative)."""
    s = np.sqrt(-2.0 * np.log(p))
    return _horner(_ACKLAM_C, s) / _horner(_ACKLAM_D, s)


def _erf_inv_abs(a: np.ndarray) -> np.ndarray:
    """erf_inv(a) for 0 <= a < 1."""
    x = np.empty_like(a)
    central, tail = _split(a <= 1.0 - 2.0 * _ACKLAM_P_LOW)
    x[central] = _acklam_central(0.5 * a[central]) * _INV_SQRT2
    x[tail] = -_acklam_tail(0.5 * (1.0 - a[tail])) * _INV_SQRT2
    # Halley step on f(x) = erf(x) - a; for a > 1/2 use (1 - a) - erfc(x), 1 - a being exact.
    f = np.empty_like(a)
    lower, upper = _split(a <= 0.5)
    f[lower] = _erf64(x[lower]) - a[lower]
    f[upper] = (1.0 - a[upper]) - _erfc64(x[upper])
    u = f / (2.0 * _INV_SQRT_PI * np.exp(-x * x))
    return x - u / (1.0 + x * u)


def _erf_inv64(y: np.ndarray) -> np.ndarray:
    a = np.abs(y)
    out = np.where(a == 1.0, np.inf, np.nan)
    inside = np.flatnonzero(a < 1.0)
    out[inside] = _erf_inv_abs(a[inside])
    return np.copysign(out, y)


def erf_inv(x: ArrayLike) -> np.ndarray | np.generic:
    """Inverse error function; +-inf at +-1 and nan outside [-1, 1]."""
    return _apply(_erf_inv64, x)


def _log_ndtr64(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    neg, rest = _split(x < 0.0)
    xn = x[neg]
    # log(erfc(t) / 2) with t = -x / sqrt(2), as log(erfcx(t) / 2) - x^2 / 2: no underflow.
    out[neg] = np.log(0.5 * _erfcx64(-xn * _INV_SQRT2)) - 0.5 * xn * xn
    # log(1 - Q(x)) where Q(x) = erfcx(x / sqrt(2)) exp(-x^2 / 2) / 2; x^2 is not rounded.
    xr = x[rest]
    pos = rest[xr < 40.0]
    xp = x[pos]
    out[rest] = np.where(np.isnan(xr), np.nan, -0.0)
    out[pos] = np.log1p(-0.5 * _erfcx64(xp * _INV_SQRT2) * _exp_neg_square(xp, 0.5))
    return out


def log_ndtr(x: ArrayLike) -> np.ndarray | np.generic:
    """Log of the standard normal CDF, accurate for very negative x; log_ndtr(-inf) = -inf."""
    return _apply(_log_ndtr64, x)


def _ndtri_lower(p: np.ndarray) -> np.ndarray:
    """Normal quantile for 0 < p < 0.25: Acklam guess + Halley step on log_ndtr(x) - log(p)."""
    x = np.empty_like(p)
    tail, central = _split(p < _ACKLAM_P_LOW)
    x[tail] = _acklam_tail(p[tail])
    x[central] = _acklam_central(p[central] - 0.5)
    log_cdf = _log_ndtr64(x)
    g = log_cdf - np.log(p)
    r = np.exp(-0.5 * x * x - _LOG_SQRT_2PI - log_cdf)  # pdf / cdf = d log_cdf / dx
    return x - (g / r) / (1.0 + g * (x + r) / (2.0 * r))


def _ndtri64(p: np.ndarray) -> np.ndarray:
    out = np.where(p == 0.0, -np.inf, np.where(p == 1.0, np.inf, np.nan))
    low = np.flatnonzero((p > 0.0) & (p < 0.25))
    mid = np.flatnonzero((p >= 0.25) & (p <= 0.75))
    high = np.flatnonzero((p > 0.75) & (p < 1.0))
    out[low] = _ndtri_lower(p[low])
    out[mid] = _SQRT2 * _erf_inv64(2.0 * p[mid] - 1.0)  # 2p - 1 is exact here
    out[high] = -_ndtri_lower(1.0 - p[high])  # 1 - p is exact here
    return out


def ndtri(p: ArrayLike) -> np.ndarray | np.generic:
    """Inverse of the standard normal CDF; -inf at 0, inf at 1, nan outside [0, 1]."""
    return _apply(_ndtri64, p)


# --------------------------------------------------------------------------------------------
# lgamma and digamma. Near [1.5, 2.5] both use the Taylor series about 2 (Abramowitz & Stegun
# 6.1.33 and 6.3.14): lgamma(2 + d) = (1 - g) d + sum_{n>=2} (-1)^n (zeta(n) - 1) d^n / n and
# its derivative digamma(2 + d) = (1 - g) + sum_{n>=2} (-1)^n (zeta(n) - 1) d^(n-1),
# converging like (|d|/2)^n. Other arguments are shifted there by the recurrence; x >= 10 uses
# the Stirling / asymptotic series; x <= -0.5 uses the reflection formula (lgamma only below
# -34: on (-34, -0.5) its upward recurrence has exact factors and avoids cancellation).
# --------------------------------------------------------------------------------------------

# zeta(n) - 1 for n = 2..30 (computed with mpmath at 50 digits).
_ZETA_M1 = (
    0.6449340668482264, 0.2020569031595943, 0.08232323371113819,
    0.03692775514336993, 0.01734306198444914, 0.008349277381922827,
    0.00407735619794434, 0.0020083928260822143, 0.0009945751278180853,
    0.0004941886041194645, 0.0002460865533080483, 0.00012271334757848915,
    6.124813505870483e-05, 3.058823630702049e-05, 1.528225940865187e-05,
    7.637197637899763e-06, 3.81729326499984e-06, 1.908212716553939e-06,
    9.539620338727962e-07, 4.769329867878064e-07, 2.38450502727733e-07,
    1.1921992596531106e-07, 5.960818905125948e-08, 2.980350351465228e-08,
    1.4901554828365043e-08, 7.45071178983543e-09, 3.725334024788457e-09,
    1.862659723513049e-09, 9.313274324196682e-10,
)
# Coefficients of d^n, highest n first: lgamma(2 + d) = d * _horner(_LGAMMA2, d) and
# digamma(2 + d) = (1 - g) + d * _horner(_DIGAMMA2, d).
_LGAMMA2 = tuple((-1) ** n * z / n for n, z in reversed(list(enumerate(_ZETA_M1, 2)))) + (
    _ONE_MINUS_EULER,)
_DIGAMMA2 = tuple((-1) ** n * z for n, z in reversed(list(enumerate(_ZETA_M1, 2))))

# Stirling series: lgamma(x) = (x - 1/2) log x - x + log sqrt(2 pi) + sum B_2k / (2k(2k-1) x^..)
_STIRLING = (-3617 / 122400, 1 / 156, -691 / 360360, 1 / 1188, -1 / 1680, 1 / 1260, -1 / 360,
             1 / 12)
# digamma(x) = log x - 1/(2x) - sum_k B_2k / (2k x^2k)
_DIGAMMA_ASYM = (-3617 / 8160, 1 / 12, -691 / 32760, 1 / 132, -1 / 240, 1 / 252, -1 / 120,
                 1 / 12)
_ASYMPTOTIC_MIN = 10.0
_LGAMMA_RECUR_MAX = 34.0  # lgamma uses the recurrence on (-34, -0.5), reflection below


def _stirling_correction(x: np.ndarray) -> np.ndarray:
    """lgamma(x) - [(x - 1/2) log x - x + log sqrt(2 pi)], for x >= 10."""
    r = 1.0 / x
    return r * _horner(_STIRLING, r * r)


def _lgamma_main(x: np.ndarray) -> np.ndarray:
    """log|Gamma(x)| for x > -0.5, x != 0."""
    out = np.empty_like(x)
    big, small = _split(x >= _ASYMPTOTIC_MIN)
    xb = x[big]
    stirling = (xb - 0.5) * np.log(xb) - xb + _LOG_SQRT_2PI + _stirling_correction(xb)
    out[big] = np.where(xb == np.inf, np.inf, stirling)
    xs = x[small]
    m = np.floor(xs + 0.5)
    d = xs - m  # exact
    res = d * _horner(_LGAMMA2, d)  # lgamma(2 + d)
    prod = np.ones_like(xs)
    for k in range(1, int(_ASYMPTOTIC_MIN) - 1):  # lgamma(x) = lgamma(x - 1) + log(x - 1)
        prod = np.where(m - 2 >= k, prod * (xs - k), prod)
    res += np.log(prod)
    res = np.where(m <= 1, res - np.log1p(d), res)  # lgamma(1 + d) = lgamma(2 + d) - log(1 + d)
    res = np.where(m <= 0, res - np.log(np.abs(d)), res)  # lgamma(d) = lgamma(1 + d) - log|d|
    out[small] = res
    return out


def _lgamma_negative(x: np.ndarray) -> np.ndarray:
    """log|Gamma(x)| for -_LGAMMA_RECUR_MAX < x <= -0.5, x not an integer.

    Gamma(x) = Gamma(1 + d) / (d x (x + 1) ... (x + n - 1)) with d = x + n in [-1/2, 1/2);
    all factors are exact, so this beats the reflection formula's cancellation.
    """
    m = np.floor(x + 0.5)
    d = x - m  # exact
    prod = d.copy()
    for k in range(int(_LGAMMA_RECUR_MAX)):
        prod = np.where(k < -m, prod * (x + k), prod)
    return d * _horner(_LGAMMA2, d) - np.log1p(d) - np.log(np.abs(prod))


def _lgamma64(x: np.ndarray) -> np.ndarray:
    out = np.where(np.isnan(x), np.nan, np.inf)  # poles 0, -1, -2, ... and -inf give +inf
    main = np.flatnonzero((x > -0.5) & (x != 0.0))
    out[main] = _lgamma_main(x[main])
    not_pole = x != np.floor(x)
    recur = np.flatnonzero((x <= -0.5) & (x > -_LGAMMA_RECUR_MAX) & not_pole)
    out[recur] = _lgamma_negative(x[recur])
    refl = np.flatnonzero((x <= -_LGAMMA_RECUR_MAX) & not_pole)
    xr = x[refl]
    # log|Gamma(x)| = log(pi / |sin(pi x)|) - lgamma(1 - x)
    sin_pi = np.abs(np.sin(math.pi * (xr - np.floor(xr + 0.5))))
    out[refl] = np.log(math.pi / sin_pi) - _lgamma_main(1.0 - xr)
    return out


def lgamma(x: ArrayLike) -> np.ndarray | np.generic:
    """log|Gamma(x)|; +inf at the poles 0, -1, -2, ... and at +-inf.

    lgamma(-inf) = +inf as in math.lgamma and JAX (scipy.special.gammaln returns -inf).
    """
    return _apply(_lgamma64, x)


def _digamma_main(x: np.ndarray) -> np.ndarray:
    """digamma(x) for x > -0.5, x != 0."""
    out = np.empty_like(x)
    big, small = _split(x >= _ASYMPTOTIC_MIN)
    xb = x[big]
    r2 = 1.0 / (xb * xb)
    out[big] = np.log(xb) - 0.5 / xb - r2 * _horner(_DIGAMMA_ASYM, r2)
    xs = x[small]
    m = np.floor(xs + 0.5)
    d = xs - m  # exact
    res = _ONE_MINUS_EULER + d * _horner(_DIGAMMA2, d)  # digamma(2 + d)
    for k in range(1, int(_ASYMPTOTIC_MIN) - 1):  # digamma(x) = digamma(x - 1) + 1 / (x - 1)
        res = np.where(m - 2 >= k, res + 1.0 / (xs - k), res)
    res = np.where(m <= 1, res - 1.0 / (1.0 + d), res)  # digamma(1 + d) = digamma(2 + d) - ...
    res = np.where(m <= 0, res - 1.0 / d, res)  # digamma(d) = digamma(1 + d) - 1 / d
    out[small] = res
    return out


def _digamma64(x: np.ndarray) -> np.ndarray:
    out = np.where(x == 0.0, np.copysign(np.inf, -x), np.nan)  # nan: -1, -2, ..., -inf, nan
    main = np.flatnonzero((x > -0.5) & (x != 0.0))
    out[main] = _digamma_main(x[main])
    refl = np.flatnonzero((x <= -0.5) & (x != np.floor(x)))
    xr = x[refl]
    # digamma(x) = digamma(1 - x) - pi cos(pi r) / sin(pi r), r = x - round(x) (both exact),
    # with cos(pi r) = sin(pi (1/2 - |r|)) so that it is exactly 0 at r = +-1/2.
    r = xr - np.floor(xr + 0.5)
    cot_pi = np.sin(math.pi * (0.5 - np.abs(r))) / np.sin(math.pi * r)
    out[refl] = _digamma_main(1.0 - xr) - math.pi * cot_pi
    return out


def digamma(x: ArrayLike) -> np.ndarray | np.generic:
    """Digamma psi(x) = d/dx lgamma(x).

    Like scipy.special.digamma: -inf at +0.0, +inf at -0.0 (the one-sided limits), nan at the
    negative integers and at -inf.
    """
    return _apply(_digamma64, x)


# --------------------------------------------------------------------------------------------
# Regularized incomplete gamma functions P(a, x) and Q(a, x) = 1 - P(a, x). The method choice
# follows Cephes / scipy (igam.c): power series for P (x <= 1.1 or x <= a); the Legendre
# continued fraction for Q (Numerical Recipes 6.2, modified Lentz) for x > max(a, 1.1); the
# series Q = 1 - x^a/Gamma(a+1) - (x^a/Gamma(a)) sum_{n>=1} (-x)^n/(n!(a+n)) for small x and a;
# and Temme's uniform asymptotic expansion (N. M. Temme, SIAM J. Math. Anal. 10 (1979) 757;
# DiDonato & Morris, ACM TOMS 12 (1986) 377) for a >= 100, |x - a| < 0.3 a. Each method gives
# whichever of P, Q is not close to 1; the other is 1 minus it.
# --------------------------------------------------------------------------------------------

_IGAMMA_MAX_ITER = 500  # series and continued fraction need < ~150 steps outside Temme's range
_TEMME_MIN_A = 100.0
_TEMME_MAX_SIGMA = 0.3
# Taylor coefficients d_kn (lowest order first) of Temme's C_k(eta), computed exactly with
# rational arithmetic from C_0 = 1/mu - 1/eta, C_k = C_{k-1}'(eta)/eta - C_{k-1}'(0)/mu, where
# eta^2/2 = mu - log(1 + mu); truncated for 1e-17 accuracy when a >= 100, |mu| < 0.3.
_TEMME_D = (
    (-0.3333333333333333, 0.08333333333333333, -0.014814814814814815, 0.0011574074074074073,
     0.0003527336860670194, -0.0001787551440329218, 3.919263178522438e-05,
     -2.185448510679992e-06, -1.85406221071516e-06, 8.296711340953087e-07,
     -1.7665952736826078e-07, 6.707853543401498e-09, 1.0261809784240309e-08,
     -4.382036018453353e-09, 9.14769958223679e-10, -2.5514193994946248e-11),
    (-0.001851851851851852, -0.003472222222222222, 0.0026455026455026454,
     -0.0009902263374485596, 0.00020576131687242798, -4.018775720164609e-07,
     -1.8098550334489977e-05, 7.64916091608111e-06, -1.6120900894563446e-06,
     4.647127802807434e-09, 1.378633446915721e-07, -5.752545603517705e-08,
     1.1951628599778148e-08),
    (0.004133597883597883, -0.0026813271604938273, 0.0007716049382716049,
     2.0093878600823047e-06, -0.0001073665322636516, 5.2923448829120125e-05,
     -1.2760635188618728e-05, 3.423578734096138e-08, 1.3721957309062934e-06,
     -6.298992138380055e-07, 1.4280614206064242e-07, -2.0477098421990866e-10,
     -1.409252991086752e-08),
    (0.0006494341563786008, 0.00022947209362139917, -0.0004691894943952557,
     0.00026772063206283885, -7.561801671883977e-05, -2.396505113867297e-07,
     1.1082654115347302e-05, -5.6749528269915965e-06, 1.4230900732435883e-06,
     -2.7861080291528143e-11, -1.6958404091930278e-07),
    (-0.0008618882909167117, 0.0007840392217200666, -0.0002990724803031902,
     -1.4638452578843418e-06, 6.641498215465122e-05, -3.968365047179435e-05,
     1.1375726970678419e-05, 2.507497226237533e-10, -1.6954149536558305e-06),
    (-0.00033679855336635813, -6.972813758365857e-05, 0.0002772753244959392,
     -0.00019932570516188847, 6.797780477937208e-05),
    (0.0005313079364639922, -0.0005921664373536939, 0.0002708782096718045),
    (0.00034436760689237765,),
)
# log(1 + m) - m = -s m + 2 s^3 sum_k s^(2k) / (2k + 3), s = m / (2 + m); |s| <= 1/3 when used.
_LOG1PMX_SERIES = tuple(1.0 / (2 * k + 3) for k in reversed(range(18)))


def _log1pmx(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """log1pmx(m) = log(1 + m) - m at m = (x - a) / a, without cancellation when x ~ a."""
    m = (x - a) / a
    s = m / (2.0 + m)
    s2 = s * s
    series = -s * m + 2.0 * s * s2 * _horner(_LOG1PMX_SERIES, s2)
    return np.where(np.abs(m) <= 0.5, series, np.log(x / a) - m)


def _lgamma1p(a: np.ndarray) -> np.ndarray:
    """lgamma(1 + a) for a > 0, accurate also for tiny a and a near 1."""
    out = np.empty_like(a)
    low = np.flatnonzero(a <= 0.5)
    near_one = np.flatnonzero((a > 0.5) & (a <= 1.5))
    high = np.flatnonzero(a > 1.5)
    out[low] = a[low] * _horner(_LGAMMA2, a[low]) - np.log1p(a[low])
    d = a[near_one] - 1.0
    out[near_one] = d * _horner(_LGAMMA2, d)
    out[high] = _lgamma64(1.0 + a[high])
    return out


def _power_factor(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """x^a e^-x / Gamma(a + 1), via Stirling's formula in terms of x/a - 1 when a >= 10."""
    out = np.empty_like(x)
    small, big = _split(a < _ASYMPTOTIC_MIN)
    a_s, x_s = a[small], x[small]
    out[small] = np.exp(a_s * np.log(x_s) - x_s - _lgamma1p(a_s))
    a_b, x_b = a[big], x[big]
    log_factor = a_b * _log1pmx(x_b, a_b) - _stirling_correction(a_b)
    out[big] = np.exp(log_factor) / np.sqrt(2.0 * math.pi * a_b)
    return out


_State = tuple[np.ndarray, ...]


def _iterate(step: Callable[..., tuple[_State, np.ndarray]], *state: np.ndarray) -> np.ndarray:
    """Run ``state, done = step(n, *state)`` for n = 1, 2, ... and return ``state[0]``.

    Converged elements are dropped from the working arrays in batches (they may take a few
    extra harmless steps first); the loop stops after _IGAMMA_MAX_ITER steps in any case.
    """
    out = np.empty_like(state[0])
    idx = np.arange(out.size)
    finished = np.zeros(out.size, dtype=bool)
    for n in range(1, _IGAMMA_MAX_ITER + 1):
        if idx.size == 0:
            break
        state, done = step(n, *state)
        finished |= done
        count = np.count_nonzero(finished)
        if 4 * count >= idx.size:
            out[idx[finished]] = state[0][finished]
            keep = np.flatnonzero(~finished)
            idx, finished = idx[keep], finished[keep]
            state = tuple(arr[keep] for arr in state)
    out[idx] = state[0]
    return out


def _p_series_step(n: int, acc: np.ndarray, term: np.ndarray, a: np.ndarray,
                   x: np.ndarray) -> tuple[_State, np.ndarray]:
    term = term * x / (a + n)
    acc = acc + term
    return (acc, term, a, x), term <= _EPS * acc


def _p_series(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(a, x) = x^a e^-x / Gamma(a + 1) * sum_{n>=0} x^n / ((a + 1)...(a + n))."""
    one = np.ones_like(x)
    return _power_factor(a, x) * _iterate(_p_series_step, one, one, a, x)


_TINY = 1e-300


def _cf_step(n: int, h: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray,
             a: np.ndarray) -> tuple[_State, np.ndarray]:
    an = -n * (n - a)
    b = b + 2.0
    d = an * d + b
    d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
    c = b + an / c
    c = np.where(np.abs(c) < _TINY, _TINY, c)
    delta = c * d
    return (h * delta, b, c, d, a), np.abs(delta - 1.0) <= _EPS


def _q_continued_fraction(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Q(a, x) for x > max(a, 1) by the Legendre continued fraction (modified Lentz)."""
    b = x + 1.0 - a
    d = 1.0 / b
    c = np.full_like(x, 1.0 / _TINY)
    return a * _power_factor(a, x) * _iterate(_cf_step, d, b, c, d, a)


def _q_series_step(n: int, acc: np.ndarray, fac: np.ndarray, a: np.ndarray,
                   x: np.ndarray) -> tuple[_State, np.ndarray]:
    fac = fac * (-x / n)
    term = fac / (a + n)
    acc = acc + term
    return (acc, fac, a, x), np.abs(term) <= _EPS * np.abs(acc)


def _q_series(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Q(a, x) for x <= 1.1 and small a (Cephes igamc_series)."""
    total = _iterate(_q_series_step, np.zeros_like(x), np.ones_like(x), a, x)
    a_log_x = a * np.log(x)
    return -np.expm1(a_log_x - _lgamma1p(a)) - np.exp(a_log_x - _lgamma64(a)) * total


def _temme(a: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, Q) by Temme: Q = erfc(eta sqrt(a/2))/2 + R, R = e^(-a eta^2/2) sum C_k a^-k / ..."""
    lpm = _log1pmx(x, a)  # = -eta^2 / 2
    eta = np.copysign(np.sqrt(-2.0 * lpm), x - a)
    series = np.zeros_like(a)
    for coefs in reversed(_TEMME_D):
        series = series / a + _horner(coefs[::-1], eta)
    r = np.exp(a * lpm) / np.sqrt(2.0 * math.pi * a) * series
    arg = eta * np.sqrt(0.5 * a)
    lower = eta < 0.0
    p = np.where(lower, 0.5 * _erfc64(-arg) - r, 0.0)
    q = np.where(lower, 0.0, 0.5 * _erfc64(arg) + r)
    return np.where(lower, p, 1.0 - q), np.where(lower, 1.0 - p, q)


def _igamma_pq(a: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(a, x), Q(a, x)) elementwise on flat float64 arrays."""
    p = np.full_like(x, np.nan)
    q = np.full_like(x, np.nan)
    valid = (a > 0.0) & (x >= 0.0)  # false for nan
    a_inf, x_inf = np.isinf(a), np.isinf(x)
    for where, p_val, q_val in ((valid & (x == 0.0), 0.0, 1.0),
                                (valid & a_inf & ~x_inf & (x > 0.0), 0.0, 1.0),
                                (valid & x_inf & ~a_inf, 1.0, 0.0)):
        p[where], q[where] = p_val, q_val
    work = valid & (x > 0.0) & ~a_inf & ~x_inf
    temme = work & (a >= _TEMME_MIN_A) & (np.abs(x - a) < _TEMME_MAX_SIGMA * a)
    cf = work & ~temme & (x > 1.1) & (x > a)
    p_ser = work & ~temme & ~cf
    # Q by its own series where P is close to 1 for small x (Cephes' choice).
    a_log_x = a * np.log(np.where(x > 0.0, x, 1.0))
    q_ser = p_ser & (x <= 1.1) & np.where(x <= 0.5, a_log_x >= -0.4, a <= 1.1 * x)

    i = np.flatnonzero(temme)
    p[i], q[i] = _temme(a[i], x[i])
    i = np.flatnonzero(cf)
    q[i] = _q_continued_fraction(a[i], x[i])
    p[i] = 1.0 - q[i]
    i = np.flatnonzero(p_ser)
    p[i] = _p_series(a[i], x[i])
    q[i] = 1.0 - p[i]
    i = np.flatnonzero(q_ser)
    q[i] = _q_series(a[i], x[i])
    return p, q


def igamma(a: ArrayLike, x: ArrayLike) -> np.ndarray | np.generic:
    """Regularized lower incomplete gamma P(a, x) = gamma(a, x) / Gamma(a).

    nan where a <= 0 or x < 0 (as JAX; scipy gives P(0, x) = 1 for x > 0); 0 at x = 0; 1 at
    x = inf; 0 for a = inf and x finite; nan for a = x = inf. Accurate for all a: iterations
    are bounded (series / continued fraction need < 100 steps outside Temme's region).
    """
    return _apply(lambda a_, x_: _igamma_pq(a_, x_)[0], a, x)


def igammac(a: ArrayLike, x: ArrayLike) -> np.ndarray | np.generic:
    """Regularized upper incomplete gamma Q(a, x) = 1 - P(a, x), accurate where P ~ 1.

    Edge values mirror igamma: nan where a <= 0 or x < 0; 1 at x = 0; 0 at x = inf.
    """
    return _apply(lambda a_, x_: _igamma_pq(a_, x_)[1], a, x)
