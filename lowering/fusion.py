"""Backend-agnostic fusion: partition a jaxpr's equations into fusion groups.

A group is a run of consecutive elementwise equations over one iteration shape (operands may
be 0-d or broadcastable to it), optionally closed by one reduction of a group value over that
shape (the reduction's *epilogue* position; its input is never materialized). Every other
equation stands alone. The NumPy backend evaluates large groups chunk by chunk with reused
buffers; the Triton backend turns a group into one kernel.
Imports the IR only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from functrans.ir import Eqn, Jaxpr, Var

ELEMENTWISE = frozenset({"unary", "binary", "compare", "logical", "select", "convert"})
REDUCTIONS = frozenset({"reduce_sum", "reduce_max", "reduce_min", "reduce_prod"})
MAX_GROUP = 64  # equations per group, as Inductor caps fusions


def is_elementwise(eqn: Eqn) -> bool:
    return (eqn.prim.family in ELEMENTWISE and not eqn.prim.multiple_results
            and eqn.prim.name not in ("bitcast_convert_type",))


@dataclass
class FusionGroup:
    """Equations evaluated together over ``shape``."""

    eqns: list[Eqn]
    shape: tuple[int, ...]
    inputs: list[Any] = field(default_factory=list)     # Vars/Literals read from outside
    outputs: list[Var] = field(default_factory=list)    # values needed after the group
    reduction: Eqn | None = None                        # a closing reduction, if any

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def all_eqns(self) -> list[Eqn]:
        return self.eqns + ([self.reduction] if self.reduction is not None else [])


Item = Eqn | FusionGroup


def fuse(jaxpr: Jaxpr) -> list[Item]:
    """The equations of ``jaxpr``, with runs of fusible ones replaced by groups."""
    uses = _use_counts(jaxpr)
    items: list[Item] = []
    current: list[Eqn] = []
    shape: tuple[int, ...] | None = None

    def close(reduction: Eqn | None = None) -> None:
        nonlocal current, shape
        if current:
            if len(current) == 1 and reduction is None:
                items.append(current[0])
            else:
                items.append(_finish(current, shape or (), reduction, uses, jaxpr))
        current, shape = [], None

    for eqn in jaxpr.eqns:
        if is_elementwise(eqn):
            out_shape = eqn.outvars[0].aval.shape
            if current and (out_shape != shape or len(current) >= MAX_GROUP):
                close()
            current.append(eqn)
            shape = out_shape
            continue
        if current and _closes_group(eqn, current, shape, uses):
            close(eqn)
            continue
        close()
        items.append(eqn)
    close()
    return items


def _closes_group(eqn: Eqn, group: list[Eqn], shape: Any, uses: dict[Var, int]) -> bool:
    """A reduction of a value made by the group, which nothing else reads."""
    if eqn.prim.name not in REDUCTIONS or not shape:
        return False
    x = eqn.invars[0]
    return (type(x) is Var and x.aval.shape == shape and uses.get(x, 0) == 1
            and any(x is v for e in group for v in e.outvars))


def _use_counts(jaxpr: Jaxpr) -> dict[Var, int]:
    counts: dict[Var, int] = {}
    for a in _all_reads(jaxpr):
        counts[a] = counts.get(a, 0) + 1
    return counts


def _all_reads(jaxpr: Jaxpr) -> Iterator[Var]:
    for e in jaxpr.eqns:
        for a in e.invars:
            if type(a) is Var:
                yield a
    for a in jaxpr.outvars:
        if type(a) is Var:
            yield a


def _finish(eqns: list[Eqn], shape: tuple[int, ...], reduction: Eqn | None,
            uses: dict[Var, int], jaxpr: Jaxpr) -> FusionGroup:
    produced = {v for e in eqns for v in e.outvars}
    inputs: list[Any] = []
    seen: set[int] = set()
    internal_reads: dict[Var, int] = {}
    for e in eqns + ([reduction] if reduction is not None else []):
        for a in e.invars:
            if type(a) is Var and a in produced:
                internal_reads[a] = internal_reads.get(a, 0) + 1
            elif id(a) not in seen:
                seen.add(id(a))
                inputs.append(a)
    outputs = [v for e in eqns for v in e.outvars
               if uses.get(v, 0) > internal_reads.get(v, 0)]
    return FusionGroup(list(eqns), shape, inputs, outputs, reduction)

