"""Indexing primitives: ``gather`` and ``scatter``, ``scatter_add``, ``scatter_mul``,
``scatter_min``, ``scatter_max``, with XLA's dimension numbers and JAX's out-of-bounds modes.

Owns JAX's parameter types, the XLA shape rules, vectorized NumPy impls built on
``_flat_positions`` (start reading there), derivative rules (gather and scatter_add transpose
into each other) and batching rules (vmap's batch becomes one more dimension of the dimension
numbers). ``functrans.numpy`` builds ``x[i, 1:3]`` and ``x.at[i].add(v)`` on these. Imports
``core``, ``registry``, ``rules``, ``ad_rules``, ``batch_rules``, ``elementwise``, ``structural``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import rules
from functrans.primitives.ad_rules import (
    JVPRule, Zero, add_tangents, aval_of, instantiate, is_undefined, jvp_partials, tangent_aval,
    zeros_like_aval,
)
from functrans.primitives.batch_rules import (
    AxisData, BatchRule, broadcast_batched, moveaxis, per_example_ndim, shape_of,
)
from functrans.primitives.elementwise import (
    _named, add, coerce_scalars, convert_element_type, div, eq, max_, mul, select_n,
)
from functrans.primitives.registry import Example, Primitive, define_primitive
from functrans.primitives.structural import broadcast_in_dim, iota, reshape

__all__ = [
    "GatherDimensionNumbers", "ScatterDimensionNumbers", "GatherScatterMode",
    "gather", "scatter", "scatter_add", "scatter_mul", "scatter_min", "scatter_max",
    "gather_p", "scatter_p", "scatter_add_p", "scatter_mul_p", "scatter_min_p",
    "scatter_max_p",
]


# --- parameter types ----------------------------------------------------------------------------


class GatherDimensionNumbers(NamedTuple):
    """How the dimensions of ``operand``, ``start_indices`` and the output of a gather relate
    (XLA's Gather, as in ``jax.lax.GatherDimensionNumbers``).

    - ``offset_dims``: output dimensions (sorted) that walk the gathered window, one per
      operand dimension that is neither collapsed nor batching, in operand order.
    - ``collapsed_slice_dims``: operand dimensions (sorted) of slice size 1 that are dropped.
    - ``start_index_map``: for each entry of the index vector, the operand dimension it
      starts the slice in.
    - ``operand_batching_dims`` / ``start_indices_batching_dims``: paired dimensions of the
      operand (sorted, slice size 1) and of ``start_indices`` that are indexed together, like
      a ``vmap`` over both.

    As in JAX, the index vector is always the last dimension of ``start_indices`` (XLA's
    ``index_vector_dim`` is implicit); for scalar indices add a trailing dimension of size 1.
    """

    offset_dims: tuple[int, ...]
    collapsed_slice_dims: tuple[int, ...]
    start_index_map: tuple[int, ...]
    operand_batching_dims: tuple[int, ...] = ()
    start_indices_batching_dims: tuple[int, ...] = ()


class ScatterDimensionNumbers(NamedTuple):
    """How the dimensions of ``operand``, ``scatter_indices`` and ``updates`` of a scatter relate
    (XLA's Scatter, as in ``jax.lax.ScatterDimensionNumbers``; the mirror image of
    ``GatherDimensionNumbers``).

    - ``update_window_dims``: dimensions of ``updates`` (sorted) that walk the window.
    - ``inserted_window_dims``: operand dimensions (sorted) with a window of size 1 that
      ``updates`` has no dimension for (``collapsed_slice_dims`` of the gather).
    - ``scatter_dims_to_operand_dims``: for each entry of the index vector, the operand
      dimension it starts the window in.
    - ``operand_batching_dims`` / ``scatter_indices_batching_dims``: paired batching dimensions
      of the operand (sorted) and of ``scatter_indices``.

    The index vector is always the last dimension of ``scatter_indices``.
    """

    update_window_dims: tuple[int, ...]
    inserted_window_dims: tuple[int, ...]
    scatter_dims_to_operand_dims: tuple[int, ...]
    operand_batching_dims: tuple[int, ...] = ()
    scatter_indices_batching_dims: tuple[int, ...] = ()


class GatherScatterMode(enum.IntEnum):
    """What a gather or scatter does with a window that is not entirely in bounds.

    - ``CLIP``: start indices are clamped so that the whole window is in bounds.
    - ``FILL_OR_DROP``: a gather returns ``fill_value`` for the whole window (even its
      in-bounds elements); a scatter drops the whole window's updates.
    - ``PROMISE_IN_BOUNDS``: the caller promises in-bounds indices. What happens otherwise is
      what XLA does in practice, as JAX documents: gathers clamp, scatters drop.
    """

    CLIP = 0
    FILL_OR_DROP = 1
    PROMISE_IN_BOUNDS = 2

    @classmethod
    def from_any(cls, s: str | GatherScatterMode | None) -> GatherScatterMode:
        """JAX's spellings: ``'clip'``, ``'fill'``/``'drop'``, ``'promise_in_bounds'``; ``None``
        is ``FILL_OR_DROP`` (``lax.gather`` turns its own ``None`` into ``PROMISE_IN_BOUNDS``
        before calling this, as JAX does)."""
        if isinstance(s, GatherScatterMode):
            return s
        if s is None or s == "fill" or s == "drop":
            return cls.FILL_OR_DROP
        if s == "clip":
            return cls.CLIP
        if s == "promise_in_bounds":
            return cls.PROMISE_IN_BOUNDS
        raise ValueError(f"functrans.lax: unknown gather/scatter mode {s!r}; expected 'clip', "
                         f"'fill', 'drop', 'promise_in_bounds', None or a GatherScatterMode")

    # IntEnum prints as a bare number; jaxprs and errors should say which mode.
    def __repr__(self) -> str:
        return f"GatherScatterMode.{self.name}"

    __str__ = __repr__


CLIP = GatherScatterMode.CLIP
FILL_OR_DROP = GatherScatterMode.FILL_OR_DROP
PROMISE_IN_BOUNDS = GatherScatterMode.PROMISE_IN_BOUNDS


def default_fill(dtype: np.dtype) -> bool | int | float:
    """JAX's default gather ``fill_value``: NaN for inexact dtypes, the most negative value for
    signed integers, the largest value for unsigned integers, True for booleans."""
    if dtype.kind in "fc":
        return np.nan
    if dtype.kind == "i":
        return int(np.iinfo(dtype).min)
    if dtype.kind == "u":
        return int(np.iinfo(dtype).max)
    return True


def _normalize_fill(fill_value: Any, dtype: np.dtype) -> bool | int | float | complex:
    """A fill value as a Python scalar of ``dtype``'s kind (hashable, a stable jit cache key)."""
    if isinstance(fill_value, core.Tracer):
        raise TypeError("functrans.lax.gather: fill_value must be a concrete scalar, not a "
                        f"traced {fill_value.aval.str_short()}")
    value = np.asarray(fill_value)
    if value.ndim != 0:
        raise ValueError(f"functrans.lax.gather: fill_value must be a scalar, got an array of "
                         f"shape {value.shape}")
    with np.errstate(all="ignore"):
        item = value.astype(dtype).item()
    # NaN != NaN would make equal params compare unequal; np.nan is one shared object, and
    # tuple/dict comparison treats identical objects as equal.
    if isinstance(item, (float, complex)) and item != item and complex(item).imag == 0:
        return np.nan
    return item


# --- shared checks ------------------------------------------------------------------------------


class _Checker:
    """Raises errors that name the ``lax`` function and show every operand's aval."""

    def __init__(self, name: str, **avals: ShapedArray):
        self.name = name
        self.context = ", ".join(f"{k} {a.str_short()}" for k, a in avals.items())

    def error(self, message: str, cls: type[Exception] = ShapeError) -> Exception:
        return cls(f"functrans.lax.{self.name}: {message} ({self.context})")

    def sorted_(self, dims: tuple[int, ...], field: str) -> None:
        if list(dims) != sorted(dims):
            raise self.error(f"{field}={dims} must be sorted in increasing order")

    def unique(self, dims: tuple[int, ...], field: str) -> None:
        if len(set(dims)) != len(dims):
            raise self.error(f"{field}={dims} repeats a dimension")

    def in_range(self, dims: tuple[int, ...], rank: int, field: str, of: str) -> None:
        for d in dims:
            if not 0 <= d < rank:
                raise self.error(f"{field}={dims} has dimension {d}, out of range for {of} "
                                 f"of rank {rank} (valid: 0 to {rank - 1})")

    def disjoint(self, a: tuple[int, ...], b: tuple[int, ...], fa: str, fb: str) -> None:
        common = sorted(set(a) & set(b))
        if common:
            raise self.error(f"{fa}={a} and {fb}={b} must be disjoint; both have {common}")

    def params(self, dnums: Any, dnums_type: type, mode: Any, **flags: Any) -> None:
        """Parameter types (the wrappers normalize them; a direct bind may not)."""
        fix = f"call functrans.lax.{self.name}, which normalizes its parameters"
        if type(dnums) is not dnums_type:
            raise TypeError(f"functrans.lax.{self.name}: dimension_numbers must be a "
                            f"{dnums_type.__name__}, got {type(dnums).__name__}; {fix}")
        for field, value in zip(dnums._fields, dnums, strict=True):
            if type(value) is not tuple or any(type(d) is not int for d in value):
                raise TypeError(f"functrans.lax.{self.name}: dimension_numbers.{field} must be "
                                f"a tuple of Python ints, got {value!r}; {fix}")
        if not isinstance(mode, GatherScatterMode):
            raise TypeError(f"functrans.lax.{self.name}: mode must be a GatherScatterMode, got "
                            f"{mode!r}; {fix}")
        for flag, value in flags.items():
            if type(value) is not bool:
                raise TypeError(f"functrans.lax.{self.name}: {flag} must be a bool, got "
                                f"{value!r}")

    def indices(self, indices: ShapedArray, what: str) -> None:
        if indices.dtype.kind not in "iu":
            raise self.error(f"{what} must have an integer dtype, got {indices.dtype}",
                             DtypeError)
        if indices.ndim < 1:
            raise self.error(f"{what} must have rank >= 1: its last dimension is the index "
                             f"vector (JAX's implicit index_vector_dim). For scalar indices "
                             f"add a trailing dimension of size 1")

    def batching(self, operand: ShapedArray, indices: ShapedArray,
                 operand_dims: tuple[int, ...], indices_dims: tuple[int, ...],
                 indices_field: str) -> None:
        """The paired batching dimensions of the operand and of the indices."""
        self.unique(indices_dims, indices_field)
        self.in_range(indices_dims, indices.ndim, indices_field, "the indices")
        if indices.ndim - 1 in indices_dims:
            raise self.error(f"{indices_field}={indices_dims} contains the index vector "
                             f"dimension {indices.ndim - 1} (the last one), which cannot be a "
                             f"batching dimension")
        if len(operand_dims) != len(indices_dims):
            raise self.error(f"operand_batching_dims={operand_dims} and "
                             f"{indices_field}={indices_dims} must have the same length")
        op_shape = tuple(operand.shape[d] for d in operand_dims)
        ix_shape = tuple(indices.shape[d] for d in indices_dims)
        if op_shape != ix_shape:
            raise self.error(f"the operand's batching dimensions have sizes {op_shape} but the "
                             f"indices' batching dimensions have sizes {ix_shape}; they must "
                             f"be equal")


def _window_dims(rank: int, *excluded: tuple[int, ...]) -> list[int]:
    """Operand dimensions that a window walks: neither collapsed/inserted nor batching."""
    skip = set().union(*excluded)
    return [d for d in range(rank) if d not in skip]


# --- wrapper helpers ----------------------------------------------------------------------------


def _normalize_dnums(name: str, dnums: Any, cls: type) -> Any:
    """Accept the NamedTuple (ours or any with the same fields, e.g. JAX's) or a dict."""
    if isinstance(dnums, dict):
        try:
            dnums = cls(**dnums)
        except TypeError as e:
            raise TypeError(f"functrans.lax.{name}: bad dimension_numbers {dnums!r}: {e}"
                            ) from None
    if getattr(dnums, "_fields", None) != cls._fields:
        raise TypeError(f"functrans.lax.{name}: dimension_numbers must be a "
                        f"functrans.lax.{cls.__name__}, got {dnums!r}")
    return cls(*(rules.int_tuple(name, f"dimension_numbers.{f}", v)
                 for f, v in zip(cls._fields, dnums, strict=True)))


def _indices_array(indices: Any) -> Any:
    # Lists and tuples of ints are accepted as index arrays, as in jax.lax.
    return np.asarray(indices) if isinstance(indices, (list, tuple)) else indices


# --- the vectorized index computation shared by gather and scatter ------------------------------


def _as_int64(indices: np.ndarray) -> np.ndarray:
    if indices.dtype == np.uint64:
        # uint64 values above int64's range are out of bounds anyway; keep them large.
        indices = np.minimum(indices, np.uint64(np.iinfo(np.int64).max))
    return indices.astype(np.int64)


def _clamped_starts(indices: np.ndarray, index_map: tuple[int, ...],
                    operand_shape: tuple[int, ...], window_sizes: Sequence[int]
                    ) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Start index per mapped operand dimension, clamped so that the window is in bounds, and
    whether each window was in bounds before clamping (shape: the indices' batch shape)."""
    idx = _as_int64(indices)
    upper = np.array([operand_shape[d] - window_sizes[d] for d in index_map], np.int64)
    in_bounds = np.all((idx >= 0) & (idx <= upper), axis=-1)
    clamped = np.clip(idx, 0, np.maximum(upper, 0))
    return {d: clamped[..., j] for j, d in enumerate(index_map)}, in_bounds


def _batch_iotas(batch_shape: tuple[int, ...], operand_dims: tuple[int, ...],
                 indices_dims: tuple[int, ...]) -> dict[int, np.ndarray]:
    """Start index of each operand batching dimension: the position along its paired
    dimension of the indices (an iota, broadcastable to the batch shape)."""
    starts = {}
    for d, axis in zip(operand_dims, indices_dims, strict=True):
        shape = [1] * len(batch_shape)
        shape[axis] = batch_shape[axis]
        starts[d] = np.arange(batch_shape[axis], dtype=np.int64).reshape(shape)
    return starts


def _flat_positions(operand_shape: tuple[int, ...], starts: dict[int, np.ndarray],
                    window: dict[int, int], window_axes: tuple[int, ...],
                    out_shape: tuple[int, ...]) -> np.ndarray:
    """The flat (C-order) operand position of every element of a gather output (or of a
    scatter's updates), of shape ``out_shape``.

    Operand dimension ``d`` is at ``starts[d]`` (batch-shaped; 0 when absent) plus, when ``d``
    is walked by a window, the position along result axis ``window[d]``. The batch-shaped
    starts get size-1 axes at ``window_axes``, which puts the batch dimensions in the result
    axes that are not window axes, in order: exactly XLA's layout of the output/updates.
    """
    strides = [math.prod(operand_shape[d + 1:]) for d in range(len(operand_shape))]
    flat = np.zeros((), np.int64)
    for d, start in starts.items():
        flat = flat + np.expand_dims(start, window_axes) * strides[d]
    for d, axis in window.items():
        shape = [1] * len(out_shape)
        shape[axis] = out_shape[axis]
        flat = flat + np.arange(out_shape[axis], dtype=np.int64).reshape(shape) * strides[d]
    return np.broadcast_to(flat, out_shape)


# --- derivative helpers (the jvp and transpose rules below call them) -------------------------


def _scatter_dnums_of(dn: GatherDimensionNumbers) -> ScatterDimensionNumbers:
    """The scatter that sends every element of a gather's output back to where it came from."""
    return ScatterDimensionNumbers(
        update_window_dims=dn.offset_dims, inserted_window_dims=dn.collapsed_slice_dims,
        scatter_dims_to_operand_dims=dn.start_index_map,
        operand_batching_dims=dn.operand_batching_dims,
        scatter_indices_batching_dims=dn.start_indices_batching_dims)


def _gather_dnums_of(dn: ScatterDimensionNumbers) -> GatherDimensionNumbers:
    """The gather that reads, for every element of a scatter's updates, where it goes."""
    return GatherDimensionNumbers(
        offset_dims=dn.update_window_dims, collapsed_slice_dims=dn.inserted_window_dims,
        start_index_map=dn.scatter_dims_to_operand_dims,
        operand_batching_dims=dn.operand_batching_dims,
        start_indices_batching_dims=dn.scatter_indices_batching_dims)


def _full(shape: tuple[int, ...], value: Any, dtype: np.dtype) -> Any:
    """A constant array: a broadcast scalar, cheap under tracing."""
    scalar = np.asarray(value).astype(dtype)
    return broadcast_in_dim(scalar, shape, ()) if shape else scalar


def _gather_updates(values: Any, indices: Any, updates_shape: tuple[int, ...], fill: Any, *,
                    dimension_numbers: ScatterDimensionNumbers, indices_are_sorted: bool,
                    unique_indices: bool, mode: GatherScatterMode) -> Any:
    """For a scatter with these params: the element of the operand-shaped ``values`` at the
    position that each element of ``updates`` goes to (an updates-shaped array), or ``fill``
    for the updates that the scatter drops. This is the transpose of scatter_add in its
    updates."""
    aval = aval_of(values)
    if math.prod(aval.shape) == 0 or math.prod(updates_shape) == 0:
        # The scatter changes nothing (its impl returns the operand as is), and a gather
        # could not even express its windows when an inserted operand dimension is empty.
        return _full(updates_shape, fill, aval.dtype)
    dn = dimension_numbers
    window_dims = _window_dims(aval.ndim, dn.inserted_window_dims, dn.operand_batching_dims)
    sizes = dict(zip(window_dims, (updates_shape[a] for a in dn.update_window_dims),
                     strict=True))
    slice_sizes = tuple(sizes.get(d, 1) for d in range(aval.ndim))
    # A scatter clamps its windows in CLIP mode and drops those not entirely in bounds in the
    # other two modes: exactly what CLIP and FILL_OR_DROP gathers do with the same windows.
    # (A PROMISE_IN_BOUNDS gather would clamp, which JAX uses here and gets wrong for
    # out-of-bounds updates: they would receive a cotangent although they were dropped.)
    if mode == CLIP:
        gather_mode, fill_value = CLIP, None
    else:
        gather_mode, fill_value = FILL_OR_DROP, _normalize_fill(fill, aval.dtype)
    return gather_p.bind(values, indices, dimension_numbers=_gather_dnums_of(dn),
                         slice_sizes=slice_sizes, indices_are_sorted=indices_are_sorted,
                         unique_indices=unique_indices, mode=gather_mode, fill_value=fill_value)


def _not_linear_in_indices(name: str, indices: Any) -> None:
    if is_undefined(indices):
        raise ValueError(f"functrans: transpose of {name} with respect to its indices; "
                         f"integer indices are never differentiated")


# --- batching rules -----------------------------------------------------------------------------
# vmap folds the batch into the dimension numbers, so that a batched gather or scatter is still
# ONE gather or scatter (as JAX's _gather_batching_rule and _scatter_batching_rule), and the
# batch stays where it is wherever the dimension numbers allow it (moves are copies):
# - batched operand, unbatched indices: the batch is one more window dimension, of full size;
# - unbatched operand, batched indices: the batch is one more batch dimension of the indices
#   (for a scatter, the operand is broadcast: every example writes into its own copy);
# - both batched: the batch is a pair of batching dimensions (operand_batching_dims and
#   start_indices_batching_dims / scatter_indices_batching_dims), so that example b's indices
#   index example b's operand.
# The index vector must stay the last dimension of the indices, the only forced move.


def _shift(dims: tuple[int, ...], at: int) -> tuple[int, ...]:
    """Dimension numbers after a new dimension is inserted at position ``at``."""
    return tuple(d + 1 if d >= at else d for d in dims)


def _count_below(dims: Sequence[int], position: int) -> int:
    """How many of ``dims`` come before a new dimension inserted at ``position``."""
    return sum(d < position for d in dims)


def _nth_gap(dims: Sequence[int], n: int) -> int:
    """A position for a new dimension that has exactly ``n`` of the sorted ``dims`` before it
    (the first such position)."""
    return dims[n - 1] + 1 if n else 0


def _paired(operand_dims: tuple[int, ...], indices_dims: tuple[int, ...]
            ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Batching dimension pairs, sorted by operand dimension (operand_batching_dims must be
    sorted; the indices' dimensions follow their partners)."""
    pairs = sorted(zip(operand_dims, indices_dims, strict=True))
    return tuple(o for o, _ in pairs), tuple(i for _, i in pairs)


def _indices_batch_not_last(indices: Any, bdim: int) -> tuple[Any, int]:
    """Batched indices whose batch dimension is not the last one (the index vector's)."""
    last = len(shape_of(indices)) - 1
    if bdim == last:
        return moveaxis(indices, last, last - 1), last - 1
    return indices, bdim


def _gather_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                  dimension_numbers: GatherDimensionNumbers, slice_sizes: tuple[int, ...],
                  indices_are_sorted: bool, unique_indices: bool, mode: GatherScatterMode,
                  fill_value: Any) -> tuple[Any, int]:
    operand, indices = vals
    ob, ib = dims
    dn = dimension_numbers
    if ib is None:
        # Every window takes the whole batch: a new window (offset) dimension of full size,
        # placed among the offset dimensions in operand order.
        window = _window_dims(len(slice_sizes), dn.collapsed_slice_dims,
                              dn.operand_batching_dims)
        out_dim = _nth_gap(dn.offset_dims, _count_below(window, ob))
        dn = GatherDimensionNumbers(
            offset_dims=tuple(sorted(_shift(dn.offset_dims, out_dim) + (out_dim,))),
            collapsed_slice_dims=_shift(dn.collapsed_slice_dims, ob),
            start_index_map=_shift(dn.start_index_map, ob),
            operand_batching_dims=_shift(dn.operand_batching_dims, ob),
            start_indices_batching_dims=dn.start_indices_batching_dims)
        slice_sizes = slice_sizes[:ob] + (axis.size,) + slice_sizes[ob:]
    else:
        # The batch is a batch dimension of the indices, hence a result dimension that is not
        # an offset one: the ib-th of them.
        indices, ib = _indices_batch_not_last(indices, ib)
        out_rank = len(dn.offset_dims) + len(shape_of(indices)) - 2
        out_dim = _nth_gap([a for a in range(out_rank) if a not in dn.offset_dims], ib)
        offset_dims = _shift(dn.offset_dims, out_dim)
        indices_batching = _shift(dn.start_indices_batching_dims, ib)
        if ob is None:
            dn = dn._replace(offset_dims=offset_dims,
                             start_indices_batching_dims=indices_batching)
            # Examples index the same operand: across the batch, indices repeat.
            indices_are_sorted = unique_indices = False
        else:
            operand_batching, indices_batching = _paired(
                _shift(dn.operand_batching_dims, ob) + (ob,), indices_batching + (ib,))
            dn = GatherDimensionNumbers(
                offset_dims=offset_dims,
                collapsed_slice_dims=_shift(dn.collapsed_slice_dims, ob),
                start_index_map=_shift(dn.start_index_map, ob),
                operand_batching_dims=operand_batching,
                start_indices_batching_dims=indices_batching)
            # A batching dimension's slice size is 1, or 0 for an empty batch (a size-1
            # slice of an empty dimension is out of range).
            slice_sizes = slice_sizes[:ob] + (min(axis.size, 1),) + slice_sizes[ob:]
    out = gather_p.bind(operand, indices, dimension_numbers=dn, slice_sizes=slice_sizes,
                        indices_are_sorted=indices_are_sorted, unique_indices=unique_indices,
                        mode=mode, fill_value=fill_value)
    return out, out_dim


def _scatter_batch(prim: Primitive) -> Callable:
    """The batching rule of every scatter: the operand always ends up batched (each example
    updates its own copy); where an operand must be broadcast, it is broadcast at the position
    that spares the updates a move."""

    def rule(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
             dimension_numbers: ScatterDimensionNumbers, indices_are_sorted: bool,
             unique_indices: bool, mode: GatherScatterMode) -> tuple[Any, int]:
        operand, indices, updates = vals
        ob, ib, ub = dims
        dn = dimension_numbers
        window_axes = dn.update_window_dims
        if ib is None:
            # Every window covers the whole batch: a new window dimension of full size in the
            # operand and in the updates, at matching places of the window order.
            window = _window_dims(per_example_ndim(operand, ob), dn.inserted_window_dims,
                                  dn.operand_batching_dims)
            if ob is None:
                ob = _nth_gap(window, _count_below(window_axes, ub))
                operand = broadcast_batched(operand, axis.size, ob)
            else:
                k = _count_below(window, ob)
                if ub is None:
                    ub = _nth_gap(window_axes, k)
                    updates = broadcast_batched(updates, axis.size, ub)
                elif _count_below(window_axes, ub) != k:
                    target = _nth_gap(window_axes, k)
                    updates, ub = moveaxis(updates, ub, target), target
            dn = ScatterDimensionNumbers(
                update_window_dims=tuple(sorted(_shift(window_axes, ub) + (ub,))),
                inserted_window_dims=_shift(dn.inserted_window_dims, ob),
                scatter_dims_to_operand_dims=_shift(dn.scatter_dims_to_operand_dims, ob),
                operand_batching_dims=_shift(dn.operand_batching_dims, ob),
                scatter_indices_batching_dims=dn.scatter_indices_batching_dims)
        else:
            # A pair of batching dimensions; in the updates, the batch is the ib-th of the
            # scatter (non-window) dimensions, as in the indices.
            scatter_axes = [a for a in range(per_example_ndim(updates, ub))
                            if a not in window_axes]
            if ub is None:
                indices, ib = _indices_batch_not_last(indices, ib)
                ub = _nth_gap(scatter_axes, ib)
                updates = broadcast_batched(updates, axis.size, ub)
            elif _count_below(scatter_axes, ub) != ib:
                # Batched at different places: move the smaller of the two (the indices
                # when their batch is in the index vector's place, which must move anyway).
                if (ib == len(shape_of(indices)) - 1
                        or math.prod(shape_of(indices)) <= math.prod(shape_of(updates))):
                    want = _count_below(scatter_axes, ub)
                    indices, ib = moveaxis(indices, ib, want), want
                else:
                    target = _nth_gap(scatter_axes, ib)
                    updates, ub = moveaxis(updates, ub, target), target
            if ob is None:
                ob = 0
                operand = broadcast_batched(operand, axis.size, ob)
            operand_batching, indices_batching = _paired(
                _shift(dn.operand_batching_dims, ob) + (ob,),
                _shift(dn.scatter_indices_batching_dims, ib) + (ib,))
            dn = ScatterDimensionNumbers(
                update_window_dims=_shift(window_axes, ub),
                inserted_window_dims=_shift(dn.inserted_window_dims, ob),
                scatter_dims_to_operand_dims=_shift(dn.scatter_dims_to_operand_dims, ob),
                operand_batching_dims=operand_batching,
                scatter_indices_batching_dims=indices_batching)
        out = prim.bind(operand, indices, updates, dimension_numbers=dn,
                        indices_are_sorted=indices_are_sorted, unique_indices=unique_indices,
                        mode=mode)
        return out, ob

    return rule


# --- gather -------------------------------------------------------------------------------------


def _gather_shape(indices_shape: tuple[int, ...], dnums: GatherDimensionNumbers,
                  slice_sizes: tuple[int, ...]) -> tuple[int, ...]:
    batch = iter(indices_shape[:-1])
    window = iter(slice_sizes[d] for d in _window_dims(
        len(slice_sizes), dnums.collapsed_slice_dims, dnums.operand_batching_dims))
    out_rank = len(dnums.offset_dims) + len(indices_shape) - 1
    return tuple(next(window) if i in dnums.offset_dims else next(batch)
                 for i in range(out_rank))


def _gather_rule(operand: ShapedArray, start_indices: ShapedArray, *,
                 dimension_numbers: GatherDimensionNumbers, slice_sizes: tuple[int, ...],
                 indices_are_sorted: bool, unique_indices: bool, mode: GatherScatterMode,
                 fill_value: Any) -> ShapedArray:
    """XLA's gather shape rule (ShapeInference::InferGatherShape, as JAX checks it)."""
    c = _Checker("gather", operand=operand, start_indices=start_indices)
    c.params(dimension_numbers, GatherDimensionNumbers, mode,
             indices_are_sorted=indices_are_sorted, unique_indices=unique_indices)
    if type(slice_sizes) is not tuple or any(type(s) is not int for s in slice_sizes):
        raise TypeError(f"functrans.lax.gather: slice_sizes must be a tuple of Python ints, "
                        f"got {slice_sizes!r}")
    if fill_value is not None and not isinstance(fill_value, (bool, int, float, complex,
                                                              np.generic)):
        raise TypeError(f"functrans.lax.gather: fill_value must be None or a scalar, got "
                        f"{fill_value!r}")
    rules.check_dtype("gather", operand, frozenset(dt.ALL))
    c.indices(start_indices, "start_indices")
    dn = dimension_numbers
    rank = operand.ndim
    out_rank = len(dn.offset_dims) + start_indices.ndim - 1

    c.sorted_(dn.offset_dims, "offset_dims")
    c.unique(dn.offset_dims, "offset_dims")
    c.in_range(dn.offset_dims, out_rank, "offset_dims", "the output")
    if len(dn.start_index_map) != start_indices.shape[-1]:
        raise c.error(f"start_index_map={dn.start_index_map} has {len(dn.start_index_map)} "
                      f"entries but the index vector (last dimension of start_indices) has "
                      f"{start_indices.shape[-1]}; they must be equal")
    c.in_range(dn.start_index_map, rank, "start_index_map", "the operand")
    c.unique(dn.start_index_map, "start_index_map")
    c.sorted_(dn.collapsed_slice_dims, "collapsed_slice_dims")
    c.in_range(dn.collapsed_slice_dims, rank, "collapsed_slice_dims", "the operand")
    c.unique(dn.collapsed_slice_dims, "collapsed_slice_dims")
    c.unique(dn.operand_batching_dims, "operand_batching_dims")
    c.sorted_(dn.operand_batching_dims, "operand_batching_dims")
    c.in_range(dn.operand_batching_dims, rank, "operand_batching_dims", "the operand")
    c.disjoint(dn.collapsed_slice_dims, dn.operand_batching_dims, "collapsed_slice_dims",
               "operand_batching_dims")
    c.disjoint(dn.start_index_map, dn.operand_batching_dims, "start_index_map",
               "operand_batching_dims")
    c.batching(operand, start_indices, dn.operand_batching_dims,
               dn.start_indices_batching_dims, "start_indices_batching_dims")

    if len(slice_sizes) != rank:
        raise c.error(f"slice_sizes={slice_sizes} must have one entry per operand dimension "
                      f"({rank})")
    n_dims = len(dn.offset_dims) + len(dn.collapsed_slice_dims) + len(dn.operand_batching_dims)
    if n_dims != rank:
        raise c.error(f"every operand dimension must be an offset (window) dimension or a "
                      f"collapsed or batching one: offset_dims={dn.offset_dims}, "
                      f"collapsed_slice_dims={dn.collapsed_slice_dims} and "
                      f"operand_batching_dims={dn.operand_batching_dims} account for {n_dims} "
                      f"dimensions, the operand has {rank}")
    for d, (size, bound) in enumerate(zip(slice_sizes, operand.shape, strict=True)):
        if not 0 <= size <= bound:
            raise c.error(f"slice_sizes[{d}]={size} is out of range for operand dimension {d} "
                          f"of size {bound} (valid: 0 to {bound})")
    for d in dn.collapsed_slice_dims:
        if slice_sizes[d] != 1:
            raise c.error(f"collapsed_slice_dims={dn.collapsed_slice_dims} contains dimension "
                          f"{d}, whose slice size is {slice_sizes[d]}; collapsed dimensions "
                          f"must have slice size 1")
    for d in dn.operand_batching_dims:
        if slice_sizes[d] > 1:
            raise c.error(f"operand_batching_dims={dn.operand_batching_dims} contains "
                          f"dimension {d}, whose slice size is {slice_sizes[d]}; batching "
                          f"dimensions must have slice size 1 (or 0 when empty)")
    out_shape = _gather_shape(start_indices.shape, dn, slice_sizes)
    return ShapedArray(out_shape, operand.dtype, operand.weak_type)


def _fill_scalar(dtype: np.dtype, fill_value: Any) -> np.ndarray:
    value = default_fill(dtype) if fill_value is None else fill_value
    with np.errstate(all="ignore"):
        return np.asarray(value).astype(dtype)


def _gather_impl(operand: np.ndarray, start_indices: np.ndarray, *,
                 dimension_numbers: GatherDimensionNumbers, slice_sizes: tuple[int, ...],
                 indices_are_sorted: bool, unique_indices: bool, mode: GatherScatterMode,
                 fill_value: Any) -> np.ndarray:
    dn = dimension_numbers
    out_shape = _gather_shape(start_indices.shape, dn, slice_sizes)
    if math.prod(out_shape) == 0:
        return np.zeros(out_shape, operand.dtype)
    starts, in_bounds = _clamped_starts(start_indices, dn.start_index_map, operand.shape,
                                        slice_sizes)
    starts.update(_batch_iotas(start_indices.shape[:-1], dn.operand_batching_dims,
                               dn.start_indices_batching_dims))
    window_dims = _window_dims(operand.ndim, dn.collapsed_slice_dims, dn.operand_batching_dims)
    window = dict(zip(window_dims, dn.offset_dims, strict=True))
    flat = _flat_positions(operand.shape, starts, window, dn.offset_dims, out_shape)
    out = np.asarray(np.take(operand.reshape(-1), flat))  # a 0-d take gives a NumPy scalar
    if mode == FILL_OR_DROP and not in_bounds.all():
        keep = np.expand_dims(in_bounds, dn.offset_dims)
        out = np.where(keep, out, _fill_scalar(operand.dtype, fill_value))
    return out


def _gather_params(dnums: GatherDimensionNumbers, slice_sizes: tuple[int, ...],
                   mode: GatherScatterMode = PROMISE_IN_BOUNDS, fill_value: Any = None,
                   dtype: np.dtype | None = None) -> dict[str, Any]:
    """Params exactly as the ``gather`` wrapper normalizes them (for the samples)."""
    if mode == FILL_OR_DROP and fill_value is None:
        fill_value = default_fill(dtype)
    elif mode == FILL_OR_DROP:
        fill_value = _normalize_fill(fill_value, dtype)
    else:
        fill_value = None
    return dict(dimension_numbers=dnums, slice_sizes=slice_sizes, indices_are_sorted=False,
                unique_indices=False, mode=mode, fill_value=fill_value)


def _index(values: Any, dtype: Any = np.int32) -> np.ndarray:
    return np.asarray(values, dtype)


def _gather_sample(dtype: np.dtype) -> list[Example]:
    def x(shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
        return rules.sample_array(shape, dtype, seed=seed)

    take0 = GatherDimensionNumbers((1,), (0,), (0,))
    point = GatherDimensionNumbers((), (0, 1), (0, 1))
    window = GatherDimensionNumbers((1, 2), (), (0, 1))
    batched = GatherDimensionNumbers((2,), (1,), (1,), (0,), (0,))
    columns = GatherDimensionNumbers((0,), (1,), (1,))
    row_windows = GatherDimensionNumbers((1, 2), (), (0,))
    oob = _index([[0], [-2], [3], [4], [9]])
    # Inexact samples fill with 0 instead of the default NaN, which the generic autodiff tests
    # cannot check: finite differences of a NaN are NaN. tests/test_indexing_prims.py covers
    # NaN fills, and that their tangents are 0.
    fill, fill_note = (0, "0") if dtype.kind in "fc" else (None, "default")
    return [
        Example((x((5, 3)), _index([[0], [4], [2], [2]])), _gather_params(take0, (1, 3)),
                "take-axis0"),
        Example((x((3, 4)), _index([[2, 1], [0, 3], [1, 0], [2, 1], [0, 0]], np.int64)),
                _gather_params(point, (1, 1)), "point-2d"),
        Example((x((4, 5)), _index([[0, 1], [2, 2], [1, 0]], np.uint8)),
                _gather_params(window, (2, 3)), "windows"),
        Example((x((2, 4, 3)), _index([[[1], [3], [0]], [[2], [2], [0]]])),
                _gather_params(batched, (1, 1, 3)), "batching-dims"),
        Example((x((5, 3)), _index([[[1], [4]], [[0], [2]]])),
                _gather_params(columns, (5, 1)), "x[:, idx]"),
        Example((x((4, 3)), oob), _gather_params(row_windows, (2, 3), CLIP), "oob-clip"),
        Example((x((4, 3)), oob), _gather_params(row_windows, (2, 3), PROMISE_IN_BOUNDS),
                "oob-promise"),
        Example((x((4, 3)), oob), _gather_params(take0, (1, 3), FILL_OR_DROP, fill,
                                                 dtype=dtype), f"oob-fill-{fill_note}"),
        Example((x((4, 3)), oob),
                _gather_params(row_windows, (2, 3), FILL_OR_DROP, 1, dtype=dtype),
                "oob-fill-1"),
        Example((x((5, 3)), np.zeros((0, 1), np.int32)), _gather_params(take0, (1, 3)),
                "empty-indices"),
        Example((x(()), np.zeros((3, 0), np.int32)),
                _gather_params(GatherDimensionNumbers((), (), ()), ()), "0d-operand"),
        Example((x((0, 3)), _index([[1, 0], [0, 5]])),
                _gather_params(GatherDimensionNumbers((1, 2), (), (1, 0)), (0, 2)),
                "empty-operand"),
    ]


def _gather_jvp(g: Any, operand: Any, start_indices: Any, *, mode: GatherScatterMode,
                fill_value: Any, **params: Any) -> Any:
    # The fill value is a constant: the tangent of a filled window is 0, as in JAX.
    fill = _normalize_fill(0, aval_of(g).dtype) if mode == FILL_OR_DROP else None
    return gather_p.bind(g, start_indices, mode=mode, fill_value=fill, **params)


def _gather_transpose(ct: Any, operand: Any, start_indices: Any, *,
                      dimension_numbers: GatherDimensionNumbers, slice_sizes: tuple[int, ...],
                      indices_are_sorted: bool, unique_indices: bool, mode: GatherScatterMode,
                      fill_value: Any) -> list[Any]:
    """Add every gathered cotangent back where its value came from (a scatter_add into
    zeros). Only the linear gathers that the jvp binds (fill value 0) are transposed."""
    _not_linear_in_indices("gather", start_indices)
    aval = tangent_aval(operand.aval)
    # A PROMISE_IN_BOUNDS gather clamps out-of-bounds windows (the impl does what XLA does)
    # but a PROMISE_IN_BOUNDS scatter drops them, so transpose it as a clamping gather. JAX
    # keeps the mode and so drops the cotangent of out-of-bounds windows.
    scatter_mode = CLIP if mode == PROMISE_IN_BOUNDS else mode
    out = scatter_add_p.bind(zeros_like_aval(aval), start_indices, ct,
                             dimension_numbers=_scatter_dnums_of(dimension_numbers),
                             indices_are_sorted=indices_are_sorted,
                             unique_indices=unique_indices, mode=scatter_mode)
    return [out, None]


gather_p = define_primitive(
    "gather", family="indexing", impl=_gather_impl, abstract_eval=_gather_rule, dtypes=dt.ALL,
    sample=_gather_sample, doc="XLA gather: slices of operand at start_indices",
    jvp=jvp_partials(_gather_jvp, None), transpose=_gather_transpose, linear_in=(0,),
    batch=_gather_batch)


def gather(operand: Any, start_indices: Any, dimension_numbers: GatherDimensionNumbers,
           slice_sizes: Sequence[int], *, unique_indices: bool = False,
           indices_are_sorted: bool = False, mode: str | GatherScatterMode | None = None,
           fill_value: Any = None) -> Any:
    """XLA's Gather, with ``jax.lax.gather``'s signature and semantics.

    Takes, for every index vector in ``start_indices`` (its last dimension), a slice of size
    ``slice_sizes`` of ``operand`` starting there; ``dimension_numbers`` says how the
    dimensions relate. ``mode=None`` means ``'promise_in_bounds'``, as in JAX: out-of-bounds
    windows are clamped (like ``'clip'``). With ``'fill'`` a window that is not entirely in
    bounds is ``fill_value`` (default: NaN for inexact dtypes, the minimum of signed and the
    maximum of unsigned integers, True for booleans). Prefer ``functrans.numpy`` indexing.

    >>> import numpy as np
    >>> from functrans.primitives.indexing import gather, GatherDimensionNumbers
    >>> x = np.array([10, 11, 12], np.int32)
    >>> dnums = GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(0,),
    ...                                start_index_map=(0,))
    >>> print(gather(x, np.array([[0], [2], [2]]), dnums, slice_sizes=(1,)))
    [10 12 12]
    """
    if mode is None:
        mode = PROMISE_IN_BOUNDS
    parsed = GatherScatterMode.from_any(mode)
    dtype = core.get_aval(operand).dtype
    fill = None
    if parsed == FILL_OR_DROP:
        fill = default_fill(dtype) if fill_value is None else _normalize_fill(fill_value, dtype)
    return gather_p.bind(
        operand, _indices_array(start_indices),
        dimension_numbers=_normalize_dnums("gather", dimension_numbers, GatherDimensionNumbers),
        slice_sizes=rules.int_tuple("gather", "slice_sizes", slice_sizes),
        indices_are_sorted=bool(indices_are_sorted), unique_indices=bool(unique_indices),
        mode=parsed, fill_value=fill)


# --- scatter ------------------------------------------------------------------------------------


def _scatter_rule_for(name: str, allowed: tuple[np.dtype, ...]) -> Callable[..., ShapedArray]:
    allowed_set = frozenset(allowed)

    def rule(operand: ShapedArray, scatter_indices: ShapedArray, updates: ShapedArray, *,
             dimension_numbers: ScatterDimensionNumbers, indices_are_sorted: bool,
             unique_indices: bool, mode: GatherScatterMode) -> ShapedArray:
        """XLA's scatter shape rule (ShapeInference::InferScatterShape, as JAX checks it)."""
        c = _Checker(name, operand=operand, scatter_indices=scatter_indices, updates=updates)
        c.params(dimension_numbers, ScatterDimensionNumbers, mode,
                 indices_are_sorted=indices_are_sorted, unique_indices=unique_indices)
        c.indices(scatter_indices, "scatter_indices")
        rules.check_same_dtypes(name, (operand, updates))
        rules.check_dtype(name, operand, allowed_set)
        dn = dimension_numbers
        rank = operand.ndim
        batch_shape = scatter_indices.shape[:-1]
        expected_rank = len(batch_shape) + len(dn.update_window_dims)
        if updates.ndim != expected_rank:
            raise c.error(f"updates must have rank {expected_rank} (the {len(batch_shape)} "
                          f"batch dimensions of scatter_indices plus "
                          f"{len(dn.update_window_dims)} update_window_dims), got rank "
                          f"{updates.ndim}")
        c.sorted_(dn.update_window_dims, "update_window_dims")
        c.unique(dn.update_window_dims, "update_window_dims")
        c.in_range(dn.update_window_dims, updates.ndim, "update_window_dims", "the updates")
        c.sorted_(dn.inserted_window_dims, "inserted_window_dims")
        c.unique(dn.inserted_window_dims, "inserted_window_dims")
        c.in_range(dn.inserted_window_dims, rank, "inserted_window_dims", "the operand")
        c.sorted_(dn.operand_batching_dims, "operand_batching_dims")
        c.unique(dn.operand_batching_dims, "operand_batching_dims")
        c.in_range(dn.operand_batching_dims, rank, "operand_batching_dims", "the operand")
        c.disjoint(dn.inserted_window_dims, dn.operand_batching_dims, "inserted_window_dims",
                   "operand_batching_dims")
        c.disjoint(dn.scatter_dims_to_operand_dims, dn.operand_batching_dims,
                   "scatter_dims_to_operand_dims", "operand_batching_dims")
        c.batching(operand, scatter_indices, dn.operand_batching_dims,
                   dn.scatter_indices_batching_dims, "scatter_indices_batching_dims")
        n_dims = (len(dn.update_window_dims) + len(dn.inserted_window_dims)
                  + len(dn.operand_batching_dims))
        if n_dims != rank:
            raise c.error(f"every operand dimension must be a window dimension or an inserted "
                          f"or batching one: update_window_dims={dn.update_window_dims}, "
                          f"inserted_window_dims={dn.inserted_window_dims} and "
                          f"operand_batching_dims={dn.operand_batching_dims} account for "
                          f"{n_dims} dimensions, the operand has {rank}")
        sdod = dn.scatter_dims_to_operand_dims
        if len(sdod) != scatter_indices.shape[-1]:
            raise c.error(f"scatter_dims_to_operand_dims={sdod} has {len(sdod)} entries but "
                          f"the index vector (last dimension of scatter_indices) has "
                          f"{scatter_indices.shape[-1]}; they must be equal")
        c.in_range(sdod, rank, "scatter_dims_to_operand_dims", "the operand")
        c.unique(sdod, "scatter_dims_to_operand_dims")
        window_dims = _window_dims(rank, dn.inserted_window_dims, dn.operand_batching_dims)
        for d, axis in zip(window_dims, dn.update_window_dims, strict=True):
            if updates.shape[axis] > operand.shape[d]:
                raise c.error(f"the window of updates dimension {axis} (size "
                              f"{updates.shape[axis]}) is larger than operand dimension {d} "
                              f"(size {operand.shape[d]}) that it updates")
        scatter_axes = [a for a in range(updates.ndim) if a not in dn.update_window_dims]
        got = tuple(updates.shape[a] for a in scatter_axes)
        if got != batch_shape:
            raise c.error(f"the scatter (non-window) dimensions {tuple(scatter_axes)} of "
                          f"updates have sizes {got}, but the batch dimensions of "
                          f"scatter_indices have sizes {batch_shape}; they must be equal")
        return ShapedArray(operand.shape, operand.dtype, operand.weak_type)

    return rule


def _replace(flat: np.ndarray, positions: np.ndarray, values: np.ndarray) -> None:
    """``flat[positions] = values`` where, for repeated positions, the last update wins
    (NumPy does not promise an order for repeated fancy assignment, so pick it explicitly)."""
    reversed_positions = positions[::-1]
    targets, first = np.unique(reversed_positions, return_index=True)
    flat[targets] = values[::-1][first]


def _scatter_impl_for(combine: Callable[[np.ndarray, np.ndarray, np.ndarray], None]
                      ) -> Callable[..., np.ndarray]:
    def impl(operand: np.ndarray, scatter_indices: np.ndarray, updates: np.ndarray, *,
             dimension_numbers: ScatterDimensionNumbers, indices_are_sorted: bool,
             unique_indices: bool, mode: GatherScatterMode) -> np.ndarray:
        # A fresh C-contiguous array (even for a NumPy scalar operand), so that
        # out.reshape(-1) below is a view into it.
        out = np.array(operand, order="C", copy=True)
        if out.size == 0 or updates.size == 0:
            return out
        dn = dimension_numbers
        window_dims = _window_dims(operand.ndim, dn.inserted_window_dims,
                                   dn.operand_batching_dims)
        window = dict(zip(window_dims, dn.update_window_dims, strict=True))
        sizes = [updates.shape[window[d]] if d in window else 1 for d in range(operand.ndim)]
        starts, in_bounds = _clamped_starts(scatter_indices, dn.scatter_dims_to_operand_dims,
                                            operand.shape, sizes)
        starts.update(_batch_iotas(scatter_indices.shape[:-1], dn.operand_batching_dims,
                                   dn.scatter_indices_batching_dims))
        flat = _flat_positions(operand.shape, starts, window, dn.update_window_dims,
                               updates.shape)
        values = updates
        # FILL_OR_DROP and PROMISE_IN_BOUNDS drop every window that is not entirely in bounds
        # (what XLA does); CLIP keeps the clamped starts.
        if mode != CLIP and not in_bounds.all():
            keep = np.broadcast_to(np.expand_dims(in_bounds, dn.update_window_dims),
                                   updates.shape)
            flat, values = flat[keep], updates[keep]
        with np.errstate(all="ignore"):
            combine(out.reshape(-1), flat.ravel(), values.ravel())
        return out

    return impl


def _scatter_params(dnums: ScatterDimensionNumbers, mode: GatherScatterMode = FILL_OR_DROP
                    ) -> dict[str, Any]:
    return dict(dimension_numbers=dnums, indices_are_sorted=False, unique_indices=False,
                mode=mode)


def _scatter_sample(dtype: np.dtype) -> list[Example]:
    def x(shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
        return rules.sample_array(shape, dtype, seed=seed)

    def u(shape: tuple[int, ...]) -> np.ndarray:
        return rules.sample_array(shape, dtype, domain="nonzero", seed=2)

    point1 = ScatterDimensionNumbers((), (0,), (0,))
    rows = ScatterDimensionNumbers((1,), (0,), (0,))
    point2 = ScatterDimensionNumbers((), (0, 1), (0, 1))
    window = ScatterDimensionNumbers((1, 2), (), (0, 1))
    batched = ScatterDimensionNumbers((2,), (1,), (1,), (0,), (0,))
    columns = ScatterDimensionNumbers((0,), (1,), (1,))
    oob = _index([[-1], [3], [1], [5]])
    return [
        Example((x((5,)), _index([[0], [2], [2], [4], [0], [1]]), u((6,))),
                _scatter_params(point1), "duplicates"),
        Example((x((4, 3)), _index([[3], [0], [3]], np.int64), u((3, 3))),
                _scatter_params(rows), "rows"),
        Example((x((3, 4)), _index([[2, 1], [0, 3], [2, 1], [1, 0]], np.uint8), u((4,))),
                _scatter_params(point2), "point-2d"),
        Example((x((4, 5)), _index([[0, 1], [2, 2]]), u((2, 2, 3))),
                _scatter_params(window), "windows"),
        Example((x((2, 4, 3)), _index([[[1], [3], [1]], [[2], [0], [0]]]), u((2, 3, 3))),
                _scatter_params(batched), "batching-dims"),
        Example((x((3, 5)), _index([[4], [0], [1], [4]]), u((2, 4))),
                _scatter_params(columns), "x[:2, idx]"),
        Example((x((4, 3)), oob, u((4, 2, 3))), _scatter_params(window._replace(
            scatter_dims_to_operand_dims=(0,))), "oob-drop"),
        Example((x((4, 3)), oob, u((4, 2, 3))), _scatter_params(window._replace(
            scatter_dims_to_operand_dims=(0,)), CLIP), "oob-clip"),
        Example((x((4, 3)), oob, u((4, 3))), _scatter_params(rows, PROMISE_IN_BOUNDS),
                "oob-promise"),
        Example((x((4, 3)), np.zeros((0, 1), np.int32), u((0, 3))), _scatter_params(rows),
                "empty-indices"),
        Example((x(()), np.zeros((3, 0), np.int32), u((3,))),
                _scatter_params(ScatterDimensionNumbers((), (), ())), "0d-operand"),
        Example((x((0, 3)), _index([[0], [1]]), u((2, 0))),
                _scatter_params(ScatterDimensionNumbers((1,), (1,), (1,))), "empty-operand"),
    ]


_SCATTER_DOC = """XLA's Scatter where {what}, with ``jax.lax.{name}``'s signature and semantics.

    For every index vector in ``scatter_indices`` (its last dimension), the matching window of
    ``updates`` is combined into ``operand`` at that start; ``dimension_numbers`` says how the
    dimensions relate. Updates to the same element {duplicates}. ``mode=None`` means
    ``'fill'``/``'drop'``, as in JAX: a window that is not entirely in bounds is dropped
    (``'promise_in_bounds'`` also drops it, as XLA does); ``'clip'`` clamps its start instead.
    ``indices_are_sorted`` and ``unique_indices`` are hints that do not change the result.
    Prefer ``x.at[idx].{method}(v)`` in ``functrans.numpy``.
    """


def _scatter_family(name: str, combine: Callable, dtypes: tuple[np.dtype, ...], what: str,
                    duplicates: str, method: str, **rule_slots: Any
                    ) -> tuple[Primitive, Callable]:
    prim = define_primitive(
        name, family="indexing", impl=_scatter_impl_for(combine),
        abstract_eval=_scatter_rule_for(name, dtypes), dtypes=dtypes, sample=_scatter_sample,
        doc=f"XLA scatter where {what}", batch=BatchRule(_scatter_batch), **rule_slots)

    def wrapper(operand: Any, scatter_indices: Any, updates: Any,
                dimension_numbers: ScatterDimensionNumbers, *,
                indices_are_sorted: bool = False, unique_indices: bool = False,
                mode: str | GatherScatterMode | None = None) -> Any:
        operand, updates = coerce_scalars(operand, updates)
        return prim.bind(
            operand, _indices_array(scatter_indices), updates,
            dimension_numbers=_normalize_dnums(name, dimension_numbers,
                                               ScatterDimensionNumbers),
            indices_are_sorted=bool(indices_are_sorted), unique_indices=bool(unique_indices),
            mode=GatherScatterMode.from_any(mode))

    doc = _SCATTER_DOC.format(what=what, name=name, duplicates=duplicates, method=method)
    return prim, _named(wrapper, name, doc)


def _ufunc_at(ufunc: np.ufunc) -> Callable[[np.ndarray, np.ndarray, np.ndarray], None]:
    def combine(flat: np.ndarray, positions: np.ndarray, values: np.ndarray) -> None:
        ufunc.at(flat, positions, values)

    return combine


# --- scatter derivatives ------------------------------------------------------------------------
# Every rule gets (operand, scatter_indices, updates) and the scatter's params, which it passes
# on unchanged to the scatters it binds, so that they pick the same windows in the same order.


def _scatter_add_jvp(primals: list, tangents: list, **params: Any) -> tuple[Any, Any]:
    operand, indices, updates = primals
    t_operand, _, t_updates = tangents
    ans = scatter_add_p.bind(operand, indices, updates, **params)
    if type(t_updates) is Zero:
        # Constant updates: the operand's tangent passes through (Zero included).
        return ans, t_operand
    return ans, scatter_add_p.bind(instantiate(t_operand), indices, t_updates, **params)


def _scatter_add_transpose(ct: Any, operand: Any, indices: Any, updates: Any, **params: Any
                           ) -> list[Any]:
    """The operand's cotangent is ``ct``; each update's is ``ct`` where it was added, and 0
    for updates the scatter drops."""
    _not_linear_in_indices("scatter_add", indices)
    ct_updates = (_gather_updates(ct, indices, updates.aval.shape, 0, **params)
                  if is_undefined(updates) else None)
    return [ct if is_undefined(operand) else None, None, ct_updates]


def _scatter_jvp(primals: list, tangents: list, **params: Any) -> tuple[Any, Any]:
    operand, indices, updates = primals
    t_operand, _, t_updates = tangents
    ans = scatter_p.bind(operand, indices, updates, **params)
    if type(t_operand) is Zero and type(t_updates) is Zero:
        return ans, Zero(tangent_aval(core.get_aval(ans)))
    # scatter is linear in (operand, updates) together, and its tangent runs through the same
    # impl: each position takes the tangent of the update that won it (the last one, in the
    # impl's deterministic order) or keeps the operand's. Unlike JAX's jvp, this needs no
    # ids; the transpose finds the winners with them.
    return ans, scatter_p.bind(instantiate(t_operand), indices, instantiate(t_updates),
                               **params)


def _scatter_winners(operand_shape: tuple[int, ...], indices: Any,
                     updates_shape: tuple[int, ...], **params: Any) -> tuple[Any, Any]:
    """Which operand elements survive a scatter and which updates end up in its result (one
    per written position: the one the impl writes last), as two boolean arrays. Found with
    the trick of JAX's scatter jvp: scatter a distinct id per update element (JAX uses one per
    window; per element needs no argument about overlapping windows), then read them back."""
    n = math.prod(updates_shape)
    id_dtype = np.dtype(np.int32 if n < np.iinfo(np.int32).max else np.int64)
    ids = add(reshape(iota(id_dtype, n), updates_shape), np.asarray(1, id_dtype))  # 0: unset
    written = scatter_p.bind(_full(operand_shape, 0, id_dtype), indices, ids, **params)
    survived = eq(written, np.asarray(0, id_dtype))
    won = eq(_gather_updates(written, indices, updates_shape, 0, **params), ids)
    return survived, won


def _scatter_transpose(ct: Any, operand: Any, indices: Any, updates: Any, **params: Any
                       ) -> list[Any]:
    """The operand's cotangent is ``ct`` where no update overwrote it; each update's is
    ``ct`` where it won, and 0 where a later update or a drop discarded it. A defined operand
    or updates argument is 0 in a linear program (an instantiated symbolic zero)."""
    _not_linear_in_indices("scatter", indices)
    op_aval, up_aval = aval_of(operand), aval_of(updates)
    survived, won = _scatter_winners(op_aval.shape, indices, up_aval.shape, **params)
    ct_operand = ct_updates = None
    if is_undefined(operand):
        ct_operand = select_n(survived, zeros_like_aval(tangent_aval(op_aval)), ct)
    if is_undefined(updates):
        gathered = _gather_updates(ct, indices, up_aval.shape, 0, **params)
        ct_updates = select_n(won, zeros_like_aval(tangent_aval(up_aval)), gathered)
    return [ct_operand, None, ct_updates]


def _products_of_the_others(operand_shape: tuple[int, ...], indices: Any, updates: Any,
                            **params: Any) -> Any:
    """For each update, the product of the other updates multiplied into the same position
    (its derivative factor in scatter_mul), computed without dividing by zero: from the
    product of the nonzero updates at each position and their number of zeros."""
    aval = core.get_aval(updates)
    dtype, shape = aval.dtype, aval.shape
    zero, one = np.asarray(0, dtype), np.asarray(1, dtype)
    is_zero = eq(updates, zero)
    safe = select_n(is_zero, updates, _full(shape, 1, dtype))
    product = scatter_mul_p.bind(_full(operand_shape, 1, dtype), indices, safe, **params)
    n_zeros = scatter_add_p.bind(_full(operand_shape, 0, dtype), indices,
                                 convert_element_type(is_zero, dtype), **params)
    product_here = _gather_updates(product, indices, shape, 0, **params)
    zeros_here = _gather_updates(n_zeros, indices, shape, 0, **params)
    nothing = _full(shape, 0, dtype)
    # A nonzero update: the others' product is product/u unless another update is 0. A zero
    # update: the product of the others is the nonzero product if it is the only zero.
    if_nonzero = select_n(eq(zeros_here, zero), nothing, div(product_here, safe))
    if_zero = select_n(eq(zeros_here, one), nothing, product_here)
    return select_n(is_zero, if_nonzero, if_zero)


def _scatter_mul_jvp(primals: list, tangents: list, **params: Any) -> tuple[Any, Any]:
    operand, indices, updates = primals
    t_operand, _, t_updates = tangents
    ans = scatter_mul_p.bind(operand, indices, updates, **params)
    aval = tangent_aval(core.get_aval(ans))
    out: Any = Zero(aval)
    if type(t_operand) is not Zero:
        out = scatter_mul_p.bind(t_operand, indices, updates, **params)
    if type(t_updates) is not Zero:
        # d(x * u1 * u2 ...) = x * sum_k du_k * (product of the others). JAX only handles
        # unique indices (out = x * u); this is exact for repeated indices and zeros too.
        others = _products_of_the_others(aval.shape, indices, updates, **params)
        summed = scatter_add_p.bind(zeros_like_aval(aval), indices, mul(t_updates, others),
                                    **params)
        out = add_tangents(out, mul(operand, summed))
    return ans, out


def _scatter_mul_transpose(ct: Any, operand: Any, indices: Any, updates: Any, **params: Any
                           ) -> list[Any]:
    """scatter_mul scales each operand element by the product of its updates: a diagonal
    map, its own transpose. It is not linear in the updates."""
    _not_linear_in_indices("scatter_mul", indices)
    if is_undefined(updates):
        raise ValueError("functrans: transpose of scatter_mul with respect to its updates; it "
                         "is linear in its operand only")
    return [scatter_mul_p.bind(ct, indices, updates, **params), None, None]


def _scatter_extremum_jvp(prim: Primitive) -> Callable:
    """scatter_min/scatter_max: the tangent of each result element is the mean tangent of the
    values (operand element and updates) that equal it, as for max and reduce_max; ties share
    it. A NaN result has no such value and gets a zero tangent."""

    def rule(primals: list, tangents: list, **params: Any) -> tuple[Any, Any]:
        operand, indices, updates = primals
        t_operand, _, t_updates = tangents
        ans = prim.bind(operand, indices, updates, **params)
        aval = tangent_aval(core.get_aval(ans))
        if type(t_operand) is Zero and type(t_updates) is Zero:
            return ans, Zero(aval)
        dtype = aval.dtype
        # Dropped updates read NaN back, which equals nothing: they never count.
        here = _gather_updates(ans, indices, core.get_aval(updates).shape, np.nan, **params)
        update_won = convert_element_type(eq(updates, here), dtype)
        operand_won = convert_element_type(eq(operand, ans), dtype)
        count = scatter_add_p.bind(operand_won, indices, update_won, **params)
        count = max_(count, np.asarray(1, dtype))  # 0 only at NaN results
        total = scatter_add_p.bind(mul(operand_won, instantiate(t_operand)), indices,
                                   mul(update_won, instantiate(t_updates)), **params)
        return ans, div(total, count)

    return rule


scatter_p, scatter = _scatter_family(
    "scatter", _replace, dt.ALL, "updates replace operand values",
    "are applied in order: the last one (in C order of updates) wins; JAX leaves the order "
    "unspecified", "set",
    jvp=_scatter_jvp, transpose=_scatter_transpose, linear_in=(0, 2))
scatter_add_p, scatter_add = _scatter_family(
    "scatter_add", _ufunc_at(np.add), dt.NUMERIC, "updates are added to operand values",
    "all add up (like np.add.at)", "add",
    jvp=_scatter_add_jvp, transpose=_scatter_add_transpose, linear_in=(0, 2))
scatter_mul_p, scatter_mul = _scatter_family(
    "scatter_mul", _ufunc_at(np.multiply), dt.NUMERIC,
    "operand values are multiplied by updates", "all multiply (like np.multiply.at)", "mul",
    jvp=_scatter_mul_jvp, transpose=_scatter_mul_transpose, linear_in=(0,))
scatter_min_p, scatter_min = _scatter_family(
    "scatter_min", _ufunc_at(np.minimum), dt.REAL + dt.BOOL,
    "the minimum of operand values and updates is kept",
    "all take part (like np.minimum.at; NaN propagates)", "min",
    jvp=JVPRule(_scatter_extremum_jvp))
scatter_max_p, scatter_max = _scatter_family(
    "scatter_max", _ufunc_at(np.maximum), dt.REAL + dt.BOOL,
    "the maximum of operand values and updates is kept",
    "all take part (like np.maximum.at; NaN propagates)", "max",
    jvp=JVPRule(_scatter_extremum_jvp))
