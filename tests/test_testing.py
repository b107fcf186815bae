"""Tests of functrans.testing: check_grads and friends, transform laws, hypothesis strategies,
and the pytest plugin (through pytester)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import testing
from functrans.testing import (
    check_grads,
    check_jacfwd_equals_jacrev,
    check_jit_equals_eager,
    check_jvp,
    check_linearize_matches_jvp,
    check_transpose,
    check_vjp,
    check_vmap_grad_matches_loop,
    check_vmap_matches_loop,
)
from functrans.testing import strategies as fts
from functrans.testing.gradients import _Checker

pytest_plugins = ["pytester"]

FLOATS = [np.float16, np.float32, np.float64]


def _inputs(dtype, n=5, lo=0.2, hi=1.8):
    return np.linspace(lo, hi, n).astype(dtype)


def _wrong_jvp(factor=1.2, mask=None):
    """sin with a custom jvp that is off by ``factor`` (only where ``mask``, if given)."""
    f = ft.custom_jvp(lambda x: fnp.sin(x))

    def rule(primals, tangents):
        (x,), (t,) = primals, tangents
        scale = factor if mask is None else np.where(mask, factor, 1.0).astype(x.dtype)
        return fnp.sin(x), t * fnp.cos(x) * scale

    f.defjvp(rule)
    return f


def _wrong_vjp(factor=1.2):
    """exp with a custom vjp whose backward pass is off by ``factor``."""
    f = ft.custom_vjp(lambda x: fnp.exp(x))
    f.defvjp(lambda x: (fnp.exp(x), fnp.exp(x)), lambda r, g: (g * r * factor,))
    return f


# --- check_grads passes on correct functions ----------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("fun", [
    lambda x: fnp.sin(x) * fnp.exp(x),
    lambda x: fnp.tanh(x) / (1.0 + x * x),
    lambda x: fnp.log(x) * x,
    lambda x: x * x * x,
], ids=["sin*exp", "tanh/(1+x^2)", "x*log", "cube"])
def test_correct_functions_pass(fun, dtype, order):
    check_grads(fun, (_inputs(dtype),), order=order)


@pytest.mark.parametrize("dtype", FLOATS)
def test_float16_passes_where_a_fixed_tiny_step_fails(dtype):
    # JAX's eps=1e-4 is below float16's machine epsilon: x + 1e-4 == x. The float64 evaluation
    # (and the dtype-chosen step) make the same check reliable in every precision.
    x = _inputs(dtype, 5, 1.0, 1.8)
    assert np.all(x + dtype(1e-4) == x) == (dtype == np.float16)
    for fun in (fnp.sin, fnp.exp, fnp.tanh, lambda v: v ** 3):
        check_grads(fun, (x,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("dtype", FLOATS)
def test_pytrees_and_multiple_arguments(dtype):
    params = {"w": _inputs(dtype, 4), "b": [_inputs(dtype, 3, 0.5, 1.0), None]}
    x = _inputs(dtype, 4, -1.0, 1.0)

    def f(params, x, n):
        h = fnp.tanh(params["w"] * x) * n
        return {"h": h, "z": (fnp.exp(params["b"][0]) / 2.0, n)}

    check_grads(f, (params, x, np.arange(4)), order=2)


def test_scalars_integers_and_complex():
    check_grads(lambda x, y: fnp.sin(x) * y, (0.5, np.float32(2.0)))
    check_grads(lambda x, k: x * k + fnp.exp(x), (np.linspace(0, 1, 3), np.arange(3)), order=2)
    z = np.array([1 + 1j, 0.5 - 2j, -0.3 + 0.1j], np.complex64)
    check_grads(lambda z: fnp.sin(z) * z, (z,), order=2)
    check_grads(lambda z: fnp.real(z) * fnp.exp(z), (z.astype(np.complex128),))


def test_zero_derivative_by_cancellation_is_not_flagged():
    # d/dx (sin^2 + cos^2) is computed as a few ulps of garbage, not 0.
    x = np.linspace(-2.0, 2.0, 7)
    for dtype in FLOATS:
        check_grads(lambda v: fnp.sin(v) * fnp.sin(v) + fnp.cos(v) * fnp.cos(v),
                    (x.astype(dtype),), order=2)


def test_single_mode_and_empty_and_0d_inputs():
    check_grads(fnp.sin, (np.float64(0.3),), modes="fwd")
    check_grads(fnp.sin, (np.float32(0.3),), modes=("rev",), directions=1)
    check_grads(lambda x, y: fnp.sin(x) + y, (np.zeros((0, 3)), np.ones(1)))


def test_float64_fallback_when_the_function_fixes_its_dtype():
    # The function casts to float32 itself: a float64 evaluation would not be float64, so the
    # differences run in float32 (with a larger step) and still pass.
    f = lambda x: fnp.exp(x.astype(np.float32)) * 2.0
    c = _Checker(f, (_inputs(np.float64),), atol=None, rtol=None, eps=None, seed=0, level=1,
                 label="f")
    assert not c.fd.wide and c.fd.eps == 2.0 ** -8
    check_grads(f, (_inputs(np.float64),), order=2)


@settings(max_examples=40, deadline=None)
@given(fts.arrays(fts.dtypes("float"), fts.shapes(max_dims=2, max_side=3), bound=2.0),
       st.integers(0, 2 ** 16))
def test_random_inputs_pass(x, seed):
    check_grads(lambda v: fnp.tanh(v) * fnp.exp(v) + v / (2.0 + v * v), (x,), seed=seed)


@settings(max_examples=25, deadline=None)
@given(fts.arrays(fts.dtypes("float"), (3,), domain="positive", bound=4.0),
       fts.arrays(np.float64, (3,), domain="away_from_zero", bound=4.0))
def test_random_inputs_pass_order_2(x, y):
    check_grads(lambda a, b: fnp.log(a) * b + a / b, (x, y), order=2)


# --- check_grads fails on wrong derivatives -----------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
def test_wrong_custom_jvp_fails_forward_mode(dtype):
    with pytest.raises(AssertionError) as info:
        check_grads(_wrong_jvp(1.2), (_inputs(dtype),), modes=("fwd",), seed=7)
    msg = str(info.value)
    assert msg.startswith("check_grads: forward-mode (autodiff: functrans.jvp) vs finite "
                          "differences disagree at order 1 along direction 0 of 3 (seed=7)")
    assert re.search(r"max abs error \S+ at output \[\d\] \(autodiff -?[\d.]+, finite "
                     r"differences -?[\d.]+, rel error \S+ > rtol", msg), msg
    assert "float64 evaluation" in msg


@pytest.mark.parametrize("dtype", FLOATS)
def test_wrong_custom_jvp_fails_reverse_mode(dtype):
    with pytest.raises(AssertionError) as info:
        check_grads(_wrong_jvp(1.2), (_inputs(dtype),), modes=("rev",))
    msg = str(info.value)
    assert msg.startswith("check_grads: reverse-mode (autodiff: functrans.vjp) vs finite "
                          "differences disagree at order 1 along direction 0")
    assert "(autodiff) vs <u, J v> =" in msg and "(finite differences)" in msg
    assert re.search(r"largest disagreement of J\^T u per input element: abs error \S+ at "
                     r"args\[0\]\[\d\]", msg), msg


@pytest.mark.parametrize("dtype", FLOATS)
def test_wrong_custom_vjp_fails_reverse_mode(dtype):
    with pytest.raises(AssertionError, match=r"reverse-mode \(autodiff: functrans.vjp\)"):
        check_grads(_wrong_vjp(1.2), (_inputs(dtype),), modes=("rev",))
    # forward mode differentiates the primal function, which is right
    check_grads(_wrong_vjp(1.2), (_inputs(dtype),), modes=("fwd",))


def test_failure_names_the_output_leaf_and_element():
    mask = np.arange(6) == 3
    wrong = _wrong_jvp(1.5, mask)

    def f(x):
        return [{"y": fnp.sin(x)}, {"y": wrong(x)}]

    with pytest.raises(AssertionError) as info:
        check_grads(f, (_inputs(np.float32, 6),), modes="fwd")
    assert "at output [1]['y'][3] (autodiff" in str(info.value)
    assert "1 of 6 elements of this output disagree" in str(info.value)
    with pytest.raises(AssertionError) as info:
        check_grads(lambda t: wrong(t["a"]) * 2.0, ({"a": _inputs(np.float64, 6)},),
                    modes="rev")
    assert "at args[0]['a'][3] (autodiff" in str(info.value)


def test_failure_at_second_order_only():
    cos = ft.custom_jvp(lambda x: fnp.cos(x))
    cos.defjvp(lambda p, t: (fnp.cos(p[0]), -fnp.sin(p[0]) * t[0] * 1.5))   # wrong
    sin = ft.custom_jvp(lambda x: fnp.sin(x))
    sin.defjvp(lambda p, t: (fnp.sin(p[0]), cos(p[0]) * t[0]))             # right
    x = (_inputs(np.float64),)
    check_grads(sin, x, order=1)
    for mode, name in (("fwd", "forward"), ("rev", "reverse")):
        with pytest.raises(AssertionError, match=f"{name}-mode .* at order 2 "):
            check_grads(sin, x, order=2, modes=(mode,))


def test_float16_catches_large_errors_and_fallback_is_reported():
    x = (_inputs(np.float16),)
    for modes in ("fwd", "rev"):
        with pytest.raises(AssertionError):
            check_grads(_wrong_jvp(1.1), x, modes=modes)
    # the function insists on float16, so differences run in float16 with a step of 1/8
    f = _wrong_jvp(1.3)
    with pytest.raises(AssertionError, match=r"(?s)step 0\.125 .* in the function's own "
                                             r"float16 precision"):
        check_grads(lambda v: f(v.astype(np.float16)), x)


def test_nan_derivative_fails():
    f = ft.custom_jvp(lambda x: fnp.sin(x))
    f.defjvp(lambda p, t: (fnp.sin(p[0]), t[0] * fnp.log(p[0] - 1.0)))
    with pytest.raises(AssertionError, match=r"autodiff nan"):
        check_grads(f, (_inputs(np.float64),), modes="fwd")


def test_tolerances_can_be_loosened():
    x = (_inputs(np.float32),)
    with pytest.raises(AssertionError):
        check_grads(_wrong_jvp(1.05), x)
    check_grads(_wrong_jvp(1.05), x, rtol=0.2)
    check_grads(_wrong_jvp(1.05), x, rtol={np.float32: 0.2})
    check_grads(_wrong_jvp(1.05), x, atol=1.0, rtol=0.0)
    with pytest.raises(AssertionError):
        check_grads(_wrong_jvp(1.05), x, rtol={np.float64: 0.2})   # float32 keeps its default


def test_transposes_check_message():
    f = lambda x: fnp.sin(x) * 3.0
    c = _Checker(f, (_inputs(np.float64),), atol=None, rtol=None, eps=None, seed=0, level=1,
                 label="f")
    _, pullback = ft.vjp(f, *c.args)
    ct, _ = c.check_reverse(pullback, 0, 1, "functrans.vjp")
    t_out = c.check_forward(lambda a, t: ft.jvp(f, a, t), 0, 1, "functrans.jvp")
    c.check_transposes(t_out, ct, 0, 1)
    with pytest.raises(AssertionError, match="are not transposes of each other at order 1"):
        c.check_transposes([t * 1.01 for t in t_out], ct, 0, 1)


def test_argument_errors():
    x = (np.ones(3),)
    with pytest.raises(ValueError, match="order must be a positive int"):
        check_grads(fnp.sin, x, order=0)
    with pytest.raises(ValueError, match="modes must be"):
        check_grads(fnp.sin, x, modes=("bwd",))
    with pytest.raises(ValueError, match="directions must be"):
        check_grads(fnp.sin, x, directions=0)
    with pytest.raises(ValueError, match="no floating-point or complex inputs"):
        check_grads(lambda n: n * 2, (np.arange(3),))
    with pytest.raises(ValueError, match="no floating-point or complex outputs"):
        check_grads(lambda x: x > 0, x)
    with pytest.raises(ValueError, match="eps must be > 0"):
        check_grads(fnp.sin, x, eps=-1.0)


# --- check_jvp / check_vjp ----------------------------------------------------------------------


def test_check_jvp_and_check_vjp():
    x = (_inputs(np.float32),)

    def good_jvp(args, tangents):
        return fnp.sin(args[0]), fnp.cos(args[0]) * tangents[0]

    def bad_jvp(args, tangents):
        return fnp.sin(args[0]), fnp.cos(args[0]) * tangents[0] * 1.1

    check_jvp(fnp.sin, good_jvp, x)
    with pytest.raises(AssertionError, match=r"forward-mode \(autodiff: .*bad_jvp"):
        check_jvp(fnp.sin, bad_jvp, x, err_msg="while testing sin")
    check_vjp(fnp.sin, lambda x: ft.vjp(fnp.sin, x), x)

    def bad_vjp(x):
        return fnp.sin(x), lambda g: (g * fnp.cos(x) * 1.1,)

    with pytest.raises(AssertionError, match=r"(?s)reverse-mode .*while testing sin"):
        check_vjp(fnp.sin, bad_vjp, x, err_msg="while testing sin")


# --- transform laws -----------------------------------------------------------------------------


def test_jacfwd_equals_jacrev_and_linearize():
    f = lambda x, y: {"a": fnp.sin(x) * y, "b": fnp.exp(x / y)}
    args = (_inputs(np.float64, 3), _inputs(np.float64, 3, 1.0, 2.0))
    check_jacfwd_equals_jacrev(f, args)
    check_jacfwd_equals_jacrev(f, args, argnums=1)
    check_linearize_matches_jvp(f, args)
    check_linearize_matches_jvp(lambda x, n: x * n, (_inputs(np.float32, 3), np.arange(3)))


def test_laws_fail_when_a_side_is_wrong(monkeypatch):
    from functrans.transforms import derivatives
    args = (_inputs(np.float32, 3),)
    real_jacrev, real_linearize = derivatives.jacrev, derivatives.linearize

    def bad_jacrev(f, argnums=0):
        return lambda *a: real_jacrev(f, argnums)(*a) * 1.01

    def bad_linearize(f, *primals):
        out, f_jvp = real_linearize(f, *primals)
        return out, lambda *t: f_jvp(*t) * 1.01

    monkeypatch.setattr(derivatives, "jacrev", bad_jacrev)
    monkeypatch.setattr(derivatives, "linearize", bad_linearize)
    with pytest.raises(AssertionError, match=r"jacfwd and jacrev differ at \[\d, \d\]"):
        check_jacfwd_equals_jacrev(fnp.sin, args, argnums=0)
    with pytest.raises(AssertionError, match="linearize and jvp differ at"):
        check_linearize_matches_jvp(fnp.sin, args)


def test_check_transpose(monkeypatch):
    x = _inputs(np.float32, 4)
    check_transpose(lambda v: v * 2.0 - v / 3.0, (x,))
    check_transpose(lambda v, w: {"s": v + w, "d": [v * 0.5]}, (x, x))
    with pytest.raises(AssertionError, match="linear_f is not linear"):
        check_transpose(lambda v: v * v, (x,))
    from functrans.transforms import derivatives
    real = derivatives.linear_transpose

    def bad(f, *primals):
        t = real(f, *primals)
        return lambda ct: tuple(c * 1.1 for c in t(ct))

    monkeypatch.setattr(derivatives, "linear_transpose", bad)
    with pytest.raises(AssertionError, match="linear_transpose is not the adjoint"):
        check_transpose(lambda v: v * 2.0, (x,))


def test_jit_equals_eager():
    check_jit_equals_eager(lambda x, y: {"a": fnp.sin(x) * y}, (_inputs(np.float32), 2.0))


def test_vmap_matches_loop():
    x = _inputs(np.float32, 6).reshape(2, 3)
    check_vmap_matches_loop(lambda a, b: fnp.sin(a) * b, (x, x[0]), in_axes=(0, None))
    check_vmap_matches_loop(lambda a: {"y": fnp.exp(a)}, (x,), in_axes=1, out_axes=0)


def test_vmap_grad_matches_loop():
    check_vmap_grad_matches_loop(lambda w, x: fnp.sum(fnp.tanh(w * x)),
                                 (_inputs(np.float32, 3), _inputs(np.float32, 6).reshape(2, 3)),
                                 in_axes=(None, 0))


def _loop_vmap(f, in_axes=0, out_axes=0, reverse=False):
    """A reference vmap for testing the helpers: a Python loop (or a wrong, reversed one)."""
    def batched(*args):
        got = testing.laws._loop(f, args, in_axes, out_axes, "fake")
        if reverse:
            got = ft.tree_util.tree_map(lambda y: np.flip(y, axis=out_axes), got)
        return got
    return batched


def test_jit_and_vmap_helpers_with_stand_in_transforms(monkeypatch):
    monkeypatch.setattr(ft, "jit", lambda f, **kw: f, raising=False)
    monkeypatch.setattr(ft, "vmap", _loop_vmap, raising=False)
    x = _inputs(np.float32, 6).reshape(2, 3)
    check_jit_equals_eager(fnp.sin, (x,))
    check_vmap_matches_loop(lambda a, b: (fnp.sin(a) * b["s"],), (x, {"s": x[0]}),
                            in_axes=(0, {"s": None}))
    check_vmap_matches_loop(lambda a: fnp.exp(a), (x,), in_axes=1, out_axes=1)
    check_vmap_grad_matches_loop(lambda a: fnp.sin(a) * 2.0, (x[0],))
    monkeypatch.setattr(ft, "jit", lambda f, **kw: lambda *a: f(*a) * 1.01)
    with pytest.raises(AssertionError, match=r"jit\(f\) and f differ at \[\d, \d\]"):
        check_jit_equals_eager(fnp.sin, (x,))
    monkeypatch.setattr(ft, "vmap", lambda f, **kw: _loop_vmap(f, reverse=True, **kw))
    with pytest.raises(AssertionError, match=r"vmap\(f\) and loop over f differ at \[0\]\[0, "):
        check_vmap_matches_loop(lambda a: (fnp.sin(a),), (x,))
    with pytest.raises(ValueError, match="one common size"):
        check_vmap_matches_loop(fnp.add, (x, np.ones((3, 3))))


# --- strategies ---------------------------------------------------------------------------------


def test_importing_functrans_testing_does_not_import_hypothesis():
    code = ("import sys, functrans.testing as t; assert 'hypothesis' not in sys.modules; "
            "t.strategies; assert 'hypothesis' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_array_domains(data):
    dtype = data.draw(fts.dtypes("float"))
    for domain, ok in (
        ("real", lambda x: np.abs(x) <= 3.0),
        ("positive", lambda x: (x >= 0.125) & (x <= 3.0)),
        ("away_from_zero", lambda x: (np.abs(x) >= 0.125) & (np.abs(x) <= 3.0)),
        ("unit_interval", lambda x: (x > 0) & (x < 1)),
        ("symmetric_unit", lambda x: (x > -1) & (x < 1)),
    ):
        x = data.draw(fts.arrays(dtype, fts.shapes(max_dims=2), domain, bound=3.0))
        assert x.dtype == dtype and np.all(np.isfinite(x))
        assert np.all(ok(x.astype(np.float64))), (domain, x)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_array_domains_for_other_dtypes(data):
    dtype = data.draw(fts.dtypes(("int", "uint")))
    x = data.draw(fts.arrays(dtype, (4,), "positive", bound=100))
    assert x.dtype == dtype and np.all((x >= 1) & (x <= 100))
    if dtype.kind == "i":
        x = data.draw(fts.arrays(dtype, (4,), "away_from_zero", bound=50, margin=2))
        assert np.all((np.abs(x) >= 2) & (np.abs(x) <= 50))
    z = data.draw(fts.arrays(fts.dtypes("complex"), (3,), "symmetric_unit"))
    assert z.dtype.kind == "c" and np.all(np.abs(z) < 1)
    b = data.draw(fts.arrays(np.bool_, (2, 2)))
    assert b.dtype == np.bool_


@settings(max_examples=40, deadline=None)
@given(fts.arrays(np.float32, (50,), allow_nan=True, allow_infinity=True))
def test_nan_and_inf_only_when_asked(x):
    assert x.dtype == np.float32   # (drawing succeeds; NaN/inf allowed)


def test_strategy_argument_errors():
    with pytest.raises(ValueError, match="unknown domain"):
        fts.arrays(np.float32, (2,), "negative")
    with pytest.raises(ValueError, match="unknown kind"):
        fts.dtypes("half")
    with pytest.raises(ValueError, match="no integers"):
        fts.arrays(np.int32, (2,), "unit_interval").example()
    with pytest.raises(ValueError, match="ordered"):
        fts.arrays(np.complex64, (2,), "positive").example()


@settings(max_examples=60, deadline=None)
@given(fts.shapes(min_dims=0, max_dims=3, max_side=4), fts.shapes(allow_empty=True),
       fts.dtypes("all"))
def test_shapes_and_dtypes(shape, maybe_empty, dtype):
    assert len(shape) <= 3 and all(1 <= s <= 4 for s in shape)
    assert all(0 <= s <= 4 for s in maybe_empty)
    assert isinstance(dtype, np.dtype)


def test_shapes_reach_0d_and_empty():
    seen_0d = seen_empty = False

    @settings(max_examples=200, deadline=None, database=None)
    @given(fts.shapes(allow_empty=True))
    def probe(shape):
        nonlocal seen_0d, seen_empty
        seen_0d |= shape == ()
        seen_empty |= 0 in shape

    probe()
    assert seen_0d and seen_empty


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 4).flatmap(lambda n: st.tuples(st.just(n), fts.broadcastable_shapes(n))))
def test_broadcastable_shapes_broadcast(n_and_shapes):
    n, shapes = n_and_shapes
    assert len(shapes) == n
    out = np.broadcast_shapes(*shapes)
    arrays = [np.zeros(s) for s in shapes]
    assert np.broadcast(*arrays).shape == out if n > 1 else True


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_well_conditioned_matrices(data):
    n = data.draw(st.integers(1, 5))
    dtype = data.draw(fts.dtypes("inexact"))
    cond = data.draw(st.sampled_from([1.0, 4.0, 100.0]))
    a = data.draw(fts.well_conditioned_matrices(n, dtype, cond))
    assert a.shape == (n, n) and a.dtype == dtype
    slack = 1 + 40 * np.finfo(dtype).eps * cond * n   # rounding to dtype
    assert np.linalg.cond(a.astype(np.complex128)) <= cond * slack
    s = data.draw(fts.well_conditioned_matrices(st.just(n), dtype, cond, symmetric=True))
    assert np.array_equal(s, s.conj().T)
    p = data.draw(fts.spd_matrices(n, dtype, cond, scale=2.0))
    assert np.array_equal(p, p.conj().T)
    eig = np.linalg.eigvalsh(p.astype(np.complex128))
    assert eig.min() > 0 and eig.max() / eig.min() <= cond * slack
    np.linalg.cholesky(p.astype(np.complex128))


@settings(max_examples=100, deadline=None)
@given(fts.pytrees(max_depth=2))
def test_pytrees(tree):
    def depth(t):
        if isinstance(t, dict):
            return 1 + max(map(depth, t.values()), default=0)
        if isinstance(t, (list, tuple)):
            return 1 + max(map(depth, t), default=0)
        return 0

    assert depth(tree) <= 2
    for leaf in ft.tree_util.tree_leaves(tree):
        assert isinstance(leaf, np.ndarray) and leaf.dtype == np.float32
        assert np.all(np.isfinite(leaf))


@settings(max_examples=30, deadline=None)
@given(fts.pytrees(fts.arrays(np.float64, (2,), bound=2.0), max_depth=2, allow_none=False))
def test_check_grads_on_drawn_pytrees(tree):
    if not ft.tree_util.tree_leaves(tree):
        return
    check_grads(lambda t: ft.tree_util.tree_map(lambda v: fnp.sin(v) * v, t), (tree,))


# --- the pytest plugin --------------------------------------------------------------------------

def _plugin_args() -> tuple[str, ...]:
    """Load the plugin by its entry-point name once functrans is installed with it (loading the
    module under a second name would register it twice), else by module."""
    from importlib.metadata import entry_points
    names = [ep.name for ep in entry_points(group="pytest11")
             if ep.value == "functrans.testing.plugin"]
    return ("-p", names[0] if names else "functrans.testing.plugin", "-p", "no:cacheprovider")


_PLUGIN = _plugin_args()


def test_plugin_fixture(pytester):
    pytester.makepyfile("""
        import numpy as np, pytest, functrans as ft, functrans.numpy as fnp
        from functrans.testing.plugin import seed_for

        def test_good(check_grads):
            check_grads(fnp.sin, (np.linspace(0.1, 1.0, 4),), order=2)

        def test_bad(check_grads, request):
            f = ft.custom_jvp(lambda x: fnp.sin(x))
            f.defjvp(lambda p, t: (fnp.sin(p[0]), t[0] * 2.0))
            with pytest.raises(AssertionError) as info:
                check_grads(f, (np.linspace(0.1, 1.0, 4),))
            assert f"(seed={seed_for(request.node.nodeid)})" in str(info.value)
            with pytest.raises(AssertionError, match="seed=5"):
                check_grads(f, (np.linspace(0.1, 1.0, 4),), seed=5)
    """)
    result = pytester.runpytest(*_PLUGIN)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["functrans: hypothesis profile 'functrans' * (derandomize=*)"])


def test_plugin_hypothesis_profile(pytester, monkeypatch):
    pytester.makepyfile("""
        from hypothesis import settings

        def test_profile():
            assert settings.default.deadline is None
            assert settings.default.derandomize
    """)
    monkeypatch.setenv("FUNCTRANS_DERANDOMIZE", "1")
    # a subprocess: loading a profile changes hypothesis' global settings
    result = pytester.runpytest_subprocess(*_PLUGIN, "--functrans-profile")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["functrans: hypothesis profile 'functrans' loaded (derandomize=True)"])
    monkeypatch.delenv("FUNCTRANS_DERANDOMIZE")
    result = pytester.runpytest_subprocess(*_PLUGIN, "--hypothesis-profile=functrans")
    result.assert_outcomes(failed=1)   # registered without derandomize


def test_check_grads_does_not_fail_on_subnormal_derivatives():
    # Found by hypothesis: d/dx sin(x)*x at x ~ 4e-321 is a subnormal that finite differences
    # (which round to 0) cannot resolve.
    check_grads(lambda t: fnp.sin(t) * t, (np.array([3.7e-321, -1e-300]),))
    # Real errors are still caught, next to subnormal values.
    f = ft.custom_jvp(lambda t: t * 2.0)
    f.defjvp(lambda primals, tangents: (primals[0] * 2.0, tangents[0] * 3.0))
    with pytest.raises(AssertionError, match="disagree"):
        check_grads(f, (np.array([1.0, 1e-310]),), modes=("fwd",))
