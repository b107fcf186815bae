"""functrans: composable grad, vmap and jit for NumPy-style array programs.

``import functrans as ft`` and ``import functrans.numpy as fnp``. This file only re-exports; the
pipeline is described in DESIGN.md (trace -> jaxpr -> transform -> lower).
"""

from __future__ import annotations

from functrans import config, dtypes, errors, tree, tree_util  # noqa: F401
from functrans.api import eval_shape, make_jaxpr  # noqa: F401
from functrans.memory import memory_estimate  # noqa: F401
from functrans.rule_coverage import coverage  # noqa: F401
from functrans.core import Array, ShapedArray, ShapeDtypeStruct  # noqa: F401
from functrans.dtypes import float0  # noqa: F401
from functrans import lax, numpy  # noqa: F401  (numpy installs Array's operators)
from functrans import scipy  # noqa: F401
from functrans import random  # noqa: F401
from functrans import nn  # noqa: F401
from functrans import debug  # noqa: F401
from functrans.leaks import checking_leaks  # noqa: F401
from functrans.transforms.derivatives import (  # noqa: F401
    grad, hessian, jacfwd, jacobian, jacrev, jvp, linear_transpose, linearize, value_and_grad,
    vjp,
)
from functrans.transforms import custom_derivatives  # noqa: F401
from functrans.transforms.checkpoint import (  # noqa: F401
    checkpoint, checkpoint_name, checkpoint_policies, remat,
)
from functrans.transforms.custom_derivatives import custom_jvp, custom_vjp  # noqa: F401
from functrans.transforms.batching import vmap  # noqa: F401
from functrans.tree_util import Partial  # noqa: F401
from functrans.lowering.jit import clear_caches, jit  # noqa: F401  (last: lowering imports core)


def disable_jit(disable: bool = True) -> object:
    """Context manager: jitted functions run op by op, as plain Python (for print and pdb)."""
    return config.disable_jit(disable)

__version__ = "0.1.0"


def device_get(x: object) -> object:
    """NumPy values of a pytree of Arrays (read-only views on the CPU; GPU arrays are copied
    to the host)."""
    from functrans.kernels import arrays
    return arrays.device_get(x)


def device_put(x: object, device: object = None) -> object:
    """Arrays from a pytree of NumPy arrays or scalars (copies, so later writes to the source
    do not change them), on ``device``: the CPU by default, or a GPU ("cuda", or a device
    from ``devices()``) when the gpu extra and a GPU are present."""
    from functrans.kernels import arrays
    return arrays.device_put(x, device)


def devices(backend: str | None = None) -> list:
    """The devices functrans can use: the CPU and, with the gpu extra, each CUDA GPU."""
    from functrans.kernels import arrays
    return arrays.devices(backend)


def from_dlpack(x: object) -> Array:
    """An Array viewing a DLPack tensor (NumPy, CuPy, torch...) without a copy."""
    from functrans.kernels import arrays
    return arrays.from_dlpack(x)


def block_until_ready(x: object) -> object:
    """Wait until every array in the pytree ``x`` is computed (GPU kernels run
    asynchronously: time work after this), then return ``x``."""
    for leaf in tree_util.tree_leaves(x):
        wait = getattr(leaf, "block_until_ready", None)
        if wait is not None:
            wait()
    return x
