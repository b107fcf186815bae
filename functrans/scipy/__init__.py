"""``functrans.scipy``: the part of ``jax.scipy`` that functrans provides (``linalg``).

Like ``jax.scipy``, it needs no SciPy installed: everything is built from functrans
primitives, so it is differentiable, batchable and traceable.
"""

from __future__ import annotations

from functrans.scipy import linalg  # noqa: F401
