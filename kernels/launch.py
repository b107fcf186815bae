"""Runtimes that generated launchers call: buffers, transfers, kernel launches and fallbacks.

A generated Triton module (lowering/triton_backend.py) never touches NumPy, CuPy or Triton
directly: it calls ``rt.input``, ``rt.to_device``, ``rt.empty``, ``rt.launch`` and
``rt.fallback`` on the runtime it was built with, so the same launcher text runs

* ``CudaRuntime``: on the GPU, with CuPy buffers, launching on **CuPy's current stream**
  (anchors/lowering.md section 3: torch-free Triton would otherwise launch on the legacy
  default stream, unordered with a user's non-blocking CuPy stream);
* ``InterpreterRuntime``: under ``TRITON_INTERPRET=1``, in Triton's interpreter through the
  adapter in ``interp.py`` (no GPU, no torch), with NumPy arrays standing in for device
  buffers.

Both share one code path written against an array module ``xp`` (cupy on the GPU, numpy under
the interpreter), so tests without a GPU run the same buffer logic: a device array's buffer
passes into a launch as it is, and every copy between host and device goes through
``to_device``/``to_host``, which count them in ``transfers`` (chained jitted calls copy
nothing; tests read the counts). The few CuPy-specific calls are one small function each
(``_cupy_*``, ``_DevicePointer``, the stream hook). Fallbacks (primitives without a Triton
rule) run an array-API function ``fn(xp, *buffers)`` on the device buffers, or else the
primitive's NumPy impl on counted host copies. Imports numpy and, lazily, triton and cupy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from functrans.kernels import device, interp

from functrans.fpstate import quiet, restore


class Transfers:
    """How many host-to-device and device-to-host copies functrans has made (tests read these
    to check that device results are not copied back; ``reset()`` starts over)."""

    __slots__ = ("to_device", "to_host")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.to_device = 0
        self.to_host = 0

    def __repr__(self) -> str:
        return f"Transfers(to_device={self.to_device}, to_host={self.to_host})"


transfers = Transfers()


def to_device(xp: Any, x: Any) -> Any:
    """A device copy of a host value (counted). Always a copy: the caller may write to its
    array later, and device buffers are immutable."""
    transfers.to_device += 1
    return xp.array(np.asarray(x), order="C")   # (one copy, C-contiguous even from a view)


def to_host(buffer: Any) -> np.ndarray:
    """A read-only host copy of a device buffer (counted). Under the interpreter the buffer
    already is host memory: a read-only view, no copy."""
    transfers.to_host += 1
    host = buffer.view() if type(buffer) is np.ndarray else _cupy_asnumpy(buffer)
    host.flags.writeable = False
    return host


def synchronize(buffer: Any) -> None:
    """Wait for the work queued on a buffer's device (nothing to wait for under the
    interpreter, which runs kernels synchronously)."""
    if type(buffer) is not np.ndarray:
        _cupy_synchronize(buffer)


def _contiguous(a: Any) -> Any:
    # (xp.ascontiguousarray would turn a 0-d array into shape (1,).)
    return a if a.flags.c_contiguous else a.copy(order="C")


class Runtime:
    """The buffer logic both runtimes share; subclasses set ``xp`` and launch kernels."""

    name = "abstract"
    xp: Any = np

    def is_device_buffer(self, x: Any) -> bool:
        """``x`` is a raw device buffer of this runtime (CuPy arrays on a GPU; under the
        interpreter raw NumPy arrays are host values, device buffers come wrapped)."""
        return False

    def input(self, x: Any) -> Any:
        """A launch operand: a device array's buffer of this runtime's type (or a raw device
        buffer) as it is, made contiguous; any other value, a device array of another runtime
        included, is copied to the device."""
        buf = getattr(x, "_device_buffer", None)
        if buf is None:
            if not self.is_device_buffer(x):
                return self.to_device(x)
            buf = x
        elif type(buf) is not self.xp.ndarray:
            return self.to_device(x)
        return _contiguous(buf)

    def to_device(self, x: Any) -> Any:
        return to_device(self.xp, x)

    def to_host(self, buffer: Any) -> np.ndarray:
        return to_host(buffer)

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        return self.xp.empty(shape, dtype)

    def wrap(self, buffer: Any, weak_type: bool = False) -> Any:
        """A functrans Array that keeps ``buffer`` on the device (``arrays.GpuArray``)."""
        from functrans.kernels.arrays import GpuArray
        return GpuArray(buffer, weak_type)

    def launch(self, kernel: Any, grid: tuple[int, ...], args: Sequence[Any],
               meta: dict[str, Any]) -> None:
        raise NotImplementedError

    def fallback(self, fn: Callable, xp_fn: Callable | None, args: Sequence[Any],
                 multiple_results: bool) -> Any:
        """Run a primitive without a Triton rule on device buffers ``args``: its array-API
        form ``xp_fn(xp, *args)`` on the device, else its NumPy impl ``fn`` on host copies
        (a counted round trip; on a GPU, ordered with the kernels because the copy to the
        host synchronizes the current stream). Host scalars (``np.generic``: the launcher's
        0-d literals for host impls) pass to ``fn`` as they are."""
        token = quiet()
        try:
            if xp_fn is not None:
                out = xp_fn(self.xp, *args)
                outs = [_contiguous(self.xp.asarray(o))
                        for o in (out if multiple_results else [out])]
            else:
                out = fn(*[a if isinstance(a, np.generic) else self.to_host(a)
                           for a in args])
                outs = [self.to_device(o) for o in (out if multiple_results else [out])]
        finally:
            restore(token)
        return outs if multiple_results else outs[0]


class InterpreterRuntime(Runtime):
    """Kernels run in Triton's interpreter; NumPy arrays stand in for device buffers."""

    name = "interpreter"
    xp = np

    def __init__(self) -> None:
        device.import_triton()

    def launch(self, kernel: Any, grid: tuple[int, ...], args: Sequence[Any],
               meta: dict[str, Any]) -> None:
        # Masked-off lanes compute on placeholder values (log(0), 0/0): not user-visible.
        token = quiet()
        try:
            kernel[grid](*[interp.wrap(a) for a in args], **meta)
        finally:
            restore(token)


class _DevicePointer:
    """A CuPy array as a Triton launch argument: the launcher reads ``data_ptr()`` (and the
    pointer's alignment for specialization) and ``dtype`` (anchors/lowering.md section 3)."""

    __slots__ = ("array", "dtype", "ptr")

    def __init__(self, array: Any):
        self.array = array  # keeps the allocation alive until the launch is queued
        self.ptr = int(array.data.ptr)
        self.dtype = array.dtype

    def data_ptr(self) -> int:
        return self.ptr


_launching = threading.local()


class CudaRuntime(Runtime):
    """Kernels run on the GPU on CuPy's current stream; buffers are CuPy arrays."""

    name = "cuda"

    def __init__(self) -> None:
        import cupy
        self.xp = cupy
        triton = device.import_triton()
        _install_stream_hook(triton, cupy)

    def is_device_buffer(self, x: Any) -> bool:
        return isinstance(x, self.xp.ndarray)

    def launch(self, kernel: Any, grid: tuple[int, ...], args: Sequence[Any],
               meta: dict[str, Any]) -> None:
        wrapped = [_DevicePointer(a) if isinstance(a, self.xp.ndarray) else a for a in args]
        _launching.active = True
        try:
            kernel[grid](*wrapped, **meta)
        finally:
            _launching.active = False


# --- the CuPy-specific calls, one function each (tests run them against a fake cupy) ---------


def _cupy_asnumpy(buffer: Any) -> np.ndarray:
    import cupy
    return cupy.asnumpy(buffer)


def _cupy_synchronize(buffer: Any) -> None:
    buffer.device.synchronize()


def cupy_device_id(buffer: Any) -> int:
    """The index of the GPU holding a CuPy buffer."""
    return int(buffer.device.id)


def _cupy_stream_ptr(cupy: Any) -> int:
    return cupy.cuda.get_current_stream().ptr


_hook_installed = False


def _install_stream_hook(triton: Any, cupy: Any) -> None:
    """Make Triton launch on CuPy's current stream while functrans launches (and leave every
    other caller of the driver, e.g. torch code in the same process, as it was)."""
    global _hook_installed
    if _hook_installed:
        return
    drv = triton.runtime.driver.active
    original = drv.get_current_stream

    def get_current_stream(dev: Any) -> Any:
        if getattr(_launching, "active", False):
            return _cupy_stream_ptr(cupy)
        return original(dev)

    drv.get_current_stream = get_current_stream
    _hook_installed = True


_runtimes: dict[str, Runtime] = {}
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """The runtime for this process: the interpreter under TRITON_INTERPRET=1, else CUDA."""
    name = "interpreter" if device.interpret_requested() else "cuda"
    with _runtime_lock:
        rt = _runtimes.get(name)
        if rt is None:
            rt = _runtimes[name] = InterpreterRuntime() if name == "interpreter" \
                else CudaRuntime()
        return rt
