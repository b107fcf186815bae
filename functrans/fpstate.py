"""Silence NumPy's floating-point warnings for a computation, cheaply.

functrans evaluates ``log(0)`` as ``-inf`` without a RuntimeWarning, as JAX does. NumPy's
``np.errstate`` costs about a microsecond per use, which dominates small eager ops, so this
module sets NumPy's error-state context variable directly (NumPy >= 2) and falls back to
``np.errstate`` elsewhere. Usage: ``token = quiet(); try: ... finally: restore(token)``.
Imports only numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

try:  # NumPy 2: the error state is a context variable holding an "extobj" capsule.
    from numpy._core import _ufunc_config as _config
    from numpy._core import umath as _umath

    _VAR = _config._extobj_contextvar
    _IGNORE = _umath._make_extobj(all="ignore")

    def quiet() -> Any:
        return _VAR.set(_IGNORE)

    def restore(token: Any) -> None:
        _VAR.reset(token)

except (ImportError, AttributeError):  # pragma: no cover - older NumPy
    def quiet() -> Any:
        state = np.errstate(all="ignore")
        state.__enter__()
        return state

    def restore(token: Any) -> None:
        token.__exit__(None, None, None)


def quietly(fn: Callable) -> Callable:
    """``fn`` run without floating-point warnings (log(0) is -inf, not a warning)."""

    def run(*args: Any, **params: Any) -> Any:
        token = quiet()
        try:
            return fn(*args, **params)
        finally:
            restore(token)

    run.__name__ = getattr(fn, "__name__", "impl")
    return run
