"""jit on elementwise chains: generated, fused, chunked NumPy vs eager NumPy and jax.jit.

Workloads (anchors/perf.md W1, W1b), float32:
  transcendental: sum(tanh(x)*exp(-x**2) + 0.5*sin(3*x) - x/(1+x**2)), forward and grad
  cheap:          sum(((x*1.5+0.5)*x-2)*x+1)
Targets: jit forward >= 1.5x eager NumPy at n=1e6 and >= 5x at 1e7, >= 3x faster than
jax.jit at both; jit(grad) >= 2x faster than jax.jit(grad) at 1e7; cheap chain at least half
of jax.jit's speed.

    python benchmarks/jit_elementwise.py [--sizes 1000000 10000000] [--samples 7]
"""

from __future__ import annotations

import argparse

import harness  # noqa: F401  (pins BLAS threads before numpy loads)
import numpy as np


def transcendental(np_like):
    def f(x):
        return np_like.sum(np_like.tanh(x) * np_like.exp(-x ** 2) + 0.5 * np_like.sin(3 * x)
                           - x / (1 + x ** 2))
    return f


def cheap(np_like):
    def f(x):
        return np_like.sum(((x * 1.5 + 0.5) * x - 2) * x + 1)
    return f


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--samples", type=int, default=7)
    args = parser.parse_args()

    import functrans as ft
    import functrans.numpy as fnp
    jax = harness.optional("jax")
    if jax is not None:
        import jax.numpy as jnp

    for n in args.sizes:
        x = np.random.default_rng(0).normal(size=n).astype(np.float32)
        for label, workload, with_grad in (("transcendental", transcendental, True),
                                           ("cheap", cheap, False)):
            systems = {"numpy eager": lambda w=workload: w(np)(x)}
            f = ft.jit(workload(fnp))
            f(x)
            systems["functrans jit"] = lambda f=f: f(x)
            if jax is not None:
                jf = jax.jit(workload(jnp))
                jx = jnp.asarray(x)
                jf(jx).block_until_ready()
                systems["jax.jit"] = lambda jf=jf, jx=jx: jf(jx).block_until_ready()
            if with_grad:
                g = ft.jit(ft.grad(workload(fnp)))
                g(x)
                systems["functrans jit(grad)"] = lambda g=g: g(x)
                if jax is not None:
                    jg = jax.jit(jax.grad(workload(jnp)))
                    jg(jx).block_until_ready()
                    systems["jax.jit(grad)"] = lambda jg=jg, jx=jx: jg(jx).block_until_ready()
            print(f"\n{label} chain, n={n:.0e}, float32")
            res = harness.compare(systems, samples=args.samples)
            harness.report(res, baseline="numpy eager")
            ours = res["functrans jit"][0]
            print(f"  functrans jit speed-up over eager numpy: {res['numpy eager'][0] / ours:.2f}x")
            if "jax.jit" in res:
                print(f"  functrans jit vs jax.jit: {res['jax.jit'][0] / ours:.2f}x faster")
            if "jax.jit(grad)" in res:
                r = res["jax.jit(grad)"][0] / res["functrans jit(grad)"][0]
                print(f"  functrans jit(grad) vs jax.jit(grad): {r:.2f}x faster")


if __name__ == "__main__":
    main()
