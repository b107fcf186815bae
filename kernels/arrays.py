"""Devices and device arrays: ``ft.devices()``, ``ft.device_put(x, device)``,
``ft.device_get``, ``ft.from_dlpack`` and DLPack export.

* ``Device`` is a ``str`` ("cpu", "cuda:0") with ``platform`` and ``id``, so
  ``a.device == "cpu"`` keeps working while ``ft.devices()`` lists real devices.
* ``GpuArray`` is a ``functrans.Array`` whose buffer lives on a Triton runtime's device: a
  CuPy array on a GPU (from ``device_put``, ``from_dlpack`` and every ``jit(backend="triton")``
  result), or under ``TRITON_INTERPRET=1`` a NumPy array standing in for device memory (its
  device is the CPU), so the same residency logic runs without a GPU. Shape, dtype and device
  are read without a transfer; jitted Triton functions take its buffer as it is; NumPy
  (``np.asarray``, eager functrans operations) sees a host copy made on first use and counted
  in ``launch.transfers``.
* DLPack: ``Array.__dlpack__`` (core.py) exports the read-only buffer without a copy to
  DLPack 1.0 consumers; a ``GpuArray`` exports its CuPy buffer (under the interpreter, its
  read-only host view, as ``Array`` does). ``from_dlpack`` imports CPU tensors through NumPy
  and CUDA tensors through CuPy, without copies.

Imports numpy, core and ``launch`` (for counted transfers); cupy only inside functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from functrans.kernels import device as _device
from functrans.kernels import launch

from functrans import core, errors, tree_util

KDLCPU, KDLCUDA = 1, 2


class Device(str):
    """A device; compares equal to its name ("cpu", "cuda:0")."""

    platform: str
    id: int

    def __new__(cls, platform: str, id: int = 0) -> Device:  # noqa: PYI034
        name = "cpu" if platform == "cpu" else f"{platform}:{int(id)}"
        self = super().__new__(cls, name)
        self.platform = platform
        self.id = int(id)
        return self

    def __repr__(self) -> str:
        return f"{'Cpu' if self.platform == 'cpu' else 'Cuda'}Device(id={self.id})"

    def __reduce__(self) -> Any:
        return (Device, (self.platform, self.id))


CPU = Device("cpu")


class DeviceError(errors.FunctransError, RuntimeError):
    """A device was asked for that this machine does not have (the message says why)."""


def _gpu_count() -> int:
    if _device.interpret_requested() or not _device.nvidia_driver_present():
        return 0
    st = _device.gpu_status()
    if not st.usable:
        return 0
    import cupy
    return int(cupy.cuda.runtime.getDeviceCount())


def devices(backend: str | None = None) -> list[Device]:
    """The devices functrans can use: the CPU, then each CUDA GPU (when the ``gpu`` extra is
    installed and a driver is present). ``backend``: "cpu", "gpu"/"cuda", or None for all."""
    if backend not in (None, "cpu", "gpu", "cuda"):
        raise ValueError(f"functrans.devices: unknown backend {backend!r}; use 'cpu' or "
                         f"'gpu'")
    gpus = [Device("cuda", i) for i in range(_gpu_count())] if backend != "cpu" else []
    if backend in ("gpu", "cuda"):
        return gpus
    return [CPU] + gpus


def _as_device(device: Any) -> Device:
    if isinstance(device, Device):
        return device
    if device in (None, "cpu"):
        return CPU
    if isinstance(device, str) and (device in ("gpu", "cuda") or device.startswith("cuda:")):
        idx = int(device.split(":")[1]) if ":" in device else 0
        return Device("cuda", idx)
    raise ValueError(f"functrans: unknown device {device!r}; use ft.devices() to list them")


class GpuArray(core.Array):
    """A functrans.Array whose buffer lives on a device (see the module docstring)."""

    __slots__ = ("_device_buffer", "_host")

    def __init__(self, buffer: Any, weak_type: bool = False):
        self._device_buffer = buffer
        self._host = None
        self._weak = bool(weak_type)
        self._aval = None

    @property  # type: ignore[override]
    def _value(self) -> np.ndarray:
        host = self._host
        if host is None:
            host = self._host = launch.to_host(self._device_buffer)
        return host

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._device_buffer.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._device_buffer.dtype)

    @property
    def ndim(self) -> int:
        return self._device_buffer.ndim

    @property
    def size(self) -> int:
        return int(self._device_buffer.size)

    @property
    def nbytes(self) -> int:
        return int(self._device_buffer.nbytes)

    @property
    def itemsize(self) -> int:
        return int(self._device_buffer.itemsize)

    @property
    def aval(self) -> core.ShapedArray:
        return core.ShapedArray(self.shape, self.dtype, self._weak)

    @property
    def device(self) -> Device:  # type: ignore[override]
        buf = self._device_buffer
        if type(buf) is np.ndarray:  # Triton's interpreter: host memory
            return CPU
        return Device("cuda", launch.cupy_device_id(buf))

    def block_until_ready(self) -> GpuArray:
        launch.synchronize(self._device_buffer)
        return self

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        if type(self._device_buffer) is np.ndarray:
            # The interpreter's buffer is writable host memory (maybe shared with the input
            # or a launcher's constant): export the read-only host view, as Array does.
            return super().__dlpack__(*args, **kwargs)
        return self._device_buffer.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._device_buffer.__dlpack_device__()

    def __reduce__(self) -> Any:
        return (core.Array, (self._value, self._weak))


def from_dlpack(x: Any) -> core.Array:
    """An Array viewing a DLPack tensor (NumPy/CuPy/torch...) without a copy: CPU tensors
    become CPU Arrays, CUDA tensors GpuArrays. The producer must not write to it afterwards:
    functrans arrays are immutable."""
    if isinstance(x, core.Array):
        return x
    dev_type = x.__dlpack_device__()[0] if hasattr(x, "__dlpack_device__") else KDLCPU
    if dev_type == KDLCPU:
        arr = np.from_dlpack(x)
        if arr.flags.writeable:
            arr = arr.view()
            arr.flags.writeable = False
        core.get_aval(arr)  # rejects dtypes functrans does not support
        return core.Array._wrap(arr)
    if dev_type == KDLCUDA:
        if _gpu_count() == 0:
            raise DeviceError("functrans.from_dlpack: a CUDA tensor was given but no usable "
                              f"GPU runtime is installed ({_device.gpu_status().reason}); "
                              f"fix: {_device.gpu_status().fix}")
        import cupy
        return GpuArray(cupy.from_dlpack(x))
    raise DeviceError(f"functrans.from_dlpack: device type {dev_type} is not supported "
                      f"(CPU and CUDA are)")


def device_put(x: Any, device: Any = None) -> Any:
    """Arrays from a pytree of NumPy arrays or scalars, on ``device`` (default: the CPU;
    "cuda"/"gpu" or a Device from ft.devices() puts them on a GPU)."""
    dev = _as_device(device)
    if dev.platform == "cpu":
        import functrans.numpy as fnp

        def put_cpu(a: Any) -> Any:
            if isinstance(a, GpuArray):
                return core.Array._wrap(a._value, a._weak)
            return a if isinstance(a, core.Array) else fnp.asarray(a)
        return tree_util.tree_map(put_cpu, x)
    if dev.id >= _gpu_count():
        st = _device.gpu_status()
        raise DeviceError(f"functrans.device_put: no GPU {dev!r} here"
                          + (f" ({st.reason}); fix: {st.fix}" if not st.usable else ""))
    import cupy

    def put_gpu(a: Any) -> Any:
        if isinstance(a, GpuArray) and a.device == dev:
            return a
        weak = a._weak if isinstance(a, core.Array) else type(a) in (int, float, complex)
        host = np.asarray(a) if not isinstance(a, (int, float, complex, bool)) else \
            np.asarray(a, core.get_aval(a).dtype)
        with cupy.cuda.Device(dev.id):
            return GpuArray(launch.to_device(cupy, host), weak)
    return tree_util.tree_map(put_gpu, x)


def device_get(x: Any) -> Any:
    """NumPy values of a pytree of Arrays (device arrays are copied to the host)."""
    def get(a: Any) -> Any:
        if isinstance(a, core.Array):
            return np.asarray(a)
        buf = getattr(a, "__cuda_array_interface__", None)
        if buf is not None:
            import cupy
            return cupy.asnumpy(a)
        return a
    return tree_util.tree_map(get, x)
