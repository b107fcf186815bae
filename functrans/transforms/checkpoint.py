"""Rematerialization: ``checkpoint`` (alias ``remat``) trades compute for memory in reverse
mode, and ``checkpoint_policies`` choose which intermediates are saved instead.

``checkpoint(f)`` stages ``f`` as one ``remat`` equation. Differentiating it saves only the
inputs (plus whatever the policy marks saveable) for the backward pass, which recomputes the
rest of ``f``'s forward pass just before transposing it. Defines the ``remat`` and
``checkpoint_name`` primitives with all their rules. Imports ad, partial_eval, ir, core.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import core, tree_util
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import api_boundary
from functrans.ir import ClosedJaxpr, Eqn, eval_jaxpr, hoist_consts
from functrans.primitives.ad_rules import Zero, jvp_linear, tangent_aval
from functrans.primitives.registry import Example, define_primitive
from functrans.primitives.rules import ELEMENTWISE_SHAPES, sample_array
from functrans.primitives.batch_rules import batch_unary
from functrans.transforms import ad
from functrans.transforms.batching import batch_jaxpr
from functrans.transforms.partial_eval import partial_eval_jaxpr, trace_to_jaxpr

Policy = Callable[..., bool]


# --- policies -----------------------------------------------------------------------------------


def _prim_name(prim: Any) -> str:
    return getattr(prim, "name", str(prim))


class checkpoint_policies:  # noqa: N801 - JAX's name
    """What a checkpointed function saves for the backward pass. A policy is called as
    ``policy(prim, *avals, **params)`` for each equation and returns True to save its output
    instead of recomputing it."""

    @staticmethod
    def nothing_saveable(prim: Any, *avals: Any, **params: Any) -> bool:
        return False

    @staticmethod
    def everything_saveable(prim: Any, *avals: Any, **params: Any) -> bool:
        return True

    @staticmethod
    def dots_saveable(prim: Any, *avals: Any, **params: Any) -> bool:
        return _prim_name(prim) == "dot_general"

    checkpoint_dots = dots_saveable

    @staticmethod
    def dots_with_no_batch_dims_saveable(prim: Any, *avals: Any, **params: Any) -> bool:
        if _prim_name(prim) != "dot_general":
            return False
        (_, (lhs_batch, _)) = params["dimension_numbers"]
        return not lhs_batch

    @staticmethod
    def save_only_these_names(*names: str) -> Policy:
        wanted = frozenset(names)

        def policy(prim: Any, *avals: Any, **params: Any) -> bool:
            return _prim_name(prim) == "checkpoint_name" and params.get("name") in wanted

        return policy

    @staticmethod
    def save_any_names_but_these(*names: str) -> Policy:
        unwanted = frozenset(names)

        def policy(prim: Any, *avals: Any, **params: Any) -> bool:
            return _prim_name(prim) == "checkpoint_name" and params.get("name") not in unwanted

        return policy


def _saveable(policy: Policy | None) -> Callable[[Eqn], bool]:
    policy = policy or checkpoint_policies.nothing_saveable

    def saveable(eqn: Eqn) -> bool:
        return bool(policy(eqn.prim, *[a.aval for a in eqn.invars], **eqn.params))

    return saveable


# --- the remat primitive ------------------------------------------------------------------------


def _remat_impl(*args: np.ndarray, jaxpr: ClosedJaxpr, prevent_cse: bool, policy: Any
                ) -> list[np.ndarray]:
    return [np.asarray(o) for o in eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *args)]


def _remat_abstract_eval(*avals: ShapedArray, jaxpr: ClosedJaxpr, prevent_cse: bool,
                         policy: Any) -> list[ShapedArray]:
    return list(jaxpr.out_avals)


def _remat_jvp(primals: list, tangents: list, jaxpr: ClosedJaxpr, prevent_cse: bool,
               policy: Any) -> tuple[list, list]:
    nonzeros = [type(t) is not Zero for t in tangents]
    from functrans.transforms import subprograms as sp
    jvp_closed, out_nonzeros = sp.jvp_jaxpr(jaxpr, nonzeros, False)
    outs = remat_p.bind(*primals, *[t for t in tangents if type(t) is not Zero],
                        jaxpr=jvp_closed, prevent_cse=prevent_cse, policy=policy)
    n = len(jaxpr.out_avals)
    primal_outs, nz_tangents = outs[:n], iter(outs[n:])
    tangent_outs = [next(nz_tangents) if nz else Zero(tangent_aval(a))
                    for nz, a in zip(out_nonzeros, jaxpr.out_avals, strict=True)]
    return primal_outs, tangent_outs


def _remat_partial_eval(trace: ad.PartialEvalTrace, args: Sequence[Any], params: dict
                        ) -> list[Any]:
    """Compute the known outputs now; stage the unknown ones as a remat that recomputes, from
    the saved residuals, the forward values its tangent computation needs."""
    jaxpr = params["jaxpr"]
    unknowns = [trace.is_unknown(a) for a in args]
    known, unknown, out_unknowns, _ = partial_eval_jaxpr(jaxpr, unknowns,
                                                         _saveable(params["policy"]))
    known_args = [a for a, u in zip(args, unknowns, strict=True) if not u]
    token = core._trace_var.set(trace.parent)
    try:
        known_results = eval_jaxpr(known.jaxpr, known.consts, *known_args)
    finally:
        core._trace_var.reset(token)
    n_known = sum(1 for u in out_unknowns if not u)
    known_outs, residuals = known_results[:n_known], known_results[n_known:]
    unknown_args = [a for a, u in zip(args, unknowns, strict=True) if u]
    staged = trace.stage(remat_p, [*residuals, *unknown_args], {**params, "jaxpr": unknown})
    known_it, staged_it = iter(known_outs), iter(staged)
    return [next(staged_it) if u else next(known_it) for u in out_unknowns]


def _remat_transpose(cts: list, *args: Any, jaxpr: ClosedJaxpr, prevent_cse: bool,
                     policy: Any) -> list[Any]:
    # The backward pass evaluates the equations whose inputs are all known (the forward
    # recomputation) and then transposes the linear ones.
    return ad.backward_pass(jaxpr.jaxpr, jaxpr.consts, list(args), cts)


def _remat_sample(dtype: np.dtype) -> list[Example]:
    from functrans import lax
    out = []
    for shape in ELEMENTWISE_SHAPES:
        aval = ShapedArray(shape, dtype)
        closed = trace_to_jaxpr(lambda x: [lax.mul(lax.sin(x), x)], [aval],
                                core.DebugInfo("checkpoint", _remat_sample))
        out.append(Example((sample_array(shape, dtype, seed=1),),
                           {"jaxpr": closed, "prevent_cse": True, "policy": None}))
    return out


def _remat_batch(axis: Any, vals: list, dims: list, jaxpr: ClosedJaxpr, prevent_cse: bool,
                 policy: Any) -> tuple[list, list]:
    batched, out_dims = batch_jaxpr(jaxpr, axis, dims)
    return remat_p.bind(*vals, jaxpr=batched, prevent_cse=prevent_cse, policy=policy), out_dims


remat_p = define_primitive(
    "remat", family="call", impl=_remat_impl, abstract_eval=_remat_abstract_eval,
    multiple_results=True, dtypes=dt.INEXACT, sample=_remat_sample, jvp=_remat_jvp,
    transpose=_remat_transpose, linear_in=(), partial_eval=_remat_partial_eval,
    batch=_remat_batch,
    doc="call a sub-program whose intermediates are recomputed in the backward pass")


def _name_sample(dtype: np.dtype) -> list[Example]:
    return [Example((sample_array(s, dtype, seed=2),), {"name": "h"})
            for s in ELEMENTWISE_SHAPES]


def _name_transpose(ct: Any, x: Any, name: str) -> list[Any]:
    return [ct]


checkpoint_name_p = define_primitive(
    "checkpoint_name", family="identity", impl=lambda x, name: x,
    abstract_eval=lambda x, name: x, dtypes=dt.ALL, sample=_name_sample, jvp=jvp_linear(),
    batch=batch_unary(),
    transpose=_name_transpose, linear_in=(0,),
    doc="the identity, naming a value for checkpoint policies (save_only_these_names)")


def checkpoint_name(x: Any, name: str) -> Any:
    """Name ``x`` so that ``checkpoint_policies.save_only_these_names(name)`` can save it."""
    return tree_util.tree_map(lambda leaf: checkpoint_name_p.bind(leaf, name=str(name)), x)


# --- the user-facing transformation -------------------------------------------------------------


def checkpoint(fun: Callable, *, prevent_cse: bool = True, policy: Policy | None = None,
               static_argnums: int | Sequence[int] = ()) -> Callable:
    """``fun`` with its intermediates recomputed, not stored, when it is differentiated.

    >>> import functrans as ft, functrans.numpy as fnp
    >>> f = ft.checkpoint(lambda x: fnp.sin(fnp.sin(x)))
    >>> float(ft.grad(f)(1.0)) == float(ft.grad(lambda x: fnp.sin(fnp.sin(x)))(1.0))
    True

    Memory: the backward pass keeps only ``fun``'s inputs (and the outputs of equations the
    ``policy`` saves, e.g. ``checkpoint_policies.dots_saveable``) instead of every
    intermediate, at the cost of running ``fun``'s forward pass a second time.
    """

    @api_boundary
    @functools.wraps(fun)
    def remat_fun(*args: Any, **kwargs: Any) -> Any:
        from functrans.api import stage
        closed, out_tree, flat = stage("checkpoint", fun, args, kwargs, static_argnums)
        jaxpr, consts = hoist_consts(closed)
        outs = remat_p.bind(*consts, *flat, jaxpr=jaxpr, prevent_cse=prevent_cse,
                            policy=policy)
        return tree_util.tree_unflatten(out_tree, outs)

    return remat_fun


remat = checkpoint
