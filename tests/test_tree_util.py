"""Tests for functrans.tree_util (pytrees) and the functrans.tree aliases."""

from __future__ import annotations

import collections
import dataclasses
import doctest
import functools
import pickle
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# The recursive strategy below has a long repr; hypothesis warns when it renders it.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

from functrans import tree, tree_util
from functrans.tree_util import (
    DictKey, FlattenedIndexKey, GetAttrKey, Partial, PyTreeDef, SequenceKey, all_leaves,
    keystr, register_dataclass, register_pytree_node, register_pytree_node_class,
    register_pytree_with_keys, register_pytree_with_keys_class, register_static, tree_all,
    tree_broadcast, tree_flatten, tree_flatten_with_path, tree_leaves, tree_leaves_with_path,
    tree_map, tree_map_with_path, tree_reduce, tree_structure, tree_transpose, tree_unflatten,
    treedef_children, treedef_is_leaf, treedef_is_strict_leaf, treedef_tuple)


# --- node types used throughout ----------------------------------------------------------------

class Point(NamedTuple):
    x: Any
    y: Any


@register_pytree_node_class
class Box:
    """Custom node: children are the items, aux data is a hashable tag."""

    def __init__(self, items, tag=0):
        self.items = list(items)
        self.tag = tag

    def tree_flatten(self):
        return tuple(self.items), self.tag

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children, aux)


@register_dataclass
@dataclasses.dataclass
class Layer:
    w: Any
    b: Any
    name: str = dataclasses.field(default="dense", metadata=dict(static=True))


@register_static
class Tag:
    def __init__(self, s):
        self.s = s

    def __eq__(self, other):
        return isinstance(other, Tag) and self.s == other.s

    def __hash__(self):
        return hash(self.s)

    def __repr__(self):
        return f"Tag({self.s!r})"


@dataclasses.dataclass
class Hit:
    """Unregistered, hence a leaf: records what tree_map_with_path passed to f."""
    path: tuple
    value: Any


def _fn(*args, **kwargs):
    return args, kwargs


# --- hypothesis strategies ---------------------------------------------------------------------

leaf_st = st.one_of(
    st.integers(),
    st.floats(allow_nan=True),
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)),
)
key_st = st.text(alphabet="abcxyz", max_size=3)


def _containers(children):
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(key_st, children, max_size=4),
        st.builds(Point, children, children),
        st.lists(st.tuples(key_st, children), max_size=4, unique_by=lambda kv: kv[0])
        .map(collections.OrderedDict),
        st.dictionaries(key_st, children, max_size=3)
        .map(lambda d: collections.defaultdict(list, d)),
        st.builds(Box, st.lists(children, max_size=3), st.integers(0, 2)),
        st.builds(Layer, children, children, st.sampled_from(["a", "b"])),
        st.builds(lambda args, kw: Partial(_fn, *args, **kw),
                  st.lists(children, max_size=2), st.dictionaries(key_st, children, max_size=2)),
    )


tree_st = st.recursive(
    st.one_of(leaf_st, st.none(), st.builds(Tag, st.sampled_from(["p", "q"]))),
    _containers, max_leaves=12)


# --- reference implementation and comparison helpers -------------------------------------------

def ref_children(x):
    """Independent statement of the ordering rules: (children, is_node)."""
    if x is None or isinstance(x, Tag):
        return [], True
    if isinstance(x, Partial):
        return [x.args, x.keywords], True
    if isinstance(x, Box):
        return list(x.items), True
    if isinstance(x, Layer):
        return [x.w, x.b], True
    if type(x) is collections.OrderedDict:
        return list(x.values()), True
    if type(x) in (dict, collections.defaultdict):
        return [x[k] for k in sorted(x)], True
    if type(x) in (list, tuple, Point):
        return list(x), True
    return [], False


def ref_leaves(x):
    children, is_node = ref_children(x)
    if not is_node:
        return [x]
    return [leaf for c in children for leaf in ref_leaves(c)]


def ref_num_nodes(x):
    children, _ = ref_children(x)
    return 1 + sum(ref_num_nodes(c) for c in children)


def assert_same_tree(a, b):
    """Same container types and aux data all the way down, identical leaf objects."""
    assert type(a) is type(b), (a, b)
    children_a, is_node = ref_children(a)
    if not is_node:
        assert a is b
        return
    if isinstance(a, dict):
        keys_a, keys_b = list(a), list(b)
        if type(a) is collections.OrderedDict:
            assert keys_a == keys_b
        else:
            assert sorted(keys_a) == sorted(keys_b)
        if type(a) is collections.defaultdict:
            assert a.default_factory is b.default_factory
    if isinstance(a, Box):
        assert a.tag == b.tag
    if isinstance(a, Layer):
        assert a.name == b.name
    if isinstance(a, Tag):
        assert a == b
    if isinstance(a, Partial):
        assert a.func is b.func
    children_b, _ = ref_children(b)
    assert len(children_a) == len(children_b)
    for ca, cb in zip(children_a, children_b):
        assert_same_tree(ca, cb)


def follow(x, path):
    """Walk a key path down a tree (FlattenedIndexKey goes through the one-level flatten)."""
    for key in path:
        if isinstance(key, DictKey):
            x = x[key.key]
        elif isinstance(key, SequenceKey):
            x = x[key.idx]
        elif isinstance(key, GetAttrKey):
            x = getattr(x, key.name)
        elif isinstance(key, FlattenedIndexKey):
            x = ref_children(x)[0][key.key]
        else:
            raise AssertionError(f"unexpected key {key!r}")
    return x


# --- round trips and invariants (property tests) -----------------------------------------------

@settings(max_examples=300, deadline=None)
@given(tree_st)
def test_flatten_unflatten_round_trip(t):
    leaves, treedef = tree_flatten(t)
    assert len(leaves) == len(ref_leaves(t))
    assert all(a is b for a, b in zip(leaves, ref_leaves(t)))
    assert treedef.num_leaves == len(leaves)
    assert treedef.num_nodes == ref_num_nodes(t)
    rebuilt = tree_unflatten(treedef, leaves)
    assert_same_tree(t, rebuilt)
    again = tree_structure(rebuilt)
    assert again == treedef and hash(again) == hash(treedef)
    assert tree_leaves(t) == leaves or all(a is b for a, b in zip(tree_leaves(t), leaves))
    unpickled = pickle.loads(pickle.dumps(treedef))
    assert unpickled == treedef and hash(unpickled) == hash(treedef)
    assert_same_tree(t, unpickled.unflatten(leaves))
    assert all(a is b for a, b in zip(unpickled.flatten_up_to(t), leaves))


@settings(max_examples=200, deadline=None)
@given(tree_st)
def test_paths_lead_to_their_leaves(t):
    pairs, treedef = tree_flatten_with_path(t)
    assert treedef == tree_structure(t)
    assert [x for _, x in pairs] == tree_leaves(t) or all(
        a is b for (_, a), b in zip(pairs, tree_leaves(t)))
    for path, leaf in pairs:
        assert follow(t, path) is leaf
    assert len({keystr(p) for p, _ in pairs}) == len(pairs)  # paths are distinct


@settings(max_examples=200, deadline=None)
@given(tree_st)
def test_tree_map_preserves_structure_and_zips_trees(t):
    boxed = tree_map(lambda x: [x], t)  # each leaf becomes a one-element list
    assert tree_structure(boxed).num_leaves == tree_structure(t).num_leaves
    seen = []
    out = tree_map(lambda x, y, z: seen.append((x, y, z)) or z, t, boxed, t)
    assert_same_tree(t, out)
    for (x, y, z), leaf in zip(seen, tree_leaves(t)):
        assert x is leaf and z is leaf and type(y) is list and y[0] is leaf
    with_path = tree_map_with_path(lambda p, x, y: Hit(p, y), t, boxed)
    hits = tree_leaves(with_path)
    assert len(hits) == len(seen)
    for hit, (p2, leaf) in zip(hits, tree_leaves_with_path(t)):
        assert hit.path == p2 and hit.value[0] is leaf


@settings(max_examples=100, deadline=None)
@given(tree_st, st.integers(-2, 2).filter(bool))
def test_unflatten_wrong_leaf_count(t, delta):
    leaves, treedef = tree_flatten(t)
    n = len(leaves) + delta
    if n < 0:
        return
    with pytest.raises(ValueError, match=f"expected {len(leaves)} leaves, got {n}"):
        tree_unflatten(treedef, [0] * n)


# --- basic semantics ---------------------------------------------------------------------------

def test_none_is_an_empty_node_not_a_leaf():
    assert tree_leaves([None, 1, (None,)]) == [1]
    leaves, treedef = tree_flatten(None)
    assert leaves == [] and repr(treedef) == "PyTreeDef(None)"
    assert tree_unflatten(treedef, []) is None
    assert tree_map(lambda x: x + 1, {"a": None, "b": 1}) == {"a": None, "b": 2}


def test_unregistered_objects_and_arrays_are_leaves():
    class Thing:
        pass

    class MyList(list):
        pass

    thing, arr, ml = Thing(), np.arange(3), MyList([1, 2])
    leaves, treedef = tree_flatten([thing, arr, ml, "s", b"b"])
    assert leaves[0] is thing and leaves[1] is arr and leaves[2] is ml
    assert repr(treedef) == "PyTreeDef([*, *, *, *, *])"


def test_dict_keys_sorted_and_rebuilt_in_sorted_order():
    leaves, treedef = tree_flatten({"b": 1, "a": 2, "c": 3})
    assert leaves == [2, 1, 3]
    out = tree_unflatten(treedef, [10, 20, 30])
    assert list(out) == ["a", "b", "c"] and out == {"a": 10, "b": 20, "c": 30}
    assert tree_structure({"b": 0, "a": 0}) == tree_structure({"a": 0, "b": 0})


def test_dict_with_incomparable_keys_has_deterministic_order():
    d1 = {1: "one", "b": "bee", None: "none", 0: "zero"}
    d2 = {"b": "bee", None: "none", 0: "zero", 1: "one"}
    l1, td1 = tree_flatten(d1)
    l2, td2 = tree_flatten(d2)
    assert l1 == l2 and td1 == td2
    # groups ordered by (module, type name): builtins.NoneType < builtins.int < builtins.str
    assert l1 == ["none", "zero", "one", "bee"]
    assert tree_unflatten(td1, l1) == d1


def test_ordered_dict_keeps_insertion_order_and_defaultdict_sorts():
    od = collections.OrderedDict([("b", 1), ("a", 2)])
    leaves, treedef = tree_flatten(od)
    assert leaves == [1, 2]
    out = tree_unflatten(treedef, [3, 4])
    assert type(out) is collections.OrderedDict and list(out.items()) == [("b", 3), ("a", 4)]
    assert tree_structure(od) != tree_structure(collections.OrderedDict([("a", 2), ("b", 1)]))

    dd = collections.defaultdict(list, {"b": 1, "a": 2})
    leaves, treedef = tree_flatten(dd)
    assert leaves == [2, 1]
    out = tree_unflatten(treedef, [5, 6])
    assert type(out) is collections.defaultdict and out.default_factory is list
    assert dict(out) == {"a": 5, "b": 6}
    assert tree_structure(dd) != tree_structure(collections.defaultdict(set, {"a": 0, "b": 0}))
    assert tree_structure(dd) != tree_structure({"a": 0, "b": 0})


def test_namedtuple_rebuilt_as_same_class():
    out = tree_map(lambda x: x * 2, Point(1, (2, 3)))
    assert type(out) is Point and out == Point(2, (4, 6))
    assert tree_structure(Point(1, 2)) != tree_structure((1, 2))

    Other = collections.namedtuple("Other", "x y")
    assert tree_structure(Point(1, 2)) != tree_structure(Other(1, 2))
    # a namedtuple class never seen before, first met as a child rather than as the root
    Fresh = collections.namedtuple("Fresh", "a b")
    leaves, td = tree_flatten([Fresh(1, [2])])
    assert leaves == [1, 2]
    assert repr(td) == "PyTreeDef([CustomNode(namedtuple[Fresh], [*, [*]])])"


def test_is_leaf_stops_recursion():
    t = {"a": (1, 2), "b": [(3, 4), 5]}
    leaves = tree_leaves(t, is_leaf=lambda x: isinstance(x, tuple))
    assert leaves == [(1, 2), (3, 4), 5]
    out = tree_map(lambda x: x if isinstance(x, tuple) else -x, t,
                   is_leaf=lambda x: isinstance(x, tuple))
    assert out == {"a": (1, 2), "b": [(3, 4), -5]}
    # is_leaf may turn None into a leaf too
    assert tree_leaves([None, 1], is_leaf=lambda x: x is None) == [None, 1]
    # is_leaf is asked at the root as well
    assert tree_leaves([1, 2], is_leaf=lambda x: isinstance(x, list)) == [[1, 2]]
    pairs = tree_leaves_with_path(t, is_leaf=lambda x: isinstance(x, tuple))
    assert [(keystr(p), x) for p, x in pairs] == [
        ("['a']", (1, 2)), ("['b'][0]", (3, 4)), ("['b'][1]", 5)]


def test_tree_map_rest_trees_only_need_tree_as_prefix():
    out = tree_map(lambda x, y: (x, y), [1, 2], [{"a": 3}, (4, 5)])
    assert out == [(1, {"a": 3}), (2, (4, 5))]
    # a None leaf position in rest is fine under a * of the first tree
    assert tree_map(lambda x, y: y, [1], [None]) == [None]


def test_tree_map_with_path_passes_paths():
    out = tree_map_with_path(lambda p, x, y: (keystr(p), x + y),
                             {"a": [1], "b": Point(2, 3)}, {"a": [10], "b": Point(20, 30)})
    assert out == {"a": [("['a'][0]", 11)], "b": Point(("['b'].x", 22), ("['b'].y", 33))}


# --- key paths ---------------------------------------------------------------------------------

def test_key_str_and_repr():
    assert str(DictKey("a")) == "['a']" and repr(DictKey("a")) == "DictKey(key='a')"
    assert str(DictKey(3)) == "[3]"
    assert str(SequenceKey(2)) == "[2]" and repr(SequenceKey(2)) == "SequenceKey(idx=2)"
    assert str(GetAttrKey("w")) == ".w" and repr(GetAttrKey("w")) == "GetAttrKey(name='w')"
    assert str(FlattenedIndexKey(1)) == "[<flat index 1>]"
    assert repr(FlattenedIndexKey(1)) == "FlattenedIndexKey(key=1)"
    assert DictKey("a") == DictKey("a") and hash(DictKey("a")) == hash(DictKey("a"))
    assert DictKey("a") != DictKey("b") and SequenceKey(0) != FlattenedIndexKey(0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        DictKey("a").key = "b"


def test_keystr_formats():
    path = (DictKey("a"), SequenceKey(0), GetAttrKey("b"))
    assert keystr(path) == "['a'][0].b"
    assert keystr(path, simple=True, separator="/") == "a/0/b"
    assert keystr(()) == ""


def test_paths_for_each_node_kind():
    t = {"a": [Point(1, 2)], "b": Box([3]), "c": Layer(4, 5), "d": Partial(_fn, 6, k=7)}
    got = [keystr(p) for p, _ in tree_leaves_with_path(t)]
    assert got == ["['a'][0].x", "['a'][0].y", "['b'][<flat index 0>]", "['c'].w", "['c'].b",
                   "['d'][<flat index 0>][0]", "['d'][<flat index 1>]['k']"]
    od = collections.OrderedDict([("z", 1)])
    assert tree_leaves_with_path(od) == [((DictKey("z"),), 1)]


def test_register_pytree_with_keys_uses_the_keys():
    class Pair:
        def __init__(self, a, b):
            self.a, self.b = a, b

    register_pytree_with_keys(
        Pair, lambda p: (((GetAttrKey("a"), p.a), (GetAttrKey("b"), p.b)), None),
        lambda _, c: Pair(*c))
    assert [keystr(p) for p, _ in tree_leaves_with_path([Pair(1, 2)])] == ["[0].a", "[0].b"]
    out = tree_map(lambda x: x + 1, Pair(1, 2))
    assert (out.a, out.b) == (2, 3)

    @register_pytree_with_keys_class
    class Named:
        def __init__(self, v):
            self.v = v

        def tree_flatten_with_keys(self):
            return ((DictKey("v"), self.v),), "aux"

        @classmethod
        def tree_unflatten(cls, aux, children):
            assert aux == "aux"
            return cls(*children)

    assert keystr(tree_leaves_with_path(Named(3))[0][0]) == "['v']"
    assert tree_map(lambda x: x * 2, Named(3)).v == 6


# --- PyTreeDef ---------------------------------------------------------------------------------

@pytest.mark.parametrize("t, expected", [
    (1, "PyTreeDef(*)"),
    (None, "PyTreeDef(None)"),
    ((), "PyTreeDef(())"),
    ((1,), "PyTreeDef((*,))"),
    ([1, (2, 3), [4]], "PyTreeDef([*, (*, *), [*]])"),
    ((1, {"a": 2, "b": None}), "PyTreeDef((*, {'a': *, 'b': None}))"),
    ({1: 2}, "PyTreeDef({1: *})"),
    (Point(1, 2), "PyTreeDef(CustomNode(namedtuple[Point], [*, *]))"),
    (Box([1, 2], tag=7), "PyTreeDef(CustomNode(Box[7], [*, *]))"),
    (Layer(1, 2, "L"), "PyTreeDef(CustomNode(Layer[('L',)], [*, *]))"),
    (Tag("p"), "PyTreeDef(CustomNode(Tag[Tag('p')], []))"),
    (collections.OrderedDict([("b", 1), ("a", 2)]),
     "PyTreeDef(CustomNode(OrderedDict[('b', 'a')], [*, *]))"),
    (collections.defaultdict(list, {"a": 1}),
     "PyTreeDef(CustomNode(defaultdict[(<class 'list'>, ('a',))], [*]))"),
    (Partial(max, 1, key=2), "PyTreeDef(CustomNode(Partial[<built-in function max>], "
                             "[(*,), {'key': *}]))"),
])
def test_treedef_repr_golden(t, expected):
    assert repr(tree_structure(t)) == expected


def test_treedef_equality_and_hash():
    a = tree_structure({"x": [1, 2], "y": (3, None)})
    b = tree_structure({"y": ("p", None), "x": [np.zeros(2), "q"]})
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert {a: "v"}[b] == "v"
    assert a != tree_structure({"x": [1, 2], "y": (3, 4)})       # None vs leaf
    assert a != tree_structure({"x": (1, 2), "y": (3, None)})     # list vs tuple
    assert a != tree_structure({"x": [1, 2], "z": (3, None)})     # keys differ
    assert tree_structure(Box([1], tag=1)) != tree_structure(Box([1], tag=2))  # aux differs
    assert tree_structure(Box([1], tag=1)) == tree_structure(Box([5], tag=1))
    assert tree_structure(Layer(1, 2, "a")) != tree_structure(Layer(1, 2, "b"))
    assert tree_structure(Tag("p")) != tree_structure(Tag("q"))
    assert tree_structure(Partial(max, 1)) != tree_structure(Partial(min, 1))
    assert a != "not a treedef"


def test_treedef_hash_with_unhashable_aux():
    class ListAux:
        def __init__(self, xs, aux):
            self.xs, self.aux = xs, aux

    register_pytree_node(ListAux, lambda n: (n.xs, n.aux), lambda aux, c: ListAux(c, aux))
    a = tree_structure(ListAux([1], [1, 2]))
    b = tree_structure(ListAux([3], [1, 2]))
    assert a == b and hash(a) == hash(b)
    assert a != tree_structure(ListAux([3], [1, 3]))


def test_treedef_attributes_and_helpers():
    td = tree_structure((1, [2, 3], None))
    assert td.num_leaves == 3 and td.num_nodes == 6
    children = td.children()
    assert children == treedef_children(td)
    assert [repr(c) for c in children] == ["PyTreeDef(*)", "PyTreeDef([*, *])", "PyTreeDef(None)"]
    assert children[1].num_leaves == 2 and children[1].num_nodes == 3
    assert treedef_tuple(children) == td
    assert treedef_is_leaf(tree_structure(1)) and treedef_is_strict_leaf(tree_structure(1))
    assert treedef_is_leaf(tree_structure(None))            # JAX's quirk: one node
    assert not treedef_is_strict_leaf(tree_structure(None))
    assert not treedef_is_leaf(td)
    assert td.node_data() == (tuple, None)
    assert tree_structure({"b": 1, "a": 2}).node_data() == (dict, ["a", "b"])
    assert tree_structure(Point(1, 2)).node_data() == (Point, None)
    assert tree_structure(Box([1], tag=3)).node_data() == (Box, 3)
    assert tree_structure(1).node_data() is None
    composed = tree_structure([0, 0]).compose(tree_structure((0, 0)))
    assert composed == tree_structure([(1, 2), (3, 4)])
    with pytest.raises(AttributeError):
        td.foo = 1  # __slots__


def test_flatten_up_to():
    td = tree_structure((0, {"a": 0}))
    assert td.flatten_up_to(([1, 2], {"a": (3, 4)})) == [[1, 2], (3, 4)]
    with pytest.raises(ValueError, match=r"flatten_up_to: structure mismatch at path \[1\]: "
                                         r"dict with keys \('a',\) vs list of length 1"):
        td.flatten_up_to((1, [2]))


# --- structure mismatch errors -----------------------------------------------------------------

@pytest.mark.parametrize("a, b, message", [
    ({"a": 1, "b": {"x": 1, "y": 2}}, {"a": 1, "b": {"x": 1}},
     "tree_map: structure mismatch at path ['b']: dict with keys ('x', 'y') vs dict with keys "
     "('x',)"),
    ([1, 2], [1, 2, 3], "tree_map: structure mismatch at the root: list of length 2 vs list of "
                        "length 3"),
    ((1, [2]), (1, (2,)), "tree_map: structure mismatch at path [1]: list of length 1 vs tuple "
                          "of length 1"),
    ({"a": [1, 2]}, {"a": 5}, "tree_map: structure mismatch at path ['a']: list of length 2 vs "
                              "leaf of type int"),
    ([None], [3], "tree_map: structure mismatch at path [0]: None vs leaf of type int"),
    ([Point(1, (2, 3))], [Point(1, (2,))],
     "tree_map: structure mismatch at path [0].y: tuple of length 2 vs tuple of length 1"),
    (Point(1, 2), (1, 2), "tree_map: structure mismatch at the root: namedtuple Point of length 2 "
                          "vs tuple of length 2"),
    ([Box([1], tag=1)], [Box([1], tag=2)],
     "tree_map: structure mismatch at path [0]: Box node with aux data 1 and 1 children vs Box "
     "node with aux data 2 and 1 children"),
    ([Box([[1]])], [Box([[1, 2]])],
     "tree_map: structure mismatch at path [0][<flat index 0>]: list of length 1 vs list of "
     "length 2"),
    (Layer([1], 2), Layer((1,), 2),
     "tree_map: structure mismatch at path .w: list of length 1 vs tuple of length 1"),
    (collections.OrderedDict(a=1, b=2), collections.OrderedDict(b=2, a=1),
     "tree_map: structure mismatch at the root: OrderedDict with keys ('a', 'b') vs OrderedDict "
     "with keys ('b', 'a')"),
    ({"a": 1}, {"b": 1}, "tree_map: structure mismatch at the root: dict with keys ('a',) vs "
                         "dict with keys ('b',)"),
    ({"x": 1}, {"y": 2, "x": 1}, "tree_map: structure mismatch at the root: dict with keys "
                                 "('x',) vs dict with keys ('x', 'y')"),
])
def test_tree_map_mismatch_messages(a, b, message):
    with pytest.raises(ValueError) as info:
        tree_map(lambda *xs: None, a, b)
    assert str(info.value) == message


def test_tree_map_mismatch_names_the_offending_rest_tree():
    with pytest.raises(ValueError, match=r"at path \[1\]: list of length 2 vs list of length 1 "
                                         r"\(between tree and rest\[1\]\)"):
        tree_map(lambda *xs: None, [1, [2, 3]], [1, [2, 3]], [1, [2]])


def test_bad_custom_flatten_output_is_reported():
    class Bad:
        pass

    register_pytree_node(Bad, lambda x: [(), None], lambda aux, c: Bad())
    with pytest.raises(ValueError, match=r"flatten function registered for .*Bad must return a "
                                         r"\(children, aux_data\) tuple"):
        tree_leaves([Bad()])


# --- registration ------------------------------------------------------------------------------

def test_double_registration_raises_naming_the_type():
    class Twice:
        pass

    register_pytree_node(Twice, lambda x: ((), None), lambda aux, c: Twice())
    with pytest.raises(ValueError, match=r"Duplicate pytree node registration: .*Twice"):
        register_pytree_node(Twice, lambda x: ((), None), lambda aux, c: Twice())
    with pytest.raises(ValueError, match="Duplicate.*dict"):
        register_pytree_node(dict, lambda x: ((), None), lambda aux, c: {})
    with pytest.raises(ValueError, match="Duplicate.*Box"):
        register_pytree_node_class(Box)
    with pytest.raises(TypeError, match="must be a class"):
        register_pytree_node("notatype", lambda x: ((), None), lambda aux, c: None)


def test_registering_a_namedtuple_overrides_the_builtin_handling():
    class NT(NamedTuple):
        a: Any
        b: Any

    assert tree_leaves(NT(1, 2)) == [1, 2]  # seen (and cached) as a namedtuple first
    register_pytree_node(NT, lambda n: ((n.a,), n.b), lambda b, c: NT(c[0], b))
    assert tree_leaves(NT(1, 2)) == [1]
    assert repr(tree_structure(NT(1, 2))) == "PyTreeDef(CustomNode(NT[2], [*]))"


def test_register_dataclass_variants():
    @register_dataclass
    @dataclasses.dataclass
    class Inferred:
        a: Any
        s: int = dataclasses.field(default=0, metadata=dict(static=True))
        c: Any = None
        derived: int = dataclasses.field(default=0, init=False)

    leaves, td = tree_flatten(Inferred(1, 5, 2))
    assert leaves == [1, 2]
    out = tree_unflatten(td, [10, 20])
    assert (out.a, out.s, out.c) == (10, 5, 20)

    @dataclasses.dataclass
    class Explicit:
        x: Any
        y: Any
        cache: Any = None

    assert register_dataclass(Explicit, data_fields=["y"], meta_fields=["x"],
                              drop_fields=["cache"]) is Explicit
    leaves, td = tree_flatten(Explicit(1, 2, cache="c"))
    assert leaves == [2]
    out = tree_unflatten(td, [3])
    assert (out.x, out.y, out.cache) == (1, 3, None)

    @dataclasses.dataclass
    class Incomplete:
        x: Any
        y: Any

    with pytest.raises(ValueError, match=r"missing \['y'\], unexpected \['z'\]"):
        register_dataclass(Incomplete, data_fields=["x", "z"], meta_fields=[])
    with pytest.raises(TypeError, match="both be given"):
        register_dataclass(Incomplete, data_fields=["x", "y"])

    class NotADataclass:
        def __init__(self, p, q):
            self.p, self.q = p, q

    with pytest.raises(TypeError, match="not a dataclass"):
        register_dataclass(NotADataclass)
    register_dataclass(NotADataclass, data_fields=["p"], meta_fields=["q"])
    out = tree_map(lambda v: v + 1, NotADataclass(1, "q"))
    assert (out.p, out.q) == (2, "q")


def test_register_static():
    leaves, td = tree_flatten({"mode": Tag("train"), "x": 1})
    assert leaves == [1]
    out = tree_unflatten(td, [2])
    assert out["mode"] == Tag("train") and out["x"] == 2
    assert tree.static is register_static


def test_partial_is_a_pytree():
    p = Partial(_fn, 1, np.float32(2), k=3)
    leaves, td = tree_flatten(p)
    assert leaves == [1, np.float32(2), 3]
    q = tree_unflatten(td, [10, 20, 30])
    assert isinstance(q, Partial) and isinstance(q, functools.partial)
    assert q(4, z=5) == ((10, 20, 4), {"k": 30, "z": 5})
    doubled = tree_map(lambda x: x * 2, p)
    assert doubled() == ((2, np.float32(4)), {"k": 6})


def test_partial_of_a_partial_keeps_inner_arguments_static():
    inner = functools.partial(_fn, "static")
    p = Partial(inner, 1)
    assert tree_leaves(p) == [1]
    assert p(2) == (("static", 1, 2), {})
    assert tree_unflatten(tree_structure(p), [5])(6) == (("static", 5, 6), {})
    # the wrapped inner partial is aux data: equal (and equally hashed) for the same partial
    a, b = tree_structure(Partial(inner, 1)), tree_structure(Partial(inner, 2))
    assert a == b and hash(a) == hash(b)
    assert a != tree_structure(Partial(functools.partial(_fn, "static"), 1))


# --- reductions, transpose, broadcast ----------------------------------------------------------

def test_tree_reduce_and_tree_all_and_all_leaves():
    assert tree_reduce(lambda a, b: a + b, {"a": 1, "b": [2, 3]}) == 6
    assert tree_reduce(lambda a, b: a + [b], (1, 2), initializer=[]) == [1, 2]
    assert tree_reduce(lambda a, b: a + b, (None, []), 7) == 7
    with pytest.raises(TypeError, match="no leaves and no initializer"):
        tree_reduce(lambda a, b: a + b, [None])
    assert tree_all([True, (1, None)]) and not tree_all({"a": 1, "b": 0}) and tree_all([])
    assert all_leaves([1, np.zeros(2), "s"])
    assert not all_leaves([1, None]) and not all_leaves([(1,)]) and not all_leaves([Point(1, 2)])
    assert not all_leaves([Box([])])
    assert all_leaves([(1,)], is_leaf=lambda x: isinstance(x, tuple))


def test_tree_transpose():
    outer = tree_structure([0, 0, 0])
    inner = tree_structure({"a": 0, "b": (0, 0)})
    t = [{"a": i, "b": (10 * i, 100 * i)} for i in range(3)]
    out = tree_transpose(outer, inner, t)
    assert out == {"a": [0, 1, 2], "b": ([0, 10, 20], [0, 100, 200])}
    assert tree_transpose(outer, None, t) == out
    assert tree_transpose(inner, outer, out) == t
    with pytest.raises(TypeError, match=r"tree_transpose: structure mismatch at path \[1\]\['b'\]"
                                        r": tuple of length 2 vs tuple of length 1"):
        tree_transpose(outer, inner, [t[0], {"a": 1, "b": (2,)}, t[2]])
    with pytest.raises(TypeError, match="list of length 3 vs list of length 2"):
        tree_transpose(outer, inner, t[:2])
    # the outer path follows sorted dict order, not insertion order
    with pytest.raises(TypeError, match=r"at path \['b'\]\['x'\]: list of length 2 vs list"):
        tree_transpose(tree_structure({"a": 0, "b": 0}), tree_structure({"x": [0, 0]}),
                       {"b": {"x": [1]}, "a": {"x": [1, 2]}})
    # paths inside custom nodes and dicts of the outer structure are reported too
    outer2 = tree_structure({"p": Box([0])})
    with pytest.raises(TypeError, match=r"at path \['p'\]\[<flat index 0>\]\['a'\]: list of "
                                        r"length 2 vs list of length 1"):
        tree_transpose(outer2, tree_structure({"a": [0, 0]}), {"p": Box([{"a": [1]}])})


def test_tree_broadcast():
    assert tree_broadcast((1, 2), ([0, 0], {"a": 0, "b": (0, 0)})) == (
        [1, 1], {"a": 2, "b": (2, 2)})
    assert tree_broadcast(5, {"x": [0, 0]}) == {"x": [5, 5]}
    assert tree_broadcast([1, None], [(0, 0), None]) == [(1, 1), None]
    assert tree_broadcast((1, 2), ((0,), [])) == ((1,), [])
    with pytest.raises(ValueError, match=r"tree_broadcast: structure mismatch at the root: "
                                         r"tuple of length 2 vs list of length 2"):
        tree_broadcast((1, 2), [0, 0])
    # is_leaf applies to the prefix tree
    assert tree_broadcast([(1, 2)], [[(0, 0), 0]], is_leaf=lambda x: isinstance(x, tuple)) == [
        [((1, 2), (1, 2)), (1, 2)]]


# --- functrans.tree aliases and docstring examples ---------------------------------------------

def test_tree_module_aliases():
    pairs = {
        "map": "tree_map", "leaves": "tree_leaves", "flatten": "tree_flatten",
        "unflatten": "tree_unflatten", "structure": "tree_structure", "reduce": "tree_reduce",
        "all": "tree_all", "transpose": "tree_transpose", "broadcast": "tree_broadcast",
        "map_with_path": "tree_map_with_path", "leaves_with_path": "tree_leaves_with_path",
        "flatten_with_path": "tree_flatten_with_path", "static": "register_static",
    }
    for short, long in pairs.items():
        assert getattr(tree, short) is getattr(tree_util, long), short
    assert sorted(tree.__all__) == sorted(pairs)
    assert tree.map(lambda x: x + 1, [1, (2,)]) == [2, (3,)]


def test_docstring_examples():
    result = doctest.testmod(tree_util, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 20 and result.failed == 0


def test_public_api_is_documented():
    for name in tree_util.__all__:
        obj = getattr(tree_util, name)
        assert obj.__doc__, name
    assert isinstance(tree_structure(1), PyTreeDef)
