"""Linear algebra: the lax.linalg primitives (primitives/linalg.py), functrans.numpy.linalg and
functrans.scipy.linalg.

hypothesis draws stacks of well-conditioned matrices (U diag(s) V^H with bounded s, Hermitian
Q diag(w) Q^H with separated w) in float32/float64/complex64/complex128, including empty and
batched stacks, and checks results against numpy.linalg and the defining identities (A = QR,
A = U S V^H, L L^H = A, A v = v w, P A = L U). Derivatives are checked with ft.jvp/ft.vjp
against central differences and with functrans.testing.check_grads; vmap against loops.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
import functrans.numpy.linalg as la
import functrans.scipy.linalg as sla
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import DtypeError, ShapeError
from functrans.primitives import linalg as L
from functrans.testing import check_grads, check_vmap_grad_matches_loop, check_vmap_matches_loop

F32, F64, C64, C128 = (np.dtype(d) for d in ("float32", "float64", "complex64", "complex128"))
DTYPES = [F32, F64, C64, C128]
WIDE = [F64, C128]  # dtypes for finite-difference checks


def tol(dtype: np.dtype) -> float:
    return 5e-4 if np.dtype(dtype) in (F32, C64) else 1e-9


def close(got, want, dtype=None, scale: float = 1.0) -> None:
    got, want = np.asarray(got), np.asarray(want)
    t = tol(dtype or got.dtype) * scale
    np.testing.assert_allclose(got, want, rtol=t, atol=t)


def raises(exc: type, msg: str):
    return pytest.raises(exc, match=re.escape(msg))


def H(x):
    return np.conj(np.swapaxes(x, -1, -2))


# --- matrices -----------------------------------------------------------------------------------


def rand(rng, shape, dtype):
    x = rng.normal(size=shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.normal(size=shape)
    return x


def unitary(rng, batch, n, dtype):
    q, _r = np.linalg.qr(rand(rng, batch + (n, n), dtype))
    return q


def well_conditioned(rng, batch, m, n, dtype, cond=4.0):
    """U diag(s) V^H with s in [1, cond], distinct: condition number <= cond."""
    k = min(m, n)
    u = unitary(rng, batch, m, dtype)[..., :k]
    v = unitary(rng, batch, n, dtype)[..., :k]
    s = np.sort(rng.uniform(1.0, cond, size=batch + (k,)))[..., ::-1]
    s = s + np.linspace(0.3, 0, k)  # keep them apart
    return ((u * s[..., None, :]) @ H(v)).astype(dtype)


def hermitian(rng, batch, n, dtype, low=-3.0, gap=0.4):
    """Q diag(w) Q^H with eigenvalues at least ``gap`` apart."""
    q = unitary(rng, batch, n, dtype)
    w = low + gap * np.arange(n) + rng.uniform(0, 0.3, size=batch + (n,)).cumsum(-1)
    return ((q * w[..., None, :]) @ H(q)).astype(dtype)


def spd(rng, batch, n, dtype):
    return hermitian(rng, batch, n, dtype, low=1.0, gap=0.3)


batches = st.sampled_from([(), (), (2,), (0,), (2, 1)])
sizes = st.integers(0, 4)
dtypes = st.sampled_from(DTYPES)
seeds = st.integers(0, 2**31 - 1)


@st.composite
def cases(draw, dtype_choices=DTYPES):
    return (draw(batches), draw(sizes), draw(sizes), draw(st.sampled_from(dtype_choices)),
            np.random.default_rng(draw(seeds)))


# --- cholesky -----------------------------------------------------------------------------------


@given(cases())
def test_cholesky_matches_numpy_and_reads_the_lower_triangle(case):
    batch, n, _, dtype, rng = case
    a = spd(rng, batch, n, dtype)
    junk = np.where(np.tri(n, dtype=bool), a, rand(rng, a.shape, dtype)).astype(dtype)
    got = np.asarray(L.cholesky_p.bind(junk))
    assert got.dtype == dtype and got.shape == a.shape
    close(got, np.linalg.cholesky(a), dtype)
    close(got @ H(got), a, dtype, scale=10)
    assert np.all(np.triu(got, 1) == 0)
    close(L.cholesky(a + 0), got, dtype)  # symmetrize_input=True on a Hermitian matrix


def test_cholesky_exact_value_and_not_positive_definite_gives_nan_per_matrix():
    np.testing.assert_allclose(L.cholesky(np.array([[4.0, 2.0], [2.0, 5.0]])),
                               [[2.0, 0.0], [1.0, 2.0]])
    stack = np.stack([4 * np.eye(2), -np.eye(2), np.eye(2)])
    got = np.asarray(L.cholesky(stack))
    np.testing.assert_allclose(got[0], 2 * np.eye(2))
    assert np.isnan(got[1]).all()
    np.testing.assert_allclose(got[2], np.eye(2))


# --- triangular_solve ---------------------------------------------------------------------------


def op_matrix(a, lower, transpose_a, conjugate_a, unit_diagonal):
    """The dense matrix op(triangle of a) that triangular_solve inverts."""
    t = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        idx = np.arange(a.shape[-1])
        t[..., idx, idx] = 1
    if conjugate_a:
        t = np.conj(t)
    return np.swapaxes(t, -1, -2) if transpose_a else t


@given(cases(), st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans(),
       st.integers(0, 3))
def test_triangular_solve_matches_a_dense_solve(case, left, lower, trans, conj, unit, k):
    batch, m, _, dtype, rng = case
    a = (rand(rng, batch + (m, m), dtype) * 0.3 + 2 * np.eye(m)).astype(dtype)
    b = rand(rng, batch + ((m, k) if left else (k, m)), dtype).astype(dtype)
    x = np.asarray(L.triangular_solve(a, b, left_side=left, lower=lower, transpose_a=trans,
                                      conjugate_a=conj, unit_diagonal=unit))
    assert x.dtype == dtype and x.shape == b.shape
    op = op_matrix(a, lower, trans, conj and dtype.kind == "c", unit)
    want = np.linalg.solve(op, b) if left else H(np.linalg.solve(H(op), H(b)))
    if x.size:
        close(x, want, dtype, scale=10)


def test_triangular_solve_zero_pivot_gives_inf_not_an_error():
    a = np.array([[0.0, 0.0], [1.0, 1.0]])
    x = np.asarray(L.triangular_solve(a, np.ones((2, 1)), left_side=True, lower=True))
    assert not np.isfinite(x).all()


# --- lu -----------------------------------------------------------------------------------------


def unpack_lu(lu_, m, n):
    k = min(m, n)
    low = np.tril(lu_, -1)[..., :, :k] + np.eye(m, k)
    up = np.triu(lu_)[..., :k, :]
    return low, up


@given(cases())
def test_lu_reconstructs_the_permuted_matrix(case):
    batch, m, n, dtype, rng = case
    a = rand(rng, batch + (m, n), dtype).astype(dtype)
    lu_, pivots, perm = (np.asarray(x) for x in L.lu(a))
    assert lu_.dtype == dtype and pivots.dtype == perm.dtype == np.int32
    assert pivots.shape == batch + (min(m, n),) and perm.shape == batch + (m,)
    low, up = unpack_lu(lu_, m, n)
    permuted = np.take_along_axis(a, perm[..., None], axis=-2) if m else a
    close(low @ up, permuted, dtype, scale=10)
    assert np.all(np.abs(low) <= 1 + 1e-6)  # partial pivoting
    np.testing.assert_array_equal(L.lu_pivots_to_permutation(pivots, m), perm)


def test_lu_of_a_singular_matrix_has_a_zero_pivot_and_no_nan():
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    lu_, _, perm = (np.asarray(x) for x in L.lu(a))
    assert np.isfinite(lu_).all()
    assert np.isclose(np.prod(np.diagonal(lu_)), 0)
    low, up = unpack_lu(lu_, 3, 3)
    np.testing.assert_allclose(low @ up, a[perm], atol=1e-12)


@given(st.integers(0, 5), st.integers(0, 4), seeds)
def test_lu_pivots_to_permutation_applies_swaps_in_order(size, k, seed):
    k = min(k, size)
    rng = np.random.default_rng(seed)
    pivots = np.array([rng.integers(i, size) for i in range(k)], np.int32)
    perm = list(range(size))
    for i, p in enumerate(pivots):
        perm[i], perm[p] = perm[p], perm[i]
    np.testing.assert_array_equal(L.lu_pivots_to_permutation(pivots, size), perm)


# --- qr -----------------------------------------------------------------------------------------


@given(cases(), st.booleans())
def test_qr_is_an_orthogonal_triangular_factorization(case, full):
    batch, m, n, dtype, rng = case
    a = rand(rng, batch + (m, n), dtype).astype(dtype)
    q, r = (np.asarray(x) for x in L.qr(a, full_matrices=full))
    k = m if full else min(m, n)
    assert q.shape == batch + (m, k) and r.shape == batch + (k, n)
    assert q.dtype == r.dtype == dtype
    close(q @ r, a, dtype, scale=10)
    close(H(q) @ q, np.broadcast_to(np.eye(k), batch + (k, k)), dtype, scale=10)
    assert np.all(np.tril(r, -1) == 0)
    want_r = np.linalg.qr(a, mode="complete" if full else "reduced")[1]
    close(np.abs(np.diagonal(r, axis1=-2, axis2=-1)),
          np.abs(np.diagonal(want_r, axis1=-2, axis2=-1)), dtype, scale=10)


# --- eigh ---------------------------------------------------------------------------------------


def hermitian_from(a, lower):
    part = np.tril(a, -1) if lower else np.triu(a, 1)
    d = np.einsum("...ii->...i", a).real
    return part + H(part) + d[..., None, :] * np.eye(a.shape[-1])


@given(cases(), st.booleans())
def test_eigh_reads_one_triangle_and_diagonalizes(case, lower):
    batch, n, _, dtype, rng = case
    a = rand(rng, batch + (n, n), dtype).astype(dtype)
    v, w = (np.asarray(x) for x in L.eigh(a, lower=lower, symmetrize_input=False))
    h = hermitian_from(a, lower)
    assert v.dtype == dtype and w.dtype == np.finfo(dtype).dtype
    close(w, np.linalg.eigvalsh(h), dtype, scale=10)
    close(h @ v, v * w[..., None, :], dtype, scale=30)
    close(H(v) @ v, np.broadcast_to(np.eye(n), batch + (n, n)), dtype, scale=10)
    if n:  # the gauge: each column's largest entry is real and positive
        idx = np.argmax(np.abs(v), axis=-2)[..., None, :]
        top = np.take_along_axis(v, idx, axis=-2)
        assert np.all(top.real > 0) and np.allclose(top.imag, 0, atol=tol(dtype))


def test_eigh_subset_by_index():
    a = hermitian(np.random.default_rng(1), (), 5, F64)
    v, w = L.eigh(a, subset_by_index=(1, 4))
    vf, wf = L.eigh(a)
    np.testing.assert_allclose(w, np.asarray(wf)[1:4])
    np.testing.assert_allclose(v, np.asarray(vf)[:, 1:4])


# --- svd ----------------------------------------------------------------------------------------


@given(cases(), st.booleans())
def test_svd_reconstructs_with_unitary_factors(case, full):
    batch, m, n, dtype, rng = case
    a = rand(rng, batch + (m, n), dtype).astype(dtype)
    u, s, vt = (np.asarray(x) for x in L.svd(a, full_matrices=full))
    k = min(m, n)
    assert s.dtype == np.finfo(dtype).dtype and u.dtype == vt.dtype == dtype
    assert u.shape == batch + (m, m if full else k) and vt.shape == batch + (n if full else k, n)
    close(s, np.linalg.svd(a, compute_uv=False), dtype, scale=10)
    close((u[..., :, :k] * s[..., None, :]) @ vt[..., :k, :], a, dtype, scale=10)
    close(H(u) @ u, np.broadcast_to(np.eye(u.shape[-1]), batch + (u.shape[-1],) * 2), dtype,
          scale=10)
    close(vt @ H(vt), np.broadcast_to(np.eye(vt.shape[-2]), batch + (vt.shape[-2],) * 2),
          dtype, scale=10)
    close(L.svd(a, compute_uv=False), s, dtype)


def test_svd_primitive_returns_s_first_and_subsets():
    a = well_conditioned(np.random.default_rng(2), (), 4, 3, F64)
    s, u, vt = L.svd_p.bind(a, full_matrices=False, compute_uv=True, subset_by_index=None)
    assert np.shape(s) == (3,) and np.shape(u) == (4, 3)
    u2, s2, vt2 = L.svd(a, full_matrices=False, subset_by_index=(1, 3))
    np.testing.assert_allclose(s2, np.asarray(s)[1:3])
    np.testing.assert_allclose(u2, np.asarray(u)[:, 1:3])
    np.testing.assert_allclose(vt2, np.asarray(vt)[1:3])


# --- abstract evaluation errors -----------------------------------------------------------------


def aval(*shape, dtype=F32):
    return ShapedArray(shape, np.dtype(dtype))


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: L.cholesky_p.abstract_eval(aval(2, 3)), ShapeError,
     "functrans.lax.cholesky: operand must be square (shape [..., n, n]), got f32[2,3]"),
    (lambda: L.cholesky_p.abstract_eval(aval(3)), ShapeError,
     ("functrans.lax.cholesky: operand must be a matrix or a stack of matrices (rank >= 2), "
     "got f32[3]")),
    (lambda: L.cholesky_p.abstract_eval(aval(2, 2, dtype=np.int32)), DtypeError,
     ("functrans.lax.cholesky: operand i32[2,2] has dtype int32; expected one of complex128, "
     "complex64, float32, float64")),
    (lambda: L.eigh_p.abstract_eval(aval(2, 2, dtype=np.float16), lower=True,
                                    sort_eigenvalues=True, subset_by_index=None), DtypeError,
     "functrans.lax.eigh: operand f16[2,2] has dtype float16"),
    (lambda: L.eigh_p.abstract_eval(aval(3, 3), lower=True, sort_eigenvalues=True,
                                    subset_by_index=(2, 5)), ValueError,
     ("functrans.lax.eigh: subset_by_index must be None or a pair (start, end) with 0 <= "
     "start <= end <= 3, got (2, 5)")),
    (lambda: L.eigh_p.abstract_eval(aval(3, 3), lower=1, sort_eigenvalues=True,
                                    subset_by_index=None), TypeError,
     "functrans.lax.eigh: lower must be a bool, got 1"),
    (lambda: L.triangular_solve_p.abstract_eval(
        aval(3, 3), aval(3), left_side=True, lower=True, transpose_a=False,
        conjugate_a=False, unit_diagonal=False), ShapeError,
     ("functrans.lax.triangular_solve: b must have a's rank (a stack of matrices with a's batch "
     "dimensions), got a f32[3,3] and b f32[3]; for a vector b use b[..., None]")),
    (lambda: L.triangular_solve_p.abstract_eval(
        aval(2, 3, 3), aval(1, 3, 2), left_side=True, lower=True, transpose_a=False,
        conjugate_a=False, unit_diagonal=False), ShapeError,
     ("functrans.lax.triangular_solve: a and b must have the same batch dimensions, got a "
     "f32[2,3,3] and b f32[1,3,2]")),
    (lambda: L.triangular_solve_p.abstract_eval(
        aval(3, 3), aval(2, 4), left_side=False, lower=True, transpose_a=False,
        conjugate_a=False, unit_diagonal=False), ShapeError,
     ("functrans.lax.triangular_solve: with left_side=False, b's columns (4) must match a's "
     "size (3)")),
    (lambda: L.triangular_solve_p.abstract_eval(
        aval(3, 3), aval(3, 1, dtype=F64), left_side=True, lower=True, transpose_a=False,
        conjugate_a=False, unit_diagonal=False), DtypeError,
     "functrans.lax.triangular_solve: operands must have the same dtype"),
    (lambda: L.lu_pivots_to_permutation_p.abstract_eval(aval(3, dtype=np.int64),
                                                        permutation_size=3), DtypeError,
     "functrans.lax.lu_pivots_to_permutation: pivots must be int32, got i64[3]"),
    (lambda: L.lu_pivots_to_permutation_p.abstract_eval(aval(3, dtype=np.int32),
                                                        permutation_size=2), ValueError,
     "permutation_size=2 is smaller than the number of pivots (3)"),
    (lambda: L.svd_p.abstract_eval(aval(3, 2), full_matrices=True, compute_uv=True,
                                   subset_by_index=(0, 1)), ValueError,
     "functrans.lax.svd: subset_by_index needs full_matrices=False"),
    (lambda: L.qr(np.ones((2, 2)), pivoting=True), NotImplementedError,
     "functrans.lax.qr: pivoting=True"),
])
def test_abstract_eval_errors(call, exc, msg):
    with raises(exc, msg):
        call()


def test_abstract_eval_shapes():
    v, w = L.eigh_p.abstract_eval(aval(2, 4, 4, dtype=C64), lower=True, sort_eigenvalues=True,
                                  subset_by_index=(1, 3))
    assert (v.shape, v.dtype, w.shape, w.dtype) == ((2, 4, 2), C64, (2, 2), F32)
    s, u, vt = L.svd_p.abstract_eval(aval(5, 3), full_matrices=True, compute_uv=True,
                                     subset_by_index=None)
    assert (s.shape, u.shape, vt.shape) == ((3,), (5, 5), (3, 3))
    lu_, piv, perm = L.lu_p.abstract_eval(aval(7, 2, 5))
    assert (lu_.shape, piv.shape, perm.shape, piv.dtype) == ((7, 2, 5), (7, 2), (7, 2),
                                                              np.int32)


# --- derivatives of the primitives --------------------------------------------------------------


def fd_jvp(f, args, tangents, eps=1e-6):
    plus = f(*[a + eps * t for a, t in zip(args, tangents, strict=True)])
    minus = f(*[a - eps * t for a, t in zip(args, tangents, strict=True)])
    return [(np.asarray(p) - np.asarray(m)) / (2 * eps) for p, m in zip(plus, minus,
                                                                        strict=True)]


def check_primitive_derivatives(f, args, rng):
    """ft.jvp against central differences, and ft.vjp as its transpose."""
    def flist(*xs):
        out = f(*xs)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    tangents = [rand(rng, np.shape(a), np.asarray(a).dtype).astype(np.asarray(a).dtype)
                for a in args]
    outs, t_outs = ft.jvp(flist, tuple(args), tuple(tangents))
    want = fd_jvp(flist, args, tangents)
    for t, w in zip(t_outs, want, strict=True):
        np.testing.assert_allclose(np.asarray(t), w, rtol=1e-5, atol=1e-6)
    outs, pullback = ft.vjp(flist, *args)
    cts = [rand(rng, np.shape(o), np.asarray(o).dtype).astype(np.asarray(o).dtype)
           for o in outs]
    ct_in = pullback(cts)

    def pair(x, y):
        return float(np.real(np.sum(np.asarray(x) * np.asarray(y))))

    lhs = sum(pair(c, t) for c, t in zip(cts, t_outs, strict=True))
    rhs = sum(pair(c, t) for c, t in zip(ct_in, tangents, strict=True))
    assert abs(lhs - rhs) <= 1e-8 * (1 + abs(lhs))


@given(cases(WIDE))
def test_cholesky_derivatives(case):
    batch, n, _, dtype, rng = case
    check_primitive_derivatives(lambda a: L.cholesky_p.bind(a), [spd(rng, batch, n, dtype)],
                                rng)


@given(cases(WIDE), st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_triangular_solve_derivatives(case, left, lower, trans, unit):
    batch, m, k, dtype, rng = case
    a = (rand(rng, batch + (m, m), dtype) * 0.3 + 2 * np.eye(m)).astype(dtype)
    b = rand(rng, batch + ((m, k) if left else (k, m)), dtype).astype(dtype)
    check_primitive_derivatives(
        lambda a, b: L.triangular_solve(a, b, left_side=left, lower=lower, transpose_a=trans,
                                        conjugate_a=True, unit_diagonal=unit), [a, b], rng)


@given(cases(WIDE))
def test_lu_derivatives(case):
    batch, m, n, dtype, rng = case
    a = well_conditioned(rng, batch, m, n, dtype)
    check_primitive_derivatives(lambda a: L.lu(a)[0], [a], rng)


@given(cases(WIDE))
def test_qr_derivatives_reduced(case):
    batch, m, n, dtype, rng = case
    a = well_conditioned(rng, batch, m, n, dtype)
    check_primitive_derivatives(lambda a: L.qr(a, full_matrices=False), [a], rng)


@given(cases(WIDE), st.booleans())
def test_eigh_derivatives(case, lower):
    batch, n, _, dtype, rng = case
    a = hermitian(rng, batch, n, dtype)
    check_primitive_derivatives(
        lambda a: L.eigh(a, lower=lower, symmetrize_input=False), [a], rng)


@given(cases(WIDE), st.booleans())
def test_svd_derivatives(case, compute_uv):
    batch, m, n, dtype, rng = case
    a = well_conditioned(rng, batch, m, n, dtype)
    check_primitive_derivatives(
        lambda a: L.svd(a, full_matrices=False, compute_uv=compute_uv), [a], rng)


@pytest.mark.parametrize("dtype", WIDE)
@pytest.mark.parametrize("shape", [(5, 2), (3, 1), (2, 4, 2)])
def test_completed_bases_have_basis_independent_derivatives(dtype, shape):
    """Q2 (qr complete), U2 and V2 (full svd) span fixed complements; JAX has no rule. Ours
    differentiates every function of the complement's projector exactly, and keeps the basis
    orthonormal to first order."""
    rng = np.random.default_rng(3)
    *batch, m, n = shape
    a = well_conditioned(rng, tuple(batch), m, n, dtype)
    t = rand(rng, a.shape, dtype).astype(dtype)

    def projectors(a):
        q, _ = L.qr(a, full_matrices=True)
        u, _, _ = L.svd(a, full_matrices=True)
        _, _, vt = L.svd(fnp.matrix_transpose(a), full_matrices=True)
        q2, u2, v2 = q[..., :, n:], u[..., :, n:], fnp.conj(fnp.matrix_transpose(vt[..., n:, :]))
        return [fnp.matmul(x, fnp.conj(fnp.matrix_transpose(x))) for x in (q2, u2, v2)]

    check_grads(projectors, (a,), order=1, modes=("fwd", "rev"))
    (q, _r), (dq, dr) = ft.jvp(lambda a: L.qr(a, full_matrices=True), (a,), (t,))
    skew = H(np.asarray(q)) @ np.asarray(dq)
    np.testing.assert_allclose(skew, -H(skew), atol=1e-10)
    assert np.all(np.tril(np.asarray(dr), -1) == 0)


def test_eigh_repeated_eigenvalues_give_nonfinite_eigenvector_tangents():
    """As in JAX: eigenvectors of a repeated eigenvalue are not differentiable (F = 1/0); the
    eigenvalue tangents and gradients of eigenvalue functions stay finite."""
    a = np.diag([1.0, 1.0, 2.0])
    t = np.random.default_rng(0).normal(size=(3, 3))
    (_v, _w), (dv, dw) = ft.jvp(lambda a: L.eigh(a), (a,), (t,))
    assert not np.isfinite(np.asarray(dv)).all()
    assert np.isfinite(np.asarray(dw)).all()
    np.testing.assert_allclose(ft.grad(lambda x: fnp.sum(la.eigvalsh(x)))(np.eye(3)), np.eye(3))


def test_complex_eigenvector_tangents_keep_the_gauge():
    rng = np.random.default_rng(4)
    a = hermitian(rng, (), 4, C128)
    t = rand(rng, (4, 4), C128)
    (v, _), (dv, _) = ft.jvp(lambda a: L.eigh(a), (a,), (t,))
    v, dv = np.asarray(v), np.asarray(dv)
    idx = np.argmax(np.abs(v), axis=0)
    np.testing.assert_allclose(dv[idx, np.arange(4)].imag, 0, atol=1e-12)


# --- fnp.linalg against NumPy -------------------------------------------------------------------


@given(cases(), st.integers(0, 2), st.sampled_from([(), (1,), (3,), (2, 1)]), st.booleans())
def test_solve_numpy2_rules(case, k, b_batch, vector):
    batch, n, _, dtype, rng = case
    a = well_conditioned(rng, batch, n, n, dtype)
    if vector:
        b = rand(rng, (n,), dtype).astype(dtype)
    else:
        try:
            np.broadcast_shapes(batch, b_batch)
        except ValueError:
            b_batch = ()
        b = rand(rng, b_batch + (n, k), dtype).astype(dtype)
    got = la.solve(a, b)
    want = np.linalg.solve(a, b)
    assert got.dtype == dtype and got.shape == want.shape
    close(got, want, dtype, scale=10)


@given(cases())
def test_inv_det_slogdet_match_numpy(case):
    batch, n, _, dtype, rng = case
    a = well_conditioned(rng, batch, n, n, dtype)
    close(la.inv(a), np.linalg.inv(a), dtype, scale=10)
    assert la.inv(a).dtype == dtype
    d = la.det(a)
    assert d.dtype == dtype and d.shape == batch
    close(d, np.linalg.det(a), dtype, scale=30)
    sign, logdet = la.slogdet(a)
    want = np.linalg.slogdet(a)
    assert sign.dtype == dtype and logdet.dtype == np.finfo(dtype).dtype
    close(sign, want.sign, dtype, scale=10)
    close(logdet, want.logabsdet, dtype, scale=10)


def test_integer_inputs_are_promoted_to_the_default_float():
    a = np.array([[2, 1], [1, 3]])
    for fn in (la.inv, la.det, la.cholesky, la.pinv, la.svdvals, la.eigvalsh, la.norm):
        assert fn(a).dtype == dt.canonicalize(float), fn
    np.testing.assert_allclose(la.det(a), 5.0)
    assert la.solve(a, np.array([1, 2])).dtype == dt.canonicalize(float)


def test_singular_matrices_give_inf_or_nan_not_errors():
    z = np.zeros((2, 2))
    assert not np.isfinite(np.asarray(la.inv(z))).all()
    assert not np.isfinite(np.asarray(la.solve(z, np.ones(2)))).all()
    assert float(la.det(z)) == 0.0
    sign, logdet = la.slogdet(z)
    assert float(sign) == 0.0 and float(logdet) == -np.inf
    assert np.isnan(np.asarray(la.cholesky(-np.eye(2)))).all()
    assert float(la.cond(z)) == np.inf
    assert float(la.cond(np.array([[1.0, 1.0], [1.0, 1.0]]), 1)) == np.inf


VECTOR_ORDS = [None, 1, 2, 3, 0.5, np.inf, -np.inf, 0]
MATRIX_ORDS = [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf]


@given(cases(), st.sampled_from(VECTOR_ORDS), st.booleans())
def test_vector_norms_match_numpy(case, ord_, keepdims):
    batch, m, n, dtype, rng = case
    x = rand(rng, batch + (m, n), dtype).astype(dtype)
    for axis in (-1, 0) if x.ndim else (None,):
        if ord_ == -np.inf and x.shape[axis] == 0:
            continue  # NumPy raises for the minimum of nothing
        got = la.norm(x, ord_, axis=axis, keepdims=keepdims)
        want = np.linalg.norm(x, ord_, axis=axis, keepdims=keepdims)
        assert got.dtype == np.finfo(dtype).dtype and got.shape == want.shape
        close(got, want, dtype, scale=10)
        close(la.vector_norm(x, axis=axis, keepdims=keepdims, ord=2 if ord_ is None else ord_),
              want, dtype, scale=10)


@given(cases(), st.sampled_from(MATRIX_ORDS), st.booleans())
def test_matrix_norms_match_numpy(case, ord_, keepdims):
    batch, m, n, dtype, rng = case
    if ord_ in (-1, -2, -np.inf, "nuc", 2) and (m == 0 or n == 0):
        return  # NumPy refuses empty matrices for these
    x = rand(rng, batch + (m, n), dtype).astype(dtype)
    got = la.norm(x, ord_, axis=(-2, -1), keepdims=keepdims)
    want = np.linalg.norm(x, ord_, axis=(-2, -1), keepdims=keepdims)
    assert got.dtype == np.finfo(dtype).dtype and got.shape == want.shape
    close(got, want, dtype, scale=10)
    if ord_ is not None:
        close(la.matrix_norm(x, ord=ord_, keepdims=keepdims), want, dtype, scale=10)


def test_norm_defaults():
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_allclose(la.norm(x), np.linalg.norm(x))
    np.testing.assert_allclose(la.norm(x[0], 1), np.linalg.norm(x[0], 1))
    np.testing.assert_allclose(la.norm(x[0, 0], np.inf), np.linalg.norm(x[0, 0], np.inf))
    np.testing.assert_allclose(la.vector_norm(x), np.linalg.vector_norm(x))
    np.testing.assert_allclose(la.matrix_norm(x), np.linalg.matrix_norm(x))
    np.testing.assert_allclose(la.norm(x, axis=(2, 0), ord=1),
                               np.linalg.norm(x, axis=(2, 0), ord=1))


@given(cases(), st.sampled_from(["reduced", "complete", "r"]))
def test_qr_modes(case, mode):
    batch, m, n, dtype, rng = case
    a = rand(rng, batch + (m, n), dtype).astype(dtype)
    got = la.qr(a, mode)
    want = np.linalg.qr(a, mode)
    if mode == "r":
        assert got.shape == want.shape
        close(np.abs(got), np.abs(want), dtype, scale=10)
    else:
        assert got.Q.shape == want.Q.shape and got.R.shape == want.R.shape
        close(got.Q @ got.R, a, dtype, scale=10)


@given(cases(), st.sampled_from(["L", "U"]), st.booleans())
def test_eigh_eigvalsh_match_numpy(case, uplo, symmetrize):
    batch, n, _, dtype, rng = case
    a = rand(rng, batch + (n, n), dtype).astype(dtype)
    w, v = la.eigh(a, UPLO=uplo, symmetrize_input=symmetrize)
    ref = (a + H(a)) / 2 if symmetrize else a
    want = np.linalg.eigvalsh(ref, UPLO=uplo)
    close(w, want, dtype, scale=10)
    close(la.eigvalsh(a, uplo, symmetrize_input=symmetrize), want, dtype, scale=10)
    if symmetrize:
        close(ref @ v, v * w[..., None, :], dtype, scale=30)


@given(cases(), st.booleans(), st.booleans())
def test_svd_svdvals_match_numpy(case, full, hermitian_):
    batch, m, n, dtype, rng = case
    a = rand(rng, batch + (m, n), dtype).astype(dtype)
    if hermitian_:
        a = (a[..., :m, :m] + H(a[..., :m, :m])) / 2 if m <= n else a
        m = n = a.shape[-1] if a.shape[-1] == a.shape[-2] else None
        if m is None:
            return
    s_want = np.linalg.svd(a, compute_uv=False)
    close(la.svdvals(a), s_want, dtype, scale=10)
    u, s, vh = la.svd(a, full_matrices=full, hermitian=hermitian_)
    close(s, s_want, dtype, scale=10)
    k = min(m, n)
    close((u[..., :, :k] * s[..., None, :]) @ vh[..., :k, :], a, dtype, scale=10)


def test_cholesky_upper_and_exact_values():
    a = np.array([[4.0, 2.0], [2.0, 5.0]])
    np.testing.assert_allclose(la.cholesky(a), [[2.0, 0.0], [1.0, 2.0]])
    np.testing.assert_allclose(la.cholesky(a, upper=True), [[2.0, 1.0], [0.0, 2.0]])
    np.testing.assert_allclose(la.det(np.array([[1.0, 2.0], [3.0, 4.0]])), -2.0)
    np.testing.assert_allclose(la.inv(np.array([[2.0, 0.0], [0.0, 4.0]])), np.diag([0.5, 0.25]))


@given(cases([F32, F64]), st.sampled_from([None, 1e-3]))
def test_pinv_lstsq_match_numpy(case, rcond):
    batch, m, n, dtype, rng = case
    a = well_conditioned(rng, batch, m, n, dtype)
    close(la.pinv(a), np.linalg.pinv(a), dtype, scale=10)
    if batch == () and m and n:
        b = rand(rng, (m, 2), dtype).astype(dtype)
        x, resid, rank, s = la.lstsq(a, b, rcond=rcond)
        xw, rw, kw, sw = np.linalg.lstsq(a, b, rcond=rcond)
        close(x, xw, dtype, scale=10)
        close(s, sw, dtype, scale=10)
        assert int(rank) == kw
        if m > n:
            close(resid, rw, dtype, scale=100)
        x1 = la.lstsq(a, b[:, 0])[0]
        assert x1.shape == (n,)


def test_pinv_of_a_rank_deficient_matrix_and_hermitian_option():
    a = np.outer([1.0, 2.0, 3.0], [1.0, -1.0])
    np.testing.assert_allclose(la.pinv(a), np.linalg.pinv(a), atol=1e-12)
    h = np.array([[2.0, 1.0], [1.0, -3.0]])
    np.testing.assert_allclose(la.pinv(h, hermitian=True), np.linalg.inv(h), atol=1e-12)
    np.testing.assert_allclose(la.pinv(a, rcond=1e-8), np.linalg.pinv(a), atol=1e-12)


def test_matrix_power_rank_multi_dot_cond():
    rng = np.random.default_rng(5)
    a = well_conditioned(rng, (2,), 3, 3, F64)
    for p in (-3, -1, 0, 1, 2, 5):
        np.testing.assert_allclose(la.matrix_power(a, p), np.linalg.matrix_power(a, p),
                                   rtol=1e-10, atol=1e-10)
    low = np.outer([1.0, 2.0, 3.0], [1.0, 0.0, -1.0])
    assert int(la.matrix_rank(low)) == 1 and int(la.matrix_rank(a[0])) == 3
    np.testing.assert_array_equal(la.matrix_rank(a), [3, 3])
    assert int(la.matrix_rank(np.zeros(3))) == 0 and int(la.matrix_rank(np.ones(3))) == 1
    assert int(la.matrix_rank(low, tol=1e3)) == 0
    arrays = [rng.normal(size=s) for s in ((4,), (4, 2), (2, 5), (5, 3), (3,))]
    np.testing.assert_allclose(la.multi_dot(arrays), np.linalg.multi_dot(arrays))
    for p in (None, 1, -1, 2, -2, np.inf, "fro", "nuc"):
        np.testing.assert_allclose(la.cond(a, p), np.linalg.cond(a, p), rtol=1e-10)


def test_array_api_names():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 3, 3))
    y = rng.normal(size=(2, 3, 3))
    np.testing.assert_allclose(la.trace(x, offset=1), np.linalg.trace(x, offset=1))
    np.testing.assert_allclose(la.diagonal(x, offset=-1), np.linalg.diagonal(x, offset=-1))
    np.testing.assert_allclose(la.outer(x[0, 0], y[0, 0]), np.linalg.outer(x[0, 0], y[0, 0]))
    np.testing.assert_allclose(la.cross(x, y), np.linalg.cross(x, y))
    np.testing.assert_allclose(la.cross(x, y, axis=1), np.linalg.cross(x, y, axis=1))
    np.testing.assert_allclose(la.vecdot(x, y), np.linalg.vecdot(x, y))
    np.testing.assert_allclose(la.matmul(x, y), np.linalg.matmul(x, y))
    np.testing.assert_allclose(la.matrix_transpose(x), np.linalg.matrix_transpose(x))
    np.testing.assert_allclose(la.tensordot(x, y[0], axes=2),
                               np.linalg.tensordot(x, y[0], axes=2))


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: la.inv(np.ones((2, 3))), ShapeError,
     ("functrans.numpy.linalg.inv: expected a square matrix or a stack of square matrices "
     "(shape [..., n, n]), got f64[2,3]")),
    (lambda: la.det(np.ones((4, 2, 3), np.float32)), ShapeError,
     ("functrans.numpy.linalg.det: expected a square matrix or a stack of square matrices "
     "(shape [..., n, n]), got f32[4,2,3]")),
    (lambda: la.cholesky(np.ones(3)), ShapeError,
     ("functrans.numpy.linalg.cholesky: expected a matrix or a stack of matrices (at least 2 "
     "dimensions), got f64[3]")),
    (lambda: la.solve(np.eye(3), np.ones(4)), ShapeError,
     ("functrans.numpy.linalg.solve: a f64[3,3] and b f64[4] do not match: b must have shape "
     "(3,) or (..., 3, k)")),
    (lambda: la.solve(np.ones((2, 3, 3)), np.ones((4, 3, 1))), ShapeError,
     ("functrans.numpy.linalg.solve: the batch dimensions of a f64[2,3,3] and b f64[4,3,1] do "
     "not broadcast")),
    (lambda: la.solve(np.ones((2, 3)), np.ones(3)), ShapeError,
     "functrans.numpy.linalg.solve: a must be a square matrix"),
    (lambda: la.inv(np.eye(2, dtype=np.float16)), DtypeError,
     ("functrans.numpy.linalg.inv: float16 is not supported by linear algebra routines (got "
     "f16[2,2]); convert with .astype('float32')")),
    (lambda: la.norm(np.ones(3), "fro"), ValueError,
     "functrans.numpy.linalg.vector_norm: invalid ord 'fro' for a vector norm"),
    (lambda: la.norm(np.ones((2, 2)), "bad"), ValueError,
     "functrans.numpy.linalg.norm: invalid ord 'bad' for a matrix norm"),
    (lambda: la.norm(np.ones((2, 2, 2)), axis=(0, 1, 2)), ValueError,
     "must be one axis (a vector norm) or two different axes (a matrix norm)"),
    (lambda: la.qr(np.ones((2, 2)), "raw"), ValueError, "functrans.numpy.linalg.qr: mode"),
    (lambda: la.eigh(np.eye(2), UPLO="X"), ValueError, "UPLO must be 'L' or 'U'"),
    (lambda: la.matrix_power(np.eye(2), 1.5), TypeError, "n must be an integer"),
    (lambda: la.cross(np.ones(2), np.ones(2)), ShapeError, "axis 0 must have size 3"),
    (lambda: la.lstsq(np.ones((3, 2)), np.ones(4)), ShapeError,
     "functrans.numpy.linalg.lstsq: b must have shape (3,) or (3, k)"),
    (lambda: la.multi_dot([np.ones(2)]), ValueError, "needs at least two arrays"),
    (lambda: sla.solve_triangular(np.eye(2), np.ones(2), trans=3), ValueError,
     "trans must be 0, 1, 2, 'N', 'T' or 'C'"),
    (lambda: sla.expm(np.ones((2, 3))), ShapeError,
     "functrans.scipy.linalg.expm: expected a square matrix"),
    (lambda: sla.cho_solve((np.eye(3), True), np.ones((2, 3))), ShapeError,
     "functrans.scipy.linalg.cho_solve: a f64[3,3] and b f64[2,3] do not match"),
    (lambda: sla.solve(np.eye(2), np.ones(2), assume_a="banded"), ValueError,
     "assume_a must be"),
    (lambda: sla.eigh(np.eye(2), np.eye(2)), NotImplementedError, "generalized"),
])
def test_api_errors(call, exc, msg):
    with raises(exc, msg):
        call()


# --- gradients of composites --------------------------------------------------------------------


def spectral(a, fn):
    """V fn(w) V^H: a gauge-invariant function of the eigendecomposition."""
    w, v = la.eigh(a)
    return fnp.matmul(v * fn(w), fnp.conj(fnp.matrix_transpose(v)))


def reconstruct(u, s, vh):
    return fnp.matmul(u * s, vh)


def spd_f64(n=3, seed=7):
    return spd(np.random.default_rng(seed), (), n, F64)


def wc_f64(m=3, n=3, seed=8):
    return well_conditioned(np.random.default_rng(seed), (), m, n, F64)


@pytest.mark.parametrize("name, f, make", [
    ("det", la.det, wc_f64),
    ("slogdet", lambda a: la.slogdet(a).logabsdet, wc_f64),
    ("inv", la.inv, wc_f64),
    ("solve", lambda a: la.solve(a, np.arange(3.0)), wc_f64),
    ("pinv-tall", la.pinv, lambda: wc_f64(4, 2)),
    ("pinv-wide", la.pinv, lambda: wc_f64(2, 4)),
    ("lstsq", lambda a: la.lstsq(a, np.arange(4.0))[0], lambda: wc_f64(4, 3)),
    ("norm-fro", la.norm, wc_f64),
    ("norm-nuc", lambda a: la.norm(a, "nuc"), wc_f64),
    ("norm-2", lambda a: la.norm(a, 2), wc_f64),
    ("norm-1", lambda a: la.norm(a, 1), wc_f64),
    ("norm-p3", lambda a: la.norm(a[0], 3), wc_f64),
    ("cholesky-logdet", lambda a: fnp.sum(fnp.log(fnp.diagonal(la.cholesky(a)))), spd_f64),
    ("eigh-expm", lambda a: spectral(a, fnp.exp), spd_f64),
    ("svd-reconstruct", lambda a: reconstruct(*la.svd(a, False)),
     lambda: wc_f64(4, 3)),
    ("qr-r", lambda a: la.qr(a, "r"), lambda: wc_f64(4, 3)),
    ("matrix_power", lambda a: la.matrix_power(a, -2), wc_f64),
    ("cond", la.cond, wc_f64),
    ("expm", sla.expm, lambda: 3 * wc_f64()),
    ("expm-upper", lambda a: sla.expm(fnp.triu(a), upper_triangular=True), wc_f64),
    ("cho_solve", lambda a: sla.cho_solve(sla.cho_factor(a), np.arange(3.0)), spd_f64),
    ("lu_solve", lambda a: sla.lu_solve(sla.lu_factor(a), np.arange(3.0), trans=1), wc_f64),
    ("solve-pos", lambda a: sla.solve(a, np.arange(3.0), assume_a="pos"), spd_f64),
    ("solve_triangular", lambda a: sla.solve_triangular(a, np.arange(3.0), trans="T"),
     lambda: np.triu(wc_f64()) + 2 * np.eye(3)),
])
def test_composite_gradients(name, f, make):
    check_grads(f, (make(),), order=1, modes=("fwd", "rev"))


def test_complex_gradients():
    rng = np.random.default_rng(9)
    a = well_conditioned(rng, (), 3, 3, C128)
    check_grads(la.det, (a,), order=1)
    check_grads(la.inv, (a,), order=1)
    check_grads(lambda a: la.slogdet(a), (a,), order=1)
    check_grads(lambda a: la.norm(a, "nuc"), (a,), order=1)
    check_grads(lambda a: spectral(a, lambda w: w), (a,), order=1)


def test_second_order_gradients():
    check_grads(la.det, (wc_f64(),), order=2)
    check_grads(lambda a: la.slogdet(a).logabsdet, (wc_f64(),), order=2)


def test_det_gradient_at_singular_matrices():
    """JAX's cofactor method: the gradient of det is the adjugate's transpose at rank n-1
    (where det(a) * inv(a) is 0 * inf) and 0 at lower rank."""
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    cof = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1))
                     for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(ft.grad(la.det)(a), cof, atol=1e-12)
    np.testing.assert_allclose(ft.grad(la.det)(np.ones((3, 3))), np.zeros((3, 3)))
    w = wc_f64()
    np.testing.assert_allclose(ft.grad(la.det)(w), np.linalg.det(w) * np.linalg.inv(w).T)


def test_norm_gradient_at_zero_is_zero_not_nan():
    for f in (la.norm, lambda x: la.norm(x, 3), lambda x: la.vector_norm(x),
              lambda x: la.norm(fnp.reshape(x, (1, 3)), "fro")):
        np.testing.assert_array_equal(ft.grad(f)(np.zeros(3)), np.zeros(3))
    np.testing.assert_allclose(ft.grad(la.norm)(np.array([3.0, 4.0])), [0.6, 0.8])


# --- vmap ---------------------------------------------------------------------------------------


BATCHED = [
    ("cholesky", la.cholesky, lambda r: spd(r, (), 3, F64)),
    ("inv", la.inv, lambda r: well_conditioned(r, (), 3, 3, F64)),
    ("det", la.det, lambda r: well_conditioned(r, (), 3, 3, F64)),
    ("slogdet", la.slogdet, lambda r: well_conditioned(r, (), 3, 3, F64)),
    ("eigh", la.eigh, lambda r: hermitian(r, (), 3, F64)),
    ("svd", lambda a: la.svd(a, full_matrices=False), lambda r: well_conditioned(r, (), 4, 3,
                                                                                 F64)),
    ("qr", la.qr, lambda r: well_conditioned(r, (), 4, 3, F64)),
    ("pinv", la.pinv, lambda r: well_conditioned(r, (), 2, 3, F64)),
    ("norm-nuc", lambda a: la.norm(a, "nuc"), lambda r: rand(r, (3, 2), F64)),
    ("lu", lambda a: L.lu(a), lambda r: rand(r, (3, 4), F64)),
    ("expm", sla.expm, lambda r: 4 * rand(r, (3, 3), F64)),
    ("lu_factor", sla.lu_factor, lambda r: rand(r, (3, 3), F64)),
    ("block_diag", lambda a: sla.block_diag(a, a[0]), lambda r: rand(r, (2, 2), F64)),
]


@pytest.mark.parametrize("name, f, make", BATCHED, ids=[b[0] for b in BATCHED])
@pytest.mark.parametrize("size, axis", [(3, 0), (3, 2), (0, 0), (1, 1)])
def test_vmap_matches_loop(name, f, make, size, axis):
    rng = np.random.default_rng(10)
    if size == 0:
        stacked = np.zeros((0,) + make(rng).shape)
        out = ft.vmap(f)(stacked)
        assert all(np.shape(o)[0] == 0 for o in ft.tree_util.tree_leaves(out))
        return
    stacked = np.stack([make(rng) for _ in range(size)], axis=axis)
    check_vmap_matches_loop(f, (stacked,), in_axes=axis, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("which", ["a", "b", "both"])
def test_vmap_triangular_solve_folds_or_moves_the_batch(left, which):
    rng = np.random.default_rng(11)
    a = rand(rng, (4, 3, 3), F64) * 0.3 + 2 * np.eye(3)
    b = rand(rng, (4, 3, 2) if left else (4, 2, 3), F64)
    in_axes = {"a": (0, None), "b": (None, 2), "both": (0, 1)}[which]
    args = (a if in_axes[0] is not None else a[0],
            np.moveaxis(b, 0, in_axes[1]) if in_axes[1] is not None else b[0])

    def f(a, b):
        return L.triangular_solve(a, b, left_side=left, lower=True, transpose_a=True)

    check_vmap_matches_loop(f, args, in_axes=in_axes, rtol=1e-10, atol=1e-10)


def test_vmap_of_grad_and_nested_vmap():
    rng = np.random.default_rng(12)
    xs = np.stack([well_conditioned(rng, (), 3, 3, F64) for _ in range(4)])
    check_vmap_grad_matches_loop(la.det, (xs,), rtol=1e-9, atol=1e-9)
    check_vmap_grad_matches_loop(lambda a: la.slogdet(a).logabsdet, (xs,), rtol=1e-9,
                                 atol=1e-9)
    check_vmap_grad_matches_loop(lambda a: fnp.sum(sla.expm(a)), (xs,), rtol=1e-9, atol=1e-9)
    grid = np.stack([xs, xs + 0.1])  # (2, 4, 3, 3)
    bs = rng.normal(size=(3, 4))     # b batched along its second axis
    got = ft.vmap(ft.vmap(la.solve, in_axes=(0, 1)), in_axes=(0, None))(grid, bs)
    want = np.stack([[np.linalg.solve(grid[i, j], bs[:, j]) for j in range(4)]
                     for i in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-10)


# --- functrans.scipy.linalg ---------------------------------------------------------------------


@given(cases([F32, F64, C64, C128]), st.booleans())
def test_scipy_cholesky_family(case, lower):
    batch, n, k, dtype, rng = case
    a = spd(rng, batch, n, dtype)
    c = np.asarray(sla.cholesky(a, lower=lower))
    close(H(c) @ c if not lower else c @ H(c), a, dtype, scale=10)
    b = rand(rng, batch + (n, k), dtype).astype(dtype)
    close(sla.cho_solve(sla.cho_factor(a, lower=lower), b), np.linalg.solve(a, b), dtype,
          scale=10)
    bv = rand(rng, batch + (n,), dtype).astype(dtype)
    close(sla.solve(a, bv, assume_a="pos", lower=lower), np.linalg.solve(a, bv[..., None])[..., 0],
          dtype, scale=10)


@given(cases(), st.sampled_from([0, 1, 2, "N", "T", "C"]), st.booleans(), st.booleans())
def test_scipy_solve_triangular(case, trans, lower, unit):
    batch, n, k, dtype, rng = case
    a = (rand(rng, batch + (n, n), dtype) * 0.3 + 2 * np.eye(n)).astype(dtype)
    b = rand(rng, batch + (n, k), dtype).astype(dtype)
    code = {"N": 0, "T": 1, "C": 2}.get(trans, trans)
    op = op_matrix(a, lower, code >= 1, code == 2, unit)
    close(sla.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit),
          np.linalg.solve(op, b), dtype, scale=10)
    bv = b[..., 0] if k else np.zeros(batch + (n,), dtype)
    close(sla.solve_triangular(a, bv, trans=trans, lower=lower, unit_diagonal=unit),
          np.linalg.solve(op, bv[..., None])[..., 0], dtype, scale=10)


@given(cases(), st.sampled_from([0, 1, 2]))
def test_scipy_lu_family(case, trans):
    batch, m, n, dtype, rng = case
    a = rand(rng, batch + (m, n), dtype).astype(dtype)
    p, low, up = (np.asarray(x) for x in sla.lu(a))
    close(p @ low @ up, a, dtype, scale=10)
    pl, up2 = sla.lu(a, permute_l=True)
    close(np.asarray(pl) @ up2, a, dtype, scale=10)
    sq = well_conditioned(rng, batch, n, n, dtype)
    b = rand(rng, batch + (n, 2), dtype).astype(dtype)
    op = [sq, np.swapaxes(sq, -1, -2), H(sq)][trans]
    close(sla.lu_solve(sla.lu_factor(sq), b, trans=trans), np.linalg.solve(op, b), dtype,
          scale=10)


@given(cases())
def test_scipy_qr_eigh_svd_det_inv_solve(case):
    batch, m, n, dtype, rng = case
    a = rand(rng, batch + (m, n), dtype).astype(dtype)
    q, r = sla.qr(a)
    assert q.shape == batch + (m, m) and r.shape == batch + (m, n)
    close(np.asarray(q) @ r, a, dtype, scale=10)
    (r_only,) = sla.qr(a, mode="r")
    close(np.abs(r_only), np.abs(np.asarray(r)), dtype, scale=10)
    q, r = sla.qr(a, mode="economic")
    assert q.shape == batch + (m, min(m, n))
    _u, s, _vh = sla.svd(a, full_matrices=False)
    close(s, np.linalg.svd(a, compute_uv=False), dtype, scale=10)
    close(sla.svd(a, compute_uv=False), s, dtype)
    h = hermitian(rng, batch, n, dtype)
    w, _v = sla.eigh(h)
    close(w, np.linalg.eigvalsh(h), dtype, scale=10)
    close(sla.eigh(h, eigvals_only=True), w, dtype)
    sq = well_conditioned(rng, batch, n, n, dtype)
    close(sla.det(sq), np.linalg.det(sq), dtype, scale=30)
    close(sla.inv(sq), np.linalg.inv(sq), dtype, scale=10)
    bv = rand(rng, batch + (n,), dtype).astype(dtype)
    close(sla.solve(sq, bv), np.linalg.solve(sq, bv[..., None])[..., 0], dtype, scale=10)
    close(sla.solve(sq, bv, transposed=True),
          np.linalg.solve(np.swapaxes(sq, -1, -2), bv[..., None])[..., 0], dtype, scale=10)


def expm_reference(a):
    """exp(a) by an eigendecomposition of a diagonalizable matrix, in complex128."""
    w, v = np.linalg.eig(a.astype(np.complex128))
    return (v * np.exp(w)) @ np.linalg.inv(v)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [0.0, 0.01, 1.0, 8.0, 60.0])
def test_expm_matches_the_exponential(dtype, scale):
    rng = np.random.default_rng(13)
    a = (scale * rand(rng, (2, 4, 4), dtype) / 4).astype(dtype)
    got = sla.expm(a)
    assert got.dtype == dtype and got.shape == a.shape
    want = np.stack([expm_reference(x) for x in a])
    if dtype.kind != "c":
        want = want.real
    err = np.abs(np.asarray(got) - want).max() / max(1.0, np.abs(want).max())
    assert err < (2e-5 if dtype in (F32, C64) else 1e-11), err


def test_expm_exact_values_and_options():
    np.testing.assert_allclose(sla.expm(np.diag([0.0, 1.0, -2.0])), np.diag(np.exp([0, 1, -2])))
    np.testing.assert_allclose(sla.expm(np.array([[0.0, 1.0], [0.0, 0.0]])), [[1, 1], [0, 1]])
    rot = sla.expm(np.array([[0.0, -np.pi / 2], [np.pi / 2, 0.0]]))
    np.testing.assert_allclose(rot, [[0, -1], [1, 0]], atol=1e-14)
    up = np.triu(np.random.default_rng(14).normal(size=(4, 4)))
    np.testing.assert_allclose(sla.expm(up, upper_triangular=True), sla.expm(up), rtol=1e-12)
    assert np.isnan(np.asarray(sla.expm(1e6 * np.eye(2), max_squarings=4))).all()
    assert sla.expm(np.zeros((0, 0))).shape == (0, 0)
    jaxpr = ft.make_jaxpr(sla.expm)(np.eye(2))  # traceable: no value-dependent Python
    assert "lu" in str(jaxpr)


def test_block_diag():
    got = sla.block_diag(np.ones((2, 2)), 3, [1, 2], np.zeros((1, 0)))
    want = np.array([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 3, 0, 0], [0, 0, 0, 1, 2],
                     [0, 0, 0, 0, 0]], float)
    np.testing.assert_array_equal(got, want)
    assert sla.block_diag().shape == (1, 0)
    assert sla.block_diag(np.ones((1, 1), np.float32), np.ones(1, np.int32)).dtype == F32


def test_docstring_examples():
    import doctest
    assert doctest.testmod(la, optionflags=doctest.ELLIPSIS).failed == 0


def test_everything_traces_without_concrete_values():
    a, b = wc_f64(), np.arange(3.0)
    for f in (la.solve, lambda a, b: la.det(a) + la.slogdet(a)[1] + la.norm(la.inv(a)),
              lambda a, b: la.pinv(a) @ b, lambda a, b: la.eigh(a)[0] + la.svd(a)[1],
              lambda a, b: sla.lu_solve(sla.lu_factor(a), b)):
        assert str(ft.make_jaxpr(f)(a, b))
