"""Transforming sub-programs: the closed jaxprs that call-like and control-flow primitives hold.

A primitive such as ``while`` or ``scan`` carries its body as a ``ClosedJaxpr``; its rules
transform the body into another closed jaxpr: its JVP (with chosen tangents instantiated, so a
loop carry keeps one type), its known/unknown split for reverse mode
(``partial_eval_jaxpr_nested``: unlike ``partial_eval.partial_eval_jaxpr`` it re-traces the
body, so nested call-like and control-flow equations split themselves too), its transpose, and
its batched form with chosen output batch dimensions. Results are memoized per jaxpr. Also
small, exact jaxpr surgery (reordering inputs and outputs). Imports core, ir, ad, batching,
partial_eval.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from functrans import core
from functrans.core import ShapedArray, Tracer
from functrans.ir import ClosedJaxpr, Jaxpr, Var, dce_jaxpr, eval_jaxpr
from functrans.primitives.ad_rules import (
    UndefinedPrimal,
    Zero,
    is_differentiable_dtype,
    tangent_aval,
    zeros_like_aval,
)
from functrans.primitives.batch_rules import AxisData
from functrans.transforms import ad
from functrans.transforms.batching import SubProgram, batch_function, batch_jaxpr
from functrans.transforms.partial_eval import trace_to_jaxpr


# What error messages say is being traced when a rule re-traces a sub-program.
DEBUG = {what: core.DebugInfo(what, SubProgram()) for what in
         ("jvp", "partial_eval", "transpose", "vmap", "control flow")}

_derived: weakref.WeakKeyDictionary[ClosedJaxpr, dict] = weakref.WeakKeyDictionary()


def memo(closed: ClosedJaxpr, key: Any, make: Callable[[], Any]) -> Any:
    """``make()``, computed once per (jaxpr, key): derived programs are pure functions of the
    jaxpr they come from, and jit retraces would otherwise rebuild them."""
    table = _derived.get(closed)
    if table is None:
        table = _derived[closed] = {}
    if key not in table:
        table[key] = make()
    return table[key]


def clear_derived() -> None:
    """Forget every memoized derived program (``functrans.clear_caches``)."""
    _derived.clear()


def call(closed: ClosedJaxpr) -> Callable[..., list]:
    """A flat function that evaluates ``closed`` under the current trace."""
    return lambda *args: eval_jaxpr(closed.jaxpr, closed.consts, *args)


def _flags(value: bool | Sequence[bool], n: int) -> tuple[bool, ...]:
    return (bool(value),) * n if isinstance(value, bool) else tuple(map(bool, value))


# --- surgery ------------------------------------------------------------------------------------


def permute_invars(closed: ClosedJaxpr, order: Sequence[int]) -> ClosedJaxpr:
    """``closed`` taking its inputs in a new order: input i is the old input ``order[i]``."""
    j = closed.jaxpr
    return ClosedJaxpr(Jaxpr(j.constvars, [j.invars[i] for i in order], j.outvars, j.eqns,
                             j.debug), closed.consts)


def add_invars(closed: ClosedJaxpr, avals: Sequence[ShapedArray], at: int) -> ClosedJaxpr:
    """``closed`` with unused inputs of types ``avals`` inserted at position ``at``."""
    j = closed.jaxpr
    fresh = [Var(a) for a in avals]
    return ClosedJaxpr(Jaxpr(j.constvars, j.invars[:at] + fresh + j.invars[at:], j.outvars,
                             j.eqns, j.debug), closed.consts)


def select_outvars(closed: ClosedJaxpr, keep: Sequence[int]) -> ClosedJaxpr:
    """``closed`` returning only the outputs at positions ``keep`` (dead code removed)."""
    j = closed.jaxpr
    out = Jaxpr(j.constvars, j.invars, [j.outvars[i] for i in keep], j.eqns, j.debug)
    return ClosedJaxpr(dce_jaxpr(out), closed.consts)


def drop_invars(closed: ClosedJaxpr, drop: Sequence[bool]) -> ClosedJaxpr | None:
    """``closed`` without the inputs marked in ``drop``, or None if it reads one of them."""
    j = dce_jaxpr(closed.jaxpr)
    dropped = {v for v, d in zip(j.invars, drop, strict=True) if d}
    used = {a for e in j.eqns for a in e.invars if type(a) is Var}
    used.update(a for a in j.outvars if type(a) is Var)
    if dropped & used:
        return None
    return ClosedJaxpr(Jaxpr(j.constvars, [v for v in j.invars if v not in dropped], j.outvars,
                             j.eqns, j.debug), closed.consts)


# --- forward mode -------------------------------------------------------------------------------


def jvp_jaxpr(closed: ClosedJaxpr, nonzeros: Sequence[bool],
              instantiate: bool | Sequence[bool]) -> tuple[ClosedJaxpr, list[bool]]:
    """The JVP of ``closed``: it takes the primal inputs followed by the tangents of the inputs
    marked in ``nonzeros``, and returns the primal outputs followed by the tangents marked in
    the second result. Outputs marked in ``instantiate`` (differentiable ones) always get a
    tangent, zeros if need be, so that loop carries keep their types across iterations."""
    nonzeros = tuple(map(bool, nonzeros))
    inst = _flags(instantiate, len(closed.out_avals))
    return memo(closed, ("jvp", nonzeros, inst), lambda: _jvp_jaxpr(closed, nonzeros, inst))


def _jvp_jaxpr(closed: ClosedJaxpr, nonzeros: tuple[bool, ...], inst: tuple[bool, ...]
               ) -> tuple[ClosedJaxpr, list[bool]]:
    n = len(closed.in_avals)
    out_nonzeros: list[bool] = []

    def fun(*args: Any) -> list[Any]:
        primals, nz_tangents = args[:n], iter(args[n:])
        tangents = [next(nz_tangents) if nz else Zero(tangent_aval(a))
                    for nz, a in zip(nonzeros, closed.in_avals, strict=True)]
        outs_p, outs_t = ad.jvp_flat(call(closed), primals, tangents, DEBUG["jvp"])
        outs_t = [zeros_like_aval(tangent_aval(a)) if type(t) is Zero and i and
                  is_differentiable_dtype(a.dtype) else t
                  for t, i, a in zip(outs_t, inst, closed.out_avals, strict=True)]
        out_nonzeros[:] = [type(t) is not Zero for t in outs_t]
        return list(outs_p) + [t for t in outs_t if type(t) is not Zero]

    in_avals = list(closed.in_avals) + [tangent_aval(a) for nz, a in
                                        zip(nonzeros, closed.in_avals, strict=True) if nz]
    jaxpr = trace_to_jaxpr(fun, in_avals, DEBUG["jvp"])
    return jaxpr, list(out_nonzeros)


# --- partial evaluation -------------------------------------------------------------------------


class Split(NamedTuple):
    """A jaxpr split by which inputs are unknown (see ``partial_eval_jaxpr_nested``)."""

    known: ClosedJaxpr        # known inputs -> known outputs, then the residuals
    unknown: ClosedJaxpr      # residuals, then unknown inputs -> unknown outputs
    out_unknowns: list[bool]
    num_res: int
    # For each residual, the position (among the known inputs) of the known input it is, or
    # None when the known part computes it: loops pass such inputs once instead of stacking
    # them per iteration.
    res_sources: list[int | None]


def partial_eval_jaxpr_nested(closed: ClosedJaxpr, unknowns: Sequence[bool],
                              instantiate: bool | Sequence[bool] = False) -> Split:
    """Split ``closed`` into the part computable from its known inputs and the part that needs
    the unknown ones, by re-tracing it under a partial-evaluation trace: nested equations with
    a ``partial_eval`` rule (checkpoint, jit, cond, loops) split themselves instead of landing
    whole in the unknown part. Outputs marked in ``instantiate`` are unknown even when they
    could be computed from known inputs (loop carries keep one status across iterations)."""
    unknowns = tuple(map(bool, unknowns))
    inst = _flags(instantiate, len(closed.out_avals))
    return memo(closed, ("pe", unknowns, inst), lambda: _partial_eval(closed, unknowns, inst))


def _partial_eval(closed: ClosedJaxpr, unknowns: tuple[bool, ...], inst: tuple[bool, ...]
                  ) -> Split:
    known_avals = [a for a, u in zip(closed.in_avals, unknowns, strict=True) if not u]
    unknown_avals = [a for a, u in zip(closed.in_avals, unknowns, strict=True) if u]
    debug = DEBUG["partial_eval"]
    box: dict[str, Any] = {}

    def known_fun(*known_in: Any) -> list[Any]:
        staging = core.current_trace()
        pe = ad.PartialEvalTrace(staging, debug)
        unknown_in = iter([pe.new_arg(a) for a in unknown_avals])
        known_it = iter(known_in)
        args = [next(unknown_in) if u else next(known_it) for u in unknowns]
        try:
            with core.set_current_trace(pe):
                outs = eval_jaxpr(closed.jaxpr, closed.consts, *args)
            out_uk = [pe.is_unknown(o) or i for o, i in zip(outs, inst, strict=True)]
            staged = pe.to_closed_jaxpr([o for o, u in zip(outs, out_uk, strict=True) if u])
        finally:
            pe.alive = False
        # The unknown part's captured values are residuals when the known part computes them
        # (tracers of the staging trace); other captured values stay its constants.
        j = staged.jaxpr
        res_vars, res_vals, const_vars, const_vals = [], [], [], []
        for v, c in zip(j.constvars, staged.consts, strict=True):
            if isinstance(c, Tracer):
                assert c._trace is staging, "a residual from an unexpected trace"
                res_vars.append(v)
                res_vals.append(c)
            else:
                const_vars.append(v)
                const_vals.append(c)
        unknown = Jaxpr(const_vars, res_vars + j.invars, j.outvars, j.eqns, j.debug)
        positions = {id(x): i for i, x in enumerate(known_in)}
        box["unknown"] = ClosedJaxpr(dce_jaxpr(unknown), const_vals)
        box["out_uk"] = out_uk
        box["sources"] = [positions.get(id(r)) for r in res_vals]
        return [o for o, u in zip(outs, out_uk, strict=True) if not u] + res_vals

    known = trace_to_jaxpr(known_fun, known_avals, debug)
    known = ClosedJaxpr(dce_jaxpr(known.jaxpr), known.consts)
    return Split(known, box["unknown"], box["out_uk"], len(box["sources"]), box["sources"])


def partial_eval_jaxpr(closed: ClosedJaxpr, in_unknowns: Sequence[bool]
                       ) -> tuple[ClosedJaxpr, ClosedJaxpr, list[bool], int]:
    """``partial_eval.partial_eval_jaxpr``'s signature, with nested equations split by their
    own rules (for call-like primitives such as ``jit_call``)."""
    s = partial_eval_jaxpr_nested(closed, in_unknowns)
    return s.known, s.unknown, s.out_unknowns, s.num_res


def fixpoint(flags: Sequence[bool], step: Callable[[list[bool]], Sequence[bool]]) -> list[bool]:
    """The least superset of ``flags`` closed under ``step`` (flags only ever turn on): loop
    carries that become nonzero / unknown / batched after some iterations are so from the
    start."""
    flags = list(flags)
    while True:
        new = [a or bool(b) for a, b in zip(flags, step(flags), strict=True)]
        if new == flags:
            return flags
        flags = new


# --- transposition ------------------------------------------------------------------------------


def transpose_jaxpr(closed: ClosedJaxpr, linear: Sequence[bool], ct_zero: Sequence[bool]
                    ) -> ClosedJaxpr:
    """The transpose of ``closed`` with respect to its inputs marked ``linear``: it takes the
    other inputs followed by the cotangents of the outputs not marked in ``ct_zero``, and
    returns the cotangents of the linear inputs (zeros where nothing flows)."""
    linear, ct_zero = tuple(map(bool, linear)), tuple(map(bool, ct_zero))
    return memo(closed, ("transpose", linear, ct_zero),
                lambda: _transpose_jaxpr(closed, linear, ct_zero))


def _transpose_jaxpr(closed: ClosedJaxpr, linear: tuple[bool, ...],
                     ct_zero: tuple[bool, ...]) -> ClosedJaxpr:
    in_avals = closed.in_avals
    known_avals = [a for a, lin in zip(in_avals, linear, strict=True) if not lin]
    ct_avals = [tangent_aval(a) for a, z in zip(closed.out_avals, ct_zero, strict=True)
                if not z]

    def fun(*flat: Any) -> list[Any]:
        known_it, ct_it = iter(flat[:len(known_avals)]), iter(flat[len(known_avals):])
        args = [UndefinedPrimal(a) if lin else next(known_it)
                for a, lin in zip(in_avals, linear, strict=True)]
        cts = [Zero(tangent_aval(a)) if z else next(ct_it)
               for a, z in zip(closed.out_avals, ct_zero, strict=True)]
        out = ad.backward_pass(closed.jaxpr, closed.consts, args, cts)
        return [ad.zeros_like_tangent(a) if type(c) is Zero else c
                for c, a, lin in zip(out, in_avals, linear, strict=True) if lin]

    return trace_to_jaxpr(fun, known_avals + ct_avals, DEBUG["transpose"])


# --- batching -----------------------------------------------------------------------------------


def batched_out_dims(closed: ClosedJaxpr, axis: AxisData, in_dims: Sequence[int | None]
                     ) -> list[int | None]:
    """The natural batch dimension of each output of ``closed`` for inputs batched at
    ``in_dims`` (None: that output does not depend on the batch)."""
    return batch_jaxpr_natural(closed, axis, in_dims)[1]


def batch_jaxpr_natural(closed: ClosedJaxpr, axis: AxisData, in_dims: Sequence[int | None]
                        ) -> tuple[ClosedJaxpr, list[int | None]]:
    """``closed`` on inputs batched at ``in_dims``, with each output's batch dimension where
    batching put it (returned too), memoized."""
    key = ("batch", tuple(in_dims), None, axis.size, axis.name)
    return memo(closed, key, lambda: batch_jaxpr(closed, axis, in_dims))


def batch_jaxpr_to(closed: ClosedJaxpr, axis: AxisData, in_dims: Sequence[int | None],
                   out_dims: Sequence[int | None]) -> ClosedJaxpr:
    """``closed`` on inputs batched at ``in_dims``, with each output's batch dimension moved to
    ``out_dims`` (unbatched outputs are broadcast where a dimension is asked for)."""
    key = ("batch", tuple(in_dims), tuple(out_dims), axis.size, axis.name)
    return memo(closed, key, lambda: _batch_jaxpr_to(closed, axis, in_dims, out_dims))


def _batch_jaxpr_to(closed: ClosedJaxpr, axis: AxisData, in_dims: Sequence[int | None],
                    out_dims: Sequence[int | None]) -> ClosedJaxpr:
    run = batch_function(call(closed), axis, in_dims, out_dims)
    in_avals = [a if d is None else ShapedArray(a.shape[:d] + (axis.size,) + a.shape[d:],
                                                a.dtype, a.weak_type)
                for a, d in zip(closed.in_avals, in_dims, strict=True)]
    return trace_to_jaxpr(lambda *args: run(*args)[0], in_avals, DEBUG["vmap"])
