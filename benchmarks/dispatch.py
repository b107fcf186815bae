"""Per-call overhead of a jitted tiny function: sum(sin(x)*x+1) on float32[4].

Targets (issue 7): jit(f) at most 8 us per call and jit(grad f) at most 8 us (jax.jit: about
10 and 8 us on this machine kind, anchors/perf.md W4). Also shows eager NumPy and eager
functrans for scale, and jax.jit when JAX is installed.

    python benchmarks/dispatch.py [--samples 9]
"""

from __future__ import annotations

import argparse

import harness
import numpy as np


def tiny(np_like):
    def f(x):
        return np_like.sum(np_like.sin(x) * x + 1)
    return f


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=9)
    args = parser.parse_args()

    import functrans as ft
    import functrans.numpy as fnp

    x = np.linspace(0.1, 0.4, 4, dtype=np.float32)
    f, g = ft.jit(tiny(fnp)), ft.jit(ft.grad(tiny(fnp)))
    systems = {
        "numpy eager": lambda: tiny(np)(x),
        "functrans eager": lambda: tiny(fnp)(x),
        "functrans jit(f)": lambda: f(x),
        "functrans jit(grad f)": lambda: g(x),
    }
    jax = harness.optional("jax")
    if jax is not None:
        import jax.numpy as jnp
        jf, jg = jax.jit(tiny(jnp)), jax.jit(jax.grad(tiny(jnp)))
        xj = jnp.asarray(x)
        systems["jax.jit(f)"] = lambda: jf(xj).block_until_ready()
        systems["jax.jit(grad f)"] = lambda: jg(xj).block_until_ready()
    results = harness.compare(systems, samples=args.samples)
    print("per-call time of sum(sin(x)*x+1), x: float32[4]")
    harness.report(results, baseline="numpy eager", unit="us")
    for label in ("functrans jit(f)", "functrans jit(grad f)"):
        print(f"{label}: {results[label][0] * 1e6:.1f} us per call (target <= 8 us)")


if __name__ == "__main__":
    main()
