"""The Triton backend's lowering table: primitive name -> Triton source for one element.

A rule is ``fn(k, eqn, ins) -> str``: ``ins`` are the source names of the operands (already
loaded or computed in the kernel, half types held as float32), and the result is an
expression in the output's *compute* dtype (float32 for float16, else the dtype itself).
``k`` is the kernel being written: ``k.let(expr)`` names a temporary, ``k.const(value, dtype)``
writes a typed constant, ``k.helper(name)`` imports a helper from ``kernels/tl_math.py``, and
``k.is_scalar(name)`` says whether a value is 0-d. Each row says which dtypes it handles;
outside them (complex numbers, say) the primitive runs through a fallback instead.

Semantics follow the primitives' NumPy impls exactly: integer division truncates (x/0 is -1),
``rem`` is C's fmod (x%0 is x), max/min propagate NaN, float->int conversion saturates with
NaN -> 0, shifts out of range give 0 (or the sign). functrans.numpy builds NumPy's floor
semantics for ``//`` and ``%`` out of these, so they hold on the GPU too.

``FALLBACK_XP`` gives array-API forms (``fn(xp, *arrays, **params)``) for primitives that have
no Triton rule but whose computation CuPy provides; ``FALLBACK_REASONS`` is the known-gaps
table: why each remaining primitive is not (yet) a generated kernel.
Imports numpy and the IR only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from functrans.ir import Eqn

# --- dtypes -------------------------------------------------------------------------------------

TL_TYPES = {
    "bool": "tl.int1", "int8": "tl.int8", "int16": "tl.int16", "int32": "tl.int32",
    "int64": "tl.int64", "uint8": "tl.uint8", "uint16": "tl.uint16", "uint32": "tl.uint32",
    "uint64": "tl.uint64", "float16": "tl.float16", "float32": "tl.float32",
    "float64": "tl.float64",
}
POINTER_TYPES = {  # as Triton's launcher specializes them (it canonicalizes bool to u1)
    "bool": "*u1", "int8": "*i8", "int16": "*i16", "int32": "*i32", "int64": "*i64",
    "uint8": "*u8", "uint16": "*u16", "uint32": "*u32", "uint64": "*u64", "float16": "*fp16",
    "float32": "*fp32", "float64": "*fp64",
}


def supported_dtype(dtype: np.dtype) -> bool:
    return np.dtype(dtype).name in TL_TYPES


def tl_type(dtype: np.dtype) -> str:
    return TL_TYPES[np.dtype(dtype).name]


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a value is held in inside a kernel: half types compute in float32."""
    d = np.dtype(dtype)
    return np.dtype(np.float32) if d == np.float16 else d


def _in(eqn: Eqn, i: int = 0) -> np.dtype:
    return eqn.invars[i].aval.dtype


def _out(eqn: Eqn) -> np.dtype:
    return eqn.outvars[0].aval.dtype


def _all_supported(eqn: Eqn) -> bool:
    return (all(supported_dtype(a.aval.dtype) for a in eqn.invars)
            and all(supported_dtype(v.aval.dtype) for v in eqn.outvars))


def _kinds(kinds: str) -> Callable[[Eqn], bool]:
    def ok(eqn: Eqn) -> bool:
        return _all_supported(eqn) and _in(eqn).kind in kinds
    return ok


FLOAT, INT, REAL_K, NUM, ANY = "f", "iu", "iuf", "iuf", "biuf"


@dataclass(frozen=True)
class Rule:
    fn: Callable[..., str]
    ok: Callable[[Eqn], bool]
    exact_half: bool = False  # the result of half inputs needs no rounding back to float16
    tensor_args: bool = False  # operands must be tensors (they go to @triton.jit helpers)


RULES: dict[str, Rule] = {}


def rule_for(eqn: Eqn) -> Rule | None:
    """The rule that lowers ``eqn`` as an elementwise expression, or None."""
    r = RULES.get(eqn.prim.name)
    if r is None or not r.ok(eqn):
        return None
    return r


def _add(name: str, fn: Callable[..., str], ok: Callable[[Eqn], bool],
         exact_half: bool = False, tensor_args: bool = False) -> None:
    RULES[name] = Rule(fn, ok, exact_half, tensor_args)


# --- unary math ---------------------------------------------------------------------------------


def _tl(fn_name: str) -> Callable[..., str]:
    return lambda k, eqn, ins: f"tl.{fn_name}({ins[0]})"


_CORE = {"exp", "exp2", "log", "sqrt", "sin", "cos", "floor", "ceil", "erf"}


def _helper(fn_name: str) -> Callable[..., str]:
    return lambda k, eqn, ins: f"{k.helper(fn_name)}({ins[0]})"


for _name, _fn in [("exp", _tl("exp")), ("exp2", _tl("exp2")), ("log", _tl("log")),
                   ("sqrt", _tl("sqrt")), ("sin", _tl("sin")), ("cos", _tl("cos")),
                   ("floor", _tl("floor")), ("ceil", _tl("ceil")), ("erf", _tl("erf")),
                   ("expm1", _helper("expm1")), ("log1p", _helper("log1p")),
                   ("tanh", _helper("tanh")), ("sinh", _helper("sinh")),
                   ("cosh", _helper("cosh")), ("tan", _helper("tan")),
                   ("asin", _helper("asin")), ("acos", _helper("acos")),
                   ("atan", _helper("atan")), ("asinh", _helper("asinh")),
                   ("acosh", _helper("acosh")), ("atanh", _helper("atanh")),
                   ("cbrt", _helper("cbrt")), ("logistic", _helper("logistic"))]:
    _add(_name, _fn, _kinds(FLOAT), exact_half=_name in ("floor", "ceil"),
         tensor_args=_fn.__name__ == "<lambda>" and _name not in _CORE)

_add("rsqrt", lambda k, eqn, ins: f"1.0 / tl.sqrt({ins[0]})", _kinds(FLOAT))
_add("reciprocal", lambda k, eqn, ins: f"1.0 / {ins[0]}", _kinds(FLOAT))
_add("is_finite", lambda k, eqn, ins: f"tl.abs({ins[0]}) < float(\"inf\")", _kinds(FLOAT))
_add("abs", lambda k, eqn, ins: f"tl.abs({ins[0]})", _kinds(NUM), exact_half=True)
_add("square", lambda k, eqn, ins: f"{ins[0]} * {ins[0]}", _kinds(NUM))
_add("conj", lambda k, eqn, ins: ins[0], _kinds(NUM), exact_half=True)


def _neg(k: Any, eqn: Eqn, ins: list[str]) -> str:
    if _in(eqn).kind == "u":
        return f"{k.const(0, _in(eqn))} - {ins[0]}"
    return f"-{ins[0]}"


_add("neg", _neg, _kinds(NUM), exact_half=True)


def _sign(k: Any, eqn: Eqn, ins: list[str]) -> str:
    d, x = _in(eqn), ins[0]
    if d.kind == "f":
        return f"{k.helper('sign')}({x})"
    one, zero = k.const(1, d), k.const(0, d)
    if d.kind == "u":
        return f"tl.where({x} > {zero}, {one}, {zero})"
    return f"tl.where({x} > {zero}, {one}, tl.where({x} < {zero}, {k.const(-1, d)}, {zero}))"


_add("sign", _sign, _kinds(NUM), exact_half=True, tensor_args=True)


def _round(k: Any, eqn: Eqn, ins: list[str]) -> str:
    helper = "round_even" if eqn.params.get("rounding_method", 0) == 1 else "round_away"
    return f"{k.helper(helper)}({ins[0]})"


_add("round", _round, _kinds(FLOAT), exact_half=True, tensor_args=True)


def _integer_pow(k: Any, eqn: Eqn, ins: list[str]) -> str:
    y = int(eqn.params["y"])
    x = ins[0]
    if y == 0:
        return f"tl.zeros_like({x}) + {k.const(1, compute_dtype(_in(eqn)))}"
    n = abs(y)
    # Square-and-multiply, like NumPy's integer power of a float.
    result: str | None = None
    base = x
    while n:
        if n & 1:
            result = base if result is None else k.let(f"{result} * {base}")
        n >>= 1
        if n:
            base = k.let(f"{base} * {base}")
    assert result is not None
    if y < 0:
        return f"1.0 / {result}"
    return result


def _integer_pow_ok(eqn: Eqn) -> bool:
    return _kinds(NUM)(eqn) and (int(eqn.params["y"]) >= 0 or _in(eqn).kind == "f")


_add("integer_pow", _integer_pow, _integer_pow_ok)


def _not(k: Any, eqn: Eqn, ins: list[str]) -> str:
    if _in(eqn).kind == "b":
        return f"{ins[0]} == 0"
    return f"~{ins[0]}"


_add("not", _not, _kinds("biu"), exact_half=True)

for _name in ("copy", "stop_gradient", "checkpoint_name"):
    _add(_name, lambda k, eqn, ins: ins[0], _kinds(ANY), exact_half=True)

# --- binary arithmetic --------------------------------------------------------------------------

_add("add", lambda k, eqn, ins: f"{ins[0]} + {ins[1]}", _kinds(NUM))
_add("sub", lambda k, eqn, ins: f"{ins[0]} - {ins[1]}", _kinds(NUM))
_add("mul", lambda k, eqn, ins: f"{ins[0]} * {ins[1]}", _kinds(NUM))


def _div(k: Any, eqn: Eqn, ins: list[str]) -> str:
    d = _in(eqn)
    x, y = ins
    if d.kind == "f":
        return f"{x} / {y}"
    zero, one = k.const(0, d), k.const(1, d)
    safe = k.let(f"tl.where({y} == {zero}, {one}, {y})")
    # Triton's integer // truncates toward zero (C), as lax.div does; x / 0 is -1.
    return f"tl.where({y} == {zero}, {k.const(-1, d)}, {x} // {safe})"


def _rem(k: Any, eqn: Eqn, ins: list[str]) -> str:
    d = _in(eqn)
    x, y = ins
    if d.kind == "f":
        return f"{x} % {y}"  # fmod: the sign of x
    zero, one = k.const(0, d), k.const(1, d)
    safe = k.let(f"tl.where({y} == {zero}, {one}, {y})")
    return f"tl.where({y} == {zero}, {x}, {x} % {safe})"


_add("div", _div, _kinds(NUM))
_add("rem", _rem, _kinds(NUM))


def _max_min(which: str) -> Callable[..., str]:
    def fn(k: Any, eqn: Eqn, ins: list[str]) -> str:
        d = _in(eqn)
        x, y = ins
        if d.kind == "b":
            return k.bool_op("|" if which == "maximum" else "&", x, y)
        if d.kind == "f":
            return f"{k.helper(which)}({x}, {y})"
        return f"tl.{which}({x}, {y})"
    return fn


_add("max", _max_min("maximum"), _kinds(ANY), exact_half=True, tensor_args=True)
_add("min", _max_min("minimum"), _kinds(ANY), exact_half=True, tensor_args=True)


def _pow(k: Any, eqn: Eqn, ins: list[str]) -> str:
    x, y = ins
    if _in(eqn) == np.float64:
        return f"{k.helper('power')}({x}, {y})"
    # float32 (and half, held as float32): exp2(y * log2|x|) in float64 keeps full accuracy.
    return (f"{k.helper('power')}({x}.to(tl.float64), {y}.to(tl.float64))"
            f".to(tl.float32)")


_add("pow", _pow, _kinds(FLOAT), tensor_args=True)
_add("atan2", lambda k, eqn, ins: f"{k.helper('atan2')}({ins[0]}, {ins[1]})", _kinds(FLOAT),
     tensor_args=True)


def _bitwise(op: str) -> Callable[..., str]:
    def fn(k: Any, eqn: Eqn, ins: list[str]) -> str:
        if _in(eqn).kind == "b":
            return k.bool_op(op, ins[0], ins[1])
        return f"{ins[0]} {op} {ins[1]}"
    return fn


_add("and", _bitwise("&"), _kinds("biu"), exact_half=True)
_add("or", _bitwise("|"), _kinds("biu"), exact_half=True)
_add("xor", _bitwise("^"), _kinds("biu"), exact_half=True)


def _bits(d: np.dtype) -> int:
    return np.dtype(d).itemsize * 8


def _signed(d: np.dtype) -> str:
    return TL_TYPES[f"int{_bits(d)}"]


def _unsigned(d: np.dtype) -> str:
    return TL_TYPES[f"uint{_bits(d)}"]


def _shift_left(k: Any, eqn: Eqn, ins: list[str]) -> str:
    d = _in(eqn)
    x, y = ins
    zero = k.const(0, d)
    bad = k.let(f"({y} < {zero}) | ({y} >= {k.const(_bits(d), d)})")
    return f"tl.where({bad}, {zero}, {x} << tl.where({bad}, {zero}, {y}))"


def _shift_right_arithmetic(k: Any, eqn: Eqn, ins: list[str]) -> str:
    d = _in(eqn)
    x, y = ins
    top = k.const(_bits(d) - 1, d)
    amount = k.let(f"tl.where(({y} < {k.const(0, d)}) | ({y} > {top}), {top}, {y})")
    if d.kind == "u":
        s = _signed(d)
        return (f"({x}.to({s}, bitcast=True) >> {amount}.to({s}, bitcast=True))"
                f".to({tl_type(d)}, bitcast=True)")
    return f"{x} >> {amount}"


def _shift_right_logical(k: Any, eqn: Eqn, ins: list[str]) -> str:
    d = _in(eqn)
    x, y = ins
    zero = k.const(0, d)
    bad = k.let(f"({y} < {zero}) | ({y} >= {k.const(_bits(d), d)})")
    safe = f"tl.where({bad}, {zero}, {y})"
    if d.kind == "i":
        u = _unsigned(d)
        shifted = (f"({x}.to({u}, bitcast=True) >> {safe}.to({u}, bitcast=True))"
                   f".to({tl_type(d)}, bitcast=True)")
    else:
        shifted = f"{x} >> {safe}"
    return f"tl.where({bad}, {zero}, {shifted})"


_add("shift_left", _shift_left, _kinds(INT))
_add("shift_right_arithmetic", _shift_right_arithmetic, _kinds(INT))
_add("shift_right_logical", _shift_right_logical, _kinds(INT))


# --- comparisons ----------------------------------------------------------------------------------


def _compare(op: str) -> Callable[..., str]:
    def fn(k: Any, eqn: Eqn, ins: list[str]) -> str:
        x, y = ins
        if _in(eqn).kind == "b" and op not in ("==", "!="):
            # int1 compares as signed (True == -1): compare as small integers instead.
            x, y = f"{x}.to(tl.int8)", f"{y}.to(tl.int8)"
        return f"{x} {op} {y}"
    return fn


for _name, _op in [("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="), ("gt", ">"),
                   ("ge", ">=")]:
    _add(_name, _compare(_op), _kinds(ANY), exact_half=True)


# --- select, clamp, conversions -----------------------------------------------------------------


def _select_n(k: Any, eqn: Eqn, ins: list[str]) -> str:
    which, *cases = ins
    if len(cases) == 1:
        return cases[0]
    if _in(eqn).kind == "b":
        return f"tl.where({which}, {cases[1]}, {cases[0]})"
    d = _in(eqn)
    expr = cases[-1]
    for i in range(len(cases) - 2, -1, -1):
        cond = f"{which} <= {k.const(i, d)}"
        expr = f"tl.where({cond}, {cases[i]}, {expr})"
    return expr


def _select_ok(eqn: Eqn) -> bool:
    return _all_supported(eqn)


_add("select_n", _select_n, _select_ok, exact_half=True)
_add("safe_select_n", _select_n, _select_ok, exact_half=True)


def _clamp(k: Any, eqn: Eqn, ins: list[str]) -> str:
    lo, x, hi = ins
    d = _in(eqn, 1)
    if d.kind == "f":
        mx, mn = k.helper("maximum"), k.helper("minimum")
        return f"{mn}({mx}({x}, {lo}), {hi})"
    return f"tl.minimum(tl.maximum({x}, {lo}), {hi})"


_add("clamp", _clamp, _kinds(REAL_K), exact_half=True, tensor_args=True)


def _convert(k: Any, eqn: Eqn, ins: list[str]) -> str:
    src, dst = _in(eqn), np.dtype(eqn.params["new_dtype"])
    x = ins[0]
    if dst.kind == "b":
        return f"{x} != {k.const(0, compute_dtype(src))}"
    if src == dst:
        return x
    if src.kind == "b":
        return f"{x}.to(tl.int8).to({tl_type(compute_dtype(dst))})"
    if src.kind == "f" and dst.kind in "iu":
        info = np.iinfo(dst)
        value, hi, lo = k.let_many(
            f"{k.helper('float_to_int')}({x}, {float(info.min)!r}, {float(info.max)!r})", 3)
        t = tl_type(dst)
        return (f"tl.where({hi}, {k.const(int(info.max), dst)}, tl.where({lo}, "
                f"{k.const(int(info.min), dst)}, {value}.to({t})))")
    if dst == np.float16:
        # Round straight to float16 (no double rounding through float32), then hold as f32.
        return f"{x}.to(tl.float16).to(tl.float32)"
    return f"{x}.to({tl_type(compute_dtype(dst))})"


def _convert_ok(eqn: Eqn) -> bool:
    return _all_supported(eqn) and supported_dtype(eqn.params["new_dtype"])


_add("convert_element_type", _convert, _convert_ok, exact_half=True)


def _bitcast(k: Any, eqn: Eqn, ins: list[str]) -> str:
    src, dst = _in(eqn), np.dtype(eqn.params["new_dtype"])
    x = ins[0]
    if src == np.float16:
        x = f"{x}.to(tl.float16)"
    out = f"{x}.to({tl_type(dst)}, bitcast=True)"
    if dst == np.float16:
        out = f"{out}.to(tl.float32)"
    return out


def _bitcast_ok(eqn: Eqn) -> bool:
    dst = np.dtype(eqn.params["new_dtype"])
    return (_all_supported(eqn) and supported_dtype(dst) and dst.kind != "b"
            and _in(eqn).kind != "b" and dst.itemsize == _in(eqn).itemsize)


_add("bitcast_convert_type", _bitcast, _bitcast_ok, exact_half=True)


# --- reductions (combined by the row kernel) ------------------------------------------------------

REDUCTIONS = {
    # name: (combine helper in tl_math, identity kind)
    "reduce_sum": ("add", "zero"),
    "reduce_prod": ("multiply", "one"),
    "reduce_max": ("maximum", "lowest"),
    "reduce_min": ("minimum", "highest"),
    "reduce_and": ("bit_and", "true"),
    "reduce_or": ("bit_or", "false"),
    "reduce_xor": ("bit_xor", "false"),
}
ARG_REDUCTIONS = {"argmax": "argmax_combine", "argmin": "argmin_combine"}


def reduction_ok(eqn: Eqn) -> bool:
    name = eqn.prim.name
    if name not in REDUCTIONS and name not in ARG_REDUCTIONS:
        return False
    if not _all_supported(eqn):
        return False
    d = _in(eqn)
    if name in ("reduce_and", "reduce_or", "reduce_xor") and d.kind not in "biu":
        return False
    if name in ("reduce_max", "reduce_min") and d.kind == "b":
        return False
    if name in ARG_REDUCTIONS and (d.kind == "b" or len(eqn.params["axes"]) != 1):
        return False
    shape = eqn.invars[0].aval.shape
    axes = tuple(eqn.params["axes"])
    # An empty reduction has no elements to combine: the impl handles it (fallback).
    return all(shape[a] > 0 for a in axes)


def identity_value(kind: str, dtype: np.dtype) -> Any:
    d = np.dtype(dtype)
    if kind == "zero":
        return False if d.kind == "b" else 0
    if kind == "one":
        return True if d.kind == "b" else 1
    if kind == "true":
        return True if d.kind == "b" else (-1 if d.kind == "i" else int(np.iinfo(d).max))
    if kind == "false":
        return False if d.kind == "b" else 0
    if kind == "lowest":
        return float("-inf") if d.kind == "f" else int(np.iinfo(d).min)
    if kind == "highest":
        return float("inf") if d.kind == "f" else int(np.iinfo(d).max)
    raise ValueError(kind)


# --- movement primitives (rewrite accesses; see triton_index.py) ---------------------------------

MOVEMENT = frozenset({"broadcast_in_dim", "reshape", "squeeze", "expand_dims", "transpose",
                      "rev", "slice", "iota", "pad", "concatenate"})


def movement_ok(eqn: Eqn) -> bool:
    if eqn.prim.name not in MOVEMENT or not _all_supported(eqn):
        return False
    if eqn.prim.name == "reshape" and eqn.params.get("dimensions") is not None:
        return False
    if eqn.prim.name == "iota":
        return eqn.params.get("sharding") is None if "sharding" in eqn.params else True
    return True


# --- data-dependent index maps (gather, dynamic slices) and atomic scatter-add ----------------

# Lazy like movement, but an operand is read at positions that come from index *values*
# (loaded or computed in the kernel, clamped exactly as the impls clamp them).
INDEXED = frozenset({"gather", "dynamic_slice", "dynamic_update_slice"})
# Element types tl.atomic_add accepts (32/64-bit integers, float16/32/64).
ATOMIC_ADD_TYPES = frozenset({"int32", "int64", "uint32", "uint64", "float16", "float32",
                              "float64"})


def indexed_ok(eqn: Eqn) -> bool:
    return eqn.prim.name in INDEXED and _all_supported(eqn)


def clamped_index(k: Any, x: str, dtype: np.dtype, upper: int, i64: bool
                  ) -> tuple[str, str | None]:
    """The index ``x`` (of integer ``dtype``) clamped into ``[0, upper]`` as the impls clamp
    start indices (exact for every integer dtype: uint64 compares unsigned), as int32 (int64
    in 64-bit kernels), and the condition that it was in bounds (None: always)."""
    d = np.dtype(dtype)
    conds, v = [], x
    if d.kind == "i":
        zero = k.const(0, d)
        conds.append(f"({x} >= {zero})")
        v = f"tl.maximum({v}, {zero})"
    if upper < np.iinfo(d).max:
        hi = k.const(upper, d)
        conds.append(f"({x} <= {hi})")
        v = f"tl.minimum({v}, {hi})"
    return f"({v}).to({'tl.int64' if i64 else 'tl.int32'})", " & ".join(conds) or None


def scatter_add_ok(eqn: Eqn) -> bool:
    """A scatter_add the atomic kernel handles: every form of XLA's dimension numbers and
    modes, for element types with a hardware atomic add."""
    return (eqn.prim.name == "scatter_add" and _all_supported(eqn)
            and _out(eqn).name in ATOMIC_ADD_TYPES)


def dot_ok(eqn: Eqn) -> bool:
    if eqn.prim.name != "dot_general" or not _all_supported(eqn):
        return False
    a, b = eqn.invars[0].aval, eqn.invars[1].aval
    if a.dtype != b.dtype or a.dtype.kind != "f":
        return False
    if a.size == 0 or b.size == 0 or eqn.outvars[0].aval.size == 0:
        return False
    preferred = eqn.params.get("preferred_element_type")
    if preferred is not None and np.dtype(preferred) != a.dtype and not (
            a.dtype == np.float16 and np.dtype(preferred) == np.float32):
        return False  # e.g. float32 operands with a float64 result: the impl does it
    (lc, _), _ = eqn.params["dimension_numbers"]
    k = 1
    for d in lc:
        k *= a.shape[d]
    return k > 0


# --- fallbacks ----------------------------------------------------------------------------------


def _xp_cumulative(name: str) -> Callable[..., Any]:
    def fn(xp: Any, x: Any, axis: int, reverse: bool = False) -> Any:
        if reverse:
            x = xp.flip(x, axis)
        out = getattr(xp, name)(x, axis=axis, dtype=x.dtype)
        return xp.flip(out, axis) if reverse else out
    return fn


def _xp_sort(xp: Any, *operands: Any, dimension: int, is_stable: bool = True,
             num_keys: int = 1) -> Any:
    if len(operands) != 1 or num_keys != 1 or operands[0].dtype.kind == "c":
        raise _NoXp
    return [xp.sort(operands[0], axis=dimension)]


class _NoXp(Exception):
    """This fallback has no array-API form for these params: use the host impl."""


FALLBACK_XP: dict[str, Callable[..., Any]] = {
    "cumsum": _xp_cumulative("cumsum"),
    "cumprod": _xp_cumulative("cumprod"),
    "sort": _xp_sort,
}


def xp_fallback(eqn: Eqn) -> Callable[..., Any] | None:
    """An ``fn(xp, *arrays)`` that computes ``eqn`` with numpy or cupy, or None."""
    fn = FALLBACK_XP.get(eqn.prim.name)
    if fn is None:
        return None
    if any(a.aval.dtype.kind == "c" or a.aval.dtype == np.float16 for a in eqn.invars):
        return None  # float16 sums: NumPy and CuPy accumulate differently than the impl
    params = dict(eqn.params)
    if eqn.prim.name == "sort" and (len(eqn.invars) != 1 or params.get("num_keys", 1) != 1):
        return None

    def bound(xp: Any, *arrays: Any) -> Any:
        return fn(xp, *arrays, **params)

    bound.__name__ = f"{eqn.prim.name}_xp"
    return bound


FAMILY_FALLBACKS = {
    "linalg": "decompositions need cuSOLVER-style algorithms; run through the host impl",
    "fft": "FFTs run through the host impl (cuFFT via CuPy is a planned table entry)",
    "sort": "sorting networks are not generated yet; sort (one operand) uses xp.sort",
    "indexing": "no generated kernel for this indexing primitive yet",
    "cumulative": "scans are not generated yet; cumsum/cumprod use xp.cumsum/xp.cumprod",
    "random": "samplers with rejection loops run through the host impl",
    "control": "control flow runs through the host impl",
    "call": "call-like primitives are inlined by the passes before lowering",
    "custom": "custom-derivative calls are inlined by the passes before lowering",
    "collective": "collectives only exist inside vmap with a named axis",
    "other": "no Triton rule for this family yet",
}

FALLBACK_REASONS: dict[str, str] = {
    "erfc": "needs an erfc approximation accurate in the tail (1 - erf cancels)",
    "erf_inv": "no interpreter-safe erf_inv formula yet",
    "lgamma": "no interpreter-safe lgamma formula yet",
    "digamma": "no interpreter-safe digamma formula yet",
    "nextafter": "bit-level successor not generated yet",
    "real": "complex numbers have no Triton dtype",
    "imag": "complex numbers have no Triton dtype",
    "complex": "complex numbers have no Triton dtype",
    "random_gamma_grad": "no Triton formula for the gamma sample derivative",
    "reduce_precision": "bit-level rounding not generated yet",
    "split": "multiple-output slicing not generated yet",
    "scatter": "repeated indices must keep the last update (C order): atomics have no order",
    "scatter_mul": "no atomic multiply in Triton (a CAS loop is not generated yet)",
    "scatter_min": "float atomic min drops NaN (np.minimum.at keeps it); integer form not "
                   "generated yet",
    "scatter_max": "float atomic max drops NaN (np.maximum.at keeps it); integer form not "
                   "generated yet",
    "conv_general_dilated": "convolutions run through the host impl (no generated kernel yet)",
    "reduce_window_sum": "windowed reductions run through the host impl",
    "reduce_window_max": "windowed reductions run through the host impl",
    "reduce_window_min": "windowed reductions run through the host impl",
    "select_and_gather_add": "windowed reductions run through the host impl",
    "select_and_scatter_add": "windowed reductions run through the host impl",
    "debug_callback": "host callbacks always run on the host",
}


def lowering_kind(prim_name: str, family: str) -> str:
    """How a primitive lowers for supported dtypes: "kernel" (a Triton rule: elementwise,
    movement, indexing, reduction, matmul or scatter-add) or "fallback" (with a reason in the
    tables above)."""
    if (prim_name in RULES or prim_name in MOVEMENT or prim_name in REDUCTIONS
            or prim_name in ARG_REDUCTIONS or prim_name in INDEXED
            or prim_name in ("dot_general", "scatter_add")):
        return "kernel"
    return "fallback"


def fallback_reason(prim_name: str, family: str) -> str | None:
    """Why a primitive always falls back (the tables above); None for one with a Triton
    rule, which falls back only for some parameters or dtypes (``fallback_why``)."""
    if lowering_kind(prim_name, family) == "kernel":
        return None
    return FALLBACK_REASONS.get(prim_name) or FAMILY_FALLBACKS.get(family)


def fallback_why(eqn: Eqn) -> str:
    """Why this equation is not part of a generated kernel (shown in the lowered text)."""
    reason = fallback_reason(eqn.prim.name, eqn.prim.family)
    if reason is not None:
        return reason
    dtypes = [a.aval.dtype for a in eqn.invars] + [v.aval.dtype for v in eqn.outvars]
    bad = sorted({d.name for d in dtypes if not supported_dtype(d)})
    if bad:
        return f"Triton has no {'/'.join(bad)} dtype"
    if eqn.prim.name in REDUCTIONS or eqn.prim.name in ARG_REDUCTIONS:
        return "a reduction over an empty axis (or over several axes for an arg-reduction)"
    if eqn.prim.name == "dot_general":
        return "integer, mixed-precision or empty matmul"
    if eqn.prim.name == "scatter_add":
        return "tl.atomic_add needs 32/64-bit integers or float16/32/64"
    return "no Triton rule for these parameters or dtypes"


# --- matmul tiles (shared by the code generator and kernels/matmul.py) ---------------------------

# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages) per input dtype on the GPU
# (anchors/lowering.md section 6; not yet tuned on hardware).
GPU_BLOCKS = {
    "float16": (128, 128, 64, 8, 3),
    "float32": (64, 64, 32, 4, 3),
    "float64": (32, 32, 16, 4, 2),
}
INTERPRETER_BLOCKS = (64, 64, 64, 1, 1)  # few programs: the interpreter pays per program


def _pow2_at_least(n: int, lo: int) -> int:
    p = lo
    while p < n:
        p *= 2
    return p


def block_config(dtype: Any, m: int, n: int, k: int, interpreter: bool
                 ) -> tuple[int, int, int, int, int]:
    """(BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages) for a problem, clamped to its size
    (tl.dot needs tiles of at least 16)."""
    bm, bn, bk, warps, stages = INTERPRETER_BLOCKS if interpreter else \
        GPU_BLOCKS[np.dtype(dtype).name]
    bm = min(bm, _pow2_at_least(m, 16))
    bn = min(bn, _pow2_at_least(n, 16))
    bk = min(bk, _pow2_at_least(k, 16))
    if not interpreter and bm * bn < 128 * 128:
        warps = min(warps, 4)
    return bm, bn, bk, warps, stages
