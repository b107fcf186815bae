"""Sorting and everything built on it in ``functrans.numpy``: sort/argsort/lexsort/partition,
searchsorted/digitize, unique (eagerly, or with JAX's ``size=`` under tracing) and the set
functions, quantile/percentile/median (NaN-aware variants too), histogram/bincount.

All of it binds ``lax.sort`` (stable, NaN last, -0.0 == 0.0: NumPy's order), gathers, scatters
and cumulative sums, so gradients flow through the sorted values. Result sizes that depend on
values need either concrete inputs or ``size=``. Imports ``lax`` and the fnp modules.
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from functrans import core, lax
from functrans import dtypes as dt
from functrans.core import Array
from functrans.errors import ConcretizationTypeError, DtypeError, ShapeError
from functrans.numpy import _creation, _reductions, _selection, _shape, _ufuncs
from functrans.numpy._indexing import _as_array, _take
from functrans.numpy._numeric import _inexact_dtype
from functrans.numpy._promotion import (
    asarray_leaf, broadcast_to, canonical_axes, canonical_axis, cast, promote_args_inexact,
    promote_dtypes, shape_of, typeof,
)

__all__ = [
    "argpartition", "argsort", "bincount", "digitize", "histogram", "histogram2d",
    "histogram_bin_edges", "histogramdd", "intersect1d", "isin", "lexsort", "median",
    "nanmedian", "nanpercentile", "nanquantile", "partition", "percentile", "quantile",
    "searchsorted", "setdiff1d", "setxor1d", "sort", "sort_complex", "union1d", "unique",
    "unique_all", "unique_counts", "unique_inverse", "unique_values",
]

_INDEX = dt.int32  # JAX's default index dtype


def _err(name: str, msg: str) -> str:
    return f"functrans.numpy.{name}: {msg}"


# --- sort, argsort, lexsort, partition ----------------------------------------------------------


def _check_sort_args(name: str, kind: Any, order: Any) -> None:
    if order is not None:
        raise NotImplementedError(_err(name, "order= (structured arrays) is not supported"))
    del kind  # every sort is stable; the algorithm is not selectable


def sort(a: Any, axis: int | None = -1, *, kind: Any = None, order: Any = None,
         stable: bool = True, descending: bool = False) -> Any:
    """A sorted copy of ``a`` along ``axis`` (the flattened array when None), like numpy.sort.
    NaNs sort last (first with ``descending=True``); complex numbers by (real, imag)."""
    _check_sort_args("sort", kind, order)
    a = _as_array(a)
    if axis is None:
        a, axis = _shape.ravel(a), 0
    ndim = len(shape_of(a))
    if not ndim:
        raise np.exceptions.AxisError(_err("sort", f"axis {axis} is out of bounds for a 0-d "
                                                   f"array; pass axis=None"))
    axis = canonical_axis("sort", axis, ndim)
    out = lax.sort(a, dimension=axis, is_stable=stable)
    return lax.rev(out, (axis,)) if descending else out


def argsort(a: Any, axis: int | None = -1, *, kind: Any = None, order: Any = None,
            stable: bool = True, descending: bool = False, dtype: Any = None) -> Any:
    """The indices that sort ``a`` along ``axis`` (stable: equal elements keep their order,
    also with ``descending=True``), like numpy.argsort. Indices are int32 (as in JAX)."""
    _check_sort_args("argsort", kind, order)
    a = _as_array(a)
    if axis is None:
        a, axis = _shape.ravel(a), 0
    ndim = len(shape_of(a))
    if not ndim:
        raise np.exceptions.AxisError(_err("argsort", f"axis {axis} is out of bounds for a 0-d "
                                                      f"array; pass axis=None"))
    axis = canonical_axis("argsort", axis, ndim)
    index_dtype = _INDEX if dtype is None else dt.canonicalize(dtype)
    n = shape_of(a)[axis]
    if descending:
        # Sort the reversed array and reverse back: ties then keep their original order.
        a = lax.rev(a, (axis,))
    iota = lax.broadcasted_iota(index_dtype, shape_of(a), axis)
    _, idx = lax.sort((a, iota), dimension=axis, is_stable=True, num_keys=1)
    if descending:
        idx = lax.sub(np.asarray(n - 1, index_dtype), lax.rev(idx, (axis,)))
    return idx


def lexsort(keys: Any, axis: int = -1) -> Any:
    """Indices that sort by several keys, the last key primary (like numpy.lexsort)."""
    if isinstance(keys, (list, tuple)):
        ks = [_as_array(k) for k in keys]
    else:
        k = _as_array(keys)
        if not shape_of(k):
            raise TypeError(_err("lexsort", "keys must be a sequence of arrays or an array of "
                                            "rank >= 1"))
        ks = [k[i] for i in range(shape_of(k)[0])]
    if not ks:
        raise TypeError(_err("lexsort", "need at least one key"))
    shapes = {shape_of(k) for k in ks}
    if len(shapes) != 1:
        raise ShapeError(_err("lexsort", f"all keys need to be the same shape, got "
                                         f"{', '.join(str(shape_of(k)) for k in ks)}"))
    shape = shapes.pop()
    if not shape:
        return _creation.asarray(0, _INDEX)
    axis = canonical_axis("lexsort", axis, len(shape))
    iota = lax.broadcasted_iota(_INDEX, shape, axis)
    out = lax.sort(tuple(reversed(ks)) + (iota,), dimension=axis, is_stable=True,
                   num_keys=len(ks))
    return out[-1]


def _check_kth(name: str, kth: Any, n: int) -> None:
    ks = np.atleast_1d(np.asarray(kth))
    if ks.dtype.kind not in "iu":
        raise TypeError(_err(name, f"kth must be an integer or a sequence of integers, got "
                                   f"{kth!r}"))
    bad = ks[(ks < -n) | (ks >= n)]
    if bad.size:
        raise ValueError(_err(name, f"kth(={int(bad[0])}) out of bounds for an axis of size "
                                    f"{n}"))


def partition(a: Any, kth: int | Sequence[int], axis: int = -1) -> Any:
    """A copy of ``a`` whose ``kth`` element along ``axis`` is where sorting would put it, with
    no larger elements before and no smaller ones after (like numpy.partition). The whole axis
    is sorted, which satisfies every ``kth`` at once."""
    a = _as_array(a)
    if not shape_of(a):
        raise ValueError(_err("partition", "a must be at least 1-d"))
    ax = canonical_axis("partition", axis, len(shape_of(a)))
    _check_kth("partition", kth, shape_of(a)[ax])
    return sort(a, ax)


def argpartition(a: Any, kth: int | Sequence[int], axis: int = -1) -> Any:
    """Indices that partition ``a`` (see ``partition``; the full argsort is used)."""
    a = _as_array(a)
    if not shape_of(a):
        raise ValueError(_err("argpartition", "a must be at least 1-d"))
    ax = canonical_axis("argpartition", axis, len(shape_of(a)))
    _check_kth("argpartition", kth, shape_of(a)[ax])
    return argsort(a, ax)


def sort_complex(a: Any) -> Any:
    """``a`` sorted along its last axis, as complex numbers (like numpy.sort_complex)."""
    a = sort(a, axis=-1)
    d = typeof(a)[0]
    if d.kind == "c":
        return a
    target = dt.complex128 if d == dt.float64 else dt.canonicalize(complex)
    return cast(a, target)


# --- searchsorted, digitize ---------------------------------------------------------------------


def _less(x: Any, y: Any) -> Any:
    """``x < y`` in NumPy's sort order (NaN after everything; complex by (real, imag))."""
    d = typeof(x)[0]
    if d.kind == "c":
        rx, ry = lax.real(x), lax.real(y)
        return _ufuncs.logical_or(_less(rx, ry), _ufuncs.logical_and(
            lax.eq(rx, ry), _less(lax.imag(x), lax.imag(y))))
    if d.kind == "b":
        return lax.bitwise_and(lax.bitwise_not(x), y)
    if d.kind != "f":
        return lax.lt(x, y)
    return lax.bitwise_or(lax.lt(x, y), lax.bitwise_and(lax.ne(y, y), lax.eq(x, x)))


def searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None, *,
                 method: str = "scan") -> Any:
    """Insertion points of ``v`` in the sorted 1-d ``a`` (like numpy.searchsorted; NaN
    sorts last). ``method`` 'scan'/'scan_unrolled'/'sort' run a binary search (log2(n) gathers),
    'compare_all' compares every pair. Indices are int32."""
    if side not in ("left", "right"):
        raise ValueError(_err("searchsorted", f"side must be 'left' or 'right', got {side!r}"))
    if method not in ("scan", "scan_unrolled", "sort", "compare_all"):
        raise ValueError(_err("searchsorted", f"method must be 'scan', 'scan_unrolled', 'sort' "
                                              f"or 'compare_all', got {method!r}"))
    a, v = _as_array(a), asarray_leaf(v)
    if len(shape_of(a)) != 1:
        raise ValueError(_err("searchsorted", f"a must be 1-d, got shape {shape_of(a)}"))
    if sorter is not None:
        a = _selection.take(a, sorter, mode="clip")
    a, v = promote_dtypes(a, v)
    n = shape_of(a)[0]

    def goes_right(probe: Any) -> Any:
        # left: the answer is after every element < v; right: after every element <= v.
        return _less(probe, v) if side == "left" else lax.bitwise_not(_less(v, probe))

    if n == 0:
        return _creation.full(shape_of(v), 0, _INDEX)
    if method == "compare_all":
        vv = lax.broadcast_in_dim(v, shape_of(v) + (n,), tuple(range(len(shape_of(v)))))
        aa = lax.broadcast_in_dim(a, shape_of(v) + (n,), (len(shape_of(v)),))
        probe = _less(aa, vv) if side == "left" else lax.bitwise_not(_less(vv, aa))
        return _reductions.sum(probe, axis=-1, dtype=_INDEX)
    lo = _creation.full(shape_of(v), 0, _INDEX)
    hi = _creation.full(shape_of(v), n, _INDEX)
    one = np.ones((), _INDEX)
    for _ in range(n.bit_length()):
        mid = lax.shift_right_logical(lax.add(lo, hi), one)
        probe = _selection.take(a, lax.min(mid, np.asarray(n - 1, _INDEX)), mode="clip")
        right = lax.bitwise_and(goes_right(probe), lax.lt(lo, hi))
        lo = lax.select_n(right, lo, lax.add(mid, one))
        hi = lax.select_n(lax.bitwise_and(lax.bitwise_not(right), lax.lt(lo, hi)), hi,
                          lax.min(hi, mid))
    return lo


def digitize(x: Any, bins: Any, right: bool = False, *, method: str | None = None) -> Any:
    """The index of the bin of each ``x`` for monotonic ``bins`` (like numpy.digitize)."""
    x, bins = asarray_leaf(x), _as_array(bins)
    if len(shape_of(bins)) != 1:
        raise ValueError(_err("digitize", f"bins must be 1-d, got shape {shape_of(bins)}"))
    n = shape_of(bins)[0]
    if n == 0:
        return _creation.full(shape_of(x), 0, _INDEX)
    side = "left" if right else "right"
    m = method or "scan"
    increasing = searchsorted(bins, x, side, method=m)
    decreasing = lax.sub(np.asarray(n, _INDEX),
                         searchsorted(lax.rev(bins, (0,)), x, side, method=m))
    return _ufuncs.where(_ufuncs.greater_equal(bins[n - 1], bins[0]), increasing, decreasing)


# --- unique and the set functions ---------------------------------------------------------------


def _row_view(name: str, ar: Any, axis: int | None) -> tuple[Any, bool, Any]:
    """``ar`` as (n,) elements (axis None) or (n, m) rows; and a function that maps gathered
    rows back to ``ar``'s layout."""
    ar = _as_array(ar)
    if axis is None:
        return _shape.ravel(ar), False, lambda v: v
    ndim = len(shape_of(ar))
    ax = canonical_axis(name, axis, ndim)
    moved = _shape.moveaxis(ar, ax, 0)
    rest = shape_of(moved)[1:]
    n = shape_of(moved)[0]
    rows = lax.reshape(moved, (n, math.prod(rest)))

    def back(v: Any) -> Any:
        return _shape.moveaxis(lax.reshape(v, (shape_of(v)[0],) + rest), 0, ax)

    return rows, True, back


def _not_same(x: Any, y: Any, equal_nan: bool) -> Any:
    ne = lax.ne(x, y)
    if equal_nan and typeof(x)[0].kind in "fc":
        both_nan = lax.bitwise_and(lax.ne(x, x), lax.ne(y, y))
        ne = lax.bitwise_and(ne, lax.bitwise_not(both_nan))
    return ne


def _groups(x: Any, rows: bool, equal_nan: bool) -> tuple[Any, Any, Any]:
    """Sorted elements (or rows), the sorting permutation, and a mask of group starts."""
    n = shape_of(x)[0]
    iota = lax.iota(_INDEX, n)
    if rows:
        m = shape_of(x)[1]
        cols = [x[:, j] for j in range(m)]
        out = lax.sort(tuple(cols) + (iota,), dimension=0, is_stable=True, num_keys=max(m, 1)) \
            if m else (iota,)
        perm = out[-1]
        xs = _shape.stack(list(out[:-1]), axis=1) if m else x
    else:
        xs, perm = lax.sort((x, iota), dimension=0, is_stable=True, num_keys=1)
    if n == 0:
        return xs, perm, _creation.full((0,), 0, dt.bool_)
    diff = _not_same(xs[1:], xs[:-1], equal_nan)
    if rows:
        diff = _reductions.any(diff, axis=1)
    first = _shape.concatenate([_creation.full((1,), 1, dt.bool_), diff])
    return xs, perm, first


def _positions(name: str, mask: Any, size: int | None) -> tuple[Any, Any]:
    """Positions of the true entries of a 1-d mask (all of them, concrete; or the first
    ``size``, padded with the first position) and how many there are."""
    count = _reductions.sum(mask, dtype=_INDEX)
    if size is None:
        value = core.concrete_or_none(mask)
        if value is None:
            raise ConcretizationTypeError(_err(
                name, "the number of results depends on the values, which are traced here; "
                      "pass size=N (results are then padded or truncated to N)"))
        return Array(np.nonzero(core.to_numpy(value))[0].astype(_INDEX)), count
    size = operator.index(size)
    if size < 0:
        raise ValueError(_err(name, f"size must be non-negative, got {size}"))
    (pos,) = _selection.nonzero(mask, size=size, fill_value=0) if shape_of(mask)[0] else (
        _creation.full((size,), 0, _INDEX),)
    first = pos[0] if size else None
    if size and shape_of(mask)[0]:
        valid = lax.lt(lax.iota(_INDEX, size), count)
        pos = lax.select_n(valid, broadcast_to(first, (size,)), pos)
    return pos, count


def _fill(values: Any, count: Any, size: int | None, fill_value: Any) -> Any:
    """Entries past ``count`` replaced by ``fill_value`` (when given, with ``size``)."""
    if size is None or fill_value is None or not size:
        return values
    valid = lax.lt(lax.iota(_INDEX, size), count)
    shape = shape_of(values)
    valid = lax.broadcast_in_dim(valid, shape, (0,))
    fill = broadcast_to(cast(asarray_leaf(fill_value), typeof(values)[0]), shape, "unique")
    return lax.select_n(valid, fill, values)


def _gather_rows(x: Any, pos: Any) -> Any:
    if not shape_of(x)[0]:
        return _creation.full((shape_of(pos)[0],) + shape_of(x)[1:], 0, typeof(x)[0])
    return _selection.take(x, pos, axis=0, mode="clip")


def _unique(name: str, ar: Any, return_index: bool, return_inverse: bool,
            return_counts: bool, axis: int | None, equal_nan: bool, size: int | None,
            fill_value: Any) -> Any:
    original = _as_array(ar)
    x, rows, back = _row_view(name, original, axis)
    n = shape_of(x)[0]
    xs, perm, first = _groups(x, rows, equal_nan)
    pos, count = _positions(name, first, size)
    values = _fill(_gather_rows(xs, pos), count, size, fill_value)
    out = [back(values)]
    if return_index:
        out.append(_gather_rows(perm, pos) if n else _creation.full(shape_of(pos), 0, _INDEX))
    gid = lax.sub(lax.cumsum(cast(first, _INDEX), axis=0), np.ones((), _INDEX)) if n else \
        _creation.full((0,), 0, _INDEX)
    if return_inverse:
        inverse = _creation.full((n,), 0, _INDEX).at[perm].set(gid, unique_indices=True) \
            if n else _creation.full((0,), 0, _INDEX)
        out.append(lax.reshape(inverse, shape_of(original)) if axis is None else inverse)
    if return_counts:
        k = shape_of(pos)[0]
        per_group = _creation.full((n,), 0, _INDEX).at[gid].add(np.ones((), _INDEX)) if n else \
            _creation.full((0,), 0, _INDEX)
        out.append(_selection.take(per_group, lax.iota(_INDEX, k), mode="fill", fill_value=0)
                   if n else _creation.full((k,), 0, _INDEX))
    return out[0] if len(out) == 1 else tuple(out)


def unique(ar: Any, return_index: bool = False, return_inverse: bool = False,
           return_counts: bool = False, axis: int | None = None, *, equal_nan: bool = True,
           size: int | None = None, fill_value: Any = None, sorted: bool = True) -> Any:
    """The sorted unique elements (or rows/slices along ``axis``) of ``ar`` (like numpy.unique),
    optionally with the first-occurrence indices, the inverse (shaped like ``ar`` when axis is
    None, as in NumPy 2) and the counts.

    Eagerly the result has as many entries as there are unique values; under tracing pass
    ``size``: results are truncated or padded to ``size`` entries, values with ``fill_value``
    (default: the smallest value), indices with the smallest value's index, counts with 0."""
    return _unique("unique", ar, return_index, return_inverse, return_counts, axis, equal_nan,
                   size, fill_value)


class UniqueAllResult(NamedTuple):
    values: Any
    indices: Any
    inverse_indices: Any
    counts: Any


class UniqueCountsResult(NamedTuple):
    values: Any
    counts: Any


class UniqueInverseResult(NamedTuple):
    values: Any
    inverse_indices: Any


def unique_all(x: Any, /, *, size: int | None = None, fill_value: Any = None
               ) -> UniqueAllResult:
    """Array-API unique: values, first indices, inverse and counts (NaNs are all distinct)."""
    return UniqueAllResult(*_unique("unique_all", x, True, True, True, None, False, size,
                                    fill_value))


def unique_counts(x: Any, /, *, size: int | None = None, fill_value: Any = None
                  ) -> UniqueCountsResult:
    """Array-API unique: values and counts (NaNs are all distinct)."""
    return UniqueCountsResult(*_unique("unique_counts", x, False, False, True, None, False,
                                       size, fill_value))


def unique_inverse(x: Any, /, *, size: int | None = None, fill_value: Any = None
                   ) -> UniqueInverseResult:
    """Array-API unique: values and the inverse, shaped like ``x``."""
    return UniqueInverseResult(*_unique("unique_inverse", x, False, True, False, None, False,
                                        size, fill_value))


def unique_values(x: Any, /, *, size: int | None = None, fill_value: Any = None) -> Any:
    """Array-API unique: the sorted distinct values (NaNs are all distinct)."""
    return _unique("unique_values", x, False, False, False, None, False, size, fill_value)


def isin(element: Any, test_elements: Any, assume_unique: bool = False, invert: bool = False,
         *, method: str = "auto") -> Any:
    """Elementwise, whether ``element`` occurs in ``test_elements`` (like numpy.isin)."""
    element = asarray_leaf(element)
    test = _shape.ravel(_as_array(test_elements))
    element, test = promote_dtypes(element, test)
    s = shape_of(element)
    m = shape_of(test)[0]
    if m == 0:
        return _creation.full(s, bool(invert), dt.bool_)
    e = lax.broadcast_in_dim(element, s + (m,), tuple(range(len(s))))
    t = lax.broadcast_in_dim(test, s + (m,), (len(s),))
    found = _reductions.any(lax.eq(e, t), axis=-1)
    return lax.bitwise_not(found) if invert else found


def _first_or_zero(values: Any, count: Any) -> Any:
    """The default fill: the first result, or 0 when there is none."""
    d = typeof(values)[0]
    if not shape_of(values)[0]:
        return np.zeros((), d)
    return _ufuncs.where(lax.gt(count, np.zeros((), _INDEX)), values[0], np.zeros((), d))


def _compact(name: str, values: Any, mask: Any, size: int | None, fill_value: Any,
             default_zero: bool = False) -> tuple[Any, Any, Any]:
    pos, count = _positions(name, mask, size)
    out = _gather_rows(values, pos)
    if size is not None:
        fill = fill_value
        if fill is None:
            fill = np.zeros((), typeof(out)[0]) if default_zero else _first_or_zero(out, count)
        out = _fill(out, count, size, fill)
    return out, pos, count


def _sorted_unique_1d(name: str, ar: Any) -> tuple[Any, Any, Any]:
    x = _shape.ravel(_as_array(ar))
    return _groups(x, False, True)


def union1d(ar1: Any, ar2: Any, *, size: int | None = None, fill_value: Any = None) -> Any:
    """The sorted unique values in either array (like numpy.union1d)."""
    both = _shape.concatenate([_shape.ravel(_as_array(ar1)), _shape.ravel(_as_array(ar2))])
    return _unique("union1d", both, False, False, False, None, True, size, fill_value)


def setdiff1d(ar1: Any, ar2: Any, assume_unique: bool = False, *, size: int | None = None,
              fill_value: Any = None) -> Any:
    """The sorted unique values of ``ar1`` that are not in ``ar2`` (like numpy.setdiff1d);
    with ``size``, padded with ``fill_value`` (default 0, as in JAX)."""
    ar1, ar2 = promote_dtypes(_as_array(ar1), _as_array(ar2))
    xs, _, first = _sorted_unique_1d("setdiff1d", ar1)
    keep = lax.bitwise_and(first, isin(xs, ar2, invert=True)) if shape_of(xs)[0] else first
    return _compact("setdiff1d", xs, keep, size, fill_value, default_zero=True)[0]


def intersect1d(ar1: Any, ar2: Any, assume_unique: bool = False, return_indices: bool = False,
                *, size: int | None = None, fill_value: Any = None) -> Any:
    """The sorted unique values in both arrays (like numpy.intersect1d); with
    ``return_indices``, also the indices of their first occurrences in each array."""
    ar1, ar2 = promote_dtypes(_as_array(ar1), _as_array(ar2))
    xs, perm, first = _sorted_unique_1d("intersect1d", ar1)
    keep = lax.bitwise_and(first, isin(xs, ar2)) if shape_of(xs)[0] else first
    values, pos, _ = _compact("intersect1d", xs, keep, size, fill_value)
    if not return_indices:
        return values
    ind1 = (_gather_rows(perm, pos) if shape_of(perm)[0]
            else _creation.full(shape_of(pos), 0, _INDEX))
    flat2 = _shape.ravel(ar2)
    if shape_of(flat2)[0]:
        order2 = argsort(flat2)
        where2 = searchsorted(_selection.take(flat2, order2), values)
        ind2 = _selection.take(order2, where2, mode="clip")
    else:
        ind2 = _creation.full(shape_of(pos), 0, _INDEX)
    return values, ind1, ind2


def setxor1d(ar1: Any, ar2: Any, assume_unique: bool = False, *, size: int | None = None,
             fill_value: Any = None) -> Any:
    """The sorted values in exactly one of the arrays (like numpy.setxor1d)."""
    ar1, ar2 = promote_dtypes(_as_array(ar1), _as_array(ar2))
    xs1, _, f1 = _sorted_unique_1d("setxor1d", ar1)
    xs2, _, f2 = _sorted_unique_1d("setxor1d", ar2)
    only1 = lax.bitwise_and(f1, isin(xs1, ar2, invert=True)) if shape_of(xs1)[0] else f1
    only2 = lax.bitwise_and(f2, isin(xs2, ar1, invert=True)) if shape_of(xs2)[0] else f2
    cand = _shape.concatenate([xs1, xs2])
    keep = _shape.concatenate([only1, only2])
    if not shape_of(cand)[0]:
        return _compact("setxor1d", cand, keep, size, fill_value)[0]
    # Kept values first, in sorted order (the two sides are disjoint).
    drop_sorted, ordered = lax.sort((lax.bitwise_not(keep), cand), dimension=0,
                                    is_stable=True, num_keys=2)
    return _compact("setxor1d", ordered, lax.bitwise_not(drop_sorted), size, fill_value)[0]


# --- quantiles ----------------------------------------------------------------------------------

_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile_core(name: str, a: Any, q: Any, axis: Any, method: str, keepdims: bool,
                   squash_nans: bool, percent: bool) -> Any:
    a = _as_array(a)
    q = asarray_leaf(q)  # a Python float stays exact until cast to the result dtype
    if method not in _METHODS:
        raise ValueError(_err(name, f"method must be one of {', '.join(_METHODS)}, got "
                                    f"{method!r}"))
    dtype = _inexact_dtype(a, q)
    if dtype.kind == "c":
        raise DtypeError(_err(name, "complex inputs are not supported (no total order)"))
    a, q = cast(a, dtype), cast(q, dtype)
    if percent:
        q = lax.div(q, np.asarray(100, dtype))
    qvalue = core.concrete_or_none(q)
    if qvalue is not None:
        qv = core.to_numpy(qvalue) if isinstance(qvalue, Array) else np.asarray(qvalue)
        if np.any((qv < 0) | (qv > 1)):
            what = "Percentiles must be in the range [0, 100]" if percent else \
                "Quantiles must be in the range [0, 1]"
            raise ValueError(_err(name, what))
    ndim = len(shape_of(a))
    axes = canonical_axes(name, axis, ndim)
    kept = [i for i in range(ndim) if i not in axes]
    moved = _shape.transpose(a, kept + list(axes)) if ndim else a
    batch = tuple(shape_of(a)[i] for i in kept)
    n = math.prod(shape_of(a)[i] for i in axes)
    x = lax.reshape(moved, batch + (n,))
    qshape = shape_of(q)
    nq = math.prod(qshape)
    if n == 0:
        out = _creation.full(qshape + batch, np.nan, dtype)
    else:
        xs = lax.sort(x, dimension=len(batch))
        if squash_nans:
            valid = _reductions.sum(_ufuncs.logical_not(_ufuncs.isnan(x)), axis=-1,
                                    keepdims=True, dtype=dtype)
        else:
            valid = _creation.full(batch + (1,), n, dtype)
        qf = lax.reshape(q, (nq,))
        qb = lax.broadcast_in_dim(qf, batch + (nq,), (len(batch),))
        hi_cap = broadcast_to(lax.sub(valid, np.ones((), dtype)), batch + (nq,))
        pos = lax.mul(qb, hi_cap)

        def gather(idx: Any) -> Any:
            idx = lax.clamp(np.zeros((), dtype), idx, lax.max(hi_cap, np.zeros((), dtype)))
            return _selection.take_along_axis(xs, cast(idx, _INDEX), axis=-1, mode="clip")

        lo_i, hi_i = lax.floor(pos), lax.ceil(pos)
        if method == "lower":
            out = gather(lo_i)
        elif method == "higher":
            out = gather(hi_i)
        elif method == "nearest":
            out = gather(lax.round(pos, 1))
        elif method == "midpoint":
            out = lax.mul(lax.add(gather(lo_i), gather(hi_i)), np.asarray(0.5, dtype))
        else:
            w = lax.sub(pos, lo_i)
            lo_v, hi_v = gather(lo_i), gather(hi_i)
            out = lax.add(lo_v, lax.mul(w, lax.sub(hi_v, lo_v)))
        if squash_nans:
            empty = lax.eq(hi_cap, np.asarray(-1, dtype))
            out = lax.select_n(empty, out, broadcast_to(np.asarray(np.nan, dtype),
                                                        shape_of(out)))
        else:
            has_nan = _reductions.any(_ufuncs.isnan(x), axis=-1)
            has_nan = lax.broadcast_in_dim(has_nan, batch + (nq,), tuple(range(len(batch))))
            out = lax.select_n(has_nan, out, broadcast_to(np.asarray(np.nan, dtype),
                                                          shape_of(out)))
        out = _shape.moveaxis(out, -1, 0) if batch else out
        out = lax.reshape(out, qshape + batch)
    if keepdims:
        full = list(shape_of(a))
        for i in axes:
            full[i] = 1
        out = lax.reshape(out, qshape + tuple(full))
    return out


def quantile(a: Any, q: Any, axis: int | tuple[int, ...] | None = None, out: None = None,
             overwrite_input: bool = False, method: str = "linear", keepdims: bool = False,
             *, weights: Any = None, interpolation: str | None = None) -> Any:
    """The ``q``-th quantiles of ``a`` over ``axis`` (like numpy.quantile; q's dimensions come
    first). ``method``: 'linear', 'lower', 'higher', 'midpoint' or 'nearest'. A NaN in a slice
    makes its quantile NaN (see nanquantile)."""
    _no_weights("quantile", weights, out)
    return _quantile_core("quantile", a, q, axis, interpolation or method, keepdims, False,
                          False)


def percentile(a: Any, q: Any, axis: int | tuple[int, ...] | None = None, out: None = None,
               overwrite_input: bool = False, method: str = "linear", keepdims: bool = False,
               *, weights: Any = None, interpolation: str | None = None) -> Any:
    """Like quantile, with ``q`` in percent."""
    _no_weights("percentile", weights, out)
    return _quantile_core("percentile", a, q, axis, interpolation or method, keepdims, False,
                          True)


def median(a: Any, axis: int | tuple[int, ...] | None = None, out: None = None,
           overwrite_input: bool = False, keepdims: bool = False) -> Any:
    """The median over ``axis`` (the mean of the two middle values for an even count)."""
    _no_weights("median", None, out)
    return _quantile_core("median", a, 0.5, axis, "midpoint", keepdims, False, False)


def nanquantile(a: Any, q: Any, axis: int | tuple[int, ...] | None = None, out: None = None,
                overwrite_input: bool = False, method: str = "linear", keepdims: bool = False,
                *, weights: Any = None, interpolation: str | None = None) -> Any:
    """quantile ignoring NaNs (an all-NaN slice gives NaN)."""
    _no_weights("nanquantile", weights, out)
    return _quantile_core("nanquantile", a, q, axis, interpolation or method, keepdims, True,
                          False)


def nanpercentile(a: Any, q: Any, axis: int | tuple[int, ...] | None = None, out: None = None,
                  overwrite_input: bool = False, method: str = "linear",
                  keepdims: bool = False, *, weights: Any = None,
                  interpolation: str | None = None) -> Any:
    """percentile ignoring NaNs."""
    _no_weights("nanpercentile", weights, out)
    return _quantile_core("nanpercentile", a, q, axis, interpolation or method, keepdims, True,
                          True)


def nanmedian(a: Any, axis: int | tuple[int, ...] | None = None, out: None = None,
              overwrite_input: bool = False, keepdims: bool = False) -> Any:
    """median ignoring NaNs."""
    _no_weights("nanmedian", None, out)
    return _quantile_core("nanmedian", a, 0.5, axis, "midpoint", keepdims, True, False)


def _no_weights(name: str, weights: Any, out: Any) -> None:
    if out is not None:
        raise NotImplementedError(_err(name, "out= is not supported (arrays are immutable)"))
    if weights is not None:
        raise NotImplementedError(_err(name, "weights= is not supported"))


# --- histograms ---------------------------------------------------------------------------------


def bincount(x: Any, weights: Any = None, minlength: int = 0, *, length: int | None = None
             ) -> Any:
    """Counts (or summed ``weights``) of each non-negative integer in the 1-d ``x`` (like
    numpy.bincount). ``length`` fixes the result size under tracing; otherwise it is
    ``max(x) + 1`` (at least ``minlength``) from concrete values. As in JAX, negative values
    count toward bin 0 and values >= length are dropped."""
    x = _as_array(x)
    if typeof(x)[0].kind not in "iub":
        raise DtypeError(_err("bincount", f"x must be integers, got {typeof(x)[0]}"))
    if len(shape_of(x)) != 1:
        raise ValueError(_err("bincount", f"x must be 1-d, got shape {shape_of(x)}"))
    minlength = operator.index(minlength)
    if minlength < 0:
        raise ValueError(_err("bincount", f"minlength must be non-negative, got {minlength}"))
    if length is None:
        value = core.concrete_or_none(x)
        if value is None:
            raise ConcretizationTypeError(_err(
                "bincount", "the result length is max(x) + 1, which is traced here; pass "
                            "length=N"))
        v = core.to_numpy(value)
        length = builtins.max(minlength, int(v.max()) + 1 if v.size else 0)
    length = operator.index(length)
    if weights is None:
        w = np.ones((), _INDEX)
        out_dtype = _INDEX
    else:
        w = _as_array(weights)
        if shape_of(w) != shape_of(x):
            raise ShapeError(_err("bincount", f"weights of shape {shape_of(w)} must match x of "
                                              f"shape {shape_of(x)}"))
        out_dtype = typeof(w)[0]
        if out_dtype == dt.bool_:
            out_dtype = _INDEX
            w = cast(w, _INDEX)
    idx = lax.max(cast(x, _INDEX), np.zeros((), _INDEX)) if typeof(x)[0].kind != "u" else x
    return _creation.full((length,), 0, out_dtype).at[idx].add(w, mode="drop")


def histogram_bin_edges(a: Any, bins: Any = 10, range: Any = None,  # noqa: A002
                        weights: Any = None) -> Any:
    """The bin edges histogram would use (like numpy.histogram_bin_edges); an int ``bins``
    gives equal bins over ``range`` (default: the data's min and max, traced values allowed).
    """
    a = _shape.ravel(_as_array(a))
    (af,) = promote_args_inexact("histogram_bin_edges", a)
    d = typeof(af)[0]
    if np.ndim(bins) == 1 or (hasattr(bins, "shape") and len(shape_of(bins)) == 1):
        edges = _as_array(bins)
        return edges if typeof(edges)[0].kind in "fc" else cast(edges, d)
    if isinstance(bins, str):
        raise NotImplementedError(_err("histogram_bin_edges", f"bins={bins!r}: string bin "
                                                              f"estimators are not supported"))
    nbins = operator.index(bins)
    if nbins < 1:
        raise ValueError(_err("histogram_bin_edges", f"bins must be a positive integer, got "
                                                     f"{nbins}"))
    if range is None:
        if not shape_of(af)[0]:
            lo, hi = np.asarray(0, d), np.asarray(1, d)
        else:
            lo, hi = _reductions.min(af), _reductions.max(af)
    else:
        if len(range) != 2:
            raise ValueError(_err("histogram_bin_edges", f"range must be a pair (min, max), "
                                                         f"got {range!r}"))
        lo, hi = cast(asarray_leaf(range[0]), d), cast(asarray_leaf(range[1]), d)
        rv = [core.concrete_or_none(r) for r in (lo, hi)]
        if all(v is not None for v in rv) and float(np.asarray(rv[0])) > float(
                np.asarray(rv[1])):
            raise ValueError(_err("histogram_bin_edges", "max must be larger than min in "
                                                         "range parameter"))
    same = lax.eq(lo, hi)
    half = np.asarray(0.5, d)
    lo = _ufuncs.where(same, lax.sub(lo, half), lo)
    hi = _ufuncs.where(same, lax.add(hi, half), hi)
    return _creation.linspace(lo, hi, nbins + 1, dtype=d)


def _bin_index(x: Any, edges: Any) -> Any:
    """Bin index of each value: 1..len(edges)-1 inside, 0 below, len(edges) above (the last
    edge belongs to the last bin, as in NumPy)."""
    n = shape_of(edges)[0]
    idx = searchsorted(edges, x, side="right")
    return _ufuncs.where(lax.eq(cast(x, typeof(edges)[0]) if typeof(x)[0] != typeof(edges)[0]
                                else x, edges[n - 1]), np.asarray(n - 1, _INDEX), idx)


def histogram(a: Any, bins: Any = 10, range: Any = None, weights: Any = None,  # noqa: A002
              density: bool | None = None) -> tuple[Any, Any]:
    """``(counts, bin_edges)`` of the flattened ``a`` (like numpy.histogram). Counts are in
    ``a``'s inexact dtype (as in JAX); works under tracing for an int ``bins``."""
    a = _shape.ravel(_as_array(a))
    (af,) = promote_args_inexact("histogram", a)
    edges = histogram_bin_edges(af, bins, range)
    n = shape_of(edges)[0]
    idx = _bin_index(cast(af, typeof(edges)[0]), edges)
    if weights is None:
        w = _creation.ones_like(af)
    else:
        w = _shape.ravel(_as_array(weights))
        if shape_of(w) != shape_of(a):
            raise ShapeError(_err("histogram", f"weights of shape {shape_of(_as_array(weights))}"
                                               f" must match a of shape {shape_of(a)}"))
    counts = _creation.full((n + 1,), 0, typeof(w)[0]).at[idx].add(w, mode="drop")
    counts = counts[1:n]
    if density:
        widths = lax.sub(edges[1:], edges[:n - 1])
        counts = _ufuncs.true_divide(_ufuncs.true_divide(counts, widths),
                                     _reductions.sum(counts))
    return counts, edges


def histogramdd(sample: Any, bins: Any = 10, range: Any = None,  # noqa: A002
                weights: Any = None, density: bool | None = None) -> tuple[Any, list[Any]]:
    """``(counts, edges)`` of ``N`` points in ``D`` dimensions, ``sample`` of shape (N, D)
    (like numpy.histogramdd). Counts are int32 without weights (as in JAX)."""
    sample = _as_array(sample)
    if len(shape_of(sample)) == 1:
        sample = lax.reshape(sample, (shape_of(sample)[0], 1))
    if len(shape_of(sample)) != 2:
        raise ValueError(_err("histogramdd", f"sample must have shape (N, D), got "
                                             f"{shape_of(sample)}"))
    n_points, d = shape_of(sample)
    if isinstance(bins, (int, np.integer)):
        bins_list = [bins] * d
    else:
        bins_list = list(bins)
        if len(bins_list) != d:
            raise ValueError(_err("histogramdd", f"the dimension of bins ({len(bins_list)}) "
                                                 f"must be equal to the dimension of the sample "
                                                 f"({d})"))
    ranges = [None] * d if range is None else list(range)
    if len(ranges) != d:
        raise ValueError(_err("histogramdd", f"range needs one (min, max) pair per dimension "
                                             f"({d}), got {len(ranges)}"))
    edges, idx, nbins = [], [], []
    for i in builtins.range(d):
        col = sample[:, i]
        e = histogram_bin_edges(col, bins_list[i], ranges[i])
        edges.append(e)
        idx.append(_bin_index(cast(col, typeof(e)[0]) if typeof(col)[0] != typeof(e)[0]
                              else col, e))
        nbins.append(shape_of(e)[0] + 1)
    flat = _selection.ravel_multi_index(idx, nbins, mode="clip") if d else \
        _creation.full((n_points,), 0, _INDEX)
    w = None if weights is None else _shape.ravel(_as_array(weights))
    counts = bincount(flat, w, length=math.prod(nbins))
    counts = lax.reshape(counts, tuple(nbins))
    counts = _take(counts, tuple(slice(1, -1) for _ in nbins))
    if density:
        # In the edges' dtype: int32 counts would otherwise divide in float32.
        from functrans.numpy._promotion import result_type
        target = result_type(counts, *edges)[0]
        counts = cast(counts, target if target.kind in "fc" else dt.canonicalize(float))
        counts = _ufuncs.true_divide(counts, _reductions.sum(counts))
        for i, e in enumerate(edges):
            width = lax.sub(e[1:], e[:-1])
            shape = [1] * d
            shape[i] = shape_of(width)[0]
            counts = _ufuncs.true_divide(counts, lax.reshape(width, tuple(shape)))
    return counts, edges


def histogram2d(x: Any, y: Any, bins: Any = 10, range: Any = None,  # noqa: A002
                weights: Any = None, density: bool | None = None) -> tuple[Any, Any, Any]:
    """``(counts, xedges, yedges)`` of the points ``(x, y)`` (like numpy.histogram2d)."""
    x, y = promote_dtypes(_shape.ravel(_as_array(x)), _shape.ravel(_as_array(y)))
    if shape_of(x) != shape_of(y):
        raise ShapeError(_err("histogram2d", f"x and y must have the same length, got "
                                             f"{shape_of(x)[0]} and {shape_of(y)[0]}"))
    if isinstance(bins, (int, np.integer)) or np.ndim(bins) == 1 and not isinstance(
            bins, (list, tuple)) or (isinstance(bins, (list, tuple)) and len(bins) != 2):
        bins = [bins, bins]
    counts, (ex, ey) = histogramdd(_shape.stack([x, y], axis=1), bins, range, weights, density)
    return counts, ex, ey

