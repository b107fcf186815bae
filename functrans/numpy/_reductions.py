"""Reductions in ``functrans.numpy``: sum, prod, max, min, mean, var, std, all, any,
argmax/argmin and cumulative sums/products, with NumPy's ``axis``/``keepdims``/``where``/
``initial``/``dtype`` arguments.

Accumulator dtypes follow JAX: booleans and integers narrower than the default int accumulate
in the default int (int32), float16 stays float16. Imports ``lax``, ``_promotion``, ``_shape``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import dtypes as dt
from functrans import lax
from functrans.errors import DtypeError
from functrans.numpy._promotion import (
    asarray_leaf, canonical_axes, canonical_axis, cast, promote_args_inexact, shape_of, typeof,
)
from functrans.numpy._shape import expand_dims, ravel

__all__ = [
    "sum", "prod", "max", "min", "amax", "amin", "mean", "var", "std", "all", "any", "argmax",
    "argmin", "cumsum", "cumprod", "cumulative_sum", "cumulative_prod", "ptp",
    "count_nonzero",
]

Axis = int | Sequence[int] | None


def _accumulator_dtype(d: np.dtype) -> np.dtype:
    """Integer sums and products widen narrow integers (and booleans) to the default int."""
    if d.kind in "fc":
        return d  # (before the config lookup: float sums are the common eager case)
    default = dt.canonicalize(int)
    if d.kind == "b":
        return default
    if d.kind == "i" and d.itemsize < default.itemsize:
        return default
    if d.kind == "u" and d.itemsize < default.itemsize:
        return np.dtype(f"u{default.itemsize}")
    return d


def _keepdims(out: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    return expand_dims(out, axes) if keepdims and axes else out


def _reduction(name: str, a: Any, axis: Axis, keepdims: bool, where: Any, initial: Any,
               reduce: Callable, identity: Callable[[np.dtype], Any] | None,
               dtype: np.dtype) -> Any:
    a = cast(asarray_leaf(a), dtype)
    shape = shape_of(a)
    axes = canonical_axes(name, axis, len(shape))
    if where is not None:
        if identity is None and initial is None:
            raise ValueError(f"functrans.numpy.{name}: `where` needs an `initial` value for a "
                             f"reduction without an identity")
        from functrans.numpy._ufuncs import where as where_
        a = where_(where, a, cast(identity(dtype) if initial is None else initial, dtype))
    if identity is None and initial is None:
        empty = [ax for ax in axes if shape[ax] == 0]
        if empty:
            raise ValueError(f"functrans.numpy.{name}: zero-size array to reduction operation "
                             f"{name} which has no identity (axis {empty[0]} of shape {shape}); "
                             f"pass initial=...")
    out = reduce(a, axes) if axes else a
    if initial is not None:
        out = _combine_initial(name, out, initial, dtype)
    return _keepdims(out, axes, keepdims)


def _combine_initial(name: str, out: Any, initial: Any, dtype: np.dtype) -> Any:
    init = cast(initial, dtype)
    op = {"sum": lax.add, "prod": lax.mul, "max": lax.max, "min": lax.min}[name]
    return op(out, init)


def sum(a: Any, axis: Axis = None, dtype: Any = None, out: None = None,  # noqa: A001
        keepdims: bool = False, initial: Any = None, where: Any = None) -> Any:
    """Sum over ``axis`` (all axes when None), like numpy.sum."""
    a = asarray_leaf(a)
    d = dt.canonicalize(dtype) if dtype is not None else _accumulator_dtype(typeof(a)[0])
    return _reduction("sum", a, axis, keepdims, where, initial, lax.reduce_sum,
                      lambda d: 0, d)


def prod(a: Any, axis: Axis = None, dtype: Any = None, out: None = None,
         keepdims: bool = False, initial: Any = None, where: Any = None) -> Any:
    """Product over ``axis``, like numpy.prod."""
    a = asarray_leaf(a)
    d = dt.canonicalize(dtype) if dtype is not None else _accumulator_dtype(typeof(a)[0])
    return _reduction("prod", a, axis, keepdims, where, initial, lax.reduce_prod,
                      lambda d: 1, d)


def max(a: Any, axis: Axis = None, out: None = None, keepdims: bool = False,  # noqa: A001
        initial: Any = None, where: Any = None) -> Any:
    """Maximum over ``axis`` (NaN propagates), like numpy.max."""
    a = asarray_leaf(a)
    d = typeof(a)[0]
    if d.kind == "c":
        raise DtypeError("functrans.numpy.max: complex numbers are not ordered")
    return _reduction("max", a, axis, keepdims, where, initial, lax.reduce_max, None, d)


def min(a: Any, axis: Axis = None, out: None = None, keepdims: bool = False,  # noqa: A001
        initial: Any = None, where: Any = None) -> Any:
    """Minimum over ``axis`` (NaN propagates), like numpy.min."""
    a = asarray_leaf(a)
    d = typeof(a)[0]
    if d.kind == "c":
        raise DtypeError("functrans.numpy.min: complex numbers are not ordered")
    return _reduction("min", a, axis, keepdims, where, initial, lax.reduce_min, None, d)


amax, amin = max, min


def all(a: Any, axis: Axis = None, out: None = None, keepdims: bool = False,  # noqa: A001
        *, where: Any = None) -> Any:
    """True where every element along ``axis`` is nonzero."""
    from functrans.numpy._ufuncs import _to_bool
    return _reduction("all", _to_bool(a), axis, keepdims, where, None, lax.reduce_and,
                      lambda d: True, dt.bool_)


def any(a: Any, axis: Axis = None, out: None = None, keepdims: bool = False,  # noqa: A001
        *, where: Any = None) -> Any:
    """True where some element along ``axis`` is nonzero."""
    from functrans.numpy._ufuncs import _to_bool
    return _reduction("any", _to_bool(a), axis, keepdims, where, None, lax.reduce_or,
                      lambda d: False, dt.bool_)


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    return int(math.prod([shape[i] for i in axes]))  # (np.prod costs 3 us per eager mean)


def mean(a: Any, axis: Axis = None, dtype: Any = None, out: None = None,
         keepdims: bool = False, *, where: Any = None) -> Any:
    """Arithmetic mean over ``axis`` (integers average in the default float dtype)."""
    (a,) = promote_args_inexact("mean", a)
    if dtype is not None:
        a = cast(a, dt.canonicalize(dtype))
    d = typeof(a)[0]
    axes = canonical_axes("mean", axis, len(shape_of(a)))
    total = sum(a, axis, d, keepdims=keepdims, where=where)
    if where is None:
        n = cast(_count(shape_of(a), axes), d)
    else:
        n = sum(cast(lax.broadcast_in_dim(where, shape_of(a), ()) if not shape_of(where)
                     else where, d), axis, d, keepdims=keepdims)
    return lax.div(total, n)


def var(a: Any, axis: Axis = None, dtype: Any = None, out: None = None, ddof: int = 0,
        keepdims: bool = False, *, where: Any = None, correction: int | None = None) -> Any:
    """Variance over ``axis`` (``ddof`` or ``correction`` subtracted from the count)."""
    ddof = ddof if correction is None else correction
    (a,) = promote_args_inexact("var", a)
    if dtype is not None:
        a = cast(a, dt.canonicalize(dtype))
    d = typeof(a)[0]
    axes = canonical_axes("var", axis, len(shape_of(a)))
    from functrans.numpy._ufuncs import subtract
    centered = subtract(a, mean(a, axes, keepdims=True, where=where))
    sq = lax.real(lax.mul(centered, lax.conj(centered))) if d.kind == "c" else \
        lax.mul(centered, centered)
    rd = typeof(sq)[0]
    total = sum(sq, axes, rd, keepdims=keepdims, where=where)
    n = _count(shape_of(a), axes) if where is None else None
    # As NumPy: a count at or below ddof divides by zero (inf or nan), never by a negative.
    if n is not None:
        return lax.div(total, cast(n - ddof if n > ddof else 0, rd))
    count = sum(cast(where, rd), axes, rd, keepdims=keepdims)
    return lax.div(total, lax.max(lax.sub(count, cast(ddof, rd)), cast(0, rd)))


def std(a: Any, axis: Axis = None, dtype: Any = None, out: None = None, ddof: int = 0,
        keepdims: bool = False, *, where: Any = None, correction: int | None = None) -> Any:
    """Standard deviation over ``axis``."""
    return lax.sqrt(var(a, axis, dtype, out, ddof, keepdims, where=where,
                        correction=correction))


def ptp(a: Any, axis: Axis = None, out: None = None, keepdims: bool = False) -> Any:
    """Range (max - min) over ``axis``."""
    return lax.sub(max(a, axis, keepdims=keepdims), min(a, axis, keepdims=keepdims))


def count_nonzero(a: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    from functrans.numpy._ufuncs import _to_bool
    return sum(_to_bool(a), axis, dt.canonicalize(int), keepdims=keepdims)


def _arg_reduction(name: str, prim_fn: Callable, a: Any, axis: int | None,
                   keepdims: bool) -> Any:
    a = asarray_leaf(a)
    d = typeof(a)[0]
    if d.kind == "c":
        raise DtypeError(f"functrans.numpy.{name}: complex numbers are not ordered")
    index_dtype = dt.canonicalize(int)
    if axis is None:
        shape = shape_of(a)
        if 0 in shape:
            raise ValueError(f"functrans.numpy.{name}: attempt to get {name} of an empty "
                             f"sequence")
        out = prim_fn(ravel(a), 0, index_dtype)
        if keepdims:
            return lax.reshape(out, (1,) * len(shape))
        return out
    ax = canonical_axis(name, axis, len(shape_of(a)))
    if shape_of(a)[ax] == 0:
        raise ValueError(f"functrans.numpy.{name}: attempt to get {name} of an empty sequence "
                         f"(axis {ax} of shape {shape_of(a)})")
    out = prim_fn(a, ax, index_dtype)
    return _keepdims(out, (ax,), keepdims)


def argmax(a: Any, axis: int | None = None, out: None = None, keepdims: bool = False) -> Any:
    """Index of the maximum along ``axis`` (of the flattened array when None); the first NaN
    counts as the maximum."""
    return _arg_reduction("argmax", lax.argmax, a, axis, keepdims)


def argmin(a: Any, axis: int | None = None, out: None = None, keepdims: bool = False) -> Any:
    """Index of the minimum along ``axis``; the first NaN counts as the minimum."""
    return _arg_reduction("argmin", lax.argmin, a, axis, keepdims)


def _cumulative(name: str, op: Callable, a: Any, axis: int | None, dtype: Any,
                reverse: bool = False) -> Any:
    a = asarray_leaf(a)
    d = dt.canonicalize(dtype) if dtype is not None else _accumulator_dtype(typeof(a)[0])
    a = cast(a, d)
    if axis is None:
        a, axis = ravel(a), 0
    ax = canonical_axis(name, axis, len(shape_of(a)))
    return op(a, axis=ax, reverse=reverse)


def cumsum(a: Any, axis: int | None = None, dtype: Any = None, out: None = None) -> Any:
    """Cumulative sum along ``axis`` (of the flattened array when None)."""
    return _cumulative("cumsum", lax.cumsum, a, axis, dtype)


def cumprod(a: Any, axis: int | None = None, dtype: Any = None, out: None = None) -> Any:
    """Cumulative product along ``axis`` (of the flattened array when None)."""
    return _cumulative("cumprod", lax.cumprod, a, axis, dtype)


def cumulative_sum(x: Any, /, *, axis: int | None = None, dtype: Any = None,
                   include_initial: bool = False) -> Any:
    out = cumsum(x, axis, dtype)
    if include_initial:
        from functrans.numpy._creation import zeros
        ax = 0 if axis is None else axis
        s = list(shape_of(out))
        s[ax] = 1
        from functrans.numpy._shape import concatenate
        out = concatenate([zeros(tuple(s), typeof(out)[0]), out], ax)
    return out


def cumulative_prod(x: Any, /, *, axis: int | None = None, dtype: Any = None,
                    include_initial: bool = False) -> Any:
    out = cumprod(x, axis, dtype)
    if include_initial:
        from functrans.numpy._creation import ones
        ax = 0 if axis is None else axis
        s = list(shape_of(out))
        s[ax] = 1
        from functrans.numpy._shape import concatenate
        out = concatenate([ones(tuple(s), typeof(out)[0]), out], ax)
    return out
