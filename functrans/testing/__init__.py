"""Testing tools for functrans users: gradient checks, transform laws, hypothesis strategies.

* ``check_grads`` / ``check_jvp`` / ``check_vjp``: derivatives against finite differences
  (computed in float64 when the function allows), with dtype-aware tolerances and failure
  messages that name the mode, order, direction and output element (gradients.py).
* ``check_jacfwd_equals_jacrev``, ``check_linearize_matches_jvp``, ``check_transpose``,
  ``check_jit_equals_eager``, ``check_vmap_matches_loop``, ``check_vmap_grad_matches_loop``,
  ``assert_trees_close``: transform laws (laws.py).
* ``functrans.testing.strategies``: hypothesis strategies. Imported on first use, so
  ``import functrans.testing`` works without hypothesis installed.
* ``functrans.testing.plugin``: the pytest plugin (fixture ``check_grads``, profile
  ``"functrans"``).
"""

from __future__ import annotations

import importlib
from typing import Any

from functrans.testing.gradients import check_grads, check_jvp, check_vjp, default_tolerance
from functrans.testing.laws import (
    assert_trees_close,
    check_jacfwd_equals_jacrev,
    check_jit_equals_eager,
    check_linearize_matches_jvp,
    check_transpose,
    check_vmap_grad_matches_loop,
    check_vmap_matches_loop,
)

__all__ = [
    "assert_trees_close", "check_grads", "check_jacfwd_equals_jacrev", "check_jit_equals_eager",
    "check_jvp", "check_linearize_matches_jvp", "check_transpose", "check_vjp",
    "check_vmap_grad_matches_loop", "check_vmap_matches_loop", "default_tolerance",
]  # not "strategies": a star import must not pull in hypothesis


def __getattr__(name: str) -> Any:
    # ``functrans.testing.strategies`` imports hypothesis: only when someone asks for it.
    if name == "strategies":
        return importlib.import_module("functrans.testing.strategies")
    raise AttributeError(f"module 'functrans.testing' has no attribute {name!r}")
