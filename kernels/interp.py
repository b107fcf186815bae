"""The NumPy adapter that lets Triton's interpreter run kernels on NumPy buffers (no torch).

With ``TRITON_INTERPRET=1`` Triton runs a ``@triton.jit`` function in Python, reading and
writing memory through raw addresses. Its launcher expects torch tensors; the contract it
actually uses (anchors/lowering.md section 1.1, read in triton/runtime/interpreter.py) is:

* ``arg.untyped_storage()``, whose ``data_ptr()`` keys a dict and whose ``cpu()`` is the
  host copy; after the run it calls ``device_storage.copy_(host_storage)``;
* ``arg.new_empty(0, device='cpu')`` and then ``.set_(storage, offset, size, stride)`` on the
  result, which becomes the host argument;
* ``data_ptr()`` and ``dtype`` of that host argument (the pointer and its element type).

NumPy memory already is host memory, so the storage's ``cpu()`` is itself, ``copy_`` does
nothing, and the kernel writes straight into the array. ``NpTensor`` keeps its array alive
for as long as a launch can touch it. Imports numpy only.
"""

from __future__ import annotations

import numpy as np


class _Storage:
    """The whole buffer behind an array (its base pointer)."""

    __slots__ = ("array", "ptr")

    def __init__(self, array: np.ndarray, ptr: int):
        self.array = array
        self.ptr = ptr

    def data_ptr(self) -> int:
        return self.ptr

    def cpu(self) -> _Storage:
        return self

    def copy_(self, other: _Storage) -> _Storage:
        return self  # same memory: the kernel already wrote into it


class NpTensor:
    """A NumPy array as a Triton kernel argument under the interpreter."""

    __slots__ = ("_ptr", "array", "dtype")

    def __init__(self, array: np.ndarray):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"NpTensor wraps a NumPy array, got {type(array).__name__}")
        self.array = array
        self.dtype = array.dtype
        self._ptr = int(array.__array_interface__["data"][0])

    def data_ptr(self) -> int:
        return self._ptr

    def untyped_storage(self) -> _Storage:
        return _Storage(self.array, self._ptr)

    def storage_offset(self) -> int:
        return 0

    def size(self) -> tuple[int, ...]:
        return self.array.shape

    def stride(self) -> tuple[int, ...]:
        item = self.array.itemsize
        return tuple(s // item for s in self.array.strides)

    def new_empty(self, *args: object, **kwargs: object) -> NpTensor:
        t = object.__new__(NpTensor)
        t.array = self.array
        t.dtype = self.dtype
        t._ptr = 0
        return t

    def set_(self, storage: _Storage, offset: int, size: object, stride: object) -> NpTensor:
        self._ptr = storage.ptr + int(offset) * self.array.itemsize
        return self

    def __repr__(self) -> str:
        return f"NpTensor({self.array.dtype}{list(self.array.shape)})"


def wrap(arg: object) -> object:
    """A launch argument for the interpreter: arrays become NpTensors, the rest is as is."""
    if isinstance(arg, np.ndarray):
        return NpTensor(arg)
    return arg
