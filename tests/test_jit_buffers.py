"""The NumPy backend's pool of recycled large buffers: reuse is invisible (results a user still
holds are never overwritten, outputs never alias), reuse does happen once results are dropped,
threads and nested calls stay correct, the pool is bounded and ``clear_caches`` empties it.

The pool threshold is lowered so that small arrays exercise it."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.lowering import numpy_backend

POOL = numpy_backend.BUFFERS
DEFAULT_MIN_BYTES = numpy_backend.POOL_MIN_BYTES


@pytest.fixture(autouse=True)
def _small_pool(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCTRANS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(numpy_backend, "POOL_MIN_BYTES", 1024)
    POOL.clear()
    yield
    POOL.clear()


@pytest.fixture(params=["straight", "blocked"])
def layout(request, monkeypatch):
    """Straight-line ufuncs with ``out=``, or a fused group run in blocks into its outputs."""
    if request.param == "blocked":
        monkeypatch.setattr(numpy_backend, "CHUNK_THRESHOLD", 1)
    return request.param


def addr(a) -> int:
    return np.asarray(a).__array_interface__["data"][0]


def chain(x):
    return fnp.tanh(x) * 2.0 + x


def chain_np(x):
    return np.tanh(x) * x.dtype.type(2.0) + x


@given(n=st.integers(256, 3000), dtype=st.sampled_from([np.float32, np.float64]),
       keep=st.lists(st.booleans(), min_size=2, max_size=8))
def test_results_kept_across_calls_are_never_overwritten(n, dtype, keep):
    f = ft.jit(chain)
    kept = []
    for i, k in enumerate(keep):
        x = np.linspace(-2, 2, n, dtype=dtype) + dtype(i)
        out = f(x)
        np.testing.assert_allclose(np.asarray(out), chain_np(x), rtol=1e-6)
        assert not np.asarray(out).flags.writeable
        if k:
            kept.append((x, out))
    for x, out in kept:  # every later call left them as they were
        np.testing.assert_allclose(np.asarray(out), chain_np(x), rtol=1e-6)
    assert len({addr(out) for _, out in kept}) == len(kept)


def test_dropped_results_are_reused(layout):
    f = ft.jit(chain)
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    first = addr(f(x))  # the result is dropped at once
    held = POOL.nbytes
    assert held >= 4000 and POOL.idle_bytes() == held
    out = f(x + 1)
    assert addr(out) == first and POOL.nbytes == held
    np.testing.assert_allclose(np.asarray(out), chain_np(x + 1), rtol=1e-6)
    assert not np.asarray(out).flags.writeable
    assert POOL.idle_bytes() == held - out.nbytes


def test_a_view_of_a_result_pins_its_buffer(layout):
    f = ft.jit(chain)
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    view = np.asarray(f(x))[::3]  # the Array is gone; the view keeps its buffer alive
    expected = chain_np(x)[::3]
    for i in range(3):
        f(x + i)
    np.testing.assert_array_equal(view, expected)


def test_outputs_of_one_call_never_share_a_buffer(layout):
    f = ft.jit(lambda x: (x * 2.0, x + 1.0, fnp.sin(x)))
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    a, b, c = f(x)
    assert len({addr(a), addr(b), addr(c)}) == 3
    del b  # one output's buffer is free again; the others are still held
    a2, b2, c2 = f(x + 1)
    assert len({addr(a), addr(c), addr(a2), addr(b2), addr(c2)}) == 5
    for got, want in [(a, x * 2), (c, np.sin(x)), (a2, (x + 1) * 2), (b2, x + 2),
                      (c2, np.sin(x + 1))]:
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_intermediates_are_recycled_across_calls_without_aliasing_the_result():
    f = ft.jit(lambda x: fnp.transpose(fnp.exp(x) + 1.0) * 2.0)  # three large ufunc results
    x = np.linspace(-1, 1, 1200, dtype=np.float32).reshape(30, 40)
    outs = [f(x + i) for i in range(4)]  # four results held; exp and add's buffers are not
    f(x)
    held = POOL.nbytes
    assert held == 7 * x.nbytes
    for _ in range(4):
        f(x)
    assert POOL.nbytes == held  # the dropped ones were reused: nothing new was allocated
    for i, out in enumerate(outs):
        np.testing.assert_allclose(np.asarray(out), (np.exp(x + i) + 1).T * 2, rtol=1e-6)


def test_threads_calling_one_jitted_function(layout):
    f = ft.jit(chain)
    errors = []

    def work(k: int) -> None:
        kept = []
        for i in range(40):
            x = np.full(2000, 0.01 * (k * 100 + i), np.float32)
            out = f(x)
            if not np.allclose(np.asarray(out), chain_np(x), rtol=1e-6):
                errors.append((k, i))
            if i % 4 == 0:
                kept.append((x, out))
        for x, out in kept:
            if not np.allclose(np.asarray(out), chain_np(x), rtol=1e-6):
                errors.append((k, "kept"))

    f(np.zeros(2000, np.float32))  # compile once
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_nested_calls_grad_of_jit_and_loops():
    inner = ft.jit(lambda x: fnp.sin(x) * x)
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    g = ft.grad(lambda x: fnp.sum(inner(x) ** 2))
    jg = ft.jit(g)
    loop = ft.jit(lambda x: lax.fori_loop(0, 5, lambda i, c: c * 0.5 + x, x))
    want_g = 2 * np.sin(x) * x * (np.cos(x) * x + np.sin(x))
    want_loop = x.copy()
    for _ in range(5):
        want_loop = want_loop * np.float32(0.5) + x
    kept = [(g(x), want_g), (jg(x), want_g), (loop(x), want_loop)]
    for _ in range(2):
        kept += [(g(x), want_g), (jg(x), want_g), (loop(x), want_loop)]
    for got, want in kept:
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


def test_the_pool_is_bounded(monkeypatch):
    monkeypatch.setattr(numpy_backend, "POOL_MAX_BYTES", 3 * 8000)
    f = ft.jit(lambda x: x * 2.0)
    x = np.arange(2000, dtype=np.float32)
    kept = [f(x + i) for i in range(10)]  # all held: the oldest are forgotten by the pool
    assert POOL.nbytes <= 3 * 8000
    for i, out in enumerate(kept):
        np.testing.assert_array_equal(np.asarray(out), (x + i) * 2)
    del kept
    f(x)
    assert POOL.nbytes <= 3 * 8000


def test_clear_caches_empties_the_pool():
    f = ft.jit(chain)
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    kept = f(x)
    f(x)
    assert POOL.nbytes > 0
    ft.clear_caches()
    assert POOL.nbytes == 0 and POOL.idle_bytes() == 0
    f(x + 1)
    np.testing.assert_allclose(np.asarray(kept), chain_np(x), rtol=1e-6)


@pytest.mark.parametrize("min_bytes", [1024, DEFAULT_MIN_BYTES])
def test_small_arrays_are_not_pooled(layout, min_bytes, monkeypatch):
    monkeypatch.setattr(numpy_backend, "POOL_MIN_BYTES", min_bytes)
    n = min_bytes // 4
    f = ft.jit(chain)
    x = np.ones(n - 1, np.float32)  # just under the threshold
    assert "recycled large buffers" not in f.lower(x).as_text()
    f(x)
    assert POOL.nbytes == 0
    y = np.ones(n, np.float32)  # exactly the threshold: pooled
    assert "recycled large buffers" in f.lower(y).as_text()
    f(y)
    assert POOL.nbytes >= y.nbytes


def test_row_reductions_kept_and_recycled(layout):
    f = ft.jit(lambda x: fnp.sum(fnp.sin(x) * 2.0, axis=1))
    x = np.linspace(-1, 1, 8000, dtype=np.float32).reshape(2000, 4)
    kept = [(i, f(x + i)) for i in range(3)]
    dropped = addr(f(x))
    again = f(x + 5)
    assert addr(again) not in {addr(out) for _, out in kept}
    if layout == "blocked":  # the reduction writes into its recycled output block by block
        assert addr(again) == dropped
    for i, out in [*kept, (5, again)]:
        np.testing.assert_allclose(np.asarray(out), (np.sin(x + i) * 2).sum(axis=1), rtol=1e-5)


def test_a_call_reentered_from_its_own_callback():
    seen = []

    def record(v):
        seen.append(v)  # the callback's view of a live intermediate: pinned, never reused
        if len(seen) < 3:
            seen.append(f(v + 1.0))  # the same jitted function, while the outer call runs

    def body(x):
        y = x * 2.0
        ft.debug.callback(record, y)
        return y + 1.0

    f = ft.jit(body)
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    out = f(x)  # three nested calls: seen = [y0, y1, y2, out2, out1]
    y0 = x * 2
    y1 = (y0 + 1) * 2
    y2 = (y1 + 1) * 2
    for got, want in zip([out, *seen], [y0 + 1, y0, y1, y2, y2 + 1, y1 + 1], strict=True):
        np.testing.assert_array_equal(np.asarray(got), want)
    buffers = [addr(out), *(addr(v) for v in seen)]
    assert len(set(buffers)) == len(buffers)
