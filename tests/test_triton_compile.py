"""Generated Triton kernels compile to PTX for sm_90, on a machine without a GPU.

A fixed corpus of programs (one per kind of kernel the backend generates) is lowered, and
each kernel goes through triton.compile for GPUTarget("cuda", 90, 32) (anchors/lowering.md
section 2). Checks: it compiles; aligned contiguous accesses become vectorized loads and
stores; ptxas -v reports no register spills (skipped when ptxas is unavailable).

This must run with TRITON_INTERPRET unset, in a process whose triton is in compiled mode; the
main test process launches this file as its own pytest process (as it does for
test_triton_interpret.py), with a private Triton cache directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import pytest

CHILD = os.environ.get("FUNCTRANS_TRITON_COMPILE_CHILD", "") == "1"


if not CHILD:

    def test_triton_compile_suite():
        """All tests of this file, in a child process with the interpreter off."""
        pytest.importorskip("triton", reason="the test extra installs triton")
        env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
        env.update(FUNCTRANS_TRITON_COMPILE_CHILD="1", TRITON_DEFAULT_FP_FUSION="1",
                   TRITON_CACHE_DIR=tempfile.mkdtemp(prefix="functrans-triton-cache-"))
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             os.path.abspath(__file__)],
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env=env,
            capture_output=True, text=True, timeout=900, check=False)
        out = proc.stdout[-12000:] + proc.stderr[-4000:]
        assert proc.returncode == 0, f"compile suite failed:\n{out}"

else:
    from functrans.kernels import ptx
    from functrans.lowering import triton_backend, triton_schedule

    import functrans as ft
    import functrans.numpy as fnp
    from functrans import lax, nn

    triton = pytest.importorskip("triton")
    rng = np.random.default_rng(0)

    def _arr(shape, dtype=np.float32):
        return rng.standard_normal(shape).astype(dtype)

    def _looped_sum(x):
        return fnp.sum(fnp.exp(x), axis=-1)

    def _layer_norm(x, g, b):
        mu = fnp.mean(x, -1, keepdims=True)
        var = fnp.mean((x - mu) ** 2, -1, keepdims=True)
        return (x - mu) * lax.rsqrt(var + 1e-5) * g + b

    def _chain(x):
        y = fnp.sin(x) * 2.0 + 1.0
        y = fnp.exp(-y * y) - fnp.cos(x)
        return fnp.tanh(y) / (1.0 + fnp.abs(x))

    # (name, function, example arguments): one entry per kind of generated kernel.
    CORPUS = [
        ("chain_f32", _chain, (_arr((256, 1024)),)),
        ("chain_f16", _chain, (_arr((256, 1024), np.float16),)),
        ("chain_f64", _chain, (_arr((64, 256), np.float64),)),
        ("broadcast", lambda x, b: fnp.maximum(x * b + 1.0, 0.0), (_arr((128, 512)),
                                                                  _arr((512,)))),
        ("integers", lambda x, y: (x // y + (x % y), x ^ (y << 2)),
         (rng.integers(-99, 99, (64, 64)).astype(np.int32),
          rng.integers(1, 9, (64, 64)).astype(np.int32))),
        ("bools", lambda x, m: ((x > 0) & m, fnp.where(m, x, 0.0), ~m, fnp.any(m, axis=1)),
         (_arr((64, 64)), rng.random((64, 64)) < 0.5)),
        ("math", lambda x: (fnp.arctan2(x, 1.5), fnp.expm1(x), fnp.power(fnp.abs(x), 1.7),
                            fnp.round(x), x.astype(np.int16)), (_arr((64, 64)),)),
        ("softmax", nn.softmax, (_arr((128, 1024)),)),
        ("layer_norm", _layer_norm, (_arr((128, 768)), _arr((768,)), _arr((768,)))),
        ("logsumexp_axis0", lambda x: nn.logsumexp(x, axis=0), (_arr((512, 64)),)),
        ("argmax", lambda x: fnp.argmax(x, axis=-1), (_arr((64, 1000)),)),
        ("looped_sum", _looped_sum, (_arr((4, 65536)),)),
        ("matmul_f16_epilogue", lambda a, b, c: nn.gelu(a @ b + c),
         (_arr((512, 512), np.float16), _arr((512, 512), np.float16),
          _arr((512,), np.float16))),
        ("matmul_f32_relu", lambda a, b, c: fnp.maximum(a @ b + c, 0.0),
         (_arr((256, 128)), _arr((128, 256)), _arr((256,)))),
        ("matmul_f64", lambda a, b: a @ b, (_arr((64, 64), np.float64),
                                            _arr((64, 64), np.float64))),
        ("batched_matmul_t", lambda a, b: fnp.matmul(a, fnp.swapaxes(b, -1, -2)),
         (_arr((4, 128, 64)), _arr((4, 128, 64)))),
        ("movement", lambda x: fnp.concatenate([x.T, fnp.sin(x.T[::-1])], axis=0)
         + lax.broadcasted_iota(np.float32, (256, 128), 1), (_arr((128, 128)),)),
        ("gather", lambda x, i: fnp.asarray(x)[i] * 2.0 + 1.0,
         (_arr((512, 256)), rng.integers(-512, 512, 1024).astype(np.int32))),
        ("scatter_add", lambda x, i, v: fnp.asarray(x).at[i].add(v * 2.0),
         (_arr((512, 256)), rng.integers(-512, 512, 1024).astype(np.int32),
          _arr((1024, 256)))),
    ]

    def _kernels(fn, args):
        closed = ft.make_jaxpr(fn)(*args)
        plan = triton_backend.plan(closed, "corpus")
        out = []
        for k in plan.kernels.values():
            out.append((k, triton_backend._load_kernel(k)))
        return out

    @pytest.fixture(scope="module")
    def compiled():
        results = {}
        for name, fn, args in CORPUS:
            results[name] = [(k, ptx.compile_kernel(k, jit_fn))
                             for k, jit_fn in _kernels(fn, args)]
        return results

    @pytest.mark.parametrize("name", [c[0] for c in CORPUS])
    def test_corpus_compiles_for_sm90(compiled, name):
        kernels = compiled[name]
        assert kernels, f"{name}: no kernel generated"
        for k, ck in kernels:
            assert ".target sm_90" in ck.asm["ptx"], k.name
            assert ck.asm["cubin"], k.name

    def test_matmul_uses_tensor_cores(compiled):
        (k, ck), = compiled["matmul_f16_epilogue"]
        assert "wgmma" in ck.asm["ptx"] or "mma.sync" in ck.asm["ptx"], k.name

    @pytest.mark.parametrize("name", ["chain_f32", "broadcast", "softmax"])
    def test_contiguous_aligned_accesses_are_vectorized(compiled, name):
        for k, ck in compiled[name]:
            text = ck.asm["ptx"]
            assert re.search(r"ld\.global(\.\w+)*\.v[24]", text), f"{k.name}: no vector load"

    @pytest.mark.parametrize("name", [c[0] for c in CORPUS])
    def test_no_register_spills(compiled, name):
        if ptx.ptxas_path() is None:
            pytest.skip("ptxas is not available (it ships with the triton wheel)")
        for k, ck in compiled[name]:
            report = ptx.ptxas_report(ck.asm["ptx"])
            assert report["spill_stores"] == 0 and report["spill_loads"] == 0, \
                (k.name, report)

    def test_scatter_add_compiles_to_atomics(compiled):
        kernels = compiled["scatter_add"]
        assert [k.kind for k, _ in kernels] == ["pointwise", "scatter"]   # copy, then adds
        assert "atom.global" in kernels[1][1].asm["ptx"] or \
            "red.global" in kernels[1][1].asm["ptx"]

    def test_the_row_limit_keeps_long_rows_looped():
        closed = ft.make_jaxpr(_looped_sum)(_arr((4, 65536)))
        plan = triton_backend.plan(closed, "looped")
        (k,) = plan.kernels.values()
        assert 65536 > triton_schedule.PERSISTENT_ROW_LIMIT
        assert "for roffset in range(" in k.source
