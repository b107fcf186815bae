"""Sorting primitives: sort (several operands by the first ``num_keys`` of them) and top_k.

Both use ``lax``'s total order, which is NumPy's: NaNs sort after everything and are equal to
each other, -0.0 equals 0.0, and complex numbers compare by (real, imag). Both are stable
(ties keep their original order), also when ``is_stable=False`` asks for less. Both have
several results. Imports ``core``, ``dtypes``, ``errors``, ``registry``, ``rules`` and the axis
helper of ``reductions``.
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
from functrans.primitives.reductions import normalize_axis
from functrans.primitives.registry import Example, define_primitive

__all__ = ["sort", "sort_key_val", "top_k", "sort_p", "top_k_p"]

_ALL, _ORDERED = frozenset(dt.ALL), frozenset(dt.REAL + dt.BOOL)


def _check_axis(name: str, what: str, axis: Any, aval: ShapedArray) -> None:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"functrans.lax.{name}: {what} must be an int, got {axis!r}")
    if not 0 <= axis < aval.ndim:
        raise ShapeError(f"functrans.lax.{name}: {what} {axis} is out of range for "
                         f"{aval.str_short()} (rank {aval.ndim}); {name} needs an operand of "
                         f"rank >= 1")


def _slice_along(axis: int, ndim: int, s: slice) -> tuple[slice, ...]:
    return (slice(None),) * axis + (s,) + (slice(None),) * (ndim - axis - 1)


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
    _check_axis("sort", "dimension", dimension, operands[0])
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

    ties = np.array([[1, 0, 1, 0, 1], [0, 0, 1, 1, 0]]).astype(dtype)
    positions = np.arange(10, dtype=np.int32).reshape(2, 5)
    out = [
        Example((arr((4,), 1),), params(0)),
        Example((arr((2, 3), 2),), params(0)),
        Example((arr((2, 3), 3),), params(1, is_stable=False), note="unstable"),
        Example((arr((0,), 4),), params(0)),
        Example((arr((2, 0), 5),), params(1)),
        Example((arr((3, 0), 6),), params(0), note="empty-other-axis"),
        Example((ties, positions), params(1), note="key-val"),
        Example((ties, arr((2, 5), 7), positions), params(1, num_keys=2), note="two-keys"),
        Example((arr((2, 5), 8, dt.bool_), ties), params(1), note="bool-key"),
    ]
    if dtype.kind == "f":
        special_vals = np.array([np.nan, 1.0, -0.0, 0.0, -np.inf, -np.nan, np.inf, -1.0], dtype)
        out.append(Example((special_vals, np.arange(8, dtype=np.int32)), params(0),
                           note="nan-zeros"))
    if dtype.kind == "c":
        nan = np.nan
        special_vals = np.array([complex(nan, 0), complex(1, nan), 1 + 1j, 1 - 1j,
                                 complex(nan, nan), -1 + 0j, complex(nan, -1)], dtype)
        out.append(Example((special_vals,), params(0), note="nan-parts"))
    return out


sort_p = define_primitive(
    "sort", family="sort", impl=_sort_impl, abstract_eval=_sort_rule, dtypes=dt.ALL,
    sample=_sort_sample, multiple_results=True,
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
    _check_axis("top_k", "axis", axis, operand)
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
        Example((np.array([[1, 0, 1, 1], [0, 0, 0, 1]]).astype(dtype),), {"k": 3, "axis": 1},
                note="ties"),
    ]
    if dtype.kind == "f":
        special_vals = np.array([1.0, np.nan, np.inf, -0.0, 0.0, np.nan, -np.inf], dtype)
        out.append(Example((special_vals,), {"k": 5, "axis": 0}, note="nan"))
    return out


top_k_p = define_primitive(
    "top_k", family="sort", impl=_top_k_impl, abstract_eval=_top_k_rule, dtypes=_ORDERED,
    sample=_top_k_sample, multiple_results=True,
    doc="the k largest values along axis, descending, and their int32 indices")


def top_k(operand: Any, k: int, *, axis: int = -1) -> tuple[Any, Any]:
    """The ``k`` largest entries of ``operand`` along ``axis`` (the last by default), in
    descending order, and their int32 indices. Equal values keep index order; NaN counts as
    the largest value."""
    ndim = core.get_aval(operand).ndim
    values, indices = top_k_p.bind(operand, k=operator.index(k),
                                   axis=normalize_axis(axis, ndim))
    return values, indices
