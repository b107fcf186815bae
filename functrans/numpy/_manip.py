"""Array manipulation in ``functrans.numpy`` beyond reshaping: tile, repeat, roll, rot90, pad
(every NumPy mode), split and friends, insert/delete/append, resize, block, meshgrid, index
helpers, fill_diagonal, choose/place/put, packbits, vectorize/apply_along_axis/frompyfunc (via
``vmap``), and the I/O and printing helpers jax.numpy re-exports.

All composites of lax primitives (static index arrays become one gather); arguments that decide
a result's shape must be concrete, as in JAX. Imports ``lax`` and the other fnp modules.
"""

from __future__ import annotations

import builtins
import itertools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import core, lax
from functrans import dtypes as dt
from functrans.core import Array, Tracer
from functrans.errors import ConcretizationTypeError, DtypeError
from functrans.numpy import _creation, _reductions, _selection, _shape, _ufuncs
from functrans.numpy._indexing import _as_array, _take
from functrans.numpy._promotion import (
    asarray_leaf, broadcast_to, canonical_axis, cast, shape_of, typeof,
)

__all__ = [
    "append", "apply_along_axis", "apply_over_axes", "array_repr", "array_split", "array_str",
    "astype", "block", "choose", "copy", "delete", "diag_indices", "diag_indices_from",
    "diagflat", "dsplit", "fill_diagonal", "from_dlpack", "frombuffer", "fromfile",
    "fromfunction", "fromiter", "frompyfunc", "fromstring", "get_printoptions", "hsplit",
    "insert",
    "iterable", "load", "mask_indices", "meshgrid", "packbits", "pad", "piecewise", "place",
    "printoptions", "put", "repeat", "resize", "roll", "rollaxis", "rot90", "save", "savez",
    "set_printoptions", "split", "tile", "tril_indices", "tril_indices_from", "trim_zeros",
    "triu_indices", "triu_indices_from", "ufunc", "unpackbits", "unstack", "vectorize",
    "vsplit",
]

_INDEX = dt.int32  # JAX's default index dtype (x64 disabled)


def _err(name: str, msg: str) -> str:
    return f"functrans.numpy.{name}: {msg}"


def _concrete(name: str, x: Any, what: str) -> np.ndarray:
    """The NumPy value of an argument that decides a result's shape (it must not be traced)."""
    value = core.concrete_or_none(x)
    if value is None:
        raise ConcretizationTypeError(_err(
            name, f"{what} must be concrete (it decides the shape of the result), but it is "
                  f"a traced {core.get_aval(x).str_short()}. Pass it as a static argument or "
                  f"compute it outside the transformed function."))
    if isinstance(value, (list, tuple)):
        return np.asarray([core.to_numpy(core.concrete_or_none(v)) if isinstance(
            v, (Array, Tracer)) else v for v in value])
    return np.asarray(core.to_numpy(value) if isinstance(value, Array) else value)


def _static_int(name: str, x: Any, what: str) -> int:
    v = _concrete(name, x, what)
    if v.ndim or v.dtype.kind not in "iub":
        raise TypeError(_err(name, f"{what} must be an integer, got {x!r}"))
    return int(v)


def _as_dtype(x: Any, dtype: np.dtype) -> Any:
    """``x`` as an array of ``dtype``; Python scalars and lists are converted directly (going
    through the default float dtype first would round float64 values)."""
    if isinstance(x, (Array, Tracer)) or (isinstance(x, (list, tuple))
                                          and _creation._has_tracer(x)):
        return cast(_as_array(x), dtype)
    return Array(np.asarray(core.to_numpy(x) if isinstance(x, Array) else x).astype(dtype))


def _along(axis: int, ndim: int, idx: Any) -> tuple:
    return (slice(None),) * axis + (idx,) + (slice(None),) * (ndim - axis - 1)


def _concat(parts: list[Any], axis: int) -> Any:
    """Concatenate along ``axis``, skipping empty pieces (and the op, for a single piece)."""
    kept = [p for p in parts if shape_of(p)[axis]] or parts[:1]
    return kept[0] if len(kept) == 1 else lax.concatenate(kept, axis)


# --- repetition ---------------------------------------------------------------------------------


def tile(A: Any, reps: int | Sequence[int]) -> Any:  # noqa: N803 - NumPy's name
    """``A`` repeated ``reps`` times along each axis (like numpy.tile): one broadcast and one
    reshape."""
    A = _as_array(A)  # noqa: N806
    reps_t = (operator.index(reps),) if np.ndim(reps) == 0 else tuple(
        operator.index(r) for r in reps)
    if any(r < 0 for r in reps_t):
        raise ValueError(_err("tile", f"negative repetitions are not allowed: {reps_t}"))
    s = shape_of(A)
    n = builtins.max(len(s), len(reps_t))
    s = (1,) * (n - len(s)) + s
    reps_t = (1,) * (n - len(reps_t)) + reps_t
    a = lax.reshape(A, s) if s != shape_of(A) else A
    wide = tuple(d for pair in zip(reps_t, s, strict=True) for d in pair)
    out = lax.broadcast_in_dim(a, wide, tuple(range(1, 2 * n, 2)))
    return lax.reshape(out, tuple(r * d for r, d in zip(reps_t, s, strict=True)))


def repeat(a: Any, repeats: Any, axis: int | None = None, *,
           total_repeat_length: int | None = None) -> Any:
    """Each element of ``a`` repeated ``repeats`` times along ``axis`` (flattened when None),
    like numpy.repeat. ``repeats`` may be an array (one count per element); a traced one needs
    ``total_repeat_length``, the static length of the result: a shorter total repeats the last
    element, a longer one is cut (JAX's rule)."""
    a = _as_array(a)
    if axis is None:
        a, axis = _shape.ravel(a), 0
    axis = canonical_axis("repeat", axis, len(shape_of(a)))
    n = shape_of(a)[axis]
    value = core.concrete_or_none(repeats)
    if isinstance(repeats, (int, np.integer)) and total_repeat_length is None:
        r = operator.index(repeats)
        if r < 0:
            raise ValueError(_err("repeat", f"repeats may not contain negative values, got {r}"))
        s = shape_of(a)
        wide = s[:axis + 1] + (r,) + s[axis + 1:]
        dims = tuple(i if i <= axis else i + 1 for i in range(len(s)))
        out = lax.broadcast_in_dim(a, wide, dims)
        return lax.reshape(out, s[:axis] + (n * r,) + s[axis + 1:])
    if value is not None and total_repeat_length is None:
        reps = np.asarray(core.to_numpy(value) if isinstance(value, Array) else value)
        if reps.dtype.kind not in "iu":
            raise DtypeError(_err("repeat", f"repeats must be integers, got {reps.dtype}"))
        if reps.ndim > 1 or reps.size not in (1, n):
            raise ValueError(_err("repeat", f"repeats of shape {reps.shape} cannot be "
                                            f"broadcast to axis {axis} of size {n}"))
        if np.any(reps < 0):
            raise ValueError(_err("repeat", "repeats may not contain negative values"))
        idx = np.repeat(np.arange(n, dtype=_INDEX), np.broadcast_to(reps, (n,)))
        return _take(a, _along(axis, len(shape_of(a)), idx))
    if total_repeat_length is None:
        raise ConcretizationTypeError(_err(
            "repeat", "a traced `repeats` array needs total_repeat_length= (the static length "
                      "of the result)"))
    total = operator.index(total_repeat_length)
    reps = asarray_leaf(repeats)
    if typeof(reps)[0].kind not in "iu":
        raise DtypeError(_err("repeat", f"repeats must be integers, got {typeof(reps)[0]}"))
    reps = broadcast_to(cast(reps, _INDEX), (n,), "repeat")
    if n == 0 or total == 0:
        s = list(shape_of(a))
        s[axis] = total
        if n == 0 and total:
            raise ValueError(_err("repeat", "cannot repeat the elements of an empty axis to a "
                                            f"total length of {total}"))
        return _creation.full(tuple(s), 0, typeof(a)[0])
    # Output slot j reads element #(number of cumulative counts <= j), clipped to the last.
    ends = lax.cumsum(reps, axis=0)
    slots = lax.iota(_INDEX, total)
    from functrans.numpy._sorting import searchsorted  # (_sorting imports this module's peers)
    src = searchsorted(ends, slots, side="right")
    src = lax.min(src, np.asarray(n - 1, _INDEX))
    return _selection.take(a, src, axis=axis, mode="clip")


def resize(a: Any, new_shape: int | Sequence[int]) -> Any:
    """A new array of ``new_shape`` filled with the elements of ``a`` repeated in order (like
    numpy.resize; an empty ``a`` gives zeros)."""
    a = _as_array(a)
    shape = (operator.index(new_shape),) if np.ndim(new_shape) == 0 else tuple(
        operator.index(d) for d in new_shape)
    if any(d < 0 for d in shape):
        raise ValueError(_err("resize", f"all elements of new_shape must be non-negative, got "
                                        f"{shape}"))
    total = math.prod(shape)
    flat = _shape.ravel(a)
    n = shape_of(flat)[0]
    if n == 0:
        return _creation.full(shape, 0, typeof(a)[0])
    reps = -(-total // n)
    flat = tile(flat, reps) if reps > 1 else flat
    return lax.reshape(lax.slice_in_dim(flat, 0, total, axis=0), shape)


# --- rolling and rotating -----------------------------------------------------------------------


def _roll_one(a: Any, shift: Any, axis: int) -> Any:
    n = shape_of(a)[axis]
    if n == 0:
        return a
    value = core.concrete_or_none(shift)
    if value is not None:
        s = int(np.asarray(core.to_numpy(value) if isinstance(value, Array) else value)) % n
        if s == 0:
            return a
        return lax.concatenate([lax.slice_in_dim(a, n - s, n, axis=axis),
                                lax.slice_in_dim(a, 0, n - s, axis=axis)], axis)
    # Traced shift: a window of [a, a] starting at n - shift % n.
    shift = cast(asarray_leaf(shift), _INDEX)
    start = lax.sub(np.asarray(n, _INDEX), _ufuncs.remainder(shift, n))
    doubled = lax.concatenate([a, a], axis)
    starts = [np.asarray(0, _INDEX)] * len(shape_of(a))
    starts[axis] = lax.rem(start, np.asarray(n, _INDEX))
    return lax.dynamic_slice(doubled, starts, shape_of(a))


def roll(a: Any, shift: Any, axis: int | Sequence[int] | None = None) -> Any:
    """Elements shifted ``shift`` places along ``axis`` (the flattened array when None),
    wrapping around (like numpy.roll). ``shift`` may be traced."""
    a = _as_array(a)
    if axis is None:
        return lax.reshape(roll(_shape.ravel(a), shift, 0), shape_of(a))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    shifts = (shift,) if np.ndim(shift) == 0 and not isinstance(shift, (list, tuple)) else \
        tuple(shift) if isinstance(shift, (list, tuple)) else None
    if shifts is None:
        sv = _concrete("roll", shift, "an array of shifts")
        shifts = tuple(int(s) for s in sv.ravel())
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    if len(axes) == 1 and len(shifts) > 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise ValueError(_err("roll", f"shift ({len(shifts)} values) and axis ({len(axes)} "
                                      f"values) must have the same length"))
    ndim = len(shape_of(a))
    for s, ax in zip(shifts, axes, strict=True):
        a = _roll_one(a, s, canonical_axis("roll", ax, ndim))
    return a


def rollaxis(a: Any, axis: int, start: int = 0) -> Any:
    """Move ``axis`` so that it lies before position ``start`` (like numpy.rollaxis)."""
    a = _as_array(a)
    n = len(shape_of(a))
    axis = canonical_axis("rollaxis", axis, n)
    if not -n <= start <= n:  # NumPy's range check
        raise np.exceptions.AxisError(_err("rollaxis", f"start {start} is out of bounds for "
                                                       f"an array of rank {n}"))
    start = start + n if start < 0 else start
    if axis < start:
        start -= 1
    return _shape.moveaxis(a, axis, start) if axis != start else a


def rot90(m: Any, k: int = 1, axes: tuple[int, int] = (0, 1)) -> Any:
    """Rotate by 90 degrees ``k`` times in the plane of ``axes`` (like numpy.rot90)."""
    m = _as_array(m)
    n = len(shape_of(m))
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError(_err("rot90", f"len(axes) must be 2, got {axes}"))
    a0, a1 = canonical_axis("rot90", axes[0], n), canonical_axis("rot90", axes[1], n)
    if a0 == a1:
        raise ValueError(_err("rot90", f"axes must be different, got {axes}"))
    k = operator.index(k) % 4
    if k == 0:
        return m
    if k == 2:
        return _shape.flip(m, (a0, a1))
    perm = list(range(n))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return _shape.transpose(_shape.flip(m, a1), perm)
    return _shape.flip(_shape.transpose(m, perm), a1)


# --- pad ----------------------------------------------------------------------------------------


def _pairs(name: str, what: str, value: Any, ndim: int, cast_to: Callable = int
           ) -> list[tuple[Any, Any]]:
    """NumPy's broadcasting of a pad argument to one (before, after) pair per axis."""
    arr = np.asarray(value, dtype=object)
    if arr.ndim == 0 or arr.shape in ((1,), (2,)) or (
            arr.ndim == 2 and arr.shape[1] in (1, 2) and arr.shape[0] in (1, ndim)):
        arr = np.broadcast_to(arr, (ndim, 2))
    else:
        raise ValueError(_err(name, f"{what} of shape {arr.shape} cannot be broadcast to "
                                    f"({ndim}, 2) (one (before, after) pair per axis)"))
    return [(cast_to(arr[i, 0]), cast_to(arr[i, 1])) for i in range(ndim)]


def _pad_width(value: Any, ndim: int) -> list[tuple[int, int]]:
    if not ndim:
        return []  # a 0-d array has nothing to pad, whatever pad_width says
    v = core.concrete_or_none(value)
    if v is None or (isinstance(v, (list, tuple)) and _creation._has_tracer(v)):
        raise ConcretizationTypeError(_err("pad", "pad_width must be concrete (it decides the "
                                                  "shape of the result)"))
    if isinstance(v, Array):
        v = core.to_numpy(v)
    arr = np.asarray(v)
    if arr.size == 0:
        arr = arr.astype(np.int64)  # [] pads a 0-d array, as in NumPy
    if arr.dtype.kind not in "iu":
        raise TypeError(_err("pad", f"pad_width must be integers, got {arr.dtype} {v!r}"))
    pairs = _pairs("pad", "pad_width", arr.astype(np.int64), ndim)
    if any(p < 0 for pair in pairs for p in pair):
        raise ValueError(_err("pad", f"index can't contain negative values: pad_width={v!r}"))
    return pairs


def _value_pairs(name: str, what: str, value: Any, ndim: int) -> list[tuple[Any, Any]]:
    """Per-axis (before, after) values that may be traced scalars."""
    if isinstance(value, (Array, Tracer, np.ndarray)) and not shape_of(value):
        return [(value, value)] * ndim
    if isinstance(value, (Array, Tracer)):
        v = asarray_leaf(value)
        s = shape_of(v)
        full = broadcast_to(v, (ndim, 2), name) if s != (ndim, 2) else v
        return [(full[i, 0], full[i, 1]) for i in range(ndim)]
    return _pairs(name, what, value, ndim, cast_to=lambda x: x)


def _edge_values(a: Any, axis: int, n: int) -> tuple[Any, Any]:
    return lax.slice_in_dim(a, 0, 1, axis=axis), lax.slice_in_dim(a, n - 1, n, axis=axis)


def _pad_constant(a: Any, axis: int, before: int, after: int, lo: Any, hi: Any) -> Any:
    d = typeof(a)[0]
    ndim = len(shape_of(a))
    for width, value, is_lo in ((before, lo, True), (after, hi, False)):
        if width:
            config = [(0, 0, 0)] * ndim
            config[axis] = (width, 0, 0) if is_lo else (0, width, 0)
            a = lax.pad(a, cast(asarray_leaf(value), d), config)
    return a


def _pad_stat(a: Any, axis: int, before: int, after: int, mode: str, lengths: tuple) -> Any:
    n = shape_of(a)[axis]
    d = typeof(a)[0]
    parts = []
    for width, length, first in ((before, lengths[0], True), (after, lengths[1], False)):
        if not width:
            parts.append(None)
            continue
        k = n if length is None else builtins.min(builtins.max(operator.index(length), 0), n)
        if k == 0:
            raise ValueError(_err("pad", f"stat_length of 0 yields no value for padding "
                                         f"(mode={mode!r})"))
        region = (lax.slice_in_dim(a, 0, k, axis=axis) if first
                  else lax.slice_in_dim(a, n - k, n, axis=axis))
        if mode == "maximum":
            stat = _reductions.max(region, axis, keepdims=True)
        elif mode == "minimum":
            stat = _reductions.min(region, axis, keepdims=True)
        else:
            from functrans.numpy._sorting import median
            fn = _reductions.mean if mode == "mean" else median
            stat = fn(region, axis=axis, keepdims=True)
            if d.kind in "iub":
                stat = _ufuncs.round(stat)  # NumPy rounds (half to even), then casts
            stat = cast(stat, d)
        s = list(shape_of(a))
        s[axis] = width
        parts.append(broadcast_to(stat, tuple(s), "pad"))
    lo, hi = parts
    return _concat([p for p in (lo, a, hi) if p is not None], axis)


def _pad_reflect(a: Any, axis: int, before: int, after: int, mode: str, odd: bool) -> Any:
    """NumPy's iterative reflection: each round mirrors at most the current length (so a wide
    pad reflects the already padded array, and 'odd' reflects about the current edge)."""
    n0 = shape_of(a)[axis]
    eo = 1 if mode == "symmetric" else 0
    if n0 == 1 and mode == "reflect":
        lo, hi = _edge_values(a, axis, 1)
        return _pad_repeat_edge(a, axis, before, after, lo, hi)
    cur = a
    while before > 0 or after > 0:
        length = shape_of(cur)[axis]
        if eo:
            old = length // n0 * n0
        else:
            old = (length - 1) // (n0 - 1) * (n0 - 1)
        parts = []
        if before > 0:
            c = builtins.min(old, before)
            chunk = lax.rev(lax.slice_in_dim(cur, 1 - eo, c + 1 - eo, axis=axis), (axis,))
            if odd:
                edge = lax.slice_in_dim(cur, 0, 1, axis=axis)
                chunk = _ufuncs.subtract(_ufuncs.multiply(edge, 2), chunk)
                chunk = cast(chunk, typeof(cur)[0])
            parts.append(chunk)
            before -= c
        parts.append(cur)
        if after > 0:
            c = builtins.min(old, after)
            chunk = lax.rev(lax.slice_in_dim(cur, length - 1 + eo - c, length - 1 + eo, axis=axis),
                            (axis,))
            if odd:
                edge = lax.slice_in_dim(cur, length - 1, length, axis=axis)
                chunk = cast(_ufuncs.subtract(_ufuncs.multiply(edge, 2), chunk),
                             typeof(cur)[0])
            parts.append(chunk)
            after -= c
        cur = _concat(parts, axis)
    return cur


def _pad_repeat_edge(a: Any, axis: int, before: int, after: int, lo: Any, hi: Any) -> Any:
    parts = []
    for width, edge in ((before, lo), (after, hi)):
        s = list(shape_of(a))
        s[axis] = width
        parts.append(broadcast_to(edge, tuple(s), "pad") if width else None)
    return _concat([p for p in (parts[0], a, parts[1]) if p is not None], axis)


def _pad_linear_ramp(a: Any, axis: int, before: int, after: int, ends: tuple) -> Any:
    n = shape_of(a)[axis]
    d = typeof(a)[0]
    lo_edge, hi_edge = _edge_values(a, axis, n)
    parts: list[Any] = []
    for width, end, edge, left in ((before, ends[0], lo_edge, True),
                                   (after, ends[1], hi_edge, False)):
        if not width:
            continue
        end = broadcast_to(cast(asarray_leaf(end), d), shape_of(edge), "pad")
        ramp = _creation.linspace(end, edge, width, endpoint=False, axis=axis, dtype=d)
        ramp = _shape.squeeze(ramp, axis + 1)
        parts.append((left, ramp if left else lax.rev(ramp, (axis,))))
    lo = [p for left, p in parts if left]
    hi = [p for left, p in parts if not left]
    return _concat(lo + [a] + hi, axis)


_PAD_MODES = ("constant", "edge", "linear_ramp", "maximum", "mean", "median", "minimum",
              "reflect", "symmetric", "wrap", "empty")


def pad(array: Any, pad_width: Any, mode: str | Callable = "constant", **kwargs: Any) -> Any:
    """``array`` padded along each axis (like numpy.pad), in every NumPy mode: 'constant'
    (``constant_values``, which may be traced), 'edge', 'linear_ramp' (``end_values``),
    'maximum'/'minimum'/'mean'/'median' (``stat_length``), 'reflect'/'symmetric'
    (``reflect_type`` 'even' or 'odd'), 'wrap', 'empty' (zeros), or a callable applied to every
    1-d slice as in NumPy (it must return the padded vector instead of writing into it)."""
    array = _as_array(array)
    ndim = len(shape_of(array))
    widths = _pad_width(pad_width, ndim)
    if callable(mode):
        return _pad_callable(array, widths, mode, kwargs)
    if mode not in _PAD_MODES:
        raise ValueError(_err("pad", f"mode {mode!r} is not supported; expected one of "
                                     f"{', '.join(_PAD_MODES)} or a function"))
    allowed = {"constant": {"constant_values"}, "linear_ramp": {"end_values"},
               "maximum": {"stat_length"}, "minimum": {"stat_length"},
               "mean": {"stat_length"}, "median": {"stat_length"},
               "reflect": {"reflect_type"}, "symmetric": {"reflect_type"}}.get(mode, set())
    unexpected = set(kwargs) - allowed
    if unexpected:
        raise ValueError(_err("pad", f"unsupported keyword arguments for mode {mode!r}: "
                                     f"{sorted(unexpected)}"))
    if not ndim:
        return array
    if mode in ("constant", "empty"):
        values = _value_pairs("pad", "constant_values", kwargs.get("constant_values", 0)
                              if mode == "constant" else 0, ndim)
        out = array
        for axis, ((b, e), (lo, hi)) in enumerate(zip(widths, values, strict=True)):
            out = _pad_constant(out, axis, b, e, lo, hi)
        return out
    out = array
    for axis, (b, e) in enumerate(widths):
        if not b and not e:
            continue
        n = shape_of(out)[axis]
        if n == 0:
            raise ValueError(_err("pad", f"can't extend empty axis {axis} using modes other "
                                         f"than 'constant' or 'empty'"))
        if mode == "edge":
            lo, hi = _edge_values(out, axis, n)
            out = _pad_repeat_edge(out, axis, b, e, lo, hi)
        elif mode == "wrap":
            idx = np.arange(-b, n + e) % n
            out = _take(out, _along(axis, ndim, idx))
        elif mode in ("reflect", "symmetric"):
            rtype = kwargs.get("reflect_type", "even")
            if rtype not in ("even", "odd"):
                raise ValueError(_err("pad", f"reflect_type must be 'even' or 'odd', got "
                                             f"{rtype!r}"))
            out = _pad_reflect(out, axis, b, e, mode, rtype == "odd")
        elif mode == "linear_ramp":
            ends = _value_pairs("pad", "end_values", kwargs.get("end_values", 0), ndim)[axis]
            out = _pad_linear_ramp(out, axis, b, e, ends)
        else:
            length = kwargs.get("stat_length")
            lengths = (None, None) if length is None else _pairs(
                "pad", "stat_length", length, ndim)[axis]
            out = _pad_stat(out, axis, b, e, mode, lengths)
    return out


def _pad_callable(array: Any, widths: list[tuple[int, int]], func: Callable,
                  kwargs: dict) -> Any:
    out = pad(array, [list(w) for w in widths], "constant")
    for axis, w in enumerate(widths):
        out = apply_along_axis(lambda v, w=w, axis=axis: asarray_leaf(func(v, w, axis, kwargs)),
                               axis, out)
    return out


# --- splitting and joining ----------------------------------------------------------------------


def _split_points(name: str, n: int, indices_or_sections: Any, even: bool) -> list[int]:
    if np.ndim(indices_or_sections) == 0 and not isinstance(indices_or_sections, (list, tuple)):
        k = _static_int(name, indices_or_sections, "the number of sections")
        if k <= 0:
            raise ValueError(_err(name, f"number of sections must be larger than 0, got {k}"))
        if even and n % k:
            raise ValueError(_err(name, f"array split does not result in an equal division: "
                                        f"axis of size {n} into {k} sections"))
        q, r = divmod(n, k)
        sizes = [q + 1] * r + [q] * (k - r)
        return list(np.cumsum([0] + sizes))
    idx = _concrete(name, indices_or_sections, "the split indices").astype(np.int64).ravel()
    pts = [0]
    for i in idx.tolist():
        i = i + n if i < 0 else i
        pts.append(builtins.min(builtins.max(i, 0), n))
    pts.append(n)
    return pts


def _split(name: str, ary: Any, indices_or_sections: Any, axis: int, even: bool) -> list[Any]:
    ary = _as_array(ary)
    ndim = len(shape_of(ary))
    if not ndim:
        raise ValueError(_err(name, "cannot split a 0-d array"))
    axis = canonical_axis(name, axis, ndim)
    n = shape_of(ary)[axis]
    pts = _split_points(name, n, indices_or_sections, even)
    out = []
    for start, stop in itertools.pairwise(pts):
        # NumPy gives an empty piece for a decreasing pair, starting at `start`.
        out.append(lax.slice_in_dim(ary, start, builtins.max(start, stop), axis=axis))
    return out


def split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """Split into equal sections (an int that must divide the axis) or at the given indices
    (like numpy.split)."""
    return _split("split", ary, indices_or_sections, axis, even=True)


def array_split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """Like split, but an int number of sections need not divide the axis: the first
    ``n % k`` sections get one extra element."""
    return _split("array_split", ary, indices_or_sections, axis, even=False)


def hsplit(ary: Any, indices_or_sections: Any) -> list[Any]:
    """Split along axis 1 (axis 0 for 1-d arrays)."""
    a = _as_array(ary)
    if not shape_of(a):
        raise ValueError(_err("hsplit", "hsplit only works on arrays of 1 or more dimensions"))
    return _split("hsplit", a, indices_or_sections, 1 if len(shape_of(a)) > 1 else 0, True)


def vsplit(ary: Any, indices_or_sections: Any) -> list[Any]:
    """Split along axis 0 (needs at least 2 dimensions)."""
    a = _as_array(ary)
    if len(shape_of(a)) < 2:
        raise ValueError(_err("vsplit", f"vsplit only works on arrays of 2 or more dimensions, "
                                        f"got shape {shape_of(a)}"))
    return _split("vsplit", a, indices_or_sections, 0, True)


def dsplit(ary: Any, indices_or_sections: Any) -> list[Any]:
    """Split along axis 2 (needs at least 3 dimensions)."""
    a = _as_array(ary)
    if len(shape_of(a)) < 3:
        raise ValueError(_err("dsplit", f"dsplit only works on arrays of 3 or more dimensions, "
                                        f"got shape {shape_of(a)}"))
    return _split("dsplit", a, indices_or_sections, 2, True)


def unstack(x: Any, /, *, axis: int = 0) -> tuple[Any, ...]:
    """The slices of ``x`` along ``axis``, as a tuple (the inverse of stack)."""
    x = _as_array(x)
    ndim = len(shape_of(x))
    if not ndim:
        raise ValueError(_err("unstack", "cannot unstack a 0-d array"))
    axis = canonical_axis("unstack", axis, ndim)
    return tuple(_take(x, _along(axis, ndim, i)) for i in range(shape_of(x)[axis]))


def append(arr: Any, values: Any, axis: int | None = None) -> Any:
    """``values`` appended after ``arr`` along ``axis`` (both flattened when None)."""
    if axis is None:
        return _shape.concatenate([_shape.ravel(_as_array(arr)),
                                   _shape.ravel(_as_array(values))], 0)
    return _shape.concatenate([_as_array(arr), _as_array(values)], axis)


def _static_positions(name: str, obj: Any, n: int) -> np.ndarray:
    """Indices given by an int, a slice, a boolean mask or an integer array (concrete)."""
    if isinstance(obj, slice):
        return np.arange(n)[obj]
    idx = _concrete(name, obj, "obj")
    if idx.dtype == np.bool_:
        if idx.shape != (n,):
            raise ValueError(_err(name, f"boolean obj of shape {idx.shape} does not match the "
                                        f"axis of size {n}"))
        return np.nonzero(idx)[0]
    if idx.dtype.kind not in "iu" and idx.size:
        raise IndexError(_err(name, f"obj must be integers, a slice or a boolean mask, got "
                                    f"{idx.dtype}"))
    idx = idx.astype(np.int64)
    bad = idx[(idx < -n) | (idx >= n)]
    if bad.size:
        raise IndexError(_err(name, f"index {bad.flat[0]} is out of bounds for axis with size "
                                    f"{n}"))
    return idx % n if n else idx


def delete(arr: Any, obj: Any, axis: int | None = None, *,
           assume_unique_indices: bool = False) -> Any:
    """``arr`` without the entries at ``obj`` (an int, slice, boolean mask or integer array)
    along ``axis`` (flattened when None), like numpy.delete. A traced integer ``obj`` needs
    ``assume_unique_indices=True`` (its length then fixes the result's size)."""
    arr = _as_array(arr)
    if axis is None:
        arr, axis = _shape.ravel(arr), 0
    ndim = len(shape_of(arr))
    axis = canonical_axis("delete", axis, ndim)
    n = shape_of(arr)[axis]
    if isinstance(obj, Tracer) and core.concrete_or_none(obj) is None:
        if not assume_unique_indices:
            raise ConcretizationTypeError(_err(
                "delete", "a traced obj needs assume_unique_indices=True (distinct, in-bounds "
                          "indices), so that the result size is known"))
        idx = _ufuncs.remainder(_shape.ravel(obj), builtins.max(n, 1))
        m = shape_of(idx)[0]
        removed = _creation.full((n,), 0, dt.bool_).at[idx].set(True)
        (keep,) = _selection.nonzero(_ufuncs.logical_not(removed), size=n - m)
        return _selection.take(arr, keep, axis=axis, mode="clip")
    positions = _static_positions("delete", obj, n)
    keep = np.setdiff1d(np.arange(n), positions)
    return _take(arr, _along(axis, ndim, keep))


def insert(arr: Any, obj: Any, values: Any, axis: int | None = None) -> Any:
    """``values`` inserted before the indices ``obj`` (concrete) along ``axis`` (flattened when
    None), like numpy.insert; values are cast to ``arr``'s dtype."""
    arr = _as_array(arr)
    if axis is None:
        arr, axis = _shape.ravel(arr), 0
    ndim = len(shape_of(arr))
    axis = canonical_axis("insert", axis, ndim)
    n = shape_of(arr)[axis]
    d = typeof(arr)[0]
    values = _as_dtype(values, d)
    if isinstance(obj, slice):
        idx = np.arange(*obj.indices(n))
        scalar = False
    else:
        idx = _concrete("insert", obj, "obj")
        if idx.dtype == np.bool_:
            raise IndexError(_err("insert", "obj must be integers or a slice, not booleans"))
        if idx.ndim > 1:
            raise ValueError(_err("insert", f"obj must be a scalar or 1-d, got shape "
                                            f"{idx.shape}"))
        scalar = idx.ndim == 0
        idx = idx.astype(np.int64).ravel()
    bad = idx[(idx < -n) | (idx > n)]
    if bad.size:
        raise IndexError(_err("insert", f"index {bad[0]} is out of bounds for axis {axis} with "
                                        f"size {n}"))
    idx = np.where(idx < 0, idx + n, idx)
    vs = shape_of(values)
    if idx.size == 1:
        # An int (or one-element) obj inserts all of `values` as one block.
        if len(vs) < ndim:
            values = lax.reshape(values, (1,) * (ndim - len(vs)) + vs)
        if scalar:
            values = _shape.moveaxis(values, 0, axis)
        k = shape_of(values)[axis]
        idx = np.full(k, idx[0])
    else:
        k = idx.size
    target = shape_of(arr)[:axis] + (k,) + shape_of(arr)[axis + 1:]
    values = broadcast_to(values, target, "insert")
    order = np.argsort(idx, kind="stable")
    new_pos = np.empty(k, np.int64)
    new_pos[order] = idx[order] + np.arange(k)
    old_mask = np.ones(n + k, bool)
    old_mask[new_pos] = False
    # Source index into concatenate([arr, values]) for each output position.
    src = np.empty(n + k, _INDEX)
    src[old_mask] = np.arange(n)
    src[new_pos] = n + np.arange(k)
    both = lax.concatenate([arr, values], axis) if k and n else (arr if k == 0 else values)
    if not n:
        src = src - n
    return _take(both, _along(axis, ndim, src))


def block(arrays: Any) -> Any:
    """An array assembled from nested lists of blocks (like numpy.block): the innermost lists
    are joined along the last axis, the next level along the second-to-last, and so on."""
    def depth(x: Any, path: str) -> int:
        if isinstance(x, tuple):
            raise TypeError(_err("block", f"{path} is a tuple; only lists may be used to "
                                          f"arrange blocks"))
        if isinstance(x, list):
            if not x:
                raise ValueError(_err("block", f"{path} is an empty list"))
            ds = {depth(e, f"{path}[{i}]") for i, e in enumerate(x)}
            if len(ds) != 1:
                raise ValueError(_err("block", f"list depths are mismatched within {path}"))
            return ds.pop() + 1
        return 0

    def max_ndim(x: Any) -> int:
        if isinstance(x, list):
            return builtins.max(max_ndim(e) for e in x)
        return len(shape_of(_as_array(x)))

    d = depth(arrays, "arrays")
    ndim = builtins.max(d, max_ndim(arrays))

    def build(x: Any, level: int) -> Any:
        if not isinstance(x, list):
            a = _as_array(x)
            s = shape_of(a)
            return lax.reshape(a, (1,) * (ndim - len(s)) + s) if len(s) < ndim else a
        parts = [build(e, level + 1) for e in x]
        return _shape.concatenate(parts, axis=-(d - level))

    return build(arrays, 0)


def trim_zeros(filt: Any, trim: str = "fb", axis: Any = None) -> Any:
    """``filt`` (1-d, concrete) without its leading ('f') and/or trailing ('b') zeros."""
    a = _as_array(filt)
    value = _concrete("trim_zeros", a, "filt")
    if value.ndim != 1:
        raise ValueError(_err("trim_zeros", f"filt must be 1-d, got shape {value.shape}"))
    nz = np.nonzero(value)[0]
    trim = trim.lower()
    if not nz.size:
        return _take(a, slice(0, 0))
    start = int(nz[0]) if "f" in trim else 0
    stop = int(nz[-1]) + 1 if "b" in trim else value.shape[0]
    return _take(a, slice(start, stop))


def meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy"
             ) -> list[Any]:
    """Coordinate matrices from 1-d coordinate vectors (like numpy.meshgrid)."""
    if indexing not in ("xy", "ij"):
        raise ValueError(_err("meshgrid", f"indexing must be 'xy' or 'ij', got {indexing!r}"))
    arrs = [_shape.ravel(_as_array(x)) for x in xi]
    n = len(arrs)
    if not n:
        return []
    sizes = [shape_of(a)[0] for a in arrs]
    if indexing == "xy" and n > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, a in enumerate(arrs):
        pos = i
        if indexing == "xy" and n > 1 and i < 2:
            pos = 1 - i
        shape = tuple(sizes[j] if (j == pos or not sparse) else 1 for j in range(n))
        out.append(lax.broadcast_in_dim(a, shape, (pos,)))
    return out


# --- index helpers ------------------------------------------------------------------------------


def _index_arrays(arrays: Sequence[np.ndarray]) -> tuple[Any, ...]:
    return tuple(Array(np.asarray(a, _INDEX)) for a in arrays)


def tril_indices(n: int, k: int = 0, m: int | None = None) -> tuple[Any, Any]:
    """Row and column indices of the lower triangle of an ``n x m`` array."""
    return _index_arrays(np.tril_indices(operator.index(n), operator.index(k),
                                         None if m is None else operator.index(m)))


def triu_indices(n: int, k: int = 0, m: int | None = None) -> tuple[Any, Any]:
    """Row and column indices of the upper triangle of an ``n x m`` array."""
    return _index_arrays(np.triu_indices(operator.index(n), operator.index(k),
                                         None if m is None else operator.index(m)))


def _matrix_shape(name: str, arr: Any) -> tuple[int, int]:
    s = shape_of(asarray_leaf(arr))
    if len(s) != 2:
        raise ValueError(_err(name, f"input array must be 2-d, got shape {s}"))
    return s


def tril_indices_from(arr: Any, k: int = 0) -> tuple[Any, Any]:
    n, m = _matrix_shape("tril_indices_from", arr)
    return tril_indices(n, k, m)


def triu_indices_from(arr: Any, k: int = 0) -> tuple[Any, Any]:
    n, m = _matrix_shape("triu_indices_from", arr)
    return triu_indices(n, k, m)


def diag_indices(n: int, ndim: int = 2) -> tuple[Any, ...]:
    """The indices of the main diagonal of an ``n x ... x n`` array of rank ``ndim``."""
    n, ndim = operator.index(n), operator.index(ndim)
    if n < 0 or ndim < 0:
        raise ValueError(_err("diag_indices", f"n and ndim must be non-negative, got n={n}, "
                                              f"ndim={ndim}"))
    return _index_arrays(np.diag_indices(n, ndim))


def diag_indices_from(arr: Any) -> tuple[Any, ...]:
    s = shape_of(asarray_leaf(arr))
    if len(s) < 2 or len(set(s)) != 1:
        raise ValueError(_err("diag_indices_from", f"input must be at least 2-d with all "
                                                   f"dimensions equal, got shape {s}"))
    return diag_indices(s[0], len(s))


def mask_indices(n: int, mask_func: Callable, k: int = 0, *, size: int | None = None
                 ) -> tuple[Any, Any]:
    """The indices where ``mask_func(ones((n, n)), k)`` is nonzero (e.g. fnp.triu)."""
    mask = mask_func(_creation.full((operator.index(n), operator.index(n)), 1, dt.int32), k)
    return _selection.nonzero(mask, size=size)


def diagflat(v: Any, k: int = 0) -> Any:
    """A 2-d array with the flattened ``v`` on its ``k``-th diagonal."""
    return _selection.diag(_shape.ravel(_as_array(v)), k)


def fill_diagonal(a: Any, val: Any, wrap: bool = False, *, inplace: bool = True) -> Any:
    """A copy of ``a`` with its main diagonal set to ``val`` (cycled, as in NumPy). Arrays are
    immutable: pass ``inplace=False``, as in JAX."""
    if inplace:
        raise ValueError(_err("fill_diagonal", "arrays are immutable and cannot be modified in "
                                               "place; pass inplace=False to get a copy"))
    a = _as_array(a)
    s = shape_of(a)
    if len(s) < 2:
        raise ValueError(_err("fill_diagonal", f"array must be at least 2-d, got shape {s}"))
    if len(s) == 2:
        step = s[1] + 1
        end = None if wrap else s[1] * s[1]
    else:
        if len(set(s)) != 1:
            raise ValueError(_err("fill_diagonal", f"all dimensions of input must be of equal "
                                                   f"length, got shape {s}"))
        step = 1 + int(np.cumprod(s[:-1]).sum())
        end = None
    positions = np.arange(math.prod(s))[:end:step]
    vals = _shape.ravel(_as_dtype(val, typeof(a)[0]))
    k = positions.size
    if k:
        if shape_of(vals)[0] == 0:
            return a
        vals = resize(vals, (k,))
    flat = _shape.ravel(a).at[positions].set(vals, unique_indices=True, indices_are_sorted=True)
    return lax.reshape(flat, s)


# --- choose, place, put -------------------------------------------------------------------------


def choose(a: Any, choices: Sequence[Any], out: None = None, mode: str = "raise") -> Any:
    """Elementwise ``choices[a]`` with broadcasting (like numpy.choose). ``mode``: 'raise'
    (concrete ``a`` only), 'wrap' or 'clip'."""
    if out is not None:
        raise NotImplementedError(_err("choose", "out= is not supported (arrays are "
                                                 "immutable)"))
    a = _as_array(a)
    if typeof(a)[0].kind not in "iu":
        raise DtypeError(_err("choose", f"a must be integers, got {typeof(a)[0]}"))
    choices = [_as_array(c) for c in choices]
    n = len(choices)
    if not n:
        raise ValueError(_err("choose", "choices must not be empty"))
    if mode == "raise":
        value = core.concrete_or_none(a)
        if value is None:
            raise ConcretizationTypeError(_err("choose", "mode='raise' needs a concrete `a`; "
                                                         "under tracing use mode='wrap' or "
                                                         "'clip'"))
        v = core.to_numpy(value)
        if np.any((v < 0) | (v >= n)):
            raise ValueError(_err("choose", f"invalid entry in choice array: values must be in "
                                            f"[0, {n})"))
    elif mode == "wrap":
        a = _ufuncs.remainder(a, n)
    elif mode == "clip":
        a = _ufuncs.clip(a, 0, n - 1)
    else:
        raise ValueError(_err("choose", f"mode must be 'raise', 'wrap' or 'clip', got "
                                        f"{mode!r}"))
    from functrans.numpy._promotion import promote_args
    args = promote_args("choose", *choices)
    from functrans.numpy._shape import broadcast_shapes
    shape = broadcast_shapes(shape_of(a), *(shape_of(c) for c in args))
    return lax.select_n(broadcast_to(cast(a, _INDEX), shape, "choose"),
                        *(broadcast_to(c, shape, "choose") for c in args))


def place(arr: Any, mask: Any, vals: Any, *, inplace: bool = True) -> Any:
    """A copy of ``arr`` with the positions where the (concrete) ``mask`` is true set to
    ``vals``, cycled (like numpy.place). Arrays are immutable: pass ``inplace=False``."""
    if inplace:
        raise ValueError(_err("place", "arrays are immutable and cannot be modified in place; "
                                       "pass inplace=False to get a copy"))
    arr = _as_array(arr)
    m = _concrete("place", mask, "mask").astype(bool)
    if m.size != math.prod(shape_of(arr)):
        raise ValueError(_err("place", f"mask of shape {m.shape} must have as many elements as "
                                       f"arr of shape {shape_of(arr)}"))
    positions = np.nonzero(m.ravel())[0]
    vals = _shape.ravel(_as_dtype(vals, typeof(arr)[0]))
    if not positions.size:
        return arr
    if shape_of(vals)[0] == 0:
        raise ValueError(_err("place", "cannot insert from an empty array"))
    flat = _shape.ravel(arr).at[positions].set(resize(vals, positions.shape))
    return lax.reshape(flat, shape_of(arr))


def put(a: Any, ind: Any, v: Any, mode: str | None = None, *, inplace: bool = True) -> Any:
    """A copy of ``a`` with the flat positions ``ind`` set to ``v`` (cycled), like numpy.put.
    ``mode``: None/'fill' drop out-of-bounds indices (JAX's default), 'clip', 'wrap', 'raise'
    (concrete indices). Arrays are immutable: pass ``inplace=False``."""
    if inplace:
        raise ValueError(_err("put", "arrays are immutable and cannot be modified in place; "
                                     "pass inplace=False to get a copy"))
    a = _as_array(a)
    flat = _shape.ravel(a)
    n = shape_of(flat)[0]
    ind = _shape.ravel(_as_array(ind))
    if typeof(ind)[0].kind not in "iu":
        raise DtypeError(_err("put", f"ind must be integers, got {typeof(ind)[0]}"))
    v = _shape.ravel(_as_dtype(v, typeof(a)[0]))
    k = shape_of(ind)[0]
    if not k:
        return a
    if shape_of(v)[0] == 0:
        raise ValueError(_err("put", "cannot put values from an empty array"))
    v = resize(v, (k,))
    scatter_mode = None
    if mode == "raise":
        iv = _concrete("put", ind, "ind with mode='raise'")
        if np.any((iv < -n) | (iv >= n)):
            raise IndexError(_err("put", f"index out of bounds for an array of size {n}"))
    elif mode == "clip":
        ind = _ufuncs.clip(ind, 0, builtins.max(n - 1, 0))
    elif mode == "wrap":
        ind = _ufuncs.remainder(ind, builtins.max(n, 1))
    elif mode in (None, "fill", "drop"):
        scatter_mode = "drop"
    else:
        raise ValueError(_err("put", f"mode must be None, 'fill', 'clip', 'wrap' or 'raise', "
                                     f"got {mode!r}"))
    out = flat.at[ind].set(v, mode=scatter_mode)
    return lax.reshape(out, shape_of(a))


# --- conversions ---------------------------------------------------------------------------------


def astype(x: Any, dtype: Any, /, *, copy: bool = False, device: Any = None) -> Any:
    """``x`` converted to ``dtype`` (like jax.numpy.astype); complex to real keeps the real
    part."""
    x = _as_array(x)
    d = dt.canonicalize(dtype)
    if typeof(x)[0].kind == "c" and d.kind != "c":
        x = lax.real(x)
    return cast(x, d)


def copy(a: Any, order: str | None = None) -> Any:
    """A copy of ``a`` (functrans arrays are immutable, so this is only an identity op)."""
    a = _as_array(a)
    return lax.copy(a)


def fromfunction(function: Callable, shape: Sequence[int], *, dtype: Any = float,
                 **kwargs: Any) -> Any:
    """``function(*coordinates, **kwargs)`` where the coordinate arrays have ``shape`` (like
    numpy.fromfunction: the function is called once, on whole arrays)."""
    coords = _selection.indices(tuple(shape), dtype=dt.canonicalize(dtype))
    return function(*(coords[i] for i in range(len(tuple(shape)))), **kwargs)


def frombuffer(buffer: Any, dtype: Any = float, count: int = -1, offset: int = 0) -> Any:
    """An array from the bytes of ``buffer`` (``dtype`` float means float64, as in NumPy)."""
    return _creation.asarray(np.frombuffer(buffer, dtype=dtype, count=count, offset=offset))


def fromstring(string: str, dtype: Any = float, count: int = -1, *, sep: str) -> Any:
    """An array from the numbers in ``string`` separated by ``sep``."""
    return _creation.asarray(np.fromstring(string, dtype=dtype, count=count, sep=sep))


def fromiter(iterable: Any, dtype: Any, count: int = -1) -> Any:
    """An array from an iterable (evaluated eagerly, like numpy.fromiter)."""
    return _creation.asarray(np.fromiter(iterable, dtype=dt.canonicalize(dtype), count=count))


def fromfile(*args: Any, **kwargs: Any) -> Any:
    """An array read from a file with numpy.fromfile (eagerly)."""
    return _creation.asarray(np.fromfile(*args, **kwargs))


def from_dlpack(x: Any, /, *, device: Any = None, copy: bool | None = None) -> Any:
    """An array from any object with ``__dlpack__`` (copied into a functrans Array)."""
    return _creation.asarray(np.from_dlpack(x))


def load(file: Any, *args: Any, **kwargs: Any) -> Any:
    """numpy.load, with arrays returned as functrans Arrays."""
    out = np.load(file, *args, **kwargs)
    return _creation.asarray(out) if isinstance(out, np.ndarray) else out


def save(file: Any, arr: Any, allow_pickle: bool = True) -> None:
    """numpy.save of ``arr``'s values."""
    np.save(file, np.asarray(arr), allow_pickle=allow_pickle)


def savez(file: Any, *args: Any, **kwds: Any) -> None:
    """numpy.savez of the arrays' values."""
    np.savez(file, *(np.asarray(a) for a in args), **{k: np.asarray(v) for k, v in kwds.items()})


def array_repr(arr: Any, max_line_width: int | None = None, precision: int | None = None,
               suppress_small: bool | None = None) -> str:
    return repr(_as_array(arr)) if max_line_width is None and precision is None and \
        suppress_small is None else np.array_repr(np.asarray(arr), max_line_width, precision,
                                                  suppress_small)


def array_str(a: Any, max_line_width: int | None = None, precision: int | None = None,
              suppress_small: bool | None = None) -> str:
    return np.array_str(np.asarray(a), max_line_width, precision, suppress_small)


get_printoptions = np.get_printoptions
set_printoptions = np.set_printoptions
printoptions = np.printoptions
iterable = np.iterable


# --- bits ---------------------------------------------------------------------------------------


def _bit_layout(name: str, a: Any, axis: int | None, bitorder: str
                ) -> tuple[Any, int, np.ndarray]:
    """Checks shared by packbits/unpackbits: the array (flattened when ``axis`` is None), the
    axis, and each bit's shift within a byte in ``bitorder``."""
    if bitorder not in ("big", "little"):
        raise ValueError(_err(name, f"bitorder must be 'big' or 'little', got {bitorder!r}"))
    if axis is None:
        a, axis = _shape.ravel(a), 0
    axis = canonical_axis(name, axis, len(shape_of(a)))
    return a, axis, np.arange(7, -1, -1) if bitorder == "big" else np.arange(8)


def packbits(a: Any, axis: int | None = None, bitorder: str = "big") -> Any:
    """The nonzero-ness of ``a``'s elements packed 8 to a uint8 along ``axis`` (like
    numpy.packbits; the flattened array when None)."""
    a = _as_array(a)
    if typeof(a)[0].kind not in "iub":
        raise DtypeError(_err("packbits", f"expected an integer or boolean array, got "
                                          f"{typeof(a)[0]}"))
    a, axis, shifts = _bit_layout("packbits", a, axis, bitorder)
    bits = cast(_ufuncs._to_bool(a), dt.uint8)
    n = shape_of(bits)[axis]
    extra = -n % 8
    if extra:
        config = [(0, 0, 0)] * len(shape_of(bits))
        config[axis] = (0, extra, 0)
        bits = lax.pad(bits, np.zeros((), dt.uint8), config)
    bits = _shape.moveaxis(bits, axis, -1)
    s = shape_of(bits)
    bits = lax.reshape(bits, s[:-1] + (s[-1] // 8, 8))
    weighted = lax.shift_left(bits, lax.broadcast_in_dim(np.asarray(shifts, dt.uint8),
                                                         shape_of(bits), (len(s),)))
    packed = lax.reduce_or(weighted, (len(s),))
    return _shape.moveaxis(packed, -1, axis)


def unpackbits(a: Any, axis: int | None = None, count: int | None = None,
               bitorder: str = "big") -> Any:
    """The bits of a uint8 array as 0/1 uint8 values, 8 per element along ``axis`` (like
    numpy.unpackbits)."""
    a = _as_array(a)
    if typeof(a)[0] != dt.uint8:
        raise DtypeError(_err("unpackbits", f"expected an input array of unsigned byte data "
                                            f"type (uint8), got {typeof(a)[0]}"))
    a, axis, shifts = _bit_layout("unpackbits", a, axis, bitorder)
    x = _shape.moveaxis(a, axis, -1)
    s = shape_of(x)
    wide = lax.broadcast_in_dim(x, s + (8,), tuple(range(len(s))))
    sh = lax.broadcast_in_dim(np.asarray(shifts, dt.uint8), s + (8,), (len(s),))
    bits = lax.bitwise_and(lax.shift_right_logical(wide, sh), np.ones((), dt.uint8))
    bits = lax.reshape(bits, s[:-1] + (s[-1] * 8,))
    if count is not None:
        count = operator.index(count)
        total = s[-1] * 8
        keep = count if count >= 0 else builtins.max(total + count, 0)
        if keep <= total:
            bits = lax.slice_in_dim(bits, 0, keep, axis=len(s) - 1)
        else:
            config = [(0, 0, 0)] * len(s)
            config[-1] = (0, keep - total, 0)
            bits = lax.pad(bits, np.zeros((), dt.uint8), config)
    return _shape.moveaxis(bits, -1, axis)


# --- functions applied along axes (vmap) --------------------------------------------------------


def _vmap() -> Callable:
    from functrans.transforms.batching import vmap
    return vmap


def apply_along_axis(func1d: Callable, axis: int, arr: Any, *args: Any, **kwargs: Any) -> Any:
    """``func1d`` applied to each 1-d slice of ``arr`` along ``axis``, batched with vmap (like
    numpy.apply_along_axis: the slice's result dimensions replace ``axis``)."""
    vmap = _vmap()
    arr = _as_array(arr)
    ndim = len(shape_of(arr))
    axis = canonical_axis("apply_along_axis", axis, ndim)

    def func(x: Any) -> Any:
        return func1d(x, *args, **kwargs)

    for i in range(1, ndim - axis):
        func = vmap(func, in_axes=i, out_axes=-1)
    for _ in range(axis):
        func = vmap(func, in_axes=0, out_axes=0)
    return func(arr)


def apply_over_axes(func: Callable, a: Any, axes: int | Sequence[int]) -> Any:
    """``func(a, axis)`` applied for each of ``axes`` in turn, keeping the rank (like
    numpy.apply_over_axes)."""
    a = _as_array(a)
    for axis in ((axes,) if np.ndim(axes) == 0 else axes):
        b = func(a, axis)
        nb, na = len(shape_of(b)), len(shape_of(a))
        if nb == na:
            a = b
        elif nb == na - 1:
            a = _shape.expand_dims(b, axis)
        else:
            raise ValueError(_err("apply_over_axes", f"function is not returning an array of "
                                                     f"the correct shape (rank {nb} for an "
                                                     f"input of rank {na})"))
    return a


def _parse_signature(signature: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    import re
    arg = r"\(\s*(?:\w+(?:\s*,\s*\w+)*)?\s*\)"
    pattern = rf"^\s*{arg}(?:\s*,\s*{arg})*\s*->\s*{arg}(?:\s*,\s*{arg})*\s*$"
    if not re.match(pattern, signature):
        raise ValueError(_err("vectorize", f"not a valid gufunc signature: {signature!r}"))
    ins, outs = signature.split("->")

    def dims(part: str) -> list[tuple[str, ...]]:
        return [tuple(d for d in (x.strip() for x in grp.split(",")) if d)
                for grp in re.findall(r"\(([^)]*)\)", part)]

    return dims(ins), dims(outs)


class vectorize:  # noqa: N801 - NumPy's name
    """``pyfunc`` made to broadcast over leading (loop) dimensions with vmap (like
    numpy.vectorize / jax.numpy.vectorize). ``signature`` ('(n),(n)->()') names the core
    dimensions each argument keeps; ``excluded`` lists positional indices or keyword names
    passed through unbatched."""

    def __init__(self, pyfunc: Callable, *, excluded: Any = frozenset(),
                 signature: str | None = None):
        self.pyfunc = pyfunc
        self.excluded = frozenset(excluded)
        self.signature = signature
        self.__doc__ = getattr(pyfunc, "__doc__", None)
        self.__name__ = getattr(pyfunc, "__name__", "vectorized")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        vmap = _vmap()
        excluded_pos = {i for i in self.excluded if isinstance(i, int)}
        static_kw = {k: v for k, v in kwargs.items() if k in self.excluded}
        dyn_kw = {k: v for k, v in kwargs.items() if k not in self.excluded}
        kw_names = list(dyn_kw)
        dyn_pos = [i for i in range(len(args)) if i not in excluded_pos]
        arrays = [_as_array(args[i]) for i in dyn_pos] + [_as_array(dyn_kw[k])
                                                           for k in kw_names]
        if self.signature is None:
            cores: list[tuple[str, ...]] = [()] * len(arrays)
        else:
            ins, _ = _parse_signature(self.signature)
            if len(ins) != len(arrays):
                raise TypeError(_err("vectorize", f"wrong number of positional arguments: "
                                                  f"signature {self.signature!r} has "
                                                  f"{len(ins)}, got {len(arrays)}"))
            cores = ins
        sizes: dict[str, int] = {}
        loop_shapes = []
        for a, core_dims in zip(arrays, cores, strict=True):
            s = shape_of(a)
            k = len(core_dims)
            if len(s) < k:
                raise ValueError(_err("vectorize", f"input with shape {s} does not have enough "
                                                   f"dimensions for its core dimensions "
                                                   f"{core_dims}"))
            for name, size in zip(core_dims, s[len(s) - k:], strict=True):
                if sizes.setdefault(name, size) != size:
                    raise ValueError(_err("vectorize", f"inconsistent size for core dimension "
                                                       f"{name!r}: {sizes[name]} vs {size}"))
            loop_shapes.append(s[:len(s) - k])
        from functrans.numpy._promotion import broadcast_shapes
        loop = broadcast_shapes("vectorize", *loop_shapes) if loop_shapes else ()
        arrays = [broadcast_to(a, loop + shape_of(a)[len(ls):], "vectorize")
                  for a, ls in zip(arrays, loop_shapes, strict=True)]

        def call(*xs: Any) -> Any:
            full = list(args)
            for i, x in zip(dyn_pos, xs, strict=False):
                full[i] = x
            kw = dict(static_kw)
            kw.update(zip(kw_names, xs[len(dyn_pos):], strict=True))
            return self.pyfunc(*full, **kw)

        fn = call
        for _ in loop:
            fn = vmap(fn)
        return fn(*arrays)


def piecewise(x: Any, condlist: Any, funclist: Sequence[Any], *args: Any, **kw: Any) -> Any:
    """``funclist[i](x)`` where ``condlist[i]`` is true (the last true condition wins; an extra
    last entry is the default), like numpy.piecewise. Each function is evaluated on all of
    ``x`` and the results are selected; constants may stand in for functions."""
    x = _as_array(x)
    d = typeof(x)[0]
    if isinstance(condlist, (list, tuple)):
        conds = [_as_array(c) for c in condlist]
    else:
        c = _as_array(condlist)
        conds = [c] if len(shape_of(c)) <= len(shape_of(x)) else [c[i] for i in range(
            shape_of(c)[0])]
    n = len(conds)
    funcs = list(funclist)
    if len(funcs) not in (n, n + 1):
        raise ValueError(_err("piecewise", f"with {n} condition(s), either {n} or {n + 1} "
                                           f"functions are expected, got {len(funcs)}"))

    def evaluate(f: Any) -> Any:
        out = f(x, *args, **kw) if callable(f) else f
        return broadcast_to(cast(_as_array(out), d), shape_of(x), "piecewise")

    out = evaluate(funcs[n]) if len(funcs) == n + 1 else _creation.zeros_like(x)
    for c, f in zip(conds, funcs[:n], strict=True):
        out = _ufuncs.where(c, evaluate(f), out)
    return out



class ufunc:  # noqa: N801 - NumPy's name
    """A universal function made from a Python function of scalars (see ``frompyfunc``): it
    broadcasts its ``nin`` arguments (vmapped over every dimension) and has NumPy's ``outer``,
    ``reduce``, ``accumulate``, ``reduceat`` and ``at`` (``inplace=False``) methods, which fold
    the function left to right."""

    def __init__(self, func: Callable, nin: int, nout: int, *, name: str | None = None,
                 identity: Any = None):
        self.func = func
        self.nin, self.nout = operator.index(nin), operator.index(nout)
        self.nargs = self.nin + self.nout
        self.identity = identity
        self.__name__ = name or getattr(func, "__name__", "ufunc")
        self._call = vectorize(func)

    def __repr__(self) -> str:
        return f"<functrans.numpy.ufunc '{self.__name__}'>"

    def __call__(self, *args: Any, out: None = None, where: None = None) -> Any:
        if len(args) != self.nin:
            raise TypeError(_err(self.__name__, f"takes {self.nin} argument(s), got "
                                                f"{len(args)}"))
        if out is not None or where is not None:
            raise NotImplementedError(_err(self.__name__, "out= and where= are not supported"))
        return self._call(*args)

    def _binary(self, what: str) -> None:
        if self.nin != 2 or self.nout != 1:
            raise ValueError(_err(self.__name__, f"{what} only supports binary functions with "
                                                 f"one output (nin=2, nout=1)"))

    def outer(self, A: Any, B: Any, /) -> Any:  # noqa: N803 - NumPy's names
        """``func(A[i...], B[j...])`` for every pair: the result has shape A.shape +
        B.shape."""
        self._binary("outer")
        A, B = _as_array(A), _as_array(B)  # noqa: N806
        sa, sb = shape_of(A), shape_of(B)
        return self(lax.reshape(A, sa + (1,) * len(sb)), B)

    def reduce(self, a: Any, axis: int | None = 0, dtype: Any = None, out: None = None,
               keepdims: bool = False, initial: Any = None, where: Any = None) -> Any:
        """Fold the function over ``axis`` (left to right), like numpy.ufunc.reduce."""
        self._binary("reduce")
        if where is not None:
            raise NotImplementedError(_err(self.__name__, "reduce(where=...) is not supported"))
        a = _as_array(a)
        if dtype is not None:
            a = cast(a, dt.canonicalize(dtype))
        if axis is None:
            shape = shape_of(a)
            out_v = self.reduce(_shape.ravel(a), 0, initial=initial)
            return lax.reshape(out_v, (1,) * len(shape)) if keepdims else out_v
        axis = canonical_axis(f"{self.__name__}.reduce", axis, len(shape_of(a)))
        moved = _shape.moveaxis(a, axis, 0)
        n = shape_of(moved)[0]
        acc = initial if initial is not None else (None if n else self.identity)
        if acc is None and not n:
            raise ValueError(_err(self.__name__, "zero-size reduction without an identity or "
                                                 "initial value"))
        for i in range(n):
            acc = moved[i] if acc is None else self(acc, moved[i])
        acc = broadcast_to(cast(_as_array(acc), typeof(a)[0]), shape_of(moved)[1:], "reduce")
        return _shape.expand_dims(acc, axis) if keepdims else acc

    def accumulate(self, a: Any, axis: int = 0, dtype: Any = None, out: None = None) -> Any:
        """The running fold along ``axis``, like numpy.ufunc.accumulate."""
        self._binary("accumulate")
        a = _as_array(a)
        if dtype is not None:
            a = cast(a, dt.canonicalize(dtype))
        axis = canonical_axis(f"{self.__name__}.accumulate", axis, len(shape_of(a)))
        moved = _shape.moveaxis(a, axis, 0)
        if not shape_of(moved)[0]:
            return a
        acc = moved[0]
        outs = [acc]
        for i in range(1, shape_of(moved)[0]):
            acc = cast(self(acc, moved[i]), typeof(a)[0])
            outs.append(acc)
        return _shape.moveaxis(_shape.stack(outs), 0, axis)

    def reduceat(self, a: Any, indices: Any, axis: int = 0, dtype: Any = None,
                 out: None = None) -> Any:
        """Reductions over the slices ``indices[i]:indices[i+1]`` (concrete indices), like
        numpy.ufunc.reduceat."""
        self._binary("reduceat")
        a = _as_array(a)
        axis = canonical_axis(f"{self.__name__}.reduceat", axis, len(shape_of(a)))
        idx = _concrete(f"{self.__name__}.reduceat", indices, "indices").astype(np.int64)
        n = shape_of(a)[axis]
        if idx.ndim != 1 or np.any((idx < 0) | (idx >= n)):
            raise IndexError(_err(self.__name__, f"reduceat indices must be 1-d and in [0, {n})"
                                                 f", got {idx.tolist()}"))
        parts = []
        for k, start in enumerate(idx.tolist()):
            stop = idx[k + 1] if k + 1 < len(idx) else n
            stop = stop if stop > start else start + 1
            parts.append(self.reduce(lax.slice_in_dim(a, start, int(stop), axis=axis), axis,
                                     dtype=dtype, keepdims=True))
        return _shape.concatenate(parts, axis)

    def at(self, a: Any, indices: Any, b: Any = None, /, *, inplace: bool = True) -> Any:
        """A copy of ``a`` with ``a[i] = func(a[i], b)`` applied for each index in turn
        (repeated indices apply repeatedly, unbuffered as in NumPy). ``inplace`` must be
        False."""
        if inplace:
            raise ValueError(_err(self.__name__, "arrays are immutable: ufunc.at needs "
                                                 "inplace=False and returns the result"))
        a = _as_array(a)
        if isinstance(indices, tuple):
            raise NotImplementedError(_err(self.__name__, "ufunc.at with a tuple of index "
                                                          "arrays is not supported"))
        idx = _as_array(indices)
        flat = _shape.ravel(idx)
        k = shape_of(flat)[0]
        if self.nin == 1:
            vals = None
        else:
            self._binary("at")
            vals = broadcast_to(_as_array(b), shape_of(idx) + shape_of(a)[1:], "at")
            vals = lax.reshape(vals, (k,) + shape_of(a)[1:])
        for j in range(k):
            i = flat[j]
            cur = a[i]
            new = self(cur) if vals is None else self(cur, vals[j])
            a = a.at[i].set(cast(new, typeof(a)[0]))
        return a


def frompyfunc(func: Callable, /, nin: int, nout: int, *, identity: Any = None) -> ufunc:
    """A ``ufunc`` from a function of ``nin`` scalars (which must use functrans operations:
    it is traced under vmap)."""
    return ufunc(func, nin, nout, identity=identity)
