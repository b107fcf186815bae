"""Pytrees: flattening nested containers to a list of leaves and a ``PyTreeDef``, and back.

Owns the node-type registry (tuple, list, dict, None, namedtuple, OrderedDict, defaultdict,
plus user registrations), key paths, and the tree_* helpers, with jax.tree_util semantics.
Flatten and unflatten run on every jit call, so the hot paths are plain recursive functions
over nested tuples with exact-type dict dispatch. Pure Python and stdlib only: it must not
import numpy or any other functrans module (everything else imports it).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

__all__ = [
    "PyTreeDef", "Partial", "DictKey", "SequenceKey", "GetAttrKey", "FlattenedIndexKey",
    "tree_flatten", "tree_unflatten", "tree_leaves", "tree_structure", "tree_map",
    "tree_flatten_with_path", "tree_leaves_with_path", "tree_map_with_path", "keystr",
    "tree_reduce", "tree_all", "tree_transpose", "tree_broadcast", "all_leaves",
    "treedef_children", "treedef_is_leaf", "treedef_is_strict_leaf", "treedef_tuple",
    "register_pytree_node", "register_pytree_with_keys", "register_pytree_node_class",
    "register_pytree_with_keys_class", "register_dataclass", "register_static",
]

T = TypeVar("T")

# A treedef is a nested tuple ``(kind, node_type, aux, children)``; comparing and hashing
# nested tuples happens in C, which keeps ``PyTreeDef.__eq__``/``__hash__`` cheap.
_LEAF_K, _NONE_K, _TUPLE_K, _LIST_K, _DICT_K, _NAMEDTUPLE_K, _CUSTOM_K = range(7)
_LEAF = (_LEAF_K, None, None, ())
_NONE = (_NONE_K, type(None), None, ())

# Exact type -> kind. Namedtuple classes are added lazily the first time they are seen (so a
# program that keeps creating namedtuple classes keeps them alive here; acceptable).
_kinds: dict[type, int] = {type(None): _NONE_K, tuple: _TUPLE_K, list: _LIST_K, dict: _DICT_K}
_kinds_get = _kinds.get
_BUILTIN_NODE_TYPES = frozenset(_kinds)


class _Handler:
    __slots__ = ("type", "flatten", "unflatten", "flatten_with_keys")

    def __init__(self, nodetype, flatten, unflatten, flatten_with_keys):
        self.type = nodetype
        self.flatten = flatten
        self.unflatten = unflatten
        self.flatten_with_keys = flatten_with_keys


_handlers: dict[type, _Handler] = {}


# --- key paths ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class DictKey:
    """Path entry for a mapping value: ``str(DictKey('a')) == "['a']"``."""
    key: Hashable

    def __str__(self) -> str:
        return f"[{self.key!r}]"


@dataclasses.dataclass(frozen=True, slots=True)
class SequenceKey:
    """Path entry for a tuple or list element: ``str(SequenceKey(0)) == "[0]"``."""
    idx: int

    def __str__(self) -> str:
        return f"[{self.idx}]"


@dataclasses.dataclass(frozen=True, slots=True)
class GetAttrKey:
    """Path entry for an attribute (namedtuple field, dataclass field): ``.name``."""
    name: str

    def __str__(self) -> str:
        return f".{self.name}"


@dataclasses.dataclass(frozen=True, slots=True)
class FlattenedIndexKey:
    """Path entry for the i-th child of a custom node registered without keys."""
    key: int

    def __str__(self) -> str:
        return f"[<flat index {self.key}>]"


def leaf_paths(tree: Any) -> list[str]:
    """``keystr`` of every leaf's key path, in flattening order."""
    return [keystr(p) for p, _ in tree_flatten_with_path(tree)[0]]


def keystr(keys: Iterable[Any], *, simple: bool = False, separator: str = "") -> str:
    """Format a key path; ``simple=True`` drops brackets, quotes and dots.

    >>> keystr((DictKey('a'), SequenceKey(0), GetAttrKey('b')))
    "['a'][0].b"
    >>> keystr((DictKey('a'), SequenceKey(0)), simple=True, separator='/')
    'a/0'
    """
    if not simple:
        return separator.join(str(k) for k in keys)
    return separator.join(_simple_key_str(k) for k in keys)


def _simple_key_str(k: Any) -> str:
    if isinstance(k, DictKey):
        return str(k.key)
    if isinstance(k, SequenceKey):
        return str(k.idx)
    if isinstance(k, GetAttrKey):
        return k.name
    if isinstance(k, FlattenedIndexKey):
        return str(k.key)
    return str(k)


# --- dict key order ----------------------------------------------------------------------------

def _sorted_keys(d: dict) -> tuple:
    """Dict keys in sorted order.

    Deviation from JAX (which raises): keys that are not mutually comparable are grouped by
    type (ordered by module and qualified type name), each group sorted on its own, falling
    back to ``repr`` order inside a group that is itself not comparable.
    """
    try:
        return tuple(sorted(d))
    except TypeError:
        pass
    groups: dict[tuple[str, str], list] = {}
    for k in d:
        groups.setdefault((type(k).__module__, type(k).__qualname__), []).append(k)
    out: list = []
    for name in sorted(groups):
        ks = groups[name]
        try:
            ks = sorted(ks)
        except TypeError:
            ks = sorted(ks, key=repr)
        out.extend(ks)
    return tuple(out)


# --- flatten / unflatten (hot paths) -----------------------------------------------------------

def _call_flatten(h: _Handler, x: Any) -> tuple[Any, Any]:
    out = h.flatten(x)
    if type(out) is not tuple or len(out) != 2:
        raise ValueError(
            f"The flatten function registered for {h.type.__qualname__} must return a "
            f"(children, aux_data) tuple, got {out!r}")
    return out


def _flatten(x: Any, leaves: list) -> tuple:
    # Fast path (no is_leaf): children that are plain leaves are handled inline, which saves
    # a call per leaf. Tuple subclasses recurse so that namedtuples get classified.
    t = type(x)
    k = _kinds_get(t)
    if k is None:
        if isinstance(x, tuple) and hasattr(t, "_fields"):
            k = _kinds[t] = _NAMEDTUPLE_K
        else:
            leaves.append(x)
            return _LEAF
    if k == _DICT_K:
        try:
            aux = tuple(sorted(x))
        except TypeError:
            aux = _sorted_keys(x)
        children = [x[key] for key in aux]
    elif k == _TUPLE_K or k == _LIST_K or k == _NAMEDTUPLE_K:
        aux = None
        children = x
    elif k == _NONE_K:
        return _NONE
    else:
        children, aux = _call_flatten(_handlers[t], x)
    out = []
    for c in children:
        if type(c) in _kinds or isinstance(c, tuple):
            out.append(_flatten(c, leaves))
        else:
            leaves.append(c)
            out.append(_LEAF)
    return (k, t, aux, tuple(out))


def _flatten_pred(x: Any, leaves: list, is_leaf: Callable[[Any], bool]) -> tuple:
    # Same as _flatten, but asks is_leaf first at every node.
    if is_leaf(x):
        leaves.append(x)
        return _LEAF
    t = type(x)
    k = _kinds_get(t)
    if k is None:
        if isinstance(x, tuple) and hasattr(t, "_fields"):
            k = _kinds[t] = _NAMEDTUPLE_K
        else:
            leaves.append(x)
            return _LEAF
    if k == _DICT_K:
        aux = _sorted_keys(x)
        children = [x[key] for key in aux]
    elif k == _TUPLE_K or k == _LIST_K or k == _NAMEDTUPLE_K:
        aux = None
        children = x
    elif k == _NONE_K:
        return _NONE
    else:
        children, aux = _call_flatten(_handlers[t], x)
    return (k, t, aux, tuple([_flatten_pred(c, leaves, is_leaf) for c in children]))


def _unflatten(node: tuple, it) -> Any:
    k, t, aux, children = node
    if k == _LEAF_K:
        return next(it)
    if k == _NONE_K:
        return None
    vals = [next(it) if c is _LEAF else _unflatten(c, it) for c in children]
    if k == _TUPLE_K:
        return tuple(vals)
    if k == _LIST_K:
        return vals
    if k == _DICT_K:
        return dict(zip(aux, vals))
    if k == _NAMEDTUPLE_K:
        return t(*vals)
    return _handlers[t].unflatten(aux, tuple(vals))


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                 ) -> tuple[list, PyTreeDef]:
    """Flatten a pytree into its leaves (in order) and a ``PyTreeDef``.

    ``None`` is an empty node, not a leaf; dict values come out in sorted key order.
    ``is_leaf(x)`` returning True makes ``x`` a leaf without looking inside it.

    >>> leaves, treedef = tree_flatten({'b': (1, 2.0), 'a': None, 'c': [3]})
    >>> leaves
    [1, 2.0, 3]
    >>> treedef
    PyTreeDef({'a': None, 'b': (*, *), 'c': [*]})
    """
    leaves: list = []
    if is_leaf is None:
        node = _flatten(tree, leaves)
    else:
        node = _flatten_pred(tree, leaves, is_leaf)
    return leaves, PyTreeDef(node, len(leaves))


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> Any:
    """Rebuild a pytree of shape ``treedef`` from an iterable of leaves.

    >>> leaves, treedef = tree_flatten((1, {'x': 2}))
    >>> tree_unflatten(treedef, [10, 20])
    (10, {'x': 20})
    """
    return treedef.unflatten(leaves)


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list:
    """The leaves of a pytree, in flattening order.

    >>> tree_leaves([1, (2, None), {'b': 4, 'a': 3}])
    [1, 2, 3, 4]
    """
    leaves: list = []
    if is_leaf is None:
        _flatten(tree, leaves)
    else:
        _flatten_pred(tree, leaves, is_leaf)
    return leaves


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """The ``PyTreeDef`` of a pytree.

    >>> tree_structure((1, [2, 3]))
    PyTreeDef((*, [*, *]))
    """
    return tree_flatten(tree, is_leaf)[1]


# --- PyTreeDef ---------------------------------------------------------------------------------

def _count(node: tuple) -> tuple[int, int]:
    if node[0] == _LEAF_K:
        return 1, 1
    leaves, nodes = 0, 1
    for c in node[3]:
        cl, cn = _count(c)
        leaves += cl
        nodes += cn
    return leaves, nodes


def _hash_without_aux(node: tuple) -> int:
    # Used when some aux data is unhashable: equal treedefs still hash equally.
    k, t, aux, children = node
    aux_hash = hash(aux) if k == _DICT_K else 0
    return hash((k, t, aux_hash, tuple(_hash_without_aux(c) for c in children)))


def _repr_node(node: tuple) -> str:
    k, t, aux, children = node
    if k == _LEAF_K:
        return "*"
    if k == _NONE_K:
        return "None"
    parts = [_repr_node(c) for c in children]
    if k == _TUPLE_K:
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if k == _LIST_K:
        return "[" + ", ".join(parts) + "]"
    if k == _DICT_K:
        return "{" + ", ".join(f"{key!r}: {p}" for key, p in zip(aux, parts)) + "}"
    if k == _NAMEDTUPLE_K:
        return f"CustomNode(namedtuple[{t.__name__}], [{', '.join(parts)}])"
    return f"CustomNode({t.__name__}[{aux}], [{', '.join(parts)}])"


def _compose(node: tuple, inner: tuple) -> tuple:
    if node[0] == _LEAF_K:
        return inner
    k, t, aux, children = node
    return (k, t, aux, tuple(_compose(c, inner) for c in children))


class PyTreeDef:
    """The structure of a pytree: node types, aux data and dict keys, with leaves as ``*``.

    Immutable and hashable; equality is structural. Obtain one from ``tree_flatten`` or
    ``tree_structure``.

    >>> td = tree_structure((1, {'a': 2, 'b': None}))
    >>> td, td.num_leaves, td.num_nodes
    (PyTreeDef((*, {'a': *, 'b': None})), 2, 5)
    >>> td == tree_structure(('x', {'b': None, 'a': 'y'}))
    True
    """

    __slots__ = ("_node", "_num_leaves", "_num_nodes", "_hash")

    def __init__(self, node: tuple, num_leaves: int = -1):
        self._node = node
        self._num_leaves = num_leaves
        self._num_nodes = -1
        self._hash = None

    @property
    def num_leaves(self) -> int:
        """Number of leaves (``*``) in the structure."""
        if self._num_leaves < 0:
            self._num_leaves, self._num_nodes = _count(self._node)
        return self._num_leaves

    @property
    def num_nodes(self) -> int:
        """Number of nodes, counting leaves and ``None`` nodes (JAX's convention)."""
        if self._num_nodes < 0:
            self._num_leaves, self._num_nodes = _count(self._node)
        return self._num_nodes

    def children(self) -> list[PyTreeDef]:
        """The treedefs of the root node's children (empty for a leaf or ``None``)."""
        return [PyTreeDef(c) for c in self._node[3]]

    def node_data(self) -> tuple[type, Any] | None:
        """``(node_type, aux_data)`` of the root node, or ``None`` for a leaf.

        Dict aux data is the list of sorted keys, as in JAX.
        """
        k, t, aux, _ = self._node
        if k == _LEAF_K:
            return None
        return (t, list(aux)) if k == _DICT_K else (t, aux)

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """Rebuild a pytree with this structure from ``leaves`` (see ``tree_unflatten``)."""
        if type(leaves) is not list and type(leaves) is not tuple:
            leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(
                f"tree_unflatten: expected {self.num_leaves} leaves, got {len(leaves)}, "
                f"for {_short_repr(self)}")
        if self._node is _LEAF:
            return leaves[0]
        return _unflatten(self._node, iter(leaves))

    def flatten_up_to(self, tree: Any) -> list:
        """Flatten ``tree`` only as deep as this treedef: one subtree per leaf ``*``.

        >>> tree_structure((1, 2)).flatten_up_to(([1, 2], {'a': 3}))
        [[1, 2], {'a': 3}]
        """
        return _flatten_up_to(self, tree, "flatten_up_to: ")

    def compose(self, inner: PyTreeDef) -> PyTreeDef:
        """The treedef obtained by replacing every leaf of ``self`` with ``inner``."""
        return PyTreeDef(_compose(self._node, inner._node))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        if self._node is other._node:
            return True
        if self._hash is not None and other._hash is not None and self._hash != other._hash:
            return False
        return self._node == other._node

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            try:
                h = hash(self._node)
            except TypeError:
                h = _hash_without_aux(self._node)
            self._hash = h
        return h

    def __repr__(self) -> str:
        return f"PyTreeDef({_repr_node(self._node)})"

    def __reduce__(self):
        return (_treedef_from_node, (self._node,))


def _intern(node: tuple) -> tuple:
    # Leaf and None nodes must be the module singletons: the hot paths test ``c is _LEAF``.
    k = node[0]
    if k == _LEAF_K:
        return _LEAF
    if k == _NONE_K:
        return _NONE
    return (k, node[1], node[2], tuple([_intern(c) for c in node[3]]))


def _treedef_from_node(node: tuple) -> PyTreeDef:
    """Unpickling entry point."""
    return PyTreeDef(_intern(node))


def _short_repr(obj: Any, limit: int = 300) -> str:
    r = repr(obj)
    return r if len(r) <= limit else r[:limit - 3] + "..."


def treedef_children(treedef: PyTreeDef) -> list[PyTreeDef]:
    """The child treedefs of the root node.

    >>> treedef_children(tree_structure((1, [2, 3])))
    [PyTreeDef(*), PyTreeDef([*, *])]
    """
    return treedef.children()


def treedef_is_leaf(treedef: PyTreeDef) -> bool:
    """True if ``treedef`` has a single node. Like JAX, this is also True for ``None``.

    >>> treedef_is_leaf(tree_structure(1)), treedef_is_leaf(tree_structure(None))
    (True, True)
    """
    return treedef.num_nodes == 1


def treedef_is_strict_leaf(treedef: PyTreeDef) -> bool:
    """True only for the treedef of a single leaf (``None`` is not a leaf).

    >>> treedef_is_strict_leaf(tree_structure(1)), treedef_is_strict_leaf(tree_structure(None))
    (True, False)
    """
    return treedef._node[0] == _LEAF_K


def treedef_tuple(treedefs: Iterable[PyTreeDef]) -> PyTreeDef:
    """A tuple treedef whose children are ``treedefs``.

    >>> treedef_tuple([tree_structure(1), tree_structure([2])]) == tree_structure((1, [2]))
    True
    """
    return PyTreeDef((_TUPLE_K, tuple, None, tuple(td._node for td in treedefs)))


# --- flatten_up_to and structure mismatch errors -----------------------------------------------

class _Mismatch(Exception):
    """Internal: raised where structures differ; each frame on the way out adds its key."""

    def __init__(self, node: tuple, value: Any):
        super().__init__()
        self.node = node
        self.value = value
        self.path: list = []


def _describe(k: int, t: type, aux: Any, n: int) -> str:
    if k == _NONE_K:
        return "None"
    if k == _TUPLE_K or k == _LIST_K:
        return f"{t.__name__} of length {n}"
    if k == _DICT_K:
        return f"dict with keys {aux!r}"
    if k == _NAMEDTUPLE_K:
        return f"namedtuple {t.__qualname__} of length {n}"
    if t is collections.OrderedDict:
        return f"OrderedDict with keys {aux!r}"
    if t is collections.defaultdict:
        return f"defaultdict({aux[0]!r}) with keys {aux[1]!r}"
    return f"{t.__qualname__} node with aux data {_short_repr(aux, 200)} and {n} children"


def _describe_value(x: Any) -> str:
    t = type(x)
    k = _kinds_get(t)
    if k is None and not (isinstance(x, tuple) and hasattr(t, "_fields")):
        return f"leaf of type {t.__qualname__}"
    leaves: list = []
    k, t, aux, children = _flatten_pred(x, leaves, lambda y: y is not x)
    return _describe(k, t, aux, len(children))


def _up_to(node: tuple, x: Any, out: list) -> None:
    k, t, aux, children = node
    if k == _LEAF_K:
        out.append(x)
        return
    if k == _NONE_K:
        if x is not None:
            raise _Mismatch(node, x)
        return
    if type(x) is not t:
        raise _Mismatch(node, x)
    if k == _DICT_K:
        if len(x) != len(aux):
            raise _Mismatch(node, x)
        try:
            xs = [x[key] for key in aux]
        except KeyError:
            raise _Mismatch(node, x) from None
    elif k == _CUSTOM_K:
        xs, x_aux = _call_flatten(_handlers[t], x)
        xs = tuple(xs)
        if len(xs) != len(children) or not (x_aux is aux or x_aux == aux):
            raise _Mismatch(node, x)
    else:
        if len(x) != len(children):
            raise _Mismatch(node, x)
        xs = x
    for i, c in enumerate(children):
        if c is _LEAF:
            out.append(xs[i])
            continue
        try:
            _up_to(c, xs[i], out)
        except _Mismatch as e:
            e.path.append(_child_key(k, t, aux, x, i))
            raise


def _child_key(k: int, t: type, aux: Any, x: Any, i: int) -> Any:
    """The key of the i-th child of node x (only used to build error messages)."""
    if k == _DICT_K:
        return DictKey(aux[i])
    if k == _NAMEDTUPLE_K:
        return GetAttrKey(t._fields[i])
    if k == _CUSTOM_K:
        h = _handlers[t]
        if h.flatten_with_keys is None:
            return FlattenedIndexKey(i)
        return list(h.flatten_with_keys(x)[0])[i][0]
    return SequenceKey(i)


def _mismatch_message(e: _Mismatch, what: str, prefix_path: tuple = ()) -> str:
    path = (*prefix_path, *e.path[::-1])
    where = f"path {keystr(path)}" if path else "the root"
    k, t, aux, children = e.node
    return (f"{what}structure mismatch at {where}: {_describe(k, t, aux, len(children))} vs "
            f"{_describe_value(e.value)}")


def _flatten_up_to(treedef: PyTreeDef, tree: Any, what: str, suffix: str = "") -> list:
    if treedef._node is _LEAF:
        return [tree]
    out: list = []
    try:
        _up_to(treedef._node, tree, out)
    except _Mismatch as e:
        raise ValueError(_mismatch_message(e, what) + suffix) from None
    return out


# --- key-path flattening -----------------------------------------------------------------------

def _flatten_keys(x: Any, path: tuple, out: list, is_leaf: Callable[[Any], bool] | None
                  ) -> tuple:
    if is_leaf is not None and is_leaf(x):
        out.append((path, x))
        return _LEAF
    t = type(x)
    k = _kinds_get(t)
    if k is None:
        if isinstance(x, tuple) and hasattr(t, "_fields"):
            k = _kinds[t] = _NAMEDTUPLE_K
        else:
            out.append((path, x))
            return _LEAF
    aux = None
    if k == _NONE_K:
        return _NONE
    if k == _DICT_K:
        aux = _sorted_keys(x)
        pairs = [(DictKey(key), x[key]) for key in aux]
    elif k == _NAMEDTUPLE_K:
        pairs = [(GetAttrKey(f), c) for f, c in zip(t._fields, x)]
    elif k == _CUSTOM_K:
        h = _handlers[t]
        if h.flatten_with_keys is None:
            children, aux = _call_flatten(h, x)
            pairs = [(FlattenedIndexKey(i), c) for i, c in enumerate(children)]
        else:
            key_children, aux = h.flatten_with_keys(x)
            pairs = [tuple(kc) for kc in key_children]
    else:
        pairs = [(SequenceKey(i), c) for i, c in enumerate(x)]
    return (k, t, aux, tuple([_flatten_keys(c, path + (key,), out, is_leaf)
                              for key, c in pairs]))


def tree_flatten_with_path(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                           ) -> tuple[list[tuple[tuple, Any]], PyTreeDef]:
    """Like ``tree_flatten`` but each leaf comes with its key path.

    >>> pairs, _ = tree_flatten_with_path({'a': [5, 6]})
    >>> [(keystr(p), x) for p, x in pairs]
    [("['a'][0]", 5), ("['a'][1]", 6)]
    """
    out: list = []
    node = _flatten_keys(tree, (), out, is_leaf)
    return out, PyTreeDef(node, len(out))


def tree_leaves_with_path(tree: Any, is_leaf: Callable[[Any], bool] | None = None
                          ) -> list[tuple[tuple, Any]]:
    """The ``(key_path, leaf)`` pairs of a pytree.

    >>> tree_leaves_with_path((7,))
    [((SequenceKey(idx=0),), 7)]
    """
    return tree_flatten_with_path(tree, is_leaf)[0]


# --- mapping and reductions --------------------------------------------------------------------

def _rest_leaves(treedef: PyTreeDef, rest: tuple, what: str) -> list[list]:
    many = len(rest) > 1
    return [_flatten_up_to(treedef, r, what, f" (between tree and rest[{i}])" * many)
            for i, r in enumerate(rest)]


def tree_map(f: Callable[..., Any], tree: Any, *rest: Any,
             is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """Apply ``f`` leafwise; ``rest`` trees must contain ``tree``'s structure as a prefix.

    >>> tree_map(lambda x, y: x + y, {'a': 1, 'b': (2, 3)}, {'a': 10, 'b': (20, 30)})
    {'a': 11, 'b': (22, 33)}
    >>> tree_map(lambda x, y: (x, y), [1, 2], [[0], (0, 0)])  # [0], (0, 0) sit under *s
    [(1, [0]), (2, (0, 0))]
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    if not rest:
        return treedef.unflatten([f(x) for x in leaves])
    others = _rest_leaves(treedef, rest, "tree_map: ")
    return treedef.unflatten([f(*xs) for xs in zip(leaves, *others)])


def tree_map_with_path(f: Callable[..., Any], tree: Any, *rest: Any,
                       is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """Like ``tree_map`` but ``f`` receives the key path first: ``f(path, x, *xs)``.

    >>> tree_map_with_path(lambda p, x: keystr(p), {'a': 1, 'b': [2]})
    {'a': "['a']", 'b': ["['b'][0]"]}
    """
    pairs, treedef = tree_flatten_with_path(tree, is_leaf)
    others = _rest_leaves(treedef, rest, "tree_map_with_path: ")
    return treedef.unflatten([f(p, x, *xs) for (p, x), *xs in zip(pairs, *others)])


_MISSING: Any = object()


def tree_reduce(function: Callable[[Any, Any], Any], tree: Any, initializer: Any = _MISSING,
                is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """``functools.reduce`` over the leaves of ``tree``.

    >>> tree_reduce(lambda a, b: a + b, {'x': 1, 'y': [2, 3]})
    6
    >>> tree_reduce(max, [], initializer=-1)
    -1
    """
    leaves = tree_leaves(tree, is_leaf)
    if initializer is _MISSING:
        if not leaves:
            raise TypeError("tree_reduce: the tree has no leaves and no initializer was given")
        return functools.reduce(function, leaves)
    return functools.reduce(function, leaves, initializer)


def tree_all(tree: Any, *, is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """True if every leaf is truthy (True for a tree with no leaves).

    >>> tree_all([True, (1, None)]), tree_all({'a': 0})
    (True, False)
    """
    return all(tree_leaves(tree, is_leaf))


def all_leaves(iterable: Iterable[Any], is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """True if every element of ``iterable`` is a leaf (``None`` and containers are not).

    >>> all_leaves([1, 'a', 2.0]), all_leaves([1, (2,)]), all_leaves([None])
    (True, False, False)
    """
    for x in iterable:
        if is_leaf is not None and is_leaf(x):
            continue
        t = type(x)
        if t in _kinds or (isinstance(x, tuple) and hasattr(t, "_fields")):
            return False
    return True


def tree_transpose(outer_treedef: PyTreeDef, inner_treedef: PyTreeDef | None,
                   pytree_to_transpose: Any) -> Any:
    """Turn a tree of structure outer∘inner into one of structure inner∘outer.

    ``inner_treedef=None`` infers it from the first outer subtree.

    >>> outer, inner = tree_structure([0, 0]), tree_structure((0, 0))
    >>> tree_transpose(outer, inner, [(1, 2), (3, 4)])
    ([1, 3], [2, 4])
    """
    what = "tree_transpose: "
    try:
        subtrees = _flatten_up_to(outer_treedef, pytree_to_transpose, what)
    except ValueError as e:
        raise TypeError(str(e)) from None
    if inner_treedef is None:
        if not subtrees:
            raise TypeError("tree_transpose: cannot infer inner_treedef when the outer treedef "
                            "has no leaves; pass it explicitly")
        inner_treedef = tree_structure(subtrees[0])
    rows = []
    for i, sub in enumerate(subtrees):
        row: list = []
        try:
            if inner_treedef._node is _LEAF:
                row.append(sub)
            else:
                _up_to(inner_treedef._node, sub, row)
        except _Mismatch as e:
            outer_path: list = []
            _leaf_paths(outer_treedef._node, pytree_to_transpose, (), outer_path)
            raise TypeError(
                _mismatch_message(e, what, outer_path[i]) + " (expected a tree of structure "
                f"{_short_repr(outer_treedef.compose(inner_treedef))})") from None
        rows.append(row)
    columns = [outer_treedef.unflatten([row[j] for row in rows])
               for j in range(inner_treedef.num_leaves)]
    return inner_treedef.unflatten(columns)


def _leaf_paths(node: tuple, x: Any, path: tuple, out: list) -> None:
    """Key paths of the ``*`` positions of ``node`` inside a tree ``x`` that matches it."""
    k, t, aux, children = node
    if k == _LEAF_K:
        out.append(path)
        return
    if k == _DICT_K:
        xs = [x[key] for key in aux]
    elif k == _CUSTOM_K:
        xs = tuple(_call_flatten(_handlers[t], x)[0])
    else:
        xs = x
    for i, c in enumerate(children):
        _leaf_paths(c, xs[i], path + (_child_key(k, t, aux, x, i),), out)


def tree_broadcast(prefix_tree: Any, full_tree: Any,
                   is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """Replicate each leaf of ``prefix_tree`` over the matching subtree of ``full_tree``.

    >>> tree_broadcast((1, 2), ([0, 0], {'a': 0}))
    ([1, 1], {'a': 2})
    """
    prefix_leaves, prefix_def = tree_flatten(prefix_tree, is_leaf)
    subtrees = _flatten_up_to(prefix_def, full_tree, "tree_broadcast: ")
    out: list = []
    for p, s in zip(prefix_leaves, subtrees):
        out.extend([p] * len(tree_leaves(s)))
    return tree_structure(full_tree).unflatten(out)


# --- registration ------------------------------------------------------------------------------

def _register(nodetype: type, handler: _Handler) -> None:
    if not isinstance(nodetype, type):
        raise TypeError(f"pytree node type must be a class, got {nodetype!r}")
    if nodetype in _handlers or nodetype in _BUILTIN_NODE_TYPES:
        raise ValueError(f"Duplicate pytree node registration: {nodetype!r} is already "
                         f"registered as a pytree node type")
    _handlers[nodetype] = handler
    _kinds[nodetype] = _CUSTOM_K  # also overrides a cached namedtuple classification


def register_pytree_node(nodetype: type[T], flatten_func: Callable[[T], tuple[Iterable, Any]],
                         unflatten_func: Callable[[Any, tuple], T],
                         flatten_with_keys_func: Callable[[T], tuple[Iterable, Any]]
                         | None = None) -> None:
    """Register ``nodetype`` as a node: ``flatten_func(x) -> (children, aux)``,
    ``unflatten_func(aux, children) -> x``; aux must be hashable and comparable.

    >>> class Pair:
    ...     def __init__(self, a, b): self.a, self.b = a, b
    >>> register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda _, c: Pair(*c))
    >>> tree_leaves([Pair(1, 2), 3])
    [1, 2, 3]
    """
    _register(nodetype, _Handler(nodetype, flatten_func, unflatten_func,
                                 flatten_with_keys_func))


def register_pytree_with_keys(nodetype: type[T],
                              flatten_with_keys: Callable[[T], tuple[Iterable, Any]],
                              unflatten_func: Callable[[Any, tuple], T],
                              flatten_func: Callable[[T], tuple[Iterable, Any]] | None = None
                              ) -> None:
    """Register ``nodetype`` with a flatten that returns ``((key, child), ...), aux``.

    >>> class Box:
    ...     def __init__(self, v): self.v = v
    >>> register_pytree_with_keys(Box, lambda b: (((GetAttrKey('v'), b.v),), None),
    ...                           lambda _, c: Box(*c))
    >>> keystr(tree_leaves_with_path(Box(1))[0][0])
    '.v'
    """
    if flatten_func is None:
        def flatten_func(x):
            key_children, aux = flatten_with_keys(x)
            return tuple(c for _, c in key_children), aux
    _register(nodetype, _Handler(nodetype, flatten_func, unflatten_func, flatten_with_keys))


def register_pytree_node_class(cls: type[T]) -> type[T]:
    """Class decorator: use ``x.tree_flatten()`` and ``cls.tree_unflatten(aux, children)``.

    >>> @register_pytree_node_class
    ... class Vec:
    ...     def __init__(self, xs): self.xs = xs
    ...     def tree_flatten(self): return tuple(self.xs), len(self.xs)
    ...     @classmethod
    ...     def tree_unflatten(cls, aux, children): return cls(list(children))
    >>> tree_structure(Vec([1, 2]))
    PyTreeDef(CustomNode(Vec[2], [*, *]))
    """
    register_pytree_node(cls, lambda x: x.tree_flatten(), cls.tree_unflatten)
    return cls


def register_pytree_with_keys_class(cls: type[T]) -> type[T]:
    """Class decorator: like ``register_pytree_node_class`` using ``tree_flatten_with_keys``
    (and ``tree_flatten`` for the fast path, when the class defines it)."""
    flatten = (lambda x: x.tree_flatten()) if hasattr(cls, "tree_flatten") else None
    register_pytree_with_keys(cls, lambda x: x.tree_flatten_with_keys(), cls.tree_unflatten,
                              flatten)
    return cls


def register_dataclass(nodetype: type[T] | None = None,
                       data_fields: Iterable[str] | None = None,
                       meta_fields: Iterable[str] | None = None,
                       drop_fields: Iterable[str] = ()) -> Any:
    """Register a dataclass: data fields are children, meta fields are aux data.

    Without explicit fields, a field with ``metadata=dict(static=True)`` is meta and every
    other ``init=True`` field is data. Unflattening calls ``nodetype(**fields)``.

    >>> @register_dataclass
    ... @dataclasses.dataclass
    ... class Layer:
    ...     w: Any
    ...     name: str = dataclasses.field(default='l', metadata=dict(static=True))
    >>> tree_flatten(Layer(w=3))
    ([3], PyTreeDef(CustomNode(Layer[('l',)], [*])))
    """
    if nodetype is None:
        return functools.partial(register_dataclass, data_fields=data_fields,
                                 meta_fields=meta_fields, drop_fields=drop_fields)
    if (data_fields is None) != (meta_fields is None):
        raise TypeError("register_dataclass: data_fields and meta_fields must both be given "
                        f"or both omitted; got data_fields={data_fields!r}, "
                        f"meta_fields={meta_fields!r}")
    is_dc = dataclasses.is_dataclass(nodetype)
    if data_fields is None:
        if not is_dc:
            raise TypeError(f"register_dataclass: {nodetype!r} is not a dataclass, so "
                            "data_fields and meta_fields must be given")
        fields = [f for f in dataclasses.fields(nodetype) if f.init]
        data_fields = [f.name for f in fields if not f.metadata.get("static", False)]
        meta_fields = [f.name for f in fields if f.metadata.get("static", False)]
    data, meta = tuple(data_fields), tuple(meta_fields)
    if is_dc:
        init = {f.name for f in dataclasses.fields(nodetype) if f.init}
        given = set(data) | set(meta)
        missing = sorted(init - given - set(drop_fields))
        unexpected = sorted(given - init)
        if missing or unexpected:
            raise ValueError(
                f"register_dataclass({nodetype.__qualname__}): data_fields and meta_fields "
                f"must cover every init=True field exactly; missing {missing}, "
                f"unexpected {unexpected}")

    def flatten(x):
        return (tuple([getattr(x, n) for n in data]), tuple([getattr(x, n) for n in meta]))

    def flatten_with_keys(x):
        return (tuple([(GetAttrKey(n), getattr(x, n)) for n in data]),
                tuple([getattr(x, n) for n in meta]))

    def unflatten(aux, children):
        return nodetype(**dict(zip(data, children)), **dict(zip(meta, aux)))

    register_pytree_node(nodetype, flatten, unflatten, flatten_with_keys)
    return nodetype


def register_static(cls: type[T]) -> type[T]:
    """Make ``cls`` instances empty nodes carried in the treedef (they must be hashable).

    >>> @register_static
    ... class Mode:
    ...     def __init__(self, s): self.s = s
    >>> tree_leaves([Mode('train'), 1])
    [1]
    """
    register_pytree_node(cls, lambda x: ((), x), lambda aux, _: aux)
    return cls


# --- built-in registrations: OrderedDict, defaultdict, Partial ---------------------------------

register_pytree_with_keys(
    collections.OrderedDict,
    lambda d: (tuple((DictKey(k), v) for k, v in d.items()), tuple(d)),
    lambda keys, vals: collections.OrderedDict(zip(keys, vals)),
    lambda d: (tuple(d.values()), tuple(d)))


def _defaultdict_flatten(d: collections.defaultdict) -> tuple[tuple, tuple]:
    keys = _sorted_keys(d)
    return tuple([d[k] for k in keys]), (d.default_factory, keys)


register_pytree_with_keys(
    collections.defaultdict,
    lambda d: (lambda vals, aux: (tuple(zip(map(DictKey, aux[1]), vals)), aux))(
        *_defaultdict_flatten(d)),
    lambda aux, vals: collections.defaultdict(aux[0], zip(aux[1], vals)),
    _defaultdict_flatten)


class _PartialShim:
    """Wraps a partial used as ``Partial``'s func so functools does not merge its arguments
    into ours (they stay static aux data, as in JAX)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _PartialShim) and self.fn == other.fn

    def __hash__(self) -> int:
        return hash(self.fn)

    def __repr__(self) -> str:
        return repr(self.fn)


class Partial(functools.partial):
    """A ``functools.partial`` that is a pytree: args and keywords are children, the
    function is aux data (so it must be hashable), which lets it cross transformations.

    >>> p = Partial(pow, 2)
    >>> leaves, treedef = tree_flatten(p)
    >>> leaves, tree_unflatten(treedef, [3])(4)
    ([2], 81)
    """

    def __new__(cls, func: Callable, *args: Any, **kwargs: Any):
        if isinstance(func, functools.partial):
            func = _PartialShim(func)
        return super().__new__(cls, func, *args, **kwargs)


register_pytree_node(
    Partial,
    lambda p: ((p.args, p.keywords), p.func),
    lambda func, xs: Partial(func, *xs[0], **xs[1]))
