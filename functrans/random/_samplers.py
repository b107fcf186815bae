"""Key functions and the core samplers of ``functrans.random``: bits, uniform, normal,
integers, booleans, permutations, choices, categorical and Gumbel draws.

Every sampler turns threefry bits into values exactly as ``jax.random`` does (the same splits,
the same bit-to-float map, the same transforms in the same order), so a key gives the samples
JAX gives for the same key, up to the rounding of transcendental functions. Everything is
``functrans.lax``/``functrans.numpy`` code, so grad, vmap and make_jaxpr see plain equations.
Imports core, config, dtypes, lax, numpy and the package's ``_threefry`` and ``_args``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from functrans import config, core, lax
from functrans import dtypes as dt
from functrans import numpy as fnp
from functrans.core import Array
from functrans.random import _threefry as tf
from functrans.random._args import (
    Shape,
    as_dtype,
    broadcast_shape,
    check_shape,
    float_dtype,
    int_dtype,
    is_value,
    linalg_fn,
    shape_arg,
    shape_of,
    split_list,
)
from functrans.random._threefry import U32, UINT_DTYPES, check_key, traced, wrap

# --- keys -----------------------------------------------------------------------------------------


def PRNGKey(seed: Any) -> Any:
    """A key (uint32[2]) from an integer seed: ``[seed >> 32, seed & 0xFFFFFFFF]`` of the
    seed's 64-bit two's complement, as JAX (Python ints count as int64; seeds of 32 bits or
    fewer get a zero high word). Traced seeds work (vmap over seeds gives a batch of keys)."""
    return tf.seed_key("PRNGKey", seed)


def key(seed: Any) -> Any:
    """Same as ``PRNGKey``: functrans keys are raw uint32[2] arrays, like JAX's legacy keys
    (JAX's typed key arrays have no counterpart here; ``key_data`` and ``wrap_key_data`` are
    identities), and hold the same bits as ``jax.random.key_data(jax.random.key(seed))``."""
    return tf.seed_key("key", seed)


def key_data(keys: Any) -> Any:
    """The uint32 data of keys: the keys themselves (checked to be uint32[..., 2])."""
    return check_key("key_data", keys, allow_batched=True)


def wrap_key_data(key_bits_array: Any, *, impl: Any = None) -> Any:
    """Keys from uint32[..., 2] data: the data itself, checked (only threefry2x32 exists)."""
    if impl not in (None, "threefry2x32"):
        raise ValueError(f"functrans.random.wrap_key_data: only impl='threefry2x32' exists, "
                         f"got {impl!r}")
    return check_key("wrap_key_data", key_bits_array, allow_batched=True)


def key_impl(keys: Any) -> str:
    """The PRNG implementation's name: always 'threefry2x32'."""
    check_key("key_impl", keys, allow_batched=True)
    return "threefry2x32"


def clone(key: Any) -> Any:
    """The key itself (JAX's clone exists for its key-reuse checker, which functrans lacks)."""
    return check_key("clone", key)


def split(key: Any, num: int | Sequence[int] = 2) -> Any:
    """``num`` new keys (a shape tuple gives keys of shape (*num, 2)). Key i is the threefry
    hash of counter i under ``key``, as JAX's default (partitionable) split.

    Under vmap, a batched key splits per example; an unbatched key gives every example the
    same keys."""
    key = check_key("split", key)
    shape = tuple(num) if isinstance(num, Sequence) else (num,)
    return tf.split(key, shape_arg("split", shape))


def fold_in(key: Any, data: Any) -> Any:
    """A new key from ``key`` and 32-bit integer ``data`` (the hash of counter (0, data)).
    Python ints must lie in [0, 2**32); integer arrays are taken modulo 2**32."""
    key = check_key("fold_in", key)
    if isinstance(data, (bool, np.bool_)):
        raise TypeError("functrans.random.fold_in: data must be an integer, got a bool")
    if isinstance(data, int):
        if not 0 <= data < 2**32:
            raise OverflowError(f"functrans.random.fold_in: data {data} is out of bounds for "
                                f"uint32")
        return tf.fold_in(key, np.asarray(data, U32))
    aval = core.get_aval(data)
    if aval.shape:
        raise TypeError(f"functrans.random.fold_in: data must be a scalar, got "
                        f"{aval.str_short()}; map over data with functrans.vmap")
    if aval.dtype.kind not in "iu":
        raise TypeError(f"functrans.random.fold_in: data must be an integer, got "
                        f"{aval.str_short()}")
    data = (lax.convert_element_type(data, U32) if traced(data)
            else core.to_numpy(data).astype(U32))
    return tf.fold_in(key, data)


def threefry_2x32(keypair: Any, count: Any) -> Any:
    """The raw threefry-2x32 hash of a uint32 array under a key pair (see JAX's function of
    the same name in jax._src.prng)."""
    return tf.threefry_2x32(keypair, count)


# --- bits and uniform floats ----------------------------------------------------------------------


def bits(key: Any, shape: Shape = (), dtype: Any = None) -> Any:
    """Uniform random bits as unsigned integers (uint32 by default; uint8/16/64 too)."""
    key = check_key("bits", key)
    d = dt.uint32 if dtype is None else dt.canonicalize(dtype)
    if d.kind != "u":
        raise ValueError(f"functrans.random.bits: dtype must be an unsigned integer dtype, "
                         f"got {d}")
    return tf.random_bits(key, d.itemsize * 8, shape_arg("bits", shape))


def unit_floats(key: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    """Floats in [0, 1): random mantissa bits under exponent 0 (in [1, 2)), minus 1."""
    info = np.finfo(dtype)
    udt = UINT_DTYPES[info.bits]
    raw = tf.random_bits(key, info.bits, shape)
    shift = info.bits - info.nmant
    one = np.array(1.0, dtype)
    if not traced(raw):
        b = core.to_numpy(raw)
        return wrap(((b >> udt.type(shift)) | one.view(udt)).view(dtype) - one)
    fbits = lax.bitwise_or(lax.shift_right_logical(raw, np.asarray(shift, udt)),
                           np.asarray(one.view(udt)))
    return lax.sub(lax.bitcast_convert_type(fbits, dtype), one)


def uniform_in(key: Any, shape: tuple[int, ...], dtype: np.dtype, minval: Any = 0,
             maxval: Any = 1, name: str = "uniform") -> Any:
    if is_value(minval, 0) and is_value(maxval, 1):
        # floats * (1 - 0) + 0, then max(0, .), as JAX computes it: exactly the floats.
        return unit_floats(key, shape, dtype)
    lo, hi = as_dtype(minval, dtype), as_dtype(maxval, dtype)
    check_shape(name, shape, shape_of(lo), shape_of(hi))
    floats = unit_floats(key, shape, dtype)
    return fnp.maximum(lo, floats * (hi - lo) + lo)


def uniform(key: Any, shape: Shape = (), dtype: Any = None, minval: Any = 0.0,
            maxval: Any = 1.0) -> Any:
    """Uniform floats in [minval, maxval) (default float32; minval/maxval broadcast to
    ``shape``). JAX's bits -> float map: the top mantissa bits of 1.x, minus 1, scaled.

    Under vmap, a batched key gives each example its own stream; an unbatched key gives every
    example the same draws (as in JAX)."""
    key = check_key("uniform", key)
    dtype = float_dtype("uniform", dtype)
    return uniform_in(key, shape_arg("uniform", shape), dtype, minval, maxval)


# --- normal family --------------------------------------------------------------------------------


def normal_real(key: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    u = uniform_in(key, shape, dtype, lo, np.array(1.0, dtype), "normal")
    return lax.mul(np.array(np.sqrt(2), dtype), lax.erf_inv(u))


def normal_any(key: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    if dtype.kind != "c":
        return normal_real(key, shape, dtype)
    real = np.dtype(np.float32 if dtype == dt.complex64 else np.float64)
    k_re, k_im = split_list(key, 2)
    re = normal_real(k_re, shape, real)
    im = normal_real(k_im, shape, real)
    return lax.div(lax.complex(re, im), np.array(np.sqrt(2), dtype))


def normal(key: Any, shape: Shape = (), dtype: Any = None) -> Any:
    """Standard normal draws: sqrt(2) * erf_inv(u) for u uniform in (-1, 1), as JAX. Complex
    dtypes get independent real and imaginary parts of variance 1/2. Differentiable through
    any scale/shift applied afterwards (a reparameterized sampler)."""
    key = check_key("normal", key)
    return normal_any(key, shape_arg("normal", shape), float_dtype("normal", dtype, True))


def truncated_normal(key: Any, lower: Any, upper: Any, shape: Shape | None = None,
                     dtype: Any = None) -> Any:
    """Normal draws restricted to (lower, upper), by inverting the CDF of a uniform draw
    between erf(lower/sqrt2) and erf(upper/sqrt2), then clipping into the open interval."""
    key = check_key("truncated_normal", key)
    dtype = float_dtype("truncated_normal", dtype)
    shape = broadcast_shape("truncated_normal", shape, lower, upper)
    sqrt2 = np.array(np.sqrt(2), dtype)
    lower, upper = as_dtype(lower, dtype), as_dtype(upper, dtype)
    a = lax.erf(fnp.divide(lower, sqrt2))
    b = lax.erf(fnp.divide(upper, sqrt2))
    u = uniform_in(key, shape, dtype, a, b, "truncated_normal")
    out = lax.mul(sqrt2, lax.erf_inv(u))
    inf = np.array(np.inf, dtype)
    lo = lax.nextafter(lax.stop_gradient(fnp.asarray(lower)), inf)
    hi = lax.nextafter(lax.stop_gradient(fnp.asarray(upper)), -inf)
    return fnp.clip(out, lo, hi)


def lognormal(key: Any, sigma: Any = 1.0, shape: Shape | None = None,
              dtype: Any = None) -> Any:
    """exp(sigma * N(0, 1))."""
    key = check_key("lognormal", key)
    dtype = float_dtype("lognormal", dtype, True)
    shape = broadcast_shape("lognormal", shape, sigma)
    return fnp.exp(normal_any(key, shape, dtype) * as_dtype(sigma, dtype))


def multivariate_normal(key: Any, mean: Any, cov: Any, shape: Shape | None = None,
                        dtype: Any = None, method: str = "cholesky") -> Any:
    """mean + factor @ z with cov = factor factor^T (Cholesky, or the eigh/svd square root)
    and z standard normal of shape (*shape, n). Needs functrans.numpy.linalg."""
    key = check_key("multivariate_normal", key)
    if method not in ("svd", "eigh", "cholesky"):
        raise ValueError(f"functrans.random.multivariate_normal: method must be one of "
                         f"'svd', 'eigh', 'cholesky', got {method!r}")
    mean, cov = fnp.asarray(mean), fnp.asarray(cov)
    common = dt.promote_types(mean.dtype, cov.dtype)
    if common.kind not in "fc":
        common = config.default_float_dtype()
    mean, cov = as_dtype(mean, common), as_dtype(cov, common)
    dtype = float_dtype("multivariate_normal", common if dtype is None else dtype)
    if mean.ndim < 1:
        raise ValueError("functrans.random.multivariate_normal: mean must have ndim >= 1, got "
                         "a scalar")
    if cov.ndim < 2:
        raise ValueError(f"functrans.random.multivariate_normal: cov must have ndim >= 2, got "
                         f"shape {cov.shape}")
    n = mean.shape[-1]
    if cov.shape[-2:] != (n, n):
        raise ValueError(f"functrans.random.multivariate_normal: cov must have shape "
                         f"(..., {n}, {n}) for a mean of shape {mean.shape}, got {cov.shape}")
    if shape is None:
        shape = tuple(np.broadcast_shapes(mean.shape[:-1], cov.shape[:-2]))
    else:
        shape = shape_arg("multivariate_normal", shape)
        check_shape("multivariate_normal", shape, mean.shape[:-1], cov.shape[:-2])
    if method == "svd":
        u, s, _ = linalg_fn("multivariate_normal", "svd")(cov)
        factor = u * fnp.sqrt(s[..., None, :])
    elif method == "eigh":
        w, v = linalg_fn("multivariate_normal", "eigh")(cov)
        factor = v * fnp.sqrt(w[..., None, :])
    else:
        factor = linalg_fn("multivariate_normal", "cholesky")(cov)
    z = normal_any(key, shape + (n,), dtype)
    return mean + fnp.matmul(factor, z[..., None])[..., 0]


# --- integers, booleans, choices ------------------------------------------------------------------


def _convert_and_clip(val: Any, dtype: np.dtype) -> Any:
    """Integer ``val`` in ``dtype``, clipped to its range first (no wrap-around)."""
    src = core.get_aval(val).dtype
    lo = max(int(np.iinfo(dtype).min), int(np.iinfo(src).min))
    hi = min(int(np.iinfo(dtype).max), int(np.iinfo(src).max))
    return fnp.clip(val, np.asarray(lo, src), np.asarray(hi, src)).astype(dtype)


def _randint(key: Any, minval: Any, maxval: Any, shape: tuple[int, ...],
             dtype: np.dtype) -> Any:
    minval, maxval = fnp.asarray(minval), fnp.asarray(maxval)
    check_shape("randint", shape, minval.shape, maxval.shape)
    if minval.dtype.kind not in "iu":
        minval = minval.astype(int)
    if maxval.dtype.kind not in "iu":
        maxval = maxval.astype(int)
    info = np.iinfo(dtype)
    # maxval beyond the dtype (randint(k, s, 0, 256, uint8)) still reaches the top value.
    out_of_range = maxval > _convert_and_clip(np.asarray(info.max, dtype), maxval.dtype)
    minval = fnp.broadcast_to(_convert_and_clip(minval, dtype), shape)
    maxval = fnp.broadcast_to(_convert_and_clip(maxval, dtype), shape)
    out_of_range = fnp.broadcast_to(out_of_range, shape)
    nbits = info.bits
    udt = UINT_DTYPES[nbits]
    # Two words of random bits per value reduce the modulo bias (JAX's scheme).
    k1, k2 = split_list(key, 2)
    higher, lower = tf.random_bits(k1, nbits, shape), tf.random_bits(k2, nbits, shape)
    one = np.asarray(1, udt)
    span = lax.convert_element_type(lax.sub(maxval, minval), udt)
    span = fnp.where(fnp.less_equal(maxval, minval), one, span)
    span = fnp.where(fnp.logical_and(out_of_range, fnp.greater(maxval, minval)),
                     lax.add(span, fnp.broadcast_to(one, shape)), span)
    multiplier = lax.rem(fnp.broadcast_to(np.asarray(2 ** (nbits // 2), udt), shape), span)
    multiplier = lax.rem(lax.mul(multiplier, multiplier), span)
    offset = lax.add(lax.mul(lax.rem(higher, span), multiplier), lax.rem(lower, span))
    offset = lax.rem(offset, span)
    return lax.add(minval, lax.convert_element_type(offset, dtype))


def randint(key: Any, shape: Shape, minval: Any, maxval: Any, dtype: Any = None) -> Any:
    """Integers in [minval, maxval) (default int32). As JAX: two words of bits per value,
    combined modulo the span (slightly biased when the span is not a power of 2); 8/16-bit
    dtypes are sampled in int32."""
    key = check_key("randint", key)
    dtype = int_dtype("randint", dtype)
    shape = shape_arg("randint", shape)
    info = np.iinfo(dtype)
    if info.bits >= 32:
        return _randint(key, minval, maxval, shape, dtype)
    i32 = dt.int32
    lo = fnp.clip(fnp.asarray(minval).astype(i32), int(info.min), int(info.max))
    hi = fnp.clip(fnp.asarray(maxval).astype(i32), int(info.min), int(info.max) + 1)
    return _randint(key, lo, hi, shape, i32).astype(dtype)


def bernoulli(key: Any, p: Any = 0.5, shape: Shape | None = None, mode: str = "low") -> Any:
    """Booleans that are True with probability p (floating): uniform(p.dtype) < p. mode='high'
    uses two uniforms per value to resolve tiny probabilities, as JAX."""
    key = check_key("bernoulli", key)
    if mode not in ("high", "low"):
        raise ValueError(f"functrans.random.bernoulli: mode must be 'high' or 'low', got "
                         f"{mode!r}")
    dtype = core.get_aval(p).dtype
    if dtype.kind != "f":
        raise TypeError(f"functrans.random.bernoulli: the probability p must have a floating "
                        f"dtype, got {dtype}")
    shape = broadcast_shape("bernoulli", shape, p)
    if mode == "high":
        u = unit_floats(key, (2, *shape), dtype)
        u1, u2 = u[0], u[1] * np.array(2.0 ** -np.finfo(dtype).nmant, dtype)
        return fnp.less(u2, fnp.subtract(p, u1))
    return fnp.less(unit_floats(key, shape, dtype), p)


def rademacher(key: Any, shape: Shape = (), dtype: Any = None) -> Any:
    """-1 or +1 with equal probability (default int32; floating dtypes work too)."""
    key = check_key("rademacher", key)
    dtype = config.default_int_dtype() if dtype is None else dt.canonicalize(dtype)
    shape = shape_arg("rademacher", shape)
    p_dtype = config.default_float_dtype()  # bernoulli(key, 0.5): a Python float's dtype
    b = fnp.less(unit_floats(key, shape, p_dtype), np.array(0.5, p_dtype)).astype(dtype)
    return (2 * b - 1).astype(dtype)


def _shuffle(key: Any, x: Any, axis: int) -> Any:
    """Sort by random 32-bit keys along ``axis``; repeat so that ties stay improbable."""
    size = core.get_aval(x).size
    rounds = int(np.ceil(3 * np.log(max(1, size)) / np.log(np.iinfo(np.uint32).max)))
    for _ in range(rounds):
        key, sub = split_list(key, 2)
        sort_keys = tf.random_bits(sub, 32, core.get_aval(x).shape)
        _, x = lax.sort_key_val(sort_keys, x, axis)
    return x


def _axis(name: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"functrans.random.{name}: axis {axis} is out of bounds for an array "
                         f"of rank {ndim}")
    return axis % ndim


def permutation(key: Any, x: Any, axis: int = 0, independent: bool = False) -> Any:
    """A random permutation of arange(x) (int x) or of ``x`` along ``axis`` (independently
    for each slice when ``independent``), by sorting on random keys as JAX."""
    key = check_key("permutation", key)
    if not isinstance(x, (int, np.integer)):
        x = fnp.asarray(x)
    if isinstance(x, (int, np.integer)) or x.ndim == 0:
        if core.get_aval(x).dtype.kind not in "iu":
            raise TypeError("functrans.random.permutation: x must be an integer or an array "
                            "of rank >= 1")
        n = core.concrete_or_none(x)
        if n is None:
            raise TypeError("functrans.random.permutation: an integer x must be concrete, not "
                            "a traced value")
        _axis("permutation", axis, 1)
        return _shuffle(key, fnp.arange(int(n)), 0)
    axis = _axis("permutation", axis, x.ndim)
    if independent or x.ndim == 1:
        return _shuffle(key, x, axis)
    ind = _shuffle(key, fnp.arange(x.shape[axis]), 0)
    return fnp.take(x, ind, axis, unique_indices=True)


def shuffle(key: Any, x: Any, axis: int = 0) -> Any:
    """Shuffle each slice of ``x`` along ``axis`` independently (JAX's former
    ``random.shuffle``; the same as ``permutation(key, x, axis, independent=True)``)."""
    key = check_key("shuffle", key)
    x = fnp.asarray(x)
    if x.ndim == 0:
        raise ValueError("functrans.random.shuffle: x must have rank >= 1")
    return _shuffle(key, x, _axis("shuffle", axis, x.ndim))


def choice(key: Any, a: Any, shape: Shape = (), replace: bool = True, p: Any = None,
           axis: int = 0) -> Any:
    """Draws from arange(a) (int a) or from ``a`` along ``axis``: uniformly (randint, or a
    permutation's prefix without replacement), or with probabilities ``p`` (inverse CDF,
    or Gumbel top-k without replacement), as JAX."""
    key = check_key("choice", key)
    if not isinstance(shape, Sequence):
        raise TypeError(f"functrans.random.choice: shape must be a sequence, got {shape!r}")
    shape = shape_arg("choice", shape)
    arr = fnp.asarray(a)
    if arr.ndim == 0:
        n = core.concrete_or_none(a)
        if n is None:
            raise TypeError("functrans.random.choice: an integer a must be concrete, not traced")
        n_inputs = operator.index(n if not isinstance(n, (Array, np.ndarray)) else int(n))
    else:
        axis = _axis("choice", axis, arr.ndim)
        n_inputs = arr.shape[axis]
    n_draws = math.prod(shape)
    if n_draws == 0:
        return fnp.zeros(shape, arr.dtype)
    if n_inputs <= 0:
        raise ValueError("functrans.random.choice: a must be greater than 0 unless no samples "
                         "are taken")
    if not replace and n_draws > n_inputs:
        raise ValueError(f"functrans.random.choice: cannot take a larger sample (size "
                         f"{n_draws}) than the population (size {n_inputs}) with replace=False")
    if p is None:
        if replace:
            ind = randint(key, shape, 0, n_inputs)
            result = ind if arr.ndim == 0 else fnp.take(arr, ind, axis)
        else:
            perm = permutation(key, n_inputs if arr.ndim == 0 else arr, axis)
            result = perm[(slice(None),) * (axis if arr.ndim else 0) + (slice(n_draws),)]
    else:
        p_arr = fnp.asarray(p)
        if p_arr.dtype.kind not in "fc":
            p_arr = p_arr.astype(config.default_float_dtype())
        if p_arr.shape != (n_inputs,):
            raise ValueError(f"functrans.random.choice: p must be None or a 1-d vector of the "
                             f"size of a.shape[axis] ({n_inputs}), got shape {p_arr.shape}")
        if replace:
            cdf = fnp.cumsum(p_arr)
            r = cdf[-1] * (1 - unit_floats(key, shape, cdf.dtype))
            ind = fnp.searchsorted(cdf, r).astype(int)
        else:
            g = gumbel(key, (n_inputs,), dtype=p_arr.dtype) + fnp.log(p_arr)
            ind = lax.top_k(g, n_draws)[1].astype(int)
        result = ind if arr.ndim == 0 else fnp.take(arr, ind, axis)
    out_shape = shape if arr.ndim == 0 else arr.shape[:axis] + shape + arr.shape[axis + 1:]
    return result.reshape(out_shape)


def categorical(key: Any, logits: Any, axis: int = -1, shape: Shape | None = None,
                replace: bool = True) -> Any:
    """Category indices drawn with probabilities softmax(logits) along ``axis``: the argmax of
    logits plus Gumbel noise (top-k of it without replacement), as JAX."""
    key = check_key("categorical", key)
    logits = fnp.asarray(logits)
    if logits.ndim == 0:
        raise ValueError("functrans.random.categorical: logits must have rank >= 1")
    ax = _axis("categorical", axis, logits.ndim)
    batch_shape = logits.shape[:ax] + logits.shape[ax + 1:]
    if shape is None:
        shape = batch_shape
    else:
        shape = shape_arg("categorical", shape)
        check_shape("categorical", shape, batch_shape)
    prefix = shape[:len(shape) - len(batch_shape)]
    dtype = float_dtype("categorical", logits.dtype if logits.dtype.kind == "f" else None)
    if replace:
        neg_axis = ax - logits.ndim
        sample_shape = list(shape[len(shape) - len(batch_shape):])
        sample_shape.insert(neg_axis % logits.ndim, logits.shape[ax])
        noise = gumbel(key, (*prefix, *sample_shape), dtype)
        expanded = lax.expand_dims(logits, tuple(range(len(prefix)))) if prefix else logits
        return fnp.argmax(noise + expanded, axis=neg_axis)
    perturbed = logits + gumbel(key, logits.shape, dtype)
    k = math.prod(prefix)
    if k > logits.shape[ax]:
        raise ValueError(f"functrans.random.categorical: cannot draw {k} samples without "
                         f"replacement from {logits.shape[ax]} categories")
    _, indices = lax.top_k(fnp.moveaxis(perturbed, ax, -1), k)
    nd = indices.ndim
    return lax.reshape(indices, shape, (nd - 1, *range(nd - 1)))


def gumbel(key: Any, shape: Shape = (), dtype: Any = None, mode: str | None = None) -> Any:
    """Gumbel(0, 1) draws: -log(-log(u)). mode='high' spends two uniforms per value to reach
    further into the tail, as JAX's (JAX's 'highest' is not implemented)."""
    key = check_key("gumbel", key)
    dtype = float_dtype("gumbel", dtype)
    shape = shape_arg("gumbel", shape)
    mode = "low" if mode is None else mode
    if mode not in ("low", "high"):
        raise ValueError(f"functrans.random.gumbel: mode must be 'low' or 'high', got {mode!r}")
    info = np.finfo(dtype)
    if mode == "high":
        u = unit_floats(key, (2, *shape), dtype)
        high, low = u[0], u[1]
        x = fnp.where(fnp.greater_equal(high, np.array(0.5, dtype)), high,
                      high + np.array(2.0 ** -info.nmant, dtype) * low + np.array(info.tiny,
                                                                                   dtype))
        return -fnp.log(-fnp.log1p(-x))
    u = uniform_in(key, shape, dtype, np.array(info.tiny, dtype), np.array(1.0, dtype))
    return -fnp.log(-fnp.log(u))
