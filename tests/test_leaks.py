"""Tracer-leak checking: ``ft.checking_leaks()``, ``config.check_tracer_leaks``, and the pytest
plugin's ``--functrans-check-leaks``. A leak is reported with its type, its transform, the
line that created it and who holds it; ordinary transforms report nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import errors, lax

pytest_plugins = ["pytester"]

_CACHE: list = []


def _stores_globally(x):
    y = fnp.sin(x) * 2.0
    _CACHE.append(y)
    return fnp.sum(y)


_STORE_LINE = _stores_globally.__code__.co_firstlineno + 1


@pytest.mark.parametrize("transform", [ft.grad, ft.vmap, ft.jit, ft.jacrev])
def test_global_list_is_named_with_the_line_that_created_the_tracer(transform):
    x = np.linspace(0.1, 1.0, 3)
    try:
        with pytest.raises(errors.LeakedTracerError) as info:
            with ft.checking_leaks():
                transform(_stores_globally)(x)
    finally:
        _CACHE.clear()
    msg = str(info.value)
    assert isinstance(info.value, errors.UnexpectedTracerError)
    assert "1 tracer outlived" in msg
    assert f"global `_CACHE[0]` of module `{__name__}`" in msg
    assert f"created at {__file__}:{_STORE_LINE}" in msg
    per_example = "f64[]" if transform is ft.vmap else "f64[3]"
    assert f"a {per_example} tracer of " in msg and "_stores_globally" in msg
    assert "Return the value from the function" in msg


class Model:
    def loss(self, x):
        self.last = fnp.tanh(x)
        return fnp.sum(self.last)


def test_attribute_of_an_object_is_named():
    model = Model()
    with pytest.raises(errors.LeakedTracerError, match=r"local variable `model\.last` of "
                                                       r"running function `test_attribute"):
        with ft.checking_leaks():
            ft.grad(model.loss)(np.ones(2))


def test_closure_variable_is_named():
    def make():
        box = None

        def f(x):
            nonlocal box
            box = x * 3.0
            return fnp.sum(box)
        return f

    f = make()
    with pytest.raises(errors.LeakedTracerError,
                       match=r"variable `box` that function `.*make.<locals>.f` .* closes over"):
        with ft.checking_leaks():
            ft.vmap(f)(np.ones((2, 3)))


@settings(max_examples=15)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_leak_reports_the_per_example_type_under_vmap(shape):
    kept = {}

    def f(x):
        kept["y"] = fnp.exp(x)
        return x

    with pytest.raises(errors.LeakedTracerError) as info:
        with ft.checking_leaks():
            ft.vmap(f)(np.zeros((2, *shape), np.float32))
    assert f"a f32[{','.join(map(str, shape))}] tracer of vmap" in str(info.value)
    assert "local variable `kept['y']`" in str(info.value)


def test_ordinary_transforms_leak_nothing():
    x = np.linspace(0.1, 1.0, 4)

    @ft.custom_vjp
    def clip_grad(v):
        return fnp.sin(v)

    clip_grad.defvjp(lambda v: (fnp.sin(v), fnp.cos(v)),
                     lambda res, g: (fnp.clip(g * res, -1.0, 1.0),))

    def body(c, v):
        return c * v + 1.0, fnp.sin(c)

    def f(v):
        c, ys = lax.scan(body, 0.5, v)
        w = lax.cond(c > 0, lambda u: u * 2.0, lambda u: -u, v)
        w = ft.checkpoint(lambda u: fnp.tanh(u) * u)(w)
        n = lax.while_loop(lambda s: s[0] < 3, lambda s: (s[0] + 1, s[1] * 0.9), (0, c))[1]
        return fnp.sum(clip_grad(w) * ys) + n

    with ft.checking_leaks():
        ft.grad(f)(x)
        ft.jit(ft.grad(f))(x)
        ft.vmap(ft.grad(f))(np.stack([x, x + 1.0]))
        ft.jacrev(lambda v: fnp.sin(v) * v)(x)
        ft.hessian(lambda v: fnp.sum(v ** 3))(x)
        ft.jvp(f, (x,), (x,))
        ft.vjp(f, x)[1](np.float64(1.0))
        ft.make_jaxpr(ft.grad(f))(x)
        ft.jit(lambda v: ft.vmap(fnp.outer, (0, None))(v[:, None], v))(x)


def test_tracers_kept_by_an_error_are_not_leaks():
    with ft.checking_leaks():
        with pytest.raises(errors.ConcretizationTypeError) as info:
            ft.jit(lambda v: v if v > 0 else -v)(1.0)
    assert info.value.__traceback__ is not None  # still alive, frames and tracers with it


def test_each_leak_is_reported_once_and_not_before_checking():
    with pytest.raises(errors.LeakedTracerError):
        with ft.checking_leaks():
            ft.grad(_stores_globally)(np.ones(3))
    with ft.checking_leaks():  # the same leak, still alive: reported already
        pass
    with ft.config.check_tracer_leaks(False):  # not checking: not recorded
        ft.grad(_stores_globally)(np.ones(3))
    with ft.checking_leaks():
        pass
    _CACHE.clear()


def test_the_config_option_records_and_check_reports():
    try:
        with ft.config.check_tracer_leaks(True):
            ft.jit(_stores_globally)(np.ones(3))
        with pytest.raises(errors.LeakedTracerError, match="_CACHE"):
            ft.leaks.check()
    finally:
        _CACHE.clear()


def test_environment_variable_turns_recording_on():
    code = textwrap.dedent("""
        import numpy as np, functrans as ft
        kept = []
        ft.grad(lambda x: (kept.append(x * 2.0), (x * x).sum())[1])(np.ones(2))
        try:
            ft.leaks.check()
        except ft.errors.LeakedTracerError as e:
            print(e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**_env(), "FUNCTRANS_CHECK_TRACER_LEAKS": "1"})
    assert "global `kept[0]` of module `__main__`" in out.stdout


def _env() -> dict:
    import os
    return {k: v for k, v in os.environ.items() if k != "FUNCTRANS_CHECK_TRACER_LEAKS"}


_PLUGIN_TESTS = """
    import numpy as np, pytest, functrans as ft
    cache = []

    def leaky(x):
        cache.append(x * 2.0)
        return (x * x).sum()

    def test_clean():
        ft.grad(lambda x: (x * x).sum())(np.ones(3))

    def test_leaks():
        ft.grad(leaky)(np.ones(3))

    @pytest.mark.allow_tracer_leaks
    def test_leaks_on_purpose():
        ft.grad(leaky)(np.ones(3))

    def test_fails_and_leaks():
        ft.grad(leaky)(np.ones(3))
        assert False
"""


def test_pytest_option_fails_leaking_tests_at_teardown(pytester):
    pytester.makepyfile(_PLUGIN_TESTS)
    result = pytester.runpytest("-p", "functrans.testing.plugin", "--functrans-check-leaks")
    result.assert_outcomes(passed=3, failed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_leaks*",
        "*functrans leak check: 1 tracer outlived*",
        "*held by global `cache[[]*[]]` of module `test_pytest_option_fails_leaking_tests*`*",
    ])
    assert "teardown of test_leaks_on_purpose" not in result.stdout.str()


def test_pytest_ini_option_and_default_off(pytester, monkeypatch):
    monkeypatch.delenv("FUNCTRANS_CHECK_TRACER_LEAKS", raising=False)  # tests/conftest.py's
    pytester.makepyfile(_PLUGIN_TESTS)
    result = pytester.runpytest("-p", "functrans.testing.plugin")
    result.assert_outcomes(passed=3, failed=1)
    pytester.makeini("[pytest]\nfunctrans_check_leaks = true\n")
    result = pytester.runpytest("-p", "functrans.testing.plugin")
    result.assert_outcomes(passed=3, failed=1, errors=1)
