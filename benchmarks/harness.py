"""Timing helpers shared by the benchmark scripts (not a test: nothing here asserts speed).

Systems are sampled round-robin in one process so that machine noise hits them alike; each
reports the median and the minimum over its samples. BLAS (and XLA, when JAX is compared) is
pinned to one thread unless the caller already chose (multi-threaded OpenBLAS on a loaded
2-core machine was measured 20-400x slower on these sizes; see anchors/perf.md): import this
module before numpy.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# The same for XLA's Eigen matmuls when JAX is compared (like against like with one-thread
# BLAS). XLA's fused elementwise loops still use every core, as functrans' blocked groups do
# (config.cpu_threads). Set XLA_FLAGS yourself to compare otherwise.
os.environ.setdefault("XLA_FLAGS",
                      "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")


def calibrate(fn: Callable[[], object], target_s: float = 0.05) -> int:
    """How many calls make one sample last about ``target_s``."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(target_s / once))


def compare(systems: dict[str, Callable[[], object]], samples: int = 9,
            target_s: float = 0.05) -> dict[str, tuple[float, float]]:
    """Per-call (median, min) seconds for each system, sampled round-robin."""
    loops = {name: calibrate(fn, target_s) for name, fn in systems.items()}
    times: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(samples):
        for name, fn in systems.items():
            n = loops[name]
            gc.disable()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - t0) / n)
            gc.enable()
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def report(results: dict[str, tuple[float, float]], baseline: str, unit: str = "ms") -> None:
    scale = {"ms": 1e3, "us": 1e6, "s": 1.0}[unit]
    base = results[baseline][0]
    width = max(len(n) for n in results)
    for name, (med, best) in results.items():
        print(f"  {name:<{width}}  median {med * scale:9.3f} {unit}  (min {best * scale:9.3f})"
              f"  {med / base:6.2f}x {baseline}")


def optional(module: str) -> object | None:
    try:
        return __import__(module)
    except ImportError:
        return None
