"""NaN-ignoring reductions of ``functrans.numpy``: nansum, nanprod, nanmax, nanmin, nanmean,
nanvar, nanstd, nanargmax, nanargmin, nancumsum, nancumprod (nanmedian/nanquantile: _sorting).

Each replaces NaN by the reduction's identity with ``where`` and reduces, so NaN entries get a
zero cotangent. As in JAX, an all-NaN slice gives NaN for nanmax/nanmin and -1 for
nanargmax/nanargmin (NumPy warns or raises). Imports ``lax`` and the fnp modules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from functrans import lax
from functrans.errors import DtypeError
from functrans.numpy import _reductions, _ufuncs
from functrans.numpy._indexing import _as_array
from functrans.numpy._promotion import canonical_axes, cast, promote_args_inexact, typeof

__all__ = [
    "nanargmax", "nanargmin", "nancumprod", "nancumsum", "nanmax", "nanmean", "nanmin",
    "nanprod", "nanstd", "nansum", "nanvar",
]

Axis = Any


def _inexact(a: Any) -> bool:
    return typeof(a)[0].kind in "fc"


def _replace_nan(a: Any, value: Any) -> Any:
    """``a`` with NaNs replaced by ``value`` (a no-op for integer and boolean arrays)."""
    if not _inexact(a):
        return a
    return _ufuncs.where(_ufuncs.isnan(a), cast(value, typeof(a)[0]), a)


def nansum(a: Any, axis: Axis = None, dtype: Any = None, out: None = None,
           keepdims: bool = False, initial: Any = None, where: Any = None) -> Any:
    """Sum over ``axis`` treating NaN as zero (like numpy.nansum)."""
    a = _as_array(a)
    return _reductions.sum(_replace_nan(a, 0), axis, dtype, out, keepdims, initial, where)


def nanprod(a: Any, axis: Axis = None, dtype: Any = None, out: None = None,
            keepdims: bool = False, initial: Any = None, where: Any = None) -> Any:
    """Product over ``axis`` treating NaN as one (like numpy.nanprod)."""
    a = _as_array(a)
    return _reductions.prod(_replace_nan(a, 1), axis, dtype, out, keepdims, initial, where)


def _nan_extreme(name: str, reduce: Any, fill: float, a: Any, axis: Axis, keepdims: bool,
                 initial: Any, where: Any) -> Any:
    a = _as_array(a)
    if not _inexact(a):
        return reduce(a, axis, keepdims=keepdims, initial=initial, where=where)
    if typeof(a)[0].kind == "c":
        raise DtypeError(f"functrans.numpy.{name}: complex numbers are not ordered")
    nan = _ufuncs.isnan(a)
    out = reduce(_replace_nan(a, fill), axis, keepdims=keepdims, initial=initial, where=where)
    all_nan = _reductions.all(nan, axis, keepdims=keepdims, where=where)
    return _ufuncs.where(all_nan, cast(np.nan, typeof(a)[0]), out)


def nanmax(a: Any, axis: Axis = None, out: None = None, keepdims: bool = False,
           initial: Any = None, where: Any = None) -> Any:
    """Maximum over ``axis`` ignoring NaN; an all-NaN slice gives NaN."""
    return _nan_extreme("nanmax", _reductions.max, -np.inf, a, axis, keepdims, initial, where)


def nanmin(a: Any, axis: Axis = None, out: None = None, keepdims: bool = False,
           initial: Any = None, where: Any = None) -> Any:
    """Minimum over ``axis`` ignoring NaN; an all-NaN slice gives NaN."""
    return _nan_extreme("nanmin", _reductions.min, np.inf, a, axis, keepdims, initial, where)


def _count(a: Any, axis: Axis, keepdims: bool, where: Any, dtype: np.dtype) -> Any:
    valid = _ufuncs.logical_not(_ufuncs.isnan(a))
    return _reductions.sum(valid, axis, dtype, keepdims=keepdims, where=where)


def nanmean(a: Any, axis: Axis = None, dtype: Any = None, out: None = None,
            keepdims: bool = False, where: Any = None) -> Any:
    """Mean over ``axis`` of the non-NaN entries (NaN for an all-NaN slice)."""
    (a,) = promote_args_inexact("nanmean", _as_array(a))
    if dtype is not None:
        from functrans import dtypes as dt
        a = cast(a, dt.canonicalize(dtype))
    d = typeof(a)[0]
    rd = np.dtype(d.type(0).real.dtype)
    total = _reductions.sum(_replace_nan(a, 0), axis, d, keepdims=keepdims, where=where)
    return _ufuncs.true_divide(total, _count(a, axis, keepdims, where, rd))


def nanvar(a: Any, axis: Axis = None, dtype: Any = None, out: None = None, ddof: int = 0,
           keepdims: bool = False, where: Any = None, mean: Any = None) -> Any:
    """Variance over ``axis`` of the non-NaN entries (``ddof`` subtracted from their count)."""
    (a,) = promote_args_inexact("nanvar", _as_array(a))
    if dtype is not None:
        from functrans import dtypes as dt
        a = cast(a, dt.canonicalize(dtype))
    d = typeof(a)[0]
    axes = canonical_axes("nanvar", axis, len(a.shape))
    m = nanmean(a, axes, keepdims=True, where=where) if mean is None else _as_array(mean)
    centered = _ufuncs.subtract(a, m)
    if d.kind == "c":
        sq = lax.real(_ufuncs.multiply(centered, _ufuncs.conjugate(centered)))
    else:
        sq = _ufuncs.multiply(centered, centered)
    rd = typeof(sq)[0]
    total = _reductions.sum(_replace_nan(sq, 0), axes, rd, keepdims=keepdims, where=where)
    n = _count(a, axes, keepdims, where, rd)
    denom = _ufuncs.subtract(n, cast(ddof, rd))
    # NumPy gives NaN (with a warning) when ddof >= the count.
    denom = _ufuncs.where(_ufuncs.greater(denom, 0), denom, cast(np.nan, rd))
    return _ufuncs.true_divide(total, denom)


def nanstd(a: Any, axis: Axis = None, dtype: Any = None, out: None = None, ddof: int = 0,
           keepdims: bool = False, where: Any = None, mean: Any = None) -> Any:
    """Standard deviation over ``axis`` of the non-NaN entries."""
    return _ufuncs.sqrt(nanvar(a, axis, dtype, out, ddof, keepdims, where, mean))


def _nan_arg(name: str, arg: Any, fill: float, a: Any, axis: int | None,
             keepdims: bool | None) -> Any:
    a = _as_array(a)
    keepdims = bool(keepdims)
    if not _inexact(a):
        return arg(a, axis, keepdims=keepdims)
    nan = _ufuncs.isnan(a)
    out = arg(_replace_nan(a, fill), axis, keepdims=keepdims)
    all_nan = _reductions.all(nan, axis, keepdims=keepdims)
    return _ufuncs.where(all_nan, cast(-1, typeof(out)[0]), out)


def nanargmax(a: Any, axis: int | None = None, out: None = None,
              keepdims: bool | None = None) -> Any:
    """Index of the maximum ignoring NaN; -1 for an all-NaN slice (as in JAX)."""
    return _nan_arg("nanargmax", _reductions.argmax, -np.inf, a, axis, keepdims)


def nanargmin(a: Any, axis: int | None = None, out: None = None,
              keepdims: bool | None = None) -> Any:
    """Index of the minimum ignoring NaN; -1 for an all-NaN slice (as in JAX)."""
    return _nan_arg("nanargmin", _reductions.argmin, np.inf, a, axis, keepdims)


def nancumsum(a: Any, axis: int | None = None, dtype: Any = None, out: None = None) -> Any:
    """Cumulative sum treating NaN as zero."""
    return _reductions.cumsum(_replace_nan(_as_array(a), 0), axis, dtype)


def nancumprod(a: Any, axis: int | None = None, dtype: Any = None, out: None = None) -> Any:
    """Cumulative product treating NaN as one."""
    return _reductions.cumprod(_replace_nan(_as_array(a), 1), axis, dtype)
