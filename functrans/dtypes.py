"""Dtypes: the supported set, short names, weak types and the promotion lattice.

Owns which NumPy dtypes functrans accepts, how Python scalars are typed (weakly), and how
two dtypes join (``promote_types``/``result_type``). Imports only numpy and ``config``.
The lattice is JAX's, written down in ``PROMOTION.md``-style prose in ``result_type``'s
docstring; the difference from JAX is that 64-bit types are always available and kept.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from functrans import config

bool_ = np.dtype(np.bool_)
int8, int16, int32, int64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
uint8, uint16, uint32, uint64 = (np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64))
float16, float32, float64 = (np.dtype(t) for t in (np.float16, np.float32, np.float64))
complex64, complex128 = np.dtype(np.complex64), np.dtype(np.complex128)

# The tangent type of integer and boolean values (JAX's float0): a zero-size structured dtype,
# so arrays of it cost no memory and cannot be confused with numbers.
float0 = np.dtype([("float0", np.void, 0)])

BOOL = (bool_,)
SIGNED = (int8, int16, int32, int64)
UNSIGNED = (uint8, uint16, uint32, uint64)
INTEGER = SIGNED + UNSIGNED
FLOATING = (float16, float32, float64)
COMPLEX = (complex64, complex128)
INEXACT = FLOATING + COMPLEX
NUMERIC = INTEGER + INEXACT
REAL = INTEGER + FLOATING
ALL = BOOL + NUMERIC

_SHORT = {
    bool_: "bool", int8: "i8", int16: "i16", int32: "i32", int64: "i64",
    uint8: "u8", uint16: "u16", uint32: "u32", uint64: "u64",
    float16: "f16", float32: "f32", float64: "f64", complex64: "c64", complex128: "c128",
    float0: "float0",
}
_SUPPORTED = frozenset(ALL) | {float0}


def short_name(dtype: np.dtype) -> str:
    """``float32`` -> ``f32``, as used in printed jaxprs."""
    name = _SHORT.get(dtype)
    return name if name is not None else str(dtype)


def canonicalize(dtype: Any) -> np.dtype:
    """Turn a dtype-like (``'float32'``, ``np.float32``, ``float``) into a supported np.dtype."""
    if isinstance(dtype, np.dtype) and dtype in _SUPPORTED:
        return dtype
    if dtype is float:
        return config.default_float_dtype()
    if dtype is int:
        return config.default_int_dtype()
    if dtype is complex:
        return config.default_complex_dtype()
    if dtype is bool:
        return bool_
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"functrans: {dtype!r} is not a dtype") from e
    if dt not in _SUPPORTED:
        raise TypeError(
            f"functrans: dtype {dt} is not supported; use one of "
            f"{', '.join(str(d) for d in ALL)}")
    return dt


def issubdtype(dtype: Any, kind: Any) -> bool:
    return np.issubdtype(dtype, kind)


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


def is_inexact(dtype: np.dtype) -> bool:
    return dtype.kind in "fc"


def is_integer(dtype: np.dtype) -> bool:
    return dtype.kind in "iu"


def finfo(dtype: Any) -> np.finfo:
    return np.finfo(canonicalize(dtype))


def iinfo(dtype: Any) -> np.iinfo:
    return np.iinfo(canonicalize(dtype))


# --- Python scalars -------------------------------------------------------------------------

# (min, max) of each default int dtype seen: np.iinfo costs a microsecond, which every x + 1
# would pay.
_INT_BOUNDS: dict[np.dtype, tuple[int, int]] = {}


def scalar_dtype(x: bool | int | float | complex) -> np.dtype:
    """Dtype of a Python scalar: the configured default of its kind (weakly typed)."""
    if isinstance(x, bool):
        return bool_
    if isinstance(x, int):
        dt = config.default_int_dtype()
        bounds = _INT_BOUNDS.get(dt)
        if bounds is None:
            info = np.iinfo(dt)
            bounds = _INT_BOUNDS[dt] = (int(info.min), int(info.max))
        lo, hi = bounds
        # A Python int too large for the default keeps its value in int64 rather than wrapping.
        if not lo <= x <= hi:
            if not -(2**63) <= x < 2**63:
                raise OverflowError(f"functrans: Python int {x} does not fit in int64")
            return int64
        return dt
    if isinstance(x, float):
        return config.default_float_dtype()
    if isinstance(x, complex):
        return config.default_complex_dtype()
    raise TypeError(f"functrans: {type(x).__name__} is not a Python scalar")


# --- The promotion lattice ------------------------------------------------------------------
# Nodes are np.dtypes plus three weak nodes for Python int/float/complex. An edge a -> b means
# b is the next type up from a. The join of two types is their least upper bound.

_I, _F, _C = "i*", "f*", "c*"
_EDGES: dict[Any, tuple[Any, ...]] = {
    bool_: (_I,),
    _I: (uint8, int8),
    uint8: (int16, uint16), uint16: (int32, uint32), uint32: (int64, uint64), uint64: (_F,),
    int8: (int16,), int16: (int32,), int32: (int64,), int64: (_F,),
    _F: (_C, float16),
    float16: (float32,), float32: (float64, complex64), float64: (complex128,),
    _C: (complex64,), complex64: (complex128,), complex128: (),
}


def _upper_sets() -> dict[Any, frozenset]:
    ups: dict[Any, frozenset] = {}

    def visit(node: Any) -> frozenset:
        if node not in ups:
            ups[node] = frozenset({node}).union(*(visit(n) for n in _EDGES[node]))
        return ups[node]

    for node in _EDGES:
        visit(node)
    return ups


_UPPER = _upper_sets()


def _join(a: Any, b: Any) -> Any:
    common = _UPPER[a] & _UPPER[b]
    # The least upper bound is the common upper bound that is below all others.
    (least,) = [n for n in common if all(c in _UPPER[n] for c in common)]
    return least


_JOIN = {(a, b): _join(a, b) for a, b in itertools.product(_EDGES, repeat=2)}
_WEAK_KIND = {"b": bool_, "i": _I, "u": _I, "f": _F, "c": _C}


def _node(dtype: np.dtype, weak: bool) -> Any:
    return _WEAK_KIND[dtype.kind] if weak else dtype


def _weak_default(node: str, weak_dtypes: list[np.dtype]) -> np.dtype:
    """Concrete dtype of a weak join: the widest weak input dtype of that kind, else default."""
    kind = {_I: "iu", _F: "f", _C: "c"}[node]
    same_kind = [d for d in weak_dtypes if d.kind in kind]
    if same_kind:
        return np.result_type(*same_kind)
    return {_I: config.default_int_dtype, _F: config.default_float_dtype,
            _C: config.default_complex_dtype}[node]()


def promote_types(a: Any, b: Any) -> np.dtype:
    """Join of two (strong) dtypes on the lattice, e.g. ``uint8, int8 -> int16``."""
    return result_type_of((canonicalize(a), False), (canonicalize(b), False))[0]


def result_type_of(*typed: tuple[np.dtype, bool]) -> tuple[np.dtype, bool]:
    """Join of ``(dtype, weak_type)`` pairs; returns the result dtype and whether it is weak.

    This is JAX's lattice (``b1 < i* < u8/i8 ...``, ``i64, u64 < f*``, ``f* < f16 < f32 <
    f64 < c128``, ``f* < c* < c64 < c128``) where ``i*``, ``f*``, ``c*`` stand for weakly
    typed Python scalars. A weak operand never widens a strong one of a higher kind:
    ``float16_array * 2.0`` stays float16, ``int8_array + 1`` stays int8. Mixed signed and
    unsigned 64-bit integers join at float64, as in NumPy.
    """
    node = None
    weak_dtypes = []
    for dtype, weak in typed:
        n = _node(dtype, weak)
        if weak:
            weak_dtypes.append(dtype)
        node = n if node is None else _JOIN[node, n]
    if node is None:
        raise TypeError("functrans: result_type needs at least one argument")
    if not isinstance(node, str):
        return node, False
    if not weak_dtypes:
        # Only strong int64 + uint64 meet at a weak node; NumPy and JAX give float64.
        return float64, False
    return _weak_default(node, weak_dtypes), True
