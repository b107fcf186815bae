"""``functrans.numpy.linalg``: NumPy's linear algebra API (with NumPy 2's array-API names),
written over the ``lax.linalg`` primitives of ``functrans/primitives/linalg.py``.

Conventions (JAX's, where JAX and NumPy differ): integer and boolean inputs are promoted to the
default float dtype instead of raising; float16 is refused with a DtypeError (LAPACK has no
half precision), naming the function. Nothing raises on singular or indefinite matrices:
traced code cannot branch on values, so, as in JAX, a singular ``solve``/``inv`` gives inf/NaN
and a non-positive-definite ``cholesky`` gives NaN (NumPy raises LinAlgError). Every function
works on stacks of matrices [..., m, n] and is differentiable. Imports ``functrans.numpy``,
``lax``, ``custom_jvp`` and the primitives.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

import functrans.numpy as fnp
from functrans import core, lax
from functrans import dtypes as dt
from functrans.errors import DtypeError, ShapeError
from functrans.numpy._promotion import (
    asarray_leaf, cast, promote_dtypes, shape_of,
)
from functrans.numpy._numeric import _inexact_dtype
from functrans.primitives import linalg as lax_linalg
from functrans.primitives.sorting import sort as lax_sort
from functrans.transforms.custom_derivatives import custom_jvp

__all__ = [
    "EighResult", "LinAlgError", "QRResult", "SVDResult", "SlogdetResult", "cholesky", "cond",
    "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "lstsq", "matmul", "matrix_norm",
    "matrix_power", "matrix_rank", "matrix_transpose", "multi_dot", "norm", "outer", "pinv",
    "qr", "slogdet", "solve", "svd", "svdvals", "tensordot", "trace", "vecdot",
    "vector_norm",
]

LinAlgError = np.linalg.LinAlgError  # never raised by functrans; kept for `except` clauses


class EighResult(NamedTuple):
    eigenvalues: Any
    eigenvectors: Any


class QRResult(NamedTuple):
    Q: Any
    R: Any


class SlogdetResult(NamedTuple):
    sign: Any
    logabsdet: Any


class SVDResult(NamedTuple):
    U: Any
    S: Any
    Vh: Any


# --- argument handling --------------------------------------------------------------------------


def _inexact(name: str, *args: Any) -> list[Any]:
    """The arguments as arrays of one LAPACK dtype: the promoted dtype, with integers and
    booleans promoted to the default float (as JAX does; NumPy would use float64)."""
    args = [asarray_leaf(a) for a in args]
    dtype = _inexact_dtype(*args)
    if dtype == dt.float16:
        shown = ", ".join(_describe(a) for a in args)
        raise DtypeError(f"functrans.numpy.linalg.{name}: float16 is not supported by linear "
                         f"algebra routines (got {shown}); convert with .astype('float32')")
    return [cast(a, dtype) for a in args]


def _describe(x: Any) -> str:
    from functrans.numpy._promotion import describe
    return describe(x)


def _dtype(x: Any) -> np.dtype:
    return core.get_aval(x).dtype


def _matrix(name: str, a: Any, square: bool = False) -> Any:
    (a,) = _inexact(name, a)
    shape = shape_of(a)
    if len(shape) < 2:
        raise ShapeError(f"functrans.numpy.linalg.{name}: expected a matrix or a stack of "
                         f"matrices (at least 2 dimensions), got {_describe(a)}")
    if square and shape[-1] != shape[-2]:
        raise ShapeError(f"functrans.numpy.linalg.{name}: expected a square matrix or a stack "
                         f"of square matrices (shape [..., n, n]), got {_describe(a)}")
    return a


def _H(x: Any) -> Any:
    return fnp.conj(fnp.matrix_transpose(x)) if _dtype(x).kind == "c" else \
        fnp.matrix_transpose(x)


def _broadcast_batch(a: Any, b: Any) -> tuple[Any, Any]:
    """Matrices a [..., m, n] and b [..., p, q] with their batch dimensions broadcast."""
    sa, sb = shape_of(a), shape_of(b)
    batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    return fnp.broadcast_to(a, batch + sa[-2:]), fnp.broadcast_to(b, batch + sb[-2:])


def _permute_rows(x: Any, perm: Any) -> Any:
    """``x[..., perm, :]`` with batched ``perm`` [..., m] (a gather, linear in ``x``)."""
    return fnp.take_along_axis(x, fnp.expand_dims(perm, -1), axis=-2)


def _parity_sign(pivots: Any, dtype: np.dtype) -> Any:
    """(-1) ** (number of row swaps) that LU's pivots made."""
    k = shape_of(pivots)[-1]
    swaps = fnp.count_nonzero(fnp.not_equal(pivots, np.arange(k, dtype=np.int32)), axis=-1)
    return cast(1 - 2 * (swaps % 2), dtype)


# --- factorizations -----------------------------------------------------------------------------


def cholesky(a: Any, /, *, upper: bool = False, symmetrize_input: bool = True) -> Any:
    """Cholesky factor of Hermitian positive definite ``a`` [..., n, n]: lower ``L`` with
    ``a = L @ L^H`` (or upper ``U = L^H`` with ``upper=True``, as in NumPy 2). As in JAX,
    ``(a + a^H) / 2`` is factored unless ``symmetrize_input=False`` (then only the lower
    triangle is read), and a matrix that is not positive definite gives NaNs.

    >>> import functrans.numpy as fnp
    >>> fnp.linalg.cholesky(fnp.asarray([[4.0, 2.0], [2.0, 5.0]])).tolist()
    [[2.0, 0.0], [1.0, 2.0]]
    """
    a = _matrix("cholesky", a, square=True)
    factor = lax_linalg.cholesky(a, symmetrize_input=symmetrize_input)
    return _H(factor) if upper else factor


def qr(a: Any, mode: str = "reduced") -> Any:
    """QR decomposition of [..., m, n]: ``mode='reduced'`` gives Q [..., m, k] and R
    [..., k, n] (k = min(m, n)), ``'complete'`` Q [..., m, m] and R [..., m, n], ``'r'`` only
    R (reduced). Returns a ``QRResult(Q, R)`` (R alone for ``'r'``)."""
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"functrans.numpy.linalg.qr: mode must be 'reduced', 'complete' or "
                         f"'r', got {mode!r} ('raw' is LAPACK-specific and not supported)")
    a = _matrix("qr", a)
    q, r = lax_linalg.qr(a, full_matrices=mode == "complete")
    return r if mode == "r" else QRResult(q, r)


def eigh(a: Any, UPLO: str | None = None, symmetrize_input: bool = True
         ) -> EighResult:
    """Eigenvalues (ascending) and eigenvectors (columns) of Hermitian [..., n, n]:
    ``a @ v == v * w``. As in JAX, ``(a + a^H) / 2`` is decomposed unless
    ``symmetrize_input=False``, in which case only the ``UPLO`` ('L' or 'U') triangle is read.
    Eigenvector signs/phases are fixed: each one's largest entry is real and positive.
    Gradients of eigenvectors are inf/NaN where eigenvalues repeat (as in JAX); eigenvalue
    gradients stay finite."""
    uplo = "L" if UPLO is None else UPLO
    if uplo not in ("L", "U"):
        raise ValueError(f"functrans.numpy.linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    a = _matrix("eigh", a, square=True)
    v, w = lax_linalg.eigh(a, lower=uplo == "L", symmetrize_input=symmetrize_input)
    return EighResult(w, v)


def eigvalsh(a: Any, UPLO: str | None = "L", *, symmetrize_input: bool = True
             ) -> Any:
    """The eigenvalues of Hermitian [..., n, n], ascending (see ``eigh``)."""
    return eigh(a, UPLO, symmetrize_input).eigenvalues


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False
        ) -> Any:
    """Singular value decomposition ``a = U @ diag(S) @ Vh`` of [..., m, n], ``S``
    descending; ``SVDResult(U, S, Vh)``, or ``S`` alone when ``compute_uv=False``.
    ``hermitian=True`` uses ``eigh`` (for Hermitian ``a``). Singular-vector gradients are
    inf/NaN where singular values repeat (as in JAX); with ``full_matrices=True`` the extra
    columns of U (or rows of Vh) have gradients only for basis-independent uses."""
    a = _matrix("svd", a)
    if hermitian:
        return _svd_hermitian(a, compute_uv)
    if not compute_uv:
        return lax_linalg.svd(a, full_matrices=False, compute_uv=False)
    u, s, vh = lax_linalg.svd(a, full_matrices=bool(full_matrices))
    return SVDResult(u, s, vh)


def _svd_hermitian(a: Any, compute_uv: bool) -> Any:
    # JAX's method: |eigenvalues| sorted descending; u are the eigenvectors in that order and
    # vh their conjugates with the eigenvalues' signs.
    v, w = lax_linalg.eigh(a)
    s = fnp.abs(w)
    n = shape_of(s)[-1]
    idx = lax.broadcasted_iota(np.int32, shape_of(s), len(shape_of(s)) - 1)
    sign = fnp.sign(w)
    s, idx, sign = lax_sort((s, idx, sign), dimension=-1, num_keys=1)
    s, idx, sign = (fnp.flip(x, -1) for x in (s, idx, sign))
    if not compute_uv:
        return s
    u = fnp.take_along_axis(v, fnp.expand_dims(idx, -2), axis=-1) if n else v
    vh = _H(fnp.multiply(u, fnp.expand_dims(cast(sign, _dtype(u)), -2)))
    return SVDResult(u, s, vh)


def svdvals(x: Any, /) -> Any:
    """The singular values of [..., m, n], descending."""
    return svd(x, compute_uv=False)


# --- solves and inverses ------------------------------------------------------------------------


def solve(a: Any, b: Any) -> Any:
    """Solve ``a @ x = b`` for square [..., n, n] ``a`` by LU with partial pivoting. NumPy 2's
    rule: a 1-d ``b`` [n] is one vector, anything else is a stack of matrices [..., n, k]
    whose batch dimensions broadcast with a's. A singular ``a`` gives inf/NaN (no error)."""
    a, b = _inexact("solve", a, b)
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) < 2 or sa[-1] != sa[-2]:
        raise ShapeError(f"functrans.numpy.linalg.solve: a must be a square matrix or a stack "
                         f"of them ([..., n, n]), got {_describe(a)}")
    n = sa[-1]
    vector = len(sb) == 1
    if (vector and sb[0] != n) or (not vector and (len(sb) < 2 or sb[-2] != n)):
        raise ShapeError(f"functrans.numpy.linalg.solve: a {_describe(a)} and b {_describe(b)} "
                         f"do not match: b must have shape ({n},) or (..., {n}, k)")
    if vector:
        b = fnp.broadcast_to(fnp.expand_dims(b, -1), sa[:-2] + (n, 1))
    else:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise ShapeError(f"functrans.numpy.linalg.solve: the batch dimensions of a "
                             f"{_describe(a)} and b {_describe(b)} do not broadcast") from None
    x = _lu_solve(a, b)
    return x[..., 0] if vector else x


def _lu_solve(a: Any, b: Any) -> Any:
    lu_, _, perm = lax_linalg.lu(a)
    lu_, b = _broadcast_batch(lu_, b)
    perm = fnp.broadcast_to(perm, shape_of(b)[:-1])
    x = _permute_rows(b, perm)
    x = lax_linalg.triangular_solve(lu_, x, left_side=True, lower=True, unit_diagonal=True)
    return lax_linalg.triangular_solve(lu_, x, left_side=True, lower=False)


def inv(a: Any) -> Any:
    """The inverse of square [..., n, n] (``solve(a, I)``); a singular matrix gives inf/NaN."""
    a = _matrix("inv", a, square=True)
    shape = shape_of(a)
    eye = fnp.broadcast_to(fnp.eye(shape[-1], dtype=_dtype(a)), shape)
    return _lu_solve(a, eye)


def _cofactor_solve(a: Any, b: Any) -> tuple[Any, Any]:
    """``(det(a), det(a) * solve(a, b))``, finite also for singular ``a``: JAX's method.
    With P a = L U, det(a) solve(a, b) = U^-1 (det(a) L^-1 P b); replacing U's last pivot by
    1 / (product of the others) makes that well defined when only the last pivot is zero
    (rank n - 1, where the result is the adjugate times b), and matrices of lower rank (where
    the other triangular solve overflows) get 0, the exact answer there. Linear in ``b``."""
    n = shape_of(a)[-1]
    if n == 0:
        return fnp.ones(shape_of(a)[:-2], _dtype(a)), b
    if n == 1:
        return a[..., 0, 0], b
    lu_, pivots, perm = lax_linalg.lu(a)
    diag = fnp.diagonal(lu_, axis1=-2, axis2=-1)
    partial_det = fnp.cumprod(diag, axis=-1) * fnp.expand_dims(
        _parity_sign(pivots, _dtype(a)), -1)
    lu_ = lu_.at[..., -1, -1].set(1 / partial_det[..., -2])
    ones = fnp.ones(shape_of(lu_)[:-1] + (1,), _dtype(a))
    probe = lax_linalg.triangular_solve(lu_, ones, left_side=True, lower=False)
    low_rank = fnp.any(~fnp.isfinite(probe), axis=(-2, -1))
    low_rank = fnp.expand_dims(low_rank, (-2, -1))
    x = fnp.where(low_rank, 0, b)
    x = _permute_rows(x, perm)
    x = lax_linalg.triangular_solve(lu_, x, left_side=True, lower=True, unit_diagonal=True)
    scaled = x[..., :-1, :] * fnp.expand_dims(partial_det[..., -1], (-2, -1))
    x = fnp.concatenate([scaled, x[..., -1:, :]], axis=-2)
    x = lax_linalg.triangular_solve(lu_, x, left_side=True, lower=False)
    return partial_det[..., -1], fnp.where(low_rank, 0, x)


def _det_lu(a: Any) -> Any:
    lu_, pivots, _ = lax_linalg.lu(a)
    diag = fnp.diagonal(lu_, axis1=-2, axis2=-1)
    return _parity_sign(pivots, _dtype(a)) * fnp.prod(diag, axis=-1)


@custom_jvp
def _det(a: Any) -> Any:
    return _det_lu(a)


@_det.defjvp
def _det_jvp(primals: tuple, tangents: tuple) -> tuple[Any, Any]:
    # d det(a) = trace(adj(a) da), which _cofactor_solve computes without dividing by det(a),
    # so the derivative is right at singular matrices of rank n - 1 too.
    (a,), (t,) = primals, tangents
    y, z = _cofactor_solve(a, t)
    return y, fnp.trace(z, axis1=-2, axis2=-1)


def det(a: Any) -> Any:
    """Determinant of square [..., n, n], from LU. Its derivative (adj(a)^T) is also exact for
    singular matrices whose last LU pivot is the only zero one (JAX's method)."""
    a = _matrix("det", a, square=True)
    return _det(a)


def _slogdet_lu(a: Any) -> tuple[Any, Any]:
    dtype = _dtype(a)
    lu_, pivots, _ = lax_linalg.lu(a)
    diag = fnp.diagonal(lu_, axis1=-2, axis2=-1)
    is_zero = fnp.any(diag == 0, axis=-1)
    mag = fnp.abs(diag)
    if dtype.kind == "c":
        unit = diag / cast(fnp.where(mag == 0, 1, mag), dtype)
        sign = fnp.prod(unit, axis=-1) * _parity_sign(pivots, dtype)
    else:
        sign = fnp.prod(fnp.sign(diag), axis=-1) * _parity_sign(pivots, dtype)
    logdet = fnp.sum(fnp.log(mag), axis=-1)
    sign = fnp.where(is_zero, fnp.zeros((), dtype), sign)
    logdet = fnp.where(is_zero, -np.inf, logdet)
    return sign, logdet


@custom_jvp
def _slogdet(a: Any) -> tuple[Any, Any]:
    return _slogdet_lu(a)


@_slogdet.defjvp
def _slogdet_jvp(primals: tuple, tangents: tuple) -> tuple[Any, Any]:
    # JAX's rule: d log|det a| = Re trace(a^-1 da); for complex a the sign turns by
    # i Im trace(a^-1 da).
    (a,), (t,) = primals, tangents
    sign, logdet = _slogdet_lu(a)
    trace = fnp.trace(_lu_solve(a, t), axis1=-2, axis2=-1)
    if _dtype(a).kind == "c":
        sign_dot = (trace - cast(fnp.real(trace), _dtype(a))) * sign
        return (sign, logdet), (sign_dot, fnp.real(trace))
    return (sign, logdet), (fnp.zeros_like(sign), trace)


def slogdet(a: Any, *, method: str | None = None) -> SlogdetResult:
    """``SlogdetResult(sign, logabsdet)`` with ``det(a) == sign * exp(logabsdet)``, for square
    [..., n, n]: sign is +-1 (a unit complex number for complex a, 0 for singular a) and
    logabsdet is real (-inf for singular a)."""
    if method not in (None, "lu"):
        raise ValueError(f"functrans.numpy.linalg.slogdet: method must be None or 'lu', got "
                         f"{method!r}")
    a = _matrix("slogdet", a, square=True)
    sign, logdet = _slogdet(a)
    return SlogdetResult(sign, logdet)


def lstsq(a: Any, b: Any, rcond: float | None = None, *, numpy_resid: bool = False
          ) -> tuple[Any, Any, Any, Any]:
    """Least-squares solution of ``a @ x = b`` for a [m, n] and b [m] or [m, k], via the SVD:
    returns ``(x, residuals, rank, s)``. Singular values below ``rcond * s[0]`` (default
    ``eps * max(m, n)``) count as zero. As in JAX, residuals are always ``sum(|b - a x|^2)``
    per column unless ``numpy_resid=True`` asks for NumPy's empty array when rank < n or
    m <= n (which needs concrete values)."""
    a, b = _inexact("lstsq", a, b)
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) != 2:
        raise ShapeError(f"functrans.numpy.linalg.lstsq: a must be 2-dimensional, got "
                         f"{_describe(a)}")
    if len(sb) not in (1, 2) or sb[0] != sa[0]:
        raise ShapeError(f"functrans.numpy.linalg.lstsq: b must have shape ({sa[0]},) or "
                         f"({sa[0]}, k) to match a {_describe(a)}, got {_describe(b)}")
    vector = len(sb) == 1
    if vector:
        b = fnp.expand_dims(b, -1)
    m, n = sa
    dtype = _dtype(a)
    real_dtype = np.finfo(dtype).dtype
    if m == 0 or n == 0:
        s = fnp.zeros((0,), real_dtype)
        rank = fnp.asarray(0, dtype=dt.canonicalize(int))
        x = fnp.zeros((n, shape_of(b)[1]), dtype)
    else:
        eps = float(np.finfo(dtype).eps)
        cutoff = eps * max(m, n) if rcond is None else (eps if rcond < 0 else float(rcond))
        u, s, vh = lax_linalg.svd(a, full_matrices=False)
        keep = s >= cutoff * s[0]
        rank = fnp.sum(keep, dtype=dt.canonicalize(int))
        safe = fnp.where(keep, s, 1)
        s_inv = cast(fnp.where(keep, 1 / safe, 0), dtype)
        x = fnp.matmul(_H(vh), fnp.expand_dims(s_inv, -1) * fnp.matmul(_H(u), b))
    if numpy_resid and (int(rank) < n or m <= n):
        resid = fnp.zeros((0,), real_dtype)
    else:
        r = b - fnp.matmul(a, x)
        resid = fnp.sum(fnp.real(r * fnp.conj(r)), axis=0)
    return (x[:, 0] if vector else x), resid, rank, s


def _pinv_svd(a: Any, rtol: float | None, hermitian: bool) -> Any:
    m, n = shape_of(a)[-2:]
    dtype = _dtype(a)
    if m == 0 or n == 0:
        return fnp.zeros(shape_of(a)[:-2] + (n, m), dtype)
    if rtol is None:
        rtol = 10.0 * max(m, n) * float(np.finfo(dtype).eps)
    u, s, vh = svd(fnp.conj(a), full_matrices=False, hermitian=hermitian)
    cutoff = rtol * s[..., :1]
    s = cast(fnp.where(s > cutoff, s, np.inf), dtype)
    return fnp.matmul(fnp.matrix_transpose(vh),
                      fnp.matrix_transpose(u) / fnp.expand_dims(s, -1))


_pinv = custom_jvp(_pinv_svd, nondiff_argnums=(1, 2))


@_pinv.defjvp
def _pinv_jvp(rtol: float | None, hermitian: bool, primals: tuple, tangents: tuple
              ) -> tuple[Any, Any]:
    # JAX's rule (Golub and Pereyra 1973): for p = pinv(a),
    # dp = -p da p + p p^H da^H (I - a p) + (I - p a) da^H p^H p, grouped by shape for cost.
    (a,), (t,) = primals, tangents
    p = _pinv_svd(a, rtol, hermitian)
    if hermitian:
        a, t = (a + _H(a)) / 2, (t + _H(t)) / 2
    m, n = shape_of(a)[-2:]
    mm = fnp.matmul
    if m >= n:
        s = mm(mm(p, _H(p)), _H(t))
        u = mm(mm(_H(t), _H(p)), p)
        dp = -mm(mm(p, t), p) + s - mm(mm(s, a), p) + u - mm(mm(p, a), u)
    else:
        s = mm(p, mm(_H(p), _H(t)))
        u = mm(_H(t), mm(_H(p), p))
        dp = -mm(p, mm(t, p)) + s - mm(s, mm(a, p)) + u - mm(p, mm(a, u))
    return p, dp


def pinv(a: Any, rtol: float | None = None, hermitian: bool = False, *,
         rcond: float | None = None) -> Any:
    """Moore-Penrose pseudo-inverse of [..., m, n] from the SVD; singular values at most
    ``rtol`` (or NumPy's older name ``rcond``) times the largest count as zero. The default
    ``rtol`` is JAX's ``10 * max(m, n) * eps``. Differentiated with the Golub-Pereyra formula,
    which holds where the rank does not change."""
    if rcond is not None:
        if rtol is not None:
            raise ValueError("functrans.numpy.linalg.pinv: give rtol or rcond, not both")
        rtol = rcond
    a = _matrix("pinv", a)
    rtol = None if rtol is None else float(rtol)
    return _pinv(a, rtol, bool(hermitian))


def matrix_power(a: Any, n: int) -> Any:
    """``a`` [..., m, m] to the integer power ``n`` by repeated squaring (``n < 0`` inverts
    first; ``n == 0`` gives the identity)."""
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"functrans.numpy.linalg.matrix_power: n must be an integer, got "
                        f"{n!r}") from None
    a = _matrix("matrix_power", a, square=True)
    if n == 0:
        return fnp.broadcast_to(fnp.eye(shape_of(a)[-1], dtype=_dtype(a)), shape_of(a))
    if n < 0:
        a, n = inv(a), -n
    result = None
    while n:
        if n & 1:
            result = a if result is None else fnp.matmul(result, a)
        n >>= 1
        if n:
            a = fnp.matmul(a, a)
    return result


def matrix_rank(A: Any, tol: Any = None, hermitian: bool = False, *,
                rtol: Any = None) -> Any:
    """Number of singular values above ``tol`` (default ``S.max() * max(m, n) * eps``, or
    ``rtol * S.max()``), per matrix of [..., m, n]; a 1-d or 0-d input has rank 1 unless it is
    all zeros."""
    (A,) = _inexact("matrix_rank", A)
    shape = shape_of(A)
    if len(shape) < 2:
        return cast(fnp.any(A != 0), dt.canonicalize(int))
    s = svd(A, compute_uv=False, hermitian=hermitian)
    top = fnp.max(s, axis=-1, keepdims=True, initial=0.0)
    if tol is None:
        if rtol is None:
            rtol = max(shape[-2:]) * float(np.finfo(_dtype(s)).eps)
        tol = top * fnp.expand_dims(fnp.asarray(rtol), -1)
    else:
        tol = fnp.expand_dims(fnp.asarray(tol), -1)
    return fnp.sum(s > tol, axis=-1, dtype=dt.canonicalize(int))


def multi_dot(arrays: Sequence[Any], *, precision: Any = None) -> Any:
    """``arrays[0] @ arrays[1] @ ...`` in the cheapest order (NumPy's dynamic programme over
    the matrix chain); the first and last may be 1-d."""
    arrays = [asarray_leaf(a) for a in arrays]
    if len(arrays) < 2:
        raise ValueError("functrans.numpy.linalg.multi_dot: needs at least two arrays")
    first_1d, last_1d = len(shape_of(arrays[0])) == 1, len(shape_of(arrays[-1])) == 1
    if first_1d:
        arrays[0] = fnp.expand_dims(arrays[0], 0)
    if last_1d:
        arrays[-1] = fnp.expand_dims(arrays[-1], -1)
    for i, a in enumerate(arrays):
        if len(shape_of(a)) != 2:
            raise ShapeError(f"functrans.numpy.linalg.multi_dot: array {i} must be 2-d (the "
                             f"first and last may be 1-d), got {_describe(a)}")
    dims = [shape_of(a)[0] for a in arrays] + [shape_of(arrays[-1])[1]]
    order = _chain_order(dims)
    out = _chain_product(arrays, order, 0, len(arrays) - 1)
    if first_1d:
        out = out[0]
    if last_1d:
        out = out[..., 0]
    return out


def _chain_order(dims: list[int]) -> list[list[int]]:
    """split[i][j]: where the cheapest product of matrices i..j splits (Cormen et al.)."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def _chain_product(arrays: list[Any], split: list[list[int]], i: int, j: int) -> Any:
    if i == j:
        return arrays[i]
    k = split[i][j]
    return fnp.matmul(_chain_product(arrays, split, i, k),
                      _chain_product(arrays, split, k + 1, j))


def cond(x: Any, p: Any = None) -> Any:
    """Condition number of [..., n, n] (of [..., m, n] for p in None, 2, -2) in norm ``p``:
    ``s[0] / s[-1]`` from the SVD for p None/2 (its inverse for -2), else
    ``norm(x, p) * norm(inv(x), p)``. A singular matrix gives inf."""
    x = _matrix("cond", x, square=p not in (None, 2, -2))
    if p in (None, 2, -2):
        s = svdvals(x)
        r = s[..., 0] / s[..., -1] if p != -2 else s[..., -1] / s[..., 0]
    else:
        r = norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))
    # A NaN from a singular matrix (0/0, inf*0) means an infinite condition number, unless the
    # input itself had NaNs.
    has_nan = fnp.any(fnp.isnan(x), axis=(-2, -1))
    return fnp.where(fnp.isnan(r) & ~has_nan, np.inf, r)


# --- norms --------------------------------------------------------------------------------------


def _sqrt_sum_squares(x: Any, axis: Any, keepdims: bool) -> Any:
    """sqrt(sum |x|^2) whose gradient at x = 0 is 0 (a subgradient) instead of JAX's NaN."""
    total = fnp.sum(fnp.real(x * fnp.conj(x)), axis=axis, keepdims=keepdims)
    zero = total == 0
    return fnp.safe_where(zero, fnp.zeros_like(total), fnp.sqrt(fnp.where(zero, 1, total)))


def vector_norm(x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:
    """The vector ``ord``-norm over ``axis`` (all axes flattened when None): 2 (default),
    1, inf, -inf, 0 (number of nonzeros) or any other p (``sum(|x|^p)^(1/p)``). The 2-norm's
    and p-norms' gradients at zero are 0 (JAX gives NaN there)."""
    (x,) = _inexact("vector_norm", x)
    if isinstance(ord, str):
        hint = " (use numpy.inf)" if ord in ("inf", "-inf") else ""
        raise ValueError(  # noqa: TRY004 - NumPy raises ValueError here
            f"functrans.numpy.linalg.vector_norm: invalid ord {ord!r} for a vector norm{hint}")
    if axis is None and not keepdims:
        x, axis = fnp.ravel(x), 0
    if ord is None or ord == 2:
        return _sqrt_sum_squares(x, axis, keepdims)
    if ord == np.inf:
        return fnp.max(fnp.abs(x), axis=axis, keepdims=keepdims, initial=0.0)
    if ord == -np.inf:
        return fnp.min(fnp.abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return fnp.sum(x != 0, axis=axis, keepdims=keepdims, dtype=np.finfo(_dtype(x)).dtype)
    if ord == 1:
        return fnp.sum(fnp.abs(x), axis=axis, keepdims=keepdims)
    p = float(ord)
    total = fnp.sum(fnp.abs(x) ** p, axis=axis, keepdims=keepdims)
    zero = total == 0
    return fnp.safe_where(zero, fnp.zeros_like(total),
                          fnp.where(zero, 1, total) ** (1.0 / p))


def matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Any:
    """The matrix ``ord``-norm of [..., m, n]: 'fro', 'nuc', 1, -1, 2, -2, inf, -inf."""
    return norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """NumPy's ``norm``: a vector norm over one axis, a matrix norm over two (``ord`` as in
    ``vector_norm``/``matrix_norm``); with ``axis=None`` the 2-norm of the flattened array
    when ``ord`` is None, else the vector or matrix norm of a 1-d or 2-d ``x``."""
    (x,) = _inexact("norm", x)
    ndim = len(shape_of(x))
    if axis is None:
        if ord is None:
            return _sqrt_sum_squares(x, None, keepdims)
        if ndim not in (1, 2):
            raise ValueError(f"functrans.numpy.linalg.norm: ord={ord!r} needs a 1-d or 2-d "
                             f"input or an explicit axis, got {_describe(x)}")
        axis = tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(_axis("norm", a, ndim) for a in axes)
    if len(axes) == 1:
        return vector_norm(x, axis=axes[0], keepdims=keepdims, ord=2 if ord is None else ord)
    if len(axes) != 2 or axes[0] == axes[1]:
        raise ValueError(f"functrans.numpy.linalg.norm: axis={axis!r} must be one axis (a "
                         f"vector norm) or two different axes (a matrix norm)")
    row, col = axes
    if ord is None or ord in ("fro", "f"):
        return _sqrt_sum_squares(x, axes, keepdims)
    if isinstance(ord, str) and ord != "nuc":
        raise ValueError(f"functrans.numpy.linalg.norm: invalid ord {ord!r} for a matrix norm; "
                         f"use 'fro', 'nuc', 1, -1, 2, -2, inf or -inf")
    if ord in (1, -1, np.inf, -np.inf):
        summed, kept = (row, col) if ord in (1, -1) else (col, row)
        sums = fnp.sum(fnp.abs(x), axis=summed, keepdims=keepdims)
        if not keepdims and kept > summed:
            kept -= 1
        if ord > 0:
            return fnp.max(sums, axis=kept, keepdims=keepdims, initial=0.0)
        return fnp.min(sums, axis=kept, keepdims=keepdims)
    if ord in ("nuc", 2, -2):
        s = svdvals(fnp.moveaxis(x, axes, (-2, -1)))
        if ord == 2:
            y = fnp.max(s, axis=-1, initial=0.0)
        elif ord == -2:
            y = fnp.min(s, axis=-1)
        else:
            y = fnp.sum(s, axis=-1)
        return fnp.expand_dims(y, axes) if keepdims else y
    raise ValueError(f"functrans.numpy.linalg.norm: invalid ord {ord!r} for a matrix norm; "
                     f"use 'fro', 'nuc', 1, -1, 2, -2, inf or -inf")


def _axis(name: str, axis: Any, ndim: int) -> int:
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(f"functrans.numpy.linalg.{name}: axis {axis} is out of "
                                      f"bounds for an array of rank {ndim}")
    return axis % ndim


# --- NumPy 2's array-API names ------------------------------------------------------------------


def trace(x: Any, /, *, offset: int = 0, dtype: Any = None) -> Any:
    """Sum of the ``offset`` diagonal of the last two axes."""
    return fnp.trace(x, offset=offset, axis1=-2, axis2=-1, dtype=dtype)


def diagonal(x: Any, /, *, offset: int = 0) -> Any:
    """The ``offset`` diagonal of the last two axes."""
    return fnp.diagonal(x, offset=offset, axis1=-2, axis2=-1)


def outer(x1: Any, x2: Any, /) -> Any:
    """Outer product of two 1-d arrays."""
    for i, v in enumerate((x1, x2)):
        if len(shape_of(asarray_leaf(v))) != 1:
            raise ShapeError(f"functrans.numpy.linalg.outer: x{i + 1} must be 1-d, got "
                             f"{_describe(asarray_leaf(v))}")
    return fnp.outer(x1, x2)


def cross(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """Cross product of 3-vectors along ``axis``, broadcasting the other dimensions."""
    x1, x2 = fnp.broadcast_arrays(*_promote(x1, x2))
    ndim = len(shape_of(x1))
    if ndim == 0:
        raise ShapeError("functrans.numpy.linalg.cross: inputs must have at least one dimension")
    axis = _axis("cross", axis, ndim)
    if shape_of(x1)[axis] != 3:
        raise ShapeError(f"functrans.numpy.linalg.cross: axis {axis} must have size 3, got "
                         f"{_describe(x1)} and {_describe(x2)}")
    return fnp.cross(x1, x2, axis=axis)


def _promote(*args: Any) -> list[Any]:
    """The arguments as arrays of their common dtype (weak if all are weak)."""
    return promote_dtypes(*map(asarray_leaf, args))


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """Dot product along ``axis`` (conjugating x1), broadcasting the other dimensions."""
    return fnp.vecdot(x1, x2, axis=axis)


def matmul(x1: Any, x2: Any, /) -> Any:
    """Matrix product with broadcast batch dimensions (``functrans.numpy.matmul``)."""
    return fnp.matmul(x1, x2)


def matrix_transpose(x: Any, /) -> Any:
    """Swap the last two axes."""
    return fnp.matrix_transpose(x)


def tensordot(x1: Any, x2: Any, /, *, axes: Any = 2) -> Any:
    """``functrans.numpy.tensordot`` (the array API's keyword-only ``axes``)."""
    return fnp.tensordot(x1, x2, axes)
