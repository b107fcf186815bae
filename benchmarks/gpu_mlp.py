"""GPU: value_and_grad of the autodiff issue's MLP (784-512-512-10, tanh, mean squared error)
at batch 4096, float32, compiled to Triton kernels, against the same program on the NumPy
backend (CPU), and torch.compile / jax.jit when they happen to be installed on the GPU box.

--tiny runs in Triton's interpreter at batch 8 with narrow layers (not a GPU number).

    python benchmarks/gpu_mlp.py [--batch 4096] [--tiny]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import mlp_loss  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--tiny", action="store_true", help="interpreter-sized run")
    args = parser.parse_args()
    sizes = (784, 512, 512, 10)
    if args.tiny:
        os.environ.setdefault("TRITON_INTERPRET", "1")
        args.batch, sizes = 8, (32, 16, 16, 4)
    import numpy as np
    from functrans.kernels import bench

    import functrans as ft
    import functrans.numpy as fnp

    rng = np.random.default_rng(0)
    params = [((rng.normal(size=(i, o)) / np.sqrt(i)).astype(np.float32),
               np.zeros(o, np.float32)) for i, o in itertools.pairwise(sizes)]
    x = rng.normal(size=(args.batch, sizes[0])).astype(np.float32)
    y = rng.normal(size=(args.batch, sizes[-1])).astype(np.float32)
    vg = ft.value_and_grad(mlp_loss(fnp))
    reps = 3 if args.tiny else 20
    gpu = bench.compiled_runner(ft.jit(vg, backend="triton"), params, x, y)
    t_gpu = bench.time_gpu(gpu, reps=reps)
    cpu = ft.jit(vg, backend="numpy")
    t_cpu = bench.time_gpu(lambda: cpu(params, x, y), reps=reps)
    text = ft.jit(vg, backend="triton").lower(params, x, y).as_text()
    print(f"value_and_grad MLP {sizes}, batch {args.batch}, float32: "
          f"{text.count('@triton.jit')} kernels, {text.count('rt.fallback(')} fallbacks")
    print(f"  functrans triton : {t_gpu:9.3f} ms")
    print(f"  functrans numpy  : {t_cpu:9.3f} ms (CPU)")
    print(f"  ratio: {t_cpu / t_gpu:.2f}x" + ("" if bench.on_gpu() else
                                            " (interpreter run: not a GPU number)"))
    if bench.on_gpu():
        jax = bench.optional("jax")
        if jax is not None:
            jvg = jax.jit(jax.value_and_grad(mlp_loss(jax.numpy)))
            jp = jax.tree_util.tree_map(jax.numpy.asarray, params)
            jx, jy = jax.numpy.asarray(x), jax.numpy.asarray(y)
            t = bench.time_gpu(lambda: jax.block_until_ready(jvg(jp, jx, jy)), reps=reps)
            print(f"  jax.jit          : {t:9.3f} ms  ratio {t / t_gpu:.2f}")


if __name__ == "__main__":
    main()
