"""jit: equality with eager on generated programs, the retrace rules, cache_info, composition
with grad and vmap, re-entrancy, the on-disk module cache, debugging aids and injection."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import errors, lax
from functrans.lowering import numpy_backend

ROOT = pathlib.Path(__file__).resolve().parents[1]


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCTRANS_CACHE_DIR", str(tmp_path / "cache"))


# --- jit equals eager on generated programs ------------------------------------------------------

UNARY = [fnp.sin, fnp.cos, fnp.tanh, fnp.exp, lambda v: fnp.log1p(v * v), fnp.abs,
         lambda v: v * 1.5, lambda v: -v, lambda v: fnp.sqrt(fnp.abs(v)), fnp.square]
BINARY = [fnp.add, fnp.subtract, fnp.multiply, lambda a, b: a / (1.0 + b * b), fnp.maximum,
          fnp.minimum, lambda a, b: fnp.where(a > b, a, b * 0.5)]


@st.composite
def programs(draw):
    """A random straight-line program over a stack of values, ending in a few reductions."""
    steps = draw(st.lists(st.tuples(st.booleans(), st.integers(0, 9), st.integers(0, 9)),
                          min_size=1, max_size=14))

    def program(x, y):
        stack = [x, y]
        for binary, i, j in steps:
            if binary:
                stack.append(BINARY[i % len(BINARY)](stack[-1], stack[j % len(stack)]))
            else:
                stack.append(UNARY[i % len(UNARY)](stack[-1]))
        return stack[-1], fnp.sum(stack[-1]), fnp.max(stack[len(stack) // 2], axis=-1)

    return program


@settings(max_examples=50)
@given(programs(), st.sampled_from([(7,), (3, 5), (70_000,), (300, 300)]),
       st.sampled_from([np.float32, np.float64]))
def test_jit_equals_eager_on_random_programs(program, shape, dtype):
    # (70_000,) and (300, 300) exceed the chunking threshold: fused, blocked evaluation.
    rng = np.random.default_rng(0)
    x, y = (rng.normal(size=shape).astype(dtype) for _ in range(2))
    want = program(x, y)
    got = ft.jit(program)(x, y)
    tol = 2e-4 if dtype == np.float32 else 1e-10
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=tol, atol=tol * 10)


def test_blocked_reductions_over_leading_and_trailing_axes():
    x = np.random.default_rng(1).normal(size=(400, 300)).astype(np.float64)
    f = ft.jit(lambda v: (fnp.sum(fnp.sin(v) * v, axis=1), fnp.max(fnp.cos(v) + v, axis=0),
                          fnp.prod(1 + 1e-3 * fnp.tanh(v))))
    a, b, c = f(x)
    close(a, np.sum(np.sin(x) * x, axis=1), 1e-10)
    close(b, np.max(np.cos(x) + x, axis=0), 1e-10)
    close(c, np.prod(1 + 1e-3 * np.tanh(x)), 1e-10)
    assert "for _s in range(" in f.lower(x).as_text()


# --- caching and retracing ----------------------------------------------------------------------


def _counting(fun):
    calls = []

    def f(*args, **kwargs):
        calls.append(1)
        return fun(*args, **kwargs)

    return f, calls


def test_each_signature_change_retraces_exactly_once():
    f, calls = _counting(lambda x, y=1.0: x * y)
    jf = ft.jit(f)
    x32 = np.ones(3, np.float32)
    for _ in range(3):
        jf(x32)
    assert len(calls) == 1
    jf(np.ones(4, np.float32))            # shape
    jf(np.ones(4, np.float64))            # dtype
    jf(fnp.asarray(2.0) * np.ones(4, np.float64))  # weak type unchanged: float64 strong
    assert len(calls) == 3
    jf(fnp.ones(4, np.float32) * 1.0)     # same as an earlier signature: no retrace
    assert len(calls) == 3
    jf(2.0)                               # Python scalar: weak f32
    jf(3.0)                               # same trace as 2.0
    assert len(calls) == 4
    jf(np.float32(2.0))                   # NumPy scalar: strong f32, a new trace
    assert len(calls) == 5
    jf(x32, y=np.ones(3, np.float32))     # pytree structure (a keyword leaf appears)
    assert len(calls) == 6
    info = jf.cache_info()
    assert info.misses == 6 and info.hits >= 3 and info.currsize == 6


def test_static_arguments_retrace_on_value_and_must_be_hashable():
    f, calls = _counting(lambda x, n: x * n)
    jf = ft.jit(f, static_argnums=1)
    jf(np.ones(2), 3)
    jf(np.ones(2), 3)
    jf(np.ones(2), 4)
    assert len(calls) == 2
    with pytest.raises(TypeError, match="unhashable type list"):
        jf(np.ones(2), [1, 2])
    g = ft.jit(lambda x, *, mode: x * (2 if mode == "double" else 1), static_argnames="mode")
    close(g(np.ones(2), mode="double"), [2.0, 2.0])
    close(g(np.ones(2), mode="single"), [1.0, 1.0])


def test_cache_info_explains_each_miss():
    jf = ft.jit(lambda x: ft.tree.map(lambda a: a + 1, x))
    jf(np.ones(3, np.float32))
    jf(np.ones(4, np.float32))
    jf(np.ones(4, np.int32))
    jf({"a": np.ones(4, np.int32)})
    reasons = [m.reason for m in jf.cache_info().miss_reasons]
    assert reasons[0] == "first call"
    assert "shape of argument leaf 0 changed: f32[3] -> f32[4]" in reasons[1]
    assert "dtype of argument leaf 0 changed: f32[4] -> i32[4]" in reasons[2]
    assert "argument structure changed" in reasons[3]


def test_log_compiles_prints_reason_and_phase_times(capsys):
    with ft.config.log_compiles(True):
        ft.jit(lambda x: fnp.sin(x))(np.ones(2))
    err = capsys.readouterr().err
    assert "functrans.jit: compiled" in err and "first call" in err
    for phase in ("trace", "passes", "codegen", "load"):
        assert f"{phase} " in err


# --- composition --------------------------------------------------------------------------------


def _loss(w, x):
    return fnp.sum(fnp.tanh(x @ w) ** 2)


def test_jit_composes_with_grad_and_vmap_in_every_order():
    rng = np.random.default_rng(3)
    w, xs = rng.normal(size=(3, 2)), rng.normal(size=(4, 5, 3))
    per_example = ft.vmap(ft.grad(_loss), in_axes=(None, 0))
    want = per_example(w, xs)
    variants = [
        ft.jit(per_example),
        ft.vmap(ft.jit(ft.grad(_loss)), in_axes=(None, 0)),
        ft.vmap(ft.grad(ft.jit(_loss)), in_axes=(None, 0)),
        ft.jit(ft.vmap(ft.jit(ft.grad(ft.jit(_loss))), in_axes=(None, 0))),
    ]
    for v in variants:
        close(v(w, xs), want, 1e-10)
    total = lambda w: fnp.sum(ft.vmap(_loss, in_axes=(None, 0))(w, xs))  # noqa: E731
    close(ft.grad(ft.jit(total))(w), ft.grad(total)(w), 1e-10)
    close(ft.jit(ft.grad(ft.jit(total)))(w), ft.grad(total)(w), 1e-10)
    close(ft.jit(ft.hessian(lambda v: fnp.sum(v ** 3)))(np.arange(3.0)),
          np.diag(6 * np.arange(3.0)), 1e-10)


def test_grad_of_jit_reuses_compiled_known_and_transposed_programs():
    f = ft.jit(lambda x: fnp.sin(x) * x)
    g = ft.grad(lambda x: fnp.sum(f(x)))
    x = np.linspace(0, 1, 5)
    close(g(x), np.cos(x) * x + np.sin(x), 1e-12)
    close(g(x + 1), np.cos(x + 1) * (x + 1) + np.sin(x + 1), 1e-12)
    assert f.cache_info().misses == 1


def test_nested_jit_is_inlined():
    inner = ft.jit(lambda v: v * 2)
    outer = ft.jit(lambda v: inner(v) + inner(v + 1))
    close(outer(np.ones(2)), [6.0, 6.0])
    assert "jit_call" in str(outer.lower(np.ones(2)).jaxpr)
    assert "jit_call" not in outer.lower(np.ones(2)).as_text().split("import numpy")[1]


# --- safety -----------------------------------------------------------------------------------


def test_inputs_are_never_written_and_outputs_never_alias_them():
    x = np.arange(6.0)
    ident = ft.jit(lambda v: v)
    y = ident(x)
    x[0] = 100.0
    assert float(y[0]) == 0.0
    big = np.ones(200_000)
    before = big.copy()
    ft.jit(lambda v: fnp.sum(fnp.sin(v) * v + v))(big)
    np.testing.assert_array_equal(big, before)


def test_generated_code_is_reentrant_across_threads():
    f = ft.jit(lambda v: fnp.sum(fnp.tanh(v) * v, axis=-1))
    inputs = [np.random.default_rng(i).normal(size=(200, 500)) for i in range(4)]
    want = [np.sum(np.tanh(v) * v, axis=-1) for v in inputs]
    results: dict[int, np.ndarray] = {}

    def work(i):
        for _ in range(20):
            results[i] = np.asarray(f(inputs[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        close(results[i], want[i], 1e-10)


def test_static_argument_reprs_never_reach_generated_source(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __repr__(self):
            return f"__import__('pathlib').Path({str(marker)!r}).touch()"

        __str__ = __repr__

        def __hash__(self):
            return 7

        def __eq__(self, other):
            return isinstance(other, Evil)

    payload = f"x')\nimport pathlib; pathlib.Path({str(marker)!r}).touch()\n#"

    def f(x, evil, label):
        return ft.checkpoint_name(x * 2, label) + (1.0 if isinstance(evil, Evil) else 0.0)

    jf = ft.jit(f, static_argnums=(1, 2))
    out = jf(np.ones(3), Evil(), payload)
    close(out, [3.0, 3.0, 3.0])
    src = jf.lower(np.ones(3), Evil(), payload).as_text()
    assert "pathlib" not in src.replace("# ", "")  # only inside comments, if anywhere
    for line in src.splitlines():
        assert "touch" not in line or line.lstrip().startswith("#")
    assert not marker.exists()


# --- the on-disk cache ----------------------------------------------------------------------------

_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import functrans as ft, functrans.numpy as fnp
    from functrans.lowering import jit as J
    f = ft.jit(lambda x: fnp.sum(fnp.cos(x) * x))
    lowered = f.lower(np.ones(8))
    compiled = lowered.compile()
    out = float(f(np.ones(8)))
    print(json.dumps({"from_disk": compiled.exe.from_disk, "path": compiled.exe.path,
                      "out": out, "same_text": open(compiled.exe.path).read() ==
                      lowered.as_text()}))
""")


def _run_script(cache_dir):
    env = {**os.environ, "FUNCTRANS_CACHE_DIR": str(cache_dir)}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_second_process_reuses_the_generated_module_and_survives_corruption(tmp_path):
    cache = tmp_path / "shared-cache"
    first = _run_script(cache)
    assert first["from_disk"] is False and first["same_text"]
    second = _run_script(cache)
    assert second["from_disk"] is True and second["path"] == first["path"]
    assert second["out"] == first["out"]
    # A torn write (truncated file) is detected and rewritten, never executed.
    path = pathlib.Path(first["path"])
    path.write_text(path.read_text()[:40])
    third = _run_script(cache)
    assert third["from_disk"] is False and third["out"] == first["out"]
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["function"] == "<lambda>" and meta["key"] in path.name


def test_clear_caches_empties_the_disk_cache(tmp_path):
    f = ft.jit(lambda x: x * 3)
    f(np.ones(2))
    cache = pathlib.Path(os.environ["FUNCTRANS_CACHE_DIR"])
    assert list(cache.rglob("*.py"))
    ft.clear_caches()
    assert not list(cache.rglob("*.py"))
    close(f(np.ones(2)), [3.0, 3.0])


def test_unwritable_cache_falls_back_to_memory(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    monkeypatch.setenv("FUNCTRANS_CACHE_DIR", str(ro))
    try:
        close(ft.jit(lambda x: x - 1)(np.ones(2)), [0.0, 0.0])
    finally:
        ro.chmod(0o700)


# --- AOT and debugging ----------------------------------------------------------------------------


def test_lower_gives_text_jaxpr_and_compile_with_phase_times():
    f = ft.jit(lambda x: fnp.exp(x) + 1)
    lowered = f.lower(np.ones(3, np.float32))
    assert "exp" in str(lowered.jaxpr)
    assert "np.exp(" in lowered.as_text()
    compiled = lowered.compile()
    close(compiled(np.zeros(3, np.float32)), [2.0, 2.0, 2.0])
    assert set(compiled.timings) >= {"trace", "passes", "codegen", "load"}
    assert compiled.as_text() == lowered.as_text()


def test_disable_jit_runs_python_each_call():
    f, calls = _counting(lambda x: x * 2)
    jf = ft.jit(f)
    with ft.disable_jit():
        jf(np.ones(2))
        jf(np.ones(2))
    assert len(calls) == 2


def test_debug_nans_names_the_primitive_and_line():
    def f(x):
        y = x * 2
        return fnp.log(y - 10)  # the NaN source

    jf = ft.jit(f)
    jf(np.ones(2))  # NaN, but nobody asked
    with ft.config.debug_nans(True):
        with pytest.raises(FloatingPointError) as info:
            jf(np.ones(2))
    msg = str(info.value)
    assert "'log'" in msg and "the NaN source" not in msg
    assert "test_jit.py" in msg


def test_jit_errors_are_typed_and_filtered():
    with pytest.raises(errors.TracerBoolConversionError) as info:
        ft.jit(lambda x: x if x > 0 else -x)(1.0)
    assert "jit" in str(info.value) and "static" in str(info.value)
    with pytest.raises(ValueError, match="unknown backend"):
        ft.jit(lambda x: x, backend="tpu")


def test_executable_compiles_to_real_file_lines():
    f = ft.jit(lambda x: fnp.sin(x))
    compiled = f.lower(np.ones(2)).compile()
    if compiled.exe.path:
        assert pathlib.Path(compiled.exe.path).read_text() == compiled.as_text()
    assert isinstance(numpy_backend.Executable, type)
    close(lax.sin(1.0), np.sin(1.0))


def test_static_argnums_out_of_range_is_reported_at_definition():
    with pytest.raises(ValueError, match="static_argnums=.*refers to argument 3"):
        ft.jit(lambda x, y: x, static_argnums=3)


def test_disk_cache_is_trimmed_to_its_size_cap(monkeypatch):
    from functrans.lowering import source
    monkeypatch.setattr(source, "CAP_CHECK_EVERY", 1)  # check on every write
    monkeypatch.setenv("FUNCTRANS_CACHE_MAX_BYTES", "6000")
    for k in range(12):  # distinct programs: distinct modules of ~1 KB each
        ft.jit(lambda x, k=k: fnp.sin(x) * (k + 2) + k)(np.ones(k + 1, np.float32))
    assert 0 < source.cache_size_bytes() <= 6000 + 3000  # trimmed to 80% of the cap per check


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_large_fused_groups_on_threads_match_one_thread_and_eager(threads, recwarn):
    def f(x):
        y = fnp.log(x) * fnp.exp(-x) + fnp.sqrt(x)  # log/sqrt of negatives: quiet, like eager
        return fnp.sum(fnp.exp(-x * x)), fnp.max(fnp.abs(x) * 2.0, axis=0), y * 3.0

    x = np.random.default_rng(0).normal(size=(300_001,)).astype(np.float64)
    with ft.config.cpu_threads(1):
        ft.clear_caches()
        expected = [np.asarray(o) for o in ft.jit(f)(x)]
    with ft.config.cpu_threads(threads):
        ft.clear_caches()
        got = [np.asarray(o) for o in ft.jit(f)(x)]
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)  # summed in another order
    np.testing.assert_allclose(got[0], np.sum(np.exp(-x * x)), rtol=1e-12)
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_array_equal(got[2], expected[2])
    with np.errstate(all="ignore"):
        eager = np.log(x) * np.exp(-x) + np.sqrt(x)
    np.testing.assert_array_equal(got[2], eager * 3.0)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_threaded_groups_are_reentrant_from_two_user_threads():
    f = ft.jit(lambda x: fnp.sum(fnp.sin(x) ** 2))
    xs = [np.linspace(0, k + 1, 400_000) for k in range(4)]
    expected = [float(f(x)) for x in xs]
    results: dict[int, float] = {}

    def worker(k):
        for _ in range(5):
            results[k] = float(f(xs[k]))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[k] for k in range(4)] == expected


@pytest.mark.parametrize("op", ["max", "min", "sum"])
def test_fused_boolean_and_integer_reductions_start_from_the_right_identity(op):
    # Regression: a blocked reduce_max over bools started from np.full(-inf, bool) == True.
    x = np.zeros((1000, 300), np.float32)
    x[3, 7] = 9.0
    for f in (lambda x: getattr(fnp, op)(x > 5.0, axis=0),
              lambda x: getattr(fnp, op)((x * 2).astype(np.int8), axis=0)):
        np.testing.assert_array_equal(np.asarray(ft.jit(f)(x)), np.asarray(f(x)))


def test_verify_names_the_equation_a_wrong_numpy_rule_breaks(monkeypatch):
    from functrans.lowering import numpy_rules
    from functrans.lowering.triton_verify import VerificationError
    monkeypatch.setitem(numpy_rules.RULES, "sin", numpy_rules._ufunc("cos"))
    f = ft.jit(lambda x: fnp.sum(fnp.sin(x) * 2 + 1), verify=True)
    with pytest.raises(VerificationError, match=r"first equation that differs.*\n.*= sin a"):
        f(np.linspace(0, 1, 8))
