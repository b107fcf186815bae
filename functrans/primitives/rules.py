"""Shared rule builders: dtype checks, shape rules, and sample-input generators.

Family files (elementwise, reductions, ...) build their primitives from these pieces, so that a
new unary op is one table row. Abstract-evaluation errors are ``DtypeError``/``ShapeError``
naming the ``functrans.lax`` function, the operand avals and what was expected.
Imports ``core`` and ``errors`` only.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import DtypeError, FunctransError, ShapeError
from functrans.primitives.registry import Example

# --- dtype and shape checks ---------------------------------------------------------------------

_GROUP_NAMES = [
    (frozenset(dt.INEXACT), "an inexact (floating or complex) dtype"),
    (frozenset(dt.FLOATING), "a floating dtype"),
    (frozenset(dt.COMPLEX), "a complex dtype"),
    (frozenset(dt.INTEGER), "an integer dtype"),
    (frozenset(dt.INTEGER + dt.BOOL), "an integer or boolean dtype"),
    (frozenset(dt.NUMERIC), "a numeric (non-boolean) dtype"),
    (frozenset(dt.REAL), "a real (integer or floating) dtype"),
    (frozenset(dt.REAL + dt.BOOL), "a non-complex dtype"),
    (frozenset(dt.ALL), "an array dtype"),
]


def describe_dtypes(allowed: frozenset[np.dtype]) -> str:
    for group, text in _GROUP_NAMES:
        if allowed == group:
            return text
    return "one of " + ", ".join(sorted(str(d) for d in allowed))


def check_dtype(name: str, aval: ShapedArray, allowed: frozenset[np.dtype],
                what: str = "operand") -> None:
    if aval.dtype not in allowed:
        raise DtypeError(f"functrans.lax.{name}: {what} {aval.str_short()} has dtype "
                         f"{aval.dtype}; expected {describe_dtypes(allowed)}")


def check_same_dtypes(name: str, avals: Sequence[ShapedArray]) -> np.dtype:
    dtype = avals[0].dtype
    for a in avals[1:]:
        if a.dtype != dtype:
            shown = ", ".join(x.str_short() for x in avals)
            raise DtypeError(
                f"functrans.lax.{name}: operands must have the same dtype, got {shown}. "
                f"Convert one with .astype(...) or lax.convert_element_type; functrans.numpy "
                f"functions promote dtypes for you.")
    return dtype


def broadcast_scalars(name: str, avals: Sequence[ShapedArray]) -> tuple[int, ...]:
    """The common shape of elementwise operands; 0-d operands broadcast, others must match."""
    shape: tuple[int, ...] | None = None
    for a in avals:
        if a.shape:
            if shape is None:
                shape = a.shape
            elif a.shape != shape:
                shown = ", ".join(x.str_short() for x in avals)
                raise ShapeError(
                    f"functrans.lax.{name}: operand shapes must be equal (or 0-d), got "
                    f"{shown}. Broadcast explicitly with lax.broadcast_in_dim, or use the "
                    f"functrans.numpy function, which broadcasts like NumPy.")
    return shape if shape is not None else ()


def canonical_axes(name: str, axes: Iterable[int], ndim: int, what: str = "axes"
                   ) -> tuple[int, ...]:
    """Validate axes for an operand of rank ``ndim`` (must already be non-negative)."""
    axes = tuple(axes)
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not 0 <= a < ndim:
            raise ShapeError(f"functrans.lax.{name}: {what}={axes} out of range for an "
                             f"operand of rank {ndim}")
    if len(set(axes)) != len(axes):
        raise ShapeError(f"functrans.lax.{name}: {what}={axes} has repeated axes")
    return axes


def check_axis(name: str, what: str, axis: Any, aval: ShapedArray) -> None:
    """Rule side: the one axis (already non-negative) that a sort or scan runs along."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"functrans.lax.{name}: {what} must be an int, got {axis!r}")
    if not 0 <= axis < aval.ndim:
        hint = f"; {name} needs an operand of rank >= 1" if aval.ndim == 0 else ""
        raise ShapeError(f"functrans.lax.{name}: {what} {axis} is out of range for "
                         f"{aval.str_short()} (rank {aval.ndim}){hint}")


def check_window_ints(name: str, what: str, value: Any, n: int, per: str, minimum: int
                      ) -> tuple[int, ...]:
    """Rule side: a tuple of ``n`` ints >= ``minimum``, one per ``per`` (e.g. "spatial
    dimension (2)"): window sizes, strides and dilations of windowed reductions and
    convolutions."""
    if not (isinstance(value, tuple) and all(type(v) is int for v in value)):
        raise TypeError(f"functrans.lax.{name}: {what} must be a tuple of ints, got {value!r}")
    if len(value) != n:
        raise ShapeError(f"functrans.lax.{name}: {what}={value} must have one entry per "
                         f"{per}")
    if any(v < minimum for v in value):
        raise ValueError(f"functrans.lax.{name}: {what}={value} must be >= {minimum} "
                         f"everywhere")
    return value


def check_padding(name: str, padding: Any, n: int, per: str) -> tuple[tuple[int, int], ...]:
    """Rule side: ``n`` (low, high) int pairs, one per ``per``."""
    if not (isinstance(padding, tuple) and all(
            isinstance(p, tuple) and len(p) == 2 and all(type(v) is int for v in p)
            for p in padding)):
        raise TypeError(f"functrans.lax.{name}: padding must be a tuple of (low, high) int "
                        f"pairs, got {padding!r}")
    if len(padding) != n:
        raise ShapeError(f"functrans.lax.{name}: padding={padding} must have one (low, high) "
                         f"pair per {per}")
    return padding


def int_tuple(name: str, what: str, values: Any) -> tuple[int, ...]:
    """Wrapper side: ``values`` as a tuple of Python ints (a traced value raises its own clear
    error rather than this one)."""
    try:
        return tuple(map(operator.index, values))  # (map: half a generator's cost)
    except FunctransError:
        raise
    except TypeError:
        raise TypeError(f"functrans.lax.{name}: {what} must be a sequence of ints, got "
                        f"{values!r}") from None


def int_pairs(name: str, padding: Any, strings: str) -> tuple[tuple[int, int], ...]:
    """Wrapper side: explicit ``(low, high)`` padding pairs as Python ints; ``strings`` names
    the padding strings the wrapper also accepts, for the error message."""
    try:
        return tuple((operator.index(lo), operator.index(hi)) for lo, hi in padding)
    except FunctransError:
        raise
    except (TypeError, ValueError):
        raise TypeError(f"functrans.lax.{name}: padding must be {strings} or a sequence of "
                        f"(low, high) int pairs, got {padding!r}") from None


# --- abstract evaluation builders ---------------------------------------------------------------


def unary_rule(name: str, allowed: Iterable[np.dtype],
               out_dtype: Callable[[np.dtype], np.dtype] | None = None) -> Callable:
    allowed = frozenset(allowed)

    def abstract_eval(x: ShapedArray, **params: Any) -> ShapedArray:
        check_dtype(name, x, allowed)
        if out_dtype is None:
            return x
        d = out_dtype(x.dtype)
        return x if d == x.dtype else ShapedArray(x.shape, d, False)

    return abstract_eval


def nary_rule(name: str, allowed: Iterable[np.dtype],
              out_dtype: Callable[[np.dtype], np.dtype] | None = None) -> Callable:
    allowed = frozenset(allowed)

    def abstract_eval(*avals: ShapedArray, **params: Any) -> ShapedArray:
        dtype = check_same_dtypes(name, avals)
        check_dtype(name, avals[0], allowed)
        shape = broadcast_scalars(name, avals)
        if out_dtype is not None:
            return ShapedArray(shape, out_dtype(dtype), False)
        return ShapedArray(shape, dtype, all(a.weak_type for a in avals))

    return abstract_eval


def real_dtype(dtype: np.dtype) -> np.dtype:
    """complex64 -> float32, complex128 -> float64, others unchanged."""
    return np.empty((), dtype).real.dtype if dtype.kind == "c" else dtype


def complex_dtype(dtype: np.dtype) -> np.dtype:
    return np.result_type(dtype, np.complex64)


# --- sample inputs for the generic tests --------------------------------------------------------

ELEMENTWISE_SHAPES: tuple[tuple[int, ...], ...] = ((), (0,), (3,), (2, 3))

# Value domains: where a primitive's samples are drawn (so finite differences and references
# behave). Bounds are for the magnitude of floats; integers use their own ranges.
DOMAINS = {
    "real": (-3.0, 3.0),
    "small": (-1.0, 1.0),
    "unit": (-0.9, 0.9),
    "positive": (0.5, 3.0),
    "ge1": (1.1, 3.0),
    "nonzero": (0.5, 3.0),  # random sign
    "exp": (-2.0, 2.0),
}


def sample_array(shape: tuple[int, ...], dtype: np.dtype, domain: str = "real",
                 seed: int = 0) -> np.ndarray:
    """Deterministic sample values of ``dtype`` in ``domain``."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype.kind in "iu":
        if domain in ("positive", "nonzero", "ge1"):
            lo, hi = 1, 6
        else:
            lo, hi = (0, 9) if dtype.kind == "u" else (-5, 6)
        vals = rng.integers(lo, hi, size=shape)
        if domain == "nonzero" and dtype.kind == "i":
            vals = vals * rng.choice([-1, 1], size=shape)
        return vals.astype(dtype)
    lo, hi = DOMAINS[domain]

    def draw() -> np.ndarray:
        v = rng.uniform(lo, hi, size=shape)
        if domain == "nonzero":
            v = v * rng.choice([-1.0, 1.0], size=shape)
        return v

    if dtype.kind == "c":  # (0-d arithmetic gives NumPy scalars: impls get ndarrays)
        if domain in ("positive", "ge1", "nonzero"):
            return np.asarray(draw() + 0.25j * rng.uniform(-1, 1, size=shape), dtype)
        return np.asarray(draw() + 1j * draw(), dtype)
    return np.asarray(draw(), dtype)


def elementwise_sample(n_args: int, domain: str | Sequence[str] = "real",
                       params: Sequence[dict] = ({},),
                       shapes: Sequence[tuple[int, ...]] = ELEMENTWISE_SHAPES,
                       scalar_mix: bool = True) -> Callable[[np.dtype], list[Example]]:
    """Samples for an n-ary elementwise op: every shape (0-d and empty included), each param
    set, and, for n > 1, a 0-d operand mixed with an array (lax's scalar broadcasting)."""
    domains = [domain] * n_args if isinstance(domain, str) else list(domain)

    def sample(dtype: np.dtype) -> list[Example]:
        out = []
        for p in params:
            for shape in shapes:
                args = tuple(sample_array(shape, dtype, d, seed=i + 1)
                             for i, d in enumerate(domains))
                out.append(Example(args, dict(p)))
            if n_args > 1 and scalar_mix:
                args = tuple(sample_array((2, 3) if i else (), dtype, d, seed=i + 7)
                             for i, d in enumerate(domains))
                out.append(Example(args, dict(p), "scalar-mix"))
        return out

    return sample
