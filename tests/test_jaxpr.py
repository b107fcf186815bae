"""make_jaxpr / eval_shape: golden printed text, constants, pytrees, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.ir import ClosedJaxpr, Eqn, Jaxpr, Var, eval_jaxpr, typecheck_jaxpr
from functrans.primitives.elementwise import sin_p

F32_3 = np.ones(3, np.float32)


def golden(fun, *args, **kwargs) -> str:
    return str(ft.make_jaxpr(fun, **kwargs)(*args))


def test_single_equation_prints_on_one_line():
    assert golden(fnp.sin, F32_3) == "{ lambda ; a:f32[3]. let b:f32[3] = sin a in (b,) }"


def test_identity_and_multiple_outputs():
    assert golden(lambda x: x, F32_3) == "{ lambda ; a:f32[3]. let  in (a,) }"
    assert golden(lambda x: (x, x + 1), F32_3) == (
        "{ lambda ; a:f32[3]. let b:f32[3] = add a 1.0:f32[] in (a, b) }")


def test_chain_prints_multiline_with_literals_and_sorted_params():
    def f(x):
        y = fnp.sin(x) * 1.01 + fnp.cos(x) * 0.5
        return fnp.sum(y, axis=0), y[1:]

    assert golden(f, np.ones((2, 3), np.float32)) == """\
{ lambda ; a:f32[2,3]. let
    b:f32[2,3] = sin a
    c:f32[2,3] = mul b 1.01:f32[]
    d:f32[2,3] = cos a
    e:f32[2,3] = mul d 0.5:f32[]
    f:f32[2,3] = add c e
    g:f32[3] = reduce_sum[axes=(0,)] f
    h:f32[1,3] = slice[limit_indices=(2, 3) start_indices=(1, 0) strides=None] f
  in (g, h) }"""


def test_captured_arrays_are_constvars_and_scalars_literals():
    c = np.arange(3, dtype=np.float32)
    closed = ft.make_jaxpr(lambda x: x * c + np.float32(2))(F32_3)
    assert str(closed) == (
        "{ lambda a:f32[3]; b:f32[3]. let\n"
        "    c:f32[3] = mul b a\n"
        "    d:f32[3] = add c 2.0:f32[]\n"
        "  in (d,) }")
    c[0] = 100.0  # the jaxpr holds a snapshot
    np.testing.assert_array_equal(closed.consts[0], [0.0, 1.0, 2.0])


def test_float64_is_kept_and_weak_scalars_do_not_promote():
    x64 = np.ones(2, np.float64)
    assert golden(lambda x: x * 2.0, x64) == (
        "{ lambda ; a:f64[2]. let b:f64[2] = mul a 2.0:f64[] in (b,) }")
    assert golden(lambda x: x + 1, np.ones(2, np.int8)) == (
        "{ lambda ; a:i8[2]. let b:i8[2] = add a 1:i8[] in (b,) }")


def test_names_continue_past_z():
    def f(x):
        for _ in range(30):
            x = fnp.sin(x)
        return x

    text = golden(f, F32_3)
    assert "ba:f32[3] = sin z" in text and "be:f32[3] = sin bd" in text


def test_nested_jaxprs_print_indented():
    inner = ft.make_jaxpr(fnp.cos)(F32_3)
    outer = ft.make_jaxpr(fnp.sin)(F32_3)
    (eqn,) = outer.jaxpr.eqns
    a, b = outer.jaxpr.invars[0], eqn.outvars[0]
    # A made-up call-like primitive that carries sub-programs in its params.
    eqn2 = Eqn(sin_p, [a], [b], {"branches": (inner, inner), "note": 1})
    text = str(Jaxpr([], [a], [b], [eqn2]))
    assert text == """\
{ lambda ; a:f32[3]. let
    b:f32[3] = sin[
      branches=(
        { lambda ; c:f32[3]. let d:f32[3] = cos c in (d,) }
        { lambda ; c:f32[3]. let d:f32[3] = cos c in (d,) }
      )
      note=1
    ] a
  in (b,) }"""


def test_pytree_arguments_kwargs_and_static_argnums():
    def f(params, x, *, scale, n):
        return {"y": params["w"] * x + params["b"] * scale, "n": x * n}

    params = {"w": F32_3, "b": np.float32(1.0)}
    closed = ft.make_jaxpr(f, static_argnums=())(params, F32_3, scale=F32_3, n=2.0)
    assert len(closed.jaxpr.invars) == 5  # params['b'], params['w'], x, n, scale
    closed, shapes = ft.make_jaxpr(lambda x, k: x * k, static_argnums=1,
                                   return_shape=True)(F32_3, 3)
    assert "mul a 3.0:f32[]" in str(closed)
    assert shapes == ft.ShapeDtypeStruct((3,), np.float32)


def test_shape_dtype_struct_inputs_and_eval_shape():
    spec = ft.ShapeDtypeStruct((2, 5), np.float64)
    out = ft.eval_shape(lambda x: (fnp.sum(x, axis=1), x.T, x.astype(np.int8)), spec)
    assert out == (ft.ShapeDtypeStruct((2,), np.float64), ft.ShapeDtypeStruct((5, 2),
                                                                               np.float64),
                   ft.ShapeDtypeStruct((2, 5), np.int8))
    assert "f64[2,5]" in golden(fnp.sin, spec)


def test_eval_jaxpr_and_typecheck_round_trip():
    def f(x, y):
        return fnp.tanh(x @ y) - fnp.mean(y)

    x, y = np.random.default_rng(0).normal(size=(2, 3, 3))
    closed = ft.make_jaxpr(f)(x, y)
    typecheck_jaxpr(closed.jaxpr)
    (got,) = eval_jaxpr(closed.jaxpr, closed.consts, x, y)
    np.testing.assert_allclose(got, np.tanh(x @ y) - y.mean(), rtol=1e-12)


def test_typecheck_catches_wrong_avals():
    closed = ft.make_jaxpr(fnp.sin)(F32_3)
    eqn = closed.jaxpr.eqns[0]
    eqn.outvars[0].aval = ft.ShapedArray((4,), np.dtype(np.float32))
    with pytest.raises(TypeError, match=r"abstract evaluation gives \['f32\[3\]'\]"):
        typecheck_jaxpr(closed.jaxpr)
    undefined = Var(ft.ShapedArray((3,), np.dtype(np.float32)))
    bad = Jaxpr([], [], [undefined], [])
    with pytest.raises(TypeError, match="used before definition"):
        typecheck_jaxpr(bad)


def test_outputs_must_be_arrays():
    with pytest.raises(TypeError, match=r"returned a value of type str at \[1\]"):
        ft.make_jaxpr(lambda x: (x, "no"))(F32_3)


def test_lax_wrappers_trace():
    def f(x):
        return lax.clamp(0.0, lax.integer_pow(x, 3), 1.0)

    assert "integer_pow[y=3] a" in golden(f, F32_3)


def test_two_threads_trace_independently():
    results: dict[int, ClosedJaxpr] = {}
    barrier = threading.Barrier(2)

    def work(i: int) -> None:
        def f(x):
            barrier.wait()  # both traces are live at the same time
            for _ in range(50):
                x = fnp.sin(x) if i == 0 else fnp.cos(x)
            return x

        results[i] = ft.make_jaxpr(f)(F32_3)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {e.prim.name for e in results[0].eqns} == {"sin"}
    assert {e.prim.name for e in results[1].eqns} == {"cos"}
    assert ft.core.current_trace() is None
