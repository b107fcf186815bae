"""Windowed reductions: ``reduce_window_sum``, ``reduce_window_max`` and ``reduce_window_min``
(with lax's generic ``reduce_window`` dispatching to them), the ``select_and_gather_add`` and
``select_and_scatter_add`` primitives that differentiate max/min pooling, and the
``max_pool``/``avg_pool`` helpers that ``functrans.nn`` re-exports.

Every window op takes JAX's params: ``window_dimensions``, ``window_strides``, ``padding``
((low, high) per dimension; negative crops), ``base_dilation`` and ``window_dilation``. Impls
take a strided view of the padded operand's windows (shared with ``convolution``) and reduce
it. The derivative of a window max/min is the mean of the tangents where the window's extreme
is attained (ties share it, as in ``reduce_max``'s rule), excluding padding. Imports ``core``,
``registry``, ``rules``, ``ad_rules``, ``batch_rules``, ``elementwise``, ``structural``,
``slicing`` and ``convolution`` (window helpers).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import ShapeError
from functrans.primitives import rules
from functrans.primitives.ad_rules import JVPRule, Zero, is_undefined, jvp_linear, tangent_aval
from functrans.primitives.batch_rules import AxisData, BatchRule, bdim_at_front
from functrans.primitives.convolution import (
    _conv_general_vjp_lhs_padding, dilate_dim, padtype_to_pads, strided_dim, window_view,
)
from functrans.primitives.elementwise import (
    add, convert_element_type, div, ge_p, le_p, max_, min_, mul,
)
from functrans.primitives.reductions import _max_identity, _min_identity
from functrans.primitives.registry import Example, Primitive, define_primitive, get_primitive
from functrans.primitives.slicing import pad
from functrans.primitives.structural import broadcast_in_dim

__all__ = [
    "reduce_window", "reduce_window_max_p", "reduce_window_min_p", "reduce_window_sum_p",
    "select_and_gather_add_p", "select_and_scatter_add_p",
]

Pairs = tuple[tuple[int, int], ...]
Ints = tuple[int, ...]


# --- shared parameter checks --------------------------------------------------------------------


def window_shape(name: str, operand: ShapedArray, window_dimensions: Ints, window_strides: Ints,
                 padding: Pairs, base_dilation: Ints, window_dilation: Ints) -> Ints:
    """Check the window params against ``operand`` and return the output shape."""
    rank = operand.ndim
    per = f"operand dimension (rank {rank})"
    for what, value in (("window_dimensions", window_dimensions),
                        ("window_strides", window_strides), ("base_dilation", base_dilation),
                        ("window_dilation", window_dilation)):
        rules.check_window_ints(name, what, value, rank, per, 1)
    rules.check_padding(name, padding, rank, per)
    out = []
    for d, (size, w, s, (lo, hi), b, wd) in enumerate(zip(
            operand.shape, window_dimensions, window_strides, padding, base_dilation,
            window_dilation, strict=True)):
        padded = dilate_dim(size, b) + lo + hi
        if padded < 0:
            raise ShapeError(f"functrans.lax.{name}: padding {(lo, hi)} of dimension {d} of "
                             f"{operand.str_short()} is more negative than the (dilated) "
                             f"dimension is long")
        out.append(strided_dim(padded, dilate_dim(w, wd), s))
    return tuple(out)


def _windows(x: np.ndarray, fill: Any, params: dict) -> np.ndarray:
    """The windows of every dimension of ``x``: shape out_shape + window_dimensions."""
    return window_view(x, fill, tuple(range(x.ndim)), params["window_dimensions"],
                       params["window_strides"], params["padding"], params["base_dilation"],
                       params["window_dilation"])


def _window_axes(ndim: int) -> Ints:
    return tuple(range(ndim, 2 * ndim))


def _window_sample(dtype: np.dtype, extremum: bool) -> list[Example]:
    """Window samples. For inexact extremum samples no window lies wholly in padding (its
    constant -inf result defeats finite differences); tests/test_reduce_window.py covers it."""
    def p(wd: Ints, ws: Ints | None = None, pad_: Pairs | None = None, bd: Ints | None = None,
          wdil: Ints | None = None) -> dict:
        n = len(wd)
        return {"window_dimensions": wd, "window_strides": ws or (1,) * n,
                "padding": pad_ or ((0, 0),) * n, "base_dilation": bd or (1,) * n,
                "window_dilation": wdil or (1,) * n}

    cases = [
        ((4, 5), p((2, 2), (2, 1), ((0, 1), (1, 0))), "pool"),
        ((6,), p((3,), (2,), ((1, 1),), wdil=(2,)), "window-dilation"),
        ((2, 3, 4), p((1, 2, 2), (1, 1, 2), ((0, 0), (1, 0), (0, 1)), bd=(1, 2, 1)),
         "base-dilation"),
        ((), p(()), "0-d"),
        ((0, 3), p((1, 2)), "empty"),
        ((5,), p((2,), (1,), ((-1, -1),)), "negative-padding"),
        ((3, 2), p((4, 1)), "empty-output"),
        ((2, 3), p((2, 3), (1, 1), ((0, 1), (1, 1)), wdil=(1, 1)), "big-window"),
    ]
    if not extremum:
        cases.append(((3,), p((2,), (1,), ((2, 2),), bd=(2,)), "all-padding-windows"))
    return [Example((rules.sample_array(shape, dtype, seed=k),), params, note)
            for k, (shape, params, note) in enumerate(cases)]


# --- reduce_window_sum, reduce_window_max, reduce_window_min -----------------------------------


def _reduce_window_rule(name: str, allowed: frozenset) -> Callable:
    def abstract_eval(operand: ShapedArray, **params: Any) -> ShapedArray:
        rules.check_dtype(name, operand, allowed)
        shape = window_shape(name, operand, **params)
        return ShapedArray(shape, operand.dtype, operand.weak_type)

    return abstract_eval


def _reduce_window_sum_impl(x: np.ndarray, **params: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        out = np.sum(_windows(x, 0, params), axis=_window_axes(x.ndim), dtype=x.dtype)
    return np.asarray(out, x.dtype)


def _reduce_window_max_impl(x: np.ndarray, **params: Any) -> np.ndarray:
    return np.asarray(np.max(_windows(x, _max_identity(x.dtype), params),
                             axis=_window_axes(x.ndim)), x.dtype)


def _reduce_window_min_impl(x: np.ndarray, **params: Any) -> np.ndarray:
    return np.asarray(np.min(_windows(x, _min_identity(x.dtype), params),
                             axis=_window_axes(x.ndim)), x.dtype)


def _reduce_window_sum_transpose(ct: Any, operand: Any, *, window_dimensions: Ints,
                                 window_strides: Ints, padding: Pairs, base_dilation: Ints,
                                 window_dilation: Ints) -> list[Any]:
    """JAX's _reduce_window_sum_transpose_rule: spread the cotangent over each window by
    dilating it by the strides, padding it, and summing windows of it taken at the base
    dilation (every window of ones is its own flip)."""
    if not is_undefined(operand):
        raise ValueError("functrans: reduce_window_sum transposed with a defined operand")
    in_shape = operand.aval.shape
    ct_shape = core.get_aval(ct).shape
    pads = _conv_general_vjp_lhs_padding(in_shape, window_dimensions, window_strides, ct_shape,
                                         padding, base_dilation, window_dilation)
    config = [(lo, hi, s - 1) for (lo, hi), s in zip(pads, window_strides, strict=True)]
    padded = pad(ct, np.zeros((), core.get_aval(ct).dtype), config)
    ones = (1,) * len(in_shape)
    out = reduce_window_sum_p.bind(padded, window_dimensions=window_dimensions,
                                   window_strides=base_dilation,
                                   padding=((0, 0),) * len(in_shape), base_dilation=ones,
                                   window_dilation=window_dilation)
    return [out]


def _insert_unit_window(params: dict, bdim: int) -> dict:
    """The params of a window op on an operand with a batch dimension at ``bdim``: a window
    of one element, stride one and no padding or dilation there (JAX's batching rule)."""
    unit = {"window_dimensions": 1, "window_strides": 1, "padding": (0, 0),
            "base_dilation": 1, "window_dilation": 1}
    out = dict(params)
    for key, value in unit.items():
        seq = list(params[key])
        seq.insert(bdim, value)
        out[key] = tuple(seq)
    return out


def _reduce_window_batch() -> BatchRule:
    """JAX's _reduce_window_batch_rule: a unit window along the batch dimension, which stays
    where it is."""

    def build(prim: Primitive) -> Callable:
        def rule(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None],
                 **params: Any) -> tuple[Any, int]:
            (x,), (bdim,) = vals, dims
            return prim.bind(x, **_insert_unit_window(params, bdim)), bdim

        return rule

    return BatchRule(build)


def _chooser_jvp(select_prim: Primitive) -> JVPRule:
    """JAX's _reduce_window_chooser_jvp_rule: the tangent of each window's extreme, through
    select_and_gather_add (defined below; looked up when the rule runs)."""

    def build(prim: Primitive) -> Callable:
        def rule(primals: Sequence[Any], tangents: Sequence[Any], **params: Any) -> Any:
            (x,), (t,) = primals, tangents
            ans = prim.bind(x, **params)
            if type(t) is Zero:
                return ans, Zero(tangent_aval(core.get_aval(ans)))
            return ans, select_and_gather_add_p.bind(t, x, select_prim=select_prim, **params)

        return rule

    return JVPRule(build)


_NUMERIC = frozenset(dt.NUMERIC)
_ORDERED = frozenset(dt.REAL + dt.BOOL)

reduce_window_sum_p = define_primitive(
    "reduce_window_sum", family="reduction", impl=_reduce_window_sum_impl,
    abstract_eval=_reduce_window_rule("reduce_window_sum", _NUMERIC), dtypes=dt.NUMERIC,
    sample=lambda dtype: _window_sample(dtype, False), jvp=jvp_linear(),
    transpose=_reduce_window_sum_transpose, linear_in=(0,), batch=_reduce_window_batch(),
    doc="sum over each (strided, padded, dilated) window")
reduce_window_max_p = define_primitive(
    "reduce_window_max", family="reduction", impl=_reduce_window_max_impl,
    abstract_eval=_reduce_window_rule("reduce_window_max", _ORDERED), dtypes=dt.REAL + dt.BOOL,
    sample=lambda dtype: _window_sample(dtype, dtype.kind == "f"),
    jvp=_chooser_jvp(ge_p), batch=_reduce_window_batch(),
    doc="maximum over each window (padding is -inf / the dtype's minimum)")
reduce_window_min_p = define_primitive(
    "reduce_window_min", family="reduction", impl=_reduce_window_min_impl,
    abstract_eval=_reduce_window_rule("reduce_window_min", _ORDERED), dtypes=dt.REAL + dt.BOOL,
    sample=lambda dtype: _window_sample(dtype, dtype.kind == "f"),
    jvp=_chooser_jvp(le_p), batch=_reduce_window_batch(),
    doc="minimum over each window (padding is +inf / the dtype's maximum)")


# --- select_and_gather_add, select_and_scatter_add ---------------------------------------------


def _chooser_weights(operand: np.ndarray, select_prim: Primitive, params: dict) -> np.ndarray:
    """Per window (shape out + window), the share of each element in the window's extreme:
    1/k at the k positions (not padding) attaining it, NaNs counting as attaining a NaN
    extreme; all zeros for a window made only of padding."""
    is_max = select_prim is ge_p
    fill = _max_identity(operand.dtype) if is_max else _min_identity(operand.dtype)
    win = _windows(operand, fill, params)
    valid = _windows(np.ones(operand.shape, np.bool_), False, params)
    axes = _window_axes(operand.ndim)
    ext = (np.max if is_max else np.min)(win, axis=axes, keepdims=True)
    with np.errstate(invalid="ignore"):
        hit = valid & ((win == ext) | (np.isnan(win) & np.isnan(ext)))
    count = np.sum(hit, axis=axes, keepdims=True)
    return (hit / np.maximum(count, 1)).astype(operand.dtype)


def _select_and_gather_add_impl(tangents: np.ndarray, operand: np.ndarray, *,
                                select_prim: Primitive, **params: Any) -> np.ndarray:
    weights = _chooser_weights(operand, select_prim, params)
    out = np.sum(weights * _windows(tangents, 0, params), axis=_window_axes(operand.ndim))
    return np.asarray(out, tangents.dtype)


def _select_and_scatter_add_impl(source: np.ndarray, operand: np.ndarray, *,
                                 select_prim: Primitive, **params: Any) -> np.ndarray:
    ndim = operand.ndim
    weights = _chooser_weights(operand, select_prim, params)
    contrib = weights * source.reshape(source.shape + (1,) * ndim)
    # Window element k of output o sits at o * stride + k * window_dilation of the padded,
    # dilated operand: accumulate every contribution there (bincount sums duplicates).
    padded_shape = [dilate_dim(n, b) + lo + hi for n, b, (lo, hi) in zip(
        operand.shape, params["base_dilation"], params["padding"], strict=True)]
    flat = np.zeros(contrib.shape, np.int64)
    row_stride = 1
    for d in reversed(range(ndim)):
        o = np.arange(source.shape[d]) * params["window_strides"][d]
        k = np.arange(params["window_dimensions"][d]) * params["window_dilation"][d]
        shape = [1] * (2 * ndim)
        shape[d], shape[ndim + d] = source.shape[d], params["window_dimensions"][d]
        coord = (o[:, None] + k[None, :]).reshape(shape)
        flat = flat + coord * row_stride
        row_stride *= padded_shape[d]
    size = math.prod(padded_shape)
    if size == 0 or operand.size == 0:
        return np.zeros(operand.shape, operand.dtype)
    total = np.bincount(flat.reshape(-1), weights=contrib.reshape(-1).astype(np.float64),
                        minlength=size)
    out = total[:size].reshape(padded_shape)
    # Operand element i landed at lo + i * base_dilation (if inside the cropped range).
    for d in range(ndim):
        pos = params["padding"][d][0] + np.arange(operand.shape[d]) * params["base_dilation"][d]
        inside = (pos >= 0) & (pos < padded_shape[d])
        taken = np.take(out, np.clip(pos, 0, padded_shape[d] - 1), axis=d)
        out = np.where(inside.reshape([-1 if i == d else 1 for i in range(ndim)]), taken, 0.0)
    return np.asarray(out, operand.dtype)


def _select_rule(name: str, first: str) -> Callable:
    def abstract_eval(x: ShapedArray, operand: ShapedArray, *, select_prim: Primitive,
                      **params: Any) -> ShapedArray:
        if select_prim not in (ge_p, le_p):
            raise ValueError(f"functrans.lax.{name}: select_prim must be lax.ge_p (max) or "
                             f"lax.le_p (min), got {select_prim!r}")
        rules.check_same_dtypes(name, (x, operand))
        rules.check_dtype(name, operand, frozenset(dt.FLOATING))
        out_shape = window_shape(name, operand, **params)
        want = operand.shape if name == "select_and_gather_add" else out_shape
        if x.shape != want:
            raise ShapeError(f"functrans.lax.{name}: {first} {x.str_short()} must have shape "
                             f"{want} for operand {operand.str_short()} and these windows")
        shape = out_shape if name == "select_and_gather_add" else operand.shape
        return ShapedArray(shape, operand.dtype, False)

    return abstract_eval


def _select_sample(gather: bool) -> Callable:
    def sample(dtype: np.dtype) -> list[Example]:
        out = []
        for k, ex in enumerate(_window_sample(dtype, extremum=True)):
            (operand,) = ex.args
            for sel in (ge_p, le_p) if k < 3 else (ge_p,):
                aval = core.get_aval(operand)
                shape = aval.shape if gather else window_shape("sample", aval, **ex.params)
                first = rules.sample_array(shape, dtype, seed=50 + k)
                out.append(Example((first, operand), {"select_prim": sel, **ex.params},
                                   f"{ex.note}-{sel.name}"))
        return out[:12]

    return sample


def _select_jvp() -> JVPRule:
    """Both are linear in their first operand and piecewise constant in ``operand``."""

    def build(prim: Primitive) -> Callable:
        def rule(primals: Sequence[Any], tangents: Sequence[Any], **params: Any) -> Any:
            (x, operand), (t, _) = primals, tangents
            ans = prim.bind(x, operand, **params)
            if type(t) is Zero:
                return ans, Zero(tangent_aval(core.get_aval(ans)))
            return ans, prim.bind(t, operand, **params)

        return rule

    return JVPRule(build)


def _select_transpose(prim_name: str, other_name: str) -> Callable:
    """select_and_gather_add and select_and_scatter_add are each other's transposes in their
    first operand (JAX's _select_and_gather_add_transpose, here with any dilation)."""

    def rule(ct: Any, x: Any, operand: Any, **params: Any) -> list[Any]:
        if is_undefined(operand):
            raise ValueError(f"functrans: {prim_name} is not linear in its operand")
        return [get_primitive(other_name).bind(ct, operand, **params), None]

    return rule


def _select_batch() -> BatchRule:
    def build(prim: Primitive) -> Callable:
        def rule(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], *,
                 select_prim: Primitive, **params: Any) -> tuple[Any, int]:
            (x, operand), (xd, od) = vals, dims
            if xd is not None and xd == od:
                bdim = xd
            else:
                x, operand, bdim = bdim_at_front(x, xd, axis.size), bdim_at_front(
                    operand, od, axis.size), 0
            return prim.bind(x, operand, select_prim=select_prim,
                             **_insert_unit_window(params, bdim)), bdim

        return rule

    return BatchRule(build)


select_and_gather_add_p = define_primitive(
    "select_and_gather_add", family="reduction", impl=_select_and_gather_add_impl,
    abstract_eval=_select_rule("select_and_gather_add", "tangents"), dtypes=dt.FLOATING,
    sample=_select_sample(gather=True), jvp=_select_jvp(),
    transpose=_select_transpose("select_and_gather_add", "select_and_scatter_add"),
    linear_in=(0,), batch=_select_batch(),
    doc="per window, the mean of tangents where operand attains the window's max (select_prim "
        "ge) or min (le)")
select_and_scatter_add_p = define_primitive(
    "select_and_scatter_add", family="reduction", impl=_select_and_scatter_add_impl,
    abstract_eval=_select_rule("select_and_scatter_add", "source"), dtypes=dt.FLOATING,
    sample=_select_sample(gather=False), jvp=_select_jvp(),
    transpose=_select_transpose("select_and_scatter_add", "select_and_gather_add"),
    linear_in=(0,), batch=_select_batch(),
    doc="add each window's source value to the operand positions attaining the window's "
        "max (ge) or min (le), shared equally among ties")


# --- lax.reduce_window --------------------------------------------------------------------------


def _monoid(computation: Any) -> str | None:
    """Which window primitive a ``computation`` is: lax.add/max/min, their functrans.numpy
    counterparts, or operator.add."""
    if computation in (add, operator.add):
        return "sum"
    if computation is max_:
        return "max"
    if computation is min_:
        return "min"
    import functrans.numpy as fnp  # functrans.numpy imports lax, which imports this module
    return {id(fnp.add): "sum", id(fnp.maximum): "max", id(fnp.minimum): "min"}.get(
        id(computation))


def _normalize_window(operand: Any, window_dimensions: Sequence[int],
                      window_strides: Sequence[int], padding: Any,
                      base_dilation: Sequence[int] | None,
                      window_dilation: Sequence[int] | None) -> dict:
    shape = core.get_aval(operand).shape
    ones = (1,) * len(shape)

    def ints(v: Any, what: str) -> Ints:
        return ones if v is None else rules.int_tuple("reduce_window", what, v)

    dims = ints(window_dimensions, "window_dimensions")
    strides = ints(window_strides, "window_strides")
    if isinstance(padding, str):
        if len(dims) != len(shape) or len(strides) != len(shape):
            raise ShapeError(f"functrans.lax.reduce_window: window_dimensions={dims} and "
                             f"window_strides={strides} need one entry per dimension of "
                             f"{core.get_aval(operand).str_short()}")
        pads = tuple(padtype_to_pads(shape, dims, strides, padding))
    else:
        pads = rules.int_pairs("reduce_window", padding, "'SAME', 'VALID'")
    return {"window_dimensions": dims, "window_strides": strides, "padding": pads,
            "base_dilation": ints(base_dilation, "base_dilation"),
            "window_dilation": ints(window_dilation, "window_dilation")}


def _init_like(init_value: Any, aval: ShapedArray) -> Any:
    if type(init_value) in (bool, int, float, complex):
        return np.asarray(init_value, aval.dtype)
    init = core.get_aval(init_value)
    if init.shape == () and init.weak_type and init.dtype != aval.dtype:
        # A weakly typed scalar (a Python number, also when traced) takes the operand's dtype.
        return convert_element_type(init_value, aval.dtype)
    if init.shape != () or init.dtype != aval.dtype:
        raise ShapeError(f"functrans.lax.reduce_window: init_value must be a scalar of the "
                         f"operand's dtype {aval.dtype}, got {init.str_short()}")
    return init_value


def reduce_window(operand: Any, init_value: Any, computation: Callable,
                  window_dimensions: Sequence[int], window_strides: Sequence[int],
                  padding: Any, base_dilation: Sequence[int] | None = None,
                  window_dilation: Sequence[int] | None = None) -> Any:
    """``lax.reduce_window`` for the monoids add, max and min.

    Reduces each window of ``operand`` with ``computation`` (lax.add, lax.max or lax.min, or
    functrans.numpy.add/maximum/minimum) starting from ``init_value``; as in XLA, padding and
    base-dilation holes hold ``init_value``. ``padding`` is 'SAME', 'VALID' or (low, high)
    pairs per dimension. Other computations (and several operands) raise NotImplementedError.
    """
    if isinstance(operand, (list, tuple)) or isinstance(init_value, (list, tuple)):
        raise NotImplementedError("functrans.lax.reduce_window: several operands (a variadic "
                                  "reduce_window) are not supported; reduce each operand "
                                  "separately")
    kind = _monoid(computation)
    if kind is None:
        shown = getattr(computation, "__name__", repr(computation))
        raise NotImplementedError(
            f"functrans.lax.reduce_window: computation {shown} is not supported; functrans "
            f"reduces windows with lax.add, lax.max or lax.min (or functrans.numpy.add, "
            f"maximum, minimum). Write other reductions from these, e.g. a window product as "
            f"exp of a window sum of logs.")
    aval = core.get_aval(operand)
    params = _normalize_window(operand, window_dimensions, window_strides, padding,
                               base_dilation, window_dilation)
    init = _init_like(init_value, aval)
    concrete = core.concrete_or_none(init)
    if kind == "sum":
        out = reduce_window_sum_p.bind(operand, **params)
        if concrete is not None and np.all(np.asarray(concrete) == 0):
            return out
        # init enters each window once, plus once per padding or dilation hole it covers.
        real = _reduce_window_sum_impl(np.ones(aval.shape, np.int64), **params)
        holes = 1 + math.prod(params["window_dimensions"]) - real
        return add(out, mul(convert_element_type(holes, aval.dtype),
                            _broadcast_scalar(init, holes.shape)))
    prim, identity, combine = ((reduce_window_max_p, _max_identity(aval.dtype), max_)
                               if kind == "max" else
                               (reduce_window_min_p, _min_identity(aval.dtype), min_))
    out = prim.bind(operand, **params)
    if concrete is not None and np.asarray(concrete) == identity:
        return out
    return combine(out, _broadcast_scalar(init, core.get_aval(out).shape))


def _broadcast_scalar(x: Any, shape: Ints) -> Any:
    return broadcast_in_dim(x, shape, ()) if shape else x


# --- pooling helpers (re-exported by functrans.nn) ----------------------------------------------


def _pool(name: str, inputs: Any, window_shape: Sequence[int], strides: Sequence[int] | None,
          padding: Any) -> dict:
    """flax.linen's pooling layout: ``inputs`` is (batch..., window dims..., features), or
    unbatched (window dims..., features)."""
    aval = core.get_aval(inputs)
    window_shape = tuple(operator.index(w) for w in window_shape)
    nw = len(window_shape)
    nbatch = aval.ndim - nw - 1
    if nbatch < 0:
        raise ShapeError(f"functrans.nn.{name}: inputs {aval.str_short()} need {nw} window "
                         f"dimensions and a feature dimension (rank >= {nw + 1})")
    strides = (1,) * nw if strides is None else tuple(operator.index(s) for s in strides)
    if len(strides) != nw:
        raise ShapeError(f"functrans.nn.{name}: strides={strides} must have one entry per "
                         f"window dimension ({nw})")
    dims = (1,) * nbatch + window_shape + (1,)
    all_strides = (1,) * nbatch + strides + (1,)
    if not isinstance(padding, str):
        padding = tuple(tuple(p) for p in padding)
        if len(padding) != nw:
            raise ShapeError(f"functrans.nn.{name}: padding={padding} must have one (low, "
                             f"high) pair per window dimension ({nw})")
        padding = ((0, 0),) * nbatch + padding + ((0, 0),)
    return _normalize_window(inputs, dims, all_strides, padding, None, None)


def max_pool(inputs: Any, window_shape: Sequence[int], strides: Sequence[int] | None = None,
             padding: Any = "VALID") -> Any:
    """Max pooling over windows of ``window_shape`` of ``inputs`` laid out as (batch...,
    spatial..., features) (flax.linen.max_pool). ``padding``: 'SAME', 'VALID' or (low, high)
    pairs per window dimension; padding never wins the max."""
    params = _pool("max_pool", inputs, window_shape, strides, padding)
    return reduce_window_max_p.bind(inputs, **params)


def avg_pool(inputs: Any, window_shape: Sequence[int], strides: Sequence[int] | None = None,
             padding: Any = "VALID", count_include_pad: bool = True) -> Any:
    """Average pooling (flax.linen.avg_pool): window sums divided by the window size, or,
    with ``count_include_pad=False``, by the number of input elements in each window."""
    aval = core.get_aval(inputs)
    if aval.dtype.kind not in "fc":
        inputs = convert_element_type(inputs, dt.canonicalize(float))
        aval = core.get_aval(inputs)
    params = _pool("avg_pool", inputs, window_shape, strides, padding)
    total = reduce_window_sum_p.bind(inputs, **params)
    if count_include_pad:
        size = math.prod(params["window_dimensions"])
        return div(total, np.asarray(size, aval.dtype))
    return div(total, _window_counts(aval.shape, aval.dtype, **params))


@functools.lru_cache(maxsize=32)
def _window_counts(shape: Ints, dtype: np.dtype, **params: Any) -> np.ndarray:
    """avg_pool's divisor without padding: the number of input elements in each window
    (cached: a model pools the same shapes at every step). Windows made only of padding get
    1, so their average is 0/1 = 0 rather than NaN."""
    counts = _reduce_window_sum_impl(np.ones(shape, dtype), **params)
    counts = np.maximum(counts, 1).astype(dtype)
    counts.flags.writeable = False
    return counts
