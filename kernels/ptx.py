"""Compile generated kernels to PTX without a GPU, and read ptxas's resource report.

``triton.compile`` with an explicit ``GPUTarget("cuda", 90, 32)`` runs the whole pipeline
(TTIR, TTGIR, LLVM IR, PTX, cubin) on a CPU-only machine, because ptxas ships in the triton
wheel (anchors/lowering.md section 2). CI uses this to check that every kind of generated
kernel compiles for sm_90, that aligned contiguous accesses become vectorized loads, and that
nothing spills registers. The process must not have TRITON_INTERPRET set.

    from functrans.kernels import ptx
    compiled = ptx.compile_kernel(plan, fn)         # plan: a triton_backend.KernelPlan
    print(compiled.asm["ptx"])
    print(ptx.ptxas_report(compiled.asm["ptx"]))    # registers, spill stores/loads

Imports triton (only when called).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from typing import Any

import numpy as np

INT32_MAX = 2 ** 31 - 1


def compile_kernel(plan: Any, fn: Any, capability: int = 90, aligned: bool = True) -> Any:
    """Compile a generated kernel (``triton_backend.KernelPlan`` and its JITFunction) for a
    CUDA target, with the argument specialization Triton would give a launch whose pointers
    are 16-byte aligned (CuPy allocations are) and whose sizes are what the plan says."""
    from functrans.lowering import triton_rules
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, compile
    names = list(fn.arg_names)
    _, meta = plan.launch["cuda"]
    signature: dict[str, str] = {}
    constexprs: dict[str, Any] = {}
    attrs: dict[tuple[int, ...], list] = {}
    i = 0
    for a in plan.ptr_args:
        signature[names[i]] = triton_rules.POINTER_TYPES[np.dtype(a.aval.dtype).name]
        if aligned:
            attrs[(i,)] = [["tt.divisibility", 16]]
        i += 1
    for v in plan.int_args:
        name = names[i]
        if v == 1:
            signature[name] = "constexpr"
            constexprs[name] = 1
        else:
            signature[name] = "i32" if -INT32_MAX - 1 <= v <= INT32_MAX else "i64"
            if v % 16 == 0:
                attrs[(i,)] = [["tt.divisibility", 16]]
        i += 1
    for name in names[i:]:
        signature[name] = "constexpr"
        constexprs[name] = meta[name]
    options = {k: meta[k] for k in ("num_warps", "num_stages") if k in meta}
    src = ASTSource(fn, signature=signature, constexprs=constexprs, attrs=attrs)
    return compile(src, target=GPUTarget("cuda", capability, 32), options=options)


def ptxas_path() -> str | None:
    """The ptxas that matches this triton's PTX version (Triton 3.9 emits PTX that only its
    bundled ``ptxas-blackwell`` accepts), or None."""
    try:
        import triton
    except ImportError:
        return None
    base = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")
    for name in ("ptxas-blackwell", "ptxas"):
        path = os.path.join(base, name)
        if os.path.exists(path) and os.access(path, os.X_OK):
            return path
    return shutil.which("ptxas")


def ptxas_report(ptx: str, arch: str = "sm_90a") -> dict[str, int]:
    """Registers and spill bytes per ptxas -v (summed over the entry functions)."""
    exe = ptxas_path()
    if exe is None:
        raise FileNotFoundError("ptxas not found (it ships with the triton wheel)")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.ptx")
        with open(path, "w") as f:
            f.write(ptx)
        proc = subprocess.run([exe, "-v", "--gpu-name", arch, path, "-o", os.devnull],
                              capture_output=True, text=True, timeout=120, check=False)
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"ptxas failed:\n{text}")
    report = {"registers": 0, "spill_stores": 0, "spill_loads": 0}
    for m in re.finditer(r"Used (\d+) registers", text):
        report["registers"] = max(report["registers"], int(m.group(1)))
    for m in re.finditer(r"(\d+) bytes spill stores, (\d+) bytes spill loads", text):
        report["spill_stores"] += int(m.group(1))
        report["spill_loads"] += int(m.group(2))
    return report
