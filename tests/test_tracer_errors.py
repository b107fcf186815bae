"""Tracer misuse: typed errors whose messages name the operation, the argument, the user's
line and the fix; escaped tracers; traceback filtering."""

from __future__ import annotations

import traceback

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import config, errors

X = np.ones(3, np.float32)


def _line_of(fun, text: str) -> int:
    import inspect
    lines, start = inspect.getsourcelines(fun)
    return start + next(i for i, line in enumerate(lines) if text in line)


def test_if_on_traced_value():
    def f(x, y):
        z = fnp.sin(x)
        if z.sum() > 0:  # the offending line
            return z
        return y

    with pytest.raises(errors.TracerBoolConversionError) as info:
        ft.make_jaxpr(f)(X, X)
    msg = str(info.value)
    assert isinstance(info.value, TypeError) and isinstance(info.value, errors.FunctransError)
    assert "an `if`, `while`" in msg and "traced bool[]" in msg
    assert f"test_tracer_errors.py:{_line_of(f, 'the offending line')} (f)" in msg
    assert "depends on argument x (f32[3])" in msg and "y (" not in msg.split("Fix")[0]
    assert "lax.cond" in msg and "fnp.where" not in msg and "numpy.where" in msg
    assert "static" in msg


def test_int_of_traced_value_names_kwarg_and_pytree_path():
    def f(params, *, n):
        return fnp.zeros(int(params["w"][0] * n))

    with pytest.raises(errors.TracerIntegerConversionError) as info:
        ft.make_jaxpr(f)({"w": X, "b": X}, n=2.0)
    msg = str(info.value)
    assert "int() needs a Python int" in msg
    assert "params['w'] (f32[3])" in msg and " n (f32[])" in msg
    assert "params['b']" not in msg
    assert "sizes, shapes and Python indices must be known at trace time" in msg


def test_index_with_traced_value():
    with pytest.raises(errors.TracerIntegerConversionError, match="an index or a size"):
        ft.make_jaxpr(lambda x: [1, 2, 3][x])(np.int32(1))


def test_float_and_numpy_conversion():
    with pytest.raises(errors.ConcretizationTypeError, match="float\\(\\) needs"):
        ft.make_jaxpr(lambda x: float(x))(np.float32(1))
    with pytest.raises(errors.TracerArrayConversionError) as info:
        ft.make_jaxpr(lambda x: np.sin(x))(X)
    msg = str(info.value)
    assert "passed to NumPy" in msg and "import functrans.numpy as fnp" in msg


def test_escaped_tracer_raises_on_next_use_and_says_where_it_was_created():
    leaked = []

    def f(x):
        leaked.append(x * 2)  # created here
        return x

    ft.make_jaxpr(f)(X)
    for use in (lambda t: fnp.sin(t), lambda t: t + 1, lambda t: bool(t[0]),
                lambda t: np.asarray(t), lambda t: ft.make_jaxpr(lambda y: y + t)(X)):
        with pytest.raises(errors.UnexpectedTracerError) as info:
            use(leaked[0])
        msg = str(info.value)
        assert f"created at {__file__}:{_line_of(f, 'created here')} (f)" in msg
        assert "escaped from make_jaxpr of" in msg and "Return the value" in msg


def test_tracebacks_hide_internal_frames_unless_disabled():
    def f(x):
        if x[0] > 0:
            return x
        return -x

    with pytest.raises(errors.TracerBoolConversionError) as info:
        ft.make_jaxpr(f)(X)
    files = [fr.filename for fr in traceback.extract_tb(info.value.__traceback__)]
    internal = [p for p in files if "/functrans/" in p and "errors.py" not in p]
    assert not internal, internal
    assert any("FUNCTRANS_TRACEBACK_FILTERING" in n for n in info.value.__notes__)
    with config.traceback_filtering(False):
        with pytest.raises(errors.TracerBoolConversionError) as info:
            ft.make_jaxpr(f)(X)
    files = [fr.filename for fr in traceback.extract_tb(info.value.__traceback__)]
    assert any("/functrans/core.py" in p for p in files)


def test_error_does_not_leave_trace_state_behind():
    with pytest.raises(errors.TracerBoolConversionError):
        ft.make_jaxpr(lambda x: x if x[0] else x)(X)
    assert ft.core.current_trace() is None
    assert float(fnp.sum(fnp.ones(3))) == 3.0


def test_shape_errors_name_operands():
    with pytest.raises(errors.ShapeError, match=r"shapes \(3, 4\) and \(4, 3\) do not broadcast"):
        fnp.add(np.ones((3, 4)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="cannot reshape"):
        fnp.reshape(np.ones(6), (4, -1))
    with pytest.raises(errors.ShapeError, match="contracted dimensions differ"):
        fnp.matmul(np.ones((2, 3)), np.ones((4, 5)))
