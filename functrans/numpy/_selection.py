"""Index functions of ``functrans.numpy``: nonzero/argwhere/compress (with JAX's ``size=``
forms under tracing), take/take_along_axis/put_along_axis, select, diagonal/diag/tril/triu/
trace, and index arithmetic (unravel_index, ravel_multi_index, indices, ix_).

Built on the gather/scatter planning of ``_indexing.py``. Imports lax and the fnp modules.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from functrans import core, lax
from functrans import dtypes as dt
from functrans.core import Array, Tracer
from functrans.errors import ConcretizationTypeError, DtypeError, ShapeError
from functrans.numpy import _creation, _reductions, _shape, _ufuncs
from functrans.numpy._indexing import (
    CLIP, FILL_OR_DROP, PROMISE_IN_BOUNDS, _as_array, _broadcast_updates, _column_values,
    _index_array, _index_dtype, _mask_error, _parse_mode, _scatter_update, _take,
)
from functrans.numpy._promotion import (
    asarray_leaf, broadcast_to, canonical_axis, cast, shape_of, typeof,
)
from functrans.primitives.indexing import GatherDimensionNumbers, ScatterDimensionNumbers

__all__ = [
    "argwhere", "compress", "diag", "diagonal", "extract", "flatnonzero", "indices", "ix_",
    "nonzero", "put_along_axis", "ravel_multi_index", "select", "take", "take_along_axis",
    "trace", "tril", "triu", "unravel_index",
]


# --- nonzero and friends ------------------------------------------------------------------------


def _fill_values(name: str, fill_value: Any, n: int) -> tuple[Any, ...]:
    if fill_value is None:
        return (0,) * n
    if isinstance(fill_value, (tuple, list)):
        if len(fill_value) != n:
            raise ValueError(f"functrans.numpy.{name}: fill_value has {len(fill_value)} "
                             f"entries; it needs one per dimension ({n}) or a scalar")
        return tuple(fill_value)
    return (fill_value,) * n


def nonzero(a: Any, *, size: int | None = None, fill_value: Any = None) -> tuple[Any, ...]:
    """Indices of the nonzero elements, one array per dimension (like numpy.nonzero).

    Their number depends on the values, so under tracing pass ``size``: the first ``size``
    indices are returned, padded with ``fill_value`` (default 0; a scalar or one per dim).

    >>> import functrans.numpy as fnp
    >>> [i.tolist() for i in fnp.nonzero(fnp.asarray([0, 3, 0, 5]), size=3, fill_value=-1)]
    [[1, 3, -1]]
    """
    a = asarray_leaf(a)
    shape = shape_of(a)
    if not shape:
        raise ValueError("functrans.numpy.nonzero: not defined for 0-d arrays (as in NumPy 2); "
                         "use fnp.nonzero(fnp.atleast_1d(x))")
    dtype = dt.canonicalize(int)
    fills = _fill_values("nonzero", fill_value, len(shape))
    value = core.concrete_or_none(a)
    if value is not None:
        found = np.nonzero(core.to_numpy(value))
        if size is None:
            return tuple(Array(i.astype(dtype)) for i in found)
        size = operator.index(size)
        out = []
        for i, f in zip(found, fills, strict=True):
            padded = np.empty(size, dtype)
            n = min(size, len(i))
            padded[:n] = i[:n]
            padded[n:] = core.to_numpy(f) if isinstance(f, Array) else f
            out.append(Array(padded))
        return tuple(out)
    if size is None:
        raise _mask_error("functrans.numpy.nonzero without size=", a)
    return _traced_nonzero(a, operator.index(size), fills, dtype)


def _traced_nonzero(a: Any, size: int, fills: tuple[Any, ...], dtype: np.dtype
                    ) -> tuple[Any, ...]:
    """nonzero of a traced array with a static result size: the k-th nonzero element's flat
    position is scattered to slot k (k = running count - 1); elements past ``size`` and zero
    elements target slot ``size``, which the scatter drops."""
    shape = shape_of(a)
    n = math.prod(shape)
    flat = lax.reshape(a, (n,))
    mask = flat if typeof(a)[0] == dt.bool_ else lax.ne(flat, np.zeros((), typeof(a)[0]))
    ones = lax.convert_element_type(mask, dtype)
    counts = lax.cumsum(ones, axis=0)
    slots = lax.select_n(mask, np.full((n,), size, dtype),
                         lax.sub(counts, np.ones((), dtype)))
    positions = lax.scatter(np.zeros((size,), dtype), lax.reshape(slots, (n, 1)),
                            lax.iota(dtype, n), ScatterDimensionNumbers((), (0,), (0,)),
                            mode=FILL_OR_DROP)
    valid = lax.lt(lax.iota(dtype, size), lax.reduce_sum(ones, (0,)))
    out = []
    for d, f in zip(range(len(shape)), fills, strict=True):
        stride = math.prod(shape[d + 1:])
        coord = positions if stride == 1 else lax.div(positions, np.asarray(stride, dtype))
        if d:
            coord = lax.rem(coord, np.asarray(shape[d], dtype))
        out.append(lax.select_n(valid, broadcast_to(cast(asarray_leaf(f), dtype), (size,)),
                                coord))
    return tuple(out)


def flatnonzero(a: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    """Indices of the nonzero elements of ``ravel(a)`` (see ``nonzero`` for ``size``)."""
    return nonzero(_shape.ravel(_as_array(a)), size=size, fill_value=fill_value)[0]


def argwhere(a: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    """The indices of nonzero elements as rows of an ``(N, a.ndim)`` array."""
    a = _as_array(a)
    ndim = len(shape_of(a))
    coords = nonzero(_shape.atleast_1d(a), size=size, fill_value=fill_value)
    out = _shape.stack(coords, axis=1)
    return out if ndim else _take(out, (slice(None), slice(0, 0)))


def _condition(name: str, condition: Any) -> Any:
    condition = asarray_leaf(_index_array(condition))
    if len(shape_of(condition)) != 1:
        raise ValueError(f"functrans.numpy.{name}: condition must be a 1-d array, got shape "
                         f"{shape_of(condition)}")
    return condition


def compress(condition: Any, a: Any, axis: int | None = None, *, size: int | None = None,
             fill_value: Any = 0) -> Any:
    """The slices of ``a`` along ``axis`` where ``condition`` is true (like numpy.compress).

    Under tracing pass ``size``: the result then has ``size`` slices, padded with
    ``fill_value``.
    """
    condition = _condition("compress", condition)
    a = _as_array(a)
    if axis is None:
        a, axis = _shape.ravel(a), 0
    axis = canonical_axis("compress", axis, len(shape_of(a)))
    n = shape_of(a)[axis]
    m = shape_of(condition)[0]
    if m > n:
        extra = core.concrete_or_none(condition)
        if extra is not None and np.any(core.to_numpy(extra)[n:]):
            raise ValueError(f"functrans.numpy.compress: condition has {m} entries, and some "
                             f"past the {n} of axis {axis} are true")
        condition = _take(condition, slice(0, n))
    elif m < n:
        a = _take(a, (slice(None),) * axis + (slice(0, m),))
    if size is None:
        value = core.concrete_or_none(condition)
        if value is None:
            raise _mask_error("functrans.numpy.compress without size=", condition)
        found = np.nonzero(core.to_numpy(value))[0]
        return _take(a, (slice(None),) * axis + (found,))
    (found,) = nonzero(condition, size=size, fill_value=min(m, n))
    return take(a, found, axis=axis, mode="fill", fill_value=fill_value)


def extract(condition: Any, arr: Any, *, size: int | None = None, fill_value: Any = 0) -> Any:
    """The elements of ``ravel(arr)`` where ``ravel(condition)`` is true."""
    return compress(_shape.ravel(_as_array(condition)), _shape.ravel(_as_array(arr)),
                    size=size, fill_value=fill_value)


# --- take -------------------------------------------------------------------------------------


def _integer_indices(name: str, indices: Any) -> Any:
    indices = asarray_leaf(_index_array(indices))
    if typeof(indices)[0].kind not in "iu":
        raise DtypeError(f"functrans.numpy.{name}: indices must be integers, got "
                         f"{typeof(indices)[0]}")
    return indices


def take(a: Any, indices: Any, axis: int | None = None, out: None = None,
         mode: str | None = None, unique_indices: bool = False,
         indices_are_sorted: bool = False, fill_value: Any = None) -> Any:
    """Elements of ``a`` at ``indices`` along ``axis`` (``a`` flattened when None).

    Out-of-bounds indices follow ``mode``, as in JAX: 'fill' (default) returns
    ``fill_value`` (NaN for floats), 'clip' clamps (negative indices clamp to 0, as in NumPy),
    'wrap' wraps around; 'raise' checks concrete indices.

    >>> import functrans.numpy as fnp
    >>> fnp.take(fnp.asarray([1.0, 2.0, 3.0]), fnp.asarray([2, -1, 5])).tolist()
    [3.0, 3.0, nan]
    """
    if out is not None:
        raise NotImplementedError("functrans.numpy.take: out= is not supported (arrays are "
                                  "immutable)")
    a = _as_array(a)
    if axis is None:
        a, axis = _shape.ravel(a), 0
    axis = canonical_axis("take", axis, len(shape_of(a)))
    indices = _integer_indices("take", indices)
    size = shape_of(a)[axis]
    normalize = True
    if mode in (None, "fill", "drop"):
        gather_mode: Any = FILL_OR_DROP
    elif mode == "clip":
        gather_mode, normalize = CLIP, False
    elif mode == "wrap":
        if size == 0 and math.prod(shape_of(indices)):
            raise IndexError("functrans.numpy.take: cannot take from an empty axis")
        indices = _ufuncs.remainder(indices, max(size, 1))  # type: ignore[attr-defined]
        gather_mode = PROMISE_IN_BOUNDS
    elif mode == "raise":
        value = core.concrete_or_none(indices)
        if value is None:
            raise ConcretizationTypeError("functrans.numpy.take: mode='raise' needs concrete "
                                          "indices; under tracing use mode='fill' or 'clip'")
        bad = np.asarray(core.to_numpy(value)).astype(np.int64)
        bad = bad[(bad < -size) | (bad >= size)]
        if bad.size:
            raise IndexError(f"functrans.numpy.take: index {bad.flat[0]} is out of bounds for "
                             f"axis {axis} with size {size}")
        gather_mode = PROMISE_IN_BOUNDS
    else:
        gather_mode = _parse_mode(mode)
    return _take(a, (slice(None),) * axis + (indices,), mode=gather_mode,
                 fill_value=fill_value, normalize=normalize,
                 indices_are_sorted=indices_are_sorted, unique_indices=unique_indices)


def _along_axis(name: str, arr: Any, indices: Any, axis: int | None
                ) -> tuple[Any, Any, int]:
    arr = _as_array(arr)
    indices = _integer_indices(name, indices)
    if axis is None:
        if len(shape_of(indices)) != 1:
            raise ValueError(f"functrans.numpy.{name}: with axis=None, indices must be 1-d, "
                             f"got shape {shape_of(indices)}")
        arr, axis = _shape.ravel(arr), 0
    ndim = len(shape_of(arr))
    if len(shape_of(indices)) != ndim:
        raise ValueError(f"functrans.numpy.{name}: indices and arr must have the same number "
                         f"of dimensions, got shapes {shape_of(indices)} and {shape_of(arr)}")
    return arr, indices, canonical_axis(name, axis, ndim)


def _batched_dnums(ndim: int, axis: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    others = tuple(d for d in range(ndim) if d != axis)
    return others, others


def take_along_axis(arr: Any, indices: Any, axis: int | None = -1, mode: Any = None,
                    fill_value: Any = None) -> Any:
    """``arr`` indexed along ``axis`` by ``indices`` of the same rank, broadcasting the other
    axes (like numpy.take_along_axis). Negative indices count from the end; out-of-bounds ones
    follow ``mode`` ('fill' by default, as in JAX, or 'clip').

    >>> import functrans.numpy as fnp
    >>> x = fnp.asarray([[10, 30, 20], [60, 50, 40]])
    >>> fnp.take_along_axis(x, fnp.asarray([[0, 2, 1], [2, 1, 0]]), axis=1).tolist()
    [[10, 20, 30], [40, 50, 60]]
    """
    arr, indices, axis = _along_axis("take_along_axis", arr, indices, axis)
    a_shape, i_shape = shape_of(arr), shape_of(indices)
    if any(d != axis and 1 not in (a, i) and a != i
           for d, (a, i) in enumerate(zip(a_shape, i_shape, strict=True))):
        raise ShapeError(f"functrans.numpy.take_along_axis: arr of shape {a_shape} and "
                         f"indices of shape {i_shape} do not broadcast outside axis {axis}")
    common = [a if i == 1 else i for a, i in zip(a_shape, i_shape, strict=True)]
    a_target = tuple(a_shape[d] if d == axis else s for d, s in enumerate(common))
    i_target = tuple(i_shape[d] if d == axis else s for d, s in enumerate(common))
    dtype = typeof(arr)[0]
    if math.prod(i_target) == 0:
        return _creation.full(i_target, 0, dtype)
    if a_shape[axis] == 0:
        raise IndexError(f"functrans.numpy.take_along_axis: cannot take from axis {axis} of "
                         f"size 0")
    arr = broadcast_to(arr, a_target)
    indices = _broadcast_indices(indices, i_target)
    mode = FILL_OR_DROP if mode is None else _parse_mode(mode)
    start = _along_axis_indices(indices, a_target, axis)
    batch_op, batch_ix = _batched_dnums(len(a_target), axis)
    dnums = GatherDimensionNumbers((), (axis,), (axis,), batch_op, batch_ix)
    return lax.gather(arr, start, dnums, (1,) * len(a_target), mode=mode,
                      fill_value=fill_value)


def _broadcast_indices(indices: Any, shape: tuple[int, ...]) -> Any:
    if isinstance(indices, Tracer):
        return broadcast_to(indices, shape)
    return np.broadcast_to(np.asarray(indices), shape)  # stays a constant under tracing


def _along_axis_indices(indices: Any, shape: tuple[int, ...], axis: int) -> Any:
    values = _column_values(indices, shape[axis], True, _index_dtype([indices], shape))
    if isinstance(values, Tracer):
        n = len(shape_of(values))
        return lax.broadcast_in_dim(values, shape_of(values) + (1,), tuple(range(n)))
    return values[..., None]


def put_along_axis(arr: Any, indices: Any, values: Any, axis: int | None,
                   inplace: bool = False, *, mode: Any = None) -> Any:
    """A copy of ``arr`` with ``values`` written at ``indices`` along ``axis`` (the update of
    ``take_along_axis``). functrans arrays are immutable, so ``inplace`` must be False."""
    if inplace:
        raise ValueError("functrans.numpy.put_along_axis: arrays are immutable and cannot be "
                         "modified in place; pass inplace=False to get an updated copy")
    original = _as_array(arr)
    arr, indices, axis = _along_axis("put_along_axis", original, indices, axis)
    a_shape, i_shape = shape_of(arr), shape_of(indices)
    for d, (a, i) in enumerate(zip(a_shape, i_shape, strict=True)):
        if d != axis and i not in (1, a):
            raise ShapeError(f"functrans.numpy.put_along_axis: indices of shape {i_shape} do "
                             f"not broadcast to arr of shape {a_shape} outside axis {axis}")
    i_target = tuple(i_shape[d] if d == axis else a for d, a in enumerate(a_shape))
    values = _broadcast_updates(cast(asarray_leaf(values), typeof(arr)[0]), i_target,
                                i_target, "put_along_axis")
    if math.prod(i_target) == 0 or math.prod(a_shape) == 0:
        return original
    indices = _broadcast_indices(indices, i_target)
    batch_op, batch_ix = _batched_dnums(len(a_shape), axis)
    dnums = ScatterDimensionNumbers((), (axis,), (axis,), batch_op, batch_ix)
    out = lax.scatter(arr, _along_axis_indices(indices, a_shape, axis), values, dnums,
                      mode=mode)
    return out if a_shape == shape_of(original) else lax.reshape(out, shape_of(original))


# --- selection and diagonals --------------------------------------------------------------------


def select(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0) -> Any:
    """Elementwise, the choice of the first true condition, else ``default``."""
    if len(condlist) != len(choicelist):
        raise ValueError(f"functrans.numpy.select: condlist has {len(condlist)} entries but "
                         f"choicelist has {len(choicelist)}; they must have the same length")
    if not len(condlist):
        raise ValueError("functrans.numpy.select: condlist must not be empty")
    out = default
    # The first condition must win, so it is applied last.
    for cond, choice in zip(reversed(list(condlist)), reversed(list(choicelist)), strict=True):
        out = _ufuncs.where(cond, choice, out)
    return out


def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The ``offset`` diagonal of the ``axis1``/``axis2`` planes, as a new last axis."""
    a = _as_array(a)
    ndim = len(shape_of(a))
    if ndim < 2:
        raise ValueError(f"functrans.numpy.diagonal: needs an array of at least 2 dimensions, "
                         f"got shape {shape_of(a)}")
    axis1 = canonical_axis("diagonal", axis1, ndim)
    axis2 = canonical_axis("diagonal", axis2, ndim)
    if axis1 == axis2:
        raise ValueError("functrans.numpy.diagonal: axis1 and axis2 cannot be the same")
    a = _shape.moveaxis(a, (axis1, axis2), (-2, -1))
    rows, cols = shape_of(a)[-2:]
    offset = operator.index(offset)
    row0, col0 = max(0, -offset), max(0, offset)
    n = max(0, min(rows - row0, cols - col0))
    return _take(a, (Ellipsis, np.arange(row0, row0 + n), np.arange(col0, col0 + n)))


def diag(v: Any, k: int = 0) -> Any:
    """The ``k``-th diagonal of a 2-d ``v``, or a 2-d array with the 1-d ``v`` on it."""
    v = _as_array(v)
    shape = shape_of(v)
    if len(shape) == 2:
        return diagonal(v, k)
    if len(shape) != 1:
        raise ValueError(f"functrans.numpy.diag: input must be 1-d or 2-d, got shape {shape}")
    k = operator.index(k)
    n = shape[0] + abs(k)
    i = np.arange(shape[0])
    out = _creation.full((n, n), 0, typeof(v)[0])
    return _scatter_update(out, (i + max(0, -k), i + max(0, k)), v, lax.scatter, "set",
                           mode=None, indices_are_sorted=True, unique_indices=True)


def _matrix(name: str, m: Any) -> tuple[Any, int, int]:
    m = _as_array(m)
    shape = shape_of(m)
    if len(shape) < 2:
        raise ValueError(f"functrans.numpy.{name}: needs an array of at least 2 dimensions, "
                         f"got shape {shape}")
    return m, shape[-2], shape[-1]


def tril(m: Any, k: int = 0) -> Any:
    """``m`` with the elements above the ``k``-th diagonal zeroed (last two axes)."""
    m, rows, cols = _matrix("tril", m)
    # The mask comes from iota comparisons (fnp.tri), not an np.tri constant: under jit a
    # 4096x4096 mask would otherwise be a 16 MB constant in the program (eager pays ~40 us).
    below = _creation.tri(rows, cols, operator.index(k), dtype=bool)
    return _ufuncs.where(below, m, _creation.zeros_like(m))  # type: ignore[attr-defined]


def triu(m: Any, k: int = 0) -> Any:
    """``m`` with the elements below the ``k``-th diagonal zeroed (last two axes)."""
    m, rows, cols = _matrix("triu", m)
    below = _creation.tri(rows, cols, operator.index(k) - 1, dtype=bool)
    return _ufuncs.where(below, _creation.zeros_like(m), m)  # type: ignore[attr-defined]


def trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None,
          out: None = None) -> Any:
    """The sum along the ``offset`` diagonal (like numpy.trace)."""
    return _reductions.sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


# --- index arithmetic ---------------------------------------------------------------------------


def unravel_index(indices: Any, shape: Sequence[int]) -> tuple[Any, ...]:
    """Flat indices to one coordinate array per dimension of ``shape``. As in JAX (unlike
    NumPy), negative indices count from the end and out-of-bounds ones are clipped."""
    indices = _integer_indices("unravel_index", indices)
    dims = (operator.index(shape),) if np.ndim(shape) == 0 else tuple(
        operator.index(s) for s in shape)
    coords: list[Any] = [None] * len(dims)
    rest = indices
    for d in reversed(range(len(dims))):
        rest, coords[d] = _ufuncs.divmod(rest, dims[d])  # type: ignore[attr-defined]
    too_big = _ufuncs.greater(rest, 0)  # type: ignore[attr-defined]
    too_small = _ufuncs.less(rest, -1)  # type: ignore[attr-defined]
    return tuple(_ufuncs.where(too_big, s - 1, _ufuncs.where(too_small, 0, c))
                 for s, c in zip(dims, coords, strict=True))


def ravel_multi_index(multi_index: Sequence[Any], dims: Sequence[int], mode: str = "raise",
                      order: str = "C") -> Any:
    """Coordinate arrays to flat indices into an array of shape ``dims``. ``mode='raise'``
    checks (concrete) coordinates; under tracing use 'clip' or 'wrap'."""
    dims = tuple(operator.index(d) for d in dims)
    if len(multi_index) != len(dims):
        raise ValueError(f"functrans.numpy.ravel_multi_index: {len(multi_index)} coordinate "
                         f"arrays for {len(dims)} dimensions")
    coords = [_integer_indices("ravel_multi_index", i) for i in multi_index]
    if mode == "raise":
        for c, d in zip(coords, dims, strict=True):
            value = core.concrete_or_none(c)
            if value is None:
                raise ConcretizationTypeError(
                    "functrans.numpy.ravel_multi_index: mode='raise' needs concrete "
                    "coordinates; under tracing use mode='clip' or mode='wrap'")
            v = core.to_numpy(value)
            if np.any((v < 0) | (v >= d)):
                raise ValueError("functrans.numpy.ravel_multi_index: invalid entry in "
                                 "coordinates array")
    elif mode == "clip":
        coords = [_ufuncs.clip(c, 0, d - 1) for c, d in zip(coords, dims, strict=True)]
    elif mode == "wrap":
        coords = [_ufuncs.remainder(c, d)  # type: ignore[attr-defined]
                  for c, d in zip(coords, dims, strict=True)]
    else:
        raise ValueError(f"functrans.numpy.ravel_multi_index: invalid mode={mode!r}; expected "
                         f"'raise', 'wrap' or 'clip'")
    if order == "C":
        strides = [math.prod(dims[i + 1:]) for i in range(len(dims))]
    elif order == "F":
        strides = [math.prod(dims[:i]) for i in range(len(dims))]
    else:
        raise ValueError(f"functrans.numpy.ravel_multi_index: invalid order={order!r}; "
                         f"expected 'C' or 'F'")
    out: Any = None
    for c, s in zip(coords, strides, strict=True):
        term = _ufuncs.multiply(c, s)
        out = term if out is None else _ufuncs.add(out, term)
    return _creation.asarray(0) if out is None else out


def indices(dimensions: Sequence[int], dtype: Any = None, sparse: bool = False) -> Any:
    """A grid of coordinates: ``indices((2, 3))[k][i, j]`` is ``(i, j)[k]``; with
    ``sparse=True`` one broadcastable array per dimension. ``dtype`` defaults to the default
    integer type (int32)."""
    dims = tuple(operator.index(d) for d in dimensions)
    dtype = dt.canonicalize(int if dtype is None else dtype)
    n = len(dims)
    if sparse:
        return tuple(lax.broadcasted_iota(dtype, tuple(d if j == i else 1
                                                       for j, d in enumerate(dims)), i)
                     for i in range(n))
    if not n:
        return _creation.zeros((0,), dtype)
    return _shape.stack([lax.broadcasted_iota(dtype, dims, i) for i in range(n)])


def ix_(*args: Any) -> tuple[Any, ...]:
    """Open-mesh index arrays: ``x[ix_(rows, cols)]`` is the rows x cols submatrix. Boolean
    arguments (concrete only) are turned into the indices of their true entries."""
    out = []
    for k, a in enumerate(args):
        a = asarray_leaf(_index_array(a))
        if typeof(a)[0] == dt.bool_:
            value = core.concrete_or_none(a)
            if value is None:
                raise _mask_error("functrans.numpy.ix_ with a boolean argument", a)
            value = core.to_numpy(value)
            a = np.nonzero(value)[0] if value.ndim == 1 else value
        if len(shape_of(a)) != 1:
            raise ValueError(f"functrans.numpy.ix_: arguments must be 1-d, argument {k} has "
                             f"shape {shape_of(a)}")
        if typeof(a)[0].kind not in "iu":
            raise DtypeError(f"functrans.numpy.ix_: arguments must be integers or booleans, "
                             f"argument {k} has dtype {typeof(a)[0]}")
        shape = [1] * len(args)
        shape[k] = shape_of(a)[0]
        out.append(lax.reshape(a, tuple(shape)))
    return tuple(out)
