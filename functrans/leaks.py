"""Tracer-leak checking: tracers that outlive their transformation, and who holds them.

A transformed function that stores an intermediate value outside itself (a global, an
attribute, a list from an outer scope, a closure variable) leaks a tracer. Used later it raises
``UnexpectedTracerError``; never used, it keeps memory alive and hides the bug. While
``config.check_tracer_leaks`` is on, every new tracer is recorded weakly, with the user's line
that created it. ``check()`` collects garbage; every recorded tracer still alive whose trace
has finished is a leak, and the error names who holds it, found by walking
``gc.get_referrers`` (a bounded number of levels) up to a module global, a closure variable, a
running function's local, or else the object it was found in. Tracers kept only by an
exception's traceback (an error raised while tracing, still held by ``pytest.raises``) are not
reported: they go when the exception goes.

Checks run at the exit of ``checking_leaks()`` and, with ``--functrans-check-leaks``, after
every test (functrans/testing/plugin.py). Imports core, config and errors.
"""

from __future__ import annotations

import contextlib
import gc
import re
import sys
import types
import weakref
from collections.abc import Iterator
from typing import Any

from functrans import config, core, errors
from functrans.core import Tracer
from functrans.errors import SourceInfo

# Every tracer created while checking is on, weakly, with the user's line that created it.
_recorded: list[tuple[weakref.ref, SourceInfo | None]] = []
_prune_at = 1024
_installed = False

_MAX_DEPTH = 8  # referrer levels walked up from a leaked tracer
_MAX_NODES = 512  # objects per level (a tracer reachable from everywhere is reported anyway)
_MAX_REPORTED = 10  # leaks described one by one; the rest are counted
_MAX_HOLDERS = 3  # holders named per leak


def _record(tracer: Tracer) -> None:
    global _prune_at
    _recorded.append((weakref.ref(tracer), errors.user_frame(2)))
    if len(_recorded) >= _prune_at:  # drop the dead: amortized O(1) per tracer
        _recorded[:] = [e for e in _recorded if e[0]() is not None]
        _prune_at = max(1024, 2 * len(_recorded))


def _install(on: Any) -> None:
    global _installed
    if on and not _installed:
        core.record_new_tracers(_record)
        _installed = True


config.check_tracer_leaks.watch(_install)


@contextlib.contextmanager
def checking_leaks() -> Iterator[None]:
    """Record the tracers created inside the block, and on its exit raise
    ``LeakedTracerError`` for each that outlived its transformation, naming who holds it.
    When the block raises, its error propagates unchecked."""
    with config.check_tracer_leaks(True):
        yield
    check()


def check() -> None:
    """Raise ``LeakedTracerError`` if a recorded tracer is alive after its transformation
    finished. Each leak is reported once: the check forgets the leaks it found."""
    leaked, sources = _take_leaks()
    message = _report(leaked, sources) if leaked else None
    del leaked
    if message:
        raise errors.LeakedTracerError(message)


def forget() -> None:
    """Forget the tracers recorded so far: what happens to them is no later check's business
    (the pytest plugin calls it before each test, and after one it does not check)."""
    _recorded.clear()


def _finished(tracer: Tracer) -> bool:
    trace = getattr(tracer, "_trace", None)  # unset if its __init__ failed
    return trace is not None and not trace.alive


def _take_leaks() -> tuple[list[Tracer], list[SourceInfo | None]]:
    # Most tracers die by reference counting, the rest in cycles that are young: collect the
    # whole heap (slow) only when a finished tracer survives the cheaper collections.
    for generation in (0, 1, 2):
        if not any(t is not None and _finished(t) for t in (ref() for ref, _ in _recorded)):
            return [], []
        gc.collect(generation)
    leaked: list[Tracer] = []
    sources: list[SourceInfo | None] = []
    kept = []
    for ref, src in _recorded:
        t = ref()
        if t is None:
            continue
        if _finished(t):
            leaked.append(t)
            sources.append(t._source() or src)
        else:
            kept.append((ref, src))
    _recorded[:] = kept
    return leaked, sources


# --- the report -----------------------------------------------------------------------------


def _report(leaked: list[Tracer], sources: list[SourceInfo | None]) -> str | None:
    holders, nested = _holders(leaked)
    shown = [i for i in range(len(leaked)) if holders[i]]
    if not shown:
        return None  # kept only by tracebacks, or only by other such tracers
    lines = [f"functrans leak check: {len(shown)} tracer{'s' if len(shown) > 1 else ''} "
             f"outlived the transformation that created {'them' if len(shown) > 1 else 'it'}:"]
    for n, i in enumerate(shown[:_MAX_REPORTED], 1):
        t = leaked[i]
        d = t._trace.debug
        created = f", created at {sources[i]}" if sources[i] else ""
        inner = len(nested.get(i, ()))
        held = "; ".join(holders[i][:_MAX_HOLDERS])
        lines.append(f"  {n}. a {t.aval.str_short()} tracer of {d.transform} of "
                     f"{d.fun_location}{created}")
        lines.append(f"     held by {held}"
                     + (f" (with {inner} more leaked tracer{'s' if inner > 1 else ''} inside it)"
                        if inner else ""))
    if len(shown) > _MAX_REPORTED:
        lines.append(f"  ... and {len(shown) - _MAX_REPORTED} more")
    lines.append(
        "A transformed function stored an intermediate value outside itself: it keeps its "
        "memory alive, and using it later raises UnexpectedTracerError. Return the value from "
        "the function instead (grad(f, has_aux=True) and value_and_grad return extra outputs), "
        "or pass what the function needs in as an argument.")
    return "\n".join(lines)


def _holders(leaked: list[Tracer]) -> tuple[list[list[str]], dict[int, set[int]]]:
    """For each leaked tracer, who holds it in the user's terms (empty: only tracebacks or
    other leaked tracers do), and which leaked tracers each one holds. One breadth-first walk
    up ``gc.get_referrers`` for all of them: one heap scan per level."""
    leak_index = {id(t): i for i, t in enumerate(leaked)}
    holders: list[list[str]] = [[] for _ in leaked]
    nested: dict[int, set[int]] = {}
    running = _running_locals()
    modules = {id(vars(m)): name for name, m in list(sys.modules.items())
               if isinstance(m, types.ModuleType)}
    # The walk's own containers refer to what it walks: they are never holders.
    internal = {id(leaked), id(running), *(id(locs) for _, locs in running)}
    # frontier: id -> (object, [(leak index, access path from the object to that leak)])
    frontier: dict[int, tuple[Any, list[tuple[int, str]]]] = {
        id(t): (t, [(i, "")]) for i, t in enumerate(leaked)}
    seen = {(key, i) for key, (_, origins) in frontier.items() for i, _ in origins}
    for _ in range(_MAX_DEPTH):
        if not frontier:
            break
        nodes = [obj for obj, _ in frontier.values()]
        internal.update((id(nodes), id(frontier), *map(id, frontier.values())))
        referrers = gc.get_referrers(*nodes)
        internal.add(id(referrers))
        found: set[int] = set()
        for name, locs in running:
            for var, value in locs.items():
                if id(value) in frontier:
                    found.add(id(value))
                    for i, path in frontier[id(value)][1]:
                        holders[i].append(f"local variable `{var}{_tidy(path)}` of running "
                                          f"{name}")
        nxt: dict[int, tuple[Any, list[tuple[int, str]]]] = {}
        internal.add(id(nxt))
        for r in referrers:
            if id(r) in internal:
                continue
            children = [c for c in gc.get_referents(r) if id(c) in frontier]
            found.update(map(id, children))
            if type(r) is types.FrameType:
                continue  # running frames: their locals are read above; finished ones belong
                # to tracebacks, which go with their errors
            j = leak_index.get(id(r))
            for child in children:
                for i, path in frontier[id(child)][1]:
                    if j is not None:
                        nested.setdefault(j, set()).add(i)
                        continue
                    root = _root(r, child, path, modules)
                    if root is not None:
                        holders[i].append(root)
                        continue
                    if (id(r), i) in seen:
                        continue
                    seen.add((id(r), i))
                    label = _label(r, child) + path
                    if id(r) not in nxt and len(nxt) >= _MAX_NODES:
                        holders[i].append(_unnamed(r, label))
                    else:
                        entry = nxt.get(id(r))
                        if entry is None:
                            entry = nxt[id(r)] = (r, [])
                            internal.add(id(entry))
                        entry[1].append((i, label))
        for key, (obj, origins) in frontier.items():
            if key not in found and key not in leak_index:  # held where gc cannot see
                for i, path in origins:
                    holders[i].append(_unnamed(obj, path))
        del referrers, nodes
        frontier = nxt
    for obj, origins in frontier.values():  # the walk stops here: name the object
        for i, path in origins:
            holders[i].append(_unnamed(obj, path))
    # A leak kept only through other leaks is reported with them (as "it holds N more").
    nested = {j: {i for i in inner if not holders[i] and i != j} for j, inner in nested.items()}
    return [list(dict.fromkeys(h)) for h in holders], nested


def _running_locals() -> list[tuple[str, dict[str, Any]]]:
    """The locals of the functions running in this thread, outside this module (a module's
    top level is its globals: those are found as globals)."""
    out = []
    f: types.FrameType | None = sys._getframe(1)
    while f is not None:
        if f.f_code.co_filename != __file__ and f.f_locals is not f.f_globals:
            out.append((f"function `{f.f_code.co_name}` ({f.f_code.co_filename}:{f.f_lineno})",
                        f.f_locals))
        f = f.f_back
    return out


def _root(r: Any, child: Any, path: str, modules: dict[int, str]) -> str | None:
    """``r`` (which holds ``child``) named in the user's terms, or None to walk on."""
    if id(r) in modules:
        names = [k for k, v in r.items() if v is child]
        if names:
            return f"global `{names[0]}{_tidy(path)}` of module `{modules[id(r)]}`"
    if type(r) is types.CellType:
        for tup in gc.get_referrers(r):
            if type(tup) is not tuple:
                continue
            for fn in gc.get_referrers(tup):
                if type(fn) is types.FunctionType and fn.__closure__ is tup:
                    name = fn.__code__.co_freevars[tup.index(r)]
                    return (f"variable `{name}{_tidy(path)}` that function "
                            f"{_function(fn)} closes over")
    return None


def _label(r: Any, child: Any) -> str:
    """How ``r`` refers to ``child``, as a Python access path: ``[0]``, ``['k']``, ``.attr``."""
    if isinstance(r, (list, tuple)):
        return next((f"[{i}]" for i, v in enumerate(r) if v is child), "")
    if isinstance(r, dict):
        return next((f"[{k!r}]" if isinstance(k, (str, int, float, tuple)) else
                     f"[<{type(k).__name__}>]" for k, v in r.items() if v is child), "")
    if isinstance(r, (set, frozenset)):
        return "{...}"
    if type(r) is types.CellType:
        return ".cell_contents"
    if isinstance(r, type) and type(child) is dict:
        return ".__dict__"
    try:  # any object of the heap: its attribute protocol may do anything
        attrs = vars(r) if hasattr(r, "__dict__") else {}
        if attrs is child:
            return ".__dict__"
        for name, v in attrs.items():
            if v is child:
                return f".{name}"
        for cls in type(r).__mro__:
            slots = cls.__dict__.get("__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name not in ("__dict__", "__weakref__") and getattr(r, name, None) is child:
                    return f".{name}"
        for name in ("__defaults__", "__kwdefaults__", "__closure__", "__self__", "__func__"):
            if getattr(r, name, None) is child:
                return f".{name}"
    except Exception:
        pass
    return ".<?>"


def _tidy(path: str) -> str:
    """``.__dict__['x']`` is attribute ``.x``."""
    return re.sub(r"\.__dict__\['(\w+)'\]", r".\1", path)


def _unnamed(obj: Any, path: str) -> str:
    """A holder the walk could not name further: the object, and where in it the leak is."""
    path = _tidy(path)
    if isinstance(obj, types.FunctionType):
        what = f"function {_function(obj)}"
    else:
        what = f"a {type(obj).__qualname__}" + ("" if isinstance(obj, (list, tuple, dict, set))
                                                else " object")
    if re.fullmatch(r"\.\w+", path):
        return f"attribute `{path[1:]}` of {what}"
    if re.fullmatch(r"\[[^]]*\]", path):
        return f"element `{path}` of {what}"
    return f"`{path}` of {what}" if path else what


def _function(fn: types.FunctionType) -> str:
    code = fn.__code__
    return f"`{fn.__qualname__}` ({code.co_filename}:{code.co_firstlineno})"
