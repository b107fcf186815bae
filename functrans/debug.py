"""Debugging inside transformed code: ``print``, ``breakpoint`` and ``callback``.

Each is one ``debug_callback`` equation (functrans/primitives/callback.py): it survives
``jit`` (the format string and any non-array values stay in the callback object, never in
generated source), sees primal values under ``grad``/``jvp``, and runs once per example
under ``vmap``, in batch order. Outside any transform they act immediately.

>>> import functrans as ft, functrans.numpy as fnp
>>> @ft.jit
... def f(x):
...     ft.debug.print("x = {x}, total {t:.1f}", x=x, t=fnp.sum(x))
...     return x * 2
>>> _ = f(fnp.arange(3.0))
x = [0. 1. 2.], total 3.0
"""

from __future__ import annotations

import builtins
import pdb  # noqa: T100  (debug.breakpoint opens pdb on purpose)
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from functrans import core, tree_util
from functrans.primitives.callback import debug_callback_p

__all__ = ["breakpoint", "callback", "print"]


def _is_array(x: Any) -> bool:
    return isinstance(x, (core.Array, core.Tracer, np.ndarray, np.generic))


class _Rebuild:
    """Calls ``fn`` with the pytree ``(args, kwargs)`` rebuilt from the runtime arrays and
    the static leaves captured at trace time."""

    __slots__ = ("fn", "slots", "static", "treedef")

    def __init__(self, fn: Callable, treedef: Any, static: list, slots: list[int]):
        self.fn, self.treedef, self.static, self.slots = fn, treedef, static, slots

    def __call__(self, *arrays: np.ndarray) -> None:
        leaves = list(self.static)
        for i, a in zip(self.slots, arrays, strict=True):
            leaves[i] = a
        args, kwargs = tree_util.tree_unflatten(self.treedef, leaves)
        self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return getattr(self.fn, "__qualname__", None) or repr(self.fn)


def callback(fn: Callable, *args: Any, ordered: bool = False, **kwargs: Any) -> None:
    """Call ``fn(*args, **kwargs)`` with the NumPy values of the arrays in ``args`` and
    ``kwargs`` (any pytrees) when the program runs, like ``jax.debug.callback``. ``fn`` must
    not return a value the program uses; its return value is ignored. ``ordered`` is
    accepted for JAX compatibility: functrans always runs callbacks in program order."""
    leaves, treedef = tree_util.tree_flatten((args, kwargs))
    slots = [i for i, x in enumerate(leaves) if _is_array(x)]
    static = [None if i in set(slots) else x for i, x in enumerate(leaves)]
    debug_callback_p.bind(*[leaves[i] for i in slots],
                          callback=_Rebuild(fn, treedef, static, slots))


class _Printer:
    __slots__ = ("fmt",)

    def __init__(self, fmt: str):
        self.fmt = fmt

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        builtins.print(self.fmt.format(*args, **kwargs))

    def __repr__(self) -> str:
        return "debug.print"


def print(fmt: str, *args: Any, ordered: bool = False, **kwargs: Any) -> None:
    """Print ``fmt.format(*args, **kwargs)`` with the runtime values of array arguments, under
    ``jit``, ``grad`` and ``vmap`` too (Python's ``print`` would show tracers). Format specs
    apply to the NumPy values, so ``{x:.3f}`` works for scalars. Under ``vmap`` it prints once
    per example; under ``grad`` it prints primal values, once."""
    if not isinstance(fmt, str):
        raise TypeError(f"functrans.debug.print: the format must be a str, got "
                        f"{type(fmt).__name__}")
    callback(_Printer(fmt), *args, ordered=ordered, **kwargs)


def _debugger() -> pdb.Pdb:
    """The debugger ``breakpoint`` opens (tests replace it with one reading a script)."""
    return pdb.Pdb()


class _Breakpoint:
    __slots__ = ("where",)

    def __init__(self, where: str):
        self.where = where

    def __call__(self, namespace: dict) -> None:
        shown = ", ".join(k for k, v in namespace.items() if isinstance(v, np.ndarray))
        builtins.print(f"functrans.debug.breakpoint at {self.where}; these locals are "
                       f"concrete arrays here: {shown or '(none)'}. 'c' continues.")
        _debugger().run("pass", dict(namespace), dict(namespace))

    def __repr__(self) -> str:
        return "debug.breakpoint"


def breakpoint(*, backend: str | None = None, filter_frames: bool = True,
               num_frames: int | None = None, ordered: bool = False,
               token: Any = None) -> Any:
    """Stop in pdb when the program runs, with the caller's local variables available and
    every array among them (traced ones included, also inside lists and dicts) a concrete
    NumPy value, like ``jax.debug.breakpoint``. Works under ``jit``, ``grad`` and ``vmap``
    (once per example). The other arguments are accepted for JAX compatibility."""
    frame = sys._getframe(1)
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    namespace = dict(frame.f_locals)
    del frame
    callback(_Breakpoint(where), namespace)
    return token
