"""Structural and slicing primitives (structural.py, slicing.py) against NumPy oracles.

Every primitive's samples are checked for abstract_eval/impl agreement and eager/jaxpr
agreement; hypothesis draws shapes and params (0-d and empty included) and compares with NumPy
code written independently of the impls; every abstract_eval error is checked by its message.
The last section differentiates through the family end to end against hand-derived adjoints.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import functrans as ft
from functrans import core, ir
from functrans import dtypes as dt
from functrans.api import make_jaxpr
from functrans.core import ShapedArray
from functrans.errors import DtypeError, ShapeError
from functrans import lax as S  # structural.py and slicing.py, re-exported by lax
from functrans.primitives import rules
from functrans.primitives.registry import all_primitives, get_primitive

PRIMS = [p for p in all_primitives() if p.family == "structural"]
CASES = [(p, d, ex) for p in PRIMS for d in sorted(p.dtypes, key=str) for ex in p.sample(d)]
SETTINGS = settings(max_examples=60, deadline=None)
DTYPES = st.sampled_from([dt.float32, dt.int8, dt.bool_, dt.complex64, dt.uint16])


def val(x):
    return np.asarray(x)


def sa(shape, dtype=dt.float32):
    return ShapedArray(tuple(shape), np.dtype(dtype))


def filled(shape, dtype=dt.float32):
    """Distinct values (as far as the dtype allows), so a moved element is noticed."""
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape).astype(dtype)


def check_case(prim, ex):
    """abstract_eval = impl (shape, dtype); eager bind = impl; staged jaxpr = eager."""
    args = [np.asarray(a) for a in ex.args]
    before = [a.copy() for a in args]
    out = prim.abstract_eval(*map(core.get_aval, args), **ex.params)
    ref = prim.impl(*args, **ex.params)
    outs, refs = (out, ref) if prim.multiple_results else ([out], [ref])
    assert len(outs) == len(refs)
    for a, r in zip(outs, refs, strict=True):
        assert type(r) is np.ndarray
        assert (a.shape, a.dtype) == (r.shape, r.dtype)
    for a, b in zip(args, before, strict=True):
        np.testing.assert_array_equal(a, b)  # impl never writes into its inputs
    eager = prim.bind(*args, **ex.params)
    eager = eager if prim.multiple_results else [eager]
    closed = make_jaxpr(lambda *xs: prim.bind(*xs, **ex.params))(*args)
    ir.typecheck_jaxpr(closed.jaxpr)
    staged = ir.eval_closed_jaxpr(closed, *args)
    staged = staged if prim.multiple_results else staged[:1]
    for r, e, s, a in zip(refs, eager, staged, outs, strict=True):
        np.testing.assert_array_equal(val(e), r)
        np.testing.assert_array_equal(val(s), r)
        assert e.aval == a


@pytest.mark.parametrize(
    "prim,dtype,ex", CASES, ids=[f"{p.name}-{d.name}-{ex.label()}" for p, d, ex in CASES])
def test_samples(prim, dtype, ex):
    check_case(prim, ex)


def test_every_primitive_is_sampled_with_zero_d_and_empty():
    names = {p.name for p in PRIMS}
    assert names == {"broadcast_in_dim", "reshape", "transpose", "squeeze", "expand_dims",
                     "rev", "pad", "concatenate", "split", "slice", "dynamic_slice",
                     "dynamic_update_slice", "iota"}
    for p in PRIMS:
        exs = p.sample(dt.float32)
        assert 1 <= len(exs) <= 12
        if p.name != "iota":
            assert any(np.ndim(ex.args[0]) == 0 for ex in exs) or p.name in (
                "concatenate", "split"), p  # these two need rank >= 1
            assert any(np.size(ex.args[0]) == 0 for ex in exs), p
        else:
            assert any(0 in ex.params["shape"] for ex in exs)
    assert S.iota_p.dtypes == frozenset(dt.NUMERIC)
    assert all(p.dtypes == frozenset(dt.ALL) for p in PRIMS if p is not S.iota_p)


# --- hypothesis: impl/wrappers against NumPy ----------------------------------------------------

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


@st.composite
def broadcast_cases(draw):
    out = draw(shapes)
    dims = sorted(draw(st.sets(st.integers(0, max(len(out) - 1, 0)), max_size=len(out)))
                  ) if out else []
    in_shape = tuple(draw(st.sampled_from([1, out[d]])) for d in dims)
    return in_shape, out, tuple(dims)


@SETTINGS
@given(broadcast_cases(), DTYPES)
def test_broadcast_in_dim(case, dtype):
    in_shape, out, dims = case
    x = filled(in_shape, dtype)
    # Oracle: put the operand's axes where dims say, size-1 axes elsewhere, then broadcast.
    view = x.reshape([in_shape[dims.index(i)] if i in dims else 1 for i in range(len(out))])
    got = S.broadcast_in_dim(x, out, dims)
    assert got.shape == out and got.dtype == dtype
    np.testing.assert_array_equal(val(got), np.broadcast_to(view, out))


@SETTINGS
@given(shapes, st.data())
def test_reshape(shape, data):
    x = filled(shape)
    n = x.size
    new = data.draw(st.sampled_from([(n,), (1, n), (n, 1), (n, 1, 1), shape[::-1]]))
    np.testing.assert_array_equal(val(S.reshape(x, new)), np.reshape(x, new))
    perm = data.draw(st.permutations(range(len(shape))))
    np.testing.assert_array_equal(val(S.reshape(x, (n,), perm)),
                                  np.transpose(x, perm).ravel())


@SETTINGS
@given(shapes, st.data())
def test_transpose(shape, data):
    x = filled(shape)
    perm = data.draw(st.permutations(range(len(shape))))
    np.testing.assert_array_equal(val(S.transpose(x, perm)), np.transpose(x, perm))
    neg = [p - len(shape) for p in perm]
    np.testing.assert_array_equal(val(S.transpose(x, neg)), np.transpose(x, perm))


@SETTINGS
@given(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=2), st.data())
def test_squeeze_and_expand_dims(shape, data):
    x = filled(shape)
    ones = [i for i, s in enumerate(shape) if s == 1]
    dims = data.draw(st.lists(st.sampled_from(ones), unique=True) if ones else st.just([]))
    np.testing.assert_array_equal(val(S.squeeze(x, dims)), np.squeeze(x, tuple(dims)))
    neg = [d - len(shape) for d in dims]
    assert S.squeeze(x, neg).shape == np.squeeze(x, tuple(dims)).shape
    out_rank = len(shape) + data.draw(st.integers(0, 3))
    count = out_rank - len(shape)
    new = data.draw(st.lists(st.integers(-out_rank, out_rank - 1), min_size=count,
                             max_size=count, unique_by=lambda a: a % out_rank)) if count else []
    np.testing.assert_array_equal(val(S.expand_dims(x, new)), np.expand_dims(x, tuple(new)))


@SETTINGS
@given(shapes, st.data())
def test_rev(shape, data):
    x = filled(shape)
    dims = data.draw(st.lists(st.integers(0, len(shape) - 1), unique=True)) if shape else []
    np.testing.assert_array_equal(val(S.rev(x, dims)), np.flip(x, tuple(dims)))


def pad_oracle(x, value, config):
    """Interior padding by strided assignment, then positive edge padding by concatenation,
    then negative edge padding by cropping."""
    out = x
    for axis, (lo, hi, interior) in enumerate(config):
        size = out.shape[axis]
        shape = list(out.shape)
        shape[axis] = size + max(size - 1, 0) * interior
        spread = np.full(shape, value, x.dtype)
        idx = [slice(None)] * out.ndim
        idx[axis] = slice(None, None, interior + 1)
        spread[tuple(idx)] = out
        for amount, front in ((lo, True), (hi, False)):  # grow first ...
            shape = list(spread.shape)
            shape[axis] = max(amount, 0)
            extra = np.full(shape, value, x.dtype)
            spread = np.concatenate([extra, spread] if front else [spread, extra], axis=axis)
        n = spread.shape[axis]
        idx = [slice(None)] * out.ndim
        idx[axis] = slice(max(-lo, 0), n - max(-hi, 0))  # ... then crop
        spread = spread[tuple(idx)]
        out = spread
    return out


@st.composite
def pad_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    config = []
    for size in shape:
        interior = draw(st.integers(0, 3))
        full = size + max(size - 1, 0) * interior
        lo = draw(st.integers(-full - 2, 3))
        # Keep the result size >= 0 (hi may crop the rest of the dimension, but no more).
        hi = draw(st.integers(min(-(full + lo), 3), 3))
        config.append((lo, hi, interior))
    return shape, tuple(config)


@SETTINGS
@given(pad_cases(), DTYPES)
def test_pad(case, dtype):
    shape, config = case
    x = filled(shape, dtype)
    value = np.asarray(7, dtype) if dtype != dt.bool_ else np.asarray(True)
    got = S.pad(x, value, config)
    want = pad_oracle(x, value, config)
    assert got.shape == want.shape and got.dtype == dtype
    np.testing.assert_array_equal(val(got), want)


@SETTINGS
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3), st.data())
def test_concatenate_and_split(shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=4))
    parts = []
    for k, s in enumerate(sizes):
        part_shape = list(shape)
        part_shape[axis] = s
        parts.append(filled(part_shape) + 100 * k)
    got = S.concatenate(parts, axis)
    want = np.concatenate(parts, axis)
    np.testing.assert_array_equal(val(got), want)
    pieces = S.split(want, sizes, axis)
    assert len(pieces) == len(sizes)
    for piece, part in zip(pieces, parts, strict=True):
        np.testing.assert_array_equal(val(piece), part)


@st.composite
def slice_cases(draw):
    shape = draw(shapes)
    start, limit, strides = [], [], []
    for size in shape:
        lo = draw(st.integers(0, size))
        start.append(lo)
        limit.append(draw(st.integers(lo, size)))
        strides.append(draw(st.integers(1, 4)))
    return shape, tuple(start), tuple(limit), tuple(strides)


@SETTINGS
@given(slice_cases())
def test_slice(case):
    shape, start, limit, strides = case
    x = filled(shape)
    want = x[tuple(map(slice, start, limit, strides))]
    np.testing.assert_array_equal(val(S.slice_(x, start, limit, strides)), want)
    np.testing.assert_array_equal(val(S.slice_(x, start, limit)),
                                  x[tuple(map(slice, start, limit))])


def clamp_window(shape, starts, sizes):
    return tuple(slice(min(max(i, 0), d - s), min(max(i, 0), d - s) + s)
                 for i, d, s in zip(starts, shape, sizes, strict=True))


@st.composite
def dynamic_cases(draw):
    shape = draw(shapes)
    sizes = tuple(draw(st.integers(0, d)) for d in shape)
    starts = tuple(draw(st.integers(-6, 6)) for _ in shape)
    return shape, sizes, starts


@SETTINGS
@given(dynamic_cases(), st.sampled_from([dt.int32, dt.int8, dt.int64, dt.uint8]))
def test_dynamic_slice_primitive_clamps(case, index_dtype):
    shape, sizes, starts = case
    if index_dtype.kind == "u":
        starts = tuple(abs(s) for s in starts)
    x = filled(shape)
    idx = [np.asarray(s, index_dtype) for s in starts]
    want = x[clamp_window(shape, starts, sizes)]
    np.testing.assert_array_equal(val(S.dynamic_slice_p.bind(x, *idx, slice_sizes=sizes)), want)
    update = filled(sizes) + 1000
    out = x.copy()
    out[clamp_window(shape, starts, sizes)] = update
    got = S.dynamic_update_slice_p.bind(x, update, *idx)
    np.testing.assert_array_equal(val(got), out)


@SETTINGS
@given(dynamic_cases(), st.booleans())
def test_dynamic_wrappers_wrap_negative_indices(case, staged):
    shape, sizes, starts = case
    x = filled(shape)
    # lax semantics: a negative start counts from the end, then the window is clamped.
    wrapped = [s + d if s < 0 else s for s, d in zip(starts, shape, strict=True)]
    want = x[clamp_window(shape, wrapped, sizes)]
    if staged:  # traced index operands go through lt/add/select_n
        fn = make_jaxpr(lambda x, *i: S.dynamic_slice(x, i, sizes))
        args = [np.asarray(s, np.int32) for s in starts]
        got = ir.eval_closed_jaxpr(fn(x, *args), x, *args)[0]
    else:
        got = S.dynamic_slice(x, starts, sizes)
    np.testing.assert_array_equal(val(got), want)
    update = filled(sizes) + 1000
    out = x.copy()
    out[clamp_window(shape, wrapped, sizes)] = update
    np.testing.assert_array_equal(val(S.dynamic_update_slice(x, update, starts)), out)


@SETTINGS
@given(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4), st.data(),
       st.sampled_from(dt.NUMERIC))
def test_iota(shape, data, dtype):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    got = S.broadcasted_iota(dtype, shape, dim)
    want = np.indices(shape)[dim].astype(dtype) if shape else np.zeros(shape, dtype)
    assert got.dtype == dtype and not got.weak_type
    np.testing.assert_array_equal(val(got), want)


# --- exact values (lax's documented examples) ---------------------------------------------------


def test_documented_values():
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert val(S.dynamic_slice(x, (1, 1), (2, 3))).tolist() == [[5, 6, 7], [9, 10, 11]]
    assert val(S.dynamic_slice(x, (1, 1), (2, 4))).tolist() == [[4, 5, 6, 7], [8, 9, 10, 11]]
    z, y = np.zeros(6, np.float32), np.ones(3, np.float32)
    assert val(S.dynamic_update_slice(z, y, (2,))).tolist() == [0, 0, 1, 1, 1, 0]
    assert val(S.dynamic_update_slice(z, y, (5,))).tolist() == [0, 0, 0, 1, 1, 1]
    assert val(S.dynamic_update_index_in_dim(z, 1.0, 2, 0)).tolist() == [0, 0, 1, 0, 0, 0]
    assert val(S.dynamic_update_index_in_dim(z, y[:1], 10, 0)).tolist() == [0, 0, 0, 0, 0, 1]
    assert val(S.dynamic_update_slice_in_dim(np.zeros((4, 4), np.float32),
                                             np.ones((2, 3), np.float32), 1, axis=0)).tolist() \
        == [[0, 0, 0, 0], [1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]]
    assert val(S.slice_(x, (0, 0), (3, 4), (1, 2))).tolist() == [[0, 2], [4, 6], [8, 10]]
    assert val(S.slice_in_dim(x, 1, 3, axis=1)).tolist() == [[1, 2], [5, 6], [9, 10]]
    assert val(S.slice_in_dim(x, -2, None)).tolist() == [[4, 5, 6, 7], [8, 9, 10, 11]]
    assert val(S.index_in_dim(x, 1, axis=1, keepdims=False)).tolist() == [1, 5, 9]
    assert val(S.index_in_dim(x, -1)).tolist() == [[8, 9, 10, 11]]
    a5 = np.arange(5, dtype=np.int32)
    assert val(S.dynamic_slice_in_dim(a5, 4, 3)).tolist() == [2, 3, 4]
    assert val(S.dynamic_slice_in_dim(a5, -1, 1)).tolist() == [4]
    assert val(S.dynamic_index_in_dim(a5, 1, keepdims=False)).tolist() == 1
    assert val(S.dynamic_index_in_dim(x, 1, axis=1, keepdims=False)).tolist() == [1, 5, 9]
    assert val(S.pad(np.array([1, 2, 3], np.int32), np.int32(0), [(1, 2, 1)])).tolist() \
        == [0, 1, 0, 2, 0, 3, 0, 0]
    assert val(S.pad(np.array([1, 2, 3, 4], np.int32), -1, [(-1, 1, 0)])).tolist() \
        == [2, 3, 4, -1]
    assert val(S.collapse(np.zeros((2, 3, 4)), 0, 2)).shape == (6, 4)
    assert val(S.collapse(np.zeros((2, 3, 4)), 1)).shape == (2, 12)
    assert val(S.broadcast(a5, (2, 3))).shape == (2, 3, 5)
    assert val(S.iota(np.int8, 300))[-1] == np.int8(299 - 256)  # narrow ints wrap, as in XLA
    assert val(S.broadcasted_iota(np.float32, (2, 3), -1)).tolist() == [[0, 1, 2], [0, 1, 2]]
    assert val(S.rev(x, (-1,)))[0].tolist() == [3, 2, 1, 0]
    assert [val(p).tolist() for p in S.split(a5, (2, 0, 3))] == [[0, 1], [], [2, 3, 4]]


# --- wrappers: normalization, tracing, index dtypes ---------------------------------------------


def eqn_params(fn, *args):
    closed = make_jaxpr(fn)(*args)
    return [(e.prim.name, e.params) for e in closed.eqns]


def test_wrappers_normalize_params():
    x = np.zeros((2, 1, 3), np.float32)
    assert eqn_params(lambda x: S.squeeze(x, [-2]), x) == [("squeeze", {"dimensions": (1,)})]
    assert eqn_params(lambda x: S.rev(x, [2, -3]), x) == [("rev", {"dimensions": (0, 2)})]
    assert eqn_params(lambda x: S.expand_dims(x, [-1, 0]), x) == [
        ("expand_dims", {"dimensions": (0, 4)})]
    assert eqn_params(lambda x: S.reshape(x, np.array([3, 2]), (0, 1, 2)), x) == [
        ("reshape", {"new_sizes": (3, 2), "dimensions": None})]
    assert eqn_params(lambda x: S.slice_(x, [0, 0, 0], [2, 1, 3], [1, 1, 1]), x) == [
        ("slice", {"start_indices": (0, 0, 0), "limit_indices": (2, 1, 3), "strides": None})]
    assert eqn_params(lambda x: S.split(x, [1, 2], -1), x) == [
        ("split", {"sizes": (1, 2), "axis": 2})]
    assert eqn_params(lambda x: S.concatenate([x, x], -1), x) == [
        ("concatenate", {"dimension": 2})]
    assert eqn_params(lambda x: S.pad(x, 0.0, [[0, 0, 0], [1, 1, 0], [0, 0, 1]]), x) == [
        ("pad", {"padding_config": ((0, 0, 0), (1, 1, 0), (0, 0, 1))})]
    ((_, params),) = eqn_params(lambda: S.iota("float32", 3))
    assert params == {"dtype": dt.float32, "shape": (3,), "dimension": 0}
    assert all(type(v) is int for _, p in eqn_params(lambda x: S.transpose(x, (2, 1, 0)), x)
               for v in p["permutation"])


def test_results_are_immutable_copies_of_writable_inputs():
    x = np.arange(6, dtype=np.float32)
    views = [S.reshape(x, (2, 3)), S.rev(x, (0,)), S.slice_(x, (1,), (4,)),
             S.broadcast_in_dim(x, (2, 6), (1,)), S.expand_dims(x, (0,))]
    x[:] = -1
    assert val(views[0]).ravel().tolist() == [0, 1, 2, 3, 4, 5]
    assert val(views[1]).tolist() == [5, 4, 3, 2, 1, 0]
    assert val(views[2]).tolist() == [1, 2, 3]
    assert val(views[3])[1].tolist() == [0, 1, 2, 3, 4, 5]
    assert not val(views[4]).flags.writeable


def test_weak_types():
    weak = core.Array(np.zeros(3, np.float32), weak_type=True)
    strong = np.zeros(3, np.float32)
    assert S.reshape(weak, (3, 1)).weak_type
    assert S.dynamic_slice(weak, (1,), (1,)).weak_type
    assert not S.concatenate([weak, strong], 0).weak_type
    assert S.concatenate([weak, weak], 0).weak_type
    assert S.pad(weak, 0.0, [(1, 1, 0)]).weak_type  # a Python scalar padding value is weak
    assert not S.pad(weak, np.float32(0), [(1, 1, 0)]).weak_type
    assert not S.dynamic_update_slice(weak, strong[:1], (0,)).weak_type
    assert all(p.weak_type for p in S.split(weak, (1, 2)))


def test_pad_python_scalar_takes_operand_dtype():
    x16 = np.ones(2, np.float16)
    assert S.pad(x16, 0.5, [(1, 0, 0)]).dtype == dt.float16
    assert S.pad(np.ones(2, np.int8), 3, [(0, 1, 0)]).dtype == dt.int8
    with pytest.raises(DtypeError, match="same dtype"):
        S.pad(np.ones(2, np.int32), 0.5, [(1, 0, 0)])  # a float does not silently truncate


def test_dynamic_index_dtypes_are_joined():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    params = make_jaxpr(lambda x, i: S.dynamic_slice(x, (i, 2), (1, 1)))(x, np.int8(1))
    eqn = params.eqns[-1]
    assert [a.aval.dtype for a in eqn.invars[1:]] == [dt.int8, dt.int8]
    got = S.dynamic_slice(x, (np.int16(1), np.uint8(3)), (2, 1))  # NumPy scalars: like ints
    assert val(got).ravel().tolist() == [7, 11]
    i64 = S.dynamic_slice(x, (np.array(2, np.int64), np.array(0, np.int32)), (1, 4))
    assert val(i64).ravel().tolist() == [8, 9, 10, 11]
    # An index vector, concrete or traced, is split into scalars.
    assert val(S.dynamic_slice(x, np.array([1, -1]), (1, 1))).item() == 7
    closed = make_jaxpr(lambda x, i: S.dynamic_slice(x, i, (1, 1)))(x, np.array([1, -1]))
    assert val(ir.eval_closed_jaxpr(closed, x, np.array([2, -4]))[0]).item() == 8
    # A concrete index is wrapped in its own dtype, exactly as a traced one is.
    long = np.arange(200, dtype=np.float32)
    fn = make_jaxpr(lambda x, i: S.dynamic_slice(x, (i,), (1,)))(long, np.int8(-1))
    for i in (-1, -100, 5):
        eager = S.dynamic_slice(long, (np.array(i, np.int8),), (1,))
        staged = ir.eval_closed_jaxpr(fn, long, np.int8(i))[0]
        np.testing.assert_array_equal(val(eager), val(staged))
    # Unsigned indices are never negative, so they are not wrapped.
    assert val(S.dynamic_slice(x, (np.uint32(9), np.uint32(0)), (1, 1))).item() == 8


def test_allow_negative_indices_false_clamps_to_zero():
    x = np.arange(5, dtype=np.int32)
    assert val(S.dynamic_slice(x, (-1,), (2,), allow_negative_indices=False)).tolist() == [0, 1]
    assert val(S.dynamic_slice_in_dim(x, -1, 2, allow_negative_indices=False)).tolist() \
        == [0, 1]
    closed = make_jaxpr(
        lambda x, i: S.dynamic_slice(x, (i,), (1,), allow_negative_indices=[False]))(
        x, np.int32(-1))
    assert [e.prim.name for e in closed.eqns] == ["dynamic_slice"]
    with pytest.raises(ShapeError, match="one entry per dimension"):
        S.dynamic_slice(x, (0,), (1,), allow_negative_indices=[True, False])


def test_wrappers_trace_without_concrete_values():
    def f(x, i):
        y = S.broadcast(S.reshape(x, (3, 2)), (2,))
        y = S.pad(S.transpose(y, (0, 2, 1)), 0.0, [(0, 0, 0), (1, 0, 1), (0, 0, 0)])
        y = S.dynamic_update_index_in_dim(y, S.index_in_dim(y, 0, keepdims=False), i, 0)
        y = S.concatenate(S.split(y, (1, 1), 0)[::-1], 0)
        return S.dynamic_index_in_dim(S.collapse(y, 1), i, 1, keepdims=False)

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    closed = make_jaxpr(f)(x, np.int32(-1))
    ir.typecheck_jaxpr(closed.jaxpr)
    for i in (-1, 0, 5):
        staged = ir.eval_closed_jaxpr(closed, x, np.int32(i))[0]
        np.testing.assert_array_equal(val(staged), val(f(x, np.int32(i))))


def test_wrapper_errors():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ShapeError, match=r"squeeze: dimensions=-3 out of range .* rank 2"):
        S.squeeze(x, (-3,))
    with pytest.raises(ShapeError, match="expand_dims: dimensions=.* repeated"):
        S.expand_dims(x, (0, 0))
    with pytest.raises(TypeError, match="reshape: new_sizes must be a sequence of ints"):
        S.reshape(x, (2.0, 3))
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 2"):
        S.index_in_dim(x, 3)
    with pytest.raises(ShapeError, match="got 1 start indices for an operand of rank 2"):
        S.dynamic_slice(x, (0,), (1, 1))
    with pytest.raises(ShapeError, match="must be 1-d"):
        S.dynamic_slice(x, np.zeros((1, 2), np.int32), (1, 1))
    with pytest.raises(TypeError, match="needs at least one operand"):
        S.concatenate([], 0)
    with pytest.raises(ShapeError, match="rank 2 or 1"):
        S.dynamic_update_index_in_dim(x, np.float32(1), 0, 0)
    with pytest.raises(ShapeError, match="invalid dimension range"):
        S.collapse(x, 2, 1)


# --- abstract_eval error messages ---------------------------------------------------------------


def raises(exc, pattern, prim, *avals, **params):
    with pytest.raises(exc) as info:
        prim.abstract_eval(*avals, **params)
    assert str(info.value).startswith(f"functrans.lax.{prim.name}: ")
    assert re.search(pattern, str(info.value)), str(info.value)


def test_broadcast_in_dim_errors():
    p, x = S.broadcast_in_dim_p, sa((2, 3))
    raises(ShapeError, r"shape=\(2, -1\) must be non-negative", p, x, shape=(2, -1),
           broadcast_dimensions=(0, 1))
    raises(TypeError, "broadcast_dimensions must be a tuple of ints", p, x, shape=(2, 3),
           broadcast_dimensions=[0, 1])
    raises(ShapeError, r"broadcast_dimensions=\(0,\) needs one entry per dimension of the "
           r"operand f32\[2,3\]", p, x, shape=(2, 3), broadcast_dimensions=(0,))
    raises(ShapeError, r"out of range for an output of rank 2", p, x, shape=(2, 3),
           broadcast_dimensions=(0, 2))
    raises(ShapeError, "strictly increasing", p, x, shape=(3, 2), broadcast_dimensions=(1, 0))
    raises(ShapeError, r"\(1, 1\) must be strictly increasing", p, sa((1, 1)), shape=(2, 2),
           broadcast_dimensions=(1, 1))
    raises(ShapeError, r"cannot broadcast f32\[2,3\] to shape \(2, 4\): operand dimension 1 "
           r"\(size 3\) maps to output dimension 1 \(size 4\)", p, x, shape=(2, 4),
           broadcast_dimensions=(0, 1))


def test_reshape_transpose_errors():
    x = sa((2, 3))
    raises(ShapeError, r"cannot reshape f32\[2,3\] \(6 elements\) into shape \(4,\) "
           r"\(4 elements\)", S.reshape_p, x, new_sizes=(4,), dimensions=None)
    raises(ShapeError, "negative size.*accepts -1", S.reshape_p, x, new_sizes=(-1,),
           dimensions=None)
    raises(ShapeError, r"dimensions=\(0, 0\) is not a permutation of the 2 axes of "
           r"f32\[2,3\]", S.reshape_p, x, new_sizes=(6,), dimensions=(0, 0))
    raises(ShapeError, r"permutation=\(0,\) is not a permutation", S.transpose_p, x,
           permutation=(0,))
    raises(TypeError, "permutation must be a tuple of ints", S.transpose_p, x,
           permutation=None)


def test_squeeze_expand_rev_errors():
    x = sa((2, 1))
    raises(ShapeError, r"cannot squeeze dimension 0 of f32\[2,1\]: it has size 2, not 1",
           S.squeeze_p, x, dimensions=(0,))
    raises(ShapeError, r"dimensions=\(2,\) out of range", S.squeeze_p, x, dimensions=(2,))
    raises(ShapeError, "repeated axes", S.squeeze_p, x, dimensions=(1, 1))
    raises(ShapeError, r"dimensions=\(3,\) must be distinct positions of the result, whose "
           "rank is 3", S.expand_dims_p, x, dimensions=(3,))
    raises(ShapeError, r"dimensions=\(0, 0\) must be distinct", S.expand_dims_p, x,
           dimensions=(0, 0))
    raises(ShapeError, r"dimensions=\(-1,\) out of range", S.rev_p, x, dimensions=(-1,))


def test_pad_errors():
    p, x = S.pad_p, sa((3,))
    raises(DtypeError, r"same dtype, got f32\[3\], i32\[\]", p, x, sa((), np.int32),
           padding_config=((0, 0, 0),))
    raises(ShapeError, r"padding_value must be 0-d, got f32\[1\]", p, x, sa((1,)),
           padding_config=((0, 0, 0),))
    raises(TypeError, "tuple of \\(lo, hi, interior\\) triples", p, x, sa(()),
           padding_config=((0, 0),))
    raises(ShapeError, "needs one entry per dimension", p, x, sa(()), padding_config=())
    raises(ShapeError, "interior padding must be >= 0, got -1 for dimension 0", p, x, sa(()),
           padding_config=((0, 0, -1),))
    raises(ShapeError, r"padding \(lo=-4, hi=0, interior=0\) of dimension 0 \(size 3\) of "
           r"f32\[3\] gives a negative size -1", p, x, sa(()), padding_config=((-4, 0, 0),))


def test_concatenate_split_errors():
    p = S.concatenate_p
    raises(TypeError, "needs at least one operand", p, dimension=0)
    raises(DtypeError, "same dtype", p, sa((2,)), sa((2,), np.int32), dimension=0)
    raises(ShapeError, r"same rank, got f32\[2\], f32\[2,1\]", p, sa((2,)), sa((2, 1)),
           dimension=0)
    raises(ShapeError, "dimension=0 out of range for operands of rank 0", p, sa(()),
           dimension=0)
    raises(ShapeError, r"may differ only in dimension 0, got f32\[2,3\], f32\[1,4\]", p,
           sa((2, 3)), sa((1, 4)), dimension=0)
    q = S.split_p
    raises(ShapeError, r"sizes=\(1, 1\) sum to 2, but axis 0 of f32\[3\] has size 3", q,
           sa((3,)), sizes=(1, 1), axis=0)
    raises(ShapeError, r"sizes=\(4, -1\) must be non-negative", q, sa((3,)), sizes=(4, -1),
           axis=0)
    raises(ShapeError, r"axis=1 out of range for the operand f32\[3\]", q, sa((3,)),
           sizes=(3,), axis=1)


def test_slice_errors():
    p, x = S.slice_p, sa((3, 4))
    raises(ShapeError, r"start_indices=\(0,\) needs one entry per dimension", p, x,
           start_indices=(0,), limit_indices=(3, 4), strides=None)
    raises(ShapeError, r"strides=\(1, 0\) must be >= 1", p, x, start_indices=(0, 0),
           limit_indices=(3, 4), strides=(1, 0))
    raises(ShapeError, r"cannot slice \[2:1\] from dimension 1 \(size 4\) of f32\[3,4\]", p, x,
           start_indices=(0, 2), limit_indices=(3, 1), strides=None)
    raises(ShapeError, r"cannot slice \[0:5\]", p, x, start_indices=(0, 0),
           limit_indices=(3, 5), strides=None)
    raises(ShapeError, r"cannot slice \[-1:2\]", p, x, start_indices=(-1, 0),
           limit_indices=(2, 4), strides=None)


def test_dynamic_slice_errors():
    p, x, i = S.dynamic_slice_p, sa((3, 4)), sa((), np.int32)
    raises(ShapeError, r"got 1 start indices for the operand f32\[3,4\]", p, x, i,
           slice_sizes=(1, 1))
    raises(ShapeError, r"start indices must be 0-d, got i32\[\], i32\[1\]", p, x, i,
           sa((1,), np.int32), slice_sizes=(1, 1))
    raises(DtypeError, r"integers of one dtype, got i32\[\], f32\[\]", p, x, i, sa(()),
           slice_sizes=(1, 1))
    raises(DtypeError, r"integers of one dtype, got i32\[\], i64\[\]", p, x, i,
           sa((), np.int64), slice_sizes=(1, 1))
    raises(ShapeError, r"slice_sizes=\(4, 1\) exceed the operand shape f32\[3,4\]", p, x, i, i,
           slice_sizes=(4, 1))
    raises(ShapeError, r"slice_sizes=\(1,\) needs one entry per dimension", p, x, i, i,
           slice_sizes=(1,))
    raises(ShapeError, r"slice_sizes=\(-1, 1\) must be non-negative", p, x, i, i,
           slice_sizes=(-1, 1))
    q = S.dynamic_update_slice_p
    raises(DtypeError, "same dtype", q, x, sa((1, 1), np.int32), i, i)
    raises(ShapeError, r"update f32\[4,1\] must have the operand's rank and fit inside the "
           r"operand f32\[3,4\]", q, x, sa((4, 1)), i, i)
    raises(ShapeError, r"update f32\[1\] must have the operand's rank", q, x, sa((1,)), i, i)
    raises(DtypeError, "integers of one dtype", q, x, sa((1, 1)), i, sa((), np.bool_))


def test_iota_errors():
    p = S.iota_p
    raises(DtypeError, "dtype bool is not accepted; expected a numeric", p, dtype=dt.bool_,
           shape=(3,), dimension=0)
    raises(ShapeError, r"dimension=1 out of range for shape \(3,\)", p, dtype=dt.int32,
           shape=(3,), dimension=1)
    raises(ShapeError, r"dimension=0 out of range for shape \(\)", p, dtype=dt.int32,
           shape=(), dimension=0)
    raises(ShapeError, r"shape=\(-3,\) must be non-negative", p, dtype=dt.int32, shape=(-3,),
           dimension=0)


# --- differentiation: end-to-end through ft.grad / ft.vjp / ft.jvp -------------------------------
#
# Every primitive here is linear, so the pullback of f at w is its adjoint applied to w; each
# test derives that adjoint by hand with NumPy. Scalar outputs for ft.grad are made without
# reductions (squeeze/index of a product), so only this family and elementwise rules are used.


def rand(shape, seed, dtype=np.float64):
    r = np.random.default_rng(seed)
    v = r.normal(size=shape)
    if np.dtype(dtype).kind == "c":
        v = v + 1j * r.normal(size=shape)
    return v.astype(dtype)


def pullback(f, *args, ct):
    _, f_vjp = ft.vjp(f, *args)
    return [val(c) for c in f_vjp(ct)]


def test_grad_broadcast_in_dim_sums_over_new_and_stretched_dims():
    x, w = rand((3, 1), 0), rand((2, 3, 4), 1)
    (g,) = pullback(lambda x: S.broadcast_in_dim(x, (2, 3, 4), (1, 2)), x, ct=w)
    np.testing.assert_allclose(g, w.sum(axis=(0, 2))[:, None], rtol=1e-12)
    # nonlinear: d/dx of w * b(x)**2 is 2 x * (sum of w over the copies of x)
    (g,) = pullback(lambda x: S.broadcast_in_dim(x, (2, 3, 4), (1, 2)) ** 2, x, ct=w)
    np.testing.assert_allclose(g, 2 * x * w.sum(axis=(0, 2))[:, None], rtol=1e-12)
    # a 1 -> 1 dimension is kept, a 1 -> 0 dimension gets a zero cotangent
    (g,) = pullback(lambda x: S.broadcast_in_dim(x, (1, 0), (0, 1)), rand((1, 1), 2),
                    ct=np.zeros((1, 0)))
    assert g.shape == (1, 1) and g.tolist() == [[0.0]]


def test_grad_of_axis_shuffles_is_the_inverse_shuffle():
    x = rand((2, 3, 4), 3)

    def f(x):
        y = S.reshape(x, (4, 6), dimensions=(2, 0, 1))  # transpose to (4, 2, 3), then reshape
        y = S.transpose(S.rev(y, (1,)), (1, 0))          # (6, 4)
        return S.squeeze(S.expand_dims(y, (0, 3)), (0,)) * 3.0  # (6, 4, 1)

    w = rand((6, 4, 1), 4)
    want = (w[..., 0] * 3.0).T[:, ::-1].reshape(4, 2, 3).transpose(1, 2, 0)
    (g,) = pullback(f, x, ct=w)
    np.testing.assert_allclose(g, want, rtol=1e-12)
    _, t = ft.jvp(f, (x,), (w.reshape(-1)[:24].reshape(2, 3, 4),))
    t_in = w.reshape(-1)[:24].reshape(2, 3, 4)
    np.testing.assert_allclose(
        val(t), 3.0 * np.expand_dims(t_in.transpose(2, 0, 1).reshape(4, 6)[:, ::-1].T, 2),
        rtol=1e-12)


def test_grad_pad_operand_and_padding_value():
    x, v = rand((4,), 5), np.float64(0.7)
    config = [(-1, 2, 1)]  # [a p b p c p d p p] cropped by one in front: [p b p c p d p p]
    gx, gv = pullback(lambda x, v: S.pad(x, v, config) ** 2, x, v, ct=np.ones(8))
    np.testing.assert_allclose(gx, 2 * x * [0, 1, 1, 1], rtol=1e-12)
    np.testing.assert_allclose(gv, 2 * v * 5, rtol=1e-12)
    # 2-d with interior padding and cropping in both directions
    # (rows [a p b p c] lose c to the -1; columns get one padding column in front)
    x2, w = rand((3, 2), 6), rand((4, 3), 7)
    gx, gv = pullback(lambda x, v: S.pad(x, v, [(0, -1, 1), (1, 0, 0)]), x2, v, ct=w)
    np.testing.assert_allclose(gx, np.concatenate([w[0:3:2, 1:], np.zeros((1, 2))]),
                               rtol=1e-12)
    np.testing.assert_allclose(gv, w.sum() - w[0:3:2, 1:].sum(), rtol=1e-12)


def test_grad_pad_of_a_constant_flows_to_the_padding_value_only():
    # JAX's pad transpose computes the operand part only when the operand is differentiated,
    # and so fails here; the cotangent of the padding value must still see it.
    c, w = rand((3,), 8), rand((7,), 9)
    (gv,) = pullback(lambda v: S.pad(c, v, [(1, 1, 1)]), np.float64(0.3), ct=w)
    np.testing.assert_allclose(gv, w[[0, 2, 4, 6]].sum(), rtol=1e-12)
    g = ft.grad(lambda v: S.squeeze(S.slice_(S.pad(c, v, [(2, 0, 0)]) * 4.0, (1,), (2,)),
                                    (0,)))(np.float64(0.3))
    assert float(g) == 4.0


def test_grad_concatenate_and_split():
    x, y, w = rand((2, 3), 10), rand((1, 3), 11), rand((5, 3), 12)
    gx, gy = pullback(lambda x, y: S.concatenate([x, y, x * 2.0], 0), x, y, ct=w)
    np.testing.assert_allclose(gx, w[:2] + 2 * w[3:], rtol=1e-12)
    np.testing.assert_allclose(gy, w[2:3], rtol=1e-12)
    # unused pieces of a split get (symbolic) zero cotangents
    z = rand((5,), 13)

    def f(z):
        a, _, c = S.split(z, (2, 1, 2))
        return S.concatenate([a ** 2, c * 3.0], 0)

    (g,) = pullback(f, z, ct=np.ones(4))
    np.testing.assert_allclose(g, [2 * z[0], 2 * z[1], 0, 3, 3], rtol=1e-12)
    (g,) = pullback(lambda z: S.split(z, (2, 3))[1], z, ct=np.ones(3))
    assert g.tolist() == [0, 0, 1, 1, 1]


def test_grad_strided_slice_puts_cotangents_back():
    x = rand((9,), 14)
    (g,) = pullback(lambda x: S.slice_(x, (1,), (9,), (3,)) ** 3, x, ct=np.ones(3))
    want = np.zeros(9)
    want[1:9:3] = 3 * x[1:9:3] ** 2
    np.testing.assert_allclose(g, want, rtol=1e-12)
    g = ft.grad(lambda x: S.squeeze(S.slice_(x * x, (4,), (5,)), (0,)))(x)
    np.testing.assert_allclose(val(g), np.where(np.arange(9) == 4, 2 * x, 0), rtol=1e-12)


@pytest.mark.parametrize("start,lo", [(2, 2), (-2, 5), (100, 5), (np.int8(-100), 0)])
def test_grad_dynamic_slice_and_update_slice_follow_the_clamped_window(start, lo):
    x, u, w = rand((7,), 15), rand((2,), 16), rand((7,), 17)
    (g,) = pullback(lambda x: S.dynamic_slice(x, (start,), (2,)) ** 2, x, ct=np.ones(2))
    want = np.zeros(7)
    want[lo:lo + 2] = 2 * x[lo:lo + 2]
    np.testing.assert_allclose(g, want, rtol=1e-12)
    gx, gu = pullback(lambda x, u: S.dynamic_update_slice(x, u * u, (start,)), x, u, ct=w)
    want_x = w.copy()
    want_x[lo:lo + 2] = 0
    np.testing.assert_allclose(gx, want_x, rtol=1e-12)
    np.testing.assert_allclose(gu, 2 * u * w[lo:lo + 2], rtol=1e-12)
    _, t = ft.jvp(lambda x, u: S.dynamic_update_slice(x, u, (start,)), (x, u), (w, u * 10))
    want_t = w.copy()
    want_t[lo:lo + 2] = u * 10
    np.testing.assert_allclose(val(t), want_t, rtol=1e-12)


def test_grad_with_traced_start_index_and_complex_values():
    x, w = rand((3, 4), 18, np.complex128), rand((2, 2), 19, np.complex128)

    def f(x, i):
        return S.dynamic_slice(x, (i, S.convert_element_type(i, np.int32)), (2, 2))

    gx, gi = pullback(f, x, np.int32(1), ct=w)
    want = np.zeros((3, 4), np.complex128)
    want[1:3, 1:3] = w
    np.testing.assert_allclose(gx, want, rtol=1e-12)
    assert gi.dtype == ft.float0  # indices get no cotangent


def test_grad_through_iota_and_second_order():
    x = rand((2, 3), 20)
    (g,) = pullback(lambda x: x * S.broadcasted_iota(np.float64, (2, 3), 1), x,
                    ct=np.ones((2, 3)))
    np.testing.assert_allclose(g, [[0, 1, 2], [0, 1, 2]])
    # The transpose rules are themselves differentiable: the derivative of the pullback of
    # pad(x)**3 at w along t is 6 x t unpad(w).
    w, t = rand((7,), 21), rand((3,), 22)
    x1 = rand((3,), 23)

    def grad_at(x):
        return ft.vjp(lambda x: S.pad(x, 0.0, [(1, 1, 1)]) ** 3, x)[1](w)[0]

    _, hvp = ft.jvp(grad_at, (x1,), (t,))
    np.testing.assert_allclose(val(hvp), 6 * x1 * t * w[1:6:2], rtol=1e-12)


# --- vmap: batching rules against a per-example loop ---------------------------------------------

BATCHED = [p for p in PRIMS if p is not S.iota_p]
# Operands of these primitives from this position on are start indices.
INDEX_FROM = {"dynamic_slice": 1, "dynamic_update_slice": 2}


def example_args(prim, ex, b):
    """The b-th example: arrays redrawn, start indices moved by 3 per example (so that some
    examples clamp at either end, and unsigned ones wrap around to huge values)."""
    first_index = INDEX_FROM.get(prim.name, len(ex.args))
    out = []
    for i, a in enumerate(ex.args):
        a = np.asarray(a)
        if i >= first_index:
            out.append(np.asarray(int(a) + 3 * b - 3).astype(a.dtype))
        else:
            out.append(np.asarray(rules.sample_array(a.shape, a.dtype, seed=100 * i + b)))
    return out


def check_vmap(prim, ex, mask, size, rotate, out_axis):
    """vmap of the primitive (operands batched where ``mask`` says, at positions that
    ``rotate`` varies) equals the stacked per-example results."""
    per_example = [example_args(prim, ex, b) for b in range(size)]
    in_axes, args = [], []
    for i, (a, m) in enumerate(zip(ex.args, mask, strict=True)):
        a = np.asarray(a)
        if not m:
            in_axes.append(None)
            args.append(a)
            continue
        axis = (i + rotate) % (a.ndim + 1)
        in_axes.append(axis)
        args.append(np.stack([e[i] for e in per_example], axis) if size else
                    np.zeros(a.shape[:axis] + (0,) + a.shape[axis:], a.dtype))
    got = ft.vmap(lambda *xs: prim.bind(*xs, **ex.params), in_axes=tuple(in_axes),
                  out_axes=out_axis)(*args)
    unbatched = [a for a, m in zip(ex.args, mask, strict=True) if not m]
    wants = []
    for b in range(size):
        it = iter(unbatched)
        xs = [e if m else next(it) for e, m in zip(per_example[b], mask, strict=True)]
        r = prim.impl(*xs, **ex.params)
        wants.append(list(r) if prim.multiple_results else [r])
    avals = prim.abstract_eval(*map(core.get_aval, ex.args), **ex.params)
    avals = avals if prim.multiple_results else [avals]
    got = got if prim.multiple_results else [got]
    assert len(got) == len(avals)
    for j, (g, a) in enumerate(zip(got, avals, strict=True)):
        w = (np.stack([np.asarray(r[j]) for r in wants]) if size else
             np.zeros((0, *a.shape), a.dtype))
        w = np.moveaxis(w, 0, out_axis)
        what = f"{prim.name} {ex.label()} in_axes={in_axes} size={size}"
        assert (val(g).shape, val(g).dtype) == (w.shape, w.dtype), what
        np.testing.assert_array_equal(val(g), w, err_msg=what)


def batch_masks(n, first_index):
    """All operands batched, each alone, and (for the dynamic ones) the arrays without the
    indices and the indices without the arrays."""
    masks = [(True,) * n] + [tuple(i == j for j in range(n)) for i in range(n)]
    if first_index < n:
        masks.append(tuple(j < first_index for j in range(n)))
        masks.append(tuple(j >= first_index for j in range(n)))
    return list(dict.fromkeys(masks))


@pytest.mark.parametrize("prim", BATCHED, ids=lambda p: p.name)
@pytest.mark.parametrize("dtype", [dt.float32, dt.int8, dt.bool_], ids=str)
def test_vmap_matches_per_example_loop(prim, dtype):
    for ex in prim.sample(dtype):
        n = len(ex.args)
        for k, mask in enumerate(batch_masks(n, INDEX_FROM.get(prim.name, n))):
            for rotate in range(3):
                check_vmap(prim, ex, mask, 3, rotate, out_axis=0 if rotate < 2 else -1)
            if k == 0:
                check_vmap(prim, ex, mask, 0, 1, 0)
                check_vmap(prim, ex, mask, 1, 2, -1)


def test_iota_is_never_batched():
    out = ft.vmap(lambda x: x + S.iota(np.float32, 3))(np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(val(out), [[0, 1, 2], [0, 1, 2]])
    # Its rule (unreachable through vmap: no operand can be batched) gives the unbatched iota.
    got, dim = S.iota_p.batch(None, [], [], dtype=dt.int32, shape=(2,), dimension=0)
    assert dim is None and val(got).tolist() == [0, 1]


def staged_prims(f, *args, **vmap_kw):
    return [e.prim.name for e in make_jaxpr(ft.vmap(f, **vmap_kw))(*args).eqns]


def test_batch_rules_keep_the_batch_dimension_in_place():
    """No transposes where the primitive can absorb the batch dimension where it is."""
    x = filled((3, 5, 4))  # batch of 5 at position 1
    assert staged_prims(lambda v: S.broadcast_in_dim(v, (2, 3, 4), (1, 2)), x,
                        in_axes=1, out_axes=2) == ["broadcast_in_dim"]
    assert staged_prims(lambda v: S.transpose(v, (1, 0)), x,
                        in_axes=1, out_axes=1) == ["transpose"]
    assert staged_prims(lambda v: S.reshape(v, (3, 2, 2)), x,
                        in_axes=1, out_axes=1) == ["reshape"]
    assert staged_prims(lambda v: S.reshape(v, (12,)), x, in_axes=1) == ["reshape"]
    assert staged_prims(lambda v: S.expand_dims(v, (0, 2)), x,
                        in_axes=1, out_axes=2) == ["expand_dims"]
    assert staged_prims(lambda v: S.squeeze(S.expand_dims(v, (0,)), (0,)), x,
                        in_axes=1, out_axes=1) == ["expand_dims", "squeeze"]
    assert staged_prims(lambda v: S.concatenate([v, S.neg(v)], 1), x,
                        in_axes=1, out_axes=1) == ["neg", "concatenate"]
    assert staged_prims(lambda v: S.dynamic_slice(v, (1, 2), (2, 2)), x,
                        in_axes=1, out_axes=1) == ["dynamic_slice"]
    i = np.array([0, 1, 2, 3, 4], np.int32)
    prims = staged_prims(lambda v, i: S.dynamic_slice(v, (i, 1), (2, 2)), x, i,
                         in_axes=(1, 0), out_axes=1)
    assert "gather" in prims and "transpose" not in prims, prims


def test_reshape_batch_rule_folds_the_move_into_dimensions():
    x = filled((2, 3, 5))  # batch of 5 last
    # The example dims before the batch merge: the batch stays last, a plain reshape.
    closed = make_jaxpr(ft.vmap(lambda v: S.reshape(v, (6,)), in_axes=2, out_axes=1))(x)
    assert [e.prim.name for e in closed.eqns] == ["reshape"]
    assert closed.eqns[0].params == {"new_sizes": (6, 5), "dimensions": None}
    # A permuting reshape: the batch goes first through the same ``dimensions`` parameter.
    f = ft.vmap(lambda v: S.reshape(v, (3, 2), (1, 0)), in_axes=2)
    closed = make_jaxpr(f)(x)
    assert [e.prim.name for e in closed.eqns] == ["reshape"]
    assert closed.eqns[0].params == {"new_sizes": (5, 3, 2), "dimensions": (2, 1, 0)}
    np.testing.assert_array_equal(val(f(x)), [x[..., b].T.reshape(3, 2) for b in range(5)])
    got = ft.vmap(lambda v: S.reshape(v, (5, 2)), in_axes=1)(x)
    np.testing.assert_array_equal(val(got), [x[:, b].reshape(5, 2) for b in range(3)])


def test_vmap_of_lax_composite_matches_loop():
    def f(x, i, v):
        y = S.pad(x, v, [(1, 2, 1)])
        y = S.concatenate([S.rev(y, (0,)), S.broadcast_in_dim(v, (2,), ())], 0)
        w = S.dynamic_slice_in_dim(y, i, 4)
        z = S.dynamic_update_slice_in_dim(y, w * 2.0, i + 1, 0)
        a, b = S.split(z, (3, 7), 0)
        return S.reshape(S.slice_(b, (1,), (7,), (3,)), (2, 1)), a

    xs, vs = rand((4, 3), 30), rand((4,), 31)
    idx = np.array([-2, 0, 5, 100], np.int32)
    got = ft.vmap(f)(xs, idx, vs)
    for b in range(4):
        want = f(xs[b], idx[b], vs[b])
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(val(g)[b], val(w), rtol=1e-12)
    # Only the index batched; the same operand for every example.
    got = ft.vmap(f, in_axes=(None, 0, None))(xs[0], idx, vs[0])
    for b in range(4):
        np.testing.assert_allclose(val(got[0])[b], val(f(xs[0], idx[b], vs[0])[0]),
                                   rtol=1e-12)


def windowed_loss(x, i, v):
    """A scalar of x through pad, a traced-start window and iota (no reductions: their
    batching rules live in another family)."""
    w = S.dynamic_slice_in_dim(S.pad(x, v, [(2, 1, 1)]), i, 3)
    w = w * w * S.iota(np.float64, 3)
    return sum(S.index_in_dim(w, k, keepdims=False) for k in range(3))


def test_vmap_of_grad_through_dynamic_slice_and_pad():
    xs, vs = rand((5, 4), 32), rand((5,), 33)
    idx = np.array([0, 3, -1, 7, 2], np.int32)
    g = ft.vmap(ft.grad(windowed_loss))(xs, idx, vs)
    for b in range(5):
        want = ft.grad(windowed_loss)(xs[b], idx[b], vs[b])
        np.testing.assert_allclose(val(g)[b], val(want), rtol=1e-12)
    assert np.abs(val(g)).sum() > 0  # the windows hit x, not only the padding
    # grad of a vmapped function: the batch rules' outputs are transposed too.
    g = ft.grad(lambda x: ft.vmap(windowed_loss, in_axes=(0, 0, None))(x, idx, 0.5).sum())(xs)
    for b in range(5):
        want = ft.grad(windowed_loss)(xs[b], idx[b], 0.5)
        np.testing.assert_allclose(val(g)[b], val(want), rtol=1e-12)


@pytest.mark.skipif(get_primitive("reduce_sum").batch is None,
                    reason="pad's transpose sums the padding value's cotangent: needs "
                           "reduce_sum's batching rule (reductions family)")
def test_vmap_of_grad_with_respect_to_a_batched_padding_value():
    xs, vs = rand((5, 4), 36), rand((5,), 37)
    idx = np.array([0, 3, -1, 7, 2], np.int32)
    g = ft.vmap(ft.grad(windowed_loss, argnums=2))(xs, idx, vs)
    for b in range(5):
        want = ft.grad(windowed_loss, argnums=2)(xs[b], idx[b], vs[b])
        np.testing.assert_allclose(val(g)[b], val(want), rtol=1e-12)


def test_nested_vmap_with_different_in_axes():
    def f(x, i, u):
        y = S.dynamic_update_slice(x, u, (i, 0))
        return S.transpose(S.dynamic_slice(y, (i, 1), (2, 2)), (1, 0))

    x = rand((3, 5, 4, 3), 34)      # outer batch 4 at axis 2, inner batch 3 at axis 0
    i = np.array([[0, 2, 9], [-1, 1, 3], [2, 2, 2], [4, 0, 1]], np.int32)  # [outer, inner]
    u = rand((2, 3), 35)            # shared by every example
    inner = ft.vmap(f, in_axes=(0, 0, None))
    got = ft.vmap(inner, in_axes=(2, 0, None))(x, i, u)
    assert got.shape == (4, 3, 2, 2)
    for a in range(4):
        for b in range(3):
            np.testing.assert_allclose(val(got)[a, b], val(f(x[b, :, a], i[a, b], u)),
                                       rtol=1e-12)
    # Index batched only by the outer vmap, operand only by the inner one.
    got = ft.vmap(ft.vmap(f, in_axes=(0, None, None)), in_axes=(None, 0, None))(
        x[:, :, 0], i[:, 0], u)
    for a in range(4):
        for b in range(3):
            np.testing.assert_allclose(val(got)[a, b], val(f(x[b, :, 0], i[a, 0], u)),
                                       rtol=1e-12)
