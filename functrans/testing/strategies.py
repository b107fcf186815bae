"""Hypothesis strategies for array programs: arrays on a domain, dtypes, shapes, broadcastable
shape tuples, pytrees, and well-conditioned (or symmetric positive definite) matrices.

Values are NumPy arrays, finite unless asked otherwise, drawn so that gradient checks are
meaningful (bounded, optionally away from zero or inside (0, 1)). Hypothesis is a test-only
dependency: this module imports it, ``import functrans.testing`` does not.
Imports numpy and hypothesis only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "DOMAINS", "arrays", "broadcastable_shapes", "dtypes", "pytrees", "shapes",
    "spd_matrices", "well_conditioned_matrices",
]

DOMAINS = ("real", "positive", "away_from_zero", "unit_interval", "symmetric_unit")

_KINDS = {
    "float": ("float32", "float64", "float16"),
    "complex": ("complex64", "complex128"),
    "int": ("int32", "int64", "int8", "int16"),
    "uint": ("uint8", "uint16", "uint32", "uint64"),
    "bool": ("bool",),
}
_KINDS["inexact"] = _KINDS["float"] + _KINDS["complex"]
_KINDS["integer"] = _KINDS["int"] + _KINDS["uint"]
_KINDS["numeric"] = _KINDS["integer"] + _KINDS["inexact"]
_KINDS["all"] = _KINDS["bool"] + _KINDS["numeric"]


def dtypes(kind: str | Sequence[str] = "float") -> st.SearchStrategy[np.dtype]:
    """NumPy dtypes of one or several kinds: "float", "complex", "inexact", "int", "uint",
    "integer", "bool", "numeric", "all". Shrinks towards float32 (or the kind's first)."""
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    names: list[str] = []
    for k in kinds:
        if k not in _KINDS:
            raise ValueError(f"functrans.testing.strategies.dtypes: unknown kind {k!r}; "
                             f"expected one of {sorted(_KINDS)}")
        names += [n for n in _KINDS[k] if n not in names]
    return st.sampled_from([np.dtype(n) for n in names])


def shapes(min_dims: int = 0, max_dims: int = 3, max_side: int = 4, *, min_side: int = 1,
           allow_empty: bool = False) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes with ``min_dims..max_dims`` axes of length ``min_side..max_side``.

    0-d shapes ``()`` are included when ``min_dims == 0`` (the default); size-0 shapes only
    with ``allow_empty=True``.
    """
    if min_dims < 0 or max_dims < min_dims:
        raise ValueError(f"functrans.testing.strategies.shapes: need 0 <= min_dims <= "
                         f"max_dims, got {min_dims}, {max_dims}")
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims,
                            min_side=0 if allow_empty else max(min_side, 1),
                            max_side=max_side)


def broadcastable_shapes(n_shapes: int = 2, min_dims: int = 0, max_dims: int = 3,
                         max_side: int = 4, *, allow_empty: bool = False
                         ) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """Tuples of ``n_shapes`` shapes that broadcast together (``np.broadcast_shapes(*t)``
    succeeds); shapes may differ in rank and have 1s where others do not."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=n_shapes, min_dims=min_dims, max_dims=max_dims,
        min_side=0 if allow_empty else 1, max_side=max_side,
    ).map(lambda b: tuple(tuple(s) for s in b.input_shapes))


# --- elements -----------------------------------------------------------------------------------


def _inside(value: float, dtype: np.dtype, up: bool) -> float:
    """``value`` rounded into ``dtype``, moved inwards (up for lower bounds) if rounding
    moved it outwards: hypothesis needs bounds that the float width represents exactly."""
    x = np.asarray(value, dtype=dtype)
    if up and float(x) < value:
        x = np.nextafter(x, np.asarray(np.inf, dtype))
    if not up and float(x) > value:
        x = np.nextafter(x, np.asarray(-np.inf, dtype))
    return float(x)


def _float_elements(dtype: np.dtype, domain: str, bound: float, margin: float,
                    allow_subnormal: bool) -> st.SearchStrategy[float]:
    width = dtype.itemsize * 8

    def floats(lo: float, hi: float, **kw: Any) -> st.SearchStrategy[float]:
        lo, hi = _inside(lo, dtype, up=True), _inside(hi, dtype, up=False)
        return st.floats(lo, hi, width=width, allow_nan=False, allow_infinity=False,
                         allow_subnormal=allow_subnormal, **kw)

    if domain == "real":
        return floats(-bound, bound)
    if domain == "positive":
        return floats(margin, bound)
    if domain == "away_from_zero":
        return st.one_of(floats(margin, bound), floats(-bound, -margin))
    if domain == "unit_interval":
        return floats(0.0, 1.0, exclude_min=True, exclude_max=True)
    return floats(-1.0, 1.0, exclude_min=True, exclude_max=True)   # symmetric_unit


def _int_elements(dtype: np.dtype, domain: str, bound: float, margin: float
                  ) -> st.SearchStrategy[int]:
    info = np.iinfo(dtype)
    hi = min(math.floor(bound), int(info.max))
    lo = max(-hi, int(info.min))
    least = max(1, math.ceil(margin))
    if domain == "real":
        return st.integers(lo, hi)
    if domain == "positive":
        return st.integers(least, hi)
    if domain == "away_from_zero":
        neg = st.integers(lo, -least) if lo <= -least else st.nothing()
        return st.one_of(st.integers(least, hi), neg)
    raise ValueError(f"functrans.testing.strategies.arrays: domain {domain!r} contains no "
                     f"integers other than 0; use a floating dtype")


def _elements(dtype: np.dtype, domain: str, bound: float, margin: float, allow_nan: bool,
              allow_infinity: bool, allow_subnormal: bool) -> st.SearchStrategy[Any]:
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind in "iu":
        return _int_elements(dtype, domain, bound, margin)
    if dtype.kind == "c":
        part = np.finfo(dtype).dtype
        if domain in ("positive", "unit_interval"):
            raise ValueError(f"functrans.testing.strategies.arrays: domain {domain!r} needs "
                             f"an ordered (real) dtype, got {dtype}")
        if domain == "symmetric_unit":   # |z| < 1
            comp = _float_elements(part, "real", 1 / math.sqrt(2) * 0.999, margin,
                                   allow_subnormal)
            return st.builds(complex, comp, comp)
        real = _float_elements(part, domain, bound, margin, allow_subnormal)
        imag = _float_elements(part, "real", bound, margin, allow_subnormal)
        base: st.SearchStrategy[Any] = st.builds(complex, real, imag)
    elif dtype.kind == "f":
        base = _float_elements(dtype, domain, bound, margin, allow_subnormal)
    else:
        raise ValueError(f"functrans.testing.strategies.arrays: unsupported dtype {dtype}")
    special = ([math.nan] if allow_nan else []) + ([math.inf, -math.inf] if allow_infinity
                                                    else [])
    return st.one_of(base, st.sampled_from(special)) if special else base


def arrays(dtype: Any = np.float32, shape: Any = None, domain: str = "real", *,
           bound: float = 10.0, margin: float = 0.125, allow_nan: bool = False,
           allow_infinity: bool = False, allow_subnormal: bool = False
           ) -> st.SearchStrategy[np.ndarray]:
    """NumPy arrays of ``dtype`` and ``shape`` (each a value or a strategy; shape defaults to
    ``shapes()``) with elements from ``domain``:

    * ``"real"``: [-bound, bound];
    * ``"positive"``: [margin, bound] (kept away from 0 so that log, sqrt and 1/x have
      moderate derivatives);
    * ``"away_from_zero"``: margin <= |x| <= bound;
    * ``"unit_interval"``: the open interval (0, 1);
    * ``"symmetric_unit"``: the open interval (-1, 1).

    Bounds are rounded inwards to the dtype. Integers follow the same domains (the unit
    intervals have none); booleans ignore the domain; complex numbers take the domain for their
    real part ("symmetric_unit": |z| < 1). No NaN, infinity or subnormal values unless asked.
    """
    if domain not in DOMAINS:
        raise ValueError(f"functrans.testing.strategies.arrays: unknown domain {domain!r}; "
                         f"expected one of {DOMAINS}")
    if not (bound > 0 and 0 < margin < bound):
        raise ValueError(f"functrans.testing.strategies.arrays: need 0 < margin < bound, got "
                         f"margin={margin}, bound={bound}")
    shape = shapes() if shape is None else shape

    def for_dtype(d: Any) -> st.SearchStrategy[np.ndarray]:
        d = np.dtype(d)
        elements = _elements(d, domain, bound, margin, allow_nan, allow_infinity,
                             allow_subnormal)
        return hnp.arrays(d, shape, elements=elements)

    if isinstance(dtype, st.SearchStrategy):
        return dtype.flatmap(for_dtype)
    return for_dtype(dtype)


# --- matrices -----------------------------------------------------------------------------------


@st.composite
def _orthogonal(draw: st.DrawFn, n: int, complex_: bool) -> np.ndarray:
    """An orthogonal (unitary) matrix: Q of the QR factorization of a drawn matrix. Householder
    QR returns an exactly orthogonal Q even for singular input, so shrinking stays valid."""
    m = draw(hnp.arrays(np.float64, (n, n), elements=st.floats(-1, 1)))
    if complex_:
        m = m + 1j * draw(hnp.arrays(np.float64, (n, n), elements=st.floats(-1, 1)))
    q, _ = np.linalg.qr(m)
    return q


def _check_matrix_args(what: str, n: int, condition: float) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"functrans.testing.strategies.{what}: n must be a positive int, got "
                         f"{n!r}")
    if not condition >= 1:
        raise ValueError(f"functrans.testing.strategies.{what}: condition must be >= 1, got "
                         f"{condition}")


def _singular_values(n: int, condition: float) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, (n,), elements=st.floats(1.0, float(condition)))


def well_conditioned_matrices(n: int | st.SearchStrategy[int] = 3, dtype: Any = np.float64,
                              condition: float = 10.0, *, scale: float = 1.0,
                              symmetric: bool = False) -> st.SearchStrategy[np.ndarray]:
    """n x n matrices ``scale * U diag(s) V^T`` with U, V orthogonal and s in [1, condition],
    so the 2-norm condition number is at most ``condition`` (up to rounding to ``dtype``).

    With ``symmetric=True``: ``Q diag(s * signs) Q^T`` (symmetric, possibly indefinite).
    Complex dtypes give unitary factors (Hermitian when symmetric).
    """
    dtype = np.dtype(dtype)

    @st.composite
    def build(draw: st.DrawFn, n: int) -> np.ndarray:
        _check_matrix_args("well_conditioned_matrices", n, condition)
        s = draw(_singular_values(n, condition))
        u = draw(_orthogonal(n, dtype.kind == "c"))
        if symmetric:
            signs = np.array(draw(st.lists(st.sampled_from([1.0, -1.0]), min_size=n,
                                           max_size=n)))
            a = (u * (s * signs)) @ u.conj().T
            a = (a + a.conj().T) / 2   # exactly symmetric before rounding (rounding keeps it)
        else:
            v = draw(_orthogonal(n, dtype.kind == "c"))
            a = (u * s) @ v.conj().T
        return np.asarray(scale * a, dtype=dtype)

    if isinstance(n, st.SearchStrategy):
        return n.flatmap(lambda k: build(k))
    return build(n)


def spd_matrices(n: int | st.SearchStrategy[int] = 3, dtype: Any = np.float64,
                 condition: float = 10.0, *, scale: float = 1.0
                 ) -> st.SearchStrategy[np.ndarray]:
    """Symmetric (Hermitian) positive definite n x n matrices ``scale * Q diag(s) Q^T`` with
    eigenvalues s in [1, condition] (times scale): Cholesky-safe, condition <= ``condition``."""
    dtype = np.dtype(dtype)

    @st.composite
    def build(draw: st.DrawFn, n: int) -> np.ndarray:
        _check_matrix_args("spd_matrices", n, condition)
        s = draw(_singular_values(n, condition))
        q = draw(_orthogonal(n, dtype.kind == "c"))
        a = (q * s) @ q.conj().T
        return np.asarray(scale * (a + a.conj().T) / 2, dtype=dtype)

    if isinstance(n, st.SearchStrategy):
        return n.flatmap(lambda k: build(k))
    return build(n)


# --- pytrees ------------------------------------------------------------------------------------

_KEYS = ("a", "b", "w", "bias", "scale", "x")


def pytrees(leaves: st.SearchStrategy[Any] | None = None, max_depth: int = 2, *,
            max_children: int = 3, allow_none: bool = True) -> st.SearchStrategy[Any]:
    """Pytrees of dicts (string keys), lists and tuples nested up to ``max_depth`` levels
    around leaves from ``leaves`` (default: small float32 arrays), with None as an empty
    subtree when ``allow_none``. Depth 0 is a bare leaf."""
    if max_depth < 0:
        raise ValueError(f"functrans.testing.strategies.pytrees: max_depth must be >= 0, got "
                         f"{max_depth}")
    leaf = leaves if leaves is not None else arrays(np.float32, shapes(max_dims=2, max_side=3))
    base = st.one_of(leaf, st.none()) if allow_none else leaf

    def nodes(depth: int) -> st.SearchStrategy[Any]:
        if depth == 0:
            return base
        child = nodes(depth - 1)
        return st.one_of(
            base,
            st.lists(child, max_size=max_children),
            st.lists(child, max_size=max_children).map(tuple),
            st.dictionaries(st.sampled_from(_KEYS), child, max_size=max_children),
        )

    return nodes(max_depth)
