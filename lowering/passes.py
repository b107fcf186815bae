"""IR passes run before code generation, on closed jaxprs, backend-agnostic:

* ``inline_calls``: splice the bodies of call-like equations (nested jit, checkpoint, custom
  derivative calls) into their parent;
* ``simplify``: algebraic identities (x*1, x+0, neg(neg x), same-dtype converts, identity
  reshapes/transposes/broadcasts, small integer_pow as multiplies);
* ``fold_scalar_broadcasts``: broadcasts of scalar constants folded into their elementwise
  consumers;
* ``fold_constants``: evaluate equations whose inputs are all known, up to a size cap;
* ``cse``: share equations with the same primitive, params and inputs;
* ``dce``: drop equations whose results nobody uses.

``run_passes`` applies them in order and returns a new ClosedJaxpr (the input is not changed).
Imports the IR and core only.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from functrans import core
from functrans.ir import ClosedJaxpr, Eqn, Jaxpr, Literal, Var, dce_jaxpr, has_effects

FOLD_MAX_ELEMENTS = 1 << 16  # constant folding never creates constants larger than this

# Call-like primitives whose body is a jaxpr param that inlining splices in: name -> the param.
_CALL_BODIES = {"jit_call": "jaxpr", "remat": "jaxpr", "custom_jvp_call": "call_jaxpr",
                "custom_vjp_call": "call_jaxpr"}
_IDENTITIES = {"checkpoint_name", "stop_gradient", "copy"}


# --- inlining -------------------------------------------------------------------------------------


def inline_calls(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Splice the bodies of call-like equations into the top-level jaxpr (recursively)."""
    jaxpr = closed.jaxpr
    if not any(e.prim.name in _CALL_BODIES or e.prim.name in _IDENTITIES or
               e.prim.name == "custom_lin" for e in jaxpr.eqns):
        return closed
    constvars = list(jaxpr.constvars)
    consts = list(closed.consts)
    eqns: list[Eqn] = []
    env: dict[Var, Any] = {}

    def read(a: Any) -> Any:
        return env.get(a, a) if type(a) is Var else a

    for eqn in jaxpr.eqns:
        name = eqn.prim.name
        ins = [read(a) for a in eqn.invars]
        if name in _IDENTITIES:
            env[eqn.outvars[0]] = ins[0]
            continue
        if name in _CALL_BODIES or name == "custom_lin":
            if name == "custom_lin":
                body, nonzeros = eqn.params["fallback"].get()
                ins = ins[eqn.params["num_res"]:]
                n_out = len(eqn.params["out_avals"])
            else:
                body = eqn.params[_CALL_BODIES[name]]
                n_out = None
            body = inline_calls(body)
            inner = body.jaxpr
            sub: dict[Var, Any] = {}
            for v, c in zip(inner.constvars, body.consts, strict=True):
                nv = Var(v.aval)
                constvars.append(nv)
                consts.append(c)
                sub[v] = nv
            for v, a in zip(inner.invars, ins, strict=True):
                sub[v] = a
            for ie in inner.eqns:
                new_outs = [Var(v.aval) for v in ie.outvars]
                for v, nv in zip(ie.outvars, new_outs, strict=True):
                    sub[v] = nv
                eqns.append(Eqn(ie.prim, [sub.get(a, a) if type(a) is Var else a
                                          for a in ie.invars], new_outs, ie.params,
                                ie.source_info))
            results = [sub.get(a, a) if type(a) is Var else a for a in inner.outvars]
            if name == "custom_lin":
                results = _custom_lin_results(eqn, nonzeros, results, n_out)
            for v, r in zip(eqn.outvars, results, strict=True):
                env[v] = r
            continue
        eqns.append(Eqn(eqn.prim, ins, eqn.outvars, eqn.params, eqn.source_info))
    outvars = [read(a) for a in jaxpr.outvars]
    return ClosedJaxpr(Jaxpr(constvars, list(jaxpr.invars), outvars, eqns, jaxpr.debug), consts)


def _custom_lin_results(eqn: Eqn, nonzeros: tuple, results: list, n_out: int) -> list:
    """custom_lin's forward value is its fallback jvp's tangent outputs (zeros where the
    fallback's tangent is symbolically zero)."""
    tangents = iter(results[n_out:])
    return [next(tangents) if nz else _zeros_const(aval)
            for nz, aval in zip(nonzeros, eqn.params["out_avals"], strict=True)]


def _zeros_const(aval: core.ShapedArray) -> Literal:
    # A Literal holding a full zero array is fine for codegen (it becomes a constant).
    return Literal(np.zeros(aval.shape, aval.dtype), aval)


# --- algebraic simplification -----------------------------------------------------------------


def _is_scalar_const(a: Any, value: float) -> bool:
    if type(a) is not Literal or a.aval.shape or a.aval.dtype.kind not in "iufc":
        return False
    return bool(a.val == value)


def simplify(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Rewrite equations by algebraic identities; dead results are left for ``dce``."""
    jaxpr = closed.jaxpr
    env: dict[Var, Any] = {}
    eqns: list[Eqn] = []
    producers = {v: e for e in jaxpr.eqns for v in e.outvars}

    def read(a: Any) -> Any:
        return env.get(a, a) if type(a) is Var else a

    for eqn in jaxpr.eqns:
        ins = [read(a) for a in eqn.invars] if env else eqn.invars
        if eqn.prim.name in _SIMPLIFIABLE:
            out_aval = eqn.outvars[0].aval
            replacement = _simplify_one(eqn, ins, out_aval, producers)
            if replacement is _NEW_EQNS:
                eqns.extend(_expand_integer_pow(eqn, ins))
                continue
            if replacement is not None:
                env[eqn.outvars[0]] = read(replacement)
                continue
        if ins is eqn.invars or all(map(operator.is_, ins, eqn.invars)):
            eqns.append(eqn)
        else:
            eqns.append(Eqn(eqn.prim, ins, eqn.outvars, eqn.params, eqn.source_info))
    outvars = [read(a) for a in jaxpr.outvars]
    return ClosedJaxpr(Jaxpr(jaxpr.constvars, jaxpr.invars, outvars, eqns, jaxpr.debug),
                       closed.consts)


_NEW_EQNS = object()
# The primitives ``_simplify_one`` knows identities for (the others are passed through).
_SIMPLIFIABLE = frozenset({
    "mul", "add", "sub", "div", "neg", "convert_element_type", "reshape", "broadcast_in_dim",
    "transpose", "integer_pow", "select_n", "safe_select_n"})


def _same_type(a: Any, aval: core.ShapedArray) -> bool:
    b = a.aval
    return b.shape == aval.shape and b.dtype == aval.dtype


def _simplify_one(eqn: Eqn, ins: list, out_aval: Any, producers: dict[Var, Eqn]) -> Any:
    name, p = eqn.prim.name, eqn.params
    if name == "mul":
        for x, y in ((ins[0], ins[1]), (ins[1], ins[0])):
            if _is_scalar_const(y, 1) and _same_type(x, out_aval):
                return x
    if name == "add":
        for x, y in ((ins[0], ins[1]), (ins[1], ins[0])):
            # Exact for integers; for floats, -0.0 + 0 is +0.0, so those are kept.
            if _is_scalar_const(y, 0) and _same_type(x, out_aval) and out_aval.dtype.kind in "iu":
                return x
    if name == "sub" and _is_scalar_const(ins[1], 0) and _same_type(ins[0], out_aval):
        return ins[0]
    if name == "div" and _is_scalar_const(ins[1], 1) and _same_type(ins[0], out_aval):
        return ins[0]
    if name == "neg" and type(ins[0]) is Var:
        producer = producers.get(ins[0])
        if producer is not None and producer.prim.name == "neg":
            return producer.invars[0]
    if name == "convert_element_type" and _same_type(ins[0], out_aval):
        return ins[0]
    if name in ("reshape", "broadcast_in_dim") and _same_type(ins[0], out_aval) and (
            name != "reshape" or p.get("dimensions") is None):
        return ins[0]
    if name == "transpose" and tuple(p["permutation"]) == tuple(range(len(out_aval.shape))):
        return ins[0]
    if name == "integer_pow":
        if p["y"] == 1:
            return ins[0]
        if p["y"] in (2, 3, 4):
            return _NEW_EQNS
    if name in ("select_n", "safe_select_n") and len(ins) > 2 and all(a is ins[1]
                                                                     for a in ins[2:]):
        if _same_type(ins[1], out_aval):
            return ins[1]
    return None


def _expand_integer_pow(eqn: Eqn, ins: list) -> list[Eqn]:
    """x**2 -> x*x, x**3 -> (x*x)*x, x**4 -> (x*x)*(x*x)."""
    from functrans.primitives.elementwise import mul_p
    x, y, aval = ins[0], eqn.params["y"], eqn.outvars[0].aval
    sq = Var(aval)
    out = [Eqn(mul_p, [x, x], [sq], {}, eqn.source_info)]
    if y == 2:
        out[0] = Eqn(mul_p, [x, x], eqn.outvars, {}, eqn.source_info)
    elif y == 3:
        out.append(Eqn(mul_p, [sq, x], eqn.outvars, {}, eqn.source_info))
    else:
        out.append(Eqn(mul_p, [sq, sq], eqn.outvars, {}, eqn.source_info))
    return out


# --- broadcasts folded into consumers -------------------------------------------------------------

_ELEMENTWISE = frozenset({"unary", "binary", "compare", "logical", "select", "convert"})


def fold_scalar_broadcasts(closed: ClosedJaxpr) -> ClosedJaxpr:
    """An elementwise operand that is a broadcast scalar constant becomes the 0-d constant
    itself (lax broadcasts 0-d operands), and an elementwise op whose operands are all
    broadcast scalars becomes the broadcast of the op applied to the scalars. So a
    cotangent of ones (the backward pass of ``sum``) costs no array pass at all."""
    jaxpr = closed.jaxpr
    scalar_of: dict[Var, Literal] = {}  # var -> the 0-d literal it is a broadcast of
    eqns: list[Eqn] = []

    from functrans.primitives.structural import broadcast_in_dim_p
    for eqn in jaxpr.eqns:
        ins = eqn.invars
        name, fam = eqn.prim.name, eqn.prim.family
        if name == "broadcast_in_dim" and type(ins[0]) is Literal and not ins[0].aval.shape:
            scalar_of[eqn.outvars[0]] = ins[0]
        elif (scalar_of and fam in _ELEMENTWISE and not eqn.prim.multiple_results
              and any(type(a) is Var and a in scalar_of for a in ins)):
            out = eqn.outvars[0]
            full = [a for a in ins if not (type(a) is Literal or a in scalar_of)
                    and a.aval.shape == out.aval.shape]
            scalars = [scalar_of.get(a, a) if type(a) is Var else a for a in ins]
            if full and all(type(a) is Literal or a.aval.shape in ((), out.aval.shape)
                            for a in scalars) and name not in ("select_n", "safe_select_n",
                                                                "clamp"):
                eqns.append(Eqn(eqn.prim, scalars, eqn.outvars, eqn.params, eqn.source_info))
                continue
            if not full and all(type(a) is Literal for a in scalars):
                value = _fold_scalar(eqn, scalars)
                if value is not None:
                    lit = Literal(value, core.ShapedArray((), out.aval.dtype, out.aval.weak_type))
                    scalar_of[out] = lit
                    eqns.append(Eqn(broadcast_in_dim_p, [lit], [out],
                                    {"shape": out.aval.shape, "broadcast_dimensions": ()},
                                    eqn.source_info))
                    continue
        eqns.append(eqn)
    return ClosedJaxpr(Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, eqns, jaxpr.debug),
                       closed.consts)


def _fold_scalar(eqn: Eqn, scalars: list[Literal]) -> Any:
    try:
        with core.set_current_trace(None):
            out = eqn.prim.bind(*[a.val for a in scalars], **eqn.params)
    except Exception:  # noqa: BLE001 - keep the equation; it will raise at run time
        return None
    return np.asarray(out)[()]


# --- constant folding ---------------------------------------------------------------------------


def fold_constants(closed: ClosedJaxpr, max_elements: int = FOLD_MAX_ELEMENTS) -> ClosedJaxpr:
    """Evaluate equations whose inputs are all literals or constants (and whose outputs are
    small) now: 0-d results become literals, others constants. A broadcast of a scalar is
    left as it is (``fold_scalar_broadcasts`` folds it into its consumers, which is cheaper
    than a materialized constant for every backend)."""
    jaxpr = closed.jaxpr
    known: dict[Var, Any] = dict(zip(jaxpr.constvars, closed.consts, strict=True))
    constvars, consts = list(jaxpr.constvars), list(closed.consts)
    env: dict[Var, Literal] = {}
    eqns: list[Eqn] = []
    for eqn in jaxpr.eqns:
        ins = [env.get(a, a) if type(a) is Var else a for a in eqn.invars] if env else \
            eqn.invars
        # Control flow is never folded: a loop could run for arbitrarily long at compile time.
        foldable = (eqn.prim.family not in ("call", "custom", "collective", "random",
                                            "control")
                    and all(type(a) is Literal or a in known for a in ins)
                    and all(v.aval.size <= max_elements for v in eqn.outvars)
                    and not (eqn.prim.name == "broadcast_in_dim" and type(ins[0]) is Literal)
                    and not has_effects(eqn))
        if foldable:
            try:
                vals = [a.val if type(a) is Literal else known[a] for a in ins]
                with core.set_current_trace(None):
                    out = eqn.prim.bind(*vals, **eqn.params)
            except Exception:  # noqa: BLE001 - leave it to run time, where errors belong
                foldable = False
        if not foldable:
            eqns.append(eqn if ins is eqn.invars else
                        Eqn(eqn.prim, ins, eqn.outvars, eqn.params, eqn.source_info))
            continue
        outs = out if eqn.prim.multiple_results else [out]
        for v, o in zip(eqn.outvars, outs, strict=True):
            if not v.aval.shape:
                env[v] = Literal(np.asarray(core.to_numpy(o))[()], v.aval)
                continue
            known[v] = o
            constvars.append(v)
            consts.append(o)
    outvars = [env.get(a, a) if type(a) is Var else a for a in jaxpr.outvars]
    j = Jaxpr(constvars, jaxpr.invars, outvars, eqns, jaxpr.debug)
    return ClosedJaxpr(j, consts)


# --- common subexpressions ----------------------------------------------------------------------


def _param_key(v: Any) -> Any:
    if isinstance(v, (int, float, bool, str, type(None), np.dtype)):
        return (type(v), v)
    if isinstance(v, tuple):
        return tuple(_param_key(x) for x in v)
    if isinstance(v, np.ndarray):
        raise TypeError  # arrays in params: do not share
    try:
        hash(v)
    except TypeError:
        raise TypeError from None
    return ("obj", id(v)) if isinstance(v, (ClosedJaxpr, Jaxpr)) else (type(v), v)


def _atom_key(a: Any) -> Any:
    if type(a) is Literal:
        v = np.asarray(a.val)
        return ("lit", v.dtype.str, v.shape, v.tobytes(), a.aval.weak_type)
    return ("var", id(a))


def cse(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Reuse the result of an earlier equation with the same primitive, params and inputs."""
    jaxpr = closed.jaxpr
    env: dict[Var, Any] = {}
    seen: dict[Any, list[Var]] = {}
    eqns: list[Eqn] = []

    def read(a: Any) -> Any:
        return env.get(a, a) if type(a) is Var else a

    for eqn in jaxpr.eqns:
        ins = [read(a) for a in eqn.invars] if env else eqn.invars
        key = None
        params = eqn.params
        if (eqn.prim.name not in ("remat", "custom_lin") and not eqn.prim.effectful
                and (not params or not has_effects(eqn))):
            try:
                pkey = tuple(sorted((k, _param_key(v)) for k, v in params.items())) \
                    if params else ()
                key = (eqn.prim, pkey, tuple(("var", id(a)) if type(a) is Var
                                             else _atom_key(a) for a in ins))
            except TypeError:
                key = None
        if key is not None:
            prev = seen.get(key)
            if prev is not None:
                for v, p in zip(eqn.outvars, prev, strict=True):
                    env[v] = p
                continue
            seen[key] = eqn.outvars
        if ins is eqn.invars or all(map(operator.is_, ins, eqn.invars)):
            eqns.append(eqn)
        else:
            eqns.append(Eqn(eqn.prim, ins, eqn.outvars, params, eqn.source_info))
    outvars = [read(a) for a in jaxpr.outvars]
    return ClosedJaxpr(Jaxpr(jaxpr.constvars, jaxpr.invars, outvars, eqns, jaxpr.debug),
                       closed.consts)


def dce(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Drop unused equations and constants."""
    j = dce_jaxpr(closed.jaxpr)
    used = {a for e in j.eqns for a in e.invars if type(a) is Var} | {
        a for a in j.outvars if type(a) is Var}
    keep = [(v, c) for v, c in zip(j.constvars, closed.consts, strict=True) if v in used]
    j = Jaxpr([v for v, _ in keep], j.invars, j.outvars, j.eqns, j.debug)
    return ClosedJaxpr(j, [c for _, c in keep])


PASSES: list[tuple[str, Callable[[ClosedJaxpr], ClosedJaxpr]]] = [
    ("inline", inline_calls),
    ("simplify", simplify),
    ("fold_scalar_broadcasts", fold_scalar_broadcasts),
    ("simplify", simplify),
    ("fold_constants", fold_constants),
    ("fold_scalar_broadcasts", fold_scalar_broadcasts),  # again: folding made new literals
    ("cse", cse),
    ("simplify", simplify),
    ("dce", dce),
]


def run_passes(closed: ClosedJaxpr) -> ClosedJaxpr:
    for _, fn in PASSES:
        closed = fn(closed)
    return closed

