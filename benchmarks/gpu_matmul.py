"""GPU: the hand-written Triton matmul (via jit) against cuBLAS (cupy.matmul), plain and with a
fused bias + gelu epilogue.

Workload: float16 4096x4096x4096 (bfloat16 is not a functrans dtype yet). Targets: the plain
matmul at least 80% of cupy.matmul's speed; the epilogue version faster than cupy.matmul
followed by separate bias and gelu kernels. --tiny runs in Triton's interpreter on 64^3
(wall-clock against NumPy, not a GPU number).

    python benchmarks/gpu_matmul.py [--size 4096] [--tiny]
"""

from __future__ import annotations

import argparse
import os


def gelu(xp, y):
    return 0.5 * y * (1 + xp.tanh(0.7978845608028654 * (y + 0.044715 * y * y * y)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--tiny", action="store_true", help="interpreter-sized run")
    args = parser.parse_args()
    if args.tiny:
        os.environ.setdefault("TRITON_INTERPRET", "1")
        args.size = 64
    import numpy as np
    from functrans.kernels import bench

    import functrans as ft
    from functrans import nn

    n = args.size
    rng = np.random.default_rng(0)
    dtype = np.float16
    a = (rng.normal(size=(n, n)) / np.sqrt(n)).astype(dtype)
    b = rng.normal(size=(n, n)).astype(dtype)
    bias = rng.normal(size=n).astype(dtype)
    reps = 3 if args.tiny else 20
    plain = bench.compiled_runner(ft.jit(lambda a, b: a @ b, backend="triton"), a, b)
    fused = bench.compiled_runner(
        ft.jit(lambda a, b, c: nn.gelu(a @ b + c), backend="triton"), a, b, bias)
    t_plain = bench.time_gpu(plain, reps=reps)
    t_fused = bench.time_gpu(fused, reps=reps)
    if bench.on_gpu():
        import cupy
        ad, bd, cd = cupy.asarray(a), cupy.asarray(b), cupy.asarray(bias)
        t_ref = bench.time_gpu(lambda: cupy.matmul(ad, bd), reps=reps)
        t_ref_epi = bench.time_gpu(lambda: gelu(cupy, cupy.matmul(ad, bd) + cd), reps=reps)
        label = "cupy.matmul (cuBLAS)"
    else:
        t_ref = bench.time_gpu(lambda: a @ b, reps=reps)
        t_ref_epi = bench.time_gpu(lambda: gelu(np, a @ b + bias), reps=reps)
        label = "numpy (interpreter run: not a GPU number)"
    flops = 2 * n ** 3
    print(f"matmul {n}^3 float16")
    print(f"  functrans triton        : {t_plain:9.3f} ms  {flops / t_plain / 1e9:8.1f} TFLOP/s")
    print(f"  {label:<24}: {t_ref:9.3f} ms")
    print(f"  ratio (speed vs reference): {t_ref / t_plain:.2f} (target >= 0.80)")
    print(f"  + bias + gelu, fused    : {t_fused:9.3f} ms")
    print(f"  reference, unfused      : {t_ref_epi:9.3f} ms")
    print(f"  ratio (epilogue): {t_ref_epi / t_fused:.2f}x")
    if bench.on_gpu():
        torch = bench.optional("torch")
        if torch is not None and torch.cuda.is_available():
            ta, tb, tc = (torch.as_tensor(v, device="cuda") for v in (a, b, bias))
            tf = torch.compile(lambda x, y, z: torch.nn.functional.gelu(x @ y + z,
                                                                        approximate="tanh"))
            t = bench.time_gpu(lambda: tf(ta, tb, tc), reps=reps)
            print(f"  torch.compile (epilogue): {t:9.3f} ms  ratio {t / t_fused:.2f}")


if __name__ == "__main__":
    main()
