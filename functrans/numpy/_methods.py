"""Operators and methods of ``functrans.Array`` and of tracers, installed at import.

Both kinds of value get the same Python operators (``+``, ``@``, ``[]``, comparisons...) and
jax.Array's methods (``sum``, ``reshape``, ``astype``, ``T``, ``at`` ...), each a thin call into
``functrans.numpy``, so eager code and traced code behave alike. Imports the fnp submodules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.core import Array, Tracer
from functrans.numpy import _contraction, _creation, _indexing, _reductions, _shape, _ufuncs
from functrans.numpy import _manip, _selection, _sorting
from functrans.numpy._promotion import cast

_OPERAND_TYPES = (Array, Tracer, np.ndarray, np.generic, bool, int, float, complex)


def _binop(fn: Callable, reflected: bool = False) -> Callable:
    """An operator method that defers (NotImplemented) to unknown operand types."""
    if reflected:
        def op(self: Any, other: Any) -> Any:
            if not isinstance(other, _OPERAND_TYPES):
                return NotImplemented
            return fn(other, self)
    else:
        def op(self: Any, other: Any) -> Any:
            if not isinstance(other, _OPERAND_TYPES):
                return NotImplemented
            return fn(self, other)
    return op


_BINARY_OPERATORS = {
    "add": _ufuncs.add, "sub": _ufuncs.subtract, "mul": _ufuncs.multiply,  # type: ignore
    "truediv": _ufuncs.true_divide, "floordiv": _ufuncs.floor_divide,  # type: ignore
    "mod": _ufuncs.remainder, "pow": _ufuncs.power, "matmul": _contraction.matmul,  # type: ignore
    "and": _ufuncs.bitwise_and, "or": _ufuncs.bitwise_or,  # type: ignore
    "xor": _ufuncs.bitwise_xor, "lshift": _ufuncs.left_shift,  # type: ignore
    "rshift": _ufuncs.right_shift, "divmod": _ufuncs.divmod,  # type: ignore
}
_COMPARISONS = {
    "eq": _ufuncs.equal, "ne": _ufuncs.not_equal, "lt": _ufuncs.less,  # type: ignore
    "le": _ufuncs.less_equal, "gt": _ufuncs.greater, "ge": _ufuncs.greater_equal,  # type: ignore
}
_UNARY_OPERATORS = {
    "neg": _ufuncs.negative, "pos": _ufuncs.positive, "abs": _ufuncs.absolute,  # type: ignore
    "invert": _ufuncs.invert,  # type: ignore
}


def _reshape(self: Any, *shape: Any, order: str = "C") -> Any:
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]
    return _shape.reshape(self, shape, order)


def _transpose(self: Any, *axes: Any) -> Any:
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = axes[0]
    return _shape.transpose(self, axes if axes else None)


def _astype(self: Any, dtype: Any, copy: bool = False) -> Any:
    return cast(self, dt.canonicalize(dtype))


def _round(self: Any, decimals: int = 0) -> Any:
    return _ufuncs.round(self, decimals)  # type: ignore[attr-defined]


def _python_round(self: Any, ndigits: int | None = None) -> Any:
    if ndigits is None:
        return round(float(self))
    return _ufuncs.round(self, ndigits)  # type: ignore[attr-defined]


def _flatten(self: Any, order: str = "C") -> Any:
    return _shape.ravel(self, order)


def _copy(self: Any) -> Any:
    from functrans import lax
    return lax.copy(self)


_METHODS: dict[str, Callable] = {
    "reshape": _reshape, "transpose": _transpose, "astype": _astype, "round": _round,
    "flatten": _flatten, "ravel": _flatten, "copy": _copy,
    "sum": _reductions.sum, "prod": _reductions.prod, "max": _reductions.max,
    "min": _reductions.min, "mean": _reductions.mean, "var": _reductions.var,
    "std": _reductions.std, "all": _reductions.all, "any": _reductions.any,
    "argmax": _reductions.argmax, "argmin": _reductions.argmin,
    "cumsum": _reductions.cumsum, "cumprod": _reductions.cumprod, "ptp": _reductions.ptp,
    "squeeze": _shape.squeeze, "swapaxes": _shape.swapaxes, "dot": _contraction.dot,
    "clip": _ufuncs.clip, "conj": _ufuncs.conjugate, "conjugate": _ufuncs.conjugate,  # type: ignore
    "sort": _sorting.sort, "argsort": _sorting.argsort, "argpartition": _sorting.argpartition,
    "searchsorted": _sorting.searchsorted, "repeat": _manip.repeat, "choose": _manip.choose,
    "take": _selection.take, "diagonal": _selection.diagonal, "trace": _selection.trace,
    "nonzero": _selection.nonzero,
    "compress": lambda self, condition, axis=None, *, size=None, fill_value=0:
        _selection.compress(condition, self, axis, size=size, fill_value=fill_value),
}
_PROPERTIES: dict[str, Callable] = {
    "T": lambda self: _shape.transpose(self),
    "mT": lambda self: _shape.matrix_transpose(self),
    "real": lambda self: _ufuncs.real(self),  # type: ignore[attr-defined]
    "imag": lambda self: _ufuncs.imag(self),  # type: ignore[attr-defined]
    "at": lambda self: _indexing.IndexUpdateHelper(self),
}


def _array_iter(self: Array) -> Any:
    if not self.ndim:
        raise TypeError("iteration over a 0-d functrans.Array")
    for row in self._value:
        row = np.asarray(row)
        row.flags.writeable = False
        yield Array._wrap(row, self._weak)


def _install(cls: type) -> None:
    for name, fn in _BINARY_OPERATORS.items():
        setattr(cls, f"__{name}__", _binop(fn))
        setattr(cls, f"__r{name}__", _binop(fn, reflected=True))
    for name, fn in _COMPARISONS.items():
        setattr(cls, f"__{name}__", _binop(fn))
    for name, fn in _UNARY_OPERATORS.items():
        setattr(cls, f"__{name}__", fn)
    setattr(cls, "__round__", _python_round)
    setattr(cls, "__getitem__", _indexing.getitem)
    for name, fn in _METHODS.items():
        setattr(cls, name, fn)
    for name, fn in _PROPERTIES.items():
        setattr(cls, name, property(fn))


_install(Array)
_install(Tracer)
Array.__iter__ = _array_iter  # type: ignore[method-assign]
# Arrays compare elementwise, so they cannot be hashed (as in NumPy and JAX).
Array.__hash__ = None  # type: ignore[assignment]
Tracer.__hash__ = None  # type: ignore[assignment]
_ = (core, _creation)
