"""Collectives over named axes: psum, pmax, pmin, pmean, all_gather, all_to_all, ppermute,
psum_scatter, axis_index (JAX's ``lax`` names and semantics).

A collective only means something inside a ``vmap`` (later: a distributed map) that binds its
``axis_name``; its batching rule is where the communication happens (a reduction or a
transpose across the batch dimension). Outside such a map the wrappers raise. Imports core,
registry, batch_rules and the structural/reduction families.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import FunctransError
from functrans.primitives import elementwise, indexing, reductions, structural
from functrans.primitives.ad_rules import jvp_linear, jvp_zero
from functrans.primitives.batch_rules import AxisData, BatchRule, broadcast_batched, moveaxis
from functrans.primitives.registry import Primitive, define_primitive

__all__ = [
    "psum_p", "pmax_p", "pmin_p", "all_gather_p", "all_to_all_p", "ppermute_p",
    "psum_scatter_p", "axis_index_p", "psum", "pmax", "pmin", "pmean", "all_gather",
    "all_to_all", "ppermute", "psum_scatter", "axis_index", "axis_size",
]


class UnboundAxisNameError(FunctransError, NameError):
    """A collective names an axis that no enclosing vmap binds."""


def _names(axis_name: Any) -> tuple:
    return axis_name if isinstance(axis_name, tuple) else (axis_name,)


def _bound_names() -> set:
    names, trace = set(), core.current_trace()
    while trace is not None:
        axis = getattr(trace, "axis", None)
        if axis is not None and getattr(trace, "names_this_axis", None) is not None:
            names.add(axis.name)
        trace = trace.parent
    return names


def _check_bound(name: str, axis_name: Any) -> None:
    missing = [n for n in _names(axis_name) if n not in _bound_names()]
    if not missing:
        return
    axis_name = missing[0]
    raise UnboundAxisNameError(
        f"functrans.lax.{name}: unbound axis name {axis_name!r}. Collectives reduce over a "
        f"mapped axis: call this inside functrans.vmap(f, axis_name={axis_name!r}).")


def _unbound_impl(*args: Any, axis_name: Any, **params: Any) -> Any:
    raise UnboundAxisNameError(f"functrans: collective over axis {axis_name!r} evaluated "
                               f"outside the vmap that names it")


def _no_samples(dtype: np.dtype) -> list:
    return []


def _same(x: ShapedArray, **params: Any) -> ShapedArray:
    return x


def _for_this_axis(axis: AxisData, axis_name: Any) -> bool:
    return axis.name is not None and axis.name in _names(axis_name)


def _reduction_batch(reduce: Callable[[Any, tuple[int, ...]], Any]) -> BatchRule:
    """psum/pmax/pmin over this vmap's axis: ``reduce`` across the batch dimension, then the
    collective over the other named axes in the enclosing maps."""

    def build(prim: Primitive) -> Callable:
        def rule(axis: AxisData, vals: list, dims: list, axis_name: Any) -> tuple[Any, Any]:
            (x,), (d,) = vals, dims
            if not _for_this_axis(axis, axis_name):
                return prim.bind(x, axis_name=axis_name), d
            if d is not None:
                out = reduce(x, (d,))
            elif prim is psum_p:  # the same value in every example
                out = elementwise.mul(x, np.asarray(axis.size, core.get_aval(x).dtype))
            else:
                out = x
            rest = tuple(n for n in _names(axis_name) if n != axis.name)
            if rest:
                out = prim.bind(out, axis_name=rest if len(rest) > 1 else rest[0])
            return out, None

        return rule

    return BatchRule(build)


def _psum_transpose(ct: Any, x: Any, axis_name: Any) -> list[Any]:
    # y_i = sum_j x_j for every member i, so x_j's cotangent is sum_i ct_i.
    return [psum_p.bind(ct, axis_name=axis_name)]


psum_p = define_primitive(
    "psum", family="collective", impl=_unbound_impl, abstract_eval=_same, dtypes=dt.NUMERIC,
    sample=_no_samples, jvp=jvp_linear(), transpose=_psum_transpose, linear_in=(0,),
    batch=_reduction_batch(reductions.reduce_sum), doc="sum over the named mapped axis")
pmax_p = define_primitive(
    "pmax", family="collective", impl=_unbound_impl, abstract_eval=_same, dtypes=dt.REAL,
    sample=_no_samples, batch=_reduction_batch(reductions.reduce_max),
    doc="maximum over the named axis")
pmin_p = define_primitive(
    "pmin", family="collective", impl=_unbound_impl, abstract_eval=_same, dtypes=dt.REAL,
    sample=_no_samples, batch=_reduction_batch(reductions.reduce_min),
    doc="minimum over the named axis")


def psum(x: Any, axis_name: Any) -> Any:
    """Sum of ``x`` over the mapped axis ``axis_name`` (a pytree of arrays is summed leafwise)."""
    from functrans import tree_util
    _check_bound("psum", axis_name)
    return tree_util.tree_map(lambda leaf: psum_p.bind(leaf, axis_name=axis_name), x)


def pmax(x: Any, axis_name: Any) -> Any:
    from functrans import tree_util
    _check_bound("pmax", axis_name)
    return tree_util.tree_map(lambda leaf: pmax_p.bind(leaf, axis_name=axis_name), x)


def pmin(x: Any, axis_name: Any) -> Any:
    from functrans import tree_util
    _check_bound("pmin", axis_name)
    return tree_util.tree_map(lambda leaf: pmin_p.bind(leaf, axis_name=axis_name), x)


def axis_size(axis_name: Any) -> int:
    """The size of the mapped axis ``axis_name`` (a Python int)."""
    _check_bound("axis_size", axis_name)
    trace, size = core.current_trace(), 1
    for name in _names(axis_name):
        t = trace
        while t is not None and not (getattr(t, "names_this_axis", None) and
                                     t.names_this_axis(name)):
            t = t.parent
        size *= t.axis.size  # type: ignore[union-attr]
    return size


def pmean(x: Any, axis_name: Any) -> Any:
    """Mean of ``x`` over the mapped axis ``axis_name``."""
    from functrans import tree_util
    n = axis_size(axis_name)
    total = psum(x, axis_name)
    return tree_util.tree_map(
        lambda t: elementwise.div(t, np.asarray(n, core.get_aval(t).dtype)), total)


# --- all_gather, psum_scatter, all_to_all, ppermute ---------------------------------------------


def _all_gather_abstract(x: ShapedArray, *, axis_name: Any, axis: int, tiled: bool,
                         axis_size: int) -> ShapedArray:
    if tiled:
        shape = list(x.shape)
        shape[axis] *= axis_size
        return ShapedArray(tuple(shape), x.dtype, x.weak_type)
    return ShapedArray(x.shape[:axis] + (axis_size,) + x.shape[axis:], x.dtype, x.weak_type)


def _gather_along(axis_data: AxisData, x: Any, d: int | None, out_axis: int, tiled: bool
                  ) -> Any:
    if d is None:
        x, d = broadcast_batched(x, axis_data.size, 0), 0
    stacked = moveaxis(x, d, out_axis)
    if not tiled:
        return stacked
    shape = core.get_aval(stacked).shape
    merged = shape[:out_axis] + (shape[out_axis] * shape[out_axis + 1],) + shape[out_axis + 2:]
    return structural.reshape(stacked, merged)


def _all_gather_rule(axis_data: AxisData, vals: list, dims: list, *, axis_name: Any,
                     axis: int, tiled: bool, axis_size: int) -> tuple[Any, Any]:
    (x,), (d,) = vals, dims
    if not _for_this_axis(axis_data, axis_name):
        return all_gather_p.bind(x, axis_name=axis_name, axis=axis, tiled=tiled,
                                 axis_size=axis_size), d
    return _gather_along(axis_data, x, d, axis, tiled), None


def _all_gather_transpose(ct: Any, x: Any, *, axis_name: Any, axis: int, tiled: bool,
                          axis_size: int) -> list[Any]:
    return [psum_scatter_p.bind(ct, axis_name=axis_name, scatter_dimension=axis, tiled=tiled,
                                axis_size=axis_size)]


all_gather_p = define_primitive(
    "all_gather", family="collective", impl=_unbound_impl,
    abstract_eval=_all_gather_abstract, dtypes=dt.ALL, sample=_no_samples, jvp=jvp_linear(),
    transpose=_all_gather_transpose, linear_in=(0,), batch=_all_gather_rule,
    doc="every member's value, stacked (or concatenated, tiled=True) along axis")


def all_gather(x: Any, axis_name: Any, *, axis: int = 0, tiled: bool = False) -> Any:
    """Gather ``x`` from every member of the mapped axis, stacked along ``axis``."""
    from functrans import tree_util
    _check_bound("all_gather", axis_name)
    n = axis_size(axis_name)

    def one(leaf: Any) -> Any:
        ndim = len(core.get_aval(leaf).shape)
        ax = axis % (ndim + (0 if tiled else 1)) if ndim or not tiled else 0
        return all_gather_p.bind(leaf, axis_name=axis_name, axis=ax, tiled=tiled, axis_size=n)

    return tree_util.tree_map(one, x)


def _psum_scatter_abstract(x: ShapedArray, *, axis_name: Any, scatter_dimension: int,
                           tiled: bool, axis_size: int) -> ShapedArray:
    shape = list(x.shape)
    if tiled:
        shape[scatter_dimension] //= axis_size
    else:
        del shape[scatter_dimension]
    return ShapedArray(tuple(shape), x.dtype, x.weak_type)


def _psum_scatter_rule(axis_data: AxisData, vals: list, dims: list, *, axis_name: Any,
                       scatter_dimension: int, tiled: bool, axis_size: int) -> tuple[Any, Any]:
    (x,), (d,) = vals, dims
    if not _for_this_axis(axis_data, axis_name):
        return psum_scatter_p.bind(x, axis_name=axis_name, scatter_dimension=scatter_dimension,
                                   tiled=tiled, axis_size=axis_size), d
    n = axis_data.size
    if d is None:
        x, d = broadcast_batched(x, n, 0), 0
    total = reductions.reduce_sum(x, (d,))  # what every member would sum
    shape = core.get_aval(total).shape
    if tiled:
        k = shape[scatter_dimension] // n
        split = structural.reshape(total, shape[:scatter_dimension] + (n, k)
                                   + shape[scatter_dimension + 1:])
        return split, scatter_dimension
    return total, scatter_dimension


def _psum_scatter_transpose(ct: Any, x: Any, *, axis_name: Any, scatter_dimension: int,
                            tiled: bool, axis_size: int) -> list[Any]:
    return [all_gather_p.bind(ct, axis_name=axis_name, axis=scatter_dimension, tiled=tiled,
                              axis_size=axis_size)]


psum_scatter_p = define_primitive(
    "psum_scatter", family="collective", impl=_unbound_impl,
    abstract_eval=_psum_scatter_abstract, dtypes=dt.NUMERIC, sample=_no_samples,
    jvp=jvp_linear(), transpose=_psum_scatter_transpose, linear_in=(0,),
    batch=_psum_scatter_rule,
    doc="psum, then each member keeps its own slice along scatter_dimension")


def psum_scatter(x: Any, axis_name: Any, *, scatter_dimension: int = 0, tiled: bool = False
                 ) -> Any:
    """Sum over the mapped axis and give member i the i-th slice along scatter_dimension."""
    _check_bound("psum_scatter", axis_name)
    n = axis_size(axis_name)
    size = core.get_aval(x).shape[scatter_dimension]
    if (tiled and size % n) or (not tiled and size != n):
        shape = core.get_aval(x).shape
        raise ValueError(f"functrans.lax.psum_scatter: dimension {scatter_dimension} of "
                         f"{shape} must be {'divisible by' if tiled else 'equal to'} the axis "
                         f"size {n}")
    return psum_scatter_p.bind(x, axis_name=axis_name, scatter_dimension=scatter_dimension,
                               tiled=tiled, axis_size=n)


def _all_to_all_abstract(x: ShapedArray, *, axis_name: Any, split_axis: int, concat_axis: int,
                         axis_size: int) -> ShapedArray:
    shape = list(x.shape)
    del shape[split_axis]
    shape.insert(concat_axis, axis_size)
    return ShapedArray(tuple(shape), x.dtype, x.weak_type)


def _all_to_all_rule(axis_data: AxisData, vals: list, dims: list, *, axis_name: Any,
                     split_axis: int, concat_axis: int, axis_size: int) -> tuple[Any, Any]:
    """Member i's output holds, at position j of concat_axis, member j's slice i of
    split_axis: the batch dimension and the split axis trade places."""
    (x,), (d,) = vals, dims
    if not _for_this_axis(axis_data, axis_name):
        return all_to_all_p.bind(x, axis_name=axis_name, split_axis=split_axis,
                                 concat_axis=concat_axis, axis_size=axis_size), d
    if d is None:
        x, d = broadcast_batched(x, axis_data.size, 0), 0
    x = moveaxis(x, d, 0)  # (B_members, *example) with example[split_axis] == B
    ndim = len(core.get_aval(x).shape) - 1
    split = split_axis + 1
    # New batch dim: the split axis. Per-example axes: the others, with the old batch (the
    # member index j) inserted at concat_axis.
    rest = [i for i in range(1, ndim + 1) if i != split]
    rest.insert(concat_axis, 0)
    return structural.transpose(x, (split, *rest)), 0


def _all_to_all_transpose(ct: Any, x: Any, *, axis_name: Any, split_axis: int,
                          concat_axis: int, axis_size: int) -> list[Any]:
    return [all_to_all_p.bind(ct, axis_name=axis_name, split_axis=concat_axis,
                              concat_axis=split_axis, axis_size=axis_size)]


all_to_all_p = define_primitive(
    "all_to_all", family="collective", impl=_unbound_impl,
    abstract_eval=_all_to_all_abstract, dtypes=dt.ALL, sample=_no_samples, jvp=jvp_linear(),
    transpose=_all_to_all_transpose, linear_in=(0,), batch=_all_to_all_rule,
    doc="member i sends slice j of split_axis to member j, which stacks them on concat_axis")


def all_to_all(x: Any, axis_name: Any, split_axis: int, concat_axis: int, *,
               tiled: bool = False) -> Any:
    """Exchange slices between members of the mapped axis (untiled: split_axis must have the
    axis size and is replaced by a member axis at concat_axis)."""
    _check_bound("all_to_all", axis_name)
    if tiled:
        raise NotImplementedError("functrans.lax.all_to_all: tiled=True is not supported yet")
    n = axis_size(axis_name)
    shape = core.get_aval(x).shape
    if shape[split_axis] != n:
        raise ValueError(f"functrans.lax.all_to_all: split_axis {split_axis} of {shape} must "
                         f"have the axis size {n}")
    return all_to_all_p.bind(x, axis_name=axis_name, split_axis=split_axis,
                             concat_axis=concat_axis, axis_size=n)


def _ppermute_rule(axis_data: AxisData, vals: list, dims: list, *, axis_name: Any,
                   perm: tuple) -> tuple[Any, Any]:
    (x,), (d,) = vals, dims
    if not _for_this_axis(axis_data, axis_name):
        return ppermute_p.bind(x, axis_name=axis_name, perm=perm), d
    n = axis_data.size
    if d is None:
        x, d = broadcast_batched(x, n, 0), 0
    x = moveaxis(x, d, 0)
    source = np.zeros(n, np.int32)
    receives = np.zeros(n, bool)
    for src, dst in perm:
        source[dst], receives[dst] = src, True
    shape = core.get_aval(x).shape
    dnums = indexing.GatherDimensionNumbers(
        offset_dims=tuple(range(1, len(shape))), collapsed_slice_dims=(0,),
        start_index_map=(0,))
    moved = indexing.gather(x, source.reshape(n, 1), dnums, (1, *shape[1:]))
    mask = structural.broadcast_in_dim(receives, shape, (0,))
    zeros = structural.broadcast_in_dim(np.zeros((), core.get_aval(x).dtype), shape, ())
    return elementwise.select_n(mask, zeros, moved), 0


def _ppermute_transpose(ct: Any, x: Any, *, axis_name: Any, perm: tuple) -> list[Any]:
    return [ppermute_p.bind(ct, axis_name=axis_name, perm=tuple((d, s) for s, d in perm))]


ppermute_p = define_primitive(
    "ppermute", family="collective", impl=_unbound_impl, abstract_eval=_same, dtypes=dt.ALL,
    sample=_no_samples, jvp=jvp_linear(), transpose=_ppermute_transpose, linear_in=(0,),
    batch=_ppermute_rule,
    doc="member dst receives member src's value for each (src, dst) in perm; others get 0")


def ppermute(x: Any, axis_name: Any, perm: Sequence[tuple[int, int]]) -> Any:
    """Send ``x`` from member src to member dst for each pair in ``perm``; members that
    receive nothing get zeros."""
    from functrans import tree_util
    _check_bound("ppermute", axis_name)
    n = axis_size(axis_name)
    perm = tuple((int(s), int(d)) for s, d in perm)
    dsts = [d for _, d in perm]
    if len(set(dsts)) != len(dsts) or len({s for s, _ in perm}) != len(perm) or any(
            not (0 <= i < n) for pair in perm for i in pair):
        raise ValueError(f"functrans.lax.ppermute: perm must pair distinct sources with "
                         f"distinct destinations in range({n}), got {perm}")
    return tree_util.tree_map(lambda leaf: ppermute_p.bind(leaf, axis_name=axis_name,
                                                           perm=perm), x)


def _axis_index_abstract(*, axis_name: Any) -> ShapedArray:
    return ShapedArray((), dt.int32)


def _axis_index_rule(axis_data: AxisData, vals: list, dims: list, *, axis_name: Any
                     ) -> tuple[Any, Any]:
    if not _for_this_axis(axis_data, axis_name):
        return axis_index_p.bind(axis_name=axis_name), None
    return structural.iota(dt.int32, axis_data.size), 0


axis_index_p = define_primitive(
    "axis_index", family="collective", impl=_unbound_impl,
    abstract_eval=_axis_index_abstract, dtypes=(dt.int32,), sample=_no_samples,
    jvp=jvp_zero(), batch=_axis_index_rule, doc="this member's index along the named axis")


def axis_index(axis_name: Any) -> Any:
    """The index of the current example along the mapped axis ``axis_name`` (int32)."""
    _check_bound("axis_index", axis_name)
    return axis_index_p.bind(axis_name=axis_name)
