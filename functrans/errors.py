"""User-facing exceptions, source locations of user code, and traceback filtering.

Every error a user can trigger is a subclass of ``FunctransError`` and of the builtin it
matches (``TypeError``, ``ValueError``...), so ``except TypeError`` keeps working. Messages say
what happened, where (the user's own source line) and what to do. Imports only the stdlib and
``config``; everything else may import this module.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypeVar

from functrans import config


class FunctransError(Exception):
    """Base class of every error functrans raises on purpose."""


class ConcretizationTypeError(FunctransError, TypeError):
    """A traced value was used where Python needs a concrete one."""


class TracerBoolConversionError(ConcretizationTypeError):
    """``bool(tracer)``: an ``if``/``while``/``and``/``or`` on a traced value."""


class TracerIntegerConversionError(ConcretizationTypeError):
    """``int(tracer)`` or ``tracer.__index__()``: a traced value used as a Python int."""


class NonConcreteBooleanIndexError(ConcretizationTypeError, IndexError):
    """A boolean mask index (or ``nonzero`` without ``size``) on a traced value: the result's
    shape would depend on the mask's values, which are unknown while tracing."""


class TracerArrayConversionError(FunctransError, TypeError):
    """``np.asarray(tracer)``: a traced value handed to NumPy."""


class UnexpectedTracerError(FunctransError, TypeError):
    """A tracer was used after the transformation that created it had finished."""


class LeakedTracerError(UnexpectedTracerError):
    """Leak checking (``functrans.checking_leaks``) found tracers that outlived the
    transformation that created them, stored where the function's caller can reach them."""


class ImmutableArrayError(FunctransError, TypeError):
    """An attempt to write into an immutable ``functrans.Array``."""


class MissingRuleError(FunctransError, NotImplementedError):
    """A primitive has no rule for the requested transformation or backend."""


class ShapeError(FunctransError, ValueError):
    """Operand shapes are incompatible (broadcasting, contraction, reshape...)."""


class ControlFlowTypeError(FunctransError, TypeError):
    """The branches of ``lax.cond``/``lax.switch`` return different types, or a loop body
    changes the type of its carry (``while_loop``, ``fori_loop``, ``scan``)."""


class DtypeError(FunctransError, TypeError):
    """An operand has a dtype the operation does not accept."""


class PerformanceWarning(UserWarning):
    """A transformation had to do much more work than the program suggests."""


# --- where in the user's code are we? ----------------------------------------------------------

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
_INTERNAL_DIRS = tuple(
    d + os.sep for d in (
        _PKG_DIR,
        # In an editable checkout the lowering/ and kernels/ folders sit beside functrans/.
        os.path.join(os.path.dirname(_PKG_DIR), "lowering"),
        os.path.join(os.path.dirname(_PKG_DIR), "kernels"),
    ))
_internal_code: dict[types.CodeType, bool] = {}
# Files inside the package that are user code (the demo is written as a user would write it).
_USER_FILES = (os.path.join(_PKG_DIR, "demo.py"),)


def _is_internal(code: types.CodeType) -> bool:
    hit = _internal_code.get(code)
    if hit is None:
        name = code.co_filename
        hit = ((name.startswith(_INTERNAL_DIRS) and name not in _USER_FILES)
               or name.startswith("<functrans"))
        _internal_code[code] = hit
    return hit


class SourceInfo(NamedTuple):
    """A location in user code: file, line and function name."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno} ({self.function})"


# Transformations that derive equations from other equations (the backward pass) attribute
# them to the source line of the equation they came from.
_source_override: contextvars.ContextVar[SourceInfo | None] = contextvars.ContextVar(
    "functrans.source_override", default=None)


@contextlib.contextmanager
def attribute_to(info: SourceInfo | None) -> Iterator[None]:
    token = _source_override.set(info)
    try:
        yield
    finally:
        _source_override.reset(token)


class LazySource:
    """An override that finds the user's frame only when asked, once: a rule that binds
    several primitives for one user operation (a jvp rule) pays for one stack walk, and
    none when nothing is staged (eager forward mode). Valid only while the frame it starts
    from is running, which is while the override is set."""

    __slots__ = ("frame", "info")

    def __init__(self, frame: types.FrameType):
        self.frame: types.FrameType | None = frame
        self.info: SourceInfo | None = None

    def resolve(self) -> SourceInfo | None:
        if self.frame is not None:
            self.info = _walk(self.frame)
            self.frame = None
        return self.info


def user_frame(skip: int = 1) -> SourceInfo | None:
    """The innermost frame on the stack that is not functrans code."""
    override = _source_override.get()
    if override is not None:
        return override.resolve() if type(override) is LazySource else override
    return _walk(sys._getframe(skip))


def _walk(f: types.FrameType | None) -> SourceInfo | None:
    known = _internal_code  # (the cache is read inline: this walk runs for every staged op)
    while f is not None:
        hit = known.get(f.f_code)
        if hit is None:
            hit = _is_internal(f.f_code)
        if not hit:
            break
        f = f.f_back
    if f is None:
        return None
    return SourceInfo(f.f_code.co_filename, f.f_lineno, f.f_code.co_name)


def warn_once_at(site: SourceInfo | None, seen: set[Any], message: Callable[[], str],
                 category: type[Warning] = PerformanceWarning) -> None:
    """Warn, attributed to the user's line ``site``, unless ``seen`` already holds it (a
    warning per call site, not per call); ``message`` is built only when it is shown."""
    if site in seen:
        return
    seen.add(site)
    if site is not None:
        warnings.warn_explicit(message(), category, site.filename, site.lineno)
    else:
        warnings.warn(message(), category, stacklevel=3)


def function_location(fun: Callable) -> str:
    """``name at file:line`` for a user function, for error messages."""
    name = getattr(fun, "__qualname__", None) or getattr(fun, "__name__", None) or repr(fun)
    code = getattr(getattr(fun, "__wrapped__", fun), "__code__", None)
    if code is None:
        return name
    return f"{name} at {code.co_filename}:{code.co_firstlineno}"


# --- traceback filtering ----------------------------------------------------------------------

_NOTE = ("(functrans removed its internal frames from this traceback; "
         "set FUNCTRANS_TRACEBACK_FILTERING=off to see them)")


def _filter_traceback(tb: types.TracebackType | None) -> types.TracebackType | None:
    kept = []
    while tb is not None:
        if not _is_internal(tb.tb_frame.f_code):
            kept.append(tb)
        tb = tb.tb_next
    out = None
    for entry in reversed(kept):
        out = types.TracebackType(out, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return out


F = TypeVar("F", bound=Callable[..., Any])


def api_boundary(fun: F) -> F:
    """Decorate a public entry point so that errors show the user's frames only."""

    @functools.wraps(fun)
    def boundary(*args: Any, **kwargs: Any) -> Any:
        try:
            return fun(*args, **kwargs)
        except Exception as e:
            reraise_filtered(e)
            raise

    return boundary  # type: ignore[return-value]


def reraise_filtered(e: Exception) -> None:
    """Re-raise ``e`` with functrans' own frames removed (returns if nothing should change;
    the caller then re-raises as is). For hot entry points that inline their try/except."""
    if getattr(e, "_functrans_filtered", False) or not config.traceback_filtering.value:
        return
    filtered = _filter_traceback(e.__traceback__)
    try:
        e._functrans_filtered = True  # type: ignore[attr-defined]
    except AttributeError:  # exceptions with __slots__
        return
    if filtered is None:  # the error is functrans' own: keep every frame
        return
    e.add_note(_NOTE)
    raise e.with_traceback(filtered) from e.__cause__
