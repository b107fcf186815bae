"""Structured control flow: lax.cond/switch/while_loop/fori_loop/scan/map/associative_scan.

Values against plain Python (unrolled loops, ``if``); derivatives against finite differences
(``check_grads``) and against the derivative of the unrolled Python program; reverse mode
through ``while_loop`` (Newton's method and a fixed-point iteration against their analytic
implicit derivatives); batching against per-example loops; nesting; jit against eager;
printing; and the error messages users see. The primitives' own rules are also walked by
tests/test_primitive_rules.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.errors import ControlFlowTypeError, MissingRuleError, TracerBoolConversionError
from functrans.primitives import control_flow as cf
from functrans.testing import check_grads
from functrans.testing.laws import (
    check_jit_equals_eager,
    check_transpose,
    check_vmap_grad_matches_loop,
    check_vmap_matches_loop,
)

RNG = np.random.default_rng(0)


def close(a, b, rtol=1e-10, atol=1e-12):
    ft.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(
        np.asarray(x), np.asarray(y), rtol=rtol, atol=atol), a, b)


def eqn_names(f, *args):
    return [e.prim.name for e in ft.make_jaxpr(f)(*args).eqns]


# --- cond and switch ----------------------------------------------------------------------------


def branchy(x, y):
    return lax.cond(fnp.sum(x) > 0, lambda a, b: (fnp.sin(a) * b, {"s": a + b}),
                    lambda a, b: (a * b * b, {"s": a - b}), x, y)


def branchy_python(x, y):
    if np.sum(x) > 0:
        return np.sin(x) * y, {"s": x + y}
    return x * y * y, {"s": x - y}


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_matches_python_if_eager_and_jit(sign):
    x, y = sign * np.abs(RNG.normal(size=3)), RNG.normal(size=3)
    close(branchy(x, y), branchy_python(x, y))
    close(ft.jit(branchy)(x, y), branchy_python(x, y))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_derivatives_match_finite_differences(sign):
    x, y = sign * np.abs(RNG.normal(size=3)), RNG.normal(size=3)
    check_grads(branchy, (x, y), order=2)
    check_grads(ft.jit(branchy), (x, y), order=1)


def test_eager_cond_calls_only_the_taken_branch_with_concrete_arrays():
    seen = []

    def true_fun(v):
        seen.append(("true", type(v)))
        return v + 1.0

    def false_fun(v):
        seen.append(("false", type(v)))
        return v - 1.0

    assert float(lax.cond(True, true_fun, false_fun, 1.0)) == 2.0
    assert seen == [("true", ft.Array)]
    seen.clear()
    ft.jit(lambda p, v: lax.cond(p, true_fun, false_fun, v))(True, 1.0)
    assert sorted(name for name, _ in seen) == ["false", "true"]  # each traced once


def test_cond_numeric_predicate_and_legacy_operand_forms():
    assert float(lax.cond(2, lambda v: v, lambda v: -v, 3.0)) == 3.0
    assert float(lax.cond(0.0, lambda v: v, lambda v: -v, 3.0)) == -3.0
    assert float(lax.cond(True, lambda v: v * 2, lambda v: v, operand=4.0)) == 8.0
    legacy = lax.cond(False, 1.0, lambda a: a + 1, 10.0, lambda b: b * 2)
    assert float(legacy) == 20.0
    jitted = ft.jit(lambda p: lax.cond(p, 1.0, lambda a: a + 1, 10.0, lambda b: b * 2))
    assert float(jitted(True)) == 2.0


def test_cond_output_is_weak_only_when_every_branch_is():
    f = ft.jit(lambda p, x: lax.cond(p, lambda v: 1.0, lambda v: v, x))
    out = f(True, np.float32(3.0))
    assert out.dtype == np.float32 and not out.weak_type and float(out) == 1.0
    g = ft.jit(lambda p: lax.cond(p, lambda: 1.0, lambda: 2.0))
    assert g(False).weak_type


@pytest.mark.parametrize("index", [-2, 0, 1, 2, 5])
def test_switch_clamps_the_index_like_jax(index):
    branches = [lambda v: v, lambda v: fnp.sin(v), lambda v: v * v]
    want = [lambda v: v, np.sin, lambda v: v * v][min(max(index, 0), 2)](0.7)
    assert np.isclose(float(lax.switch(index, branches, 0.7)), want)
    assert np.isclose(float(ft.jit(lambda i, v: lax.switch(i, branches, v))(index, 0.7)), want)


def test_switch_derivatives_and_batching():
    branches = [lambda v: v * 3.0, lambda v: fnp.sin(v), lambda v: v * v]
    x = RNG.normal(size=4)
    for i in range(3):
        check_grads(lambda v, i=i: lax.switch(i, branches, v), (x,), order=2)
    idx = np.array([0, 1, 2, 7, -1])
    xs = RNG.normal(size=(5, 4))
    check_vmap_matches_loop(lambda i, v: lax.switch(i, branches, v), (idx, xs))
    check_vmap_grad_matches_loop(lambda v, i: fnp.sum(lax.switch(i, branches, v)), (xs, idx))


def test_vmap_cond_with_a_batched_predicate_selects_per_example():
    xs, ys = RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))
    check_vmap_matches_loop(branchy, (xs, ys))
    check_vmap_grad_matches_loop(lambda x, y: fnp.sum(branchy(x, y)[0]), (xs, ys))
    check_vmap_matches_loop(ft.jit(branchy), (xs, ys))
    # an unbatched predicate stays a cond
    f = ft.vmap(lambda x, y: lax.cond(True, lambda a: a * y, lambda a: a, x), in_axes=(0, None))
    assert "cond" in eqn_names(f, xs, ys[0])


def test_vmap_cond_warns_once_per_call_site_when_branches_are_expensive():
    def heavy(v):
        for _ in range(cf.EXPENSIVE_BRANCH_EQNS + 1):
            v = fnp.sin(v)
        return v

    def f(x):
        return lax.cond(x > 0, heavy, lambda v: v, x)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = ft.vmap(f)(np.array([1.0, -1.0]))
        ft.vmap(f)(np.array([2.0, -2.0]))
    relevant = [w for w in caught if issubclass(w.category, cf.PerformanceWarning)]
    assert len(relevant) == 1
    assert "every branch runs on the whole batch" in str(relevant[0].message)
    assert relevant[0].filename == __file__
    close(out, [np.asarray(heavy(np.float64(1.0))), -1.0])


def test_cond_is_linear_in_its_operands_when_its_branches_are():
    f = lambda x: lax.cond(True, lambda v: 2.0 * v, lambda v: -v, x)
    check_transpose(f, (RNG.normal(size=3),))
    g = lambda x: lax.cond(False, lambda v: 2.0 * v, lambda v: -v, x)
    check_transpose(g, (RNG.normal(size=3),))


# --- while_loop ---------------------------------------------------------------------------------


def damped(x, a, n):
    """A loop whose trip count (n) is data: x <- sin(a x) + x / 2, n times."""
    def body(c):
        i, v = c
        return i + 1, fnp.sin(a * v) + 0.5 * v

    return lax.while_loop(lambda c: c[0] < n, body, (0, x))[1]


def damped_unrolled(x, a, n):
    for _ in range(n):
        x = fnp.sin(a * x) + 0.5 * x
    return x


@pytest.mark.parametrize("n", [0, 1, 4])
def test_while_loop_matches_an_unrolled_python_loop(n):
    x, a = RNG.normal(size=3), np.float64(0.8)
    close(damped(x, a, n), damped_unrolled(x, a, n))
    close(ft.jit(damped)(x, a, n), damped_unrolled(x, a, n))
    for f in (ft.grad(lambda x, a: fnp.sum(damped(x, a, n)), argnums=(0, 1)),
              ft.jit(ft.grad(lambda x, a: fnp.sum(damped(x, a, n)), argnums=(0, 1)))):
        close(f(x, a), ft.grad(lambda x, a: fnp.sum(damped_unrolled(x, a, n)),
                               argnums=(0, 1))(x, a))


@pytest.mark.parametrize("n", [0, 3])
def test_while_loop_derivatives_match_finite_differences(n):
    x, a = RNG.normal(size=3), np.float64(0.8)
    check_grads(lambda x, a: damped(x, a, n), (x, a), order=2)
    check_grads(ft.jit(lambda x, a: damped(x, a, n)), (x, a), order=1)


def test_eager_while_loop_runs_the_python_functions_directly():
    calls = []

    def body(v):
        calls.append(type(v))
        return v * 2

    assert int(lax.while_loop(lambda v: v < 10, body, 1)) == 16
    assert calls == [ft.Array] * 4
    calls.clear()
    assert int(ft.jit(lambda v: lax.while_loop(lambda v: v < 10, body, v))(1)) == 16
    assert len(calls) == 1  # traced once


def newton_sqrt(a):
    """sqrt(a) by Newton's method: the trip count depends on a."""
    return lax.while_loop(lambda x: fnp.abs(x * x - a) > 1e-12 * a,
                          lambda x: 0.5 * (x + a / x), a)


@pytest.mark.parametrize("a", [2.0, 9.0, 1e4, 0.3])
def test_reverse_mode_through_newtons_method_is_the_implicit_derivative(a):
    # x(a) solves x^2 = a, so dx/da = 1 / (2 x): the implicit function theorem.
    a = np.float64(a)
    want = 0.5 / np.sqrt(a)
    assert np.isclose(float(newton_sqrt(a)), np.sqrt(a), rtol=1e-12)
    for grad in (ft.grad(newton_sqrt), ft.jit(ft.grad(newton_sqrt)),
                 ft.grad(ft.jit(newton_sqrt))):
        assert np.isclose(float(grad(a)), want, rtol=1e-9)
    value, g = ft.value_and_grad(ft.jit(newton_sqrt))(a)
    assert isinstance(value, ft.Array) and np.isclose(float(g), want, rtol=1e-9)


def test_reverse_mode_through_newtons_method_batched_with_different_trip_counts():
    a = np.array([2.0, 9.0, 1e4, 0.3, 50.0])
    want = 0.5 / np.sqrt(a)
    for f in (ft.vmap(ft.grad(newton_sqrt)), ft.jit(ft.vmap(ft.grad(newton_sqrt))),
              ft.vmap(ft.jit(ft.grad(newton_sqrt)))):
        np.testing.assert_allclose(np.asarray(f(a)), want, rtol=1e-9)
    jac = ft.jacrev(ft.vmap(newton_sqrt))(a)
    np.testing.assert_allclose(np.asarray(jac), np.diag(want), rtol=1e-9, atol=1e-15)


def fixed_point(a, x0):
    """x = cos(a x) by fixed-point iteration (a contraction for the a used here)."""
    def body(c):
        x, _ = c
        return fnp.cos(a * x), x

    def cond(c):
        x, prev = c
        return fnp.abs(x - prev) > 1e-14

    return lax.while_loop(cond, body, (fnp.cos(a * x0), x0))[0]


def test_reverse_mode_through_a_fixed_point_iteration_is_the_implicit_derivative():
    # F(x, a) = x - cos(a x) = 0  =>  dx/da = -F_a / F_x = -x sin(a x) / (1 + a sin(a x)).
    for a in (0.3, 0.7, 1.1):
        a = np.float64(a)
        x = float(fixed_point(a, np.float64(0.0)))
        assert abs(x - np.cos(a * x)) < 1e-12
        want = -x * np.sin(a * x) / (1 + a * np.sin(a * x))
        for grad in (ft.grad(fixed_point), ft.jit(ft.grad(fixed_point))):
            assert np.isclose(float(grad(a, np.float64(0.0))), want, rtol=1e-8)
        # the derivative does not depend on where the iteration started
        assert abs(float(ft.grad(fixed_point, argnums=1)(a, np.float64(0.0)))) < 1e-8


def test_vmap_while_loop_with_a_batched_predicate_masks_finished_examples():
    xs, ns = RNG.normal(size=(5, 2)), np.array([0, 1, 3, 2, 5])
    a = np.float64(0.9)
    check_vmap_matches_loop(lambda x, n: damped(x, a, n), (xs, ns))
    check_vmap_matches_loop(ft.jit(lambda x, n: damped(x, a, n)), (xs, ns))
    check_vmap_grad_matches_loop(lambda x, n: fnp.sum(damped(x, a, n)), (xs, ns))
    check_vmap_grad_matches_loop(ft.jit(lambda x, n: fnp.sum(damped(x, a, n))), (xs, ns))
    # gradients with respect to an unbatched parameter sum over the examples
    ga = ft.vmap(ft.grad(lambda a, x, n: fnp.sum(damped(x, a, n))), in_axes=(None, 0, 0))
    want = [ft.grad(lambda a, x=x, n=int(n): fnp.sum(damped_unrolled(x, a, n)))(a)
            for x, n in zip(xs, ns)]
    close(ga(a, xs, ns), np.asarray(want))


def test_jacobians_through_a_while_loop():
    x, a = RNG.normal(size=3), np.float64(0.8)
    f = lambda v: damped(v, a, 3)
    jf = ft.jacfwd(f)(x)
    close(ft.jacrev(f)(x), jf)
    close(ft.jit(ft.jacrev(f))(x), jf)
    close(ft.jacrev(lambda v: damped_unrolled(v, a, 3))(x), jf)
    h = ft.hessian(lambda v: fnp.sum(damped(v, a, 3)))(x)
    close(h, ft.hessian(lambda v: fnp.sum(damped_unrolled(v, a, 3)))(x))


def test_second_order_reverse_mode_through_while_under_jit_is_a_clear_error():
    with pytest.raises(MissingRuleError, match="while_transpose"):
        ft.jit(ft.hessian(lambda v: fnp.sum(damped(v, np.float64(0.8), 3))))(np.ones(2))
    # the bounded form is a scan, which has every rule
    bounded = lambda v: lax.while_loop(
        lambda c: c[0] < 3, lambda c: (c[0] + 1, fnp.sin(0.8 * c[1]) + 0.5 * c[1]), (0, v),
        max_steps=8)[1]
    h = ft.jit(ft.hessian(lambda v: fnp.sum(bounded(v))))(np.ones(2))
    close(h, ft.hessian(lambda v: fnp.sum(damped_unrolled(v, np.float64(0.8), 3)))(np.ones(2)))


def test_while_loop_is_linear_in_its_carry_when_its_body_is():
    def f(x):
        return lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, 2.0 * c[1] - c[1][::-1]),
                              (0, x))[1]

    check_transpose(f, (RNG.normal(size=4),))


def test_while_loop_max_steps_is_a_bounded_masked_scan():
    def f(x):
        return lax.while_loop(lambda v: v < 100.0, lambda v: v * 2.0 + 1.0, x, max_steps=5)

    assert "scan" in eqn_names(f, 1.0) and "while" not in eqn_names(f, 1.0)
    for x, steps in ((1.0, 5), (30.0, 2), (200.0, 0)):
        want = x
        for _ in range(steps):
            want = want * 2 + 1
        assert float(f(x)) == want == float(ft.jit(f)(x))
        assert float(ft.grad(f)(x)) == 2.0 ** steps == float(ft.jit(ft.grad(f))(x))
    xs = np.array([1.0, 30.0, 200.0], np.float32)
    np.testing.assert_array_equal(np.asarray(ft.vmap(ft.grad(f))(xs)), [32.0, 4.0, 1.0])
    with pytest.raises(ValueError, match="max_steps"):
        lax.while_loop(lambda v: v < 1, lambda v: v, 0, max_steps=-1)


def test_checkpointed_loop_bodies_trade_compute_for_memory():
    x = np.float64(0.5)

    def loop(x, body):
        return lax.while_loop(lambda c: c[0] < 3, body, (0, x))[1]

    plain = lambda c: (c[0] + 1, fnp.sin(c[1]) * c[1])
    want = float(ft.grad(lambda x: loop(x, plain))(x))
    for wrap in (ft.checkpoint, lambda b: b):
        f = lambda x, wrap=wrap: loop(x, wrap(plain))
        assert np.isclose(float(ft.grad(f)(x)), want)
        assert np.isclose(float(ft.jit(ft.grad(f))(x)), want)
    xs = RNG.normal(size=4)
    check_grads(lambda x: lax.scan(ft.checkpoint(lambda c, t: (fnp.sin(c * t), c)), x, xs)[0],
                (x,), order=2)


def test_debug_print_in_a_loop_runs_once_per_iteration_under_jit_grad():
    seen = []

    def body(c):
        ft.debug.callback(lambda i: seen.append(int(i)), c[0])
        return c[0] + 1, c[1] * 2.0

    f = lambda x: lax.while_loop(lambda c: c[0] < 3, body, (0, x))[1]
    for transform in (lambda f: f, ft.jit, ft.grad, lambda f: ft.jit(ft.grad(f))):
        seen.clear()
        transform(f)(1.0)
        assert seen == [0, 1, 2]


# --- fori_loop ----------------------------------------------------------------------------------


def fori(n, x):
    return lax.fori_loop(0, n, lambda i, c: c * 0.9 + fnp.sin(c) * i, x)


def fori_python(n, x):
    for i in range(n):
        x = x * 0.9 + fnp.sin(x) * i
    return x


def test_fori_loop_is_a_scan_with_concrete_bounds_and_a_while_loop_otherwise():
    x = np.float64(0.3)
    assert "scan" in eqn_names(lambda x: fori(4, x), x)
    assert "while" in eqn_names(fori, 4, x)
    assert np.isclose(float(fori(4, x)), fori_python(4, x))
    assert np.isclose(float(ft.jit(fori)(4, x)), fori_python(4, x))
    assert np.isclose(float(ft.jit(fori, static_argnums=0)(4, x)), fori_python(4, x))
    assert float(fori(-2, x)) == float(x)


def test_fori_loop_reverse_mode_with_traced_bounds():
    # JAX refuses this ("Reverse-mode differentiation does not work for lax.while_loop").
    x = np.float64(0.3)
    want = ft.grad(lambda x: fori_python(4, x))(x)
    assert np.isclose(float(ft.jit(ft.grad(fori, argnums=1))(4, x)), float(want))
    assert np.isclose(float(ft.grad(lambda x: fori(4, x))(x)), float(want))
    check_grads(lambda x: fori(4, x), (x,), order=2)
    check_vmap_grad_matches_loop(lambda x, n: fori(n, x), (RNG.normal(size=4),
                                                           np.array([0, 2, 5, 1])))


def test_fori_loop_index_types():
    seen = []
    lax.fori_loop(0, 2, lambda i, c: (seen.append(i.dtype), c)[1], 0.0)
    ft.jit(lambda: lax.fori_loop(np.int64(0), 2, lambda i, c: (seen.append(i.dtype), c)[1],
                                 0.0))()
    assert seen == [np.int32, np.int32, np.int64]


# --- scan ---------------------------------------------------------------------------------------


def rnn(w, h0, xs, reverse=False):
    def step(h, x):
        h = fnp.tanh(h @ w + x)
        return h, fnp.sum(h * h)

    return lax.scan(step, h0, xs, reverse=reverse)


def rnn_python(w, h0, xs, reverse=False):
    ys = [None] * len(xs)
    h = h0
    for t in (range(len(xs) - 1, -1, -1) if reverse else range(len(xs))):
        h = fnp.tanh(h @ w + xs[t])
        ys[t] = fnp.sum(h * h)
    return h, fnp.stack(ys) if ys else fnp.zeros((0,), h0.dtype)


@settings(max_examples=25, deadline=None)
@given(length=st.integers(0, 5), hidden=st.integers(1, 3), reverse=st.booleans())
def test_scan_matches_an_unrolled_python_loop(length, hidden, reverse):
    rng = np.random.default_rng(length * 10 + hidden)
    w = 0.5 * rng.normal(size=(hidden, hidden))
    h0, xs = rng.normal(size=hidden), rng.normal(size=(length, hidden))
    want = rnn_python(w, h0, xs, reverse)
    close(rnn(w, h0, xs, reverse), want)
    close(ft.jit(rnn, static_argnums=3)(w, h0, xs, reverse), want)
    loss = lambda f: lambda w, h0, xs: fnp.sum(f(w, h0, xs, reverse)[1]) + fnp.sum(
        f(w, h0, xs, reverse)[0])
    close(ft.grad(loss(rnn), argnums=(0, 1, 2))(w, h0, xs),
          ft.grad(loss(rnn_python), argnums=(0, 1, 2))(w, h0, xs), rtol=1e-9)


def test_scan_derivatives_match_finite_differences():
    w, h0, xs = 0.5 * RNG.normal(size=(3, 3)), RNG.normal(size=3), RNG.normal(size=(4, 3))
    check_grads(rnn, (w, h0, xs), order=2)
    check_grads(lambda w, h0, xs: rnn(w, h0, xs, True), (w, h0, xs), order=1)
    check_grads(ft.jit(rnn), (w, h0, xs), order=1)


def test_scan_pytrees_and_xs_none():
    def step(c, x):
        a, b = c
        return (a + x["u"] * b, b * 0.9), {"s": a * x["v"], "t": None}

    c0, xs = (np.float64(0.5), np.float64(1.5)), {"u": RNG.normal(size=4),
                                                  "v": RNG.normal(size=4)}
    (a, b), ys = lax.scan(step, c0, xs)
    assert ys["t"] is None and ys["s"].shape == (4,)
    close(ft.jit(lambda c, x: lax.scan(step, c, x))(c0, xs), ((a, b), ys))
    check_grads(lambda c, x: lax.scan(step, c, x), (c0, xs), order=2)
    carry, ys = lax.scan(lambda c, _: (c + 1, c), 0, None, length=4)
    assert int(carry) == 4 and np.asarray(ys).tolist() == [0, 1, 2, 3]
    carry, ys = ft.jit(lambda: lax.scan(lambda c, _: (c + 1, c * 2), 0, None, length=3))()
    assert int(carry) == 3 and np.asarray(ys).tolist() == [0, 2, 4]


def test_scan_of_length_zero():
    w, h0 = RNG.normal(size=(2, 2)), RNG.normal(size=2)
    xs = np.zeros((0, 2))
    for f in (rnn, ft.jit(rnn)):
        h, ys = f(w, h0, xs)
        close(h, h0)
        assert ys.shape == (0,) and ys.dtype == np.float64
    g = ft.grad(lambda h0: fnp.sum(rnn(w, h0, xs)[0]))(h0)
    close(g, np.ones(2))


def test_scan_batching_matches_per_example_loops():
    w, h0, xs = 0.5 * RNG.normal(size=(3, 3)), RNG.normal(size=(4, 3)), RNG.normal(size=(4, 5, 3))
    check_vmap_matches_loop(rnn, (w, h0, xs), in_axes=(None, 0, 0))
    check_vmap_matches_loop(rnn, (w, h0, xs[0]), in_axes=(None, 0, None))
    check_vmap_matches_loop(rnn, (np.stack([w, 2 * w]), h0[0], xs[0]), in_axes=(0, None, None))
    check_vmap_matches_loop(rnn, (w, h0, np.moveaxis(xs, 0, 2)), in_axes=(None, 0, 2))
    check_vmap_grad_matches_loop(lambda h, w, x: fnp.sum(rnn(w, h, x)[1]), (h0, w, xs),
                                 in_axes=(0, None, 0))


def test_grad_of_vmap_of_scan():
    w, xs = np.float64(0.4), RNG.normal(size=(3, 5))

    def loss(w, xs):
        per_row = ft.vmap(lambda x: lax.scan(lambda c, t: (fnp.tanh(c * w + t), c), 0.0, x)[0])
        return fnp.sum(per_row(xs))

    def loss_python(w, xs):
        total = 0.0
        for x in xs:
            c = 0.0
            for t in x:
                c = fnp.tanh(c * w + t)
            total = total + c
        return total

    close(ft.grad(loss)(w, xs), ft.grad(loss_python)(w, xs))
    close(ft.jit(ft.grad(loss))(w, xs), ft.grad(loss_python)(w, xs))
    check_grads(loss, (w, xs), order=2)


def test_scan_is_linear_in_its_carry_and_xs_when_its_body_is():
    def prefix_sums(c, xs):
        return lax.scan(lambda c, x: (c + x, 2.0 * c - x), c, xs)

    check_transpose(prefix_sums, (RNG.normal(size=2), RNG.normal(size=(4, 2))))
    check_transpose(lambda xs: lax.scan(lambda c, x: (0.5 * c + x, c), np.zeros(2), xs,
                                        reverse=True), (RNG.normal(size=(3, 2)),))


def test_reverse_mode_of_a_checkpointed_function_containing_a_scan():
    # remat stages the whole JVP scan (primal and tangent carries) into its backward pass, so
    # the scan's transpose first runs its primal part forward to record the residuals.
    w, h0, xs = 0.5 * RNG.normal(size=(3, 3)), RNG.normal(size=3), RNG.normal(size=(4, 3))
    loss = lambda w, h0: fnp.sum(rnn(w, h0, xs)[1])
    want = ft.grad(loss, argnums=(0, 1))(w, h0)
    close(ft.grad(ft.checkpoint(loss), argnums=(0, 1))(w, h0), want)
    close(ft.jit(ft.grad(ft.checkpoint(loss), argnums=(0, 1)))(w, h0), want)
    value, grads = ft.value_and_grad(ft.jit(loss), argnums=(0, 1))(w, h0)
    assert isinstance(value, ft.Array)
    close(grads, want)


def test_value_and_grad_of_jit_splits_nested_call_and_loop_equations():
    # jit_call's partial evaluation re-traces its body, so a nested checkpoint or loop splits
    # into its primal and tangent parts instead of making the primal output unknown.
    f = ft.jit(lambda x: fnp.sum(ft.checkpoint(lambda y: fnp.sin(y) * y)(x)))
    value, g = ft.value_and_grad(f)(np.ones(3))
    assert isinstance(value, ft.Array) and np.isclose(float(value), 3 * np.sin(1.0))
    close(g, np.full(3, np.sin(1.0) + np.cos(1.0)))
    value, g = ft.value_and_grad(ft.jit(lambda x: fnp.sum(damped(x, np.float64(0.8), 2))))(
        np.ones(2))
    assert isinstance(value, ft.Array)
    close(g, ft.grad(lambda x: fnp.sum(damped_unrolled(x, np.float64(0.8), 2)))(np.ones(2)))


def test_scan_unroll_and_length_arguments():
    xs = np.arange(4.0)
    for unroll in (1, 2, True, False):
        carry, _ = lax.scan(lambda c, x: (c + x, None), 0.0, xs, unroll=unroll)
        assert float(carry) == 6.0
    with pytest.raises(ValueError, match="length=3 disagrees"):
        lax.scan(lambda c, x: (c, None), 0.0, xs, length=3)
    with pytest.raises(ValueError, match="pass length="):
        lax.scan(lambda c, x: (c, None), 0.0, None)
    with pytest.raises(ValueError, match="different leading axis sizes"):
        lax.scan(lambda c, x: (c, None), 0.0, (xs, np.ones(3)))


# --- map and associative_scan ---------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [None, 1, 3, 7, 10])
def test_map_matches_a_python_loop(batch_size):
    xs = {"a": RNG.normal(size=(7, 2)), "b": RNG.normal(size=7)}

    def f(x):
        return fnp.sin(x["a"]) * x["b"], x["b"] ** 2

    want = [np.stack([np.asarray(f({"a": a, "b": b})[k]) for a, b in zip(xs["a"], xs["b"])])
            for k in (0, 1)]
    close(lax.map(f, xs, batch_size=batch_size), tuple(want))
    close(ft.jit(lambda x: lax.map(f, x, batch_size=batch_size))(xs), tuple(want))
    check_grads(lambda x: lax.map(f, x, batch_size=batch_size), (xs,), order=1)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 17), axis=st.integers(0, 1), reverse=st.booleans(),
       op=st.sampled_from(["add", "mul", "max"]))
def test_associative_scan_matches_sequential_accumulation(n, axis, reverse, op):
    rng = np.random.default_rng(n)
    shape = (n, 3) if axis == 0 else (2, n)
    x = rng.uniform(0.5, 1.5, size=shape)
    fn, acc = {"add": (fnp.add, np.add), "mul": (fnp.multiply, np.multiply),
               "max": (fnp.maximum, np.maximum)}[op]
    want = np.flip(acc.accumulate(np.flip(x, axis), axis), axis) if reverse else \
        acc.accumulate(x, axis)
    close(lax.associative_scan(fn, x, reverse=reverse, axis=axis), want)
    close(ft.jit(lambda v: lax.associative_scan(fn, v, reverse=reverse, axis=axis))(x), want)


def test_associative_scan_of_a_pytree_linear_recurrence():
    # h_t = a_t h_{t-1} + b_t as pairs (a, b) combined associatively.
    a, b = RNG.uniform(0.5, 1.0, size=9), RNG.normal(size=9)

    def combine(p, q):
        return {"a": q["a"] * p["a"], "b": q["a"] * p["b"] + q["b"]}

    out = lax.associative_scan(combine, {"a": a, "b": b})
    h, want = 0.0, []
    for at, bt in zip(a, b):
        h = at * h + bt
        want.append(h)
    close(out["b"], np.array(want))
    check_grads(lambda a, b: lax.associative_scan(combine, {"a": a, "b": b})["b"], (a, b),
                order=1)


# --- nesting, jit and printing ------------------------------------------------------------------


def nested(x):
    """A scan inside a cond inside a while_loop."""
    def body(c):
        i, v = c
        inner = lambda v: lax.scan(lambda s, t: (s * 0.5 + fnp.sin(t * s), s),
                                   v, fnp.arange(3.0))[0]
        return i + 1, lax.cond(i % 2 == 0, inner, lambda v: v * 1.5, v)

    return lax.while_loop(lambda c: c[0] < 4, body, (0, x))[1]


def nested_python(x):
    for i in range(4):
        if i % 2 == 0:
            for t in range(3):
                x = x * 0.5 + fnp.sin(t * x)
        else:
            x = x * 1.5
    return x


def test_nested_control_flow_matches_python():
    x = np.float64(0.7)
    close(nested(x), nested_python(x))
    close(ft.jit(nested)(x), nested_python(x))
    close(ft.grad(nested)(x), ft.grad(nested_python)(x))
    close(ft.jit(ft.grad(nested))(x), ft.grad(nested_python)(x))
    check_grads(nested, (x,), order=2)
    xs = np.array([0.1, 0.7, -0.4])
    check_vmap_matches_loop(nested, (xs,))
    check_vmap_grad_matches_loop(nested, (xs,))


@pytest.mark.parametrize("f, args", [
    (branchy, (RNG.normal(size=3), RNG.normal(size=3))),
    (lambda x: damped(x, np.float64(0.8), 3), (RNG.normal(size=3),)),
    (lambda w, h0, xs: rnn(w, h0, xs), (RNG.normal(size=(2, 2)), RNG.normal(size=2),
                                        RNG.normal(size=(3, 2)))),
    (nested, (np.float64(0.3),)),
    (lambda x: lax.map(fnp.cos, x, batch_size=2), (RNG.normal(size=5),)),
])
def test_jit_equals_eager(f, args):
    check_jit_equals_eager(f, args)
    check_jit_equals_eager(ft.grad(lambda *a: fnp.sum(ft.tree_util.tree_leaves(f(*a))[0])),
                           args)


def test_make_jaxpr_prints_sub_jaxprs_indented_like_jax():
    text = str(ft.make_jaxpr(lambda x: lax.cond(x > 0, lambda v: fnp.sin(v) * 2.0,
                                                lambda v: -v, x))(np.float32(1.0)))
    assert text == """\
{ lambda ; a:f32[]. let
    b:bool[] = gt a 0.0:f32[]
    c:i32[] = convert_element_type[new_dtype=int32 weak_type=False] b
    d:f32[] = cond[
      branches=(
        { lambda ; e:f32[]. let f:f32[] = neg e in (f,) }
        { lambda ; g:f32[]. let
            h:f32[] = sin g
            i:f32[] = mul h 2.0:f32[]
          in (i,) }
      )
    ] c a
  in (d,) }"""
    text = str(ft.make_jaxpr(lambda x: lax.scan(lambda c, t: (c + t, c * t), 0.0, x))(
        np.ones(3, np.float32)))
    assert text.startswith("""\
{ lambda ; a:f32[3]. let
    b:f32[] c:f32[3] = scan[
      jaxpr={ lambda ; d:f32[] e:f32[]. let
          f:f32[] = add d e
          g:f32[] = mul d e
        in (f, g) }
      length=3
""")
    assert text.endswith("""\
      reverse=False
      unroll=1
    ] 0.0:f32[] a
  in (b, c) }""")


def test_loops_are_compiled_once_and_not_constant_folded():
    calls = []

    def body(c):
        calls.append(1)
        return c + 1

    f = ft.jit(lambda: lax.while_loop(lambda c: c < 1000, body, 0))
    assert int(f()) == 1000 and len(calls) == 1
    lowered = ft.jit(lambda: lax.while_loop(lambda c: c < 1000, body, 0)).lower()
    assert "while" in lowered.as_text()  # runs when called, not at compile time


def test_python_if_on_a_traced_value_suggests_lax_cond():
    def f(x):
        if x > 0:
            return x
        return -x

    with pytest.raises(TracerBoolConversionError, match="lax.cond"):
        ft.jit(f)(1.0)


# --- errors -------------------------------------------------------------------------------------


def test_branches_with_different_types_name_the_path_and_both_types():
    def f(x):
        return lax.cond(x > 0, lambda v: (v, {"a": v}), lambda v: (v, {"a": fnp.ones(3)}), x)

    with pytest.raises(ControlFlowTypeError) as info:
        ft.jit(f)(1.0)
    msg = str(info.value)
    assert "true_fun and false_fun must return the same types" in msg
    assert "output[1]['a']" in msg and "f32[]" in msg and "f32[3]" in msg
    assert "test_control_flow.py" in msg  # the user's line
    with pytest.raises(ControlFlowTypeError, match=r"structures differ(.|\n)*PyTreeDef\(\(\*, "
                                                   r"\*\)\)(.|\n)*PyTreeDef\(\[\*, \*\]\)"):
        ft.jit(lambda x: lax.cond(x > 0, lambda v: (v, v), lambda v: [v, v], x))(1.0)
    with pytest.raises(ControlFlowTypeError, match=r"branches\[0\] and branches\[2\]"):
        ft.jit(lambda i: lax.switch(i, [lambda: 1.0, lambda: 2.0, lambda: np.int32(3)]))(0)


def test_a_loop_body_that_changes_the_carry_type_names_the_path_and_both_types():
    def body(c):
        return c[0] + 1, {"h": fnp.ones(4)}

    for run in (lambda: lax.while_loop(lambda c: c[0] < 3, body, (0, {"h": np.ones(3)})),
                lambda: ft.jit(lambda x: lax.while_loop(lambda c: c[0] < 3, body,
                                                        (0, {"h": x})))(np.ones(3))):
        with pytest.raises(ControlFlowTypeError) as info:
            run()
        msg = str(info.value)
        assert "body_fun must return a carry of the same types" in msg
        assert "carry[1]['h']" in msg and "f64[3]" in msg and "f32[4]" in msg
    with pytest.raises(ControlFlowTypeError, match=r"carry +f64\[3\] +i32\[3\]"):
        ft.jit(lambda x: lax.scan(lambda c, t: (c.astype(np.int32), t), x, x))(np.ones(3))
    with pytest.raises(ControlFlowTypeError, match="structure of its input"):
        lax.fori_loop(0, 2, lambda i, c: (c, c), 1.0)


def test_weakly_typed_initial_carries_take_the_body_type_as_in_jax():
    x = np.ones(3)
    carry, _ = lax.scan(lambda c, t: (c + t, None), 0.0, x)
    assert carry.dtype == np.float64
    carry, _ = ft.jit(lambda x: lax.scan(lambda c, t: (c + t, None), 0.0, x))(x)
    assert carry.dtype == np.float64 and float(carry) == 3.0
    out = ft.jit(lambda: lax.while_loop(lambda c: c < 3, lambda c: c + 1.5, 0))()
    assert out.dtype == np.float32 and float(out) == 3.0
    # a Python scalar returned for a float64 carry, or by one traced branch, takes the other
    # dtype (eagerly, only the taken branch runs)
    for run in (lambda f, *a: f(*a), lambda f, *a: ft.jit(f)(*a)):
        out = run(lambda x: lax.while_loop(lambda v: v > 1, lambda v: 0.5, x), np.float64(3.0))
        assert out.dtype == np.float64 and float(out) == 0.5
    out = ft.jit(lambda p, x: lax.cond(p, lambda v: v * 2, lambda v: 1.0, x))(False,
                                                                              np.float64(3.0))
    assert out.dtype == np.float64 and not out.weak_type and float(out) == 1.0
    with pytest.raises(ControlFlowTypeError, match=r"i32\[\] +f32\[\]"):
        lax.while_loop(lambda v: v > 1, lambda v: 0.5, np.int32(3))


def test_other_misuse_errors():
    with pytest.raises(ControlFlowTypeError, match="cond_fun must return a boolean scalar, got "
                                                   r"f64\[3\]"):
        ft.jit(lambda x: lax.while_loop(lambda c: c, lambda c: c, x))(np.ones(3))
    with pytest.raises(ControlFlowTypeError, match=r"f must return a pair \(new_carry, y\), "
                                                   r"got an array \(f64\[3\]\)"):
        ft.jit(lambda x: lax.scan(lambda c, t: c + t, x, x))(np.ones(3))
    with pytest.raises(TypeError, match="predicate must be a scalar, got bool"):
        lax.cond(np.ones(3) > 0, lambda: 1, lambda: 2)
    with pytest.raises(TypeError, match="true_fun must be callable"):
        lax.cond(True, 1.0, lambda: 2.0)
    with pytest.raises(TypeError, match="index must be an integer scalar"):
        lax.switch(1.0, [lambda: 1.0])
    with pytest.raises(ValueError, match="branches must be a non-empty"):
        lax.switch(0, [])
    with pytest.raises(TypeError, match="lower must be an integer scalar"):
        lax.fori_loop(0.0, 3, lambda i, c: c, 0.0)
