"""Array creation in ``functrans.numpy``: asarray/array, zeros/ones/full(_like), arange,
linspace, eye, and friends.

Python floats and ints take the configured default dtypes (float32 and int32, as in JAX); NumPy
arrays keep their dtype (float64 stays float64). Under a trace, constant-filled arrays are a
scalar broadcast (one equation), never a captured buffer. Imports ``core``, ``lax``,
``_promotion``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from functrans import core, lax
from functrans import dtypes as dt
from functrans.core import Array, Tracer
from functrans.numpy._promotion import cast, shape_of, typeof

__all__ = [
    "array", "asarray", "zeros", "ones", "full", "empty", "zeros_like", "ones_like",
    "full_like", "empty_like", "arange", "linspace", "logspace", "geomspace", "eye", "identity",
    "tri", "bitcast",
]

_SCALARS = (bool, int, float, complex)


def _canonical_shape(shape: Any, name: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) or isinstance(shape, Tracer):
        shape = (shape,)
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError as e:
        raise TypeError(f"functrans.numpy.{name}: shape must be an int or a sequence of ints "
                        f"known at trace time, got {shape!r}") from e
    if any(d < 0 for d in dims):
        raise ValueError(f"functrans.numpy.{name}: negative dimensions are not allowed: {dims}")
    return dims


def _has_tracer(x: Any) -> bool:
    if isinstance(x, Tracer):
        return True
    if isinstance(x, (list, tuple)):
        return any(_has_tracer(e) for e in x)
    return False


def _leaf_types(x: Any, out: list) -> None:
    if isinstance(x, (list, tuple)):
        for e in x:
            _leaf_types(e, out)
    else:
        out.append(typeof(x))


def asarray(a: Any, dtype: Any = None, order: str | None = None, *, copy: bool | None = None
            ) -> Any:
    """Convert ``a`` to an array (like numpy.asarray). Arrays pass through unchanged.

    NumPy arrays keep their dtype; Python scalars are weakly typed with the default dtype of
    their kind; nested lists are promoted like their elements (with traced elements, the result
    is stacked with lax ops).
    """
    dtype = None if dtype is None else dt.canonicalize(dtype)
    t = type(a)
    if t is Array or isinstance(a, Tracer):
        return a if dtype is None or typeof(a)[0] == dtype else cast(a, dtype)
    if t in _SCALARS:
        d, weak = typeof(a)
        if dtype is not None:
            d, weak = dtype, False
        arr = np.asarray(a, d)
        arr.flags.writeable = False
        return Array._wrap(arr, weak)
    if isinstance(a, (list, tuple)):
        if _has_tracer(a):
            return _stack_nested(a, dtype)
        types: list = []
        _leaf_types(a, types)
        if dtype is None:
            dtype = dt.result_type_of(*types)[0] if types else dt.canonicalize(float)
        return Array(np.array(_to_nested_numpy(a), dtype=dtype))
    arr = np.asarray(a)
    return Array(arr if dtype is None else arr.astype(dtype))


def _to_nested_numpy(a: Any) -> Any:
    if isinstance(a, (list, tuple)):
        return [_to_nested_numpy(e) for e in a]
    if type(a) is Array:
        return a._value
    return a


def _stack_nested(a: Any, dtype: np.dtype | None) -> Any:
    if not isinstance(a, (list, tuple)):
        return asarray(a, dtype)
    parts = [_stack_nested(e, dtype) for e in a]
    types = [typeof(p) for p in parts]
    target, weak = dt.result_type_of(*types) if dtype is None else (dtype, False)
    parts = [cast(p, target, weak) for p in parts]
    shapes = {shape_of(p) for p in parts}
    if len(shapes) != 1:
        raise ValueError(f"functrans.numpy.asarray: nested sequence has ragged shapes "
                         f"{sorted(shapes)}")
    (shape,) = shapes
    expanded = [lax.broadcast_in_dim(p, (1, *shape), tuple(range(1, len(shape) + 1)))
                for p in parts]
    return lax.concatenate(expanded, 0)


def array(object: Any, dtype: Any = None, copy: bool = True, order: str | None = None,  # noqa: A002
          ndmin: int = 0) -> Any:
    """Create an array (like numpy.array); functrans arrays are immutable, so no copy is
    ever observable."""
    out = asarray(object, dtype)
    if ndmin > len(shape_of(out)):
        ns = shape_of(out)
        out = lax.reshape(out, (1,) * (ndmin - len(ns)) + ns)
    return out


def full(shape: Any, fill_value: Any, dtype: Any = None) -> Any:
    """An array of ``shape`` filled with ``fill_value`` (which may be an array that
    broadcasts to ``shape``)."""
    shape = _canonical_shape(shape, "full")
    explicit = dtype is not None
    if dtype is None:
        dtype = typeof(fill_value)[0]
    dtype = dt.canonicalize(dtype)
    if type(fill_value) in (bool, int, float, complex):
        value = cast(fill_value, dtype, weak=not explicit)  # a literal of the right type
    else:
        value = cast(asarray(fill_value), dtype)
    if explicit and typeof(value)[1]:
        # An explicit dtype gives a strongly typed array (a weak Python scalar fill does not
        # make it weak), as in JAX.
        value = lax.convert_element_type(value, dtype)
    vshape = shape_of(value)
    if vshape == shape:
        return asarray(value)
    from functrans.numpy._promotion import broadcast_to
    return broadcast_to(value, shape, "full")


def zeros(shape: Any, dtype: Any = None) -> Any:
    """An array of zeros (default dtype float32, configurable)."""
    return full(shape, 0, dt.canonicalize(float if dtype is None else dtype))


def ones(shape: Any, dtype: Any = None) -> Any:
    """An array of ones (default dtype float32, configurable)."""
    return full(shape, 1, dt.canonicalize(float if dtype is None else dtype))


def empty(shape: Any, dtype: Any = None) -> Any:
    """Like zeros: functrans never hands out uninitialized memory."""
    return zeros(shape, dtype)


def full_like(a: Any, fill_value: Any, dtype: Any = None, shape: Any = None) -> Any:
    d, _ = typeof(a)
    return full(shape_of(a) if shape is None else shape, fill_value,
                d if dtype is None else dtype)


def zeros_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    return full_like(a, 0, dtype, shape)


def ones_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    return full_like(a, 1, dtype, shape)


def empty_like(a: Any, dtype: Any = None, shape: Any = None) -> Any:
    return full_like(a, 0, dtype, shape)


def _concrete_scalar(x: Any, name: str, what: str) -> Any:
    value = core.concrete_or_none(x)
    if value is None:
        raise core.errors.ConcretizationTypeError(
            f"functrans.numpy.{name}: {what} must be known at trace time (a Python number), "
            f"but it is traced. Pass it as a static argument (jit(f, static_argnums=...)).")
    return np.asarray(value).item()


def arange(start: Any, stop: Any = None, step: Any = None, dtype: Any = None) -> Any:
    """Evenly spaced values in ``[start, stop)`` (like numpy.arange; bounds must be static).

    Integer bounds give the default int dtype (int32), float bounds the default float dtype.
    """
    start = _concrete_scalar(start, "arange", "start")
    stop = None if stop is None else _concrete_scalar(stop, "arange", "stop")
    step = None if step is None else _concrete_scalar(step, "arange", "step")
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    if dtype is None:
        dtype = dt.result_type_of(*(typeof(v) for v in (start, stop, step)))[0]
    dtype = dt.canonicalize(dtype)
    if start == 0 and step == 1 and isinstance(stop, int):
        return lax.iota(dtype, max(stop, 0))
    return Array(np.arange(start, stop, step).astype(dtype))


def linspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True,
             retstep: bool = False, dtype: Any = None, axis: int = 0) -> Any:
    """``num`` evenly spaced values from start to stop (like numpy.linspace); start and stop
    may be traced arrays."""
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"functrans.numpy.linspace: num must be non-negative, got {num}")
    from functrans.numpy._promotion import promote_args_inexact
    start, stop = promote_args_inexact("linspace", start, stop)
    d = typeof(start)[0]
    out_dtype = d if dtype is None else dt.canonicalize(dtype)
    bshape = shape_of(start)
    div = (num - 1) if endpoint else num
    step = lax.div(lax.sub(stop, start), cast(max(div, 1), d))
    i = lax.broadcasted_iota(d, (num, *bshape), 0)
    ex = lax.broadcast_in_dim(start, (num, *bshape), tuple(range(1, len(bshape) + 1)))
    st = lax.broadcast_in_dim(step, (num, *bshape), tuple(range(1, len(bshape) + 1)))
    out = lax.add(ex, lax.mul(i, st))
    if endpoint and num > 1:
        # The last point is exactly ``stop``, as in NumPy.
        last = lax.broadcast_in_dim(stop, (1, *bshape), tuple(range(1, len(bshape) + 1)))
        out = lax.concatenate([lax.slice(out, (0,) * (len(bshape) + 1),
                                         (num - 1, *bshape)), last], 0)
    if axis != 0:
        from functrans.numpy._shape import moveaxis
        out = moveaxis(out, 0, axis)
    out = cast(out, out_dtype) if out_dtype.kind in "fc" else cast(lax.floor(out), out_dtype)
    return (out, step) if retstep else out


def logspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, base: float = 10.0,
             dtype: Any = None, axis: int = 0) -> Any:
    from functrans.numpy import _ufuncs
    y = linspace(start, stop, num, endpoint=endpoint, axis=axis)
    out = _ufuncs.power(base, y)  # type: ignore[attr-defined]
    return out if dtype is None else cast(out, dt.canonicalize(dtype))


def geomspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: Any = None,
              axis: int = 0) -> Any:
    from functrans.numpy import _ufuncs
    ls, le = _ufuncs.log10(start), _ufuncs.log10(stop)  # type: ignore[attr-defined]
    return logspace(ls, le, num, endpoint, 10.0, dtype, axis)


def _constant(value: np.ndarray) -> Array:
    """A fresh NumPy result as an Array (no copy: nobody else holds it)."""
    value.flags.writeable = False
    return Array._wrap(value)


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> Any:  # noqa: N803
    """Ones on the ``k``-th diagonal of an ``N x M`` matrix."""
    M = N if M is None else M  # noqa: N806
    dtype = dt.canonicalize(float if dtype is None else dtype)
    if core.current_trace() is None:  # eager: the matrix itself (traced: iotas, so
        # that a jitted program does not carry an N x M constant)
        rows, cols = _canonical_shape((N, M), "eye")
        return _constant(np.eye(rows, cols, operator.index(k), dtype))
    rows = lax.broadcasted_iota(dt.int32, (N, M), 0)
    cols = lax.broadcasted_iota(dt.int32, (N, M), 1)
    return cast(lax.eq(lax.add(rows, np.asarray(k, dt.int32)), cols), dtype)


def identity(n: int, dtype: Any = None) -> Any:
    return eye(n, dtype=dtype)


def tri(N: int, M: int | None = None, k: int = 0, dtype: Any = None) -> Any:  # noqa: N803
    """Ones at and below the ``k``-th diagonal."""
    M = N if M is None else M  # noqa: N806
    dtype = dt.canonicalize(float if dtype is None else dtype)
    if core.current_trace() is None:  # eager: the matrix itself (traced: iotas, so
        # that a jitted program does not carry an N x M constant)
        rows, cols = _canonical_shape((N, M), "tri")
        return _constant(np.tri(rows, cols, operator.index(k), dtype))
    rows = lax.broadcasted_iota(dt.int32, (N, M), 0)
    cols = lax.broadcasted_iota(dt.int32, (N, M), 1)
    return cast(lax.ge(lax.add(rows, np.asarray(k, dt.int32)), cols), dtype)


def bitcast(x: Any, dtype: Any) -> Any:
    """Reinterpret the bits of ``x`` as ``dtype`` (same item size)."""
    return lax.bitcast_convert_type(x, dtype)

