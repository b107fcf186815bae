"""functrans.coverage: the report matches the registry and the lowering tables, finds primitives
in nested jaxprs, predicts what the transformations then do, and imports no GPU library."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import errors, ir, lax
from functrans.rule_coverage import TRANSFORMS, Coverage
from functrans.lowering import numpy_rules, triton_rules
from functrans.primitives.registry import get_primitive

X = np.linspace(0.5, 1.5, 12, dtype=np.float32).reshape(3, 4)
M = np.ones((4, 5), np.float32)


def _mixed(x, m):
    y = fnp.sin(x) @ m  # elementwise, dot

    def body(c, xi):
        return c + fnp.tanh(xi), c * 2.0  # tanh only here, inside the scan body

    c, ys = lax.scan(body, 0.0, y[0])
    z = lax.cond(c > 0, fnp.exp, lambda v: -v, ys)
    return fnp.abs(fnp.fft.fft(fnp.sort(z))).sum()


def _line_of(fun, text: str) -> int:
    lines, start = inspect.getsourcelines(fun)
    return start + next(i for i, line in enumerate(lines) if text in line)


def _walk(jaxpr: ir.Jaxpr) -> list[ir.Eqn]:
    """Every equation, nested ones included (an oracle independent of coverage's walk)."""
    out = list(jaxpr.eqns)
    for sub in ir.subjaxprs(jaxpr):
        out += _walk(sub)
    return out


def test_rows_match_the_registry_and_lowering_tables():
    report = ft.coverage(_mixed, X, M)
    eqns = _walk(ft.make_jaxpr(_mixed)(X, M).jaxpr)
    assert {r.name for r in report.rows} == {e.prim.name for e in eqns}
    assert {"sin", "dot_general", "scan", "tanh", "cond", "sort", "fft"} <= \
        {r.name for r in report.rows}
    for r in report.rows:
        p = get_primitive(r.name)
        assert r.family == p.family
        assert r.count == sum(e.prim is p for e in eqns)
        assert r.jvp == (p.jvp is not None)
        assert r.batch == (p.batch is not None)
        assert r.transpose == (None if p.linear_in is None else p.transpose is not None)
        if p.family in ("call", "custom"):
            assert (r.numpy, r.triton) == ("inlined", "inlined")
        else:
            assert r.numpy == ("rule" if r.name in numpy_rules.RULES else "impl")
        if triton_rules.lowering_kind(r.name, r.family) == "fallback" and r.triton != "inlined":
            assert r.triton == "fallback"
            assert r.triton_reason == triton_rules.fallback_reason(r.name, r.family)
        for t in TRANSFORMS:
            assert (r.name in report.missing(t)) == (not r.supports(t))
    assert report.missing("jvp") == report.missing("vjp") == report.missing("vmap") == []
    assert report.check("jvp", "vjp", "vmap", "numpy") is report


def test_first_source_line_is_the_users():
    report = ft.coverage(_mixed, X, M)
    rows = {r.name: r for r in report.rows}
    assert rows["dot_general"].source.lineno == _line_of(_mixed, "@ m")
    assert rows["tanh"].source.lineno == _line_of(_mixed, "fnp.tanh")
    assert rows["tanh"].source.filename == __file__


def test_primitive_only_in_a_scan_body_is_found_and_runs_on_the_host_under_triton():
    def f(x):
        return lax.scan(lambda c, xi: (c + fnp.cosh(xi), None), fnp.zeros(4), x)[0]

    assert "cosh" not in [e.prim.name for e in ft.make_jaxpr(f)(X).eqns]
    row = next(r for r in ft.coverage(f, X).rows if r.name == "cosh")
    assert row.count == 1
    assert row.triton == "fallback" and "'scan'" in row.triton_reason
    assert triton_rules.lowering_kind("cosh", "unary") == "kernel"  # it has a rule, unused


def test_nested_jit_checkpoint_and_cond_bodies_are_walked():
    @ft.jit
    def inner(x):
        return ft.checkpoint(lambda v: lax.cond(v.sum() > 0, fnp.expm1, fnp.log1p, v))(x)

    names = [r.name for r in ft.coverage(lambda x: inner(x) * 2, X).rows]
    assert {"jit_call", "remat", "cond", "expm1", "log1p", "mul"} <= set(names)


def test_removed_batch_rule_is_reported_with_the_users_line(monkeypatch):
    def f(x):
        return fnp.sinh(x) + 1.0

    monkeypatch.setattr(get_primitive("sinh"), "batch", None)
    report = ft.coverage(f, X)
    assert report.missing("vmap") == ["sinh"]
    assert report.missing("jvp") == []
    line = _line_of(f, "fnp.sinh")
    with pytest.raises(errors.MissingRuleError, match=rf"sinh \(vmap\).*:{line} \(f\)"):
        report.check("vmap")
    report.check("jvp", "vjp")
    # ... and it is what vmap then does.
    with pytest.raises(errors.MissingRuleError, match="sinh"):
        ft.vmap(f)(X)


def test_missing_jvp_predicts_grad_and_a_custom_jvp_covers_it():
    plain = ft.coverage(lambda x: lax.digamma(x).sum(), X[0])
    assert plain.missing("jvp") == plain.missing("vjp") == ["digamma"]
    with pytest.raises(errors.MissingRuleError):
        plain.check("vjp")
    with pytest.raises(errors.MissingRuleError, match="digamma"):
        ft.grad(lambda x: lax.digamma(x).sum())(X[0])

    @ft.custom_jvp
    def h(x):
        return lax.digamma(x)

    h.defjvp(lambda p, t: (h(p[0]), t[0]))
    covered = ft.coverage(lambda x: h(x).sum(), X[0])
    row = next(r for r in covered.rows if r.name == "digamma")
    assert not row.jvp and not row.differentiated
    assert covered.missing("vjp") == []
    ft.grad(lambda x: h(x).sum())(X[0])  # runs, as the report says


def test_second_order_through_a_traced_while_loop_is_a_missing_rule():
    def f(x):
        return lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, fnp.sin(c[1])),
                              (0, x))[1].sum()

    assert ft.coverage(f, X[0]).missing("vjp") == []
    assert ft.coverage(ft.grad(f), X[0]).missing("vjp") == ["while_transpose"]
    with pytest.raises(errors.MissingRuleError, match="while_transpose"):
        ft.jit(ft.hessian(f))(X[0])


def test_triton_fallback_reason_follows_the_dtype():
    report = ft.coverage(lambda z: fnp.abs(z) + fnp.abs(z.real), X.astype(np.complex64))
    row = next(r for r in report.rows if r.name == "abs")
    assert row.triton == "fallback" and "complex64" in row.triton_reason
    assert ft.coverage(fnp.abs, X).missing("triton") == []
    with pytest.raises(errors.MissingRuleError, match="abs \\(triton\\)"):
        report.check("triton")


_UNARY = ["sin", "cos", "exp", "tanh", "log1p", "sqrt", "abs", "neg"]


@given(ops=st.lists(st.sampled_from(_UNARY), min_size=1, max_size=6),
       shape=st.sampled_from([(), (3,), (2, 3)]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_rows_are_the_used_primitives_in_first_use_order(ops, shape, dtype):
    def f(x):
        for op in ops:
            x = getattr(fnp, "negative" if op == "neg" else op)(x)
        return x

    report = ft.coverage(f, np.ones(shape, dtype))
    assert isinstance(report, Coverage)
    assert [r.name for r in report.rows] == list(dict.fromkeys(ops))
    assert [r.count for r in report.rows] == [ops.count(r.name) for r in report.rows]
    text = str(report).splitlines()
    assert len(text) == 1 + len(report.rows)  # header + one line each: all have kernels
    for r, line in zip(report.rows, text[1:], strict=True):
        assert line.split()[0] == r.name


def test_table_names_every_primitive_and_each_fallback():
    report = ft.coverage(_mixed, X, M)
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["primitive", "eqns"]
    for r in report.rows:
        assert any(line.split()[0] == r.name for line in lines[1:1 + len(report.rows)])
    fallbacks = [r for r in report.rows if r.triton == "fallback"]
    assert fallbacks and len(lines) == 1 + len(report.rows) + len(fallbacks)
    assert "✓" in text and "fallback" in text


def test_unknown_transform_is_a_value_error():
    report = ft.coverage(fnp.sin, X)
    with pytest.raises(ValueError, match="grad"):
        report.missing("grad")
    with pytest.raises(ValueError):
        report.check("vmap", "cuda")


def test_coverage_imports_neither_triton_nor_cupy():
    code = ("import sys, numpy as np, functrans as ft, functrans.numpy as fnp; "
            "r = ft.coverage(lambda x: fnp.sort(fnp.sin(x)) @ x, np.ones((3, 3))); str(r); "
            "r.missing('triton'); "
            "bad = [m for m in ('triton', 'cupy') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
