"""Structured control flow with JAX's API: ``cond``, ``switch``, ``while_loop``,
``fori_loop``, ``scan``, ``map`` and ``associative_scan`` (re-exported by ``functrans.lax``).

Outside any transformation these run directly, as Python control flow over your functions,
so ``print`` and ``pdb`` work inside them. Under a transformation (``grad``, ``vmap``,
``jit``, ``make_jaxpr``) each function is traced once into a sub-jaxpr (its captured values
become explicit operands) and the construct is one ``cond``/``while``/``scan`` equation whose
rules differentiate, batch and compile it (``primitives/control_flow.py`` and
``primitives/while_loop.py``). Everything takes and returns pytrees. Branches that disagree
and loop bodies that change their carry raise ``errors.ControlFlowTypeError`` naming the
pytree path and both types. Start at ``while_loop``.
Imports core, tree_util, errors, the control-flow primitives and the lax wrappers it needs.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from functrans import api_util, core, errors, tree_util
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import ControlFlowTypeError, api_boundary
from functrans.ir import ClosedJaxpr, hoist_consts
from functrans.primitives.control_flow import cond_p, scan_p
from functrans.primitives.elementwise import (
    add,
    clamp,
    convert_element_type,
    convert_element_type_p,
    lt,
    ne,
)
from functrans.primitives.slicing import concatenate, slice_in_dim
from functrans.primitives.structural import reshape, rev
from functrans.primitives.while_loop import while_p
from functrans.transforms import subprograms as sp
from functrans.transforms.partial_eval import trace_to_jaxpr

__all__ = ["associative_scan", "cond", "fori_loop", "map_", "scan", "switch", "while_loop"]

_NO_OPERAND = object()
_MAX_ROWS = 8  # mismatching leaves shown in a type error


# --- shared machinery ---------------------------------------------------------------------------


def _eager() -> bool:
    """No transformation is running: run the user's functions directly."""
    return core.current_trace() is None


def _as_array(x: Any) -> Any:
    if type(x) is core.Array or isinstance(x, core.Tracer):
        return x
    from functrans.numpy import asarray
    return asarray(x)


def _as_arrays(tree: Any) -> Any:
    return tree_util.tree_map(_as_array, tree)


def _site() -> str:
    where = errors.user_frame(2)
    return f" (at {where})" if where else ""


def _paths(tree: tree_util.PyTreeDef, prefix: str) -> list[str]:
    dummy = tree_util.tree_unflatten(tree, [0] * tree.num_leaves)
    return [prefix + tree_util.keystr(p) for p, _ in tree_util.tree_flatten_with_path(dummy)[0]]


def _same(a: ShapedArray, b: ShapedArray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype


def _type_table(headers: tuple[str, str, str], rows: list[tuple[str, str, str]]) -> str:
    shown = rows[:_MAX_ROWS]
    widths = [max(len(r[i]) for r in [headers, *shown]) for i in range(3)]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [headers, *shown]]
    if len(rows) > len(shown):
        lines.append(f"  ... and {len(rows) - len(shown)} more")
    return "\n".join(lines)


def _structure_error(head: str, left: tuple[str, Any], right: tuple[str, Any]
                     ) -> ControlFlowTypeError:
    width = max(len(left[0]), len(right[0])) + 1
    return ControlFlowTypeError(
        f"{head}, but their structures differ:\n"
        f"  {(left[0] + ':').ljust(width)} {left[1]}\n  {(right[0] + ':').ljust(width)} {right[1]}")


def _fits(value: ShapedArray, target: ShapedArray) -> bool:
    """Can a value of type ``value`` stand for one of type ``target``? The same shape and
    dtype, or a weakly typed value (a Python scalar's type) that promotes to ``target``'s dtype:
    ``0.0`` (weak f32) fits a float64 carry, but not an int32 one."""
    if value.shape != target.shape:
        return False
    if value.dtype == target.dtype:
        return True
    joined = dt.result_type_of((value.dtype, True), (target.dtype, target.weak_type))[0]
    return value.weak_type and joined == target.dtype


def _check_fits(head: str, names: tuple[str, str], paths: list[str],
                left: Sequence[ShapedArray], right: Sequence[ShapedArray],
                targets: Sequence[ShapedArray], fix: str) -> None:
    rows = [(p or "(root)", a.str_short(), b.str_short())
            for p, a, b, t in zip(paths, left, right, targets, strict=True)
            if not (_fits(a, t) and _fits(b, t))]
    if rows:
        raise ControlFlowTypeError(f"{head}, but they differ:\n"
                                   f"{_type_table(('path', *names), rows)}\n{fix}")


def _retype(x: Any, target: ShapedArray) -> Any:
    """``x`` as type ``target`` when it fits it but is not exactly it: a weakly typed value
    takes the target's dtype, and the weak flag is made to match."""
    aval = core.get_aval(x)
    if aval != target and _fits(aval, target):
        return convert_element_type_p.bind(x, new_dtype=target.dtype,
                                           weak_type=target.weak_type)
    return x


def _cast(x: Any, aval: ShapedArray) -> Any:
    """``x`` as ``aval``'s dtype and weak type (concrete values stay concrete: a literal)."""
    if isinstance(x, core.Tracer):
        return convert_element_type_p.bind(x, new_dtype=aval.dtype, weak_type=aval.weak_type)
    return core.Array(np.asarray(core.to_numpy(x), aval.dtype), aval.weak_type)


class _Traced(NamedTuple):
    jaxpr: ClosedJaxpr        # captured values hoisted to leading inputs
    consts: list[Any]
    out_tree: tree_util.PyTreeDef
    out_avals: list[ShapedArray]  # as the function returned them (before any retyping)


def _trace(what: str, fun: Callable, tree: tree_util.PyTreeDef, avals: list[ShapedArray],
           user: tuple[Callable, tuple], targets: list[ShapedArray] | None = None) -> _Traced:
    """Trace ``fun(*args)`` (args rebuilt from flat avals with ``tree``) to a jaxpr; outputs
    whose type differs from ``targets`` only by weak type are cast to it. ``user`` is the
    user's function and example arguments, which error messages name."""
    store: dict[str, Any] = {}

    def flat_fun(*leaves: Any) -> list[Any]:
        out = fun(*tree_util.tree_unflatten(tree, leaves))
        flat, out_tree = tree_util.tree_flatten(out)
        api_util.check_outputs(f"lax.{what}", fun, flat, out_tree)
        store["tree"], store["avals"] = out_tree, [core.get_aval(x) for x in flat]
        if targets is not None and len(targets) == len(flat):
            flat = [_retype(x, t) for x, t in zip(flat, targets, strict=True)]
        return flat

    closed = trace_to_jaxpr(flat_fun, avals, core.DebugInfo(f"lax.{what}", *user))
    jaxpr, consts = hoist_consts(closed)
    return _Traced(jaxpr, consts, store["tree"], store["avals"])


class _Body(NamedTuple):
    jaxpr: ClosedJaxpr
    consts: list[Any]
    init: list[Any]                 # the initial carry's leaves (retyped where needed)
    y_tree: tree_util.PyTreeDef | None
    y_avals: list[ShapedArray]


def _trace_body(what: str, fun_name: str, fun: Callable, init: Any, x_example: Any = None,
                x_avals: list[ShapedArray] | None = None,
                x_tree: tree_util.PyTreeDef | None = None) -> _Body:
    """Trace a loop body ``fun(carry) -> carry`` (or, with ``x_tree``, ``fun(carry, x) ->
    (carry, y)``) and check that the carry keeps its structure and types. A weakly typed
    initial carry that the body makes strongly typed (``0.0`` becoming float32) is made
    strongly typed from the start, as JAX does."""
    init_flat, carry_tree = tree_util.tree_flatten(init)
    carry_avals = [core.get_aval(x) for x in init_flat]
    n = len(init_flat)
    with_x = x_tree is not None
    x_avals = list(x_avals or ())
    args_tree = tree_util.tree_structure(tuple([0] * (n + len(x_avals))))
    while True:  # promotion only moves carry types up the (finite) dtype lattice: it ends
        def body(*leaves: Any) -> Any:
            carry = tree_util.tree_unflatten(carry_tree, leaves[:n])
            if not with_x:
                return fun(carry)
            out = fun(carry, tree_util.tree_unflatten(x_tree, leaves[n:]))
            _check_pair(what, fun_name, out)
            return tuple(out)

        user = (fun, (init,) if not with_x else (init, x_example))
        traced = _trace(what, body, args_tree, carry_avals + x_avals, user,
                        None if with_x else carry_avals)
        if with_x:
            carry_out_tree, y_tree = tree_util.treedef_children(traced.out_tree)
        else:
            carry_out_tree, y_tree = traced.out_tree, None
        if carry_out_tree != carry_tree:
            raise _structure_error(
                f"functrans.lax.{what}: {fun_name} must return a carry with the structure of "
                f"its input{_site()}", ("carry (input)", carry_tree),
                (f"{fun_name} returns", carry_out_tree))
        out_avals = traced.out_avals[:n]
        promoted = _promote(carry_avals, out_avals)
        if promoted == carry_avals:
            break
        init_flat = [x if a == p else _cast(x, p)
                     for x, a, p in zip(init_flat, carry_avals, promoted, strict=True)]
        carry_avals = promoted
        init = tree_util.tree_unflatten(carry_tree, init_flat)
    _check_fits(
        f"functrans.lax.{what}: {fun_name} must return a carry of the same types as its "
        f"input, and a loop carry keeps one type across iterations{_site()}",
        ("carry (input)", f"{fun_name} returns"), _paths(carry_tree, "carry"), carry_avals,
        out_avals, carry_avals, _CARRY_FIX)
    jaxpr = traced.jaxpr
    if with_x:
        # The carry part of (carry, y) is cast to the carry types after tracing.
        jaxpr = _retyped_outputs(jaxpr, carry_avals, len(traced.consts))
    return _Body(jaxpr, traced.consts, init_flat, y_tree, traced.out_avals[n:])


def _promote(carry: list[ShapedArray], out: list[ShapedArray]) -> list[ShapedArray]:
    """The carry types after JAX's weak-type promotion: a weakly typed initial value (a Python
    scalar) takes the type the body gives it, e.g. ``0.0`` becomes float64 when the body adds
    a float64 array to it."""
    new = []
    for a, o in zip(carry, out, strict=True):
        if a.weak_type and a.shape == o.shape and (a.dtype != o.dtype or not o.weak_type):
            dtype, weak = dt.result_type_of((a.dtype, True), (o.dtype, o.weak_type))
            new.append(ShapedArray(a.shape, dtype, weak))
        else:
            new.append(a)
    return new


_CARRY_FIX = ("Fix: cast inside the body (x.astype(...)) or change the initial value so that "
              "both have the same shape and dtype.")


def _retyped_outputs(closed: ClosedJaxpr, targets: list[ShapedArray], n_consts: int
                     ) -> ClosedJaxpr:
    """``closed`` with its first outputs (the carry; ``n_consts`` hoisted constants lead its
    inputs) cast to ``targets`` where they fit but differ (see ``_retype``)."""
    outs, ins = closed.out_avals, closed.in_avals
    if all(o == t for o, t in zip(outs, targets)):
        return closed

    def fun(*args: Any) -> list[Any]:
        res = sp.call(closed)(*args)
        return [_retype(r, t) for r, t in zip(res, targets)] + res[len(targets):]

    return trace_to_jaxpr(fun, ins, core.DebugInfo("lax.scan", fun))


def _check_carry_eager(what: str, fun_name: str, tree: tree_util.PyTreeDef,
                       avals: list[ShapedArray], new: Any) -> tuple[Any, list[ShapedArray]]:
    """Check one iteration's carry against the carry types, as tracing would: returns the new
    carry (weakly typed leaves cast to the carry types) and the (promoted) carry types."""
    flat, new_tree = tree_util.tree_flatten(_as_arrays(new))
    if new_tree != tree:
        raise _structure_error(
            f"functrans.lax.{what}: {fun_name} must return a carry with the structure of its "
            f"input{_site()}", ("carry (input)", tree), (f"{fun_name} returns", new_tree))
    out = [core.get_aval(x) for x in flat]
    avals = _promote(avals, out)
    _check_fits(
        f"functrans.lax.{what}: {fun_name} must return a carry of the same types as its input, "
        f"and a loop carry keeps one type across iterations{_site()}",
        ("carry (input)", f"{fun_name} returns"), _paths(tree, "carry"), avals, out, avals,
        _CARRY_FIX)
    flat = [x if o == a else _cast(x, a) for x, o, a in zip(flat, out, avals, strict=True)]
    return tree_util.tree_unflatten(tree, flat), avals


def _check_pair(what: str, fun_name: str, out: Any) -> None:
    if isinstance(out, (tuple, list)) and len(out) == 2:
        return
    got = (f"an array ({core.get_aval(out).str_short()})" if core.is_array_like(out)
           else f"a {type(out).__name__}" + (f" of length {len(out)}"
                                             if isinstance(out, (tuple, list)) else ""))
    raise ControlFlowTypeError(f"functrans.lax.{what}: {fun_name} must return a pair "
                               f"(new_carry, y), got {got}{_site()}. Return (carry, None) when "
                               f"there is nothing to stack.")


def _check_callable(what: str, **funs: Any) -> None:
    for name, f in funs.items():
        if not callable(f):
            raise TypeError(f"functrans.lax.{what}: {name} must be callable, got "
                            f"{type(f).__name__}")


def _scalar_predicate(what: str, fun_name: str, out: Any) -> Any:
    """The boolean scalar a loop condition returned (checked)."""
    flat, tree = tree_util.tree_flatten(out)
    avals = [core.get_aval(x) for x in flat]
    if len(flat) != 1 or avals[0].shape or avals[0].dtype != dt.bool_:
        raise ControlFlowTypeError(
            f"functrans.lax.{what}: {fun_name} must return a boolean scalar, got "
            f"{', '.join(a.str_short() for a in avals) or tree}{_site()}. Reduce an array "
            f"condition with fnp.all/fnp.any, or compare (x < n) to get a bool.")
    return flat[0]


# --- cond and switch ----------------------------------------------------------------------------


@api_boundary
def cond(pred: Any, true_fun: Any, false_fun: Any, *operands: Any,
         operand: Any = _NO_OPERAND) -> Any:
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``.

    >>> import functrans as ft, functrans.numpy as fnp
    >>> float(ft.lax.cond(3.0 > 2.0, fnp.sin, fnp.cos, 0.0))
    0.0

    ``pred`` is a scalar bool (or a number, compared with 0). Both branches must return the
    same pytree structure and types. Under a transformation both are traced; under ``vmap``
    with a batched ``pred`` both run and each example selects its own result, as in JAX.
    Also accepts the legacy form ``cond(pred, true_operand, true_fun, false_operand,
    false_fun)``.
    """
    if operand is not _NO_OPERAND:
        if operands:
            raise TypeError("functrans.lax.cond: pass operands either positionally or as "
                            "operand=, not both")
        operands = (operand,)
    if (not callable(true_fun) and callable(false_fun) and len(operands) == 2
            and callable(operands[1])):
        t_op, t_fun, f_op, f_fun = true_fun, false_fun, operands[0], operands[1]
        return cond(pred, lambda ops: t_fun(ops[0]), lambda ops: f_fun(ops[1]), (t_op, f_op))
    _check_callable("cond", true_fun=true_fun, false_fun=false_fun)
    pred = _predicate(pred)
    if _eager():
        return _as_arrays((true_fun if bool(pred) else false_fun)(*_as_arrays(operands)))
    index = convert_element_type(pred, dt.int32)
    return _cond("cond", index, (false_fun, true_fun), ("false_fun", "true_fun"), operands)


def _predicate(pred: Any) -> Any:
    if pred is None:
        raise TypeError("functrans.lax.cond: the predicate is None")
    if isinstance(pred, (list, tuple)):
        raise TypeError(f"functrans.lax.cond: the predicate must be a scalar, got a "
                        f"{type(pred).__name__}")
    aval = core.get_aval(pred)
    if aval.shape:
        raise TypeError(f"functrans.lax.cond: the predicate must be a scalar, got "
                        f"{aval.str_short()}. For an elementwise choice use fnp.where; to "
                        f"branch on a whole array reduce it first (fnp.all, fnp.any).")
    if aval.dtype.kind == "b":
        return pred
    if aval.dtype.kind in "iuf":
        return ne(pred, np.zeros((), aval.dtype))
    raise TypeError(f"functrans.lax.cond: the predicate must be a bool or a number, got "
                    f"{aval.str_short()}")


@api_boundary
def switch(index: Any, branches: Sequence[Callable], *operands: Any,
           operand: Any = _NO_OPERAND) -> Any:
    """``branches[index](*operands)``, with ``index`` clamped to ``[0, len(branches) - 1]``.

    >>> import functrans as ft
    >>> float(ft.lax.switch(5, [lambda x: x, lambda x: x + 1.0], 1.0))
    2.0
    """
    if operand is not _NO_OPERAND:
        operands = (*operands, operand)
    branches = tuple(branches)
    if not branches:
        raise ValueError("functrans.lax.switch: branches must be a non-empty sequence of "
                         "callables")
    _check_callable("switch", **{f"branches[{k}]": b for k, b in enumerate(branches)})
    aval = core.get_aval(index)
    if aval.shape or aval.dtype.kind not in "iu":
        raise TypeError(f"functrans.lax.switch: the index must be an integer scalar, got "
                        f"{aval.str_short()}")
    n = len(branches)
    if _eager():
        return _as_arrays(branches[min(max(int(index), 0), n - 1)](*_as_arrays(operands)))
    if n == 1:
        return branches[0](*operands)
    index = clamp(np.int32(0), convert_element_type(index, dt.int32), np.int32(n - 1))
    return _cond("switch", index, branches, tuple(f"branches[{k}]" for k in range(n)), operands)


def _cond(what: str, index: Any, funs: Sequence[Callable], names: Sequence[str],
          operands: tuple) -> Any:
    ops_flat, ops_tree = tree_util.tree_flatten(operands)
    avals = [core.get_aval(x) for x in ops_flat]
    traced = [_trace(what, f, ops_tree, avals, (f, operands)) for f in funs]
    # cond's branches are (false_fun, true_fun); messages name them in the user's order.
    ref = len(traced) - 1 if what == "cond" else 0
    first = traced[ref]
    for k, t in enumerate(traced):
        if k == ref:
            continue
        head = (f"functrans.lax.{what}: {names[ref]} and {names[k]} must return the same "
                f"types{_site()}")
        if t.out_tree != first.out_tree:
            raise _structure_error(head, (f"{names[ref]} returns", first.out_tree),
                                   (f"{names[k]} returns", t.out_tree))
    # Each output's type is the branches' types joined: weakly typed only if weak in every
    # branch, and a weakly typed value (a Python scalar) takes the others' dtype.
    targets = []
    for j, a in enumerate(first.out_avals):
        dtype, weak = dt.result_type_of(*[(t.out_avals[j].dtype, t.out_avals[j].weak_type)
                                          for t in traced])
        targets.append(ShapedArray(a.shape, dtype, weak))
    for k, t in enumerate(traced):
        if k != ref:
            _check_fits(f"functrans.lax.{what}: {names[ref]} and {names[k]} must return the "
                        f"same types{_site()}", (f"{names[ref]} returns", f"{names[k]} returns"),
                        _paths(first.out_tree, "output"), first.out_avals, t.out_avals, targets,
                        "Fix: make every branch return the same shapes and dtypes (cast "
                        "with .astype(...), broadcast with fnp.broadcast_to).")
    traced = [t if t.out_avals == targets
              else _trace(what, f, ops_tree, avals, (f, operands), targets)
              for t, f in zip(traced, funs, strict=True)]
    consts = [c for t in traced for c in t.consts]
    const_avals = [core.get_aval(c) for c in consts]
    branches, start = [], 0
    for t in traced:
        end = start + len(t.consts)
        widened = sp.add_invars(t.jaxpr, const_avals[end:], len(t.consts))
        branches.append(sp.add_invars(widened, const_avals[:start], 0))
        start = end
    outs = cond_p.bind(index, *consts, *ops_flat, branches=tuple(branches))
    return tree_util.tree_unflatten(first.out_tree, outs)


# --- while_loop and fori_loop -------------------------------------------------------------------


@api_boundary
def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any, *,
               max_steps: int | None = None) -> Any:
    """Repeat ``val = body_fun(val)`` while ``cond_fun(val)``; return the final ``val``.

    >>> import functrans as ft
    >>> int(ft.lax.while_loop(lambda i: i < 10, lambda i: i + 3, 0))
    12

    ``val`` is any pytree; ``body_fun`` must return the same structure and types. Unlike JAX,
    functrans differentiates while loops in reverse mode (``grad``): the forward loop
    records one set of residuals per iteration (memory grows with the trip count; wrap
    ``body_fun`` in ``functrans.checkpoint`` to store only the carry and recompute the rest),
    and the backward loop runs the transposed body over them in reverse order. Under ``jit``
    the backward pass reruns the forward loop to record them (twice the forward compute).

    ``max_steps=N`` (beyond JAX) stops after at most N iterations and lowers the loop to a
    fixed-length ``scan`` whose steps after the condition turns false do nothing: its
    residuals have a fixed shape, which compiled backends prefer.
    """
    _check_callable("while_loop", cond_fun=cond_fun, body_fun=body_fun)
    if max_steps is not None and (not isinstance(max_steps, int) or isinstance(max_steps, bool)
                                  or max_steps < 0):
        raise ValueError(f"functrans.lax.while_loop: max_steps must be a non-negative int or "
                         f"None, got {max_steps!r}")
    if _eager():
        return _while_eager("while_loop", cond_fun, body_fun, init_val, max_steps)
    if max_steps is not None:
        return _bounded_while(cond_fun, body_fun, init_val, max_steps)
    return _while("while_loop", cond_fun, body_fun, init_val)


def _while_eager(what: str, cond_fun: Callable, body_fun: Callable, init_val: Any,
                 max_steps: int | None) -> Any:
    val = _as_arrays(init_val)
    flat, tree = tree_util.tree_flatten(val)
    avals = [core.get_aval(x) for x in flat]
    steps = 0
    while max_steps is None or steps < max_steps:
        if not bool(_scalar_predicate(what, "cond_fun", cond_fun(val))):
            break
        val, avals = _check_carry_eager(what, "body_fun", tree, avals, body_fun(val))
        steps += 1
    return val


def _while(what: str, cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    body = _trace_body(what, "body_fun", body_fun, init_val)
    init = body.init
    tree = tree_util.tree_structure(init_val)
    carry_avals = [core.get_aval(x) for x in init]
    init_tree = tree_util.tree_structure(tuple(init))

    def cond_flat(*leaves: Any) -> Any:
        return _scalar_predicate(what, "cond_fun", cond_fun(tree_util.tree_unflatten(tree,
                                                                                     leaves)))

    c = _trace(what, cond_flat, init_tree, carry_avals, (cond_fun, (init_val,)))
    outs = while_p.bind(*c.consts, *body.consts, *init, cond_jaxpr=c.jaxpr,
                        body_jaxpr=body.jaxpr, cond_nconsts=len(c.consts),
                        body_nconsts=len(body.consts))
    return tree_util.tree_unflatten(tree, outs)


def _bounded_while(cond_fun: Callable, body_fun: Callable, init_val: Any, max_steps: int
                   ) -> Any:
    """A while loop of at most ``max_steps`` iterations as a fixed-length scan: each step runs
    the body under a cond, so finished steps cost (and differentiate to) nothing."""
    body = _trace_body("while_loop", "body_fun", body_fun, init_val)  # checks, promotes
    init = tree_util.tree_unflatten(tree_util.tree_structure(init_val), body.init)

    def step(val: Any, _: Any) -> tuple[Any, None]:
        pred = _scalar_predicate("while_loop", "cond_fun", cond_fun(val))
        return cond(pred, body_fun, lambda v: v, val), None

    out, _ = _scan("while_loop", "body_fun", step, init, None, max_steps, False, 1)
    return out


@api_boundary
def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any, *,
              unroll: int | bool | None = None) -> Any:
    """``for i in range(lower, upper): val = body_fun(i, val)``; return ``val``.

    >>> import functrans as ft
    >>> int(ft.lax.fori_loop(0, 4, lambda i, total: total + i, 0))
    6

    With concrete bounds (Python ints, or values known at trace time) this is a ``scan``;
    with traced bounds a ``while_loop`` (both are differentiable in reverse mode here).
    """
    _check_callable("fori_loop", body_fun=body_fun)
    lo_aval, hi_aval = core.get_aval(lower), core.get_aval(upper)
    for name, a in (("lower", lo_aval), ("upper", hi_aval)):
        if a.shape or a.dtype.kind not in "iu":
            raise TypeError(f"functrans.lax.fori_loop: {name} must be an integer scalar, got "
                            f"{a.str_short()}")
    dtype, _ = dt.result_type_of((lo_aval.dtype, lo_aval.weak_type),
                                 (hi_aval.dtype, hi_aval.weak_type))
    if dtype.kind not in "iu":
        dtype = dt.int32 if lo_aval.dtype.kind == "i" else lo_aval.dtype
    if _eager():
        val = _as_arrays(init_val)
        flat, tree = tree_util.tree_flatten(val)
        avals = [core.get_aval(x) for x in flat]
        for i in range(int(lower), int(upper)):
            val, avals = _check_carry_eager("fori_loop", "body_fun", tree, avals,
                                            body_fun(core.Array(np.asarray(i, dtype)), val))
        return val
    lo, hi = core.concrete_or_none(lower), core.concrete_or_none(upper)
    start = convert_element_type(lower, dtype)
    one = np.ones((), dtype)
    if lo is not None and hi is not None and not isinstance(lo, core.Tracer) and \
            not isinstance(hi, core.Tracer):
        length = max(int(hi) - int(lo), 0)
        n_unroll = 1 if unroll is None else unroll

        def step(carry: Any, _: Any) -> tuple[Any, None]:
            i, x = carry
            return (add(i, one), body_fun(i, x)), None

        (_, out), _ = _scan("fori_loop", "body_fun", step, (start, init_val), None, length,
                            False, n_unroll)
        return out
    stop = convert_element_type(upper, dtype)

    def cond_fun(carry: Any) -> Any:
        return lt(carry[0], carry[1])

    def body(carry: Any) -> Any:
        i, n, x = carry
        return add(i, one), n, body_fun(i, x)

    return _while("fori_loop", cond_fun, body, (start, stop, init_val))[2]


# --- scan and map ---------------------------------------------------------------------------------


@api_boundary
def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False, unroll: int | bool = 1, _split_transpose: bool = False
         ) -> tuple[Any, Any]:
    """Loop ``carry, y = f(carry, x)`` over the leading axis of ``xs``; return the final carry
    and the stacked ``y``s (JAX's ``lax.scan``).

    >>> import numpy as np, functrans as ft
    >>> total, partial = ft.lax.scan(lambda c, x: (c + x, c + x), 0.0, np.arange(4.0))
    >>> float(total), partial.tolist()
    (6.0, [0.0, 1.0, 3.0, 6.0])

    ``xs`` is a pytree of arrays with a common leading size (or None with ``length``).
    ``reverse=True`` scans from the end (ys stay in index order). ``unroll`` is accepted for
    compatibility; the NumPy backend runs one compiled body per step either way.
    """
    return _scan("scan", "f", f, init, xs, length, reverse, unroll)


def _scan(what: str, fun_name: str, f: Callable, init: Any, xs: Any, length: int | None,
          reverse: bool, unroll: int | bool) -> tuple[Any, Any]:
    _check_callable(what, **{fun_name: f})
    xs_flat, xs_tree = tree_util.tree_flatten(xs)
    x_avals = [core.get_aval(x) for x in xs_flat]
    for p, a in zip(_paths(xs_tree, "xs"), x_avals, strict=True):
        if not a.shape:
            raise ValueError(f"functrans.lax.{what}: every leaf of xs needs a leading axis to "
                             f"scan over, but {p} is a scalar ({a.str_short()})")
    sizes = {a.shape[0] for a in x_avals}
    if len(sizes) > 1:
        shown = ", ".join(f"{p}: {a.shape[0]}" for p, a in zip(_paths(xs_tree, "xs"), x_avals,
                                                               strict=True))
        raise ValueError(f"functrans.lax.{what}: the leaves of xs have different leading axis "
                         f"sizes ({shown})")
    if length is not None:
        value = core.concrete_or_none(length)
        if value is None or isinstance(value, core.Tracer):
            raise TypeError(f"functrans.lax.{what}: length must be a concrete int (it sets the "
                            f"shape of the stacked outputs), got a traced value; pass a Python "
                            f"int or mark it static")
        length = operator.index(value)
        if sizes and sizes != {length}:
            raise ValueError(f"functrans.lax.{what}: length={length} disagrees with the leading "
                             f"axis size {sizes.pop()} of xs")
    elif sizes:
        length = sizes.pop()
    else:
        raise ValueError(f"functrans.lax.{what}: xs has no arrays to scan over; pass length=")
    if length < 0:
        raise ValueError(f"functrans.lax.{what}: length must be non-negative, got {length}")
    if isinstance(unroll, bool):
        unroll = max(length, 1) if unroll else 1
    if not isinstance(unroll, int) or unroll < 1:
        raise ValueError(f"functrans.lax.{what}: unroll must be a positive int or a bool, got "
                         f"{unroll!r}")
    reverse = bool(reverse)
    if _eager():
        return _scan_eager(what, fun_name, f, init, xs_flat, xs_tree, x_avals, length, reverse)
    slices = [ShapedArray(a.shape[1:], a.dtype, a.weak_type) for a in x_avals]
    body = _trace_body(what, fun_name, f, init, xs, slices, xs_tree)
    carry_tree = tree_util.tree_structure(init)
    n = len(body.init)
    outs = scan_p.bind(*body.consts, *body.init, *xs_flat, jaxpr=body.jaxpr, length=length,
                       reverse=reverse, unroll=min(unroll, max(length, 1)),
                       num_consts=len(body.consts), num_carry=n,
                       linear=(False,) * (len(body.consts) + n + len(xs_flat)))
    return (tree_util.tree_unflatten(carry_tree, outs[:n]),
            tree_util.tree_unflatten(body.y_tree, outs[n:]))


def _scan_eager(what: str, fun_name: str, f: Callable, init: Any, xs_flat: list,
                xs_tree: tree_util.PyTreeDef, x_avals: list[ShapedArray], length: int,
                reverse: bool) -> tuple[Any, Any]:
    carry = _as_arrays(init)
    flat, tree = tree_util.tree_flatten(carry)
    avals = [core.get_aval(x) for x in flat]
    xs_np = [core.to_numpy(x) for x in xs_flat]
    ys: list[Any] = [None] * length
    for i in (range(length - 1, -1, -1) if reverse else range(length)):
        x = tree_util.tree_unflatten(xs_tree, [core.Array(v[i], a.weak_type)
                                               for v, a in zip(xs_np, x_avals, strict=True)])
        out = f(carry, x)
        _check_pair(what, fun_name, out)
        carry, avals = _check_carry_eager(what, fun_name, tree, avals, out[0])
        ys[i] = out[1]
    if length == 0:
        slices = [ShapedArray(a.shape[1:], a.dtype, a.weak_type) for a in x_avals]
        body = _trace_body(what, fun_name, f, carry, tree_util.tree_unflatten(xs_tree, xs_flat),
                           slices, xs_tree)
        empty = [core.Array(np.empty((0, *a.shape), a.dtype), a.weak_type)
                 for a in body.y_avals]
        return carry, tree_util.tree_unflatten(body.y_tree, empty)
    first_flat, y_tree = tree_util.tree_flatten(ys[0])
    y_avals = [core.get_aval(y) for y in first_flat]
    columns: list[list[np.ndarray]] = [[] for _ in first_flat]
    for i, y in enumerate(ys):
        flat_y, t = tree_util.tree_flatten(y)
        if t != y_tree or not all(_same(core.get_aval(v), a) for v, a in zip(flat_y, y_avals)):
            raise ControlFlowTypeError(
                f"functrans.lax.{what}: {fun_name} must return ys of one type at every "
                f"iteration to stack them, but iteration {i} returns "
                f"{[core.get_aval(v).str_short() for v in flat_y]} ({t}) and iteration 0 "
                f"{[a.str_short() for a in y_avals]} ({y_tree}){_site()}")
        for col, v in zip(columns, flat_y, strict=True):
            col.append(core.to_numpy(v))
    stacked = [core.Array(np.stack(col).astype(a.dtype, copy=False), a.weak_type)
               for col, a in zip(columns, y_avals, strict=True)]
    return carry, tree_util.tree_unflatten(y_tree, stacked)


@api_boundary
def map_(f: Callable, xs: Any, *, batch_size: int | None = None) -> Any:
    """``f`` applied to each slice of ``xs`` along its leading axis, results stacked (JAX's
    ``lax.map``; ``functrans.lax.map``). With ``batch_size``, ``f`` is vmapped over chunks of
    that many slices (the remainder in one smaller chunk): fewer, larger steps.

    >>> import numpy as np, functrans as ft
    >>> ft.lax.map(lambda x: x * 2, np.arange(3.0)).tolist()
    [0.0, 2.0, 4.0]
    """
    _check_callable("map", f=f)
    if batch_size is None:
        return _scan("map", "f", lambda _, x: ((), f(x)), (), xs, None, False, 1)[1]
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"functrans.lax.map: batch_size must be a positive int, got "
                         f"{batch_size!r}")
    from functrans.transforms.batching import vmap
    flat, tree = tree_util.tree_flatten(xs)
    sizes = {core.get_aval(x).shape[0] if core.get_aval(x).shape else None for x in flat}
    if len(sizes) != 1 or None in sizes:
        raise ValueError("functrans.lax.map: the leaves of xs need one common leading axis")
    n = sizes.pop()
    full, rest = divmod(n, batch_size)
    batched_f = vmap(f)
    pieces = []
    if full:
        main = [reshape(slice_in_dim(x, 0, full * batch_size), (full, batch_size,
                                                                 *core.get_aval(x).shape[1:]))
                for x in flat]
        _, ys = _scan("map", "f", lambda _, x: ((), batched_f(x)), (),
                      tree_util.tree_unflatten(tree, main), None, False, 1)
        pieces.append(tree_util.tree_map(
            lambda y: reshape(y, (full * batch_size, *core.get_aval(y).shape[2:])), ys))
    if rest or not full:
        tail = [slice_in_dim(x, full * batch_size, n) for x in flat]
        pieces.append(batched_f(tree_util.tree_unflatten(tree, tail)))
    if len(pieces) == 1:
        return pieces[0]
    return tree_util.tree_map(lambda a, b: concatenate([a, b], 0), *pieces)


# --- associative_scan -----------------------------------------------------------------------------


@api_boundary
def associative_scan(fn: Callable, elems: Any, reverse: bool = False, axis: int = 0) -> Any:
    """Inclusive prefix "sums" of ``elems`` along ``axis`` for an associative ``fn`` (JAX's
    ``lax.associative_scan``), in O(log n) rounds of whole-array work.

    >>> import numpy as np, functrans as ft
    >>> ft.lax.associative_scan(lambda a, b: a + b, np.arange(1.0, 6.0)).tolist()
    [1.0, 3.0, 6.0, 10.0, 15.0]

    ``fn(a, b)`` combines two pytrees of slices elementwise (it receives whole strided slices,
    so it must be vectorized); ``reverse=True`` scans from the end.
    """
    _check_callable("associative_scan", fn=fn)
    flat, tree = tree_util.tree_flatten(elems)
    if not flat:
        return elems
    avals = [core.get_aval(x) for x in flat]
    ndim = len(avals[0].shape)
    if not -ndim <= axis < ndim:
        raise ValueError(f"functrans.lax.associative_scan: axis {axis} is out of range for "
                         f"{avals[0].str_short()}")
    axis = axis % ndim
    sizes = {a.shape[axis] if len(a.shape) > axis else None for a in avals}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(f"functrans.lax.associative_scan: every leaf of elems needs the same "
                         f"size along axis {axis}, got "
                         f"{', '.join(a.str_short() for a in avals)}")
    if reverse:
        flat = [rev(x, (axis,)) for x in flat]

    def combine(a: list[Any], b: list[Any]) -> list[Any]:
        out = fn(tree_util.tree_unflatten(tree, a), tree_util.tree_unflatten(tree, b))
        out_flat, out_tree = tree_util.tree_flatten(out)
        if out_tree != tree:
            raise ControlFlowTypeError(
                f"functrans.lax.associative_scan: fn must return the structure of its inputs "
                f"({tree}), got {out_tree}")
        return out_flat

    def prefix(xs: list[Any]) -> list[Any]:
        # The classic odd/even recursion: combine neighbouring pairs, scan the half-size
        # result, then fix up the even positions from it.
        n = core.get_aval(xs[0]).shape[axis]
        if n < 2:
            return xs
        pairs = combine([slice_in_dim(x, 0, n - 1, 2, axis) for x in xs],
                        [slice_in_dim(x, 1, n, 2, axis) for x in xs])
        odd = prefix(pairs)  # prefixes ending at positions 1, 3, 5, ...
        m = (n - 1) // 2     # even positions 2, 4, ... that follow an odd prefix
        if m:
            evens = combine([slice_in_dim(o, 0, m, 1, axis) for o in odd],
                            [slice_in_dim(x, 2, n, 2, axis) for x in xs])
        else:
            evens = [slice_in_dim(x, 2, 2, 1, axis) for x in xs]
        evens = [concatenate([slice_in_dim(x, 0, 1, 1, axis), e], axis)
                 for x, e in zip(xs, evens, strict=True)]
        return [_interleave(e, o, axis) for e, o in zip(evens, odd, strict=True)]

    out = prefix(flat)
    if reverse:
        out = [rev(x, (axis,)) for x in out]
    return tree_util.tree_unflatten(tree, out)


def _interleave(even: Any, odd: Any, axis: int) -> Any:
    """e0 o0 e1 o1 ... along ``axis`` (``even`` may be one longer than ``odd``)."""
    from functrans.primitives.structural import broadcast_in_dim
    e_shape = core.get_aval(even).shape
    k = core.get_aval(odd).shape[axis]
    head = slice_in_dim(even, 0, k, 1, axis) if e_shape[axis] != k else even

    def spread(x: Any) -> Any:
        shape = core.get_aval(x).shape
        out = (*shape[:axis + 1], 1, *shape[axis + 1:])
        dims = tuple(i if i <= axis else i + 1 for i in range(len(shape)))
        return broadcast_in_dim(x, out, dims)

    both = concatenate([spread(head), spread(odd)], axis + 1)
    merged = reshape(both, (*e_shape[:axis], 2 * k, *e_shape[axis + 1:]))
    if e_shape[axis] != k:
        merged = concatenate([merged, slice_in_dim(even, k, k + 1, 1, axis)], axis)
    return merged

