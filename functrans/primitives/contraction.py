"""The contraction primitive ``dot_general``, with ``lax.dot`` and the ``Precision`` enum.

``dot_general`` sums products over paired *contracting* dimensions of lhs and rhs and maps over
paired *batch* dimensions; the output dimensions are the batch ones, then lhs's free ones, then
rhs's free ones, as in ``lax``. The NumPy impl turns any contraction into one ``np.matmul`` of
(batch, M, K) and (batch, K, N) views; it is bilinear, and its transposes are contractions of
the cotangent with the other operand. vmap folds the batch into the dimension numbers. Imports
``core``, ``registry``, ``rules``, ``ad_rules``, ``batch_rules``, ``elementwise``,
``structural`` and the axis helper of ``reductions``.
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.fpstate import quietly
from functrans.core import ShapedArray
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import rules
from functrans.primitives.ad_rules import (
    cast_to, check_linear_in_one, is_undefined, jvp_partials, tangent_aval,
)
from functrans.primitives.batch_rules import AxisData, shift_axis
from functrans.primitives.reductions import normalize_axis
from functrans.primitives.registry import Example, define_primitive
from functrans.primitives.structural import transpose_p

__all__ = ["Precision", "dot_general", "dot", "dot_general_p"]

_ALL = frozenset(dt.ALL)

Dims = tuple[int, ...]
DimensionNumbers = tuple[tuple[Dims, Dims], tuple[Dims, Dims]]


class Precision(enum.Enum):
    """``lax.Precision``: how accurately an accelerator should multiply float32 operands
    (DEFAULT may use bfloat16 passes, HIGH three of them or tensorfloat32, HIGHEST float32).
    The NumPy impl always computes at the operands' full precision and ignores it."""

    DEFAULT = 0
    HIGH = 1
    HIGHEST = 2

    def __repr__(self) -> str:  # jaxprs print params with repr: keep it short
        return f"Precision.{self.name}"

    @classmethod
    def _missing_(cls, value: object) -> Precision | None:
        if isinstance(value, str):
            name = _PRECISION_NAMES.get(value.lower())
            if name is not None:
                return cls[name]
        return None


_PRECISION_NAMES = {
    "default": "DEFAULT", "fastest": "DEFAULT", "bfloat16": "DEFAULT",
    "high": "HIGH", "bfloat16_3x": "HIGH", "tensorfloat32": "HIGH",
    "highest": "HIGHEST", "float32": "HIGHEST",
}


def canonicalize_precision(precision: Any) -> tuple[Precision, Precision] | None:
    """None, or one ``Precision`` per operand (a single value or name applies to both)."""
    if precision is None:
        return None
    pair = tuple(precision) if isinstance(precision, (tuple, list)) else (precision,) * 2
    try:
        if len(pair) != 2:
            raise ValueError
        return (Precision(pair[0]), Precision(pair[1]))
    except ValueError:
        raise ValueError(
            f"functrans.lax.dot_general: precision must be None, a lax.Precision, one of "
            f"{sorted(_PRECISION_NAMES)}, or a pair of these (one per operand); got "
            f"{precision!r}") from None


# --- dot_general --------------------------------------------------------------------------------


def _compute_dtype(operand: np.dtype, out: np.dtype) -> np.dtype:
    """The dtype to multiply and accumulate in: the preferred one when it is wider or of
    another kind (int8 -> int32 accumulates exactly, ints -> float32 multiplies in floats), the
    operands' own when the preferred float is narrower (round once, at the end)."""
    if out == operand or operand.kind == "b" or out.kind != operand.kind:
        return out
    return out if out.itemsize >= operand.itemsize else operand


def _contract(lhs: np.ndarray, rhs: np.ndarray, dimension_numbers: DimensionNumbers
              ) -> np.ndarray:
    (lc, rc), (lb, rb) = dimension_numbers
    lf = tuple(d for d in range(lhs.ndim) if d not in lc and d not in lb)
    rf = tuple(d for d in range(rhs.ndim) if d not in rc and d not in rb)
    batch = tuple(lhs.shape[d] for d in lb)
    lfree = tuple(lhs.shape[d] for d in lf)
    rfree = tuple(rhs.shape[d] for d in rf)
    b, m, n = math.prod(batch), math.prod(lfree), math.prod(rfree)
    k = math.prod(lhs.shape[d] for d in lc)
    # Transposes are views; the reshapes copy only when the dims to merge are not adjacent in
    # memory. np.matmul hands row- or column-major matrices to BLAS as they are.
    a = lhs.transpose(lb + lf + lc).reshape(b, m, k)
    c = rhs.transpose(rb + rc + rf).reshape(b, k, n)
    out = np.empty(batch + lfree + rfree, lhs.dtype)
    # Writing through a (b, m, n) view leaves the result in `out`, a base array: a reshaped
    # view of matmul's result would be copied again when it is wrapped in an Array.
    np.matmul(a, c, out=out.reshape(b, m, n))
    return out


@quietly
def _dot_general_impl(lhs: np.ndarray, rhs: np.ndarray, *, dimension_numbers: DimensionNumbers,
                      precision: tuple[Precision, Precision] | None = None,
                      preferred_element_type: np.dtype | None = None) -> np.ndarray:
    out_dtype = lhs.dtype if preferred_element_type is None else preferred_element_type
    compute = _compute_dtype(lhs.dtype, out_dtype)
    if compute != lhs.dtype:
        lhs = lhs.astype(compute)
        rhs = rhs.astype(compute)
    (lc, rc), (lb, _) = dimension_numbers
    if lhs.ndim == 2 and rhs.ndim == 2 and len(lc) == 1 and not lb:
        # Matrix products with either operand transposed (the MLP's forward and backward
        # passes): one BLAS call on transposed views, which BLAS reads in place.
        out = np.matmul(lhs if lc[0] == 1 else lhs.T, rhs if rc[0] == 0 else rhs.T)
    else:
        out = _contract(lhs, rhs, dimension_numbers)
    return out if out.dtype == out_dtype else out.astype(out_dtype)


def _check_dimension_numbers(dimension_numbers: Any) -> DimensionNumbers:
    """The structure ((lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch)) of ints."""
    try:
        (lc, rc), (lb, rb) = dimension_numbers
        ok = (type(lc) is tuple and type(rc) is tuple and type(lb) is tuple
              and type(rb) is tuple and all(type(d) is int for d in lc + rc + lb + rb))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TypeError(f"functrans.lax.dot_general: dimension_numbers must be "
                        f"((lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch)), each a "
                        f"tuple of ints; got {dimension_numbers!r}")
    return dimension_numbers


def _preferred_kinds(dtype: np.dtype) -> tuple[str, str]:
    """Which preferred_element_types suit operands of ``dtype``, as (kinds, description)."""
    if dtype.kind == "b":
        return "biufc", "any dtype"
    if dtype.kind in "iu":
        return "iuf", (f"an integer dtype that holds every {dtype} value (e.g. "
                       f"{'int32' if dtype.itemsize < 4 else 'int64'}), or a floating dtype")
    if dtype.kind == "f":
        return "f", "a floating dtype"
    return "c", "a complex dtype"


def _check_preferred(dtype: np.dtype, preferred: Any,
                     name: str = "functrans.lax.dot_general") -> np.dtype:
    if preferred is None:
        return dtype
    if not isinstance(preferred, np.dtype) or preferred not in dt.ALL:
        raise TypeError(f"{name}: preferred_element_type must be None or a dtype, got "
                        f"{preferred!r}")
    kinds, allowed = _preferred_kinds(dtype)
    ok = preferred.kind in kinds
    if ok and dtype.kind in "iu" and preferred.kind in "iu":
        ok = np.can_cast(dtype, preferred, "safe")
    if not ok:
        raise DtypeError(f"{name}: preferred_element_type {preferred} does not suit {dtype} "
                         f"operands; use {allowed}")
    return preferred


def _dot_general_rule(lhs: ShapedArray, rhs: ShapedArray, *,
                      dimension_numbers: DimensionNumbers,
                      precision: tuple[Precision, Precision] | None = None,
                      preferred_element_type: np.dtype | None = None) -> ShapedArray:
    # This runs on every eager call and every trace: messages are built only on failure.
    name = "functrans.lax.dot_general"
    (lc, rc), (lb, rb) = _check_dimension_numbers(dimension_numbers)
    if lhs.dtype != rhs.dtype:
        rules.check_same_dtypes("dot_general", (lhs, rhs))
    rules.check_dtype("dot_general", lhs, _ALL, what="lhs")
    for side, aval, contracting, batch in (("lhs", lhs, lc, lb), ("rhs", rhs, rc, rb)):
        for what, dims in (("contracting", contracting), ("batch", batch)):
            for d in dims:
                if not 0 <= d < aval.ndim:
                    raise ShapeError(f"{name}: {side} {what} dimension {d} is out of range for "
                                     f"{side} {aval.str_short()} (rank {aval.ndim})")
        used = contracting + batch
        if len(set(used)) != len(used):
            raise ShapeError(f"{name}: each {side} dimension may be used once, but the "
                             f"contracting dimensions {contracting} and batch dimensions "
                             f"{batch} of {side} {aval.str_short()} repeat one")
    for what, ldims, rdims in (("contracting", lc, rc), ("batch", lb, rb)):
        if len(ldims) != len(rdims):
            raise ShapeError(f"{name}: lhs and rhs need as many {what} dimensions, got lhs "
                             f"{ldims} and rhs {rdims} for lhs {lhs.str_short()} and rhs "
                             f"{rhs.str_short()}")
        for dl, dr in zip(ldims, rdims, strict=True):
            if lhs.shape[dl] != rhs.shape[dr]:
                raise ShapeError(
                    f"{name}: {what} dimensions have different sizes: lhs {lhs.str_short()} "
                    f"dim {dl} ({lhs.shape[dl]}) vs rhs {rhs.str_short()} dim {dr} "
                    f"({rhs.shape[dr]})")
    if precision is not None and not (
            isinstance(precision, tuple) and len(precision) == 2
            and all(isinstance(p, Precision) for p in precision)):
        raise TypeError(f"{name}: precision must be None or a pair of lax.Precision values, "
                        f"got {precision!r}")
    out_dtype = _check_preferred(lhs.dtype, preferred_element_type)
    shape = (tuple(lhs.shape[d] for d in lb)
             + tuple(s for d, s in enumerate(lhs.shape) if d not in lc and d not in lb)
             + tuple(s for d, s in enumerate(rhs.shape) if d not in rc and d not in rb))
    weak = lhs.weak_type and rhs.weak_type and out_dtype == lhs.dtype
    return ShapedArray(shape, out_dtype, weak)


def _preferred_sample_dtype(dtype: np.dtype) -> np.dtype:
    """A preferred_element_type worth sampling for operands of ``dtype``."""
    if dtype.kind == "b":
        return dt.int32
    if dtype.kind in "iu":
        return dt.int32 if np.can_cast(dtype, dt.int32, "safe") else dt.float64
    if dtype.kind == "f":
        return {dt.float16: dt.float32, dt.float32: dt.float64}.get(dtype, dt.float32)
    return dt.complex128 if dtype == dt.complex64 else dt.complex64


def _dot_general_sample(dtype: np.dtype) -> list[Example]:
    def dims(lc: Dims, rc: Dims, lb: Dims = (), rb: Dims = (), preferred: Any = None,
             precision: Any = None) -> dict:
        return {"dimension_numbers": ((lc, rc), (lb, rb)), "precision": precision,
                "preferred_element_type": preferred}

    cases = [
        ((2, 3), (3, 4), dims((1,), (0,)), "matmul"),
        ((3,), (3,), dims((0,), (0,)), "inner"),
        ((2, 3), (3,), dims((1,), (0,)), "matvec"),
        ((3, 2), (4, 3), dims((0,), (1,)), "transposed"),
        ((2, 3, 4), (2, 4, 5), dims((2,), (1,), (0,), (0,)), "batched"),
        ((3, 2, 4), (4, 5, 2), dims((2,), (0,), (1,), (2,)), "batch-inside"),
        ((2, 3, 4), (4, 3, 5), dims((1, 2), (1, 0)), "two-contracting"),
        ((), (3,), dims((), ()), "scalar"),
        ((2,), (3,), dims((), ()), "outer"),
        ((2, 0), (0, 3), dims((1,), (0,)), "empty-contraction"),
        ((0, 3), (3, 2), dims((1,), (0,), precision=(Precision.HIGHEST,) * 2), "empty"),
        ((2, 3), (3, 4), dims((1,), (0,), preferred=_preferred_sample_dtype(dtype)),
         "preferred"),
    ]
    return [Example((rules.sample_array(ls, dtype, seed=2 * i),
                     rules.sample_array(rs, dtype, seed=2 * i + 1)), params, note)
            for i, (ls, rs, params, note) in enumerate(cases)]


# --- differentiation rules ----------------------------------------------------------------------


def _dot_general_jvp_lhs(g: Any, lhs: Any, rhs: Any, **params: Any) -> Any:
    return dot_general_p.bind(g, rhs, **params)


def _dot_general_jvp_rhs(g: Any, lhs: Any, rhs: Any, **params: Any) -> Any:
    return dot_general_p.bind(lhs, g, **params)


def _ranges_like(*dims: Sequence[int]) -> list[tuple[int, ...]]:
    """Consecutive ranges as long as each of ``dims``: (0..len0), (len0..len0+len1), ..."""
    out, start = [], 0
    for d in dims:
        out.append(tuple(range(start, start + len(d))))
        start += len(d)
    return out


def _free(ndim: int, *used: Sequence[int]) -> list[int]:
    taken = {d for dims in used for d in dims}
    return [d for d in range(ndim) if d not in taken]


def _transpose_lhs(ct: Any, x_aval: ShapedArray, y: Any, dimension_numbers: DimensionNumbers,
                   precision: Any, swap_ans: bool = False) -> Any:
    """JAX's _dot_general_transpose_lhs: contract the cotangent with ``y`` over y's free
    dimensions (batching over the batch ones), which gives x's batch, free and contracting
    dimensions (the latter in y's order), then transpose them into x's order. ``swap_ans``
    says the cotangent's free dimensions are y's then x's (when transposing the rhs).

    Unlike JAX, ``y`` goes first when that gives x's order directly (x's contracting
    dimensions before its free ones, as in the rhs of a matrix product): the cotangent of a
    weight matrix then needs no transpose, per example or not."""
    y_aval = core.get_aval(y)
    y_first, dims, perm = _transpose_plan(dimension_numbers, x_aval.ndim, y_aval.ndim, swap_ans)
    # ct has the output's dtype (preferred_element_type); y has the operands'. Contract in the
    # wider of the two, as XLA would with mixed operands, and hand back x's dtype.
    compute = np.promote_types(core.get_aval(ct).dtype, y_aval.dtype)
    ct, y = cast_to(ct, compute), cast_to(y, compute)
    if y_first:
        out = dot_general_p.bind(y, ct, dimension_numbers=dims,
                                 precision=None if precision is None else precision[::-1],
                                 preferred_element_type=None)
    else:
        out = dot_general_p.bind(ct, y, dimension_numbers=dims, precision=precision,
                                 preferred_element_type=None)
    if perm is not None:
        out = transpose_p.bind(out, permutation=perm)
    return cast_to(out, x_aval.dtype)


@functools.lru_cache(maxsize=512)
def _transpose_plan(dimension_numbers: DimensionNumbers, x_ndim: int, y_ndim: int,
                    swap_ans: bool) -> tuple[bool, DimensionNumbers, tuple[int, ...] | None]:
    """How ``_transpose_lhs`` contracts (a pure function of the dimension numbers and ranks,
    so computed once per shape of problem): whether ``y`` goes first, the dimension numbers,
    and the permutation that puts the result in x's order (None: already in order)."""
    (x_contract, y_contract), (x_batch, y_batch) = dimension_numbers
    x_kept = _free(x_ndim, x_contract, x_batch)
    y_kept = _free(y_ndim, y_contract, y_batch)
    if swap_ans:
        ans_batch, ans_y, _ = _ranges_like(x_batch, y_kept, x_kept)
    else:
        ans_batch, _, ans_y = _ranges_like(x_batch, x_kept, y_kept)
    x_contract_by_y = [x_contract[i] for i in np.argsort(y_contract, kind="stable")]
    unsorted_axes = list(x_batch) + x_kept + x_contract_by_y
    y_first_axes = list(x_batch) + x_contract_by_y + x_kept
    if unsorted_axes != sorted(unsorted_axes) and y_first_axes == sorted(y_first_axes):
        return True, ((tuple(y_kept), ans_y), (tuple(y_batch), ans_batch)), None
    perm = tuple(np.argsort(unsorted_axes).tolist())
    return (False, ((ans_y, tuple(y_kept)), (ans_batch, tuple(y_batch))),
            None if perm == tuple(range(len(perm))) else perm)


def _dot_general_transpose(ct: Any, lhs: Any, rhs: Any, *,
                           dimension_numbers: DimensionNumbers,
                           precision: tuple[Precision, Precision] | None = None,
                           preferred_element_type: np.dtype | None = None) -> list[Any]:
    check_linear_in_one("dot_general", (lhs, rhs))
    if is_undefined(lhs):
        return [_transpose_lhs(ct, tangent_aval(lhs.aval), rhs, dimension_numbers, precision),
                None]
    aval = tangent_aval(rhs.aval)
    (lc, rc), (lb, rb) = dimension_numbers
    swapped = ((rc, lc), (rb, lb))
    swapped_precision = None if precision is None else precision[::-1]
    return [None, _transpose_lhs(ct, aval, lhs, swapped, swapped_precision, swap_ans=True)]


# --- batching rule ------------------------------------------------------------------------------


def _bump(dims: Dims, bdim: int) -> Dims:
    """Per-example dimensions ``dims`` as dimensions of the operand batched at ``bdim``."""
    return tuple(shift_axis(d, bdim) for d in dims)


def _dot_general_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                       dimension_numbers: DimensionNumbers,
                       precision: tuple[Precision, Precision] | None = None,
                       preferred_element_type: np.dtype | None = None) -> tuple[Any, int]:
    """JAX's _dot_general_batch_rule: the vmapped dimension joins the dimension numbers, so
    nothing is moved or broadcast. Both operands batched: it is a new batch dimension pair,
    put first, so the result's batch dimension is 0. One operand batched: it is one more free
    dimension of that operand, and lands among the result's free dimensions (batch
    dimensions, then lhs's free ones, then rhs's, each in operand order)."""
    (lhs, rhs), (lbd, rbd) = vals, dims
    (lc, rc), (lb, rb) = dimension_numbers
    if lbd is not None and rbd is not None:
        new_dims = ((_bump(lc, lbd), _bump(rc, rbd)),
                    ((lbd, *_bump(lb, lbd)), (rbd, *_bump(rb, rbd))))
        out_dim = 0
    elif lbd is not None:
        lc, lb = _bump(lc, lbd), _bump(lb, lbd)
        new_dims = ((lc, rc), (lb, rb))
        out_dim = len(lb) + _free(core.get_aval(lhs).ndim, lc, lb).index(lbd)
    else:
        rc, rb = _bump(rc, rbd), _bump(rb, rbd)
        new_dims = ((lc, rc), (lb, rb))
        # Every lhs dimension but the contracting ones comes before rhs's free ones.
        out_dim = (core.get_aval(lhs).ndim - len(lc)
                   + _free(core.get_aval(rhs).ndim, rc, rb).index(rbd))
    out = dot_general_p.bind(lhs, rhs, dimension_numbers=new_dims, precision=precision,
                             preferred_element_type=preferred_element_type)
    return out, out_dim


dot_general_p = define_primitive(
    "dot_general", family="contraction", impl=_dot_general_impl,
    abstract_eval=_dot_general_rule, dtypes=dt.ALL, sample=_dot_general_sample,
    jvp=jvp_partials(_dot_general_jvp_lhs, _dot_general_jvp_rhs),
    transpose=_dot_general_transpose, linear_in=(0, 1), batch=_dot_general_batch,
    doc="contract lhs and rhs over paired dimensions, batching over others")


def _normalize_dimension_numbers(lhs: Any, rhs: Any, dimension_numbers: Any
                                 ) -> DimensionNumbers:
    ln, rn = core.get_aval(lhs).ndim, core.get_aval(rhs).ndim
    try:
        (lc, rc), (lb, rb) = dimension_numbers
        lc, lb = (tuple(normalize_axis(d, ln) for d in dims) for dims in (lc, lb))
        rc, rb = (tuple(normalize_axis(d, rn) for d in dims) for dims in (rc, rb))
    except (TypeError, ValueError):
        raise TypeError(f"functrans.lax.dot_general: dimension_numbers must be "
                        f"((lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch)), each a "
                        f"sequence of ints; got {dimension_numbers!r}") from None
    return ((lc, rc), (lb, rb))


def dot_general(lhs: Any, rhs: Any, dimension_numbers: Any, precision: Any = None,
                preferred_element_type: Any = None) -> Any:
    """General tensor contraction. ``dimension_numbers`` is ``((lhs_contracting,
    rhs_contracting), (lhs_batch, rhs_batch))``; the result's dimensions are the batch ones,
    then lhs's remaining ones, then rhs's. Integer products wrap in the operands' dtype unless
    ``preferred_element_type`` asks for a wider one, which is also the result's dtype."""
    preferred = None if preferred_element_type is None else dt.canonicalize(
        preferred_element_type)
    return dot_general_p.bind(
        lhs, rhs, dimension_numbers=_normalize_dimension_numbers(lhs, rhs, dimension_numbers),
        precision=canonicalize_precision(precision), preferred_element_type=preferred)


def dot(lhs: Any, rhs: Any, precision: Any = None, preferred_element_type: Any = None) -> Any:
    """Vector/matrix product: vector . vector, matrix @ vector, vector @ matrix or matrix @
    matrix, contracting the last dimension of ``lhs`` with the first of ``rhs``."""
    la, ra = core.get_aval(lhs), core.get_aval(rhs)
    if not (1 <= la.ndim <= 2 and 1 <= ra.ndim <= 2 and la.shape[-1] == ra.shape[0]):
        raise ShapeError(f"functrans.lax.dot: incompatible shapes {la.str_short()} and "
                         f"{ra.str_short()}; lax.dot takes vectors and matrices (rank 1 or 2) "
                         f"with lhs.shape[-1] == rhs.shape[0]. Use lax.dot_general for other "
                         f"contractions.")
    return dot_general(lhs, rhs, (((la.ndim - 1,), (0,)), ((), ())), precision=precision,
                       preferred_element_type=preferred_element_type)
