"""Index arithmetic for generated Triton kernels: affine index expressions over named atoms.

A kernel iterates over one or more *groups* of dimensions (a pointwise kernel: one group ``x``
over the output shape; a row kernel: kept dims ``x`` and reduced dims ``r``; a matmul: batch
``b``, rows ``m`` and columns ``n``). Each group has a linear index (``xindex``) and one *atom*
per dimension of size > 1 (``x0 = (xindex // ks1) % ks2``). A value of any shape is reached
through an ``Access``: one ``Ix`` per dimension of the value, where an ``Ix`` is
``sum(coef * atom) + const`` with every atom's range known. Movement primitives
(broadcast_in_dim, transpose, reshape, slice, rev, pad, concatenate) rewrite accesses instead
of copying data, so they cost nothing at run time. A buffer load turns an access into one
offset ``sum_d Ix_d * stride_d``; runs of a group's atoms whose coefficients match the group's
own strides collapse back into the group index (``xindex``), which keeps contiguous loads
vectorizable. Gathers, scatters and dynamic slices index the same way: their start indices
are atoms too, whose code is an index value loaded (or computed) in the kernel and clamped
into a known range (``window_map`` lays out XLA's dimension numbers).

Every integer that depends on shapes goes through ``Kernel.int_arg``: kernels take sizes at
run time, so the same kernel text serves every shape with the same structure.
Imports nothing from functrans but the gather/scatter window-dims helper of its indexing
primitives.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from functrans.primitives.indexing import _window_dims


class NotFusible(Exception):
    """A value cannot be computed inside the kernel being built (the scheduler splits)."""


@dataclass(frozen=True, eq=False)
class Atom:
    """A named integer tensor in a kernel with values in ``[0, size)``."""

    name: str
    size: int
    axes: frozenset[str]              # block axes it varies along ("x", "r", "m", "n", ...)
    code: str = ""                    # its definition; "" for group atoms defined by the group
    deps: tuple[Atom, ...] = ()
    group: str = ""                   # group name for group atoms
    dim: int = -1                     # dimension within its group (group atoms)

    def __repr__(self) -> str:
        return self.name


class Ix:
    """``sum(coef * atom) + const`` (immutable)."""

    __slots__ = ("const", "terms")

    def __init__(self, terms: dict[Atom, int] | None = None, const: int = 0):
        t = {a: c for a, c in (terms or {}).items() if c}
        self.terms: tuple[tuple[Atom, int], ...] = tuple(sorted(t.items(),
                                                                key=lambda ac: ac[0].name))
        self.const = int(const)

    @staticmethod
    def of(atom: Atom | None) -> Ix:
        return Ix() if atom is None else Ix({atom: 1})

    def as_dict(self) -> dict[Atom, int]:
        return dict(self.terms)

    def __add__(self, other: Ix | int) -> Ix:
        if isinstance(other, int):
            return Ix(self.as_dict(), self.const + other)
        d = self.as_dict()
        for a, c in other.terms:
            d[a] = d.get(a, 0) + c
        return Ix(d, self.const + other.const)

    def scale(self, k: int) -> Ix:
        return Ix({a: c * k for a, c in self.terms}, self.const * k)

    def max_value(self) -> int:
        return self.const + sum(c * (a.size - 1) for a, c in self.terms if c > 0)

    def min_value(self) -> int:
        return self.const + sum(c * (a.size - 1) for a, c in self.terms if c < 0)

    @property
    def axes(self) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for a, _ in self.terms:
            out = out | a.axes
        return out

    def key(self) -> tuple:
        return (tuple((a.name, c) for a, c in self.terms), self.const)

    def is_const(self) -> bool:
        return not self.terms

    def __repr__(self) -> str:
        parts = [f"{c}*{a.name}" if c != 1 else a.name for a, c in self.terms]
        if self.const or not parts:
            parts.append(str(self.const))
        return " + ".join(parts)


@dataclass
class Access:
    """How a value of ``shape`` is indexed: one Ix per dimension, plus extra conditions (from
    pad/concatenate) under which the element exists; elsewhere its value is never used."""

    shape: tuple[int, ...]
    dims: tuple[Ix, ...]
    conds: tuple[str, ...] = ()
    cond_axes: frozenset[str] = field(default_factory=frozenset)

    def key(self) -> tuple:
        return (tuple(d.key() for d in self.dims), self.conds)

    @property
    def axes(self) -> frozenset[str]:
        out = self.cond_axes
        for d in self.dims:
            out = out | d.axes
        return out

    def with_dims(self, shape: Sequence[int], dims: Sequence[Ix]) -> Access:
        return Access(tuple(shape), tuple(dims), self.conds, self.cond_axes)


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    out = []
    acc = 1
    for d in reversed(shape):
        out.append(acc)
        acc *= max(int(d), 1)
    return tuple(reversed(out))


def prod(xs: Sequence[int]) -> int:
    n = 1
    for x in xs:
        n *= int(x)
    return n


@dataclass
class Group:
    """One linear iteration index (``xindex``) over ``sizes``, and its per-dim atoms."""

    name: str                 # "x", "r", "m", "n", "b"
    index: str                # source name of the linear index ("xindex")
    sizes: tuple[int, ...]
    axes: frozenset[str]
    atoms: list[Atom | None] = field(default_factory=list)


class IndexSpace:
    """The atoms of one kernel; defines derived atoms and formats index expressions."""

    def __init__(self, groups: Sequence[Group], int_arg: Callable[[int], str]):
        self.groups = {g.name: g for g in groups}
        self.int_arg = int_arg
        self._derived: dict[str, Atom] = {}
        self._n = 0
        for g in groups:
            g.atoms = []
            nontrivial = [i for i, s in enumerate(g.sizes) if s > 1]
            for i, s in enumerate(g.sizes):
                if s <= 1:
                    g.atoms.append(None)
                elif len(nontrivial) == 1:
                    # The only non-trivial dimension of the group is the group index itself.
                    g.atoms.append(Atom(g.index, s, g.axes, group=g.name, dim=i))
                else:
                    g.atoms.append(Atom(f"{g.name}{i}", s, g.axes, group=g.name, dim=i))

    def dims(self, group: str) -> list[Ix]:
        return [Ix.of(a) for a in self.groups[group].atoms]

    # --- group atoms ---

    def group_atom_code(self, atom: Atom) -> str:
        g = self.groups[atom.group]
        cs = contiguous_strides(g.sizes)
        stride = cs[atom.dim]
        total = prod(g.sizes)
        code = g.index
        if stride > 1:
            code = f"{code} // {self.int_arg(stride)}"
        if stride * atom.size < total:
            code = f"({code}) % {self.int_arg(atom.size)}" if stride > 1 else \
                f"{code} % {self.int_arg(atom.size)}"
        return code

    # --- derived atoms ---

    def derived(self, code: str, size: int, deps: Sequence[Atom],
                axes: frozenset[str] | None = None) -> Atom:
        atom = self._derived.get(code)
        if atom is None:
            if axes is None:
                axes = frozenset()
                for d in deps:
                    axes = axes | d.axes
            atom = Atom(f"i{self._n}", max(int(size), 1), axes, code, tuple(deps))
            self._n += 1
            self._derived[code] = atom
        return atom

    def floordiv_mod(self, a: Atom, q: int, m: int | None) -> Ix:
        """``(a // q) % m`` as an Ix (m None: no modulo), simplified by a's range."""
        if q <= 0:
            raise ValueError(q)
        hi = (a.size - 1) // q + 1  # number of values of a // q
        if q == 1 and (m is None or a.size <= m):
            return Ix.of(a)
        if hi <= 1:
            return Ix()
        code = a.name if q == 1 else f"{a.name} // {self.int_arg(q)}"
        size = hi
        if m is not None and hi > m:
            code = f"({code}) % {self.int_arg(m)}" if q != 1 else f"{code} % {self.int_arg(m)}"
            size = m
        return Ix.of(self.derived(code, size, [a]))

    def opaque(self, ix: Ix, fn: Callable[[str], str], size: int) -> Ix:
        """An atom computed from the code of ``ix`` by ``fn`` (generic fallback)."""
        inner = self.code(ix)
        deps = [a for a, _ in ix.terms]
        return Ix.of(self.derived(fn(inner), size, deps))

    # --- reshape: linear index -> per-dimension indices ---

    def delinearize(self, lin: Ix, shape: Sequence[int]) -> list[Ix]:
        """Indices of ``shape`` (row-major) whose linear index is ``lin``."""
        shape = [int(s) for s in shape]
        cs = contiguous_strides(shape)
        if not lin.terms:
            c = lin.const
            return [Ix({}, (c // cs[i]) % max(shape[i], 1)) for i in range(len(shape))]
        terms = self._split_for(lin, cs, shape)
        if terms is None or lin.const:
            return self._delinearize_generic(lin, shape, cs)
        out = []
        for i, (n, s) in enumerate(zip(shape, cs, strict=True)):
            if n == 1:
                out.append(Ix())
                continue
            digit: dict[Atom, int] = {}
            for a, c in terms:
                if c >= s * n:
                    continue            # a multiple of this digit's period
                if c >= s:
                    digit[a] = digit.get(a, 0) + c // s
            out.append(Ix(digit))
        return out

    def _split_for(self, lin: Ix, cs: Sequence[int], shape: Sequence[int]
                   ) -> list[tuple[Atom, int]] | None:
        """Terms of ``lin`` split so that each lies inside one digit of ``shape``'s mixed
        radix, or None when that is impossible (then the generic form is used)."""
        terms = sorted(lin.terms, key=lambda ac: ac[1])
        if any(c <= 0 for _, c in terms):
            return None
        bounds = sorted({int(s) for s in cs} | {int(s) * max(int(n), 1)
                                                 for s, n in zip(cs, shape, strict=True)})
        out: list[tuple[Atom, int]] = []
        work = list(terms)
        guard = 0
        while work:
            guard += 1
            if guard > 64:
                return None
            a, c = work.pop(0)
            top = c * a.size
            inner = [b for b in bounds if c < b < top]
            if not inner:
                out.append((a, c))
                continue
            b = inner[0]
            if b % c:
                return None
            q = b // c
            lo = self.floordiv_mod(a, 1, q)
            hi = self.floordiv_mod(a, q, None)
            for ix, coef in ((lo, c), (hi, c * q)):
                for atom, k in ix.terms:
                    work.append((atom, k * coef))
            work.sort(key=lambda ac: ac[1])
        out.sort(key=lambda ac: ac[1])
        # Mixed radix: each term's range must end below the next term's coefficient.
        for (a1, c1), (_, c2) in itertools.pairwise(out):
            if c1 * a1.size > c2:
                return None
        for a, c in out:
            # Each term must sit inside one digit: c is a multiple of that digit's stride.
            digit = [s for s, n in zip(cs, shape, strict=True) if s <= c < s * max(n, 1)]
            if digit and c % digit[0]:
                return None
        return out

    def _delinearize_generic(self, lin: Ix, shape: Sequence[int], cs: Sequence[int]
                             ) -> list[Ix]:
        out = []
        total = prod(shape)
        for n, s in zip(shape, cs, strict=True):
            if n == 1:
                out.append(Ix())
                continue

            def fn(code: str, s: int = s, n: int = n) -> str:
                expr = f"({code})" if s == 1 else f"({code}) // {self.int_arg(s)}"
                if s * n < total:
                    expr = f"({expr}) % {self.int_arg(n)}" if s > 1 else \
                        f"{expr} % {self.int_arg(n)}"
                return expr

            out.append(self.opaque(lin, fn, n))
        return out

    # --- formatting ---

    def code(self, ix: Ix) -> str:
        """Source of an index expression, with runs of group atoms folded back into the
        group index (so contiguous accesses read ``xindex`` itself)."""
        terms = self._merge_runs(ix.as_dict())
        parts = []
        for name, coef in terms:
            if coef == 1:
                parts.append(name)
            elif coef == -1:
                parts.append(f"-{name}")
            else:
                parts.append(f"{name} * {self.int_arg(coef)}" if coef > 0
                             else f"-{name} * {self.int_arg(-coef)}")
        if ix.const:
            parts.append(self.int_arg(ix.const) if ix.const > 0
                         else f"-{self.int_arg(-ix.const)}")
        if not parts:
            return "0"
        src = " + ".join(parts)
        return src.replace("+ -", "- ")

    def _merge_runs(self, terms: dict[Atom, int]) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        by_group: dict[str, dict[int, int]] = {}
        for a, c in terms.items():
            if a.group and a.name != self.groups[a.group].index:
                by_group.setdefault(a.group, {})[a.dim] = c
            else:
                out.append((a.name, c))
        for gname, dims in by_group.items():
            g = self.groups[gname]
            cs = contiguous_strides(g.sizes)
            nontrivial = [i for i, s in enumerate(g.sizes) if s > 1]
            i = 0
            while i < len(nontrivial):
                d0 = nontrivial[i]
                if d0 not in dims:
                    i += 1
                    continue
                # The longest run of consecutive dims whose coefficients are k times the
                # group's own strides (relative to the run's last dim).
                j = i
                while (j + 1 < len(nontrivial) and nontrivial[j + 1] in dims
                       and dims[nontrivial[j]] * cs[nontrivial[j + 1]]
                       == dims[nontrivial[j + 1]] * cs[nontrivial[j]]):
                    j += 1
                run = nontrivial[i:j + 1]
                i = j + 1
                last = run[-1]
                if len(run) == 1:
                    out.append((g.atoms[last].name, dims[last]))
                    continue
                k = dims[last]
                expr = g.index
                if cs[last] > 1:
                    expr = f"{expr} // {self.int_arg(cs[last])}"
                if run[0] != nontrivial[0]:
                    span = cs[run[0]] * g.sizes[run[0]] // cs[last]
                    expr = f"({expr}) % {self.int_arg(span)}" if cs[last] > 1 else \
                        f"{expr} % {self.int_arg(span)}"
                if expr == g.index:
                    out.append((g.index, k))
                else:
                    atom = self.derived(expr, prod(g.sizes[run[0]:last + 1]), [], g.axes)
                    out.append((atom.name, k))
        return out


# --- movement primitives as access rewrites ---------------------------------------------------


def through_broadcast(acc: Access, operand_shape: Sequence[int], dims: Sequence[int]) -> Access:
    out = []
    for i, d in enumerate(dims):
        out.append(acc.dims[d] if int(operand_shape[i]) == int(acc.shape[d]) else Ix())
    return acc.with_dims(operand_shape, out)


def through_transpose(acc: Access, operand_shape: Sequence[int], perm: Sequence[int]
                      ) -> Access:
    out: list[Ix] = [Ix()] * len(perm)
    for d, p in enumerate(perm):
        out[p] = acc.dims[d]
    return acc.with_dims(operand_shape, out)


def through_reshape(space: IndexSpace, acc: Access, operand_shape: Sequence[int]) -> Access:
    """Reshape (row-major): match dims one by one where sizes agree (inserting or dropping
    size-1 dims), else go through the linear index."""
    src = [int(s) for s in operand_shape]
    dst = [int(s) for s in acc.shape]
    if [s for s in src if s != 1] == [s for s in dst if s != 1]:
        it = iter([ix for ix, s in zip(acc.dims, dst, strict=True) if s != 1])
        return acc.with_dims(src, [next(it) if s != 1 else Ix() for s in src])
    cs = contiguous_strides(dst)
    lin = Ix()
    for ix, s in zip(acc.dims, cs, strict=True):
        lin = lin + ix.scale(s)
    return acc.with_dims(src, space.delinearize(lin, src))


def through_slice(acc: Access, operand_shape: Sequence[int], starts: Sequence[int],
                  strides: Sequence[int]) -> Access:
    out = [ix.scale(int(st)) + int(s0)
           for ix, s0, st in zip(acc.dims, starts, strides, strict=True)]
    return acc.with_dims(operand_shape, out)


def through_rev(acc: Access, operand_shape: Sequence[int], dims: Sequence[int]) -> Access:
    out = []
    for d, ix in enumerate(acc.dims):
        out.append(ix.scale(-1) + (int(operand_shape[d]) - 1) if d in dims else ix)
    return acc.with_dims(operand_shape, out)


# --- data-dependent index maps: gather and scatter windows --------------------------------------


def window_map(acc: Access, dnums: Sequence[Sequence[int]], operand_shape: Sequence[int],
               indices_shape: Sequence[int]
               ) -> tuple[list[Access], list[Ix], list[tuple[int, int]]]:
    """XLA's gather as an index map: ``acc`` indexes the gather's output (or a scatter's
    updates: ScatterDimensionNumbers line up with GatherDimensionNumbers field by field).
    Returns the access of each index-vector entry in the indices, the operand index without
    the data-dependent starts (window offsets, and batching dims' positions, which are the
    indices' own), and per entry the operand dimension it starts and its largest valid start
    (the impls clamp starts into ``[0, size - window]``)."""
    window_axes, collapsed, index_map, op_batching, ix_batching = (tuple(f) for f in dnums)
    batch = [acc.dims[a] for a in range(len(acc.shape)) if a not in window_axes]
    entries = [Access(tuple(indices_shape), (*batch, Ix({}, j)), acc.conds, acc.cond_axes)
               for j in range(len(index_map))]
    window = _window_dims(len(operand_shape), collapsed, op_batching)
    dims = [Ix()] * len(operand_shape)
    sizes = [1] * len(operand_shape)
    for d, a in zip(window, window_axes, strict=True):
        dims[d] = acc.dims[a]
        sizes[d] = int(acc.shape[a])
    for d, b in zip(op_batching, ix_batching, strict=True):
        dims[d] = batch[b]
    bounds = [(d, int(operand_shape[d]) - sizes[d]) for d in index_map]
    return entries, dims, bounds
