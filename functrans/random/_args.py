"""Argument handling shared by ``functrans.random``'s samplers: shapes, dtypes, parameter
broadcasting (with JAX's rules and functrans-style messages), key splitting into a list, and
the optional ``functrans.numpy.linalg`` lookup. Imports core, config, dtypes, lax and the
package's ``_threefry``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from functrans import config, core, lax
from functrans import dtypes as dt
from functrans.core import Array
from functrans.random import _threefry as tf
from functrans.random._threefry import U32, traced, wrap

Shape = Sequence[int]


def shape_arg(name: str, shape: Any) -> tuple[int, ...]:
    """A shape argument as a tuple of non-negative ints (a bare int is an error, as in JAX)."""
    if isinstance(shape, (int, np.integer)) or not isinstance(shape, Sequence):
        raise TypeError(f"functrans.random.{name}: shape must be a sequence of ints, got "
                        f"{shape!r}" + (f"; write ({shape},) for a 1-d shape"
                                        if isinstance(shape, (int, np.integer)) else ""))
    try:
        out = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"functrans.random.{name}: shape must be a sequence of ints, got "
                        f"{shape!r}") from None
    if any(d < 0 for d in out):
        raise ValueError(f"functrans.random.{name}: shape {out} has a negative dimension")
    return out


def float_dtype(name: str, dtype: Any, complex_ok: bool = False) -> np.dtype:
    """A floating dtype argument (None: the configured default float, float32 unless set)."""
    d = config.default_float_dtype() if dtype is None else dt.canonicalize(dtype)
    if d.kind != "f" and not (complex_ok and d.kind == "c"):
        kind = "a floating or complex" if complex_ok else "a floating"
        raise ValueError(f"functrans.random.{name}: dtype must be {kind} dtype, got {d}")
    return d


def int_dtype(name: str, dtype: Any) -> np.dtype:
    """An integer dtype argument (None: the configured default int, int32 unless set)."""
    d = config.default_int_dtype() if dtype is None else dt.canonicalize(dtype)
    if d.kind not in "iu":
        raise ValueError(f"functrans.random.{name}: dtype must be an integer dtype, got {d}")
    return d


def shape_of(x: Any) -> tuple[int, ...]:
    return core.get_aval(x).shape if core.is_array_like(x) else np.shape(x)


def check_shape(name: str, shape: tuple[int, ...], *param_shapes: tuple[int, ...]) -> None:
    """JAX's rule: parameters must broadcast with ``shape`` to exactly ``shape``."""
    if not param_shapes:
        return
    try:
        joint = np.broadcast_shapes(shape, *param_shapes)
    except ValueError:
        joint = None
    if joint != shape:
        raise ValueError(f"functrans.random.{name}: parameter shapes {list(param_shapes)} must "
                         f"broadcast with the shape argument to exactly {shape}, got "
                         f"{'no common shape' if joint is None else joint}")


def broadcast_shape(name: str, shape: Any, *params: Any) -> tuple[int, ...]:
    """``shape`` (checked against the parameters), or the parameters' broadcast shape."""
    shapes = [shape_of(p) for p in params]
    if shape is None:
        try:
            return tuple(np.broadcast_shapes(*shapes)) if shapes else ()
        except ValueError:
            raise ValueError(f"functrans.random.{name}: parameter shapes {shapes} do not "
                             f"broadcast together") from None
    shape = shape_arg(name, shape)
    check_shape(name, shape, *shapes)
    return shape


def as_dtype(x: Any, dtype: np.dtype) -> Any:
    """``x`` converted to ``dtype`` (rounding to nearest, like JAX's convert_element_type);
    Python scalars and NumPy values stay NumPy."""
    if isinstance(x, (Array, core.Tracer)):
        return x if core.get_aval(x).dtype == dtype else lax.convert_element_type(x, dtype)
    return np.asarray(x).astype(dtype)


def is_value(x: Any, v: float) -> bool:
    """Whether ``x`` is the Python number ``v`` (for exact shortcuts on default arguments)."""
    return type(x) in (int, float) and x == v


def split_list(key: Any, n: int) -> list[Any]:
    """``split(key, n)`` as a list of keys (JAX's ``k1, k2 = split(key)``)."""
    b1, b2 = tf.hash_shape(key, (n,), "split")
    if not traced(b1, b2):
        return [wrap(np.array([b1[i], b2[i]], U32)) for i in range(n)]

    def word(b: Any, i: int) -> Any:
        return lax.reshape(lax.slice_(b, (i,), (i + 1,)), ())

    return [tf.stack_words(word(b1, i), word(b2, i)) for i in range(n)]


def linalg_fn(name: str, fn: str) -> Any:
    """``functrans.numpy.linalg.<fn>`` (imported on use: linalg imports the numpy package)."""
    from functrans.numpy import linalg
    return getattr(linalg, fn)
