"""``jit(f, verify=True)``: run the same jaxpr on the NumPy backend too, and when a result
differs beyond tolerance, name the first equation that computes it wrong.

How the culprit is found: the program is compiled again without fusion (one kernel per
equation) with every intermediate value as an output; then each equation's primitive is
evaluated eagerly (its NumPy impl) *on the inputs that the backend itself produced*, so an
error is blamed on the equation that introduces it, not on the ones it flows through. If every
equation agrees on its own but the fused program does not, the fusion is wrong, and the
report names the kernel whose output differs. Works for any backend (for the NumPy backend
the reference is the eager, equation-by-equation evaluation).
Imports numpy, the core, the IR and (lazily) the backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from functrans import core, errors
from functrans.fpstate import quiet, restore
from functrans.ir import ClosedJaxpr, Eqn, Jaxpr, Literal, Var, _Namer, pp_eqn

# Relative tolerance per result dtype (GPU math is approximate: exp/log/sqrt to ~2 ulp, FMA
# contraction, a different summation order).
RTOL = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-4,
        np.dtype(np.float64): 1e-9}


class VerificationError(errors.FunctransError, AssertionError):
    """A compiled program disagrees with the NumPy reference beyond tolerance."""


def close(got: Any, want: Any) -> tuple[bool, str]:
    """Whether two results agree (exactly for integers and bools), and how they differ."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return False, f"shape {got.shape} != {want.shape}"
    if got.dtype != want.dtype:
        return False, f"dtype {got.dtype} != {want.dtype}"
    if got.dtype.kind not in "fc":
        bad = got != want
        if not bad.any():
            return True, ""
        i = tuple(int(j) for j in np.argwhere(bad)[0])
        return False, (f"{int(bad.sum())} of {bad.size} elements differ; first at index {i}: "
                       f"{got[i]!r} != {want[i]!r}")
    rtol = RTOL.get(np.dtype(got.dtype), 1e-5) if got.dtype.kind == "f" else 1e-4
    finite = np.isfinite(want)
    scale = float(np.max(np.abs(want[finite]))) if finite.any() else 1.0
    atol = rtol * max(1.0, scale) * 1e-3
    token = quiet()
    try:
        ok = np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
        if ok.all():
            return True, ""
        i = tuple(int(j) for j in np.argwhere(~ok)[0])
        err = np.abs(got.astype(np.float64) - want.astype(np.float64))
        worst = float(np.nanmax(np.where(ok, 0, err))) if err.size else 0.0
    finally:
        restore(token)
    return False, (f"{int((~ok).sum())} of {ok.size} elements differ beyond rtol={rtol:g}; "
                   f"first at index {i}: {got[i]!r} != {want[i]!r} (largest abs error "
                   f"{worst:.3g})")


def verify_call(fun: Any, closed: ClosedJaxpr, backend: str, args: Sequence[Any],
                outs: Sequence[Any]) -> None:
    """Raise VerificationError when ``outs`` (the backend's results for ``args``) differ from
    the NumPy reference. ``closed`` takes every argument (constants first) as an input."""
    from functrans.lowering import jit as jit_mod
    name = getattr(fun, "__name__", "f")
    if backend == "numpy":
        ref = _eager(closed, args)
    else:
        ref = jit_mod.executable(closed, name, "numpy").run(*args)
    diffs = []
    for i, (g, r) in enumerate(zip(outs, ref, strict=True)):
        ok, why = close(g, r)
        if not ok:
            diffs.append((i, why))
    if not diffs:
        return
    where = errors.function_location(fun) if callable(fun) else name
    out_i, why = diffs[0]
    head = (f"functrans.jit(verify=True): the {backend} backend's output {out_i} of {where} "
            f"differs from the NumPy reference: {why}.")
    raise VerificationError(head + "\n" + _localize(closed, backend, name, args))


def _eager(closed: ClosedJaxpr, args: Sequence[Any]) -> list[Any]:
    with core.set_current_trace(None):
        from functrans.ir import eval_jaxpr
        return [np.asarray(o) for o in eval_jaxpr(closed.jaxpr, closed.consts, *args)]


def _localize(closed: ClosedJaxpr, backend: str, name: str, args: Sequence[Any]) -> str:
    from functrans.lowering import passes
    optimized = passes.run_passes(closed)
    j = optimized.jaxpr
    every = [v for e in j.eqns for v in e.outvars]
    probe = ClosedJaxpr(Jaxpr(j.constvars, j.invars, every, j.eqns, j.debug),
                        optimized.consts)
    if backend == "triton":
        from functrans.lowering import triton_backend
        exe = triton_backend.compile_triton(probe, f"{name}_verify", fuse=False)
    else:  # the backend's generated code, every intermediate an output
        from functrans.lowering import jit as jit_mod
        exe = jit_mod.executable(probe, f"{name}_verify", "numpy")
    values = list(exe.run(*args))
    env: dict[Var, Any] = dict(zip(j.constvars, optimized.consts, strict=True))
    env.update(zip(j.invars, args, strict=True))
    env.update(zip(every, values, strict=True))
    namer = _Namer()
    from functrans.ir import pp_jaxpr
    pp_jaxpr(j, namer)
    for eqn in j.eqns:
        ins = [a.val if type(a) is Literal else env[a] for a in eqn.invars]
        want = _eval_eqn(eqn, ins)
        for v, w in zip(eqn.outvars, want, strict=True):
            ok, why = close(env[v], w)
            if not ok:
                text = pp_eqn(eqn, namer, indent=0).strip().splitlines()[0]
                src = f" at {eqn.source_info}" if eqn.source_info else ""
                return (f"The first equation that differs (on the backend's own inputs) is\n"
                        f"    {text}{src}\n"
                        f"its result: {why}.\n"
                        f"Inspect the generated code with jit(f, backend={backend!r})"
                        f".lower(*args).as_text().")
    return ("Every equation agrees with its NumPy impl when run on its own, so the "
            "difference comes from fusing them: compare jit(f).lower(*args).as_text() "
            "kernel by kernel (and please report it).")


def _eval_eqn(eqn: Eqn, ins: list[Any]) -> list[Any]:
    token = quiet()
    try:
        with core.set_current_trace(None):
            out = eqn.prim.bind(*ins, **eqn.params)
    finally:
        restore(token)
    return [np.asarray(o) for o in (out if eqn.prim.multiple_results else [out])]
