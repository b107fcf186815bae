"""Autodiff vocabulary shared by primitives and the AD transform: symbolic zeros, undefined
primals, tangent types, and builders for jvp and transpose rules.

A jvp rule is ``rule(primals, tangents, **params) -> (primal_out, tangent_out)``; a tangent is
an array or ``Zero(aval)`` (a symbolic zero that costs nothing). A transpose rule is
``rule(cts, *args, **params) -> cotangents``: ``args`` holds ``UndefinedPrimal(aval)`` for the
linear inputs and values for the others; it returns one cotangent (or None) per argument.
The backward pass never calls a single-output primitive's transpose rule with a ``Zero``
cotangent (nothing flows back from an unused value, so the rule is skipped); multiple-output
rules get a list in which unused outputs are ``Zero``. Builders here cover whole families;
the rules themselves live beside each primitive.
Imports ``core`` only (lax wrappers are looked up lazily, when a rule runs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.primitives.registry import RuleBuilder


class Zero:
    """A symbolic zero tangent or cotangent of type ``aval``."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Zero({self.aval.str_short()})"


class UndefinedPrimal:
    """Marks a linear input of an equation being transposed (its value is not known)."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"UndefinedPrimal({self.aval.str_short()})"


def is_undefined(x: Any) -> bool:
    return type(x) is UndefinedPrimal


class MaskedCotangent:
    """A cotangent that is exactly zero wherever ``keep`` is False.

    ``functrans.numpy.safe_where`` sends these into the branch it did not select. Transpose
    rules of elementwise primitives keep the mask on their results, so a NaN or inf derivative
    inside the unselected branch (sqrt, log or 1/x outside their domain) is multiplied into
    zeros that are then masked away, instead of turning 0 * inf into NaN. ``value`` is already
    zero outside ``keep``; rules that do not handle masks see just ``value``.
    """

    __slots__ = ("value", "keep")

    def __init__(self, value: Any, keep: Any):
        self.value = value
        self.keep = keep

    @property
    def aval(self) -> ShapedArray:
        return core.get_aval(self.value)


def handles_masks(rule: Callable) -> Callable:
    """Mark a transpose rule as accepting MaskedCotangents (others get plain values)."""
    rule.handles_masked_cotangents = True  # type: ignore[attr-defined]
    return rule


def unmask(ct: Any) -> Any:
    return ct.value if type(ct) is MaskedCotangent else ct


def masked_result(ct_in: Any, full: Any, aval: ShapedArray) -> Any:
    """An elementwise rule's result ``full`` (computed from the unmasked value of ``ct_in``),
    masked like ``ct_in`` and summed to ``aval``'s shape if that operand was 0-d."""
    if type(ct_in) is not MaskedCotangent:
        return unbroadcast(full, aval)
    from functrans import lax
    zeros = zeros_like_aval(core.get_aval(full))
    full = lax.select_n(ct_in.keep, zeros, full)
    if core.get_aval(full).shape == aval.shape:
        return MaskedCotangent(full, ct_in.keep)
    return unbroadcast(full, aval)


def is_differentiable_dtype(dtype: np.dtype) -> bool:
    return dtype.kind in "fc"


def tangent_aval(aval: ShapedArray) -> ShapedArray:
    """The type of tangents of ``aval``: the same for inexact types, float0 for ints/bools."""
    if is_differentiable_dtype(aval.dtype):
        return ShapedArray(aval.shape, aval.dtype) if aval.weak_type else aval
    return ShapedArray(aval.shape, dt.float0)


def zeros_like_aval(aval: ShapedArray) -> Any:
    """A materialized zero of ``aval`` (a scalar broadcast: cheap under tracing)."""
    if aval.dtype == dt.float0:
        return np.zeros(aval.shape, dt.float0)
    if core.current_trace() is None:  # eager: a zero buffer, without a trip through bind
        zeros = np.zeros(aval.shape, aval.dtype)
        zeros.flags.writeable = False
        return core.Array._typed(zeros, aval.strip_weak_type())
    from functrans import lax
    zero = np.zeros((), aval.dtype)
    return lax.broadcast_in_dim(zero, aval.shape, ()) if aval.shape else zero


def instantiate(t: Any) -> Any:
    """Materialize a symbolic zero; other tangents pass through."""
    return zeros_like_aval(t.aval) if type(t) is Zero else t


def add_tangents(a: Any, b: Any) -> Any:
    """``a + b`` for tangents/cotangents, skipping symbolic zeros and keeping masks only where
    both terms are masked."""
    if type(a) is Zero:
        return b
    if type(b) is Zero:
        return a
    from functrans import lax
    if type(a) is MaskedCotangent and type(b) is MaskedCotangent:
        return MaskedCotangent(lax.add(a.value, b.value), lax.bitwise_or(a.keep, b.keep))
    return lax.add(unmask(a), unmask(b))


def aval_of(x: Any) -> ShapedArray:
    return x.aval if type(x) in (Zero, UndefinedPrimal) else core.get_aval(x)


def broadcast_to_aval(t: Any, aval: ShapedArray) -> Any:
    """Broadcast a 0-d tangent to ``aval``'s shape (lax's elementwise scalar broadcasting)."""
    t_shape = aval_of(t).shape
    if t_shape == aval.shape:
        return t
    from functrans import lax
    return lax.broadcast_in_dim(t, aval.shape, ())


def unbroadcast(ct: Any, aval: ShapedArray) -> Any:
    """The cotangent of a 0-d operand that was broadcast: the sum of ``ct``."""
    if type(ct) is Zero:
        return Zero(tangent_aval(aval))
    ct_shape = aval_of(ct).shape
    if ct_shape == aval.shape:
        return ct
    from functrans import lax
    return lax.reduce_sum(ct, tuple(range(len(ct_shape))))


def cast_to(x: Any, dtype: np.dtype) -> Any:
    """``x`` converted to ``dtype`` (nothing happens when it already has it)."""
    if aval_of(x).dtype == dtype:
        return x
    from functrans import lax
    return lax.convert_element_type(x, dtype)


# --- jvp rule builders ----------------------------------------------------------------------------


class JVPRule(RuleBuilder):
    """A jvp rule made by a builder; ``define_primitive`` gives it its primitive."""

    __slots__ = ()


def jvp_partials(*partials: Callable | None, with_ans: bool = False) -> JVPRule:
    """JAX's defjvp/defjvp2: ``partials[i](t_i, *primals, **params)`` (or
    ``(t_i, ans, *primals, **params)`` with ``with_ans``) is input i's contribution to the
    output tangent; None means the output does not depend on that input smoothly."""

    def build(prim: Any) -> Callable:
        def rule(primals: Sequence[Any], tangents: Sequence[Any], **params: Any) -> Any:
            ans = prim.bind(*primals, **params)
            out_aval = tangent_aval(core.get_aval(ans))
            total: Any = Zero(out_aval)
            for fn, t in zip(partials, tangents, strict=True):
                if fn is None or type(t) is Zero:
                    continue
                term = fn(t, ans, *primals, **params) if with_ans else fn(t, *primals, **params)
                total = add_tangents(total, broadcast_to_aval(term, out_aval))
            return ans, total

        return rule

    return JVPRule(build)


def jvp_linear() -> JVPRule:
    """For primitives linear in all their operands: the tangent is the primitive applied to
    the tangents (zeros instantiated), e.g. reshape, reduce_sum, concatenate."""

    def build(prim: Any) -> Callable:
        def rule(primals: Sequence[Any], tangents: Sequence[Any], **params: Any) -> Any:
            ans = prim.bind(*primals, **params)
            if all(type(t) is Zero for t in tangents):
                return ans, _zeros_for(ans, prim)
            return ans, prim.bind(*map(instantiate, tangents), **params)

        return rule

    return JVPRule(build)


def jvp_zero() -> JVPRule:
    """For primitives whose outputs are piecewise constant or not differentiable (comparisons,
    integer and boolean ops, floor, sign, argmax, iota...): the tangent is zero."""

    def build(prim: Any) -> Callable:
        def rule(primals: Sequence[Any], tangents: Sequence[Any], **params: Any) -> Any:
            ans = prim.bind(*primals, **params)
            return ans, _zeros_for(ans, prim)

        return rule

    return JVPRule(build)


def zero_tangents(avals: Sequence[ShapedArray]) -> list[Zero]:
    """Symbolic zero tangents for values of types ``avals``."""
    return [Zero(tangent_aval(a)) for a in avals]


def _zeros_for(ans: Any, prim: Any) -> Any:
    if prim.multiple_results:
        return zero_tangents([core.get_aval(a) for a in ans])
    return Zero(tangent_aval(core.get_aval(ans)))


# --- transpose rule builders ----------------------------------------------------------------------


def transpose_elementwise(*fns: Callable | None) -> Callable:
    """Transpose of an elementwise op linear in some operands: ``fns[i](ct, *args, **params)``
    gives the cotangent of operand i (for the operands that are undefined), before summing away
    lax's 0-d broadcasting."""

    def rule(ct: Any, *args: Any, **params: Any) -> list[Any]:
        out = []
        for fn, a in zip(fns, args, strict=True):
            if not is_undefined(a) or fn is None:
                out.append(None)
                continue
            out.append(masked_result(ct, fn(unmask(ct), *args, **params), a.aval))
        return out

    return handles_masks(rule)


def transpose_linear(fn: Callable, masked: bool = False) -> Callable:
    """The transpose rule of a primitive linear in its undefined operands, given
    ``fn(ct, *args, **params) -> list`` (one cotangent or None per argument), for
    single-output primitives (whose rules never see a Zero cotangent). ``masked=True``
    (elementwise primitives only) carries MaskedCotangent masks through to the results."""

    def rule(ct: Any, *args: Any, **params: Any) -> list[Any]:
        if not masked:
            return fn(ct, *args, **params)
        results = fn(unmask(ct), *args, **params)
        return [None if r is None else masked_result(ct, r, a.aval)
                for r, a in zip(results, args, strict=True)]

    return handles_masks(rule) if masked else rule


def check_linear_in_one(name: str, args: Sequence[Any]) -> None:
    """Bilinear primitives (mul, dot_general) transpose in one operand at a time."""
    if sum(1 for a in args if is_undefined(a)) > 1:
        raise ValueError(f"functrans: transpose of {name} with more than one linear operand; "
                         f"the expression is not linear in the differentiated inputs")
