"""Eager fast paths (promotion shortcuts, memoized NumPy avals, Array operands in
``eval_primitive``) give exactly what the general path gives: the same values, dtypes, weak
types and errors. The general path is the traced one (``eval_shape`` / ``jit``), which never
takes the eager shortcuts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import core
from functrans.errors import DtypeError, ShapeError

DTYPES = ("bool", "int8", "int32", "uint8", "float16", "float32", "float64", "complex64")
BINARY = (fnp.add, fnp.multiply, fnp.subtract, fnp.true_divide, fnp.maximum)
UNARY = (fnp.sin, fnp.tanh, fnp.negative, fnp.sum, fnp.mean)


@st.composite
def operands(draw: st.DrawFn, shape: tuple[int, ...]) -> object:
    """An fnp operand of any accepted kind: strong or weak Array, ndarray, Python scalar."""
    kind = draw(st.sampled_from(["array", "weak", "ndarray", "int", "float", "bool"]))
    if kind == "int":
        return draw(st.integers(-5, 5))
    if kind == "float":
        return draw(st.floats(-3, 3, width=16))
    if kind == "bool":
        return draw(st.booleans())
    dtype = np.dtype("float32") if kind == "weak" else np.dtype(draw(st.sampled_from(DTYPES)))
    value = (np.arange(np.prod(shape, dtype=int)).reshape(shape) % 3 + 1).astype(dtype)
    if kind == "ndarray":
        return value
    return core.Array(value, weak_type=kind == "weak")


def _outcome(fn, *args):
    """(dtype, weak_type, shape, value) of an eager call, or the exception type and text."""
    try:
        out = fn(*args)
    except Exception as e:  # noqa: BLE001 - the error itself is what is compared
        return type(e), str(e)
    aval = core.get_aval(out)
    return aval.dtype, aval.weak_type, aval.shape, np.asarray(out)


def _traced_outcome(fn, *args):
    """The same call traced; Python scalars stay Python scalars (closed over, not arguments,
    which eval_shape would turn into weakly typed arrays)."""
    traced = [i for i, a in enumerate(args) if type(a) not in (bool, int, float)]

    def call(*arrays):
        full = list(args)
        for i, a in zip(traced, arrays, strict=True):
            full[i] = a
        return fn(*full)

    try:
        out = ft.eval_shape(call, *[args[i] for i in traced])
    except Exception as e:  # noqa: BLE001
        return type(e), str(e)
    return out.dtype, out.weak_type, out.shape


@given(st.sampled_from(BINARY), st.sampled_from([(4,), (2, 3)]), st.data())
def test_binary_eager_matches_traced_types_and_numpy_values(fn, shape, data):
    x, y = data.draw(operands(shape)), data.draw(operands(shape))
    eager, traced = _outcome(fn, x, y), _traced_outcome(fn, x, y)
    if isinstance(eager[0], type):  # both raise the same error
        assert traced[0] is eager[0] and "functrans" in eager[1]
        return
    assert eager[:3] == traced
    with np.errstate(all="ignore"):
        want = getattr(np, fn.__name__)(np.asarray(x), np.asarray(y))
    np.testing.assert_allclose(eager[3].astype(complex), want.astype(complex), rtol=2e-3)


@given(st.sampled_from(UNARY), st.data())
def test_unary_eager_matches_traced_types(fn, data):
    x = data.draw(operands((2, 3)))
    eager, traced = _outcome(fn, x), _traced_outcome(fn, x)
    if isinstance(eager[0], type):
        assert traced[0] is eager[0]
        return
    assert eager[:3] == traced


@pytest.mark.parametrize("x", [core.Array(np.ones(3, np.float32)), np.ones(3, np.float32)])
def test_python_int_beyond_int64_still_raises(x):
    with pytest.raises(OverflowError, match="does not fit in int64"):
        fnp.add(x, 2**70)
    with pytest.raises(OverflowError, match="does not fit in int64"):
        fnp.multiply(2**70, x)


def test_subtract_of_booleans_and_unsupported_dtypes_keep_their_errors():
    b = core.Array(np.ones(3, bool))
    with pytest.raises(DtypeError, match="not defined for boolean"):
        fnp.subtract(b, b)
    with pytest.raises(DtypeError, match="not defined for boolean"):
        fnp.negative(np.ones(3, bool))
    with pytest.raises(TypeError, match="not supported"):
        fnp.sin(np.ones(3, np.dtype(">f4")))
    with pytest.raises(TypeError, match="not supported"):
        fnp.multiply(np.ones(3, np.dtype(">f4")), np.ones(3, np.dtype(">f4")))


def test_numpy_operands_share_one_aval_per_shape_and_dtype():
    a, b = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)
    assert core.get_aval(a) is core.get_aval(b)
    assert core.get_aval(a) == core.ShapedArray((2, 3), np.dtype(np.float32))
    assert core.get_aval(np.float64(1.0)) == core.ShapedArray((), np.dtype(np.float64))
    assert core.get_aval(a) is not core.get_aval(a.astype(np.float64))


def test_results_never_alias_writable_operands():
    x = np.ones(4, np.float32)
    for out in (fnp.sin(x), x * core.Array(x), fnp.reshape(x, (2, 2)), fnp.sum(x)):
        assert not np.asarray(out).flags.writeable
        assert not np.shares_memory(np.asarray(out), x)


@pytest.mark.parametrize("new", [(2, -1), (-1,), (4, 1, 3), 12])
def test_reshape_sizes_as_numpy(new):
    x = fnp.arange(12).reshape(3, 4)
    assert fnp.reshape(x, new).shape == np.arange(12).reshape(new).shape


@pytest.mark.parametrize("new,match", [((5, -1), "cannot reshape"), ((-1, -1), "one unknown"),
                                       ((0, -1), "cannot reshape"), ((2, 7), "(14 elements)")])
def test_reshape_errors_unchanged(new, match):
    with pytest.raises((ShapeError, ValueError), match=match):
        fnp.reshape(fnp.arange(12), new)


@given(st.integers(-6, 6) | st.none(), st.integers(-6, 6) | st.none(),
       st.sampled_from([None, 1, 2, -1, -3]))
def test_slices_match_numpy(start, stop, step):
    x = np.arange(5, dtype=np.float32)
    got = core.Array(x)[start:stop:step]
    np.testing.assert_array_equal(np.asarray(got), x[start:stop:step])
