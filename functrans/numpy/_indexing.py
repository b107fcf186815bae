"""NumPy indexing for functrans arrays: ``x[idx]`` and ``x.at[idx].set/add/...``; the index
functions of ``functrans.numpy`` (take, nonzero, diagonal, ...) are in ``_selection.py``.

Basic indices (ints, slices with any step, None, Ellipsis) become static ``slice``/``rev``/
``squeeze``/``reshape`` ops, and a traced scalar int a ``dynamic_slice``. Every other index is
parsed by ``_parse`` and planned by ``_plan`` (start reading there) into ONE ``gather`` or
``scatter``: each integer and index array becomes a column of the start indices, a strided
slice an iota column. Imports ``lax`` and the other fnp modules, never the reverse.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from functrans import core, lax
from functrans import dtypes as dt
from functrans.core import Array, Tracer
from functrans.errors import (
    ConcretizationTypeError, DtypeError, NonConcreteBooleanIndexError, ShapeError,
)
from functrans.numpy import _creation, _ufuncs
from functrans.numpy._promotion import (
    asarray_leaf,
    broadcast_shapes,
    broadcast_to,
    cast,
    shape_of,
    typeof,
)
from functrans.primitives.indexing import (
    GatherDimensionNumbers,
    GatherScatterMode,
    ScatterDimensionNumbers,
    default_fill,
)

__all__ = ["IndexUpdateHelper", "getitem"]

CLIP = GatherScatterMode.CLIP
FILL_OR_DROP = GatherScatterMode.FILL_OR_DROP
PROMISE_IN_BOUNDS = GatherScatterMode.PROMISE_IN_BOUNDS


def _mask_error(what: str, mask: Any) -> NonConcreteBooleanIndexError:
    return NonConcreteBooleanIndexError(
        f"functrans.numpy: {what} needs concrete values, but the mask is a traced "
        f"{core.get_aval(mask).str_short()}; the number of True entries decides the result's "
        f"shape, which must be known while tracing. Use fnp.where(mask, x, 0) to zero out the "
        f"other entries (fnp.where(mask, new, x) for an update), or fnp.nonzero(mask, size=N, "
        f"fill_value=...) for a fixed number of indices.")


def _as_array(x: Any) -> Any:
    x = asarray_leaf(x)
    return x if isinstance(x, (Array, Tracer)) else _creation.asarray(x)


# --- parsing an index ---------------------------------------------------------------------------

# One entry per item of the expanded index. _SEP marks where an Ellipsis stood: like a slice
# it separates advanced indices (NumPy's rule), even when it expands to no axes at all.
_NONE, _SEP, _SLICE, _INT, _ARRAY = range(5)
_Entry = tuple[int, Any]  # (kind, value); _SLICE values are (start, step, length)

_BAD_INDEX = ("only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and integer "
              "or boolean arrays are valid indices")


def _is_static_int(i: Any) -> bool:
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def _index_array(i: Any) -> Any:
    """A list/tuple index as an array (NumPy's rule); an empty one is an integer index."""
    if isinstance(i, (list, tuple)):
        if _creation._has_tracer(i) or any(isinstance(v, Array) for v in i):
            return _creation.asarray(i)
        arr = np.asarray(i)
        return arr.astype(dt.int32) if arr.size == 0 and arr.dtype.kind == "f" else arr
    return i


def _classify(i: Any) -> tuple[str, Any]:
    """One raw index item as ('none'|'ellipsis'|'slice'|'int'|'array'|'bool', value)."""
    if i is None:
        return "none", None
    if i is Ellipsis:
        return "ellipsis", None
    if isinstance(i, slice):
        return "slice", i
    if isinstance(i, (bool, np.bool_)):
        return "bool", np.asarray(i)
    if _is_static_int(i):
        return "int", int(i)
    i = _index_array(i)
    if isinstance(i, Tracer):
        d = i.aval.dtype
        if d == dt.bool_:
            value = core.concrete_or_none(i)
            if value is None:
                raise _mask_error("indexing with a boolean mask", i)
            return "bool", np.asarray(value)
        if d.kind not in "iu":
            raise IndexError(f"{_BAD_INDEX}; got a traced {i.aval.str_short()}")
        return ("int" if i.ndim == 0 else "array"), i
    if isinstance(i, (Array, np.ndarray, np.generic)):
        arr = core.to_numpy(i) if isinstance(i, Array) else np.asarray(i)
        if arr.dtype == np.bool_:
            return "bool", arr
        if arr.dtype.kind in "iu":
            return ("int", int(arr)) if arr.ndim == 0 else ("array", arr)
        raise IndexError(f"{_BAD_INDEX}; got an array of dtype {arr.dtype}")
    raise IndexError(f"{_BAD_INDEX}; got {type(i).__name__} {i!r}")


def _static_bound(b: Any, i: slice) -> Any:
    if isinstance(b, Tracer) and core.concrete_or_none(b) is None:
        raise ConcretizationTypeError(
            f"functrans.numpy: slice bounds must be static, got {i} with a traced "
            f"{b.aval.str_short()}. For a window of static size at a traced position use "
            f"functrans.lax.dynamic_slice / dynamic_update_slice.")
    return b


def _slice_entry(i: slice, size: int) -> _Entry:
    for b in (i.start, i.stop, i.step):
        _static_bound(b, i)
    start, stop, step = i.indices(size)
    if step > 0:
        n = max(0, (stop - start + step - 1) // step)
    else:
        n = max(0, (start - stop - step - 1) // (-step))
    return _SLICE, (start, step, n)


def _parse(idx: Any, shape: tuple[int, ...]
           ) -> tuple[list[_Entry], tuple[int, ...], tuple[int, ...]]:
    """The entries of ``idx``, the shape they index, and the axes of that shape that are new:
    a scalar boolean index acts on a new axis of size 1, as in NumPy. Boolean masks become
    integer arrays (np.nonzero), so they must be concrete."""
    items = [_classify(i) for i in (idx if isinstance(idx, tuple) else (idx,))]
    if sum(k == "ellipsis" for k, _ in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(v.ndim if k == "bool" else 1 for k, v in items
                   if k not in ("none", "ellipsis"))
    if consumed > len(shape):
        raise IndexError(f"too many indices for array: array is {len(shape)}-dimensional, but "
                         f"{consumed} were indexed")
    entries: list[_Entry] = []
    x_shape: list[int] = []
    new_axes: list[int] = []
    dim = 0
    for kind, v in items:
        if kind == "none":
            entries.append((_NONE, None))
            continue
        if kind == "ellipsis":
            entries.append((_SEP, None))
            for _ in range(len(shape) - consumed):
                entries.append(_slice_entry(slice(None), shape[dim]))
                x_shape.append(shape[dim])
                dim += 1
            continue
        if kind == "bool" and v.ndim == 0:
            new_axes.append(len(x_shape))
            x_shape.append(1)
            entries.append((_ARRAY, np.nonzero(v.reshape(1))[0]))
            continue
        if kind == "bool":
            for k, n in enumerate(v.shape):
                if n != shape[dim + k] and v.size:  # NumPy lets empty masks index any axes
                    raise IndexError(f"boolean index did not match indexed array along axis "
                                     f"{dim + k}; size of axis is {shape[dim + k]} but size of "
                                     f"corresponding boolean axis is {n}")
            for ix in np.nonzero(v):
                entries.append((_ARRAY, ix))
                x_shape.append(shape[dim])
                dim += 1
            continue
        size = shape[dim]
        entries.append(_slice_entry(v, size) if kind == "slice" else
                       (_INT if kind == "int" else _ARRAY, v))
        x_shape.append(size)
        dim += 1
    for _ in range(len(shape) - dim):
        entries.append(_slice_entry(slice(None), shape[dim]))
        x_shape.append(shape[dim])
        dim += 1
    return entries, tuple(x_shape), tuple(new_axes)


def _entry_axes(entries: list[_Entry]) -> list[int]:
    """The operand axis of every entry (-1 for None and Ellipsis markers)."""
    axes, axis = [], 0
    for kind, _ in entries:
        if kind in (_NONE, _SEP):
            axes.append(-1)
        else:
            axes.append(axis)
            axis += 1
    return axes


def _out_of_bounds(v: Any, size: int) -> bool:
    return not isinstance(v, Tracer) and not -size <= v < size


def _bounds_error(v: int, axis: int, size: int) -> IndexError:
    return IndexError(f"index {v} is out of bounds for axis {axis} with size {size}")


# --- basic indexing: static slices and dynamic_slice --------------------------------------------


def _basic_take(x: Any, entries: list[_Entry], shape: tuple[int, ...]) -> Any:
    """Ints, slices and None without a gather: one rev (negative steps), one slice, one
    dynamic_slice (traced ints), then one squeeze or reshape."""
    n = len(shape)
    starts, limits, strides = [0] * n, list(shape), [1] * n
    rev_dims, int_dims, out_shape = [], [], []
    traced: dict[int, Any] = {}
    has_none = False
    for (kind, v), axis in zip(entries, _entry_axes(entries), strict=True):
        if kind == _NONE:
            out_shape.append(1)
            has_none = True
        elif kind == _SLICE:
            start, step, length = v
            if step < 0:
                # Reverse, then slice forward: element start - k*|step| sits at
                # size-1-start + k*|step| of the reversed axis.
                rev_dims.append(axis)
                start, step = shape[axis] - 1 - start, -step
            starts[axis], strides[axis] = start, step
            limits[axis] = start + (length - 1) * step + 1 if length else start
            out_shape.append(length)
        elif kind == _INT:
            int_dims.append(axis)
            if isinstance(v, Tracer):
                traced[axis] = v
            else:
                if _out_of_bounds(v, shape[axis]):
                    raise _bounds_error(v, axis, shape[axis])
                starts[axis] = v % shape[axis]
                limits[axis] = starts[axis] + 1
    if rev_dims:
        x = lax.rev(x, tuple(rev_dims))
    if (starts, limits, strides) != ([0] * n, list(shape), [1] * n):
        x = lax.slice(x, tuple(starts), tuple(limits),
                      tuple(strides) if any(s != 1 for s in strides) else None)
    if traced:
        dtype = _index_dtype(list(traced.values()), shape)
        sizes = list(shape_of(x))
        for axis in traced:
            sizes[axis] = 1
        x = lax.dynamic_slice(x, [_convert(traced[a], dtype) if a in traced else 0
                                  for a in range(n)], sizes)
    if has_none:
        return lax.reshape(x, tuple(out_shape)) if shape_of(x) != tuple(out_shape) else x
    return lax.squeeze(x, tuple(int_dims)) if int_dims else x


# --- advanced indexing: one gather or scatter ---------------------------------------------------


class _Column(NamedTuple):
    """One entry of the index vector: its values (NumPy or traced, broadcastable to the batch
    shape from batch dimension ``start`` on) and the size of the operand axis it indexes."""

    values: Any
    start: int
    size: int


class _Plan(NamedTuple):
    """How an index maps onto one gather (or scatter) of the operand."""

    columns: list[_Column]
    batch_shape: tuple[int, ...]
    dnums: GatherDimensionNumbers
    slice_sizes: tuple[int, ...]
    gather_shape: tuple[int, ...]  # the gather's result: NumPy's shape without None axes
    out_shape: tuple[int, ...]  # NumPy's result shape

    @property
    def scatter_dnums(self) -> ScatterDimensionNumbers:
        d = self.dnums
        return ScatterDimensionNumbers(d.offset_dims, d.collapsed_slice_dims, d.start_index_map)


def _advanced_shape(arrays: list[Any]) -> tuple[int, ...]:
    shapes = [shape_of(a) for a in arrays]
    try:
        return broadcast_shapes("indexing", *shapes)
    except ShapeError:
        shown = " ".join(str(s) for s in shapes)
        raise IndexError(f"shape mismatch: indexing arrays could not be broadcast together "
                         f"with shapes {shown}") from None


def _plan(entries: list[_Entry], shape: tuple[int, ...], check_bounds: bool) -> _Plan:
    """The gather that computes ``x[idx]``, following NumPy's layout rule: the broadcast
    shape of the advanced indices (index arrays, and the ints beside them) replaces them in
    place when they are adjacent, and goes first when a slice, None or Ellipsis separates
    them. Ints are columns in every case; with no index array they add no dimension.

    The gather's batch dimensions are the advanced block and one per strided slice, in output
    order; its offset (window) dimensions are the step-1 slices, whose start is a column
    unless the slice is the whole axis.
    """
    axes = _entry_axes(entries)
    advanced = [p for p, (k, _) in enumerate(entries) if k in (_INT, _ARRAY)]
    arrays = [v for k, v in entries if k == _ARRAY]
    block = _advanced_shape(arrays) if arrays else ()
    adjacent = all(b - a == 1 for a, b in itertools.pairwise(advanced))
    columns: list[_Column] = []
    index_map: list[int] = []
    collapsed: list[int] = []
    offset_dims: list[int] = []
    batch: list[int] = []
    gather_shape: list[int] = []
    out_shape: list[int] = []
    slice_sizes = list(shape)

    def place_advanced() -> None:
        first = len(batch)
        for part in (batch, gather_shape, out_shape):
            part.extend(block)
        for p in advanced:
            v, axis = entries[p][1], axes[p]
            if check_bounds and entries[p][0] == _INT and _out_of_bounds(v, shape[axis]):
                raise _bounds_error(v, axis, shape[axis])
            columns.append(_Column(v, first + len(block) - len(shape_of(v)), shape[axis]))
            index_map.append(axis)
            collapsed.append(axis)
            slice_sizes[axis] = 1

    placed = False
    if not adjacent:
        place_advanced()
        placed = True
    for (kind, v), axis in zip(entries, axes, strict=True):
        if kind == _NONE:
            out_shape.append(1)
        elif kind == _SLICE:
            start, step, n = v
            if step == 1:
                offset_dims.append(len(gather_shape))
                slice_sizes[axis] = n
                if n != shape[axis]:
                    columns.append(_Column(np.asarray(start), len(batch), shape[axis]))
                    index_map.append(axis)
            else:
                columns.append(_Column(start + step * np.arange(n), len(batch), shape[axis]))
                batch.append(n)
                index_map.append(axis)
                collapsed.append(axis)
                slice_sizes[axis] = 1
            gather_shape.append(n)
            out_shape.append(n)
        elif kind in (_INT, _ARRAY) and not placed:
            place_advanced()
            placed = True
    dnums = GatherDimensionNumbers(tuple(offset_dims), tuple(sorted(collapsed)),
                                   tuple(index_map))
    return _Plan(columns, tuple(batch), dnums, tuple(slice_sizes), tuple(gather_shape),
                 tuple(out_shape))


_WIDE_INDEX = (dt.int64, dt.uint32, dt.uint64)


def _index_dtype(traced: list[Any], shape: tuple[int, ...]) -> np.dtype:
    """int32 unless a traced index or an axis needs 64 bits. Concrete indices never decide:
    their values are clipped into int32 range, which keeps out-of-bounds ones out of bounds."""
    wide = any(isinstance(v, Tracer) and v.aval.dtype in _WIDE_INDEX for v in traced)
    big = any(d > np.iinfo(np.int32).max for d in shape)
    return dt.int64 if wide or big else dt.int32


def _convert(v: Any, dtype: np.dtype) -> Any:
    return v if v.aval.dtype == dtype else lax.convert_element_type(v, dtype)


def _clamp_unsigned(v: Any, dtype: np.dtype) -> Any:
    """Unsigned indices above ``dtype``'s maximum, clamped to it: converting them would wrap
    them negative, which would index from the end (they are out of bounds, as is the max)."""
    src = v.aval.dtype
    top = np.iinfo(dtype).max
    if src.kind != "u" or np.iinfo(src).max <= top:
        return v
    return lax.min(v, np.asarray(top, src))


def _column_values(v: Any, size: int, normalize: bool, dtype: np.dtype) -> Any:
    """Index values in ``dtype``, negative ones counting from the end when ``normalize``."""
    if isinstance(v, Tracer):
        signed = v.aval.dtype.kind == "i"
        v = _convert(_clamp_unsigned(v, dtype), dtype)
        if normalize and signed:
            v = lax.select_n(lax.lt(v, np.zeros((), dtype)), v,
                             lax.add(v, np.asarray(size, dtype)))
        return v
    v = np.asarray(v)
    if v.dtype == np.uint64:
        v = np.minimum(v, np.uint64(np.iinfo(np.int64).max))
    v = v.astype(np.int64)
    if normalize:
        v = np.where(v < 0, v + size, v)
    info = np.iinfo(dtype)
    return np.clip(v, info.min, info.max).astype(dtype)


def _start_indices(plan: _Plan, shape: tuple[int, ...], normalize: bool) -> Any:
    """The gather/scatter start indices: the columns broadcast to the batch shape and stacked
    along a trailing index-vector axis (a NumPy constant when no column is traced)."""
    dtype = _index_dtype([c.values for c in plan.columns], shape)
    batch = plan.batch_shape
    values = [_column_values(c.values, c.size, normalize, dtype) for c in plan.columns]
    if not any(isinstance(v, Tracer) for v in values):
        stacked = []
        for v, c in zip(values, plan.columns, strict=True):
            placed = [1] * len(batch)
            placed[c.start:c.start + v.ndim] = v.shape
            stacked.append(np.broadcast_to(v.reshape(placed), batch))
        return np.stack(stacked, axis=-1) if stacked else np.zeros((0,), dtype)
    pieces = [lax.broadcast_in_dim(v, batch + (1,), tuple(range(c.start, c.start + v.ndim)))
              for v, c in zip(values, plan.columns, strict=True)]
    return pieces[0] if len(pieces) == 1 else lax.concatenate(pieces, len(batch))


def _parse_mode(mode: Any) -> GatherScatterMode | None:
    return None if mode is None else GatherScatterMode.from_any(mode)


def _take(x: Any, idx: Any, *, mode: Any = None, fill_value: Any = None,
          normalize: bool = True, indices_are_sorted: bool = False,
          unique_indices: bool = False) -> Any:
    """``x[idx]`` with a gather mode; ``mode=None`` is ``x[idx]`` itself: promise_in_bounds
    (out-of-bounds index arrays clamp), and static ints out of bounds raise IndexError."""
    x = _as_array(x)
    mode = _parse_mode(mode)
    entries, shape, new_axes = _parse(idx, shape_of(x))
    if not new_axes and all(k != _ARRAY for k, _ in entries) and _fast_ok(
            entries, shape, mode, normalize):
        return _basic_take(x, entries, shape)
    plan = _plan(entries, shape, check_bounds=mode is None)
    if new_axes:
        x = lax.expand_dims(x, new_axes)
    if math.prod(plan.out_shape) == 0:
        return _creation.full(plan.out_shape, 0, typeof(x)[0])
    empty = [a for a in plan.dnums.collapsed_slice_dims if shape[a] == 0]
    if empty:
        if mode == FILL_OR_DROP:
            # Every window is out of bounds: the result is all fill.
            fill = default_fill(typeof(x)[0]) if fill_value is None else fill_value
            return lax.broadcast_in_dim(cast(fill, typeof(x)[0]), plan.out_shape, ())
        raise IndexError(f"index is out of bounds for axis {empty[0]} with size 0")
    out = x
    if plan.columns:
        out = lax.gather(x, _start_indices(plan, shape, normalize), plan.dnums,
                         plan.slice_sizes, mode=mode, fill_value=fill_value,
                         indices_are_sorted=indices_are_sorted, unique_indices=unique_indices)
    return out if plan.gather_shape == plan.out_shape else lax.reshape(out, plan.out_shape)


def _fast_ok(entries: list[_Entry], shape: tuple[int, ...], mode: GatherScatterMode | None,
             normalize: bool) -> bool:
    """Whether a basic index may skip the gather under ``mode``: static ints must be in bounds
    (x[idx] raises otherwise), and dynamic_slice clamps, which 'fill' must not."""
    if mode is None:
        return True
    if not normalize or any(k == _INT and _out_of_bounds(v, shape[a]) for (k, v), a in zip(
            entries, _entry_axes(entries), strict=True)):
        return False
    return mode != FILL_OR_DROP or not any(k == _INT and isinstance(v, Tracer)
                                           for k, v in entries)


def getitem(x: Any, idx: Any) -> Any:
    """``x[idx]`` with NumPy semantics. Basic indices slice statically; index arrays and
    boolean masks (concrete ones) become one gather, where out-of-bounds indices clamp, as in
    JAX. Negative indices count from the end.

    >>> import functrans.numpy as fnp
    >>> x = fnp.arange(12).reshape(3, 4)
    >>> x[1:, ::-2].tolist(), x[[0, 2], 1].tolist(), x[x > 9].tolist()
    ([[7, 5], [11, 9]], [1, 9], [10, 11])
    """
    return _take(x, idx)


# --- updates: x.at[idx] -------------------------------------------------------------------------


def _broadcast_updates(y: Any, out_shape: tuple[int, ...], target: tuple[int, ...],
                       method: str) -> Any:
    """Updates broadcast to NumPy's indexed shape (leading size-1 axes beyond its rank are
    dropped, as NumPy's assignment does), then reshaped to the scatter's ``target``."""
    ys = shape_of(y)
    if not ys:
        return broadcast_to(y, target)
    extra = len(ys) - len(out_shape)
    if extra > 0 and all(d == 1 for d in ys[:extra]):
        y = lax.reshape(y, ys[extra:])
        ys = ys[extra:]
    if len(ys) > len(out_shape) or any(a not in (1, b) for a, b in zip(
            reversed(ys), reversed(out_shape))):
        raise ShapeError(f"functrans.numpy: x.at[idx].{method}(values): values of shape {ys} "
                         f"do not broadcast to the indexed shape {out_shape}")
    y = broadcast_to(y, out_shape)
    return y if out_shape == target else lax.reshape(y, target)


def _static_box(entries: list[_Entry], shape: tuple[int, ...]
                ) -> tuple[list[int], tuple[int, ...], tuple[int, ...]] | None:
    """(starts, sizes, NumPy's indexed shape) when ``idx`` selects an in-bounds box with unit
    steps, which ``dynamic_update_slice`` can write; None otherwise."""
    starts, sizes, out_shape = [], [], []
    for (kind, v), axis in zip(entries, _entry_axes(entries), strict=True):
        if kind == _NONE:
            out_shape.append(1)
        elif kind == _SLICE:
            start, step, n = v
            if step != 1 and n > 1:
                return None
            starts.append(start)
            sizes.append(n)
            out_shape.append(n)
        elif kind == _INT:
            if isinstance(v, Tracer) or _out_of_bounds(v, shape[axis]):
                return None
            starts.append(v % shape[axis])
            sizes.append(1)
        elif kind == _ARRAY:
            return None
    return starts, tuple(sizes), tuple(out_shape)


def _scatter_update(x: Any, idx: Any, y: Any, op: Callable, method: str, *, mode: Any,
                    indices_are_sorted: bool, unique_indices: bool) -> Any:
    """``x`` with ``y`` (cast to x's dtype, broadcast to the indexed shape) combined in at
    ``idx`` by the scatter ``op``. Out-of-bounds updates are dropped unless mode='clip'."""
    x = _as_array(x)
    dtype = typeof(x)[0]
    x_shape = shape_of(x)
    entries, shape, new_axes = _parse(idx, x_shape)
    y = cast(asarray_leaf(y), dtype)
    box = _static_box(entries, shape) if op is lax.scatter and not new_axes else None
    if box is not None:
        starts, sizes, out_shape = box
        y = _broadcast_updates(y, out_shape, sizes, method)
        return x if 0 in sizes else lax.dynamic_update_slice(x, y, starts)
    plan = _plan(entries, shape, check_bounds=False)
    y = _broadcast_updates(y, plan.out_shape, plan.gather_shape, method)
    if math.prod(plan.gather_shape) == 0 or 0 in shape:
        return x
    operand = lax.expand_dims(x, new_axes) if new_axes else x
    out = op(operand, _start_indices(plan, shape, True), y, plan.scatter_dnums, mode=mode,
             indices_are_sorted=indices_are_sorted, unique_indices=unique_indices)
    return lax.reshape(out, x_shape) if new_axes else out


class _IndexUpdateRef:
    """``x.at[idx]``: methods that return an updated copy of ``x`` (x itself never changes).

    Updates are cast to x's dtype and broadcast to the indexed shape. Out-of-bounds updates
    are dropped (``mode='drop'``/``'fill'``/``'promise_in_bounds'``) or clamped
    (``mode='clip'``); ``get`` clamps by default and fills with ``mode='fill'``.
    ``indices_are_sorted`` and ``unique_indices`` are hints passed to the gather/scatter.
    """

    __slots__ = ("array", "index")

    def __init__(self, array: Any, index: Any):
        self.array = array
        self.index = index

    def __repr__(self) -> str:
        return f"_IndexUpdateRef({self.array!r}, {self.index!r})"

    def _update(self, values: Any, op: Callable, method: str, mode: Any,
                indices_are_sorted: bool, unique_indices: bool, array: Any = None) -> Any:
        return _scatter_update(self.array if array is None else array, self.index, values, op,
                               method, mode=mode, indices_are_sorted=indices_are_sorted,
                               unique_indices=unique_indices)

    def get(self, *, indices_are_sorted: bool = False, unique_indices: bool = False,
            mode: Any = None, fill_value: Any = None) -> Any:
        """``x[idx]``, with an out-of-bounds ``mode`` ('fill' returns ``fill_value``)."""
        return _take(self.array, self.index, mode=mode, fill_value=fill_value,
                     indices_are_sorted=indices_are_sorted, unique_indices=unique_indices)

    def set(self, values: Any, *, indices_are_sorted: bool = False,
            unique_indices: bool = False, mode: Any = None) -> Any:
        """``x[idx] = values``; of repeated indices the last update wins."""
        return self._update(values, lax.scatter, "set", mode, indices_are_sorted,
                            unique_indices)

    def add(self, values: Any, *, indices_are_sorted: bool = False,
            unique_indices: bool = False, mode: Any = None) -> Any:
        """``x[idx] += values``, accumulating repeated indices (``np.add.at``); for booleans,
        logical or."""
        op = lax.scatter_max if _is_bool(self.array) else lax.scatter_add
        return self._update(values, op, "add", mode, indices_are_sorted, unique_indices)

    def subtract(self, values: Any, *, indices_are_sorted: bool = False,
                 unique_indices: bool = False, mode: Any = None) -> Any:
        """``x[idx] -= values``, accumulating repeated indices (``np.subtract.at``)."""
        if _is_bool(self.array):
            raise DtypeError("functrans.numpy: x.at[idx].subtract is not defined for boolean "
                             "arrays; use .set(fnp.logical_xor(x[idx], values))")
        values = lax.neg(cast(asarray_leaf(values), typeof(self.array)[0]))
        return self._update(values, lax.scatter_add, "subtract", mode, indices_are_sorted,
                            unique_indices)

    def multiply(self, values: Any, *, indices_are_sorted: bool = False,
                 unique_indices: bool = False, mode: Any = None) -> Any:
        """``x[idx] *= values``, accumulating repeated indices; for booleans, logical and."""
        op = lax.scatter_min if _is_bool(self.array) else lax.scatter_mul
        return self._update(values, op, "multiply", mode, indices_are_sorted, unique_indices)

    mul = multiply

    def divide(self, values: Any, *, indices_are_sorted: bool = False,
               unique_indices: bool = False, mode: Any = None) -> Any:
        """``x[idx] /= values`` (true division: integer arrays give floats, as in JAX)."""
        return _ufuncs.true_divide(self.array, self._factors(  # type: ignore[attr-defined]
            values, "divide", mode, indices_are_sorted, unique_indices))

    def power(self, values: Any, *, indices_are_sorted: bool = False,
              unique_indices: bool = False, mode: Any = None) -> Any:
        """``x[idx] **= values`` (repeated indices multiply their exponents)."""
        return _ufuncs.power(self.array, self._factors(
            values, "power", mode, indices_are_sorted, unique_indices))

    def _factors(self, values: Any, method: str, mode: Any, indices_are_sorted: bool,
                 unique_indices: bool) -> Any:
        """Ones with the (multiplied) values at idx: divide and power apply them elementwise,
        so that out-of-bounds and repeated indices behave as in multiply."""
        ones = _creation.ones_like(self.array)
        op = lax.scatter_min if _is_bool(self.array) else lax.scatter_mul
        return self._update(values, op, method, mode, indices_are_sorted, unique_indices,
                            array=ones)

    def min(self, values: Any, *, indices_are_sorted: bool = False,
            unique_indices: bool = False, mode: Any = None) -> Any:
        """``x[idx] = minimum(x[idx], values)``, over repeated indices too."""
        return self._update(values, lax.scatter_min, "min", mode, indices_are_sorted,
                            unique_indices)

    def max(self, values: Any, *, indices_are_sorted: bool = False,
            unique_indices: bool = False, mode: Any = None) -> Any:
        """``x[idx] = maximum(x[idx], values)``, over repeated indices too."""
        return self._update(values, lax.scatter_max, "max", mode, indices_are_sorted,
                            unique_indices)

    def apply(self, func: Callable[[Any], Any], *, indices_are_sorted: bool = False,
              unique_indices: bool = False, mode: Any = None) -> Any:
        """``x[idx] = func(x[idx])`` for an elementwise ``func`` (like ``func.at(x, idx)``,
        except that a repeated index gets ``func`` applied once, not once per repetition)."""
        got = _take(self.array, self.index, mode=CLIP)
        return self._update(func(got), lax.scatter, "apply", mode, indices_are_sorted,
                            unique_indices)


def _is_bool(x: Any) -> bool:
    return typeof(asarray_leaf(x))[0] == dt.bool_


class IndexUpdateHelper:
    """``x.at``: index it (``x.at[idx]``) to get functional updates: ``.set``, ``.add``,
    ``.subtract``, ``.multiply``/``.mul``, ``.divide``, ``.power``, ``.min``, ``.max``,
    ``.apply`` and ``.get``. Each returns a new array; ``x`` is never modified.

    >>> import functrans.numpy as fnp
    >>> x = fnp.zeros(4, dtype=int)
    >>> x.at[[0, 0, 2]].add(1).tolist(), x.at[1:3].set(7).tolist(), x.tolist()
    ([2, 0, 1, 0], [0, 7, 7, 0], [0, 0, 0, 0])
    """

    __slots__ = ("array",)

    def __init__(self, array: Any):
        self.array = array

    def __getitem__(self, idx: Any) -> _IndexUpdateRef:
        return _IndexUpdateRef(self.array, idx)

    def __repr__(self) -> str:
        return f"IndexUpdateHelper({self.array!r})"
