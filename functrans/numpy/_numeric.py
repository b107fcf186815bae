"""Numerical routines of ``functrans.numpy``: differences and integrals (diff, gradient,
trapezoid, unwrap), products (cross, kron, matvec), 1-d signals (convolve, correlate, interp),
polynomials (polyval ... polyfit, vander), statistics (average, cov, corrcoef) and windows.

All composites of lax primitives: convolve/correlate gather the padded signal's windows once
(static indices) for one ``dot_general``. As in JAX, convolution, polynomial algebra and
statistics compute in the inexact dtype. Imports ``lax`` and the fnp modules.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from functrans import core, lax
from functrans import dtypes as dt
from functrans.errors import ShapeError
from functrans.numpy import _contraction, _creation, _reductions, _shape, _ufuncs
from functrans.numpy._indexing import _as_array, _take
from functrans.numpy._promotion import (
    asarray_leaf, broadcast_to, canonical_axes, canonical_axis, cast, promote_args_inexact,
    promote_dtypes, shape_of, typeof,
)

__all__ = [
    "average", "bartlett", "blackman", "convolve", "corrcoef", "correlate", "cov", "cross",
    "diff", "ediff1d", "gradient", "hamming", "hanning", "interp", "kaiser", "kron", "matvec",
    "poly", "polyadd", "polyder", "polydiv", "polyfit", "polyint", "polymul", "polysub",
    "polyval",
    "trapezoid", "unwrap", "vander", "vecmat",
]


def _err(name: str, msg: str) -> str:
    return f"functrans.numpy.{name}: {msg}"


def _inexact_dtype(*args: Any) -> np.dtype:
    from functrans.numpy._promotion import result_type
    d, _ = result_type(*args)
    return d if d.kind in "fc" else dt.canonicalize(float)


def _promote_inexact(*args: Any) -> list[Any]:
    """The arguments as arrays of their common inexact dtype (shapes untouched, unlike
    promote_args_inexact, which also broadcasts)."""
    args = [asarray_leaf(a) for a in args]
    d = _inexact_dtype(*args)
    return [_to(a, d) for a in args]


def _to(x: Any, d: np.dtype) -> Any:
    """``x`` as an array of dtype ``d``; Python scalars and lists convert directly, without
    passing through the (weak) default float dtype, which would round float64 values."""
    if isinstance(x, (list, tuple)):
        from functrans.numpy._creation import _has_tracer
        if not _has_tracer(x):
            return _creation.asarray(np.asarray(x).astype(d))
    return cast(asarray_leaf(x), d)


# --- differences and integrals ------------------------------------------------------------------


def _diff1(a: Any, axis: int) -> Any:
    n = shape_of(a)[axis]
    hi, lo = lax.slice_in_dim(a, 1, n, axis=axis), lax.slice_in_dim(a, 0, n - 1, axis=axis)
    if typeof(a)[0] == dt.bool_:
        return lax.ne(hi, lo)
    return lax.sub(hi, lo)


def _with_edge(a: Any, value: Any, axis: int) -> Any:
    """``value`` as an array that concatenates to ``a`` along ``axis`` (a scalar becomes one
    slice of ``a``'s shape)."""
    v = _to(value, _promoted(a, asarray_leaf(value)))
    if not shape_of(v):
        s = list(shape_of(a))
        s[axis] = 1
        v = broadcast_to(v, tuple(s))
    return v


def diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Any:
    """The ``n``-th discrete difference along ``axis`` (like numpy.diff; booleans give
    ``!=``)."""
    a = _as_array(a)
    n = operator.index(n)
    if n < 0:
        raise ValueError(_err("diff", f"order must be non-negative but got {n}"))
    if not shape_of(a):
        raise ValueError(_err("diff", "diff requires input that is at least one dimensional"))
    axis = canonical_axis("diff", axis, len(shape_of(a)))
    if n == 0:
        return a
    parts = []
    if prepend is not None:
        parts.append(_with_edge(a, prepend, axis))
    parts.append(a)
    if append is not None:
        parts.append(_with_edge(a, append, axis))
    if len(parts) > 1:
        a = _shape.concatenate(parts, axis)
    for _ in range(n):
        if shape_of(a)[axis] == 0:
            break
        a = _diff1(a, axis)
    return a


def ediff1d(ary: Any, to_end: Any = None, to_begin: Any = None) -> Any:
    """Differences between consecutive elements of the flattened array, with optional values
    before and after (like numpy.ediff1d)."""
    flat = _shape.ravel(_as_array(ary))
    d = typeof(flat)[0]
    out = diff(flat) if shape_of(flat)[0] else flat
    parts = []
    if to_begin is not None:
        parts.append(cast(_shape.ravel(_as_array(to_begin)), d))
    parts.append(out)
    if to_end is not None:
        parts.append(cast(_shape.ravel(_as_array(to_end)), d))
    return _shape.concatenate(parts) if len(parts) > 1 else out


def _spacing(name: str, h: Any, n: int, d: np.dtype) -> Any:
    """A spacing argument: a scalar, or coordinates along the axis (length n)."""
    h = _to(h, d)
    if not shape_of(h):
        return h
    if len(shape_of(h)) != 1:
        raise ValueError(_err(name, f"distances must be either scalars or 1-d, got shape "
                                    f"{shape_of(h)}"))
    if shape_of(h)[0] != n:
        raise ValueError(_err(name, f"when 1-d, distances must match the length of the "
                                    f"corresponding dimension ({n}), got {shape_of(h)[0]}"))
    return cast(h, d)


def _along(v: Any, axis: int, ndim: int) -> Any:
    """A 1-d ``v`` shaped to broadcast along ``axis`` of a rank-``ndim`` array."""
    s = [1] * ndim
    s[axis] = shape_of(v)[0]
    return lax.reshape(v, tuple(s))


def _gradient_axis(f: Any, h: Any, axis: int, edge_order: int) -> Any:
    n = shape_of(f)[axis]
    ndim = len(shape_of(f))

    def sl(start: int, stop: int) -> Any:
        return lax.slice_in_dim(f, start, stop, axis=axis)

    m = _ufuncs.multiply
    if not shape_of(h):
        interior = _ufuncs.true_divide(_ufuncs.subtract(sl(2, n), sl(0, n - 2)),
                                       lax.mul(h, cast(2, typeof(h)[0])))
        if edge_order == 1:
            first = _ufuncs.true_divide(_ufuncs.subtract(sl(1, 2), sl(0, 1)), h)
            last = _ufuncs.true_divide(_ufuncs.subtract(sl(n - 1, n), sl(n - 2, n - 1)), h)
        else:
            first = _ufuncs.true_divide(
                _ufuncs.add(_ufuncs.add(m(sl(0, 1), -1.5), m(sl(1, 2), 2.0)),
                            m(sl(2, 3), -0.5)), h)
            last = _ufuncs.true_divide(
                _ufuncs.add(_ufuncs.add(m(sl(n - 3, n - 2), 0.5), m(sl(n - 2, n - 1), -2.0)),
                            m(sl(n - 1, n), 1.5)), h)
    else:
        dx = diff(h)
        dx1, dx2 = lax.slice_in_dim(dx, 0, n - 2, axis=0), lax.slice_in_dim(dx, 1, n - 1, axis=0)
        a = _ufuncs.negative(_ufuncs.true_divide(dx2, m(dx1, _ufuncs.add(dx1, dx2))))
        b = _ufuncs.true_divide(_ufuncs.subtract(dx2, dx1), m(dx1, dx2))
        c = _ufuncs.true_divide(dx1, m(dx2, _ufuncs.add(dx1, dx2)))
        interior = _ufuncs.add(_ufuncs.add(m(_along(a, axis, ndim), sl(0, n - 2)),
                                           m(_along(b, axis, ndim), sl(1, n - 1))),
                               m(_along(c, axis, ndim), sl(2, n)))
        if edge_order == 1:
            first = _ufuncs.true_divide(_ufuncs.subtract(sl(1, 2), sl(0, 1)), dx[0])
            last = _ufuncs.true_divide(_ufuncs.subtract(sl(n - 1, n), sl(n - 2, n - 1)),
                                       dx[n - 2])
        else:
            d1, d2 = dx[0], dx[1]
            a0 = _ufuncs.negative(_ufuncs.true_divide(_ufuncs.add(m(d1, 2.0), d2),
                                                      m(d1, _ufuncs.add(d1, d2))))
            b0 = _ufuncs.true_divide(_ufuncs.add(d1, d2), m(d1, d2))
            c0 = _ufuncs.negative(_ufuncs.true_divide(d1, m(d2, _ufuncs.add(d1, d2))))
            first = _ufuncs.add(_ufuncs.add(m(a0, sl(0, 1)), m(b0, sl(1, 2))), m(c0, sl(2, 3)))
            d1, d2 = dx[n - 3], dx[n - 2]
            a1 = _ufuncs.true_divide(d2, m(d1, _ufuncs.add(d1, d2)))
            b1 = _ufuncs.negative(_ufuncs.true_divide(_ufuncs.add(d2, d1), m(d1, d2)))
            c1 = _ufuncs.true_divide(_ufuncs.add(m(d2, 2.0), d1), m(d2, _ufuncs.add(d1, d2)))
            last = _ufuncs.add(_ufuncs.add(m(a1, sl(n - 3, n - 2)), m(b1, sl(n - 2, n - 1))),
                               m(c1, sl(n - 1, n)))
    return _shape.concatenate([cast(first, typeof(f)[0]), cast(interior, typeof(f)[0]),
                               cast(last, typeof(f)[0])], axis)


def gradient(f: Any, *varargs: Any, axis: int | Sequence[int] | None = None,
             edge_order: int | None = None) -> Any:
    """The gradient of ``f`` by central differences inside and one-sided differences at the
    edges (first order, or second with ``edge_order=2``), with scalar spacings or coordinate
    arrays in ``varargs`` (like numpy.gradient). One array per axis (a list) for several axes.
    """
    (f,) = promote_args_inexact("gradient", _as_array(f))
    d = typeof(f)[0]
    ndim = len(shape_of(f))
    axes = canonical_axes("gradient", axis, ndim)
    edge_order = 1 if edge_order is None else operator.index(edge_order)
    if edge_order not in (1, 2):
        raise ValueError(_err("gradient", f"edge_order must be 1 or 2, got {edge_order}"))
    if not varargs:
        spacings = [np.ones((), d)] * len(axes)
    elif len(varargs) == 1 and not shape_of(_as_array(varargs[0])):
        spacings = [varargs[0]] * len(axes)
    elif len(varargs) == len(axes):
        spacings = list(varargs)
    else:
        raise TypeError(_err("gradient", f"invalid number of spacing arguments: {len(varargs)} "
                                         f"for {len(axes)} axes"))
    out = []
    for ax, h in zip(axes, spacings, strict=True):
        n = shape_of(f)[ax]
        if n < edge_order + 1:
            raise ValueError(_err("gradient", f"shape of the array along axis {ax} ({n}) is too "
                                              f"small to calculate a numerical gradient; at "
                                              f"least (edge_order + 1) = {edge_order + 1} "
                                              f"elements are required"))
        out.append(_gradient_axis(f, _spacing("gradient", h, n, d), ax, edge_order))
    return out[0] if len(out) == 1 else out


def trapezoid(y: Any, x: Any = None, dx: Any = 1.0, axis: int = -1) -> Any:
    """The integral of ``y`` along ``axis`` by the trapezoidal rule, with sample points ``x``
    or spacing ``dx`` (like numpy.trapezoid)."""
    if x is None:
        (y,) = promote_args_inexact("trapezoid", _as_array(y))
    else:
        y, x = _promote_inexact(y, x)
    ndim = len(shape_of(y))
    if not ndim:
        raise ValueError(_err("trapezoid", "y must be at least 1-d"))
    axis = canonical_axis("trapezoid", axis, ndim)
    n = shape_of(y)[axis]
    if x is None:
        widths: Any = cast(asarray_leaf(dx), typeof(y)[0]) if not isinstance(dx, float) else dx
    elif len(shape_of(x)) == 1:
        widths = _along(diff(x), axis, ndim)
    else:
        widths = diff(x, axis=axis)
    if n == 0:
        return _reductions.sum(y, axis=axis)
    avg = _ufuncs.multiply(_ufuncs.add(lax.slice_in_dim(y, 1, n, axis=axis),
                                       lax.slice_in_dim(y, 0, n - 1, axis=axis)), 0.5)
    return _reductions.sum(_ufuncs.multiply(widths, avg), axis=axis)


def unwrap(p: Any, discont: Any = None, axis: int = -1, period: Any = 2 * np.pi) -> Any:
    """``p`` with jumps larger than ``discont`` (default period/2) along ``axis`` replaced by
    their complement modulo ``period`` (like numpy.unwrap, in the inexact dtype)."""
    (p,) = promote_args_inexact("unwrap", _as_array(p))
    d = typeof(p)[0]
    if d.kind == "c":
        raise TypeError(_err("unwrap", "not defined for complex inputs"))
    ndim = len(shape_of(p))
    axis = canonical_axis("unwrap", axis, ndim)
    n = shape_of(p)[axis]
    if n < 2:
        return p
    period = cast(asarray_leaf(period), d)
    half = lax.div(period, np.asarray(2, d))
    discont = half if discont is None else cast(asarray_leaf(discont), d)
    dd = diff(p, axis=axis)
    ddmod = _ufuncs.subtract(_ufuncs.remainder(_ufuncs.add(dd, half), period), half)
    ddmod = _ufuncs.where(_ufuncs.logical_and(_ufuncs.equal(ddmod, _ufuncs.negative(half)),
                                              _ufuncs.greater(dd, 0)), half, ddmod)
    correct = _ufuncs.subtract(ddmod, dd)
    correct = _ufuncs.where(_ufuncs.less(_ufuncs.absolute(dd), discont),
                            np.zeros((), d), correct)
    shifted = _ufuncs.add(lax.slice_in_dim(p, 1, n, axis=axis), lax.cumsum(correct, axis=axis))
    return _shape.concatenate([lax.slice_in_dim(p, 0, 1, axis=axis), shifted], axis)


# --- products -----------------------------------------------------------------------------------


def cross(a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: int | None = None) -> Any:
    """The cross product of 2- or 3-vectors along ``axisa``/``axisb`` (like numpy.cross; 2-d
    vectors give the z component)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = promote_dtypes(_as_array(a), _as_array(b))
    a = _shape.moveaxis(a, canonical_axis("cross", axisa, len(shape_of(a))), -1)
    b = _shape.moveaxis(b, canonical_axis("cross", axisb, len(shape_of(b))), -1)
    na, nb = shape_of(a)[-1], shape_of(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(_err("cross", f"incompatible dimensions for cross product (dimension "
                                       f"must be 2 or 3), got {na} and {nb}"))
    if typeof(a)[0] == dt.bool_:
        raise TypeError(_err("cross", "not defined for boolean arrays"))

    def comp(v: Any, i: int, n: int) -> Any:
        if i >= n:
            return _ufuncs.multiply(v[..., 0], 0)
        return v[..., i]

    a0, a1, a2 = (comp(a, i, na) for i in range(3))
    b0, b1, b2 = (comp(b, i, nb) for i in range(3))
    mul, sub = _ufuncs.multiply, _ufuncs.subtract
    z = sub(mul(a0, b1), mul(a1, b0))
    if na == 2 and nb == 2:
        return z
    x = sub(mul(a1, b2), mul(a2, b1))
    y = sub(mul(a2, b0), mul(a0, b2))
    out = _shape.stack([x, y, z], axis=-1)
    return _shape.moveaxis(out, -1, canonical_axis("cross", axisc, len(shape_of(out))))


def kron(a: Any, b: Any) -> Any:
    """The Kronecker product (like numpy.kron): blocks ``a[i] * b``."""
    a, b = promote_dtypes(_as_array(a), _as_array(b))
    sa, sb = shape_of(a), shape_of(b)
    n = max(len(sa), len(sb))
    sa, sb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    a, b = lax.reshape(a, sa), lax.reshape(b, sb)
    wide = tuple(d for pair in zip(sa, sb, strict=True) for d in pair)
    aw = lax.broadcast_in_dim(a, wide, tuple(range(0, 2 * n, 2)))
    bw = lax.broadcast_in_dim(b, wide, tuple(range(1, 2 * n, 2)))
    return lax.reshape(_ufuncs.multiply(aw, bw), tuple(x * y for x, y in zip(sa, sb,
                                                                             strict=True)))


def matvec(x1: Any, x2: Any, /) -> Any:
    """Matrix-vector products ``x1[..., m, n] @ x2[..., n]`` with broadcast batch dimensions."""
    x1, x2 = _as_array(x1), _as_array(x2)
    if len(shape_of(x1)) < 2 or len(shape_of(x2)) < 1:
        raise ValueError(_err("matvec", f"need a matrix (rank >= 2) and a vector (rank >= 1), "
                                        f"got shapes {shape_of(x1)} and {shape_of(x2)}"))
    return _contraction.matmul(x1, x2[..., None])[..., 0]


def vecmat(x1: Any, x2: Any, /) -> Any:
    """Vector-matrix products ``conj(x1[..., n]) @ x2[..., n, m]`` with broadcast batch
    dimensions."""
    x1, x2 = _as_array(x1), _as_array(x2)
    if len(shape_of(x1)) < 1 or len(shape_of(x2)) < 2:
        raise ValueError(_err("vecmat", f"need a vector (rank >= 1) and a matrix (rank >= 2), "
                                        f"got shapes {shape_of(x1)} and {shape_of(x2)}"))
    return _contraction.matmul(_ufuncs.conjugate(x1)[..., None, :], x2)[..., 0, :]


# --- 1-d signals --------------------------------------------------------------------------------


def _correlate_full(a: Any, w: Any, precision: Any, preferred_element_type: Any) -> Any:
    """``out[k] = sum_j a_padded[k + j] * w[j]`` for every shift, ``a`` padded by m - 1 on
    both sides: a 1-d lax convolution (which, as in XLA, does not flip the kernel)."""
    n, m = shape_of(a)[0], shape_of(w)[0]
    pet = None if preferred_element_type is None else dt.canonicalize(preferred_element_type)
    out = lax.conv_general_dilated(lax.reshape(a, (1, 1, n)), lax.reshape(w, (1, 1, m)), (1,),
                                   [(m - 1, m - 1)], precision=precision,
                                   preferred_element_type=pet)
    return lax.reshape(out, (n + m - 1,))


def _signal(name: str, a: Any, v: Any, mode: str, flip: bool, conj: bool, precision: Any,
            preferred_element_type: Any) -> Any:
    a, v = _promote_inexact(a, v)
    if len(shape_of(a)) != 1 or len(shape_of(v)) != 1:
        raise ValueError(_err(name, f"only 1-d inputs are supported, got shapes {shape_of(a)} "
                                    f"and {shape_of(v)}"))
    n, m = shape_of(a)[0], shape_of(v)[0]
    if n == 0 or m == 0:
        raise ValueError(_err(name, f"inputs cannot be empty, got shapes {shape_of(a)} and "
                                    f"{shape_of(v)}"))
    w = lax.rev(v, (0,)) if flip else v
    if conj:
        w = _ufuncs.conjugate(w)
    full = _correlate_full(a, w, precision, preferred_element_type)
    lo, hi = min(n, m), max(n, m)
    if mode == "full":
        return full
    if mode == "same":
        # NumPy centres 'same' on the 'full' output; correlate swaps its operands internally
        # when v is longer, which moves the centre by one for even lengths.
        start = lo // 2 if (not flip and n < m) else (lo - 1) // 2
        return lax.slice_in_dim(full, start, start + hi, axis=0)
    if mode == "valid":
        return lax.slice_in_dim(full, lo - 1, hi, axis=0)
    raise ValueError(_err(name, f"mode must be 'full', 'same' or 'valid', got {mode!r}"))


def convolve(a: Any, v: Any, mode: str = "full", *, precision: Any = None,
             preferred_element_type: Any = None) -> Any:
    """The discrete linear convolution of two 1-d arrays (like numpy.convolve; computed in the
    inexact dtype, as in JAX)."""
    return _signal("convolve", a, v, mode, True, False, precision, preferred_element_type)


def correlate(a: Any, v: Any, mode: str = "valid", *, precision: Any = None,
              preferred_element_type: Any = None) -> Any:
    """The cross-correlation ``sum_n a[n + k] * conj(v[n])`` of two 1-d arrays (like
    numpy.correlate)."""
    return _signal("correlate", a, v, mode, False, True, precision, preferred_element_type)


def interp(x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None,
           period: Any = None) -> Any:
    """Piecewise-linear interpolation of the points ``(xp, fp)`` at ``x`` (like numpy.interp;
    ``xp`` increasing, or any order with ``period``)."""
    from functrans.numpy._sorting import searchsorted
    x, xp = _promote_inexact(x, xp)
    (fp,) = promote_args_inexact("interp", _as_array(fp))
    if typeof(x)[0].kind == "c":
        raise TypeError(_err("interp", "x and xp must be real"))
    if len(shape_of(xp)) != 1 or len(shape_of(fp)) != 1:
        raise ValueError(_err("interp", f"xp and fp must be 1-d, got shapes {shape_of(xp)} and "
                                        f"{shape_of(fp)}"))
    if shape_of(xp) != shape_of(fp):
        raise ValueError(_err("interp", f"fp and xp are not of the same length: "
                                        f"{shape_of(fp)[0]} and {shape_of(xp)[0]}"))
    if shape_of(xp)[0] == 0:
        raise ValueError(_err("interp", "array of sample points is empty"))
    if period is not None:
        if left is not None or right is not None:
            raise ValueError(_err("interp", "left and right are not used with period"))
        period = _ufuncs.absolute(cast(asarray_leaf(period), typeof(x)[0]))
        x = _ufuncs.remainder(x, period)
        xp = _ufuncs.remainder(xp, period)
        xp, fp = lax.sort((xp, fp), dimension=0, num_keys=1)
        n = shape_of(xp)[0]
        xp = _shape.concatenate([_ufuncs.subtract(xp[n - 1:], period), xp,
                                 _ufuncs.add(xp[:1], period)])
        fp = _shape.concatenate([fp[n - 1:], fp, fp[:1]])
    n = shape_of(xp)[0]
    if n == 1:
        out = broadcast_to(cast(fp[0], _promoted(x, fp)), shape_of(x))
    else:
        i = _ufuncs.clip(searchsorted(xp, x, side="right"), 1, n - 1)
        from functrans.numpy._selection import take
        x0, x1 = take(xp, _ufuncs.subtract(i, 1)), take(xp, i)
        f0, f1 = take(fp, _ufuncs.subtract(i, 1)), take(fp, i)
        dx = _ufuncs.subtract(x1, x0)
        zero_dx = _ufuncs.equal(dx, 0)
        slope = _ufuncs.true_divide(_ufuncs.subtract(f1, f0), _ufuncs.where(zero_dx, 1, dx))
        out = _ufuncs.add(f0, _ufuncs.multiply(slope, _ufuncs.subtract(x, x0)))
        out = _ufuncs.where(zero_dx, f0, out)
        # Exactly at a sample point the value is exact (NumPy returns fp there).
        out = _ufuncs.where(_ufuncs.equal(x, x1), f1, out)
    if period is None:
        lo = fp[0] if left is None else left
        hi = fp[n - 1] if right is None else right
        out = _ufuncs.where(_ufuncs.less(x, xp[0]), lo, out)
        out = _ufuncs.where(_ufuncs.greater(x, xp[n - 1]), hi, out)
    return out


def _promoted(*args: Any) -> np.dtype:
    from functrans.numpy._promotion import result_type
    return result_type(*args)[0]


# --- polynomials --------------------------------------------------------------------------------


def _poly1d(name: str, p: Any) -> Any:
    p = _as_array(p)
    if len(shape_of(p)) != 1:
        raise ValueError(_err(name, f"polynomial coefficients must be 1-d, got shape "
                                    f"{shape_of(p)}"))
    return p


def polyval(p: Any, x: Any, *, unroll: int = 16) -> Any:
    """The polynomial with coefficients ``p`` (highest power first) at ``x``, by Horner's
    rule (like numpy.polyval)."""
    p = _poly1d("polyval", p)
    p, x = promote_dtypes(p, asarray_leaf(x))
    y = _ufuncs.multiply(x, 0)
    for i in range(shape_of(p)[0]):
        y = _ufuncs.add(_ufuncs.multiply(y, x), p[i])
    return y


def _pad_front(p: Any, n: int) -> Any:
    k = shape_of(p)[0]
    return lax.pad(p, np.zeros((), typeof(p)[0]), [(n - k, 0, 0)]) if n > k else p


def polyadd(a1: Any, a2: Any) -> Any:
    """The sum of two polynomials (coefficient arrays, highest power first)."""
    a1, a2 = promote_dtypes(_poly1d("polyadd", a1), _poly1d("polyadd", a2))
    n = max(shape_of(a1)[0], shape_of(a2)[0])
    return _ufuncs.add(_pad_front(a1, n), _pad_front(a2, n))


def polysub(a1: Any, a2: Any) -> Any:
    """The difference of two polynomials."""
    a1, a2 = promote_dtypes(_poly1d("polysub", a1), _poly1d("polysub", a2))
    n = max(shape_of(a1)[0], shape_of(a2)[0])
    return _ufuncs.subtract(_pad_front(a1, n), _pad_front(a2, n))


def _trim_leading(name: str, p: Any) -> Any:
    value = core.concrete_or_none(p)
    if value is None:
        raise core.errors.ConcretizationTypeError(_err(
            name, "trim_leading_zeros=True needs concrete coefficients (it changes the shape)"))
    v = core.to_numpy(value)
    nz = np.nonzero(v)[0]
    start = int(nz[0]) if nz.size else max(v.shape[0] - 1, 0)
    return _take(p, slice(start, None))


def polymul(a1: Any, a2: Any, *, trim_leading_zeros: bool = False) -> Any:
    """The product of two polynomials (their coefficients' convolution)."""
    a1, a2 = _poly1d("polymul", a1), _poly1d("polymul", a2)
    if trim_leading_zeros:
        a1, a2 = _trim_leading("polymul", a1), _trim_leading("polymul", a2)
    if not shape_of(a1)[0] or not shape_of(a2)[0]:
        return lax.broadcast_in_dim(np.zeros((), _inexact_dtype(a1, a2)), (1,), ())
    return convolve(a1, a2)


def polyder(p: Any, m: int = 1) -> Any:
    """The ``m``-th derivative of the polynomial ``p``."""
    (p,) = promote_args_inexact("polyder", _poly1d("polyder", p))
    m = operator.index(m)
    if m < 0:
        raise ValueError(_err("polyder", f"order of derivative must be positive, got {m}"))
    for _ in range(m):
        n = shape_of(p)[0]
        if n <= 1:
            # The derivative of a constant is empty, as in NumPy.
            return _creation.full((0,), 0, typeof(p)[0])
        powers = np.arange(n - 1, 0, -1)
        p = _ufuncs.multiply(lax.slice_in_dim(p, 0, n - 1, axis=0),
                             np.asarray(powers, typeof(p)[0]))
    return p


def polyint(p: Any, m: int = 1, k: Any = None) -> Any:
    """The ``m``-th antiderivative of ``p`` with integration constants ``k`` (lowest-order
    constant last, as in NumPy)."""
    (p,) = promote_args_inexact("polyint", _poly1d("polyint", p))
    m = operator.index(m)
    if m < 0:
        raise ValueError(_err("polyint", f"order of integral must be positive, got {m}"))
    d = typeof(p)[0]
    if k is None:
        ks = _creation.full((m,), 0, typeof(p)[0])
    else:
        ks = _shape.ravel(_to(k, d))
        if shape_of(ks)[0] == 1 and m > 1:
            ks = broadcast_to(ks, (m,))
        if shape_of(ks)[0] != m:
            raise ValueError(_err("polyint", f"k must be a scalar or have length m={m}, got "
                                             f"{shape_of(ks)[0]} values"))
    for i in range(m):
        n = shape_of(p)[0]
        divisors = np.arange(n, 0, -1)
        scaled = _ufuncs.true_divide(p, np.asarray(divisors, d)) if n else p
        p = _shape.concatenate([scaled, ks[i:i + 1]])
    return p


def poly(seq_of_zeros: Any) -> Any:
    """The coefficients of the monic polynomial with the given roots (a 1-d sequence; a square
    matrix's characteristic polynomial would need eigenvalues and is not supported)."""
    (z,) = promote_args_inexact("poly", _as_array(seq_of_zeros))
    s = shape_of(z)
    if len(s) == 2 and s[0] == s[1] and s[0]:
        raise NotImplementedError(_err("poly", "the characteristic polynomial of a matrix needs "
                                               "its eigenvalues; compute them with a linalg "
                                               "routine and pass the 1-d roots"))
    if len(s) > 1 or (len(s) == 2 and not s[0]):
        if math.prod(s) == 0:
            return _creation.full((1,), 1, typeof(z)[0])
        raise ValueError(_err("poly", f"input must be 1-d or a non-empty square 2-d array, "
                                      f"got shape {s}"))
    out = _creation.full((1,), 1, typeof(z)[0])
    for i in range(s[0] if s else 0):
        factor = _shape.stack([_creation.full((), 1, typeof(z)[0]), _ufuncs.negative(z[i])])
        out = convolve(out, factor)
    return out


def polydiv(u: Any, v: Any, *, trim_leading_zeros: bool = False) -> tuple[Any, Any]:
    """``(quotient, remainder)`` of polynomial long division. The remainder keeps ``u``'s
    length (leading entries zero) unless ``trim_leading_zeros`` (concrete inputs), as in JAX.
    """
    u, v = _promote_inexact(_poly1d("polydiv", u), _poly1d("polydiv", v))
    m, n = shape_of(u)[0] - 1, shape_of(v)[0] - 1
    if n < 0:
        raise ZeroDivisionError(_err("polydiv", "division by an empty polynomial"))
    scale = lax.div(np.ones((), typeof(v)[0]), v[0])
    q = []
    r = u
    for k in range(max(m - n + 1, 0)):
        dk = lax.mul(scale, r[k])
        q.append(dk)
        update = _ufuncs.multiply(_ufuncs.negative(dk), v)
        r = r.at[k:k + n + 1].add(update)
    quot = _shape.stack(q) if q else _creation.full((1,), 0, typeof(u)[0])
    if trim_leading_zeros:
        value = core.concrete_or_none(r)
        if value is None:
            raise core.errors.ConcretizationTypeError(_err(
                "polydiv", "trim_leading_zeros=True needs concrete inputs"))
        rv = core.to_numpy(value)
        tol = np.sqrt(np.finfo(rv.dtype).eps)
        big = np.nonzero(np.abs(rv) > tol)[0]
        start = int(big[0]) if big.size else rv.shape[0] - 1
        r = _take(r, slice(start, None))
    return quot, r


def _linalg(what: str) -> Any:
    from functrans.numpy import linalg  # (imports this module's package)
    return getattr(linalg, what)


def polyfit(x: Any, y: Any, deg: int, rcond: float | None = None, full: bool = False,
            w: Any = None, cov: bool | str = False) -> Any:
    """The least-squares polynomial of degree ``deg`` through the points ``(x, y)`` (like
    numpy.polyfit: columns of the Vandermonde matrix are scaled to unit norm, then solved with
    ``linalg.lstsq``). ``y`` may be 2-d (one fit per column). ``full`` also returns
    (residuals, rank, singular values, rcond); ``cov`` the covariance of the coefficients."""
    deg = operator.index(deg)
    if deg < 0:
        raise ValueError(_err("polyfit", f"expected deg >= 0, got {deg}"))
    x, y = _promote_inexact(x, y)
    if len(shape_of(x)) != 1:
        raise TypeError(_err("polyfit", f"expected a 1-d vector for x, got shape "
                                        f"{shape_of(x)}"))
    if len(shape_of(y)) not in (1, 2):
        raise TypeError(_err("polyfit", f"expected a 1-d or 2-d array for y, got shape "
                                        f"{shape_of(y)}"))
    n = shape_of(x)[0]
    if shape_of(y)[0] != n:
        raise TypeError(_err("polyfit", f"expected x and y to have the same length, got {n} "
                                        f"and {shape_of(y)[0]}"))
    order = deg + 1
    lhs = vander(x, order)
    rhs = y
    if w is not None:
        (w,) = _promote_inexact(w)
        if shape_of(w) != (n,):
            raise TypeError(_err("polyfit", f"expected w of shape ({n},), got {shape_of(w)}"))
        lhs = _ufuncs.multiply(lhs, w[:, None])
        rhs = _ufuncs.multiply(rhs, w if len(shape_of(rhs)) == 1 else w[:, None])
    d = typeof(lhs)[0]
    rcond = n * float(np.finfo(np.dtype(d.type(0).real.dtype)).eps) if rcond is None else rcond
    scale = _ufuncs.sqrt(_reductions.sum(_ufuncs.multiply(lhs, _ufuncs.conjugate(lhs)), axis=0))
    scale = lax.real(scale) if typeof(scale)[0].kind == "c" else scale
    lhs = _ufuncs.true_divide(lhs, scale)
    c, resids, rank, s = _linalg("lstsq")(lhs, rhs, rcond=rcond)
    c = _ufuncs.true_divide(c, scale if len(shape_of(c)) == 1 else scale[:, None])
    if full:
        return c, resids, rank, s, rcond
    if cov:
        if n <= order and cov != "unscaled":
            raise ValueError(_err("polyfit", "the number of data points must exceed order to "
                                             "scale the covariance matrix"))
        inv = _linalg("inv")
        base = inv(_contraction.dot(_ufuncs.conjugate(_shape.transpose(lhs)), lhs))
        base = _ufuncs.true_divide(base, _ufuncs.multiply(scale[:, None], scale[None, :]))
        fac = 1.0 if cov == "unscaled" else _ufuncs.true_divide(resids, n - order)
        if len(shape_of(y)) == 1:
            return c, _ufuncs.multiply(base, fac)
        return c, _ufuncs.multiply(base[:, :, None], fac)
    return c


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Any:  # noqa: N803
    """The Vandermonde matrix of the 1-d ``x``: columns are powers of ``x`` (decreasing unless
    ``increasing``), like numpy.vander."""
    x = _as_array(x)
    if len(shape_of(x)) != 1:
        raise ValueError(_err("vander", f"x must be a one-dimensional array or sequence, got "
                                        f"shape {shape_of(x)}"))
    n = shape_of(x)[0]
    N = n if N is None else operator.index(N)  # noqa: N806
    if N < 0:
        raise ValueError(_err("vander", f"N must be non-negative, got {N}"))
    if not N:
        return _creation.full((n, 0), 0, typeof(x)[0])
    # Columns by repeated multiplication (exact for integers, like NumPy's cumulative product).
    cols = [_creation.full((n,), 1, typeof(x)[0])]
    for _ in range(N - 1):
        cols.append(_ufuncs.multiply(cols[-1], x))
    if not increasing:
        cols = cols[::-1]
    return _shape.stack(cols, axis=1)


# --- statistics ---------------------------------------------------------------------------------


def average(a: Any, axis: Any = None, weights: Any = None, returned: bool = False,
            keepdims: bool = False) -> Any:
    """The (weighted) average over ``axis`` (like numpy.average); ``weights`` may be 1-d along a
    single ``axis``. With ``returned``, also the sum of the weights."""
    a = _as_array(a)
    if weights is None:
        avg = _reductions.mean(a, axis, keepdims=keepdims)
        if not returned:
            return avg
        ndim = len(shape_of(a))
        count = math.prod(tuple(shape_of(a)[i] for i in canonical_axes("average", axis, ndim)))
        return avg, broadcast_to(cast(count, typeof(avg)[0]), shape_of(avg))
    a, w = _promote_inexact(a, weights)
    ndim = len(shape_of(a))
    if shape_of(w) != shape_of(a):
        if axis is None:
            raise ValueError(_err("average", f"axis must be specified when shapes of a "
                                             f"{shape_of(a)} and weights {shape_of(w)} differ"))
        axes = canonical_axes("average", axis, ndim)
        if len(shape_of(w)) != 1 or len(axes) != 1:
            raise ValueError(_err("average", f"1-d weights (shape {shape_of(w)}) need a single "
                                             f"axis"))
        if shape_of(w)[0] != shape_of(a)[axes[0]]:
            raise ValueError(_err("average", f"length of weights ({shape_of(w)[0]}) differs "
                                             f"from that of the specified axis "
                                             f"({shape_of(a)[axes[0]]})"))
        w = _along(w, axes[0], ndim)
    scale = _reductions.sum(broadcast_to(w, shape_of(a)) if shape_of(w) != shape_of(a) else w,
                            axis, keepdims=keepdims)
    total = _reductions.sum(_ufuncs.multiply(a, w), axis, keepdims=keepdims)
    avg = _ufuncs.true_divide(total, scale)
    if returned:
        return avg, broadcast_to(scale, shape_of(avg)) if shape_of(scale) != shape_of(avg) \
            else scale
    return avg


def cov(m: Any, y: Any = None, rowvar: bool = True, bias: bool = False,
        ddof: int | None = None, fweights: Any = None, aweights: Any = None,
        dtype: Any = None) -> Any:
    """The covariance matrix of the variables in the rows (``rowvar``) or columns of ``m``
    (and ``y``), like numpy.cov; a single variable gives a 0-d array."""
    m = _as_array(m)
    if len(shape_of(m)) > 2:
        raise ValueError(_err("cov", f"m has more than 2 dimensions: shape {shape_of(m)}"))
    d = _inexact_dtype(m) if y is None else _inexact_dtype(m, _as_array(y))
    if dtype is not None:
        d = dt.canonicalize(dtype)
    x = cast(_shape.atleast_2d(m), d)
    if not rowvar and shape_of(x)[0] != 1:
        x = _shape.transpose(x)
    if shape_of(x)[0] == 0:
        return lax.broadcast_in_dim(np.asarray(np.nan, d), (0, 0), ())
    if y is not None:
        yy = cast(_shape.atleast_2d(_as_array(y)), d)
        if not rowvar and shape_of(yy)[0] != 1:
            yy = _shape.transpose(yy)
        x = _shape.concatenate([x, yy], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    n = shape_of(x)[1]
    w = None
    rd = np.dtype(d.type(0).real.dtype)
    if fweights is not None:
        fw = _as_array(fweights)
        if len(shape_of(fw)) != 1 or shape_of(fw)[0] != n:
            raise ShapeError(_err("cov", f"fweights must be 1-d with {n} entries, got shape "
                                         f"{shape_of(fw)}"))
        w = cast(fw, rd)
    if aweights is not None:
        aw = _as_array(aweights)
        if len(shape_of(aw)) != 1 or shape_of(aw)[0] != n:
            raise ShapeError(_err("cov", f"aweights must be 1-d with {n} entries, got shape "
                                         f"{shape_of(aw)}"))
        aw = cast(aw, rd)
        w = aw if w is None else _ufuncs.multiply(w, aw)
    if w is None:
        avg = _reductions.mean(x, axis=1)
        w_sum = cast(n, rd)
        fact = lax.sub(w_sum, cast(ddof, rd))
    else:
        w_sum = _reductions.sum(w)
        avg = _ufuncs.true_divide(_reductions.sum(_ufuncs.multiply(x, w), axis=1), w_sum)
        if ddof == 0:
            fact = w_sum
        elif aweights is None:
            fact = lax.sub(w_sum, cast(ddof, rd))
        else:
            fact = _ufuncs.subtract(w_sum, _ufuncs.true_divide(
                _ufuncs.multiply(ddof, _reductions.sum(_ufuncs.multiply(w, aw))), w_sum))
    fact = _ufuncs.where(_ufuncs.less_equal(fact, 0), cast(0, rd), fact)
    xc = _ufuncs.subtract(x, avg[:, None])
    xw = xc if w is None else _ufuncs.multiply(xc, w)
    c = _contraction.dot(xw, _ufuncs.conjugate(_shape.transpose(xc)))
    c = _ufuncs.true_divide(c, fact)
    return _shape.squeeze(c) if shape_of(c) == (1, 1) else c


def corrcoef(x: Any, y: Any = None, rowvar: bool = True, dtype: Any = None) -> Any:
    """Pearson correlation coefficients (like numpy.corrcoef), clipped to [-1, 1]."""
    c = cov(x, y, rowvar, dtype=dtype)
    if not shape_of(c):
        return _ufuncs.true_divide(c, c)
    dg = lax.real(_diagonal(c)) if typeof(c)[0].kind == "c" else _diagonal(c)
    sd = _ufuncs.sqrt(dg)
    c = _ufuncs.true_divide(c, sd[:, None])
    c = _ufuncs.true_divide(c, sd[None, :])
    if typeof(c)[0].kind == "c":
        return lax.complex(_ufuncs.clip(lax.real(c), -1, 1), _ufuncs.clip(lax.imag(c), -1, 1))
    return _ufuncs.clip(c, -1, 1)


def _diagonal(c: Any) -> Any:
    from functrans.numpy._selection import diagonal
    return diagonal(c)


# --- window functions ---------------------------------------------------------------------------


def _window(name: str, M: int, fn: Any) -> Any:  # noqa: N803
    M = operator.index(M)  # noqa: N806
    d = dt.canonicalize(float)
    if M < 1:
        return lax.broadcast_in_dim(np.zeros((), d), (0,), ())
    # The windows are constants: computed in float64 by NumPy, then cast (as accurate as the
    # dtype allows).
    return _creation.asarray(np.asarray(fn(M), np.float64).astype(d))


def bartlett(M: int) -> Any:  # noqa: N803
    """The Bartlett (triangular) window of ``M`` points."""
    return _window("bartlett", M, np.bartlett)


def blackman(M: int) -> Any:  # noqa: N803
    """The Blackman window of ``M`` points."""
    return _window("blackman", M, np.blackman)


def hamming(M: int) -> Any:  # noqa: N803
    """The Hamming window of ``M`` points."""
    return _window("hamming", M, np.hamming)


def hanning(M: int) -> Any:  # noqa: N803
    """The Hann window of ``M`` points."""
    return _window("hanning", M, np.hanning)


def kaiser(M: int, beta: Any) -> Any:  # noqa: N803
    """The Kaiser window of ``M`` points and shape ``beta`` (which may be traced)."""
    from functrans.numpy._math import i0
    M = operator.index(M)  # noqa: N806
    d = dt.canonicalize(float)
    value = core.concrete_or_none(beta)
    if value is not None:
        b = float(np.asarray(core.to_numpy(value) if hasattr(value, "_value") else value))
        return _window("kaiser", M, lambda m: np.kaiser(m, b))
    if M < 1:
        return lax.broadcast_in_dim(np.zeros((), d), (0,), ())
    if M == 1:
        return lax.broadcast_in_dim(np.ones((), d), (1,), ())
    n = np.arange(M, dtype=np.float64)
    alpha = (M - 1) / 2.0
    r = np.sqrt(np.clip(1 - ((n - alpha) / alpha) ** 2, 0, None)).astype(d)
    beta = cast(asarray_leaf(beta), d)
    return _ufuncs.true_divide(i0(_ufuncs.multiply(beta, r)), i0(beta))
