"""NumPy-backend lowering of structured control flow: ``cond``, ``while``, ``scan`` and
``while_transpose`` equations call a small runner that loops (or branches) in Python over the
*compiled* modules of their sub-jaxprs, one per branch or body, generated once per jaxpr.

Per iteration a loop costs one call into a generated module (no tracing, no dispatch), so a
scan of matrix products runs at NumPy speed. The generated module of each body is a normal,
inspectable module of the on-disk cache (``runner.modules()`` lists them). ``numpy_rules``
merges ``RULES`` into its table. Imports the IR; the backend is imported lazily (it imports
``numpy_rules``, which imports this module).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


from functrans.ir import ClosedJaxpr, Eqn
from functrans.primitives.control_flow import cond_run, scan_run
from functrans.primitives.while_loop import while_run, while_transpose_run

def _compile(closed: ClosedJaxpr, name: str) -> Any:
    # jit's per-jaxpr executable cache (so functrans.clear_caches forgets bodies too).
    from functrans.lowering.jit import executable
    return executable(closed, name)


class _Runner:
    """A control-flow equation's evaluation, stored in the module's constants table."""

    kind = ""

    def modules(self) -> list[str]:
        return [exe.path for exe in self._exes()]

    def _exes(self) -> list[Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.kind} over {len(self._exes())} compiled sub-programs>"


class CondRunner(_Runner):
    kind = "cond"

    def __init__(self, branches: Sequence[ClosedJaxpr]):
        self._all = [_compile(b, f"cond_branch{k}") for k, b in enumerate(branches)]
        self.branches = [exe.run for exe in self._all]

    def _exes(self) -> list[Any]:
        return self._all

    def __call__(self, index: Any, *ops: Any) -> Any:
        return cond_run(self.branches, index, ops)


class WhileRunner(_Runner):
    kind = "while"

    def __init__(self, cond_jaxpr: ClosedJaxpr, body_jaxpr: ClosedJaxpr, cond_nconsts: int,
                 body_nconsts: int):
        self.cond = _compile(cond_jaxpr, "while_cond")
        self.body = _compile(body_jaxpr, "while_body")
        self.cn, self.bn = cond_nconsts, body_nconsts

    def _exes(self) -> list[Any]:
        return [self.cond, self.body]

    def __call__(self, *args: Any) -> Any:
        return while_run(self.cond.run, self.body.run, args, self.cn, self.bn)


class ScanRunner(_Runner):
    kind = "scan"

    def __init__(self, jaxpr: ClosedJaxpr, length: int, reverse: bool, num_consts: int,
                 num_carry: int):
        self.body = _compile(jaxpr, "scan_body")
        self.length, self.reverse = length, reverse
        self.nc, self.ncar = num_consts, num_carry
        self.y_avals = jaxpr.out_avals[num_carry:]

    def _exes(self) -> list[Any]:
        return [self.body]

    def __call__(self, *args: Any) -> Any:
        return tuple(scan_run(self.body.run, args, self.y_avals, self.length, self.reverse,
                              self.nc, self.ncar))


class WhileTransposeRunner(_Runner):
    kind = "while_transpose"

    def __init__(self, cond_jaxpr: ClosedJaxpr, fwd_jaxpr: ClosedJaxpr, bwd_jaxpr: ClosedJaxpr,
                 cond_nconsts: int, body_nconsts: int, num_carry: int):
        self.cond = _compile(cond_jaxpr, "while_cond")
        self.fwd = _compile(fwd_jaxpr, "while_forward")
        self.bwd = _compile(bwd_jaxpr, "while_backward")
        self.cn, self.bn, self.nk = cond_nconsts, body_nconsts, num_carry
        self.bwd_avals = bwd_jaxpr.out_avals

    def _exes(self) -> list[Any]:
        return [self.cond, self.fwd, self.bwd]

    def __call__(self, *args: Any) -> Any:
        return tuple(while_transpose_run(self.cond.run, self.fwd.run, self.bwd.run,
                                         self.bwd_avals, args, self.cn, self.bn, self.nk))


def _call(ctx: Any, runner: _Runner, ins: list[str]) -> str:
    return f"{ctx.const(runner, runner.kind)}({', '.join(ins)})"


def _cond(ctx: Any, eqn: Eqn, ins: list[str]) -> str:
    return _call(ctx, CondRunner(eqn.params["branches"]), ins)


def _while(ctx: Any, eqn: Eqn, ins: list[str]) -> str:
    p = eqn.params
    return _call(ctx, WhileRunner(p["cond_jaxpr"], p["body_jaxpr"], p["cond_nconsts"],
                                  p["body_nconsts"]), ins)


def _scan(ctx: Any, eqn: Eqn, ins: list[str]) -> str:
    p = eqn.params
    return _call(ctx, ScanRunner(p["jaxpr"], p["length"], p["reverse"], p["num_consts"],
                                 p["num_carry"]), ins)


def _while_transpose(ctx: Any, eqn: Eqn, ins: list[str]) -> str:
    p = eqn.params
    return _call(ctx, WhileTransposeRunner(p["cond_jaxpr"], p["fwd_jaxpr"], p["bwd_jaxpr"],
                                           p["cond_nconsts"], p["body_nconsts"],
                                           p["num_carry"]), ins)


RULES: dict[str, Callable[[Any, Eqn, list[str]], str]] = {
    "cond": _cond, "while": _while, "scan": _scan, "while_transpose": _while_transpose,
}
