"""Slicing primitives: pad, concatenate, split, slice, dynamic_slice and
dynamic_update_slice, with their ``functrans.lax`` wrappers and lax's conveniences built on
them (slice_in_dim, index_in_dim, the dynamic_*_in_dim family).

Dynamic start indices are clamped into range as in XLA. Every primitive here is linear in its
array operands (pad jointly in operand and padding_value, dynamic_update_slice in operand and
update); start indices are never differentiated. Batched start indices turn dynamic_slice and
dynamic_update_slice into a gather/scatter with batching dimensions, as in JAX. Imports
``core``, ``registry``, ``rules``, ``ad_rules``, ``batch_rules``, ``structural`` (its parameter
and differentiation helpers) and ``elementwise`` (whose lt/add/select_n wrap traced negative
indices, as lax does; sub for pad's transpose; select_n for pad's batching), and ``indexing``
lazily, inside the batching rules.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.core import ShapedArray, Tracer
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import elementwise, rules
from functrans.primitives.ad_rules import (
    JVPRule, Zero, aval_of, instantiate, is_undefined, tangent_aval, zeros_like_aval,
)
from functrans.primitives.batch_rules import (
    AxisData, broadcast_batched, moveaxis, shape_of, shift_axis,
)
from functrans.primitives.registry import Example, define_primitive
from functrans.primitives.structural import (
    _axis, _check_ints, _check_rank, _linear, _reduce_sum, _sample_array, _view,
    broadcast_in_dim_p, expand_dims, squeeze,
)

__all__ = [
    "pad_p", "concatenate_p", "split_p", "slice_p", "dynamic_slice_p",
    "dynamic_update_slice_p", "pad", "concatenate", "split", "slice_", "slice_in_dim",
    "index_in_dim", "dynamic_slice", "dynamic_slice_in_dim", "dynamic_index_in_dim",
    "dynamic_update_slice", "dynamic_update_slice_in_dim", "dynamic_update_index_in_dim",
]

ALL = frozenset(dt.ALL)
INTEGER = frozenset(dt.INTEGER)

# --- pad ----------------------------------------------------------------------------------------


def _padded_size(size: int, lo: int, hi: int, interior: int) -> int:
    return lo + hi + size + max(size - 1, 0) * interior


def _pad_rule(operand: ShapedArray, padding_value: ShapedArray, *,
              padding_config: tuple[tuple[int, int, int], ...]) -> ShapedArray:
    name = "pad"
    dtype = rules.check_same_dtypes(name, (operand, padding_value))
    rules.check_dtype(name, operand, ALL)
    if padding_value.shape:
        raise ShapeError(f"functrans.lax.pad: padding_value must be 0-d, got "
                         f"{padding_value.str_short()}")
    if not isinstance(padding_config, tuple) or not all(
            isinstance(c, tuple) and len(c) == 3 for c in padding_config):
        raise TypeError(f"functrans.lax.pad: padding_config must be a tuple of (lo, hi, "
                        f"interior) triples, got {padding_config!r}")
    _check_rank(name, "padding_config", padding_config, operand)
    shape = []
    for axis, (size, config) in enumerate(zip(operand.shape, padding_config, strict=True)):
        lo, hi, interior = _check_ints(name, "each padding_config entry", config)
        if interior < 0:
            raise ShapeError(f"functrans.lax.pad: interior padding must be >= 0, got "
                             f"{interior} for dimension {axis}")
        n = _padded_size(size, lo, hi, interior)
        if n < 0:
            raise ShapeError(
                f"functrans.lax.pad: padding (lo={lo}, hi={hi}, interior={interior}) of "
                f"dimension {axis} (size {size}) of {operand.str_short()} gives a negative "
                f"size {n}; negative lo/hi may crop at most the whole padded dimension")
        shape.append(n)
    return ShapedArray(tuple(shape), dtype, operand.weak_type and padding_value.weak_type)


def _pad_impl(operand: np.ndarray, padding_value: np.ndarray, *,
              padding_config: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    shape = tuple(_padded_size(s, *c) for s, c in zip(operand.shape, padding_config,
                                                       strict=True))
    out = np.full(shape, padding_value, operand.dtype)
    src, dst = [], []
    # Operand element j lands at lo + j * step of the result. With negative lo/hi only the
    # elements that land inside [0, n) survive; they form a contiguous run j_first..j_end-1.
    for size, n, (lo, _, interior) in zip(operand.shape, shape, padding_config, strict=True):
        step = interior + 1
        j_first = max(0, -(lo // step))
        j_end = max(0, min(size, (n - 1 - lo) // step + 1))
        if j_end <= j_first:
            src.append(slice(0, 0))
            dst.append(slice(0, 0))
        else:
            src.append(slice(j_first, j_end))
            dst.append(slice(lo + j_first * step, lo + (j_end - 1) * step + 1, step))
    out[(*dst, Ellipsis)] = operand[(*src, Ellipsis)]
    return out


def _pad_sample(dtype: np.dtype) -> list[Example]:
    cases = [((3,), ((1, 2, 0),)), ((3,), ((0, 0, 2),)), ((3,), ((-1, 1, 1),)),
             ((2, 3), ((1, 0, 1), (-2, 2, 0))), ((), ()), ((0,), ((2, 1, 3),)),
             ((0, 2), ((0, 0, 1), (1, -1, 0))), ((4,), ((-2, -2, 0),)),
             ((3,), ((-5, 3, 0),)), ((2,), ((-3, 0, 2),)), ((3, 2), ((0, -4, 1), (1, 1, 0)))]
    value = _sample_array((), dtype, seed=99)
    return [Example((_sample_array(s, dtype, seed=i), value), {"padding_config": c})
            for i, (s, c) in enumerate(cases)]


def _zero_scalar(x: Any) -> np.ndarray:
    return np.zeros((), aval_of(x).dtype)


def _total(x: Any) -> Any:
    return _reduce_sum(x, tuple(range(aval_of(x).ndim)))


def _unpad(ct: Any, padding_config: tuple[tuple[int, int, int], ...]) -> Any:
    """The operand's cotangent: the elements of ``ct`` where operand elements landed. Padding
    by (-lo, -hi) undoes the edges (zeros come back where lo/hi cropped the operand), and a
    strided slice drops the interior padding."""
    if any(lo or hi for lo, hi, _ in padding_config):
        ct = pad_p.bind(ct, _zero_scalar(ct),
                        padding_config=tuple((-lo, -hi, 0) for lo, hi, _ in padding_config))
    if any(interior for _, _, interior in padding_config):
        shape = aval_of(ct).shape
        ct = slice_p.bind(ct, start_indices=(0,) * len(shape), limit_indices=shape,
                          strides=tuple(interior + 1 for _, _, interior in padding_config))
    return ct


def _pad_transpose(ct: Any, operand: Any, padding_value: Any, *,
                   padding_config: tuple[tuple[int, int, int], ...]) -> list[Any]:
    op_ct = _unpad(ct, padding_config)
    pv_ct = None
    if is_undefined(padding_value):
        # Every output element not taken from the operand is the padding value. (JAX computes
        # the operand's part only when the operand is undefined and then fails on
        # pad(constant, x); here it is computed whenever either cotangent needs it.)
        pv_ct = elementwise.sub(_total(ct), _total(op_ct))
    return [op_ct if is_undefined(operand) else None, pv_ct]


def _pad_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
               padding_config: tuple[tuple[int, int, int], ...]) -> tuple[Any, int]:
    operand, padding_value = vals
    op_dim, pv_dim = dims
    if pv_dim is None:
        config = list(padding_config)
        config.insert(op_dim, (0, 0, 0))
        return pad_p.bind(operand, padding_value, padding_config=tuple(config)), op_dim
    # One padding value per example: pad with zeros, then select each example's value where
    # a mask (True padded with False) says the element is padding (JAX's rule). An unbatched
    # operand is padded once and then broadcast, rather than broadcast and padded.
    a = aval_of(operand)
    zero = core.Array._wrap(np.zeros((), a.dtype), a.weak_type)
    out_dim = 0 if op_dim is None else op_dim
    config = list(padding_config)
    if op_dim is None:
        padded = broadcast_batched(pad_p.bind(operand, zero, padding_config=padding_config),
                                   axis.size, out_dim)
        example_shape = a.shape
    else:
        config.insert(op_dim, (0, 0, 0))
        padded = pad_p.bind(operand, zero, padding_config=tuple(config))
        example_shape = a.shape[:op_dim] + a.shape[op_dim + 1:]
    out_shape = shape_of(padded)
    inside = pad_p.bind(np.ones(example_shape, np.bool_), np.zeros((), np.bool_),
                        padding_config=padding_config)
    mask = broadcast_in_dim_p.bind(
        inside, shape=out_shape,
        broadcast_dimensions=tuple(d for d in range(len(out_shape)) if d != out_dim))
    fill = broadcast_in_dim_p.bind(moveaxis(padding_value, pv_dim, 0), shape=out_shape,
                                   broadcast_dimensions=(out_dim,))
    return elementwise.select_n(mask, fill, padded), out_dim


pad_p = define_primitive(
    "pad", family="structural", impl=_pad_impl, abstract_eval=_pad_rule, dtypes=dt.ALL,
    sample=_pad_sample, **_linear(_pad_transpose, linear_in=(0, 1)), batch=_pad_batch,
    doc="pad with padding_value: (lo, hi, interior) per dimension; negative lo/hi crop")


def _like_operand(value: Any, operand: ShapedArray) -> Any:
    """A Python scalar takes the operand's dtype when weak typing allows it (0.0 beside a
    float16 array, 1 beside an int8 one), and stays weakly typed, as in lax; anything else is
    passed through for the rule to check."""
    if type(value) not in (bool, int, float, complex):
        return value
    dtype, _ = dt.result_type_of((operand.dtype, operand.weak_type),
                                 (dt.scalar_dtype(value), type(value) is not bool))
    if dtype != operand.dtype:
        return value
    arr = np.asarray(value, dtype)
    arr.flags.writeable = False
    return core.Array._wrap(arr, type(value) is not bool)


def pad(operand: Any, padding_value: Any,
        padding_config: Sequence[tuple[int, int, int]]) -> Any:
    """Pad ``operand`` with the 0-d ``padding_value``: per dimension ``(lo, hi, interior)``
    elements before, after and between the elements; negative ``lo``/``hi`` crop.

    >>> import numpy as np
    >>> np.asarray(pad(np.array([1, 2], np.int32), 0, [(1, -1, 1)])).tolist()
    [0, 1, 0]
    """
    config = tuple(rules.int_tuple("pad", "each padding_config entry", c) for c in padding_config)
    return pad_p.bind(operand, _like_operand(padding_value, core.get_aval(operand)),
                      padding_config=config)


# --- concatenate, split -------------------------------------------------------------------------


def _concatenate_rule(*operands: ShapedArray, dimension: int) -> ShapedArray:
    name = "concatenate"
    if not operands:
        raise TypeError("functrans.lax.concatenate: needs at least one operand")
    dtype = rules.check_same_dtypes(name, operands)
    rules.check_dtype(name, operands[0], ALL)
    shown = ", ".join(a.str_short() for a in operands)
    first = operands[0]
    if any(a.ndim != first.ndim for a in operands):
        raise ShapeError(f"functrans.lax.concatenate: operands must have the same rank, got "
                         f"{shown}")
    if not isinstance(dimension, (int, np.integer)) or not 0 <= dimension < first.ndim:
        raise ShapeError(f"functrans.lax.concatenate: dimension={dimension!r} out of range "
                         f"for operands of rank {first.ndim} ({shown})")
    for a in operands:
        if any(s != t for i, (s, t) in enumerate(zip(a.shape, first.shape)) if i != dimension):
            raise ShapeError(f"functrans.lax.concatenate: operand shapes may differ only in "
                             f"dimension {dimension}, got {shown}")
    shape = list(first.shape)
    shape[dimension] = sum(a.shape[dimension] for a in operands)
    return ShapedArray(tuple(shape), dtype, all(a.weak_type for a in operands))


def _concatenate_impl(*operands: np.ndarray, dimension: int) -> np.ndarray:
    return np.concatenate(operands, axis=dimension)


def _concatenate_sample(dtype: np.dtype) -> list[Example]:
    cases = [(((2, 3), (1, 3)), 0), (((2, 3), (2, 0), (2, 1)), 1), (((3,),), 0),
             (((0,), (0,)), 0), (((0, 2), (3, 2)), 0), (((2, 1, 2), (2, 2, 2)), 1)]
    return [Example(tuple(_sample_array(s, dtype, seed=i + k) for k, s in enumerate(ss)),
                    {"dimension": d})
            for i, (ss, d) in enumerate(cases)]


def _concatenate_transpose(ct: Any, *operands: Any, dimension: int) -> list[Any]:
    out: list[Any] = []
    shape = aval_of(ct).shape
    start = 0
    for x in operands:
        size = aval_of(x).shape[dimension]
        if is_undefined(x):
            starts, limits = [0] * len(shape), list(shape)
            starts[dimension], limits[dimension] = start, start + size
            out.append(slice_p.bind(ct, start_indices=tuple(starts),
                                    limit_indices=tuple(limits), strides=None))
        else:
            out.append(None)
        start += size
    return out


def _concatenate_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                       dimension: int) -> tuple[Any, int]:
    # The operands need their batch dimension at one position: the most common one moves the
    # fewest operands (JAX moves them all to the front). Unbatched operands are broadcast.
    out_dim = Counter(d for d in dims if d is not None).most_common(1)[0][0]
    operands = [broadcast_batched(v, axis.size, out_dim) if d is None else
                moveaxis(v, d, out_dim) for v, d in zip(vals, dims, strict=True)]
    return (concatenate_p.bind(*operands, dimension=shift_axis(dimension, out_dim)),
            out_dim)


concatenate_p = define_primitive(
    "concatenate", family="structural", impl=_concatenate_impl,
    abstract_eval=_concatenate_rule, dtypes=dt.ALL, sample=_concatenate_sample,
    **_linear(_concatenate_transpose, linear_in="all"), batch=_concatenate_batch,
    doc="join operands along an existing dimension")


def concatenate(operands: Sequence[Any], dimension: int) -> Any:
    """Join ``operands`` (same dtype, same shape except along ``dimension``)."""
    operands = list(operands)
    if not operands:
        raise TypeError("functrans.lax.concatenate: needs at least one operand")
    ndim = core.get_aval(operands[0]).ndim
    return concatenate_p.bind(*operands,
                              dimension=_axis("concatenate", dimension, ndim, "dimension"))


def _split_rule(operand: ShapedArray, *, sizes: tuple[int, ...], axis: int
                ) -> list[ShapedArray]:
    rules.check_dtype("split", operand, ALL)
    sizes = _check_ints("split", "sizes", sizes, minimum=0)
    if not isinstance(axis, (int, np.integer)) or not 0 <= axis < operand.ndim:
        raise ShapeError(f"functrans.lax.split: axis={axis!r} out of range for the operand "
                         f"{operand.str_short()}")
    if sum(sizes) != operand.shape[axis]:
        raise ShapeError(f"functrans.lax.split: sizes={sizes} sum to {sum(sizes)}, but axis "
                         f"{axis} of {operand.str_short()} has size {operand.shape[axis]}")
    shape = list(operand.shape)
    outs = []
    for s in sizes:
        shape[axis] = s
        outs.append(ShapedArray(tuple(shape), operand.dtype, operand.weak_type))
    return outs


def _split_impl(operand: np.ndarray, *, sizes: tuple[int, ...], axis: int
                ) -> list[np.ndarray]:
    starts = np.cumsum((0,) + sizes[:-1]) if sizes else ()
    lead = (slice(None),) * axis
    return [_view(operand, (*lead, slice(int(b), int(b) + s)))
            for b, s in zip(starts, sizes, strict=True)]


def _split_sample(dtype: np.dtype) -> list[Example]:
    cases = [((5,), (2, 3), 0), ((2, 4), (1, 0, 3), 1), ((0,), (), 0), ((3, 2), (3,), 0),
             ((0, 3), (0, 0), 0), ((2, 0), (0,), 1)]
    return [Example((_sample_array(s, dtype, seed=i),), {"sizes": sz, "axis": a})
            for i, (s, sz, a) in enumerate(cases)]


def _split_transpose(cts: list[Any], operand: Any, *, sizes: tuple[int, ...], axis: int
                     ) -> list[Any]:
    # Unused pieces have symbolic-zero cotangents; they are materialized only when another
    # piece has a cotangent to concatenate them with.
    if all(type(ct) is Zero for ct in cts):
        return [Zero(tangent_aval(operand.aval))]
    return [concatenate_p.bind(*map(instantiate, cts), dimension=axis)]


def _split_batch(axis_data: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                 sizes: tuple[int, ...], axis: int) -> tuple[list[Any], list[int]]:
    # (The first argument is not called ``axis``: split has a parameter of that name.)
    (operand,), (bdim,) = vals, dims
    outs = split_p.bind(operand, sizes=sizes, axis=shift_axis(axis, bdim))
    return outs, [bdim] * len(outs)


split_p = define_primitive(
    "split", family="structural", impl=_split_impl, abstract_eval=_split_rule, dtypes=dt.ALL,
    sample=_split_sample, multiple_results=True,
    **_linear(_split_transpose), batch=_split_batch,
    doc="cut operand along axis into consecutive pieces of the given sizes")


def split(operand: Any, sizes: Sequence[int], axis: int = 0) -> list[Any]:
    """Cut ``operand`` along ``axis`` into pieces of ``sizes`` (which sum to its size)."""
    ndim = core.get_aval(operand).ndim
    return split_p.bind(operand, sizes=rules.int_tuple("split", "sizes", sizes),
                        axis=_axis("split", axis, ndim))


# --- slice --------------------------------------------------------------------------------------


def _slice_rule(operand: ShapedArray, *, start_indices: tuple[int, ...],
                limit_indices: tuple[int, ...], strides: tuple[int, ...] | None
                ) -> ShapedArray:
    name = "slice"
    rules.check_dtype(name, operand, ALL)
    start = _check_ints(name, "start_indices", start_indices)
    limit = _check_ints(name, "limit_indices", limit_indices)
    _check_rank(name, "start_indices", start, operand)
    _check_rank(name, "limit_indices", limit, operand)
    steps = (1,) * operand.ndim if strides is None else _check_ints(name, "strides", strides)
    _check_rank(name, "strides", steps, operand)
    if any(s < 1 for s in steps):
        raise ShapeError(f"functrans.lax.slice: strides={steps} must be >= 1; reverse with "
                         f"lax.rev")
    for axis, (lo, hi, size) in enumerate(zip(start, limit, operand.shape)):
        if not 0 <= lo <= hi <= size:
            raise ShapeError(
                f"functrans.lax.slice: cannot slice [{lo}:{hi}] from dimension {axis} (size "
                f"{size}) of {operand.str_short()}; lax.slice needs 0 <= start <= limit <= "
                f"size (functrans.numpy indexing clips and wraps negative indices)")
    shape = tuple(-(-(hi - lo) // s) for lo, hi, s in zip(start, limit, steps))
    return ShapedArray(shape, operand.dtype, operand.weak_type)


def _slice_impl(operand: np.ndarray, *, start_indices: tuple[int, ...],
                limit_indices: tuple[int, ...], strides: tuple[int, ...] | None
                ) -> np.ndarray:
    steps = strides or (1,) * operand.ndim
    return _view(operand, tuple(map(slice, start_indices, limit_indices, steps)))


def _slice_sample(dtype: np.dtype) -> list[Example]:
    cases = [((5,), (1,), (4,), None), ((5,), (0,), (5,), (2,)),
             ((2, 6), (0, 1), (2, 6), (1, 2)), ((5,), (2,), (2,), None), ((), (), (), None),
             ((0, 3), (0, 1), (0, 3), None), ((7,), (1,), (7,), (3,)),
             ((5,), (4,), (5,), (10,)), ((3, 4), (1, 0), (3, 4), (2, 3))]
    return [Example((_sample_array(s, dtype, seed=i),),
                    {"start_indices": a, "limit_indices": b, "strides": st})
            for i, (s, a, b, st) in enumerate(cases)]


def _slice_transpose(ct: Any, operand: Any, *, start_indices: tuple[int, ...],
                     limit_indices: tuple[int, ...], strides: tuple[int, ...] | None
                     ) -> list[Any]:
    # Put each taken element back where it came from: lo zeros before, stride - 1 between,
    # and the rest after (the limit may lie past the last taken element).
    in_shape = aval_of(operand).shape
    steps = strides or (1,) * len(in_shape)
    config = []
    for lo, size, n, step in zip(start_indices, in_shape, aval_of(ct).shape, steps,
                                 strict=True):
        spanned = n + max(n - 1, 0) * (step - 1)
        config.append((lo, size - lo - spanned, step - 1))
    return [pad_p.bind(ct, _zero_scalar(ct), padding_config=tuple(config))]


def _slice_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                 start_indices: tuple[int, ...], limit_indices: tuple[int, ...],
                 strides: tuple[int, ...] | None) -> tuple[Any, int]:
    # The whole batch dimension is taken.
    (operand,), (bdim,) = vals, dims

    def extend(values: tuple[int, ...], value: int) -> tuple[int, ...]:
        return (*values[:bdim], value, *values[bdim:])

    return slice_p.bind(operand, start_indices=extend(start_indices, 0),
                        limit_indices=extend(limit_indices, axis.size),
                        strides=None if strides is None else extend(strides, 1)), bdim


slice_p = define_primitive(
    "slice", family="structural", impl=_slice_impl, abstract_eval=_slice_rule, dtypes=dt.ALL,
    sample=_slice_sample, **_linear(_slice_transpose), batch=_slice_batch,
    doc="static slice operand[start:limit:stride] in every dimension")


def slice_(operand: Any, start_indices: Sequence[int], limit_indices: Sequence[int],
           strides: Sequence[int] | None = None) -> Any:
    """``operand[start:limit:stride]`` in every dimension, with static, in-range bounds
    (lax.slice; named ``slice_`` here so as not to shadow the builtin).

    >>> import numpy as np
    >>> np.asarray(slice_(np.arange(6, dtype=np.int32), (1,), (6,), (2,))).tolist()
    [1, 3, 5]
    """
    steps = None if strides is None else rules.int_tuple("slice", "strides", strides)
    if steps is not None and all(s == 1 for s in steps):
        steps = None  # unit strides have one canonical spelling
    return slice_p.bind(operand,
                        start_indices=rules.int_tuple("slice", "start_indices", start_indices),
                        limit_indices=rules.int_tuple("slice", "limit_indices", limit_indices),
                        strides=steps)


def slice_in_dim(operand: Any, start_index: int | None, limit_index: int | None,
                 stride: int = 1, axis: int = 0) -> Any:
    """``operand[..., start_index:limit_index:stride]`` along ``axis`` (negative indices count
    from the end; None means the whole extent)."""
    shape = core.get_aval(operand).shape
    axis = _axis("slice_in_dim", axis, len(shape))
    size = shape[axis]
    start = 0 if start_index is None else operator.index(start_index)
    limit = size if limit_index is None else operator.index(limit_index)
    start = start + size if start < 0 else start
    limit = limit + size if limit < 0 else limit
    starts, limits, strides = [0] * len(shape), list(shape), [1] * len(shape)
    starts[axis], limits[axis], strides[axis] = start, limit, operator.index(stride)
    return slice_(operand, starts, limits, strides)


def index_in_dim(operand: Any, index: int, axis: int = 0, keepdims: bool = True) -> Any:
    """``operand[..., index]`` along ``axis`` for a static ``index`` (negative counts from the
    end); ``keepdims`` keeps the indexed axis with size 1."""
    shape = core.get_aval(operand).shape
    axis = _axis("index_in_dim", axis, len(shape))
    index = operator.index(index)
    size = shape[axis]
    wrapped = index + size if index < 0 else index
    if not 0 <= wrapped < size:
        raise IndexError(f"functrans.lax.index_in_dim: index {index} is out of bounds for "
                         f"axis {axis} with size {size}")
    result = slice_in_dim(operand, wrapped, wrapped + 1, 1, axis)
    return result if keepdims else squeeze(result, (axis,))


# --- dynamic_slice, dynamic_update_slice --------------------------------------------------------


def _check_start_indices(name: str, operand: ShapedArray, indices: Sequence[ShapedArray]
                         ) -> None:
    if len(indices) != operand.ndim:
        raise ShapeError(f"functrans.lax.{name}: got {len(indices)} start indices for the "
                         f"operand {operand.str_short()}; it needs one per dimension")
    shown = ", ".join(i.str_short() for i in indices)
    if any(i.shape for i in indices):
        raise ShapeError(f"functrans.lax.{name}: start indices must be 0-d, got {shown}")
    if any(i.dtype not in INTEGER for i in indices) or len({i.dtype for i in indices}) > 1:
        raise DtypeError(f"functrans.lax.{name}: start indices must be integers of one dtype, "
                         f"got {shown}")


def _clamped_starts(shape: Sequence[int], indices: Sequence[np.ndarray],
                    sizes: Sequence[int]) -> list[int]:
    # XLA clamps each start into [0, dim - size] so that the window always fits; int() is
    # exact for every integer dtype (uint64 included), unlike arithmetic in the index dtype.
    return [min(max(int(i), 0), d - s) for i, d, s in zip(indices, shape, sizes, strict=True)]


def _window(starts: Sequence[int], sizes: Sequence[int]) -> tuple[slice, ...]:
    return tuple(slice(b, b + s) for b, s in zip(starts, sizes, strict=True))


def _dynamic_slice_rule(operand: ShapedArray, *start_indices: ShapedArray,
                        slice_sizes: tuple[int, ...]) -> ShapedArray:
    name = "dynamic_slice"
    rules.check_dtype(name, operand, ALL)
    _check_start_indices(name, operand, start_indices)
    sizes = _check_ints(name, "slice_sizes", slice_sizes, minimum=0)
    _check_rank(name, "slice_sizes", sizes, operand)
    if any(s > d for s, d in zip(sizes, operand.shape)):
        raise ShapeError(f"functrans.lax.dynamic_slice: slice_sizes={sizes} exceed the "
                         f"operand shape {operand.str_short()}")
    return ShapedArray(sizes, operand.dtype, operand.weak_type)


def _dynamic_slice_impl(operand: np.ndarray, *start_indices: np.ndarray,
                        slice_sizes: tuple[int, ...]) -> np.ndarray:
    starts = _clamped_starts(operand.shape, start_indices, slice_sizes)
    return _view(operand, _window(starts, slice_sizes))


def _index_args(values: Sequence[int], dtype: np.dtype) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(v, dtype) for v in values)


def _dynamic_slice_sample(dtype: np.dtype) -> list[Example]:
    cases = [
        ((5,), (1,), (3,), dt.int32), ((5,), (4,), (3,), dt.int32),
        ((5,), (-2,), (2,), dt.int8), ((5,), (100,), (1,), dt.int64),
        ((2, 3), (1, -1), (1, 2), dt.int32), ((), (), (), dt.int32),
        ((0,), (3,), (0,), dt.int32), ((4,), (2,), (0,), dt.uint8),
        ((3, 4), (2, 9), (2, 4), dt.uint64), ((4, 2), (-7, 1), (4, 1), dt.int16)]
    return [Example((_sample_array(s, dtype, seed=i), *_index_args(idx, idt)),
                    {"slice_sizes": sz}, note=f"start={idx}")
            for i, (s, idx, sz, idt) in enumerate(cases)]


def _jvp_linear_in_leading(n: int) -> JVPRule:
    """jvp of a primitive linear in its first ``n`` operands, the rest being start indices
    (integers, never differentiated): the primitive applied to those tangents, at the same
    indices."""

    def build(prim: Any) -> Any:
        def rule(primals: Sequence[Any], tangents: Sequence[Any], **params: Any) -> Any:
            ans = prim.bind(*primals, **params)
            if all(type(t) is Zero for t in tangents[:n]):
                return ans, Zero(tangent_aval(core.get_aval(ans)))
            return ans, prim.bind(*map(instantiate, tangents[:n]), *primals[n:], **params)

        return rule

    return JVPRule(build)


def _dynamic_slice_transpose(ct: Any, operand: Any, *start_indices: Any,
                             slice_sizes: tuple[int, ...]) -> list[Any]:
    # The window is clamped the same way when it is written back (same sizes, same starts).
    zeros = zeros_like_aval(tangent_aval(operand.aval))
    return [dynamic_update_slice_p.bind(zeros, ct, *start_indices),
            *[None] * len(start_indices)]


def _zero_start(start_indices: Sequence[Any]) -> np.ndarray:
    """A start index 0 of the dtype of the others (int32 when there are none)."""
    return np.zeros((), aval_of(start_indices[0]).dtype if start_indices else dt.int32)


def _index_vectors(size: int, start_indices: Sequence[Any], dims: Sequence[int | None]
                   ) -> Any:
    """The per-example start indices (0-d each) as one ``(size, n)`` array of index vectors
    (the gather/scatter layout), unbatched ones repeated across the batch."""
    columns = [broadcast_in_dim_p.bind(i, shape=(size, 1),
                                       broadcast_dimensions=() if d is None else (0,))
               for i, d in zip(start_indices, dims, strict=True)]
    return columns[0] if len(columns) == 1 else concatenate_p.bind(*columns, dimension=1)


def _dynamic_slice_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                         slice_sizes: tuple[int, ...]) -> tuple[Any, int]:
    operand, *starts = vals
    op_dim, *start_dims = dims
    sizes = list(slice_sizes)
    if all(d is None for d in start_dims):
        # One window for the whole batch: it spans the batch dimension.
        starts.insert(op_dim, _zero_start(starts))
        sizes.insert(op_dim, axis.size)
        return dynamic_slice_p.bind(operand, *starts, slice_sizes=tuple(sizes)), op_dim
    # A window per example: a gather of one index vector per example, which the operand's
    # batch dimension (if any) pairs with as a batching dimension (JAX's rule, through its
    # gather batching rule). Gather's CLIP mode clamps the starts as dynamic_slice does.
    from functrans.primitives.indexing import CLIP, GatherDimensionNumbers, gather_p
    index = _index_vectors(axis.size, starts, start_dims)
    n = len(slice_sizes)
    if op_dim is None:
        out_dim = 0
        dnums = GatherDimensionNumbers(offset_dims=tuple(range(1, n + 1)),
                                       collapsed_slice_dims=(), start_index_map=tuple(range(n)))
    else:
        # The batch stays where the operand has it: the output's batch dimension (the one
        # that is not an offset dimension) is put at the same position.
        out_dim = op_dim
        sizes.insert(op_dim, min(axis.size, 1))  # a batching dimension's window: 0 if empty
        dnums = GatherDimensionNumbers(
            offset_dims=tuple(d for d in range(n + 1) if d != op_dim), collapsed_slice_dims=(),
            start_index_map=tuple(shift_axis(d, op_dim) for d in range(n)),
            operand_batching_dims=(op_dim,), start_indices_batching_dims=(0,))
    out = gather_p.bind(operand, index, dimension_numbers=dnums, slice_sizes=tuple(sizes),
                        indices_are_sorted=False, unique_indices=op_dim is not None,
                        mode=CLIP, fill_value=None)
    return out, out_dim


dynamic_slice_p = define_primitive(
    "dynamic_slice", family="structural", impl=_dynamic_slice_impl,
    abstract_eval=_dynamic_slice_rule, dtypes=dt.ALL, sample=_dynamic_slice_sample,
    **_linear(_dynamic_slice_transpose, jvp=_jvp_linear_in_leading(1)),
    batch=_dynamic_slice_batch,
    doc="slice of static slice_sizes at traced start indices, clamped to fit (XLA)")


def _dynamic_update_slice_rule(operand: ShapedArray, update: ShapedArray,
                               *start_indices: ShapedArray) -> ShapedArray:
    name = "dynamic_update_slice"
    dtype = rules.check_same_dtypes(name, (operand, update))
    rules.check_dtype(name, operand, ALL)
    if update.ndim != operand.ndim or any(u > d for u, d in zip(update.shape, operand.shape)):
        raise ShapeError(f"functrans.lax.dynamic_update_slice: the update "
                         f"{update.str_short()} must have the operand's rank and fit inside "
                         f"the operand {operand.str_short()}")
    _check_start_indices(name, operand, start_indices)
    return ShapedArray(operand.shape, dtype, operand.weak_type and update.weak_type)


def _dynamic_update_slice_impl(operand: np.ndarray, update: np.ndarray,
                               *start_indices: np.ndarray) -> np.ndarray:
    starts = _clamped_starts(operand.shape, start_indices, update.shape)
    out = np.array(operand, copy=True)  # an ndarray even when given a 0-d NumPy scalar
    out[(*_window(starts, np.shape(update)), Ellipsis)] = update
    return out


def _dynamic_update_slice_sample(dtype: np.dtype) -> list[Example]:
    cases = [((5,), (2,), (1,), dt.int32), ((5,), (2,), (4,), dt.int32),
             ((5,), (3,), (-3,), dt.int8), ((3, 4), (2, 2), (2, 1), dt.int64),
             ((), (), (), dt.int32), ((0,), (0,), (1,), dt.int32), ((3,), (0,), (5,), dt.uint8),
             ((3, 3), (3, 3), (1, 1), dt.uint32), ((2, 5), (1, 5), (-1, 2), dt.int16)]
    return [Example((_sample_array(s, dtype, seed=i),
                     _sample_array(u, dtype, seed=i + 50), *_index_args(idx, idt)),
                    note=f"start={idx}")
            for i, (s, u, idx, idt) in enumerate(cases)]


def _dynamic_update_slice_transpose(ct: Any, operand: Any, update: Any, *start_indices: Any
                                    ) -> list[Any]:
    update_aval = aval_of(update)
    op_ct = upd_ct = None
    if is_undefined(operand):
        # The overwritten window of the operand does not reach the output.
        zeros = zeros_like_aval(tangent_aval(update_aval))
        op_ct = dynamic_update_slice_p.bind(ct, zeros, *start_indices)
    if is_undefined(update):
        upd_ct = dynamic_slice_p.bind(ct, *start_indices, slice_sizes=update_aval.shape)
    return [op_ct, upd_ct, *[None] * len(start_indices)]


def _dynamic_update_slice_batch(axis: AxisData, vals: Sequence[Any],
                                dims: Sequence[int | None]) -> tuple[Any, int]:
    operand, update, *starts = vals
    op_dim, up_dim, *start_dims = dims
    # The result is batched like the operand; an unbatched operand is broadcast (every
    # example writes into its own copy).
    out_dim = next(d for d in (op_dim, up_dim, 0) if d is not None)
    if op_dim is None:
        operand = broadcast_batched(operand, axis.size, out_dim)
    if all(d is None for d in start_dims):
        # One update window for the whole batch, spanning the batch dimension.
        update = (broadcast_batched(update, axis.size, out_dim) if up_dim is None else
                  moveaxis(update, up_dim, out_dim))
        starts.insert(out_dim, _zero_start(starts))
        return dynamic_update_slice_p.bind(operand, update, *starts), out_dim
    # A window per example: a scatter with the batch as a batching dimension (JAX's rule).
    # The update's batch dimension stays where it is: it is the updates' scatter dimension.
    from functrans.primitives.indexing import CLIP, ScatterDimensionNumbers, scatter_p
    index = _index_vectors(axis.size, starts, start_dims)
    if up_dim is None:
        up_dim = 0
        update = broadcast_batched(update, axis.size, up_dim)
    n = len(starts)
    dnums = ScatterDimensionNumbers(
        update_window_dims=tuple(d for d in range(n + 1) if d != up_dim),
        inserted_window_dims=(), scatter_dims_to_operand_dims=tuple(
            shift_axis(d, out_dim) for d in range(n)),
        operand_batching_dims=(out_dim,), scatter_indices_batching_dims=(0,))
    out = scatter_p.bind(operand, index, update, dimension_numbers=dnums,
                         indices_are_sorted=False, unique_indices=True, mode=CLIP)
    return out, out_dim


dynamic_update_slice_p = define_primitive(
    "dynamic_update_slice", family="structural", impl=_dynamic_update_slice_impl,
    abstract_eval=_dynamic_update_slice_rule, dtypes=dt.ALL,
    sample=_dynamic_update_slice_sample,
    **_linear(_dynamic_update_slice_transpose, linear_in=(0, 1),
              jvp=_jvp_linear_in_leading(2)),
    batch=_dynamic_update_slice_batch,
    doc="operand with update written at traced start indices, clamped to fit (XLA)")


def _is_static_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _start_index_list(name: str, ndim: int, start_indices: Any) -> list[Any]:
    """A sequence of scalar indices, or a 1-d array of them, as a list of ``ndim`` entries."""
    if isinstance(start_indices, (Tracer, core.Array, np.ndarray)):
        aval = core.get_aval(start_indices)
        if aval.ndim != 1:
            raise ShapeError(f"functrans.lax.{name}: start indices given as one array must be "
                             f"1-d, got {aval.str_short()}")
        if isinstance(start_indices, Tracer):
            # Pieces of a traced index vector come from this module's own primitives.
            start_indices = [squeeze(slice_(start_indices, (k,), (k + 1,)), (0,))
                             for k in range(aval.shape[0])]
        else:
            start_indices = list(core.to_numpy(start_indices))
    start_indices = list(start_indices)
    if len(start_indices) != ndim:
        raise ShapeError(f"functrans.lax.{name}: got {len(start_indices)} start indices for "
                         f"an operand of rank {ndim}; it needs one per dimension")
    return start_indices


def _dynamic_slice_indices(name: str, operand: Any, start_indices: Any,
                           allow_negative_indices: bool | Sequence[bool]) -> list[Any]:
    """Index operands for dynamic_slice/dynamic_update_slice, as lax prepares them: one 0-d
    integer operand per dimension, all of one dtype (the join of the given arrays' dtypes,
    int32 when all are Python ints), and, where allowed, a negative index i counts from the
    end (i + dim), for Python ints and traced values alike."""
    shape = core.get_aval(operand).shape
    indices = _start_index_list(name, len(shape), start_indices)
    if isinstance(allow_negative_indices, (bool, np.bool_)):
        allow = [bool(allow_negative_indices)] * len(shape)
    else:
        allow = [bool(a) for a in allow_negative_indices]
        if len(allow) != len(shape):
            raise ShapeError(f"functrans.lax.{name}: allow_negative_indices needs one entry "
                             f"per dimension ({len(shape)}), got {len(allow)}")
    avals = [None if _is_static_int(i) else core.get_aval(i) for i in indices]
    typed = [(a.dtype, a.weak_type) for a in avals if a is not None and a.dtype in INTEGER]
    dtype = dt.result_type_of(*typed)[0] if typed else dt.int32
    if dtype not in INTEGER:  # e.g. int64 with uint64: leave them for the rule to reject
        return indices
    out = []
    for i, aval, d, neg in zip(indices, avals, shape, allow, strict=True):
        if aval is None:
            i = int(i)
            i = i + d if neg and i < 0 else i
            info = np.iinfo(dtype)
            # Clipping to the dtype's range keeps the clamped start (only values beyond the
            # dimension are changed, and they clamp to its end either way).
            out.append(np.asarray(min(max(i, int(info.min)), int(info.max)), dtype))
        elif aval.dtype not in INTEGER:
            out.append(i)
        elif isinstance(i, Tracer):
            if aval.dtype != dtype:
                i = elementwise.convert_element_type(i, dtype)
            if neg and dtype.kind == "i":
                wrapped = elementwise.add(i, np.array(d).astype(dtype))
                i = elementwise.select_n(elementwise.lt(i, np.zeros((), dtype)), i, wrapped)
            out.append(i)
        else:
            v = np.asarray(core.to_numpy(i)).astype(dtype)
            if neg and dtype.kind == "i" and v < 0:
                # Add in the index dtype, as the traced path does (and lax: a dimension too
                # large for a narrow index dtype wraps around).
                with np.errstate(over="ignore"):
                    v = np.asarray(np.add(v, np.array(d).astype(dtype), dtype=dtype))
            out.append(v)
    return out


def dynamic_slice(operand: Any, start_indices: Any, slice_sizes: Sequence[int], *,
                  allow_negative_indices: bool | Sequence[bool] = True) -> Any:
    """The ``slice_sizes`` window of ``operand`` at (possibly traced) ``start_indices``.
    Negative starts count from the end (unless disallowed); then each start is clamped so the
    window fits, as in XLA.

    >>> import numpy as np
    >>> np.asarray(dynamic_slice(np.arange(5, dtype=np.int32), (4,), (2,))).tolist()
    [3, 4]
    """
    indices = _dynamic_slice_indices("dynamic_slice", operand, start_indices,
                                     allow_negative_indices)
    sizes = rules.int_tuple("dynamic_slice", "slice_sizes", slice_sizes)
    return dynamic_slice_p.bind(operand, *indices, slice_sizes=sizes)


def dynamic_update_slice(operand: Any, update: Any, start_indices: Any, *,
                         allow_negative_indices: bool | Sequence[bool] = True) -> Any:
    """``operand`` with ``update`` written at (possibly traced) ``start_indices``, clamped so
    that the update fits, as in XLA; negative starts count from the end unless disallowed."""
    indices = _dynamic_slice_indices("dynamic_update_slice", operand, start_indices,
                                     allow_negative_indices)
    return dynamic_update_slice_p.bind(operand, _like_operand(update, core.get_aval(operand)),
                                       *indices)


def _in_dim_indices(ndim: int, axis: int, index: Any) -> tuple[list[Any], list[bool]]:
    starts: list[Any] = [0] * ndim
    starts[axis] = index
    return starts, [i == axis for i in range(ndim)]


def dynamic_slice_in_dim(operand: Any, start_index: Any, slice_size: int, axis: int = 0, *,
                         allow_negative_indices: bool = True) -> Any:
    """``dynamic_slice`` along one ``axis``: ``operand[..., start:start + slice_size]``."""
    shape = core.get_aval(operand).shape
    axis = _axis("dynamic_slice_in_dim", axis, len(shape))
    starts, allow = _in_dim_indices(len(shape), axis, start_index)
    sizes = list(shape)
    sizes[axis] = operator.index(slice_size)
    return dynamic_slice(operand, starts, sizes,
                         allow_negative_indices=[a and allow_negative_indices for a in allow])


def dynamic_index_in_dim(operand: Any, index: Any, axis: int = 0, keepdims: bool = True, *,
                         allow_negative_indices: bool = True) -> Any:
    """``operand[..., index]`` along ``axis`` for a (possibly traced) ``index``, clamped."""
    axis = _axis("dynamic_index_in_dim", axis, core.get_aval(operand).ndim)
    result = dynamic_slice_in_dim(operand, index, 1, axis,
                                  allow_negative_indices=allow_negative_indices)
    return result if keepdims else squeeze(result, (axis,))


def dynamic_update_slice_in_dim(operand: Any, update: Any, start_index: Any, axis: int, *,
                                allow_negative_indices: bool = True) -> Any:
    """``dynamic_update_slice`` with a start index along one ``axis`` (0 elsewhere)."""
    ndim = core.get_aval(operand).ndim
    axis = _axis("dynamic_update_slice_in_dim", axis, ndim)
    starts, allow = _in_dim_indices(ndim, axis, start_index)
    return dynamic_update_slice(operand, update, starts,
                                allow_negative_indices=[a and allow_negative_indices
                                                        for a in allow])


def dynamic_update_index_in_dim(operand: Any, update: Any, index: Any, axis: int, *,
                                allow_negative_indices: bool = True) -> Any:
    """Write ``update`` (with or without the indexed axis) at ``index`` along ``axis``."""
    name = "dynamic_update_index_in_dim"
    ndim = core.get_aval(operand).ndim
    axis = _axis(name, axis, ndim)
    update = _like_operand(update, core.get_aval(operand))
    update_aval = core.get_aval(update)
    if update_aval.ndim == ndim - 1:
        update = expand_dims(update, (axis,))
    elif update_aval.ndim != ndim:
        raise ShapeError(f"functrans.lax.{name}: the update {update_aval.str_short()} must have "
                         f"rank {ndim} or {ndim - 1} for an operand of rank {ndim}")
    return dynamic_update_slice_in_dim(operand, update, index, axis,
                                       allow_negative_indices=allow_negative_indices)
