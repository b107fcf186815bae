"""functrans.Array: immutability, NumPy interop, printing, operators and methods."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import functrans as ft
import functrans.numpy as fnp
from functrans import errors


def test_fnp_returns_arrays_for_numpy_scalars_and_arrays():
    for x in (np.ones(3, np.float32), 2.0, ft.numpy.asarray([1.0, 2.0])):
        assert isinstance(fnp.sin(x), ft.Array)


def test_np_asarray_is_zero_copy_and_read_only():
    a = fnp.sin(np.arange(4, dtype=np.float64))
    v = np.asarray(a)
    assert np.shares_memory(v, np.asarray(a))
    assert v.dtype == np.float64  # float64 input stays float64
    with pytest.raises(ValueError):
        v[0] = 1.0


def test_writes_raise_and_point_to_at():
    a = fnp.ones(3)
    with pytest.raises(errors.ImmutableArrayError, match=r"\.at\[idx\]\.set"):
        a[0] = 2.0
    with pytest.raises(TypeError):  # also a TypeError, as in JAX
        a[0] = 2.0


def test_asarray_snapshots_callers_numpy_array():
    x = np.arange(3.0)
    a = fnp.asarray(x)
    x[0] = 100.0
    assert np.asarray(a)[0] == 0.0


@given(hnp.arrays(hnp.floating_dtypes(endianness="="), hnp.array_shapes(min_dims=0, max_dims=3),
                  elements=st.floats(-10, 10, width=16)))
def test_callers_arrays_are_never_written(x):
    before = x.copy()
    flags = x.flags.writeable
    fnp.sin(x), fnp.reshape(x, (-1,)), fnp.transpose(x), fnp.sum(x), x + fnp.asarray(x)
    fnp.expand_dims(x, 0), fnp.squeeze(x), fnp.broadcast_to(x, (2, *x.shape))
    np.testing.assert_array_equal(x, before)
    assert x.flags.writeable == flags


def test_views_of_callers_arrays_are_copied():
    x = np.arange(6.0)
    y = fnp.reshape(x, (2, 3))          # NumPy would return a view
    b = fnp.broadcast_to(x, (2, 6))     # and a read-only broadcast view
    x[:] = -1
    assert np.asarray(y)[0, 0] == 0.0 and np.asarray(b)[1, 5] == 5.0


def test_repr_and_str_look_like_numpy():
    a = fnp.asarray(np.array([1.0, 2.5], np.float32))
    assert repr(a) == "Array([1. , 2.5], dtype=float32)"
    assert str(a) == "[1.  2.5]"
    assert repr(fnp.sin(0.0)) == "Array(0., dtype=float32, weak_type=True)"
    assert repr(fnp.zeros((2, 2), np.int8)) == "Array([[0, 0],\n       [0, 0]], dtype=int8)"
    assert f"{fnp.asarray(np.float32(1.5)):.2f}" == "1.50"


def test_attributes():
    a = fnp.zeros((2, 3), np.float64)
    assert (a.shape, a.dtype, a.ndim, a.size, a.nbytes) == ((2, 3), np.float64, 2, 6, 48)
    assert a.T.shape == (3, 2) and a.mT.shape == (3, 2)
    assert a.device == "cpu" and a.block_until_ready() is a
    assert len(a) == 2
    with pytest.raises(TypeError):
        len(fnp.zeros(()))
    with pytest.raises(TypeError, match="unhashable"):
        hash(a)


def test_scalar_conversions():
    a = fnp.asarray(np.float32(2.5))
    assert float(a) == 2.5 and int(a) == 2 and complex(a) == 2.5 and bool(a)
    assert a.item() == 2.5 and fnp.asarray([1, 2]).tolist() == [1, 2]
    assert [0, 1, 2][fnp.asarray(np.int32(1))] == 1
    with pytest.raises(TypeError, match="integer"):
        [0, 1][fnp.asarray(np.float32(1))]


def test_copy_and_pickle_round_trip():
    a = fnp.asarray(np.arange(3, dtype=np.int16))
    assert copy.copy(a) is a and copy.deepcopy(a) is a
    b = pickle.loads(pickle.dumps(a))
    assert isinstance(b, ft.Array) and b.dtype == np.int16
    np.testing.assert_array_equal(b, a)


def test_iteration_yields_rows():
    rows = list(fnp.asarray(np.arange(6).reshape(3, 2)))
    assert len(rows) == 3 and all(isinstance(r, ft.Array) and r.shape == (2,) for r in rows)
    np.testing.assert_array_equal(rows[2], [4, 5])


OPERATORS = [
    ("+", lambda a, b: a + b), ("-", lambda a, b: a - b), ("*", lambda a, b: a * b),
    ("/", lambda a, b: a / b), ("//", lambda a, b: a // b), ("%", lambda a, b: a % b),
    ("**", lambda a, b: a ** b), ("<", lambda a, b: a < b), ("<=", lambda a, b: a <= b),
    ("==", lambda a, b: a == b), ("!=", lambda a, b: a != b), (">", lambda a, b: a > b),
    (">=", lambda a, b: a >= b),
]


@pytest.mark.parametrize("name,op", OPERATORS, ids=[o[0] for o in OPERATORS])
@given(data=st.data())
def test_operators_match_numpy(name, op, data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64]))
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    elems = st.integers(1, 5) if np.dtype(dtype).kind == "i" else st.floats(0.5, 3, width=32)
    a = data.draw(hnp.arrays(dtype, shape, elements=elems))
    b = data.draw(hnp.arrays(dtype, shape, elements=elems))
    want = op(a, b)
    want_dtype = want.dtype
    if name == "/" and np.dtype(dtype).kind == "i":
        want_dtype = np.dtype(np.float32)  # JAX's rule: integer division gives the default float
    for got in (op(fnp.asarray(a), fnp.asarray(b)), op(fnp.asarray(a), b), op(a, fnp.asarray(b))):
        assert isinstance(got, ft.Array)
        assert got.dtype == want_dtype, (name, got.dtype, want_dtype)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)


def test_python_scalars_are_weak_on_both_sides():
    a = fnp.ones(3, np.float16)
    for out in (a * 2.0, 2.0 * a, a + 1, 1 - a, a / 3, 2 ** a):
        assert out.dtype == np.float16
    i = fnp.ones(3, np.int8)
    assert (i + 1).dtype == np.int8 and (i * 2.5).dtype == np.float32
    assert (i + 1).weak_type is False and (fnp.asarray(2) + 1).weak_type is True


def test_unknown_operand_types_defer_to_python():
    a = fnp.ones(2)
    with pytest.raises(TypeError):
        a + "x"
    assert (a == "x") is False or isinstance(a == "x", bool)

    class Reflect:
        def __radd__(self, other):
            return "reflected"

    assert a + Reflect() == "reflected"


def test_numpy_binary_ops_defer_to_functrans():
    out = np.ones(3, np.float32) + fnp.ones(3)
    assert isinstance(out, ft.Array)


def test_methods_match_numpy():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) - 7.5
    a = fnp.asarray(x)
    pairs = [
        (a.sum(), x.sum()), (a.sum(axis=1), x.sum(axis=1)), (a.mean(axis=(0, 2)),
                                                            x.mean(axis=(0, 2))),
        (a.max(axis=-1, keepdims=True), x.max(axis=-1, keepdims=True)), (a.min(), x.min()),
        (a.prod(axis=0), x.prod(axis=0)), (a.std(axis=1), x.std(axis=1)),
        (a.var(ddof=1), x.var(ddof=1)), (a.argmax(axis=2), x.argmax(axis=2)),
        (a.argmin(), x.argmin()), (a.reshape(4, 6), x.reshape(4, 6)),
        (a.reshape((6, -1)), x.reshape((6, -1))), (a.transpose(2, 0, 1), x.transpose(2, 0, 1)),
        (a.transpose(), x.transpose()), (a.T, x.T), (a.astype(np.int32), x.astype(np.int32)),
        (a.squeeze(), x.squeeze()), (a.flatten(), x.flatten()), (a.ravel(), x.ravel()),
        (a.cumsum(axis=1), x.cumsum(axis=1)), (a.clip(-1, 2), x.clip(-1, 2)),
        (a.round(), x.round()), (a.any(), x.any()), (a.all(axis=0), x.all(axis=0)),
        (a.swapaxes(0, 2), x.swapaxes(0, 2)), (a[0].dot(a[1].T), x[0].dot(x[1].T)),
        (a.ptp(axis=1), np.ptp(x, axis=1)),
    ]
    for i, (got, want) in enumerate(pairs):
        assert isinstance(got, ft.Array), i
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, err_msg=str(i))
        if np.asarray(want).dtype.kind == "f":
            assert got.dtype == want.dtype, i


BASIC_INDICES = [
    0, -1, (1, 2), slice(None), slice(1, None), slice(None, None, -1), slice(3, 0, -2),
    (Ellipsis, 1), (None, 0), (slice(None), None, 2), (0, Ellipsis, None), (), Ellipsis,
    (slice(0, 0),), (-2, slice(None, None, 2), -1),
]


@pytest.mark.parametrize("idx", BASIC_INDICES, ids=repr)
def test_basic_indexing_matches_numpy(idx):
    x = np.arange(60).reshape(3, 4, 5)
    got = fnp.asarray(x)[idx]
    np.testing.assert_array_equal(np.asarray(got), x[idx])


def test_indexing_errors():
    a = fnp.zeros((2, 3))
    with pytest.raises(IndexError, match="out of bounds"):
        a[2]
    with pytest.raises(IndexError, match="too many indices"):
        a[0, 0, 0]


def test_avals_survive_pickling_with_a_fresh_hash():
    # ShapedArray caches its hash; dtype hashes differ between processes, so the cache must
    # not travel with a pickle (a loaded aval would be == but hash differently).
    from functrans.core import ShapedArray
    a = ShapedArray((2, 3), np.dtype(np.float32), True)
    hash(a)
    b = pickle.loads(pickle.dumps(a))
    assert b == a and b._hash is None and hash(b) == hash(a) and b in {a}
