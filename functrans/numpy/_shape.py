"""Shape manipulation in ``functrans.numpy``: reshape, transpose, squeeze, expand_dims,
concatenate/stack, flip, broadcast_to and friends, all as structural lax primitives.

Shapes must be static (Python ints, or sizes read off traced arrays' ``.shape``). Imports
``lax`` and ``_promotion``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from functrans import lax
from functrans.errors import ShapeError
from functrans import dtypes as dt
from functrans.numpy._promotion import (
    asarray_leaf, canonical_axes, canonical_axis, cast, promote_dtypes, shape_of,
)
from functrans.numpy._promotion import broadcast_shapes as _broadcast_shapes
from functrans.numpy._promotion import broadcast_to as _broadcast_to

__all__ = [
    "reshape", "ravel", "transpose", "permute_dims", "moveaxis", "swapaxes", "squeeze",
    "expand_dims", "broadcast_to", "broadcast_arrays", "broadcast_shapes", "concatenate",
    "concat", "stack", "hstack", "vstack", "dstack", "column_stack", "flip", "fliplr", "flipud",
    "atleast_1d", "atleast_2d", "atleast_3d", "shape", "ndim", "size", "matrix_transpose",
]


def shape(a: Any) -> tuple[int, ...]:
    return shape_of(asarray_leaf(a))


def ndim(a: Any) -> int:
    return len(shape(a))


def size(a: Any, axis: int | None = None) -> int:
    s = shape(a)
    return int(np.prod(s)) if axis is None else s[canonical_axis("size", axis, len(s))]


def _resolve_shape(name: str, old: tuple[int, ...], new: Any) -> tuple[int, ...]:
    # (math.prod, not np.prod: this runs on every eager reshape, and np.prod costs 2 us)
    if isinstance(new, (int, np.integer)):
        new = (new,)
    new = tuple(operator.index(d) for d in new)
    total = math.prod(old)
    unknown = [i for i, d in enumerate(new) if d == -1]
    if len(unknown) > 1:
        raise ValueError(f"functrans.numpy.{name}: can only specify one unknown dimension "
                         f"(-1), got {new}")
    if unknown:
        known = math.prod([d for d in new if d != -1])
        if known == 0 or total % known:
            raise ShapeError(f"functrans.numpy.{name}: cannot reshape an array of shape {old} "
                             f"({total} elements) into shape {new}")
        new = tuple(total // known if d == -1 else d for d in new)
    if math.prod(new) != total or any(d < 0 for d in new):
        raise ShapeError(f"functrans.numpy.{name}: cannot reshape an array of shape {old} "
                         f"({total} elements) into shape {new} "
                         f"({math.prod(new)} elements)")
    return new


def reshape(a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None) -> Any:
    """Give ``a`` a new shape (like numpy.reshape; one dimension may be -1)."""
    a = asarray_leaf(a)
    shape = newshape if shape is None else shape
    new = _resolve_shape("reshape", shape_of(a), shape)
    if order == "F":
        rev = tuple(reversed(range(len(shape_of(a)))))
        flat = lax.reshape(lax.transpose(a, rev) if rev else a, tuple(reversed(new)))
        return lax.transpose(flat, tuple(reversed(range(len(new))))) if new else flat
    if order not in ("C", "A"):
        raise ValueError(f"functrans.numpy.reshape: order must be 'C' or 'F', got {order!r}")
    return a if new == shape_of(a) else lax.reshape(a, new)


def ravel(a: Any, order: str = "C") -> Any:
    return reshape(a, (-1,), order)


def transpose(a: Any, axes: Sequence[int] | None = None) -> Any:
    """Permute the axes (reverse them when ``axes`` is None), like numpy.transpose."""
    a = asarray_leaf(a)
    n = len(shape_of(a))
    if axes is None:
        perm = tuple(reversed(range(n)))
    else:
        perm = canonical_axes("transpose", tuple(axes), n)
        if len(perm) != n:
            raise ValueError(f"functrans.numpy.transpose: axes {tuple(axes)} do not match an "
                             f"array of rank {n}")
    return a if perm == tuple(range(n)) else lax.transpose(a, perm)


def permute_dims(a: Any, axes: Sequence[int]) -> Any:
    return transpose(a, axes)


def matrix_transpose(x: Any, /) -> Any:
    """Swap the last two axes."""
    x = asarray_leaf(x)
    n = len(shape_of(x))
    if n < 2:
        raise ValueError(f"functrans.numpy.matrix_transpose: needs at least 2 dimensions, got "
                         f"shape {shape_of(x)}")
    return transpose(x, (*range(n - 2), n - 1, n - 2))


def moveaxis(a: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Any:
    a = asarray_leaf(a)
    n = len(shape_of(a))
    src = canonical_axes("moveaxis", source, n)
    dst = canonical_axes("moveaxis", destination, n)
    if len(src) != len(dst):
        raise ValueError("functrans.numpy.moveaxis: source and destination must have the same "
                         "number of elements")
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return transpose(a, order)


def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    a = asarray_leaf(a)
    n = len(shape_of(a))
    i, j = canonical_axis("swapaxes", axis1, n), canonical_axis("swapaxes", axis2, n)
    perm = list(range(n))
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(a, perm)


def squeeze(a: Any, axis: int | Sequence[int] | None = None) -> Any:
    """Remove size-1 axes (all of them when ``axis`` is None)."""
    a = asarray_leaf(a)
    s = shape_of(a)
    if axis is None:
        dims = tuple(i for i, d in enumerate(s) if d == 1)
    else:
        dims = canonical_axes("squeeze", axis, len(s))
        for i in dims:
            if s[i] != 1:
                raise ValueError(f"functrans.numpy.squeeze: cannot select an axis to squeeze "
                                 f"out which has size not equal to one (axis {i} of shape {s})")
    return lax.squeeze(a, dims) if dims else a


def expand_dims(a: Any, axis: int | Sequence[int]) -> Any:
    a = asarray_leaf(a)
    n = len(shape_of(a)) + (1 if isinstance(axis, (int, np.integer)) else len(axis))
    dims = canonical_axes("expand_dims", axis, n)
    return lax.expand_dims(a, tuple(sorted(dims)))


def broadcast_to(array: Any, shape: Any) -> Any:
    """Broadcast to ``shape`` (like numpy.broadcast_to)."""
    array = asarray_leaf(array)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return _broadcast_to(array, tuple(operator.index(d) for d in shape))


def broadcast_arrays(*args: Any) -> list[Any]:
    args = [asarray_leaf(a) for a in args]
    s = broadcast_shapes(*(shape_of(a) for a in args))
    return [_broadcast_to(a, s, "broadcast_arrays") for a in args]


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """The broadcast shape of several shapes (like numpy.broadcast_shapes)."""
    return _broadcast_shapes("broadcast_shapes", *(tuple(s) for s in shapes))


def concatenate(arrays: Sequence[Any], axis: int | None = 0, dtype: Any = None) -> Any:
    """Join arrays along an existing axis (``axis=None`` flattens first)."""
    if not len(arrays):
        raise ValueError("functrans.numpy.concatenate: need at least one array")
    arrays = [asarray_leaf(a) for a in arrays]
    if axis is None:
        arrays = [ravel(a) for a in arrays]
        axis = 0
    arrays = promote_dtypes(*arrays)
    if dtype is not None:
        arrays = [cast(a, dt.canonicalize(dtype)) for a in arrays]
    shapes = [shape_of(a) for a in arrays]
    n = len(shapes[0])
    if n == 0:
        raise ValueError("functrans.numpy.concatenate: zero-dimensional arrays cannot be "
                         "concatenated")
    ax = canonical_axis("concatenate", axis, n)
    for s in shapes[1:]:
        if len(s) != n or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0], strict=True))
                              if i != ax):
            raise ShapeError(f"functrans.numpy.concatenate: all input array dimensions except "
                             f"the concatenation axis ({ax}) must match, got shapes "
                             f"{', '.join(map(str, shapes))}")
    if len(arrays) == 1:
        return arrays[0]
    return lax.concatenate(arrays, ax)


def concat(arrays: Sequence[Any], /, *, axis: int | None = 0) -> Any:
    return concatenate(arrays, axis)


def stack(arrays: Sequence[Any], axis: int = 0, dtype: Any = None) -> Any:
    """Join arrays along a new axis."""
    if not len(arrays):
        raise ValueError("functrans.numpy.stack: need at least one array")
    arrays = [asarray_leaf(a) for a in arrays]
    shapes = {shape_of(a) for a in arrays}
    if len(shapes) != 1:
        raise ShapeError(f"functrans.numpy.stack: all input arrays must have the same shape, "
                         f"got {', '.join(str(shape_of(a)) for a in arrays)}")
    n = len(next(iter(shapes))) + 1
    ax = canonical_axis("stack", axis, n)
    return concatenate([expand_dims(a, ax) for a in arrays], ax, dtype)


def atleast_1d(*arys: Any) -> Any:
    out = [reshape(a, (1,)) if ndim(a) == 0 else asarray_leaf(a) for a in arys]
    return out[0] if len(out) == 1 else out


def atleast_2d(*arys: Any) -> Any:
    out = []
    for a in arys:
        a = asarray_leaf(a)
        s = shape_of(a)
        out.append(reshape(a, (1,) * (2 - len(s)) + s) if len(s) < 2 else a)
    return out[0] if len(out) == 1 else out


def atleast_3d(*arys: Any) -> Any:
    out = []
    for a in arys:
        a = asarray_leaf(a)
        s = shape_of(a)
        if len(s) == 0:
            a = reshape(a, (1, 1, 1))
        elif len(s) == 1:
            a = reshape(a, (1, s[0], 1))
        elif len(s) == 2:
            a = reshape(a, (*s, 1))
        out.append(a)
    return out[0] if len(out) == 1 else out


def hstack(tup: Sequence[Any], dtype: Any = None) -> Any:
    arrs = [atleast_1d(a) for a in tup]
    return concatenate(arrs, 0 if ndim(arrs[0]) == 1 else 1, dtype)


def vstack(tup: Sequence[Any], dtype: Any = None) -> Any:
    return concatenate([atleast_2d(a) for a in tup], 0, dtype)


def dstack(tup: Sequence[Any], dtype: Any = None) -> Any:
    return concatenate([atleast_3d(a) for a in tup], 2, dtype)


def column_stack(tup: Sequence[Any]) -> Any:
    arrs = [reshape(a, (-1, 1)) if ndim(a) < 2 else asarray_leaf(a) for a in tup]
    return concatenate(arrs, 1)


def flip(m: Any, axis: int | Sequence[int] | None = None) -> Any:
    m = asarray_leaf(m)
    dims = canonical_axes("flip", axis, len(shape_of(m)))
    return lax.rev(m, dims) if dims else m


def fliplr(m: Any) -> Any:
    return flip(m, 1)


def flipud(m: Any) -> Any:
    return flip(m, 0)
