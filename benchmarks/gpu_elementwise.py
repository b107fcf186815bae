"""GPU: a fused elementwise chain against the device's copy bandwidth, and CuPy unfused.

Workload (the jit NumPy issue's chain, no reduction), float32:
    y = tanh(x)*exp(-x**2) + 0.5*sin(3*x) - x/(1+x**2)
One generated kernel reads x once and writes y once (8 bytes per element). Target: at least
80% of the copy bandwidth at n = 1e8. Times use CUDA events via CuPy (kernels/bench.py).
With --tiny it runs in Triton's interpreter (TRITON_INTERPRET=1) on a few thousand elements,
with wall-clock times, to show that the script works; GPU numbers need a GPU.

    python benchmarks/gpu_elementwise.py [--n 100000000] [--tiny]
"""

from __future__ import annotations

import argparse
import os
import sys


def chain(np_like):
    def f(x):
        return np_like.tanh(x) * np_like.exp(-x * x) + 0.5 * np_like.sin(3 * x) \
            - x / (1 + x * x)
    return f


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000_000)
    parser.add_argument("--tiny", action="store_true", help="interpreter-sized run")
    args = parser.parse_args()
    if args.tiny:
        os.environ.setdefault("TRITON_INTERPRET", "1")
        args.n = 4096
    import numpy as np
    from functrans.kernels import bench

    import functrans as ft
    import functrans.numpy as fnp

    x = np.random.default_rng(0).normal(size=args.n).astype(np.float32)
    f = ft.jit(chain(fnp), backend="triton")
    run = bench.compiled_runner(f, x)
    reps = 3 if args.tiny else 20
    ms = bench.time_gpu(run, reps=reps)
    gbs = 8 * args.n / (ms * 1e-3) / 1e9
    copy = bench.copy_bandwidth_gbs(4 * args.n)
    where = "GPU" if bench.on_gpu() else "interpreter (not a GPU number)"
    print(f"elementwise chain, n={args.n}, float32, on the {where}")
    print(f"  functrans triton: {ms:9.3f} ms  {gbs:8.1f} GB/s")
    print(f"  device copy     : {copy:8.1f} GB/s")
    print(f"  ratio to copy bandwidth: {gbs / copy:.2f} (target >= 0.80)")
    if bench.on_gpu():
        import cupy
        xd = cupy.asarray(x)
        unfused = bench.time_gpu(lambda: chain(cupy)(xd), reps=reps)
        print(f"  cupy unfused    : {unfused:9.3f} ms  ratio {unfused / ms:.2f}x slower")
        torch = bench.optional("torch")
        if torch is not None and torch.cuda.is_available():
            tx = torch.as_tensor(x, device="cuda")
            tf = torch.compile(chain(torch))
            t = bench.time_gpu(lambda: tf(tx), reps=reps)
            print(f"  torch.compile   : {t:9.3f} ms  ratio {t / ms:.2f}")
        jax = bench.optional("jax")
        if jax is not None:
            import jax.numpy as jnp
            jf = jax.jit(chain(jnp))
            jx = jnp.asarray(x)
            t = bench.time_gpu(lambda: jf(jx).block_until_ready(), reps=reps)
            print(f"  jax.jit         : {t:9.3f} ms  ratio {t / ms:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
