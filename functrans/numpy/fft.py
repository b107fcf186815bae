"""``functrans.numpy.fft``: NumPy's discrete Fourier transforms over functrans arrays.

Every transform resizes the chosen axes (crop or zero-pad to ``n``/``s``), moves them last,
calls the ``lax.fft`` primitive (in groups of at most three axes) and scales for ``norm``
('backward', 'ortho' or 'forward'), so grad and vmap apply. Real inputs of single precision
give complex64 (NumPy 2 does the same); integers and booleans compute in the default float
dtype, as in JAX. Imports ``core``, ``dtypes``, ``lax``, the ``fft`` primitive and
``functrans.numpy``'s argument helpers.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from functrans import core, lax
from functrans import dtypes as dt
from functrans.errors import DtypeError
from functrans.numpy._creation import asarray
from functrans.numpy._promotion import asarray_leaf, cast, info
from functrans.primitives.fft import FftType, fft_p

__all__ = [
    "fft", "fft2", "fftfreq", "fftn", "fftshift", "hfft", "ifft", "ifft2", "ifftn",
    "ifftshift", "ihfft", "irfft", "irfft2", "irfftn", "rfft", "rfft2", "rfftfreq", "rfftn",
]

_NORMS = (None, "backward", "ortho", "forward")


# --- argument handling ------------------------------------------------------------------------


def _check_norm(name: str, norm: Any) -> None:
    if norm not in _NORMS:
        raise ValueError(f'functrans.numpy.fft.{name}: invalid norm value {norm!r}; should be '
                         f'"backward", "ortho" or "forward"')


def _swap_direction(norm: str | None) -> str:
    """hfft/ihfft are irfft/rfft with the opposite scaling convention (as in NumPy)."""
    return {None: "forward", "backward": "forward", "ortho": "ortho",
            "forward": "backward"}[norm]


def _as_complex(a: Any) -> Any:
    a = asarray(asarray_leaf(a))
    dtype = info(a)[0]
    if dtype.kind == "c":
        return a
    return cast(a, dt.complex128 if dtype == dt.float64 else _default_complex())


def _as_real(name: str, a: Any) -> Any:
    a = asarray(asarray_leaf(a))
    dtype = info(a)[0]
    if dtype.kind == "c":
        raise DtypeError(f"functrans.numpy.fft.{name}: expects a real input, got "
                         f"{core.get_aval(a).str_short()}; take .real first, or use "
                         f"functrans.numpy.fft.fft for complex inputs")
    if dtype in (dt.float32, dt.float64):
        return a
    return cast(a, dt.float32 if dtype == dt.float16 else _default_float())


def _default_float() -> np.dtype:
    return dt.canonicalize(float)


def _default_complex() -> np.dtype:
    return dt.complex128 if _default_float() == dt.float64 else dt.complex64


def _axis(name: str, axis: Any, ndim: int) -> int:
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"functrans.numpy.fft.{name}: axes must be Python ints, got "
                        f"{axis!r}") from None
    if not -ndim <= a < ndim:
        raise np.exceptions.AxisError(f"functrans.numpy.fft.{name}: axis {a} is out of "
                                      f"bounds for an array of rank {ndim}")
    return a % ndim


def _cook_nd_args(name: str, shape: tuple[int, ...], s: Any, axes: Any, last_half: bool
                  ) -> tuple[list[int], list[int]]:
    """NumPy's _cook_nd_args: the transform lengths and (non-negative) axes. ``last_half``:
    the last axis holds a half spectrum (irfft), whose default length is 2 * (m - 1)."""
    ndim = len(shape)
    if s is None:
        axes = list(range(ndim)) if axes is None else list(axes)
        axes = [_axis(name, a, ndim) for a in axes]
        lengths = [shape[a] for a in axes]
        if last_half and axes:
            lengths[-1] = 2 * (shape[axes[-1]] - 1)
    else:
        lengths = [operator.index(n) for n in s]
        axes = list(range(-len(lengths), 0)) if axes is None else list(axes)
        if len(lengths) != len(axes):
            raise ValueError(f"functrans.numpy.fft.{name}: s={tuple(lengths)} and "
                             f"axes={tuple(axes)} have different lengths")
        axes = [_axis(name, a, ndim) for a in axes]
        for i, (n, a) in enumerate(zip(lengths, axes, strict=True)):
            if n == -1:  # NumPy 2: -1 means "the input's own length"
                lengths[i] = 2 * (shape[a] - 1) if last_half and i == len(axes) - 1 else shape[a]
    if len(set(axes)) != len(axes):
        raise ValueError(f"functrans.numpy.fft.{name}: repeated axis in axes={tuple(axes)}")
    for n in lengths:
        if n < 1:
            raise ValueError(f"functrans.numpy.fft.{name}: invalid number of FFT data points "
                             f"({n}) specified")
    return lengths, axes


def _resize(x: Any, axis: int, n: int) -> Any:
    """Crop or zero-pad ``x`` at the end of ``axis`` to length ``n``."""
    aval = core.get_aval(x)
    size = aval.shape[axis]
    if n < size:
        return lax.slice_in_dim(x, 0, n, axis=axis)
    if n > size:
        config = [(0, 0, 0)] * aval.ndim
        config[axis] = (0, n - size, 0)
        return lax.pad(x, np.zeros((), aval.dtype), config)
    return x


def _apply(x: Any, kind: FftType, axes: Sequence[int], lengths: Sequence[int]) -> Any:
    """One ``lax.fft`` over ``axes`` (at most three), moved last and then moved back."""
    ndim = core.get_aval(x).ndim
    perm = [d for d in range(ndim) if d not in axes] + list(axes)
    moved = x if perm == list(range(ndim)) else lax.transpose(x, perm)
    out = fft_p.bind(moved, fft_type=kind, fft_lengths=tuple(lengths))
    if perm == list(range(ndim)):
        return out
    return lax.transpose(out, tuple(np.argsort(perm).tolist()))


def _scale(x: Any, n: int, norm: str | None, inverse: bool) -> Any:
    """Apply ``norm``'s factor (lax's IFFT/IRFFT already divide by n)."""
    if norm in (None, "backward"):
        return x
    factor = math.sqrt(n) if norm == "ortho" else float(n)
    if not inverse:
        factor = 1.0 / factor
    return lax.mul(x, np.asarray(factor, core.get_aval(x).dtype))


def _c2c(name: str, a: Any, s: Any, axes: Any, norm: Any, inverse: bool) -> Any:
    _check_norm(name, norm)
    x = _as_complex(a)
    lengths, axes = _cook_nd_args(name, core.get_aval(x).shape, s, axes, last_half=False)
    for ax, n in zip(axes, lengths, strict=True):
        x = _resize(x, ax, n)
    kind = FftType.IFFT if inverse else FftType.FFT
    # lax.fft takes at most three axes: transform the trailing groups of three first.
    for start in range(len(axes), 0, -3):
        lo = max(start - 3, 0)
        x = _apply(x, kind, axes[lo:start], lengths[lo:start])
    return _scale(x, math.prod(lengths), norm, inverse)


def _r2c(name: str, a: Any, s: Any, axes: Any, norm: Any) -> Any:
    _check_norm(name, norm)
    x = _as_real(name, a)
    lengths, axes = _cook_nd_args(name, core.get_aval(x).shape, s, axes, last_half=False)
    if not axes:
        raise ValueError(f"functrans.numpy.fft.{name}: needs at least one axis")
    for ax, n in zip(axes, lengths, strict=True):
        x = _resize(x, ax, n)
    # The real transform takes the last (up to three) axes; earlier ones are complex FFTs.
    lo = max(len(axes) - 3, 0)
    x = _apply(x, FftType.RFFT, axes[lo:], lengths[lo:])
    for start in range(lo, 0, -3):
        x = _apply(x, FftType.FFT, axes[max(start - 3, 0):start],
                   lengths[max(start - 3, 0):start])
    return _scale(x, math.prod(lengths), norm, inverse=False)


def _c2r(name: str, a: Any, s: Any, axes: Any, norm: Any) -> Any:
    _check_norm(name, norm)
    x = _as_complex(a)
    lengths, axes = _cook_nd_args(name, core.get_aval(x).shape, s, axes, last_half=True)
    if not axes:
        raise ValueError(f"functrans.numpy.fft.{name}: needs at least one axis")
    for i, (ax, n) in enumerate(zip(axes, lengths, strict=True)):
        x = _resize(x, ax, n // 2 + 1 if i == len(axes) - 1 else n)
    lo = max(len(axes) - 3, 0)
    for start in range(lo, 0, -3):
        x = _apply(x, FftType.IFFT, axes[max(start - 3, 0):start],
                   lengths[max(start - 3, 0):start])
    x = _apply(x, FftType.IRFFT, axes[lo:], lengths[lo:])
    return _scale(x, math.prod(lengths), norm, inverse=True)


def _one(n: int | None) -> list[int] | None:
    return None if n is None else [n]


# --- one-dimensional transforms -----------------------------------------------------------------


def fft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """The one-dimensional discrete Fourier transform along ``axis`` (numpy.fft.fft)."""
    return _c2c("fft", a, _one(n), [axis], norm, inverse=False)


def ifft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """The one-dimensional inverse discrete Fourier transform (numpy.fft.ifft)."""
    return _c2c("ifft", a, _one(n), [axis], norm, inverse=True)


def rfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """The transform of a real input: the ``n // 2 + 1`` non-negative frequencies."""
    return _r2c("rfft", a, _one(n), [axis], norm)


def irfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """The inverse of rfft: a real output of length ``n`` (default ``2 * (m - 1)``)."""
    return _c2r("irfft", a, _one(n), [axis], norm)


def hfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """The transform of a Hermitian-symmetric signal given by its first half: a real
    spectrum of length ``n`` (default ``2 * (m - 1)``)."""
    _check_norm("hfft", norm)
    return _c2r("hfft", lax.conj(_as_complex(a)), _one(n), [axis],
                _swap_direction(norm))


def ihfft(a: Any, n: int | None = None, axis: int = -1, norm: str | None = None) -> Any:
    """The inverse of hfft: the half spectrum of a real input, conjugated."""
    _check_norm("ihfft", norm)
    return lax.conj(_r2c("ihfft", a, _one(n), [axis], _swap_direction(norm)))


# --- two- and n-dimensional transforms ----------------------------------------------------------


def fft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
         norm: str | None = None) -> Any:
    """The two-dimensional discrete Fourier transform over ``axes``."""
    return _c2c("fft2", a, s, axes, norm, inverse=False)


def ifft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
          norm: str | None = None) -> Any:
    """The two-dimensional inverse discrete Fourier transform over ``axes``."""
    return _c2c("ifft2", a, s, axes, norm, inverse=True)


def rfft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
          norm: str | None = None) -> Any:
    """The two-dimensional transform of a real input (half spectrum on the last axis)."""
    return _r2c("rfft2", a, s, axes, norm)


def irfft2(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] = (-2, -1),
           norm: str | None = None) -> Any:
    """The inverse of rfft2."""
    return _c2r("irfft2", a, s, axes, norm)


def fftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
         norm: str | None = None) -> Any:
    """The n-dimensional discrete Fourier transform over ``axes`` (default: all, or the last
    ``len(s)``)."""
    return _c2c("fftn", a, s, axes, norm, inverse=False)


def ifftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
          norm: str | None = None) -> Any:
    """The n-dimensional inverse discrete Fourier transform."""
    return _c2c("ifftn", a, s, axes, norm, inverse=True)


def rfftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
          norm: str | None = None) -> Any:
    """The n-dimensional transform of a real input (half spectrum on the last axis)."""
    return _r2c("rfftn", a, s, axes, norm)


def irfftn(a: Any, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
           norm: str | None = None) -> Any:
    """The inverse of rfftn; the last axis's default length is ``2 * (m - 1)``."""
    return _c2r("irfftn", a, s, axes, norm)


# --- frequencies and shifts ---------------------------------------------------------------------


def _frequencies(name: str, k: np.ndarray, n: int, d: Any, dtype: Any) -> Any:
    dtype = _default_float() if dtype is None else dt.canonicalize(dtype)
    if dtype.kind not in "fc":
        raise DtypeError(f"functrans.numpy.fft.{name}: dtype must be inexact, got {dtype}")
    if not isinstance(d, core.Tracer):
        return asarray((k / (n * np.asarray(d, np.float64))).astype(dtype))
    # A traced sample spacing (under jit, grad or vmap): divide as an array operation.
    return lax.div(asarray((k / n).astype(dtype)), cast(asarray(d), dtype))


def _check_n(name: str, n: Any) -> int:
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"functrans.numpy.fft.{name}: n must be a positive int, got {n}")
    return n


def fftfreq(n: int, d: Any = 1.0, *, dtype: Any = None, device: Any = None) -> Any:
    """Sample frequencies of an ``n``-point fft with sample spacing ``d``:
    ``[0, 1, ..., (n-1)//2, -(n//2), ..., -1] / (n * d)``."""
    n = _check_n("fftfreq", n)
    k = np.concatenate([np.arange(0, (n - 1) // 2 + 1), np.arange(-(n // 2), 0)])
    return _frequencies("fftfreq", k.astype(np.float64), n, d, dtype)


def rfftfreq(n: int, d: Any = 1.0, *, dtype: Any = None, device: Any = None) -> Any:
    """Sample frequencies of an ``n``-point rfft: ``[0, 1, ..., n//2] / (n * d)``."""
    n = _check_n("rfftfreq", n)
    return _frequencies("rfftfreq", np.arange(0, n // 2 + 1, dtype=np.float64), n, d, dtype)


def _roll(name: str, x: Any, axes: Any, sign: int) -> Any:
    x = asarray(asarray_leaf(x))
    shape = core.get_aval(x).shape
    if axes is None:
        axes = tuple(range(len(shape)))
    elif isinstance(axes, (int, np.integer)):
        axes = (axes,)
    axes = tuple(_axis(name, a, len(shape)) for a in axes)
    if not axes:
        return x
    from functrans.numpy._manip import roll
    return roll(x, tuple(sign * (shape[ax] // 2) for ax in axes), axes)


def fftshift(x: Any, axes: int | Sequence[int] | None = None) -> Any:
    """Move the zero-frequency term to the center (roll each axis by ``n // 2``)."""
    return _roll("fftshift", x, axes, 1)


def ifftshift(x: Any, axes: int | Sequence[int] | None = None) -> Any:
    """The inverse of fftshift (roll each axis by ``-(n // 2)``)."""
    return _roll("ifftshift", x, axes, -1)
