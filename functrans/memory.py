"""Peak-memory estimates on jaxprs, and the ``memory_budget=`` option of ``vmap``, ``jacfwd``,
``jacrev`` and ``hessian`` (the chunk size they pick from it).

The estimate is a liveness walk over a jaxpr's equations, in program order. At each equation
it adds up the bytes (``size * itemsize`` of the avals) of the values alive there: inputs and
captured constants until their last use, each intermediate result from the equation that
makes it to its last use, the program's outputs to the end. A sub-program adds its own peak
on top of the values alive around it: ``cond`` the largest branch, ``while`` the body or
predicate plus the previous iteration's carry, ``scan`` the body plus the previous carry, the
current slice of each ``xs`` and the whole stacked ``ys`` (preallocated), other call-like
primitives (jit, remat, custom rules) their largest sub-program. It ignores what a jaxpr
cannot show: NumPy temporaries inside a primitive's implementation, views that share a
buffer, allocator overhead and caching, and (for sub-programs) their captured constants.

For ``vmap``, each alive value is counted as either *batched* (it depends on a mapped
input, so a chunk of k examples holds k copies) or not (built from unmapped inputs and
constants only: one copy whatever k). A chunk of k examples then peaks at
``max over steps of k * batched + unbatched``, and the chunk size is the largest k that fits.
Imports ``core``, ``errors``, ``ir`` (``api`` lazily).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from functrans import errors
from functrans.core import ShapedArray
from functrans.ir import ClosedJaxpr, Jaxpr, Var

# A cost is (bytes per example of the batch, bytes that do not grow with the batch).
Cost = tuple[int, int]

_UNITS = {"B": 1, "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_BUDGET_TEXT = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]+)\s*")


def parse_budget(what: str, budget: Any) -> int:
    """``budget`` in bytes: a positive int, or a string with a unit such as ``"512MB"``,
    ``"1.5GB"`` or ``"2GiB"`` (kB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of 1024)."""
    hint = ("give a positive number of bytes as an int (memory_budget=2**30) or a string with "
            "a unit: '512MB', '1.5GB', '2GiB' (units B, kB, MB, GB, TB: powers of 1000; "
            "KiB, MiB, GiB, TiB: powers of 1024)")
    if isinstance(budget, str):
        m = _BUDGET_TEXT.fullmatch(budget)
        if m is None or m.group(2) not in _UNITS:
            raise ValueError(f"functrans.{what}: memory_budget={budget!r} is not understood; "
                             f"{hint}")
        n = int(Fraction(m.group(1)) * _UNITS[m.group(2)])
    elif isinstance(budget, bool):
        raise TypeError(f"functrans.{what}: memory_budget must be an int or a string, got "
                        f"{budget!r}; {hint}")
    else:
        try:
            n = operator.index(budget)
        except TypeError:
            raise TypeError(f"functrans.{what}: memory_budget must be an int or a string, got "
                            f"{type(budget).__name__} {budget!r}; {hint}") from None
    if n < 1:
        raise ValueError(f"functrans.{what}: memory_budget={budget!r} is less than one byte; "
                         f"{hint}")
    return n


def check_chunking(what: str, chunk_size: Any, memory_budget: Any) -> int | None:
    """The budget in bytes (None without one); ``chunk_size`` and ``memory_budget`` are two
    ways of saying the same thing, so at most one may be given."""
    if memory_budget is None:
        return None
    if chunk_size is not None:
        raise ValueError(f"functrans.{what}: pass chunk_size or memory_budget, not both "
                         f"(got chunk_size={chunk_size!r}, memory_budget={memory_budget!r}); "
                         f"memory_budget picks the chunk size itself")
    return parse_budget(what, memory_budget)


# --- the liveness walk --------------------------------------------------------------------------


def aval_bytes(aval: ShapedArray) -> int:
    return aval.size * aval.dtype.itemsize


class MemoryProfile:
    """The bytes alive at each step of a program, as (batched, unbatched) pairs; see the
    module docstring for what is counted."""

    __slots__ = ("steps",)

    def __init__(self, steps: list[Cost]):
        self.steps = steps

    def peak(self, k: int = 1) -> int:
        """Estimated peak bytes with ``k`` examples of the batch evaluated together."""
        return max((k * b + u for b, u in self.steps), default=0)

    def max_chunk(self, budget: int) -> int | None:
        """The largest k whose peak fits in ``budget`` bytes: 0 if not even one example fits,
        None if no k is too large (nothing grows with the batch)."""
        best: int | None = None
        for b, u in self.steps:
            if b == 0:
                if u > budget:
                    return 0
                continue
            k = max(0, (budget - u) // b)
            best = k if best is None else min(best, k)
        return best


def profile_jaxpr(jaxpr: Jaxpr, batched: Sequence[bool] | None = None) -> MemoryProfile:
    """The memory profile of running ``jaxpr``; ``batched[i]`` says whether input i is mapped
    (default: all are; captured constants never are)."""
    flags = [True] * len(jaxpr.invars) if batched is None else list(batched)
    return MemoryProfile(_walk(jaxpr, flags, count_inputs=True))


def _add(a: Cost, b: Cost) -> Cost:
    return a[0] + b[0], a[1] + b[1]


def _sub_cost(a: Cost, b: Cost) -> Cost:
    return a[0] - b[0], a[1] - b[1]


def _cost(avals: Sequence[ShapedArray], batched: bool) -> Cost:
    n = sum(aval_bytes(a) for a in avals)
    return (n, 0) if batched else (0, n)


def _walk(jaxpr: Jaxpr, in_batched: Sequence[bool], count_inputs: bool) -> list[Cost]:
    """The (batched, unbatched) bytes alive at each equation, then at the return. Nested
    programs (``count_inputs=False``) leave out their inputs: the caller holds those."""
    n = len(jaxpr.eqns)
    start: dict[Var, int] = {}
    last: dict[Var, int] = {}
    is_batched: dict[Var, bool] = {}
    for v, flag in [(v, False) for v in jaxpr.constvars] + list(
            zip(jaxpr.invars, in_batched, strict=True)):
        is_batched[v] = flag
        if count_inputs:
            start[v] = last[v] = 0
    for i, eqn in enumerate(jaxpr.eqns):
        flag = any(is_batched.get(a, False) for a in eqn.invars if type(a) is Var)
        for a in eqn.invars:
            if type(a) is Var and a in start:
                last[a] = i
        for v in eqn.outvars:
            is_batched[v] = flag
            start[v] = last[v] = i
    for a in jaxpr.outvars:
        if type(a) is Var and a in start:
            last[a] = n

    # Sweep: values enter at their first step and leave after their last.
    enter: list[list[Var]] = [[] for _ in range(n + 1)]
    leave: list[list[Var]] = [[] for _ in range(n + 1)]
    for v, s in start.items():
        enter[s].append(v)
        leave[last[v]].append(v)
    steps: list[Cost] = []
    alive: Cost = (0, 0)
    for i in range(n + 1):
        for v in enter[i]:
            alive = _add(alive, _cost([v.aval], is_batched[v]))
        steps.append(alive)
        if i < n:
            eqn = jaxpr.eqns[i]
            inner = _inner_steps(eqn, [is_batched.get(a, False) if type(a) is Var else False
                                       for a in eqn.invars])
            if inner:
                outs = _cost([v.aval for v in eqn.outvars], is_batched[eqn.outvars[0]]
                             if eqn.outvars else False)
                steps.extend(_add(_sub_cost(alive, outs), s) for s in inner)
        for v in leave[i]:
            alive = _sub_cost(alive, _cost([v.aval], is_batched[v]))
    return steps


def _sub(p: Any) -> Jaxpr:
    return p.jaxpr if isinstance(p, ClosedJaxpr) else p


def _inner_steps(eqn: Any, in_batched: list[bool]) -> list[Cost]:
    """The bytes a sub-program equation allocates while it runs, beyond its operands (its
    results included), one entry per inner step; [] for an ordinary equation."""
    params = eqn.params
    anyb = any(in_batched)
    name = eqn.prim.name
    if name == "scan":
        body = _sub(params["jaxpr"])
        nc, nk = params["num_consts"], params["num_carry"]
        flags = in_batched[:nc] + [anyb] * nk + in_batched[nc + nk:]
        carry_avals = [v.aval for v in body.invars[nc:nc + nk]]
        x_avals = [v.aval for v in body.invars[nc + nk:]]
        held = _add(_cost(carry_avals, anyb),
                    _add(_cost(x_avals, anyb), _cost([v.aval for v in eqn.outvars[nk:]], anyb)))
        return [_add(held, s) for s in _walk(body, flags, count_inputs=False)]
    if name == "while":
        cond, body = _sub(params["cond_jaxpr"]), _sub(params["body_jaxpr"])
        cn, bn = params["cond_nconsts"], params["body_nconsts"]
        consts_c, consts_b = in_batched[:cn], in_batched[cn:cn + bn]
        ncarry = len(in_batched) - cn - bn
        held = _cost([v.aval for v in eqn.outvars], anyb)  # the previous iteration's carry
        inner = (_walk(cond, consts_c + [anyb] * ncarry, count_inputs=False)
                 + _walk(body, consts_b + [anyb] * ncarry, count_inputs=False))
        return [_add(held, s) for s in inner]
    if name == "cond":
        return [s for br in params["branches"]
                for s in _walk(_sub(br), in_batched[1:], count_inputs=False)]
    out: list[Cost] = []
    for p in params.values():
        for sub in _sub_programs(p):
            flags = in_batched if len(sub.invars) == len(in_batched) else [anyb] * len(
                sub.invars)
            out.extend(_walk(sub, flags, count_inputs=False))
    return out


def _sub_programs(p: Any) -> list[Jaxpr]:
    if isinstance(p, (Jaxpr, ClosedJaxpr)):
        return [_sub(p)]
    if isinstance(p, (tuple, list)):
        return [s for q in p for s in _sub_programs(q)]
    return []


# --- public estimate and the chunk choice -------------------------------------------------------


def memory_estimate(fun: Callable, *args: Any, **kwargs: Any) -> int:
    """Estimated peak bytes of one call ``fun(*args, **kwargs)``, from its jaxpr (nothing is
    computed; arguments may be ``ShapeDtypeStruct``s).

    >>> import numpy as np, functrans as ft, functrans.numpy as fnp
    >>> ft.memory_estimate(lambda x: fnp.sin(x) * 2.0, np.ones(1000, np.float32))
    8000

    This is the per-example number ``vmap(f, memory_budget=...)`` divides the budget by: pass
    one example (``x[0]``) to see it. It counts every value alive at once (inputs until their
    last use, intermediates, outputs) and ignores NumPy temporaries inside a primitive and
    allocator overhead; see ``functrans.memory``.
    """
    from functrans.api import stage
    closed, _, _ = stage("memory_estimate", fun, args, kwargs, ())
    return profile_jaxpr(closed.jaxpr).peak()


_warned_sites: set[Any] = set()


def chunk_for_budget(what: str, closed: ClosedJaxpr, budget: int, size: int) -> int:
    """The number of examples to evaluate at once under ``budget`` bytes, for the per-example
    program ``closed`` (inputs mapped, captured constants not) and a batch of ``size``; warns
    (once per call site) and returns 1 when not even one example fits."""
    profile = profile_jaxpr(closed.jaxpr)
    k = profile.max_chunk(budget)
    if k is None:
        return size
    if k >= 1:
        return min(k, size)
    errors.warn_once_at(errors.user_frame(2), _warned_sites, lambda: (
        f"functrans.{what}: one example (one basis vector, for a Jacobian) needs about "
        f"{profile.peak()} bytes (estimated from its jaxpr, see functrans.memory_estimate), "
        f"more than memory_budget={budget} bytes; evaluating one example at a time. Raise the "
        f"budget or shrink the per-example work. (Warned once per call site.)"))
    return 1
