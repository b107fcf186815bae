"""``functrans.nn``: neural-network functions with jax.nn's names and semantics.

Activations (relu, gelu, silu, ...), softmax/log_softmax/logsumexp, one_hot, standardize, glu
and dot_product_attention are defined in ``_functions.py``; parameter initializers are in
``functrans.nn.initializers``. This file only re-exports.
"""

from __future__ import annotations

from functrans.nn import initializers  # noqa: F401
from functrans.nn._functions import *  # noqa: F401,F403
from functrans.nn._functions import __all__ as _functions_all

__all__ = ["initializers"] + list(_functions_all)
