"""``functrans.numpy``: the NumPy API over functrans arrays (``import functrans.numpy as fnp``).

Every function here is written in terms of ``functrans.lax`` primitives, so ``grad``, ``vmap``
and ``jit`` apply to all of them. Arguments may be NumPy arrays, Python scalars, functrans
Arrays or tracers; results are functrans Arrays (or tracers under a transformation).
"""

from __future__ import annotations

import numpy as _np

from functrans import dtypes as _dt
from functrans.core import Array as ndarray  # noqa: F401  (isinstance checks, like jnp.ndarray)
from functrans.dtypes import (  # noqa: F401
    bool_, complex64, complex128, float0, float16, float32, float64, int8, int16, int32, int64,
    uint8, uint16, uint32, uint64,
)
from functrans.numpy import _methods  # noqa: F401  (installs operators on Array and Tracer)
from functrans.numpy import fft, linalg  # noqa: F401
from functrans.numpy._contraction import *  # noqa: F401,F403
from functrans.numpy._einsum import *  # noqa: F401,F403
from functrans.numpy._manip import *  # noqa: F401,F403
from functrans.numpy._math import *  # noqa: F401,F403
from functrans.numpy._nanfunctions import *  # noqa: F401,F403
from functrans.numpy._numeric import *  # noqa: F401,F403
from functrans.numpy._sorting import *  # noqa: F401,F403
from functrans.numpy._creation import *  # noqa: F401,F403
from functrans.numpy._reductions import *  # noqa: F401,F403
from functrans.numpy._selection import *  # noqa: F401,F403
from functrans.numpy._shape import *  # noqa: F401,F403
from functrans.numpy._ufuncs import *  # noqa: F401,F403

pi = _np.pi
e = _np.e
inf = _np.inf
nan = _np.nan
euler_gamma = _np.euler_gamma
newaxis = None
dtype = _np.dtype
iinfo = _np.iinfo
finfo = _np.finfo
promote_types = _dt.promote_types
issubdtype = _np.issubdtype
integer, floating, complexfloating, inexact, number, signedinteger, unsignedinteger = (
    _np.integer, _np.floating, _np.complexfloating, _np.inexact, _np.number,
    _np.signedinteger, _np.unsignedinteger)
generic = _np.generic


def result_type(*args: object) -> _np.dtype:
    """The dtype functrans would compute for these arguments (weak scalars included)."""
    from functrans.numpy._promotion import typeof
    return _dt.result_type_of(*(typeof(a) if not isinstance(a, (_np.dtype, type, str))
                                else (_dt.canonicalize(a), False) for a in args))[0]


def can_cast(from_: object, to: object, casting: str = "safe") -> bool:
    return _np.can_cast(from_, to, casting)  # type: ignore[arg-type]
