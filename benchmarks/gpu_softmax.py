"""GPU: fused softmax (one row kernel) against CuPy's unfused softmax.

Workload: softmax over the last axis of an (8192, 4096) float32 matrix. functrans generates
one persistent row kernel (max, exp, sum and divide with the row in registers: one read, one
write); CuPy runs five kernels with intermediate arrays. Target: at least 2x faster.
--tiny runs in Triton's interpreter on an (8, 64) matrix (wall-clock, not a GPU number).

    python benchmarks/gpu_softmax.py [--rows 8192] [--cols 4096] [--tiny]
"""

from __future__ import annotations

import argparse
import os


def softmax_unfused(xp, x):
    m = x.max(axis=-1, keepdims=True)
    e = xp.exp(x - m)
    return e / e.sum(axis=-1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--cols", type=int, default=4096)
    parser.add_argument("--tiny", action="store_true", help="interpreter-sized run")
    args = parser.parse_args()
    if args.tiny:
        os.environ.setdefault("TRITON_INTERPRET", "1")
        args.rows, args.cols = 8, 64
    import numpy as np
    from functrans.kernels import bench

    import functrans as ft
    from functrans import nn

    x = np.random.default_rng(0).normal(size=(args.rows, args.cols)).astype(np.float32)
    f = ft.jit(nn.softmax, backend="triton")
    run = bench.compiled_runner(f, x)
    reps = 3 if args.tiny else 20
    ms = bench.time_gpu(run, reps=reps)
    if bench.on_gpu():
        import cupy
        xd = cupy.asarray(x)
        base = bench.time_gpu(lambda: softmax_unfused(cupy, xd), reps=reps)
        label = "cupy unfused"
    else:
        base = bench.time_gpu(lambda: softmax_unfused(np, x), reps=reps)
        label = "numpy unfused (interpreter run: not a GPU number)"
    print(f"softmax ({args.rows}, {args.cols}) float32")
    print(f"  functrans triton (1 row kernel): {ms:9.3f} ms")
    print(f"  {label}: {base:9.3f} ms")
    print(f"  ratio: {base / ms:.2f}x (target >= 2x on a GPU)")
    if bench.on_gpu():
        torch = bench.optional("torch")
        if torch is not None and torch.cuda.is_available():
            tx = torch.as_tensor(x, device="cuda")
            tf = torch.compile(lambda t: torch.softmax(t, -1))
            t = bench.time_gpu(lambda: tf(tx), reps=reps)
            print(f"  torch.compile: {t:9.3f} ms  ratio {t / ms:.2f}")
        jax = bench.optional("jax")
        if jax is not None:
            jf = jax.jit(jax.nn.softmax)
            jx = jax.numpy.asarray(x)
            t = bench.time_gpu(lambda: jf(jx).block_until_ready(), reps=reps)
            print(f"  jax.jit: {t:9.3f} ms  ratio {t / ms:.2f}")


if __name__ == "__main__":
    main()
