"""``functrans.lax``: one wrapper per primitive, with JAX's ``jax.lax`` names and parameters.

The wrappers are defined next to their primitives in ``functrans/primitives/``; this module only
re-exports them (dropping the trailing underscore of names that would shadow Python builtins
inside the family files, e.g. ``abs_`` -> ``lax.abs``).
"""

from __future__ import annotations

from functrans.primitives.callback import *  # noqa: F401,F403
from functrans.control_flow import (  # noqa: F401
    associative_scan, cond, fori_loop, scan, switch, while_loop,
)
from functrans.control_flow import map_ as map  # noqa: F401
from functrans.primitives.collectives import *  # noqa: F401,F403
from functrans.primitives.contraction import *  # noqa: F401,F403
from functrans.primitives.convolution import *  # noqa: F401,F403
from functrans.primitives.cumulative import *  # noqa: F401,F403
from functrans.primitives.elementwise import *  # noqa: F401,F403
from functrans.primitives.fft import *  # noqa: F401,F403
from functrans.primitives.elementwise import abs_ as abs  # noqa: F401
from functrans.primitives.elementwise import complex_ as complex  # noqa: F401
from functrans.primitives.elementwise import max_ as max  # noqa: F401
from functrans.primitives.elementwise import min_ as min  # noqa: F401
from functrans.primitives.elementwise import pow_ as pow  # noqa: F401
from functrans.primitives.elementwise import round_ as round  # noqa: F401
from functrans.primitives.indexing import *  # noqa: F401,F403
from functrans.primitives import linalg  # noqa: F401  (lax.linalg.qr, as in JAX)
from functrans.primitives.linalg import *  # noqa: F401,F403
from functrans.primitives.reductions import *  # noqa: F401,F403
from functrans.primitives.sorting import *  # noqa: F401,F403
from functrans.primitives.structural import *  # noqa: F401,F403
from functrans.primitives.windowed import *  # noqa: F401,F403
from functrans.primitives.slicing import *  # noqa: F401,F403
from functrans.primitives.slicing import slice_ as slice  # noqa: F401


class RoundingMethod:
    """``lax.round``'s rounding_method values."""

    AWAY_FROM_ZERO = 0
    TO_NEAREST_EVEN = 1
