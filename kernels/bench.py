"""Timing for GPU benchmarks with CUDA events through CuPy (``triton.testing.do_bench`` imports
torch, anchors/lowering.md section 3), and a wall-clock stand-in under the interpreter.

``time_gpu(fn)`` runs ``fn`` a few times to warm up, then times ``reps`` calls, each between
two ``cupy.cuda.Event``s on the current stream with L2 flushed before it (a write of 256 MiB),
and returns the median in milliseconds. Without a GPU (TRITON_INTERPRET=1) it times with
``time.perf_counter`` so that the benchmark scripts can be exercised on tiny sizes.
Imports numpy and, lazily, cupy.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from functrans.kernels import device

L2_FLUSH_BYTES = 256 * 1024 * 1024


def on_gpu() -> bool:
    return not device.interpret_requested() and device.gpu_status().usable


def synchronize() -> None:
    if on_gpu():
        import cupy
        cupy.cuda.get_current_stream().synchronize()


def time_gpu(fn: Callable[[], Any], reps: int = 20, warmup: int = 3, flush_l2: bool = True
             ) -> float:
    """Median milliseconds per call of ``fn`` (see the module docstring)."""
    for _ in range(warmup):
        fn()
    if not on_gpu():
        times = []
        for _ in range(max(1, reps)):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)
    import cupy
    flush = cupy.empty(L2_FLUSH_BYTES, dtype=cupy.uint8) if flush_l2 else None
    stream = cupy.cuda.get_current_stream()
    times = []
    for _ in range(reps):
        if flush is not None:
            flush.fill(0)
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record(stream)
        fn()
        end.record(stream)
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end))
    return statistics.median(times)


def copy_bandwidth_gbs(nbytes: int) -> float:
    """The device's copy bandwidth (read + write) measured with a device-to-device copy."""
    if not on_gpu():
        import numpy as np
        a = np.ones(nbytes // 4, np.float32)
        b = np.empty_like(a)
        ms = time_gpu(lambda: np.copyto(b, a), reps=5, warmup=1)
        return 2 * a.nbytes / (ms * 1e-3) / 1e9
    import cupy
    a = cupy.zeros(nbytes // 4, cupy.float32)    # (memset: needs no NVRTC)
    b = cupy.empty_like(a)
    stream = cupy.cuda.get_current_stream()
    # cudaMemcpyAsync device-to-device: the copy engine's rate, no kernel compilation.
    ms = time_gpu(lambda: b.data.copy_from_device_async(a.data, a.nbytes, stream), reps=10)
    return 2 * a.nbytes / (ms * 1e-3) / 1e9


def optional(module: str) -> Any:
    """A module when installed (torch, jax: only benchmarks compare against them)."""
    try:
        return __import__(module)
    except Exception:  # noqa: BLE001 - broken installs count as absent
        return None


def device_array(x: Any) -> Any:
    """x on the device (CuPy) on a GPU; x itself under the interpreter."""
    if on_gpu():
        import cupy
        return cupy.asarray(x)
    return x


def compiled_runner(jitted: Any, *args: Any) -> Callable[[], Any]:
    """A zero-argument function running ``jitted``'s compiled program on device-resident
    copies of ``args`` (no host transfers inside the timed calls: captured arrays go over in
    the first, one of ``time_gpu``'s warm-up calls)."""
    import numpy as np
    from functrans.lowering.jit import _device_call

    from functrans import tree_util
    compiled = jitted.lower(*args).compile()
    exe = compiled.exe
    rt = exe.runtime
    dev = [rt.wrap(rt.to_device(np.asarray(x))) for x in tree_util.tree_leaves(args)]
    return lambda: _device_call(compiled, exe, dev)
