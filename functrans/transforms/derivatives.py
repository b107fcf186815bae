"""The public derivative API: jvp, linearize, vjp, grad, value_and_grad, jacfwd, jacrev,
jacobian, hessian and linear_transpose, over pytrees, nestable to any order.

Everything here is argument handling around ``ad.py``'s interpreters: flattening pytrees,
checking tangent and cotangent types, ``argnums``/``has_aux``, and the messages users see when
they get those wrong. Imports ad, api_util, core, tree_util.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import api_util, core, errors, memory, tree_util
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import api_boundary
from functrans.primitives.ad_rules import (
    UndefinedPrimal, Zero, instantiate, is_differentiable_dtype, tangent_aval,
)
from functrans.transforms import ad
from functrans.transforms.partial_eval import trace_to_jaxpr

# --- helpers ------------------------------------------------------------------------------------


def _flat_fun(fun: Callable, in_tree: tree_util.PyTreeDef, what: str, has_aux: bool = False
              ) -> tuple[Callable[..., list], Callable[[], Any]]:
    """``fun(*args)`` as a function of flat leaves; the thunk returns (out_tree, aux)."""
    store: list[Any] = []

    def flat_fun(*leaves: Any) -> list:
        args = tree_util.tree_unflatten(in_tree, leaves)
        out = fun(*args)
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(
                    f"functrans.{what}: with has_aux=True, {errors.function_location(fun)} "
                    f"must return a pair (output, auxiliary data), got "
                    f"{type(out).__name__}")
            out, aux = out
            aux = _strip_tangents(aux)
        flat, out_tree = tree_util.tree_flatten(out)
        api_util.check_outputs(what, fun, flat, out_tree)
        store.append((out_tree, aux))
        return flat

    return flat_fun, lambda: store[-1]


def _strip_tangents(aux: Any) -> Any:
    """Auxiliary outputs are not differentiated: return their primal values, not tracers of
    the differentiation that is running (which would escape it)."""
    trace = core.current_trace()
    if not isinstance(trace, ad.JVPTrace):
        return aux
    return tree_util.tree_map(lambda leaf: trace.unpack(leaf)[0], aux)


def _check_tangent(what: str, path: str, primal: Any, tangent: Any) -> Any:
    want = tangent_aval(core.get_aval(primal))
    got = core.get_aval(tangent)
    if got.shape != want.shape or got.dtype != want.dtype:
        if got.shape == want.shape and want.dtype == dt.float0:
            raise TypeError(
                f"functrans.{what}: the tangent at {path or 'the input'} must have dtype float0 "
                f"because its primal is {core.get_aval(primal).str_short()} (integers have no "
                f"derivative); pass np.zeros({want.shape}, functrans.float0)")
        raise TypeError(
            f"functrans.{what}: the tangent at {path or 'the input'} is {got.str_short()} but "
            f"its primal needs a tangent of type {want.str_short()}")
    return Zero(want) if want.dtype == dt.float0 else tangent


def _as_arrays(leaves: list[Any]) -> list[Any]:
    """Python scalars become (weakly typed) Arrays, so results are always Arrays."""
    from functrans.numpy import asarray
    return [asarray(x) if type(x) in (bool, int, float, complex) else x for x in leaves]


def _debug(what: str, fun: Callable, args: tuple) -> core.DebugInfo:
    return core.DebugInfo(what, fun, args)


def _zeros(aval: ShapedArray) -> Any:
    return ad.zeros_like_tangent(aval)


# --- forward mode -------------------------------------------------------------------------------


@api_boundary
def jvp(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any],
        has_aux: bool = False) -> Any:
    """Evaluate ``fun(*primals)`` and its directional derivative along ``tangents``.

    >>> import functrans as ft, functrans.numpy as fnp
    >>> y, dy = ft.jvp(fnp.sin, (0.0,), (1.0,))
    >>> float(y), float(dy)
    (0.0, 1.0)

    Returns ``(out, tangent_out)`` (plus ``aux`` with ``has_aux=True``). Integer inputs take
    float0 tangents, as in JAX.
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("functrans.jvp: primals and tangents must be tuples or lists (one "
                        f"entry per argument), got {type(primals).__name__} and "
                        f"{type(tangents).__name__}")
    flat_p, tree_p = tree_util.tree_flatten(tuple(primals))
    flat_t, tree_t = tree_util.tree_flatten(tuple(tangents))
    flat_p, flat_t = _as_arrays(flat_p), _as_arrays(flat_t)
    if tree_p != tree_t:
        raise TypeError(f"functrans.jvp: primals and tangents must have the same structure, got "
                        f"{tree_p} and {tree_t}")
    paths = tree_util.leaf_paths(tuple(primals))
    flat_t = [_check_tangent("jvp", path, p, t)
              for path, p, t in zip(paths, flat_p, flat_t, strict=True)]
    flat_fun, out_info = _flat_fun(fun, tree_p, "jvp", has_aux)
    out_p, out_t = ad.jvp_flat(flat_fun, flat_p, flat_t, _debug("jvp", fun, tuple(primals)))
    out_tree, aux = out_info()
    out_t = [instantiate(t) for t in out_t]
    result = (tree_util.tree_unflatten(out_tree, out_p), tree_util.tree_unflatten(out_tree, out_t))
    return (*result, aux) if has_aux else result


@api_boundary
def linearize(fun: Callable, *primals: Any, has_aux: bool = False) -> Any:
    """``(fun(*primals), f_jvp)`` where ``f_jvp(*tangents)`` is the linear map at ``primals``.

    The primal computation runs once; ``f_jvp`` replays only the staged tangent computation.
    """
    flat_p, tree_p = tree_util.tree_flatten(primals)
    flat_p = _as_arrays(flat_p)
    flat_fun, out_info = _flat_fun(fun, tree_p, "linearize", has_aux)
    lin = ad.linearize_flat(flat_fun, flat_p, _debug("linearize", fun, primals))
    out_tree, aux = out_info()
    paths = tree_util.leaf_paths(primals)

    def f_jvp(*tangents: Any) -> Any:
        flat_t, tree_t = tree_util.tree_flatten(tangents)
        if tree_t != tree_p:
            raise TypeError(f"functrans.linearize: the linear function takes tangents shaped "
                            f"like the primals {tree_p}, got {tree_t}")
        flat_t = [instantiate(_check_tangent("linearize", path, p, t))
                  if tangent_aval(core.get_aval(p)).dtype != dt.float0 else np.zeros(
                      np.shape(p), dt.float0)
                  for path, p, t in zip(paths, flat_p, flat_t, strict=True)]
        return tree_util.tree_unflatten(out_tree, lin.jvp(flat_t))

    out = tree_util.tree_unflatten(out_tree, lin.out_primals)
    return (out, f_jvp, aux) if has_aux else (out, f_jvp)


# --- reverse mode -------------------------------------------------------------------------------


class _VJPFunction:
    """The pullback returned by ``vjp``: call it with a cotangent shaped like the output."""

    def __init__(self, lin: ad.Linearized, in_tree: Any, out_tree: Any,
                 in_avals: list[ShapedArray]):
        self.lin = lin
        self.in_tree = in_tree
        self.out_tree = out_tree
        self.in_avals = in_avals

    def __call__(self, ct: Any) -> tuple[Any, ...]:
        flat_ct, ct_tree = tree_util.tree_flatten(ct)
        if ct_tree != self.out_tree:
            raise TypeError(f"functrans.vjp: the cotangent must have the structure of the "
                            f"function's output, {self.out_tree}; got {ct_tree}")
        for i, (c, p) in enumerate(zip(flat_ct, self.lin.out_primals, strict=True)):
            want = tangent_aval(core.get_aval(p))
            got = core.get_aval(c)
            if got.shape != want.shape or (got.dtype != want.dtype and want.dtype != dt.float0):
                raise TypeError(f"functrans.vjp: cotangent {i} is {got.str_short()} but the "
                                f"output is {core.get_aval(p).str_short()}; they must match")
        cts = self.lin.vjp(flat_ct)
        cts = [_zeros(a) if type(c) is Zero else c
               for c, a in zip(cts, self.in_avals, strict=True)]
        return tree_util.tree_unflatten(self.in_tree, cts)


@api_boundary
def vjp(fun: Callable, *primals: Any, has_aux: bool = False) -> Any:
    """``(fun(*primals), f_vjp)`` where ``f_vjp(ct)`` returns the cotangents of ``primals``.

    >>> import functrans as ft, functrans.numpy as fnp
    >>> y, f_vjp = ft.vjp(fnp.sin, 0.0)
    >>> f_vjp(1.0)
    (Array(1., dtype=float32, weak_type=True),)
    """
    flat_p, tree_p = tree_util.tree_flatten(primals)
    flat_p = _as_arrays(flat_p)
    flat_fun, out_info = _flat_fun(fun, tree_p, "vjp", has_aux)
    lin = ad.linearize_flat(flat_fun, flat_p, _debug("vjp", fun, primals))
    out_tree, aux = out_info()
    pullback = _VJPFunction(lin, tree_p, out_tree, [core.get_aval(p) for p in flat_p])
    out = tree_util.tree_unflatten(out_tree, lin.out_primals)
    return (out, pullback, aux) if has_aux else (out, pullback)


def _check_grad_inputs(what: str, fun: Callable, args: tuple, argnums: tuple[int, ...],
                       holomorphic: bool, allow_int: bool) -> None:
    for i in argnums:
        avals = [core.get_aval(leaf) for leaf in tree_util.tree_leaves(args[i])]
        if all(aval.dtype.kind == ("c" if holomorphic else "f") for aval in avals):
            continue  # the usual case: no message (and no key paths) to build
        for path, leaf in tree_util.tree_flatten_with_path(args[i])[0]:
            aval = core.get_aval(leaf)
            where = f"argument {i}{tree_util.keystr(path)}"
            if holomorphic and aval.dtype.kind != "c":
                raise TypeError(f"functrans.{what}: holomorphic=True needs complex inputs, but "
                                f"{where} is {aval.str_short()}")
            if not is_differentiable_dtype(aval.dtype) and not allow_int:
                raise TypeError(
                    f"functrans.{what}: {where} is {aval.str_short()}; differentiation needs "
                    f"floating (or complex) inputs. Convert it with .astype(float), leave it out "
                    f"of argnums, or pass allow_int=True to get a float0 zero gradient.")
            if aval.dtype.kind == "c" and not holomorphic:
                raise TypeError(
                    f"functrans.{what}: {where} is complex ({aval.str_short()}); pass "
                    f"holomorphic=True for holomorphic functions, or split it into real and "
                    f"imaginary parts.")


def _check_scalar_output(what: str, fun: Callable, out: Any, holomorphic: bool) -> None:
    leaves = tree_util.tree_leaves(out)
    aval = core.get_aval(leaves[0]) if len(leaves) == 1 else None
    ok = aval is not None and aval.shape == () and (
        aval.dtype.kind == "f" or (holomorphic and aval.dtype.kind == "c"))
    if not ok:
        got = (aval.str_short() if aval is not None else
               f"a pytree with {len(leaves)} leaves ({tree_util.tree_structure(out)})")
        kind = "complex" if holomorphic else "real"
        raise TypeError(
            f"functrans.{what}: {errors.function_location(fun)} must return a {kind} scalar "
            f"(shape (), floating dtype) to be differentiated with {what}, but it returned "
            f"{got}. For vector outputs use functrans.jacrev / functrans.jacobian, or "
            f"functrans.vjp(f, x) with a cotangent of your choice.")


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   holomorphic: bool = False, allow_int: bool = False) -> Callable:
    """A function returning ``(fun(*args), gradient)``; see ``grad``."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    what = "value_and_grad"

    @api_boundary
    @functools.wraps(fun)
    def value_and_grad_fun(*args: Any, **kwargs: Any) -> Any:
        norm = api_util.normalize_argnums(what, nums, len(args), "argnums")
        _check_grad_inputs(what, fun, args, norm, holomorphic, allow_int)

        partial_fun = _partial_args(fun, args, kwargs, norm)
        dyn_args = tuple(args[i] for i in norm)
        if has_aux:
            out, pullback, aux = vjp(partial_fun, *dyn_args, has_aux=True)
        else:
            out, pullback = vjp(partial_fun, *dyn_args)
        _check_scalar_output(what, fun, out, holomorphic)
        ct = np.ones((), core.get_aval(out).dtype)
        grads = pullback(ct)
        g = grads[0] if isinstance(argnums, int) else grads
        return ((out, aux), g) if has_aux else (out, g)

    return value_and_grad_fun


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
         holomorphic: bool = False, allow_int: bool = False) -> Callable:
    """The gradient of a scalar-valued ``fun`` with respect to argument(s) ``argnums``.

    >>> import functrans as ft, functrans.numpy as fnp
    >>> ft.grad(lambda x: fnp.sum(x ** 2))(fnp.arange(3.0))
    Array([0., 2., 4.], dtype=float32)

    Arguments may be pytrees; the gradient has the same structure. With ``has_aux=True``,
    ``fun`` returns ``(loss, aux)`` and grad returns ``(gradient, aux)``.
    """
    vg = value_and_grad(fun, argnums, has_aux, holomorphic, allow_int)

    @functools.wraps(fun)
    def grad_fun(*args: Any, **kwargs: Any) -> Any:
        if has_aux:
            (_, aux), g = vg(*args, **kwargs)
            return g, aux
        return vg(*args, **kwargs)[1]

    return grad_fun


# --- Jacobians and Hessians ---------------------------------------------------------------------


def _std_basis(avals: Sequence[ShapedArray]) -> list[np.ndarray]:
    """The standard basis of the space of all ``avals`` together, split per leaf: leaf i gets
    an array of shape (N, *aval_i.shape), N the total size, holding its identity block."""
    sizes = [a.size for a in avals]
    total = sum(sizes)
    out, offset = [], 0
    for a, n in zip(avals, sizes, strict=True):
        block = np.zeros((total, n), a.dtype)
        block[offset:offset + n] = np.eye(n, dtype=a.dtype)
        out.append(block.reshape((total, *a.shape)))
        offset += n
    return out


def _split_last(x: Any, avals: Sequence[ShapedArray], lead: tuple[int, ...]) -> list[Any]:
    """Split the last axis of ``x`` (length sum of sizes) into blocks lead + aval.shape."""
    from functrans import lax
    out, offset = [], 0
    for a in avals:
        piece = lax.slice_in_dim(x, offset, offset + a.size, axis=len(lead))
        out.append(lax.reshape(piece, lead + a.shape))
        offset += a.size
    return out


def _split_first(x: Any, avals: Sequence[ShapedArray], tail: tuple[int, ...]) -> list[Any]:
    """Split the first axis of ``x`` into blocks aval.shape + tail."""
    from functrans import lax
    out, offset = [], 0
    for a in avals:
        piece = lax.slice_in_dim(x, offset, offset + a.size, axis=0)
        out.append(lax.reshape(piece, a.shape + tail))
        offset += a.size
    return out


def _partial_args(fun: Callable, args: tuple, kwargs: dict, argnums: tuple[int, ...]
                  ) -> Callable:
    def partial_fun(*d: Any) -> Any:
        full = list(args)
        for i, v in zip(argnums, d, strict=True):
            full[i] = v
        return fun(*full, **kwargs)

    functools.update_wrapper(partial_fun, fun)
    return partial_fun


def _linearize_at(what: str, fun: Callable, args: tuple, kwargs: dict, nums: tuple[int, ...],
                  has_aux: bool, holomorphic: bool) -> tuple:
    """Linearize ``fun`` at ``args`` with respect to ``nums``: (the linearization, input tree,
    output tree, aux, flat input avals, flat output avals)."""
    norm = api_util.normalize_argnums(what, nums, len(args), "argnums")
    _check_jac_inputs(what, args, norm, holomorphic)
    dyn = tuple(args[i] for i in norm)
    flat_in, in_tree = tree_util.tree_flatten(dyn)
    flat_in = _as_arrays(flat_in)
    flat_fun, out_info = _flat_fun(_partial_args(fun, args, kwargs, norm), in_tree, what,
                                   has_aux)
    lin = ad.linearize_flat(flat_fun, flat_in, _debug(what, fun, dyn))
    out_tree, aux = out_info()
    return (lin, in_tree, out_tree, aux, [core.get_aval(x) for x in flat_in],
            [core.get_aval(x) for x in lin.out_primals])


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False, chunk_size: int | None = None,
           memory_budget: int | str | None = None) -> Callable:
    """The Jacobian of ``fun`` by forward mode: the linearized function applied to every
    input basis vector at once (``vmap``), or ``chunk_size`` of them at a time.

    Leaves have shape ``out.shape + in.shape`` (output structure outside, input structure
    inside, as in JAX). Peak memory grows with the number of basis vectors evaluated together:
    all input elements by default, ``chunk_size`` with it. ``memory_budget`` (bytes, or a
    string like ``"512MB"``) picks the chunk size from the estimated memory of one
    basis vector's pushforward (see ``vmap``).
    """
    from functrans.transforms.batching import vmap
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    budget = memory.check_chunking("jacfwd", chunk_size, memory_budget)

    @api_boundary
    @functools.wraps(fun)
    def jac_fun(*args: Any, **kwargs: Any) -> Any:
        lin, in_tree, out_tree, aux, in_avals, out_avals = _linearize_at(
            "jacfwd", fun, args, kwargs, nums, has_aux, holomorphic)
        columns = vmap(lambda *ts: lin.jvp(list(ts)), out_axes=-1, chunk_size=chunk_size,
                       memory_budget=budget)(*_std_basis(in_avals))
        blocks = [_split_last(col, in_avals, oa.shape)
                  for col, oa in zip(columns, out_avals, strict=True)]
        jac = _assemble(blocks, out_tree, in_tree, isinstance(argnums, int))
        return (jac, aux) if has_aux else jac

    return jac_fun


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False, allow_int: bool = False,
           chunk_size: int | None = None, memory_budget: int | str | None = None) -> Callable:
    """The Jacobian of ``fun`` by reverse mode: the pullback applied to every output basis
    vector at once (``vmap``), or ``chunk_size`` of them at a time (bounded memory), or as
    many as fit in ``memory_budget`` (bytes, or a string like ``"512MB"``; see ``vmap``)
    by the estimated memory of one basis vector's pullback."""
    from functrans.transforms.batching import vmap
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    budget = memory.check_chunking("jacrev", chunk_size, memory_budget)

    @api_boundary
    @functools.wraps(fun)
    def jac_fun(*args: Any, **kwargs: Any) -> Any:
        lin, in_tree, out_tree, aux, in_avals, out_avals = _linearize_at(
            "jacrev", fun, args, kwargs, nums, has_aux, holomorphic)

        for oa in out_avals:
            if oa.dtype.kind not in "fc":
                raise TypeError(f"functrans.jacrev: outputs must be floating to be "
                                f"differentiated in reverse mode, got {oa.str_short()}; use "
                                f"jacfwd, or convert the output with .astype(float)")

        def pullback(*cts: Any) -> list[Any]:
            return [_zeros(a) if type(c) is Zero else c
                    for c, a in zip(lin.vjp(list(cts)), in_avals, strict=True)]

        rows = vmap(pullback, chunk_size=chunk_size, memory_budget=budget)(*_std_basis(
            [tangent_aval(a) for a in out_avals]))
        per_input = [_split_first(r, out_avals, ia.shape)
                     for r, ia in zip(rows, in_avals, strict=True)]
        blocks = [[per_input[i][j] for i in range(len(in_avals))]
                  for j in range(len(out_avals))]
        jac = _assemble(blocks, out_tree, in_tree, isinstance(argnums, int))
        return (jac, aux) if has_aux else jac

    return jac_fun


jacobian = jacrev


def _check_jac_inputs(what: str, args: tuple, argnums: tuple[int, ...], holomorphic: bool
                      ) -> None:
    for i in argnums:
        for leaf in tree_util.tree_leaves(args[i]):
            aval = core.get_aval(leaf)
            if not is_differentiable_dtype(aval.dtype):
                raise TypeError(f"functrans.{what}: argument {i} has a leaf of type "
                                f"{aval.str_short()}; Jacobians need floating inputs")
            if aval.dtype.kind == "c" and not holomorphic:
                raise TypeError(f"functrans.{what}: complex input {aval.str_short()}; pass "
                                f"holomorphic=True")


def _assemble(blocks: list[list[Any]], out_tree: Any, in_tree: Any, single_arg: bool) -> Any:
    """Nest Jacobian blocks: output structure outside, input structure inside."""
    per_output = []
    for row in blocks:
        inner = tree_util.tree_unflatten(in_tree, row)
        per_output.append(inner[0] if single_arg else inner)
    return tree_util.tree_unflatten(out_tree, per_output)


def hessian(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
            holomorphic: bool = False, chunk_size: int | None = None,
            memory_budget: int | str | None = None) -> Callable:
    """The Hessian of a scalar ``fun``: ``jacfwd(jacrev(fun))`` (forward over reverse);
    ``chunk_size`` bounds how many Hessian columns are computed together, or
    ``memory_budget`` (bytes, or a string like ``"512MB"``) picks that number."""
    budget = memory.check_chunking("hessian", chunk_size, memory_budget)
    return jacfwd(jacrev(fun, argnums, has_aux=has_aux, holomorphic=holomorphic), argnums,
                  has_aux=has_aux, holomorphic=holomorphic, chunk_size=chunk_size,
                  memory_budget=budget)


# --- transposing linear functions ---------------------------------------------------------------


def linear_transpose(fun: Callable, *primals: Any) -> Callable:
    """The transpose of a linear ``fun``, traced at the shapes and dtypes of ``primals``.

    >>> import numpy as np, functrans as ft
    >>> t = ft.linear_transpose(lambda x: x * 2.0, np.ones(3, np.float32))
    >>> t(np.ones(3, np.float32))
    (Array([2., 2., 2.], dtype=float32),)
    """
    flat_p, in_tree = tree_util.tree_flatten(primals)
    in_avals = [core.get_aval(x) for x in flat_p]
    for a in in_avals:
        if not is_differentiable_dtype(a.dtype):
            raise TypeError(f"functrans.linear_transpose: inputs must be floating, got "
                            f"{a.str_short()}")
    flat_fun, out_info = _flat_fun(fun, in_tree, "linear_transpose")
    closed = trace_to_jaxpr(flat_fun, in_avals, _debug("linear_transpose", fun, primals))
    out_tree, _ = out_info()
    out_avals = closed.out_avals

    @api_boundary
    def transposed(ct: Any) -> tuple[Any, ...]:
        flat_ct, ct_tree = tree_util.tree_flatten(ct)
        if ct_tree != out_tree:
            raise TypeError(f"functrans.linear_transpose: cotangent structure {ct_tree} does "
                            f"not match the output structure {out_tree}")
        for c, a in zip(flat_ct, out_avals, strict=True):
            got = core.get_aval(c)
            if got.shape != a.shape or got.dtype != a.dtype:
                raise TypeError(f"functrans.linear_transpose: cotangent {got.str_short()} does "
                                f"not match the output type {a.str_short()}")
        args = [UndefinedPrimal(a) for a in in_avals]
        cts = ad.backward_pass(closed.jaxpr, closed.consts, args, flat_ct)
        cts = [_zeros(a) if type(c) is Zero else c for c, a in zip(cts, in_avals, strict=True)]
        return tree_util.tree_unflatten(in_tree, cts)

    return transposed
