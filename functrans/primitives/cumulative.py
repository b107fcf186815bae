"""Cumulative (scan) primitives along one axis: cumsum, cumprod, cummax, cummin, cumlogsumexp.

Each is ``ufunc.accumulate`` along ``axis``, forwards or (``reverse=True``) from the end, keeping
the operand's shape and dtype: integer sums and products wrap, cummax and cummin propagate NaN,
cumlogsumexp is the stable running ``log(sum(exp(x)))``. cumsum is linear; the other jvps scan
(primal, tangent) pairs by recursive doubling; a batched scan runs along the shifted axis.
Imports ``core``, ``registry``, ``rules``, ``ad_rules``, ``batch_rules``, ``elementwise``,
``structural``, ``slicing`` and ``reductions`` (an axis helper).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.fpstate import quietly
from functrans.core import ShapedArray
from functrans.primitives import rules
from functrans.primitives.ad_rules import JVPRule, Zero, jvp_linear, zeros_like_aval
from functrans.primitives.batch_rules import AxisData, BatchRule, shift_axis
from functrans.primitives.elementwise import (
    _mask, _named, abs_, add, bitwise_or, div, exp, ge, le, log1p, logistic, max_, min_, mul, ne,
    neg, select_n, sub,
)
from functrans.primitives.reductions import normalize_axis
from functrans.primitives.registry import Example, Primitive, define_primitive
from functrans.primitives.slicing import concatenate, slice_in_dim
from functrans.primitives.structural import broadcast_in_dim

__all__ = [
    "cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp",
    "cumsum_p", "cumprod_p", "cummax_p", "cummin_p", "cumlogsumexp_p",
]


def _accumulate(ufunc: np.ufunc) -> Callable:
    @quietly
    def impl(x: np.ndarray, *, axis: int, reverse: bool) -> np.ndarray:
        out = np.empty_like(x)
        if reverse:
            # Accumulate the flipped operand into a flipped view of `out`: no extra copy.
            ufunc.accumulate(np.flip(x, axis), axis=axis, dtype=x.dtype, out=np.flip(out, axis))
        else:
            ufunc.accumulate(x, axis=axis, dtype=x.dtype, out=out)
        return out

    impl.__name__ = f"_{ufunc.__name__}_accumulate"
    return impl


def _cumulative_rule(name: str, dtypes: tuple) -> Callable:
    allowed = frozenset(dtypes)

    def abstract_eval(operand: ShapedArray, *, axis: int, reverse: bool) -> ShapedArray:
        rules.check_dtype(name, operand, allowed)
        rules.check_axis(name, "axis", axis, operand)
        if not isinstance(reverse, (bool, np.bool_)):
            raise TypeError(f"functrans.lax.{name}: reverse must be a bool, got {reverse!r}")
        return operand

    return abstract_eval


_CUMULATIVE_CASES: tuple[tuple[tuple[int, ...], int, bool], ...] = (
    ((0,), 0, False), ((4,), 0, False), ((4,), 0, True), ((2, 3), 0, False),
    ((2, 3), 1, True), ((2, 0), 1, False), ((0, 3), 0, True), ((2, 3, 4), 1, True),
)


# Exact zeros (one, and two in a row, which cumprod's jvp must not divide by) and two-way ties
# for the running minimum (where the averaged tangent is what central differences give).
_ZEROS = np.array([[1.5, 0.0, 2.0, -1.0], [0.0, 0.0, 3.0, 2.0]])


def _cumulative_sample(dtype: np.dtype) -> list[Example]:
    """Samples of inexact dtypes are differentiable points, because the registry checks
    derivatives on them: no NaN or inf (tests/test_reductions.py covers their semantics)."""
    out = [Example((rules.sample_array(shape, dtype, seed=i),),
                   {"axis": axis, "reverse": reverse})
           for i, (shape, axis, reverse) in enumerate(_CUMULATIVE_CASES)]
    if dtype.kind in "fc":
        for reverse in (False, True):
            out.append(Example((_ZEROS.astype(dtype),), {"axis": 1, "reverse": reverse},
                               note="zeros"))
    return out


# --- differentiation rules ----------------------------------------------------------------------


def _scan(combine: Callable, elems: list[Any], axis: int, reverse: bool) -> list[Any]:
    """Inclusive scan along ``axis`` of tuples of arrays ``elems``, by recursive doubling
    (Hillis-Steele): after the step of distance d, element i holds the combination of the 2d
    elements that end at i in scan order. ``combine(a, b)`` merges window ``a`` with the window
    ``b`` that follows it. log2(n) steps, each of slices, the combine and a concatenate; unlike
    JAX's work-efficient associative scan it needs no strided slices and no interleaving."""
    n = core.get_aval(elems[0]).shape[axis]
    d = 1
    while d < n:
        head = [slice_in_dim(e, 0, n - d, axis=axis) for e in elems]
        tail = [slice_in_dim(e, d, n, axis=axis) for e in elems]
        if reverse:  # scan order runs from the end: the later index comes first
            kept = [slice_in_dim(e, n - d, n, axis=axis) for e in elems]
            elems = [concatenate([c, k], axis) for c, k in zip(combine(tail, head), kept,
                                                                 strict=True)]
        else:
            kept = [slice_in_dim(e, 0, d, axis=axis) for e in elems]
            elems = [concatenate([k, c], axis) for k, c in zip(kept, combine(head, tail),
                                                                 strict=True)]
        d *= 2
    return elems


def _combine_prod(a: list[Any], b: list[Any]) -> list[Any]:
    # (product, its tangent): the product rule, with no division, so zeros are exact.
    (pa, ta), (pb, tb) = a, b
    return [mul(pa, pb), add(mul(ta, pb), mul(pa, tb))]


def _combine_extremum(better_or_equal: Callable, pick: Callable) -> Callable:
    """(extreme, sum of the tangents attaining it, how many attain it): the running mean of
    the tangents at the extreme, so ties share it as in reduce_max's rule. A NaN attains the
    (NaN) extreme, so the tangent of a NaN prefix stays finite."""

    def combine(a: list[Any], b: list[Any]) -> list[Any]:
        (xa, sa, ca), (xb, sb, cb) = a, b
        wa = _mask(bitwise_or(better_or_equal(xa, xb), ne(xa, xa)), xa)
        wb = _mask(bitwise_or(better_or_equal(xb, xa), ne(xb, xb)), xb)
        return [pick(xa, xb), add(mul(sa, wa), mul(sb, wb)), add(mul(ca, wa), mul(cb, wb))]

    return combine


def _combine_logsumexp(a: list[Any], b: list[Any]) -> list[Any]:
    """(log-sum-exp, its tangent): the tangent is the softmax-weighted sum of the two, with
    weights logistic(+-(ya - yb)) <= 1. Equal infinities (ya - yb is NaN) weigh 1/2 each (d is
    taken as 0), the limit of equal finite values."""
    (ya, ta), (yb, tb) = a, b
    d = sub(ya, yb)
    undefined = ne(d, d)
    aval = core.get_aval(d)
    d = select_n(undefined, d, zeros_like_aval(aval))
    y = select_n(undefined, add(max_(ya, yb), log1p(exp(neg(abs_(d))))), add(ya, yb))
    return [y, add(mul(ta, logistic(d)), mul(tb, logistic(neg(d))))]


def _cumprod_tangent(x: Any, t: Any, axis: int, reverse: bool) -> Any:
    return _scan(_combine_prod, [x, t], axis, reverse)[1]


def _extremum_tangent(better_or_equal: Callable, pick: Callable) -> Callable:
    combine = _combine_extremum(better_or_equal, pick)

    def tangent(x: Any, t: Any, axis: int, reverse: bool) -> Any:
        aval = core.get_aval(x)
        ones = broadcast_in_dim(np.ones((), aval.dtype), aval.shape, ())
        _, total, count = _scan(combine, [x, t, ones], axis, reverse)
        return div(total, count)

    return tangent


def _cumlogsumexp_tangent(x: Any, t: Any, axis: int, reverse: bool) -> Any:
    return _scan(_combine_logsumexp, [x, t], axis, reverse)[1]


def _scan_jvp(tangent: Callable) -> JVPRule:
    """A jvp whose primal is the primitive itself and whose tangent is
    ``tangent(x, t, axis, reverse)``, linear in ``t`` (JAX differentiates an associative scan
    of the operation instead; this scans (primal, tangent) pairs directly)."""

    def build(prim: Primitive) -> Callable:
        def rule(primals: list, tangents: list, *, axis: int, reverse: bool) -> tuple[Any, Any]:
            (x,), (t,) = primals, tangents
            ans = prim.bind(x, axis=axis, reverse=reverse)
            if type(t) is Zero or core.get_aval(x).shape[axis] <= 1:
                return ans, t
            return ans, tangent(x, t, axis, reverse)

        return rule

    return JVPRule(build)


def _cumsum_transpose(ct: Any, operand: Any, *, axis: int, reverse: bool) -> list[Any]:
    # Output i sums the inputs up to i, so input j receives the cotangents from j onwards.
    return [cumsum_p.bind(ct, axis=axis, reverse=not reverse)]


# --- batching rule ------------------------------------------------------------------------------


def _batch_cumulative() -> BatchRule:
    """Scan along ``axis`` shifted past the batch dimension, which stays where it is (JAX's
    _cumred_batch_rule). The first parameter is not called ``axis``: that is the param's name."""

    def build(prim: Primitive) -> Callable:
        def rule(batch_axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                 axis: int, reverse: bool) -> tuple[Any, int]:
            (operand,), (bdim,) = vals, dims
            return prim.bind(operand, axis=shift_axis(axis, bdim), reverse=reverse), bdim

        return rule

    return BatchRule(build)


def _cumulative(name: str, ufunc: np.ufunc, dtypes: tuple, doc: str, **rule_slots: Any
                ) -> tuple[Primitive, Callable]:
    """Define a cumulative primitive and its ``lax`` wrapper."""
    prim = define_primitive(name, family="cumulative", impl=_accumulate(ufunc),
                            abstract_eval=_cumulative_rule(name, dtypes), dtypes=dtypes,
                            sample=_cumulative_sample, doc=doc, batch=_batch_cumulative(),
                            **rule_slots)

    def wrapper(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
        ndim = core.get_aval(operand).ndim
        return prim.bind(operand, axis=normalize_axis(axis, ndim), reverse=bool(reverse))

    return prim, _named(wrapper, name, f"Running {doc} of ``operand`` along ``axis`` (from "
                        f"the end when ``reverse``); same shape and dtype as the operand.")


cumsum_p, cumsum = _cumulative("cumsum", np.add, dt.NUMERIC, "sum (integers wrap around)",
                               jvp=jvp_linear(), transpose=_cumsum_transpose, linear_in=(0,))
cumprod_p, cumprod = _cumulative("cumprod", np.multiply, dt.NUMERIC,
                                 "product (integers wrap around)",
                                 jvp=_scan_jvp(_cumprod_tangent))
cummax_p, cummax = _cumulative("cummax", np.maximum, dt.REAL, "maximum (NaN propagates)",
                               jvp=_scan_jvp(_extremum_tangent(ge, max_)))
cummin_p, cummin = _cumulative("cummin", np.minimum, dt.REAL, "minimum (NaN propagates)",
                               jvp=_scan_jvp(_extremum_tangent(le, min_)))
cumlogsumexp_p, cumlogsumexp = _cumulative("cumlogsumexp", np.logaddexp, dt.FLOATING,
                                           "log-sum-exp (numerically stable)",
                                           jvp=_scan_jvp(_cumlogsumexp_tangent))
