"""The functions of ``functrans.nn``: activations, softmax/log_softmax/logsumexp, one_hot,
standardize, glu and dot_product_attention, with jax.nn's names, signatures and semantics.

Derivatives follow JAX: relu and relu6 have zero slope at their kinks (custom JVPs), softplus
has ``sigmoid(x)``, and softmax/log_softmax/logsumexp subtract a stop-gradient maximum, so
masked (-inf) entries get exactly zero gradient instead of NaN. Everything is built from
``functrans.numpy`` and ``functrans.lax``. Imports those and ``transforms.custom_derivatives``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from functrans import dtypes as dt
from functrans import lax
from functrans import numpy as fnp
from functrans.errors import DtypeError, ShapeError
from functrans.numpy._einsum import einsum
from functrans.numpy._manip import split
from functrans.numpy._promotion import asarray_leaf, canonical_axes, cast, shape_of, typeof
from functrans.transforms.custom_derivatives import custom_jvp

__all__ = [
    "celu", "dot_product_attention", "elu", "gelu", "glu", "hard_sigmoid", "hard_silu",
    "hard_swish", "hard_tanh", "identity", "leaky_relu", "log1mexp", "log_sigmoid",
    "log_softmax", "logmeanexp", "logsumexp", "mish", "one_hot", "relu", "relu6", "selu",
    "sigmoid", "silu", "soft_sign", "softmax", "softplus", "sparse_plus", "sparse_sigmoid",
    "squareplus", "standardize", "swish", "tanh",
]

Axis = int | Sequence[int] | None


def _err(name: str, msg: str) -> str:
    return f"functrans.nn.{name}: {msg}"


def _float(name: str, x: Any) -> Any:
    """``x`` as an array of an inexact dtype (integers become the default float, as in JAX)."""
    x = asarray_leaf(x)
    d = typeof(x)[0]
    if d.kind in "fc":
        return fnp.asarray(x)
    return cast(x, dt.canonicalize(float))


def _real_float(name: str, x: Any) -> Any:
    x = _float(name, x)
    if typeof(x)[0].kind == "c":
        raise DtypeError(_err(name, f"not defined for complex inputs, got {typeof(x)[0]}"))
    return x


def _c(x: Any, value: float) -> Any:
    """A 0-d constant of ``x``'s dtype, weakly typed when ``x`` is (so that ``relu(2.0)``
    stays a weak Python-scalar result, as in JAX)."""
    d, weak = typeof(x)
    return cast(value, d, weak=weak) if weak else np.asarray(value, d)


def _zeros_like(x: Any) -> Any:
    return lax.broadcast_in_dim(_c(x, 0), shape_of(x), ())


# --- piecewise-linear activations ---------------------------------------------------------------


@custom_jvp
def _relu(x: Any) -> Any:
    return lax.max(x, _c(x, 0))


@_relu.defjvp
def _relu_jvp(primals: Any, tangents: Any) -> Any:
    (x,), (t,) = primals, tangents
    return _relu(x), lax.select_n(lax.gt(x, _c(x, 0)), _zeros_like(t), t)


def relu(x: Any) -> Any:
    """``max(x, 0)``, elementwise; the derivative at 0 is 0 (as in JAX). NaN propagates.

    >>> import functrans as ft, functrans.nn as nn
    >>> float(ft.grad(nn.relu)(0.0))
    0.0
    """
    x = fnp.asarray(asarray_leaf(x))
    if typeof(x)[0].kind == "c":
        raise DtypeError(_err("relu", "not defined for complex inputs"))
    if typeof(x)[0] == dt.bool_:
        return x
    return _relu(x)


@custom_jvp
def _relu6(x: Any) -> Any:
    return lax.min(lax.max(x, _c(x, 0)), _c(x, 6))


@_relu6.defjvp
def _relu6_jvp(primals: Any, tangents: Any) -> Any:
    (x,), (t,) = primals, tangents
    inside = lax.bitwise_and(lax.gt(x, _c(x, 0)), lax.lt(x, _c(x, 6)))
    return _relu6(x), lax.select_n(inside, _zeros_like(t), t)


def relu6(x: Any) -> Any:
    """``min(max(x, 0), 6)``; the derivative is 0 at 0 and at 6 (as in JAX)."""
    x = fnp.asarray(asarray_leaf(x))
    if typeof(x)[0].kind in "cb":
        raise DtypeError(_err("relu6", f"needs a real numeric input, got {typeof(x)[0]}"))
    return _relu6(x)


def hard_tanh(x: Any) -> Any:
    """``x`` clipped to [-1, 1] (slope 1 at the ends, as in JAX's where-based definition)."""
    x = fnp.asarray(asarray_leaf(x))
    one = _c(x, 1)
    return fnp.where(fnp.greater(x, one), one, fnp.where(fnp.less(x, -one), -one, x))


def leaky_relu(x: Any, negative_slope: Any = 1e-2) -> Any:
    """``x`` where ``x >= 0``, else ``negative_slope * x``."""
    x = fnp.asarray(asarray_leaf(x))
    return fnp.where(fnp.greater_equal(x, 0), x, fnp.multiply(negative_slope, x))


def hard_sigmoid(x: Any) -> Any:
    """``relu6(x + 3) / 6``."""
    x = _real_float("hard_sigmoid", x)
    return lax.div(relu6(lax.add(x, _c(x, 3))), _c(x, 6))


def hard_silu(x: Any) -> Any:
    """``x * hard_sigmoid(x)``."""
    x = _real_float("hard_silu", x)
    return lax.mul(x, hard_sigmoid(x))


hard_swish = hard_silu


def identity(x: Any) -> Any:
    """``x`` itself."""
    return fnp.asarray(asarray_leaf(x))


# --- smooth activations -------------------------------------------------------------------------


def sigmoid(x: Any) -> Any:
    """The logistic function ``1 / (1 + exp(-x))``."""
    return lax.logistic(_float("sigmoid", x))


def tanh(x: Any) -> Any:
    """The hyperbolic tangent."""
    return lax.tanh(_float("tanh", x))


def silu(x: Any) -> Any:
    """``x * sigmoid(x)`` (swish)."""
    x = _float("silu", x)
    return lax.mul(x, lax.logistic(x))


swish = silu


@custom_jvp
def _softplus(x: Any) -> Any:
    # max(x, 0) + log1p(exp(-|x|)): no overflow for large |x|.
    return lax.add(lax.max(x, _c(x, 0)), lax.log1p(lax.exp(lax.neg(lax.abs(x)))))


@_softplus.defjvp
def _softplus_jvp(primals: Any, tangents: Any) -> Any:
    (x,), (t,) = primals, tangents
    return _softplus(x), lax.mul(t, lax.logistic(x))


def softplus(x: Any) -> Any:
    """``log(1 + exp(x))``, computed without overflow; its derivative is ``sigmoid(x)``."""
    return _softplus(_real_float("softplus", x))


def log_sigmoid(x: Any) -> Any:
    """``log(sigmoid(x)) = -softplus(-x)``."""
    x = _real_float("log_sigmoid", x)
    return lax.neg(_softplus(lax.neg(x)))


def soft_sign(x: Any) -> Any:
    """``x / (|x| + 1)``."""
    x = _float("soft_sign", x)
    return lax.div(x, lax.add(lax.abs(x), _c(x, 1)))


def elu(x: Any, alpha: Any = 1.0) -> Any:
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    x = _real_float("elu", x)
    safe = fnp.where(fnp.greater(x, 0), _c(x, 0), x)  # expm1 never sees large inputs
    return fnp.where(fnp.greater(x, 0), x, fnp.multiply(alpha, lax.expm1(safe)))


def celu(x: Any, alpha: Any = 1.0) -> Any:
    """``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``."""
    x = _real_float("celu", x)
    neg = fnp.minimum(x, _c(x, 0))
    return fnp.add(fnp.maximum(x, _c(x, 0)),
                   fnp.multiply(alpha, lax.expm1(fnp.true_divide(neg, alpha))))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x: Any) -> Any:
    """The scaled exponential linear unit: ``scale * elu(x, alpha)``."""
    x = _real_float("selu", x)
    return lax.mul(_c(x, _SELU_SCALE), elu(x, _SELU_ALPHA))


def gelu(x: Any, approximate: bool = True) -> Any:
    """The Gaussian error linear unit: ``x * Phi(x)``; ``approximate=True`` uses the tanh
    form ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))``, False the exact erf form."""
    x = _real_float("gelu", x)
    if approximate:
        inner = lax.mul(_c(x, math.sqrt(2 / math.pi)),
                        lax.add(x, lax.mul(_c(x, 0.044715), lax.integer_pow(x, 3))))
        return lax.mul(lax.mul(_c(x, 0.5), x), lax.add(_c(x, 1), lax.tanh(inner)))
    return lax.mul(x, lax.div(lax.erfc(lax.mul(lax.neg(x), _c(x, math.sqrt(0.5)))),
                              _c(x, 2)))


def mish(x: Any) -> Any:
    """``x * tanh(softplus(x))``."""
    x = _real_float("mish", x)
    return lax.mul(x, lax.tanh(softplus(x)))


def squareplus(x: Any, b: Any = 4) -> Any:
    """``(x + sqrt(x**2 + b)) / 2``."""
    x = _real_float("squareplus", x)
    b = cast(asarray_leaf(b), typeof(x)[0])
    return fnp.true_divide(fnp.add(x, fnp.sqrt(fnp.add(lax.mul(x, x), b))), 2)


def sparse_plus(x: Any) -> Any:
    """0 for x <= -1, (x + 1)**2 / 4 for |x| < 1, x for x >= 1."""
    x = _real_float("sparse_plus", x)
    mid = lax.div(lax.square(lax.add(x, _c(x, 1))), _c(x, 4))
    return fnp.where(fnp.less_equal(x, -1), _c(x, 0), fnp.where(fnp.greater_equal(x, 1), x,
                                                                 mid))


def sparse_sigmoid(x: Any) -> Any:
    """The derivative of sparse_plus: 0, (x + 1) / 2, 1."""
    x = _real_float("sparse_sigmoid", x)
    return lax.div(fnp.clip(lax.add(x, _c(x, 1)), 0, 2), _c(x, 2))


def log1mexp(x: Any) -> Any:
    """``log(1 - exp(-x))`` for x > 0, accurately for small and large x."""
    x = _real_float("log1mexp", x)
    small = fnp.less(x, np.log(2.0))
    # Each branch only ever sees arguments where it is finite.
    xs = fnp.where(small, x, _c(x, 1))
    xl = fnp.where(small, _c(x, 1), x)
    return fnp.where(small, lax.log(lax.neg(lax.expm1(lax.neg(xs)))),
                     lax.log1p(lax.neg(lax.exp(lax.neg(xl)))))


def glu(x: Any, axis: int = -1) -> Any:
    """The gated linear unit: the first half of ``x`` along ``axis`` times the sigmoid of the
    second half."""
    x = _float("glu", x)
    n = shape_of(x)
    if not n:
        raise ShapeError(_err("glu", "needs an array of rank >= 1"))
    ax = canonical_axes("glu", axis, len(n))[0]
    if n[ax] % 2:
        raise ShapeError(_err("glu", f"axis {axis} of an array of shape {n} must have an even "
                                     f"size"))
    a, b = split(x, 2, axis=ax)
    return lax.mul(a, lax.logistic(b))


# --- softmax and friends ------------------------------------------------------------------------


def _axes(name: str, x: Any, axis: Axis) -> tuple[int, ...]:
    return canonical_axes(name, axis, len(shape_of(x)))


def _safe_max(x: Any, axes: tuple[int, ...], initial: Any) -> Any:
    """The maximum over ``axes`` (kept) of an already masked ``x``, ``initial`` where
    everything is masked, with no gradient: it only shifts the exponent."""
    return lax.stop_gradient(fnp.max(x, axes, keepdims=True, initial=initial))


def _masked(x: Any, where: Any, fill: Any) -> Any:
    if where is None:
        return x
    return fnp.where(where, x, cast(asarray_leaf(fill), typeof(x)[0]))


def _softmax_value(x: Any, axes: tuple[int, ...], where: Any, initial: Any) -> Any:
    x = _masked(x, where, initial)
    unnormalized = fnp.exp(fnp.subtract(x, _safe_max(x, axes, initial)))
    out = fnp.true_divide(unnormalized, fnp.sum(unnormalized, axes, keepdims=True,
                                                where=where))
    return out if where is None else fnp.where(where, out, _c(out, 0))


def _softmax_tangent(y: Any, t: Any, axes: tuple[int, ...], where: Any) -> Any:
    # d softmax = y * (t - sum(y * t)): zero for entries whose probability is zero.
    yt = fnp.multiply(y, t)
    return fnp.subtract(yt, fnp.multiply(y, fnp.sum(yt, axes, keepdims=True, where=where)))


def _make_softmax(with_where: bool) -> custom_jvp:
    if with_where:
        def f(x: Any, where: Any, axes: tuple[int, ...], initial: Any) -> Any:
            return _softmax_value(x, axes, where, initial)

        fn = custom_jvp(f, nondiff_argnums=(2, 3))

        def rule(axes: tuple[int, ...], initial: Any, primals: Any, tangents: Any) -> Any:
            (x, where), (t, _) = primals, tangents
            y = fn(x, where, axes, initial)
            return y, _softmax_tangent(y, t, axes, where)
    else:
        def f(x: Any, axes: tuple[int, ...], initial: Any) -> Any:  # type: ignore[misc]
            return _softmax_value(x, axes, None, initial)

        fn = custom_jvp(f, nondiff_argnums=(1, 2))

        def rule(axes: tuple[int, ...], initial: Any, primals: Any,  # type: ignore[misc]
                 tangents: Any) -> Any:
            (x,), (t,) = primals, tangents
            y = fn(x, axes, initial)
            return y, _softmax_tangent(y, t, axes, None)

    fn.defjvp(rule)
    return fn


_SOFTMAX = {False: _make_softmax(False), True: _make_softmax(True)}


def _initial(initial: Any) -> float:
    return -np.inf if initial is None else float(initial)


def softmax(x: Any, axis: Axis = -1, where: Any = None, initial: Any = None) -> Any:
    """``exp(x) / sum(exp(x))`` over ``axis``, computed after subtracting the maximum.

    ``where`` restricts the normalization to the true entries (the others are 0); ``initial``
    is the value masked entries take before normalizing (default -inf). The derivative is
    JAX's custom one, ``y * (t - sum(y t))``: entries at -inf get exactly zero gradient.
    """
    x = _real_float("softmax", x)
    axes = _axes("softmax", x, axis)
    init = _initial(initial)
    if where is None:
        return _SOFTMAX[False](x, axes, init)
    where = fnp.broadcast_to(fnp.asarray(asarray_leaf(where)), shape_of(x))
    return _SOFTMAX[True](x, where, axes, init)


def log_softmax(x: Any, axis: Axis = -1, where: Any = None, initial: Any = None) -> Any:
    """``x - logsumexp(x)`` over ``axis``, stable; masked entries (``where`` false) are -inf.
    -inf inputs get zero gradient, as in JAX."""
    x = _real_float("log_softmax", x)
    axes = _axes("log_softmax", x, axis)
    init = _initial(initial)
    xs = _masked(x, where, init)
    shifted = fnp.subtract(xs, _safe_max(xs, axes, init))
    lse = fnp.log(fnp.sum(fnp.exp(shifted), axes, keepdims=True, where=where))
    out = fnp.subtract(shifted, lse)
    if where is not None:
        out = fnp.where(where, out, _c(out, -np.inf))
    return out


def logsumexp(a: Any, axis: Axis = None, b: Any = None, keepdims: bool = False,
              return_sign: bool = False, where: Any = None) -> Any:
    """``log(sum(b * exp(a)))`` over ``axis``, stable for large and infinite values (like
    jax.nn.logsumexp / scipy.special.logsumexp). With ``b``, a negative sum gives NaN unless
    ``return_sign``, which returns ``(log|sum|, sign)``. -inf entries (and ``where``-masked
    ones) get zero gradient."""
    a = _float("logsumexp", a)
    if b is not None:
        b = fnp.asarray(asarray_leaf(b))
        d = fnp.result_type(a, b)
        if d.kind not in "fc":
            d = dt.canonicalize(float)
        a, b = cast(a, d), cast(b, d)
        a, b = fnp.broadcast_arrays(a, b)
        a = fnp.where(fnp.not_equal(b, 0), a, _c(a, -np.inf))
    complex_ = typeof(a)[0].kind == "c"
    axes = _axes("logsumexp", a, axis)
    if where is not None:
        where = fnp.broadcast_to(fnp.asarray(asarray_leaf(where)), shape_of(a))
        a = fnp.where(where, a, _c(a, -np.inf))
    re = fnp.real(a)
    # `a` is already -inf where masked, so no `where` is needed here.
    amax = fnp.max(re, axes, keepdims=True, initial=-np.inf) if axes else re
    # A non-finite maximum (all -inf, or +inf present) shifts by 0 instead.
    amax = lax.stop_gradient(fnp.where(fnp.isfinite(amax), amax, _c(amax, 0)))
    exp_a = fnp.exp(fnp.subtract(a, cast(amax, typeof(a)[0])))
    if b is not None:
        exp_a = fnp.multiply(exp_a, b)
    sumexp = fnp.sum(exp_a, axes, keepdims=True, where=where)
    sign = fnp.sign(sumexp)
    if return_sign or not complex_:
        sumexp = fnp.absolute(sumexp)
    out = fnp.add(fnp.log(sumexp), cast(amax, typeof(sumexp)[0]))
    if not keepdims and axes:
        out = fnp.squeeze(out, axes)
        sign = fnp.squeeze(sign, axes)
    if return_sign:
        return out, sign
    if b is not None and not complex_:
        out = fnp.where(fnp.less(sign, 0), _c(out, np.nan), out)
    return out


def logmeanexp(a: Any, axis: Axis = None, where: Any = None, keepdims: bool = False) -> Any:
    """``log(mean(exp(a)))`` over ``axis``, stable."""
    a = _float("logmeanexp", a)
    axes = _axes("logmeanexp", a, axis)
    if where is None:
        n = math.prod(shape_of(a)[i] for i in axes)
        count: Any = _c(a, n)
    else:
        count = fnp.sum(fnp.broadcast_to(fnp.asarray(asarray_leaf(where)), shape_of(a)), axes,
                        dtype=typeof(a)[0], keepdims=keepdims)
    return fnp.subtract(logsumexp(a, axes, keepdims=keepdims, where=where), fnp.log(count))


# --- one_hot, standardize -----------------------------------------------------------------------


def one_hot(x: Any, num_classes: int, *, dtype: Any = None, axis: int = -1) -> Any:
    """``x``'s integer entries as one-hot vectors along a new ``axis`` (out-of-range entries
    give all zeros), in ``dtype`` (default: the default float dtype)."""
    x = fnp.asarray(asarray_leaf(x))
    num_classes = operator.index(num_classes)
    if num_classes < 0:
        raise ValueError(_err("one_hot", f"num_classes must be non-negative, got "
                                         f"{num_classes}"))
    d = typeof(x)[0]
    if d.kind not in "iub":
        raise DtypeError(_err("one_hot", f"x must hold integers, got {d}; use x.astype(int)"))
    out_dtype = dt.canonicalize(float if dtype is None else dtype)
    ndim = len(shape_of(x))
    pos = canonical_axes("one_hot", axis, ndim + 1)[0]
    lhs = lax.expand_dims(x, (pos,))
    rhs_shape = [1] * ndim
    rhs_shape.insert(pos, num_classes)
    iota_dtype = d if d.kind != "b" else dt.int32
    if d.kind == "b":
        lhs = cast(lhs, dt.int32)
    rhs = lax.broadcasted_iota(iota_dtype, tuple(rhs_shape), pos)
    return cast(fnp.equal(lhs, rhs), out_dtype)


def standardize(x: Any, axis: Axis = -1, mean: Any = None, variance: Any = None,
                epsilon: Any = 1e-5, where: Any = None) -> Any:
    """``(x - mean) / sqrt(variance + epsilon)`` with the statistics over ``axis`` (computed
    when not given; the variance as the mean squared deviation, which is stabler than JAX's
    E[x^2] - E[x]^2 and equal in exact arithmetic)."""
    x = _float("standardize", x)
    axes = _axes("standardize", x, axis)
    if mean is None:
        mean = fnp.mean(x, axes, keepdims=True, where=where)
    if variance is None:
        centered = fnp.subtract(x, mean)
        sq = fnp.real(fnp.multiply(centered, fnp.conjugate(centered)))
        variance = fnp.mean(sq, axes, keepdims=True, where=where)
    return fnp.multiply(fnp.subtract(x, mean),
                        lax.rsqrt(fnp.add(variance, cast(asarray_leaf(epsilon),
                                                         typeof(variance)[0]))))


# --- attention ----------------------------------------------------------------------------------


def dot_product_attention(query: Any, key: Any, value: Any, bias: Any = None, mask: Any = None,
                          *, scale: float | None = None, is_causal: bool = False,
                          query_seq_lengths: Any = None, key_value_seq_lengths: Any = None,
                          local_window_size: int | tuple[int, int] | None = None,
                          implementation: str | None = None) -> Any:
    """Scaled dot-product attention (like jax.nn.dot_product_attention, 'xla' implementation).

    ``query`` is ``(B, T, N, H)``, ``key``/``value`` ``(B, S, K, H)`` with ``N`` a multiple of
    ``K`` (grouped-query attention); the batch dimension may be omitted. ``bias`` and ``mask``
    (True = attend) broadcast to ``(B, N, T, S)``. Logits are computed and normalized in at
    least float32, then cast back to the query's dtype. A fully masked row attends uniformly
    (masked logits are a large negative number, as in JAX); query positions past
    ``query_seq_lengths`` give zeros.
    """
    if implementation not in (None, "xla"):
        raise NotImplementedError(_err("dot_product_attention", f"implementation="
                                                                f"{implementation!r} is not "
                                                                f"available; use None or 'xla'"))
    q, k, v = (fnp.asarray(asarray_leaf(t)) for t in (query, key, value))
    squeeze = len(shape_of(q)) == 3
    if squeeze:
        q, k, v = q[None], k[None], v[None]
    for name, t in (("query", q), ("key", k), ("value", v)):
        if len(shape_of(t)) != 4:
            raise ShapeError(_err("dot_product_attention", f"{name} must have shape (B, T, N, "
                                                           f"H) or (T, N, H), got "
                                                           f"{shape_of(t)}"))
    B, T, N, H = shape_of(q)  # noqa: N806
    Bk, S, K, Hk = shape_of(k)  # noqa: N806
    if shape_of(v) != shape_of(k) or Bk != B or Hk != H or N % K:
        raise ShapeError(_err("dot_product_attention",
                              f"incompatible shapes: query {shape_of(q)}, key {shape_of(k)}, "
                              f"value {shape_of(v)}; key and value must be (B, S, K, H) with "
                              f"the query's B and H, and K must divide N"))
    d = typeof(q)[0]
    if d.kind != "f":
        raise DtypeError(_err("dot_product_attention", f"query must be floating, got {d}"))
    k, v = cast(k, d), cast(v, d)
    G = N // K  # noqa: N806
    scale = 1.0 / math.sqrt(H) if scale is None else float(scale)
    qg = fnp.reshape(q, (B, T, K, G, H))
    logits = einsum("btkgh,bskh->bkgts", qg, k)
    compute = d if d.itemsize >= 4 else dt.float32
    logits = fnp.multiply(cast(logits, compute), scale)
    logits = fnp.reshape(logits, (B, N, T, S))
    if bias is not None:
        logits = fnp.add(logits, cast(_attention_operand(bias, squeeze), compute))
    keep = None if mask is None else fnp.asarray(_attention_operand(mask, squeeze)) != 0
    iq = lax.broadcasted_iota(dt.int32, (T, S), 0)
    ik = lax.broadcasted_iota(dt.int32, (T, S), 1)
    structural = None
    if is_causal:
        structural = fnp.greater_equal(iq, ik)
    if local_window_size is not None:
        left, right = ((local_window_size, local_window_size)
                       if isinstance(local_window_size, int) else local_window_size)
        window = fnp.logical_and(fnp.greater_equal(ik, fnp.subtract(iq, left)),
                                 fnp.less_equal(ik, fnp.add(iq, right)))
        structural = window if structural is None else fnp.logical_and(structural, window)
    if structural is not None:
        keep = structural if keep is None else fnp.logical_and(keep, structural)
    for lengths, axis in ((query_seq_lengths, 2), (key_value_seq_lengths, 3)):
        if lengths is not None:
            lengths = fnp.asarray(asarray_leaf(lengths))
            if shape_of(lengths) != (B,):
                raise ShapeError(_err("dot_product_attention", f"sequence lengths must have "
                                                               f"shape ({B},), got "
                                                               f"{shape_of(lengths)}"))
            size = T if axis == 2 else S
            pos = lax.broadcasted_iota(dt.int32, (1, 1, size) if axis == 2 else (1, 1, 1, size),
                                       axis)
            if axis == 2:
                pos = fnp.reshape(pos, (1, 1, T, 1))
            valid = fnp.less(pos, fnp.reshape(cast(lengths, dt.int32), (B, 1, 1, 1)))
            keep = valid if keep is None else fnp.logical_and(keep, valid)
    if keep is not None:
        keep = fnp.broadcast_to(keep, (B, N, T, S))
        big_neg = _c(logits, -0.7 * float(np.finfo(typeof(logits)[0]).max))
        logits = fnp.where(keep, logits, big_neg)
    # A fully masked row averages all values uniformly, as in JAX.
    probs = cast(softmax(logits, axis=-1), d)
    pg = fnp.reshape(probs, (B, K, G, T, S))
    out = einsum("bkgts,bskh->btkgh", pg, v)
    out = fnp.reshape(out, (B, T, N, H))
    if query_seq_lengths is not None:
        # Padded query positions give zeros (JAX multiplies them out).
        rows = fnp.less(fnp.reshape(lax.iota(dt.int32, T), (1, T, 1, 1)),
                        fnp.reshape(cast(fnp.asarray(asarray_leaf(query_seq_lengths)),
                                         dt.int32), (B, 1, 1, 1)))
        out = fnp.multiply(out, cast(rows, d))
    return out[0] if squeeze else out


def _attention_operand(x: Any, squeeze: bool) -> Any:
    x = fnp.asarray(asarray_leaf(x))
    if squeeze and len(shape_of(x)) == 3:
        x = x[None]
    return x
