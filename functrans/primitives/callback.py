"""``debug_callback``: call back into Python with concrete values, from anywhere in a program.

The primitive has no outputs and is effectful, so DCE, CSE and constant folding leave it alone
and it runs in program order. Its one param, ``callback``, is a Python callable that receives
NumPy arrays; ``functrans.debug`` builds ``print``/``breakpoint``/``callback`` on it. Under
``jvp``/``grad`` it sees primal values only; under ``vmap`` it is called once per example (in
batch order, unbatched operands repeated), as in JAX. Imports ``core`` and the rule vocabularies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.primitives.batch_rules import AxisData
from functrans.primitives.registry import Example, define_primitive
from functrans.primitives.rules import sample_array

__all__ = ["debug_callback", "debug_callback_p"]


def _impl(*args: np.ndarray, callback: Callable) -> list:
    # Read-only views: a callback that tries to write into a program value gets an error
    # instead of corrupting it.
    views = []
    for a in args:
        v = np.asarray(a).view()
        v.flags.writeable = False
        views.append(v)
    callback(*views)
    return []


def _abstract_eval(*avals: ShapedArray, callback: Callable) -> list:
    if not callable(callback):
        raise TypeError(f"functrans debug_callback: callback must be callable, got "
                        f"{type(callback).__name__}")
    return []


def _jvp(primals: Sequence[Any], tangents: Sequence[Any], *, callback: Callable) -> Any:
    # The callback observes primal values; it contributes nothing to derivatives.
    debug_callback_p.bind(*primals, callback=callback)
    return [], []


class PerExample:
    """A callback made from ``callback`` that receives whole batches and calls ``callback``
    once per example, slicing batched operands along their batch dimension."""

    __slots__ = ("callback", "dims", "size")

    def __init__(self, callback: Callable, dims: tuple[int | None, ...], size: int):
        self.callback, self.dims, self.size = callback, dims, size

    def __call__(self, *args: np.ndarray) -> None:
        for i in range(self.size):
            self.callback(*[a if d is None else np.take(a, i, axis=d)
                            for a, d in zip(args, self.dims, strict=True)])

    def __repr__(self) -> str:
        return f"per_example({self.callback!r}, size={self.size})"


def _batch(axis: AxisData, vals: list, dims: list, *, callback: Callable) -> Any:
    debug_callback_p.bind(*vals, callback=PerExample(callback, tuple(dims), axis.size))
    return [], []


def _noop(*args: Any) -> None:
    return None


def _sample(dtype: np.dtype) -> list[Example]:
    return [Example((sample_array((3,), dtype, seed=0),), {"callback": _noop}),
            Example((sample_array((), dtype, seed=1), sample_array((2, 0), dtype, seed=2)),
                    {"callback": _noop}, "0d-empty")]


debug_callback_p = define_primitive(
    "debug_callback", family="other", impl=_impl, abstract_eval=_abstract_eval,
    dtypes=dt.ALL, sample=_sample, multiple_results=True, jvp=_jvp, batch=_batch,
    effectful=True,
    doc="call callback(*arrays) for its side effect (printing, debugging); no outputs")


def debug_callback(*args: Any, callback: Callable) -> None:
    """Call ``callback`` with the NumPy values of ``args`` when the program runs."""
    debug_callback_p.bind(*args, callback=callback)
