"""``functrans.scipy.linalg``: the ``jax.scipy.linalg`` subset built on functrans' linalg
primitives: cholesky, cho_factor, cho_solve, solve_triangular, lu, lu_factor, lu_solve, qr,
eigh, svd, det, inv, solve, expm and block_diag.

SciPy's signatures are kept; its in-place and checking options (``overwrite_*``,
``check_finite``, LAPACK driver choices) are accepted and ignored, as in JAX. Like
``functrans.numpy.linalg``, integers are promoted to the default float and nothing raises on
singular or indefinite matrices (inf/NaN instead). Leading batch dimensions are allowed
everywhere. Imports ``functrans.numpy`` (and its ``linalg``) and the primitives.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

import functrans.numpy as fnp
from functrans import core, lax
from functrans.errors import ShapeError
from functrans.numpy import linalg as fla
from functrans.numpy._promotion import cast, shape_of
from functrans.primitives import linalg as lax_linalg
from functrans.primitives.sorting import sort_key_val

__all__ = [
    "block_diag", "cho_factor", "cho_solve", "cholesky", "det", "eigh", "expm", "inv", "lu",
    "lu_factor", "lu_solve", "qr", "solve", "solve_triangular", "svd",
]


def _square(name: str, a: Any) -> Any:
    a = fla._inexact(name, a)[0]
    shape = shape_of(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(f"functrans.scipy.linalg.{name}: expected a square matrix or a stack "
                         f"of square matrices (shape [..., n, n]), got {fla._describe(a)}")
    return a


def _solve_shapes(name: str, a: Any, b: Any) -> bool:
    """Check a [..., n, n] against b and say whether b is a (stack of) vector(s): SciPy's and
    JAX's rule is that b [..., n] with one dimension fewer than a is a vector."""
    sa, sb = shape_of(a), shape_of(b)
    n = sa[-1]
    vector = len(sb) == len(sa) - 1
    if (vector and sb[-1:] != (n,)) or (not vector and (len(sb) < 2 or sb[-2] != n)):
        raise ShapeError(f"functrans.scipy.linalg.{name}: a {fla._describe(a)} and b "
                         f"{fla._describe(b)} do not match: b must have shape [..., {n}] (one "
                         f"dimension fewer than a) or [..., {n}, k]")
    return vector


def _as_matrix_rhs(a: Any, b: Any, vector: bool) -> tuple[Any, Any]:
    """a and b (made a column if it is a vector) with broadcast batch dimensions."""
    if vector:
        b = fnp.expand_dims(b, -1)
    return fla._broadcast_batch(a, b)


# --- Cholesky -----------------------------------------------------------------------------------


def cholesky(a: Any, lower: bool = False, overwrite_a: bool = False,
             check_finite: bool = True) -> Any:
    """Cholesky factor of Hermitian positive definite ``a``: upper ``U`` with ``a = U^H U``
    (SciPy's default) or lower ``L`` with ``a = L L^H``. Only that triangle of ``a`` is read;
    a matrix that is not positive definite gives NaNs."""
    a = _square("cholesky", a)
    if lower:
        return lax_linalg.cholesky(a, symmetrize_input=False)
    # The upper triangle of a is the lower triangle of a^H, whose lower factor is U^H.
    return fla._H(lax_linalg.cholesky(fla._H(a), symmetrize_input=False))


def cho_factor(a: Any, lower: bool = False, overwrite_a: bool = False,
               check_finite: bool = True) -> tuple[Any, bool]:
    """``(c, lower)`` for ``cho_solve``: ``c`` is the Cholesky factor (zeros outside its
    triangle, where SciPy leaves garbage)."""
    return cholesky(a, lower=lower), bool(lower)


def cho_solve(c_and_lower: tuple[Any, bool], b: Any, overwrite_b: bool = False,
              check_finite: bool = True) -> Any:
    """Solve ``a x = b`` given ``cho_factor(a)``."""
    c, lower = c_and_lower
    c, b = fla._inexact("cho_solve", c, b)
    vector = _solve_shapes("cho_solve", c, b)
    c, x = _as_matrix_rhs(c, b, vector)
    # a = L L^H: solve L y = b, then L^H x = y (with U = L^H when the factor is upper).
    x = lax_linalg.triangular_solve(c, x, left_side=True, lower=lower, transpose_a=not lower,
                                    conjugate_a=not lower)
    x = lax_linalg.triangular_solve(c, x, left_side=True, lower=lower, transpose_a=lower,
                                    conjugate_a=lower)
    return x[..., 0] if vector else x


def solve_triangular(a: Any, b: Any, trans: int | str = 0, lower: bool = False,
                     unit_diagonal: bool = False, overwrite_b: bool = False, debug: Any = None,
                     check_finite: bool = True) -> Any:
    """Solve ``op(a) x = b`` for triangular ``a`` (its ``lower``/upper triangle is read),
    ``op`` given by ``trans``: 0/'N' none, 1/'T' transpose, 2/'C' conjugate transpose.
    ``b`` is [..., n] (one dimension fewer than a) or [..., n, k]."""
    flags = {0: (False, False), "N": (False, False), 1: (True, False), "T": (True, False),
             2: (True, True), "C": (True, True)}
    if trans not in flags:
        raise ValueError(f"functrans.scipy.linalg.solve_triangular: trans must be 0, 1, 2, "
                         f"'N', 'T' or 'C', got {trans!r}")
    transpose_a, conjugate_a = flags[trans]
    a = _square("solve_triangular", a)
    a, b = fla._inexact("solve_triangular", a, b)
    vector = _solve_shapes("solve_triangular", a, b)
    a, x = _as_matrix_rhs(a, b, vector)
    x = lax_linalg.triangular_solve(a, x, left_side=True, lower=bool(lower),
                                    transpose_a=transpose_a, conjugate_a=conjugate_a,
                                    unit_diagonal=bool(unit_diagonal))
    return x[..., 0] if vector else x


# --- LU -----------------------------------------------------------------------------------------


def lu(a: Any, permute_l: bool = False, overwrite_a: bool = False, check_finite: bool = True
       ) -> Any:
    """``(p, l, u)`` with ``a = p @ l @ u`` (p a permutation matrix, l unit lower
    trapezoidal [..., m, k], u upper trapezoidal [..., k, n]), or ``(p @ l, u)`` with
    ``permute_l``."""
    (a,) = fla._inexact("lu", a)
    if len(shape_of(a)) < 2:
        raise ShapeError(f"functrans.scipy.linalg.lu: expected a matrix or a stack of "
                         f"matrices, got {fla._describe(a)}")
    lu_, _, perm = lax_linalg.lu(a)
    m, n = shape_of(a)[-2:]
    k = min(m, n)
    dtype = core.get_aval(a).dtype
    # p[i, j] = 1 where perm[j] == i, so that (p @ l @ u)[i] = (l @ u)[j] = a[perm[j]] = a[i].
    p = cast(fnp.expand_dims(perm, -2) == np.arange(m, dtype=np.int32)[:, None], dtype)
    low = fnp.tril(lu_, -1)[..., :, :k] + fnp.eye(m, k, dtype=dtype)
    up = fnp.triu(lu_)[..., :k, :]
    if permute_l:
        return fnp.matmul(p, low), up
    return p, low, up


def lu_factor(a: Any, overwrite_a: bool = False, check_finite: bool = True
              ) -> tuple[Any, Any]:
    """``(lu, piv)``: L and U packed in one matrix and LAPACK's 0-based row swaps (int32)."""
    (a,) = fla._inexact("lu_factor", a)
    if len(shape_of(a)) < 2:
        raise ShapeError(f"functrans.scipy.linalg.lu_factor: expected a matrix or a stack of "
                         f"matrices, got {fla._describe(a)}")
    lu_, pivots, _ = lax_linalg.lu(a)
    return lu_, pivots


def lu_solve(lu_and_piv: tuple[Any, Any], b: Any, trans: int = 0, overwrite_b: bool = False,
             check_finite: bool = True) -> Any:
    """Solve ``op(a) x = b`` given ``lu_factor(a)``; ``trans`` 0: a, 1: a^T, 2: a^H."""
    lu_, pivots = lu_and_piv
    if trans not in (0, 1, 2):
        raise ValueError(f"functrans.scipy.linalg.lu_solve: trans must be 0, 1 or 2, got "
                         f"{trans!r}")
    lu_ = _square("lu_solve", lu_)
    lu_, b = fla._inexact("lu_solve", lu_, b)
    vector = _solve_shapes("lu_solve", lu_, b)
    n = shape_of(lu_)[-1]
    perm = lax_linalg.lu_pivots_to_permutation(pivots, n)
    lu_, x = _as_matrix_rhs(lu_, b, vector)
    perm = fnp.broadcast_to(perm, shape_of(x)[:-1])
    if trans == 0:
        x = fla._permute_rows(x, perm)
        x = lax_linalg.triangular_solve(lu_, x, left_side=True, lower=True, unit_diagonal=True)
        x = lax_linalg.triangular_solve(lu_, x, left_side=True, lower=False)
    else:
        # a = P^T L U, so a^T x = b is U^T L^T (P x) = b.
        conj = trans == 2
        x = lax_linalg.triangular_solve(lu_, x, left_side=True, lower=False, transpose_a=True,
                                        conjugate_a=conj)
        x = lax_linalg.triangular_solve(lu_, x, left_side=True, lower=True, transpose_a=True,
                                        conjugate_a=conj, unit_diagonal=True)
        iota = fnp.broadcast_to(np.arange(n, dtype=np.int32), shape_of(perm))
        _, inverse = sort_key_val(perm, iota, dimension=-1)
        x = fla._permute_rows(x, inverse)
    return x[..., 0] if vector else x


# --- QR, eigh, SVD ------------------------------------------------------------------------------


def qr(a: Any, overwrite_a: bool = False, lwork: Any = None, mode: str = "full",
       pivoting: bool = False, check_finite: bool = True) -> Any:
    """QR decomposition: ``mode='full'`` gives q [..., m, m] and r [..., m, n], 'economic'
    q [..., m, k] and r [..., k, n], 'r' the tuple ``(r,)`` (full r), as in SciPy."""
    if mode not in ("full", "economic", "r"):
        raise ValueError(f"functrans.scipy.linalg.qr: mode must be 'full', 'economic' or 'r', "
                         f"got {mode!r}")
    if pivoting:
        raise NotImplementedError("functrans.scipy.linalg.qr: pivoting=True is not supported")
    (a,) = fla._inexact("qr", a)
    if len(shape_of(a)) < 2:
        raise ShapeError(f"functrans.scipy.linalg.qr: expected a matrix or a stack of "
                         f"matrices, got {fla._describe(a)}")
    q, r = lax_linalg.qr(a, full_matrices=mode != "economic")
    return (r,) if mode == "r" else (q, r)


def eigh(a: Any, b: Any = None, lower: bool = True, eigvals_only: bool = False,
         overwrite_a: bool = False, overwrite_b: bool = False, turbo: bool = True,
         eigvals: Any = None, type: int = 1, check_finite: bool = True,
         subset_by_index: tuple[int, int] | None = None) -> Any:
    """Eigenvalues ``w`` (ascending) and eigenvectors ``v`` (columns) of Hermitian ``a``,
    reading only its ``lower``/upper triangle: ``(w, v)``, or ``w`` with ``eigvals_only``.
    ``subset_by_index=(first, last)`` keeps eigenpairs first..last (inclusive, as in SciPy).
    The generalized problem (``b``) is not supported."""
    if b is not None:
        raise NotImplementedError("functrans.scipy.linalg.eigh: the generalized eigenproblem "
                                  "(b is not None) is not supported")
    if eigvals is not None:
        raise NotImplementedError("functrans.scipy.linalg.eigh: eigvals is deprecated in "
                                  "SciPy; use subset_by_index")
    a = _square("eigh", a)
    subset = None
    if subset_by_index is not None:
        first, last = (operator.index(i) for i in subset_by_index)
        subset = (first, last + 1)
    v, w = lax_linalg.eigh(a, lower=bool(lower), symmetrize_input=False, subset_by_index=subset)
    return w if eigvals_only else (w, v)


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, overwrite_a: bool = False,
        check_finite: bool = True, lapack_driver: str = "gesdd") -> Any:
    """``(u, s, vh)`` with ``a = u @ diag(s) @ vh`` (s descending), or ``s`` alone."""
    (a,) = fla._inexact("svd", a)
    if len(shape_of(a)) < 2:
        raise ShapeError(f"functrans.scipy.linalg.svd: expected a matrix or a stack of "
                         f"matrices, got {fla._describe(a)}")
    if not compute_uv:
        return lax_linalg.svd(a, full_matrices=False, compute_uv=False)
    return lax_linalg.svd(a, full_matrices=bool(full_matrices))


# --- det, inv, solve ----------------------------------------------------------------------------


def det(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    """The determinant (``functrans.numpy.linalg.det``)."""
    return fla.det(a)


def inv(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    """The inverse (``functrans.numpy.linalg.inv``)."""
    return fla.inv(a)


def solve(a: Any, b: Any, lower: bool = False, overwrite_a: bool = False,
          overwrite_b: bool = False, debug: Any = None, check_finite: bool = True,
          assume_a: str = "gen", transposed: bool = False) -> Any:
    """Solve ``a x = b`` (``a^T x = b`` with ``transposed``). ``assume_a='pos'`` uses a
    Cholesky factorization of the ``lower``/upper triangle; 'gen', 'sym' and 'her' use LU.
    ``b`` is [..., n] (one dimension fewer than a) or [..., n, k]."""
    if assume_a not in ("gen", "sym", "her", "pos"):
        raise ValueError(f"functrans.scipy.linalg.solve: assume_a must be 'gen', 'sym', 'her' "
                         f"or 'pos', got {assume_a!r}")
    a = _square("solve", a)
    a, b = fla._inexact("solve", a, b)
    if transposed:
        a = fnp.matrix_transpose(a)
    vector = _solve_shapes("solve", a, b)
    if assume_a == "pos":
        return cho_solve(cho_factor(a, lower=lower), b)
    a, x = _as_matrix_rhs(a, b, vector)
    x = fla._lu_solve(a, x)
    return x[..., 0] if vector else x


# --- expm ---------------------------------------------------------------------------------------

# Higham (2005), "The scaling and squaring method for the matrix exponential revisited": the
# [13/13] Pade approximant is accurate to double precision for ||A||_1 <= theta_13.
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def expm(A: Any, *, upper_triangular: bool = False, max_squarings: int = 16) -> Any:
    """The matrix exponential of [..., n, n] by scaling and squaring with the [13/13] Pade
    approximant (Higham 2005). Built from matmul and solve, so it is differentiable and
    batchable. The number of squarings s is chosen per matrix from its 1-norm; eagerly only
    the squarings needed are done, under jit/vmap ``max_squarings`` masked ones. A matrix
    needing more than ``max_squarings`` gives NaNs, as in JAX."""
    a = _square("expm", A)
    shape = shape_of(a)
    n = shape[-1]
    if n == 0:
        return a
    dtype = core.get_aval(a).dtype
    norm1 = fnp.max(fnp.sum(fnp.abs(a), axis=-2), axis=-1)
    # s = max(0, ceil(log2(norm / theta))): chosen from the value, never differentiated.
    squarings = lax.stop_gradient(fnp.ceil(fnp.log2(fnp.maximum(norm1 / _THETA13, 1.0))))
    scale = fnp.expand_dims(cast(fnp.exp2(-squarings), dtype), (-2, -1))
    a = a * scale
    eye = fnp.broadcast_to(fnp.eye(n, dtype=dtype), shape)
    b = _PADE13
    a2 = fnp.matmul(a, a)
    a4 = fnp.matmul(a2, a2)
    a6 = fnp.matmul(a4, a2)
    u = fnp.matmul(a6, b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + \
        b[3] * a2 + b[1] * eye
    u = fnp.matmul(a, u)
    v = fnp.matmul(a6, b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + \
        b[2] * a2 + b[0] * eye
    p, q = v + u, v - u
    if upper_triangular:
        r = lax_linalg.triangular_solve(q, p, left_side=True, lower=False)
    else:
        r = fla._lu_solve(q, p)
    concrete = core.concrete_or_none(squarings)
    steps = max_squarings if concrete is None else int(min(np.max(concrete, initial=0),
                                                           max_squarings))
    keep = fnp.expand_dims(squarings, (-2, -1))
    for i in range(steps):
        r = fnp.where(keep > i, fnp.matmul(r, r), r)
    return fnp.where(keep > max_squarings, np.nan, r)


# --- block_diag ---------------------------------------------------------------------------------


def block_diag(*arrs: Any) -> Any:
    """A block-diagonal matrix from 0-d (1 x 1), 1-d (1 x n) and 2-d blocks, in the
    promoted dtype. No blocks gives a 1 x 0 matrix, as in SciPy."""
    if not arrs:
        return fnp.zeros((1, 0))
    blocks = fla._promote(*arrs)
    blocks = [fnp.reshape(b, (1, -1)) if len(shape_of(b)) < 2 else b for b in blocks]
    for i, blk in enumerate(blocks):
        if len(shape_of(blk)) != 2:
            raise ShapeError(f"functrans.scipy.linalg.block_diag: block {i} has more than 2 "
                             f"dimensions: {fla._describe(blk)}")
    dtype = core.get_aval(blocks[0]).dtype
    widths = [shape_of(blk)[1] for blk in blocks]
    total = sum(widths)
    rows, start = [], 0
    for blk, width in zip(blocks, widths, strict=True):
        height = shape_of(blk)[0]
        parts = [fnp.zeros((height, start), dtype), blk,
                 fnp.zeros((height, total - start - width), dtype)]
        rows.append(fnp.concatenate(parts, axis=1))
        start += width
    return fnp.concatenate(rows, axis=0)
