"""The ``while`` primitive (JAX's params: cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts)
with every rule, including reverse mode, which JAX refuses; and ``while_transpose``, the
reverse-mode loop that differentiating a ``while`` produces when its trip count is not known
at trace time.

Reverse mode: partial evaluation splits the loop into known (primal) carries and unknown
(tangent) ones. When the trip count is concrete (eager ``grad``), the known loop runs at once,
recording one set of residuals per iteration, and the tangent loop becomes a ``scan`` over the
stacked residuals (so its transpose is a reversed scan). Otherwise (under ``jit``, or ``vmap``
with a batched predicate) the whole loop is staged and its transpose is a ``while_transpose``
that reruns the known loop, recording, then runs the transposed body backwards: memory grows
with the trip count either way. Batched predicates run until every example is done, masking
finished ones. Imports the shared helpers and ``scan_p`` from ``control_flow.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.ir import ClosedJaxpr, Jaxpr, eval_jaxpr
from functrans.primitives.ad_rules import (
    Zero,
    instantiate,
    is_undefined,
    tangent_aval,
    zeros_like_aval,
)
from functrans.primitives.batch_rules import AxisData
from functrans.primitives.control_flow import (
    batched_avals,
    check_closed,
    check_count,
    check_types,
    interpreted,
    merge,
    np_stack,
    pick,
    run_jaxpr,
    same_types,
    scan_p,
    select_examples,
    split_list,
    stack_values,
    stage_all,
    tangents_out,
    to_batch_dim,
    truth,
    types_text,
    wrap_result,
    zero_tangents,
)
from functrans.primitives.registry import Example, define_primitive
from functrans.primitives.rules import sample_array
from functrans.transforms import subprograms as sp
from functrans.transforms.partial_eval import trace_to_jaxpr

__all__ = ["while_p", "while_transpose_p", "while_vjp_parts"]


# --- while --------------------------------------------------------------------------------------


def _while_impl(*args: np.ndarray, cond_jaxpr: ClosedJaxpr, body_jaxpr: ClosedJaxpr,
                cond_nconsts: int, body_nconsts: int) -> list[np.ndarray]:
    return list(while_run(interpreted(cond_jaxpr), interpreted(body_jaxpr), args,
                          cond_nconsts, body_nconsts))


def while_run(cond: Callable[..., Sequence], body: Callable[..., Sequence], args: Sequence[Any],
              cond_nconsts: int, body_nconsts: int) -> Sequence[np.ndarray]:
    """The while loop over callables on NumPy values (the eager impl interprets jaxprs, the
    NumPy backend calls compiled modules)."""
    cc, bc, carry = split_list(args, cond_nconsts, body_nconsts)
    while truth(cond(*cc, *carry)[0]):
        carry = body(*bc, *carry)
    return carry


def _while_abstract_eval(*avals: ShapedArray, cond_jaxpr: ClosedJaxpr, body_jaxpr: ClosedJaxpr,
                         cond_nconsts: int, body_nconsts: int) -> list[ShapedArray]:
    check_closed("while_loop", "cond_jaxpr", cond_jaxpr)
    check_closed("while_loop", "body_jaxpr", body_jaxpr)
    check_count("while_loop", "cond_nconsts", cond_nconsts, len(avals))
    check_count("while_loop", "body_nconsts", body_nconsts, len(avals) - cond_nconsts)
    cc, bc, carry = split_list(avals, cond_nconsts, body_nconsts)
    check_types("while_loop", "cond_jaxpr takes", cond_jaxpr.in_avals, [*cc, *carry])
    check_types("while_loop", "body_jaxpr takes", body_jaxpr.in_avals, [*bc, *carry])
    pred = cond_jaxpr.out_avals
    if len(pred) != 1 or pred[0].shape or pred[0].dtype != dt.bool_:
        raise TypeError(f"functrans.lax.while_loop: cond_jaxpr must return one bool scalar, "
                        f"got {types_text(pred)}")
    if not same_types(body_jaxpr.out_avals, carry):
        raise TypeError(f"functrans.lax.while_loop: body_jaxpr returns "
                        f"{types_text(body_jaxpr.out_avals)} but the carry is {types_text(carry)}")
    return list(carry)


def _while_jvp(primals: list, tangents: list, *, cond_jaxpr: ClosedJaxpr,
               body_jaxpr: ClosedJaxpr, cond_nconsts: int, body_nconsts: int
               ) -> tuple[list, list]:
    cc, bc, init = split_list(primals, cond_nconsts, body_nconsts)
    _, bc_t, init_t = split_list(tangents, cond_nconsts, body_nconsts)
    bc_nz = [type(t) is not Zero for t in bc_t]
    init_nz = [type(t) is not Zero for t in init_t]
    if not any(bc_nz) and not any(init_nz):
        out = while_p.bind(*primals, cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr,
                           cond_nconsts=cond_nconsts, body_nconsts=body_nconsts)
        return out, zero_tangents(body_jaxpr.out_avals)
    carry_nz = sp.fixpoint(init_nz, lambda nz: sp.jvp_jaxpr(body_jaxpr, bc_nz + nz, nz)[1])
    body_jvp, _ = sp.jvp_jaxpr(body_jaxpr, bc_nz + carry_nz, carry_nz)
    nb, nc, nbt, nct = len(bc), len(init), sum(bc_nz), sum(carry_nz)
    # The JVP takes (bc, carry, bc_t, carry_t); while wants body consts first: (bc, bc_t, ...).
    order = [*range(nb), *range(nb + nc, nb + nc + nbt), *range(nb, nb + nc),
             *range(nb + nc + nbt, nb + nc + nbt + nct)]
    body_jvp = sp.permute_invars(body_jvp, order)
    carry_avals = body_jaxpr.out_avals
    cond_jvp = sp.add_invars(cond_jaxpr, [tangent_aval(a) for a in pick(carry_avals, carry_nz)],
                             len(cond_jaxpr.in_avals))
    init_t = [instantiate(t) for t in pick(init_t, carry_nz)]
    outs = while_p.bind(*cc, *bc, *pick(bc_t, bc_nz), *init, *init_t, cond_jaxpr=cond_jvp,
                        body_jaxpr=body_jvp, cond_nconsts=cond_nconsts, body_nconsts=nb + nbt)
    return outs[:nc], tangents_out(carry_nz, outs[nc:], carry_avals)


def _while_partial_eval(trace: Any, args: Sequence[Any], params: dict) -> list[Any]:
    """Reverse mode through a while loop (which JAX refuses).

    The carries split into known ones (primal values) and unknown ones (tangents). If the
    trip count is concrete now, the known loop runs at once, recording one set of residuals
    per iteration, and the tangent loop is staged as a ``scan`` over the stacked residuals (so
    its transpose is a reversed scan). Otherwise the known loop is evaluated for its outputs
    and the whole loop is staged; its transpose (``while_transpose``) reruns the known loop to
    record the residuals at run time.
    """
    cond_jaxpr, body_jaxpr = params["cond_jaxpr"], params["body_jaxpr"]
    cn, bn = params["cond_nconsts"], params["body_nconsts"]
    cc, bc, init = split_list(list(args), cn, bn)
    if any(trace.is_unknown(a) for a in cc):
        return stage_all(trace, while_p, args, params)
    bc_uk = [trace.is_unknown(a) for a in bc]
    init_uk = [trace.is_unknown(a) for a in init]
    carry_uk = sp.fixpoint(init_uk, lambda uk: sp.partial_eval_jaxpr_nested(
        body_jaxpr, bc_uk + uk, uk).out_unknowns)
    cond_known = sp.drop_invars(cond_jaxpr, [False] * cn + carry_uk)
    if cond_known is None or all(carry_uk):
        return stage_all(trace, while_p, args, params)
    split = sp.partial_eval_jaxpr_nested(body_jaxpr, bc_uk + carry_uk, carry_uk)
    kb, kinit = pick(bc, bc_uk, False), pick(init, carry_uk, False)
    nk = len(kinit)
    recorded = _record_while(trace, cond_known, split, cc, kb, kinit)
    if recorded is None:
        known_body = sp.select_outvars(split.known, range(nk))
        known_outs = trace.evaluate(while_p, [*cc, *kb, *kinit], {
            "cond_jaxpr": cond_known, "body_jaxpr": known_body, "cond_nconsts": cn,
            "body_nconsts": len(kb)})
        staged = stage_all(trace, while_p, args, params)
        return merge(carry_uk, pick(staged, carry_uk), known_outs)
    known_outs, invariant, stacked, length = recorded
    # The tangent loop: a scan over the recorded residuals. Its body (the unknown part) takes
    # (residuals, unknown body consts, unknown carry); the scan wants (consts, carry, xs).
    n_res = split.num_res
    inv_idx = [i for i in range(n_res) if invariant[i]]
    st_idx = [i for i in range(n_res) if not invariant[i]]
    n_ub, n_uc = sum(bc_uk), sum(carry_uk)
    order = [*inv_idx, *range(n_res, n_res + n_ub + n_uc), *st_idx]
    scan_body = sp.permute_invars(split.unknown, order)
    inv_vals = [kb[split.res_sources[i]] for i in inv_idx]
    consts = inv_vals + pick(bc, bc_uk)
    carry = pick(init, carry_uk)
    linear = (False,) * len(inv_vals) + (True,) * (n_ub + n_uc) + (False,) * len(stacked)
    staged = trace.stage(scan_p, [*consts, *carry, *stacked], {
        "jaxpr": scan_body, "length": length, "reverse": False, "unroll": 1,
        "num_consts": len(consts), "num_carry": n_uc, "linear": linear})
    return merge(carry_uk, staged, known_outs)


def _record_while(trace: Any, cond_known: ClosedJaxpr, split: sp.Split, cc: list, kb: list,
                  kinit: list) -> tuple[list, list[bool], list, int] | None:
    """Run the known part of a loop now, if its trip count is concrete: returns (known final
    carry, which residuals are loop-invariant body consts, stacked per-iteration residuals,
    trip count), or None when the predicate is only known abstractly."""
    nk, n_kb = len(kinit), len(kb)
    invariant = [s is not None and s < n_kb for s in split.res_sources]
    body = sp.select_outvars(split.known, [*range(nk), *[nk + i for i, inv
                                                          in enumerate(invariant) if not inv]])
    res_avals = body.out_avals[nk:]
    carry_avals = body.out_avals[:nk]
    token = core._trace_var.set(trace.parent)
    try:
        if trace.parent is None:
            # Eager: a plain NumPy loop.
            cc_np = [core.to_numpy(x) for x in cc]
            kb_np = [core.to_numpy(x) for x in kb]
            kinit_np = [core.to_numpy(x) for x in kinit]
            carry = kinit_np
            tape = []
            while truth(run_jaxpr(cond_known, [*cc_np, *carry])[0]):
                outs = run_jaxpr(body, [*kb_np, *carry])
                carry, res = outs[:nk], outs[nk:]
                tape.append(res)
            inputs = [*cc_np, *kb_np, *kinit_np]
            stacked = [wrap_result(np_stack([r[i] for r in tape], a), a, inputs)
                       for i, a in enumerate(res_avals)]
            final = [wrap_result(c, a, inputs) for c, a in zip(carry, carry_avals, strict=True)]
            return final, invariant, stacked, len(tape)
        if any(core.concrete_or_none(x) is None for x in [*cc, *kinit]):
            return None  # the trip count is not known now (jit, or a batched loop)
        carry = list(kinit)
        tape = []
        while True:
            pred = core.concrete_or_none(eval_jaxpr(cond_known.jaxpr, cond_known.consts,
                                                    *cc, *carry)[0])
            if pred is None or isinstance(pred, core.Tracer):
                return None
            if not truth(core.to_numpy(pred)):
                break
            outs = eval_jaxpr(body.jaxpr, body.consts, *kb, *carry)
            carry, res = outs[:nk], outs[nk:]
            tape.append(res)
        stacked = [stack_values([r[i] for r in tape], a) for i, a in enumerate(res_avals)]
        return carry, invariant, stacked, len(tape)
    finally:
        core._trace_var.reset(token)


def _while_transpose_rule(cts: list, *args: Any, cond_jaxpr: ClosedJaxpr,
                          body_jaxpr: ClosedJaxpr, cond_nconsts: int, body_nconsts: int
                          ) -> list[Any]:
    """Transpose a loop that is linear in its undefined operands (a staged JVP loop: primal
    carries known, tangent carries linear) with ``while_transpose``."""
    cn, bn = cond_nconsts, body_nconsts
    cc, bc, init = split_list(list(args), cn, bn)
    if any(is_undefined(x) for x in cc):
        raise ValueError("functrans: a while loop is not linear in its condition's operands")
    lin_b = [is_undefined(x) for x in bc]
    init_lin = [is_undefined(x) for x in init]
    lin_c = sp.fixpoint(init_lin, lambda lc: sp.partial_eval_jaxpr_nested(
        body_jaxpr, lin_b + lc, lc).out_unknowns)
    ct_c = pick(cts, lin_c)
    if all(type(c) is Zero for c in ct_c):
        return ([None] * cn + [Zero(tangent_aval(x.aval)) if lin else None
                               for x, lin in zip(bc, lin_b, strict=True)]
                + [Zero(tangent_aval(x.aval)) if is_undefined(x) else None for x in init])
    parts = while_vjp_parts(cond_jaxpr, body_jaxpr, cn, lin_b, lin_c)
    if parts is None:
        raise ValueError("functrans: cannot transpose a while loop whose condition depends on "
                         "the differentiated (linear) carries")
    cond_known, fwd, bwd = parts
    kb, kinit = pick(bc, lin_b, False), pick(init, lin_c, False)
    carry_avals = body_jaxpr.out_avals
    ct_c = [zeros_like_aval(tangent_aval(a)) if type(c) is Zero else c
            for c, a in zip(ct_c, pick(carry_avals, lin_c), strict=True)]
    outs = while_transpose_p.bind(*cc, *kb, *kinit, *ct_c, cond_jaxpr=cond_known,
                                  fwd_jaxpr=fwd, bwd_jaxpr=bwd, cond_nconsts=cn,
                                  body_nconsts=len(kb), num_carry=len(kinit))
    n_lb = sum(lin_b)
    ct_b, ct_init = iter(outs[:n_lb]), iter(outs[n_lb:])
    result: list[Any] = [None] * cn
    result += [next(ct_b) if lin else None for lin in lin_b]
    for x, lin in zip(init, lin_c, strict=True):
        ct = next(ct_init) if lin else None
        # A carry that is linear but was given a value (an instantiated zero tangent) gets none.
        result.append(ct if is_undefined(x) else None)
    return result


def while_vjp_parts(cond_jaxpr: ClosedJaxpr, body_jaxpr: ClosedJaxpr, cond_nconsts: int,
                    lin_b: Sequence[bool], lin_c: Sequence[bool]
                    ) -> tuple[ClosedJaxpr, ClosedJaxpr, ClosedJaxpr] | None:
    """The params of ``while_transpose`` for a loop linear in the body consts ``lin_b`` and
    carries ``lin_c``: the condition on the known carries, the known (forward) body that also
    returns the residuals, and the transposed body. None if the condition reads a linear
    carry."""
    cond_known = sp.drop_invars(cond_jaxpr, [False] * cond_nconsts + list(lin_c))
    if cond_known is None:
        return None
    split = sp.partial_eval_jaxpr_nested(body_jaxpr, [*lin_b, *lin_c], lin_c)
    cc_avals = cond_jaxpr.in_avals[:cond_nconsts]
    # The forward loop runs a second time in the backward pass: its side effects (debug
    # prints) already happened in the first run.
    fwd = sp.add_invars(_without_effects(split.known), cc_avals, 0)
    n_lin = sum(lin_b) + sum(lin_c)
    bwd = sp.transpose_jaxpr(split.unknown, [False] * split.num_res + [True] * n_lin,
                             [False] * sum(lin_c))
    return cond_known, fwd, bwd


def _without_effects(closed: ClosedJaxpr) -> ClosedJaxpr:
    """``closed`` without its top-level effect-only equations (they have no outputs)."""
    j = closed.jaxpr
    if not any(e.prim.effectful and not e.outvars for e in j.eqns):
        return closed
    eqns = [e for e in j.eqns if not (e.prim.effectful and not e.outvars)]
    return ClosedJaxpr(Jaxpr(j.constvars, j.invars, j.outvars, eqns, j.debug), closed.consts)


def _batched_predicate(cond_jaxpr: ClosedJaxpr, axis: AxisData, cond_dims: list,
                       cc: list, carry: list) -> tuple[ClosedJaxpr, ClosedJaxpr]:
    """For a predicate that differs across the batch: the batched predicate (one bool per
    example) and a loop condition over (cond consts, carry) that runs while any example is
    still going."""
    from functrans.primitives.reductions import reduce_or

    cond_b = sp.batch_jaxpr_to(cond_jaxpr, axis, cond_dims, [0])

    def any_running(*args: Any) -> list[Any]:
        return [reduce_or(sp.call(cond_b)(*args)[0], (0,))]

    cond_any = trace_to_jaxpr(any_running, batched_avals(cc) + batched_avals(carry),
                              sp.DEBUG["vmap"])
    return cond_b, cond_any


def _while_batch(axis: AxisData, vals: list, dims: list, *, cond_jaxpr: ClosedJaxpr,
                 body_jaxpr: ClosedJaxpr, cond_nconsts: int, body_nconsts: int
                 ) -> tuple[list, list]:
    cn, bn = cond_nconsts, body_nconsts
    cc, bc, init = split_list(vals, cn, bn)
    ccd, bcd, initd = split_list(dims, cn, bn)

    def step(batched: list[bool]) -> list[bool]:
        out = sp.batched_out_dims(body_jaxpr, axis, bcd + [0 if b else None for b in batched])
        return [d is not None for d in out]

    carry_b = sp.fixpoint([d is not None for d in initd], step)
    pred_dim = sp.batched_out_dims(cond_jaxpr, axis,
                                   ccd + [0 if b else None for b in carry_b])[0]
    if pred_dim is not None:
        carry_b = [True] * len(init)  # examples finish at different times
    carry_dims = [0 if b else None for b in carry_b]
    init = [to_batch_dim(x, d, w, axis.size)
            for x, d, w in zip(init, initd, carry_dims, strict=True)]
    body_b = sp.batch_jaxpr_to(body_jaxpr, axis, bcd + carry_dims, carry_dims)
    if pred_dim is None:
        cond_b = sp.batch_jaxpr_to(cond_jaxpr, axis, ccd + carry_dims, [None])
        outs = while_p.bind(*cc, *bc, *init, cond_jaxpr=cond_b, body_jaxpr=body_b,
                            cond_nconsts=cn, body_nconsts=bn)
        return outs, carry_dims
    # A batched predicate: loop while any example goes on; finished examples keep their carry.
    cond_b, cond_any = _batched_predicate(cond_jaxpr, axis, ccd + carry_dims, cc, init)
    debug = sp.DEBUG["vmap"]
    avals_cc, avals_bc, avals_c = batched_avals(cc), batched_avals(bc), batched_avals(init)

    def masked_body(*args: Any) -> list[Any]:
        c_cc, c_bc, carry = split_list(args, cn, bn)
        pred = sp.call(cond_b)(*c_cc, *carry)[0]
        new = sp.call(body_b)(*c_bc, *carry)
        return [select_examples(pred, old, x) for old, x in zip(carry, new, strict=True)]

    body_m = trace_to_jaxpr(masked_body, avals_cc + avals_bc + avals_c, debug)
    outs = while_p.bind(*cc, *cc, *bc, *init, cond_jaxpr=cond_any, body_jaxpr=body_m,
                        cond_nconsts=cn, body_nconsts=cn + bn)
    return outs, carry_dims


def _while_sample(dtype: np.dtype) -> list[Example]:
    from functrans import lax
    debug = sp.DEBUG["control flow"]
    lim_aval = ShapedArray((3,), dt.int32)
    i_aval = ShapedArray((), dt.int32)

    def cond(lim: Any, i: Any, x: Any) -> list[Any]:
        first = lax.reshape(lax.slice(lim, (0,), (1,)), ())
        return [lax.lt(i, first)]

    def body(a: Any, i: Any, x: Any) -> list[Any]:
        return [lax.add(i, np.int32(1)), lax.add(lax.mul(x, a), lax.sin(x))]

    out = []
    for shape, lim in (((), (2, 3, 1)), ((0,), (2, 1, 3)), ((3,), (3, 1, 2)), ((2, 3), (1, 2, 0)),
                       ((3,), (0, 0, 0))):
        x_aval = ShapedArray(shape, dtype)
        params = {"cond_jaxpr": trace_to_jaxpr(cond, [lim_aval, i_aval, x_aval], debug),
                  "body_jaxpr": trace_to_jaxpr(body, [x_aval, i_aval, x_aval], debug),
                  "cond_nconsts": 1, "body_nconsts": 1}
        a = sample_array(shape, dtype, domain="small", seed=4)
        x = sample_array(shape, dtype, domain="small", seed=5)
        out.append(Example((np.asarray(lim, np.int32), a, np.int32(0), x), params,
                           note=f"trips{lim[0]}"))
    return out


while_p = define_primitive(
    "while", family="control", impl=_while_impl, abstract_eval=_while_abstract_eval,
    multiple_results=True, dtypes=dt.INEXACT, sample=_while_sample, jvp=_while_jvp,
    transpose=_while_transpose_rule, linear_in=(), partial_eval=_while_partial_eval,
    batch=_while_batch,
    doc="carry = body(carry) while cond(carry): a loop with a data-dependent trip count")


# --- while_transpose: reverse mode of a while loop under jit ----------------------------------


def _while_transpose_impl(*args: np.ndarray, cond_jaxpr: ClosedJaxpr, fwd_jaxpr: ClosedJaxpr,
                          bwd_jaxpr: ClosedJaxpr, cond_nconsts: int, body_nconsts: int,
                          num_carry: int) -> list[np.ndarray]:
    return while_transpose_run(interpreted(cond_jaxpr), interpreted(fwd_jaxpr),
                               interpreted(bwd_jaxpr), bwd_jaxpr.out_avals, args, cond_nconsts,
                               body_nconsts, num_carry)


def while_transpose_run(cond: Callable[..., Sequence], fwd: Callable[..., Sequence],
                        bwd: Callable[..., Sequence], bwd_avals: Sequence[ShapedArray],
                        args: Sequence[Any], cond_nconsts: int, body_nconsts: int,
                        num_carry: int) -> list[np.ndarray]:
    """Reverse mode of a while loop over callables on NumPy values (see ``while_run``)."""
    cc, kb, carry, ct = split_list(args, cond_nconsts, body_nconsts, num_carry)
    tape = []  # one set of residuals per iteration: the memory cost of reverse mode
    while truth(cond(*cc, *carry)[0]):
        outs = fwd(*cc, *kb, *carry)
        carry = outs[:num_carry]
        tape.append(outs[num_carry:])
    n_acc = len(bwd_avals) - len(ct)
    acc = [np.zeros(a.shape, a.dtype) for a in bwd_avals[:n_acc]]
    for res in reversed(tape):
        outs = bwd(*res, *ct)
        acc = [np.add(a, o, dtype=a.dtype) for a, o in zip(acc, outs[:n_acc], strict=True)]
        ct = outs[n_acc:]
    return [*acc, *ct]


def _while_transpose_abstract_eval(*avals: ShapedArray, cond_jaxpr: ClosedJaxpr,
                                   fwd_jaxpr: ClosedJaxpr, bwd_jaxpr: ClosedJaxpr,
                                   cond_nconsts: int, body_nconsts: int, num_carry: int
                                   ) -> list[ShapedArray]:
    name = "while_transpose"
    for param, value in (("cond_jaxpr", cond_jaxpr), ("fwd_jaxpr", fwd_jaxpr),
                         ("bwd_jaxpr", bwd_jaxpr)):
        check_closed(name, param, value)
    check_count(name, "cond_nconsts", cond_nconsts, len(avals))
    check_count(name, "body_nconsts", body_nconsts, len(avals) - cond_nconsts)
    check_count(name, "num_carry", num_carry, len(avals) - cond_nconsts - body_nconsts)
    cc, kb, carry, ct = split_list(avals, cond_nconsts, body_nconsts, num_carry)
    check_types(name, "cond_jaxpr takes", cond_jaxpr.in_avals, [*cc, *carry])
    check_types(name, "fwd_jaxpr takes", fwd_jaxpr.in_avals, [*cc, *kb, *carry])
    fwd_out = fwd_jaxpr.out_avals
    if not same_types(fwd_out[:num_carry], carry):
        raise TypeError(f"functrans.lax.{name}: fwd_jaxpr returns the carry "
                        f"{types_text(fwd_out[:num_carry])}, expected {types_text(carry)}")
    check_types(name, "bwd_jaxpr takes", bwd_jaxpr.in_avals, [*fwd_out[num_carry:], *ct])
    out = bwd_jaxpr.out_avals
    if len(out) < len(ct) or not same_types(out[len(out) - len(ct):], ct):
        raise TypeError(f"functrans.lax.{name}: bwd_jaxpr returns {types_text(out)}, which must "
                        f"end with the carry cotangents {types_text(ct)}")
    return list(out)


def _while_transpose_batch(axis: AxisData, vals: list, dims: list, *, cond_jaxpr: ClosedJaxpr,
                           fwd_jaxpr: ClosedJaxpr, bwd_jaxpr: ClosedJaxpr, cond_nconsts: int,
                           body_nconsts: int, num_carry: int) -> tuple[list, list]:
    cn, bn, nk = cond_nconsts, body_nconsts, num_carry
    cc, kb, carry, ct = split_list(vals, cn, bn, nk)
    ccd, kbd, carryd, ctd = split_list(dims, cn, bn, nk)
    n_res = len(fwd_jaxpr.out_avals) - nk

    def fwd_step(batched: list[bool]) -> list[bool]:
        out = sp.batched_out_dims(fwd_jaxpr, axis,
                                  ccd + kbd + [0 if b else None for b in batched])
        return [d is not None for d in out[:nk]]

    carry_b = sp.fixpoint([d is not None for d in carryd], fwd_step)
    pred_dim = sp.batched_out_dims(cond_jaxpr, axis,
                                   ccd + [0 if b else None for b in carry_b])[0]
    masked = pred_dim is not None
    if masked:
        carry_b = [True] * nk
    carry_dims = [0 if b else None for b in carry_b]
    fwd_in = ccd + kbd + carry_dims
    res_dims = [None if d is None else 0
                for d in sp.batched_out_dims(fwd_jaxpr, axis, fwd_in)[nk:]]
    fwd_b = sp.batch_jaxpr_to(fwd_jaxpr, axis, fwd_in, carry_dims + res_dims)

    def bwd_step(batched: list[bool]) -> list[bool]:
        out = sp.batched_out_dims(bwd_jaxpr, axis,
                                  res_dims + [0 if b else None for b in batched])
        return [d is not None for d in out[len(out) - len(ct):]]

    ct_b = sp.fixpoint([d is not None or masked for d in ctd], bwd_step)
    ct_dims = [0 if b else None for b in ct_b]
    natural = sp.batched_out_dims(bwd_jaxpr, axis, res_dims + ct_dims)
    acc_dims = [None if d is None else 0 for d in natural[:len(natural) - len(ct)]]
    bwd_b = sp.batch_jaxpr_to(bwd_jaxpr, axis, res_dims + ct_dims, acc_dims + ct_dims)
    carry = [to_batch_dim(x, d, w, axis.size) for x, d, w in zip(carry, carryd, carry_dims,
                                                           strict=True)]
    ct = [to_batch_dim(x, d, w, axis.size) for x, d, w in zip(ct, ctd, ct_dims, strict=True)]
    params = {"cond_nconsts": cn, "body_nconsts": bn, "num_carry": nk}
    if not masked:
        cond_b = sp.batch_jaxpr_to(cond_jaxpr, axis, ccd + carry_dims, [None])
        outs = while_transpose_p.bind(*cc, *kb, *carry, *ct, cond_jaxpr=cond_b, fwd_jaxpr=fwd_b,
                                      bwd_jaxpr=bwd_b, **params)
        return outs, acc_dims + ct_dims
    # Examples finish at different times: the forward loop keeps finished examples' carries and
    # records which examples were still running; the backward loop passes their cotangents
    # through unchanged and lets no contribution of theirs into the accumulators (the
    # transposed body is linear in the cotangent, so a zero cotangent contributes zero).
    cond_b, cond_any = _batched_predicate(cond_jaxpr, axis, ccd + carry_dims, cc, carry)
    debug = sp.DEBUG["vmap"]
    avals_cc, avals_kb, avals_c = batched_avals(cc), batched_avals(kb), batched_avals(carry)

    def masked_fwd(*args: Any) -> list[Any]:
        c_cc, c_kb, old = split_list(args, cn, bn)
        pred = sp.call(cond_b)(*c_cc, *old)[0]
        outs = sp.call(fwd_b)(*c_cc, *c_kb, *old)
        new = [select_examples(pred, o, x) for o, x in zip(old, outs[:nk], strict=True)]
        return [*new, *outs[nk:], pred]

    fwd_m = trace_to_jaxpr(masked_fwd, avals_cc + avals_kb + avals_c, debug)
    res_avals = fwd_m.out_avals[nk:]

    def masked_bwd(*args: Any) -> list[Any]:
        res, pred, cts = args[:n_res], args[n_res], args[n_res + 1:]
        cts_in = [select_examples(pred, zeros_like_aval(core.get_aval(c)), c) for c in cts]
        outs = sp.call(bwd_b)(*res, *cts_in)
        n_acc = len(outs) - len(cts)
        prev = [select_examples(pred, c, o) for c, o in zip(cts, outs[n_acc:], strict=True)]
        return [*outs[:n_acc], *prev]

    bwd_m = trace_to_jaxpr(masked_bwd, res_avals + batched_avals(ct), debug)
    outs = while_transpose_p.bind(*cc, *kb, *carry, *ct, cond_jaxpr=cond_any, fwd_jaxpr=fwd_m,
                                  bwd_jaxpr=bwd_m, **params)
    return outs, acc_dims + ct_dims


def _while_transpose_sample(dtype: np.dtype) -> list[Example]:
    """A hand-written JVP loop, linear in (da, t), turned into while_transpose params."""
    from functrans import lax
    debug = sp.DEBUG["control flow"]
    i_aval, lim_aval = ShapedArray((), dt.int32), ShapedArray((3,), dt.int32)

    def cond(lim: Any, i: Any, x: Any, t: Any) -> list[Any]:
        return [lax.lt(i, lax.reshape(lax.slice(lim, (0,), (1,)), ()))]

    def body(a: Any, da: Any, i: Any, x: Any, t: Any) -> list[Any]:
        s = lax.sin(x)
        return [lax.add(i, np.int32(1)), lax.mul(s, a),
                lax.add(lax.mul(lax.mul(lax.cos(x), a), t), lax.mul(s, da))]

    out = []
    for shape, lim in (((), (2, 3, 1)), ((0,), (1, 2, 3)), ((3,), (3, 1, 2)),
                       ((2, 3), (0, 2, 1))):
        x_aval = ShapedArray(shape, dtype)
        cond_j = trace_to_jaxpr(cond, [lim_aval, i_aval, x_aval, x_aval], debug)
        body_j = trace_to_jaxpr(body, [x_aval, x_aval, i_aval, x_aval, x_aval], debug)
        parts = while_vjp_parts(cond_j, body_j, 1, [False, True], [False, False, True])
        assert parts is not None, "the sample loop's condition reads no linear carry"
        cond_known, fwd, bwd = parts
        args = (np.asarray(lim, np.int32), sample_array(shape, dtype, domain="small", seed=6),
                np.int32(0), sample_array(shape, dtype, domain="small", seed=7),
                sample_array(shape, dtype, seed=8))
        out.append(Example(args, {"cond_jaxpr": cond_known, "fwd_jaxpr": fwd,
                                  "bwd_jaxpr": bwd, "cond_nconsts": 1, "body_nconsts": 1,
                                  "num_carry": 2}, note=f"trips{lim[0]}"))
    return out


while_transpose_p = define_primitive(
    "while_transpose", family="control", impl=_while_transpose_impl,
    abstract_eval=_while_transpose_abstract_eval, multiple_results=True, dtypes=dt.INEXACT,
    sample=_while_transpose_sample, batch=_while_transpose_batch,
    doc="reverse mode of a while loop: rerun the forward loop recording residuals, then the "
        "transposed body over them in reverse order")
