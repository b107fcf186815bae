"""Structured control flow: the ``cond`` and ``scan`` primitives (JAX's names, params and
operand order) with every rule, and the helpers that ``while_loop.py`` (the ``while``
primitive and its reverse mode) shares.

Bodies and branches are closed jaxprs in params, with captured values already turned into
explicit operands by the user API (``functrans/control_flow.py``). ``impl`` runs them with a
small NumPy interpreter (``run_jaxpr``); rules transform them with
``transforms/subprograms.py``; the NumPy backend compiles them
(``lowering/numpy_control_flow.py``). Reverse mode: partial evaluation splits a body into a
known part that runs first (a scan stacks one set of residuals per iteration) and a linear
part; the transpose of a scan is a reversed scan of the transposed body. Start reading at
``cond_p``. Imports core, ir, the rule vocabularies and transforms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import core, errors
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.ir import ClosedJaxpr, Literal
from functrans.primitives.ad_rules import (
    Zero,
    instantiate,
    is_undefined,
    tangent_aval,
    zero_tangents,
    zeros_like_aval,
)
from functrans.primitives.batch_rules import AxisData, broadcast_batched, moveaxis
from functrans.primitives.registry import Example, define_primitive
from functrans.primitives.rules import sample_array
from functrans.transforms import subprograms as sp
from functrans.transforms.partial_eval import trace_to_jaxpr

__all__ = ["PerformanceWarning", "cond_p", "run_jaxpr", "scan_p"]

# A cond with a batched predicate runs every branch: warn once per call site when the
# branches hold more than this many equations in all.
EXPENSIVE_BRANCH_EQNS = 20


PerformanceWarning = errors.PerformanceWarning  # (defined with the other warnings and errors)

# --- helpers: evaluation, checks, operand bookkeeping -------------------------------------------


def interpreted(closed: ClosedJaxpr) -> Callable[..., list[np.ndarray]]:
    """``closed`` as a callable on NumPy values (``run_jaxpr``)."""
    return lambda *args: run_jaxpr(closed, args)


def run_jaxpr(closed: ClosedJaxpr, args: Sequence[Any]) -> list[np.ndarray]:
    """Evaluate ``closed`` on NumPy values with each primitive's ``impl`` (no tracing, no
    wrapping): the inner loop of the eager implementations."""
    jaxpr = closed.jaxpr
    env: dict[Any, Any] = {}
    for v, c in zip(jaxpr.constvars, closed.consts, strict=True):
        env[v] = core.to_numpy(c)
    for v, x in zip(jaxpr.invars, args, strict=True):
        env[v] = x
    for eqn in jaxpr.eqns:
        ins = [a.val if type(a) is Literal else env[a] for a in eqn.invars]
        out = eqn.prim.impl(*ins, **eqn.params)
        if eqn.prim.multiple_results:
            for v, o in zip(eqn.outvars, out, strict=True):
                env[v] = o if type(o) is np.ndarray else np.asarray(o)
        else:
            env[eqn.outvars[0]] = out if type(out) is np.ndarray else np.asarray(out)
    return [a.val if type(a) is Literal else env[a] for a in jaxpr.outvars]


def truth(x: Any) -> bool:
    return bool(np.asarray(x))


def types_text(avals: Sequence[ShapedArray]) -> str:
    return "(" + ", ".join(a.str_short() for a in avals) + ")"


def same_types(a: Sequence[ShapedArray], b: Sequence[ShapedArray]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and x.dtype == y.dtype
                                    for x, y in zip(a, b, strict=True))


def check_types(name: str, what: str, want: Sequence[ShapedArray],
                 got: Sequence[ShapedArray]) -> None:
    if not same_types(want, got):
        raise TypeError(f"functrans.lax.{name}: {what} {types_text(want)}, but the operands are "
                        f"{types_text(got)}")


def check_closed(name: str, param: str, value: Any) -> None:
    if not isinstance(value, ClosedJaxpr):
        raise TypeError(f"functrans.lax.{name}: {param} must be a ClosedJaxpr, got "
                        f"{type(value).__name__}")


def check_count(name: str, param: str, value: Any, at_most: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= at_most:
        raise ValueError(f"functrans.lax.{name}: {param} must be an int in [0, {at_most}], "
                         f"got {value!r}")


def split_list(xs: Sequence[Any], *counts: int) -> list[list[Any]]:
    """``xs`` cut into consecutive pieces of the given lengths, then the rest."""
    out, start = [], 0
    for n in counts:
        out.append(list(xs[start:start + n]))
        start += n
    out.append(list(xs[start:]))
    return out


def pick(xs: Sequence[Any], mask: Sequence[bool], want: bool = True) -> list[Any]:
    return [x for x, m in zip(xs, mask, strict=True) if bool(m) == want]


def merge(mask: Sequence[bool], if_true: Sequence[Any], if_false: Sequence[Any]) -> list[Any]:
    """Interleave two lists back into the positions ``mask`` gives them."""
    t, f = iter(if_true), iter(if_false)
    return [next(t) if m else next(f) for m in mask]


def tangents_out(nonzeros: Sequence[bool], values: Sequence[Any],
                  avals: Sequence[ShapedArray]) -> list[Any]:
    """One tangent per output: ``values`` where ``nonzeros`` is set, symbolic zeros elsewhere."""
    it = iter(values)
    return [next(it) if nz else Zero(tangent_aval(a))
            for nz, a in zip(nonzeros, avals, strict=True)]


def stage_all(trace: Any, prim: Any, args: Sequence[Any], params: dict) -> list[Any]:
    """Partial evaluation that cannot split the equation: all of it is unknown."""
    return trace.stage(prim, list(args), params)


def stack_values(values: list[Any], aval: ShapedArray) -> Any:
    """Stack per-iteration values along a new leading axis (under the current trace)."""
    from functrans.primitives.slicing import concatenate
    from functrans.primitives.structural import broadcast_in_dim
    if not values:
        return broadcast_in_dim(np.zeros((), aval.dtype), (0, *aval.shape), ())
    dims = tuple(range(1, len(aval.shape) + 1))
    rows = [broadcast_in_dim(v, (1, *aval.shape), dims) for v in values]
    return rows[0] if len(rows) == 1 else concatenate(rows, 0)


def np_stack(values: list[np.ndarray], aval: ShapedArray) -> np.ndarray:
    if not values:
        return np.empty((0, *aval.shape), aval.dtype)
    return np.stack(values).astype(aval.dtype, copy=False)


def wrap_result(x: Any, aval: ShapedArray, inputs: list[np.ndarray]) -> core.Array:
    """An Array of a loop result, copied only if it may alias a caller's writable memory."""
    return core.Array._wrap(core._owned(np.asarray(x, aval.dtype), inputs), aval.weak_type)


def select_examples(pred: Any, on_false: Any, on_true: Any) -> Any:
    """``where(pred, on_true, on_false)`` for a (batch,) predicate and batch-leading values."""
    from functrans.primitives.elementwise import select_n
    from functrans.primitives.structural import broadcast_in_dim
    shape = core.get_aval(on_true).shape
    which = pred if len(shape) == 1 else broadcast_in_dim(pred, shape, (0,))
    return select_n(which, on_false, on_true)


def _count_eqns(closed: ClosedJaxpr) -> int:
    n = 0
    for eqn in closed.jaxpr.eqns:
        n += 1
        for p in eqn.params.values():
            for sub in (p if isinstance(p, tuple) else (p,)):
                if isinstance(sub, ClosedJaxpr):
                    n += _count_eqns(sub)
    return n


def to_batch_dim(x: Any, dim: int | None, want: int | None, size: int) -> Any:
    """Batched value ``x`` (batch dim ``dim``) with its batch dim at ``want`` (0 or None)."""
    if want is None:
        return x
    return broadcast_batched(x, size, want) if dim is None else moveaxis(x, dim, want)


def batched_avals(vals: Sequence[Any]) -> list[ShapedArray]:
    return [core.get_aval(v) for v in vals]


# --- cond ---------------------------------------------------------------------------------------


def cond_run(branches: Sequence[Callable[..., Sequence]], index: Any, ops: Sequence[Any]
             ) -> Sequence[np.ndarray]:
    """Evaluate the branch ``index`` picks (clamped, as JAX does); ``branches`` are callables
    on NumPy values (the eager impl interprets jaxprs, the NumPy backend calls compiled
    modules)."""
    return branches[min(max(int(index), 0), len(branches) - 1)](*ops)


def _cond_impl(index: np.ndarray, *ops: np.ndarray, branches: tuple[ClosedJaxpr, ...]
               ) -> list[np.ndarray]:
    return list(cond_run([interpreted(b) for b in branches], index, ops))


def _cond_abstract_eval(index: ShapedArray, *ops: ShapedArray,
                        branches: tuple[ClosedJaxpr, ...]) -> list[ShapedArray]:
    if not isinstance(branches, tuple) or not branches:
        raise TypeError("functrans.lax.cond: branches must be a non-empty tuple of ClosedJaxprs")
    for b in branches:
        check_closed("cond", "each branch", b)
    if index.shape or index.dtype != dt.int32:
        raise TypeError(f"functrans.lax.cond: the branch index must be an int32 scalar, got "
                        f"{index.str_short()}")
    for k, b in enumerate(branches):
        check_types("cond", f"branch {k} takes", b.in_avals, ops)
    first = branches[0].out_avals
    for k, b in enumerate(branches[1:], 1):
        if not same_types(first, b.out_avals):
            raise TypeError(f"functrans.lax.cond: branch 0 returns {types_text(first)} but branch "
                            f"{k} returns {types_text(b.out_avals)}; all branches must return the "
                            f"same types")
    return [ShapedArray(a.shape, a.dtype, all(b.out_avals[j].weak_type for b in branches))
            for j, a in enumerate(first)]


def _cond_jvp(primals: list, tangents: list, *, branches: tuple[ClosedJaxpr, ...]
              ) -> tuple[list, list]:
    index, ops = primals[0], primals[1:]
    ops_t = tangents[1:]
    nonzeros = [type(t) is not Zero for t in ops_t]
    out_nz = [False] * len(branches[0].out_avals)
    for b in branches:
        out_nz = [x or y for x, y in zip(out_nz, sp.jvp_jaxpr(b, nonzeros, False)[1],
                                         strict=True)]
    jvp_branches = tuple(sp.jvp_jaxpr(b, nonzeros, out_nz)[0] for b in branches)
    outs = cond_p.bind(index, *ops, *pick(ops_t, nonzeros), branches=jvp_branches)
    n = len(out_nz)
    avals = branches[0].out_avals
    return outs[:n], tangents_out(out_nz, outs[n:], avals)


def _cond_partial_eval(trace: Any, args: Sequence[Any], params: dict) -> list[Any]:
    """Known branches run now (their residuals padded with zeros so that every branch returns
    the same types); the unknown branches are staged, reading the residuals."""
    branches = params["branches"]
    index, ops = args[0], list(args[1:])
    if trace.is_unknown(index):
        return stage_all(trace, cond_p, args, params)
    unknowns = [trace.is_unknown(a) for a in ops]
    n_out = len(branches[0].out_avals)
    out_uk = [False] * n_out
    for b in branches:
        s = sp.partial_eval_jaxpr_nested(b, unknowns)
        out_uk = [x or y for x, y in zip(out_uk, s.out_unknowns, strict=True)]
    splits = [sp.partial_eval_jaxpr_nested(b, unknowns, out_uk) for b in branches]
    n_known = n_out - sum(out_uk)
    res_avals = [s.known.out_avals[n_known:] for s in splits]
    all_res = [a for avals in res_avals for a in avals]
    offsets = np.cumsum([0] + [len(r) for r in res_avals]).tolist()
    known_branches = tuple(_pad_residuals(s.known, n_known, offsets[k], all_res)
                           for k, s in enumerate(splits))
    unknown_branches = tuple(_widen_residuals(s.unknown, offsets[k], len(res_avals[k]), all_res)
                             for k, s in enumerate(splits))
    known_results = trace.evaluate(cond_p, [index, *pick(ops, unknowns, False)],
                                   {"branches": known_branches})
    known_outs, residuals = known_results[:n_known], known_results[n_known:]
    if not any(out_uk):
        return known_outs
    staged = trace.stage(cond_p, [index, *residuals, *pick(ops, unknowns)],
                         {"branches": unknown_branches})
    return merge(out_uk, staged, known_outs)


def _pad_residuals(known: ClosedJaxpr, n_known: int, offset: int,
                   all_res: list[ShapedArray]) -> ClosedJaxpr:
    def fun(*args: Any) -> list[Any]:
        outs = sp.call(known)(*args)
        own = outs[n_known:]
        res = [zeros_like_aval(a) for a in all_res]
        res[offset:offset + len(own)] = own
        return outs[:n_known] + res

    return trace_to_jaxpr(fun, known.in_avals, sp.DEBUG["control flow"])


def _widen_residuals(unknown: ClosedJaxpr, offset: int, n_own: int,
                     all_res: list[ShapedArray]) -> ClosedJaxpr:
    """``unknown`` reading its residuals from their slice of all branches' residuals."""
    before = all_res[:offset]
    after = all_res[offset + n_own:]
    widened = sp.add_invars(unknown, after, n_own)
    return sp.add_invars(widened, before, 0)


def _cond_transpose(cts: list, index: Any, *ops: Any, branches: tuple[ClosedJaxpr, ...]
                    ) -> list[Any]:
    if is_undefined(index):
        raise ValueError("functrans: cond is not linear in its branch index")
    linear = [is_undefined(o) for o in ops]
    ct_zero = [type(c) is Zero for c in cts]
    if all(ct_zero):
        return [None] + [Zero(tangent_aval(o.aval)) if lin else None
                         for o, lin in zip(ops, linear, strict=True)]
    transposed = tuple(sp.transpose_jaxpr(b, linear, ct_zero) for b in branches)
    outs = cond_p.bind(index, *pick(ops, linear, False), *pick(cts, ct_zero, False),
                       branches=transposed)
    out_it = iter(outs)
    return [None] + [next(out_it) if lin else None for lin in linear]


def _cond_batch(axis: AxisData, vals: list, dims: list, *, branches: tuple[ClosedJaxpr, ...]
                ) -> tuple[list, list]:
    index, ops = vals[0], vals[1:]
    index_dim, op_dims = dims[0], list(dims[1:])
    n_out = len(branches[0].out_avals)
    if index_dim is None:
        out_dims: list[int | None] = [None] * n_out
        for b in branches:
            natural = sp.batched_out_dims(b, axis, op_dims)
            out_dims = [0 if (d is not None or o is not None) else None
                        for d, o in zip(natural, out_dims, strict=True)]
        batched = tuple(sp.batch_jaxpr_to(b, axis, op_dims, out_dims) for b in branches)
        return cond_p.bind(index, *ops, branches=batched), out_dims
    # A batched index: every branch runs on the whole batch and each example selects its own
    # branch's results (as JAX does).
    _warn_if_expensive(branches)
    from functrans.primitives.elementwise import clamp, convert_element_type
    results = [sp.call(sp.batch_jaxpr_to(b, axis, op_dims, [0] * n_out))(*ops)
               for b in branches]
    index = moveaxis(index, index_dim, 0)
    n = len(branches)
    index = clamp(np.int32(0), convert_element_type(index, dt.int32), np.int32(n - 1))
    outs = []
    for j in range(n_out):
        cases = [r[j] for r in results]
        if n == 1:
            outs.append(cases[0])
            continue
        shape = core.get_aval(cases[0]).shape
        from functrans.primitives.elementwise import select_n
        from functrans.primitives.structural import broadcast_in_dim
        which = index if len(shape) == 1 else broadcast_in_dim(index, shape, (0,))
        outs.append(select_n(which, *cases))
    return outs, [0] * n_out


_warned_sites: set[Any] = set()


def _warn_if_expensive(branches: tuple[ClosedJaxpr, ...]) -> None:
    n_eqns = sum(_count_eqns(b) for b in branches)
    if n_eqns <= EXPENSIVE_BRANCH_EQNS:
        return
    site = errors.user_frame(2)
    where = f" at {site}" if site else ""
    errors.warn_once_at(site, _warned_sites, lambda: (
        f"functrans.vmap: the predicate (index) of lax.cond/lax.switch{where} differs across "
        f"the batch, so every branch runs on the whole batch and each example selects its "
        f"own results: {len(branches)} branches with {n_eqns} equations in all run on every "
        f"call. If one branch is much cheaper, consider computing both only where needed, "
        f"or vmap outside a loop whose predicate is shared. (Warned once per call site.)"))


def _cond_sample(dtype: np.dtype) -> list[Example]:
    from functrans import lax

    def branches(fns: Sequence[Callable], avals: list[ShapedArray]) -> tuple[ClosedJaxpr, ...]:
        return tuple(trace_to_jaxpr(f, avals, sp.DEBUG["control flow"]) for f in fns)

    out = []
    two = (lambda x, y: [lax.mul(lax.sin(x), y)], lambda x, y: [lax.add(x, lax.mul(y, y))])
    for shape in ((), (0,), (3,), (2, 3)):
        avals = [ShapedArray(shape, dtype)] * 2
        x, y = sample_array(shape, dtype, seed=1), sample_array(shape, dtype, seed=2)
        for i in ((0, 1, 5, -1) if shape == (3,) else (1,)):
            out.append(Example((np.int32(i), x, y), {"branches": branches(two, avals)},
                               note=f"index{i}"))
    three = (lambda x, n: [lax.mul(x, x), n], lambda x, n: [lax.cos(x), lax.add(n, np.int32(1))],
             lambda x, n: [x, lax.mul(n, n)])
    avals = [ShapedArray((2,), dtype), ShapedArray((), dt.int32)]
    for i in (0, 2):
        out.append(Example((np.int32(i), sample_array((2,), dtype, seed=3), np.int32(3)),
                           {"branches": branches(three, avals)}, note=f"3-branches-{i}"))
    return out


cond_p = define_primitive(
    "cond", family="control", impl=_cond_impl, abstract_eval=_cond_abstract_eval,
    multiple_results=True, dtypes=dt.INEXACT, sample=_cond_sample, jvp=_cond_jvp,
    transpose=_cond_transpose, linear_in=(), partial_eval=_cond_partial_eval,
    batch=_cond_batch,
    doc="branches[index](*operands): run one of several sub-programs (index clamped)")


# --- scan ---------------------------------------------------------------------------------------


def _scan_impl(*args: np.ndarray, jaxpr: ClosedJaxpr, length: int, reverse: bool, unroll: int,
               num_consts: int, num_carry: int, linear: tuple[bool, ...]) -> list[np.ndarray]:
    return scan_run(interpreted(jaxpr), args, jaxpr.out_avals[num_carry:], length, reverse,
                    num_consts, num_carry)


def scan_run(body: Callable[..., Sequence], args: Sequence[Any], y_avals: Sequence[ShapedArray],
             length: int, reverse: bool, num_consts: int, num_carry: int) -> list[np.ndarray]:
    """The scan loop over a body callable on NumPy values (see ``cond_run``)."""
    consts, carry, xs = split_list(args, num_consts, num_carry)
    ys = [np.empty((length, *a.shape), a.dtype) for a in y_avals]
    for k in range(length):
        i = length - 1 - k if reverse else k
        outs = body(*consts, *carry, *[x[i] for x in xs])
        carry = outs[:num_carry]
        for y, o in zip(ys, outs[num_carry:], strict=True):
            y[i] = o
    return [*carry, *ys]


def _scan_abstract_eval(*avals: ShapedArray, jaxpr: ClosedJaxpr, length: int, reverse: bool,
                        unroll: int, num_consts: int, num_carry: int,
                        linear: tuple[bool, ...]) -> list[ShapedArray]:
    check_closed("scan", "jaxpr", jaxpr)
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise ValueError(f"functrans.lax.scan: length must be a non-negative int, got "
                         f"{length!r}")
    if not isinstance(unroll, int) or isinstance(unroll, bool) or unroll < 1:
        raise ValueError(f"functrans.lax.scan: unroll must be a positive int, got {unroll!r}")
    if not isinstance(reverse, bool):
        raise TypeError(f"functrans.lax.scan: reverse must be a bool, got {reverse!r}")
    check_count("scan", "num_consts", num_consts, len(avals))
    check_count("scan", "num_carry", num_carry, len(avals) - num_consts)
    if not isinstance(linear, tuple) or len(linear) != len(avals):
        raise TypeError(f"functrans.lax.scan: linear must be a tuple of {len(avals)} bools, got "
                        f"{linear!r}")
    consts, carry, xs = split_list(avals, num_consts, num_carry)
    for x in xs:
        if not x.shape or x.shape[0] != length:
            raise TypeError(f"functrans.lax.scan: every scanned operand needs a leading axis of "
                            f"length {length}, got {x.str_short()}")
    slices = [ShapedArray(x.shape[1:], x.dtype, x.weak_type) for x in xs]
    check_types("scan", "jaxpr takes", jaxpr.in_avals, [*consts, *carry, *slices])
    out = jaxpr.out_avals
    if len(out) < num_carry or not same_types(out[:num_carry], carry):
        raise TypeError(f"functrans.lax.scan: jaxpr returns the carry "
                        f"{types_text(out[:num_carry])} but the carry is {types_text(carry)}")
    return [*carry, *[ShapedArray((length, *y.shape), y.dtype, y.weak_type)
                      for y in out[num_carry:]]]


def _scan_params(jaxpr: ClosedJaxpr, length: int, reverse: bool, num_consts: int,
                 num_carry: int, linear: Sequence[bool], unroll: int = 1) -> dict:
    return {"jaxpr": jaxpr, "length": length, "reverse": reverse, "unroll": unroll,
            "num_consts": num_consts, "num_carry": num_carry, "linear": tuple(linear)}


def _scan_jvp(primals: list, tangents: list, *, jaxpr: ClosedJaxpr, length: int, reverse: bool,
              unroll: int, num_consts: int, num_carry: int, linear: tuple[bool, ...]
              ) -> tuple[list, list]:
    nc, ncar = num_consts, num_carry
    consts, init, xs = split_list(primals, nc, ncar)
    consts_t, init_t, xs_t = split_list(tangents, nc, ncar)
    nz_k = [type(t) is not Zero for t in consts_t]
    nz_x = [type(t) is not Zero for t in xs_t]
    init_nz = [type(t) is not Zero for t in init_t]
    ny = len(jaxpr.out_avals) - ncar
    params = _scan_params(jaxpr, length, reverse, nc, ncar, linear, unroll)
    if not any(nz_k) and not any(nz_x) and not any(init_nz):
        outs = scan_p.bind(*primals, **params)
        return outs, zero_tangents([core.get_aval(o) for o in outs])
    carry_nz = sp.fixpoint(init_nz, lambda nz: sp.jvp_jaxpr(
        jaxpr, nz_k + nz + nz_x, nz + [False] * ny)[1][:ncar])
    jvp_closed, out_nz = sp.jvp_jaxpr(jaxpr, nz_k + carry_nz + nz_x, carry_nz + [False] * ny)
    nx = len(xs)
    nkt, nct, nxt = sum(nz_k), sum(carry_nz), sum(nz_x)
    # The JVP takes (consts, carry, xs, consts_t, carry_t, xs_t) and returns (carry, ys,
    # carry_t, ys_t); scan wants (consts, consts_t, carry, carry_t, xs, xs_t) and
    # (carry, carry_t, ys, ys_t).
    p = nc + ncar + nx
    order = [*range(nc), *range(p, p + nkt), *range(nc, nc + ncar),
             *range(p + nkt, p + nkt + nct), *range(nc + ncar, p),
             *range(p + nkt + nct, p + nkt + nct + nxt)]
    nyt = sum(out_nz[ncar:])
    q = ncar + ny
    out_order = [*range(ncar), *range(q, q + nct), *range(ncar, q), *range(q + nct, q + nct + nyt)]
    body = sp.select_outvars(sp.permute_invars(jvp_closed, order), out_order)
    new_linear = ([*linear[:nc], *[True] * nkt, *linear[nc:nc + ncar], *[True] * nct,
                   *linear[nc + ncar:], *[True] * nxt])
    init_t = [instantiate(t) for t in pick(init_t, carry_nz)]
    outs = scan_p.bind(*consts, *pick(consts_t, nz_k), *init, *init_t, *xs, *pick(xs_t, nz_x),
                       **_scan_params(body, length, reverse, nc + nkt, ncar + nct, new_linear,
                                      unroll))
    carry, carry_t, ys, ys_t = split_list(outs, ncar, nct, ny)
    out_avals = [core.get_aval(o) for o in [*carry, *ys]]
    return [*carry, *ys], tangents_out(carry_nz + out_nz[ncar:], [*carry_t, *ys_t], out_avals)


class _ScanSplit:
    """A scan split into a known scan (run first) and an unknown one that reads its residuals.

    Residuals that are known consts are passed to the unknown scan once; residuals that are
    known scanned operands are passed as they are; all others are stacked by the known scan
    (one per iteration) and scanned by the unknown one.
    """

    def __init__(self, jaxpr: ClosedJaxpr, num_consts: int, num_carry: int,
                 uk_consts: list[bool], uk_init: list[bool], uk_xs: list[bool]):
        ncar, ny = num_carry, len(jaxpr.out_avals) - num_carry
        self.carry_uk = sp.fixpoint(uk_init, lambda uk: sp.partial_eval_jaxpr_nested(
            jaxpr, uk_consts + uk + uk_xs, uk + [False] * ny).out_unknowns[:ncar])
        self.uk_consts, self.uk_xs = uk_consts, uk_xs
        s = sp.partial_eval_jaxpr_nested(jaxpr, uk_consts + self.carry_uk + uk_xs,
                                          self.carry_uk + [False] * ny)
        self.ys_uk = s.out_unknowns[ncar:]
        n_kc, n_kcar = uk_consts.count(False), self.carry_uk.count(False)
        n_kout = n_kcar + self.ys_uk.count(False)
        kind = []
        for src in s.res_sources:
            if src is not None and src < n_kc:
                kind.append("const")
            elif src is not None and src >= n_kc + n_kcar:
                kind.append("xs")
            else:
                kind.append("stacked")
        self.kind, self.sources = kind, s.res_sources
        self.n_kc, self.n_kcar = n_kc, n_kcar
        stacked = [n_kout + i for i, k in enumerate(kind) if k == "stacked"]
        self.known = sp.select_outvars(s.known, [*range(n_kout), *stacked])
        self.n_kout = n_kout
        n_res = s.num_res
        const_idx = [i for i in range(n_res) if kind[i] == "const"]
        x_idx = [i for i in range(n_res) if kind[i] != "const"]
        n_uk, n_uc, n_ux = sum(uk_consts), sum(self.carry_uk), sum(uk_xs)
        order = [*const_idx, *range(n_res, n_res + n_uk + n_uc), *x_idx,
                 *range(n_res + n_uk + n_uc, n_res + n_uk + n_uc + n_ux)]
        self.unknown = sp.permute_invars(s.unknown, order)
        self.const_idx, self.x_idx = const_idx, x_idx

    def unknown_operands(self, kconsts: list, kxs: list, known_results: list
                         ) -> tuple[list, list]:
        """(residual consts, residual scanned operands) of the unknown scan, in its order."""
        stacked = iter(known_results[self.n_kout:])
        res_consts = [kconsts[self.sources[i]] for i in self.const_idx]
        res_xs = []
        for i in self.x_idx:
            if self.kind[i] == "xs":
                res_xs.append(kxs[self.sources[i] - self.n_kc - self.n_kcar])
            else:
                res_xs.append(next(stacked))
        return res_consts, res_xs


def _scan_partial_eval(trace: Any, args: Sequence[Any], params: dict) -> list[Any]:
    jaxpr, nc, ncar = params["jaxpr"], params["num_consts"], params["num_carry"]
    length, reverse = params["length"], params["reverse"]
    consts, init, xs = split_list(list(args), nc, ncar)
    s = _ScanSplit(jaxpr, nc, ncar, [trace.is_unknown(a) for a in consts],
                   [trace.is_unknown(a) for a in init], [trace.is_unknown(a) for a in xs])
    kconsts, kxs = pick(consts, s.uk_consts, False), pick(xs, s.uk_xs, False)
    known_results = []
    if s.known.out_avals:
        known_results = trace.evaluate(
            scan_p, [*kconsts, *pick(init, s.carry_uk, False), *kxs],
            _scan_params(s.known, length, reverse, len(kconsts), s.n_kcar,
                         [False] * len(s.known.in_avals), params["unroll"]))
    known_outs = known_results[:s.n_kout]
    res_consts, res_xs = s.unknown_operands(kconsts, kxs, known_results)
    uk_consts, uk_init, uk_xs = (pick(consts, s.uk_consts), pick(init, s.carry_uk),
                                 pick(xs, s.uk_xs))
    linear = ((False,) * len(res_consts) + (True,) * (len(uk_consts) + len(uk_init))
              + (False,) * len(res_xs) + (True,) * len(uk_xs))
    if not s.unknown.out_avals:
        return known_outs
    staged = trace.stage(scan_p, [*res_consts, *uk_consts, *uk_init, *res_xs, *uk_xs],
                         _scan_params(s.unknown, length, reverse,
                                      len(res_consts) + len(uk_consts), len(uk_init), linear,
                                      params["unroll"]))
    n_uc = len(uk_init)
    carry = merge(s.carry_uk, staged[:n_uc], known_outs[:s.n_kcar])
    ys = merge(s.ys_uk, staged[n_uc:], known_outs[s.n_kcar:])
    return [*carry, *ys]


def _scan_transpose(cts: list, *args: Any, jaxpr: ClosedJaxpr, length: int, reverse: bool,
                    unroll: int, num_consts: int, num_carry: int, linear: tuple[bool, ...]
                    ) -> list[Any]:
    nc, ncar = num_consts, num_carry
    consts, init, xs = split_list(list(args), nc, ncar)
    lin_k = [is_undefined(x) for x in consts]
    lin_x = [is_undefined(x) for x in xs]
    s = _ScanSplit(jaxpr, nc, ncar, lin_k, [is_undefined(x) for x in init], lin_x)
    ct_carry, ct_ys = cts[:ncar], cts[ncar:]
    lin_c = s.carry_uk
    carry_ct = pick(ct_carry, lin_c)
    ys_ct = pick(ct_ys, s.ys_uk)
    none = ([Zero(tangent_aval(x.aval)) if lin else None for x, lin in zip(consts, lin_k,
                                                                           strict=True)]
            + [Zero(tangent_aval(x.aval)) if is_undefined(x) else None for x in init]
            + [Zero(tangent_aval(x.aval)) if lin else None for x, lin in zip(xs, lin_x,
                                                                             strict=True)])
    if all(type(c) is Zero for c in [*carry_ct, *ys_ct]):
        return none
    if all(lin_c):
        # Every carry is linear: transpose the body directly (its non-linear equations on the
        # defined operands are evaluated inside the transposed body).
        ct_k, ct_c, ct_x = _scan_transpose_linear(jaxpr, length, reverse, consts, xs, ncar,
                                                  carry_ct, ct_ys)
    else:
        # Known carries change from one iteration to the next, so the transposed loop cannot
        # recompute them backwards: a known scan runs forward first, stacking the residuals.
        kconsts, kxs = pick(consts, lin_k, False), pick(xs, lin_x, False)
        known_results = scan_p.bind(*kconsts, *pick(init, lin_c, False), *kxs,
                                    **_scan_params(s.known, length, reverse, len(kconsts),
                                                   s.n_kcar, [False] * len(s.known.in_avals)))
        res_consts, res_xs = s.unknown_operands(kconsts, kxs, known_results)
        u_consts = res_consts + pick(consts, lin_k)
        u_xs = res_xs + pick(xs, lin_x)
        ct_k, ct_c, ct_x = _scan_transpose_linear(s.unknown, length, reverse, u_consts, u_xs,
                                                  sum(lin_c), carry_ct, ys_ct)
        ct_c = merge(lin_c, ct_c, [None] * lin_c.count(False))
    ct_k_it, ct_x_it = iter(ct_k), iter(ct_x)
    out = [next(ct_k_it) if lin else None for lin in lin_k]
    out += [c if is_undefined(x) else None for x, c in zip(init, ct_c, strict=True)]
    out += [next(ct_x_it) if lin else None for lin in lin_x]
    return out


def _scan_transpose_linear(jaxpr: ClosedJaxpr, length: int, reverse: bool, consts: list,
                           xs: list, num_carry: int, ct_carry: list, ct_ys: list
                           ) -> tuple[list, list, list]:
    """Transpose a scan whose carries are all linear: a reversed scan of the transposed body
    that accumulates the cotangents of the linear consts in its carry. Returns the cotangents
    of the linear consts, of every carry and of the linear scanned operands."""
    nc = len(consts)
    lin_k = [is_undefined(x) for x in consts]
    lin_x = [is_undefined(x) for x in xs]
    ys_zero = [type(c) is Zero for c in ct_ys]
    in_avals = jaxpr.in_avals
    k_avals, c_avals, x_avals = split_list(in_avals, nc, num_carry)
    ct_carry = [zeros_like_aval(tangent_aval(a)) if type(c) is Zero else c
                for c, a in zip(ct_carry, c_avals, strict=True)]
    key = ("scan-transpose", tuple(lin_k), tuple(lin_x), tuple(ys_zero))

    def make() -> ClosedJaxpr:
        body_t = sp.transpose_jaxpr(jaxpr, [*lin_k, *[True] * num_carry, *lin_x],
                                    [False] * num_carry + ys_zero)
        return _transposed_scan_body(
            body_t, pick(k_avals, lin_k, False), [tangent_aval(a) for a in
                                                   pick(k_avals, lin_k)],
            [tangent_aval(a) for a in c_avals], pick(x_avals, lin_x, False),
            [tangent_aval(a) for a in pick(jaxpr.out_avals[num_carry:], ys_zero, False)])

    body = sp.memo(jaxpr, key, make)
    res_k, res_x = pick(consts, lin_k, False), pick(xs, lin_x, False)
    acc = [zeros_like_aval(tangent_aval(a)) for a in pick(k_avals, lin_k)]
    ys_ct = pick(ct_ys, ys_zero, False)
    n_acc = len(acc)
    linear = ((False,) * len(res_k) + (True,) * (n_acc + num_carry) + (False,) * len(res_x)
              + (True,) * len(ys_ct))
    outs = scan_p.bind(*res_k, *acc, *ct_carry, *res_x, *ys_ct,
                       **_scan_params(body, length, not reverse, len(res_k), n_acc + num_carry,
                                      linear))
    return outs[:n_acc], outs[n_acc:n_acc + num_carry], outs[n_acc + num_carry:]


def _transposed_scan_body(body_t: ClosedJaxpr, res_k: list[ShapedArray],
                          acc: list[ShapedArray], ct_c: list[ShapedArray],
                          res_x: list[ShapedArray], ct_y: list[ShapedArray]) -> ClosedJaxpr:
    from functrans.primitives.elementwise import add

    def fun(*args: Any) -> list[Any]:
        k, a, c, x, y = split_list(args, len(res_k), len(acc), len(ct_c), len(res_x))
        outs = sp.call(body_t)(*k, *x, *c, *y)
        n_acc = len(a)
        return [*[add(p, q) for p, q in zip(a, outs[:n_acc], strict=True)], *outs[n_acc:]]

    return trace_to_jaxpr(fun, [*res_k, *acc, *ct_c, *res_x, *ct_y], sp.DEBUG["transpose"])


def _scan_batch(axis: AxisData, vals: list, dims: list, *, jaxpr: ClosedJaxpr, length: int,
                reverse: bool, unroll: int, num_consts: int, num_carry: int,
                linear: tuple[bool, ...]) -> tuple[list, list]:
    nc, ncar = num_consts, num_carry
    consts, init, xs = split_list(vals, nc, ncar)
    kd, initd, xsd = split_list(dims, nc, ncar)
    # The scanned axis stays in front: a batch dim there moves behind it.
    xs = [moveaxis(x, 0, 1) if d == 0 else x for x, d in zip(xs, xsd, strict=True)]
    slice_dims = [None if d is None else max(d - 1, 0) for d in xsd]

    def step(batched: list[bool]) -> list[bool]:
        out = sp.batched_out_dims(jaxpr, axis,
                                  kd + [0 if b else None for b in batched] + slice_dims)
        return [d is not None for d in out[:ncar]]

    carry_b = sp.fixpoint([d is not None for d in initd], step)
    carry_dims = [0 if b else None for b in carry_b]
    in_dims = kd + carry_dims + slice_dims
    ys_dims = [None if d is None else 0 for d in sp.batched_out_dims(jaxpr, axis, in_dims)[ncar:]]
    body = sp.batch_jaxpr_to(jaxpr, axis, in_dims, carry_dims + ys_dims)
    init = [to_batch_dim(x, d, w, axis.size)
            for x, d, w in zip(init, initd, carry_dims, strict=True)]
    outs = scan_p.bind(*consts, *init, *xs, jaxpr=body, length=length, reverse=reverse,
                       unroll=unroll, num_consts=nc, num_carry=ncar, linear=linear)
    return outs, carry_dims + [None if d is None else 1 for d in ys_dims]


def _scan_sample(dtype: np.dtype) -> list[Example]:
    from functrans import lax
    debug = sp.DEBUG["control flow"]

    def body(a: Any, c: Any, x: Any) -> list[Any]:
        return [lax.add(lax.mul(c, a), lax.sin(x)), lax.mul(c, x)]

    def counting(c: Any, n: Any, x: Any) -> list[Any]:
        return [lax.add(c, lax.cos(lax.mul(x, c))), lax.add(n, np.int32(1)), n]

    out = []
    for shape, length, reverse in (((), 4, False), ((3,), 3, True), ((0,), 2, False),
                                   ((2, 3), 0, False), ((2,), 1, True)):
        aval = ShapedArray(shape, dtype)
        jaxpr = trace_to_jaxpr(body, [aval, aval, aval], debug)
        args = (sample_array(shape, dtype, domain="small", seed=9),
                sample_array(shape, dtype, domain="small", seed=10),
                sample_array((length, *shape), dtype, domain="small", seed=11))
        out.append(Example(args, _scan_params(jaxpr, length, reverse, 1, 1, [False] * 3),
                           note=f"len{length}{'-rev' if reverse else ''}"))
    aval = ShapedArray((2,), dtype)
    jaxpr = trace_to_jaxpr(counting, [aval, ShapedArray((), dt.int32), aval], debug)
    args = (sample_array((2,), dtype, domain="small", seed=12), np.int32(0),
            sample_array((3, 2), dtype, domain="small", seed=13))
    out.append(Example(args, _scan_params(jaxpr, 3, False, 0, 2, [False] * 3), note="counter"))
    return out


scan_p = define_primitive(
    "scan", family="control", impl=_scan_impl, abstract_eval=_scan_abstract_eval,
    multiple_results=True, dtypes=dt.INEXACT, sample=_scan_sample, jvp=_scan_jvp,
    transpose=_scan_transpose, linear_in=(), partial_eval=_scan_partial_eval, batch=_scan_batch,
    doc="(carry, y_i) = f(carry, x_i) over a leading axis, stacking the ys")
