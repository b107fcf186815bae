"""User-defined derivatives: ``custom_jvp`` and ``custom_vjp`` (JAX's API and semantics).

A decorated function runs as itself when nothing differentiates it. Under a transformation
it becomes one ``custom_jvp_call`` / ``custom_vjp_call`` equation holding the traced function
and the user's rules; differentiation then uses the rules instead of the function's body.
For ``custom_vjp``, forward differentiation emits a ``custom_lin`` equation that reverse mode
transposes by calling ``bwd``. Values the function closes over are treated as constants
(zero tangent); differentiating with respect to them raises an error that says so.
Imports ad, partial_eval, ir, core, tree_util.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import api_util, core, errors, tree_util
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.ir import ClosedJaxpr, eval_jaxpr, hoist_consts
from functrans.primitives.ad_rules import Zero, instantiate, tangent_aval
from functrans.primitives.registry import Example, define_primitive, set_rule
from functrans.primitives.rules import ELEMENTWISE_SHAPES, sample_array
from functrans.transforms.batching import run_batched
from functrans.transforms.partial_eval import trace_to_jaxpr

SymbolicZero = Zero  # what rules see for zero tangents/cotangents with symbolic_zeros=True


# --- shared argument handling -------------------------------------------------------------------


class _Args:
    """A call's arguments split into static (nondiff_argnums) values and flat array leaves."""

    def __init__(self, fun: Callable, nondiff_argnums: tuple[int, ...], args: tuple,
                 kwargs: dict, what: str):
        if kwargs:
            try:
                bound = inspect.signature(fun).bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"functrans.{what}: {e}") from None
            bound.apply_defaults()
            args = bound.args
            if bound.kwargs:
                raise TypeError(f"functrans.{what}: keyword-only arguments are not supported; "
                                f"pass {sorted(bound.kwargs)} positionally")
        for i in nondiff_argnums:
            if i >= len(args):
                raise TypeError(f"functrans.{what}: nondiff_argnums={nondiff_argnums} but "
                                f"{errors.function_location(fun)} got {len(args)} arguments")
        self.nondiff_argnums = nondiff_argnums
        self.dyn, self.static = api_util.split_static(args, nondiff_argnums)
        self.flat, self.in_tree = tree_util.tree_flatten(self.dyn)

    def full(self, dyn: Sequence[Any]) -> list[Any]:
        return api_util.merge_static(dyn, self.static, self.nondiff_argnums)

    def unflatten(self, leaves: Sequence[Any]) -> tuple:
        return tree_util.tree_unflatten(self.in_tree, list(leaves))


def _trace(fun: Callable, a: _Args, what: str) -> tuple[ClosedJaxpr, Any, int, list]:
    """Trace ``fun`` at the call's avals; captured values become leading operands."""
    out_trees: list[Any] = []

    def flat_fun(*leaves: Any) -> list:
        out = fun(*a.full(a.unflatten(leaves)))
        flat, tree = tree_util.tree_flatten(out)
        out_trees.append(tree)
        return flat

    avals = [core.get_aval(x) for x in a.flat]
    closed = trace_to_jaxpr(flat_fun, avals, core.DebugInfo(what, fun, a.dyn))
    opened, consts = hoist_consts(closed)
    return opened, out_trees[-1], len(consts), consts


def _check_const_tangents(what: str, fun: Any, tangents: Sequence[Any]) -> None:
    if any(type(t) is not Zero for t in tangents):
        raise errors.FunctransError(
            f"functrans.{what}: {fun} is differentiated with respect to a value it closes over "
            f"(a captured array that depends on the differentiated input). The custom rule "
            f"only covers explicit arguments: pass that value as an argument instead.")


def _check_out_types(what: str, fun: Callable, kind: str, got: Sequence[Any],
                     want: Sequence[ShapedArray]) -> None:
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if type(g) is Zero:
            continue
        ga = core.get_aval(g)
        if ga.shape != w.shape or (ga.dtype != w.dtype and w.dtype != dt.float0):
            raise TypeError(
                f"functrans.{what}: the {kind} of {errors.function_location(fun)} has type "
                f"{ga.str_short()} at output leaf {i}, but {w.str_short()} is required")


# --- custom_jvp ---------------------------------------------------------------------------------


class _FlatJVP:
    """The user's jvp rule as a function of flat primals and tangents (a jaxpr param)."""

    def __init__(self, owner: custom_jvp, a: _Args, out_tree: Any,
                 out_avals: list[ShapedArray]):
        self.owner, self.a, self.out_tree, self.out_avals = owner, a, out_tree, out_avals

    def __repr__(self) -> str:
        return getattr(self.owner.jvp, "__name__", "jvp")

    def __call__(self, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[list, list]:
        o = self.owner
        if not o.symbolic_zeros:
            tangents = [instantiate(t) for t in tangents]
        p_tree, t_tree = self.a.unflatten(primals), self.a.unflatten(tangents)
        out = o.jvp(*self.a.static, p_tree, t_tree)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(f"functrans.custom_jvp: the jvp rule of "
                            f"{errors.function_location(o.fun)} must return a pair "
                            f"(primal_out, tangent_out), got {type(out).__name__}")
        p_out, t_out = out
        flat_p, tree_p = tree_util.tree_flatten(p_out)
        flat_t, tree_t = tree_util.tree_flatten(t_out, is_leaf=lambda x: type(x) is Zero)
        if tree_p != self.out_tree or tree_t != self.out_tree:
            raise TypeError(
                f"functrans.custom_jvp: the jvp rule of {errors.function_location(o.fun)} "
                f"returned primal structure {tree_p} and tangent structure {tree_t}; both must "
                f"match the function's output structure {self.out_tree}")
        _check_out_types("custom_jvp", o.fun, "primal output of the jvp rule", flat_p,
                         self.out_avals)
        t_avals = [tangent_aval(a) for a in self.out_avals]
        _check_out_types("custom_jvp", o.fun, "tangent output of the jvp rule", flat_t, t_avals)
        flat_t = [Zero(a) if a.dtype == dt.float0 and type(t) is not Zero else t
                  for t, a in zip(flat_t, t_avals, strict=True)]
        return flat_p, flat_t


class custom_jvp:  # noqa: N801 - JAX's name
    """A function with a user-defined forward-mode derivative (and hence reverse mode too).

    >>> import functrans as ft, functrans.numpy as fnp
    >>> @ft.custom_jvp
    ... def log1pexp(x):
    ...     return fnp.log1p(fnp.exp(x))
    >>> @log1pexp.defjvp
    ... def log1pexp_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return log1pexp(x), t * ft.lax.logistic(x)
    >>> float(ft.grad(log1pexp)(100.0))
    1.0
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.jvp: Callable | None = None
        self.symbolic_zeros = False

    def defjvp(self, jvp: Callable, symbolic_zeros: bool = False) -> Callable:
        """Set the rule ``jvp(*nondiff_args, primals, tangents) -> (out, tangent_out)``."""
        self.jvp = jvp
        self.symbolic_zeros = symbolic_zeros
        return jvp

    def defjvps(self, *jvps: Callable | None) -> None:
        """One rule per argument: ``jvps[i](t_i, primal_out, *primals)`` is argument i's
        contribution to the output tangent (None: the output does not depend on it)."""

        def jvp(primals: tuple, tangents: tuple) -> tuple[Any, Any]:
            out = self(*primals)
            total = None
            for rule, t in zip(jvps, tangents, strict=True):
                if rule is None:
                    continue
                term = rule(t, out, *primals)
                total = term if total is None else tree_util.tree_map(lambda a, b: a + b,
                                                                      total, term)
            if total is None:
                total = tree_util.tree_map(lambda o: o * 0, out)
            return out, total

        self.defjvp(jvp)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.jvp is None:
            raise AttributeError(f"functrans.custom_jvp: no jvp rule defined for "
                                 f"{errors.function_location(self.fun)}; use @f.defjvp")
        if core.current_trace() is None:
            return self.fun(*args, **kwargs)  # nothing differentiates it: just run it
        a = _Args(self.fun, self.nondiff_argnums, args, kwargs, "custom_jvp")
        jaxpr, out_tree, n_consts, consts = _trace(self.fun, a, "custom_jvp")
        flat_jvp = _FlatJVP(self, a, out_tree, jaxpr.out_avals)
        outs = custom_jvp_call_p.bind(*consts, *a.flat, call_jaxpr=jaxpr, jvp=flat_jvp,
                                      num_consts=n_consts, symbolic_zeros=self.symbolic_zeros)
        return tree_util.tree_unflatten(out_tree, outs)


def _call_impl(*args: np.ndarray, call_jaxpr: ClosedJaxpr, **params: Any) -> list[np.ndarray]:
    return [np.asarray(o) for o in eval_jaxpr(call_jaxpr.jaxpr, call_jaxpr.consts, *args)]


def _call_abstract_eval(*avals: ShapedArray, call_jaxpr: ClosedJaxpr, **params: Any
                        ) -> list[ShapedArray]:
    return list(call_jaxpr.out_avals)


def _custom_jvp_call_jvp(primals: list, tangents: list, call_jaxpr: ClosedJaxpr,
                         jvp: _FlatJVP, num_consts: int, symbolic_zeros: bool
                         ) -> tuple[list, list]:
    _check_const_tangents("custom_jvp", jvp, tangents[:num_consts])
    return jvp(primals[num_consts:], tangents[num_consts:])


def _example_sin(dtype: np.dtype, which: str) -> list[Example]:
    """Samples: sin with a hand-written derivative."""
    from functrans import lax
    out = []
    for shape in ELEMENTWISE_SHAPES:
        x = sample_array(shape, dtype, seed=3)
        if which == "jvp":
            f = custom_jvp(lambda v: lax.sin(v))
            f.defjvp(lambda p, t: (lax.sin(p[0]), lax.mul(t[0], lax.cos(p[0]))))
        else:
            f = custom_vjp(lambda v: lax.sin(v))
            f.defvjp(lambda v: (lax.sin(v), lax.cos(v)), lambda c, g: (lax.mul(g, c),))
        captured: dict = {}

        def grab(v: Any, f: Any = f) -> Any:
            return f(v)

        from functrans.api import make_jaxpr
        closed = make_jaxpr(grab)(x)
        eqn = closed.eqns[0]
        captured.update(eqn.params)
        out.append(Example((x,), captured))
    return out


custom_jvp_call_p = define_primitive(
    "custom_jvp_call", family="custom", impl=_call_impl, abstract_eval=_call_abstract_eval,
    multiple_results=True, dtypes=dt.INEXACT, sample=lambda d: _example_sin(d, "jvp"),
    jvp=_custom_jvp_call_jvp,
    doc="a function with a user-defined jvp rule (functrans.custom_jvp)")


# --- custom_vjp ---------------------------------------------------------------------------------


class _FlatFwd:
    def __init__(self, owner: custom_vjp, a: _Args, out_tree: Any,
                 out_avals: list[ShapedArray]):
        self.owner, self.a, self.out_tree, self.out_avals = owner, a, out_tree, out_avals

    def __repr__(self) -> str:
        return getattr(self.owner.fwd, "__name__", "fwd")

    def __call__(self, primals: Sequence[Any]) -> tuple[list, list, Any]:
        o = self.owner
        out = o.fwd(*self.a.full(self.a.unflatten(primals)))
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(f"functrans.custom_vjp: fwd of {errors.function_location(o.fun)} "
                            f"must return a pair (output, residuals), got "
                            f"{type(out).__name__}")
        p_out, res = out
        flat_p, tree_p = tree_util.tree_flatten(p_out)
        if tree_p != self.out_tree:
            raise TypeError(f"functrans.custom_vjp: fwd of {errors.function_location(o.fun)} "
                            f"returned output structure {tree_p}, but the function returns "
                            f"{self.out_tree}")
        _check_out_types("custom_vjp", o.fun, "output of fwd", flat_p, self.out_avals)
        flat_res, res_tree = tree_util.tree_flatten(res)
        for r in flat_res:
            if not core.is_array_like(r):
                raise TypeError(f"functrans.custom_vjp: residuals of fwd must be arrays (or "
                                f"pytrees of arrays), got a {type(r).__name__}")
        return flat_p, flat_res, res_tree


class _FlatBwd:
    def __init__(self, owner: custom_vjp, a: _Args, out_tree: Any):
        self.owner, self.a, self.out_tree = owner, a, out_tree

    def __repr__(self) -> str:
        return getattr(self.owner.bwd, "__name__", "bwd")

    def __call__(self, res: Sequence[Any], res_tree: Any, cts: Sequence[Any],
                 in_avals: Sequence[ShapedArray]) -> list[Any]:
        o = self.owner
        if not o.symbolic_zeros:
            cts = [instantiate(c) for c in cts]
        ct_tree = tree_util.tree_unflatten(self.out_tree, list(cts))
        out = o.bwd(*self.a.static, tree_util.tree_unflatten(res_tree, list(res)), ct_tree)
        n_dyn = len(self.a.dyn)
        if not isinstance(out, (tuple, list)) or len(out) != n_dyn:
            raise TypeError(
                f"functrans.custom_vjp: bwd of {errors.function_location(o.fun)} must return a "
                f"tuple with one cotangent per differentiable argument ({n_dyn}), got "
                f"{type(out).__name__}" + (f" of length {len(out)}"
                                          if isinstance(out, (tuple, list)) else ""))
        flat: list[Any] = []
        for i, (ct_i, arg_i) in enumerate(zip(out, self.a.dyn, strict=True)):
            arg_tree = tree_util.tree_structure(arg_i)
            if ct_i is None:
                flat.extend([None] * arg_tree.num_leaves)
                continue
            leaves, tree = tree_util.tree_flatten(ct_i, is_leaf=lambda x: x is None)
            if tree != arg_tree and not all(x is None for x in leaves):
                try:
                    leaves = arg_tree.flatten_up_to(ct_i)
                except (ValueError, TypeError):
                    raise TypeError(
                        f"functrans.custom_vjp: bwd's cotangent {i} has structure {tree}, but "
                        f"argument {i} has structure {arg_tree}") from None
            flat.extend(leaves)
        out_flat = []
        for c, aval in zip(flat, in_avals, strict=True):
            t_aval = tangent_aval(aval)
            if c is None or type(c) is Zero or t_aval.dtype == dt.float0:
                out_flat.append(Zero(t_aval))
                continue
            ca = core.get_aval(c)
            if ca.shape != t_aval.shape:
                raise TypeError(f"functrans.custom_vjp: bwd returned a cotangent of type "
                                f"{ca.str_short()} for an argument of type {aval.str_short()}")
            if ca.dtype != t_aval.dtype:
                from functrans import lax
                c = lax.convert_element_type(c, t_aval.dtype)
            out_flat.append(c)
        return out_flat


class custom_vjp:  # noqa: N801 - JAX's name
    """A function with a user-defined reverse-mode derivative.

    >>> import functrans as ft, functrans.numpy as fnp
    >>> @ft.custom_vjp
    ... def clip_gradient(x):
    ...     return x
    >>> clip_gradient.defvjp(lambda x: (x, None), lambda res, g: (fnp.clip(g, -1.0, 1.0),))
    >>> float(ft.grad(lambda x: 5.0 * clip_gradient(x))(2.0))
    1.0

    ``fwd(*args) -> (out, residuals)`` and ``bwd(*nondiff_args, residuals, ct) -> tuple`` with
    one cotangent (or None) per differentiable argument. Forward mode (``jvp``, ``jacfwd``)
    differentiates the function itself, since ``bwd`` only defines reverse mode (JAX raises
    there instead).
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None
        self.symbolic_zeros = False

    def defvjp(self, fwd: Callable, bwd: Callable, symbolic_zeros: bool = False) -> None:
        self.fwd, self.bwd, self.symbolic_zeros = fwd, bwd, symbolic_zeros

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.fwd is None:
            raise AttributeError(f"functrans.custom_vjp: no fwd/bwd rules defined for "
                                 f"{errors.function_location(self.fun)}; use f.defvjp(fwd, bwd)")
        if core.current_trace() is None:
            return self.fun(*args, **kwargs)
        a = _Args(self.fun, self.nondiff_argnums, args, kwargs, "custom_vjp")
        jaxpr, out_tree, n_consts, consts = _trace(self.fun, a, "custom_vjp")
        outs = custom_vjp_call_p.bind(
            *consts, *a.flat, call_jaxpr=jaxpr, fwd=_FlatFwd(self, a, out_tree, jaxpr.out_avals),
            bwd=_FlatBwd(self, a, out_tree), num_consts=n_consts,
            symbolic_zeros=self.symbolic_zeros)
        return tree_util.tree_unflatten(out_tree, outs)


def _custom_vjp_call_jvp(primals: list, tangents: list, call_jaxpr: ClosedJaxpr, fwd: _FlatFwd,
                         bwd: _FlatBwd, num_consts: int, symbolic_zeros: bool
                         ) -> tuple[list, list]:
    _check_const_tangents("custom_vjp", fwd, tangents[:num_consts])
    args = primals[num_consts:]
    out, res, res_tree = fwd(args)
    arg_tangents = [instantiate(t) for t in tangents[num_consts:]]
    in_avals = tuple(core.get_aval(x) for x in args)
    out_avals = tuple(tangent_aval(a) for a in call_jaxpr.out_avals)
    # Forward mode (evaluating the linear map on concrete tangents) differentiates the function
    # itself; reverse mode (transposing it) calls bwd, so the JVP is only traced if needed.
    nonzeros = [False] * num_consts + [True] * len(args)

    def jvp_of_function() -> tuple[ClosedJaxpr, tuple]:
        from functrans.transforms import subprograms as sp
        jaxpr, out_nz = sp.jvp_jaxpr(call_jaxpr, nonzeros, False)
        return jaxpr, tuple(out_nz)

    t_out = custom_lin_p.bind(*res, *primals, *arg_tangents, num_res=len(res),
                              num_primals=len(primals), bwd=bwd, res_tree=res_tree,
                              in_avals=in_avals, out_avals=out_avals,
                              fallback=Fallback(jvp_of_function))
    t_out = [Zero(a) if a.dtype == dt.float0 else t
             for t, a in zip(t_out, out_avals, strict=True)]
    return out, t_out


custom_vjp_call_p = define_primitive(
    "custom_vjp_call", family="custom", impl=_call_impl, abstract_eval=_call_abstract_eval,
    multiple_results=True, dtypes=dt.INEXACT, sample=lambda d: _example_sin(d, "vjp"),
    jvp=_custom_vjp_call_jvp,
    doc="a function with user-defined fwd/bwd rules (functrans.custom_vjp)")


class Fallback:
    """custom_lin's forward evaluation: a jaxpr computing the function's primal outputs and
    the tangents marked in a tuple of flags (the others are zero), built on first use (reverse
    mode never needs it) and then kept."""

    __slots__ = ("_make", "_value")

    def __init__(self, make: Callable[[], tuple[ClosedJaxpr, tuple]]):
        self._make: Callable[[], tuple[ClosedJaxpr, tuple]] | None = make
        self._value: tuple[ClosedJaxpr, tuple] | None = None

    def get(self) -> tuple[ClosedJaxpr, tuple]:
        if self._value is None:
            self._value, self._make = self._make(), None
        return self._value

    def __repr__(self) -> str:
        return "jvp of the custom_vjp function"


def _custom_lin_impl(*args: np.ndarray, num_res: int, num_primals: int, bwd: _FlatBwd,
                     res_tree: Any, in_avals: tuple, out_avals: tuple,
                     fallback: Fallback) -> list[np.ndarray]:
    fallback_jvp, fallback_nonzeros = fallback.get()
    outs = eval_jaxpr(fallback_jvp.jaxpr, fallback_jvp.consts, *args[num_res:])
    tangents = iter(outs[len(out_avals):])
    # The jvp jaxpr drops symbolically-zero tangent outputs: put zeros back.
    return [np.asarray(next(tangents)) if nz else np.zeros(a.shape, a.dtype)
            for nz, a in zip(fallback_nonzeros, out_avals, strict=True)]


def _custom_lin_transpose(cts: list, *args: Any, num_res: int, num_primals: int,
                          bwd: _FlatBwd, res_tree: Any, in_avals: tuple, out_avals: tuple,
                          fallback: Fallback) -> list[Any]:
    res = args[:num_res]
    cts_in = bwd(res, res_tree, cts, in_avals)
    return [None] * (num_res + num_primals) + cts_in


custom_lin_p = define_primitive(
    "custom_lin", family="custom", impl=_custom_lin_impl,
    abstract_eval=lambda *avals, out_avals, **params: list(out_avals), multiple_results=True,
    dtypes=dt.INEXACT, sample=lambda d: [], transpose=_custom_lin_transpose, linear_in=(),
    doc="the linear map of a custom_vjp function: transposed by its bwd rule; evaluated "
        "forward by differentiating the function itself")


# --- batching (vmap of functions with custom rules) -----------------------------------------------


def _unbatched_aval(aval: ShapedArray, dim: int | None) -> ShapedArray:
    if dim is None:
        return aval
    return ShapedArray(aval.shape[:dim] + aval.shape[dim + 1:], aval.dtype, aval.weak_type)


def _to_dim(axis: Any, value: Any, dim: int | None, want: int | None) -> Any:
    """Move (or broadcast in) a batch dimension; symbolic zeros get the batched aval."""
    from functrans.transforms.batching import batched_aval, broadcast_batched, moveaxis
    if value is None:
        return None
    if type(value) is Zero:
        return value if want is None else Zero(batched_aval(value.aval, want, axis.size))
    if want is None:
        if dim is not None:
            raise ValueError("functrans.vmap: a custom rule returned a batched value where the "
                             "function's own output is not batched")
        return value
    return broadcast_batched(value, axis.size, want) if dim is None else moveaxis(value, dim,
                                                                                 want)


def _strip(ts: Sequence[Any], dims: Sequence[int | None]) -> list[Any]:
    """Symbolic zeros with per-example avals (rules see per-example types)."""
    return [Zero(_unbatched_aval(t.aval, d)) if type(t) is Zero else t
            for t, d in zip(ts, dims, strict=True)]


class _BatchedJVP:
    def __init__(self, jvp: Any, axis: Any, in_dims: list, out_dims: list):
        self.jvp, self.axis, self.in_dims, self.out_dims = jvp, axis, in_dims, out_dims

    def __repr__(self) -> str:
        return f"vmap({self.jvp!r})"

    def __call__(self, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[list, list]:
        n = len(primals)
        t_dims = [None if type(t) is Zero else d for t, d in zip(tangents, self.in_dims,
                                                                 strict=True)]

        def flat(*args: Any) -> list:
            p_out, t_out = self.jvp(list(args[:n]), list(args[n:]))
            return list(p_out) + list(t_out)

        pairs = run_batched(flat, self.axis, [*primals, *_strip(tangents, self.in_dims)],
                             [*self.in_dims, *t_dims])
        m = len(self.out_dims)
        p_out = [_to_dim(self.axis, v, d, w)
                 for (v, d), w in zip(pairs[:m], self.out_dims, strict=True)]
        t_out = [_to_dim(self.axis, v, d, w)
                 for (v, d), w in zip(pairs[m:], self.out_dims, strict=True)]
        return p_out, t_out


def _custom_jvp_call_batch(axis: Any, vals: list, dims: list, call_jaxpr: ClosedJaxpr,
                           jvp: Any, num_consts: int, symbolic_zeros: bool
                           ) -> tuple[list, list]:
    from functrans.transforms.batching import batch_jaxpr
    batched, out_dims = batch_jaxpr(call_jaxpr, axis, dims)
    outs = custom_jvp_call_p.bind(
        *vals, call_jaxpr=batched, jvp=_BatchedJVP(jvp, axis, dims[num_consts:], out_dims),
        num_consts=num_consts, symbolic_zeros=symbolic_zeros)
    return outs, out_dims


class _BatchedFwd:
    def __init__(self, fwd: Any, axis: Any, in_dims: list, out_dims: list):
        self.fwd, self.axis, self.in_dims, self.out_dims = fwd, axis, in_dims, out_dims

    def __repr__(self) -> str:
        return f"vmap({self.fwd!r})"

    def __call__(self, primals: Sequence[Any]) -> tuple[list, list, Any]:
        trees: list[Any] = []
        n_out = len(self.out_dims)

        def flat(*args: Any) -> list:
            out, res, res_tree = self.fwd(list(args))
            trees.append(res_tree)
            return list(out) + list(res)

        pairs = run_batched(flat, self.axis, list(primals), self.in_dims)
        out = [_to_dim(self.axis, v, d, w)
               for (v, d), w in zip(pairs[:n_out], self.out_dims, strict=True)]
        # Every residual gets the batch in front, so bwd knows where to find it.
        res = [_to_dim(self.axis, v, d, 0) for v, d in pairs[n_out:]]
        return out, res, trees[-1]


class _BatchedBwd:
    def __init__(self, bwd: Any, axis: Any, in_dims: list, out_dims: list,
                 res_dims: list | None = None):
        self.bwd, self.axis, self.in_dims, self.out_dims = bwd, axis, in_dims, out_dims
        self.res_dims = res_dims  # None: every residual is batched in front (see _BatchedFwd)

    def __repr__(self) -> str:
        return f"vmap({self.bwd!r})"

    def __call__(self, res: Sequence[Any], res_tree: Any, cts: Sequence[Any],
                 in_avals: Sequence[ShapedArray]) -> list[Any]:
        example_avals = [_unbatched_aval(a, d) for a, d in zip(in_avals, self.in_dims,
                                                               strict=True)]
        n_res = len(res)
        ct_dims = [None if type(c) is Zero else d for c, d in zip(cts, self.out_dims,
                                                                  strict=True)]

        def flat(*args: Any) -> list:
            return self.bwd(list(args[:n_res]), res_tree, list(args[n_res:]), example_avals)

        res_dims = [0] * n_res if self.res_dims is None else self.res_dims
        pairs = run_batched(flat, self.axis, [*res, *_strip(cts, self.out_dims)],
                             [*res_dims, *ct_dims])
        return [_to_dim(self.axis, v, d, w)
                for (v, d), w in zip(pairs, self.in_dims, strict=True)]


def _custom_vjp_call_batch(axis: Any, vals: list, dims: list, call_jaxpr: ClosedJaxpr,
                           fwd: Any, bwd: Any, num_consts: int, symbolic_zeros: bool
                           ) -> tuple[list, list]:
    from functrans.transforms.batching import batch_jaxpr
    batched, out_dims = batch_jaxpr(call_jaxpr, axis, dims)
    in_dims = dims[num_consts:]
    outs = custom_vjp_call_p.bind(
        *vals, call_jaxpr=batched, fwd=_BatchedFwd(fwd, axis, in_dims, out_dims),
        bwd=_BatchedBwd(bwd, axis, in_dims, out_dims), num_consts=num_consts,
        symbolic_zeros=symbolic_zeros)
    return outs, out_dims


def _custom_lin_batch(axis: Any, vals: list, dims: list, num_res: int, num_primals: int,
                      bwd: Any, res_tree: Any, in_avals: tuple, out_avals: tuple,
                      fallback: Fallback) -> tuple[list, list]:
    """A batched custom_lin: every output batched in front; forward evaluation runs the
    batched fallback, transposition runs bwd under vmap."""
    from functrans.ir import eval_jaxpr as run_jaxpr
    from functrans.transforms.batching import batch_jaxpr, batched_aval
    res_dims, t_dims = dims[:num_res], dims[num_res + num_primals:]
    n_out = len(out_avals)
    op_avals = [core.get_aval(v) for v in vals[num_res:]]

    def batched_jvp() -> tuple[ClosedJaxpr, tuple]:
        fallback_jvp, fallback_nonzeros = fallback.get()
        batched_fallback, fb_dims = batch_jaxpr(fallback_jvp, axis, dims[num_res:])
        nz_dims = iter(fb_dims[n_out:])
        tangent_dims = [next(nz_dims) if nz else None for nz in fallback_nonzeros]

        def run(*args: Any) -> list[Any]:
            outs = run_jaxpr(batched_fallback.jaxpr, batched_fallback.consts, *args)
            tangents = iter(outs[n_out:])
            result = []
            for nz, d, a in zip(fallback_nonzeros, tangent_dims, out_avals, strict=True):
                t = next(tangents) if nz else Zero(a)
                result.append(_to_dim(axis, instantiate(t) if type(t) is Zero else t,
                                      None if type(t) is Zero else d, 0))
            return [*outs[:n_out], *result]

        return trace_to_jaxpr(run, op_avals, core.DebugInfo("vmap", run)), (True,) * n_out

    new_out_avals = tuple(batched_aval(a, 0, axis.size) for a in out_avals)
    new_in_avals = tuple(a if d is None else batched_aval(a, d, axis.size)
                         for a, d in zip(in_avals, t_dims, strict=True))
    outs = custom_lin_p.bind(
        *vals, num_res=num_res, num_primals=num_primals,
        bwd=_BatchedBwd(bwd, axis, list(t_dims), [0] * n_out, list(res_dims)),
        res_tree=res_tree, in_avals=new_in_avals, out_avals=new_out_avals,
        fallback=Fallback(batched_jvp))
    return outs, [0] * n_out


set_rule(custom_jvp_call_p, "batch", _custom_jvp_call_batch)
set_rule(custom_lin_p, "batch", _custom_lin_batch)
set_rule(custom_vjp_call_p, "batch", _custom_vjp_call_batch)
