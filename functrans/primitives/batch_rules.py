"""Batching vocabulary shared by primitives and ``vmap``: axis data, moving batch dimensions,
and builders for batching rules.

A batching rule is ``rule(axis, vals, dims, **params) -> (out, out_dim)``: ``axis`` is the
``AxisData`` (size and name) of the vmap being applied, ``dims[i]`` the batch dimension of
``vals[i]`` (None when that operand is not batched), and ``out_dim`` the batch dimension of the
result (None if it is not batched; lists for multiple results). Rules compute with lax
wrappers, never a Python loop over the batch. Imports core and registry (lax lazily).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from functrans import core
from functrans.primitives.registry import RuleBuilder


class AxisData(NamedTuple):
    """The mapped axis of one ``vmap``: its size and (optional) name for collectives."""

    name: Any
    size: int


class BatchRule(RuleBuilder):
    """A batching rule made by a builder; ``define_primitive`` gives it its primitive."""

    __slots__ = ()


def shape_of(x: Any) -> tuple[int, ...]:
    return core.get_aval(x).shape


def moveaxis(x: Any, src: int, dst: int) -> Any:
    """Move axis ``src`` of ``x`` to position ``dst`` (a transpose, or nothing)."""
    if src == dst:
        return x
    from functrans import lax
    n = len(shape_of(x))
    perm = [i for i in range(n) if i != src]
    perm.insert(dst, src)
    return lax.transpose(x, tuple(perm))


def broadcast_batched(x: Any, size: int, dim: int = 0) -> Any:
    """An unbatched ``x`` given a batch dimension of ``size`` at ``dim`` (materialized)."""
    from functrans import lax
    shape = list(shape_of(x))
    out_shape = tuple(shape[:dim] + [size] + shape[dim:])
    dims = tuple(i for i in range(len(out_shape)) if i != dim)
    return lax.broadcast_in_dim(x, out_shape, dims)


def bdim_at_front(x: Any, bdim: int | None, size: int) -> Any:
    """``x`` with its batch dimension first, broadcasting it in if ``x`` is unbatched."""
    return broadcast_batched(x, size, 0) if bdim is None else moveaxis(x, bdim, 0)


def shift_axis(axis: int, bdim: int) -> int:
    """The position of per-example axis ``axis`` in a value batched at ``bdim``."""
    return axis + (1 if axis >= bdim else 0)


def per_example_ndim(x: Any, bdim: int | None) -> int:
    return len(shape_of(x)) - (0 if bdim is None else 1)


# --- builders ---------------------------------------------------------------------------------


def batch_elementwise(scalar_ok: Callable[[int], bool] = lambda i: True) -> BatchRule:
    """For elementwise primitives (with lax's 0-d operand broadcasting): batched operands get
    their batch dimension in a common position, unbatched arrays are broadcast to the batch,
    unbatched 0-d operands stay 0-d where ``scalar_ok(position)`` allows it (select_n's cases,
    for example, must all have the full shape)."""

    def build(prim: Any) -> Callable:
        def rule(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None],
                 **params: Any) -> tuple[Any, Any]:
            ranks = [per_example_ndim(v, d) for v, d in zip(vals, dims, strict=True)]
            out_rank = max(ranks)
            batched_dims = {d for d in dims if d is not None}
            # Fast path: every operand batched at the same place with the full rank.
            if (len(batched_dims) == 1 and all(d is not None for d in dims)
                    and all(r == out_rank for r in ranks)):
                out = prim.bind(*vals, **params)
                return out, (dims[0] if not prim.multiple_results else [dims[0]] * len(out))
            example_shape = next(shape_of(v) if d is None else
                                 tuple(s for i, s in enumerate(shape_of(v)) if i != d)
                                 for v, d, r in zip(vals, dims, ranks, strict=True)
                                 if r == out_rank)
            full = (axis.size, *example_shape)
            moved = []
            for i, (v, d, r) in enumerate(zip(vals, dims, ranks, strict=True)):
                if d is None and r == 0 and not scalar_ok(i):
                    from functrans import lax
                    moved.append(lax.broadcast_in_dim(v, full, ()))
                elif d is None:
                    moved.append(v if r == 0 else broadcast_batched(v, axis.size, 0))
                else:
                    v = moveaxis(v, d, 0)
                    if r == 0 and (out_rank or not scalar_ok(i)) and shape_of(v) != full:
                        from functrans import lax
                        v = lax.broadcast_in_dim(v, full, (0,))
                    moved.append(v)
            out = prim.bind(*moved, **params)
            return out, (0 if not prim.multiple_results else [0] * len(out))

        return rule

    return BatchRule(build)


def batch_unary() -> BatchRule:
    """For one-operand primitives that act on every element alike: apply as is."""

    def build(prim: Any) -> Callable:
        def rule(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None],
                 **params: Any) -> tuple[Any, Any]:
            out = prim.bind(*vals, **params)
            return out, ([dims[0]] * len(out) if prim.multiple_results else dims[0])

        return rule

    return BatchRule(build)


def batch_leading(core_rank: int | Callable[..., int] = 2) -> BatchRule:
    """For one-operand primitives that act on their trailing ``core_rank`` dimensions and map
    over the leading ones (matrix decompositions, FFTs); ``core_rank`` may be a function of the
    params. The batch dimension stays where it is unless it sits among the core dimensions;
    every result has it at the same position."""

    def build(prim: Any) -> Callable:
        def rule(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None],
                 **params: Any) -> tuple[Any, Any]:
            (x,), (d,) = vals, dims
            n_core = core_rank(**params) if callable(core_rank) else core_rank
            if d >= len(shape_of(x)) - n_core:
                x, d = moveaxis(x, d, 0), 0
            out = prim.bind(x, **params)
            return out, ([d] * len(out) if prim.multiple_results else d)

        return rule

    return BatchRule(build)
