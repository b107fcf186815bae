"""Structural primitives: values move, nothing is computed. broadcast_in_dim, reshape,
transpose, squeeze, expand_dims, rev and iota, with their ``functrans.lax`` wrappers and lax's
conveniences built on them (broadcast, collapse). Slicing, padding and concatenation live in
``slicing.py``, which shares this module's parameter helpers.

Impls may return NumPy views; the eager path copies views of caller-writable memory. All of
these primitives are linear: their jvp applies the primitive to the tangent and their transpose
moves cotangents back (summing where broadcast_in_dim copied). Their batching rules fold the
batch dimension into the parameters and keep it where it is wherever the primitive allows.
Imports ``core``, ``registry``, ``rules``, ``ad_rules`` and ``batch_rules`` (and
``reductions`` lazily, inside a rule).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import rules
from functrans.primitives.ad_rules import (
    aval_of, jvp_linear, jvp_zero, transpose_linear,
)
from functrans.primitives.batch_rules import AxisData, shift_axis
from functrans.primitives.registry import Example, define_primitive

__all__ = [
    "broadcast_in_dim_p", "reshape_p", "transpose_p", "squeeze_p", "expand_dims_p", "rev_p",
    "iota_p", "broadcast_in_dim", "broadcast", "reshape", "collapse", "transpose", "squeeze",
    "expand_dims", "rev", "iota", "broadcasted_iota",
]

ALL = frozenset(dt.ALL)
NUMERIC = frozenset(dt.NUMERIC)
INTEGER = frozenset(dt.INTEGER)

# --- parameter helpers --------------------------------------------------------------------------


def _axis(name: str, axis: Any, ndim: int, what: str = "axis") -> int:
    """Wrapper side: a possibly negative axis of a rank-``ndim`` value, made non-negative."""
    a = operator.index(axis)
    if not -ndim <= a < ndim:
        raise ShapeError(f"functrans.lax.{name}: {what}={a} out of range for an operand of "
                         f"rank {ndim}")
    return a + ndim if a < 0 else a


def _axes(name: str, axes: Any, ndim: int, what: str = "dimensions") -> tuple[int, ...]:
    return tuple(_axis(name, a, ndim, what) for a in rules.int_tuple(name, what, axes))


def _check_ints(name: str, what: str, value: Any, minimum: int | None = None
                ) -> tuple[int, ...]:
    """Rule side: params must already be tuples of ints (wrappers normalize them)."""
    if not isinstance(value, tuple) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        raise TypeError(f"functrans.lax.{name}: {what} must be a tuple of ints, got "
                        f"{value!r}")
    if minimum is not None and any(v < minimum for v in value):
        bound = "non-negative" if minimum == 0 else f">= {minimum}"
        raise ShapeError(f"functrans.lax.{name}: {what}={value} must be {bound}")
    return tuple(int(v) for v in value)


def _check_rank(name: str, what: str, value: tuple, operand: ShapedArray) -> None:
    if len(value) != operand.ndim:
        raise ShapeError(f"functrans.lax.{name}: {what}={value} needs one entry per dimension "
                         f"of the operand {operand.str_short()}")


_sample_array = rules.sample_array


def _view(x: np.ndarray, index: tuple) -> np.ndarray:
    """``x[index]``, a view. A trailing Ellipsis keeps a 0-d result an ndarray (``x[()]`` is
    a NumPy scalar)."""
    return x[(*index, Ellipsis)]


# --- differentiation helpers (shared with slicing.py) ---------------------------------------------


def _linear(fn: Callable, linear_in: tuple[int, ...] | str = (0,), jvp: Any = None
            ) -> dict[str, Any]:
    """jvp/transpose/linear_in fields for a primitive linear in its ``linear_in`` operands
    (jointly) whose transpose is ``fn(ct, *args, **params) -> list``. The jvp defaults to
    ``jvp_linear()`` (the primitive applied to the tangents)."""

    return {"jvp": jvp or jvp_linear(), "transpose": transpose_linear(fn),
            "linear_in": linear_in}


def _reduce_sum(x: Any, axes: tuple[int, ...]) -> Any:
    # Imported when a rule runs: reductions' own rules may build on this module.
    from functrans.primitives.reductions import reduce_sum_p
    return reduce_sum_p.bind(x, axes=axes) if axes else x


# --- broadcast_in_dim ---------------------------------------------------------------------------


def _broadcast_in_dim_rule(operand: ShapedArray, *, shape: tuple[int, ...],
                           broadcast_dimensions: tuple[int, ...]) -> ShapedArray:
    name = "broadcast_in_dim"
    rules.check_dtype(name, operand, ALL)
    shape = _check_ints(name, "shape", shape, minimum=0)
    dims = _check_ints(name, "broadcast_dimensions", broadcast_dimensions)
    _check_rank(name, "broadcast_dimensions", dims, operand)
    if any(not 0 <= d < len(shape) for d in dims):
        raise ShapeError(f"functrans.lax.{name}: broadcast_dimensions={dims} out of range for "
                         f"an output of rank {len(shape)} (shape {shape})")
    if any(a >= b for a, b in zip(dims, dims[1:])):
        raise ShapeError(f"functrans.lax.{name}: broadcast_dimensions={dims} must be strictly "
                         f"increasing; transpose the operand first to reorder its axes")
    for i, (size, d) in enumerate(zip(operand.shape, dims, strict=True)):
        if size not in (1, shape[d]):
            raise ShapeError(
                f"functrans.lax.{name}: cannot broadcast {operand.str_short()} to shape "
                f"{shape}: operand dimension {i} (size {size}) maps to output dimension {d} "
                f"(size {shape[d]}); each operand dimension must be 1 or equal to the output "
                f"dimension it maps to")
    return ShapedArray(shape, operand.dtype, operand.weak_type)


def _broadcast_in_dim_impl(operand: np.ndarray, *, shape: tuple[int, ...],
                           broadcast_dimensions: tuple[int, ...]) -> np.ndarray:
    expanded = [1] * len(shape)
    for size, d in zip(operand.shape, broadcast_dimensions, strict=True):
        expanded[d] = size
    return np.broadcast_to(operand.reshape(expanded), shape)


def _broadcast_in_dim_sample(dtype: np.dtype) -> list[Example]:
    cases = [((), (2, 3), ()), ((3,), (2, 3), (1,)), ((2, 1), (2, 4), (0, 1)),
             ((1, 3), (2, 4, 3), (0, 2)), ((0,), (2, 0), (1,)), ((1,), (0,), (0,)),
             ((), (), ()), ((2,), (2, 1, 3), (0,))]
    return [Example((_sample_array(s, dtype, seed=i),),
                    {"shape": out, "broadcast_dimensions": dims})
            for i, (s, out, dims) in enumerate(cases)]


def _broadcast_in_dim_transpose(ct: Any, operand: Any, *, shape: tuple[int, ...],
                                broadcast_dimensions: tuple[int, ...]) -> list[Any]:
    # Sum over the new output dimensions and over those a size-1 operand dimension was
    # stretched along; then put the stretched dimensions back as size 1.
    in_shape = operand.aval.shape
    kept = set(broadcast_dimensions)
    summed = [d for d in range(len(shape)) if d not in kept]
    summed += [d for size, d in zip(in_shape, broadcast_dimensions, strict=True)
               if size == 1 and shape[d] != 1]
    out = _reduce_sum(ct, tuple(sorted(summed)))
    if aval_of(out).shape != in_shape:
        out = reshape_p.bind(out, new_sizes=in_shape, dimensions=None)
    return [out]


def _broadcast_in_dim_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None],
                            *, shape: tuple[int, ...], broadcast_dimensions: tuple[int, ...]
                            ) -> tuple[Any, int]:
    # The batch dimension goes right after the output dimension of the operand dimension
    # before it: broadcast_dimensions stay increasing and the operand is not transposed.
    (operand,), (bdim,) = vals, dims
    out_dim = broadcast_dimensions[bdim - 1] + 1 if bdim else 0
    new_dims = (*broadcast_dimensions[:bdim], out_dim,
                *(d + 1 for d in broadcast_dimensions[bdim:]))
    new_shape = (*shape[:out_dim], axis.size, *shape[out_dim:])
    return broadcast_in_dim_p.bind(operand, shape=new_shape,
                                   broadcast_dimensions=new_dims), out_dim


broadcast_in_dim_p = define_primitive(
    "broadcast_in_dim", family="structural", impl=_broadcast_in_dim_impl,
    abstract_eval=_broadcast_in_dim_rule, dtypes=dt.ALL, sample=_broadcast_in_dim_sample,
    **_linear(_broadcast_in_dim_transpose), batch=_broadcast_in_dim_batch,
    doc="broadcast operand to shape; operand dim i becomes output dim broadcast_dimensions[i]")


def broadcast_in_dim(operand: Any, shape: Sequence[int],
                     broadcast_dimensions: Sequence[int]) -> Any:
    """Broadcast ``operand`` to ``shape``: operand dimension ``i`` becomes output dimension
    ``broadcast_dimensions[i]`` (strictly increasing); the other output dimensions are new.

    >>> import numpy as np
    >>> broadcast_in_dim(np.array([1, 2], np.int32), (3, 2), (1,)).shape
    (3, 2)
    """
    name = "broadcast_in_dim"
    return broadcast_in_dim_p.bind(
        operand, shape=rules.int_tuple(name, "shape", shape),
        broadcast_dimensions=rules.int_tuple(name, "broadcast_dimensions", broadcast_dimensions))


def broadcast(operand: Any, sizes: Sequence[int]) -> Any:
    """Add leading dimensions of ``sizes`` to ``operand`` (lax.broadcast)."""
    sizes = rules.int_tuple("broadcast", "sizes", sizes)
    shape = core.get_aval(operand).shape
    dims = tuple(range(len(sizes), len(sizes) + len(shape)))
    return broadcast_in_dim_p.bind(operand, shape=sizes + tuple(shape),
                                   broadcast_dimensions=dims)


# --- reshape ------------------------------------------------------------------------------------


def _check_permutation(name: str, what: str, perm: Any, operand: ShapedArray
                       ) -> tuple[int, ...]:
    perm = _check_ints(name, what, perm)
    if sorted(perm) != list(range(operand.ndim)):
        raise ShapeError(f"functrans.lax.{name}: {what}={perm} is not a permutation of the "
                         f"{operand.ndim} axes of {operand.str_short()}")
    return perm


def _reshape_rule(operand: ShapedArray, *, new_sizes: tuple[int, ...],
                  dimensions: tuple[int, ...] | None) -> ShapedArray:
    name = "reshape"
    rules.check_dtype(name, operand, ALL)
    new_sizes = _check_ints(name, "new_sizes", new_sizes)
    if any(s < 0 for s in new_sizes):
        raise ShapeError(f"functrans.lax.reshape: new_sizes={new_sizes} has a negative size; "
                         f"lax.reshape needs every size (functrans.numpy.reshape accepts -1)")
    if dimensions is not None:
        _check_permutation(name, "dimensions", dimensions, operand)
    n = math.prod(new_sizes)
    if n != operand.size:
        raise ShapeError(f"functrans.lax.reshape: cannot reshape {operand.str_short()} "
                         f"({operand.size} elements) into shape {new_sizes} ({n} elements)")
    return ShapedArray(new_sizes, operand.dtype, operand.weak_type)


def _reshape_impl(operand: np.ndarray, *, new_sizes: tuple[int, ...],
                  dimensions: tuple[int, ...] | None) -> np.ndarray:
    if dimensions is not None:
        operand = np.transpose(operand, dimensions)
    return operand.reshape(new_sizes)


def _reshape_sample(dtype: np.dtype) -> list[Example]:
    cases = [((2, 3), (3, 2), None), ((2, 3), (6,), None), ((), (1, 1), None),
             ((1,), (), None), ((0, 3), (3, 0), None), ((2, 3, 4), (4, 6), (2, 0, 1)),
             ((2, 3), (3, 2), (1, 0)), ((0,), (2, 0, 5), None)]
    return [Example((_sample_array(s, dtype, seed=i),),
                    {"new_sizes": out, "dimensions": dims})
            for i, (s, out, dims) in enumerate(cases)]


def _reshape_transpose(ct: Any, operand: Any, *, new_sizes: tuple[int, ...],
                       dimensions: tuple[int, ...] | None) -> list[Any]:
    in_shape = operand.aval.shape
    if dimensions is None:
        return [reshape_p.bind(ct, new_sizes=in_shape, dimensions=None)]
    # Undo the C-order reshape into the permuted shape, then the permutation.
    permuted = tuple(in_shape[d] for d in dimensions)
    out = reshape_p.bind(ct, new_sizes=permuted, dimensions=None)
    return [transpose_p.bind(out, permutation=_inverse_permutation(dimensions))]


def _inverse_permutation(perm: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argsort(perm))


def _reshape_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                   new_sizes: tuple[int, ...], dimensions: tuple[int, ...] | None
                   ) -> tuple[Any, int]:
    (operand,), (bdim,) = vals, dims
    shape = core.get_aval(operand).shape
    example = shape[:bdim] + shape[bdim + 1:]
    if dimensions is None:
        # A batch dimension with the same dimensions before it (or after it) in the operand
        # and in the result can stay where it is: the reshape is a plain C-order one.
        if example[:bdim] == new_sizes[:bdim]:
            out_dim = bdim
        else:
            after = len(example) - bdim
            out_dim = len(new_sizes) - after
            if out_dim < 0 or example[bdim:] != new_sizes[out_dim:]:
                out_dim = None
        if out_dim is not None:
            out_shape = (*new_sizes[:out_dim], axis.size, *new_sizes[out_dim:])
            return reshape_p.bind(operand, new_sizes=out_shape, dimensions=None), out_dim
    # Otherwise the batch goes first, through the permutation the reshape applies anyway.
    perm = range(len(example)) if dimensions is None else dimensions
    full = (bdim, *(shift_axis(d, bdim) for d in perm))
    return reshape_p.bind(operand, new_sizes=(axis.size, *new_sizes),
                          dimensions=None if full == tuple(range(len(full))) else full), 0


reshape_p = define_primitive(
    "reshape", family="structural", impl=_reshape_impl, abstract_eval=_reshape_rule,
    dtypes=dt.ALL, sample=_reshape_sample, **_linear(_reshape_transpose),
    batch=_reshape_batch,
    doc="C-order reshape, after permuting the operand's axes by dimensions if given")


def reshape(operand: Any, new_sizes: Sequence[int],
            dimensions: Sequence[int] | None = None) -> Any:
    """Reshape ``operand`` to ``new_sizes`` in C order; ``dimensions``, if given, is a
    permutation of the operand's axes applied first (as ``transpose`` would).

    >>> import numpy as np
    >>> reshape(np.arange(6, dtype=np.int32), (2, 3)).shape
    (2, 3)
    """
    ndim = core.get_aval(operand).ndim
    new_sizes = rules.int_tuple("reshape", "new_sizes", new_sizes)
    dims = None
    if dimensions is not None:
        dims = _axes("reshape", dimensions, ndim)
        if dims == tuple(range(ndim)):
            dims = None  # the identity permutation is no permutation: one canonical form
    return reshape_p.bind(operand, new_sizes=new_sizes, dimensions=dims)


def collapse(operand: Any, start_dimension: int, stop_dimension: int | None = None) -> Any:
    """Merge dimensions ``[start_dimension, stop_dimension)`` into one (row-major)."""
    shape = tuple(core.get_aval(operand).shape)
    lo, hi, _ = slice(start_dimension, stop_dimension).indices(len(shape))
    if hi < lo:
        raise ShapeError(f"functrans.lax.collapse: invalid dimension range "
                         f"{shape}[{start_dimension}:{stop_dimension}]")
    new_shape = shape[:lo] + (math.prod(shape[lo:hi]),) + shape[hi:]
    return reshape_p.bind(operand, new_sizes=new_shape, dimensions=None)


# --- transpose ----------------------------------------------------------------------------------


def _transpose_rule(operand: ShapedArray, *, permutation: tuple[int, ...]) -> ShapedArray:
    rules.check_dtype("transpose", operand, ALL)
    perm = _check_permutation("transpose", "permutation", permutation, operand)
    return ShapedArray(tuple(operand.shape[p] for p in perm), operand.dtype, operand.weak_type)


def _transpose_impl(operand: np.ndarray, *, permutation: tuple[int, ...]) -> np.ndarray:
    return np.transpose(operand, permutation)


def _transpose_sample(dtype: np.dtype) -> list[Example]:
    cases = [((2, 3), (1, 0)), ((2, 3, 4), (2, 0, 1)), ((), ()), ((0, 3), (1, 0)),
             ((3,), (0,)), ((2, 1, 3), (0, 1, 2))]
    return [Example((_sample_array(s, dtype, seed=i),), {"permutation": p})
            for i, (s, p) in enumerate(cases)]


def _transpose_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                     permutation: tuple[int, ...]) -> tuple[Any, int]:
    # The batch dimension keeps its position (JAX moves it first); the per-example axes are
    # permuted around it.
    (operand,), (bdim,) = vals, dims
    perm = [shift_axis(p, bdim) for p in permutation]
    perm.insert(bdim, bdim)
    return transpose_p.bind(operand, permutation=tuple(perm)), bdim


transpose_p = define_primitive(
    "transpose", family="structural", impl=_transpose_impl, abstract_eval=_transpose_rule,
    dtypes=dt.ALL, sample=_transpose_sample,
    **_linear(lambda ct, operand, *, permutation: [
        transpose_p.bind(ct, permutation=_inverse_permutation(permutation))]),
    batch=_transpose_batch,
    doc="permute axes: output axis i is operand axis permutation[i]")


def transpose(operand: Any, permutation: Sequence[int]) -> Any:
    """Permute the axes of ``operand``: output axis ``i`` is operand axis ``permutation[i]``."""
    ndim = core.get_aval(operand).ndim
    return transpose_p.bind(operand, permutation=_axes("transpose", permutation, ndim,
                                                       "permutation"))


# --- squeeze, expand_dims -----------------------------------------------------------------------


def _squeeze_rule(operand: ShapedArray, *, dimensions: tuple[int, ...]) -> ShapedArray:
    rules.check_dtype("squeeze", operand, ALL)
    dims = rules.canonical_axes("squeeze", _check_ints("squeeze", "dimensions", dimensions),
                                operand.ndim, "dimensions")
    for d in dims:
        if operand.shape[d] != 1:
            raise ShapeError(f"functrans.lax.squeeze: cannot squeeze dimension {d} of "
                             f"{operand.str_short()}: it has size {operand.shape[d]}, not 1")
    shape = tuple(s for i, s in enumerate(operand.shape) if i not in dims)
    return ShapedArray(shape, operand.dtype, operand.weak_type)


def _squeeze_impl(operand: np.ndarray, *, dimensions: tuple[int, ...]) -> np.ndarray:
    return np.squeeze(operand, axis=dimensions)


def _squeeze_sample(dtype: np.dtype) -> list[Example]:
    cases = [((1, 3), (0,)), ((2, 1, 1), (1, 2)), ((1,), (0,)), ((), ()), ((0, 1), (1,)),
             ((2, 3), ()), ((1, 1), (0, 1))]
    return [Example((_sample_array(s, dtype, seed=i),), {"dimensions": d})
            for i, (s, d) in enumerate(cases)]


def _per_example_axes(operand: Any, bdim: int, dimensions: tuple[int, ...]
                      ) -> tuple[int, ...]:
    """``dimensions`` (per-example axes; a direct bind may give negative ones) as axes of the
    batched ``operand``."""
    ndim = core.get_aval(operand).ndim - 1
    return tuple(shift_axis(d % ndim, bdim) for d in dimensions)


def _squeeze_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                   dimensions: tuple[int, ...]) -> tuple[Any, int]:
    (operand,), (bdim,) = vals, dims
    squeezed = _per_example_axes(operand, bdim, dimensions)
    out_dim = bdim - sum(d < bdim for d in squeezed)
    return squeeze_p.bind(operand, dimensions=squeezed), out_dim


squeeze_p = define_primitive(
    "squeeze", family="structural", impl=_squeeze_impl, abstract_eval=_squeeze_rule,
    dtypes=dt.ALL, sample=_squeeze_sample,
    **_linear(lambda ct, operand, *, dimensions: [
        expand_dims_p.bind(ct, dimensions=tuple(sorted(dimensions)))]),
    batch=_squeeze_batch,
    doc="remove the listed size-1 dimensions")


def squeeze(array: Any, dimensions: Sequence[int]) -> Any:
    """Remove the listed dimensions, each of size 1 (negative axes count from the end)."""
    ndim = core.get_aval(array).ndim
    return squeeze_p.bind(array, dimensions=tuple(sorted(_axes("squeeze", dimensions, ndim))))


def _expand_dims_rule(operand: ShapedArray, *, dimensions: tuple[int, ...]) -> ShapedArray:
    rules.check_dtype("expand_dims", operand, ALL)
    dims = _check_ints("expand_dims", "dimensions", dimensions)
    ndim_out = operand.ndim + len(dims)
    if any(not 0 <= d < ndim_out for d in dims) or len(set(dims)) != len(dims):
        raise ShapeError(f"functrans.lax.expand_dims: dimensions={dims} must be distinct "
                         f"positions of the result, whose rank is {ndim_out}")
    shape = list(operand.shape)
    for d in sorted(dims):
        shape.insert(d, 1)
    return ShapedArray(tuple(shape), operand.dtype, operand.weak_type)


def _expand_dims_impl(operand: np.ndarray, *, dimensions: tuple[int, ...]) -> np.ndarray:
    return np.expand_dims(operand, dimensions)


def _expand_dims_sample(dtype: np.dtype) -> list[Example]:
    cases = [((), (0,)), ((3,), (0,)), ((3,), (1,)), ((2, 3), (0, 2, 4)), ((0,), (1,)),
             ((2, 3), ()), ((), (0, 1))]
    return [Example((_sample_array(s, dtype, seed=i),), {"dimensions": d})
            for i, (s, d) in enumerate(cases)]


def _expand_dims_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                       dimensions: tuple[int, ...]) -> tuple[Any, int]:
    # ``dimensions`` are positions of the result. The batch dimension goes right after the
    # result position of the operand dimension before it, so that no axis moves.
    (operand,), (bdim,) = vals, dims
    ndim_out = core.get_aval(operand).ndim - 1 + len(dimensions)
    kept = [d for d in range(ndim_out) if d not in dimensions]
    out_dim = kept[bdim - 1] + 1 if bdim else 0
    new = tuple(sorted(shift_axis(d, out_dim) for d in dimensions))
    return expand_dims_p.bind(operand, dimensions=new), out_dim


expand_dims_p = define_primitive(
    "expand_dims", family="structural", impl=_expand_dims_impl,
    abstract_eval=_expand_dims_rule, dtypes=dt.ALL, sample=_expand_dims_sample,
    **_linear(lambda ct, operand, *, dimensions: [
        squeeze_p.bind(ct, dimensions=tuple(sorted(dimensions)))]),
    batch=_expand_dims_batch,
    doc="insert size-1 dimensions at the listed positions of the output")


def expand_dims(array: Any, dimensions: Sequence[int]) -> Any:
    """Insert size-1 dimensions at positions ``dimensions`` of the result (negative positions
    count from the end of the result, as in ``np.expand_dims``)."""
    dims = rules.int_tuple("expand_dims", "dimensions", dimensions)
    if len(set(dims)) != len(dims):
        raise ShapeError(f"functrans.lax.expand_dims: dimensions={dims} has repeated axes")
    ndim_out = core.get_aval(array).ndim + len(dims)
    return expand_dims_p.bind(
        array, dimensions=tuple(sorted(_axes("expand_dims", dims, ndim_out))))


# --- rev ----------------------------------------------------------------------------------------


def _rev_rule(operand: ShapedArray, *, dimensions: tuple[int, ...]) -> ShapedArray:
    rules.check_dtype("rev", operand, ALL)
    rules.canonical_axes("rev", _check_ints("rev", "dimensions", dimensions), operand.ndim,
                         "dimensions")
    return operand


def _rev_impl(operand: np.ndarray, *, dimensions: tuple[int, ...]) -> np.ndarray:
    index = [slice(None)] * operand.ndim
    for d in dimensions:
        index[d] = slice(None, None, -1)
    return _view(operand, tuple(index))


def _rev_sample(dtype: np.dtype) -> list[Example]:
    cases = [((5,), (0,)), ((2, 3), (0, 1)), ((2, 3), (1,)), ((), ()), ((0, 3), (0,)),
             ((2, 3), ())]
    return [Example((_sample_array(s, dtype, seed=i),), {"dimensions": d})
            for i, (s, d) in enumerate(cases)]


def _rev_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
               dimensions: tuple[int, ...]) -> tuple[Any, int]:
    (operand,), (bdim,) = vals, dims
    return rev_p.bind(operand, dimensions=_per_example_axes(operand, bdim, dimensions)), bdim


rev_p = define_primitive(
    "rev", family="structural", impl=_rev_impl, abstract_eval=_rev_rule, dtypes=dt.ALL,
    sample=_rev_sample,
    **_linear(lambda ct, operand, *, dimensions: [rev_p.bind(ct, dimensions=dimensions)]),
    batch=_rev_batch,
    doc="reverse the order of elements along the listed dimensions")


def rev(operand: Any, dimensions: Sequence[int]) -> Any:
    """Reverse ``operand`` along each of ``dimensions``."""
    ndim = core.get_aval(operand).ndim
    return rev_p.bind(operand, dimensions=tuple(sorted(_axes("rev", dimensions, ndim))))


# --- iota ---------------------------------------------------------------------------------------


def _iota_rule(*, dtype: np.dtype, shape: tuple[int, ...], dimension: int) -> ShapedArray:
    if not isinstance(dtype, np.dtype) or dtype not in NUMERIC:
        raise DtypeError(f"functrans.lax.iota: dtype {dtype} is not accepted; expected "
                         f"{rules.describe_dtypes(NUMERIC)}")
    shape = _check_ints("iota", "shape", shape, minimum=0)
    if not isinstance(dimension, (int, np.integer)) or not 0 <= dimension < len(shape):
        raise ShapeError(f"functrans.lax.iota: dimension={dimension!r} out of range for shape "
                         f"{shape}")
    return ShapedArray(shape, dtype, False)


def _iota_impl(*, dtype: np.dtype, shape: tuple[int, ...], dimension: int) -> np.ndarray:
    n = shape[dimension]
    # Count in int64 and cast, so narrow integer dtypes wrap around as in XLA.
    values = np.arange(n, dtype=np.int64).astype(dtype)
    along = [1] * len(shape)
    along[dimension] = n
    return np.broadcast_to(values.reshape(along), shape)


def _iota_sample(dtype: np.dtype) -> list[Example]:
    cases = [((5,), 0), ((2, 3), 1), ((2, 3), 0), ((0,), 0), ((3, 0, 2), 2), ((1,), 0),
             ((2, 2, 3), 1)]
    return [Example((), {"dtype": dtype, "shape": s, "dimension": d}, note=f"{s}-dim{d}")
            for s, d in cases]


def _iota_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None],
                **params: Any) -> tuple[Any, None]:
    # iota has no operands, so vmap never calls this (an unbatched primitive is bound as is);
    # were it called, the result is the same for every example.
    return iota_p.bind(**params), None


iota_p = define_primitive(
    "iota", family="structural", impl=_iota_impl, abstract_eval=_iota_rule,
    dtypes=dt.NUMERIC, sample=_iota_sample, jvp=jvp_zero(), batch=_iota_batch,
    doc="0, 1, 2, ... along dimension, broadcast to shape")


def broadcasted_iota(dtype: Any, shape: Sequence[int], dimension: int) -> Any:
    """An array of ``shape`` whose values count 0, 1, ... along ``dimension``."""
    shape = rules.int_tuple("broadcasted_iota", "shape", shape)
    return iota_p.bind(dtype=dt.canonicalize(dtype), shape=shape,
                       dimension=_axis("broadcasted_iota", dimension, len(shape), "dimension"))


def iota(dtype: Any, size: int) -> Any:
    """``[0, 1, ..., size - 1]`` as a 1-d array of ``dtype``.

    >>> import numpy as np
    >>> np.asarray(iota(np.float32, 3)).tolist()
    [0.0, 1.0, 2.0]
    """
    return iota_p.bind(dtype=dt.canonicalize(dtype), shape=(operator.index(size),),
                       dimension=0)
