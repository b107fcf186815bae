"""Global configuration: default dtypes and debugging switches.

Each option is a context variable, so a ``with`` block changes it for the current thread (and
asyncio task) only. Options read their initial value from the environment once, at import.
Imports only the standard library and numpy; everything else in functrans may import it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


class _Option:
    """One named setting backed by a ContextVar; ``option.value`` reads it."""

    def __init__(self, name: str, default: Any, doc: str):
        self.name = name
        self.doc = doc
        self._var = contextvars.ContextVar(f"functrans.config.{name}", default=default)
        self._watchers: list[Callable[[Any], None]] = []

    @property
    def value(self) -> Any:
        return self._var.get()

    def watch(self, fn: Callable[[Any], None]) -> None:
        """Call ``fn(value)`` now and whenever the option is set: for a switch whose machinery
        is installed only once someone turns it on (so that it costs nothing before)."""
        self._watchers.append(fn)
        fn(self.value)

    def _set(self, value: Any) -> contextvars.Token:
        token = self._var.set(value)
        for fn in self._watchers:
            fn(value)
        return token

    def set(self, value: Any) -> None:
        """Set the value for the current context (thread) from now on."""
        self._set(value)

    @contextlib.contextmanager
    def __call__(self, value: Any = True) -> Iterator[None]:
        token = self._set(value)
        try:
            yield
        finally:
            self._var.reset(token)


def _env_dtype(var: str, default: str) -> np.dtype:
    return np.dtype(os.environ.get(var, default))


def _env_flag(var: str) -> bool:
    return os.environ.get(var, "").lower() in ("1", "true", "yes", "on")


default_float = _Option(
    "default_float", _env_dtype("FUNCTRANS_DEFAULT_FLOAT", "float32"),
    "dtype of Python floats and of creation functions (FUNCTRANS_DEFAULT_FLOAT)")
default_int = _Option(
    "default_int", _env_dtype("FUNCTRANS_DEFAULT_INT", "int32"),
    "dtype of Python ints and of integer creation functions (FUNCTRANS_DEFAULT_INT)")
debug_nans = _Option(
    "debug_nans", _env_flag("FUNCTRANS_DEBUG_NANS"),
    "raise at the first primitive that produces a NaN (FUNCTRANS_DEBUG_NANS)")
check_tracer_leaks = _Option(
    "check_tracer_leaks", _env_flag("FUNCTRANS_CHECK_TRACER_LEAKS"),
    "record every new tracer, so that functrans.leaks.check() (run by checking_leaks() and by "
    "the pytest plugin) can report those that outlive their transformation "
    "(FUNCTRANS_CHECK_TRACER_LEAKS)")
disable_jit = _Option(
    "disable_jit", _env_flag("FUNCTRANS_DISABLE_JIT"),
    "run jit-decorated functions op by op, as plain Python (FUNCTRANS_DISABLE_JIT)")
log_compiles = _Option(
    "log_compiles", _env_flag("FUNCTRANS_LOG_COMPILES"),
    "print each jit compilation: why it happened and how long each phase took "
    "(FUNCTRANS_LOG_COMPILES)")
persistent_cache = _Option(
    "persistent_cache", os.environ.get("FUNCTRANS_PERSISTENT_CACHE", "1") != "0",
    "write generated modules to the on-disk cache, so later processes reuse them "
    "(FUNCTRANS_PERSISTENT_CACHE=0 keeps them in memory)")
cpu_threads = _Option(
    "cpu_threads", int(os.environ.get("FUNCTRANS_CPU_THREADS", "0") or 0) or (os.cpu_count() or 1),
    "threads a jitted function may use for one large fused elementwise group "
    "(FUNCTRANS_CPU_THREADS; default: every CPU; 1 turns threading off)")
traceback_filtering = _Option(
    "traceback_filtering", os.environ.get("FUNCTRANS_TRACEBACK_FILTERING", "on") != "off",
    "hide functrans-internal frames from user-facing errors (FUNCTRANS_TRACEBACK_FILTERING)")


def default_float_dtype() -> np.dtype:
    return default_float.value


def default_int_dtype() -> np.dtype:
    return default_int.value


def default_complex_dtype() -> np.dtype:
    return np.dtype(np.complex128) if default_float.value == np.float64 else np.dtype(
        np.complex64)
