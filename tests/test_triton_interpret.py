"""The Triton backend, run for real: generated kernels execute in Triton's CPU interpreter on
NumPy buffers and are compared with the NumPy backend and with eager evaluation.

Triton fixes interpreter-or-compiled mode when ``triton.language`` is first imported
(anchors/lowering.md section 0.2), so these tests need their own process with
``TRITON_INTERPRET=1`` set from the start. In the main test process this file holds a single
test that starts that process (``python -m pytest tests/test_triton_interpret.py``) and
reports its output; in the child, the tests below run. Launches are kept small (a few
programs each): the interpreter costs about 0.1 ms per operation per program.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

INTERPRETER = os.environ.get("TRITON_INTERPRET", "") == "1"


if not INTERPRETER:

    def test_triton_interpreter_suite():
        """All tests of this file, in a child process with TRITON_INTERPRET=1."""
        pytest.importorskip("triton", reason="the test extra installs triton")
        env = {**os.environ, "TRITON_INTERPRET": "1", "TRITON_DEFAULT_FP_FUSION": "1"}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
             "no:randomly", "--durations=5", os.path.abspath(__file__)],
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env=env,
            capture_output=True, text=True, timeout=900, check=False)
        out = proc.stdout[-12000:] + proc.stderr[-4000:]
        assert proc.returncode == 0, f"interpreter suite failed:\n{out}"

else:
    from functrans.lowering import triton_backend, triton_rules, triton_schedule
    from functrans.lowering.triton_schedule import classify
    from functrans.lowering.triton_verify import VerificationError
    from hypothesis import given, settings
    from hypothesis import strategies as st

    import functrans as ft
    import functrans.numpy as fnp
    from functrans import lax, nn
    from functrans.primitives.registry import all_primitives
    from tests.harness import as_list, assert_same_values, describe, registry_cases
    from tests.known_gaps import NO_SAMPLES

    FEW = settings(max_examples=25, deadline=None)
    TOL = {np.dtype(np.float16): 4e-3, np.dtype(np.float32): 2e-5,
           np.dtype(np.float64): 1e-12}

    @pytest.fixture(autouse=True)
    def _in_memory_modules():
        with ft.config.persistent_cache(False):  # thousands of modules: keep them in memory
            yield

    def tjit(f, **kw):
        return ft.jit(f, backend="triton", **kw)

    def assert_close(got, want, what="", tol=None):
        got, want = np.asarray(got), np.asarray(want)
        assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
        assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
        if got.dtype.kind == "f":
            t = tol if tol is not None else TOL[got.dtype]
            scale = max(1.0, float(np.nanmax(np.abs(want[np.isfinite(want)]), initial=0)))
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                       rtol=t, atol=t * scale, equal_nan=True, err_msg=what)
        else:
            np.testing.assert_array_equal(got, want, err_msg=what)

    def differential(f, *args, tol=None, kernels=None, fallbacks=0):
        """f under the Triton backend == f under the NumPy backend == f eagerly; optionally
        checks how many kernels and fallbacks the lowered text has."""
        got = ft.tree_util.tree_leaves(tjit(f)(*args))
        ref = ft.tree_util.tree_leaves(ft.jit(f, backend="numpy")(*args))
        eager = ft.tree_util.tree_leaves(f(*args))
        for i, (g, r, e) in enumerate(zip(got, ref, eager, strict=True)):
            assert_close(g, r, f"output {i} vs NumPy backend", tol)
            assert_close(g, e, f"output {i} vs eager", tol)
        text = tjit(f).lower(*args).as_text()
        if kernels is not None:
            assert count_kernels(text) == kernels, text
        if fallbacks is not None:
            assert count_fallbacks(text) == fallbacks, text
        return text

    def count_kernels(text):
        return text.count("@triton.jit")

    def count_fallbacks(text):
        return text.count("rt.fallback(")

    def arrays(draw, shape, dtype, lo=-3.0, hi=3.0):
        seed = draw(st.integers(0, 2 ** 31 - 1))
        rng = np.random.default_rng(seed)
        dtype = np.dtype(dtype)
        if dtype.kind == "f":
            return rng.uniform(lo, hi, shape).astype(dtype)
        if dtype.kind == "b":
            return rng.random(shape) < 0.5
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -100), min(info.max, 100), shape,
                            endpoint=True).astype(dtype)

    shapes = st.lists(st.integers(1, 9), min_size=0, max_size=3).map(tuple)

    # --- every primitive: its Triton rule (or its fallback) against its impl ------------------

    CASES = [c for c in registry_cases() if c[0].name not in NO_SAMPLES]
    PRIMS = sorted({p.name for p, _ in CASES})

    @pytest.mark.parametrize("name", PRIMS)
    def test_every_primitive_matches_impl_and_numpy_backend(name):
        """jit(backend="triton") of each primitive, on the first samples of every dtype, equals
        its NumPy impl and the NumPy backend (kernels where there is a rule, else the
        fallback path)."""
        for prim, dtype in [c for c in CASES if c[0].name == name]:
            for ex in prim.sample(dtype)[:3]:
                def f(*args, ex=ex, prim=prim):
                    return prim.bind(*args, **ex.params)

                got = as_list(tjit(f)(*ex.args), prim)
                want = as_list(prim.impl(*ex.args, **ex.params), prim)
                ref = as_list(ft.jit(f, backend="numpy")(*ex.args), prim)
                for g, w, r in zip(got, want, ref, strict=True):
                    assert_same_values(g, w, f"{prim.name} {describe(ex)} (triton vs impl)")
                    assert_same_values(g, r, f"{prim.name} {describe(ex)} (triton vs numpy)")

    def test_primitives_with_a_triton_rule_lower_to_kernels():
        """A primitive the table says has a kernel rule is not silently a fallback: for some
        sample of a supported dtype its equation is scheduled into a kernel."""
        missing = []
        for prim in all_primitives():
            if triton_rules.lowering_kind(prim.name, prim.family) != "kernel":
                continue
            found = False
            for dtype in sorted(prim.dtypes, key=lambda d: d.str):
                if not triton_rules.supported_dtype(dtype):
                    continue
                for ex in prim.sample(dtype):
                    closed = ft.make_jaxpr(
                        lambda *a, ex=ex, prim=prim: prim.bind(*a, **ex.params))(*ex.args)
                    eqns = [e for e in closed.jaxpr.eqns if e.prim is prim]
                    if eqns and all(classify(e) != "other" for e in eqns):
                        found = True
                        break
                if found:
                    break
            if not found:
                missing.append(prim.name)
        assert not missing, f"kernel rules never used by any sample: {missing}"

    # --- fusion kinds, with structure asserted on the lowered text ----------------------------

    def test_ten_op_elementwise_chain_is_one_kernel():
        x = np.linspace(-2, 2, 60, dtype=np.float32).reshape(6, 10)
        b = np.linspace(0, 1, 10, dtype=np.float32)

        def chain(x, b):
            y = fnp.sin(x) * 2.0 + b                 # broadcast operand: stride 0, not copied
            y = fnp.exp(-y * y) - fnp.cos(x)
            y = fnp.tanh(y) / (1.0 + fnp.abs(x))
            return fnp.sqrt(fnp.abs(y) + 1.0)

        closed = ft.make_jaxpr(chain)(x, b)
        n_compute = sum(1 for e in closed.jaxpr.eqns if e.prim.name != "broadcast_in_dim")
        assert n_compute >= 10
        text = differential(chain, x, b, kernels=1)
        assert "pointwise" in text and "xindex" in text

    def test_softmax_is_one_row_kernel():
        x = np.random.default_rng(0).standard_normal((7, 33)).astype(np.float32)
        text = differential(nn.softmax, x, kernels=1)
        assert "row kernel" in text and text.count("tl.reduce(") + text.count("tl.sum(") == 2

    @pytest.mark.parametrize("fn", ["log_softmax", "logsumexp", "layer_norm"])
    def test_row_patterns_are_one_kernel(fn):
        rng = np.random.default_rng(1)
        x = rng.standard_normal((5, 40)).astype(np.float32)
        g = rng.standard_normal(40).astype(np.float32)
        b = rng.standard_normal(40).astype(np.float32)

        def layer_norm(x, g, b):
            mu = fnp.mean(x, -1, keepdims=True)
            var = fnp.mean((x - mu) ** 2, -1, keepdims=True)
            return (x - mu) * lax.rsqrt(var + 1e-5) * g + b

        f = {"log_softmax": lambda x, g, b: nn.log_softmax(x),
             "logsumexp": lambda x, g, b: nn.logsumexp(x, axis=-1),
             "layer_norm": layer_norm}[fn]
        differential(f, x, g, b, kernels=1, tol=1e-4)

    def test_relu_matmul_bias_is_one_matmul_kernel_with_epilogue():
        rng = np.random.default_rng(2)
        x = rng.standard_normal((9, 20)).astype(np.float32)
        w = rng.standard_normal((20, 11)).astype(np.float32)
        b = rng.standard_normal(11).astype(np.float32)
        text = differential(lambda x, w, b: fnp.maximum(x @ w + b, 0.0), x, w, b, kernels=1,
                            tol=1e-5)
        kernel = text[text.index("@triton.jit"):]
        assert "_matmul_tile(" in kernel
        after = kernel[kernel.index("_matmul_tile("):]
        assert "tl.load(" in after and "_maximum(" in after  # bias and relu in the epilogue

    @given(st.data())
    @FEW
    def test_elementwise_chains_with_broadcasting(data):
        shape = data.draw(shapes, label="shape")
        dtype = np.dtype(data.draw(st.sampled_from(["float32", "float64", "float16"])))
        # A partner broadcast from a shape with some dims dropped or set to 1.
        pshape = tuple(d if data.draw(st.booleans()) else 1 for d in shape)
        pshape = pshape[data.draw(st.integers(0, len(pshape))):]
        x = arrays(data.draw, shape, dtype)
        y = arrays(data.draw, pshape, dtype, 0.5, 2.0)
        choices = ["tanh", "mul", "add", "max", "logistic", "where", "abs", "sub", "sqrt"]
        if dtype != np.float16:
            # (In float16, NumPy rounds inside some impls, e.g. logistic, and chains of
            # exp/sin amplify a 1-ulp difference past any sensible tolerance.)
            choices += ["sin", "exp", "div", "square", "log1p"]
        ops = data.draw(st.lists(st.sampled_from(choices), min_size=1, max_size=8))

        def f(x, y):
            v = x
            for op in ops:
                if op == "sin":
                    v = fnp.sin(v)
                elif op == "exp":
                    v = fnp.exp(fnp.minimum(v, 3.0))
                elif op == "tanh":
                    v = fnp.tanh(v)
                elif op == "mul":
                    v = v * y
                elif op == "add":
                    v = v + y
                elif op == "sub":
                    v = v - 0.5
                elif op == "div":
                    v = v / y
                elif op == "max":
                    v = fnp.maximum(v, y - 1.0)
                elif op == "square":
                    v = v * v
                elif op == "logistic":
                    v = nn.sigmoid(v)
                elif op == "where":
                    v = fnp.where(v > 0, v, y)
                elif op == "abs":
                    v = fnp.abs(v)
                elif op == "sqrt":
                    v = fnp.sqrt(fnp.abs(v))
                elif op == "log1p":
                    v = fnp.log1p(fnp.abs(v))
            return v

        differential(f, x, y, kernels=None if not shape else 1,
                     tol=5e-3 if dtype == np.float16 else 1e-5 if dtype == np.float32
                     else 1e-12)

    @given(st.data())
    @FEW
    def test_integer_and_bool_elementwise(data):
        shape = data.draw(shapes.filter(lambda s: len(s) > 0))
        dtype = np.dtype(data.draw(st.sampled_from(["int8", "int32", "int64", "uint8",
                                                    "uint32"])))
        x = arrays(data.draw, shape, dtype)
        y = arrays(data.draw, shape, dtype)
        y = np.where(y == 0, 3, y).astype(dtype)

        def f(x, y):
            return (x // y, x % y, x * y - x, fnp.maximum(x, y), x ^ y, (x > y) & (x != 0),
                    fnp.right_shift(x, (y % 5).astype(dtype)), fnp.abs(x), -x,
                    x.astype(np.float32) * 0.5)

        differential(f, x, y)

    def test_numpy_floor_semantics_for_floor_divide_and_mod():
        x = np.array([-7, -6, -1, 0, 1, 6, 7, 5], np.int32)
        y = np.array([3, -3, 2, 5, -2, 4, -4, 0], np.int32)
        got = tjit(lambda x, y: (x // y, x % y))(x, y)
        with np.errstate(all="ignore"):
            assert_close(got[0][:-1], (x // y)[:-1])
            assert_close(got[1][:-1], (x % y)[:-1])
        xf = np.array([-7.5, 7.5, -0.0, 3.0, -3.0], np.float32)
        yf = np.array([2.0, -2.0, 3.0, -2.5, 2.5], np.float32)
        gotf = tjit(lambda x, y: (x // y, x % y))(xf, yf)
        assert_close(gotf[0], np.floor_divide(xf, yf))
        assert_close(gotf[1], np.mod(xf, yf))

    def test_integer_edge_cases_match_xla_semantics():
        x = np.array([7, -7, 5, -128, 3], np.int8)
        y = np.array([0, 0, 9, -1, -9], np.int8)
        differential(lambda x, y: (lax.div(x, y), lax.rem(x, y), lax.shift_left(x, y),
                                   lax.shift_right_logical(x, y),
                                   lax.shift_right_arithmetic(x, y)), x, y)
        f = np.array([np.nan, np.inf, -np.inf, 1e10, -1e10, 3.7, -3.7, 0.0], np.float32)
        cast = lax.convert_element_type
        differential(lambda f: (cast(f, np.int32), cast(f, np.uint8), cast(f, np.int64),
                                cast(f, np.bool_)), f)

    def test_nan_propagating_max_min_and_argmax():
        x = np.array([[1.0, np.nan, 3.0, -np.inf], [np.inf, 2.0, 2.0, 0.0],
                      [np.nan, np.nan, 1.0, 5.0]], np.float32)
        differential(lambda x: (fnp.max(x, -1), fnp.min(x, 0), fnp.maximum(x, 0.5),
                                fnp.minimum(x, x[::-1]), fnp.argmax(x, -1),
                                fnp.argmin(x, 0)), x)

    @given(st.data())
    @FEW
    def test_reductions_with_prologue_and_epilogue(data):
        shape = data.draw(st.lists(st.integers(1, 12), min_size=1, max_size=3).map(tuple))
        axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
        op = data.draw(st.sampled_from(["sum", "max", "min", "prod", "mean", "argmax"]))
        dtype = np.dtype(data.draw(st.sampled_from(["float32", "float64"])))
        looped = data.draw(st.booleans())
        x = arrays(data.draw, shape, dtype, 0.5, 1.5)
        if op == "argmax":
            axes = axes[:1]

        def f(x):
            v = fnp.exp(fnp.sin(x))                             # prologue
            r = {"sum": fnp.sum, "max": fnp.max, "min": fnp.min, "prod": fnp.prod,
                 "mean": fnp.mean, "argmax": fnp.argmax}[op](
                v, axis=axes if op != "argmax" else axes[0])
            return r * 2 + 1 if op != "argmax" else r          # epilogue

        old = triton_schedule.PERSISTENT_ROW_LIMIT, dict(triton_backend.LOOPED_RBLOCK)
        try:
            if looped:  # exercise the looped kernel on small rows, several tiles per row
                triton_schedule.PERSISTENT_ROW_LIMIT = 2
                triton_backend.LOOPED_RBLOCK["interpreter"] = 4
            differential(f, x, kernels=1, tol=1e-4 if dtype == np.float32 else 1e-10)
        finally:
            triton_schedule.PERSISTENT_ROW_LIMIT = old[0]
            triton_backend.LOOPED_RBLOCK.update(old[1])

    def test_looped_rows_split_row_patterns_and_stay_correct():
        x = np.random.default_rng(3).standard_normal((3, 50)).astype(np.float32)
        old = triton_schedule.PERSISTENT_ROW_LIMIT, dict(triton_backend.LOOPED_RBLOCK)
        try:
            triton_schedule.PERSISTENT_ROW_LIMIT = 16
            triton_backend.LOOPED_RBLOCK["interpreter"] = 16   # 4 tiles per row of 50
            text = differential(nn.softmax, x, tol=1e-5)
            assert count_kernels(text) > 1 and "for roffset in range(" in text
        finally:
            triton_schedule.PERSISTENT_ROW_LIMIT = old[0]
            triton_backend.LOOPED_RBLOCK.update(old[1])

    @given(st.data())
    @FEW
    def test_row_kernels_on_random_shapes(data):
        rows = data.draw(st.integers(1, 9))
        cols = data.draw(st.integers(1, 70))
        axis = data.draw(st.sampled_from([0, -1]))
        dtype = np.dtype(data.draw(st.sampled_from(["float32", "float64", "float16"])))
        x = arrays(data.draw, (rows, cols), dtype)
        fn = data.draw(st.sampled_from(["softmax", "log_softmax", "logsumexp"]))
        f = {"softmax": lambda x: nn.softmax(x, axis=axis),
             "log_softmax": lambda x: nn.log_softmax(x, axis=axis),
             "logsumexp": lambda x: nn.logsumexp(x, axis=axis)}[fn]
        differential(f, x, kernels=1, tol=1e-2 if dtype == np.float16 else 1e-5
                     if dtype == np.float32 else 1e-12)

    @given(st.data())
    @FEW
    def test_matmul_with_epilogues(data):
        m, n, k = (data.draw(st.integers(1, 40), label=s) for s in "mnk")
        dtype = np.dtype(data.draw(st.sampled_from(["float32", "float64", "float16"])))
        batch = data.draw(st.sampled_from([(), (2,)]))
        ta = data.draw(st.booleans())
        act = data.draw(st.sampled_from(["none", "relu", "tanh", "gelu"]))
        a = arrays(data.draw, (*batch, k, m) if ta else (*batch, m, k), dtype, -1, 1)
        b = arrays(data.draw, (*batch, k, n), dtype, -1, 1)
        bias = arrays(data.draw, (n,), dtype, -1, 1)

        def f(a, b, bias):
            aa = fnp.swapaxes(a, -1, -2) if ta else a
            y = fnp.matmul(aa, b) + bias
            if act == "relu":
                y = fnp.maximum(y, 0)
            elif act == "tanh":
                y = fnp.tanh(y)
            elif act == "gelu":
                y = nn.gelu(y)
            return (y * 0.5).astype(np.float32)

        tol = {np.dtype(np.float16): 2e-2, np.dtype(np.float32): 1e-4,
               np.dtype(np.float64): 1e-10}[dtype]
        text = differential(f, a, b, bias, tol=tol, kernels=1)
        assert "_matmul_tile(" in text

    def test_general_dot_general_layouts():
        rng = np.random.default_rng(4)
        a = rng.standard_normal((3, 4, 5)).astype(np.float32)
        b = rng.standard_normal((3, 5, 2)).astype(np.float32)
        # contraction over two non-adjacent dims: the operand gets a transposed copy
        differential(lambda a, b: lax.dot_general(a, b, (((0, 2), (0, 1)), ((), ()))),
                     a, b, tol=1e-5)
        # batch dims last on both sides: read in place through strides
        text = differential(lambda a, b: lax.dot_general(
            a.transpose(1, 2, 0), b.transpose(1, 2, 0), (((1,), (0,)), ((2,), (2,)))),
            a, b, tol=1e-5, kernels=1)
        assert "_matmul_tile(" in text

    def test_backward_pass_of_an_mlp():
        rng = np.random.default_rng(5)
        x = rng.standard_normal((16, 12)).astype(np.float32)
        w1 = rng.standard_normal((12, 24)).astype(np.float32) * 0.3
        b1 = np.zeros(24, np.float32)
        w2 = rng.standard_normal((24, 3)).astype(np.float32) * 0.3

        def loss(params, x):
            w1, b1, w2 = params
            h = nn.relu(x @ w1 + b1)
            return fnp.mean(nn.logsumexp(h @ w2, axis=-1))

        grads = tjit(ft.value_and_grad(loss))((w1, b1, w2), x)
        want = ft.value_and_grad(loss)((w1, b1, w2), x)
        for g, w in zip(ft.tree_util.tree_leaves(grads), ft.tree_util.tree_leaves(want),
                        strict=True):
            assert_close(g, w, "value_and_grad", tol=1e-4)

    @given(st.data())
    @FEW
    def test_movement_primitives_fuse_as_index_maps(data):
        shape = data.draw(st.lists(st.integers(1, 6), min_size=2, max_size=3).map(tuple))
        x = arrays(data.draw, shape, np.float32)
        perm = tuple(data.draw(st.permutations(range(len(shape)))))
        which = data.draw(st.sampled_from(["transpose_reshape", "slice_rev", "concat",
                                           "pad", "iota", "broadcast"]))

        def f(x):
            if which == "transpose_reshape":
                t = x.transpose(perm)
                return fnp.sin(t.reshape(-1)) + 1.0
            if which == "slice_rev":
                return fnp.exp(x[::-1, 1::2]) * 2.0
            if which == "concat":
                return fnp.concatenate([x, fnp.cos(x), x[:, :1]], axis=1)
            if which == "pad":
                return lax.pad(fnp.tanh(x), np.float32(-1.0),
                               [(1, 0, 0)] + [(0, 2, 0)] * (len(shape) - 1))
            if which == "iota":
                return x * lax.broadcasted_iota(np.float32, shape, len(shape) - 1)
            return fnp.broadcast_to(x[..., :1] * 3.0, (2, *shape))

        differential(f, x, kernels=1)

    def test_fallbacks_run_inside_the_same_function():
        x = np.random.default_rng(6).standard_normal((4, 9)).astype(np.float32)

        def f(x):
            s = lax.sort(fnp.sin(x) * 2.0, dimension=1)      # no Triton rule: a fallback
            return fnp.cumsum(s, axis=1) + 1.0, lax.erfc(x)   # cumsum: xp form; erfc: impl

        text = differential(f, x, fallbacks=3)
        assert "runs as an array-API function" in text
        assert "the primitive's NumPy impl" in text
        assert "(why:" in text

    def test_array_api_fallbacks_agree_with_impls():
        """The CuPy fallback forms (run here with xp=numpy) compute what the impls compute."""
        rng = np.random.default_rng(7)
        x = rng.standard_normal((3, 5)).astype(np.float32)
        for name, params in [("cumsum", {"axis": 1, "reverse": False}),
                             ("cumsum", {"axis": 0, "reverse": True}),
                             ("cumprod", {"axis": 1, "reverse": True}),
                             ("sort", {"dimension": 1, "is_stable": True, "num_keys": 1})]:
            closed = ft.make_jaxpr(lambda x: ft.lax.cumsum(x, 0))(x)
            eqn = closed.jaxpr.eqns[0]
            prim = next(p for p in all_primitives() if p.name == name)
            fake = type(eqn)(prim, eqn.invars, eqn.outvars, params)
            fn = triton_rules.xp_fallback(fake)
            assert fn is not None
            got = fn(np, x)
            want = prim.impl(x, **params)
            got = got[0] if prim.multiple_results else got
            want = want[0] if prim.multiple_results else want
            assert_close(np.asarray(got), np.asarray(want), name)

    def test_zero_size_arrays_and_scalars():
        z = np.zeros((0, 3), np.float32)
        differential(lambda z: (fnp.sin(z) + 1, fnp.sum(z, 1)), z)
        text = differential(lambda z: fnp.sum(z, 0), z, fallbacks=1)
        assert "empty axis" in text
        s = np.float32(2.5)
        differential(lambda s: (fnp.sin(s) * s, s + 1), s)
        x = np.arange(6, dtype=np.float32)
        differential(lambda x, s: x * s + s, x, s, kernels=1)

    def test_outputs_that_are_inputs_constants_or_keepdims():
        x = np.random.default_rng(8).standard_normal((4, 5)).astype(np.float32)
        captured = np.arange(5, dtype=np.float32)
        differential(lambda x: (x, fnp.ones(3, np.float32) * 2.0, x + captured,
                                fnp.max(x, -1, keepdims=True) + 1.0), x)

    def test_float16_math_rounds_like_eager():
        x = np.linspace(-3, 3, 64).astype(np.float16).reshape(8, 8)
        differential(lambda x: (fnp.exp(x) * x + x / 3, fnp.sum(x * x, -1),
                                nn.softmax(x), x.astype(np.float32) + 1), x, tol=4e-3)

    def test_transcendentals_at_edges():
        v = np.array([0.0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 1.0, -1.0, 3.0, 20.0, -20.0, 100.0,
                      np.inf, -np.inf, np.nan], np.float64)

        def f(x):
            return (fnp.expm1(x), fnp.log1p(fnp.abs(x)), fnp.tanh(x), fnp.sinh(x / 2),
                    fnp.cosh(x / 2), fnp.arctan(x), fnp.arcsinh(x), fnp.cbrt(x),
                    fnp.arctan2(x, x[::-1]), fnp.sign(x), fnp.round(x * 2.5),
                    fnp.arctanh(fnp.clip(x, -0.999, 0.999)), fnp.arccosh(fnp.abs(x) + 1))

        for dtype, tol in ((np.float64, 1e-13), (np.float32, 2e-6)):
            differential(f, v.astype(dtype), tol=tol)
        p = np.array([[2.0, -2.0, 0.0, -1.0, 1.5, -8.0]], np.float64)
        q = np.array([[3.0, 3.0, -1.0, np.inf, 0.0, 1 / 3]], np.float64)
        differential(lambda p, q: fnp.power(p, q), p, q, tol=1e-13)

    # --- verify=True ----------------------------------------------------------------------------

    def test_verify_passes_on_correct_code():
        x = np.random.default_rng(9).standard_normal((5, 6)).astype(np.float32)
        f = tjit(lambda x: nn.softmax(fnp.sin(x)) * 2.0, verify=True)
        assert_close(f(x), np.asarray(nn.softmax(fnp.sin(x)) * 2.0))

    def test_verify_names_the_first_wrong_equation(monkeypatch):
        x = np.random.default_rng(10).standard_normal((5, 6)).astype(np.float32)
        good = triton_rules.RULES["cos"]
        # A deliberately wrong rule: cos lowered as sin.
        monkeypatch.setitem(triton_rules.RULES, "cos", triton_rules.Rule(
            lambda k, eqn, ins: f"tl.sin({ins[0]})", good.ok))

        def f(x):
            y = fnp.exp(x) * 2.0
            return fnp.cos(y) + fnp.sin(y)

        with pytest.raises(VerificationError) as info:
            tjit(f, verify=True)(x)
        message = str(info.value)
        assert "= cos" in message and "test_triton_interpret.py" in message

    # --- kernels/: the hand-written matmul and the adapter -------------------------------------

    @pytest.mark.parametrize("activation", ["none", "relu", "gelu", "silu"])
    def test_handwritten_matmul_with_fused_epilogue(activation):
        from functrans.kernels.matmul import matmul
        rng = np.random.default_rng(11)
        a = rng.standard_normal((2, 17, 33)).astype(np.float32)
        b = rng.standard_normal((2, 33, 9)).astype(np.float32)
        bias = rng.standard_normal(9).astype(np.float32)
        got = matmul(a, b, bias=bias, activation=activation, scale=0.5,
                     out_dtype=np.float16)
        y = a.astype(np.float64) @ b + bias
        y = {"none": y, "relu": np.maximum(y, 0),
             "gelu": 0.5 * y * (1 + np.tanh(0.7978845608028654 * (y + 0.044715 * y ** 3))),
             "silu": y / (1 + np.exp(-y))}[activation]
        assert got.dtype == np.float16
        np.testing.assert_allclose(got.astype(np.float64), (y * 0.5).astype(np.float16),
                                   rtol=2e-3, atol=2e-3)
        got2 = matmul(a[0], b[0])
        np.testing.assert_allclose(got2, a[0] @ b[0], rtol=1e-5, atol=1e-5)

    def test_numpy_adapter_views_and_offsets():
        import triton
        import triton.language as tl
        from functrans.kernels.interp import NpTensor

        src = np.arange(20, dtype=np.float64)
        out = np.zeros(5)
        kernel = _copy_kernel(triton, tl)
        view = src[7:12]                        # a view at a nonzero offset
        kernel[(1,)](NpTensor(view), NpTensor(out), 5, BLOCK=8)
        assert_close(out, src[7:12])
        assert NpTensor(src[::2]).stride() == (2,)

    _KERNELS = {}

    def _copy_kernel(triton, tl):
        if "copy" not in _KERNELS:
            from functrans.lowering import source
            mod, _, _ = source.load_module("triton", _COPY_SRC, {}, persist=False)
            _KERNELS["copy"] = mod.copy
        return _KERNELS["copy"]

    _COPY_SRC = (
        "import triton\nimport triton.language as tl\n\n\n@triton.jit\n"
        "def copy(x_ptr, y_ptr, n, BLOCK: tl.constexpr):\n"
        "    i = tl.arange(0, BLOCK)\n"
        "    tl.store(y_ptr + i, tl.load(x_ptr + i, mask=i < n), mask=i < n)\n")

    # --- sizes at run time, caching ---------------------------------------------------------

    def test_kernels_take_sizes_at_run_time():
        """Two batch sizes with the same structure generate the same kernel text, so the
        compiled kernel (and Triton's binary cache) is shared."""
        def f(x, b):
            return fnp.tanh(x * 2.0 + b)

        b = np.ones(8, np.float32)
        t1 = tjit(f).lower(np.ones((4, 8), np.float32), b).as_text()
        t2 = tjit(f).lower(np.ones((100, 8), np.float32), b).as_text()
        k1, k2 = t1[t1.index("# ======== kernel"):], t2[t2.index("# ======== kernel"):]
        assert k1 == k2
        assert "100" not in k2

    def test_huge_shapes_use_64_bit_indexing():
        text = tjit(lambda x: x * 2.0).lower(
            ft.ShapeDtypeStruct((2 ** 31 + 8,), np.float32)).as_text()
        assert "tl.program_id(0).to(tl.int64)" in text
        small = tjit(lambda x: x * 2.0).lower(np.ones(8, np.float32)).as_text()
        assert "tl.int64" not in small

    def test_long_chains_are_cut_and_stay_correct():
        """A chain deeper than MAX_DEPTH stores intermediate values (bounded kernels) and still
        computes the same thing."""
        x = np.linspace(-1, 1, 40, dtype=np.float32)

        def f(x):
            for i in range(3 * triton_schedule.MAX_DEPTH):
                x = fnp.sin(x) * 0.9 + 0.1 if i % 2 else fnp.tanh(x - 0.05)
            return x

        differential(f, x, tol=1e-4)

    def test_uniform_constants_become_literals():
        """Zeros folded into captured arrays (derivative rules make them) are not loaded."""
        x = np.random.default_rng(12).standard_normal((6, 5)).astype(np.float32)
        f = ft.grad(lambda x: fnp.sum(fnp.where(x > 0, x, 0.0) ** 2))
        text = differential(f, x)
        assert "captured" not in text

    def test_jit_cache_and_second_call_reuse():
        f = tjit(lambda x: fnp.sin(x) + 1.0)
        x = np.ones(5, np.float32)
        f(x)
        f(x)
        info = f.cache_info()
        assert info.hits == 1 and info.misses == 1

    # --- benchmarks run in interpreter mode on tiny sizes ------------------------------------

    @pytest.mark.parametrize("script", ["gpu_elementwise", "gpu_softmax", "gpu_matmul",
                                        "gpu_mlp"])
    def test_gpu_benchmark_scripts_run_tiny(script, capsys):
        import runpy
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = os.path.join(root, "benchmarks", f"{script}.py")
        old = sys.argv
        sys.argv = [path, "--tiny"]
        try:
            runpy.run_path(path, run_name="__main__")
        finally:
            sys.argv = old
        out = capsys.readouterr().out
        assert "ratio" in out.lower() or "x " in out.lower(), out
