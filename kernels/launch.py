"""Runtimes that generated launchers call: buffers, kernel launches and fallbacks.

A generated Triton module (lowering/triton_backend.py) never touches NumPy, CuPy or Triton
directly: it calls ``rt.input``, ``rt.empty``, ``rt.launch`` and ``rt.fallback`` on the
runtime it was built with, so the same launcher text runs

* ``InterpreterRuntime``: under ``TRITON_INTERPRET=1``, on NumPy buffers through the adapter
  in ``interp.py`` (Triton's interpreter, no GPU, no torch);
* ``CudaRuntime``: on the GPU, with CuPy buffers, launching on **CuPy's current stream**
  (anchors/lowering.md section 3: torch-free Triton would otherwise launch on the legacy
  default stream, unordered with a user's non-blocking CuPy stream).

Fallbacks (primitives without a Triton rule) run either an array-API function ``fn(xp,
*arrays)`` (``xp`` is cupy on the GPU and numpy under the interpreter, so the GPU code path is
exercised without a GPU) or the primitive's NumPy impl on host copies.
Imports numpy and, lazily, triton and cupy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from functrans.kernels import device, interp

from functrans.fpstate import quiet, restore


class Runtime:
    """Common interface; see the module docstring."""

    name = "abstract"
    xp: Any = np
    on_device = False

    def input(self, x: Any) -> Any:
        raise NotImplementedError

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        raise NotImplementedError

    def launch(self, kernel: Any, grid: tuple[int, ...], args: Sequence[Any],
               meta: dict[str, Any]) -> None:
        raise NotImplementedError

    def to_host(self, x: Any) -> np.ndarray:
        raise NotImplementedError

    def fallback(self, fn: Callable, xp_fn: Callable | None, args: Sequence[Any],
                 multiple_results: bool) -> Any:
        raise NotImplementedError


class InterpreterRuntime(Runtime):
    """Kernels run in Triton's interpreter; buffers are NumPy arrays."""

    name = "interpreter"
    xp = np

    def __init__(self) -> None:
        device.import_triton()

    def input(self, x: Any) -> np.ndarray:
        return _contiguous(np.asarray(x))

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return np.empty(shape, dtype)

    def launch(self, kernel: Any, grid: tuple[int, ...], args: Sequence[Any],
               meta: dict[str, Any]) -> None:
        # Masked-off lanes compute on placeholder values (log(0), 0/0): not user-visible.
        token = quiet()
        try:
            kernel[grid](*[interp.wrap(a) for a in args], **meta)
        finally:
            restore(token)

    def to_host(self, x: Any) -> np.ndarray:
        return np.asarray(x)

    def fallback(self, fn: Callable, xp_fn: Callable | None, args: Sequence[Any],
                 multiple_results: bool) -> Any:
        token = quiet()
        try:
            if xp_fn is not None:
                out = xp_fn(np, *args)
            else:
                out = fn(*args)
        finally:
            restore(token)
        if multiple_results:
            return [_contiguous(np.asarray(o)) for o in out]
        return _contiguous(np.asarray(out))


def _contiguous(a: np.ndarray) -> np.ndarray:
    # (np.ascontiguousarray would turn a 0-d array into shape (1,).)
    return a if a.flags.c_contiguous else a.copy(order="C")


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
    on_device = True

    def __init__(self) -> None:
        import cupy
        self.cupy = cupy
        self.xp = cupy
        triton = device.import_triton()
        _install_stream_hook(triton, cupy)

    def input(self, x: Any) -> Any:
        cp = self.cupy
        buf = getattr(x, "_device_buffer", None)
        if buf is not None:
            x = buf
        if isinstance(x, cp.ndarray):
            return x if x.flags.c_contiguous else cp.ascontiguousarray(x)
        return cp.asarray(_contiguous(np.asarray(x)))

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        return self.cupy.empty(shape, dtype)

    def launch(self, kernel: Any, grid: tuple[int, ...], args: Sequence[Any],
               meta: dict[str, Any]) -> None:
        cp = self.cupy
        wrapped = [_DevicePointer(a) if isinstance(a, cp.ndarray) else a for a in args]
        _launching.active = True
        try:
            kernel[grid](*wrapped, **meta)
        finally:
            _launching.active = False

    def to_host(self, x: Any) -> np.ndarray:
        return self.cupy.asnumpy(x)

    def fallback(self, fn: Callable, xp_fn: Callable | None, args: Sequence[Any],
                 multiple_results: bool) -> Any:
        cp = self.cupy
        if xp_fn is not None:
            out = xp_fn(cp, *args)
            outs = list(out) if multiple_results else [out]
            outs = [cp.ascontiguousarray(o) for o in outs]
            return outs if multiple_results else outs[0]
        # No array-API form: the primitive's NumPy impl on host copies (a device round trip,
        # ordered with the kernels because asnumpy synchronizes the current stream).
        token = quiet()
        try:
            out = fn(*[cp.asnumpy(a) if isinstance(a, cp.ndarray) else a for a in args])
        finally:
            restore(token)
        if multiple_results:
            return [cp.asarray(_contiguous(np.asarray(o))) for o in out]
        return cp.asarray(_contiguous(np.asarray(out)))


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
            return cupy.cuda.get_current_stream().ptr
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
