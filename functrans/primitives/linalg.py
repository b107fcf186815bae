"""Linear algebra primitives, JAX's ``lax.linalg``: cholesky, triangular_solve, lu,
lu_pivots_to_permutation, qr, eigh and svd. Every one works on a stack of matrices (any
leading batch dimensions), so vmap only moves a batch dimension out of the matrix axes.

Impls are NumPy's LAPACK-backed ``numpy.linalg`` routines or hand-written NumPy (LU with
partial pivoting, triangular substitution). Like JAX, and unlike NumPy, nothing here raises on
bad values: a matrix that is not positive definite, or a solve with a singular triangle, gives
NaN/inf, so the same code runs traced. Derivative rules are JAX's matrix-calculus results,
made exactly the derivatives of our impls (see "Gauge" below). Start with ``_cholesky_jvp``.
Imports ``core``, ``registry``, ``rules``, ``ad_rules``, ``batch_rules`` and the elementwise,
structural, slicing, reductions and contraction families.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import rules
from functrans.primitives.ad_rules import (
    Zero, cast_to, is_undefined, jvp_partials, jvp_zero, tangent_aval, transpose_linear,
    zero_tangents, zeros_like_aval,
)
from functrans.primitives.batch_rules import (
    AxisData, batch_leading, broadcast_batched, moveaxis, shape_of,
)
from functrans.primitives.contraction import dot_general
from functrans.primitives.elementwise import (
    abs_, add, conj, convert_element_type, div, eq, imag, mul, neg, real, select_n, sub,
)
from functrans.primitives.reductions import argmax, reduce_sum
from functrans.primitives.registry import Example, define_primitive
from functrans.primitives.slicing import concatenate, pad, slice_
from functrans.primitives.structural import broadcast_in_dim, broadcasted_iota, reshape, transpose

__all__ = [
    "cholesky", "cholesky_p", "eigh", "eigh_p", "lu", "lu_p", "lu_pivots_to_permutation",
    "lu_pivots_to_permutation_p", "qr", "qr_p", "svd", "svd_p", "symmetrize",
    "triangular_solve", "triangular_solve_p",
]

# LAPACK's types: NumPy's linalg refuses float16, and so do we (functrans.numpy.linalg says
# how to convert).
DTYPES = (dt.float32, dt.float64, dt.complex64, dt.complex128)
_DTYPES = frozenset(DTYPES)


# --- shape checks -------------------------------------------------------------------------------


def _check_matrix(name: str, x: ShapedArray, *, square: bool = False, what: str = "operand"
                  ) -> None:
    rules.check_dtype(name, x, _DTYPES, what)
    if x.ndim < 2:
        raise ShapeError(f"functrans.lax.{name}: {what} must be a matrix or a stack of "
                         f"matrices (rank >= 2), got {x.str_short()}")
    if square and x.shape[-1] != x.shape[-2]:
        raise ShapeError(f"functrans.lax.{name}: {what} must be square (shape [..., n, n]), "
                         f"got {x.str_short()}")


def _check_bools(name: str, **flags: Any) -> None:
    for key, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"functrans.lax.{name}: {key} must be a bool, got {value!r}")


def _check_subset(name: str, subset: Any, k: int) -> tuple[int, int]:
    """``subset_by_index``: None (everything) or (start, end) with 0 <= start <= end <= k."""
    if subset is None:
        return 0, k
    ok = (isinstance(subset, tuple) and len(subset) == 2
          and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in subset))
    if not ok or not 0 <= subset[0] <= subset[1] <= k:
        raise ValueError(f"functrans.lax.{name}: subset_by_index must be None or a pair "
                         f"(start, end) with 0 <= start <= end <= {k}, got {subset!r}")
    return int(subset[0]), int(subset[1])


# --- NumPy helpers for the impls ----------------------------------------------------------------


def _swap_np(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


def _hermitian_from_triangle_np(a: np.ndarray, lower: bool) -> np.ndarray:
    """The Hermitian matrix LAPACK sees when it reads one triangle of ``a`` (and the real
    part of its diagonal)."""
    part = np.tril(a, -1) if lower else np.triu(a, 1)
    n = a.shape[-1]
    diag = np.zeros_like(a)
    idx = np.arange(n)
    diag[..., idx, idx] = np.diagonal(a, axis1=-2, axis2=-1).real
    return part + np.conj(_swap_np(part)) + diag


def _per_matrix(fn: Callable, x: np.ndarray, n_out: int) -> list[np.ndarray]:
    """``fn`` on the whole stack; if NumPy raises LinAlgError (a matrix that is not positive
    definite, or an iteration that did not converge, typically on NaN input), redo the stack
    one matrix at a time and give the failed ones NaN results, as JAX does. Only this error
    path loops over the batch."""

    def call(a: np.ndarray) -> list[np.ndarray]:
        with np.errstate(all="ignore"):
            out = fn(a)
        return [np.asarray(o) for o in out] if n_out > 1 else [np.asarray(out)]

    try:
        return call(x)
    except np.linalg.LinAlgError:
        pass
    flat = x.reshape((_count(x.shape[:-2]),) + x.shape[-2:])
    shapes = call(np.eye(*x.shape[-2:], dtype=x.dtype))
    results = [np.full((flat.shape[0],) + t.shape, np.nan, t.dtype) for t in shapes]
    for i, matrix in enumerate(flat):
        try:
            got = call(matrix)
        except np.linalg.LinAlgError:
            continue
        for r, g in zip(results, got, strict=True):
            r[i] = g
    return [r.reshape(x.shape[:-2] + r.shape[1:]) for r in results]


def _count(batch: tuple[int, ...]) -> int:
    """The number of matrices in a stack with batch dimensions ``batch``."""
    return int(np.prod(batch, dtype=np.int64))


def _normalize_phases_np(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale each column of ``v`` by a unit number so that its largest-magnitude entry (the
    first, on ties) is real and positive; returns the scaled ``v`` and the factors applied.
    See "Gauge" above ``_gauge_correction``."""
    if v.shape[-1] == 0 or v.shape[-2] == 0:
        return v, np.ones(v.shape[:-2] + v.shape[-1:], v.dtype)
    idx = np.argmax(np.abs(v), axis=-2)[..., None, :]
    pivot = np.take_along_axis(v, idx, axis=-2)[..., 0, :]
    mag = np.abs(pivot)
    phase = np.where(mag == 0, 1, pivot / np.where(mag == 0, 1, mag)).astype(v.dtype)
    return v * np.conj(phase)[..., None, :], np.conj(phase)


# --- lax helpers for the rules (values may be tracers) -------------------------------------------


def _aval(x: Any) -> ShapedArray:
    return core.get_aval(x)


def _is_complex(x: Any) -> bool:
    return _aval(x).dtype.kind == "c"


def _swap(x: Any) -> Any:
    """Transpose the last two axes."""
    nd = _aval(x).ndim
    return transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _H(x: Any) -> Any:
    return conj(_swap(x)) if _is_complex(x) else _swap(x)


def _mm(a: Any, b: Any) -> Any:
    """Batched matrix product of [..., m, k] and [..., k, n] (same batch dimensions)."""
    nd = _aval(a).ndim
    batch = tuple(range(nd - 2))
    return dot_general(a, b, (((nd - 1,), (nd - 2,)), (batch, batch)))


def _mask(mask: np.ndarray, shape: tuple[int, ...]) -> Any:
    """A constant boolean matrix broadcast over the leading (batch) dimensions of ``shape``."""
    nd = len(shape)
    return broadcast_in_dim(mask, shape, (nd - 2, nd - 1))


def _const(value: np.ndarray, like: Any) -> Any:
    """A constant matrix of ``like``'s dtype broadcast to ``like``'s shape."""
    shape = _aval(like).shape
    nd = len(shape)
    return broadcast_in_dim(np.asarray(value, _aval(like).dtype), shape, (nd - 2, nd - 1))


def _where_mask(mask: np.ndarray, x: Any) -> Any:
    """``x`` where the constant ``mask`` is True, 0 elsewhere (linear in ``x``, NaN-safe)."""
    return select_n(_mask(mask, _aval(x).shape), zeros_like_aval(_aval(x)), x)


def _tril(x: Any, k: int = 0) -> Any:
    m, n = _aval(x).shape[-2:]
    return _where_mask(np.tri(m, n, k, dtype=bool), x)


def _triu(x: Any, k: int = 0) -> Any:
    m, n = _aval(x).shape[-2:]
    return _where_mask(~np.tri(m, n, k - 1, dtype=bool), x)


def _diag(x: Any) -> Any:
    """The main diagonal [..., min(m, n)] of [..., m, n]."""
    shape = _aval(x).shape
    m, n = shape[-2:]
    masked = _where_mask(np.eye(m, n, dtype=bool), x)
    return reduce_sum(masked, (len(shape) - 1,) if m <= n else (len(shape) - 2,))


def _along(v: Any, shape: tuple[int, ...], axis: int) -> Any:
    """[..., k] vector ``v`` broadcast to matrix ``shape``, varying along ``axis`` (-1: v[j] at
    [.., i, j]; -2: v[i] at [.., i, j])."""
    nd = len(shape)
    batch = tuple(range(nd - 2))
    return broadcast_in_dim(v, shape, batch + (nd + axis,))


def _diag_embed(v: Any) -> Any:
    """A diagonal matrix [..., k, k] from [..., k]."""
    shape = _aval(v).shape
    k = shape[-1]
    full = shape + (k,)
    return select_n(_mask(np.eye(k, dtype=bool), full),
                    broadcast_in_dim(np.zeros((), _aval(v).dtype), full, ()),
                    _along(v, full, -2))


def _cols(x: Any, lo: int, hi: int) -> Any:
    shape = _aval(x).shape
    return slice_(x, (0,) * (len(shape) - 1) + (lo,), shape[:-1] + (hi,))


def _rows(x: Any, lo: int, hi: int) -> Any:
    shape = _aval(x).shape
    return slice_(x, (0,) * (len(shape) - 2) + (lo, 0), shape[:-2] + (hi, shape[-1]))


def _last(x: Any, lo: int, hi: int) -> Any:
    """``x[..., lo:hi]``."""
    return _cols(x, lo, hi)


def _hermitian_from_triangle(t: Any, lower: bool) -> Any:
    """Lax version of ``_hermitian_from_triangle_np``: the perturbation LAPACK sees."""
    part = _tril(t, -1) if lower else _triu(t, 1)
    n = _aval(t).shape[-1]
    diag = _where_mask(np.eye(n, dtype=bool), t)
    if _is_complex(t):
        diag = cast_to(real(diag), _aval(t).dtype)
    return add(add(part, _H(part)), diag)


def symmetrize(x: Any) -> Any:
    """``(x + x^H) / 2``: what JAX's eigh and cholesky wrappers pass to their primitives."""
    return div(add(x, _H(x)), np.asarray(2, _aval(x).dtype))


# --- Gauge --------------------------------------------------------------------------------------
# Eigenvectors and singular vectors are defined up to a unit factor per column (a sign for
# real matrices, a phase for complex ones). JAX returns whatever LAPACK gives and
# differentiates as if the phase did not move (v^H dv has a zero diagonal), which is not the
# derivative of any function its primal computes: for complex inputs its eigenvector
# tangents disagree with finite differences. Our impls instead fix the factor (each column's
# largest-magnitude entry is real and positive), so the outputs are functions of the input,
# and the jvp adds the matching phase motion. Gauge-invariant results (eigenvalues, projectors
# v v^H, V f(w) V^H, reconstructions) are the same as JAX's.


def _gauge_correction(v: Any, dv: Any) -> tuple[Any, Any]:
    """The phase rate ``theta`` [..., k] (real) that keeps the normalized entry of each column
    of ``v`` real, and ``dv - i theta v``. Linear in ``dv``; ``v`` is a primal."""
    shape = _aval(v).shape
    nd = len(shape)
    idx = argmax(abs_(v), nd - 2, np.int32)
    onehot = eq(broadcasted_iota(np.int32, shape, nd - 2),
                broadcast_in_dim(idx, shape, tuple(range(nd - 2)) + (nd - 1,)))
    pick = reduce_sum(select_n(onehot, zeros_like_aval(_aval(dv)), dv), (nd - 2,))
    pivot = real(reduce_sum(select_n(onehot, zeros_like_aval(_aval(v)), v), (nd - 2,)))
    theta = div(imag(pick), pivot)
    i_v = mul(v, np.asarray(1j, _aval(v).dtype))
    return theta, sub(dv, mul(i_v, _along(cast_to(theta, _aval(v).dtype), shape, -1)))


def _rotate(u: Any, du: Any, theta: Any) -> Any:
    """``du - i theta u``: the same phase motion applied to the partner vectors."""
    i_u = mul(u, np.asarray(1j, _aval(u).dtype))
    return sub(du, mul(i_u, _along(cast_to(theta, _aval(u).dtype), _aval(u).shape, -1)))


# --- sample matrices ----------------------------------------------------------------------------


def _unitary(n: int, dtype: np.dtype, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(rules.sample_array((n, n), np.dtype(np.complex128) if dtype.kind == "c"
                                           else np.dtype(np.float64), seed=seed))
    return q


def _with_spectrum(batch: tuple[int, ...], m: int, n: int, values: Sequence[float],
                   dtype: np.dtype, seed: int) -> np.ndarray:
    """Matrices U diag(values) V^H of shape batch + (m, n): bounded condition numbers and
    well-separated singular values, as finite differences need."""
    count = int(np.prod(batch, dtype=np.int64))
    mats = []
    for i in range(count):
        u = _unitary(m, dtype, seed + 7 * i)[:, :min(m, n)]
        v = _unitary(n, dtype, seed + 7 * i + 3)[:, :min(m, n)]
        mats.append((u * np.asarray(values[:min(m, n)])) @ np.conj(v.T))
    out = np.array(mats).reshape(batch + (m, n)) if count else np.zeros(batch + (m, n))
    return out.astype(dtype)


def _hermitian(batch: tuple[int, ...], n: int, eigenvalues: Sequence[float], dtype: np.dtype,
               seed: int) -> np.ndarray:
    count = int(np.prod(batch, dtype=np.int64))
    mats = []
    for i in range(count):
        q = _unitary(n, dtype, seed + 5 * i)
        mats.append((q * np.asarray(eigenvalues[:n])) @ np.conj(q.T))
    out = np.array(mats).reshape(batch + (n, n)) if count else np.zeros(batch + (n, n))
    return out.astype(dtype)


_SPECTRUM = (3.0, 2.1, 1.4, 0.8, 0.5)


# --- cholesky -----------------------------------------------------------------------------------


def _cholesky_impl(x: np.ndarray) -> np.ndarray:
    # LAPACK's potrf reads the lower triangle only; say so explicitly, since the jvp relies on
    # it and NumPy does not document it.
    h = _hermitian_from_triangle_np(x, lower=True)
    (out,) = _per_matrix(np.linalg.cholesky, h, 1)
    return out.astype(x.dtype, copy=False)


def _cholesky_rule(x: ShapedArray) -> ShapedArray:
    _check_matrix("cholesky", x, square=True)
    return x


def _cholesky_sample(dtype: np.dtype) -> list[Example]:
    def spd(batch: tuple[int, ...], n: int, seed: int) -> np.ndarray:
        a = _hermitian(batch, n, _SPECTRUM, dtype, seed)
        # The upper triangle is never read: fill it with garbage to prove it.
        junk = rules.sample_array(batch + (n, n), dtype, seed=seed + 1)
        return np.where(np.tri(n, dtype=bool), a, junk).astype(dtype)

    return [
        Example((spd((), 3, 1),)),
        Example((spd((2,), 3, 2),), note="batch"),
        Example((spd((), 1, 3),)),
        Example((spd((), 0, 4),), note="empty"),
        Example((spd((0,), 2, 5),), note="empty-batch"),
        Example((spd((2, 1), 4, 6),), note="batch2"),
    ]


def _cholesky_jvp(primals: list, tangents: list) -> tuple[Any, Any]:
    """JAX's rule (Murray 2016, arXiv:1602.07527): with A = L L^H and dA Hermitian,
    dL = L phi(L^-1 dA L^-H), phi taking the lower triangle with a halved diagonal. dA is the
    Hermitian perturbation the impl sees: the lower triangle of the tangent, mirrored."""
    (x,), (t,) = primals, tangents
    L = cholesky_p.bind(x)
    if type(t) is Zero:
        return L, Zero(tangent_aval(_aval(L)))
    sigma = _hermitian_from_triangle(t, lower=True)
    tmp = triangular_solve_p.bind(L, sigma, left_side=False, lower=True, transpose_a=True,
                                  conjugate_a=_is_complex(x), unit_diagonal=False)
    inner = triangular_solve_p.bind(L, tmp, left_side=True, lower=True, transpose_a=False,
                                    conjugate_a=False, unit_diagonal=False)
    n = _aval(x).shape[-1]
    phi = mul(inner, _const(np.tri(n) - 0.5 * np.eye(n), inner))
    return L, _mm(L, phi)


cholesky_p = define_primitive(
    "cholesky", family="linalg", impl=_cholesky_impl, abstract_eval=_cholesky_rule,
    dtypes=DTYPES, sample=_cholesky_sample, jvp=_cholesky_jvp,
    batch=batch_leading(),
    doc="lower Cholesky factor L (A = L L^H) from A's lower triangle; NaN if not positive "
        "definite")


def cholesky(x: Any, *, symmetrize_input: bool = True) -> Any:
    """The lower-triangular Cholesky factor ``L`` of Hermitian positive definite ``x``
    (``x = L L^H``), for stacks [..., n, n]. With ``symmetrize_input`` the factor is that of
    ``(x + x^H) / 2`` (JAX's default, so gradients are symmetric); otherwise only the lower
    triangle is read. A matrix that is not positive definite gives NaNs, not an error."""
    if symmetrize_input:
        x = symmetrize(x)
    return cholesky_p.bind(x)


# --- triangular_solve ---------------------------------------------------------------------------


def _forward_substitution(lower: np.ndarray, b: np.ndarray, block: int = 64) -> np.ndarray:
    """Solve ``lower @ x = b`` for lower-triangular [..., m, m] and b [..., m, k], vectorized
    over the batch and the right-hand sides. Blocked: each block of rows first subtracts the
    solved part with one matrix product, then is solved row by row. Division by a zero pivot
    gives inf/NaN, as LAPACK's trsm does."""
    m = lower.shape[-1]
    x = np.empty(np.broadcast_shapes(lower.shape[:-2], b.shape[:-2]) + b.shape[-2:],
                 np.result_type(lower, b))
    for j0 in range(0, m, block):
        j1 = min(j0 + block, m)
        rhs = b[..., j0:j1, :] - np.matmul(lower[..., j0:j1, :j0], x[..., :j0, :])
        for i in range(j0, j1):
            known = np.matmul(lower[..., i:i + 1, j0:i], x[..., j0:i, :])[..., 0, :]
            x[..., i, :] = (rhs[..., i - j0, :] - known) / lower[..., i, i, None]
    return x


def _triangular_solve_impl(a: np.ndarray, b: np.ndarray, *, left_side: bool, lower: bool,
                           transpose_a: bool, conjugate_a: bool, unit_diagonal: bool
                           ) -> np.ndarray:
    # Reduce every case to lower @ x = b: mask the triangle that is read, apply op(a), make a
    # right-side solve a left-side one (X op(a) = b  <=>  op(a)^T X^T = b^T), and flip an
    # upper triangle into a lower one (reversing rows and columns).
    tri = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        idx = np.arange(a.shape[-1])
        tri[..., idx, idx] = 1
    if conjugate_a:
        tri = np.conj(tri)
    is_lower = lower
    if transpose_a:
        tri, is_lower = _swap_np(tri), not is_lower
    if not left_side:
        tri, is_lower, b = _swap_np(tri), not is_lower, _swap_np(b)
    if not is_lower:
        tri, b = tri[..., ::-1, ::-1], b[..., ::-1, :]
    with np.errstate(all="ignore"):
        x = _forward_substitution(tri, b)
    if not is_lower:
        x = x[..., ::-1, :]
    if not left_side:
        x = _swap_np(x)
    return np.ascontiguousarray(x).astype(b.dtype, copy=False)


def _triangular_solve_rule(a: ShapedArray, b: ShapedArray, *, left_side: bool, lower: bool,
                           transpose_a: bool, conjugate_a: bool, unit_diagonal: bool
                           ) -> ShapedArray:
    name = "triangular_solve"
    _check_bools(name, left_side=left_side, lower=lower, transpose_a=transpose_a,
                 conjugate_a=conjugate_a, unit_diagonal=unit_diagonal)
    rules.check_same_dtypes(name, (a, b))
    _check_matrix(name, a, square=True, what="a")
    if b.ndim != a.ndim:
        raise ShapeError(f"functrans.lax.{name}: b must have a's rank (a stack of matrices "
                         f"with a's batch dimensions), got a {a.str_short()} and b "
                         f"{b.str_short()}; for a vector b use b[..., None]")
    if a.shape[:-2] != b.shape[:-2]:
        raise ShapeError(f"functrans.lax.{name}: a and b must have the same batch dimensions, "
                         f"got a {a.str_short()} and b {b.str_short()}")
    m = a.shape[-1]
    k = b.shape[-2] if left_side else b.shape[-1]
    if k != m:
        side = "rows" if left_side else "columns"
        raise ShapeError(f"functrans.lax.{name}: with left_side={left_side}, b's {side} ({k}) "
                         f"must match a's size ({m}); got a {a.str_short()} and b "
                         f"{b.str_short()}")
    return b.update(weak_type=a.weak_type and b.weak_type)


def _triangular_solve_sample(dtype: np.dtype) -> list[Example]:
    def params(left_side: bool = True, lower: bool = True, transpose_a: bool = False,
               conjugate_a: bool = False, unit_diagonal: bool = False) -> dict:
        return {"left_side": left_side, "lower": lower, "transpose_a": transpose_a,
                "conjugate_a": conjugate_a, "unit_diagonal": unit_diagonal}

    def a(shape: tuple[int, ...], seed: int) -> np.ndarray:
        # Entries of magnitude 0.5..3 keep every triangle well conditioned.
        return rules.sample_array(shape, dtype, "nonzero", seed=seed)

    def b(shape: tuple[int, ...], seed: int) -> np.ndarray:
        return rules.sample_array(shape, dtype, seed=seed)

    return [
        Example((a((3, 3), 1), b((3, 2), 2)), params()),
        Example((a((3, 3), 3), b((2, 3), 4)), params(left_side=False, lower=False,
                                                      transpose_a=True), note="right-upper-T"),
        Example((a((2, 3, 3), 5), b((2, 3, 1), 6)),
                params(lower=False, transpose_a=True, conjugate_a=True, unit_diagonal=True),
                note="batch-adjoint-unit"),
        Example((a((2, 2), 7), b((3, 2), 8)), params(left_side=False, conjugate_a=True),
                note="right-lower-conj"),
        Example((a((0, 0), 9), b((0, 2), 10)), params(), note="empty-a"),
        Example((a((3, 3), 11), b((3, 0), 12)), params(lower=False), note="no-rhs"),
        Example((a((0, 2, 2), 13), b((0, 2, 2), 14)), params(), note="empty-batch"),
        Example((a((1, 1), 15), b((1, 1), 16)), params(unit_diagonal=True)),
    ]


def _triangular_solve_jvp_a(g: Any, ans: Any, a: Any, b: Any, *, left_side: bool,
                            lower: bool, transpose_a: bool, conjugate_a: bool,
                            unit_diagonal: bool) -> Any:
    """JAX's rule: d(op(a)^-1 b) = -op(a)^-1 op(da) x (left side), -x op(da) op(a)^-1 (right
    side), with da masked to the triangle the impl reads; the two products are ordered by
    cost."""
    params = {"left_side": left_side, "lower": lower, "transpose_a": transpose_a,
              "conjugate_a": conjugate_a, "unit_diagonal": unit_diagonal}
    k = 1 if unit_diagonal else 0
    g = neg(_tril(g, -k) if lower else _triu(g, k))
    if transpose_a:
        g = _swap(g)
    if conjugate_a and _is_complex(g):
        g = conj(g)

    def solve(rhs: Any) -> Any:
        return triangular_solve_p.bind(a, rhs, **params)

    m, n = _aval(b).shape[-2:]
    if left_side:
        return solve(_mm(g, ans)) if m > n else _mm(solve(g), ans)
    return solve(_mm(ans, g)) if m < n else _mm(ans, solve(g))


def _triangular_solve_jvp_b(g: Any, ans: Any, a: Any, b: Any, **params: Any) -> Any:
    return triangular_solve_p.bind(a, g, **params)


def _triangular_solve_transpose(ct: Any, a: Any, b: Any, *, left_side: bool, lower: bool,
                                transpose_a: bool, conjugate_a: bool, unit_diagonal: bool
                                ) -> list[Any]:
    # Linear in b only: the transpose of b -> op(a)^-1 b (under the bilinear pairing) solves
    # with op(a)^T, i.e. transpose_a flipped and conjugate_a kept, as in JAX.
    if is_undefined(a):
        raise ValueError("functrans: triangular_solve is not linear in a")
    out = triangular_solve_p.bind(a, ct, left_side=left_side, lower=lower,
                                  transpose_a=not transpose_a, conjugate_a=conjugate_a,
                                  unit_diagonal=unit_diagonal)
    return [None, out]


def _triangular_solve_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None],
                            **params: Any) -> tuple[Any, int]:
    """JAX's rule. With a unbatched, the batch joins b's right-hand sides (left side: columns;
    right side: rows), so a is neither moved nor copied. Otherwise both operands need the batch
    dimension at the same place: it stays where it is if both have it at the same leading
    position, else it moves to the front."""
    (a, b), (ad, bd) = vals, dims
    if ad is None:
        nd = len(shape_of(b))
        if params["left_side"]:
            b = moveaxis(b, bd, nd - 1)  # [..., m, n, B]
            shape = shape_of(b)
            flat = reshape(b, shape[:-2] + (shape[-2] * shape[-1],))
            out_dim = nd - 1
        else:
            b = moveaxis(b, bd, nd - 3)  # [..., B, m, n]
            shape = shape_of(b)
            flat = reshape(b, shape[:-3] + (shape[-3] * shape[-2], shape[-1]))
            out_dim = nd - 3
        out = triangular_solve_p.bind(a, flat, **params)
        return reshape(out, shape), out_dim
    leading = ad < len(shape_of(a)) - 2
    if bd is None:
        bd = ad if leading else 0
        b = broadcast_batched(b, axis.size, bd)
    if ad != bd or not leading:
        a, b, ad = moveaxis(a, ad, 0), moveaxis(b, bd, 0), 0
    return triangular_solve_p.bind(a, b, **params), ad


triangular_solve_p = define_primitive(
    "triangular_solve", family="linalg", impl=_triangular_solve_impl,
    abstract_eval=_triangular_solve_rule, dtypes=DTYPES, sample=_triangular_solve_sample,
    jvp=jvp_partials(_triangular_solve_jvp_a, _triangular_solve_jvp_b, with_ans=True),
    transpose=transpose_linear(_triangular_solve_transpose), linear_in=(1,),
    batch=_triangular_solve_batch,
    doc="solve op(a) x = b (left_side) or x op(a) = b for triangular a; linear in b")


def triangular_solve(a: Any, b: Any, *, left_side: bool = False, lower: bool = False,
                     transpose_a: bool = False, conjugate_a: bool = False,
                     unit_diagonal: bool = False) -> Any:
    """Solve ``op(a) @ x = b`` (``left_side=True``) or ``x @ op(a) = b`` for ``x``, where
    ``a`` [..., m, m] is triangular (only its ``lower``/upper triangle is read; with
    ``unit_diagonal`` its diagonal is taken to be ones) and ``op`` conjugates and/or
    transposes. ``b`` has a's batch dimensions. JAX's defaults: right side, upper triangle."""
    conjugate_a = bool(conjugate_a) and _is_complex(a)
    return triangular_solve_p.bind(a, b, left_side=bool(left_side), lower=bool(lower),
                                   transpose_a=bool(transpose_a), conjugate_a=conjugate_a,
                                   unit_diagonal=bool(unit_diagonal))


# --- lu -----------------------------------------------------------------------------------------

_LU_BLOCK = 48


def _lu_panel(a: np.ndarray, perm: np.ndarray, pivots: np.ndarray, j0: int, j1: int) -> None:
    """Factor columns j0:j1 of the flattened stack ``a`` [B, m, n] in place, with partial
    pivoting (row swaps span the whole rows). A zero pivot leaves its column unscaled, as
    LAPACK's getrf does, so a singular matrix gives a zero on U's diagonal and no NaN."""
    rows = np.arange(a.shape[0])
    for j in range(j0, j1):
        p = j + np.argmax(np.abs(a[:, j:, j]), axis=1)
        pivots[:, j] = p
        row_j, row_p = a[rows, j].copy(), a[rows, p].copy()
        a[rows, j], a[rows, p] = row_p, row_j
        perm_j, perm_p = perm[rows, j].copy(), perm[rows, p].copy()
        perm[rows, j], perm[rows, p] = perm_p, perm_j
        pivot = a[:, j, j]
        safe = np.where(pivot == 0, 1, pivot)
        a[:, j + 1:, j] /= safe[:, None]
        a[:, j + 1:, j + 1:j1] -= a[:, j + 1:, j, None] * a[:, j, None, j + 1:j1]


def _lu_impl(x: np.ndarray) -> list[np.ndarray]:
    """Blocked right-looking LU: each panel of columns is factored by the unblocked loop, then
    the block row to its right is solved with the panel's unit lower triangle and the trailing
    matrix gets one matrix product. Python loops over columns only; the batch is vectorized."""
    m, n = x.shape[-2:]
    k = min(m, n)
    batch = x.shape[:-2]
    count = _count(batch)
    a = x.reshape((count, m, n)).astype(x.dtype, copy=True)
    perm = np.broadcast_to(np.arange(m, dtype=np.int32), (count, m)).copy()
    pivots = np.zeros((count, k), np.int32)
    with np.errstate(all="ignore"):
        for j0 in range(0, k, _LU_BLOCK):
            j1 = min(j0 + _LU_BLOCK, k)
            _lu_panel(a, perm, pivots, j0, j1)
            if j1 < n:
                l11 = np.tril(a[:, j0:j1, j0:j1], -1) + np.eye(j1 - j0, dtype=a.dtype)
                a[:, j0:j1, j1:] = _forward_substitution(l11, a[:, j0:j1, j1:])
                a[:, j1:, j1:] -= np.matmul(a[:, j1:, j0:j1], a[:, j0:j1, j1:])
    return [a.reshape(x.shape), pivots.reshape(batch + (k,)), perm.reshape(batch + (m,))]


def _lu_rule(x: ShapedArray) -> list[ShapedArray]:
    _check_matrix("lu", x)
    m, n = x.shape[-2:]
    batch = x.shape[:-2]
    return [x, ShapedArray(batch + (min(m, n),), dt.int32), ShapedArray(batch + (m,), dt.int32)]


def _lu_sample(dtype: np.dtype) -> list[Example]:
    def arr(shape: tuple[int, ...], seed: int) -> np.ndarray:
        return rules.sample_array(shape, dtype, seed=seed)

    return [
        Example((arr((3, 3), 1),)),
        Example((arr((2, 4, 4), 2),), note="batch"),
        Example((arr((4, 2), 3),), note="tall"),
        Example((arr((2, 4), 4),), note="wide"),
        Example((arr((0, 0), 5),), note="empty"),
        Example((arr((1, 1), 6),)),
        Example((arr((0, 3, 3), 7),), note="empty-batch"),
        Example((arr((3, 0), 8),), note="no-columns"),
    ]


def _permutation_matrix(perm: Any, dtype: np.dtype) -> Any:
    """P [..., m, m] with P[i, perm[i]] = 1, so that P @ a = a[perm] (a primal)."""
    shape = _aval(perm).shape
    m = shape[-1]
    full = shape + (m,)
    nd = len(full)
    hits = eq(broadcasted_iota(np.int32, full, nd - 1), _along(perm, full, -2))
    return convert_element_type(hits, dtype)


def _lu_jvp(primals: list, tangents: list) -> tuple[list, list]:
    """JAX's rule (de Hoog, Anderssen and Lukas): with P a = L U and X = L^-1 P da U^-1,
    dL = L tril(X, -1) and dU = triu(X) U; L is padded to m x m and U to n x n with an
    identity block, so non-square matrices work."""
    (x,), (t,) = primals, tangents
    lu_, _, perm = outs = lu_p.bind(x)
    zeros = zero_tangents([_aval(o) for o in outs])
    if type(t) is Zero:
        return outs, zeros
    shape = _aval(x).shape
    m, n = shape[-2:]
    k = min(m, n)
    dtype = _aval(x).dtype
    nd = len(shape)
    zero = np.zeros((), dtype)
    l_part = _tril(_cols(lu_, 0, k), -1)
    el = pad(l_part, zero, [(0, 0, 0)] * (nd - 1) + [(0, m - k, 0)])
    el = add(el, _const(np.eye(m), el))
    u_part = _triu(_rows(lu_, 0, k))
    u = pad(u_part, zero, [(0, 0, 0)] * (nd - 2) + [(0, n - k, 0), (0, 0, 0)])
    u = add(u, _const(np.pad(np.eye(n - k), ((k, 0), (k, 0))), u))
    permuted = _mm(_permutation_matrix(perm, dtype), t)
    la = triangular_solve_p.bind(el, permuted, left_side=True, lower=True, transpose_a=False,
                                 conjugate_a=False, unit_diagonal=True)
    lau = triangular_solve_p.bind(u, la, left_side=False, lower=False, transpose_a=False,
                                  conjugate_a=False, unit_diagonal=False)
    lu_dot = add(_mm(el, _tril(lau, -1)), _mm(_triu(lau), u))
    return outs, [lu_dot, zeros[1], zeros[2]]


lu_p = define_primitive(
    "lu", family="linalg", impl=_lu_impl, abstract_eval=_lu_rule, dtypes=DTYPES,
    sample=_lu_sample, multiple_results=True, jvp=_lu_jvp,
    batch=batch_leading(),
    doc="LU with partial pivoting: (lu, pivots, permutation), a[permutation] = L U")


def lu(x: Any) -> tuple[Any, Any, Any]:
    """LU decomposition with partial pivoting of [..., m, n]: returns ``(lu, pivots,
    permutation)``. ``lu`` holds U in its upper triangle and L's strictly lower part (L has a
    unit diagonal); ``pivots`` [..., min(m, n)] are LAPACK's row swaps (0-based) and
    ``permutation`` [..., m] the resulting row order: ``x[..., permutation, :] == L @ U``.
    Both are int32. A singular matrix gives zeros on U's diagonal, not an error."""
    lu_, pivots, permutation = lu_p.bind(x)
    return lu_, pivots, permutation


# --- lu_pivots_to_permutation -------------------------------------------------------------------


def _pivots_impl(pivots: np.ndarray, *, permutation_size: int) -> np.ndarray:
    k = pivots.shape[-1]
    count = _count(pivots.shape[:-1])
    flat = pivots.reshape(count, k)
    perm = np.broadcast_to(np.arange(permutation_size, dtype=np.int32),
                           (count, permutation_size)).copy()
    rows = np.arange(count)
    for i in range(k):
        # A swap target out of range is ignored (no swap), rather than read out of bounds.
        j = flat[:, i]
        j = np.where((j >= 0) & (j < permutation_size), j, i)
        perm_i, perm_j = perm[:, i].copy(), perm[rows, j].copy()
        perm[:, i], perm[rows, j] = perm_j, perm_i
    return perm.reshape(pivots.shape[:-1] + (permutation_size,))


def _pivots_rule(pivots: ShapedArray, *, permutation_size: int) -> ShapedArray:
    name = "lu_pivots_to_permutation"
    if pivots.dtype != dt.int32:
        raise DtypeError(f"functrans.lax.{name}: pivots must be int32, got "
                         f"{pivots.str_short()}")
    if pivots.ndim < 1:
        raise ShapeError(f"functrans.lax.{name}: pivots must have rank >= 1, got "
                         f"{pivots.str_short()}")
    if not isinstance(permutation_size, (int, np.integer)) or isinstance(permutation_size,
                                                                         bool):
        raise TypeError(f"functrans.lax.{name}: permutation_size must be an int, got "
                        f"{permutation_size!r}")
    if permutation_size < pivots.shape[-1]:
        raise ValueError(f"functrans.lax.{name}: permutation_size={permutation_size} is "
                         f"smaller than the number of pivots ({pivots.shape[-1]})")
    return ShapedArray(pivots.shape[:-1] + (int(permutation_size),), dt.int32)


def _pivots_sample(dtype: np.dtype) -> list[Example]:
    return [
        Example((np.array([0, 2, 2], np.int32),), {"permutation_size": 3}),
        Example((np.array([[1, 1], [2, 2]], np.int32),), {"permutation_size": 4}, note="batch"),
        Example((np.array([2, 1], np.int32),), {"permutation_size": 5}, note="wider"),
        Example((np.zeros((0,), np.int32),), {"permutation_size": 2}, note="no-pivots"),
        Example((np.zeros((0, 2), np.int32),), {"permutation_size": 2}, note="empty-batch"),
    ]


lu_pivots_to_permutation_p = define_primitive(
    "lu_pivots_to_permutation", family="linalg", impl=_pivots_impl,
    abstract_eval=_pivots_rule, dtypes=(dt.int32,), sample=_pivots_sample, jvp=jvp_zero(),
    batch=batch_leading(1),
    doc="the row permutation that LAPACK-style pivots (sequential swaps) produce")


def lu_pivots_to_permutation(pivots: Any, permutation_size: int) -> Any:
    """The permutation [..., permutation_size] made by applying the row swaps ``pivots``
    (int32, [..., k]) in order to ``arange(permutation_size)``."""
    return lu_pivots_to_permutation_p.bind(pivots, permutation_size=int(permutation_size))


# --- qr -----------------------------------------------------------------------------------------


def _qr_impl(x: np.ndarray, *, full_matrices: bool) -> list[np.ndarray]:
    q, r = np.linalg.qr(x, mode="complete" if full_matrices else "reduced")
    return [q.astype(x.dtype, copy=False), r.astype(x.dtype, copy=False)]


def _qr_rule(x: ShapedArray, *, full_matrices: bool) -> list[ShapedArray]:
    _check_bools("qr", full_matrices=full_matrices)
    _check_matrix("qr", x)
    m, n = x.shape[-2:]
    k = m if full_matrices else min(m, n)
    batch = x.shape[:-2]
    return [x.update(shape=batch + (m, k)), x.update(shape=batch + (k, n))]


def _qr_sample(dtype: np.dtype) -> list[Example]:
    def arr(shape: tuple[int, ...], seed: int) -> np.ndarray:
        batch, (m, n) = shape[:-2], shape[-2:]
        return _with_spectrum(batch, m, n, _SPECTRUM, dtype, seed)

    # Complete Q of a tall matrix is not sampled: its extra columns are any orthonormal basis
    # of the complement, so finite differences of NumPy's choice are not a derivative we can
    # (or should) match; tests/test_linalg.py checks its gauge-invariant derivative.
    return [
        Example((arr((3, 2), 1),), {"full_matrices": False}, note="tall"),
        Example((arr((3, 3), 2),), {"full_matrices": True}, note="square"),
        Example((arr((2, 4), 3),), {"full_matrices": False}, note="wide"),
        Example((arr((2, 3, 2), 4),), {"full_matrices": False}, note="batch"),
        Example((arr((2, 3), 5),), {"full_matrices": True}, note="wide-full"),
        Example((arr((0, 0), 6),), {"full_matrices": False}, note="empty"),
        Example((arr((3, 0), 7),), {"full_matrices": False}, note="no-columns"),
        Example((arr((0, 2), 8),), {"full_matrices": True}, note="no-rows"),
        Example((arr((1, 1), 9),), {"full_matrices": False}),
    ]


def _qr_jvp_square_r(q: Any, r: Any, dx: Any) -> tuple[Any, Any]:
    """JAX's qr_jvp_rule for x = q r with q [..., m, n] (m >= n) and r [..., n, n]
    (j-towns.github.io/papers/qr-derivative.pdf): with C = q^H dx r^-1, dq = q (do - C) +
    dx r^-1 and dr = (C - do) r, where do is C's skew-Hermitian part built from its strictly
    lower triangle (plus i Im diag C for complex inputs: LAPACK keeps r's diagonal real)."""
    dx_rinv = triangular_solve_p.bind(r, dx, left_side=False, lower=False, transpose_a=False,
                                      conjugate_a=False, unit_diagonal=False)
    c = _mm(_H(q), dx_rinv)
    low = _tril(c, -1)
    do = sub(low, _H(low))
    if _is_complex(c):
        n = _aval(c).shape[-1]
        do = add(do, _where_mask(np.eye(n, dtype=bool), sub(c, cast_to(real(c), _aval(c).dtype))))
    dq = add(_mm(q, sub(do, c)), dx_rinv)
    dr = _mm(sub(c, do), r)
    return dq, dr


def _complement_tangent(q1: Any, dq1: Any, q2: Any) -> Any:
    """Tangent of the extra orthonormal columns q2 of a completed basis [q1 q2]: the one with
    no rotation among themselves (q2^H dq2 = 0), which keeps [q1 q2] unitary to first order.
    Functions of q2 that do not depend on the choice of basis (q2 q2^H...) get exact
    derivatives; NumPy's particular q2 is not differentiated."""
    return neg(_mm(q1, _mm(_H(dq1), q2)))


def _qr_jvp(primals: list, tangents: list, *, full_matrices: bool) -> tuple[list, list]:
    (x,), (dx,) = primals, tangents
    q, r = outs = qr_p.bind(x, full_matrices=full_matrices)
    if type(dx) is Zero:
        return outs, zero_tangents([_aval(o) for o in outs])
    shape = _aval(x).shape
    m, n = shape[-2:]
    nd = len(shape)
    if m >= n:
        q1, r1 = (_cols(q, 0, n), _rows(r, 0, n)) if full_matrices else (q, r)
        dq, dr = _qr_jvp_square_r(q1, r1, dx)
        if full_matrices and m > n:
            dq = concatenate([dq, _complement_tangent(q1, dq, _cols(q, n, m))], nd - 1)
            dr = pad(dr, np.zeros((), _aval(x).dtype), [(0, 0, 0)] * (nd - 2)
                     + [(0, m - n, 0), (0, 0, 0)])
        return outs, [dq, dr]
    # Wide (JAX has no rule): x = [x1 x2] = q [r1 r2] with x1 = q r1 square, so dq and dr1
    # come from x1's rule and dr2 = q^H (dx2 - dq r2).
    dq, dr1 = _qr_jvp_square_r(q, _cols(r, 0, m), _cols(dx, 0, m))
    dr2 = _mm(_H(q), sub(_cols(dx, m, n), _mm(dq, _cols(r, m, n))))
    return outs, [dq, concatenate([dr1, dr2], nd - 1)]


qr_p = define_primitive(
    "qr", family="linalg", impl=_qr_impl, abstract_eval=_qr_rule, dtypes=DTYPES,
    sample=_qr_sample, multiple_results=True, jvp=_qr_jvp,
    batch=batch_leading(),
    doc="QR decomposition (Householder): q unitary columns, r upper triangular")


def qr(x: Any, *, pivoting: bool = False, full_matrices: bool = True,
       use_magma: bool | None = None) -> tuple[Any, Any]:
    """QR decomposition of [..., m, n]: ``q`` [..., m, m] and ``r`` [..., m, n] with
    ``full_matrices`` (JAX's default), else [..., m, k] and [..., k, n], k = min(m, n).
    ``pivoting`` is not supported; ``use_magma`` (a GPU option) is ignored."""
    if pivoting:
        raise NotImplementedError("functrans.lax.qr: pivoting=True (column-pivoted QR) is not "
                                  "supported")
    q, r = qr_p.bind(x, full_matrices=bool(full_matrices))
    return q, r


# --- eigh ---------------------------------------------------------------------------------------


def _eigh_impl(x: np.ndarray, *, lower: bool, sort_eigenvalues: bool,
               subset_by_index: tuple[int, int] | None) -> list[np.ndarray]:
    uplo = "L" if lower else "U"
    w, v = _per_matrix(lambda a: np.linalg.eigh(a, UPLO=uplo), x, 2)
    v, _ = _normalize_phases_np(v)
    lo, hi = subset_by_index if subset_by_index is not None else (0, x.shape[-1])
    return [np.ascontiguousarray(v[..., :, lo:hi]).astype(x.dtype, copy=False),
            np.ascontiguousarray(w[..., lo:hi]).astype(rules.real_dtype(x.dtype), copy=False)]


def _eigh_rule(x: ShapedArray, *, lower: bool, sort_eigenvalues: bool,
               subset_by_index: tuple[int, int] | None) -> list[ShapedArray]:
    _check_bools("eigh", lower=lower, sort_eigenvalues=sort_eigenvalues)
    _check_matrix("eigh", x, square=True)
    n = x.shape[-1]
    lo, hi = _check_subset("eigh", subset_by_index, n)
    batch = x.shape[:-2]
    return [x.update(shape=batch + (n, hi - lo)),
            ShapedArray(batch + (hi - lo,), rules.real_dtype(x.dtype),
                        x.weak_type and x.dtype.kind != "c")]


def _eigh_sample(dtype: np.dtype) -> list[Example]:
    def herm(batch: tuple[int, ...], n: int, seed: int, lower: bool = True) -> np.ndarray:
        a = _hermitian(batch, n, (-1.5, 0.5, 2.0, 3.5), dtype, seed)
        junk = rules.sample_array(batch + (n, n), dtype, seed=seed + 1)
        keep = np.tri(n, dtype=bool) if lower else np.tri(n, dtype=bool).T
        return np.where(keep, a, junk).astype(dtype)

    def params(lower: bool = True, sort: bool = True, subset: Any = None) -> dict:
        return {"lower": lower, "sort_eigenvalues": sort, "subset_by_index": subset}

    return [
        Example((herm((), 3, 1),), params()),
        Example((herm((), 3, 2, lower=False),), params(lower=False), note="upper"),
        Example((herm((2,), 3, 3),), params(), note="batch"),
        Example((herm((), 4, 4),), params(subset=(1, 3)), note="subset"),
        Example((herm((), 0, 5),), params(), note="empty"),
        Example((herm((), 1, 6),), params(sort=False)),
        Example((herm((0,), 2, 7),), params(), note="empty-batch"),
        Example((herm((), 2, 8),), params(subset=(0, 0)), note="no-eigenpairs"),
    ]


def _eigh_jvp(primals: list, tangents: list, *, lower: bool, sort_eigenvalues: bool,
              subset_by_index: tuple[int, int] | None) -> tuple[list, list]:
    """JAX's rule (first-order perturbation theory, Giles 2008): with M = V^H dA V,
    dw = Re diag M and dV = V (F o M), F[i, j] = 1 / (w_j - w_i) off the diagonal and 0 on it;
    dA is the Hermitian perturbation the impl sees (one triangle, mirrored), plus the phase
    motion of our gauge (complex only). Equal eigenvalues make F infinite: their eigenvectors
    are not differentiable, and the tangents are inf/NaN there (as in JAX)."""
    (a,), (t,) = primals, tangents
    params = {"lower": lower, "sort_eigenvalues": sort_eigenvalues}
    v, w = eigh_p.bind(a, subset_by_index=None, **params)
    n = _aval(a).shape[-1]
    lo, hi = subset_by_index if subset_by_index is not None else (0, n)
    outs = [_cols(v, lo, hi), _last(w, lo, hi)] if (lo, hi) != (0, n) else [v, w]
    if type(t) is Zero:
        return outs, zero_tangents([_aval(o) for o in outs])
    dtype = _aval(a).dtype
    dm = _hermitian_from_triangle(t, lower)
    m = _mm(_mm(_H(v), dm), v)
    shape = _aval(m).shape
    eye = _const(np.eye(n), m)
    gaps = sub(_along(cast_to(w, dtype), shape, -1), _along(cast_to(w, dtype), shape, -2))
    f = sub(div(_const(np.ones((n, n)), m), add(gaps, eye)), eye)
    dv = _mm(v, mul(f, m))
    dw = _diag(m)
    if _is_complex(a):
        dw = real(dw)
        if n:
            _, dv = _gauge_correction(v, dv)
    if (lo, hi) != (0, n):
        dv, dw = _cols(dv, lo, hi), _last(dw, lo, hi)
    return outs, [dv, dw]


eigh_p = define_primitive(
    "eigh", family="linalg", impl=_eigh_impl, abstract_eval=_eigh_rule, dtypes=DTYPES,
    sample=_eigh_sample, multiple_results=True, jvp=_eigh_jvp,
    batch=batch_leading(),
    doc="Hermitian eigendecomposition from one triangle: (v, w), w ascending")


def eigh(x: Any, *, lower: bool = True, symmetrize_input: bool = True,
         sort_eigenvalues: bool = True, subset_by_index: tuple[int, int] | None = None
         ) -> tuple[Any, Any]:
    """Eigenvectors ``v`` [..., n, k] (columns) and real eigenvalues ``w`` [..., k], ascending,
    of Hermitian [..., n, n] (``x @ v == v * w``). With ``symmetrize_input`` (JAX's default)
    ``(x + x^H)/2`` is decomposed, else only the ``lower``/upper triangle is read.
    ``subset_by_index=(start, end)`` keeps eigenpairs start..end-1. Each eigenvector is
    scaled so that its largest-magnitude entry is real and positive (a gauge; LAPACK's
    choice is arbitrary)."""
    if symmetrize_input:
        x = symmetrize(x)
    subset = None if subset_by_index is None else tuple(int(i) for i in subset_by_index)
    v, w = eigh_p.bind(x, lower=bool(lower), sort_eigenvalues=bool(sort_eigenvalues),
                       subset_by_index=subset)
    return v, w


# --- svd ----------------------------------------------------------------------------------------


def _svd_impl(x: np.ndarray, *, full_matrices: bool, compute_uv: bool,
              subset_by_index: tuple[int, int] | None) -> list[np.ndarray]:
    m, n = x.shape[-2:]
    k = min(m, n)
    lo, hi = subset_by_index if subset_by_index is not None else (0, k)
    real_dtype = rules.real_dtype(x.dtype)
    if not compute_uv:
        (s,) = _per_matrix(lambda a: np.linalg.svd(a, compute_uv=False), x, 1)
        return [np.ascontiguousarray(s[..., lo:hi]).astype(real_dtype, copy=False)]
    u, s, vt = _per_matrix(lambda a: np.linalg.svd(a, full_matrices=full_matrices), x, 3)
    # Gauge: v_i's largest entry real positive (rows of vt), u_i takes the conjugate factor.
    v_first, factor = _normalize_phases_np(np.conj(_swap_np(vt[..., :k, :])))
    vt = vt.copy()
    vt[..., :k, :] = np.conj(_swap_np(v_first))
    u = u.copy()
    u[..., :, :k] *= factor[..., None, :]
    s = s[..., lo:hi]
    if subset_by_index is not None:
        u, vt = u[..., :, lo:hi], vt[..., lo:hi, :]
    return [np.ascontiguousarray(s).astype(real_dtype, copy=False),
            np.ascontiguousarray(u).astype(x.dtype, copy=False),
            np.ascontiguousarray(vt).astype(x.dtype, copy=False)]


def _svd_rule(x: ShapedArray, *, full_matrices: bool, compute_uv: bool,
              subset_by_index: tuple[int, int] | None) -> list[ShapedArray]:
    _check_bools("svd", full_matrices=full_matrices, compute_uv=compute_uv)
    _check_matrix("svd", x)
    m, n = x.shape[-2:]
    k = min(m, n)
    lo, hi = _check_subset("svd", subset_by_index, k)
    if subset_by_index is not None and full_matrices and compute_uv:
        raise ValueError("functrans.lax.svd: subset_by_index needs full_matrices=False")
    batch = x.shape[:-2]
    s = ShapedArray(batch + (hi - lo,), rules.real_dtype(x.dtype),
                    x.weak_type and x.dtype.kind != "c")
    if not compute_uv:
        return [s]
    ku, kv = (m, n) if full_matrices else (hi - lo, hi - lo)
    return [s, x.update(shape=batch + (m, ku)), x.update(shape=batch + (kv, n))]


def _svd_sample(dtype: np.dtype) -> list[Example]:
    def arr(shape: tuple[int, ...], seed: int) -> np.ndarray:
        batch, (m, n) = shape[:-2], shape[-2:]
        return _with_spectrum(batch, m, n, _SPECTRUM, dtype, seed)

    def params(full: bool = False, uv: bool = True, subset: Any = None) -> dict:
        return {"full_matrices": full, "compute_uv": uv, "subset_by_index": subset}

    # As for qr: the completed bases of full_matrices=True are sampled only where they are
    # unique up to our gauge (square matrices); tests/test_linalg.py covers the rest.
    return [
        Example((arr((3, 2), 1),), params(), note="tall"),
        Example((arr((2, 3), 2),), params(), note="wide"),
        Example((arr((2, 3, 3), 3),), params(full=True), note="batch-square-full"),
        Example((arr((3, 2), 4),), params(uv=False), note="values-only"),
        Example((arr((4, 3), 5),), params(subset=(1, 3)), note="subset"),
        Example((arr((0, 0), 6),), params(), note="empty"),
        Example((arr((0, 3), 7),), params(), note="no-rows"),
        Example((arr((1, 1), 8),), params()),
        Example((arr((0, 2, 2), 9),), params(uv=False), note="empty-batch"),
    ]


def _svd_jvp(primals: list, tangents: list, *, full_matrices: bool, compute_uv: bool,
             subset_by_index: tuple[int, int] | None) -> tuple[list, list]:
    """JAX's svd_jvp_rule (Townsend; Giles 2008) on the reduced SVD a = U S V^H, with
    dS = U^H da V: ds = Re diag dS, dU = U (F o (dS S + S dS^H) + i Im diag(dS) S^-1) and
    dV = V (F o (S dS + dS^H S)), F[i, j] = 1 / (s_j^2 - s_i^2) off the diagonal, plus the
    projections onto the complements of U (tall) or V (wide) and our gauge's phase motion.
    Beyond JAX: full_matrices=True works (the completed columns get the tangent of
    ``_complement_tangent``). Repeated singular values make F infinite (inf/NaN tangents),
    and a zero singular value of a non-square matrix too, as in JAX."""
    (a,), (da,) = primals, tangents
    shape = _aval(a).shape
    m, n = shape[-2:]
    k = min(m, n)
    nd = len(shape)
    lo, hi = subset_by_index if subset_by_index is not None else (0, k)
    full = full_matrices and compute_uv
    s, u_all, vt_all = svd_p.bind(a, full_matrices=full, compute_uv=True,
                                  subset_by_index=None)
    subset = (lo, hi) != (0, k)
    if compute_uv:
        outs = ([_last(s, lo, hi), _cols(u_all, lo, hi), _rows(vt_all, lo, hi)] if subset
                else [s, u_all, vt_all])
    else:
        outs = [_last(s, lo, hi) if subset else s]
    if type(da) is Zero:
        return outs, zero_tangents([_aval(o) for o in outs])
    dtype = _aval(a).dtype
    u, vt = _cols(u_all, 0, k), _rows(vt_all, 0, k)
    ut, v = _H(u), _H(vt)
    ds_mat = _mm(_mm(ut, da), v)
    ds = _diag(ds_mat)
    if _is_complex(a):
        ds = real(ds)
    if not compute_uv:
        return outs, [_last(ds, lo, hi) if subset else ds]
    kk = (k, k)
    batch_kk = shape[:-2] + kk
    s_c = cast_to(s, dtype)
    s_j, s_i = _along(s_c, batch_kk, -1), _along(s_c, batch_kk, -2)
    eye = _const(np.eye(k), ds_mat)
    f = sub(div(_const(np.ones(kk), ds_mat), add(mul(add(s_j, s_i), sub(s_j, s_i)), eye)), eye)
    dss, sds = mul(s_j, ds_mat), mul(s_i, ds_mat)
    inner_u = mul(f, add(dss, _H(dss)))
    if _is_complex(a):
        s_zero = cast_to(eq(s, np.zeros((), _aval(s).dtype)), _aval(s).dtype)
        s_inv = cast_to(sub(div(np.ones((), _aval(s).dtype), add(s, s_zero)), s_zero), dtype)
        half = mul(sub(ds_mat, _H(ds_mat)), np.asarray(0.5, dtype))
        inner_u = add(inner_u, mul(half, _diag_embed(s_inv)))
    du = _mm(u, inner_u)
    dv = _mm(v, mul(f, add(sds, _H(sds))))
    if m > n:
        dav = _mm(da, v)
        du = add(du, div(sub(dav, _mm(u, _mm(ut, dav))), _along(s_c, shape[:-2] + (m, k), -1)))
    if n > m:
        dahu = _mm(_H(da), u)
        dv = add(dv, div(sub(dahu, _mm(v, _mm(vt, dahu))),
                         _along(s_c, shape[:-2] + (n, k), -1)))
    if _is_complex(a) and k:
        theta, dv = _gauge_correction(v, dv)
        du = _rotate(u, du, theta)
    dvt = _H(dv)
    if full and m > n:
        du = concatenate([du, _complement_tangent(u, du, _cols(u_all, k, m))], nd - 1)
    if full and n > m:
        dv2 = _complement_tangent(v, dv, _H(_rows(vt_all, k, n)))
        dvt = concatenate([dvt, _H(dv2)], nd - 2)
    if subset:
        return outs, [_last(ds, lo, hi), _cols(du, lo, hi), _rows(dvt, lo, hi)]
    return outs, [ds, du, dvt]


svd_p = define_primitive(
    "svd", family="linalg", impl=_svd_impl, abstract_eval=_svd_rule, dtypes=DTYPES,
    sample=_svd_sample, multiple_results=True, jvp=_svd_jvp,
    batch=batch_leading(),
    doc="singular value decomposition: (s, u, vt) (or (s,)), s descending")


def svd(x: Any, *, full_matrices: bool = True, compute_uv: bool = True,
        subset_by_index: tuple[int, int] | None = None) -> Any:
    """Singular value decomposition of [..., m, n]: ``(u, s, vt)`` with ``x == u * s @ vt``
    (descending real ``s``), or ``s`` alone when ``compute_uv=False``. ``full_matrices``
    completes ``u``/``vt`` to square unitary matrices. ``subset_by_index=(start, end)`` keeps
    singular triplets start..end-1 (needs ``full_matrices=False``). Each right singular vector
    is scaled so that its largest-magnitude entry is real and positive, its left partner by
    the same factor (a gauge; LAPACK's choice is arbitrary). The primitive returns
    ``(s, u, vt)``, as JAX's does."""
    subset = None if subset_by_index is None else tuple(int(i) for i in subset_by_index)
    out = svd_p.bind(x, full_matrices=bool(full_matrices), compute_uv=bool(compute_uv),
                     subset_by_index=subset)
    if compute_uv:
        s, u, vt = out
        return u, s, vt
    return out[0]
