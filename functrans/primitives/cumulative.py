"""Cumulative (scan) primitives along one axis: cumsum, cumprod, cummax, cummin, cumlogsumexp.

Each is ``ufunc.accumulate`` along ``axis``, forwards or (``reverse=True``) from the end. As in
``lax``, the result keeps the operand's shape and dtype: integer sums and products wrap, cummax
and cummin propagate NaN, and cumlogsumexp is the numerically stable running
``log(sum(exp(x)))`` (``np.logaddexp``). Imports ``core``, ``dtypes``, ``errors``, ``registry``,
``rules`` and the axis helper of ``reductions``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from functrans import core
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import ShapeError
from functrans.primitives import rules
from functrans.primitives.reductions import normalize_axis
from functrans.primitives.registry import Example, Primitive, define_primitive

__all__ = [
    "cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp",
    "cumsum_p", "cumprod_p", "cummax_p", "cummin_p", "cumlogsumexp_p",
]


def _accumulate(ufunc: np.ufunc) -> Callable:
    def impl(x: np.ndarray, *, axis: int, reverse: bool) -> np.ndarray:
        out = np.empty_like(x)
        with np.errstate(all="ignore"):
            if reverse:
                # Accumulate the flipped operand into a flipped view of `out`: no extra copy.
                ufunc.accumulate(np.flip(x, axis), axis=axis, dtype=x.dtype,
                                 out=np.flip(out, axis))
            else:
                ufunc.accumulate(x, axis=axis, dtype=x.dtype, out=out)
        return out

    impl.__name__ = f"_{ufunc.__name__}_accumulate"
    return impl


def _cumulative_rule(name: str, dtypes: tuple) -> Callable:
    allowed = frozenset(dtypes)

    def abstract_eval(operand: ShapedArray, *, axis: int, reverse: bool) -> ShapedArray:
        rules.check_dtype(name, operand, allowed)
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise TypeError(f"functrans.lax.{name}: axis must be an int, got {axis!r}")
        if not 0 <= axis < operand.ndim:
            raise ShapeError(f"functrans.lax.{name}: axis {axis} is out of range for "
                             f"{operand.str_short()} (rank {operand.ndim}); a cumulative "
                             f"operation needs an operand of rank >= 1")
        if not isinstance(reverse, (bool, np.bool_)):
            raise TypeError(f"functrans.lax.{name}: reverse must be a bool, got {reverse!r}")
        return operand

    return abstract_eval


_CUMULATIVE_CASES: tuple[tuple[tuple[int, ...], int, bool], ...] = (
    ((0,), 0, False), ((4,), 0, False), ((4,), 0, True), ((2, 3), 0, False),
    ((2, 3), 1, True), ((2, 0), 1, False), ((0, 3), 0, True), ((2, 3, 4), 1, True),
)


def _cumulative_sample(dtype: np.dtype) -> list[Example]:
    out = [Example((rules.sample_array(shape, dtype, seed=i),),
                   {"axis": axis, "reverse": reverse})
           for i, (shape, axis, reverse) in enumerate(_CUMULATIVE_CASES)]
    if dtype.kind == "f":
        special_vals = np.array([[1.0, np.nan, 2.0, -np.inf], [-np.inf, -np.inf, np.inf, 0.0]],
                                dtype)
        out.append(Example((special_vals,), {"axis": 1, "reverse": False}, note="nan-inf"))
    return out


def _cumulative(name: str, ufunc: np.ufunc, dtypes: tuple, doc: str
                ) -> tuple[Primitive, Callable]:
    """Define a cumulative primitive and its ``lax`` wrapper."""
    prim = define_primitive(name, family="cumulative", impl=_accumulate(ufunc),
                            abstract_eval=_cumulative_rule(name, dtypes), dtypes=dtypes,
                            sample=_cumulative_sample, doc=doc)

    def wrapper(operand: Any, axis: int = 0, reverse: bool = False) -> Any:
        ndim = core.get_aval(operand).ndim
        return prim.bind(operand, axis=normalize_axis(axis, ndim), reverse=bool(reverse))

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = (f"Running {doc} of ``operand`` along ``axis`` (from the end when "
                       f"``reverse``); same shape and dtype as the operand.")
    return prim, wrapper


cumsum_p, cumsum = _cumulative("cumsum", np.add, dt.NUMERIC, "sum (integers wrap around)")
cumprod_p, cumprod = _cumulative("cumprod", np.multiply, dt.NUMERIC,
                                 "product (integers wrap around)")
cummax_p, cummax = _cumulative("cummax", np.maximum, dt.REAL, "maximum (NaN propagates)")
cummin_p, cummin = _cumulative("cummin", np.minimum, dt.REAL, "minimum (NaN propagates)")
cumlogsumexp_p, cumlogsumexp = _cumulative("cumlogsumexp", np.logaddexp, dt.FLOATING,
                                           "log-sum-exp (numerically stable)")
