"""Staging: run a Python function on abstract values and record a jaxpr.

``StagingTrace`` turns every primitive application into an equation instead of computing it.
``trace_to_jaxpr`` is the one entry point that ``make_jaxpr``, ``eval_shape`` and ``jit`` use.
Values from outside the trace become literals (0-d) or constvars (captured arrays, and tracers
of enclosing transformations, which the enclosing trace then handles). Imports ``core``/``ir``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import core, errors
from functrans.core import ShapedArray, Tracer
from functrans.ir import ClosedJaxpr, Eqn, Jaxpr, Literal, Var, dce_jaxpr


class StagingTracer(Tracer):
    __slots__ = ("var", "src")

    def __init__(self, trace: StagingTrace, var: Var, src: errors.SourceInfo | None):
        self._trace = trace
        self.var = var
        self.src = src

    @property
    def aval(self) -> ShapedArray:
        return self.var.aval

    def _source(self) -> errors.SourceInfo | None:
        return self.src


class StagingTrace(core.Trace):
    """Records equations; nothing is computed."""

    __slots__ = ("eqns", "invars", "constvars", "constvals", "_const_index", "_keepalive")

    def __init__(self, parent: core.Trace | None, debug: core.DebugInfo):
        super().__init__(parent, debug)
        self.eqns: list[Eqn] = []
        self.invars: list[Var] = []
        self.constvars: list[Var] = []
        self.constvals: list[Any] = []
        self._const_index: dict[int, Var] = {}
        self._keepalive: list[Any] = []

    def new_arg(self, aval: ShapedArray) -> StagingTracer:
        v = Var(aval)
        self.invars.append(v)
        return StagingTracer(self, v, None)

    def to_atom(self, x: Any) -> Var | Literal:
        if type(x) is StagingTracer and x._trace is self:
            return x.var
        if isinstance(x, Tracer):
            core.check_tracer_alive(x)
            return self._constvar(x, x.aval)
        aval = core.get_aval(x)
        if not aval.shape:
            return Literal(core.to_numpy(x), aval)
        return self._constvar(x, aval)

    def _constvar(self, x: Any, aval: ShapedArray) -> Var:
        v = self._const_index.get(id(x))
        if v is None:
            v = self._const_index[id(x)] = Var(aval)
            self.constvars.append(v)
            # Snapshot a caller's NumPy array: a later write to it must not change the program.
            self.constvals.append(core.Array(x) if type(x) is np.ndarray else x)
            self._keepalive.append(x)  # ids stay unique while the trace lives
        return v

    def process_primitive(self, prim: Any, args: Sequence[Any], params: dict) -> Any:
        atoms = [self.to_atom(a) for a in args]
        out = core.abstract_eval(prim, [a.aval for a in atoms], params)
        src = errors.user_frame(2)
        if prim.multiple_results:
            outvars = [Var(a) for a in out]
            self.eqns.append(Eqn(prim, atoms, outvars, params, src))
            return [StagingTracer(self, v, src) for v in outvars]
        v = Var(out)
        self.eqns.append(Eqn(prim, atoms, [v], params, src))
        return StagingTracer(self, v, src)

    def why_traced(self, tracer: Tracer) -> str:
        d = self.debug
        deps = self._input_dependencies(tracer)
        if not deps:
            return (f"While {d.transform} traces {d.fun_location}, the value is abstract (only "
                    f"its shape and dtype are known).")
        names = d.arg_names()
        shown = ", ".join(
            f"{names[i]} ({self.invars[i].aval.str_short()})" if i < len(names)
            else f"#{i}" for i in deps)
        plural = "s" if len(deps) > 1 else ""
        return (f"The value depends on argument{plural} {shown} of {d.fun_location}, which "
                f"{d.transform} traces abstractly: only shapes and dtypes are known, not "
                f"values.")

    def traced_arg_names(self, tracer: Tracer) -> list[str]:
        names = self.debug.arg_names()
        tops = [names[i].split("[")[0].split(".")[0] for i in self._input_dependencies(tracer)
                if i < len(names)]
        return list(dict.fromkeys(tops))

    def _input_dependencies(self, tracer: Tracer) -> list[int]:
        if not isinstance(tracer, StagingTracer):
            return []
        frontier = {tracer.var}
        for eqn in reversed(self.eqns):
            if any(v in frontier for v in eqn.outvars):
                frontier.update(a for a in eqn.invars if type(a) is Var)
        return [i for i, v in enumerate(self.invars) if v in frontier]

    def to_closed_jaxpr(self, outs: Sequence[Any]) -> ClosedJaxpr:
        outvars = [self.to_atom(x) for x in outs]
        jaxpr = Jaxpr(list(self.constvars), list(self.invars), outvars, self.eqns,
                      self.debug.detached())
        return ClosedJaxpr(jaxpr, list(self.constvals))


def trace_to_jaxpr(flat_fun: Callable[..., Sequence[Any]], in_avals: Sequence[ShapedArray],
                   debug: core.DebugInfo) -> ClosedJaxpr:
    """Stage ``flat_fun`` (flat list of arrays in, flat list out) into a closed jaxpr."""
    trace = StagingTrace(core.current_trace(), debug)
    in_tracers = [trace.new_arg(a) for a in in_avals]
    try:
        with core.set_current_trace(trace):
            outs = flat_fun(*in_tracers)
        return trace.to_closed_jaxpr(outs)
    finally:
        trace.alive = False


# --- splitting a jaxpr into known and unknown parts ---------------------------------------------


def partial_eval_jaxpr(closed: ClosedJaxpr, in_unknowns: Sequence[bool],
                       saveable: Callable[[Eqn], bool] | None = None
                       ) -> tuple[ClosedJaxpr, ClosedJaxpr, list[bool], int]:
    """Split ``closed`` by which inputs are unknown.

    Returns ``(known, unknown, out_unknowns, num_res)``: ``known`` maps the known inputs to
    the known outputs followed by ``num_res`` residuals; ``unknown`` maps the residuals
    followed by the unknown inputs to the unknown outputs. With ``saveable=None`` every known
    value the unknown part reads is a residual. Otherwise (checkpointing) only known inputs
    and outputs of equations for which ``saveable(eqn)`` is true are residuals; the unknown
    part recomputes everything else it needs from them.
    """
    jaxpr = closed.jaxpr
    unknown: set[Var] = {v for v, u in zip(jaxpr.invars, in_unknowns, strict=True) if u}
    producer: dict[Var, Eqn] = {}
    known_eqns, unknown_eqns = [], []
    for eqn in jaxpr.eqns:
        if any(type(a) is Var and a in unknown for a in eqn.invars):
            unknown_eqns.append(eqn)
            unknown.update(eqn.outvars)
        else:
            known_eqns.append(eqn)
            for v in eqn.outvars:
                producer[v] = eqn
    out_unknowns = [type(v) is Var and v in unknown for v in jaxpr.outvars]
    consts = set(jaxpr.constvars)
    known_invars = [v for v, u in zip(jaxpr.invars, in_unknowns, strict=True) if not u]
    boundary = set(known_invars) | consts

    residuals: list[Var] = []
    recompute: set[int] = set()
    seen: set[Var] = set()

    def need(v: Any) -> None:
        if type(v) is not Var or v in unknown or v in seen:
            return
        seen.add(v)
        if v in consts:
            return  # the unknown part closes over the same constants
        if v in boundary or saveable is None or saveable(producer[v]):
            residuals.append(v)
            return
        eqn = producer[v]
        recompute.add(id(eqn))
        for a in eqn.invars:
            need(a)

    for eqn in unknown_eqns:
        for a in eqn.invars:
            need(a)
    for v, u in zip(jaxpr.outvars, out_unknowns, strict=True):
        if u:
            need(v)
    recomputed = [e for e in known_eqns if id(e) in recompute]
    known_outs = [v for v, u in zip(jaxpr.outvars, out_unknowns, strict=True) if not u]
    unknown_outs = [v for v, u in zip(jaxpr.outvars, out_unknowns, strict=True) if u]
    unknown_invars = [v for v, u in zip(jaxpr.invars, in_unknowns, strict=True) if u]
    known_jaxpr = Jaxpr(list(jaxpr.constvars), known_invars, known_outs + residuals, known_eqns,
                        jaxpr.debug)
    unknown_jaxpr = Jaxpr(list(jaxpr.constvars), residuals + unknown_invars, unknown_outs,
                          recomputed + unknown_eqns, jaxpr.debug)
    return (ClosedJaxpr(dce_jaxpr(known_jaxpr), closed.consts),
            ClosedJaxpr(unknown_jaxpr, closed.consts), out_unknowns, len(residuals))
