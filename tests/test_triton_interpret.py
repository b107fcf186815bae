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

    # --- device residency: results stay on the device, chained calls copy nothing ----------------

    from functrans.kernels import launch
    from functrans.kernels.arrays import GpuArray

    def counts():
        return launch.transfers.to_device, launch.transfers.to_host

    def device_kind():
        """The array type the runtime declares for its results."""
        rt = launch.runtime()
        return type(rt.wrap(rt.empty((1,), np.float32)))

    @given(st.data())
    @FEW
    def test_results_stay_on_the_device_and_chain_without_copies(data):
        shape = data.draw(st.lists(st.integers(1, 9), min_size=0, max_size=2).map(tuple))
        x = arrays(data.draw, shape, np.float32)
        f = tjit(lambda x: (fnp.sin(x) * 2.0, x + 1.0))
        g = tjit(lambda a, b: fnp.tanh(a * b))
        launch.transfers.reset()
        a, b = f(x)
        assert type(a) is device_kind() and type(b) is device_kind()
        assert a.device == "cpu"                      # the interpreter's "device" memory
        assert (a.shape, a.dtype) == (shape, np.float32)
        assert counts() == (1, 0)                     # x went over once; nothing came back
        z = g(g(a, b), a)
        assert type(z) is device_kind() and counts() == (1, 0)
        want = np.tanh(np.tanh(np.sin(x) * 2 * (x + 1)) * (np.sin(x) * 2))
        assert_close(np.asarray(z), want, "chained results", tol=1e-5)
        assert counts() == (1, 1)                     # asked for: one copy back
        np.asarray(z)
        assert counts() == (1, 1)                     # and only once
        assert_close(ft.device_get(a), np.sin(x) * 2, "device_get", tol=1e-6)

    def test_captured_arrays_go_to_the_device_once():
        w = np.arange(12, dtype=np.float32).reshape(3, 4)
        f = tjit(lambda x: x * w + 1.0)
        x = f(np.ones((3, 4), np.float32))
        launch.transfers.reset()
        for _ in range(3):
            x = f(x)
        assert counts() == (0, 0)
        c = tjit(lambda x: x * w).lower(x).compile()   # Compiled keeps results there too
        y = c(c(x))
        assert type(y) is device_kind() and counts() == (1, 0)  # w, once for c
        assert_close(np.asarray(y), np.asarray(x) * w * w, "compiled", tol=1e-6)

    def test_fallbacks_take_device_buffers():
        x = tjit(lambda v: v * 1.0)(np.linspace(-1, 1, 12, dtype=np.float32))
        xp_only = tjit(lambda v: (lax.sort(v * 2.0, dimension=0), fnp.cumsum(v)))
        host_impl = tjit(lambda v: lax.erfc(v) + 1.0)
        launch.transfers.reset()
        s, c = xp_only(x)
        assert counts() == (0, 0)                     # xp.sort / xp.cumsum on the buffers
        e = host_impl(x)
        assert counts() == (1, 1)                     # erfc: the impl on a host copy, back
        v = np.asarray(x)
        assert_close(np.asarray(s), np.sort(v * 2), "sort")
        assert_close(np.asarray(c), np.cumsum(v), "cumsum")
        assert_close(np.asarray(e), np.asarray(lax.erfc(v)) + 1, "erfc")

    @given(n=st.integers(0, 4), c=st.floats(-2, 2, width=32))
    @FEW
    def test_host_impl_fallbacks_take_scalar_literals_without_copies(n, c):
        f = tjit(lambda x: lax.fori_loop(0, n, lambda i, v: v * c + i, x))
        x = f(np.linspace(-1, 1, 5, dtype=np.float32))      # on the device
        launch.transfers.reset()
        y = f(x)
        # the loop (a host impl) copies x to the host and its two carries back; its literal
        # start passes as a host scalar, copied neither way
        assert counts() == (2, 1)
        want = np.asarray(x)
        for i in range(n):
            want = want * np.float32(c) + np.float32(i)
        assert_close(np.asarray(y), want, "fori_loop", tol=1e-5)

    def test_dlpack_export_of_a_device_array_is_read_only():
        x = tjit(lambda v: v * 1.0)(np.arange(4, dtype=np.float32))
        for y in (x, tjit(lambda v: v)(x), tjit(lambda v: np.float32(2.0))(x)):
            view = np.from_dlpack(y)
            assert not view.flags.writeable
            with pytest.raises(ValueError, match="read-only"):
                view[0] = 99
        assert_close(np.asarray(x), np.arange(4, dtype=np.float32), "unchanged")

    def test_device_arrays_in_numpy_code_are_copied_once():
        v = np.arange(1, 6, dtype=np.float32)
        y = tjit(lambda v: v * 1.0)(v)
        launch.transfers.reset()
        z = ft.jit(lambda v: v * 2.0, backend="numpy")(y)
        w = fnp.exp(y) + y                             # eager ops: the same host copy
        assert counts() == (0, 1) and type(z) is ft.Array
        assert_close(z, v * 2, "numpy backend")
        assert_close(w, np.exp(v) + v, "eager", tol=1e-6)
        assert y.block_until_ready() is y

    # --- jit nested under grad / vmap / jvp ------------------------------------------------------

    @pytest.fixture
    def no_numpy_backend(monkeypatch):
        """Fails any compile for the NumPy backend: everything must lower through Triton."""
        from functrans.lowering import jit as jit_mod

        def refuse(closed, name="f"):
            raise AssertionError(f"{name} was compiled for the NumPy backend")

        ft.clear_caches()
        monkeypatch.setattr(jit_mod, "compile_numpy", refuse)
        yield
        ft.clear_caches()

    def _inner(x):
        return fnp.sin(x) * x + fnp.exp(-x * x)

    @given(st.data())
    @FEW
    def test_transforms_of_a_triton_jit_run_on_triton(data):
        n = data.draw(st.integers(1, 9))
        x = arrays(data.draw, (2, n), np.float64)
        t = arrays(data.draw, (2, n), np.float64)
        inner = tjit(_inner)
        from functrans.lowering import jit as jit_mod
        saved = jit_mod.compile_numpy
        jit_mod.compile_numpy = None                  # (a fixture would run once per example)
        try:
            got = [ft.grad(lambda v: fnp.sum(inner(v)))(x), ft.vmap(inner)(x),
                   ft.jvp(inner, (x,), (t,))[1], ft.vmap(ft.grad(lambda v: fnp.sum(inner(v))))(x)]
        finally:
            jit_mod.compile_numpy = saved
        want = [ft.grad(lambda v: fnp.sum(_inner(v)))(x), _inner(x),
                ft.jvp(_inner, (x,), (t,))[1], ft.grad(lambda v: fnp.sum(_inner(v)))(x)]
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, f"transform {i}", tol=1e-12)

    @pytest.mark.parametrize("transform", ["grad", "vmap", "vmap_grad", "jacfwd"])
    def test_transforms_of_a_nested_jit_under_an_outer_triton_jit(transform, no_numpy_backend):
        inner = ft.jit(_inner)                         # no backend: the outer jit's decides
        loss = lambda v: fnp.sum(inner(v))             # noqa: E731
        ref_loss = lambda v: fnp.sum(_inner(v))        # noqa: E731
        f, ref = {"grad": (ft.grad(loss), ft.grad(ref_loss)),
                  "vmap": (ft.vmap(inner), ft.vmap(_inner)),
                  "vmap_grad": (ft.vmap(ft.grad(loss)), ft.vmap(ft.grad(ref_loss))),
                  "jacfwd": (ft.jacfwd(inner), ft.jacfwd(_inner))}[transform]
        x = np.linspace(-1, 1, 12).reshape(3, 4)
        x = x[0] if transform == "jacfwd" else x
        out = tjit(f)(x)
        assert type(out) is device_kind()
        with ft.disable_jit():
            want = ref(x)
        assert_close(out, want, transform, tol=1e-12)
        text = tjit(f).lower(x).as_text()
        assert count_kernels(text) >= 1 and count_fallbacks(text) == 0, text
        assert "jit_call" not in text.split("def build")[1]  # inlined, not a call

    # --- the CUDA runtime's CuPy calls, against a minimal fake cupy ---------------------------

    class FakeCupyArray(np.ndarray):
        """A NumPy array posing as a CuPy array: what the runtime reads of one (``data.ptr``,
        ``device.id``, ``device.synchronize()``)."""

        @property
        def data(self):
            return type("Mem", (), {"ptr": self.__array_interface__["data"][0]})()

        @property
        def device(self):
            return FAKE_DEVICE

    class _FakeDevice:
        id = 0
        synchronized = 0

        def synchronize(self):
            type(self).synchronized += 1

    FAKE_DEVICE = _FakeDevice()

    def _fake_cupy():
        import types
        mod = types.ModuleType("cupy")
        mod.ndarray = FakeCupyArray
        mod.asnumpy_calls = []

        def dev(a):
            return np.asarray(a).view(FakeCupyArray)

        def asnumpy(a):
            assert type(a) is FakeCupyArray, "asnumpy of something not on the device"
            mod.asnumpy_calls.append(a.shape)
            return np.array(a)

        def array(a, order="K"):
            assert type(a) is np.ndarray, "a host copy of something already on the device"
            return np.array(a, order=order).view(FakeCupyArray)

        def numpy_function(name):   # cupy.sort, cupy.cumsum, ...: results stay "on device"
            fn = getattr(np, name)
            return lambda *a, **k: dev(fn(*[np.asarray(x) for x in a], **k))

        mod.asnumpy, mod.array, mod.asarray = asnumpy, array, dev
        mod.empty = lambda shape, dtype: dev(np.empty(shape, dtype))
        mod.__getattr__ = numpy_function
        mod.cuda = types.SimpleNamespace(
            get_current_stream=lambda: types.SimpleNamespace(ptr=4242))
        return mod

    @pytest.fixture
    def fake_cuda_runtime(monkeypatch):
        """A CudaRuntime over the fake cupy, used by jit(backend="triton")."""
        fake = _fake_cupy()
        monkeypatch.setitem(sys.modules, "cupy", fake)
        monkeypatch.setattr(launch, "_install_stream_hook", lambda triton, cupy: None)
        rt = launch.CudaRuntime()
        monkeypatch.setattr(launch, "runtime", lambda: rt)
        triton_backend.clear_caches()
        yield rt, fake
        triton_backend.clear_caches()

    def test_cuda_runtime_keeps_cupy_buffers_on_the_device(fake_cuda_runtime):
        rt, fake = fake_cuda_runtime
        x = np.array([3.0, -1.0, 2.0, 0.5], np.float32)
        f = tjit(lambda v: (lax.sort(v, dimension=0), lax.erfc(v)))  # fallbacks only
        launch.transfers.reset()
        s, e = f(x)
        assert type(s) is GpuArray and type(s._device_buffer) is FakeCupyArray
        assert s.device == "cuda:0" and s.device.platform == "cuda"
        # x in, and erfc's round trip (its impl runs on a host copy)
        assert counts() == (2, 1) and len(fake.asnumpy_calls) == 1
        s2, _ = f(s)                                   # a device argument: no copy in
        assert counts() == (3, 2)
        assert_close(np.asarray(s2), np.sort(x), "sort of sorted")
        assert_close(np.asarray(e), np.asarray(lax.erfc(x)), "erfc")
        assert len(fake.asnumpy_calls) == 4 and counts() == (3, 4)
        before = _FakeDevice.synchronized
        assert s.block_until_ready() is s and _FakeDevice.synchronized == before + 1

    def test_cuda_runtime_copies_buffers_of_another_runtime(fake_cuda_runtime):
        rt, _ = fake_cuda_runtime
        x = np.arange(12, dtype=np.float32).reshape(3, 4)
        foreign = GpuArray(x.T)                        # the interpreter's kind of buffer
        launch.transfers.reset()
        buf = rt.input(foreign)
        assert type(buf) is FakeCupyArray and buf.flags.c_contiguous
        assert counts() == (1, 1)                      # to the host (a view here), over
        np.testing.assert_array_equal(np.asarray(buf), x.T)
        out = tjit(lambda v: lax.sort(v, dimension=1))(foreign)
        assert type(out._device_buffer) is FakeCupyArray
        assert_close(np.asarray(out), np.sort(x.T, axis=1), "sort of a foreign buffer")

    _install_stream_hook = launch._install_stream_hook   # (the fixture stubs it out)

    def test_cuda_runtime_launches_with_device_pointers_on_cupys_stream(fake_cuda_runtime,
                                                                        monkeypatch):
        import types
        rt, fake = fake_cuda_runtime
        drv = types.SimpleNamespace(get_current_stream=lambda dev: 0)
        stub = types.SimpleNamespace(
            runtime=types.SimpleNamespace(driver=types.SimpleNamespace(active=drv)))
        monkeypatch.setattr(launch, "_hook_installed", False)
        _install_stream_hook(stub, fake)
        assert drv.get_current_stream(0) == 0         # other launchers' stream: unchanged
        seen = []

        class Kernel:
            def __getitem__(self, grid):
                def run(*args, **meta):
                    seen.append((grid, args, meta, drv.get_current_stream(0)))
                return run

        buf = rt.input(np.arange(4, dtype=np.float32))
        assert type(buf) is FakeCupyArray and rt.input(buf) is buf
        rt.launch(Kernel(), (2,), (buf, 4), {"XBLOCK": 2})
        (grid, args, meta, stream), = seen
        assert grid == (2,) and meta == {"XBLOCK": 2} and args[1] == 4
        assert stream == 4242                          # CuPy's current stream
        assert args[0].data_ptr() == buf.__array_interface__["data"][0]
        assert args[0].dtype == np.float32
        assert drv.get_current_stream(0) == 0

    # --- gathers, scatter-adds and dynamic slices: data-dependent index maps -----------------

    INDEXING = ["gather", "scatter_add", "dynamic_slice", "dynamic_update_slice"]

    @pytest.mark.parametrize("name", INDEXING)
    def test_every_indexing_sample_is_a_kernel_and_matches_impl(name):
        """All samples (every mode, out-of-bounds, batching dims, uint64 indices, empty
        shapes) of every supported dtype: generated kernels, no fallback, the impl's values
        (scatter_add sums of repeated indices to float tolerance: atomics have no order)."""
        for prim, dtype in [c for c in CASES if c[0].name == name]:
            if not triton_rules.supported_dtype(dtype) or (
                    name == "scatter_add" and dtype.name not in triton_rules.ATOMIC_ADD_TYPES):
                continue
            for ex in prim.sample(dtype):
                def f(*args, ex=ex, prim=prim):
                    return prim.bind(*args, **ex.params)

                what = f"{name} {describe(ex)}"
                assert count_fallbacks(tjit(f).lower(*ex.args).as_text()) == 0, what
                assert_close(tjit(f)(*ex.args), prim.impl(*ex.args, **ex.params), what)

    def _indices(draw, shape, n):
        """Index values of ``shape`` for an axis of size ``n``: in range, negative, and out of
        bounds on both sides."""
        seed = draw(st.integers(0, 2 ** 31 - 1))
        return np.random.default_rng(seed).integers(-2 * n - 1, 2 * n + 2, shape).astype(
            draw(st.sampled_from([np.int32, np.int64, np.uint8, np.int8])))

    @given(st.data())
    @FEW
    def test_gathers_fuse_into_one_kernel(data):
        """take / take_along_axis / .at[].get in each mode, with in-range, negative and
        out-of-bounds indices, fused with elementwise producers and consumers: one kernel."""
        shape = data.draw(st.lists(st.integers(1, 7), min_size=1, max_size=3).map(tuple))
        axis = data.draw(st.integers(0, len(shape) - 1))
        dtype = np.dtype(data.draw(st.sampled_from(["float32", "float16", "int32"])))
        x = arrays(data.draw, shape, dtype)
        mode = data.draw(st.sampled_from(["fill", "clip"]))
        which = data.draw(st.sampled_from(["take", "take_along_axis", "get"]))
        if which == "take_along_axis":
            ishape = tuple(data.draw(st.integers(1, 5)) if d == axis else s
                           for d, s in enumerate(shape))
        else:
            ishape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=2)))
        idx = _indices(data.draw, ishape, shape[axis])
        if idx.dtype.kind == "u" and which == "take_along_axis":
            idx = idx.astype(np.int32)

        def f(x, i):
            y = fnp.asarray(x) * 2 + 1
            if which == "take":
                g = fnp.take(y, i, axis=axis, mode=mode, fill_value=-5)
            elif which == "take_along_axis":
                g = fnp.take_along_axis(y, i, axis=axis, mode=mode, fill_value=-5)
            else:
                g = y.at[(slice(None),) * axis + (i,)].get(mode=mode, fill_value=-5)
            return g * 3

        differential(f, x, idx, kernels=1, fallbacks=0)

    def test_x_idx_lowers_to_one_kernel_without_fallback():
        x = np.arange(40, dtype=np.float32).reshape(8, 5)
        idx = np.array([0, -1, 3, 3, -8, 7], np.int32)
        text = differential(lambda x, i: fnp.asarray(x)[i] * 2 + 1, x, idx, kernels=1,
                            fallbacks=0)
        kernel = text[text.index("@triton.jit"):]
        assert "tl.minimum(tl.maximum(" in kernel    # the impl's clamp, on the loaded index
        # x[idx] reduced in the same row kernel (the gather is the reduction's prologue)
        differential(lambda x, i: fnp.sum(fnp.asarray(x)[i] ** 2, axis=1), x, idx,
                     kernels=1, fallbacks=0)

    def test_vmapped_take_uses_batching_dims_in_one_kernel():
        rng = np.random.default_rng(11)
        x = rng.standard_normal((4, 6)).astype(np.float32)
        idx = rng.integers(-6, 6, (4, 3)).astype(np.int32)
        f = ft.vmap(lambda x, i: fnp.exp(fnp.asarray(x)[i]))
        text = differential(f, x, idx, kernels=1, fallbacks=0)
        assert "gather" in text

    @given(st.data())
    @FEW
    def test_scatter_add_is_atomic_adds(data):
        """x.at[idx].add(v) (duplicates, negative and out-of-bounds indices, drop or clip):
        a copy of x, then atomic adds of the fused updates. Float sums of repeated indices
        come out in any order: compared to tolerance."""
        shape = data.draw(st.lists(st.integers(1, 7), min_size=1, max_size=3).map(tuple))
        dtype = np.dtype(data.draw(st.sampled_from(["float32", "float64", "int32",
                                                    "float16"])))
        x = arrays(data.draw, shape, dtype)
        idx = _indices(data.draw, (data.draw(st.integers(1, 12)),), shape[0])
        v = arrays(data.draw, idx.shape + shape[1:], dtype)
        mode = data.draw(st.sampled_from(["drop", "clip", None]))

        def f(x, i, v):
            return fnp.asarray(x).at[i].add(v * 2, mode=mode) + 1

        tol = 1e-2 if dtype == np.float16 else None
        text = differential(f, x, idx, v, fallbacks=0, tol=tol)
        assert "tl.atomic_add(" in text

    def test_grad_of_a_gather_runs_scatter_add_on_the_device():
        rng = np.random.default_rng(12)
        x = rng.standard_normal((6, 4)).astype(np.float32)
        idx = np.array([0, 5, 5, -1, 2, 0, 0], np.int32)
        w = rng.standard_normal((7, 4)).astype(np.float32)

        def loss(x, i, w):
            return fnp.sum(fnp.sin(fnp.asarray(x)[i]) * w)

        g = ft.grad(loss)
        text = differential(g, x, idx, w, fallbacks=0)
        assert "tl.atomic_add(" in text
        # the value and the gradient together, every path on the device
        differential(ft.value_and_grad(loss), x, idx, w, fallbacks=0)

    def test_chained_scatter_adds_add_into_one_buffer():
        rng = np.random.default_rng(13)
        x = rng.standard_normal((5, 3)).astype(np.float32)
        i, j = np.array([4, 0, 4], np.int32), np.array([1, -1], np.int32)
        u, v = rng.standard_normal((3, 3)).astype(np.float32), np.float32(2.5)
        text = differential(lambda x, u, v: fnp.asarray(x).at[i].add(u).at[j].add(v), x, u, v,
                            kernels=3, fallbacks=0)       # one copy of x, then two scatters
        assert text.count("added into in place") == 2

    @given(st.data())
    @FEW
    def test_dynamic_slices_with_runtime_starts(data):
        shape = data.draw(st.lists(st.integers(1, 7), min_size=1, max_size=3).map(tuple))
        x = arrays(data.draw, shape, np.float32)
        sizes = tuple(data.draw(st.integers(0, s)) for s in shape)
        starts = tuple(np.int32(data.draw(st.integers(-9, 9))) for _ in shape)
        u = arrays(data.draw, sizes, np.float32)

        def f(x, u, *s):
            return (fnp.cos(lax.dynamic_slice(x * 2, s, sizes)),
                    lax.dynamic_update_slice(x, fnp.exp(u), s) - 1)

        differential(f, x, u, *starts, fallbacks=0)

    def test_block_until_ready_waits_on_every_leaf(monkeypatch):
        from functrans.kernels import launch
        waited = []
        monkeypatch.setattr(launch, "synchronize", lambda buf: waited.append(buf))

        class Pending:
            def block_until_ready(self):
                waited.append(self)
                return self

        x = np.arange(4, dtype=np.float32)
        device_result = tjit(lambda x: x + 1)(x)
        tree = {"a": device_result, "b": [Pending(), 3.0, x], "c": ft.numpy.asarray(x)}
        assert ft.block_until_ready(tree) is tree
        assert len(waited) == 2 and waited[1] is tree["b"][0]
        assert waited[0] is device_result._device_buffer
