"""The IR: variables, literals, equations, jaxprs; type checking, evaluation and printing.

A ``Jaxpr`` is a flat list of equations ``outvars = prim[params](invars)`` over typed
variables, with ``constvars`` for captured arrays. A ``ClosedJaxpr`` pairs a jaxpr with the
values of its constvars. Sub-programs (cond branches, loop bodies) are ClosedJaxprs stored in
params. Printing follows JAX's text form and is stable (names by order of appearance).
Imports ``core`` only; transformations and lowering import this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from functrans import errors
from functrans.core import ShapedArray
from functrans.errors import SourceInfo


class Var:
    """A variable; identity is the variable. Names are assigned only when printing."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Var({self.aval.str_short()})"


class DropVar(Var):
    """An output that nothing reads (printed as ``_``)."""

    __slots__ = ()


class Literal:
    """A scalar constant written inline in the program, e.g. ``1.01:f32[]``."""

    __slots__ = ("val", "aval")

    def __init__(self, val: np.ndarray, aval: ShapedArray):
        self.val = val
        self.aval = aval

    def __repr__(self) -> str:
        return f"Literal({_literal_text(self)})"


Atom = Var | Literal


class Eqn:
    """``outvars = prim[params](invars)``, with the user source line that bound it."""

    __slots__ = ("prim", "invars", "outvars", "params", "source_info")

    def __init__(self, prim: Any, invars: list[Atom], outvars: list[Var], params: dict,
                 source_info: SourceInfo | None = None):
        self.prim = prim
        self.invars = invars
        self.outvars = outvars
        self.params = params
        self.source_info = source_info

    def __repr__(self) -> str:
        return pp_eqn(self, _Namer()).strip()


class Jaxpr:
    """A typed program: ``{ lambda constvars ; invars . let eqns in outvars }``."""

    __slots__ = ("constvars", "invars", "outvars", "eqns", "debug")

    def __init__(self, constvars: list[Var], invars: list[Var], outvars: list[Atom],
                 eqns: list[Eqn], debug: Any = None):
        self.constvars = constvars
        self.invars = invars
        self.outvars = outvars
        self.eqns = eqns
        self.debug = debug

    @property
    def in_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.invars]

    @property
    def out_avals(self) -> list[ShapedArray]:
        return [v.aval for v in self.outvars]

    def __str__(self) -> str:
        return pp_jaxpr(self, _Namer(), indent=0)

    __repr__ = __str__


class ClosedJaxpr:
    """A jaxpr together with the values of its constvars."""

    __slots__ = ("jaxpr", "consts", "__weakref__")

    def __init__(self, jaxpr: Jaxpr, consts: Sequence[Any]):
        if len(consts) != len(jaxpr.constvars):
            raise ValueError(f"ClosedJaxpr: {len(jaxpr.constvars)} constvars but "
                             f"{len(consts)} values")
        self.jaxpr = jaxpr
        self.consts = list(consts)

    @property
    def in_avals(self) -> list[ShapedArray]:
        return self.jaxpr.in_avals

    @property
    def out_avals(self) -> list[ShapedArray]:
        return self.jaxpr.out_avals

    @property
    def eqns(self) -> list[Eqn]:
        return self.jaxpr.eqns

    def __str__(self) -> str:
        return str(self.jaxpr)

    __repr__ = __str__

    def pretty_print(self) -> str:
        return str(self.jaxpr)


# --- evaluation ---------------------------------------------------------------------------------


def hoist_consts(closed: ClosedJaxpr) -> tuple[ClosedJaxpr, list[Any]]:
    """``closed`` with its captured values turned into leading inputs, and those values: every
    transformation then sees them as operands (a closed-over tracer gets its tangent, batch)."""
    j = closed.jaxpr
    return (ClosedJaxpr(Jaxpr([], j.constvars + j.invars, j.outvars, j.eqns, j.debug), []),
            list(closed.consts))


def eval_jaxpr(jaxpr: Jaxpr, consts: Sequence[Any], *args: Any) -> list[Any]:
    """Run a jaxpr by binding each equation's primitive (so it works under any trace)."""
    env: dict[Var, Any] = {}

    def read(v: Atom) -> Any:
        return v.val if type(v) is Literal else env[v]

    for v, x in zip(jaxpr.constvars, consts, strict=True):
        env[v] = x
    if len(args) != len(jaxpr.invars):
        raise TypeError(f"eval_jaxpr: the jaxpr takes {len(jaxpr.invars)} arguments, "
                        f"got {len(args)}")
    for v, x in zip(jaxpr.invars, args, strict=True):
        env[v] = x
    for eqn in jaxpr.eqns:
        out = eqn.prim.bind(*map(read, eqn.invars), **eqn.params)
        if eqn.prim.multiple_results:
            for v, x in zip(eqn.outvars, out, strict=True):
                env[v] = x
        else:
            env[eqn.outvars[0]] = out
    return [read(v) for v in jaxpr.outvars]


def eval_closed_jaxpr(closed: ClosedJaxpr, *args: Any) -> list[Any]:
    return eval_jaxpr(closed.jaxpr, closed.consts, *args)


# --- type checking ------------------------------------------------------------------------------


class JaxprTypeError(errors.FunctransError, TypeError):
    """A jaxpr is ill-typed (an internal error, or a hand-built jaxpr that is wrong)."""


def typecheck_jaxpr(jaxpr: Jaxpr) -> None:
    """Check that every variable is defined once before use and every equation's output avals
    are what its primitive's abstract evaluation rule gives."""
    defined: set[Var] = set()

    def define(v: Var, where: str) -> None:
        if v in defined:
            raise JaxprTypeError(f"typecheck: variable {v} defined twice ({where})")
        defined.add(v)

    def check_atom(a: Atom, where: str) -> None:
        if type(a) is Literal:
            return
        if a not in defined:
            raise JaxprTypeError(f"typecheck: variable {a} used before definition ({where})")

    for v in jaxpr.constvars:
        define(v, "constvar")
    for v in jaxpr.invars:
        define(v, "invar")
    for i, eqn in enumerate(jaxpr.eqns):
        where = f"equation {i}: {eqn!r}"
        for a in eqn.invars:
            check_atom(a, where)
        out = eqn.prim.abstract_eval(*[a.aval for a in eqn.invars], **eqn.params)
        out_avals = list(out) if eqn.prim.multiple_results else [out]
        got = [v.aval for v in eqn.outvars]
        if out_avals != got:
            raise JaxprTypeError(
                f"typecheck: {where}: abstract evaluation gives "
                f"{[a.str_short() for a in out_avals]}, the jaxpr says "
                f"{[a.str_short() for a in got]}")
        for v in eqn.outvars:
            define(v, where)
        for p in eqn.params.values():
            for sub in _sub_jaxprs(p):
                typecheck_jaxpr(sub.jaxpr if isinstance(sub, ClosedJaxpr) else sub)
    for a in jaxpr.outvars:
        check_atom(a, "outvars")


def _sub_jaxprs(p: Any) -> Iterator[Jaxpr | ClosedJaxpr]:
    if isinstance(p, (Jaxpr, ClosedJaxpr)):
        yield p
    elif isinstance(p, (tuple, list)):
        for q in p:
            yield from _sub_jaxprs(q)


def subjaxprs(jaxpr: Jaxpr) -> Iterator[Jaxpr]:
    """Every jaxpr nested in the params of ``jaxpr``'s equations (one level)."""
    for eqn in jaxpr.eqns:
        for p in eqn.params.values():
            for sub in _sub_jaxprs(p):
                yield sub.jaxpr if isinstance(sub, ClosedJaxpr) else sub


def has_effects(eqn: Eqn) -> bool:
    """Whether ``eqn`` has a side effect (an effectful primitive, or one inside a sub-jaxpr
    such as a jit body or a loop body): such equations are never removed, merged or folded."""
    if eqn.prim.effectful:
        return True
    for p in eqn.params.values():
        for sub in _sub_jaxprs(p):
            body = sub.jaxpr if isinstance(sub, ClosedJaxpr) else sub
            if any(has_effects(e) for e in body.eqns):
                return True
    return False


# --- printing -----------------------------------------------------------------------------------


class _Namer:
    """Names variables a, b, ..., z, ba, bb, ... in order of first appearance."""

    def __init__(self) -> None:
        self.names: dict[Var, str] = {}

    def __call__(self, v: Var) -> str:
        if isinstance(v, DropVar):
            return "_"
        name = self.names.get(v)
        if name is None:
            name = self.names[v] = _base26(len(self.names))
        return name


def _base26(n: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    s = letters[n % 26]
    n //= 26
    while n:
        s = letters[n % 26] + s
        n //= 26
    return s


def _literal_text(lit: Literal) -> str:
    v = np.asarray(lit.val)
    text = str(v.item()) if v.dtype.kind == "b" else str(v[()])
    return f"{text}:{lit.aval.str_short()}"


def _atom(a: Atom, name: Callable[[Var], str]) -> str:
    return _literal_text(a) if type(a) is Literal else name(a)


def _binder(v: Var, name: Callable[[Var], str]) -> str:
    return f"{name(v)}:{v.aval.str_short()}"


def _param_text(p: Any) -> str:
    if isinstance(p, np.dtype):
        return str(p)
    if isinstance(p, type) and issubclass(p, np.generic):
        return np.dtype(p).name
    if isinstance(p, tuple):
        inner = ", ".join(_param_text(q) for q in p)
        return f"({inner},)" if len(p) == 1 else f"({inner})"
    if isinstance(p, np.ndarray):
        return np.array2string(p, separator=", ")
    if callable(p) and hasattr(p, "__name__"):
        return p.__name__
    return repr(p)


def pp_eqn(eqn: Eqn, name: _Namer, indent: int = 4) -> str:
    pad = " " * indent
    lhs = " ".join(_binder(v, name) for v in eqn.outvars)
    args = " ".join(_atom(a, name) for a in eqn.invars)
    has_sub = any(any(True for _ in _sub_jaxprs(p)) for p in eqn.params.values())
    if not eqn.params:
        head = eqn.prim.name
    elif not has_sub:
        shown = " ".join(f"{k}={_param_text(v)}" for k, v in sorted(eqn.params.items()))
        head = f"{eqn.prim.name}[{shown}]"
    else:
        lines = [f"{eqn.prim.name}["]
        for k, v in sorted(eqn.params.items()):
            subs = list(_sub_jaxprs(v))
            if not subs:
                lines.append(f"{pad}  {k}={_param_text(v)}")
            elif isinstance(v, (tuple, list)):
                lines.append(f"{pad}  {k}=(")
                for sub in subs:
                    lines.append(pp_jaxpr(_unclose(sub), name, indent + 4, lead=True))
                lines.append(f"{pad}  )")
            else:
                lines.append(f"{pad}  {k}=" + pp_jaxpr(_unclose(subs[0]), name, indent + 2))
        lines.append(f"{pad}]")
        head = "\n".join(lines)
    rhs = f"{head} {args}" if args else head
    return f"{pad}{lhs} = {rhs}" if lhs else f"{pad}{rhs}"


def _unclose(j: Jaxpr | ClosedJaxpr) -> Jaxpr:
    return j.jaxpr if isinstance(j, ClosedJaxpr) else j


def pp_jaxpr(jaxpr: Jaxpr, name: _Namer, indent: int = 0, lead: bool = False,
             record: dict[int, str] | None = None) -> str:
    """JAX-style text. ``indent`` is the column of the closing ``in``-line's parent.
    ``record``, if given, receives each top-level equation's text keyed by ``id(eqn)``."""
    pad = " " * indent
    consts = " ".join(_binder(v, name) for v in jaxpr.constvars)
    invars = " ".join(_binder(v, name) for v in jaxpr.invars)
    head = f"{{ lambda {consts}; {invars}. let" if consts else f"{{ lambda ; {invars}. let"
    eqn_lines = [pp_eqn(e, name, indent + 4) for e in jaxpr.eqns]
    if record is not None:
        record.update(zip(map(id, jaxpr.eqns), eqn_lines, strict=True))
    outs = ", ".join(_atom(a, name) for a in jaxpr.outvars)
    outs = f"({outs},)" if len(jaxpr.outvars) == 1 else f"({outs})"
    start = pad if lead else ""
    if not eqn_lines:
        return f"{start}{head}  in {outs} }}"
    if len(eqn_lines) == 1 and "\n" not in eqn_lines[0]:
        one = f"{start}{head} {eqn_lines[0].strip()} in {outs} }}"
        if len(one) - len(start) + indent <= 80:
            return one
    body = "\n".join(eqn_lines)
    return f"{start}{head}\n{body}\n{pad}  in {outs} }}"


# --- dead-code elimination ----------------------------------------------------------------------


def dce_jaxpr(jaxpr: Jaxpr) -> Jaxpr:
    """``jaxpr`` without the equations whose results nothing uses (inputs are kept; effectful
    primitives are kept)."""
    live: set[Var] = {v for v in jaxpr.outvars if type(v) is Var}
    kept = []
    for eqn in reversed(jaxpr.eqns):
        if any(v in live for v in eqn.outvars) or has_effects(eqn):
            kept.append(eqn)
            live.update(a for a in eqn.invars if type(a) is Var)
    if len(kept) == len(jaxpr.eqns):
        return jaxpr
    kept.reverse()
    return Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, kept, jaxpr.debug)
