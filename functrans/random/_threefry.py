"""The threefry2x32 counter-based hash and the key operations built on it (seed, split,
fold_in, random bits), bit-for-bit as JAX's default ("partitionable") threefry implementation.

The 20-round schedule is written once (``_hash``) over three operations (wrapping uint32 add,
xor, rotate-left) and runs on either of two backends: ``functrans.lax`` primitives when any
operand is traced (so vmap/jit/grad see plain lax equations), or NumPy directly when every
operand is concrete (the eager fast path; integer arithmetic, so the bits are identical).
Keys are raw ``uint32[2]`` arrays. Imports core, dtypes, lax and errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from functrans import core, lax
from functrans.core import Array, Tracer

U32 = np.dtype(np.uint32)
UINT_DTYPES = {8: np.dtype(np.uint8), 16: np.dtype(np.uint16), 32: U32, 64: np.dtype(np.uint64)}

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA  # Threefish key-schedule constant


# --- the hash -------------------------------------------------------------------------------------


def _hash(k1: Any, k2: Any, x1: Any, x2: Any, add: Callable, xor: Callable,
          rotl: Callable, const: Callable) -> tuple[Any, Any]:
    """Threefry-2x32 with 20 rounds (Salmon et al., SC'11): 5 groups of 4 rounds, a key
    injection after each group. ``k*`` may be 0-d and broadcast against the counters ``x*``;
    ``x1`` may be None for an all-zero first word (JAX's counters below 2**32)."""
    ks = (k1, k2, xor(xor(k1, k2), const(_PARITY)))
    x1 = ks[0] if x1 is None else add(x1, ks[0])  # None: an all-zero first counter word
    x2 = add(x2, ks[1])
    for group in range(5):
        for r in _ROTATIONS[group % 2]:
            x1 = add(x1, x2)
            x2 = xor(x1, rotl(x2, r))
        # Injection: modular addition is associative, so adding (ks + i) once equals JAX's
        # (x + ks) + i and keeps the work on the 0-d key words.
        x1 = add(x1, ks[(group + 1) % 3])
        x2 = add(x2, add(ks[(group + 2) % 3], const(group + 1)))
    return x1, x2


def _np_const(v: int) -> np.ndarray:
    return np.asarray(v, U32)


def _np_rotl(x: np.ndarray, r: int) -> np.ndarray:
    return np.left_shift(x, U32.type(r)) | np.right_shift(x, U32.type(32 - r))


def np_hash(k1: Any, k2: Any, x1: Any, x2: Any) -> tuple[np.ndarray, np.ndarray]:
    """The hash on NumPy uint32 arrays (any broadcastable shapes); wraps modulo 2**32."""
    with np.errstate(over="ignore"):
        a, b = _hash(np.asarray(k1, U32), np.asarray(k2, U32),
                     None if x1 is None else np.asarray(x1, U32),
                     np.asarray(x2, U32), np.add, np.bitwise_xor, _np_rotl, _np_const)
    return np.asarray(a, U32), np.asarray(b, U32)


def _lax_rotl(x: Any, r: int) -> Any:
    return lax.bitwise_or(lax.shift_left(x, _np_const(r)),
                          lax.shift_right_logical(x, _np_const(32 - r)))


def lax_hash(k1: Any, k2: Any, x1: Any, x2: Any) -> tuple[Any, Any]:
    """The hash as ``functrans.lax`` equations (0-d keys broadcast against the counters)."""
    return _hash(k1, k2, x1, x2, lax.add, lax.bitwise_xor, _lax_rotl, _np_const)


def traced(*xs: Any) -> bool:
    return any(isinstance(x, Tracer) for x in xs)


def wrap(x: Any) -> Array:
    """A fresh NumPy result as an immutable functrans Array (views are copied)."""
    x = np.asarray(x)
    if x.base is not None:
        x = x.copy()
    x.flags.writeable = False
    return Array._wrap(x)


# --- counters -------------------------------------------------------------------------------------


def _check_size(name: str, shape: tuple[int, ...]) -> int:
    size = math.prod(shape)
    if size > 2**32:
        # JAX's counters are 64-bit; arrays this large do not fit in memory here anyway.
        raise NotImplementedError(f"functrans.random.{name}: {size} random values exceed the "
                                  f"2**32 counters this implementation supports")
    return size


def _np_counts(shape: tuple[int, ...]) -> np.ndarray:
    """The low words of the row-major index of each element (the high words are all 0)."""
    return np.arange(math.prod(shape), dtype=U32).reshape(shape)


def _lax_counts(shape: tuple[int, ...]) -> Any:
    if not shape:
        return _np_const(0)
    counts = lax.iota(U32, math.prod(shape))
    return counts if len(shape) == 1 else lax.reshape(counts, shape)


def hash_shape(key: Any, shape: tuple[int, ...], name: str) -> tuple[Any, Any]:
    """Both output words of the hash of counters 0..size-1 laid out in ``shape`` (JAX's
    ``iota_2x32_shape``), under ``key`` (uint32[2])."""
    _check_size(name, shape)
    if traced(key):
        k1, k2 = key_words(key)
        return lax_hash(k1, k2, None, _lax_counts(shape))
    k = core.to_numpy(key)
    return np_hash(k[0], k[1], None, _np_counts(shape))


def key_words(key: Any) -> tuple[Any, Any]:
    """The two 0-d uint32 words of a traced key (static slices, then reshape)."""
    k1 = lax.reshape(lax.slice_(key, (0,), (1,)), ())
    k2 = lax.reshape(lax.slice_(key, (1,), (2,)), ())
    return k1, k2


def stack_words(a: Any, b: Any) -> Any:
    """Keys (..., 2) from two word arrays of equal shape."""
    if not traced(a, b):
        return wrap(np.stack([np.asarray(a, U32), np.asarray(b, U32)], axis=-1))
    nd = len(core.get_aval(a).shape)
    return lax.concatenate([lax.expand_dims(a, (nd,)), lax.expand_dims(b, (nd,))], nd)


# --- keys -----------------------------------------------------------------------------------------


def check_key(name: str, key: Any, allow_batched: bool = False) -> Any:
    """Validate a raw key (uint32[2], or uint32[..., 2] when ``allow_batched``)."""
    try:
        aval = core.get_aval(key)
    except TypeError:
        raise TypeError(f"functrans.random.{name}: expected a PRNG key (a uint32[2] array from "
                        f"random.key/PRNGKey/split), got a {type(key).__name__}") from None
    ok_shape = (aval.shape[-1:] == (2,)) if allow_batched else aval.shape == (2,)
    if aval.dtype != U32 or not ok_shape:
        want = "uint32[..., 2]" if allow_batched else "uint32[2]"
        hint = ("; for a batch of keys, map over it with functrans.vmap"
                if aval.dtype == U32 and aval.shape[-1:] == (2,) else "")
        raise TypeError(f"functrans.random.{name}: expected a PRNG key ({want}, from "
                        f"random.key/PRNGKey/split), got {aval.str_short()}{hint}")
    if isinstance(key, (np.ndarray, np.generic)):
        return wrap(np.asarray(key))
    return key


def seed_key(name: str, seed: Any) -> Any:
    """JAX's seed -> key map for 64-bit seeds: ``[seed >> 32, seed & 0xFFFFFFFF]`` of the
    seed's two's-complement bits; seeds of 32 bits or fewer get a zero high word (their low
    word is the sign-extended value). A Python int is taken as int64, as JAX does."""
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"functrans.random.{name}: the seed must be an integer, got a bool")
    if isinstance(seed, int):
        if not -(2**63) <= seed < 2**63:
            raise OverflowError(f"functrans.random.{name}: seed {seed} does not fit in int64")
        bits = seed & 0xFFFF_FFFF_FFFF_FFFF
        return wrap(np.array([bits >> 32, bits & 0xFFFF_FFFF], U32))
    try:
        aval = core.get_aval(seed)
    except TypeError:
        raise TypeError(f"functrans.random.{name}: the seed must be an integer, got a "
                        f"{type(seed).__name__}") from None
    if aval.shape:
        raise TypeError(f"functrans.random.{name}: expected a scalar seed, got an array "
                        f"{aval.str_short()}; map over seeds with functrans.vmap")
    if aval.dtype.kind not in "iu":
        raise TypeError(f"functrans.random.{name}: the seed must be an integer, got "
                        f"{aval.str_short()}")
    wide = aval.dtype.itemsize == 8
    if not traced(seed):
        v = core.to_numpy(seed)
        if wide:
            bits = int(v.astype(np.uint64))
            return wrap(np.array([bits >> 32, bits & 0xFFFF_FFFF], U32))
        return wrap(np.array([0, v.astype(U32)], U32))
    hi = (lax.convert_element_type(lax.shift_right_logical(seed, np.asarray(32, aval.dtype)),
                                   U32) if wide else _np_const(0))
    return stack_words(hi, lax.convert_element_type(seed, U32))


def split(key: Any, shape: tuple[int, ...]) -> Any:
    """Keys of shape (*shape, 2): the hash of each element's index (JAX's fold-like split)."""
    b1, b2 = hash_shape(key, shape, "split")
    return stack_words(b1, b2)


def fold_in(key: Any, data: Any) -> Any:
    """The key hashed with counter (0, data): a new key for each uint32 ``data``."""
    if traced(key, data):
        k1, k2 = key_words(key)
        a, b = lax_hash(k1, k2, None, data)
        return stack_words(a, b)
    k = core.to_numpy(key)
    a, b = np_hash(k[0], k[1], None, core.to_numpy(data))
    return stack_words(a, b)


def random_bits(key: Any, bit_width: int, shape: tuple[int, ...]) -> Any:
    """Uniform unsigned integers of ``bit_width`` bits: the xor of the two hash words (the
    low 8/16 bits of it for narrow types), or both words side by side for 64 bits."""
    b1, b2 = hash_shape(key, shape, "bits")
    dtype = UINT_DTYPES[bit_width]
    if not traced(b1, b2):
        return wrap(np.broadcast_to(_np_combine(b1, b2, bit_width), shape))
    if bit_width == 64:
        hi = lax.shift_left(lax.convert_element_type(b1, dtype), np.asarray(32, dtype))
        out = lax.bitwise_or(hi, lax.convert_element_type(b2, dtype))
    else:
        out = lax.bitwise_xor(b1, b2)
        if bit_width != 32:
            out = lax.convert_element_type(out, dtype)
    if core.get_aval(out).shape != shape:
        out = lax.broadcast_in_dim(out, shape, ())
    return out


def threefry_2x32(keypair: Any, count: Any) -> Any:
    """JAX's ``threefry_2x32(keypair, count)``: hash a uint32 array of any shape, its first
    half (zero-padded to even length) as the first counter word and its second half as the
    second. ``keypair`` is a uint32[2] key or a pair of uint32 scalars. Used for the Random123
    known-answer tests."""
    if isinstance(keypair, (tuple, list)):
        k1, k2 = keypair
    elif traced(keypair):
        k1, k2 = key_words(keypair)
    else:
        k1, k2 = core.to_numpy(keypair)
    aval = core.get_aval(count)
    if aval.dtype != U32 or any(core.get_aval(w).dtype != U32 for w in (k1, k2)):
        raise TypeError("functrans.random.threefry_2x32: keys and counts must be uint32, got "
                        f"{core.get_aval(k1).str_short()}, {core.get_aval(k2).str_short()}, "
                        f"{aval.str_short()}")
    n = aval.size
    half = (n + 1) // 2
    if not traced(k1, k2, count):
        flat = np.concatenate([core.to_numpy(count).reshape(-1), np.zeros(n % 2, U32)])
        a, b = np_hash(k1, k2, flat[:half], flat[half:])
        return wrap(np.concatenate([a, b])[:n].reshape(aval.shape))
    flat = lax.reshape(count, (n,))
    if n % 2:
        flat = lax.concatenate([flat, np.zeros(1, U32)], 0)
    a, b = lax_hash(k1, k2, lax.slice_(flat, (0,), (half,)),
                    lax.slice_(flat, (half,), (2 * half,)))
    out = lax.slice_(lax.concatenate([a, b], 0), (0,), (n,))
    return lax.reshape(out, aval.shape)


# --- NumPy helpers for the sampling primitives' reference implementations -------------------------


def np_split(keys: np.ndarray, num: int) -> np.ndarray:
    """keys (M, 2) -> (M, num, 2): ``split(keys[m], num)`` for each m."""
    a, b = np_hash(keys[:, :1], keys[:, 1:], None, np.arange(num, dtype=U32)[None, :])
    return np.stack([a, b], axis=-1)


def _np_combine(a: np.ndarray, b: np.ndarray, bit_width: int) -> np.ndarray:
    """The two hash words as ``bit_width``-bit integers (see ``random_bits``)."""
    dtype = UINT_DTYPES[bit_width]
    if bit_width == 64:
        return (a.astype(dtype) << np.uint64(32)) | b.astype(dtype)
    return (a ^ b).astype(dtype)


def np_bits_shape(keys: np.ndarray, bit_width: int, shape: tuple[int, ...]) -> np.ndarray:
    """``random_bits(keys[m], bit_width, shape)`` for each m: shape (M, *shape)."""
    counts = _np_counts(shape).reshape(1, -1)
    a, b = np_hash(keys[:, :1], keys[:, 1:], None, counts)
    return _np_combine(a, b, bit_width).reshape((keys.shape[0], *shape))
