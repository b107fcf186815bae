"""The NumPy backend: a closed jaxpr becomes a straight-line Python module that calls NumPy.

``compile_numpy(closed, name)`` runs the IR passes, writes the module (one line per equation,
each with its jaxpr equation and the user's source line in a comment), loads it through the
content-addressed cache (``source.py``) and returns an ``Executable``. Every value that is not
a plain int (literals, captured arrays, dtypes, impl functions) is passed in through a
constants table ``K``, so the generated text never contains a repr of user data.
Imports the IR, passes, numpy_rules and source.
"""

from __future__ import annotations

import functools
import keyword
import time
from typing import Any

import numpy as np

from functrans import core
from functrans.ir import ClosedJaxpr, Eqn, Literal, Var, _Namer, pp_eqn, pp_jaxpr
from functrans.lowering import numpy_rules, passes, source


_RESERVED = {"np", "K", "run", "build"}


class _Ctx:
    """Names values and collects the constants table while one module is written."""

    def __init__(self, namer: _Namer) -> None:
        self.consts: list[Any] = []
        self.const_notes: list[str] = []
        self._const_ids: dict[int, str] = {}
        self.names: dict[Var, str] = {}
        self.namer = namer

    def const(self, value: Any, note: str = "") -> str:
        key = id(value)
        name = self._const_ids.get(key)
        if name is None:
            name = self._const_ids[key] = f"k{len(self.consts)}"
            self.consts.append(value)
            self.const_notes.append(note)
        return name

    def name(self, v: Var) -> str:
        """The variable's jaxpr name (``a``, ``b``, ...), so code and comments match."""
        n = self.names.get(v)
        if n is None:
            n = self.namer(v)
            if keyword.iskeyword(n) or n in _RESERVED:
                n += "_"
            self.names[v] = n
        return n

    def atom(self, a: Any) -> str:
        if type(a) is Literal:
            value = np.asarray(a.val, dtype=a.aval.dtype)
            return self.const(value if value.shape else value[()], f"literal {a.aval.str_short()}")
        return self.name(a)


class Executable:
    """A compiled function: ``run(*numpy_args) -> tuple of numpy outputs``."""

    __slots__ = ("run", "source", "path", "jaxpr", "timings", "out_avals", "from_disk")

    def __init__(self, run: Any, src: str, path: str, jaxpr: ClosedJaxpr,
                 timings: dict[str, float], from_disk: bool):
        self.run = run
        self.source = src
        self.path = path
        self.jaxpr = jaxpr
        self.timings = timings
        self.out_avals = jaxpr.out_avals
        self.from_disk = from_disk


def compile_numpy(closed: ClosedJaxpr, name: str = "f") -> Executable:
    t0 = time.perf_counter()
    optimized = passes.run_passes(closed)
    t1 = time.perf_counter()
    src, ctx = generate(optimized, name)
    t2 = time.perf_counter()
    module, path, found = source.load_module(
        "numpy", src, {"function": name, "n_eqns": len(optimized.eqns),
                       "constants": ctx.const_notes})
    run = module.build(ctx.consts)
    t3 = time.perf_counter()
    timings = {"passes": t1 - t0, "codegen": t2 - t1, "load": t3 - t2}
    return Executable(run, src, path, optimized, timings, found)


def generate(closed: ClosedJaxpr, name: str) -> tuple[str, _Ctx]:
    """The module source and its constants table."""
    jaxpr = closed.jaxpr
    namer = _Namer()
    header = pp_jaxpr(jaxpr, namer)  # names every variable, in print order
    ctx = _Ctx(namer)
    for v, c in zip(jaxpr.constvars, closed.consts, strict=True):
        ctx.names[v] = ctx.const(_as_numpy(c), f"captured {v.aval.str_short()}")
    body = source.SourceWriter()
    body.level = 2
    quiet = any(e.prim.family in numpy_rules.QUIET_FAMILIES for e in jaxpr.eqns)
    if quiet:
        body.line("_token = _quiet()")
        body.line("try:")
        body.level += 1
    for eqn in jaxpr.eqns:
        _emit_eqn(body, ctx, eqn, namer)
    outs = ", ".join(ctx.atom(a) for a in jaxpr.outvars)
    body.line(f"return ({outs}{',' if len(jaxpr.outvars) == 1 else ''})")
    if quiet:
        body.level -= 1
        body.line("finally:")
        with body.indent():
            body.line("_restore(_token)")

    w = source.SourceWriter()
    w.comment(f"functrans generated module (NumPy backend) for {name}")
    w.comment("Regenerated from the jaxpr below; edits are not kept.")
    w.comment("")
    w.comment(header)
    w.line("import numpy as np")
    w.line("")
    w.line("from functrans.fpstate import quiet as _quiet")
    w.line("from functrans.fpstate import restore as _restore")
    w.line("")
    w.line("")
    w.line("def build(K):")
    with w.indent():
        for i, note in enumerate(ctx.const_notes):
            w.line(f"k{i} = K[{i}]")
            if note:
                w.lines[-1] += "  "
                w.comment_inline(note)
        w.line("")
        w.line(f"def run({', '.join(ctx.name(v) for v in jaxpr.invars)}):")
        w.lines.extend(body.lines)
        w.line("")
        w.line("return run")
    return w.text(), ctx


def _as_numpy(x: Any) -> Any:
    if isinstance(x, core.Array):
        return x._value
    return np.asarray(x)


def _emit_eqn(w: source.SourceWriter, ctx: _Ctx, eqn: Eqn, namer: _Namer) -> None:
    ins = [ctx.atom(a) for a in eqn.invars]
    rule = numpy_rules.RULES.get(eqn.prim.name)
    expr = rule(ctx, eqn, ins) if rule is not None else None
    if expr is None:
        impl = functools.partial(eqn.prim.impl, **eqn.params)
        expr = f"{ctx.const(impl, f'{eqn.prim.name} impl')}({', '.join(ins)})"
    outs = [ctx.name(v) for v in eqn.outvars]
    lhs = ", ".join(outs) if eqn.prim.multiple_results else outs[0]
    if eqn.prim.multiple_results and len(outs) == 1:
        lhs += ","
    where = f"  ({eqn.source_info})" if eqn.source_info else ""
    w.comment(pp_eqn(eqn, namer, indent=0).strip().splitlines()[0] + where)
    w.line(f"{lhs} = {expr}")
