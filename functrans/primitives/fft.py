"""The ``fft`` primitive (``lax.fft``): complex FFT/IFFT and real RFFT/IRFFT over the trailing
``len(fft_lengths)`` (1 to 3) dimensions, with the ``FftType`` enum.

The NumPy impl calls ``numpy.fft`` and keeps single precision single (float32 -> complex64).
The primitive is linear; its transposes follow JAX's ``_fft_transpose_rule`` under the real
pairing ``Re(sum(a * b))``: FFT and IFFT are symmetric matrices (their own transposes), RFFT's
transpose is the real part of an FFT of the zero-padded cotangent, and IRFFT's is a scaled,
masked, conjugated RFFT. vmap keeps a leading batch dimension in place. Imports ``core``,
``registry``, ``rules``, ``ad_rules``, ``batch_rules``, ``elementwise``, ``structural`` and
``slicing``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import ShapeError
from functrans.primitives import rules
from functrans.primitives.ad_rules import is_undefined, jvp_linear
from functrans.primitives.batch_rules import batch_leading
from functrans.primitives.elementwise import conj, mul, real
from functrans.primitives.registry import Example, define_primitive
from functrans.primitives.slicing import pad
from functrans.primitives.structural import broadcast_in_dim

__all__ = ["FftType", "fft", "fft_p"]


class FftType(enum.IntEnum):
    """``lax.FftType``: which transform ``lax.fft`` computes."""

    FFT = 0    # complex -> complex, forward
    IFFT = 1   # complex -> complex, inverse (scaled by 1/n)
    RFFT = 2   # real -> complex half spectrum (last axis n -> n // 2 + 1)
    IRFFT = 3  # complex half spectrum -> real (last axis n // 2 + 1 -> n), scaled by 1/n

    def __repr__(self) -> str:  # jaxprs print params with repr: keep it short
        return f"FftType.{self.name}"

    __str__ = __repr__


_REAL_IN = frozenset((dt.float32, dt.float64))
_COMPLEX_IN = frozenset((dt.complex64, dt.complex128))
_DTYPES = (dt.float32, dt.float64, dt.complex64, dt.complex128)


# --- impl and abstract evaluation ---------------------------------------------------------------


def _fft_impl(x: np.ndarray, *, fft_type: FftType, fft_lengths: tuple[int, ...]) -> np.ndarray:
    d = len(fft_lengths)
    axes = tuple(range(x.ndim - d, x.ndim))
    out_dtype = (rules.real_dtype(x.dtype) if fft_type == FftType.IRFFT
                 else rules.complex_dtype(x.dtype))
    out_shape = _out_shape(x.shape, fft_type, fft_lengths)
    if 0 in fft_lengths or 0 in x.shape:
        # numpy.fft refuses zero-length transforms; the transform of nothing is zero.
        return np.zeros(out_shape, out_dtype)
    if fft_type == FftType.FFT:
        out = np.fft.fftn(x, s=fft_lengths, axes=axes)
    elif fft_type == FftType.IFFT:
        out = np.fft.ifftn(x, s=fft_lengths, axes=axes)
    elif fft_type == FftType.RFFT:
        out = np.fft.rfftn(x, s=fft_lengths, axes=axes)
    else:
        out = np.fft.irfftn(x, s=fft_lengths, axes=axes)
    return out.astype(out_dtype, copy=False)


def _out_shape(shape: tuple[int, ...], fft_type: FftType, fft_lengths: tuple[int, ...]
               ) -> tuple[int, ...]:
    if fft_type == FftType.RFFT:
        return shape[:-1] + (fft_lengths[-1] // 2 + 1,)
    if fft_type == FftType.IRFFT:
        return shape[:-1] + (fft_lengths[-1],)
    return shape


def _fft_rule(x: ShapedArray, *, fft_type: FftType, fft_lengths: tuple[int, ...]
              ) -> ShapedArray:
    name = "functrans.lax.fft"
    if not isinstance(fft_type, FftType):
        raise TypeError(f"{name}: fft_type must be a lax.FftType, got {fft_type!r}")
    if not (isinstance(fft_lengths, tuple) and 1 <= len(fft_lengths) <= 3
            and all(type(n) is int and n >= 0 for n in fft_lengths)):
        raise ValueError(f"{name}: fft_lengths must be a tuple of 1 to 3 non-negative ints, "
                         f"got {fft_lengths!r}")
    if fft_type == FftType.RFFT:
        rules.check_dtype("fft", x, _REAL_IN, what="RFFT operand")
    else:
        rules.check_dtype("fft", x, _COMPLEX_IN, what=f"{fft_type.name} operand")
    d = len(fft_lengths)
    if x.ndim < d:
        raise ShapeError(f"{name}: {fft_type.name} over {d} dimensions needs an operand of "
                         f"rank >= {d}, got {x.str_short()}")
    trailing = x.shape[x.ndim - d:]
    want = fft_lengths
    if fft_type == FftType.IRFFT:
        want = fft_lengths[:-1] + (fft_lengths[-1] // 2 + 1,)
    if trailing != want:
        extra = (f" (for IRFFT the last one is fft_lengths[-1] // 2 + 1 = {want[-1]})"
                 if fft_type == FftType.IRFFT else "")
        raise ShapeError(f"{name}: {fft_type.name} with fft_lengths={fft_lengths} needs the "
                         f"operand's trailing dimensions to be {want}{extra}, got "
                         f"{x.str_short()}")
    shape = _out_shape(x.shape, fft_type, fft_lengths)
    if fft_type in (FftType.FFT, FftType.IFFT):
        return ShapedArray(shape, x.dtype, x.weak_type)
    dtype = rules.complex_dtype(x.dtype) if fft_type == FftType.RFFT else rules.real_dtype(x.dtype)
    return ShapedArray(shape, dtype, False)


def _fft_sample(dtype: np.dtype) -> list[Example]:
    def ex(shape: tuple[int, ...], kind: FftType, lengths: tuple[int, ...], seed: int,
           note: str = "") -> Example:
        return Example((rules.sample_array(shape, dtype, seed=seed),),
                       {"fft_type": kind, "fft_lengths": lengths}, note or kind.name)

    t = FftType
    if dtype.kind == "f":
        return [ex((2, 6), t.RFFT, (6,), 1), ex((3, 5), t.RFFT, (5,), 2, "RFFT-odd"),
                ex((2, 3, 4), t.RFFT, (3, 4), 3, "RFFT-2d"),
                ex((2, 3, 2, 5), t.RFFT, (3, 2, 5), 4, "RFFT-3d"),
                ex((7,), t.RFFT, (7,), 5, "RFFT-1d"), ex((0, 4), t.RFFT, (4,), 6, "RFFT-empty"),
                ex((3, 1), t.RFFT, (1,), 7, "RFFT-n1")]
    return [ex((2, 5), t.FFT, (5,), 1), ex((3, 4), t.IFFT, (4,), 2),
            ex((2, 4), t.IRFFT, (6,), 3, "IRFFT-even"),
            ex((2, 3, 3), t.IRFFT, (3, 5), 4, "IRFFT-2d"),
            ex((2, 3, 4), t.FFT, (3, 4), 5, "FFT-2d"),
            ex((2, 2, 3, 2), t.IFFT, (2, 3, 2), 6, "IFFT-3d"),
            ex((3,), t.IRFFT, (5,), 7, "IRFFT-odd"), ex((0, 4), t.FFT, (4,), 8, "FFT-empty"),
            ex((2, 2), t.IRFFT, (2,), 9, "IRFFT-n2"), ex((4,), t.FFT, (4,), 10, "FFT-1d")]


# --- differentiation rules ----------------------------------------------------------------------


def _last_axis_mask(ct: Any, n: int, scale: float) -> Any:
    """``scale`` times IRFFT's Hermitian weights along the last axis, broadcast to ``ct``'s
    shape: 2 for the bins that stand for a conjugate pair, 1 for bin 0 and (n even) bin n/2."""
    aval = core.get_aval(ct)
    m = aval.shape[-1]
    w = np.full((m,), 2.0 * scale)
    w[0] = scale
    if n % 2 == 0 and n > 0:
        w[-1] = scale
    w = w.astype(aval.dtype)
    return broadcast_in_dim(w, aval.shape, (aval.ndim - 1,))


def _fft_transpose(ct: Any, x: Any, *, fft_type: FftType, fft_lengths: tuple[int, ...]
                   ) -> list[Any]:
    if not is_undefined(x):
        raise ValueError("functrans: fft transposed with a defined operand")
    if fft_type in (FftType.FFT, FftType.IFFT):
        # The DFT matrix exp(-2 pi i j k / n) is symmetric, so (under the unconjugated pairing)
        # each transform is its own transpose.
        return [fft_p.bind(ct, fft_type=fft_type, fft_lengths=fft_lengths)]
    if fft_type == FftType.RFFT:
        # RFFT(x) = FFT(x)[..., :n//2+1] for real x: transpose the slice (zero-pad), the FFT
        # (itself) and the real-to-complex embedding (the real part).
        ndim = core.get_aval(ct).ndim
        m = core.get_aval(ct).shape[-1]
        config = [(0, 0, 0)] * ndim
        config[-1] = (0, fft_lengths[-1] - m, 0)
        full = pad(ct, np.zeros((), core.get_aval(ct).dtype), config)
        return [real(fft_p.bind(full, fft_type=FftType.FFT, fft_lengths=fft_lengths))]
    # IRFFT(y)_j = (1/N) sum_k w_k Re(y_k e^{+2 pi i j k / n}) over the half spectrum, so
    # <ct, IRFFT(y)> = Re(sum_k y_k conj(w_k RFFT(ct)_k / N)): JAX's _irfft_transpose.
    spectrum = fft_p.bind(ct, fft_type=FftType.RFFT, fft_lengths=fft_lengths)
    weighted = mul(spectrum, _last_axis_mask(spectrum, fft_lengths[-1],
                                             1.0 / max(math.prod(fft_lengths), 1)))
    return [conj(weighted)]


# --- batching rule ------------------------------------------------------------------------------


fft_p = define_primitive(
    "fft", family="fft", impl=_fft_impl, abstract_eval=_fft_rule, dtypes=_DTYPES,
    sample=_fft_sample, jvp=jvp_linear(), transpose=_fft_transpose, linear_in=(0,),
    batch=batch_leading(lambda fft_type, fft_lengths: len(fft_lengths)),
    doc="FFT/IFFT/RFFT/IRFFT over the trailing len(fft_lengths) dimensions")


_FFT_NAMES = {"fft": FftType.FFT, "ifft": FftType.IFFT, "rfft": FftType.RFFT,
              "irfft": FftType.IRFFT}


def _fft_type(fft_type: Any) -> FftType:
    if isinstance(fft_type, str):
        kind = _FFT_NAMES.get(fft_type.lower())
        if kind is not None:
            return kind
    else:
        try:
            return FftType(fft_type)
        except ValueError:
            pass
    raise ValueError(f"functrans.lax.fft: fft_type must be a lax.FftType or one of 'FFT', "
                     f"'IFFT', 'RFFT', 'IRFFT'; got {fft_type!r}")


def fft(x: Any, fft_type: Any, fft_lengths: Sequence[int]) -> Any:
    """``lax.fft``: the ``fft_type`` transform over the trailing ``len(fft_lengths)`` (1 to 3)
    dimensions of ``x``, whose sizes must be ``fft_lengths`` (for IRFFT the last one is
    ``fft_lengths[-1] // 2 + 1``). FFT/IFFT/IRFFT take complex64/complex128, RFFT
    float32/float64; IFFT and IRFFT include the 1/n scaling.
    """
    if isinstance(fft_lengths, (int, np.integer)):
        fft_lengths = (fft_lengths,)
    lengths = tuple(int(n) for n in fft_lengths)
    return fft_p.bind(x, fft_type=_fft_type(fft_type), fft_lengths=lengths)

