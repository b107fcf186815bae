"""How long does jit's first call take? A 200-op elementwise chain, forward and grad.

Workload (anchors/perf.md W5): 200 chained elementwise ops (sin, *1.01, +0.5, cos, tanh, ...
in rotation) then a sum, x: float64[1000]. Each sample uses a fresh Python function, so
nothing is served from jit's in-memory caches. Two columns: "cold" also has an empty on-disk
source cache (code generation, atomic write, compile); "warm disk" is a second process's
first call (the generated module is read back from the cache). Per-phase times come from
``cache_info().miss_reasons[-1].timings``. Targets: first call of jit(f) <= 15 ms and of
jit(grad f) <= 40 ms, at least 10x faster than JAX (about 175 and 290 ms on this machine
kind); when JAX is installed its first call is timed in the same process.

    python benchmarks/compile_time.py [--samples 9]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time

import harness  # noqa: F401  (pins BLAS threads before numpy loads)
import numpy as np

N_OPS = 200


def chain(np_like):
    """A fresh function object on every call (so no cache can recognise it)."""
    ops = [np_like.sin, lambda x: x * 1.01, lambda x: x + 0.5, np_like.cos, np_like.tanh,
           lambda x: x * x, lambda x: x - 0.25, np_like.exp]

    def f(x):
        for i in range(N_OPS):
            x = ops[i % len(ops)](x)
            if i % len(ops) == len(ops) - 1:
                x = x * 1e-3  # keep exp(x*x) from overflowing
        return np_like.sum(x)

    return f


def first_call(make_jitted, x) -> tuple[float, dict[str, float]]:
    jf = make_jitted()
    gc.disable()
    t0 = time.perf_counter()
    out = jf(x)
    getattr(out, "block_until_ready", lambda: None)()
    elapsed = time.perf_counter() - t0
    gc.enable()
    phases = {}
    info = getattr(jf, "cache_info", None)
    if info is not None:
        phases = dict(info().miss_reasons[-1].timings)
    return elapsed, phases


def summarize(runs: list[tuple[float, dict[str, float]]]) -> tuple[float, float, dict]:
    totals = [t for t, _ in runs]
    keys = runs[0][1].keys()
    phases = {k: statistics.median(p[k] for _, p in runs) for k in keys}
    return statistics.median(totals), min(totals), phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=9)
    args = parser.parse_args()

    import functrans as ft
    import functrans.numpy as fnp
    from functrans.lowering import source

    x = np.linspace(0.1, 0.9, 1000)
    makers = {
        "jit(f)": lambda: ft.jit(chain(fnp)),
        "jit(grad f)": lambda: ft.jit(ft.grad(chain(fnp))),
    }
    jax = harness.optional("jax")
    if jax is not None:
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)
        jax_makers = {"jit(f)": lambda: jax.jit(chain(jnp)),
                      "jit(grad f)": lambda: jax.jit(jax.grad(chain(jnp)))}
        xj = jnp.asarray(x)

    print(f"first call of jit on a {N_OPS}-op elementwise chain + sum, float64[1000], "
          f"median (min) of {args.samples} fresh functions")
    for label, make in makers.items():
        with tempfile.TemporaryDirectory() as cold_dir:
            os.environ["FUNCTRANS_CACHE_DIR"] = cold_dir
            cold = []
            for _ in range(args.samples):
                source.clear_disk_cache()  # empty disk cache: codegen, write and compile every time
                cold.append(first_call(make, x))
            warm = [first_call(make, x) for _ in range(args.samples)]  # read back from disk
        med, best, phases = summarize(cold)
        wmed, wbest, _ = summarize(warm)
        phase_text = ", ".join(f"{k} {v * 1e3:.2f}" for k, v in phases.items())
        target = 15 if label == "jit(f)" else 40
        print(f"  functrans {label:12s} cold {med * 1e3:7.2f} ms (min {best * 1e3:6.2f}); "
              f"warm disk {wmed * 1e3:6.2f} ms (min {wbest * 1e3:6.2f}); target <= {target} ms")
        print(f"      phases (cold, ms): {phase_text}")
        if jax is not None:
            jruns = []
            for _ in range(max(3, args.samples // 2)):
                jax.clear_caches()
                jruns.append(first_call(jax_makers[label], xj))
            jmed, jbest, _ = summarize([(t, {}) for t, _ in jruns])
            print(f"  jax       {label:12s} first call {jmed * 1e3:7.2f} ms "
                  f"(min {jbest * 1e3:6.2f}); jax / functrans cold: {jmed / med:5.1f}x")
    os.environ.pop("FUNCTRANS_CACHE_DIR", None)


if __name__ == "__main__":
    main()
