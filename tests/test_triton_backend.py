"""The Triton backend from the main test process (no interpreter, no GPU): backend selection
and its errors, lowering to kernel source without triton, the known-gaps table, the device
API's CPU side, and the packaging of the gpu extra. Kernels *run* in
tests/test_triton_interpret.py (Triton's interpreter) and *compile* in
tests/test_triton_compile.py (PTX for sm_90); GPU-only tests are marked ``gpu`` and skipped
without one.
"""

from __future__ import annotations

import logging
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from functrans.kernels import device
from functrans.kernels.device import BackendUnavailableError
from functrans.lowering import triton_rules

import functrans as ft
import functrans.numpy as fnp
from functrans import nn
from functrans.primitives.registry import all_primitives

ROOT = pathlib.Path(__file__).resolve().parents[1]
INTERPRETING = os.environ.get("TRITON_INTERPRET", "") == "1"
HAS_GPU = (not INTERPRETING) and device.nvidia_driver_present() and device.gpu_status().usable
gpu = pytest.mark.skipif(not HAS_GPU, reason="needs an NVIDIA GPU with the gpu extra")


@pytest.fixture
def fresh_device_state(monkeypatch):
    monkeypatch.delenv("FUNCTRANS_BACKEND", raising=False)
    device._reset_for_tests()
    yield
    device._reset_for_tests()


# --- backend selection ----------------------------------------------------------------------


@pytest.mark.skipif(INTERPRETING or HAS_GPU, reason="needs a machine without a usable GPU")
def test_explicit_triton_without_a_gpu_raises_a_typed_error_saying_why_and_how(
        fresh_device_state):
    f = ft.jit(lambda x: x * 2, backend="triton")
    with pytest.raises(BackendUnavailableError) as info:
        f(np.ones(3, np.float32))
    msg = str(info.value)
    assert "backend='triton'" in msg and "Fix:" in msg
    assert "TRITON_INTERPRET=1" in msg  # how to run the kernels on the CPU instead
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ft.errors.FunctransError)


@pytest.mark.parametrize("missing, words", [
    ("triton", ["triton package is not installed", 'pip install "functrans[gpu]"']),
    ("cupy", ["cupy package is not installed", 'pip install "functrans[gpu]"']),
])
def test_missing_packages_are_named(fresh_device_state, monkeypatch, missing, words):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    real = device._has
    monkeypatch.setattr(device, "_has", lambda m: False if m == missing else real(m))
    with pytest.raises(BackendUnavailableError) as info:
        device.resolve_backend("triton")
    for w in words:
        assert w in str(info.value)


def test_no_driver_is_named(fresh_device_state, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(device, "_has", lambda m: True)
    monkeypatch.setattr(device, "nvidia_driver_present", lambda: False)
    with pytest.raises(BackendUnavailableError, match="no NVIDIA driver"):
        device.resolve_backend("triton")


def test_interpreter_requested_after_triton_was_compiled_mode(fresh_device_state, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(device, "_has", lambda m: True)
    monkeypatch.setitem(sys.modules, "triton.language", object())
    monkeypatch.setattr(device, "_language_is_interpreted", lambda: False)
    with pytest.raises(BackendUnavailableError, match="imported before TRITON_INTERPRET"):
        device.resolve_backend("triton")


@pytest.mark.skipif(HAS_GPU, reason="on a GPU the default is triton")
def test_default_is_numpy_with_one_log_line(fresh_device_state, monkeypatch, caplog):
    monkeypatch.setattr(device, "nvidia_driver_present", lambda: False)
    with caplog.at_level(logging.INFO, logger="functrans"):
        assert device.resolve_backend(None) == "numpy"
        assert device.resolve_backend(None) == "numpy"
    lines = [r for r in caplog.records if r.name == "functrans"]
    assert len(lines) == 1 and "NumPy backend" in lines[0].getMessage()


def test_gpu_present_but_unusable_warns_once(fresh_device_state, monkeypatch, caplog):
    monkeypatch.setattr(device, "nvidia_driver_present", lambda: True)
    monkeypatch.setattr(device, "gpu_status", lambda: device.GpuStatus(
        False, "the cupy package is not installed", 'install the GPU extra'))
    with caplog.at_level(logging.INFO, logger="functrans"):
        assert device.resolve_backend(None) == "numpy"
        assert device.resolve_backend(None) == "numpy"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cupy" in warnings[0].getMessage()


def test_functrans_backend_environment_variable(fresh_device_state, monkeypatch):
    monkeypatch.setenv("FUNCTRANS_BACKEND", "numpy")
    assert device.resolve_backend(None) == "numpy"
    f = ft.jit(lambda x: x + 1)
    assert float(f(np.float32(1.0))) == 2.0 and f.resolved_backend() == "numpy"
    monkeypatch.setenv("FUNCTRANS_BACKEND", "tpu")
    with pytest.raises(BackendUnavailableError, match="FUNCTRANS_BACKEND"):
        device.resolve_backend(None)
    if not (INTERPRETING or HAS_GPU):
        monkeypatch.setenv("FUNCTRANS_BACKEND", "triton")
        with pytest.raises(BackendUnavailableError):
            device.resolve_backend(None)


def test_verify_on_the_numpy_backend_checks_against_eager_evaluation():
    f = ft.jit(lambda x: nn.softmax(fnp.sin(x)), backend="numpy", verify=True)
    x = np.linspace(0, 1, 10, dtype=np.float32).reshape(2, 5)
    np.testing.assert_allclose(np.asarray(f(x)), np.asarray(nn.softmax(fnp.sin(x))),
                               rtol=1e-6)


def test_unknown_backend_argument():
    with pytest.raises(ValueError, match="unknown backend"):
        ft.jit(lambda x: x, backend="tpu")


# --- lowering needs neither a GPU nor triton ------------------------------------------------


def test_lowered_text_without_triton_installed():
    """Kernel source is written without importing triton (here made unimportable)."""
    code = (
        "import sys; sys.modules['triton'] = None; sys.modules['cupy'] = None\n"
        "import numpy as np, functrans as ft, functrans.nn as nn\n"
        "x = np.ones((4, 8), np.float32)\n"
        "t = ft.jit(nn.softmax, backend='triton').lower(x).as_text()\n"
        "assert t.count('@triton.jit') == 1 and 'def run(' in t, t\n"
        "assert 'tl.reduce(' in t and 'xmask' in t\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=False, env={k: v for k, v in os.environ.items()
                                         if k != "FUNCTRANS_BACKEND"})
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_lowered_text_shows_what_runs_where():
    x = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)

    def f(x):
        s = ft.lax.sort(fnp.exp(x), dimension=1)
        return nn.softmax(s * 2.0), ft.lax.erf_inv(x * 0.5)

    text = ft.jit(f, backend="triton").lower(x).as_text()
    # exp(x) and x * 0.5 (the fallbacks' inputs, same shape) share one kernel; softmax is one
    assert text.count("@triton.jit") == 2
    assert text.count("rt.fallback(") == 2       # sort, erf_inv
    assert "# kernel 0:" in text and "# fallback 1: sort" in text
    assert "(why:" in text
    # Provenance: every kernel lists the equations it computes, with the user's line.
    assert "test_triton_backend.py" in text


# --- the known-gaps table: every primitive lowers to a kernel or a listed fallback ---------


def test_every_primitive_has_a_triton_lowering_or_a_fallback_entry():
    missing = []
    for p in all_primitives():
        kind = triton_rules.lowering_kind(p.name, p.family)
        if kind == "kernel":
            continue
        if not triton_rules.fallback_reason(p.name, p.family):
            missing.append(p.name)
    assert not missing, (f"primitives with neither a Triton rule nor an entry in "
                         f"triton_rules.FALLBACK_REASONS / FAMILY_FALLBACKS: {missing}")


def test_fallback_table_is_honest():
    """A listed fallback must not have a kernel rule, and must name a real primitive."""
    names = {p.name for p in all_primitives()}
    for name in triton_rules.FALLBACK_REASONS:
        assert name in names or name in ("debug_callback",), f"unknown primitive {name}"
        assert triton_rules.lowering_kind(name, "") == "fallback", name
    for name in triton_rules.FALLBACK_XP:
        assert name in names


# --- device API (CPU side; GPU side marked) ------------------------------------------------


def test_devices_and_array_device():
    devs = ft.devices()
    assert devs[0] == "cpu" and devs[0].platform == "cpu" and repr(devs[0]) == "CpuDevice(id=0)"
    a = fnp.arange(4.0)
    assert a.device == devs[0] == "cpu"
    assert ft.devices("cpu") == [devs[0]]
    if not HAS_GPU:
        assert ft.devices("gpu") == []


def test_dlpack_round_trip_on_the_cpu():
    a = fnp.arange(6.0).reshape(2, 3)
    b = np.from_dlpack(a)                 # NumPy 2 asks for DLPack 1.0: no copy, read-only
    assert np.shares_memory(b, np.asarray(a)) and not b.flags.writeable
    assert a.__dlpack_device__() == (1, 0)
    c = ft.from_dlpack(np.arange(3, dtype=np.int32))
    assert isinstance(c, ft.Array) and c.dtype == np.int32 and c.device == "cpu"
    with pytest.raises(ft.errors.ImmutableArrayError):
        c[0] = 1
    legacy = a.__dlpack__()               # an old consumer: a copy, never a writable alias
    assert legacy is not None


def test_device_put_and_get_on_the_cpu():
    tree = {"w": np.ones((2, 2), np.float32), "s": 1.5}
    put = ft.device_put(tree)
    assert isinstance(put["w"], ft.Array) and put["s"].weak_type
    got = ft.device_get(put)
    assert isinstance(got["w"], np.ndarray)
    assert ft.device_put(tree, ft.devices()[0])["w"].device == "cpu"


@pytest.mark.skipif(HAS_GPU, reason="a GPU is present")
def test_device_put_to_a_missing_gpu_says_why():
    from functrans.kernels.arrays import DeviceError
    with pytest.raises(DeviceError, match="no GPU"):
        ft.device_put(np.ones(3), "cuda")


@gpu
def test_gpu_arrays_stay_on_the_device_and_run_through_jit():  # pragma: no cover - GPU only
    import cupy
    x = ft.device_put(np.arange(8, dtype=np.float32), "cuda")
    assert x.device.platform == "cuda" and x.shape == (8,)
    y = ft.jit(lambda v: fnp.sin(v) * 2.0, backend="triton")(x)
    np.testing.assert_allclose(np.asarray(y), np.sin(np.arange(8, dtype=np.float32)) * 2,
                               rtol=1e-5)
    z = ft.from_dlpack(cupy.arange(4, dtype=cupy.float32))
    assert z.device.platform == "cuda"
    assert cupy.from_dlpack(z).data.ptr == z._device_buffer.data.ptr


@gpu
def test_launches_follow_cupys_current_stream():  # pragma: no cover - GPU only
    import cupy
    f = ft.jit(lambda v: v * 3.0, backend="triton")
    x = np.arange(1 << 20, dtype=np.float32)
    with cupy.cuda.Stream(non_blocking=True):
        np.testing.assert_allclose(np.asarray(f(x)), x * 3.0)


# --- packaging --------------------------------------------------------------------------------


def test_gpu_and_test_extras():
    text = (ROOT / "pyproject.toml").read_text()
    gpu_line = next(line for line in text.splitlines() if line.startswith("gpu ="))
    test_line = next(line for line in text.splitlines() if line.startswith("test ="))
    assert "triton" in gpu_line and "cupy-cuda12x" in gpu_line and "torch" not in gpu_line
    assert "triton" in test_line and "cupy" not in test_line


def test_importing_functrans_and_lowering_loads_no_gpu_package():
    code = ("import sys, numpy as np, functrans as ft, functrans.nn as nn\n"
            "ft.jit(nn.softmax, backend='triton').lower(np.ones((2, 3), np.float32)).as_text()\n"
            "ft.devices(); ft.from_dlpack(np.ones(2))\n"
            "bad = [m for m in ('triton', 'cupy', 'torch', 'jax') if m in sys.modules]\n"
            "assert not bad, bad\n")
    env = {k: v for k, v in os.environ.items() if k not in ("FUNCTRANS_BACKEND",)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)
