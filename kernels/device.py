"""Which backend can run here: GPU detection, the Triton interpreter switch, lazy imports.

Nothing here imports triton or cupy at module level. ``resolve_backend(request)`` turns the
``backend=`` argument of ``jit`` (or ``FUNCTRANS_BACKEND``) into "numpy" or "triton":

* ``"numpy"`` is always available.
* ``"triton"`` needs either a usable NVIDIA GPU with the ``gpu`` extra installed (triton and
  cupy-cuda12x), or ``TRITON_INTERPRET=1`` set before triton is first imported, in which case
  the generated kernels run through Triton's CPU interpreter on NumPy buffers (slow; for
  debugging and tests). Asking for it anywhere else raises ``BackendUnavailableError`` that
  says what is missing and how to fix it.
* No request: Triton on a usable GPU, else NumPy, with one log line (once per process) saying
  why.

Imports only the standard library and ``functrans.errors``.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import sys
import threading
from typing import Any, NamedTuple

from functrans.errors import FunctransError

log = logging.getLogger("functrans")

BACKENDS = ("numpy", "triton")
INSTALL_HINT = 'pip install "functrans[gpu]"'


class BackendUnavailableError(FunctransError, RuntimeError):
    """The requested backend cannot run on this machine (the message says why and the fix)."""


def interpret_requested() -> bool:
    """TRITON_INTERPRET is set to a true value in this process's environment."""
    return os.environ.get("TRITON_INTERPRET", "").lower() in ("1", "true", "yes", "on")


def _has(module: str) -> bool:
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@functools.lru_cache(maxsize=1)
def nvidia_driver_present() -> bool:
    """A cheap look for an NVIDIA driver (no import of cupy or triton)."""
    if os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0"):
        return True
    import ctypes.util
    return ctypes.util.find_library("cuda") is not None


class GpuStatus(NamedTuple):
    usable: bool
    reason: str      # why not (empty when usable)
    fix: str         # what to do about it


_status_lock = threading.Lock()
_gpu_status: GpuStatus | None = None


def gpu_status() -> GpuStatus:
    """Whether generated Triton kernels can run on a GPU here, and if not, why (cached)."""
    global _gpu_status
    with _status_lock:
        if _gpu_status is None:
            _gpu_status = _probe_gpu()
        return _gpu_status


def _probe_gpu() -> GpuStatus:
    if not _has("triton"):
        return GpuStatus(False, "the triton package is not installed",
                         f"install the GPU extra: {INSTALL_HINT}")
    if not _has("cupy"):
        return GpuStatus(False, "the cupy package is not installed (functrans keeps device "
                         "buffers in CuPy; it never uses torch)",
                         f"install the GPU extra: {INSTALL_HINT}")
    if not nvidia_driver_present():
        return GpuStatus(False, "no NVIDIA driver was found (no /dev/nvidia0, no libcuda)",
                         "run on a machine with an NVIDIA GPU and its driver, or use the "
                         "NumPy backend (backend='numpy'); to debug generated kernels on the "
                         "CPU, set TRITON_INTERPRET=1 before starting Python")
    if interpret_requested():
        return GpuStatus(False, "TRITON_INTERPRET=1 is set, so triton runs kernels in its "
                         "CPU interpreter, not on the GPU",
                         "unset TRITON_INTERPRET to run on the GPU")
    try:
        import cupy
        if not cupy.cuda.is_available():
            return GpuStatus(False, "cupy found no usable CUDA device (driver too old or no "
                             "device visible; check CUDA_VISIBLE_DEVICES and nvidia-smi)",
                             "install a driver that supports CUDA 12, or use backend='numpy'")
        import triton
        triton.runtime.driver.active.get_current_device()
    except Exception as e:  # noqa: BLE001 - any failure here means "not usable", with why
        return GpuStatus(False, f"the GPU runtime failed to start: {type(e).__name__}: {e}",
                         "check the driver with nvidia-smi, or use backend='numpy'")
    return GpuStatus(True, "", "")


_interp_status: GpuStatus | None = None


def interpreter_status() -> GpuStatus:
    """Whether this process can run generated kernels through Triton's interpreter."""
    global _interp_status
    if _interp_status is not None:
        return _interp_status
    if not interpret_requested():
        st = GpuStatus(False, "TRITON_INTERPRET is not set", "set TRITON_INTERPRET=1 before "
                       "starting Python (it must be set before triton is first imported)")
    elif not _has("triton"):
        st = GpuStatus(False, "the triton package is not installed",
                       'install it: pip install triton (or pip install "functrans[test]")')
    else:
        tl = sys.modules.get("triton.language")
        if tl is not None and not _language_is_interpreted():
            st = GpuStatus(False, "triton was imported before TRITON_INTERPRET=1 was set, so "
                           "this process compiles kernels instead of interpreting them",
                           "set TRITON_INTERPRET=1 in the environment before starting Python")
        else:
            st = GpuStatus(True, "", "")
    _interp_status = st
    return st


def _language_is_interpreted() -> bool:
    """Triton decides interpreter mode when triton.language is imported (anchors/lowering.md
    section 0.2): read the decision back from its knobs."""
    try:
        import triton
        return bool(triton.knobs.runtime.interpret)
    except Exception:  # noqa: BLE001
        return interpret_requested()


_announced = False


def _announce(message: str, warn: bool) -> None:
    global _announced
    if _announced:
        return
    _announced = True
    (log.warning if warn else log.info)(message)


def resolve_backend(request: str | None) -> str:
    """The backend to compile for: "numpy" or "triton" (see the module docstring)."""
    explicit = request is not None
    if request is None:
        env = os.environ.get("FUNCTRANS_BACKEND", "").strip().lower()
        if env:
            if env not in BACKENDS:
                raise BackendUnavailableError(
                    f"functrans: FUNCTRANS_BACKEND={env!r} is not a backend; use one of "
                    f"{', '.join(BACKENDS)}")
            request, explicit = env, True
    if request == "numpy":
        return "numpy"
    if request == "triton":
        if interpret_requested():
            st = interpreter_status()
            if st.usable:
                return "triton"
            raise BackendUnavailableError(
                f"functrans.jit(backend='triton'): TRITON_INTERPRET=1 is set but {st.reason}. "
                f"Fix: {st.fix}.")
        st = gpu_status()
        if st.usable:
            return "triton"
        raise BackendUnavailableError(
            f"functrans.jit(backend='triton') needs an NVIDIA GPU with triton and cupy, but "
            f"{st.reason}. Fix: {st.fix}. (To run the generated kernels on the CPU for "
            f"debugging, set TRITON_INTERPRET=1 before starting Python.)")
    if request is not None:
        raise ValueError(f"functrans.jit: unknown backend {request!r}; available: {BACKENDS}")
    assert not explicit
    # Automatic choice: only look further when a driver is there (importing cupy is slow).
    if not nvidia_driver_present():
        _announce("functrans: no NVIDIA GPU found; jit uses the NumPy backend "
                  "(set FUNCTRANS_BACKEND to choose explicitly)", warn=False)
        return "numpy"
    st = gpu_status()
    if st.usable:
        _announce("functrans: jit uses the Triton backend on the GPU", warn=False)
        return "triton"
    _announce(f"functrans: an NVIDIA GPU seems present but the Triton backend is unavailable "
              f"({st.reason}); jit uses the NumPy backend. Fix: {st.fix}.", warn=True)
    return "numpy"


def requested_backend(request: str | None) -> str:
    """The backend asked for (argument, else FUNCTRANS_BACKEND, else the automatic choice),
    without checking that it can run: generating kernel source needs no GPU."""
    if request is not None:
        return request
    env = os.environ.get("FUNCTRANS_BACKEND", "").strip().lower()
    if env in BACKENDS:
        return env
    return resolve_backend(None)


def import_triton() -> Any:
    """Import triton for running kernels, with the numerics setting made explicit (FMA
    contraction on, Triton 3.9's default; setting it silences the 3.10 warning) and Triton's
    binary cache beside functrans' source cache (unless TRITON_CACHE_DIR is set)."""
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    if "TRITON_CACHE_DIR" not in os.environ:
        from functrans.lowering import source
        os.environ["TRITON_CACHE_DIR"] = os.path.join(source.cache_dir(), "triton-binaries")
    import triton
    return triton


def _reset_for_tests() -> None:
    global _gpu_status, _interp_status, _announced
    _gpu_status = _interp_status = None
    _announced = False
    clear = getattr(nvidia_driver_present, "cache_clear", None)
    if clear is not None:
        clear()
