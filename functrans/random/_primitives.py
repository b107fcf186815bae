"""Sampling primitives whose algorithms loop until acceptance: ``random_gamma`` (Marsaglia and
Tsang's method, as JAX runs it), its reparameterization derivative ``random_gamma_grad``, and
``random_poisson`` (Knuth's method below rate 10, transformed rejection above, as JAX).

Their operands are a key array ``uint32[*B, 2]`` and a parameter array ``[*B, *S]``: each of the
B keys is used for its own slice of S parameters, which is also how they batch (the batch
dimension becomes a leading B dimension). The NumPy impls run the rejection loops vectorized
over all elements, drawing from the same threefry streams as JAX's per-element while loops, so
samples match JAX's up to float rounding. Imports core, dtypes, errors, registry, rules,
ad_rules, batch_rules, special and the random package's ``_threefry``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from functrans import core, lax
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import rules, special
from functrans.primitives.ad_rules import jvp_partials, jvp_zero
from functrans.primitives.batch_rules import AxisData, batch_elementwise, bdim_at_front
from functrans.primitives.registry import Example, define_primitive
from functrans.random._threefry import U32, np_bits_shape, np_split

__all__ = ["random_gamma", "random_gamma_grad", "random_gamma_grad_p", "random_gamma_p",
           "random_poisson", "random_poisson_p"]

_FLOATING = frozenset(dt.FLOATING)


# --- shared: keyed operands -----------------------------------------------------------------------


def _check_keyed(name: str, key: ShapedArray, x: ShapedArray, allowed: frozenset) -> None:
    if key.dtype != U32 or key.shape[-1:] != (2,):
        raise DtypeError(f"functrans.random.{name}: the key operand must be uint32[..., 2], "
                         f"got {key.str_short()}")
    rules.check_dtype(name, x, allowed)
    nb = key.ndim - 1
    if x.shape[:nb] != key.shape[:-1]:
        raise ShapeError(f"functrans.random.{name}: a key array {key.str_short()} needs an "
                         f"operand whose shape starts with {key.shape[:-1]}, got {x.str_short()}")


def _batch_keyed() -> Any:
    """Both operands get the batch dimension in front: one more leading key dimension."""
    from functrans.primitives.batch_rules import BatchRule

    def build(prim: Any) -> Any:
        def rule(axis: AxisData, vals: list, dims: list, **params: Any) -> tuple[Any, int]:
            key, x = (bdim_at_front(v, d, axis.size) for v, d in zip(vals, dims, strict=True))
            return prim.bind(key, x, **params), 0

        return rule

    return BatchRule(build)


def _flat_keys(key: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, int]:
    """Keys (B, 2) and the number of operand elements each of them serves."""
    nb = key.ndim - 1
    return key.reshape(-1, 2), math.prod(x.shape[nb:])


def _keyed_samples(dtype: np.dtype, values: Any, params: list[dict]) -> list[Example]:
    key = np.array([0, 42], U32)
    keys = np.array([[1, 2], [3, 4]], U32)
    out = []
    for p in params:
        for i, shape in enumerate(((), (0,), (3,), (2, 3))):
            out.append(Example((key, values(shape, dtype, i)), dict(p)))
        out.append(Example((keys, values((2, 3), dtype, 7)), dict(p), note="key-batch"))
    return out


# --- NumPy draws matching the lax-level samplers, for one key per element -------------------------


def _np_uniform(keys: np.ndarray, dtype: np.dtype, shape: tuple[int, ...] = (),
                lo: Any = 0, hi: Any = 1) -> np.ndarray:
    """``uniform(keys[m], shape, dtype, lo, hi)`` for each m (shape (M, *shape))."""
    info = np.finfo(dtype)
    udt = np.dtype(f"u{dtype.itemsize}")
    bits = np_bits_shape(keys, info.bits, shape)
    one = np.array(1.0, dtype)
    floats = ((bits >> udt.type(info.bits - info.nmant)) | one.view(udt)).view(dtype) - one
    lo, hi = np.asarray(lo, dtype), np.asarray(hi, dtype)
    return np.maximum(lo, floats * (hi - lo) + lo)


def _np_normal(keys: np.ndarray, dtype: np.dtype) -> np.ndarray:
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    u = _np_uniform(keys, dtype, (), lo, 1.0)
    return np.asarray(np.array(np.sqrt(2), dtype) * special.erf_inv(u), dtype)


# --- random_gamma ---------------------------------------------------------------------------------


def _mt_continue(X: np.ndarray, V: np.ndarray, U: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Marsaglia-Tsang's rejection test (True: draw again), written as JAX's loop condition."""
    T = d.dtype.type
    one = T(1)
    squeeze = U >= one - T(0.0331) * (X * X)
    exact = np.log(U) >= X * T(0.5) + d * ((one - V) + np.log(V))
    return squeeze & exact


def _mt_proposal(keys: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normal draws x (and v = 1 + c x) until v > 0, each element from its own key chain."""
    T = c.dtype.type
    keys = keys.copy()
    x = np.zeros(c.shape, c.dtype)
    v = np.full(c.shape, -1, c.dtype)
    todo = np.ones(c.shape, bool)
    while todo.any():
        j = np.flatnonzero(todo)
        pair = np_split(keys[j], 2)
        keys[j] = pair[:, 0]
        xj = _np_normal(pair[:, 1], c.dtype)
        vj = T(1) + xj * c[j]
        x[j], v[j] = xj, vj
        todo[j] = vj <= 0
    return x, v


def _marsaglia_tsang(keys: np.ndarray, alpha: np.ndarray, log_space: bool) -> np.ndarray:
    """One Gamma(alpha[m], 1) draw per key (JAX's ``_gamma_one``, vectorized). Shape < 1 is
    boosted: draw Gamma(alpha + 1) and multiply by U**(1/alpha)."""
    dtype = alpha.dtype
    T = dtype.type
    one, third = T(1), T(1.0 / 3.0)
    boost = alpha >= one
    d = np.where(boost, alpha, alpha + one) - third
    c = third / np.sqrt(d)
    pair = np_split(keys, 2)
    key, sub = pair[:, 0].copy(), pair[:, 1]
    n = alpha.size
    X, V, U = np.zeros(n, dtype), np.ones(n, dtype), np.full(n, 2, dtype)
    active = _mt_continue(X, V, U, d)
    while active.any():
        idx = np.flatnonzero(active)
        three = np_split(key[idx], 3)
        key[idx] = three[:, 0]
        x, v = _mt_proposal(three[:, 1], c[idx])
        Xi, Vi, Ui = x * x, (v * v) * v, _np_uniform(three[:, 2], dtype)
        X[idx], V[idx], U[idx] = Xi, Vi, Ui
        active[idx] = _mt_continue(Xi, Vi, Ui, d[idx])
    u = _np_uniform(sub, dtype)
    if log_space:
        log_u = np.log1p(-u)  # minus an exponential draw, -(-log1p(-u)): negation is exact
        log_boost = np.where(boost | (log_u == 0), T(0), log_u * (one / alpha))
        return (np.log(d) + np.log(V)) + log_boost
    return (d * V) * np.where(boost, one, np.power(one - u, one / alpha))


def _gamma_impl(key: np.ndarray, a: np.ndarray, *, log_space: bool) -> np.ndarray:
    if a.size == 0:
        return np.empty(a.shape, a.dtype)
    keys, per_key = _flat_keys(key, a)
    keys = np_split(keys, per_key).reshape(-1, 2)
    with np.errstate(all="ignore"):
        out = _marsaglia_tsang(keys, a.reshape(-1), log_space)
    return out.astype(a.dtype, copy=False).reshape(a.shape)


def _gamma_rule(key: ShapedArray, a: ShapedArray, *, log_space: bool) -> ShapedArray:
    _check_keyed("random_gamma", key, a, _FLOATING)
    if not isinstance(log_space, bool):
        raise TypeError(f"functrans.random.random_gamma: log_space must be a bool, got "
                        f"{log_space!r}")
    return ShapedArray(a.shape, a.dtype)


def _gamma_samples(dtype: np.dtype) -> list[Example]:
    def values(shape: tuple[int, ...], d: np.dtype, seed: int) -> np.ndarray:
        return rules.sample_array(shape, d, "positive", seed=seed)

    return _keyed_samples(dtype, values, [{"log_space": False}, {"log_space": True}])


def _gamma_tangent(t: Any, ans: Any, key: Any, a: Any, *, log_space: bool) -> Any:
    if not log_space:
        return lax.mul(t, random_gamma_grad(a, ans))
    # d log(x)/da = (dx/da) / x, with x = 0 (an underflowed draw) taken as the smallest normal.
    x = lax.exp(ans)
    dtype = core.get_aval(ans).dtype
    is_zero = lax.convert_element_type(lax.eq(x, np.zeros((), dtype)), dtype)
    x = lax.add(x, lax.mul(is_zero, np.asarray(np.finfo(dtype).tiny, dtype)))
    return lax.mul(t, lax.div(random_gamma_grad(a, x), x))


random_gamma_p = define_primitive(
    "random_gamma", family="random", impl=_gamma_impl, abstract_eval=_gamma_rule,
    dtypes=dt.FLOATING, sample=_gamma_samples,
    jvp=jvp_partials(None, _gamma_tangent, with_ans=True), batch=_batch_keyed(),
    doc="Gamma(a, 1) samples (their logs with log_space=True), one key per leading key dim")


def random_gamma(key: Any, a: Any, *, log_space: bool = False) -> Any:
    """Gamma(a, 1) draws for floating ``a`` of shape (*B, *S) from keys uint32[*B, 2]."""
    return random_gamma_p.bind(key, a, log_space=bool(log_space))


# --- random_gamma_grad ----------------------------------------------------------------------------

_MAX_TERMS = 2000


def _series_grad(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dx/da along P(a, x) = const, for x <= max(1, a): P's power series differentiated
    term by term (x/a times (d/da of the series) plus the log-prefactor's derivative)."""
    r, c, ans = a.copy(), np.ones_like(a), np.ones_like(a)
    dc, dans = np.zeros_like(a), np.zeros_like(a)
    active = np.ones(a.shape, bool)
    eps = np.finfo(np.float64).eps
    for _ in range(_MAX_TERMS):
        i = np.flatnonzero(active)
        if not i.size:
            break
        xi, ri = x[i], r[i] + 1
        dci = dc[i] * (xi / ri) - (c[i] * xi) / (ri * ri)
        ci = c[i] * (xi / ri)
        r[i], dc[i], c[i] = ri, dci, ci
        dans[i] += dci
        ans[i] += ci
        active[i] = (np.abs(dci) > eps * np.abs(dans[i])) | (ci > eps * ans[i])
    return -(dans + ans * (np.log(x) - special.digamma(a + 1))) * x / a


def _continued_fraction_grad(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dx/da along Q(a, x) = const, for x > max(1, a): Legendre's continued fraction for Q
    (Cephes' igamc recurrences) carried together with its derivative in a."""
    eps = np.finfo(np.float64).eps
    y, z, c = 1 - a, x + (1 - a) + 1, np.zeros_like(a)
    pkm2, qkm2, pkm1, qkm1 = np.ones_like(a), x.copy(), x + 1, (x + (1 - a) + 1) * x
    dpkm2, dqkm2, dpkm1, dqkm1 = (np.zeros_like(a), np.zeros_like(a), np.zeros_like(a), -x)
    ans = pkm1 / qkm1
    dans = (dpkm1 - ans * dqkm1) / qkm1
    active = np.ones(a.shape, bool)
    for _ in range(_MAX_TERMS):
        i = np.flatnonzero(active)
        if not i.size:
            break
        c[i] += 1
        y[i] += 1
        z[i] += 2
        ci, yc, zi = c[i], y[i] * c[i], z[i]
        pk = pkm1[i] * zi - pkm2[i] * yc
        qk = qkm1[i] * zi - qkm2[i] * yc
        dpk = dpkm1[i] * zi - pkm1[i] - dpkm2[i] * yc + pkm2[i] * ci
        dqk = dqkm1[i] * zi - qkm1[i] - dqkm2[i] * yc + qkm2[i] * ci
        nz = qk != 0
        safe_qk = np.where(nz, qk, 1)
        new_ans = np.where(nz, pk / safe_qk, ans[i])
        new_dans = np.where(nz, (dpk - new_ans * dqk) / safe_qk, dans[i])
        done = nz & (np.abs(new_ans - ans[i]) <= eps * np.abs(new_ans)) & (
            np.abs(new_dans - dans[i]) <= eps * np.abs(new_dans))
        ans[i], dans[i] = new_ans, new_dans
        pkm2[i], pkm1[i], qkm2[i], qkm1[i] = pkm1[i], pk, qkm1[i], qk
        dpkm2[i], dpkm1[i], dqkm2[i], dqkm1[i] = dpkm1[i], dpk, dqkm1[i], dqk
        # Rescale the recurrences (all terms alike, so ratios are unchanged) before overflow.
        big = np.abs(pk) > 1 / eps
        if big.any():
            j = i[big]
            for arr in (pkm2, pkm1, qkm2, qkm1, dpkm2, dpkm1, dqkm2, dqkm1):
                arr[j] *= eps
        active[i] = ~done
    return (dans + ans * (np.log(x) - special.digamma(a))) * x


def _gamma_grad_impl(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """d sample / d a of a Gamma(a, 1) sample x, by the implicit function theorem on
    CDF(x; a) = u: -(dP/da) / (dP/dx). NaN outside a > 0, x >= 0; 0 at x = 0."""
    dtype = a.dtype
    a64, x64 = (np.array(v, np.float64) for v in np.broadcast_arrays(a, x))
    out = np.full(a64.shape, np.nan)
    with np.errstate(all="ignore"):
        ok = (a64 > 0) & (x64 >= 0) & np.isfinite(x64)
        out[ok & (x64 == 0)] = 0.0
        pos = ok & (x64 > 0)
        cf = pos & (x64 > 1) & (x64 > a64)
        ser = pos & ~cf
        if ser.any():
            out[ser] = _series_grad(a64[ser], x64[ser])
        if cf.any():
            out[cf] = _continued_fraction_grad(a64[cf], x64[cf])
    return out.astype(dtype).reshape(a64.shape)


random_gamma_grad_p = define_primitive(
    "random_gamma_grad", family="binary", impl=_gamma_grad_impl,
    abstract_eval=rules.nary_rule("random_gamma_grad", dt.FLOATING), dtypes=dt.FLOATING,
    sample=rules.elementwise_sample(2, ("positive", "positive")), batch=batch_elementwise(),
    doc="derivative of a Gamma(a, 1) sample x with respect to a (implicit reparameterization)")


def random_gamma_grad(a: Any, x: Any) -> Any:
    """d x / d a for samples x of Gamma(a, 1) (the reparameterization gradient)."""
    return random_gamma_grad_p.bind(a, x)


# --- random_poisson -------------------------------------------------------------------------------


def _knuth(keys: np.ndarray, lam: np.ndarray, shape: tuple[int, ...],
           dtype: np.dtype) -> np.ndarray:
    """Count uniform draws until their product falls below exp(-lam), as JAX: every round
    draws a whole array per key, until no element of that key's array is still running."""
    keys = keys.copy()
    k = np.zeros(lam.shape, dtype)
    log_prod = np.zeros(lam.shape, np.float32)
    neg_lam = -lam
    running = log_prod > neg_lam
    rows = np.flatnonzero(running.any(axis=1))
    while rows.size:
        pair = np_split(keys[rows], 2)
        keys[rows] = pair[:, 0]
        go = running[rows]
        k[rows] = np.where(go, k[rows] + 1, k[rows])
        u = _np_uniform(pair[:, 1], np.dtype(np.float32), shape).reshape(len(rows), -1)
        log_prod[rows] = log_prod[rows] + np.log(u)
        running[rows] = log_prod[rows] > neg_lam[rows]
        rows = rows[running[rows].any(axis=1)]
    return (k - 1).astype(dtype)


def _rejection(keys: np.ndarray, lam: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Hormann's transformed rejection with squeeze (PTRS), as JAX: a key's round redraws its
    whole array and overwrites every element that accepts, until all of them have accepted."""
    keys = keys.copy()
    f32 = np.dtype(np.float32)
    log_lam = np.log(lam)
    b = 0.931 + 2.53 * np.sqrt(lam)
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2)
    k_out = np.full(lam.shape, -1, f32)
    accepted = np.zeros(lam.shape, bool)
    rows = np.flatnonzero(~accepted.all(axis=1))
    while rows.size:
        three = np_split(keys[rows], 3)
        keys[rows] = three[:, 0]
        n = len(rows)
        u = _np_uniform(three[:, 1], f32, shape).reshape(n, -1) - 0.5
        v = _np_uniform(three[:, 2], f32, shape).reshape(n, -1)
        lr, br, ar = lam[rows], b[rows], a[rows]
        u_shifted = 0.5 - np.abs(u)
        k = np.floor((2 * ar / u_shifted + br) * u + lr + 0.43)
        s = np.log(v * inv_alpha[rows] / (ar / (u_shifted * u_shifted) + br))
        t = -lr + k * log_lam[rows] - special.lgamma(k + 1)
        accept1 = (u_shifted >= 0.07) & (v <= v_r[rows])
        reject = (k < 0) | ((u_shifted < 0.013) & (v > u_shifted))
        accept = accept1 | (~reject & (s <= t))
        k_out[rows] = np.where(accept, k, k_out[rows])
        accepted[rows] |= accept
        rows = rows[~accepted[rows].all(axis=1)]
    return k_out


def _poisson_impl(key: np.ndarray, lam: np.ndarray, *, dtype: np.dtype) -> np.ndarray:
    keys, per_key = _flat_keys(key, lam)
    shape = lam.shape[key.ndim - 1:]
    lam2 = lam.reshape(keys.shape[0], per_key)
    if lam2.size == 0:
        return np.zeros(lam.shape, dtype)
    with np.errstate(all="ignore"):
        use_knuth = np.isnan(lam2) | (lam2 < 10)
        small = _knuth(keys, np.where(use_knuth, lam2, np.float32(0)), shape, dtype)
        large = _rejection(keys, np.where(use_knuth, np.float32(1e5), lam2), shape)
        out = np.where(use_knuth, small, large.astype(dtype))
    return np.where(lam2 == 0, dtype.type(0), out).astype(dtype).reshape(lam.shape)


def _poisson_rule(key: ShapedArray, lam: ShapedArray, *, dtype: np.dtype) -> ShapedArray:
    _check_keyed("random_poisson", key, lam, frozenset({dt.float32}))
    if not isinstance(dtype, np.dtype) or dtype.kind not in "iu":
        raise TypeError(f"functrans.random.random_poisson: dtype must be an integer np.dtype, "
                        f"got {dtype!r}")
    return ShapedArray(lam.shape, dtype)


def _poisson_samples(dtype: np.dtype) -> list[Example]:
    def values(shape: tuple[int, ...], d: np.dtype, seed: int) -> np.ndarray:
        v = rules.sample_array(shape, d, "positive", seed=seed)
        # Mix small rates (Knuth), zero, and large ones (rejection).
        return np.where(np.arange(v.size).reshape(shape) % 3 == 2, v * 10, v).astype(d)

    return _keyed_samples(dtype, values, [{"dtype": dt.int32}, {"dtype": dt.int64}])


random_poisson_p = define_primitive(
    "random_poisson", family="random", impl=_poisson_impl, abstract_eval=_poisson_rule,
    dtypes=(dt.float32,), sample=_poisson_samples, jvp=jvp_zero(), batch=_batch_keyed(),
    doc="Poisson(lam) counts, one key per leading key dim")


def random_poisson(key: Any, lam: Any, *, dtype: Any) -> Any:
    """Poisson(lam) draws for float32 ``lam`` of shape (*B, *S) from keys uint32[*B, 2]."""
    return random_poisson_p.bind(key, lam, dtype=dt.canonicalize(dtype))
