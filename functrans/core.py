"""Abstract values, arrays, tracers, traces and ``bind``: what every transformation shares.

Glossary. An *aval* (``ShapedArray``) is what is known about a value without its numbers:
shape, dtype and whether it is *weakly typed* (came from a Python scalar, so it does not
widen other operands). A *primitive* is an operation with rules (``primitives/registry.py``).
``bind(prim, *args, **params)`` applies a primitive: eagerly on concrete ``Array``s, or, under
a transformation, through the *current trace*. A *trace* is one running interpreter (JVP,
batching, staging to a jaxpr); its values are *tracers*. The current trace is a context
variable, so traces nest (each has a ``parent``) and threads never mix. A trace runs its rules
with its parent current; at the bottom (parent ``None``) primitives are evaluated with NumPy.

Start reading at ``bind``. This module imports only numpy, ``dtypes``, ``config``, ``errors``.
"""

from __future__ import annotations

import contextlib
import contextvars
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from functrans import config
from functrans import dtypes as dt
from functrans import errors
from functrans.errors import SourceInfo

# --- abstract values ----------------------------------------------------------------------------


_STR_SHORT: dict[tuple, str] = {}  # ShapedArray.str_short, memoized (printing is hot in codegen)


class ShapedArray:
    """The type of an array value: ``shape``, ``dtype`` and ``weak_type``."""

    __slots__ = ("shape", "dtype", "weak_type", "_hash")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, weak_type: bool = False):
        self.shape = shape
        self.dtype = dtype
        self.weak_type = weak_type
        self._hash = None  # avals are hashed on every memoized abstract eval: compute once

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def update(self, shape: tuple[int, ...] | None = None, dtype: np.dtype | None = None,
               weak_type: bool | None = None) -> ShapedArray:
        return ShapedArray(self.shape if shape is None else shape,
                           self.dtype if dtype is None else dtype,
                           self.weak_type if weak_type is None else weak_type)

    def strip_weak_type(self) -> ShapedArray:
        return ShapedArray(self.shape, self.dtype) if self.weak_type else self

    def str_short(self) -> str:
        """``f32[3,4]``: the form used in jaxprs and error messages."""
        key = (self.dtype, self.shape)
        text = _STR_SHORT.get(key)
        if text is None:
            if len(_STR_SHORT) > 4096:
                _STR_SHORT.clear()
            text = _STR_SHORT[key] = (f"{dt.short_name(self.dtype)}"
                                      f"[{','.join(map(str, self.shape))}]")
        return text

    def __eq__(self, other: object) -> bool:
        return (type(other) is ShapedArray and self.shape == other.shape
                and self.dtype == other.dtype and self.weak_type == other.weak_type)

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = self._hash = hash((self.shape, self.dtype, self.weak_type))
        return h

    def __reduce__(self) -> Any:
        # Not the cached hash: dtype hashes differ between processes.
        return (ShapedArray, (self.shape, self.dtype, self.weak_type))

    def __repr__(self) -> str:
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapedArray({self.dtype}[{','.join(map(str, self.shape))}]{weak})"


class ShapeDtypeStruct:
    """A shape and dtype, as ``eval_shape`` returns them; also accepted wherever an array is
    only needed for its type (``make_jaxpr(f)(ShapeDtypeStruct((3,), np.float32))``)."""

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape: Sequence[int], dtype: Any, weak_type: bool = False):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = dt.canonicalize(dtype)
        self.weak_type = bool(weak_type)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ShapeDtypeStruct) and self.shape == other.shape
                and self.dtype == other.dtype and self.weak_type == other.weak_type)

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.weak_type))

    def __repr__(self) -> str:
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype}{weak})"


_PY_SCALARS = (bool, int, float, complex)
_NUMPY_AVALS: dict[tuple, ShapedArray] = {}  # get_aval of NumPy values, by (shape, dtype)


def get_aval(x: Any) -> ShapedArray:
    """The aval of any array-like value functrans accepts."""
    t = type(x)
    if t is Array:
        aval = x._aval  # immutable, so its type is computed once
        if aval is None:
            aval = x._aval = ShapedArray(x._value.shape, x._value.dtype, x._weak)
        return aval
    if isinstance(x, Tracer):
        return x.aval
    if t is np.ndarray or isinstance(x, np.generic):
        # One aval per (shape, dtype): the memoized abstract eval then matches it by identity.
        key = (x.shape, x.dtype)
        aval = _NUMPY_AVALS.get(key)
        if aval is None:
            if len(_NUMPY_AVALS) > 4096:
                _NUMPY_AVALS.clear()
            aval = _NUMPY_AVALS[key] = ShapedArray(x.shape, dt.canonicalize(x.dtype))
        return aval
    if t in _PY_SCALARS:
        return ShapedArray((), dt.scalar_dtype(x), t is not bool)
    if isinstance(x, (Array, np.ndarray)):
        return ShapedArray(x.shape, dt.canonicalize(x.dtype), getattr(x, "_weak", False))
    if isinstance(x, ShapeDtypeStruct):
        return ShapedArray(tuple(x.shape), dt.canonicalize(x.dtype), x.weak_type)
    if hasattr(x, "__array__") or hasattr(x, "__array_interface__"):
        arr = np.asarray(x)
        return ShapedArray(arr.shape, dt.canonicalize(arr.dtype))
    raise TypeError(
        f"functrans: a value of type {t.__name__} is not an array; pass a NumPy array, a "
        f"Python scalar or a functrans.Array")


def is_array_like(x: Any) -> bool:
    return isinstance(x, (Array, Tracer, np.ndarray, np.generic, *_PY_SCALARS))


# --- concrete arrays ----------------------------------------------------------------------------


class Array:
    """An immutable array: a read-only NumPy buffer with a dtype and a weak-type flag.

    Arrays come out of every functrans operation. ``np.asarray(a)`` gives the buffer without a
    copy (read-only). Writes raise ``ImmutableArrayError``; use ``a.at[idx].set(v)``, which
    returns a new array. Operators and methods are installed by ``functrans.numpy``.
    """

    __slots__ = ("_value", "_weak", "_aval", "__weakref__")
    __array_priority__ = 100

    def __init__(self, value: Any, weak_type: bool = False):
        arr = np.array(value, copy=True)
        dt.canonicalize(arr.dtype)
        arr.flags.writeable = False
        self._value = arr
        self._weak = bool(weak_type)
        self._aval = None

    @classmethod
    def _wrap(cls, value: np.ndarray, weak_type: bool = False) -> Array:
        """Adopt a buffer that nobody else may write (internal fast path, no copy)."""
        self = object.__new__(cls)
        self._value = value
        self._weak = weak_type
        self._aval = None
        return self

    @classmethod
    def _typed(cls, value: np.ndarray, aval: ShapedArray) -> Array:
        """``_wrap`` for a buffer whose abstract value is already known."""
        self = object.__new__(cls)
        self._value = value
        self._weak = aval.weak_type
        self._aval = aval
        return self

    @property
    def aval(self) -> ShapedArray:
        return get_aval(self)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    @property
    def ndim(self) -> int:
        return self._value.ndim

    @property
    def size(self) -> int:
        return self._value.size

    @property
    def weak_type(self) -> bool:
        return self._weak

    @property
    def nbytes(self) -> int:
        return self._value.nbytes

    @property
    def itemsize(self) -> int:
        return self._value.itemsize

    @property
    def device(self) -> str:
        return "cpu"

    def block_until_ready(self) -> Array:
        return self

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        """DLPack export, without a copy for DLPack >= 1.0 consumers (the buffer is marked
        read-only); older consumers get a copy, since a writable alias would break
        immutability."""
        max_version = kwargs.get("max_version")
        if max_version is None or tuple(max_version) < (1, 0):
            return np.array(self._value, copy=True).__dlpack__(*args, **kwargs)
        return self._value.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._value.__dlpack_device__()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        v = self._value
        if dtype is not None and np.dtype(dtype) != v.dtype:
            return v.astype(dtype)
        return v.copy() if copy else v

    def __len__(self) -> int:
        if not self._value.ndim:
            raise TypeError("len() of unsized object (a 0-d functrans.Array)")
        return self._value.shape[0]

    def __bool__(self) -> bool:
        return bool(self._value)

    def __int__(self) -> int:
        return int(self._value)

    def __float__(self) -> float:
        return float(self._value)

    def __complex__(self) -> complex:
        return complex(self._value)

    def __index__(self) -> int:
        if self._value.dtype.kind not in "iub":
            raise TypeError(
                f"only integer arrays can be used as an index, got {self._value.dtype}")
        return self._value.__index__()

    def item(self, *args: Any) -> Any:
        return self._value.item(*args)

    def tolist(self) -> Any:
        return self._value.tolist()

    def __setitem__(self, idx: Any, value: Any) -> None:
        raise errors.ImmutableArrayError(
            "functrans.Array is immutable: `a[idx] = v` is not allowed. Use "
            "`a = a.at[idx].set(v)` (or .add/.mul/.min/.max), which returns an updated copy.")

    __hash__ = None  # type: ignore[assignment]  # arrays compare elementwise, like NumPy's

    def __repr__(self) -> str:
        v = self._value
        body = np.array2string(v, separator=", ", prefix="Array(")
        weak = ", weak_type=True" if self._weak else ""
        return f"Array({body}, dtype={v.dtype}{weak})"

    def __str__(self) -> str:
        return str(self._value)

    def __format__(self, spec: str) -> str:
        if self._value.ndim == 0:
            return format(self._value.item(), spec)
        return format(str(self), spec)

    def __copy__(self) -> Array:
        return self

    def __deepcopy__(self, memo: Any) -> Array:
        return self

    def __reduce__(self) -> Any:
        return (Array, (self._value, self._weak))


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy view of a concrete value (no copy for Arrays and ndarrays)."""
    t = type(x)
    if t is Array:
        return x._value
    if t is np.ndarray:
        return x
    if t in _PY_SCALARS:
        return np.asarray(x, dt.scalar_dtype(x))
    if isinstance(x, Tracer):
        raise x._escaped_or_conversion_error()
    return np.asarray(x)


# --- traces and tracers -------------------------------------------------------------------------

_trace_var: contextvars.ContextVar[Trace | None] = contextvars.ContextVar(
    "functrans.current_trace", default=None)


def current_trace() -> Trace | None:
    """The innermost running trace, or None when primitives evaluate eagerly."""
    return _trace_var.get()


@contextlib.contextmanager
def set_current_trace(trace: Trace | None) -> Iterator[None]:
    token = _trace_var.set(trace)
    try:
        yield
    finally:
        _trace_var.reset(token)


class DebugInfo:
    """What a trace is doing, for error messages: transform, function, argument names."""

    __slots__ = ("transform", "fun", "_arg_names", "_args")

    def __init__(self, transform: str, fun: Any, args: tuple = (), kwargs: dict | None = None,
                 arg_names: Sequence[str] | None = None):
        self.transform = transform
        self.fun = fun
        self._args = (args, kwargs or {})
        self._arg_names = None if arg_names is None else tuple(arg_names)

    @property
    def fun_location(self) -> str:
        return errors.function_location(self.fun)

    def arg_names(self) -> tuple[str, ...]:
        """One name per flattened input leaf, like ``x`` or ``params['w'][0]`` (lazy)."""
        if self._arg_names is None:
            from functrans import api_util
            self._arg_names = api_util.argument_leaf_names(self.fun, *self._args)
        return self._arg_names

    def detached(self) -> DebugInfo:
        """This record for a staged jaxpr, which outlives its trace: without the traced
        arguments (kept to name them while tracing) and with the function's name and code in
        place of the function, whose closure may hold an enclosing trace's tracers."""
        fun = self.fun
        code = getattr(getattr(fun, "__wrapped__", fun), "__code__", None)
        name = getattr(fun, "__qualname__", None) or getattr(fun, "__name__", None) or repr(fun)
        return DebugInfo(self.transform, types.SimpleNamespace(__qualname__=name, __code__=code),
                         arg_names=self._arg_names)


class Trace:
    """One running interpreter. Subclasses implement ``process_primitive``."""

    __slots__ = ("parent", "alive", "debug", "__weakref__")

    def __init__(self, parent: Trace | None, debug: DebugInfo):
        self.parent = parent
        self.alive = True
        self.debug = debug

    def process_primitive(self, prim: Any, args: Sequence[Any], params: dict) -> Any:
        raise NotImplementedError(type(self).__name__)

    def why_traced(self, tracer: Tracer) -> str:
        """One sentence on why this tracer's value is not known (for concretization errors)."""
        d = self.debug
        return (f"The value is traced by {d.transform} while it traces {d.fun_location}, so "
                f"its concrete value is not available to Python.")

    def traced_arg_names(self, tracer: Tracer) -> list[str]:
        """Names of the user's arguments this tracer depends on, where the trace knows."""
        return []

    def concretization_fix(self, tracer: Tracer, conversion: str) -> str:
        names = self.traced_arg_names(tracer)
        static = (f"mark {', '.join(repr(n) for n in names)} static "
                  f"(jit(f, static_argnames=...) / static_argnums=...)" if names
                  else "pass the value as a static argument (jit(f, static_argnums=...))")
        if conversion == "bool":
            return ("Fix: use functrans.lax.cond(pred, true_fn, false_fn, *operands) or "
                    "lax.while_loop for control flow, functrans.numpy.where(pred, x, y) for an "
                    f"elementwise choice, or {static} so that Python sees its value.")
        if conversion == "int":
            return ("Fix: sizes, shapes and Python indices must be known at trace time: "
                    f"{static}, derive them from .shape, or use lax.dynamic_slice / "
                    "functrans.numpy indexing with the traced index.")
        return (f"Fix: keep computing with functrans.numpy functions instead of Python numbers, "
                f"or {static}.")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.debug.transform} of {self.debug.fun_location})"


class Tracer:
    """A value inside a running trace. Subclasses define ``aval``."""

    __slots__ = ("_trace", "__weakref__")  # weakly referenced by leak checking (leaks.py)
    __array_priority__ = 1000

    @property
    def aval(self) -> ShapedArray:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        return self.aval.shape

    @property
    def dtype(self) -> np.dtype:
        return self.aval.dtype

    @property
    def ndim(self) -> int:
        return len(self.aval.shape)

    @property
    def size(self) -> int:
        return self.aval.size

    @property
    def weak_type(self) -> bool:
        return self.aval.weak_type

    def to_concrete_value(self) -> Any:
        """The concrete value if this trace knows it (e.g. a JVP primal), else None."""
        return None

    def _source(self) -> SourceInfo | None:
        return None

    # Python protocols that need a concrete value.

    def _concrete(self, conversion: str, why: str,
                  cls: type[errors.ConcretizationTypeError]) -> Any:
        if not self._trace.alive:
            raise self._escaped_error()
        value = self.to_concrete_value()
        if value is not None:
            return value
        where = errors.user_frame(3)
        at = f" (at {where})" if where else ""
        trace = self._trace
        msg = (f"functrans.{trace.debug.transform}: {why}, but the value is a traced "
               f"{self.aval.str_short()}{at}.\n{trace.why_traced(self)}\n"
               f"{trace.concretization_fix(self, conversion)}")
        raise cls(msg)

    def __bool__(self) -> bool:
        return bool(self._concrete(
            "bool", "an `if`, `while`, `and`, `or`, `not` or bool() needs a Python bool",
            errors.TracerBoolConversionError))

    def __int__(self) -> int:
        return int(self._concrete("int", "int() needs a Python int",
                                  errors.TracerIntegerConversionError))

    def __index__(self) -> int:
        return self._concrete("int", "an index or a size needs a Python int",
                              errors.TracerIntegerConversionError).__index__()

    def __float__(self) -> float:
        return float(self._concrete("float", "float() needs a Python float",
                                    errors.ConcretizationTypeError))

    def __complex__(self) -> complex:
        return complex(self._concrete("complex", "complex() needs a Python complex",
                                      errors.ConcretizationTypeError))

    def item(self) -> Any:
        return np.asarray(self._concrete("item", ".item() needs a concrete value",
                                         errors.ConcretizationTypeError)).item()

    def tolist(self) -> Any:
        return np.asarray(self._concrete("item", ".tolist() needs a concrete value",
                                         errors.ConcretizationTypeError)).tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        raise self._escaped_or_conversion_error()

    def _escaped_or_conversion_error(self) -> errors.FunctransError:
        if not self._trace.alive:
            return self._escaped_error()
        where = errors.user_frame(3)
        at = f" at {where}" if where else ""
        return errors.TracerArrayConversionError(
            f"functrans.{self._trace.debug.transform}: a traced {self.aval.str_short()} was "
            f"passed to NumPy (np.asarray or a NumPy function){at}. NumPy needs concrete "
            f"values, which do not exist while {self._trace.debug.fun_location} is traced. "
            f"Use functrans.numpy (import functrans.numpy as fnp) instead of numpy inside "
            f"transformed functions.")

    def _escaped_error(self) -> errors.UnexpectedTracerError:
        d = self._trace.debug
        src = self._source()
        created = f", created at {src}," if src else ""
        return errors.UnexpectedTracerError(
            f"functrans: a tracer of type {self.aval.str_short()}{created} escaped from "
            f"{d.transform} of {d.fun_location} and was used after that transformation "
            f"finished. This happens when a transformed function stores an intermediate value "
            f"outside itself (a global, an attribute, a list from an outer scope). Return the "
            f"value from the function instead, or pass it in as an argument.")

    def __len__(self) -> int:
        shape = self.aval.shape
        if not shape:
            raise TypeError(f"len() of a 0-d traced value ({self.aval.str_short()})")
        return shape[0]

    def __iter__(self) -> Iterator[Any]:
        shape = self.aval.shape
        if not shape:
            raise TypeError(f"iteration over a 0-d traced value ({self.aval.str_short()})")
        return (self[i] for i in range(shape[0]))  # type: ignore[index]

    def __setitem__(self, idx: Any, value: Any) -> None:
        raise errors.ImmutableArrayError(
            "functrans arrays are immutable, traced ones too: `x[idx] = v` is not allowed. "
            "Use `x = x.at[idx].set(v)` (or .add/.mul/.min/.max).")

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Traced<{self.aval.str_short()}>with<{type(self._trace).__name__}>"


_check_leaks = config.check_tracer_leaks._var


def record_new_tracers(record: Callable[[Tracer], None]) -> None:
    """From now on, call ``record(tracer)`` for every tracer created while
    ``config.check_tracer_leaks`` is on (functrans/leaks.py). A ``__new__`` installed on
    ``Tracer`` on first use, so that tracers of every transformation are seen without a call in
    each subclass, and creating a tracer costs nothing extra until someone checks for leaks."""

    def __new__(cls: type[Tracer], *args: Any, **kwargs: Any) -> Tracer:
        self = object.__new__(cls)
        if _check_leaks.get():
            record(self)
        return self

    Tracer.__new__ = staticmethod(__new__)  # type: ignore[method-assign,assignment]


# --- bind ---------------------------------------------------------------------------------------


def bind(prim: Any, *args: Any, **params: Any) -> Any:
    """Apply ``prim`` to ``args``: eagerly, or through the current trace."""
    trace = _trace_var.get()
    if trace is None:
        return eval_primitive(prim, args, params)
    return trace.process_primitive(prim, args, params)


def _owned(out: np.ndarray, inputs: list[np.ndarray]) -> np.ndarray:
    """Make ``out`` safe to wrap in an immutable Array: never alias a caller's writable memory."""
    base = out.base
    if base is None:
        for v in inputs:
            if out is v:
                out = out.copy()
                break
    else:
        while isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        if not isinstance(base, np.ndarray) or base.flags.writeable:
            out = _copy_compact(out)
    out.setflags(write=False)  # (half the cost of `out.flags.writeable = False`)
    return out


def _copy_compact(view: np.ndarray) -> np.ndarray:
    """A private copy of ``view``; a broadcast view (zero strides, e.g. a bias broadcast to a
    batch) copies only its distinct elements and broadcasts the copy again."""
    if 0 not in view.strides or view.size == 0:
        return view.copy()
    distinct = view[tuple(slice(0, 1) if st == 0 else slice(None) for st in view.strides)]
    return np.broadcast_to(distinct.copy(), view.shape)


_ABSTRACT_CACHE: dict[tuple, Any] = {}
_ABSTRACT_CACHE_MAX = 8192


def abstract_eval(prim: Any, avals: Sequence[ShapedArray], params: dict) -> Any:
    """``prim.abstract_eval(*avals, **params)``, memoized: eager evaluation and tracing ask the
    same question for the same types over and over (the answer, a check plus a result type,
    depends only on them). Unhashable params and errors are never cached."""
    if prim.family in _UNCACHED_FAMILIES:  # params hold jaxprs or callbacks: don't pin them
        return prim.abstract_eval(*avals, **params)
    try:
        key = (prim, *avals, *params.items())
        out = _ABSTRACT_CACHE.get(key)
    except TypeError:
        return prim.abstract_eval(*avals, **params)
    if out is None:
        out = prim.abstract_eval(*avals, **params)
        if len(_ABSTRACT_CACHE) >= _ABSTRACT_CACHE_MAX:
            _ABSTRACT_CACHE.clear()
        _ABSTRACT_CACHE[key] = tuple(out) if type(out) is list else out
        return out
    return list(out) if type(out) is tuple else out


_UNCACHED_FAMILIES = frozenset({"call", "control", "custom", "other", "collective"})


def eval_primitive(prim: Any, args: Sequence[Any], params: dict) -> Any:
    """Evaluate a primitive on concrete values with its NumPy ``impl``."""
    vals: list[np.ndarray] = []
    avals: list[ShapedArray] = []
    for a in args:  # Arrays, the usual operands, directly (this runs for every eager op)
        if type(a) is not Array:
            vals = [to_numpy(a) for a in args]
            avals = [get_aval(a) for a in args]
            break
        vals.append(a._value)
        avals.append(a._aval or get_aval(a))
    out_aval = abstract_eval(prim, avals, params)
    out = prim.impl(*vals, **params)
    if _debug_nans.get():
        _check_nans(prim, vals, out if prim.multiple_results else [out])
    # The results carry the (memoized) abstract values: the next operation's abstract eval
    # then finds them by identity. tests/test_primitive_rules.py checks that every impl
    # returns exactly the shape and dtype its abstract eval promises.
    if prim.multiple_results:
        return [Array._typed(_owned(np.asarray(o), vals), a)
                for o, a in zip(out, out_aval, strict=True)]
    return Array._typed(_owned(np.asarray(out), vals), out_aval)


_debug_nans = config.debug_nans._var


def _has_nan(x: Any) -> bool:
    x = np.asarray(x)
    return x.dtype.kind in "fc" and bool(np.isnan(x).any())


def _check_nans(prim: Any, vals: Sequence[Any], outs: Sequence[Any]) -> None:
    """``config.debug_nans`` in eager mode: the first primitive that turns NaN-free inputs
    into a NaN raises, naming itself and the user's source line."""
    if any(_has_nan(o) for o in outs) and not any(_has_nan(v) for v in vals):
        where = errors.user_frame(2)
        raise FloatingPointError(
            f"functrans.config.debug_nans: primitive '{prim.name}' produced a NaN from "
            f"NaN-free inputs" + (f" at {where}" if where else "") + ". Turn debug_nans off "
            "to get NaNs silently, as NumPy does.")


def concrete_or_none(x: Any) -> Any:
    """The concrete value of ``x`` (Array, NumPy or Python value), or None if it is traced."""
    if isinstance(x, Tracer):
        if not x._trace.alive:
            raise x._escaped_error()
        return x.to_concrete_value()
    return x


def check_tracer_alive(x: Any) -> None:
    if isinstance(x, Tracer) and not x._trace.alive:
        raise x._escaped_error()
