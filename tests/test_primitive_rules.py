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
from tests.known_gaps import NO_SAMPLES

CASES = list(registry_cases())


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_abstract_eval_matches_impl(case):
    prim, dtype = case
    samples = prim.sample(dtype)
    assert samples or prim.name in NO_SAMPLES, f"{prim.name} has no samples for {dtype}"
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


# --- autodiff rules -----------------------------------------------------------------------------

from functrans.primitives.ad_rules import Zero, tangent_aval, unmask  # noqa: E402
from functrans.transforms import ad  # noqa: E402
from tests.harness import inner, numerical_jvp, rng_like  # noqa: E402
from tests.known_gaps import KNOWN_GAPS, NOT_FINITE_DIFFERENCES, gap  # noqa: E402

# Exact-FD-checkable dtypes: the finite-difference oracle runs in the sample's own precision.
_FD_DTYPES = {np.dtype(np.float64), np.dtype(np.complex128)}
_AD_CASES = [c for c in CASES if c[1].kind in "fc" and c[0].name not in NO_SAMPLES]


def _differentiable(args: tuple) -> list[bool]:
    return [np.asarray(a).dtype.kind in "fc" for a in args]


def _impl_list(prim, params):
    def f(*args):
        return as_list(prim.impl(*args, **params), prim)
    return f


@pytest.mark.parametrize("case", _AD_CASES, ids=case_id)
def test_jvp_matches_finite_differences(case):
    prim, dtype = case
    if prim.jvp is None:
        assert gap(prim.name, "jvp"), f"{prim.name} has no jvp rule and no KNOWN_GAPS entry"
        pytest.skip(gap(prim.name, "jvp"))
    exact = not NOT_FINITE_DIFFERENCES.get(prim.name)
    for k, ex in enumerate(prim.sample(dtype)):
        diff = _differentiable(ex.args)
        tangents = [rng_like(a, 10 + i) if d else None
                    for i, (a, d) in enumerate(zip(ex.args, diff, strict=True))]
        rule_tangents = [t if t is not None else Zero(tangent_aval(core.get_aval(a)))
                         for a, t in zip(ex.args, tangents, strict=True)]
        out, t_out = prim.jvp(list(ex.args), rule_tangents, **ex.params)
        outs, t_outs = as_list(out, prim), as_list(t_out, prim)
        for o, t in zip(outs, t_outs, strict=True):
            want = tangent_aval(core.get_aval(o))
            got = t.aval if type(t) is Zero else core.get_aval(t)
            assert (got.shape, got.dtype) == (want.shape, want.dtype), (
                f"{prim.name} {describe(ex)}: tangent {got.str_short()} for output "
                f"{core.get_aval(o).str_short()}")
        if dtype not in _FD_DTYPES or not exact:
            continue
        fd = numerical_jvp(_impl_list(prim, ex.params), list(ex.args), tangents)
        for o, t, n in zip(outs, t_outs, fd, strict=True):
            if np.asarray(o).dtype not in _FD_DTYPES:
                continue  # FD in a low-precision output space is noise; checked elsewhere
            t = np.zeros(n.shape) if type(t) is Zero else np.asarray(t)
            np.testing.assert_allclose(t, n, rtol=1e-5, atol=1e-6,
                                       err_msg=f"{prim.name} {describe(ex)}: jvp vs FD")


def _pairing_tolerance(values) -> float:
    """Relative tolerance of an inner-product identity, set by the least precise value."""
    eps = [np.finfo(np.asarray(v).dtype).eps for v in values
           if np.asarray(v).dtype.kind in "fc"]
    return 1e-9 if not eps else max(1e-9, 20 * max(eps))


def _vjp_of_prim(prim, args, params):
    """Linearize one application of ``prim`` and return (outputs, linearized)."""
    def f(*xs):
        return as_list(prim.bind(*xs, **params), prim)
    return ad.linearize_flat(f, list(args), core.DebugInfo("test", f))


@pytest.mark.parametrize("case", _AD_CASES, ids=case_id)
def test_vjp_is_the_transpose_of_the_jvp(case):
    prim, dtype = case
    if prim.jvp is None:
        pytest.skip("no jvp rule (see test_jvp_matches_finite_differences)")
    for ex in prim.sample(dtype):
        lin = _vjp_of_prim(prim, ex.args, ex.params)
        diff = _differentiable(ex.args)
        tangents = [rng_like(a, 20 + i) if d else np.zeros(np.shape(a), ft.float0)
                    for i, (a, d) in enumerate(zip(ex.args, diff, strict=True))]
        t_outs = lin.jvp(tangents)
        cts = [rng_like(o, 30 + i) if np.asarray(o).dtype.kind in "fc" else
               np.zeros(np.shape(o), ft.float0)
               for i, o in enumerate(lin.out_primals)]
        ct_ins = lin.vjp(cts)
        lhs = sum(inner(c, t) for c, t, z in zip(cts, t_outs, lin.out_zero, strict=True)
                  if not z and np.asarray(c).dtype.kind in "fc")
        rhs = sum(inner(c, t) for c, t, d in zip(ct_ins, tangents, diff, strict=True)
                  if d and type(c) is not Zero)
        scale = 1.0 + abs(lhs) + abs(rhs)
        tol = _pairing_tolerance([*ex.args, *lin.out_primals])
        assert abs(lhs - rhs) <= tol * scale, (
            f"{prim.name} {describe(ex)}: <ct, J t> = {lhs} but <J^T ct, t> = {rhs}")


_LINEAR = [c for c in _AD_CASES if c[0].transpose is not None]


@pytest.mark.parametrize("case", _LINEAR, ids=case_id)
def test_transpose_rule_is_the_adjoint(case):
    """For each linear input alone: <ct, f(x)> = <f^T(ct), x> with the other inputs fixed."""
    prim, dtype = case
    for ex in prim.sample(dtype):
        for i in _linear_positions(prim, len(ex.args)):
            if np.asarray(ex.args[i]).dtype.kind not in "fc":
                continue
            x = rng_like(ex.args[i], 40 + i)
            args = list(ex.args)
            args[i] = x
            # A primitive linear in several inputs is only affine in one of them while the
            # others are fixed: compare against f(x) - f(0) to keep the linear part.
            zeroed = list(args)
            zeroed[i] = np.zeros_like(np.asarray(x))
            outs = as_list(prim.impl(*args, **ex.params), prim)
            if any(np.asarray(o).dtype.kind not in "fc" for o in outs):
                continue  # e.g. a float -> int convert: not a linear map
            y = [np.asarray(a) - np.asarray(b) for a, b in zip(
                as_list(prim.impl(*args, **ex.params), prim),
                as_list(prim.impl(*zeroed, **ex.params), prim), strict=True)]
            cts = [rng_like(o, 50 + k) for k, o in enumerate(y)]
            undefined = [ad.UndefinedPrimal(core.get_aval(a)) if j == i else a
                         for j, a in enumerate(args)]
            ct_arg = cts if prim.multiple_results else cts[0]
            out = prim.transpose(ct_arg, *undefined, **ex.params)[i]
            got = 0.0 if type(out) is Zero else inner(unmask(out), x)
            want = sum(inner(c, o) for c, o in zip(cts, y, strict=True))
            tol = _pairing_tolerance([*args, *y])
            assert abs(got - want) <= tol * (1 + abs(want)), (
                f"{prim.name} {describe(ex)} input {i}: <ct, f(x)> = {want}, "
                f"<f^T ct, x> = {got}")


def _linear_positions(prim, n_args: int) -> list[int]:
    if prim.linear_in == "all":
        return list(range(n_args))
    return [i for i in prim.linear_in if i < n_args]


def test_known_gaps_are_honest():
    prims = {p.name: p for p in all_primitives()}
    assert set(NOT_FINITE_DIFFERENCES) <= set(prims)
    for (name, prop), reason in KNOWN_GAPS.items():
        assert name in prims, f"KNOWN_GAPS names unknown primitive {name}"
        assert getattr(prims[name], prop) is None, (
            f"{name} now has a {prop} rule: remove it from KNOWN_GAPS ({reason})")


# --- batching rules -------------------------------------------------------------------------------

_BATCH_DTYPES = {np.dtype(d) for d in ("bool", "int32", "uint8", "float32", "float64",
                                       "complex64")}
_BATCH_CASES = [c for c in CASES if c[1] in _BATCH_DTYPES and c[0].name not in NO_SAMPLES]


def _example_variant(x: np.ndarray, b: int) -> np.ndarray:
    """The b-th example of a batch: the sample's own values, rolled (stays in its domain)."""
    x = np.asarray(x)
    if x.size == 0 or b == 0:
        return x
    return np.roll(x.reshape(-1), b).reshape(x.shape)


def _mask_choices(n: int) -> list[tuple[bool, ...]]:
    """Which operands are batched: all, each one alone, and all but the first (<= 6)."""
    choices = [tuple([True] * n)] + [tuple(i == j for j in range(n)) for i in range(n)]
    if n > 2:
        choices.append(tuple(j != 0 for j in range(n)))
    return list(dict.fromkeys(choices))[:6]


@pytest.mark.parametrize("case", _BATCH_CASES, ids=case_id)
def test_batching_matches_per_example_loop(case):
    prim, dtype = case
    if prim.batch is None:
        assert gap(prim.name, "batch"), f"{prim.name} has no batching rule and no KNOWN_GAPS entry"
        pytest.skip(gap(prim.name, "batch"))
    for ex in prim.sample(dtype)[:4]:
        n = len(ex.args)
        if n == 0:
            continue
        for k, mask in enumerate(_mask_choices(n)):
            for size in ((0, 1, 3) if k == 0 else (3,)):
                _check_batching(prim, ex, mask, size, out_axis=-1 if k == 1 else 0)


def _check_batching(prim, ex, mask, size, out_axis):
    per_example = [[_example_variant(a, b) if m else a for a, m in zip(ex.args, mask,
                                                                        strict=True)]
                   for b in range(size)]
    in_axes, batched_args = [], []
    for i, (a, m) in enumerate(zip(ex.args, mask, strict=True)):
        if not m:
            in_axes.append(None)
            batched_args.append(a)
            continue
        a = np.asarray(a)
        axis = i % (a.ndim + 1)  # vary where the batch dimension sits
        stacked = np.stack([ex_args[i] for ex_args in per_example], axis=axis) if size else \
            np.zeros(a.shape[:axis] + (0,) + a.shape[axis:], a.dtype)
        in_axes.append(axis)
        batched_args.append(stacked)

    def f(*args):
        return prim.bind(*args, **ex.params)

    got = as_list(ft.vmap(f, in_axes=tuple(in_axes), out_axes=out_axis)(*batched_args), prim)
    avals = as_list(prim.abstract_eval(*[core.get_aval(a) for a in ex.args], **ex.params), prim)
    results = [as_list(prim.impl(*args, **ex.params), prim) for args in per_example]
    for j, (g, aval) in enumerate(zip(got, avals, strict=True)):
        if size:
            want = np.stack([np.asarray(r[j]) for r in results], axis=0)
        else:
            want = np.zeros((0, *aval.shape), aval.dtype)
        want = np.moveaxis(want, 0, out_axis)
        assert_same_values(g, want, f"{prim.name} {describe(ex)} batched={mask} size={size}")


@pytest.mark.parametrize("prop", ["jvp", "batch"])
def test_every_primitive_has_each_rule_or_a_known_gap(prop):
    """Independent of samples: no primitive may silently lack a jvp or batching rule."""
    missing = [p.name for p in all_primitives()
               if getattr(p, prop) is None and not gap(p.name, prop)]
    assert not missing, f"primitives without a {prop} rule and no KNOWN_GAPS entry: {missing}"


# --- lowering: the NumPy backend ------------------------------------------------------------------


@pytest.mark.parametrize("case", [c for c in CASES if c[0].name not in NO_SAMPLES],
                         ids=case_id)
def test_numpy_backend_matches_impl(case):
    """jit of every primitive (its generated NumPy code) equals its impl on every sample."""
    prim, dtype = case
    for ex in prim.sample(dtype):
        def f(*args, ex=ex):
            return prim.bind(*args, **ex.params)

        with ft.config.persistent_cache(False):  # thousands of modules: keep them in memory
            got = as_list(ft.jit(f)(*ex.args), prim)
        want = as_list(prim.impl(*ex.args, **ex.params), prim)
        for g, w in zip(got, want, strict=True):
            assert_same_values(g, w, f"{prim.name} {describe(ex)} under jit")
