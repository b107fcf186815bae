"""functrans.debug (print, callback, breakpoint) under every transform, and debug_nans in
eager mode."""

from __future__ import annotations

import io
import pdb  # noqa: T100

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import debug


def _f(x):
    ft.debug.print("x={x} s={s:.2f}", x=x, s=fnp.sum(x))
    return fnp.sum(fnp.sin(x) * x)


TRANSFORMS = {
    "eager": lambda f: f,
    "jit": ft.jit,
    "grad": ft.grad,
    "jit_grad": lambda f: ft.jit(ft.grad(f)),
    "grad_jit": lambda f: ft.grad(ft.jit(f)),
    "jvp": lambda f: (lambda x: ft.jvp(f, (x,), (fnp.ones_like(x),))),
    "linearize": lambda f: (lambda x: ft.linearize(f, x)[1](fnp.ones_like(x))),
    "vjp": lambda f: (lambda x: ft.vjp(f, x)[1](fnp.ones(()))),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_print_shows_primal_values_once(name, capsys):
    x = np.array([0.5, 1.5], np.float32)
    TRANSFORMS[name](_f)(x)
    assert capsys.readouterr().out == "x=[0.5 1.5] s=2.00\n"


@pytest.mark.parametrize("wrap", [lambda f: f, ft.jit], ids=["eager", "jit"])
def test_print_under_vmap_prints_each_example_in_order(wrap, capsys):
    xs = np.arange(6.0).reshape(3, 2)
    wrap(ft.vmap(ft.grad(_f)))(xs)
    assert capsys.readouterr().out.splitlines() == [
        "x=[0. 1.] s=1.00", "x=[2. 3.] s=5.00", "x=[4. 5.] s=9.00"]


def test_print_under_nested_vmap_with_unbatched_operand(capsys):
    def f(x, y):
        ft.debug.print("{} {}", x, y)
        return x + y

    ft.vmap(ft.vmap(f, in_axes=(0, None)), in_axes=(None, 0))(np.array([1, 2]), np.array([10, 20]))
    assert capsys.readouterr().out.split("\n")[:-1] == ["1 10", "2 10", "1 20", "2 20"]


def test_print_survives_dce_and_keeps_program_order(capsys):
    @ft.jit
    def f(x):
        ft.debug.print("first {}", x)
        y = x * 2  # the print's result is unused, but it must still run
        ft.debug.print("second {}", y)
        return x

    f(np.float32(1.0))
    assert capsys.readouterr().out == "first 1.0\nsecond 2.0\n"
    assert f.lower(np.float32(1.0)).as_text().count("k1(") + 0 >= 0
    assert str(ft.make_jaxpr(f)(1.0)).count("debug_callback") == 2


def test_format_string_is_never_spliced_into_generated_source(capsys):
    fmt = "{x}\"); import os; os.system('echo pwned'); print(\"{x}"

    @ft.jit
    def f(x):
        ft.debug.print(fmt, x=x)
        return x

    f(np.float32(3.0))
    assert capsys.readouterr().out == fmt.format(x=np.float32(3.0)) + "\n"
    assert "pwned" not in f.lower(np.float32(3.0)).as_text()


def test_callback_receives_pytrees_and_static_values():
    seen = []

    def cb(tree, tag):
        seen.append((tag, {k: np.array(v) for k, v in tree.items()}))

    @ft.jit
    def f(x):
        ft.debug.callback(cb, {"a": x, "b": x + 1}, "tag")
        return x

    f(np.arange(3.0))
    assert seen[0][0] == "tag"
    np.testing.assert_array_equal(seen[0][1]["b"], [1.0, 2.0, 3.0])


def test_callback_cannot_write_program_values():
    def cb(v):
        v[0] = 99.0

    x = np.zeros(2)
    with pytest.raises(ValueError, match="read-only"):
        ft.jit(lambda x: ft.debug.callback(cb, x) or x)(x)
    assert x[0] == 0.0


def test_print_rejects_non_string_format():
    with pytest.raises(TypeError, match="format must be a str"):
        ft.debug.print(3, 4)


def test_breakpoint_makes_traced_locals_concrete(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(debug, "_debugger",
                        lambda: pdb.Pdb(stdin=io.StringIO("p y.sum()\np z\nc\n"), stdout=out))

    def f(x):
        y = fnp.sin(x) * 0 + 2
        z = "static"  # noqa: F841  (read in the debugger)
        ft.debug.breakpoint()
        return fnp.sum(y)

    ft.jit(ft.grad(f))(np.ones(3, np.float32))
    text = out.getvalue()
    assert "6.0" in text and "'static'" in text


def test_debug_nans_eager_names_primitive_and_line():
    x = fnp.array([1.0, -1.0])
    with ft.config.debug_nans(True):
        with pytest.raises(FloatingPointError, match=r"'log'.*test_debug.py:\d+"):
            fnp.log(x)
        # NaNs already present in the input are not blamed on the next primitive.
        fnp.add(fnp.array([np.nan]), 1.0)
    assert np.isnan(np.asarray(fnp.log(x))[1])  # off again: NumPy semantics


def test_debug_nans_in_grad_names_the_backward_primitive():
    def f(x):
        return fnp.sum(fnp.sqrt(x) * 0.0)

    # d/dx sqrt at 0 is inf; times the zero cotangent gives NaN in the backward pass.
    with ft.config.debug_nans(True), pytest.raises(FloatingPointError, match="produced a NaN"):
        ft.grad(f)(fnp.array([0.0, 1.0]))


def test_effects_inside_a_nested_jit_survive_when_its_result_is_unused(capsys):
    inner = ft.jit(lambda x: (ft.debug.print("inner {}", x), x * 2)[1])

    @ft.jit
    def outer(x):
        inner(x)  # result unused: the call must not be dead-code eliminated
        return x + 1

    outer(np.float32(4.0))
    assert capsys.readouterr().out == "inner 4.0\n"
