"""Transform laws as test helpers: identities between functrans' transformations.

Each ``check_*`` evaluates both sides of a law at the given arguments and raises AssertionError
naming the output element where they differ: jacfwd = jacrev, linearize = jvp, a linear
function's ``linear_transpose`` is its adjoint, jit(f) = f, vmap(f) = a loop over f, and
vmap(grad f) = a loop over grad f. The jit/vmap laws raise NotImplementedError while
``functrans.jit`` / ``functrans.vmap`` do not exist. Imports numpy and functrans only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from functrans import core, tree_util
from functrans.primitives.ad_rules import tangent_aval
from functrans.testing.gradients import Tolerance, _element, _resolve_tol, as_functrans

__all__ = [
    "check_jacfwd_equals_jacrev",
    "check_jit_equals_eager",
    "check_linearize_matches_jvp",
    "check_transpose",
    "check_vmap_grad_matches_loop",
    "check_vmap_matches_loop",
]

# Both sides of these laws are computed by functrans in the same dtype, so they should agree
# to rounding: tighter than the finite-difference tolerances of check_grads.
_LAW_TOL = {np.dtype(np.float16): 5e-3, np.dtype(np.float32): 1e-5,
            np.dtype(np.float64): 1e-10}


def _law_tol(user: Tolerance, dtypes: Sequence[np.dtype], what: str) -> float:
    if user is not None:
        return _resolve_tol(user, dtypes, True, what)
    real = [np.finfo(d).dtype for d in dtypes if d.kind in "fc"]
    return max((_LAW_TOL.get(d, 100 * float(np.finfo(d).eps)) for d in real), default=0.0)


def _transform(name: str) -> Callable:
    import functrans  # (functrans imports this package's users lazily)
    return getattr(functrans, name)


# --- comparing pytrees --------------------------------------------------------------------------


def assert_trees_close(actual: Any, expected: Any, *, rtol: Tolerance = None,
                       atol: Tolerance = None, names: tuple[str, str] = ("actual", "expected"),
                       what: str = "assert_trees_close", context: str = "") -> None:
    """Assert two pytrees have the same structure, shapes and dtypes, and close values.

    Elements pass when ``|a - e| <= atol + rtol * |e|``; ``rtol`` defaults by dtype (tight:
    both sides are meant to compute the same thing), ``atol`` to ``rtol`` times the largest
    magnitude in that leaf. Messages name the leaf path and element index.
    """
    a_pairs, a_tree = tree_util.tree_flatten_with_path(actual)
    e_pairs, e_tree = tree_util.tree_flatten_with_path(expected)
    a_name, e_name = names
    suffix = f"\n  {context}" if context else ""
    if a_tree != e_tree:
        raise AssertionError(f"{what}: {a_name} has structure {a_tree} but {e_name} has "
                             f"{e_tree}{suffix}")
    for (path, a), (_, e) in zip(a_pairs, e_pairs, strict=True):
        where = tree_util.keystr(path)
        a, e = np.asarray(a), np.asarray(e)
        if a.shape != e.shape or a.dtype != e.dtype:
            raise AssertionError(f"{what}: at {where or 'the output'}, {a_name} is "
                                 f"{a.dtype}{list(a.shape)} but {e_name} is "
                                 f"{e.dtype}{list(e.shape)}{suffix}")
        if a.dtype.kind not in "fc":
            bad = a != e
            if np.any(bad):
                i = int(np.argmax(bad.ravel()))
                raise AssertionError(f"{what}: {a_name} and {e_name} differ at "
                                     f"{_element(where, a.shape, i)}: {a.ravel()[i]!r} vs "
                                     f"{e.ravel()[i]!r}{suffix}")
            continue
        r = _law_tol(rtol, [a.dtype], "rtol")
        aw, ew = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64), \
            e.astype(np.complex128 if e.dtype.kind == "c" else np.float64)
        finite = np.abs(ew[np.isfinite(ew)])
        scale = float(finite.max()) if finite.size else 0.0
        t = _law_tol(atol, [a.dtype], "atol") if atol is not None else r * scale
        with np.errstate(invalid="ignore"):
            err = np.abs(aw - ew)
            ok = (err <= t + r * np.abs(ew)) | (aw == ew) | (np.isnan(aw) & np.isnan(ew))
        if not ok.all():
            score = np.where(ok, -1.0, np.nan_to_num(err, nan=np.inf)).ravel()
            i = int(np.argmax(score))
            raise AssertionError(
                f"{what}: {a_name} and {e_name} differ at {_element(where, a.shape, i)}: "
                f"{a_name} {aw.ravel()[i]:.6g}, {e_name} {ew.ravel()[i]:.6g}, abs error "
                f"{err.ravel()[i]:.2e} > atol {t:.1e} + rtol {r:.1e} * |{e_name}| "
                f"({int((~ok).sum())} of {a.size} elements differ){suffix}")


def _random_like(x: Any, rng: np.random.Generator) -> np.ndarray:
    """A random value of ``x``'s tangent type (float0 zeros for integer leaves)."""
    aval = tangent_aval(core.get_aval(x))
    if aval.dtype.kind not in "fc":
        return np.zeros(aval.shape, aval.dtype)
    r = rng.standard_normal(aval.shape)
    if aval.dtype.kind == "c":
        r = (r + 1j * rng.standard_normal(aval.shape)) / math.sqrt(2)
    return np.asarray(r, aval.dtype)


def _random_tree(tree: Any, rng: np.random.Generator) -> Any:
    return tree_util.tree_map(lambda x: _random_like(x, rng), tree)


def _combine(p: Any, q: Any) -> np.ndarray:
    """0.75 p - 1.25 q (exact coefficients in every float format) in the dtype of p, with
    NumPy arithmetic (outside functrans)."""
    a, b = 0.75, -1.25
    p, q = np.asarray(p), np.asarray(q)
    return np.asarray(a * p + b * q, dtype=p.dtype)


def _pair(a: Any, b: Any) -> tuple[float, float]:
    """Re(sum(a * b)) over matching pytrees, and sum(|a| |b|) (its rounding scale)."""
    total, scale = 0.0, 0.0
    for x, y in zip(tree_util.tree_leaves(a), tree_util.tree_leaves(b), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype.kind not in "fc" or y.dtype.kind not in "fc":
            continue
        total += float(np.real(np.sum(x.astype(np.complex128) * y)))
        scale += float(np.sum(np.abs(x.astype(np.complex128)) * np.abs(y)))
    return total, scale


def _inexact_dtypes(tree: Any) -> list[np.dtype]:
    return [core.get_aval(x).dtype for x in tree_util.tree_leaves(tree)
            if core.get_aval(x).dtype.kind in "fc"]


# --- derivative laws ----------------------------------------------------------------------------


def check_jacfwd_equals_jacrev(f: Callable, args: Sequence[Any],
                               argnums: int | Sequence[int] | None = None, *,
                               rtol: Tolerance = None, atol: Tolerance = None) -> None:
    """``functrans.jacfwd(f, argnums)(*args)`` must equal ``functrans.jacrev(f, argnums)``.

    ``argnums`` defaults to every argument whose leaves are all floating (or complex).
    """
    from functrans.transforms.derivatives import jacfwd, jacrev
    args = tuple(args)
    if argnums is None:
        argnums = tuple(i for i, a in enumerate(args)
                        if tree_util.tree_leaves(a) and all(
                            core.get_aval(x).dtype.kind in "fc"
                            for x in tree_util.tree_leaves(a)))
        if not argnums:
            raise ValueError("check_jacfwd_equals_jacrev: no argument has only floating-point "
                             "leaves; pass argnums")
    fwd = jacfwd(f, argnums)(*args)
    rev = jacrev(f, argnums)(*args)
    assert_trees_close(fwd, rev, rtol=rtol, atol=atol, names=("jacfwd", "jacrev"),
                       what="check_jacfwd_equals_jacrev",
                       context=f"argnums={argnums}; the Jacobian's leaves are "
                               f"output.shape + input.shape (output structure outside)")


def check_linearize_matches_jvp(f: Callable, args: Sequence[Any], *, directions: int = 2,
                                seed: int = 0, rtol: Tolerance = None,
                                atol: Tolerance = None) -> None:
    """``functrans.linearize(f, *args)`` must give f's output and the same tangents as
    ``functrans.jvp(f, args, tangents)`` along random tangents."""
    from functrans.transforms.derivatives import jvp, linearize
    args = tuple(args)
    out, f_jvp = linearize(f, *args)
    assert_trees_close(out, f(*as_functrans(args)), rtol=rtol, atol=atol,
                       names=("linearize", "f"),
                       what="check_linearize_matches_jvp", context="the primal output")
    for k in range(directions):
        rng = np.random.default_rng([seed, k])
        tangents = _random_tree(args, rng)
        _, expected = jvp(f, args, tangents)
        assert_trees_close(f_jvp(*tangents), expected, rtol=rtol, atol=atol,
                           names=("linearize", "jvp"), what="check_linearize_matches_jvp",
                           context=f"tangent output along random direction {k} "
                                   f"(seed={seed})")


def check_transpose(linear_f: Callable, args: Sequence[Any], *, directions: int = 2,
                    seed: int = 0, rtol: Tolerance = None, atol: Tolerance = None) -> None:
    """``functrans.linear_transpose(linear_f, *args)`` must be the adjoint of ``linear_f``.

    ``args`` only give shapes and dtypes. For random v (shaped like args) and u (shaped like
    the output) checks that ``linear_f`` is linear, f(a v1 + b v2) = a f(v1) + b f(v2), and
    the adjoint identity Re(sum(u * f(v))) = Re(sum(T(u) * v)), T the transpose.
    """
    from functrans.transforms.derivatives import linear_transpose
    args = tuple(args)
    transposed = linear_transpose(linear_f, *args)
    tol = _law_tol(rtol, _inexact_dtypes(args), "rtol")
    for k in range(directions):
        rng = np.random.default_rng([seed, k])
        v1, v2 = _random_tree(args, rng), _random_tree(args, rng)
        lhs = linear_f(*as_functrans(tree_util.tree_map(_combine, v1, v2)))
        rhs = tree_util.tree_map(_combine, linear_f(*as_functrans(v1)),
                                 linear_f(*as_functrans(v2)))
        assert_trees_close(lhs, rhs, rtol=rtol, atol=atol,
                           names=("f(a v1 + b v2)", "a f(v1) + b f(v2)"),
                           what="check_transpose", context=f"linear_f is not linear (random "
                                                           f"vectors {k}, seed={seed})")
        out = linear_f(*as_functrans(v1))
        u = _random_tree(out, rng)
        ip_out, s_out = _pair(u, out)
        ip_in, s_in = _pair(transposed(u), v1)
        allowed = (_law_tol(atol, _inexact_dtypes(args), "atol") if atol is not None
                   else 0.0) + tol * max(s_out, s_in)
        if not abs(ip_out - ip_in) <= allowed:
            raise AssertionError(
                f"check_transpose: linear_transpose is not the adjoint of linear_f: "
                f"<u, f(v)> = {ip_out:.6g} but <transpose(u), v> = {ip_in:.6g} for random u, "
                f"v {k} (seed={seed}); abs error {abs(ip_out - ip_in):.2e} > allowed "
                f"{allowed:.2e}")


# --- jit and vmap laws --------------------------------------------------------------------------


def check_jit_equals_eager(f: Callable, args: Sequence[Any], *, rtol: Tolerance = None,
                           atol: Tolerance = None, **jit_kwargs: Any) -> None:
    """``functrans.jit(f, **jit_kwargs)(*args)`` must equal ``f(*args)``."""
    jit = _transform("jit")
    args = tuple(args)
    assert_trees_close(jit(f, **jit_kwargs)(*args), f(*as_functrans(args)), rtol=rtol,
                       atol=atol,
                       names=("jit(f)", "f"), what="check_jit_equals_eager")


def _in_axes_per_leaf(args: tuple, in_axes: Any, what: str) -> list[int | None]:
    """One axis (or None) per leaf of ``args``, from vmap's ``in_axes`` (an int, None, or a
    tuple with one entry per argument, each an int/None or a pytree prefix of it)."""
    if in_axes is None or isinstance(in_axes, int):
        per_arg: Any = (in_axes,) * len(args)
    elif isinstance(in_axes, (tuple, list)) and len(in_axes) == len(args):
        per_arg = tuple(in_axes)
    else:
        raise ValueError(f"functrans.testing.{what}: in_axes must be an int, None, or a tuple "
                         f"with one entry per argument ({len(args)}), got {in_axes!r}")
    leaves = []
    for arg, ax in zip(args, per_arg, strict=True):
        full = tree_util.tree_broadcast(ax, arg, is_leaf=lambda x: x is None)
        leaves += tree_util.tree_structure(arg).flatten_up_to(full)
    return leaves


def _loop(f: Callable, args: tuple, in_axes: Any, out_axes: int, what: str) -> Any:
    flat, tree = tree_util.tree_flatten(args)
    axes = _in_axes_per_leaf(args, in_axes, what)
    sizes = {np.shape(x)[a] for x, a in zip(flat, axes, strict=True) if a is not None}
    if len(sizes) != 1:
        raise ValueError(f"functrans.testing.{what}: the mapped axes must have one common "
                         f"size, got sizes {sorted(sizes)} (in_axes={in_axes!r})")
    n = sizes.pop()
    if n == 0:
        raise ValueError(f"functrans.testing.{what}: the mapped axis has size 0; the loop "
                         f"reference cannot infer output shapes from no calls")
    results = []
    for i in range(n):
        sliced = [x if a is None else np.take(np.asarray(x), i, axis=a)
                  for x, a in zip(flat, axes, strict=True)]
        results.append(f(*as_functrans(tree_util.tree_unflatten(tree, sliced))))
    return tree_util.tree_map(lambda *ys: np.stack([np.asarray(y) for y in ys], axis=out_axes),
                              *results)


def check_vmap_matches_loop(f: Callable, args: Sequence[Any], in_axes: Any = 0,
                            out_axes: int = 0, *, rtol: Tolerance = None,
                            atol: Tolerance = None) -> None:
    """``functrans.vmap(f, in_axes, out_axes)(*args)`` must equal calling ``f`` on each slice
    and stacking the results along ``out_axes``.

    ``in_axes``: an int, None, or one entry per argument (int, None, or a pytree prefix of that
    argument).
    """
    vmap = _transform("vmap")
    args = tuple(args)
    expected = _loop(f, args, in_axes, out_axes, "check_vmap_matches_loop")
    got = vmap(f, in_axes=in_axes, out_axes=out_axes)(*args)
    assert_trees_close(got, expected, rtol=rtol, atol=atol, names=("vmap(f)", "loop over f"),
                       what="check_vmap_matches_loop",
                       context=f"in_axes={in_axes!r}, out_axes={out_axes!r}")


def check_vmap_grad_matches_loop(f: Callable, args: Sequence[Any], argnums: int = 0,
                                 in_axes: Any = 0, *, rtol: Tolerance = None,
                                 atol: Tolerance = None) -> None:
    """``functrans.vmap(functrans.grad(f, argnums), in_axes)(*args)`` must equal the stacked
    per-example gradients (a loop over ``functrans.grad(f, argnums)``)."""
    vmap = _transform("vmap")
    from functrans.transforms.derivatives import grad
    args = tuple(args)
    g = grad(f, argnums)
    expected = _loop(g, args, in_axes, 0, "check_vmap_grad_matches_loop")
    got = vmap(g, in_axes=in_axes)(*args)
    assert_trees_close(got, expected, rtol=rtol, atol=atol,
                       names=("vmap(grad(f))", "loop over grad(f)"),
                       what="check_vmap_grad_matches_loop",
                       context=f"argnums={argnums!r}, in_axes={in_axes!r}")
