"""functrans: composable grad, vmap and jit for NumPy-style array programs.

``import functrans as ft`` and ``import functrans.numpy as fnp``. This file only re-exports; the
pipeline is described in DESIGN.md (trace -> jaxpr -> transform -> lower).
"""

from __future__ import annotations

from functrans import config, dtypes, errors, tree, tree_util  # noqa: F401
from functrans.api import eval_shape, make_jaxpr  # noqa: F401
from functrans.core import Array, ShapedArray, ShapeDtypeStruct  # noqa: F401
from functrans.dtypes import float0  # noqa: F401
from functrans import lax, numpy  # noqa: F401  (numpy installs Array's operators)
from functrans import scipy  # noqa: F401
from functrans import random  # noqa: F401
from functrans import nn  # noqa: F401
from functrans import debug  # noqa: F401
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
    """NumPy values of a pytree of Arrays (read-only views; no copy on the CPU)."""
    import numpy as _np
    return tree_util.tree_map(lambda a: _np.asarray(a) if isinstance(a, Array) else a, x)


def device_put(x: object) -> object:
    """Arrays from a pytree of NumPy arrays or scalars (copies, so later writes to the source
    do not change them)."""
    return tree_util.tree_map(lambda a: a if isinstance(a, Array) else numpy.asarray(a), x)


def block_until_ready(x: object) -> object:
    return x
