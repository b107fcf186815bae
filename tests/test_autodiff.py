"""The derivative API end to end: grad/vjp/jvp/linearize/jacobians over pytrees, nesting,
custom rules, checkpointing, NaN-safe masking and the errors users see."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import errors, lax


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# --- values ---------------------------------------------------------------------------------------


@given(st.floats(-3, 3))
def test_grad_of_scalar_functions_matches_calculus(x):
    x = np.float64(x)
    close(ft.grad(lambda v: fnp.sin(v) * v)(x), np.cos(x) * x + np.sin(x), 1e-10)
    close(ft.grad(lambda v: fnp.exp(fnp.tanh(v)))(x),
          np.exp(np.tanh(x)) * (1 - np.tanh(x) ** 2), 1e-10)
    close(ft.grad(lambda v: v ** 3 / (1 + v * v))(x),
          (3 * x**2 * (1 + x * x) - x**3 * 2 * x) / (1 + x * x) ** 2, 1e-10)


def test_grad_of_a_small_mlp_loss_matches_hand_written_backprop():
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(4, 5)), rng.normal(size=(5, 3))
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))

    def loss(params, x, y):
        h = fnp.tanh(x @ params["w1"])
        return fnp.mean((h @ params["w2"] - y) ** 2)

    g = ft.grad(loss)({"w1": w1, "w2": w2}, x, y)
    h = np.tanh(x @ w1)
    d_out = 2 * (h @ w2 - y) / y.size
    close(g["w2"], h.T @ d_out, 1e-10)
    close(g["w1"], x.T @ ((d_out @ w2.T) * (1 - h**2)), 1e-10)


def test_pytrees_argnums_and_has_aux():
    def f(a, b, c):
        return fnp.sum(a["x"] * b[0]) + c * 2.0, {"aux": a["x"]}

    a, b, c = {"x": np.arange(3.0)}, (np.ones(3),), 1.5
    (ga, gc), aux = ft.grad(f, argnums=(0, 2), has_aux=True)(a, b, c)
    close(ga["x"], np.ones(3))
    close(gc, 2.0)
    close(aux["aux"], np.arange(3.0))
    (val, aux2), gb = ft.value_and_grad(f, argnums=1, has_aux=True)(a, b, c)
    close(val, 3.0 + 3.0)
    close(gb[0], np.arange(3.0))


def test_higher_order_derivatives_nest():
    f = fnp.sin
    derivs = [f]
    for _ in range(4):
        derivs.append(ft.grad(derivs[-1]))
    want = [np.sin, np.cos, lambda x: -np.sin(x), lambda x: -np.cos(x), np.sin]
    for d, w in zip(derivs, want, strict=True):
        close(d(0.7), w(0.7))
    # jvp of vjp and vjp of jvp agree with the Hessian-vector product.
    x, v = np.array([0.3, -0.2]), np.array([1.0, 2.0])

    def g(x):
        return fnp.sum(fnp.sin(x) * x[::-1])

    hvp1 = ft.jvp(ft.grad(g), (x,), (v,))[1]
    hvp2 = ft.grad(lambda x: fnp.vdot(ft.grad(g)(x), v))(x)
    close(hvp1, hvp2, 1e-10)
    close(hvp1, ft.hessian(g)(x) @ v, 1e-10)


def test_python_control_flow_works_under_grad():
    def f(x):
        if x > 0:
            return x * x
        while x < -1:
            x = x / 2
        return -x

    assert float(ft.grad(f)(3.0)) == 6.0
    assert float(ft.grad(f)(-0.5)) == -1.0
    assert float(ft.grad(f)(-4.0)) == -0.25


def test_jacobians_of_vector_functions():
    def f(x):
        return {"a": fnp.sin(x) * x[0], "b": fnp.sum(x ** 2)}

    x = np.array([0.5, -1.0, 2.0])
    jf, jr = ft.jacfwd(f)(x), ft.jacrev(f)(x)
    want_a = np.diag(np.cos(x) * x[0])
    want_a[:, 0] += np.sin(x)
    for j in (jf, jr):
        close(j["a"], want_a, 1e-10)
        close(j["b"], 2 * x, 1e-10)
    close(ft.hessian(lambda x: fnp.sum(x ** 3))(x), np.diag(6 * x), 1e-10)


def test_linearize_replays_only_the_tangent_program():
    y, f_jvp = ft.linearize(lambda x: fnp.exp(x) * 3.0, np.array([0.0, 1.0]))
    close(y, 3 * np.exp([0.0, 1.0]))
    close(f_jvp(np.array([1.0, 2.0])), 3 * np.exp([0.0, 1.0]) * [1.0, 2.0])


def test_linear_transpose_is_an_adjoint():
    a = np.random.default_rng(1).normal(size=(3, 4))
    f = lambda x: a @ x  # noqa: E731
    (ct,) = ft.linear_transpose(f, np.ones(4))(np.arange(3.0))
    close(ct, a.T @ np.arange(3.0), 1e-12)


def test_integer_inputs_get_float0_gradients_with_allow_int():
    g = ft.grad(lambda x, n: x * n, argnums=(0, 1), allow_int=True)(2.0, np.int32(3))
    close(g[0], 3.0)
    assert g[1].dtype == ft.float0 and g[1].shape == ()


def test_unused_inputs_get_zero_gradients():
    g = ft.grad(lambda x, y: x * 2.0, argnums=(0, 1))(1.0, np.ones(3))
    close(g[1], np.zeros(3))


# --- custom rules ---------------------------------------------------------------------------------


def test_custom_jvp_is_used_by_forward_and_reverse_mode():
    @ft.custom_jvp
    def softplus(x):
        return fnp.log1p(fnp.exp(x))

    @softplus.defjvp
    def softplus_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return softplus(x), t * lax.logistic(x)

    close(ft.grad(softplus)(1000.0), 1.0)  # the naive derivative would be inf/inf = nan
    close(ft.jvp(softplus, (0.0,), (2.0,))[1], 1.0)
    close(ft.grad(ft.grad(softplus))(0.0), 0.25)  # the rule is itself differentiable


def test_custom_jvp_nondiff_argnums_defjvps_and_pytrees():
    @ft.custom_jvp
    def f(d, n):
        return {"y": d["a"] * n, "z": d["b"]}

    @f.defjvp
    def f_jvp(primals, tangents):
        (d, n), (td, _) = primals, tangents
        return f(d, n), {"y": td["a"] * n * 10.0, "z": td["b"]}

    g = ft.grad(lambda d: f(d, 2.0)["y"] + f(d, 2.0)["z"])({"a": 1.0, "b": 1.0})
    close(g["a"], 20.0)
    close(g["b"], 1.0)

    @ft.custom_jvp
    def h(x, y):
        return x * y

    h.defjvps(lambda t, ans, x, y: t * y * 3, lambda t, ans, x, y: t * x)
    close(ft.grad(h, argnums=(0, 1))(2.0, 5.0), (15.0, 2.0))

    def power(n, x):
        return x ** n

    p = ft.custom_jvp(power, nondiff_argnums=(0,))
    p.defjvp(lambda n, primals, tangents: (p(n, *primals), n * 100.0 * tangents[0]))
    close(ft.grad(lambda x: p(3, x))(2.0), 300.0)


def test_custom_vjp_with_residuals_nondiff_and_none_cotangents():
    @ft.custom_vjp
    def f(x, y):
        return fnp.sin(x) * y

    def fwd(x, y):
        return f(x, y), (fnp.cos(x), y)

    def bwd(res, g):
        cos_x, y = res
        return g * cos_x * y, None

    f.defvjp(fwd, bwd)
    gx, gy = ft.grad(f, argnums=(0, 1))(0.5, 3.0)
    close(gx, np.cos(0.5) * 3.0)
    close(gy, 0.0)
    # Forward mode differentiates the function itself (JAX raises here).
    close(ft.jvp(lambda x: f(x, 2.0), (0.5,), (1.0,))[1], np.cos(0.5) * 2.0)
    close(ft.jacfwd(lambda x: f(x, 2.0))(0.5), np.cos(0.5) * 2.0)
    close(ft.hessian(lambda x: f(x, 2.0))(0.5), -np.sin(0.5) * 2.0)


def test_custom_vjp_gradient_clipping_under_vmap_free_reverse_mode():
    @ft.custom_vjp
    def clip_gradient(x):
        return x

    clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (fnp.clip(g, -1.0, 1.0),))
    close(ft.grad(lambda x: 5.0 * clip_gradient(x))(2.0), 1.0)


def test_custom_rule_errors_are_explained():
    @ft.custom_jvp
    def f(x):
        return x

    @f.defjvp
    def bad(primals, tangents):
        return primals[0], (tangents[0], tangents[0])

    with pytest.raises(TypeError, match="tangent structure"):
        ft.grad(f)(1.0)

    @ft.custom_vjp
    def g(x, y):
        return x * y

    g.defvjp(lambda x, y: (x * y, None), lambda res, ct: (ct,))
    with pytest.raises(TypeError, match="one cotangent per differentiable argument"):
        ft.grad(g)(1.0, 2.0)


# --- checkpoint -----------------------------------------------------------------------------------


def _count(jaxpr, name: str) -> int:
    return sum(1 for e in jaxpr.eqns if e.prim.name == name)


def test_checkpoint_recomputes_the_forward_pass_in_the_backward_pass():
    def body(x):
        return fnp.sin(fnp.sin(fnp.sin(x)))

    plain = ft.make_jaxpr(ft.grad(body))(1.0)
    remat = ft.make_jaxpr(ft.grad(ft.checkpoint(body)))(1.0)
    assert _count(plain, "sin") == 3
    # The backward pass recomputes the two inner sins whose values the derivative needs
    # (cos(sin(sin x)) * cos(sin x) * cos x), and the cos factors move there too.
    assert _count(remat, "sin") == 3 + 2
    close(ft.grad(ft.checkpoint(body))(1.0), ft.grad(body)(1.0))


def test_checkpoint_policies_choose_what_is_saved():
    w = np.random.default_rng(2).normal(size=(3, 3))

    def layer(x):
        return fnp.tanh(fnp.sin(x @ w) @ w)

    dots = lambda j: _count(j, "dot_general")  # noqa: E731
    nothing = ft.make_jaxpr(ft.grad(lambda x: fnp.sum(ft.checkpoint(layer)(x))))(np.ones(3))
    saved = ft.make_jaxpr(ft.grad(lambda x: fnp.sum(ft.checkpoint(
        layer, policy=ft.checkpoint_policies.dots_saveable)(x))))(np.ones(3))
    everything = ft.make_jaxpr(ft.grad(lambda x: fnp.sum(ft.checkpoint(
        layer, policy=ft.checkpoint_policies.everything_saveable)(x))))(np.ones(3))
    plain = ft.make_jaxpr(ft.grad(lambda x: fnp.sum(layer(x))))(np.ones(3))
    # 2 forward dots + 2 transposed dots (w.r.t. x only); `nothing` recomputes both dots.
    assert dots(plain) == dots(saved) == dots(everything) == 4
    assert dots(nothing) == 6
    g = ft.grad(lambda x: fnp.sum(layer(x)))(np.ones(3))
    for policy in (None, ft.checkpoint_policies.dots_saveable,
                   ft.checkpoint_policies.save_only_these_names("h")):
        close(ft.grad(lambda x: fnp.sum(ft.checkpoint(layer, policy=policy)(x)))(np.ones(3)),
              g, 1e-10)


# --- NaN-safe masking -----------------------------------------------------------------------------


def test_safe_where_keeps_nan_out_of_gradients_where_where_does_not():
    x = fnp.asarray([-1.0, 0.0, 4.0])
    unsafe = ft.grad(lambda x: fnp.sum(fnp.where(x > 0, fnp.sqrt(x), 0.0)))(x)
    safe = ft.grad(lambda x: fnp.sum(fnp.safe_where(x > 0, fnp.sqrt(x), 0.0)))(x)
    assert np.isnan(np.asarray(unsafe)[0])
    close(safe, [0.0, 0.0, 0.25])
    # sinc with a scalar weight: the masked path crosses a division and a broadcast scalar.
    sinc = lambda x, w: fnp.sum(fnp.safe_where(x != 0, fnp.sin(x) * w / x, w))  # noqa: E731
    gx, gw = ft.grad(sinc, argnums=(0, 1))(fnp.asarray([0.0, 1.0]), 2.0)
    assert np.all(np.isfinite(np.asarray(gx))) and np.isfinite(float(gw))
    close(gw, 1.0 + np.sin(1.0))


# --- errors ---------------------------------------------------------------------------------------


def test_grad_of_non_scalar_output_explains_and_suggests_jacrev():
    with pytest.raises(TypeError) as info:
        ft.grad(lambda x: x * 2)(np.ones(3))
    msg = str(info.value)
    assert "must return a real scalar" in msg and "f64[3]" in msg and "jacrev" in msg


def test_wrong_argnums_names_the_valid_range():
    with pytest.raises(ValueError, match=r"argnums=\(3,\).*valid: -2 to 1"):
        ft.grad(lambda x, y: x * y, argnums=3)(1.0, 2.0)


def test_integer_input_without_allow_int():
    with pytest.raises(TypeError, match="allow_int=True"):
        ft.grad(lambda n: n * 2.0)(np.int32(3))


def test_missing_rule_names_the_primitive():
    with pytest.raises(errors.MissingRuleError, match="digamma"):
        ft.grad(lambda x: lax.digamma(x))(1.5)


def test_logaddexp_second_derivative_is_smooth_at_the_tie():
    # max/abs formulation: the kinks cancel in value but not in the second derivative.
    f = lambda x: fnp.logaddexp(x, 0.0)  # noqa: E731
    for x0 in (0.0, 1.5, -3.0):
        s = 1 / (1 + np.exp(-x0))
        assert np.isclose(float(ft.grad(f)(x0)), s, rtol=1e-6)
        assert np.isclose(float(ft.grad(ft.grad(f))(x0)), s * (1 - s), rtol=1e-5)
    # Infinities: values as NumPy, gradients finite.
    a = np.array([np.inf, -np.inf, 1.0])
    b = np.array([1.0, -np.inf, 2.0])
    np.testing.assert_array_equal(np.asarray(fnp.logaddexp(a, b)), np.logaddexp(a, b))
    g = np.asarray(ft.grad(lambda x: fnp.sum(fnp.logaddexp(x, b)))(a))
    assert np.all(np.isfinite(g)) and g[0] == 1.0


def test_every_equation_of_a_traced_gradient_names_the_users_line():
    def f(x):
        y = fnp.sin(x) * fnp.exp(x)  # line A
        return fnp.sum(fnp.tanh(y))  # line B

    first = f.__code__.co_firstlineno
    call_site = first + 6  # the grad seed (a cotangent of one) comes from the grad call
    for jaxpr in (ft.make_jaxpr(ft.grad(f))(np.ones(3)),
                  ft.make_jaxpr(lambda x, t: ft.jvp(f, (x,), (t,)))(np.ones(3), np.ones(3))):
        lines = {e.source_info.lineno for e in jaxpr.jaxpr.eqns}
        assert all(e.source_info.filename == __file__ for e in jaxpr.jaxpr.eqns)
        assert {first + 1, first + 2} <= lines <= {first + 1, first + 2, call_site}, lines


def test_eager_zero_cotangents_have_their_own_dtype():
    # Zeros built for unused inputs outside any trace carry the aval of their buffer.
    from functrans.core import ShapedArray
    from functrans.primitives.ad_rules import zeros_like_aval
    for dtype in ("int32", "bool", "float32"):
        z = zeros_like_aval(ShapedArray((2,), np.dtype(dtype), True))
        assert z.dtype == np.dtype(dtype) and z.aval == ShapedArray((2,), np.dtype(dtype))
    g = ft.grad(lambda p, x: p[0].sum())([np.ones(3, np.float32), np.ones(2)], 1.0)
    assert np.asarray(g[1]).tolist() == [0.0, 0.0] and g[1].dtype == np.float64
