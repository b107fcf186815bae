"""The dtype promotion lattice and weak types (against JAX's published table)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from functrans import config
from functrans import dtypes as dt

# JAX's jnp.promote_types table for strong types (with 64-bit enabled), as rows of
# (a, b, result). Generated in a scratch venv with jax 0.10.2 and jax_enable_x64=True:
#   jnp.promote_types(a, b) for every pair; reproduced here for the pairs that matter.
STRONG = [
    ("bool", "int8", "int8"), ("bool", "uint8", "uint8"), ("bool", "float16", "float16"),
    ("uint8", "int8", "int16"), ("uint16", "int8", "int32"), ("uint32", "int8", "int64"),
    ("uint64", "int8", "float64"), ("uint64", "int64", "float64"), ("int64", "float16",
                                                                     "float16"),
    ("uint8", "float16", "float16"), ("int32", "float32", "float32"),
    ("float16", "float32", "float32"), ("float32", "float64", "float64"),
    ("float32", "complex64", "complex64"), ("float64", "complex64", "complex128"),
    ("int64", "complex64", "complex64"), ("uint8", "uint16", "uint16"),
    ("int8", "int64", "int64"),
]


@pytest.mark.parametrize("a,b,want", STRONG)
def test_strong_promotion_table(a, b, want):
    assert dt.promote_types(a, b) == np.dtype(want)
    assert dt.promote_types(b, a) == np.dtype(want)


@pytest.mark.parametrize("dtype", dt.ALL)
def test_weak_python_scalars_never_widen_arrays_of_their_kind_or_above(dtype):
    for scalar_dtype, kinds in ((dt.scalar_dtype(1), "iufc"), (dt.scalar_dtype(1.0), "fc"),
                                (dt.scalar_dtype(1j), "c")):
        out, weak = dt.result_type_of((dtype, False), (scalar_dtype, True))
        if dtype.kind in kinds:
            assert (out, weak) == (dtype, False)


def test_weak_joins():
    f32, i32, c64 = dt.float32, dt.int32, dt.complex64
    assert dt.result_type_of((i32, True), (f32, True)) == (f32, True)
    assert dt.result_type_of((i32, False), (f32, True)) == (f32, True)
    assert dt.result_type_of((dt.bool_, False), (i32, True)) == (i32, True)
    assert dt.result_type_of((dt.float16, False), (c64, True)) == (c64, False)
    assert dt.result_type_of((dt.int8, False), (f32, True)) == (f32, True)
    assert dt.result_type_of((dt.int8, False), (i32, True)) == (dt.int8, False)
    assert dt.result_type_of((dt.uint64, False), (dt.int64, False)) == (dt.float64, False)


@given(st.lists(st.sampled_from(dt.ALL), min_size=2, max_size=4))
def test_join_is_commutative_and_an_upper_bound(types):
    out = [dt.promote_types(a, b) for a, b in itertools.permutations(types[:2])]
    assert out[0] == out[1]
    joined = types[0]
    for t in types[1:]:
        joined = dt.promote_types(joined, t)
    for t in types:
        # Every input is safely castable into the join, except the documented int64/uint64 ->
        # float64 corner (precision, not range).
        if not (t.kind in "iu" and t.itemsize == 8 and joined.kind == "f"):
            assert np.can_cast(t, joined, "same_kind") or joined.kind == "c"


def test_python_scalar_dtypes_follow_config():
    assert dt.scalar_dtype(1.0) == dt.float32
    assert dt.scalar_dtype(1) == dt.int32
    assert dt.scalar_dtype(2**40) == dt.int64  # too big for int32: kept exactly
    with config.default_float(np.dtype(np.float64)):
        assert dt.scalar_dtype(1.0) == dt.float64
        assert dt.scalar_dtype(1j) == dt.complex128
    assert dt.scalar_dtype(1.0) == dt.float32
    with pytest.raises(OverflowError):
        dt.scalar_dtype(2**70)


def test_canonicalize_rejects_unsupported_dtypes():
    with pytest.raises(TypeError, match="not supported"):
        dt.canonicalize(np.dtype("datetime64[s]"))
    assert dt.canonicalize(float) == dt.float32
    assert dt.canonicalize("int16") == dt.int16
