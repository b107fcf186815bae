"""NumPy indexing for functrans arrays: ``x[idx]`` and ``x.at[idx].set/add/...``.

Basic indices (ints, slices with any step, None, Ellipsis) become static ``slice``/``rev``/
``reshape`` ops; a traced scalar integer becomes a ``dynamic_slice``. Advanced indices
(integer and boolean arrays) go through ``gather``/``scatter``.
Imports ``lax`` and ``_promotion``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from functrans import core, lax
from functrans import dtypes as dt
from functrans.core import Array, Tracer
from functrans.numpy._promotion import asarray_leaf, shape_of, typeof

__all__ = ["getitem", "IndexUpdateHelper", "nonzero"]


def _is_static_int(i: Any) -> bool:
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def _is_scalar_int_array(i: Any) -> bool:
    if isinstance(i, (Array, Tracer)) or (isinstance(i, np.ndarray)):
        return i.ndim == 0 and typeof(i)[0].kind in "iu"
    return False


def _expand_index(idx: Any, ndim: int) -> tuple[Any, ...]:
    if not isinstance(idx, tuple):
        idx = (idx,)
    n_ellipsis = sum(1 for i in idx if i is Ellipsis)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(1 for i in idx if i is not None and i is not Ellipsis)
    if consumed > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, but "
                         f"{consumed} were indexed")
    if n_ellipsis:
        k = idx.index(Ellipsis)
        idx = idx[:k] + (slice(None),) * (ndim - consumed) + idx[k + 1:]
    else:
        idx = idx + (slice(None),) * (ndim - consumed)
    return idx


def getitem(x: Any, idx: Any) -> Any:
    """``x[idx]`` with NumPy semantics (basic indexing; advanced indexing via gather)."""
    x = asarray_leaf(x)
    shape = shape_of(x)
    full = _expand_index(idx, len(shape))
    if not all(i is None or isinstance(i, slice) or _is_static_int(i) or
               _is_scalar_int_array(i) for i in full):
        return _advanced_getitem(x, full)
    out = x
    squeeze_dims = []
    new_shape_after: list[Any] = []  # None markers for inserted axes
    dim = 0
    for i in full:
        if i is None:
            new_shape_after.append(None)
            continue
        size = shape[dim]
        if isinstance(i, slice):
            start, stop, step = i.indices(size)
            if step > 0:
                n = max(0, (stop - start + step - 1) // step)
            else:
                n = max(0, (start - stop - step - 1) // (-step))
            if (start, step, n) != (0, 1, size):
                out = _static_slice(out, dim, start, step, n)
            new_shape_after.append(dim)
        elif _is_static_int(i):
            j = operator.index(i)
            if not -size <= j < size:
                raise IndexError(f"index {j} is out of bounds for axis {dim} with size {size}")
            out = _static_slice(out, dim, j % size, 1, 1)
            squeeze_dims.append(dim)
        else:
            out = _dynamic_index(out, dim, i, size)
            squeeze_dims.append(dim)
        dim += 1
    kept = [d for d in range(len(shape)) if d not in squeeze_dims]
    if squeeze_dims:
        out = lax.squeeze(out, tuple(squeeze_dims))
    if any(m is None for m in new_shape_after):
        final, k = [], 0
        cur = shape_of(out)
        for m in new_shape_after:
            if m is None:
                final.append(1)
            else:
                final.append(cur[k])
                k += 1
        out = lax.reshape(out, tuple(final))
    _ = kept
    return out


def _static_slice(x: Any, dim: int, start: int, step: int, n: int) -> Any:
    shape = shape_of(x)
    if step < 0:
        # Reverse, then slice forward: element start - k*|step| sits at size-1-start + k*|step|.
        x = lax.rev(x, (dim,))
        start = shape[dim] - 1 - start
        step = -step
    starts = [0] * len(shape)
    limits = list(shape)
    strides = [1] * len(shape)
    starts[dim] = start
    limits[dim] = start + (n - 1) * step + 1 if n else start
    strides[dim] = step
    return lax.slice(x, tuple(starts), tuple(limits), tuple(strides) if step != 1 else None)


def _dynamic_index(x: Any, dim: int, i: Any, size: int) -> Any:
    """A traced scalar index: wrap negatives, then a clamped dynamic_slice of size 1."""
    shape = shape_of(x)
    idx_dtype = typeof(i)[0]
    if idx_dtype.kind == "i":
        zero = np.asarray(0, idx_dtype)
        i = lax.select_n(lax.lt(i, zero), i, lax.add(i, np.asarray(size, idx_dtype)))
    starts = [np.asarray(0, dt.int32)] * len(shape)
    starts[dim] = lax.convert_element_type(i, dt.int32)
    sizes = list(shape)
    sizes[dim] = 1
    return lax.dynamic_slice(x, starts, sizes)


def _advanced_getitem(x: Any, idx: tuple[Any, ...]) -> Any:
    raise NotImplementedError(
        "functrans.numpy: indexing with integer or boolean arrays is not implemented yet")


def nonzero(a: Any, *, size: int | None = None, fill_value: Any = None) -> tuple[Any, ...]:
    """Indices of nonzero elements (eager only unless ``size`` is given)."""
    a = asarray_leaf(a)
    value = core.concrete_or_none(a)
    if value is None:
        raise NotImplementedError("functrans.numpy.nonzero under tracing needs size=")
    idx = np.nonzero(np.asarray(value))
    return tuple(Array(i.astype(dt.canonicalize(int))) for i in idx)


class IndexUpdateHelper:
    """``x.at[idx]``: functional index updates (set, add, mul, min, max, get)."""

    __slots__ = ("array",)

    def __init__(self, array: Any):
        self.array = array

    def __getitem__(self, idx: Any) -> Any:
        raise NotImplementedError("functrans: .at[] updates are not implemented yet")
