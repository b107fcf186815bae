"""Reduction primitives: reduce_sum/prod/max/min/and/or/xor over a tuple of axes, argmax and
argmin over one axis, and reduce_precision (rounding floats to a narrower float format).

As in ``lax``, a reduction keeps its operand's dtype (an int8 sum wraps) and an empty one gives
the identity; the NumPy impls pass ``dtype=``/``initial=`` so NumPy never widens. The axis
helpers are shared with the cumulative, sort and contraction families. A batched reduction
reduces the same axes shifted past the batch dimension. Imports ``core``, ``registry``,
``rules``, ``ad_rules``, ``batch_rules``, ``elementwise``, ``structural``, ``slicing`` (and
``cumulative`` lazily, in a rule: it imports this module).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.fpstate import quietly
from functrans.core import ShapedArray
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import rules
from functrans.primitives.ad_rules import Zero, jvp_linear, jvp_partials, jvp_zero, tangent_aval
from functrans.primitives.batch_rules import AxisData, BatchRule, batch_unary, shift_axis
from functrans.primitives.elementwise import _named, convert_element_type, div, eq, mul
from functrans.primitives.registry import Example, Primitive, define_primitive
from functrans.primitives.slicing import pad
from functrans.primitives.structural import broadcast_in_dim, reshape, transpose

__all__ = [
    "reduce_sum", "reduce_prod", "reduce_max", "reduce_min", "reduce_and", "reduce_or",
    "reduce_xor", "argmax", "argmin", "reduce_precision",
    "reduce_sum_p", "reduce_prod_p", "reduce_max_p", "reduce_min_p", "reduce_and_p",
    "reduce_or_p", "reduce_xor_p", "argmax_p", "argmin_p", "reduce_precision_p",
]

# --- axis parameters ----------------------------------------------------------------------------


def normalize_axis(axis: Any, ndim: int) -> int:
    """A wrapper-side axis: a Python int, counted from the end when negative. An axis that is
    out of range either way is returned unchanged, for abstract_eval to report."""
    a = operator.index(axis)
    return a + ndim if -ndim <= a < 0 else a


def normalize_axes(operand: Any, axes: Any) -> tuple[int, ...]:
    """``axes`` (an int or a sequence of ints) as a tuple of non-negative Python ints."""
    ndim = core.get_aval(operand).ndim
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    return tuple(normalize_axis(a, ndim) for a in axes)


def _check_axes(name: str, axes: Any, aval: ShapedArray) -> tuple[int, ...]:
    if not isinstance(axes, tuple):
        raise TypeError(f"functrans.lax.{name}: axes must be a tuple of ints, got {axes!r}")
    return rules.canonical_axes(name, axes, aval.ndim)


def _quiet(fn: Callable) -> Callable:
    """Run an impl without NumPy's overflow/invalid warnings (a float sum may overflow to inf,
    as it does in XLA) and always hand back an ndarray (NumPy reduces 0-d results to scalars)."""

    def impl(*args: Any, **params: Any) -> np.ndarray:
        return np.asarray(fn(*args, **params))

    impl.__name__ = fn.__name__
    return quietly(impl)


# --- reduce_sum, reduce_prod, reduce_max, reduce_min, reduce_and, reduce_or, reduce_xor ----------


def _max_identity(dtype: np.dtype) -> Any:
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind == "b":
        return False
    return np.iinfo(dtype).min


def _min_identity(dtype: np.dtype) -> Any:
    if dtype.kind == "f":
        return np.inf
    if dtype.kind == "b":
        return True
    return np.iinfo(dtype).max


# The ufuncs' reduce directly: np.sum and friends add a microsecond of dispatch to reach it.
def _reduce_sum(x: np.ndarray, *, axes: tuple[int, ...]) -> np.ndarray:
    return np.add.reduce(x, axis=axes, dtype=x.dtype)


def _reduce_prod(x: np.ndarray, *, axes: tuple[int, ...]) -> np.ndarray:
    return np.multiply.reduce(x, axis=axes, dtype=x.dtype)


def _reduce_max(x: np.ndarray, *, axes: tuple[int, ...]) -> np.ndarray:
    # np.max propagates NaN; `initial` makes an empty reduction give the identity.
    return np.maximum.reduce(x, axis=axes, initial=_max_identity(x.dtype))


def _reduce_min(x: np.ndarray, *, axes: tuple[int, ...]) -> np.ndarray:
    return np.minimum.reduce(x, axis=axes, initial=_min_identity(x.dtype))


# The bitwise ufuncs have identities all-ones (and) and zero (or, xor), which is XLA's too; on
# booleans they are the logical operations.
def _reduce_and(x: np.ndarray, *, axes: tuple[int, ...]) -> np.ndarray:
    return np.bitwise_and.reduce(x, axis=axes)


def _reduce_or(x: np.ndarray, *, axes: tuple[int, ...]) -> np.ndarray:
    return np.bitwise_or.reduce(x, axis=axes)


def _reduce_xor(x: np.ndarray, *, axes: tuple[int, ...]) -> np.ndarray:
    return np.bitwise_xor.reduce(x, axis=axes)


# (shape, axes) pairs every reducer is sampled on: 0-d, empty operands, empty reductions,
# no axes at all, and axes given out of order.
_REDUCE_CASES: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    ((), ()), ((0,), (0,)), ((3,), (0,)), ((2, 3), (1,)), ((2, 3), (0, 1)), ((2, 3), ()),
    ((2, 0, 3), (1,)), ((2, 0, 3), (0, 2)), ((2, 3, 4), (2, 0)),
)

# Exact zeros (one, and two in a row: the product rule must not divide) and a two-way tie for
# the minimum (where the averaged tangent is what central differences give).
_ZEROS = np.array([[1.5, 0.0, 2.0, -1.0], [0.0, 0.0, 3.0, 2.0]])


def _reduce_sample_for(extremum: bool) -> Callable[[np.dtype], list[Example]]:
    """Samples of a reducer. Those of inexact dtypes are differentiable points, because the
    registry checks derivatives on them: no NaN or inf (tests/test_reductions.py covers their
    semantics), and max/min skip empty reductions into a non-empty result, whose constant
    -inf/inf finite differences cannot handle."""

    def sample(dtype: np.dtype) -> list[Example]:
        inexact = dtype.kind in "fc"
        out = []
        for i, (shape, axes) in enumerate(_REDUCE_CASES):
            constant_inf = 0 in [shape[a] for a in axes] and 0 not in _kept_shape(shape, axes)
            if not (extremum and inexact and constant_inf):
                out.append(Example((rules.sample_array(shape, dtype, seed=i),), {"axes": axes}))
        if inexact:
            out.append(Example((_ZEROS.astype(dtype),), {"axes": (1,)}, note="zeros"))
        return out

    return sample


def _kept(ndim: int, axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in range(ndim) if d not in axes)


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[d] for d in _kept(len(shape), axes))


# --- differentiation rules ----------------------------------------------------------------------


def _reduce_sum_transpose(ct: Any, operand: Any, *, axes: tuple[int, ...]) -> list[Any]:
    # Each operand element went into exactly one output element: broadcast the cotangent back.
    if not axes:
        return [ct]
    shape = operand.aval.shape
    return [broadcast_in_dim(ct, shape, _kept(len(shape), axes))]


def _shift(x: Any, fill: np.ndarray, axis: int, by: int) -> Any:
    """``x`` moved ``by`` places along ``axis`` (toward higher indices when positive), with
    ``fill`` coming in: a single pad with one negative edge."""
    config = [(0, 0, 0)] * core.get_aval(x).ndim
    config[axis] = (by, -by, 0)
    return pad(x, fill, config)


def _product_of_others(x: Any, axes: tuple[int, ...]) -> Any:
    """At each element, the product of the other elements of its reduced block, without
    dividing (so zeros are exact): an exclusive running product from each end, multiplied.
    Several reduced axes are first moved last and merged into one."""
    from functrans.primitives.cumulative import cumprod  # cumulative imports this module

    aval = core.get_aval(x)
    flat, axis = x, axes[0]
    if len(axes) > 1:
        perm = _kept(aval.ndim, axes) + tuple(sorted(axes))
        moved_shape = tuple(aval.shape[d] for d in perm)
        axis = aval.ndim - len(axes)
        merged = moved_shape[:axis] + (math.prod(moved_shape[axis:]),)
        flat = reshape(transpose(x, perm), merged)
    one = np.ones((), aval.dtype)
    before = _shift(cumprod(flat, axis), one, axis, 1)
    after = _shift(cumprod(flat, axis, reverse=True), one, axis, -1)
    others = mul(before, after)
    if len(axes) > 1:
        others = transpose(reshape(others, moved_shape), tuple(np.argsort(perm).tolist()))
    return others


def _reduce_prod_jvp(g: Any, x: Any, *, axes: tuple[int, ...]) -> Any:
    # d prod = sum_i g_i * prod_{j != i} x_j. JAX forms the products of the others with a tree
    # of pairwise products; two exclusive running products are simpler and as exact.
    aval = core.get_aval(x)
    if not axes:
        return g
    if 0 in [aval.shape[a] for a in axes]:  # the empty product is the constant 1
        return Zero(ShapedArray(_kept_shape(aval.shape, axes), aval.dtype))
    return reduce_sum_p.bind(mul(g, _product_of_others(x, axes)), axes=axes)


def _extremum_jvp(g: Any, ans: Any, x: Any, *, axes: tuple[int, ...]) -> Any:
    """JAX's rule: the mean of the tangents where the extreme is attained (ties share it
    equally, which is also what central differences give for a two-way tie). A NaN extreme
    gets a NaN tangent, as in JAX; an empty reduction is a constant."""
    aval = core.get_aval(x)
    if not axes:
        return g
    if 0 in [aval.shape[a] for a in axes]:
        return Zero(tangent_aval(core.get_aval(ans)))
    where = eq(x, broadcast_in_dim(ans, aval.shape, _kept(aval.ndim, axes)))
    where = convert_element_type(where, aval.dtype)
    counts = reduce_sum_p.bind(where, axes=axes)
    return div(reduce_sum_p.bind(mul(g, where), axes=axes), counts)


# --- batching rule ------------------------------------------------------------------------------


def _batch_reduction() -> BatchRule:
    """For the reducers and argmax/argmin (JAX's _reducer_batcher): reduce the per-example
    ``axes`` shifted past the batch dimension, which stays in the result after the kept axes
    that were before it. Nothing moves or is copied."""

    def build(prim: Primitive) -> Callable:
        def rule(batch_axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                 axes: tuple[int, ...], **params: Any) -> tuple[Any, int]:
            (operand,), (bdim,) = vals, dims
            shifted = tuple(shift_axis(a, bdim) for a in axes)
            out_dim = bdim - sum(a < bdim for a in shifted)
            return prim.bind(operand, axes=shifted, **params), out_dim

        return rule

    return BatchRule(build)


def _reducer(name: str, impl: Callable, dtypes: tuple, doc: str, extremum: bool = False,
             **rule_slots: Any) -> tuple[Primitive, Callable]:
    """Define a reduction over ``axes`` that keeps the operand's dtype, and its wrapper."""
    allowed = frozenset(dtypes)

    def abstract_eval(operand: ShapedArray, *, axes: tuple[int, ...]) -> ShapedArray:
        rules.check_dtype(name, operand, allowed)
        axes = _check_axes(name, axes, operand)
        shape = tuple(d for i, d in enumerate(operand.shape) if i not in axes)
        return ShapedArray(shape, operand.dtype, operand.weak_type)

    prim = define_primitive(name, family="reduction", impl=_quiet(impl),
                            abstract_eval=abstract_eval, dtypes=dtypes,
                            sample=_reduce_sample_for(extremum), doc=doc,
                            batch=_batch_reduction(), **rule_slots)

    def wrapper(operand: Any, axes: Any) -> Any:
        return prim.bind(operand, axes=normalize_axes(operand, axes))

    return prim, _named(wrapper, name, f"Reduce ``operand`` over ``axes`` (a sequence of ints; "
                        f"negative ones count from the end) by {doc}. The result keeps the "
                        f"operand's dtype.")


_NUMERIC, _ORDERED, _BITS = dt.NUMERIC, dt.REAL + dt.BOOL, dt.INTEGER + dt.BOOL

reduce_sum_p, reduce_sum = _reducer("reduce_sum", _reduce_sum, _NUMERIC,
                                    "sum (integers wrap around)", jvp=jvp_linear(),
                                    transpose=_reduce_sum_transpose, linear_in=(0,))
reduce_prod_p, reduce_prod = _reducer("reduce_prod", _reduce_prod, _NUMERIC,
                                      "product (integers wrap around)",
                                      jvp=jvp_partials(_reduce_prod_jvp))
reduce_max_p, reduce_max = _reducer("reduce_max", _reduce_max, _ORDERED,
                                    "maximum (NaN propagates; empty gives -inf or the min)",
                                    extremum=True, jvp=jvp_partials(_extremum_jvp,
                                                                    with_ans=True))
reduce_min_p, reduce_min = _reducer("reduce_min", _reduce_min, _ORDERED,
                                    "minimum (NaN propagates; empty gives +inf or the max)",
                                    extremum=True, jvp=jvp_partials(_extremum_jvp,
                                                                    with_ans=True))
reduce_and_p, reduce_and = _reducer("reduce_and", _reduce_and, _BITS,
                                    "bitwise and (logical for booleans)", jvp=jvp_zero())
reduce_or_p, reduce_or = _reducer("reduce_or", _reduce_or, _BITS,
                                  "bitwise or (logical for booleans)", jvp=jvp_zero())
reduce_xor_p, reduce_xor = _reducer("reduce_xor", _reduce_xor, _BITS,
                                    "bitwise exclusive or (parity for booleans)", jvp=jvp_zero())


# --- argmax, argmin -----------------------------------------------------------------------------


def _argmax(x: np.ndarray, *, axes: tuple[int], index_dtype: np.dtype) -> np.ndarray:
    # NumPy's argmax already has lax's semantics: the first NaN wins, ties go to the lowest
    # index.
    return np.argmax(x, axis=axes[0]).astype(index_dtype)


def _argmin(x: np.ndarray, *, axes: tuple[int], index_dtype: np.dtype) -> np.ndarray:
    return np.argmin(x, axis=axes[0]).astype(index_dtype)


def _argminmax_rule(name: str) -> Callable:
    allowed = frozenset(_ORDERED)

    def abstract_eval(operand: ShapedArray, *, axes: tuple[int], index_dtype: np.dtype
                      ) -> ShapedArray:
        rules.check_dtype(name, operand, allowed)
        axes = _check_axes(name, axes, operand)
        if len(axes) != 1:
            raise ShapeError(f"functrans.lax.{name}: axes must hold exactly one axis, got "
                             f"{axes}")
        (axis,) = axes
        if not isinstance(index_dtype, np.dtype) or index_dtype.kind not in "iu":
            raise DtypeError(f"functrans.lax.{name}: index_dtype must be an integer dtype, "
                             f"got {index_dtype}")
        size = operand.shape[axis]
        if size == 0:
            raise ShapeError(f"functrans.lax.{name}: axis {axis} of {operand.str_short()} is "
                             f"empty, so there is no index to return; reduce over a non-empty "
                             f"axis")
        if size - 1 > np.iinfo(index_dtype).max:
            raise DtypeError(f"functrans.lax.{name}: index_dtype {index_dtype} cannot hold the "
                             f"indices of axis {axis} of {operand.str_short()} (up to "
                             f"{size - 1}); use a wider index_dtype such as int32")
        shape = operand.shape[:axis] + operand.shape[axis + 1:]
        return ShapedArray(shape, index_dtype, False)

    return abstract_eval


def _argminmax_sample(dtype: np.dtype) -> list[Example]:
    i32 = {"index_dtype": dt.int32}
    out = [
        Example((rules.sample_array((3,), dtype, seed=1),), {"axes": (0,), **i32}),
        Example((rules.sample_array((2, 3), dtype, seed=2),), {"axes": (0,), **i32}),
        Example((rules.sample_array((2, 3), dtype, seed=3),), {"axes": (1,), **i32}),
        Example((rules.sample_array((0, 3), dtype, seed=4),), {"axes": (1,), **i32},
                note="empty-kept-axis"),
        Example((rules.sample_array((2, 3, 4), dtype, seed=5),),
                {"axes": (1,), "index_dtype": dt.uint8}, note="uint8-index"),
        Example((np.zeros((2, 4), dtype),), {"axes": (1,), "index_dtype": dt.int64},
                note="ties"),
    ]
    if dtype.kind == "f":
        special_vals = np.array([[1.0, np.nan, np.inf, np.nan], [-np.inf, 2.0, 2.0, 0.0]], dtype)
        out.append(Example((special_vals,), {"axes": (1,), **i32}, note="nan"))
    return out


argmax_p = define_primitive(
    "argmax", family="reduction", impl=_quiet(_argmax), abstract_eval=_argminmax_rule("argmax"),
    dtypes=_ORDERED, sample=_argminmax_sample, jvp=jvp_zero(), batch=_batch_reduction(),
    doc="index of the maximum along one axis (first NaN wins; ties pick the lowest index)")
argmin_p = define_primitive(
    "argmin", family="reduction", impl=_quiet(_argmin), abstract_eval=_argminmax_rule("argmin"),
    dtypes=_ORDERED, sample=_argminmax_sample, jvp=jvp_zero(), batch=_batch_reduction(),
    doc="index of the minimum along one axis (first NaN wins; ties pick the lowest index)")


def argmax(operand: Any, axis: int, index_dtype: Any) -> Any:
    """Index of the largest element of ``operand`` along ``axis``, as ``index_dtype``. NaN
    counts as the largest value (the first NaN wins); ties pick the lowest index."""
    axes = (normalize_axis(axis, core.get_aval(operand).ndim),)
    return argmax_p.bind(operand, axes=axes, index_dtype=dt.canonicalize(index_dtype))


def argmin(operand: Any, axis: int, index_dtype: Any) -> Any:
    """Index of the smallest element of ``operand`` along ``axis``, as ``index_dtype``. NaN
    counts as the smallest value (the first NaN wins); ties pick the lowest index."""
    axes = (normalize_axis(axis, core.get_aval(operand).ndim),)
    return argmin_p.bind(operand, axes=axes, index_dtype=dt.canonicalize(index_dtype))


# --- reduce_precision ---------------------------------------------------------------------------


def _reduce_precision(x: np.ndarray, *, exponent_bits: int, mantissa_bits: int) -> np.ndarray:
    """XLA's ReducePrecision on the bit pattern: round the mantissa to nearest-even, then send
    exponents beyond the narrow format's range to signed inf or signed zero (which flushes the
    narrow format's subnormals). NaN stays NaN, except that with no mantissa bits left it
    becomes +inf, as in XLA."""
    info = np.finfo(x.dtype)
    src_mantissa, src_exponent, nbits = info.nmant, info.nexp, info.bits
    udtype = np.dtype(f"u{x.dtype.itemsize}")
    out = np.array(x, copy=True)
    # Work on an unsigned view of `out`, so the result needs no bitcast copy at the end.
    bits = out.view(udtype)

    def const(v: int) -> np.unsignedinteger:
        return udtype.type(v)

    if mantissa_bits < src_mantissa:
        shift = src_mantissa - mantissa_bits
        last_kept_bit = (bits >> const(shift)) & const(1)
        # Round to nearest, ties to even: add 0111... (plus one when the last kept bit is 1);
        # a carry out of the mantissa correctly bumps the exponent.
        bits += last_kept_bit + const((1 << (shift - 1)) - 1)
        bits &= const(~((1 << shift) - 1) & ((1 << nbits) - 1))
    if exponent_bits < src_exponent:
        sign_mask = const(1 << (nbits - 1))
        exp_mask = const(((1 << src_exponent) - 1) << src_mantissa)
        bias = (1 << (src_exponent - 1)) - 1
        reduced_bias = (1 << (exponent_bits - 1)) - 1
        exponent = bits & exp_mask
        overflows = exponent > const((bias + reduced_bias) << src_mantissa)
        underflows = exponent <= const((bias - reduced_bias) << src_mantissa)
        signed_zero = bits & sign_mask
        np.copyto(bits, signed_zero | exp_mask, where=overflows)
        np.copyto(bits, signed_zero, where=underflows)
    nan = np.isnan(x)
    if mantissa_bits > 0:
        np.copyto(out, x, where=nan)
    else:
        np.copyto(out, np.inf, where=nan)
    return out


def _reduce_precision_rule(operand: ShapedArray, *, exponent_bits: int, mantissa_bits: int
                           ) -> ShapedArray:
    rules.check_dtype("reduce_precision", operand, frozenset(dt.FLOATING))
    for what, value, low in (("exponent_bits", exponent_bits, 1),
                             ("mantissa_bits", mantissa_bits, 0)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"functrans.lax.reduce_precision: {what} must be a Python int, "
                            f"got {value!r}")
        if value < low:
            raise ValueError(f"functrans.lax.reduce_precision: {what} must be >= {low}, got "
                             f"{value}")
    return operand


def _reduce_precision_sample(dtype: np.dtype) -> list[Example]:
    formats = ({"exponent_bits": 5, "mantissa_bits": 10},   # float16
               {"exponent_bits": 8, "mantissa_bits": 7},    # bfloat16
               {"exponent_bits": 4, "mantissa_bits": 3},    # float8 e4m3 (without its NaN)
               {"exponent_bits": 2, "mantissa_bits": 0})
    out = []
    for params in formats:
        for shape in ((), (0,), (2, 3)):
            out.append(Example((rules.sample_array(shape, dtype, seed=len(out)),), params))
    info = np.finfo(dtype)
    special_vals = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, info.max, info.tiny,
                             -info.tiny / 2, 1.0 + info.eps, 0.1, -3.7], dtype)
    for params in formats:
        out.append(Example((special_vals,), params, note="special"))
    return out


def _reduce_precision_jvp(primals: list, tangents: list, *, exponent_bits: int,
                          mantissa_bits: int) -> tuple[Any, Any]:
    """The tangent passes through unrounded: rounding is differentiated as the identity (a
    straight-through derivative; the true derivative is 0 almost everywhere). JAX rounds the
    tangent too and declares the primitive linear, but rounding is not linear, so that
    transpose is not the adjoint of that jvp and forward and reverse mode disagree. The
    identity is linear and needs no transpose rule."""
    (x,), (t,) = primals, tangents
    ans = reduce_precision_p.bind(x, exponent_bits=exponent_bits, mantissa_bits=mantissa_bits)
    return ans, t


reduce_precision_p = define_primitive(
    "reduce_precision", family="reduction", impl=_reduce_precision,
    abstract_eval=_reduce_precision_rule, dtypes=dt.FLOATING, sample=_reduce_precision_sample,
    jvp=_reduce_precision_jvp, batch=batch_unary(),
    doc="round to a float format with fewer exponent/mantissa bits, keeping the dtype")


def reduce_precision(operand: Any, exponent_bits: int, mantissa_bits: int) -> Any:
    """Round ``operand`` to the nearest value (ties to even) of a float format with
    ``exponent_bits`` and ``mantissa_bits``; out-of-range values become inf or zero. The
    result keeps the operand's dtype: ``reduce_precision(x, 8, 7)`` rounds to bfloat16."""
    return reduce_precision_p.bind(operand, exponent_bits=operator.index(exponent_bits),
                                   mantissa_bits=operator.index(mantissa_bits))
