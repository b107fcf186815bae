"""Vectorization: ``vmap`` as an interpreter (``BatchTrace``) that carries a batch dimension
through each primitive's ``batch`` rule.

A batched value is a ``BatchTracer``: the underlying array plus the position of its batch
dimension. Values without one are plain arrays. Rules live on the primitive records
(``primitives/batch_rules.py`` has the builders); a primitive without a rule raises, never
falls back to a Python loop. Named axes (``axis_name``) let collectives (psum, ...) reduce over
the mapped axis. ``chunk_size`` bounds peak memory by mapping over chunks of the batch;
``memory_budget`` picks that chunk size from a memory estimate (``functrans.memory``).
Imports core, memory, tree_util, batch_rules (and ad_rules' Zero).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from functrans import core, errors, memory, tree_util
from functrans.core import ShapedArray, Tracer
from functrans.errors import api_boundary
from functrans.primitives.ad_rules import Zero
from functrans.primitives.batch_rules import AxisData, broadcast_batched, moveaxis


class BatchTracer(Tracer):
    """A per-example value whose batch lives in dimension ``batch_dim`` of ``val``."""

    __slots__ = ("val", "batch_dim")

    def __init__(self, trace: BatchTrace, val: Any, batch_dim: int):
        self._trace = trace
        self.val = val
        self.batch_dim = batch_dim

    @property
    def aval(self) -> ShapedArray:
        a = core.get_aval(self.val)
        shape = a.shape[:self.batch_dim] + a.shape[self.batch_dim + 1:]
        return ShapedArray(shape, a.dtype, a.weak_type)


class BatchTrace(core.Trace):
    """Runs every primitive on whole batches through its batching rule."""

    __slots__ = ("axis",)

    def __init__(self, parent: core.Trace | None, debug: core.DebugInfo, axis: AxisData):
        super().__init__(parent, debug)
        self.axis = axis

    def process_primitive(self, prim: Any, args: Sequence[Any], params: dict) -> Any:
        vals: list[Any] = []
        dims: list[int | None] = []
        batched = False
        for a in args:
            if type(a) is BatchTracer and a._trace is self:
                vals.append(a.val)
                dims.append(a.batch_dim)
                batched = True
            else:
                core.check_tracer_alive(a)
                vals.append(a)
                dims.append(None)
        if not batched and prim.family == "collective":
            batched = self.names_this_axis(params.get("axis_name"))
        token = core._trace_var.set(self.parent)
        try:
            if not batched:
                return prim.bind(*vals, **params)
            rule = prim.batch
            if rule is None:
                raise errors.MissingRuleError(
                    f"functrans.vmap: primitive '{prim.name}' has no batching rule, so "
                    f"{self.debug.fun_location} cannot be vectorized through it (functrans never "
                    f"falls back to a slow per-example loop). Workaround: loop in Python and "
                    f"stack the results (fnp.stack([f(x) for x in xs])), or use lax.map.")
            out, out_dim = rule(self.axis, vals, dims, **params)
        finally:
            core._trace_var.reset(token)
        if prim.multiple_results:
            return [self.wrap(o, d) for o, d in zip(out, out_dim, strict=True)]
        return self.wrap(out, out_dim)

    def names_this_axis(self, axis_name: Any) -> bool:
        names = axis_name if isinstance(axis_name, tuple) else (axis_name,)
        return self.axis.name is not None and self.axis.name in names

    def wrap(self, val: Any, dim: int | None) -> Any:
        return val if dim is None else BatchTracer(self, val, dim)

    def unpack(self, x: Any) -> tuple[Any, int | None]:
        if type(x) is BatchTracer and x._trace is self:
            return x.val, x.batch_dim
        core.check_tracer_alive(x)
        return x, None

    def why_traced(self, tracer: Tracer) -> str:
        return (f"Inside functrans.vmap of {self.debug.fun_location} the value differs from one "
                f"example of the batch to the next, so it has no single Python value.")

    def concretization_fix(self, tracer: Tracer, conversion: str) -> str:
        if conversion == "bool":
            return ("Fix: use functrans.numpy.where(pred, x, y) to choose per example, or "
                    "functrans.lax.cond (which vmap turns into a select that runs both "
                    "branches).")
        return ("Fix: compute with functrans.numpy functions, which work per example, instead "
                "of Python numbers.")


def axis_bound(name: Any) -> bool:
    """Is ``name`` the axis name of an enclosing vmap?"""
    trace = core.current_trace()
    while trace is not None:
        if isinstance(trace, BatchTrace) and trace.names_this_axis(name):
            return True
        trace = trace.parent
    return False


# --- vmap ---------------------------------------------------------------------------------------


def _flatten_axes(what: str, axes: Any, tree: Any, kind: str) -> list[int | None]:
    """Broadcast an axis-spec prefix tree against ``tree`` and flatten it (None = unmapped)."""
    try:
        full = tree_util.tree_broadcast(axes, tree, is_leaf=lambda x: x is None)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"functrans.vmap: {kind} must be a tree prefix of the {what}: {e}. Got {kind}="
            f"{axes!r} for {what} with structure {tree_util.tree_structure(tree)}") from None
    leaves = tree_util.tree_leaves(full, is_leaf=lambda x: x is None)
    for a in leaves:
        if a is not None and (not isinstance(a, int) or isinstance(a, bool)):
            raise TypeError(f"functrans.vmap: {kind} entries must be ints or None, got {a!r}")
    return leaves


def _canonical_axis(axis: int, ndim: int, what: str) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"functrans.vmap: {what}: axis {axis} is out of range for a value of "
                         f"rank {ndim}")
    return axis % ndim


def vmap(fun: Callable, in_axes: Any = 0, out_axes: Any = 0, axis_name: Any = None,
         axis_size: int | None = None, chunk_size: int | None = None,
         memory_budget: int | str | None = None) -> Callable:
    """Vectorize ``fun`` over an axis of its arguments (JAX's semantics).

    >>> import numpy as np, functrans as ft, functrans.numpy as fnp
    >>> ft.vmap(lambda x, y: fnp.dot(x, y), in_axes=(0, None))(np.ones((3, 2)), np.ones(2))
    Array([2., 2., 2.], dtype=float64)

    ``in_axes``/``out_axes`` are ints, None (not mapped) or pytree prefixes of the arguments /
    outputs; negative axes count from the end. ``axis_name`` names the axis for collectives
    (``lax.psum(x, 'i')``). ``axis_size`` is required when no argument is mapped.

    ``chunk_size=k`` (beyond JAX) evaluates the batch k examples at a time and concatenates
    the results: peak memory is that of one chunk's intermediates instead of the whole
    batch's, at the cost of ``ceil(B / k)`` calls. Results equal the unchunked ones.

    ``memory_budget`` (bytes: an int, or a string like ``"512MB"`` or ``"2GiB"``; instead of
    ``chunk_size``) picks the largest chunk whose estimated peak fits: ``fun`` is traced once
    per call on one example's shapes, and ``functrans.memory`` walks that jaxpr (see
    ``functrans.memory_estimate``). Values that do not depend on the mapped inputs count once,
    the rest once per example of the chunk. The estimate leaves out the full-size results
    (the concatenated output is allocated whatever the chunk) and NumPy temporaries. If not
    even one example fits, a ``PerformanceWarning`` is issued and chunks hold one example.
    Neither chunking option combines with ``axis_name``: collectives need the whole batch.
    """
    if not (in_axes is None or isinstance(in_axes, (int, tuple, list, dict))):
        raise TypeError(f"functrans.vmap: in_axes must be an int, None, or a tuple/list/dict "
                        f"of them, got {type(in_axes).__name__}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"functrans.vmap: chunk_size must be a positive int, got "
                         f"{chunk_size!r}")
    budget = memory.check_chunking("vmap", chunk_size, memory_budget)
    if (budget is not None or chunk_size is not None) and axis_name is not None:
        which = "memory_budget" if budget is not None else "chunk_size"
        raise ValueError(f"functrans.vmap: {which} cannot be combined with axis_name="
                         f"{axis_name!r}: collectives over the axis need the whole batch at "
                         f"once, and chunks would each see only part of it")

    @api_boundary
    @functools.wraps(fun)
    def vmapped(*args: Any, **kwargs: Any) -> Any:
        axes = in_axes
        if isinstance(in_axes, list):
            axes = tuple(in_axes)
        if isinstance(axes, tuple) and len(axes) != len(args):
            raise ValueError(
                f"functrans.vmap: in_axes has {len(axes)} entries but "
                f"{errors.function_location(fun)} was called with {len(args)} positional "
                f"arguments; give one entry (int, None, or a pytree prefix) per argument")
        flat_args, in_tree = tree_util.tree_flatten((args, kwargs))
        flat_axes = (_flatten_axes("positional arguments", axes, args, "in_axes")
                     + [0] * len(tree_util.tree_leaves(kwargs)))
        paths = ([f"args{p}" for p in tree_util.leaf_paths(args)]
                 + [f"kwargs{p}" for p in tree_util.leaf_paths(kwargs)])
        size, dims = _batch_size(fun, flat_args, flat_axes, paths, axis_size)
        chunk = chunk_size
        if budget is not None:
            chunk = _budget_chunk(fun, flat_args, dims, size, in_tree, budget)
        if chunk is not None and size > chunk:
            return _chunked(vmapped_flat, flat_args, dims, size, in_tree, chunk)
        results, out_tree, _ = vmapped_flat(flat_args, dims, size, in_tree)
        return tree_util.tree_unflatten(out_tree, results)

    def vmapped_flat(flat_args: list, dims: list, size: int, in_tree: Any
                     ) -> tuple[list, Any, list[int | None]]:
        """Flat results, their tree, and the batch axis of each (None: not mapped)."""
        tree: list[Any] = []

        def flat_fun(*ins: Any) -> list[Any]:
            a, k = tree_util.tree_unflatten(in_tree, ins)
            out = fun(*a, **k)
            flat_out, out_tree = tree_util.tree_flatten(out)
            tree[:] = [out, out_tree]
            return flat_out

        pairs = run_batched(flat_fun, AxisData(axis_name, size), flat_args, dims,
                            core.DebugInfo("vmap", fun))
        out, out_tree = tree
        flat_out_axes = _flatten_axes("outputs", out_axes, out, "out_axes")
        results, axes = [], []
        for (val, dim), ax, path in zip(pairs, flat_out_axes, tree_util.leaf_paths(out),
                                        strict=True):
            res, res_axis = _to_out_axis(val, dim, ax, size, path)
            results.append(res)
            axes.append(res_axis)
        return results, out_tree, axes

    return vmapped


def _batch_size(fun: Callable, flat_args: list, flat_axes: list, paths: list[str],
                axis_size: int | None) -> tuple[int, list[int | None]]:
    sizes: dict[str, int] = {}
    dims: list[int | None] = []
    for x, ax, path in zip(flat_args, flat_axes, paths, strict=True):
        if ax is None:
            dims.append(None)
            continue
        shape = core.get_aval(x).shape
        if not shape:
            raise ValueError(f"functrans.vmap: in_axes maps axis {ax} of {path}, but it is a "
                             f"scalar (rank 0); use in_axes=None for it")
        d = _canonical_axis(ax, len(shape), f"in_axes for {path}")
        dims.append(d)
        sizes[path] = shape[d]
    distinct = set(sizes.values())
    if axis_size is not None:
        distinct.add(axis_size)
    if len(distinct) > 1:
        shown = ", ".join(f"{p} has size {s}" for p, s in sizes.items())
        extra = f", axis_size={axis_size}" if axis_size is not None else ""
        raise ValueError(f"functrans.vmap: mapped axes must all have the same size, but "
                         f"{shown}{extra}")
    if not distinct:
        raise ValueError(f"functrans.vmap: no argument of {errors.function_location(fun)} is "
                         f"mapped (all in_axes are None); pass axis_size=... to say how many "
                         f"times to map it")
    return distinct.pop(), dims


def _to_out_axis(val: Any, dim: int | None, out_axis: int | None, size: int, path: str
                 ) -> tuple[Any, int | None]:
    if out_axis is None:
        if dim is not None:
            raise ValueError(f"functrans.vmap: out_axes is None for output {path or '(root)'}, "
                             f"but that output differs across the batch (it is batched); "
                             f"give it an out_axes int, or make it independent of the mapped "
                             f"inputs")
        return val, None
    rank = len(core.get_aval(val).shape) + (1 if dim is None else 0)
    target = _canonical_axis(out_axis, rank, f"out_axes for output {path or '(root)'}")
    if dim is None:
        return broadcast_batched(val, size, target), target
    return moveaxis(val, dim, target), target


def _budget_chunk(fun: Callable, flat_args: list, dims: list[int | None], size: int,
                  in_tree: Any, budget: int) -> int:
    """The chunk size for ``budget`` bytes: ``fun`` is staged once on one example (mapped
    leaves abstract, unmapped ones as they are, so Python code on them still works) and its
    jaxpr's memory profile decides."""
    from functrans import api_util
    from functrans.transforms.partial_eval import trace_to_jaxpr

    mapped = [i for i, d in enumerate(dims) if d is not None]
    avals = []
    for i in mapped:
        a, d = core.get_aval(flat_args[i]), dims[i]
        avals.append(ShapedArray(a.shape[:d] + a.shape[d + 1:], a.dtype, a.weak_type))
    flat_fun, _ = api_util.flatten_fun(fun, in_tree, "vmap")

    def per_example(*xs: Any) -> list:
        leaves = list(flat_args)
        for i, x in zip(mapped, xs, strict=True):
            leaves[i] = x
        return flat_fun(*leaves)

    closed = trace_to_jaxpr(per_example, avals, core.DebugInfo("vmap", fun))
    return memory.chunk_for_budget("vmap", closed, budget, size)


def _chunked(run: Callable, flat_args: list, dims: list, size: int, in_tree: Any,
             chunk: int) -> Any:
    """Evaluate ``chunk`` examples at a time and concatenate along each output's batch axis:
    only one chunk's intermediates are alive at once."""
    from functrans import lax

    pieces: list[list[Any]] = []
    out_tree, axes = None, None
    for start in range(0, size, chunk):
        stop = min(start + chunk, size)
        sliced = [x if d is None else lax.slice_in_dim(x, start, stop, axis=d)
                  for x, d in zip(flat_args, dims, strict=True)]
        results, out_tree, axes = run(sliced, dims, stop - start, in_tree)
        pieces.append(results)
    full = [parts[0] if axis is None else lax.concatenate(list(parts), axis)
            for parts, axis in zip(zip(*pieces, strict=True), axes, strict=True)]
    return tree_util.tree_unflatten(out_tree, full)


# --- batching sub-programs (for call-like primitives) -------------------------------------------


def run_batched(fn: Callable[..., list], axis: AxisData, args: Sequence[Any],
                dims: Sequence[int | None], debug: core.DebugInfo | None = None
                ) -> list[tuple[Any, int | None]]:
    """Call a per-example flat function ``fn(*args) -> list`` on batched ``args`` (batch
    dimension ``dims[i]`` of each, None: unbatched) under a new ``BatchTrace``; returns
    (value, batch dim) per output. Symbolic zeros and None pass through untouched, with
    their per-example avals (custom rules' tangents and cotangents)."""
    trace = BatchTrace(core.current_trace(), debug or core.DebugInfo("vmap", fn), axis)
    ins = [a if type(a) is Zero else trace.wrap(a, d) for a, d in zip(args, dims, strict=True)]
    try:
        with core.set_current_trace(trace):
            outs = fn(*ins)
        return [(o, None) if o is None or type(o) is Zero else trace.unpack(o) for o in outs]
    finally:
        trace.alive = False



def batch_jaxpr(closed: Any, axis: AxisData, in_dims: Sequence[int | None]
                ) -> tuple[Any, list[int | None]]:
    """A jaxpr computing ``closed`` on batched inputs (batch dims ``in_dims``), and the batch
    dimension of each of its outputs."""
    from functrans.ir import eval_jaxpr
    from functrans.transforms.partial_eval import trace_to_jaxpr

    out_dims: list[int | None] = []
    debug = core.DebugInfo("vmap", SubProgram())

    def fun(*args: Any) -> list[Any]:
        pairs = run_batched(lambda *ins: eval_jaxpr(closed.jaxpr, closed.consts, *ins), axis,
                            args, in_dims, debug)
        out_dims[:] = [d for _, d in pairs]
        return [v for v, _ in pairs]

    in_avals = [a if d is None else batched_aval(a, d, axis.size)
                for a, d in zip(closed.in_avals, in_dims, strict=True)]
    return trace_to_jaxpr(fun, in_avals, debug), list(out_dims)


def batched_aval(aval: ShapedArray, dim: int, size: int) -> ShapedArray:
    return ShapedArray(aval.shape[:dim] + (size,) + aval.shape[dim:], aval.dtype, aval.weak_type)


class SubProgram:
    """Names a sub-program in error messages (where a user function would be named)."""

    __qualname__ = __name__ = "<sub-program>"


def batch_function(fun: Callable, axis: AxisData, in_dims: Sequence[int | None],
                   out_dims: Sequence[int | None] | None = None
                   ) -> Callable[..., tuple[list[Any], list[int | None]]]:
    """Run a per-example flat function (list in, list out) on batched flat values; returns the
    outputs moved to ``out_dims`` when given (broadcasting unbatched ones), with their dims."""

    def run(*args: Any) -> tuple[list[Any], list[int | None]]:
        pairs = run_batched(fun, axis, args, in_dims)
        if out_dims is None:
            return [v for v, _ in pairs], [d for _, d in pairs]
        moved = []
        for (v, d), want in zip(pairs, out_dims, strict=True):
            if want is None:
                if d is not None:
                    raise ValueError("functrans.vmap: a custom rule returned a batched value "
                                     "where the function's output is not batched")
                moved.append(v)
            elif d is None:
                moved.append(broadcast_batched(v, axis.size, want))
            else:
                moved.append(moveaxis(v, d, want))
        return moved, list(out_dims)

    return run
