"""memory_budget= on vmap, jacfwd, jacrev and hessian: the peak-memory estimate on jaxprs
(hand-counted), the chunk size it picks, results equal to the unchunked ones, and the errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import lax, memory
from functrans.primitives.control_flow import PerformanceWarning
from functrans.transforms import batching

F32 = 4  # bytes


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@pytest.fixture
def chunks(monkeypatch):
    """The chunk sizes vmap evaluates with (one entry per chunked call)."""
    seen: list[int] = []
    real = batching._chunked

    def spy(run, flat_args, dims, size, in_tree, chunk):
        seen.append(chunk)
        return real(run, flat_args, dims, size, in_tree, chunk)

    monkeypatch.setattr(batching, "_chunked", spy)
    return seen


# --- the estimate on hand-countable programs ----------------------------------------------------


@given(st.integers(1, 300))
def test_elementwise_chain_holds_two_arrays_at_once(n):
    x = np.ones(n, np.float32)
    # Each op reads the previous result, which dies there: input + output alive at each step.
    assert ft.memory_estimate(lambda v: fnp.exp(fnp.cos(fnp.sin(v))) * 2.0, x) == 2 * n * F32
    # x is read again at the end, so it stays alive next to two intermediates.
    assert ft.memory_estimate(lambda v: fnp.cos(fnp.sin(v)) * v, x) == 3 * n * F32


@given(st.integers(1, 20), st.integers(1, 20), st.integers(1, 20))
def test_matmul_holds_both_operands_and_the_product(m, k, n):
    a, b = np.ones((m, k), np.float32), np.ones((k, n), np.float32)
    assert [e.prim.name for e in ft.make_jaxpr(lambda a, b: a @ b)(a, b).eqns] == ["dot_general"]
    assert ft.memory_estimate(lambda a, b: a @ b, a, b) == (m * k + k * n + m * n) * F32


@given(st.integers(1, 50), st.integers(1, 10))
def test_scan_counts_carries_slices_stacked_outputs_and_body(n, length):
    def f(c, xs):
        def body(c, x):
            c2 = c + x
            return c2, c2 * 2.0
        return lax.scan(body, c, xs)

    c, xs = np.ones(n, np.float32), np.ones((length, n), np.float32)
    closed = ft.make_jaxpr(f)(c, xs)
    assert [e.prim.name for e in closed.eqns] == ["scan"]
    assert [e.prim.name for e in closed.eqns[0].params["jaxpr"].eqns] == ["add", "mul"]
    # Around the scan: its inputs c (n) and xs (L*n). Inside: the previous carry (n), the
    # current x (n), the preallocated ys (L*n), and the body's own peak g + h (2n).
    want = (n + length * n) + (n + n + length * n) + 2 * n
    assert ft.memory_estimate(f, c, xs) == want * F32


@given(st.integers(1, 50))
def test_cond_counts_its_largest_branch(n):
    def f(p, x):
        return lax.cond(p, lambda x: fnp.sin(fnp.cos(x)) * x, lambda x: -x, x)

    # Around the cond: the int32 index and x; the big branch peaks at two intermediates.
    assert ft.memory_estimate(f, True, np.ones(n, np.float32)) == 4 + n * F32 + 2 * n * F32


@given(st.integers(1, 50))
def test_while_counts_the_previous_carry_and_the_body(n):
    def f(x):
        return lax.while_loop(lambda c: c[1] < 3, lambda c: (c[0] * 2.0 + 1.0, c[1] + 1), (x, 0))

    # x, the previous carry (n floats + an int32), the body's peak (two f32[n] temporaries).
    assert ft.memory_estimate(f, np.ones(n, np.float32)) == n * F32 + (n * F32 + 4) + 2 * n * F32


def test_profile_splits_batched_from_unbatched_values():
    n, m = 6, 10
    closed = ft.make_jaxpr(lambda x, w: x * fnp.sum(fnp.cos(w)))(
        np.ones(n, np.float32), np.ones(m, np.float32))
    assert [e.prim.name for e in closed.eqns] == ["cos", "reduce_sum", "mul"]
    profile = memory.profile_jaxpr(closed.jaxpr, [True, False])
    # (bytes per example, bytes once) at cos, reduce_sum, mul, and the return.
    assert profile.steps == [(4 * n, 8 * m), (4 * n, 4 * m + 4), (8 * n, 4), (4 * n, 0)]
    assert profile.peak(3) == max(3 * b + u for b, u in profile.steps)
    budget = 1000
    assert profile.max_chunk(budget) == (budget - 4) // (8 * n)  # the mul step binds
    assert profile.max_chunk(8 * m - 1) == 0  # the unbatched part alone does not fit


# --- vmap and the Jacobians under a budget ------------------------------------------------------


def _row(v):
    return fnp.tanh(fnp.sin(v) * v) + 1.0


@given(st.integers(1, 30), st.integers(1, 8), st.integers(1, 40), st.integers(0, 100))
def test_vmap_budget_matches_unchunked_and_picks_the_largest_fitting_chunk(
        size, n, k, slack):
    xs = np.random.default_rng(size * 100 + n).normal(size=(size, n))
    peak = ft.memory_estimate(_row, xs[0])
    budget = k * peak + min(slack, peak - 1)
    seen: list[int] = []
    real = batching._chunked

    def spy(run, flat_args, dims, bsize, in_tree, chunk):
        seen.append(chunk)
        return real(run, flat_args, dims, bsize, in_tree, chunk)

    batching._chunked = spy
    try:
        out = ft.vmap(_row, memory_budget=budget)(xs)
    finally:
        batching._chunked = real
    close(out, ft.vmap(_row)(xs), 1e-12)
    assert seen == ([k] if k < size else [])


def test_unmapped_inputs_count_once_and_stay_concrete(chunks):
    n, m, size = 4, 1000, 50
    w = np.ones(m, np.float32)
    xs = np.ones((size, n), np.float32)
    f = ft.vmap(lambda x, w, reps: x * fnp.sum(fnp.cos(w)) * int(reps), in_axes=(0, None, None),
                memory_budget=8 * m + 10 * 4 * n)
    close(f(xs, w, 3), xs * np.sum(np.cos(w)) * 3)
    # w and cos(w) (8m bytes) are held once, next to each example's x (4n bytes): 10 fit.
    assert chunks == [10]


def test_no_chunking_when_the_whole_batch_fits(chunks):
    ft.vmap(_row, memory_budget="1GB")(np.ones((100, 3)))
    assert chunks == []


@given(st.integers(2, 12), st.integers(1, 11))
def test_jacobians_of_a_linear_map_chunk_by_hand_count(n, k):
    x = np.arange(n, dtype=np.float32)
    f = lambda v: v * 2.0
    # One basis vector's pushforward / pullback holds the vector and its image: 8n bytes.
    for jac in (ft.jacfwd, ft.jacrev):
        seen: list[int] = []
        real = batching._chunked

        def spy(run, flat_args, dims, size, in_tree, chunk, seen=seen, real=real):
            seen.append(chunk)
            return real(run, flat_args, dims, size, in_tree, chunk)

        batching._chunked = spy
        try:
            out = jac(f, memory_budget=k * 8 * n)(x)
        finally:
            batching._chunked = real
        close(out, 2.0 * np.eye(n))
        assert seen == ([k] if k < n else [])


@given(st.integers(2, 9), st.sampled_from(["2kB", "8KiB", 3000, "1MB"]))
def test_jacobians_and_hessian_under_budget_equal_unchunked(n, budget):
    rng = np.random.default_rng(n)
    W = rng.normal(size=(n + 1, n))
    x = rng.normal(size=n)

    def f(v):
        return fnp.tanh(W @ v) * fnp.sum(v ** 2)

    def scalar(v):
        return fnp.sum(fnp.tanh(W @ v) ** 2) + fnp.sum(v ** 3)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerformanceWarning)
        close(ft.jacrev(f, memory_budget=budget)(x), ft.jacrev(f)(x), 1e-12)
        close(ft.jacfwd(f, memory_budget=budget)(x), ft.jacfwd(f)(x), 1e-12)
        close(ft.hessian(scalar, memory_budget=budget)(x), ft.hessian(scalar)(x), 1e-12)


def test_hessian_actually_chunks(chunks):
    n = 40
    W = np.random.default_rng(0).normal(size=(n, n))
    scalar = lambda v: fnp.sum(fnp.tanh(W @ v) ** 2)
    x = np.linspace(-1, 1, n)
    close(ft.hessian(scalar, memory_budget="64kB")(x), ft.hessian(scalar)(x), 1e-12)
    assert len(chunks) == 1 and 1 <= chunks[0] < n


def test_over_budget_warns_once_per_call_site_and_maps_one_at_a_time(chunks):
    xs = np.ones((5, 100))
    f = ft.vmap(_row, memory_budget=100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            close(f(xs), ft.vmap(_row)(xs))
    relevant = [w for w in caught if issubclass(w.category, PerformanceWarning)]
    assert len(relevant) == 1
    assert "memory_budget=100" in str(relevant[0].message)
    assert relevant[0].filename == __file__
    assert chunks == [1, 1, 1]


# --- options and their errors -------------------------------------------------------------------


@pytest.mark.parametrize("text, want", [
    ("512MB", 512 * 10**6), ("2GiB", 2 * 2**30), ("1.5GB", 15 * 10**8), (" 64 KiB ", 65536),
    ("100B", 100), ("1kB", 1000), ("3KB", 3000), ("1TiB", 2**40), (".5KiB", 512),
    (4096, 4096), (np.int64(7), 7),
])
def test_budget_parsing(text, want):
    assert memory.parse_budget("vmap", text) == want


@pytest.mark.parametrize("bad", ["512mb", "12", "MB", "1e9B", "-5MB", "1.5 XB", "2 GiB!", "0B",
                                 "0.5B"])
def test_budget_strings_that_are_not_understood(bad):
    with pytest.raises(ValueError, match="memory_budget=.*'512MB'"):
        ft.vmap(_row, memory_budget=bad)


@pytest.mark.parametrize("bad", [1.5e9, True, [100], 0, -1])
def test_budget_values_of_the_wrong_type_or_sign(bad):
    with pytest.raises((TypeError, ValueError), match="memory_budget"):
        ft.jacrev(_row, memory_budget=bad)


@pytest.mark.parametrize("transform", [ft.vmap, ft.jacfwd, ft.jacrev, ft.hessian])
def test_chunk_size_and_memory_budget_exclude_each_other(transform):
    with pytest.raises(ValueError, match="chunk_size or memory_budget, not both"):
        transform(_row, chunk_size=4, memory_budget="1MB")


def test_chunking_refuses_named_axes():
    # Each chunk would see part of the batch: psum over "i" would silently sum a chunk only.
    for option in ({"memory_budget": "1MB"}, {"chunk_size": 2}):
        with pytest.raises(ValueError, match="cannot be combined with axis_name"):
            ft.vmap(lambda v: v / lax.psum(v, "i"), axis_name="i", **option)


def test_memory_estimate_takes_shapes_only():
    spec = ft.ShapeDtypeStruct((10, 20), np.float64)
    # a stays alive for the product, next to a.T and the 20x20 result.
    assert ft.memory_estimate(lambda a: a.T @ a, spec) == (200 + 200 + 400) * 8


def test_docstring_examples_run():
    import doctest
    result = doctest.testmod(memory)
    assert result.attempted > 0 and result.failed == 0
