"""``coverage(f, *args)``: which transformation and backend rules the primitives of ``f`` have,
found by tracing ``f`` once, before anything runs.

Peers discover a missing rule only when the transformation runs (a slow per-example loop, or an
error in the backward pass). Here the traced jaxpr, every nested jaxpr included (cond branches,
loop bodies, custom-derivative functions, nested jit and checkpoint), is compared with the rule
slots of each primitive's registry record and with the backends' lowering tables, and
``check("vjp", "vmap")`` raises ``MissingRuleError`` naming the primitives and their source
lines. The report reads rule *presence*: the library keeps no separate table of rules that exist
but fail; a known gap is a missing rule (reverse mode through ``while_loop`` under
differentiation is ``while_transpose`` without a jvp rule: ``coverage(ft.grad(f), x)`` lists
it). Imports the core; the lowering tables are imported when a report is built (they import
neither triton nor cupy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from functrans import api, errors, ir
from functrans.errors import SourceInfo

TRANSFORMS = ("jvp", "vjp", "vmap", "numpy", "triton")


class Row(NamedTuple):
    """What one primitive of the traced function has.

    ``transpose`` is None for a primitive that is not linear (it needs none). ``differentiated``
    is False when every equation of the primitive sits inside a ``custom_jvp``/``custom_vjp``
    function, whose user rule replaces the primitive's own jvp rule. ``numpy``: "rule" (a
    template in the NumPy backend's table), "impl" (the generated code calls the primitive's
    NumPy impl) or "inlined" (a call the passes inline before lowering). ``triton``: "kernel",
    "fallback" (with ``triton_reason``, the backend's reason for the first equation that falls
    back, and ``triton_at``, that equation's source line) or "inlined".
    """

    name: str
    family: str
    count: int
    source: SourceInfo | None
    jvp: bool
    transpose: bool | None
    batch: bool
    differentiated: bool
    numpy: str
    triton: str
    triton_reason: str | None
    triton_at: SourceInfo | None

    def supports(self, transform: str) -> bool:
        _check_transform(transform)
        if transform == "jvp":
            return self.jvp or not self.differentiated
        if transform == "vjp":
            return not self.differentiated or (self.jvp and self.transpose is not False)
        if transform == "vmap":
            return self.batch
        if transform == "numpy":
            return True  # every primitive has a NumPy impl the generated code can call
        return self.triton != "fallback"

    def problem(self, transform: str) -> str:
        """Why ``transform`` is not supported, in words."""
        if transform in ("jvp", "vjp") and not self.jvp:
            return "no jvp rule"
        if transform == "vjp":
            return "no transpose rule"
        if transform == "vmap":
            return "no batching rule"
        return f"Triton fallback at {self.triton_at}: {self.triton_reason}"


@dataclass(frozen=True)
class Coverage:
    """The report of ``coverage``: one ``Row`` per primitive, in order of first appearance."""

    rows: list[Row]
    jaxpr: ir.ClosedJaxpr

    def missing(self, transform: str) -> list[str]:
        """Names of the primitives lacking a rule for ``transform`` (one of ``TRANSFORMS``;
        for "triton", those that fall back to the host or to an array-API call)."""
        _check_transform(transform)
        return [r.name for r in self.rows if not r.supports(transform)]

    def check(self, *transforms: str) -> Coverage:
        """Raise ``MissingRuleError`` if a primitive lacks a rule for one of ``transforms``
        (all of them by default), naming it and its first source line; else return self."""
        for t in transforms:
            _check_transform(t)
        lines = [f"  {r.name} ({t}): {r.problem(t)}; first used at {_where(r)}"
                 for t in transforms or TRANSFORMS for r in self.rows if not r.supports(t)]
        if lines:
            raise errors.MissingRuleError(
                "functrans.coverage: these primitives of the traced function lack a rule:\n"
                + "\n".join(lines))
        return self

    def __str__(self) -> str:
        head = ("primitive", "eqns", "jvp", "transpose", "vmap", "numpy", "triton",
                "first used at")
        table = [head] + [(r.name, str(r.count), _jvp_mark(r), _mark(r.transpose),
                           _mark(r.batch), _NUMPY_MARKS[r.numpy], _TRITON_MARKS[r.triton],
                           _where(r)) for r in self.rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(head) - 1)]
        out = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1]
               for row in table]
        out += [f"triton fallback: {r.name} at {r.triton_at}: {r.triton_reason}"
                for r in self.rows if r.triton == "fallback"]
        return "\n".join(out)


_NUMPY_MARKS = {"rule": "✓", "impl": "impl", "inlined": "inlined"}
_TRITON_MARKS = {"kernel": "✓", "fallback": "fallback", "inlined": "inlined"}


def _mark(present: bool | None) -> str:
    return "-" if present is None else ("✓" if present else "✗")


def _jvp_mark(r: Row) -> str:
    return "custom" if not r.jvp and not r.differentiated else _mark(r.jvp)


def _where(r: Row) -> str:
    return str(r.source) if r.source is not None else "(unknown line)"


# A primitive lowers as its worst equation does: one fallback makes the row a fallback.
_RANK = {"": 0, "inlined": 1, "kernel": 2, "fallback": 3}


class _Seen:
    """What the walk has found about one primitive so far."""

    def __init__(self, prim: Any):
        self.prim = prim
        self.count = 0
        self.source: SourceInfo | None = None
        self.differentiated = False
        self.triton = ""
        self.reason: str | None = None
        self.at: SourceInfo | None = None


def _check_transform(transform: str) -> None:
    if transform not in TRANSFORMS:
        raise ValueError(f"coverage: unknown transform {transform!r}; expected one of "
                         f"{TRANSFORMS}")


@errors.api_boundary
def coverage(fun: Callable, *args: Any, **kwargs: Any) -> Coverage:
    """Trace ``fun(*args, **kwargs)`` (only shapes and dtypes matter, as in ``make_jaxpr``) and
    report, per primitive it uses, which rules exist: jvp, transpose, batching, NumPy and Triton
    lowering. Nothing is evaluated.

    >>> import numpy as np, functrans as ft, functrans.numpy as fnp
    >>> report = ft.coverage(lambda x: fnp.sum(fnp.sin(x)), np.ones(3, np.float32))
    >>> [r.name for r in report.rows], report.missing("vmap")
    (['sin', 'reduce_sum'], [])
    >>> _ = report.check("jvp", "vjp", "vmap")  # raises MissingRuleError if a rule is missing

    The transforms are named "jvp", "vjp" (grad and every reverse mode), "vmap", "numpy" and
    "triton". Keyword arguments go to ``fun``, so there is no ``transforms=`` shorthand: call
    ``.check(...)`` on the report. Static arguments: close over them (``functools.partial``).
    Rules are checked for the primitives of ``fun`` itself; to check what a derivative needs in
    turn (second order, or vmap of a gradient), pass the transformed function:
    ``coverage(ft.grad(f), x)``. A custom_jvp/custom_vjp rule is a Python function, not a
    jaxpr, so its primitives appear only in such a transformed trace.
    """
    closed, _, _ = api.stage("coverage", fun, args, kwargs, ())
    from functrans.lowering import numpy_rules, triton_rules, triton_schedule

    found: dict[str, _Seen] = {}
    control = triton_rules.FAMILY_FALLBACKS["control"]

    def visit(jaxpr: ir.Jaxpr, in_custom: bool, host: str | None) -> None:
        for eqn in jaxpr.eqns:
            p = eqn.prim
            if p.family in ("call", "custom"):
                triton, reason = "inlined", None
            elif host is not None:
                triton, reason = "fallback", f"inside '{host}': {control}"
            elif triton_schedule.classify(eqn) != "other":
                triton, reason = "kernel", None
            else:
                triton, reason = "fallback", triton_rules.fallback_why(eqn)
            seen = found.setdefault(p.name, _Seen(p))
            seen.count += 1
            seen.source = seen.source or eqn.source_info
            seen.differentiated = seen.differentiated or not in_custom
            if _RANK[triton] > _RANK[seen.triton]:
                seen.triton, seen.reason, seen.at = triton, reason, eqn.source_info
            sub_custom = in_custom or p.family == "custom"
            sub_host = host or (p.name if p.family == "control" else None)
            for value in eqn.params.values():
                for sub in ir._sub_jaxprs(value):
                    visit(sub.jaxpr if isinstance(sub, ir.ClosedJaxpr) else sub, sub_custom,
                          sub_host)

    visit(closed.jaxpr, False, None)
    rows = []
    for name, s in found.items():
        p = s.prim
        numpy = ("inlined" if p.family in ("call", "custom")
                 else "rule" if name in numpy_rules.RULES else "impl")
        rows.append(Row(name, p.family, s.count, s.source, p.jvp is not None,
                        None if p.linear_in is None else p.transpose is not None,
                        p.batch is not None, s.differentiated, numpy, s.triton, s.reason, s.at))
    return Coverage(rows, closed)
