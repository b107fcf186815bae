"""``functrans.nn.initializers``: jax.nn.initializers' parameter initializers.

Each factory (``normal(stddev)``, ``glorot_uniform()``, ...) returns ``init(key, shape,
dtype=float32)`` as in JAX, drawing from ``functrans.random``, so a given key gives JAX's
values (up to float rounding). ``zeros``/``ones`` are initializers themselves. Imports
``functrans.random``, ``functrans.numpy`` and (lazily, for ``orthogonal``) its ``linalg``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import dtypes as dt
from functrans import numpy as fnp
from functrans import random

__all__ = [
    "Initializer", "constant", "delta_orthogonal", "glorot_normal", "glorot_uniform",
    "he_normal", "he_uniform", "kaiming_normal", "kaiming_uniform", "lecun_normal",
    "lecun_uniform", "normal", "ones", "orthogonal", "truncated_normal", "uniform",
    "variance_scaling", "xavier_normal", "xavier_uniform", "zeros",
]

Initializer = Callable[..., Any]

# The standard deviation of a standard normal truncated to (-2, 2).
_TRUNCATED_STDDEV = 0.87962566103423978


def _err(name: str, msg: str) -> str:
    return f"functrans.nn.initializers.{name}: {msg}"


def _shape(name: str, shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (operator.index(shape),)
    try:
        out = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(_err(name, f"shape must be a tuple of ints, got {shape!r}")) from None
    if any(d < 0 for d in out):
        raise ValueError(_err(name, f"negative dimensions are not allowed: {out}"))
    return out


def _dtype(name: str, dtype: Any, default: Any) -> np.dtype:
    d = dt.canonicalize(float if dtype is None and default is None else
                        (default if dtype is None else dtype))
    if d.kind not in "fc":
        raise TypeError(_err(name, f"dtype must be floating or complex, got {d}"))
    return d


def zeros(key: Any, shape: Any, dtype: Any = None) -> Any:
    """An array of zeros (``key`` is ignored)."""
    return fnp.zeros(_shape("zeros", shape), dt.canonicalize(float if dtype is None else dtype))


def ones(key: Any, shape: Any, dtype: Any = None) -> Any:
    """An array of ones (``key`` is ignored)."""
    return fnp.ones(_shape("ones", shape), dt.canonicalize(float if dtype is None else dtype))


def constant(value: Any, dtype: Any = None) -> Initializer:
    """Initializes every entry to ``value``."""
    def init(key: Any, shape: Any, dtype: Any = dtype) -> Any:
        d = dt.canonicalize(float if dtype is None else dtype)
        return fnp.full(_shape("constant", shape), value, d)
    return init


def uniform(scale: Any = 1e-2, dtype: Any = None) -> Initializer:
    """Uniform on ``[0, scale)``."""
    def init(key: Any, shape: Any, dtype: Any = dtype) -> Any:
        d = _dtype("uniform", dtype, None)
        return fnp.multiply(random.uniform(key, _shape("uniform", shape), d),
                            np.asarray(scale, d))
    return init


def normal(stddev: Any = 1e-2, dtype: Any = None) -> Initializer:
    """Normal with mean 0 and standard deviation ``stddev``."""
    def init(key: Any, shape: Any, dtype: Any = dtype) -> Any:
        d = _dtype("normal", dtype, None)
        return fnp.multiply(random.normal(key, _shape("normal", shape), d),
                            np.asarray(stddev, d))
    return init


def truncated_normal(stddev: Any = 1e-2, dtype: Any = None, lower: Any = -2.0,
                     upper: Any = 2.0) -> Initializer:
    """A standard normal truncated to ``[lower, upper]``, times ``stddev``."""
    def init(key: Any, shape: Any, dtype: Any = dtype) -> Any:
        d = _dtype("truncated_normal", dtype, None)
        x = random.truncated_normal(key, lower, upper, _shape("truncated_normal", shape), d)
        return fnp.multiply(x, np.asarray(stddev, d))
    return init


def _axes(name: str, axis: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(_err(name, f"axis {a} is out of range for a shape of rank {ndim}"))
        out.append(a % ndim)
    return tuple(out)


def _compute_fans(name: str, shape: tuple[int, ...], in_axis: Any, out_axis: Any,
                  batch_axis: Any) -> tuple[float, float]:
    if len(shape) <= 1:
        raise ValueError(_err(name, f"can't compute input and output sizes of a "
                                    f"{len(shape)}-dimensional weights tensor {shape}; it must "
                                    f"be at least 2-d"))
    in_size = math.prod(shape[i] for i in _axes(name, in_axis, len(shape)))
    out_size = math.prod(shape[i] for i in _axes(name, out_axis, len(shape)))
    batch_size = math.prod(shape[i] for i in _axes(name, batch_axis, len(shape)))
    receptive = math.prod(shape) / in_size / out_size / batch_size if math.prod(shape) else 0
    return in_size * receptive, out_size * receptive


def variance_scaling(scale: Any, mode: str, distribution: str,
                     in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
                     batch_axis: int | Sequence[int] = (), dtype: Any = None) -> Initializer:
    """Samples with variance ``scale / n``, ``n`` the fan-in, fan-out, their average or
    geometric mean (``mode``), from a 'truncated_normal', 'normal' or 'uniform'
    ``distribution`` (as jax.nn.initializers.variance_scaling)."""
    modes = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
    if mode not in modes:
        raise ValueError(_err("variance_scaling", f"mode must be one of {modes}, got {mode!r}"))
    dists = ("truncated_normal", "normal", "uniform")
    if distribution not in dists:
        raise ValueError(_err("variance_scaling", f"distribution must be one of {dists}, got "
                                                  f"{distribution!r}"))

    def init(key: Any, shape: Any, dtype: Any = dtype) -> Any:
        shape = _shape("variance_scaling", shape)
        d = _dtype("variance_scaling", dtype, None)
        fan_in, fan_out = _compute_fans("variance_scaling", shape, in_axis, out_axis,
                                        batch_axis)
        denominator = {"fan_in": fan_in, "fan_out": fan_out,
                       "fan_avg": (fan_in + fan_out) / 2,
                       "fan_geo_avg": math.sqrt(fan_in * fan_out)}[mode]
        variance = float(scale) / denominator if denominator else math.inf
        real = np.dtype(d.type(0).real.dtype)
        if distribution == "truncated_normal":
            if d.kind == "c":
                raise NotImplementedError(_err("variance_scaling", "truncated_normal is not "
                                                                   "supported for complex "
                                                                   "dtypes"))
            stddev = np.asarray(math.sqrt(variance) / _TRUNCATED_STDDEV, real)
            return fnp.multiply(random.truncated_normal(key, -2, 2, shape, d), stddev)
        if distribution == "normal":
            return fnp.multiply(random.normal(key, shape, d),
                                np.asarray(math.sqrt(variance), real))
        if d.kind == "c":
            raise NotImplementedError(_err("variance_scaling", "uniform is not supported for "
                                                               "complex dtypes"))
        return fnp.multiply(random.uniform(key, shape, d, -1),
                            np.asarray(math.sqrt(3 * variance), real))

    return init


def _preset(scale: float, mode: str, distribution: str, doc: str) -> Callable[..., Initializer]:
    def factory(in_axis: int | Sequence[int] = -2, out_axis: int | Sequence[int] = -1,
                batch_axis: int | Sequence[int] = (), dtype: Any = None) -> Initializer:
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis,
                                dtype)

    factory.__doc__ = doc
    return factory


glorot_uniform = _preset(1.0, "fan_avg", "uniform",
                         "Glorot/Xavier uniform: variance 2 / (fan_in + fan_out).")
glorot_normal = _preset(1.0, "fan_avg", "truncated_normal",
                        "Glorot/Xavier normal (truncated): variance 2 / (fan_in + fan_out).")
lecun_uniform = _preset(1.0, "fan_in", "uniform", "LeCun uniform: variance 1 / fan_in.")
lecun_normal = _preset(1.0, "fan_in", "truncated_normal",
                       "LeCun normal (truncated): variance 1 / fan_in.")
he_uniform = _preset(2.0, "fan_in", "uniform", "He/Kaiming uniform: variance 2 / fan_in.")
he_normal = _preset(2.0, "fan_in", "truncated_normal",
                    "He/Kaiming normal (truncated): variance 2 / fan_in.")
xavier_uniform, xavier_normal = glorot_uniform, glorot_normal
kaiming_uniform, kaiming_normal = he_uniform, he_normal




def orthogonal(scale: Any = 1.0, column_axis: int = -1, dtype: Any = None) -> Initializer:
    """A (semi-)orthogonal matrix, reshaped to ``shape`` with ``column_axis`` as the columns:
    the Q of a normal matrix's QR decomposition, signs fixed by R's diagonal (as in JAX)."""
    def init(key: Any, shape: Any, dtype: Any = dtype) -> Any:
        shape = _shape("orthogonal", shape)
        d = _dtype("orthogonal", dtype, None)
        if len(shape) < 2:
            raise ValueError(_err("orthogonal", f"orthogonal initializer requires at least a "
                                                f"2-d shape, got {shape}"))
        col = column_axis % len(shape)
        n_cols = shape[col]
        n_rows = math.prod(shape) // n_cols if n_cols else 0
        q = random.orthogonal(key, n_rows, (), d, m=n_cols)
        q = fnp.reshape(q, tuple(s for i, s in enumerate(shape) if i != col) + (n_cols,))
        q = fnp.moveaxis(q, -1, col)
        return fnp.multiply(q, np.asarray(scale, np.dtype(d.type(0).real.dtype)))
    return init


def delta_orthogonal(scale: Any = 1.0, column_axis: int = -1, dtype: Any = None
                     ) -> Initializer:
    """For convolution kernels of shape (k, [k, [k,]] in, out): zeros except an orthogonal
    matrix at the spatial centre (the delta-orthogonal initializer of Xiao et al., 2018)."""
    def init(key: Any, shape: Any, dtype: Any = dtype) -> Any:
        shape = _shape("delta_orthogonal", shape)
        d = _dtype("delta_orthogonal", dtype, None)
        if len(shape) not in (3, 4, 5):
            raise ValueError(_err("delta_orthogonal", f"needs a 3-d, 4-d or 5-d shape, got "
                                                      f"{shape}"))
        if shape[-2] > shape[-1]:
            raise ValueError(_err("delta_orthogonal", f"`fan_in` must be less or equal than "
                                                      f"`fan_out`, got shape {shape}"))
        ortho = orthogonal(scale, column_axis, d)(key, shape[-2:], d)
        w = fnp.zeros(shape, d)
        centre = tuple(s // 2 for s in shape[:-2])
        return w.at[centre].set(ortho)
    return init
