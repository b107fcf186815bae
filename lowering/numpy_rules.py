"""The NumPy backend's lowering table: primitive name -> a function producing the source
expression that computes the equation.

A rule is ``rule(ctx, eqn, ins) -> str | None``: ``ins`` are the source names of the inputs;
``ctx.const(value)`` registers a value in the module's constants table and returns its name.
Returning None means "no specialised form for these params/dtypes": the backend then calls the
primitive's own NumPy ``impl`` (every primitive has one), so every primitive lowers. Rules
never put a value's repr in the source: only names, ints and tuples of ints.
Imports numpy and the primitive families (for their NumPy helpers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from functrans.ir import Eqn
from functrans.primitives import special

Rule = Callable[[Any, Eqn, list[str]], "str | None"]
RULES: dict[str, Rule] = {}


def _ints(values: Any) -> str:
    """A tuple of ints as source (ints only: never a repr of anything else)."""
    return "(" + "".join(f"{int(v)}, " for v in values) + ")"


def _in_dtype(eqn: Eqn, i: int = 0) -> np.dtype:
    return eqn.invars[i].aval.dtype


def _out_dtype(eqn: Eqn) -> np.dtype:
    return eqn.outvars[0].aval.dtype


_UFUNCS: dict[str, tuple[str, str]] = {}  # primitive -> (NumPy ufunc name, dtype kinds)


def _ufunc(np_name: str, kinds: str = "biufc") -> Rule:
    def rule(ctx: Any, eqn: Eqn, ins: list[str]) -> str | None:
        if _in_dtype(eqn).kind not in kinds:
            return None
        return f"np.{np_name}({', '.join(ins)})"
    return rule


def ufunc_name(eqn: Eqn) -> str | None:
    """The NumPy ufunc that computes ``eqn`` exactly (so it can write into ``out=``)."""
    entry = _UFUNCS.get(eqn.prim.name)
    if entry is None or _in_dtype(eqn).kind not in entry[1]:
        return None
    return entry[0]


for _prim, _np, _kinds in [
    ("neg", "negative", "iufc"), ("floor", "floor", "f"), ("ceil", "ceil", "f"),
    ("abs", "abs", "iufc"), ("exp", "exp", "fc"), ("exp2", "exp2", "f"),
    ("expm1", "expm1", "fc"), ("log", "log", "fc"), ("log1p", "log1p", "fc"),
    ("sqrt", "sqrt", "fc"), ("cbrt", "cbrt", "f"), ("sin", "sin", "fc"), ("cos", "cos", "fc"),
    ("tan", "tan", "fc"), ("asin", "arcsin", "fc"), ("acos", "arccos", "fc"),
    ("atan", "arctan", "fc"), ("sinh", "sinh", "fc"), ("cosh", "cosh", "fc"),
    ("tanh", "tanh", "fc"), ("asinh", "arcsinh", "fc"), ("acosh", "arccosh", "fc"),
    ("atanh", "arctanh", "fc"), ("is_finite", "isfinite", "f"), ("square", "square", "iufc"),
    ("reciprocal", "reciprocal", "fc"), ("not", "invert", "biu"), ("real", "real", "c"),
    ("imag", "imag", "c"), ("conj", "conj", "fc"), ("sign", "sign", "iuf"),
    ("add", "add", "iufc"), ("sub", "subtract", "iufc"), ("mul", "multiply", "iufc"),
    ("max", "maximum", "biuf"), ("min", "minimum", "biuf"), ("atan2", "arctan2", "f"),
    ("nextafter", "nextafter", "f"), ("and", "bitwise_and", "biu"),
    ("or", "bitwise_or", "biu"), ("xor", "bitwise_xor", "biu"), ("eq", "equal", "biufc"),
    ("ne", "not_equal", "biufc"), ("lt", "less", "biuf"), ("le", "less_equal", "biuf"),
    ("gt", "greater", "biuf"), ("ge", "greater_equal", "biuf"), ("pow", "power", "fc"),
    ("div", "true_divide", "fc"), ("rem", "fmod", "f"),
]:
    RULES[_prim] = _ufunc(_np, _kinds)
    if isinstance(getattr(np, _np), np.ufunc):  # np.real and np.imag take no out=
        _UFUNCS[_prim] = (_np, _kinds)


def _special(fn: Callable) -> Rule:
    def rule(ctx: Any, eqn: Eqn, ins: list[str]) -> str:
        return f"{ctx.const(fn, 'special function')}({ins[0]})"
    return rule


for _prim, _fn in [("erf", special.erf), ("erfc", special.erfc), ("erf_inv", special.erf_inv),
                   ("lgamma", special.lgamma), ("digamma", special.digamma)]:
    RULES[_prim] = _special(_fn)


def _rsqrt(ctx: Any, eqn: Eqn, ins: list[str]) -> str:
    return f"np.reciprocal(np.sqrt({ins[0]}))"


def _round(ctx: Any, eqn: Eqn, ins: list[str]) -> str | None:
    return f"np.round({ins[0]})" if eqn.params["rounding_method"] == 1 else None


def _integer_pow(ctx: Any, eqn: Eqn, ins: list[str]) -> str | None:
    y = int(eqn.params["y"])
    if y < 0:
        return None
    return f"np.power({ins[0]}, {ctx.const(np.asarray(y, _in_dtype(eqn)), 'exponent')})"


def _select_n(ctx: Any, eqn: Eqn, ins: list[str]) -> str | None:
    if len(ins) != 3 or _in_dtype(eqn).kind != "b":
        return None
    return f"np.where({ins[0]}, {ins[2]}, {ins[1]})"


def _clamp(ctx: Any, eqn: Eqn, ins: list[str]) -> str:
    lo, x, hi = ins
    return f"np.minimum(np.maximum({x}, {lo}), {hi})"


def _convert(ctx: Any, eqn: Eqn, ins: list[str]) -> str | None:
    src, dst = _in_dtype(eqn), eqn.params["new_dtype"]
    if dst.kind == "b":
        return f"np.not_equal({ins[0]}, 0)" if src.kind != "c" else None
    if src.kind == "c" and dst.kind != "c":
        return None  # drops the imaginary part: the impl does it without warnings
    if src.kind == "f" and dst.kind in "iu":
        return None  # saturating float -> int conversion lives in the impl
    return f"np.asarray({ins[0]}).astype({ctx.const(dst, 'dtype')})"


def _reduce(np_name: str, needs_nonempty: bool = False) -> Rule:
    def rule(ctx: Any, eqn: Eqn, ins: list[str]) -> str | None:
        axes = tuple(eqn.params["axes"])
        shape = eqn.invars[0].aval.shape
        if needs_nonempty and any(shape[a] == 0 for a in axes):
            return None
        # ufunc.reduce directly: np.sum & co. add a Python-level wrapper per call.
        ufunc = {"sum": "add", "prod": "multiply", "max": "maximum", "min": "minimum"}[np_name]
        dtype = ctx.const(_out_dtype(eqn), "dtype")
        return f"np.{ufunc}.reduce({ins[0]}, axis={_ints(axes)}, dtype={dtype})"
    return rule


RULES["reduce_sum"] = _reduce("sum")
RULES["reduce_prod"] = _reduce("prod")
RULES["reduce_max"] = _reduce("max", needs_nonempty=True)
RULES["reduce_min"] = _reduce("min", needs_nonempty=True)


def _bool_reduce(np_name: str) -> Rule:
    def rule(ctx: Any, eqn: Eqn, ins: list[str]) -> str | None:
        if _in_dtype(eqn).kind != "b":
            return None
        return f"np.{np_name}({ins[0]}, axis={_ints(eqn.params['axes'])})"
    return rule


RULES["reduce_and"] = _bool_reduce("all")
RULES["reduce_or"] = _bool_reduce("any")


def _arg(np_name: str) -> Rule:
    def rule(ctx: Any, eqn: Eqn, ins: list[str]) -> str | None:
        (axis,) = eqn.params["axes"]
        if eqn.invars[0].aval.shape[axis] == 0 or _in_dtype(eqn).kind == "c":
            return None
        dtype = ctx.const(eqn.params["index_dtype"], "dtype")
        return f"np.asarray(np.{np_name}({ins[0]}, axis={int(axis)})).astype({dtype})"
    return rule


RULES["argmax"] = _arg("argmax")
RULES["argmin"] = _arg("argmin")


def _cumulative(np_name: str) -> Rule:
    def rule(ctx: Any, eqn: Eqn, ins: list[str]) -> str | None:
        if eqn.params.get("reverse"):
            return None
        dtype = ctx.const(_out_dtype(eqn), "dtype")
        return f"np.{np_name}({ins[0]}, axis={int(eqn.params['axis'])}, dtype={dtype})"
    return rule


RULES["cumsum"] = _cumulative("cumsum")
RULES["cumprod"] = _cumulative("cumprod")


def _broadcast_in_dim(ctx: Any, eqn: Eqn, ins: list[str]) -> str:
    shape = tuple(eqn.params["shape"])
    dims = tuple(eqn.params["broadcast_dimensions"])
    operand_shape = eqn.invars[0].aval.shape
    expanded = [1] * len(shape)
    for d, size in zip(dims, operand_shape, strict=True):
        expanded[d] = size
    return f"np.broadcast_to(np.reshape({ins[0]}, {_ints(expanded)}), {_ints(shape)})"


def _reshape(ctx: Any, eqn: Eqn, ins: list[str]) -> str | None:
    if eqn.params.get("dimensions") is not None:
        return None
    return f"np.reshape({ins[0]}, {_ints(eqn.outvars[0].aval.shape)})"


def _to_out_shape(ctx: Any, eqn: Eqn, ins: list[str]) -> str:
    return f"np.reshape({ins[0]}, {_ints(eqn.outvars[0].aval.shape)})"


def _transpose(ctx: Any, eqn: Eqn, ins: list[str]) -> str:
    return f"np.transpose({ins[0]}, {_ints(eqn.params['permutation'])})"


def _index_expr(pieces: list[str]) -> str:
    if not pieces:
        return "[()]"
    return "[" + ", ".join(pieces) + ("," if len(pieces) == 1 else "") + "]"


def _rev(ctx: Any, eqn: Eqn, ins: list[str]) -> str:
    dims = set(eqn.params["dimensions"])
    ndim = len(eqn.invars[0].aval.shape)
    return ins[0] + _index_expr(["::-1" if i in dims else ":" for i in range(ndim)])


def _slice(ctx: Any, eqn: Eqn, ins: list[str]) -> str:
    starts, limits = eqn.params["start_indices"], eqn.params["limit_indices"]
    strides = eqn.params.get("strides") or (1,) * len(starts)
    pieces = [f"{int(a)}:{int(b)}:{int(c)}" for a, b, c in zip(starts, limits, strides,
                                                                strict=True)]
    return ins[0] + _index_expr(pieces)


def _concatenate(ctx: Any, eqn: Eqn, ins: list[str]) -> str:
    return f"np.concatenate(({', '.join(ins)},), axis={int(eqn.params['dimension'])})"


def _dot_general(ctx: Any, eqn: Eqn, ins: list[str]) -> str | None:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    preferred = eqn.params.get("preferred_element_type")
    if preferred is not None and preferred != _in_dtype(eqn):  # (dtype == None is True!)
        return None
    la, ra = eqn.invars[0].aval, eqn.invars[1].aval
    if _in_dtype(eqn).kind == "b":
        return None
    a, b = ins
    nb = len(lb)
    if tuple(lb) != tuple(range(nb)) or tuple(rb) != tuple(range(nb)):
        return None
    if la.ndim == nb + 2 and ra.ndim == nb + 2 and tuple(lc) == (nb + 1,):
        if tuple(rc) == (nb,):
            return f"np.matmul({a}, {b})"
        if tuple(rc) == (nb + 1,):
            return f"np.matmul({a}, np.swapaxes({b}, -1, -2))"
    if nb == 0 and la.ndim == 2 and ra.ndim == 2 and tuple(lc) == (0,) and tuple(rc) == (0,):
        return f"np.matmul({a}.T, {b})"
    if nb == 0 and la.ndim == 1 and ra.ndim == 2 and tuple(lc) == (0,) and tuple(rc) == (0,):
        return f"np.matmul({a}, {b})"
    if nb == 0 and la.ndim == 2 and ra.ndim == 1 and tuple(lc) == (1,) and tuple(rc) == (0,):
        return f"np.matmul({a}, {b})"
    return _dot_general_any(eqn, a, b)


def _dot_general_any(eqn: Eqn, a: str, b: str) -> str:
    """Any dot_general as transposes, reshapes and one matmul, all worked out now (the impl
    would redo that bookkeeping on every call). With nothing to contract (an outer product,
    e.g. per-example weight gradients) it is a broadcast multiply instead."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    ls, rs = eqn.invars[0].aval.shape, eqn.invars[1].aval.shape
    lf = [d for d in range(len(ls)) if d not in lc and d not in lb]
    rf = [d for d in range(len(rs)) if d not in rc and d not in rb]
    batch = [ls[d] for d in lb]
    lfree, rfree = [ls[d] for d in lf], [rs[d] for d in rf]
    k = 1
    for d in lc:
        k *= ls[d]
    out_shape = eqn.outvars[0].aval.shape
    lhs = f"np.transpose({a}, {_ints([*lb, *lf, *lc])})"
    rhs = f"np.transpose({b}, {_ints([*rb, *rf, *rc])})"
    if k == 1:
        lhs_b = f"np.reshape({lhs}, {_ints([*batch, *lfree, *[1] * len(rfree)])})"
        rhs_b = f"np.reshape({rhs}, {_ints([*batch, *[1] * len(lfree), *rfree])})"
        return f"np.multiply({lhs_b}, {rhs_b})"
    bsz = 1
    for d in batch:
        bsz *= d
    m = 1
    for d in lfree:
        m *= d
    n = 1
    for d in rfree:
        n *= d
    lhs3 = f"np.reshape({lhs}, {_ints([bsz, m, k])})"
    rhs3 = f"np.swapaxes(np.reshape({rhs}, {_ints([bsz, n, k])}), 1, 2)"
    return f"np.reshape(np.matmul({lhs3}, {rhs3}), {_ints(out_shape)})"


RULES.update({
    "rsqrt": _rsqrt, "round": _round,
    "integer_pow": _integer_pow, "select_n": _select_n, "safe_select_n": _select_n,
    "clamp": _clamp, "convert_element_type": _convert, "broadcast_in_dim": _broadcast_in_dim,
    "reshape": _reshape, "squeeze": _to_out_shape, "expand_dims": _to_out_shape,
    "transpose": _transpose, "rev": _rev, "slice": _slice, "concatenate": _concatenate,
    "dot_general": _dot_general,
})

# Primitives after which floating-point warnings (overflow, invalid, divide) are possible:
# a module containing one runs its body under np.errstate(all="ignore"), like eager mode.
QUIET_FAMILIES = {"unary", "binary", "select", "convert", "reduction", "cumulative",
                  "contraction", "linalg", "fft"}

# Control flow (cond, while, scan): runners that loop over compiled sub-programs.
from functrans.lowering.numpy_control_flow import RULES as _CONTROL_FLOW_RULES

RULES.update(_CONTROL_FLOW_RULES)
