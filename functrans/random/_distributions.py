"""The remaining ``functrans.random`` distributions, each JAX's transform of uniform, normal or
gamma draws: exponential, laplace, logistic, cauchy, pareto, weibull_min, geometric, rayleigh,
triangular, maxwell, double_sided_maxwell, wald, gamma, loggamma, beta, dirichlet, chisquare,
f, t, generalized_normal, ball, poisson and orthogonal. Imports config, dtypes, lax, numpy and
the package's ``_args``, ``_primitives``, ``_samplers`` and ``_threefry``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from functrans import config, lax
from functrans import dtypes as dt
from functrans import numpy as fnp
from functrans.random._args import (
    Shape,
    as_dtype,
    broadcast_shape,
    check_shape,
    float_dtype,
    int_dtype,
    linalg_fn,
    shape_arg,
    shape_of,
    split_list,
)
from functrans.random._primitives import random_gamma, random_poisson
from functrans.random._samplers import normal_any, normal_real, rademacher, uniform_in, unit_floats
from functrans.random._threefry import check_key

# --- transforms of a uniform draw -----------------------------------------------------------------


def exponential(key: Any, shape: Shape = (), dtype: Any = None) -> Any:
    """Exponential(1) draws: -log1p(-u)."""
    key = check_key("exponential", key)
    dtype = float_dtype("exponential", dtype)
    u = unit_floats(key, shape_arg("exponential", shape), dtype)
    return lax.neg(lax.log1p(lax.neg(u)))


def laplace(key: Any, shape: Shape = (), dtype: Any = None) -> Any:
    """Laplace(0, 1) draws: sign(u) * log1p(-|u|) for u uniform in (-1, 1)."""
    key = check_key("laplace", key)
    dtype = float_dtype("laplace", dtype)
    lo = np.array(-1.0 + np.finfo(dtype).epsneg, dtype)
    u = uniform_in(key, shape_arg("laplace", shape), dtype, lo, np.array(1.0, dtype))
    return lax.mul(lax.sign(u), lax.log1p(lax.neg(lax.abs(u))))


def logistic(key: Any, shape: Shape = (), dtype: Any = None) -> Any:
    """Logistic(0, 1) draws: logit(u)."""
    key = check_key("logistic", key)
    dtype = float_dtype("logistic", dtype)
    tiny = np.array(np.finfo(dtype).tiny, dtype)
    x = uniform_in(key, shape_arg("logistic", shape), dtype, tiny, np.array(1.0, dtype))
    return lax.sub(lax.log(x), lax.log1p(lax.neg(x)))


def cauchy(key: Any, shape: Shape = (), dtype: Any = None) -> Any:
    """Cauchy(0, 1) draws: tan(pi (u - 1/2))."""
    key = check_key("cauchy", key)
    dtype = float_dtype("cauchy", dtype)
    eps = np.array(np.finfo(dtype).eps, dtype)
    u = uniform_in(key, shape_arg("cauchy", shape), dtype, eps, np.array(1.0, dtype))
    return lax.tan(lax.mul(np.array(np.pi, dtype), lax.sub(u, np.array(0.5, dtype))))


def pareto(key: Any, b: Any, shape: Shape | None = None, dtype: Any = None) -> Any:
    """Pareto(b) draws on [1, inf): exp(E / b) with E exponential."""
    key = check_key("pareto", key)
    dtype = float_dtype("pareto", dtype)
    shape = broadcast_shape("pareto", shape, b)
    e = exponential(key, shape, dtype)
    return fnp.exp(e / as_dtype(b, dtype))


def weibull_min(key: Any, scale: Any, concentration: Any, shape: Shape = (),
                dtype: Any = None) -> Any:
    """Weibull draws: scale * (-log1p(-u)) ** (1 / concentration)."""
    key = check_key("weibull_min", key)
    dtype = float_dtype("weibull_min", dtype)
    u = unit_floats(key, shape_arg("weibull_min", shape), dtype)
    return fnp.power(-fnp.log1p(-u), 1.0 / concentration) * scale


def geometric(key: Any, p: Any, shape: Shape | None = None, dtype: Any = None) -> Any:
    """Trials up to the first success (>= 1): floor(log(u) / log1p(-p)) + 1."""
    key = check_key("geometric", key)
    dtype = int_dtype("geometric", dtype)
    shape = broadcast_shape("geometric", shape, p)
    p = fnp.asarray(p)
    if p.dtype.kind not in "fc":
        p = p.astype(config.default_float_dtype())
    u = unit_floats(key, shape, p.dtype)
    u = fnp.where(fnp.equal(u, 0), np.array(1, p.dtype), u)
    g = fnp.floor(fnp.log(u) / fnp.broadcast_to(fnp.log1p(-p), shape)) + 1
    return g.astype(dtype)


def rayleigh(key: Any, scale: Any, shape: Shape | None = None, dtype: Any = None) -> Any:
    """Rayleigh(scale) draws: scale * sqrt(-2 log u)."""
    key = check_key("rayleigh", key)
    dtype = float_dtype("rayleigh", dtype)
    shape = broadcast_shape("rayleigh", shape, scale)
    u = unit_floats(key, shape, dtype)
    scale = fnp.broadcast_to(as_dtype(scale, dtype), shape)
    return fnp.multiply(scale, fnp.sqrt(fnp.log(u) * np.array(-2, dtype)))


def triangular(key: Any, left: Any, mode: Any, right: Any, shape: Shape | None = None,
               dtype: Any = None) -> Any:
    """Triangular(left, mode, right) draws by inverting the CDF."""
    key = check_key("triangular", key)
    dtype = float_dtype("triangular", dtype)
    shape = broadcast_shape("triangular", shape, left, mode, right)
    left, mode, right = (fnp.broadcast_to(as_dtype(v, dtype), shape) for v in (left, mode, right))
    fc = (mode - left) / (right - left)
    u = unit_floats(key, shape, dtype)
    out1 = left + fnp.sqrt(u * (right - left) * (mode - left))
    out2 = right - fnp.sqrt((1 - u) * (right - left) * (right - mode))
    return fnp.where(fnp.less(u, fc), out1, out2)


# --- normal-based ---------------------------------------------------------------------------------


def maxwell(key: Any, shape: Shape = (), dtype: Any = None) -> Any:
    """Maxwell draws: the length of a standard normal 3-vector."""
    key = check_key("maxwell", key)
    dtype = float_dtype("maxwell", dtype)
    z = normal_real(key, shape_arg("maxwell", shape) + (3,), dtype)
    return fnp.sqrt(fnp.sum(z * z, axis=-1))


def double_sided_maxwell(key: Any, loc: Any, scale: Any, shape: Shape = (),
                         dtype: Any = None) -> Any:
    """loc + scale * (random sign) * Maxwell. As JAX, the result shape is
    ``(shape or param_shape) + param_shape`` for the broadcast shape of loc and scale."""
    key = check_key("double_sided_maxwell", key)
    dtype = float_dtype("double_sided_maxwell", dtype)
    params = tuple(np.broadcast_shapes(shape_of(loc), shape_of(scale)))
    shape = shape_arg("double_sided_maxwell", shape)
    shape = (shape or params) + params
    k_maxwell, k_sign = split_list(key, 2)
    m = maxwell(k_maxwell, shape, dtype)
    sign = rademacher(k_sign, shape, dtype)
    return sign * m * scale + loc


def wald(key: Any, mean: Any, shape: Shape | None = None, dtype: Any = None) -> Any:
    """Wald (inverse Gaussian) draws with unit scale, by Michael-Schucany-Haas."""
    key = check_key("wald", key)
    dtype = float_dtype("wald", dtype)
    shape = broadcast_shape("wald", shape, mean)
    k1, k2 = split_list(key, 2)
    mean = fnp.broadcast_to(as_dtype(mean, dtype), shape)
    v = normal_real(k1, shape, dtype)
    z = unit_floats(k2, shape, dtype)
    y = lax.integer_pow(v, 2)
    y_sq = lax.integer_pow(y, 2)
    mean_sq = lax.integer_pow(mean, 2)
    sqrt_term = fnp.sqrt(4 * mean * y + mean_sq * y_sq)
    x = mean + mean_sq * y / 2 - mean / 2 * sqrt_term
    return fnp.where(fnp.less_equal(z, mean / (mean + x)), x, mean_sq / x)


# --- gamma family ---------------------------------------------------------------------------------


def _gamma(name: str, key: Any, a: Any, shape: Any, dtype: Any, log_space: bool) -> Any:
    key = check_key(name, key)
    dtype = float_dtype(name, dtype)
    shape = shape_of(a) if shape is None else shape_arg(name, shape)
    check_shape(name, shape, shape_of(a))
    a = as_dtype(a, dtype)
    if shape_of(a) != shape:
        a = fnp.broadcast_to(a, shape)
    return random_gamma(key, a, log_space=log_space)


def gamma(key: Any, a: Any, shape: Shape | None = None, dtype: Any = None) -> Any:
    """Gamma(a, 1) draws by Marsaglia and Tsang's method (shape < 1 boosted), one split key
    per element, as JAX. Differentiable in ``a``: the implicit reparameterization gradient
    dx/da = -(dF/da) / (dF/dx) of the gamma CDF F (``random_gamma_grad``)."""
    return _gamma("gamma", key, a, shape, dtype, False)


def loggamma(key: Any, a: Any, shape: Shape | None = None, dtype: Any = None) -> Any:
    """log of Gamma(a, 1) draws, computed in log space (accurate for small a)."""
    return _gamma("loggamma", key, a, shape, dtype, True)


def beta(key: Any, a: Any, b: Any, shape: Shape | None = None, dtype: Any = None) -> Any:
    """Beta(a, b) draws: G_a / (G_a + G_b) from two log-gamma draws."""
    key = check_key("beta", key)
    dtype = float_dtype("beta", dtype)
    shape = broadcast_shape("beta", shape, a, b)
    a, b = as_dtype(a, dtype), as_dtype(b, dtype)
    key_a, key_b = split_list(key, 2)
    log_ga = loggamma(key_a, fnp.broadcast_to(a, shape), shape, dtype)
    log_gb = loggamma(key_b, fnp.broadcast_to(b, shape), shape, dtype)
    log_max = fnp.maximum(log_ga, log_gb)
    ga, gb = fnp.exp(log_ga - log_max), fnp.exp(log_gb - log_max)
    return ga / (ga + gb)


def _softmax(x: Any, axis: int) -> Any:
    unnormalized = fnp.exp(x - lax.stop_gradient(fnp.max(x, axis=axis, keepdims=True)))
    return unnormalized / fnp.sum(unnormalized, axis=axis, keepdims=True)


def dirichlet(key: Any, alpha: Any, shape: Shape | None = None, dtype: Any = None) -> Any:
    """Dirichlet(alpha) draws (alpha along the last axis): softmax of log-gamma draws."""
    key = check_key("dirichlet", key)
    dtype = float_dtype("dirichlet", dtype)
    a_shape = shape_of(alpha)
    if len(a_shape) < 1:
        raise ValueError("functrans.random.dirichlet: alpha must have ndim >= 1, got a scalar")
    if shape is None:
        shape = a_shape[:-1]
    else:
        shape = shape_arg("dirichlet", shape)
        check_shape("dirichlet", shape, a_shape[:-1])
    log_g = loggamma(key, as_dtype(alpha, dtype), shape + a_shape[-1:], dtype)
    return _softmax(log_g, -1)


def chisquare(key: Any, df: Any, shape: Shape | None = None, dtype: Any = None) -> Any:
    """Chi-square(df) draws: 2 * Gamma(df / 2)."""
    key = check_key("chisquare", key)
    dtype = float_dtype("chisquare", dtype)
    shape = broadcast_shape("chisquare", shape, df)
    half_df = fnp.divide(as_dtype(df, dtype), np.array(2, dtype))
    return fnp.exp(loggamma(key, half_df, shape, dtype)) * np.array(2, dtype)


def f(key: Any, dfnum: Any, dfden: Any, shape: Shape | None = None, dtype: Any = None) -> Any:
    """F(dfnum, dfden) draws: a ratio of scaled chi-squares."""
    key = check_key("f", key)
    dtype = float_dtype("f", dtype)
    shape = broadcast_shape("f", shape, dfnum, dfden)
    dfnum, dfden = as_dtype(dfnum, dtype), as_dtype(dfden, dtype)
    key_dfd, key_dfn = split_list(key, 2)
    num = fnp.divide(chisquare(key_dfn, dfnum, shape, dtype), dfnum)
    den = fnp.divide(chisquare(key_dfd, dfden, shape, dtype), dfden)
    return num / den


def t(key: Any, df: Any, shape: Shape | None = None, dtype: Any = None) -> Any:
    """Student's t(df) draws: N * sqrt((df / 2) / Gamma(df / 2))."""
    key = check_key("t", key)
    dtype = float_dtype("t", dtype)
    shape = broadcast_shape("t", shape, df)
    df = as_dtype(df, dtype)
    key_n, key_g = split_list(key, 2)
    n = normal_real(key_n, shape, dtype)
    half_df = fnp.divide(df, np.array(2, dtype))
    g = gamma(key_g, half_df, shape, dtype)
    return n * fnp.sqrt(half_df / g)


def generalized_normal(key: Any, p: float, shape: Shape = (), dtype: Any = None) -> Any:
    """Draws with density proportional to exp(-|x|**p): sign * Gamma(1/p) ** (1/p)."""
    key = check_key("generalized_normal", key)
    dtype = float_dtype("generalized_normal", dtype)
    shape = shape_arg("generalized_normal", shape)
    k_gamma, k_sign = split_list(key, 2)
    g = gamma(k_gamma, 1 / p, shape, dtype)
    r = rademacher(k_sign, shape, dtype)
    return r * g ** (1 / p)


def ball(key: Any, d: int, p: float = 2, shape: Shape = (), dtype: Any = None) -> Any:
    """Uniform draws from the unit p-norm ball in d dimensions (shape (*shape, d))."""
    key = check_key("ball", key)
    dtype = float_dtype("ball", dtype)
    shape = shape_arg("ball", shape)
    d = operator.index(d)
    k1, k2 = split_list(key, 2)
    g = generalized_normal(k1, p, (*shape, d), dtype)
    e = exponential(k2, shape, dtype)
    return g / (((fnp.abs(g) ** p).sum(-1) + e) ** (1 / p))[..., None]


def poisson(key: Any, lam: Any, shape: Shape | None = None, dtype: Any = None) -> Any:
    """Poisson(lam) counts (default int32), computed in float32 as JAX: Knuth's
    multiplication method for lam < 10, Hormann's transformed rejection above."""
    key = check_key("poisson", key)
    dtype = int_dtype("poisson", dtype)
    shape = shape_of(lam) if shape is None else shape_arg("poisson", shape)
    lam = fnp.broadcast_to(as_dtype(lam, dt.float32), shape)
    return random_poisson(key, lam, dtype=dtype)


def orthogonal(key: Any, n: int, shape: Shape = (), dtype: Any = None,
               m: int | None = None) -> Any:
    """Haar-distributed n x m matrices with orthonormal columns or rows (QR of a normal
    matrix, signs fixed by R's diagonal). Needs functrans.numpy.linalg.qr."""
    key = check_key("orthogonal", key)
    dtype = float_dtype("orthogonal", dtype, complex_ok=True)
    shape = shape_arg("orthogonal", shape)
    n = operator.index(n)
    m = n if m is None else operator.index(m)
    qr = linalg_fn("orthogonal", "qr")
    z = normal_any(key, (*shape, max(n, m), min(n, m)), dtype)
    q, r = qr(z)
    d = fnp.diagonal(r, axis1=-2, axis2=-1)
    x = q * fnp.expand_dims(fnp.sign(d), -2)
    return fnp.swapaxes(x, -1, -2) if n < m else x
