"""Kernel formation for the Triton backend: which equations run in which kernel.

It starts from the shared fusion pass's classification (``fusion.is_elementwise``; reductions
close groups) and goes further, since on a GPU every kernel boundary is a round trip through
memory:

* **lazy** values (elementwise equations with a Triton rule, movement primitives:
  broadcast_in_dim, reshape, transpose, slice, rev, pad, concatenate, iota, and those whose
  positions are data: gather, dynamic_slice, dynamic_update_slice) are never stored unless
  they have to be: each kernel recomputes what it needs through index maps (a broadcast
  operand is read through stride 0, never materialized);
* a value is stored (an *anchor*) when it is a program output, when a fallback or a matmul
  operand needs it in memory, or when an expensive value would otherwise be recomputed by
  several kernels;
* **kernels** (``Cluster``): ``pointwise`` (anchors over one shape), ``row`` (reductions over
  the same axes of the same shape, their prologue, their epilogue in the reduced shape, and row
  patterns: a reduction broadcast back and combined with the row again, as in softmax, layer
  norm, logsumexp), ``matmul`` (dot_general with an epilogue of elementwise consumers: bias,
  activation, scale, cast), ``scatter`` (scatter_add: atomic adds over the updates, with
  their producers inlined, into a copy of the operand that a kernel before it stores; see
  ``canonicalize_scatters``) and ``fallback`` (one primitive without a Triton rule).

Merges never create a cycle between kernels. Whether a merge is possible for a row or matmul
kernel is decided by generating it (``try_kernel``), so the scheduler and the code generator
can never disagree.
Imports the IR, fusion, triton_rules and triton_index.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from functrans.lowering import fusion, triton_rules
from functrans.lowering.triton_index import (
    Access,
    Group,
    IndexSpace,
    Ix,
    contiguous_strides,
    prod,
    through_broadcast,
    through_reshape,
    through_rev,
    through_slice,
    through_transpose,
)

from functrans.ir import ClosedJaxpr, Eqn, Jaxpr, Var

# A row kernel keeps a whole row in registers up to this many elements (next power of 2);
# longer rows loop over RBLOCK-sized tiles (one level of reductions per kernel then).
PERSISTENT_ROW_LIMIT = 8192
# Longest chain of inlined equations in one kernel: a value deeper than this is stored and
# the chain continues from memory (bounds kernel size, compile time and codegen recursion).
MAX_DEPTH = 64
# A lazy value recomputed by several kernels is stored instead when its computation is larger
# than this many equations (tinygrad/Inductor recompute only cheap producers).
RECOMPUTE_LIMIT = 12


def classify(eqn: Eqn) -> str:
    """"lazy" (inlined wherever used), "red", "dot", "scatter" or "other" (a fallback)."""
    name = eqn.prim.name
    if triton_rules.rule_for(eqn) is not None and not eqn.prim.multiple_results and (
            fusion.is_elementwise(eqn) or name in ("bitcast_convert_type", "copy",
                                                   "stop_gradient", "checkpoint_name")):
        return "lazy"
    if triton_rules.movement_ok(eqn) and _movement_supported(eqn) \
            or triton_rules.indexed_ok(eqn):
        return "lazy"
    if triton_rules.scatter_add_ok(eqn):
        return "scatter"
    if triton_rules.reduction_ok(eqn):
        return "red"
    if triton_rules.dot_ok(eqn) and all(type(a) is Var for a in eqn.invars):
        return "dot"
    return "other"


def _movement_supported(eqn: Eqn) -> bool:
    if eqn.prim.name == "pad":
        return all(int(interior) == 0 for _, _, interior in eqn.params["padding_config"])
    return True


@dataclass
class Cluster:
    kind: str                       # "pointwise" | "row" | "matmul" | "scatter" | "fallback"
    eqn: Eqn | None = None                      # the fallback / matmul / scatter equation
    reds: list[Eqn] = field(default_factory=list)
    anchors: list[Var] = field(default_factory=list)   # lazy values this kernel stores
    shape: tuple[int, ...] = ()     # pointwise: iteration shape; row: input; scatter: updates
    axes: tuple[int, ...] = ()                  # row: reduced axes
    persistent: bool = True
    stores: list[Var] = field(default_factory=list)    # reduction/dot outputs others read
    internal: set[Var] = field(default_factory=set)    # anchors computed but not stored
    index: int = 0

    @property
    def own_values(self) -> list[Var]:
        out = [e.outvars[0] for e in self.reds]
        if self.kind in ("matmul", "scatter") and self.eqn is not None:
            out.append(self.eqn.outvars[0])
        return out


class Program:
    """The analysis of one jaxpr: producers, classification, anchors."""

    def __init__(self, jaxpr: Jaxpr, fuse: bool = True):
        self.jaxpr = jaxpr
        self.fuse = fuse
        self.producer: dict[Var, Eqn] = {}
        self.kind: dict[int, str] = {}
        self.pos: dict[int, int] = {}
        for i, e in enumerate(jaxpr.eqns):
            self.pos[id(e)] = i
            self.kind[id(e)] = classify(e)
            for v in e.outvars:
                self.producer[v] = e
        self.outvars = {a for a in jaxpr.outvars if type(a) is Var}
        self.anchors: list[Var] = []
        self.shared: set[Var] = set()       # anchors that other kernels load, not recompute
        self.dot_views: dict[tuple[int, int], tuple] = {}
        self.reads_cache: dict[tuple, set[Var]] = {}   # valid while ``shared`` is unchanged

    def eqn_kind(self, v: Var) -> str:
        e = self.producer.get(v)
        return "input" if e is None else self.kind[id(e)]

    def is_lazy(self, v: Any) -> bool:
        return type(v) is Var and self.eqn_kind(v) == "lazy"


# --- dot operands: strided views of buffers ------------------------------------------------------


_VIEW_PRIMS = {"broadcast_in_dim", "reshape", "squeeze", "expand_dims", "transpose", "slice",
               "rev"}


def operand_view(prog: Program, v: Var, stop: Callable[[Var], bool]
                 ) -> tuple[Var, int, list[int]] | None:
    """If ``v`` is a strided view of a buffer (through movement primitives only), the buffer,
    the element offset and one stride per dimension of ``v``; else None."""
    shape = tuple(v.aval.shape)
    group = Group("v", "vindex", shape, frozenset({"v"}))
    ints: list[int] = []
    space = IndexSpace([group], lambda k: (ints.append(k), "k")[1])
    acc = Access(shape, tuple(space.dims("v")))
    cur = v
    while prog.is_lazy(cur) and not stop(cur):
        e = prog.producer[cur]
        if e.prim.name not in _VIEW_PRIMS:
            return None
        acc = _through(space, e, acc)
        cur = e.invars[0]
        if type(cur) is not Var:
            return None
    off = Ix()
    for ix, s in zip(acc.dims, contiguous_strides(cur.aval.shape), strict=True):
        off = off + ix.scale(s)
    strides = [0] * len(shape)
    for atom, c in off.terms:
        if atom.group != "v" or atom.name == "vindex" and len(
                [s for s in shape if s > 1]) != 1:
            return None
        if atom.name == "vindex":
            d = next(i for i, s in enumerate(shape) if s > 1)
        else:
            d = atom.dim
        strides[d] = c
    if off.const < 0:
        return None
    return cur, off.const, strides


def _through(space: IndexSpace, e: Eqn, acc: Access) -> Access:
    name, p = e.prim.name, e.params
    operand_shape = tuple(e.invars[0].aval.shape)
    if name == "broadcast_in_dim":
        return through_broadcast(acc, operand_shape, p["broadcast_dimensions"])
    if name == "transpose":
        return through_transpose(acc, operand_shape, p["permutation"])
    if name in ("reshape", "squeeze", "expand_dims"):
        return through_reshape(space, acc, operand_shape)
    if name == "slice":
        strides = p.get("strides") or (1,) * len(operand_shape)
        return through_slice(acc, operand_shape, p["start_indices"], strides)
    if name == "rev":
        return through_rev(acc, operand_shape, p["dimensions"])
    raise AssertionError(name)


def merged(strides: list[int], shape: tuple[int, ...], dims: Iterable[int]
           ) -> tuple[int, int] | None:
    """(stride, size) of ``dims`` flattened in order, if their strides allow it."""
    dims = [d for d in dims if shape[d] != 1]
    if not dims:
        return 0, 1
    for a, b in itertools.pairwise(dims):
        if strides[a] != strides[b] * shape[b]:
            return None
    return strides[dims[-1]], prod(shape[d] for d in dims)


def dot_groups(eqn: Eqn) -> tuple[list[list[int]], list[list[int]]]:
    """Operand dims by role: lhs (batch, free, contract), rhs (batch, contract, free)."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    la, ra = eqn.invars[0].aval, eqn.invars[1].aval
    lf = [d for d in range(la.ndim) if d not in lc and d not in lb]
    rf = [d for d in range(ra.ndim) if d not in rc and d not in rb]
    return [list(lb), lf, list(lc)], [list(rb), list(rc), rf]


def canonicalize_dots(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Give every matmul operand a layout the matmul kernel can read: a strided view whose
    batch, row and contraction dims each flatten to one stride. Where an operand is not such
    a view, a transpose to (batch, free, contract) order is inserted before the dot; the
    scheduler then stores it (a contiguous copy)."""
    jaxpr = closed.jaxpr
    prog = Program(jaxpr)
    if not any(prog.kind[id(e)] == "dot" for e in jaxpr.eqns):
        return closed
    from functrans.primitives.structural import transpose_p
    eqns: list[Eqn] = []
    changed = False
    for e in jaxpr.eqns:
        if prog.kind[id(e)] != "dot":
            eqns.append(e)
            continue
        lgroups, rgroups = dot_groups(e)
        new_ins = list(e.invars)
        perms: list[list[int] | None] = []
        for i, (v, groups) in enumerate(zip(e.invars, (lgroups, rgroups), strict=True)):
            view = operand_view(prog, v, lambda _: False) if type(v) is Var else None
            ok = view is not None and all(
                merged(view[2], tuple(v.aval.shape), g) is not None for g in groups)
            order = [d for g in groups for d in g]
            if ok:
                perms.append(None)
                continue
            if order == sorted(order) and prog.is_lazy(v):
                perms.append(None)   # stored contiguous as it is: already mergeable
                continue
            if order == sorted(order):
                perms.append(None)
                continue
            perm = order
            out_shape = tuple(v.aval.shape[d] for d in perm)
            nv = Var(v.aval.update(shape=out_shape))
            eqns.append(Eqn(transpose_p, [v], [nv], {"permutation": tuple(perm)},
                            e.source_info))
            new_ins[i] = nv
            perms.append(perm)
            changed = True
        if any(p is not None for p in perms):
            (lc, rc), (lb, rb) = e.params["dimension_numbers"]

            def remap(dims: Iterable[int], perm: list[int] | None) -> tuple[int, ...]:
                if perm is None:
                    return tuple(dims)
                return tuple(perm.index(d) for d in dims)

            dn = ((remap(lc, perms[0]), remap(rc, perms[1])),
                  (remap(lb, perms[0]), remap(rb, perms[1])))
            eqns.append(Eqn(e.prim, new_ins, e.outvars, {**e.params, "dimension_numbers": dn},
                            e.source_info))
        else:
            eqns.append(e)
    if not changed:
        return closed
    return ClosedJaxpr(Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, eqns, jaxpr.debug),
                       closed.consts)


def canonicalize_scatters(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Give every atomic scatter a buffer of its own to add into: ``out = scatter_add(x, i,
    u)`` becomes ``x' = copy(x); out = scatter_add(x', i, u)``. The copy is a lazy value like
    any other (a zero fill or the operand's own computation, fused into a kernel of its shape);
    the scheduler stores it, and the scatter kernel adds into that buffer in place (nothing
    else reads it), so the operand itself is never changed. A chain of scatters whose
    intermediate results nothing else reads (``x.at[i].add(u).at[j].add(v)``) adds into one
    buffer."""
    jaxpr = closed.jaxpr
    from functrans.primitives.elementwise import copy_p
    uses = fusion._use_counts(jaxpr)  # (a result counts as a read)
    private: set[Var] = set()       # scatter results that only the next scatter reads
    eqns: list[Eqn] = []
    for e in jaxpr.eqns:
        if triton_rules.scatter_add_ok(e):   # (what classify calls "scatter")
            operand = e.invars[0]
            if operand not in private:
                fresh = Var(operand.aval)
                eqns.append(Eqn(copy_p, [operand], [fresh], {}, e.source_info))
                e = Eqn(e.prim, [fresh, *e.invars[1:]], e.outvars, e.params, e.source_info)
            if uses.get(e.outvars[0], 0) == 1:
                private.add(e.outvars[0])
        eqns.append(e)
    if len(eqns) == len(jaxpr.eqns):  # no scatter (the first of a chain always copies)
        return closed
    return ClosedJaxpr(Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, eqns, jaxpr.debug),
                       closed.consts)


# --- the schedule -------------------------------------------------------------------------------


class Schedule:
    """Clusters in execution order, plus what each stores."""

    def __init__(self, prog: Program, clusters: list[Cluster]):
        self.prog = prog
        self.clusters = clusters


def lazy_closure(prog: Program, roots: Iterable[Any], cluster: Cluster
                 ) -> tuple[set[int], set[Var]]:
    """Equations computed inline when a kernel evaluates ``roots``, and the values it reads
    from memory (mirrors the code generator's decisions)."""
    own = set(cluster.own_values)
    anchors = set(cluster.anchors)
    seen: set[Var] = set()
    eqns: set[int] = set()
    reads: set[Var] = set()
    stack = [r for r in roots if type(r) is Var]
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        if v in own:
            e = prog.producer[v]
            eqns.add(id(e))
            if e.prim.name == "dot_general":
                for i, a in enumerate(e.invars):
                    view = prog.dot_views.get((id(e), i))
                    reads.add(view[0] if view is not None else a)
                continue
            stack.extend(a for a in e.invars if type(a) is Var)
            continue
        if prog.is_lazy(v) and (v not in prog.shared or v in anchors):
            e = prog.producer[v]
            eqns.add(id(e))
            stack.extend(a for a in e.invars if type(a) is Var)
            continue
        reads.add(v)
    return eqns, reads


def cluster_roots(c: Cluster) -> list[Var]:
    roots = list(c.anchors) + list(c.stores)
    for e in c.reds:
        roots.append(e.outvars[0])
    if c.kind in ("matmul", "scatter", "fallback") and c.eqn is not None:
        roots.extend(c.eqn.outvars if c.kind == "fallback" else [c.eqn.outvars[0]])
    return roots


def schedule(closed: ClosedJaxpr, fuse: bool = True,
             try_kernel: Callable[[Program, Cluster], bool] | None = None) -> Schedule:
    prog = Program(closed.jaxpr, fuse)
    _choose_anchors(prog)
    base_shared = set(prog.shared)
    base_anchors = list(prog.anchors)
    for heuristics in (True, False):
        try:
            clusters = _form_clusters(prog, try_kernel)
            for _ in range(4 if heuristics else 0):
                extra = _recompute_candidates(prog, clusters)
                if not extra:
                    break
                for v in extra:
                    if v not in prog.anchors:
                        prog.anchors.append(v)
                    prog.shared.add(v)
                clusters = _form_clusters(prog, try_kernel)
            clusters = _order(prog, clusters)
            break
        except _Cycle:
            # A choice made two kernels depend on each other: drop the heuristics (recompute
            # instead of sharing), then, as a last resort, one kernel per equation.
            prog.shared = set(base_shared)
            prog.anchors = list(base_anchors)
    else:
        prog = Program(closed.jaxpr, fuse=False)
        _choose_anchors(prog)
        clusters = _order(prog, _form_clusters(prog, try_kernel))
    _assign_stores(prog, clusters)
    return Schedule(prog, clusters)


class _Cycle(Exception):
    """Two kernels would each need the other's output first."""


def _choose_anchors(prog: Program) -> None:
    jaxpr = prog.jaxpr
    anchors: list[Var] = list(prog.anchors)
    known: set[Var] = set(anchors)

    def add(v: Any) -> None:
        if type(v) is Var and prog.is_lazy(v) and v not in known:
            anchors.append(v)
            known.add(v)

    if not prog.fuse:  # one kernel per equation: every lazy value is stored and loaded
        for e in jaxpr.eqns:
            if prog.kind[id(e)] == "lazy":
                for v in e.outvars:
                    add(v)
                    prog.shared.add(v)
            elif prog.kind[id(e)] == "red":
                for a in e.invars:
                    add(a)
                    if type(a) is Var:
                        prog.shared.add(a)
    for e in jaxpr.eqns:
        k = prog.kind[id(e)]
        if k == "other":
            for a in e.invars:
                add(a)
        elif k == "scatter":
            # The operand (a copy made for this scatter) is stored, then added into in place.
            add(e.invars[0])
            prog.shared.add(e.invars[0])
        elif k == "dot":
            for i, (a, groups) in enumerate(zip(e.invars, dot_groups(e), strict=True)):
                # A view may end at any value that is stored anyway.
                view = operand_view(prog, a, lambda v: v in prog.shared or v in known)
                if view is not None and all(merged(view[2], tuple(a.aval.shape), g)
                                            is not None for g in groups):
                    prog.dot_views[(id(e), i)] = view
                else:
                    add(a)
    for a in jaxpr.outvars:
        add(a)
    # Cut long chains: a lazy value whose longest inlined chain exceeds MAX_DEPTH is stored.
    depth: dict[Var, int] = {}
    for e in jaxpr.eqns:
        if prog.kind[id(e)] != "lazy":
            continue
        d = 1 + max([depth.get(a, 0) for a in e.invars if type(a) is Var] + [0])
        for v in e.outvars:
            if d > MAX_DEPTH:
                add(v)
                prog.shared.add(v)
                depth[v] = 0
            elif v in prog.shared:
                depth[v] = 0
            else:
                depth[v] = d
    prog.anchors = anchors


def _form_clusters(prog: Program, try_kernel: Callable[[Program, Cluster], bool] | None
                   ) -> list[Cluster]:
    prog.reads_cache.clear()
    clusters: list[Cluster] = []
    row_clusters: list[Cluster] = []
    for e in prog.jaxpr.eqns:
        k = prog.kind[id(e)]
        if k == "other":
            clusters.append(Cluster("fallback", eqn=e))
        elif k == "dot":
            clusters.append(Cluster("matmul", eqn=e, shape=tuple(e.outvars[0].aval.shape)))
        elif k == "scatter":
            clusters.append(Cluster("scatter", eqn=e, shape=tuple(e.invars[2].aval.shape)))
        elif k == "red":
            shape = tuple(e.invars[0].aval.shape)
            axes = tuple(sorted(int(a) for a in e.params["axes"]))
            rnumel = prod(shape[a] for a in axes)
            persistent = _next_pow2(rnumel) <= PERSISTENT_ROW_LIMIT
            placed = False
            if prog.fuse:
                for c in row_clusters:
                    if c.shape != shape or c.axes != axes:
                        continue
                    c.reds.append(e)
                    if _no_cycle(prog, clusters, c) and (try_kernel is None
                                                         or try_kernel(prog, c)):
                        placed = True
                        break
                    c.reds.pop()
            if not placed:
                c = Cluster("row", reds=[e], shape=shape, axes=axes, persistent=persistent)
                clusters.append(c)
                row_clusters.append(c)
    for v in prog.anchors:
        placed = False
        if prog.fuse:
            for c in _candidates(prog, clusters, v):
                c.anchors.append(v)
                if _no_cycle(prog, clusters, c) and (try_kernel is None
                                                     or c.kind == "pointwise"
                                                     or try_kernel(prog, c)):
                    placed = True
                    break
                c.anchors.pop()
        if not placed:
            clusters.append(Cluster("pointwise", anchors=[v], shape=tuple(v.aval.shape)))
    return clusters


def _candidates(prog: Program, clusters: list[Cluster], v: Var) -> list[Cluster]:
    """Kernels ``v`` could be stored from, best first: a matmul or row kernel whose result
    it uses (epilogue) or whose input it is (prologue), else a pointwise kernel of the same
    shape."""
    out: list[Cluster] = []
    shape = tuple(v.aval.shape)
    probe = Cluster("pointwise", anchors=[v])
    _, reads = lazy_closure(prog, [v], probe)
    for c in clusters:
        if c.kind == "matmul":
            if shape == c.shape and c.eqn.outvars[0] in reads:
                out.append(c)
        elif c.kind == "row":
            reduced = tuple(s for i, s in enumerate(c.shape) if i not in c.axes)
            space_ok = _same_nontrivial(shape, c.shape) or _same_nontrivial(shape, reduced)
            if not space_ok:
                continue
            uses_red = any(e.outvars[0] in reads for e in c.reds)
            red_inputs = set()
            for e in c.reds:
                red_eqns, _ = lazy_closure(prog, [e.invars[0]], Cluster("pointwise"))
                red_inputs |= red_eqns
            feeds = prog.producer.get(v) is not None and id(prog.producer[v]) in red_inputs
            if uses_red or feeds:
                out.append(c)
    for c in clusters:
        if c.kind == "pointwise" and c.shape == shape:
            out.append(c)
    return out


def _same_nontrivial(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return [s for s in a if s != 1] == [s for s in b if s != 1]


def _cluster_reads(prog: Program, c: Cluster) -> set[Var]:
    if c.kind == "fallback" and c.eqn is not None:
        return {a for a in c.eqn.invars if type(a) is Var}
    key = (id(c), tuple(map(id, c.anchors)), tuple(map(id, c.reds)), tuple(map(id, c.stores)))
    hit = prog.reads_cache.get(key)
    if hit is None:
        _, hit = lazy_closure(prog, cluster_roots(c), c)
        prog.reads_cache[key] = hit
    return hit


def _producers(prog: Program, clusters: list[Cluster]) -> dict[Var, int]:
    out: dict[Var, int] = {}
    for i, c in enumerate(clusters):
        for v in c.anchors:
            out[v] = i
        for v in c.own_values:
            out[v] = i
        if c.kind == "fallback" and c.eqn is not None:
            for v in c.eqn.outvars:
                out[v] = i
    return out


def _deps(prog: Program, clusters: list[Cluster]) -> list[set[int]]:
    producers = _producers(prog, clusters)
    deps: list[set[int]] = []
    for i, c in enumerate(clusters):
        d = set()
        for v in _cluster_reads(prog, c):
            p = producers.get(v)
            if p is not None and p != i:
                d.add(p)
        deps.append(d)
    return deps


def _no_cycle(prog: Program, clusters: list[Cluster], c: Cluster) -> bool:
    deps = _deps(prog, clusters)
    i = next(j for j, x in enumerate(clusters) if x is c)
    # c must not (transitively) depend on itself.
    seen: set[int] = set()
    stack = list(deps[i])
    while stack:
        j = stack.pop()
        if j == i:
            return False
        if j in seen:
            continue
        seen.add(j)
        stack.extend(deps[j])
    return True


def _recompute_candidates(prog: Program, clusters: list[Cluster]) -> list[Var]:
    """Lazy values that kernels would recompute where loading them is cheaper: values that are
    stored anyway (anchors) whose recomputation reads several buffers, and expensive values
    that several kernels would recompute."""
    users: dict[Var, int] = {}
    for c in clusters:
        if c.kind == "fallback":
            continue
        eqns, _ = lazy_closure(prog, cluster_roots(c), c)
        own = set(c.anchors)
        for e in prog.jaxpr.eqns:
            if id(e) in eqns and prog.kind[id(e)] == "lazy":
                for v in e.outvars:
                    if v not in own:
                        users[v] = users.get(v, 0) + 1
    anchors = set(prog.anchors)
    out = []
    for v, n in users.items():
        if v in prog.shared:
            continue
        eqns, reads = lazy_closure(prog, [v], Cluster("pointwise"))
        cost = sum(1 for e in prog.jaxpr.eqns if id(e) in eqns
                   and e.prim.name not in triton_rules.MOVEMENT)
        if v in anchors and (len(reads) >= 2 or cost > 3):
            out.append(v)      # stored by its own kernel anyway: read it back
        elif n >= 2 and cost > RECOMPUTE_LIMIT:
            out.append(v)      # several kernels would redo a long computation
    # The latest in program order first: loading it may make the earlier ones unnecessary.
    order = {v: prog.pos[id(prog.producer[v])] for v in out}
    return sorted(out, key=order.__getitem__)[-1:]


def _order(prog: Program, clusters: list[Cluster]) -> list[Cluster]:
    deps = _deps(prog, clusters)
    n = len(clusters)
    key = [_first_position(prog, c) for c in clusters]
    done: list[int] = []
    placed: set[int] = set()
    while len(done) < n:
        ready = [i for i in range(n) if i not in placed and deps[i] <= placed]
        if not ready:
            raise _Cycle()
        i = min(ready, key=lambda j: key[j])
        done.append(i)
        placed.add(i)
    out = [clusters[i] for i in done]
    for k, c in enumerate(out):
        c.index = k
    return out


def _first_position(prog: Program, c: Cluster) -> int:
    positions = [prog.pos[id(e)] for e in c.reds]
    if c.eqn is not None:
        positions.append(prog.pos[id(c.eqn)])
    for v in c.anchors:
        positions.append(prog.pos[id(prog.producer[v])])
    return min(positions) if positions else 0


def _assign_stores(prog: Program, clusters: list[Cluster]) -> None:
    """Reduction and matmul results that another kernel (or the caller) reads are stored."""
    needed: set[Var] = set(prog.outvars)
    for c in clusters:
        needed |= _cluster_reads(prog, c)
    for c in clusters:
        c.stores = [v for v in c.own_values if v in needed]
        # Anchors nobody reads from memory (chain cuts merged into the kernel that reads
        # them) are computed in order but not written.
        c.internal = {v for v in c.anchors if v not in needed}


def _next_pow2(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def next_pow2(n: int) -> int:
    return _next_pow2(int(n))

