"""Public entry points that inspect functions: ``make_jaxpr`` and ``eval_shape``.

The transformations proper (grad, vmap, jit) live in ``transforms/`` and ``lowering/``; this
module holds the ones that only stage a function. Imports ``core``, ``api_util``,
``transforms.partial_eval`` and ``tree_util``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from functrans import api_util, core, tree_util
from functrans.core import ShapeDtypeStruct
from functrans.errors import api_boundary
from functrans.ir import ClosedJaxpr
from functrans.transforms.partial_eval import trace_to_jaxpr


def stage(what: str, fun: Callable, args: tuple, kwargs: dict, static_argnums: tuple[int, ...]
          ) -> tuple[ClosedJaxpr, tree_util.PyTreeDef, list[Any]]:
    """Trace ``fun(*args, **kwargs)`` (``static_argnums`` as Python values) to a closed jaxpr
    over the flat non-static leaves: (jaxpr, output tree, those leaves)."""
    static_argnums = api_util.normalize_argnums(what, static_argnums, len(args))
    dyn, static = api_util.split_static(args, static_argnums)

    def with_static(*dyn_args: Any, **kw: Any) -> Any:
        return fun(*api_util.merge_static(dyn_args, static, static_argnums), **kw)

    functools.update_wrapper(with_static, fun)
    flat, in_tree = tree_util.tree_flatten((dyn, kwargs))
    in_avals = [core.get_aval(x) for x in flat]
    flat_fun, out_tree = api_util.flatten_fun(with_static, in_tree, what)
    debug = core.DebugInfo(what, fun, dyn, kwargs)
    closed = trace_to_jaxpr(flat_fun, in_avals, debug)
    return closed, out_tree(), flat


def make_jaxpr(fun: Callable, static_argnums: int | Sequence[int] = (),
               return_shape: bool = False) -> Callable[..., Any]:
    """A function that returns the jaxpr of ``fun`` for given example arguments.

    >>> import numpy as np, functrans as ft, functrans.numpy as fnp
    >>> print(ft.make_jaxpr(fnp.sin)(np.ones(3, np.float32)))
    { lambda ; a:f32[3]. let b:f32[3] = sin a in (b,) }

    Arguments may be arrays, scalars, ``ShapeDtypeStruct``s, or pytrees of them; only their
    shapes and dtypes matter. ``static_argnums`` are passed to ``fun`` as Python values. With
    ``return_shape=True`` the call returns ``(jaxpr, out_shapes)``.
    """

    @api_boundary
    @functools.wraps(fun)
    def make(*args: Any, **kwargs: Any) -> Any:
        closed, out_tree, _ = stage("make_jaxpr", fun, args, kwargs, static_argnums)
        if not return_shape:
            return closed
        shapes = [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in closed.out_avals]
        return closed, tree_util.tree_unflatten(out_tree, shapes)

    return make


@api_boundary
def eval_shape(fun: Callable, *args: Any, **kwargs: Any) -> Any:
    """The shapes and dtypes ``fun(*args, **kwargs)`` would return, computing nothing.

    >>> import numpy as np, functrans as ft, functrans.numpy as fnp
    >>> ft.eval_shape(lambda x: fnp.sum(x, axis=0), np.ones((2, 3), np.float32))
    ShapeDtypeStruct(shape=(3,), dtype=float32)
    """
    closed, out_tree, _ = stage("eval_shape", fun, args, kwargs, ())
    shapes = [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in closed.out_avals]
    return tree_util.tree_unflatten(out_tree, shapes)
