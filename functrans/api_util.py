"""Argument handling shared by the transformations: static/dynamic splits, argnums checks,
flattening user functions to flat-list functions, and argument names for error messages.

Imports ``core``, ``errors`` and ``tree_util``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from functrans import core, tree_util


def normalize_argnums(name: str, argnums: int | Sequence[int] | None, nargs: int,
                      what: str = "static_argnums") -> tuple[int, ...]:
    """Turn ``argnums`` into sorted non-negative ints, checking the range against ``nargs``."""
    if argnums is None:
        return ()
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    out = []
    for i in nums:
        if not isinstance(i, int) or isinstance(i, bool):
            raise TypeError(f"functrans.{name}: {what} must be ints, got {i!r}")
        j = i + nargs if i < 0 else i
        if not 0 <= j < nargs:
            raise ValueError(
                f"functrans.{name}: {what}={argnums!r} refers to argument {i}, but the "
                f"function was called with {nargs} positional argument"
                f"{'' if nargs == 1 else 's'} (valid: {-nargs} to {nargs - 1})")
        out.append(j)
    return tuple(sorted(set(out)))


def split_static(args: tuple, static_argnums: tuple[int, ...]) -> tuple[tuple, tuple]:
    """(dynamic args, static args) by position."""
    dyn = tuple(a for i, a in enumerate(args) if i not in static_argnums)
    static = tuple(args[i] for i in static_argnums)
    return dyn, static


def merge_static(dyn: Sequence[Any], static: Sequence[Any], static_argnums: tuple[int, ...]
                 ) -> list[Any]:
    dyn_it, static_it = iter(dyn), iter(static)
    n = len(dyn) + len(static)
    return [next(static_it) if i in static_argnums else next(dyn_it) for i in range(n)]


def flatten_fun(fun: Callable, in_tree: tree_util.PyTreeDef, what: str
                ) -> tuple[Callable[..., list], Callable[[], tree_util.PyTreeDef]]:
    """A flat version of ``fun(*args, **kwargs)`` whose inputs are ``in_tree``'s leaves.

    Returns the flat function and a thunk giving the output tree once it has run.
    """
    store: list[tree_util.PyTreeDef] = []

    def flat_fun(*leaves: Any) -> list:
        args, kwargs = tree_util.tree_unflatten(in_tree, leaves)
        out = fun(*args, **kwargs)
        flat, out_tree = tree_util.tree_flatten(out)
        check_outputs(what, fun, flat, out_tree)
        store.append(out_tree)
        return flat

    return flat_fun, lambda: store[-1]


def check_outputs(what: str, fun: Callable, flat: list, out_tree: Any) -> None:
    for i, leaf in enumerate(flat):
        if not core.is_array_like(leaf):
            paths = [tree_util.keystr(p) for p, _ in
                     tree_util.tree_flatten_with_path(tree_util.tree_unflatten(out_tree, flat))[0]]
            where = paths[i] if i < len(paths) and paths[i] else "the output"
            raise TypeError(
                f"functrans.{what}: {core.errors.function_location(fun)} returned a value of "
                f"type {type(leaf).__name__} at {where}; transformed functions must return "
                f"arrays, scalars, or pytrees (tuples, lists, dicts, ...) of them")


def argument_leaf_names(fun: Callable, args: tuple, kwargs: dict) -> tuple[str, ...]:
    """Names like ``x`` or ``params['w'][0]`` for every leaf of ``(args, kwargs)``."""
    try:
        sig = inspect.signature(fun)
        bound = sig.bind(*args, **kwargs)
        names = list(bound.arguments.items())
    except (TypeError, ValueError):
        names = [(f"args[{i}]", a) for i, a in enumerate(args)] + list(kwargs.items())
    out = []
    for name, value in names:
        param = None
        try:
            param = sig.parameters[name]  # type: ignore[possibly-undefined]
        except (KeyError, NameError):
            pass
        if param is not None and param.kind == inspect.Parameter.VAR_POSITIONAL:
            value = tuple(value)
            prefix = f"{name}"
        elif param is not None and param.kind == inspect.Parameter.VAR_KEYWORD:
            prefix = f"{name}"
        else:
            prefix = name
        for path, _ in tree_util.tree_flatten_with_path(value)[0]:
            out.append(prefix + tree_util.keystr(path))
    return tuple(out)
