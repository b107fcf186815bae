"""Checkers shared by the tests: comparing results and walking the primitive registry.

Tests call one checker per property; tolerances come from here, not from test bodies.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

import functrans  # noqa: F401  (registers every primitive family)
from functrans.primitives.registry import Example, Primitive, all_primitives

TOLERANCE = {
    np.dtype(np.float16): 2e-3, np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12,
    np.dtype(np.complex64): 1e-5, np.dtype(np.complex128): 1e-12,
}


def assert_same_values(got: Any, want: Any, what: str = "") -> None:
    """Exact equality for exact dtypes, NaN-aware tight tolerance for inexact ones."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if got.dtype.kind in "fc":
        tol = TOLERANCE[got.dtype]
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def registry_cases() -> Iterator[tuple[Primitive, np.dtype]]:
    for prim in all_primitives():
        for dtype in sorted(prim.dtypes, key=lambda d: d.str):
            yield prim, dtype


def case_id(case: tuple[Primitive, np.dtype]) -> str:
    return f"{case[0].name}-{case[1].name}"


def as_list(out: Any, prim: Primitive) -> list[Any]:
    return list(out) if prim.multiple_results else [out]


def describe(ex: Example) -> str:
    return f"sample {ex.label()} params={ex.params}"


# --- autodiff checkers ----------------------------------------------------------------------------

def rng_like(x: Any, seed: int) -> np.ndarray:
    """A random array of x's shape and dtype (complex gets a random imaginary part)."""
    x = np.asarray(x)
    r = np.random.default_rng(seed)
    v = r.normal(size=x.shape)
    if x.dtype.kind == "c":
        v = v + 1j * r.normal(size=x.shape)
    return v.astype(x.dtype)


def inner(a: Any, b: Any) -> float:
    """The real bilinear pairing functrans' (and JAX's) transposes are adjoint under."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.real(np.sum(a.astype(np.complex128) * b.astype(np.complex128))))


def numerical_jvp(f: Any, args: list[np.ndarray], tangents: list[Any], eps: float = 1e-6
                  ) -> list[np.ndarray]:
    """Central differences of ``f`` (list of NumPy arrays in, list out) along ``tangents``
    (None for inputs that are not differentiated)."""
    def shifted(sign: float) -> list[np.ndarray]:
        moved = [a if t is None else (a + sign * eps * np.asarray(t)).astype(a.dtype)
                 for a, t in zip(args, tangents, strict=True)]
        return [np.asarray(o) for o in f(*moved)]

    plus, minus = shifted(1.0), shifted(-1.0)
    return [(p - m) / (2 * eps) if p.dtype.kind in "fc" else np.zeros(p.shape)
            for p, m in zip(plus, minus, strict=True)]
