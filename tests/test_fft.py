"""The fft primitive (lax.fft) and functrans.numpy.fft: values against numpy.fft on drawn
shapes, lengths, axes and every norm mode; dtypes; errors; derivatives against finite
differences; vmap against loops."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import functrans as ft
from functrans import core
from functrans.errors import DtypeError, ShapeError
from functrans.numpy import fft as ffft
from functrans.primitives.fft import FftType, fft, fft_p
from functrans.testing import check_grads

NORMS = [None, "backward", "ortho", "forward"]
TOL = {np.dtype(np.complex64): 2e-5, np.dtype(np.complex128): 1e-11,
       np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-11}


def assert_close(got, want, rtol=None):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    tol = TOL[want.dtype] if rtol is None else rtol
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


def draw_array(data, dtype, min_dims=1, max_dims=3, max_side=6, min_side=1):
    shape = data.draw(st.lists(st.integers(min_side, max_side), min_size=min_dims,
                               max_size=max_dims).map(tuple), label="shape")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x = rng.normal(size=shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.normal(size=shape)
    return x.astype(dtype)


# --- functrans.numpy.fft against numpy.fft ----------------------------------------------------


@given(st.data())
def test_1d_transforms_match_numpy(data):
    name = data.draw(st.sampled_from(["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]))
    real_in = name in ("rfft", "ihfft")
    dtype = data.draw(st.sampled_from(["float32", "float64"] if real_in else
                                      ["complex64", "complex128", "float32", "float64"]))
    x = draw_array(data, dtype)
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    n = data.draw(st.none() | st.integers(1, 9))
    if name in ("irfft", "hfft") and n is None and x.shape[axis] == 1:
        n = 2  # numpy's default length 2 * (1 - 1) = 0 is an error
    norm = data.draw(st.sampled_from(NORMS))
    want = getattr(np.fft, name)(x, n=n, axis=axis, norm=norm)
    assert_close(getattr(ffft, name)(x, n=n, axis=axis, norm=norm), want)


@given(st.data())
def test_nd_transforms_match_numpy(data):
    name = data.draw(st.sampled_from(["fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn",
                                      "rfftn", "irfftn"]))
    real_in = name.startswith("rfft")
    dtype = data.draw(st.sampled_from(["float32", "float64"] if real_in else
                                      ["complex64", "complex128"]))
    two_d = name.endswith("2")
    x = draw_array(data, dtype, min_dims=2 if two_d else 1, max_dims=4, max_side=5, min_side=2)
    norm = data.draw(st.sampled_from(NORMS))
    kwargs = {"norm": norm}
    if two_d:
        axes = data.draw(st.permutations(range(x.ndim)).map(lambda p: tuple(p[:2])))
        kwargs["axes"] = axes
    else:
        k = data.draw(st.integers(1, x.ndim))
        axes = data.draw(st.permutations(range(x.ndim)).map(lambda p: tuple(p[:k])))
        kwargs["axes"] = axes if data.draw(st.booleans()) else None
        if kwargs["axes"] is None:
            axes = tuple(range(x.ndim))
    if data.draw(st.booleans()):
        kwargs["s"] = tuple(data.draw(st.integers(1, 7)) for _ in axes)
        if kwargs["axes"] is None:
            kwargs["axes"] = axes  # NumPy 2 deprecates s without axes
    want = getattr(np.fft, name)(x, **kwargs)
    assert_close(getattr(ffft, name)(x, **kwargs), want)


def test_transforms_over_more_than_three_axes():
    x = np.random.default_rng(0).normal(size=(2, 3, 2, 4, 3))
    c = x + 1j * np.flip(x)
    assert_close(ffft.fftn(c), np.fft.fftn(c))
    assert_close(ffft.ifftn(c, axes=(4, 0, 2, 1)), np.fft.ifftn(c, axes=(4, 0, 2, 1)))
    assert_close(ffft.rfftn(x, norm="ortho"), np.fft.rfftn(x, norm="ortho"))
    spec = np.fft.rfftn(x)
    assert_close(ffft.irfftn(spec, s=x.shape, axes=range(5)), x)


def test_dtypes_follow_jax():
    # float32 stays single precision; integers compute in the default float dtype (JAX),
    # where NumPy would use float64.
    assert np.asarray(ffft.fft(np.ones(4, np.float32))).dtype == np.complex64
    assert np.asarray(ffft.rfft(np.ones(4, np.float64))).dtype == np.complex128
    assert np.asarray(ffft.fft(np.arange(4))).dtype == np.complex64
    assert np.asarray(ffft.irfft(np.ones(3, np.complex64))).dtype == np.float32
    assert np.asarray(ffft.rfft(np.ones(4, np.float16))).dtype == np.complex64
    assert_close(ffft.fft([1.0, 2.0, 3.0]), np.fft.fft([1.0, 2.0, 3.0]).astype(np.complex64))


def test_exact_values():
    np.testing.assert_array_equal(np.asarray(ffft.fft(np.array([1, 0, 0, 0], np.complex64))),
                                  np.ones(4, np.complex64))
    np.testing.assert_allclose(np.asarray(ffft.rfft(np.ones(4))), [4, 0, 0])
    np.testing.assert_allclose(np.asarray(ffft.ifft(np.full(4, 2 + 0j))), [2, 0, 0, 0])
    np.testing.assert_allclose(np.asarray(ffft.fft(np.ones(4), norm="ortho")), [2, 0, 0, 0])
    np.testing.assert_allclose(np.asarray(ffft.fft(np.ones(4), norm="forward")), [1, 0, 0, 0])


def test_frequencies_and_shifts():
    for n in (1, 2, 5, 8):
        for d in (1.0, 0.25):
            np.testing.assert_allclose(np.asarray(ffft.fftfreq(n, d)), np.fft.fftfreq(n, d),
                                       rtol=1e-6)
            np.testing.assert_allclose(np.asarray(ffft.rfftfreq(n, d)), np.fft.rfftfreq(n, d),
                                       rtol=1e-6)
    assert np.asarray(ffft.fftfreq(4)).dtype == np.float32
    assert np.asarray(ffft.fftfreq(4, dtype=np.float64)).dtype == np.float64
    x = np.arange(24).reshape(2, 3, 4)
    for axes in (None, 0, (1, 2), (-1,)):
        np.testing.assert_array_equal(np.asarray(ffft.fftshift(x, axes)),
                                      np.fft.fftshift(x, axes))
        np.testing.assert_array_equal(np.asarray(ffft.ifftshift(x, axes)),
                                      np.fft.ifftshift(x, axes))
    np.testing.assert_array_equal(np.asarray(ffft.fftshift(np.arange(5))), [3, 4, 0, 1, 2])
    # A traced sample spacing.
    got = ft.grad(lambda d: ffft.fftfreq(4, d)[1])(2.0)
    np.testing.assert_allclose(float(np.asarray(got)), -1 / (4 * 2.0**2), rtol=1e-6)


def test_numpy_errors():
    with pytest.raises(ValueError, match='invalid norm value .*"backward", "ortho"'):
        ffft.fft(np.ones(3), norm="bogus")
    with pytest.raises(ValueError, match=r"fft: invalid number of FFT data points \(0\)"):
        ffft.fft(np.ones(3), n=0)
    with pytest.raises(ValueError, match=r"irfft: invalid number of FFT data points \(0\)"):
        ffft.irfft(np.ones(1, np.complex64))
    with pytest.raises(DtypeError, match=r"rfft: expects a real input, got c64\[3\]"):
        ffft.rfft(np.ones(3, np.complex64))
    with pytest.raises(np.exceptions.AxisError, match="axis 2 is out of bounds.*rank 2"):
        ffft.fft(np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match=r"s=\(2,\) and axes=\(0, 1\) have different"):
        ffft.fftn(np.ones((2, 3)), s=(2,), axes=(0, 1))
    with pytest.raises(ValueError, match="repeated axis"):
        ffft.fftn(np.ones((2, 3)), axes=(0, 0))
    with pytest.raises(ValueError, match="fftfreq: n must be a positive int, got 0"):
        ffft.fftfreq(0)


# --- the lax.fft primitive --------------------------------------------------------------------


def test_lax_fft_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4)) + 1j * rng.normal(size=(2, 3, 4))
    assert_close(fft(x, FftType.FFT, (3, 4)), np.fft.fftn(x, axes=(1, 2)))
    assert_close(fft(x, "ifft", (4,)), np.fft.ifft(x))
    assert_close(fft(x, FftType.IRFFT, (3, 6)), np.fft.irfftn(x, s=(3, 6), axes=(1, 2)))
    r = x.real.astype(np.float32)
    assert_close(fft(r, FftType.RFFT, (2, 3, 4)), np.fft.rfftn(r, axes=(0, 1, 2)))
    assert_close(fft(np.zeros((0, 4), np.complex64), FftType.FFT, (4,)),
                 np.zeros((0, 4), np.complex64))


@pytest.mark.parametrize("args, params, error, message", [
    (((2, 4), "float32"), (FftType.FFT, (4,)), DtypeError,
     r"lax.fft: FFT operand f32\[2,4\] has dtype float32; expected a complex dtype"),
    (((2, 4), "complex64"), (FftType.RFFT, (4,)), DtypeError,
     r"RFFT operand c64\[2,4\] has dtype complex64; expected one of float32, float64"),
    (((2, 4), "complex64"), (FftType.FFT, (5,)), ShapeError,
     r"FFT with fft_lengths=\(5,\) needs the operand's trailing dimensions to be \(5,\), "
     r"got c64\[2,4\]"),
    (((2, 4), "complex64"), (FftType.IRFFT, (4,)), ShapeError,
     r"IRFFT .* to be \(3,\) \(for IRFFT the last one is fft_lengths\[-1\] // 2 \+ 1 = 3\)"),
    (((4,), "complex64"), (FftType.FFT, (2, 2)), ShapeError,
     r"FFT over 2 dimensions needs an operand of rank >= 2, got c64\[4\]"),
    (((1, 1, 1, 1), "complex64"), (FftType.FFT, (1, 1, 1, 1)), ValueError,
     r"fft_lengths must be a tuple of 1 to 3 non-negative ints, got \(1, 1, 1, 1\)"),
    (((4,), "complex64"), ("FFT", (4,)), TypeError, "fft_type must be a lax.FftType"),
])
def test_abstract_eval_errors(args, params, error, message):
    aval = core.ShapedArray(args[0], np.dtype(args[1]))
    with pytest.raises(error, match=message):
        fft_p.abstract_eval(aval, fft_type=params[0], fft_lengths=params[1])


def test_wrapper_rejects_unknown_types():
    with pytest.raises(ValueError, match="fft_type must be a lax.FftType or one of"):
        fft(np.ones(4, np.complex64), "dct", (4,))


def test_jaxpr_prints_fft_type():
    text = str(ft.make_jaxpr(lambda x: fft(x, FftType.RFFT, (4,)))(np.ones(4, np.float32)))
    assert "FftType.RFFT" in text and "fft_lengths=(4,)" in text


# --- derivatives --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, kwargs, real_in", [
    ("fft", {"n": 5}, False), ("ifft", {"norm": "ortho"}, False), ("rfft", {"n": 6}, True),
    ("irfft", {"n": 7}, False), ("irfft", {}, False), ("fft2", {"norm": "forward"}, False),
    ("rfft2", {}, True), ("irfftn", {"s": (3, 4)}, False), ("hfft", {}, False),
    ("ihfft", {}, True), ("rfftn", {"axes": (0, 1, 2)}, True),
])
def test_grads_match_finite_differences(name, kwargs, real_in):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4, 3))
    if not real_in:
        x = x + 1j * rng.normal(size=x.shape)
    fn = getattr(ffft, name)
    check_grads(lambda a: fn(a, **kwargs), (x,), order=2, modes=("fwd", "rev"))


def test_grad_of_power_spectrum_is_parseval():
    # sum |fft(x)|^2 = n sum x^2 for real x, so its gradient is 2 n x.
    x = np.random.default_rng(3).normal(size=8)
    g = ft.grad(lambda a: ft.numpy.sum(ft.numpy.abs(ffft.fft(a)) ** 2))(x)
    np.testing.assert_allclose(np.asarray(g), 2 * 8 * x, rtol=1e-10)
    # and through the half spectrum with rfft: the DC and Nyquist bins count once.
    w = np.array([1, 2, 2, 2, 1.0])
    g = ft.grad(lambda a: ft.numpy.sum(w * ft.numpy.abs(ffft.rfft(a)) ** 2))(x)
    np.testing.assert_allclose(np.asarray(g), 2 * 8 * x, rtol=1e-10)


def test_grad_of_irfft_roundtrip_is_identity():
    x = np.random.default_rng(4).normal(size=(2, 6))
    c = np.random.default_rng(5).normal(size=(2, 6))
    g = ft.grad(lambda a: ft.numpy.sum(c * ffft.irfft(ffft.rfft(a), n=6)))(x)
    np.testing.assert_allclose(np.asarray(g), c, rtol=1e-10, atol=1e-12)


# --- vmap ---------------------------------------------------------------------------------------


def test_vmap_matches_loop():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(4, 3, 5)) + 1j * rng.normal(size=(4, 3, 5))
    for fn in (lambda a: ffft.fft(a), lambda a: ffft.fft2(a, norm="ortho"),
               lambda a: ffft.irfft(a, n=6, axis=0), lambda a: ffft.ifftn(a, axes=(1, 0))):
        for axis in (0, 1, 2):
            got = ft.vmap(fn, in_axes=axis)(x)
            want = np.stack([np.asarray(fn(np.take(x, i, axis))) for i in range(x.shape[axis])])
            assert_close(got, want)


def test_vmap_of_grad_and_nested_vmap():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 2, 8))

    def loss(a):
        return ft.numpy.sum(ft.numpy.abs(ffft.rfft(a)[1:3]) ** 2)

    got = ft.vmap(ft.grad(loss), in_axes=2, out_axes=1)(np.moveaxis(x, 0, 2))
    want = np.stack([np.asarray(ft.grad(loss)(x[i])) for i in range(3)], axis=1)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10)
    nested = ft.vmap(ft.vmap(lambda a: ffft.fft(a), in_axes=1), in_axes=0)(x)
    want = np.fft.fft(np.swapaxes(x, 1, 2))
    assert_close(nested, want.astype(np.complex128))
