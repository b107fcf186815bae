"""Automatic differentiation as interpreters: forward mode, linearization, transposition.

* ``JVPTrace`` pushes (primal, tangent) pairs through each primitive's ``jvp`` rule.
* ``linearize`` runs the JVP on top of a ``PartialEvalTrace``: primal work (known inputs) is
  computed right away, tangent work (unknown inputs) is staged into a *linear* jaxpr whose
  constants are the residuals the backward pass needs.
* ``backward_pass`` transposes a linear jaxpr with each primitive's ``transpose`` rule, so
  reverse mode (``vjp``, ``grad``) needs transpose rules only for linear primitives.

Tangents may be symbolic ``Zero``s: unused and integer inputs cost nothing. Rules live on the
primitive records; this module only applies them. Imports core, ir, partial_eval, ad_rules.
"""

from __future__ import annotations

import sys

from collections.abc import Callable, Sequence
from typing import Any

from functrans import core, errors
from functrans.core import ShapedArray, Tracer
from functrans.ir import ClosedJaxpr, Jaxpr, Literal, Var
from functrans.primitives.ad_rules import (
    UndefinedPrimal, Zero, add_tangents, instantiate, is_differentiable_dtype, tangent_aval,
    unmask, zeros_like_aval,
)
from functrans.transforms.partial_eval import StagingTrace, StagingTracer


# --- forward mode -------------------------------------------------------------------------------


class JVPTracer(Tracer):
    """A primal value carrying a (never symbolically zero) tangent."""

    __slots__ = ("primal", "tangent", "_aval")

    def __init__(self, trace: JVPTrace, primal: Any, tangent: Any):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent
        self._aval = None

    @property
    def aval(self) -> ShapedArray:
        aval = self._aval  # asked for by every operation on the tracer: compute once
        if aval is None:
            aval = self._aval = core.get_aval(self.primal)
        return aval

    def to_concrete_value(self) -> Any:
        # Forward and reverse mode keep primal values concrete (outside jit), so Python
        # control flow on them works under grad, as in JAX.
        return core.concrete_or_none(self.primal)


class JVPTrace(core.Trace):
    """Forward-mode differentiation: every primitive is replaced by its jvp rule."""

    __slots__ = ()

    def process_primitive(self, prim: Any, args: Sequence[Any], params: dict) -> Any:
        primals: list[Any] = []
        tangents: list[Any] = []
        differentiated = False
        for a in args:
            if type(a) is JVPTracer and a._trace is self:
                primals.append(a.primal)
                tangents.append(a.tangent)
                differentiated = True
            else:
                core.check_tracer_alive(a)
                primals.append(a)
                tangents.append(None)
        token = core._trace_var.set(self.parent)
        try:
            if not differentiated:
                return prim.bind(*primals, **params)
            rule = prim.jvp
            if rule is None:
                raise _missing_jvp(prim, self)
            tangents = [Zero(tangent_aval(core.get_aval(p))) if t is None else t
                        for p, t in zip(primals, tangents, strict=True)]
            # Every equation the rule stages comes from the user's one operation: find its
            # source line at most once.
            src_token = (errors._source_override.set(errors.LazySource(sys._getframe(1)))
                         if errors._source_override.get() is None else None)
            try:
                out_primal, out_tangent = rule(primals, tangents, **params)
            finally:
                if src_token is not None:
                    errors._source_override.reset(src_token)
        finally:
            core._trace_var.reset(token)
        if prim.multiple_results:
            return [self.wrap(p, t) for p, t in zip(out_primal, out_tangent, strict=True)]
        return self.wrap(out_primal, out_tangent)

    def wrap(self, primal: Any, tangent: Any) -> Any:
        return primal if type(tangent) is Zero else JVPTracer(self, primal, tangent)

    def unpack(self, x: Any) -> tuple[Any, Any]:
        """(primal, tangent) of an output of the traced function."""
        if type(x) is JVPTracer and x._trace is self:
            return x.primal, x.tangent
        return x, Zero(tangent_aval(core.get_aval(x)))


def _missing_jvp(prim: Any, trace: core.Trace) -> errors.MissingRuleError:
    return errors.MissingRuleError(
        f"functrans.{trace.debug.transform}: primitive '{prim.name}' has no differentiation "
        f"(jvp) rule, so {trace.debug.fun_location} cannot be differentiated through it. "
        f"Wrap the computation in functrans.custom_jvp / custom_vjp to supply a derivative, "
        f"or apply stop_gradient to its input if no gradient should flow there.")


def jvp_flat(flat_fun: Callable[..., list], primals: Sequence[Any], tangents: Sequence[Any],
             debug: core.DebugInfo) -> tuple[list[Any], list[Any]]:
    """Primal and tangent outputs of ``flat_fun`` (symbolic zeros allowed in ``tangents``)."""
    trace = JVPTrace(core.current_trace(), debug)
    ins = [trace.wrap(p, t) for p, t in zip(primals, tangents, strict=True)]
    try:
        with core.set_current_trace(trace):
            outs = flat_fun(*ins)
        pairs = [trace.unpack(o) for o in outs]
    finally:
        trace.alive = False
    return [p for p, _ in pairs], [t for _, t in pairs]


# --- linearize: JVP over partial evaluation -----------------------------------------------------


class PartialEvalTrace(StagingTrace):
    """Stages equations that read an unknown value; evaluates all others right away."""

    __slots__ = ()

    def is_unknown(self, x: Any) -> bool:
        return type(x) is StagingTracer and x._trace is self

    def evaluate(self, prim: Any, args: Sequence[Any], params: dict) -> Any:
        """Bind ``prim`` on known values in the enclosing trace (computed now)."""
        token = core._trace_var.set(self.parent)
        try:
            return prim.bind(*args, **params)
        finally:
            core._trace_var.reset(token)

    def stage(self, prim: Any, args: Sequence[Any], params: dict) -> Any:
        """Record ``prim`` as an equation of the linear program."""
        return StagingTrace.process_primitive(self, prim, args, params)

    def process_primitive(self, prim: Any, args: Sequence[Any], params: dict) -> Any:
        for a in args:
            if type(a) is StagingTracer and a._trace is self:
                if prim.partial_eval is not None:
                    return prim.partial_eval(self, args, params)
                return super().process_primitive(prim, args, params)
        if self.parent is None:
            # Known values under an eager linearize (grad outside jit): compute them now,
            # without another trip through bind.
            return core.eval_primitive(prim, args, params)
        return self.evaluate(prim, args, params)


class Linearized:
    """The result of ``linearize_flat``: primal outputs and the linear map between tangents."""

    __slots__ = ("out_primals", "jaxpr", "out_zero")

    def __init__(self, out_primals: list[Any], jaxpr: ClosedJaxpr, out_zero: list[bool]):
        self.out_primals = out_primals
        self.jaxpr = jaxpr          # tangents of every input -> tangents of every output
        self.out_zero = out_zero    # outputs whose tangent is symbolically zero

    def jvp(self, tangents: Sequence[Any]) -> list[Any]:
        from functrans.ir import eval_jaxpr
        return eval_jaxpr(self.jaxpr.jaxpr, self.jaxpr.consts, *tangents)

    def vjp(self, cts: Sequence[Any]) -> list[Any]:
        """Cotangents of the inputs (Zero where nothing flows) for output cotangents ``cts``."""
        jaxpr = self.jaxpr.jaxpr
        cts = [Zero(tangent_aval(v.aval)) if zero else ct
               for v, ct, zero in zip(jaxpr.outvars, cts, self.out_zero, strict=True)]
        args = [UndefinedPrimal(v.aval) for v in jaxpr.invars]
        return backward_pass(jaxpr, self.jaxpr.consts, args, cts)


def linearize_flat(flat_fun: Callable[..., list], primals: Sequence[Any],
                   debug: core.DebugInfo) -> Linearized:
    """Evaluate ``flat_fun`` at ``primals`` and stage its JVP's tangent part as a jaxpr."""
    pe = PartialEvalTrace(core.current_trace(), debug)
    jt = JVPTrace(pe, debug)
    ins = []
    for p in primals:
        aval = core.get_aval(p)
        t = pe.new_arg(tangent_aval(aval))
        ins.append(JVPTracer(jt, p, t) if is_differentiable_dtype(aval.dtype) else p)
    try:
        with core.set_current_trace(jt):
            outs = flat_fun(*ins)
        pairs = [jt.unpack(o) for o in outs]
        out_zero = [type(t) is Zero for _, t in pairs]
        with core.set_current_trace(pe):
            lin_outs = [instantiate(t) for _, t in pairs]
        jaxpr = pe.to_closed_jaxpr(lin_outs)
    finally:
        jt.alive = False
        pe.alive = False
    return Linearized([p for p, _ in pairs], jaxpr, out_zero)


# --- transposition ------------------------------------------------------------------------------


def backward_pass(jaxpr: Jaxpr, consts: Sequence[Any], args: Sequence[Any],
                  cts_out: Sequence[Any]) -> list[Any]:
    """Transpose ``jaxpr`` with respect to its ``UndefinedPrimal`` arguments.

    Equations that read no undefined value are evaluated forward first (call-like primitives
    such as checkpoint stage primal work into linear programs); the others are transposed in
    reverse order. Returns one cotangent per argument (``Zero`` where nothing flows; None for
    defined arguments).
    """
    env: dict[Var, Any] = {}
    linear: set[Var] = set()

    def read(a: Any) -> Any:
        return a.val if type(a) is Literal else env[a]

    for v, c in zip(jaxpr.constvars, consts, strict=True):
        env[v] = c
    for v, a in zip(jaxpr.invars, args, strict=True):
        if type(a) is UndefinedPrimal:
            linear.add(v)
        else:
            env[v] = a
    linear_eqns = []
    for eqn in jaxpr.eqns:
        if not linear.isdisjoint(eqn.invars):  # (Vars and Literals hash by identity)
            linear_eqns.append(eqn)
            linear.update(eqn.outvars)
        else:
            out = eqn.prim.bind(*map(read, eqn.invars), **eqn.params)
            outs = out if eqn.prim.multiple_results else [out]
            for v, x in zip(eqn.outvars, outs, strict=True):
                env[v] = x

    ct_env: dict[Var, Any] = {}

    def accumulate(v: Any, ct: Any) -> None:
        if type(v) is not Var or v not in linear or ct is None or type(ct) is Zero:
            return
        ct_env[v] = add_tangents(ct_env[v], ct) if v in ct_env else ct

    for v, ct in zip(jaxpr.outvars, cts_out, strict=True):
        accumulate(v, ct)
    for eqn in reversed(linear_eqns):
        if eqn.prim.multiple_results:
            cts = [ct_env.pop(v, None) for v in eqn.outvars]
            if all(ct is None for ct in cts):
                continue
            cts = [Zero(tangent_aval(v.aval)) if ct is None else ct
                   for v, ct in zip(eqn.outvars, cts, strict=True)]
        else:
            # A single-output rule never sees a Zero: nothing flows back from an unused value.
            cts = [ct_env.pop(eqn.outvars[0], None)]
            if cts[0] is None:
                continue
        rule = eqn.prim.transpose
        if rule is None:
            raise errors.MissingRuleError(
                f"functrans: cannot transpose primitive '{eqn.prim.name}': it is not linear "
                f"in the differentiated inputs, or has no transpose rule (equation: {eqn!r}, "
                f"from {eqn.source_info}).")
        if not getattr(rule, "handles_masked_cotangents", False):
            cts = [unmask(ct) for ct in cts]
        invals = [UndefinedPrimal(a.aval) if a in linear else read(a) for a in eqn.invars]
        token = errors._source_override.set(eqn.source_info)
        try:
            cts_in = rule(cts if eqn.prim.multiple_results else cts[0], *invals, **eqn.params)
        finally:
            errors._source_override.reset(token)
        for a, ct in zip(eqn.invars, cts_in, strict=True):
            accumulate(a, ct)
    return [(unmask(ct_env.get(v, Zero(tangent_aval(v.aval)))) if v in linear else None)
            for v in jaxpr.invars]


def zeros_like_tangent(aval: ShapedArray) -> Any:
    """A concrete zero cotangent (float0 for integer inputs, as in JAX)."""
    return zeros_like_aval(tangent_aval(aval))


# --- differentiating sub-programs (for call-like primitives) ------------------------------------


