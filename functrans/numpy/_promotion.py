"""Argument handling for ``functrans.numpy``: what counts as an array, dtype promotion with
weak Python scalars, and NumPy broadcasting made explicit with ``lax.broadcast_in_dim``.

Every fnp function funnels its array arguments through ``promote_args`` (or a variant), so
shape and dtype errors read the same everywhere. Imports ``core``, ``dtypes`` and ``lax``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from functrans import core, lax
from functrans import dtypes as dt
from functrans.core import Array, Tracer
from functrans.errors import DtypeError, ShapeError

_SCALARS = (bool, int, float, complex)


def info(x: Any) -> tuple[np.dtype, bool, tuple[int, ...]]:
    """(dtype, weak_type, shape) of an fnp argument without converting it (hot path)."""
    t = type(x)
    if t is Array:
        v = x._value
        return v.dtype, x._weak, v.shape
    if t in _SCALARS:
        return dt.scalar_dtype(x), t is not bool, ()
    if isinstance(x, Tracer):
        a = x.aval
        return a.dtype, a.weak_type, a.shape
    if t is np.ndarray or isinstance(x, np.generic):
        return dt.canonicalize(x.dtype), False, x.shape
    a = core.get_aval(asarray_leaf(x))
    return a.dtype, a.weak_type, a.shape


def typeof(x: Any) -> tuple[np.dtype, bool]:
    """(dtype, weak_type) of an fnp argument without converting it."""
    d, w, _ = info(x)
    return d, w


def asarray_leaf(x: Any) -> Any:
    """Accept NumPy-like inputs (lists, tuples, objects with __array__) as arrays."""
    t = type(x)
    if t is Array or t in _SCALARS or isinstance(x, (Tracer, np.ndarray, np.generic)):
        return x
    if isinstance(x, (list, tuple)):
        from functrans.numpy._creation import asarray
        return asarray(x)
    if hasattr(x, "__array__") or hasattr(x, "__array_interface__"):
        arr = np.asarray(x)
        dt.canonicalize(arr.dtype)
        return arr
    raise TypeError(f"functrans.numpy: expected an array, a scalar or a (nested) list of "
                    f"them, got {t.__name__}")


def shape_of(x: Any) -> tuple[int, ...]:
    t = type(x)
    if t in _SCALARS:
        return ()
    return tuple(x.shape)


def describe(x: Any) -> str:
    d, w = typeof(x)
    return core.ShapedArray(shape_of(x), d, w).str_short()


def result_type(*args: Any) -> tuple[np.dtype, bool]:
    return dt.result_type_of(*(typeof(a) for a in args))


def cast(x: Any, dtype: np.dtype, weak: bool = False) -> Any:
    """``x`` as ``dtype``: Python scalars become 0-d constants, arrays get a convert op."""
    t = type(x)
    if t in _SCALARS:
        arr = np.asarray(x, dtype)
        if not weak:
            return arr
        arr.flags.writeable = False
        return Array._wrap(arr, True)
    if typeof(x)[0] == dtype:
        # Only the weak flag may differ; the primitive's result type does not depend on it
        # once a strong operand of the same dtype is present, so no convert is needed.
        return x
    return lax.convert_element_type_p.bind(x, new_dtype=dtype, weak_type=weak)


def broadcast_shapes(name: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy broadcasting of shapes, with an error that names every operand shape."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        size = 1
        for s in shapes:
            if len(s) >= -i:
                d = s[i]
                if d != 1:
                    if size not in (1, d):
                        shown = " and ".join(str(tuple(s)) for s in shapes)
                        raise ShapeError(
                            f"functrans.numpy.{name}: shapes {shown} do not broadcast "
                            f"(axis {i}: {size} vs {d})")
                    size = d
        out.append(size)
    return tuple(out)


def broadcast_to(x: Any, shape: tuple[int, ...], name: str = "broadcast_to") -> Any:
    """Broadcast one operand to ``shape`` with a single broadcast_in_dim (or nothing)."""
    xs = shape_of(x)
    if xs == shape:
        return x
    if len(xs) > len(shape) or broadcast_shapes(name, xs, shape) != shape:
        raise ShapeError(f"functrans.numpy.{name}: cannot broadcast shape {xs} to {shape}")
    return _broadcast_checked(x, xs, shape)


def _broadcast_checked(x: Any, xs: tuple[int, ...], shape: tuple[int, ...]) -> Any:
    """``broadcast_to`` for a shape ``xs`` already known to broadcast to ``shape``."""
    lead = len(shape) - len(xs)
    keep = tuple(i for i, d in enumerate(xs) if d == shape[lead + i])
    if len(keep) != len(xs):
        # Size-1 dims that expand are squeezed first so broadcast_in_dim sees only real dims.
        x = lax.reshape(x, tuple(xs[i] for i in keep))
    return lax.broadcast_in_dim_p.bind(x, shape=shape,
                                       broadcast_dimensions=tuple(lead + i for i in keep))


def promote_shapes(name: str, *args: Any) -> list[Any]:
    """Broadcast non-scalar operands to their common shape (0-d operands stay 0-d: every
    elementwise primitive broadcasts them itself, which keeps jaxprs short)."""
    shapes = [shape_of(a) for a in args]
    nonscalar = {s for s in shapes if s}
    if len(nonscalar) <= 1:
        return list(args)
    shape = broadcast_shapes(name, *shapes)
    return [a if not s or s == shape else _broadcast_checked(a, s, shape)
            for a, s in zip(args, shapes, strict=True)]


def promote_dtypes(*args: Any, dtype: np.dtype | None = None) -> list[Any]:
    if dtype is None and len(args) == 2 and type(args[0]) is Array and \
            type(args[1]) is Array and args[0]._value.dtype == args[1]._value.dtype:
        return list(args)  # one dtype, whatever the weak flags: nothing to cast (x @ w)
    if dtype is None:
        dtype, weak = result_type(*args)
    else:
        weak = False
    return [cast(a, dtype, weak) for a in args]


def promote_args(name: str, *args: Any) -> list[Any]:
    """Common dtype, then common shape: the arguments an elementwise primitive wants."""
    fast = _fast_promote(args, "biufc")
    if fast is not None:
        return fast
    args = [asarray_leaf(a) for a in args]
    infos = [info(a) for a in args]
    if (len(infos) == 2 and infos[0] == infos[1] and type(args[0]) not in _SCALARS
            and type(args[1]) not in _SCALARS):
        return args  # two arrays of one type: nothing to promote (the common eager case)
    dtype, weak = dt.result_type_of(*[(d, w) for d, w, _ in infos])
    return _finish(name, args, infos, dtype, weak)


def _finish(name: str, args: list[Any], infos: list[tuple], dtype: np.dtype, weak: bool
            ) -> list[Any]:
    """Cast to ``dtype`` where needed and broadcast non-scalar operands to a common shape."""
    out = [a if d == dtype and type(a) not in _SCALARS else cast(a, dtype, weak)
           for a, (d, _, _) in zip(args, infos, strict=True)]
    shapes = [s for _, _, s in infos]
    first = None
    for s in shapes:
        if s:
            if first is None:
                first = s
            elif s != first:
                return promote_shapes(name, *out)
    return out


_ALL_DTYPES = frozenset(dt.ALL)


def _strong_dtype(x: Any) -> np.dtype | None:
    """The dtype of a strongly typed Array, or of an ndarray of a supported dtype; None for
    anything else (weak Arrays, tracers, scalars, lists, unsupported dtypes)."""
    t = type(x)
    if t is Array:
        return None if x._weak else x._value.dtype
    if t is np.ndarray:
        d = x.dtype
        return d if d in _ALL_DTYPES else None
    return None


def _fast_promote(args: tuple[Any, ...], kinds: str) -> list[Any] | None:
    """The promoted arguments of the common eager calls, or None when unsure (then the general
    path runs): a lone strong Array or ndarray (``sin(x)``); two of one dtype and shape
    (``x * y``); a floating one and a Python int or float (``x + 1``, ``2.0 * x``), which
    takes its dtype and needs no broadcast. Their dtype kind must be in ``kinds`` (those the
    caller keeps unchanged)."""
    if len(args) == 1:
        d = _strong_dtype(args[0])
        return [args[0]] if d is not None and d.kind in kinds else None
    if len(args) != 2:
        return None
    x, y = args
    dx, dy = _strong_dtype(x), _strong_dtype(y)
    if dx is not None and dy is not None:
        if dx == dy and dx.kind in kinds and x.shape == y.shape:
            return [x, y]
        return None
    if dx is not None:
        arr, s, d = x, y, dx
    elif dy is not None:
        arr, s, d = y, x, dy
    else:
        return None
    ts = type(s)
    if (ts is not float and ts is not int) or d.kind not in "fc" or d.kind not in kinds:
        return None
    if ts is int:
        dt.scalar_dtype(s)  # an int beyond int64 raises here, as in the general path
    c = cast(s, d)
    return [arr, c] if arr is x else [c, arr]


def promote_args_inexact(name: str, *args: Any) -> list[Any]:
    """Like promote_args, but integers and booleans become the default float dtype."""
    fast = _fast_promote(args, "fc")
    if fast is not None:
        return fast
    args = [asarray_leaf(a) for a in args]
    infos = [info(a) for a in args]
    dtype, weak = dt.result_type_of(*[(d, w) for d, w, _ in infos])
    if dtype.kind not in "fc":
        # Integers and booleans compute in the default float type (as JAX does; NumPy would
        # pick float64 for int64 inputs).
        dtype = dt.canonicalize(float)
    return _finish(name, args, infos, dtype, weak)


def promote_args_numeric(name: str, *args: Any) -> list[Any]:
    """Like promote_args, but booleans are refused (for arithmetic that has no boolean
    meaning, e.g. subtract), as in NumPy."""
    fast = _fast_promote(args, "iufc")
    if fast is not None:
        return fast
    args = [asarray_leaf(a) for a in args]
    infos = [info(a) for a in args]
    dtype, weak = dt.result_type_of(*[(d, w) for d, w, _ in infos])
    if dtype == dt.bool_:
        raise DtypeError(f"functrans.numpy.{name}: not defined for boolean arrays; use "
                         f"logical_xor / logical_not, or convert with .astype(int)")
    return _finish(name, args, infos, dtype, weak)


def check_arraylike(name: str, *args: Any) -> None:
    for a in args:
        if not (isinstance(a, (Array, Tracer, np.ndarray, np.generic, list, tuple))
                or type(a) in _SCALARS or hasattr(a, "__array__")):
            raise TypeError(f"functrans.numpy.{name}: expected an array, got "
                            f"{type(a).__name__}")


def canonical_axis(name: str, axis: int, ndim: int) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        axis = core.concrete_or_none(axis)
        if axis is None:
            raise TypeError(f"functrans.numpy.{name}: axis must be a static Python int")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(
            f"functrans.numpy.{name}: axis {axis} is out of bounds for an array of rank {ndim}")
    return axis % ndim if ndim else 0


def canonical_axes(name: str, axis: int | Sequence[int] | None, ndim: int
                   ) -> tuple[int, ...]:
    """``axis=None`` means every axis; ints and tuples are normalized and checked."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = tuple(canonical_axis(name, a, ndim) for a in axes)
    if len(set(out)) != len(out):
        raise ValueError(f"functrans.numpy.{name}: repeated axis in {axis}")
    return out
