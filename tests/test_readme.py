"""The README's Python examples run as written, and its two commands match .ci/run."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks
    namespace: dict = {}
    for block in blocks:
        if block.startswith("# requires a GPU") and not _gpu_available():
            continue  # GPU-only examples run where a GPU is
        exec(compile(block, "README.md", "exec"), namespace)


def _gpu_available() -> bool:
    from functrans.kernels import device
    return device.nvidia_driver_present() and device.gpu_status().usable


def test_ci_runs_the_readme_test_command_verbatim():
    commands = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    test_cmd = next(c.strip() for c in commands if "pytest" in c)
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_import_loads_neither_triton_nor_cupy_nor_torch():
    code = ("import sys, functrans, functrans.numpy, functrans.lax; "
            "bad = [m for m in ('triton', 'cupy', 'torch', 'jax') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
