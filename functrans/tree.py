"""Short aliases for the pytree utilities, in the style of ``jax.tree``.

Every name is a plain re-export from ``functrans.tree_util``: ``tree.map`` is
``tree_util.tree_map``, ``tree.static`` is ``tree_util.register_static`` and so on.
This module must import nothing but ``functrans.tree_util``.
"""

from __future__ import annotations

from functrans.tree_util import register_static as static
from functrans.tree_util import tree_all as all
from functrans.tree_util import tree_broadcast as broadcast
from functrans.tree_util import tree_flatten as flatten
from functrans.tree_util import tree_flatten_with_path as flatten_with_path
from functrans.tree_util import tree_leaves as leaves
from functrans.tree_util import tree_leaves_with_path as leaves_with_path
from functrans.tree_util import tree_map as map
from functrans.tree_util import tree_map_with_path as map_with_path
from functrans.tree_util import tree_reduce as reduce
from functrans.tree_util import tree_structure as structure
from functrans.tree_util import tree_transpose as transpose
from functrans.tree_util import tree_unflatten as unflatten

__all__ = [
    "all", "broadcast", "flatten", "flatten_with_path", "leaves", "leaves_with_path", "map",
    "map_with_path", "reduce", "static", "structure", "transpose", "unflatten",
]
