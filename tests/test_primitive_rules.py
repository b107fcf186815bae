"""Walk the primitive registry and check every rule of every primitive on its sample inputs.

For each primitive and each dtype it claims: abstract evaluation matches the NumPy impl (shape
and dtype), eager ``bind`` matches the impl and never writes into its inputs, and staging to a
jaxpr then evaluating it gives the same values. The later transforms add their rule checks
(jvp, transpose, batching, lowering) here, with gaps listed in ``known_gaps.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import functrans as ft
from functrans import core
from functrans.ir import eval_jaxpr, typecheck_jaxpr
from functrans.primitives.registry import all_primitives
from tests.harness import as_list, assert_same_values, case_id, describe, registry_cases

CASES = list(registry_cases())


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_abstract_eval_matches_impl(case):
    prim, dtype = case
    samples = prim.sample(dtype)
    assert samples, f"{prim.name} has no samples for {dtype}"
    for ex in samples:
        avals = [core.get_aval(a) for a in ex.args]
        want = as_list(prim.abstract_eval(*avals, **ex.params), prim)
        got = as_list(prim.impl(*ex.args, **ex.params), prim)
        assert len(got) == len(want), f"{prim.name} {describe(ex)}: result count"
        for g, w in zip(got, want, strict=True):
            g = np.asarray(g)
            assert (g.shape, g.dtype) == (w.shape, w.dtype), (
                f"{prim.name} {describe(ex)}: impl gives {g.dtype}{list(g.shape)}, "
                f"abstract_eval says {w.str_short()}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_eager_bind_matches_impl_and_never_writes_inputs(case):
    prim, dtype = case
    for ex in prim.sample(dtype):
        before = [np.array(a, copy=True) for a in ex.args]
        flags = [a.flags.writeable if isinstance(a, np.ndarray) else None for a in ex.args]
        got = as_list(prim.bind(*ex.args, **ex.params), prim)
        want = as_list(prim.impl(*ex.args, **ex.params), prim)
        for g, w in zip(got, want, strict=True):
            assert isinstance(g, ft.Array)
            assert_same_values(g, w, f"{prim.name} {describe(ex)}")
        for a, b, f in zip(ex.args, before, flags, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"{prim.name} wrote into an input")
            if f is not None:
                assert a.flags.writeable == f, f"{prim.name} changed an input's flags"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_jaxpr_roundtrip(case):
    prim, dtype = case
    for ex in prim.sample(dtype):
        def f(*args, ex=ex):
            return prim.bind(*args, **ex.params)

        closed = ft.make_jaxpr(f)(*ex.args)
        typecheck_jaxpr(closed.jaxpr)
        assert [e.prim for e in closed.eqns] == [prim], str(closed)
        got = eval_jaxpr(closed.jaxpr, closed.consts, *ex.args)
        want = as_list(prim.impl(*ex.args, **ex.params), prim)
        for g, w in zip(got, want, strict=True):
            assert_same_values(g, w, f"{prim.name} {describe(ex)} via jaxpr")
        assert str(closed)  # prints without error


# Families whose operands are elementwise: their samples must include 0-d and empty arrays.
_ELEMENTWISE = {"unary", "binary", "compare", "logical", "select", "convert", "identity"}


@pytest.mark.parametrize("prim", all_primitives(), ids=lambda p: p.name)
def test_samples_cover_scalars_and_empty_arrays(prim):
    for dtype in prim.dtypes:
        samples = prim.sample(dtype)
        shapes = [np.shape(a) for ex in samples for a in ex.args]
        if prim.family in _ELEMENTWISE:
            assert () in shapes, f"{prim.name}/{dtype}: no 0-d sample"
            assert any(0 in s for s in shapes), f"{prim.name}/{dtype}: no empty sample"
        assert all(np.asarray(a).dtype.kind in "biufc" for ex in samples for a in ex.args)


def test_registry_has_the_issue_primitives():
    required = """neg sign floor ceil round abs exp exp2 expm1 log log1p sqrt rsqrt cbrt sin cos
    tan asin acos atan sinh cosh tanh asinh acosh atanh logistic erf erfc erf_inv lgamma digamma
    is_finite integer_pow square reciprocal add sub mul div rem pow max min atan2 eq ne lt le
    gt ge and or not xor shift_left shift_right_arithmetic shift_right_logical select_n clamp
    convert_element_type reduce_sum reduce_prod reduce_max reduce_min reduce_and reduce_or
    argmax argmin cumsum cumprod cummax cummin cumlogsumexp broadcast_in_dim reshape transpose
    squeeze expand_dims rev pad concatenate slice dynamic_slice dynamic_update_slice gather
    scatter scatter_add iota sort top_k dot_general stop_gradient copy""".split()
    names = {p.name for p in all_primitives()}
    assert not set(required) - names, sorted(set(required) - names)
