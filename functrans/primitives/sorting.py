"""Sorting primitives: sort (several operands by the first ``num_keys`` of them) and top_k.

Both use ``lax``'s total order, which is NumPy's: NaNs sort after everything and are equal to
each other, -0.0 equals 0.0, and complex numbers compare by (real, imag). Both are stable
(ties keep their original order), also when ``is_stable=False`` asks for less, and have several
results. Tangents follow the permutation, gathered with ``gather``. Batched, they sort along
the shifted axis (sort's operands first get a common batch dimension). Imports ``core``,
``registry``, ``rules``, ``ad_rules``, ``batch_rules``, ``structural``, ``indexing`` and
``reductions``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import ShapeError
from functrans.primitives import rules
from functrans.primitives.ad_rules import Zero, tangent_aval
from functrans.primitives.batch_rules import AxisData, broadcast_batched, moveaxis, shift_axis
from functrans.primitives.indexing import PROMISE_IN_BOUNDS, GatherDimensionNumbers, gather
from functrans.primitives.reductions import normalize_axis
from functrans.primitives.registry import Example, define_primitive
from functrans.primitives.structural import broadcasted_iota, expand_dims

__all__ = ["sort", "sort_key_val", "top_k", "sort_p", "top_k_p"]

_ALL, _ORDERED = frozenset(dt.ALL), frozenset(dt.REAL + dt.BOOL)


def _slice_along(axis: int, ndim: int, s: slice) -> tuple[slice, ...]:
    return (slice(None),) * axis + (s,) + (slice(None),) * (ndim - axis - 1)


def _take_along_axis(t: Any, indices: Any, axis: int) -> Any:
    """``np.take_along_axis(t, indices, axis)`` as one gather, linear in ``t`` (its transpose
    scatters back). The other axes are gather batching dimensions, as in JAX's
    take_along_axis; the indices are in bounds and distinct along ``axis``."""
    aval, out_shape = core.get_aval(t), core.get_aval(indices).shape
    if 0 in aval.shape or 0 in out_shape:
        # An empty result, and gather's size-1 window would not fit an empty operand anyway.
        return Zero(ShapedArray(out_shape, aval.dtype))
    ndim = aval.ndim
    others = tuple(d for d in range(ndim) if d != axis)
    dnums = GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(axis,),
                                   start_index_map=(axis,), operand_batching_dims=others,
                                   start_indices_batching_dims=others)
    return gather(t, expand_dims(indices, (ndim,)), dnums, (1,) * ndim, unique_indices=True,
                  mode=PROMISE_IN_BOUNDS)


def _differentiable_samples(dtype: np.dtype) -> bool:
    """Samples of inexact dtypes are differentiable points, because the registry checks
    derivatives on them: no ties between inexact keys (which of two tied keys comes first
    would depend on the perturbation) and no NaN or inf; tests/test_sorting.py covers those."""
    return dtype.kind in "fc"


# --- sort ---------------------------------------------------------------------------------------


def _sort_permutation(keys: Sequence[np.ndarray], dimension: int) -> np.ndarray:
    """Indices that stably sort along ``dimension`` by ``keys``, most significant first."""
    # NumPy's comparisons on real keys are lax's order already; a complex key becomes two real
    # keys, because NumPy's own complex order treats NaN parts differently.
    flat = [part for k in keys for part in ((k.real, k.imag) if k.dtype.kind == "c" else (k,))]
    if len(flat) == 1:
        return np.argsort(flat[0], axis=dimension, kind="stable")
    return np.lexsort(flat[::-1], axis=dimension)  # lexsort's last key is the primary one


def _sort_impl(*operands: np.ndarray, dimension: int, is_stable: bool, num_keys: int
               ) -> list[np.ndarray]:
    if len(operands) == 1 and operands[0].dtype.kind != "c":
        return [np.sort(operands[0], axis=dimension, kind="stable")]
    perm = _sort_permutation(operands[:num_keys], dimension)
    return [np.take_along_axis(op, perm, axis=dimension) for op in operands]


def _sort_rule(*operands: ShapedArray, dimension: int, is_stable: bool, num_keys: int
               ) -> list[ShapedArray]:
    if not operands:
        raise TypeError("functrans.lax.sort: needs at least one operand")
    for i, op in enumerate(operands):
        rules.check_dtype("sort", op, _ALL, what=f"operand {i}")
    shape = operands[0].shape
    if any(op.shape != shape for op in operands):
        raise ShapeError(f"functrans.lax.sort: operands must all have the same shape, got "
                         f"{', '.join(op.str_short() for op in operands)}")
    rules.check_axis("sort", "dimension", dimension, operands[0])
    if not isinstance(is_stable, (bool, np.bool_)):
        raise TypeError(f"functrans.lax.sort: is_stable must be a bool, got {is_stable!r}")
    if not isinstance(num_keys, (int, np.integer)) or isinstance(num_keys, bool):
        raise TypeError(f"functrans.lax.sort: num_keys must be an int, got {num_keys!r}")
    if not 1 <= num_keys <= len(operands):
        raise ValueError(f"functrans.lax.sort: num_keys={num_keys} must be between 1 and the "
                         f"number of operands ({len(operands)})")
    return list(operands)


def _sort_sample(dtype: np.dtype) -> list[Example]:
    def params(dimension: int, num_keys: int = 1, is_stable: bool = True) -> dict:
        return {"dimension": dimension, "is_stable": is_stable, "num_keys": num_keys}

    def arr(shape: tuple[int, ...], seed: int, d: np.dtype = dtype) -> np.ndarray:
        return rules.sample_array(shape, d, seed=seed)

    # Ties between keys of an inexact dtype are not differentiable points: there the tied keys
    # are integers and the dtype's values ride along.
    smooth = _differentiable_samples(dtype)
    ties = np.array([[1, 0, 1, 0, 1], [0, 0, 1, 1, 0]]).astype(np.int32 if smooth else dtype)
    positions = np.arange(10, dtype=np.int32).reshape(2, 5)
    return [
        Example((arr((4,), 1),), params(0)),
        Example((arr((2, 3), 2),), params(0)),
        Example((arr((2, 3), 3),), params(1, is_stable=False), note="unstable"),
        Example((arr((0,), 4),), params(0)),
        Example((arr((2, 0), 5),), params(1)),
        Example((arr((3, 0), 6),), params(0), note="empty-other-axis"),
        Example((ties, arr((2, 5), 9) if smooth else positions), params(1), note="key-val"),
        Example((ties, arr((2, 5), 7), positions), params(1, num_keys=2), note="two-keys"),
        Example((arr((2, 5), 8, dt.bool_), ties.astype(dtype)), params(1), note="bool-key"),
    ]


def _sort_jvp(primals: list, tangents: list, *, dimension: int, is_stable: bool,
              num_keys: int) -> tuple[list, list]:
    """JAX's rule: sort an iota along as one more (non-key) operand to learn the permutation,
    then gather every tangent with it. Gathering is linear in the tangent (carrying tangents as
    extra sort operands would not be: sort has no transpose)."""
    shape = core.get_aval(primals[0]).shape
    iota = broadcasted_iota(np.int32, shape, dimension)
    *out, perm = sort_p.bind(*primals, iota, dimension=dimension, is_stable=is_stable,
                             num_keys=num_keys)
    out_tangents = [Zero(tangent_aval(core.get_aval(o))) if type(t) is Zero
                    else _take_along_axis(t, perm, dimension)
                    for o, t in zip(out, tangents, strict=True)]
    return out, out_tangents


def _sort_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                dimension: int, is_stable: bool, num_keys: int) -> tuple[list, list]:
    """JAX's rule: the operands must have one shape, so every operand gets its batch dimension
    where the first batched operand has it (moved there, or broadcast in if unbatched), and
    the sort runs along the shifted ``dimension``."""
    bdim = next(d for d in dims if d is not None)
    ops = [broadcast_batched(v, axis.size, bdim) if d is None else moveaxis(v, d, bdim)
           for v, d in zip(vals, dims, strict=True)]
    out = sort_p.bind(*ops, dimension=shift_axis(dimension, bdim), is_stable=is_stable,
                      num_keys=num_keys)
    return out, [bdim] * len(out)


sort_p = define_primitive(
    "sort", family="sort", impl=_sort_impl, abstract_eval=_sort_rule, dtypes=dt.ALL,
    sample=_sort_sample, multiple_results=True, jvp=_sort_jvp, batch=_sort_batch,
    doc="stably sort all operands along dimension by the first num_keys (NaN last)")


def sort(operand: Any, dimension: int = -1, is_stable: bool = True, num_keys: int = 1) -> Any:
    """Sort along ``dimension``. ``operand`` is one array (the sorted array is returned) or a
    sequence of same-shape arrays (a tuple is returned), all permuted by the lexicographic
    order of the first ``num_keys``. NaNs sort last; -0.0 and 0.0 are equal."""
    is_sequence = isinstance(operand, Sequence)
    operands = tuple(operand) if is_sequence else (operand,)
    if not operands:
        raise TypeError("functrans.lax.sort: needs at least one operand")
    if not is_sequence and num_keys != 1:
        raise ValueError(f"functrans.lax.sort: num_keys={num_keys} must be 1 for a single "
                         f"operand")
    ndim = core.get_aval(operands[0]).ndim
    out = sort_p.bind(*operands, dimension=normalize_axis(dimension, ndim),
                      is_stable=bool(is_stable), num_keys=operator.index(num_keys))
    return tuple(out) if is_sequence else out[0]


def sort_key_val(keys: Any, values: Any, dimension: int = -1, is_stable: bool = True
                 ) -> tuple[Any, Any]:
    """Sort ``keys`` along ``dimension`` and permute ``values`` the same way."""
    ndim = core.get_aval(keys).ndim
    sorted_keys, sorted_values = sort_p.bind(
        keys, values, dimension=normalize_axis(dimension, ndim), is_stable=bool(is_stable),
        num_keys=1)
    return sorted_keys, sorted_values


# --- top_k --------------------------------------------------------------------------------------


def _top_k_impl(x: np.ndarray, *, k: int, axis: int) -> list[np.ndarray]:
    n = x.shape[axis]
    # A stable ascending sort of the flipped operand, read backwards, is a descending sort in
    # which equal values keep their original order (lower index first) and NaNs come first.
    ascending = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    first_k = np.flip(ascending, axis)[_slice_along(axis, x.ndim, slice(0, k))]
    indices = (n - 1) - first_k
    return [np.take_along_axis(x, indices, axis=axis), indices.astype(np.int32)]


def _top_k_rule(operand: ShapedArray, *, k: int, axis: int) -> list[ShapedArray]:
    rules.check_dtype("top_k", operand, _ORDERED)
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise TypeError(f"functrans.lax.top_k: k must be an int, got {k!r}")
    if k < 0:
        raise ValueError(f"functrans.lax.top_k: k must be non-negative, got {k}")
    rules.check_axis("top_k", "axis", axis, operand)
    size = operand.shape[axis]
    if k > size:
        raise ShapeError(f"functrans.lax.top_k: k={k} is larger than axis {axis} of "
                         f"{operand.str_short()} (size {size})")
    if size > np.iinfo(np.int32).max + 1:
        raise ShapeError(f"functrans.lax.top_k: axis {axis} of {operand.str_short()} is too "
                         f"long for the int32 indices top_k returns")
    shape = operand.shape[:axis] + (k,) + operand.shape[axis + 1:]
    return [ShapedArray(shape, operand.dtype, operand.weak_type),
            ShapedArray(shape, dt.int32, False)]


def _top_k_sample(dtype: np.dtype) -> list[Example]:
    def arr(shape: tuple[int, ...], seed: int) -> np.ndarray:
        return rules.sample_array(shape, dtype, seed=seed)

    out = [
        Example((arr((5,), 1),), {"k": 2, "axis": 0}),
        Example((arr((5,), 2),), {"k": 0, "axis": 0}),
        Example((arr((5,), 3),), {"k": 5, "axis": 0}),
        Example((arr((2, 4), 4),), {"k": 3, "axis": 1}),
        Example((arr((3, 2), 5),), {"k": 2, "axis": 0}, note="axis0"),
        Example((arr((0,), 6),), {"k": 0, "axis": 0}),
        Example((arr((0, 4), 7),), {"k": 2, "axis": 1}, note="empty-other-axis"),
    ]
    if not _differentiable_samples(dtype):
        out.append(Example((np.array([[1, 0, 1, 1], [0, 0, 0, 1]]).astype(dtype),),
                           {"k": 3, "axis": 1}, note="ties"))
    return out


def _top_k_jvp(primals: list, tangents: list, *, k: int, axis: int) -> tuple[list, list]:
    # The values' tangent is the tangent at the returned indices; the indices have none.
    (x,), (t,) = primals, tangents
    values, indices = top_k_p.bind(x, k=k, axis=axis)
    values_t = (Zero(tangent_aval(core.get_aval(values))) if type(t) is Zero
                else _take_along_axis(t, indices, axis))
    return [values, indices], [values_t, Zero(tangent_aval(core.get_aval(indices)))]


def _top_k_batch(batch_axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                 k: int, axis: int) -> tuple[list, list]:
    # Our top_k takes its axis as a param, so the batch dimension stays where it is and the
    # axis shifts past it (JAX's top_k works on the last axis only and swaps a last batch
    # dimension out of the way).
    (operand,), (bdim,) = vals, dims
    return top_k_p.bind(operand, k=k, axis=shift_axis(axis, bdim)), [bdim, bdim]


top_k_p = define_primitive(
    "top_k", family="sort", impl=_top_k_impl, abstract_eval=_top_k_rule, dtypes=_ORDERED,
    sample=_top_k_sample, multiple_results=True, jvp=_top_k_jvp, batch=_top_k_batch,
    doc="the k largest values along axis, descending, and their int32 indices")


def top_k(operand: Any, k: int, *, axis: int = -1) -> tuple[Any, Any]:
    """The ``k`` largest entries of ``operand`` along ``axis`` (the last by default), in
    descending order, and their int32 indices. Equal values keep index order; NaN counts as
    the largest value."""
    ndim = core.get_aval(operand).ndim
    values, indices = top_k_p.bind(operand, k=operator.index(k),
                                   axis=normalize_axis(axis, ndim))
    return values, indices
