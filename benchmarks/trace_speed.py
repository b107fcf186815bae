"""How fast is tracing? make_jaxpr of a 1250-equation elementwise chain.

250 rounds of ``x = sin(x) * 1.01 + cos(x) * 0.5`` then a sum: 1251 equations. Target: under
20 ms. JAX 0.10 takes about 90 ms on the project's CPU machine; when JAX is installed this
script times it in the same process and prints the ratio.

    python benchmarks/trace_speed.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import numpy as np


def chain(np_like):
    def f(x):
        for _ in range(250):
            x = np_like.sin(x) * 1.01 + np_like.cos(x) * 0.5
        return np_like.sum(x)
    return f


def timed(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        gc.disable()
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
        gc.enable()
    return statistics.median(samples), min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    import functrans as ft
    import functrans.numpy as fnp

    x = np.ones(128, np.float32)
    n_eqns = len(ft.make_jaxpr(chain(fnp))(x).eqns)
    # A fresh function per call: JAX caches traces per function object, functrans does not
    # cache make_jaxpr; both must really trace.
    med, best = timed(lambda: ft.make_jaxpr(chain(fnp))(x), args.repeats)
    print(f"functrans make_jaxpr: {n_eqns} equations, median {med * 1e3:.2f} ms "
          f"(min {best * 1e3:.2f} ms), {med / n_eqns * 1e6:.1f} us/equation; target < 20 ms")
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        print("jax not installed: no side-by-side ratio (JAX 0.10 took ~90 ms on this machine "
              "kind per anchors/perf.md)")
        return
    jmed, jbest = timed(lambda: jax.make_jaxpr(chain(jnp))(x), args.repeats)
    print(f"jax {jax.__version__} make_jaxpr: median {jmed * 1e3:.2f} ms "
          f"(min {jbest * 1e3:.2f} ms)")
    print(f"ratio jax / functrans (median): {jmed / med:.2f}x")


if __name__ == "__main__":
    main()
