"""The Triton backend: a closed jaxpr becomes generated Triton kernels plus a host launcher.

``compile_triton(closed, name)`` runs the shared IR passes, forms kernels
(``triton_schedule``), writes one Triton module per kernel and one launcher module, loads them
through the content-addressed cache (``source.py``) and returns a ``TritonExecutable``: the
NumPy backend's interface on host arrays, plus ``device_run``, which keeps buffers on the
device (jit wraps its results as device arrays; a device array argument passes its buffer
in). ``lower_text(closed, name)`` writes the same text without loading anything (no triton
needed): ``jit(f, backend="triton").lower(x).as_text()``.

Generated kernels read like hand-written ones: a provenance comment lists the jaxpr equations
each kernel computes (with the user's source lines), values keep their jaxpr names, every load
and store is masked, half types compute in float32 (rounded back to float16 after each
equation, as the eager NumPy evaluation does), max/min propagate NaN, and shapes are kernel
arguments, so a new batch size reuses the compiled kernel. The launcher calls the runtime
(``kernels/launch.py``): the same text runs on a GPU with CuPy buffers or, under
``TRITON_INTERPRET=1``, in Triton's interpreter on NumPy buffers. Primitives without a
Triton rule run as fallbacks inside the same launcher; the text says which and how.
Imports the IR, passes, source, the triton_* lowering modules; triton only when loading.
"""

from __future__ import annotations

import functools
import keyword
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from functrans.lowering import passes, source, triton_rules
from functrans.lowering.numpy_backend import Executable
from functrans.lowering.numpy_rules import _ints
from functrans.lowering.triton_index import (
    Access,
    Atom,
    Group,
    IndexSpace,
    Ix,
    NotFusible,
    contiguous_strides,
    prod,
    window_map,
)
from functrans.lowering.triton_rules import compute_dtype, tl_type
from functrans.lowering.triton_schedule import (
    Cluster,
    Program,
    Schedule,
    _through,
    canonicalize_dots,
    canonicalize_scatters,
    dot_groups,
    merged,
    next_pow2,
    schedule,
)

from functrans import config, core
from functrans.ir import ClosedJaxpr, Eqn, Jaxpr, Literal, Var, _Namer, pp_eqn, pp_jaxpr
from functrans.primitives.indexing import CLIP, FILL_OR_DROP, default_fill

I64_LIMIT = 2 ** 31 - 1
# Row tile of looped row kernels (rows longer than the persistent limit), per runtime.
LOOPED_RBLOCK = {"cuda": 1024, "interpreter": 4096}
_SECTIONS = ("pre", "loop", "post")
_AXIS_ORDER = ("b", "x", "m", "n", "r")
_RESERVED = {"tl", "triton", "rt", "K", "run", "build"}


class Val(NamedTuple):
    name: str                  # source expression (a name or a literal)
    dtype: np.dtype            # logical dtype
    axes: frozenset[str]       # block axes the tensor varies along
    section: str


# --- one kernel -----------------------------------------------------------------------------------


@dataclass
class KernelPlan:
    """A generated kernel and how the launcher calls it."""

    name: str
    kind: str
    source: str
    ptr_args: list[Any]                 # Vars / Literals passed as pointers, in order
    int_args: list[int]                 # run-time sizes, in order
    outputs: list[Var]                  # values it stores (allocated by the launcher)
    eqns: list[Eqn]
    launch: dict[str, tuple[tuple[int, ...], dict[str, Any]]]  # runtime -> (grid, meta)
    empty: bool = False                 # zero-size iteration: nothing to launch
    helpers: set[str] = field(default_factory=set)
    inplace: dict[Var, Var] = field(default_factory=dict)  # output -> buffer it adds into


class Writer:
    """Writes one kernel: values by (jaxpr var, access), index atoms, loads, stores."""

    def __init__(self, prog: Program, cluster: Cluster, namer: _Namer, groups: list[Group],
                 masks: dict[str, str], looped: bool, i64: bool):
        self.prog = prog
        self.cluster = cluster
        self.namer = namer
        self.looped = looped
        self.i64 = i64
        self.int_values: list[int] = []
        self._int_names: dict[int, str] = {}
        self.named_ints: dict[str, int] = {}
        self.space = IndexSpace(groups, self.int_arg)
        self.masks = masks
        self.axis_index = {g.axes and next(iter(g.axes)): g.index for g in groups if g.axes}
        self.lines: dict[str, list[str]] = {s: [] for s in _SECTIONS}
        self.ptr_args: list[Any] = []
        self._ptr_names: dict[int, str] = {}
        self.memo: dict[tuple, Val] = {}
        self.avail: dict[Var, tuple[tuple, Val]] = {}
        self.defined: set[str] = set()
        self.helpers: set[str] = set()
        self.eqns: dict[int, Eqn] = {}
        self.anchors = set(cluster.anchors)
        self.names_used: set[str] = set()
        self._tmp = 0
        self.section = "pre"
        self.outputs: list[Var] = []

    # --- names and arguments ---

    def int_arg(self, value: int) -> str:
        value = int(value)
        if value == 1:
            return "1"  # Triton specializes 1 anyway: spell it
        name = self._int_names.get(value)
        if name is None:
            name = f"ks{len(self.int_values)}"
            self.int_values.append(value)
            self._int_names[value] = name
        return name

    def named_int(self, name: str, value: int) -> str:
        """A run-time size with a readable name (``xnumel``); shares the value's argument."""
        value = int(value)
        if value in self._int_names:
            return self._int_names[value]
        self.named_ints[name] = value
        self._int_names[value] = name
        self.int_values.append(value)
        return name

    def ptr(self, a: Any) -> str:
        key = id(a)
        name = self._ptr_names.get(key)
        if name is None:
            base = self.var_name(a) if type(a) is Var else f"const{len(self.ptr_args)}"
            name = self._unique(f"{base}_ptr")
            self._ptr_names[key] = name
            self.ptr_args.append(a)
        return name

    def var_name(self, v: Var) -> str:
        n = self.namer(v)
        if keyword.iskeyword(n) or n in _RESERVED:
            n += "_"
        return n

    def _unique(self, base: str) -> str:
        name, k = base, 1
        while name in self.names_used:
            name = f"{base}_{k}"
            k += 1
        self.names_used.add(name)
        return name

    def fresh(self, v: Var | None) -> str:
        return self._unique(self.var_name(v) if v is not None else "t")

    # --- kernel-body API used by the rules ---

    def let(self, expr: str) -> str:
        self._tmp += 1
        name = self._unique(f"t{self._tmp}")
        self.emit(self.section, f"{name} = {expr}")
        return name

    def let_many(self, expr: str, n: int) -> list[str]:
        names = []
        for _ in range(n):
            self._tmp += 1
            names.append(self._unique(f"t{self._tmp}"))
        self.emit(self.section, f"{', '.join(names)} = {expr}")
        return names

    def const(self, value: Any, dtype: np.dtype) -> str:
        d = np.dtype(dtype)
        if d.kind == "b":
            return "True" if bool(value) else "False"
        if d.kind == "f":
            v = float(value)
            if np.isnan(v):
                return 'float("nan")'
            if np.isinf(v):
                return 'float("inf")' if v > 0 else 'float("-inf")'
            return repr(v)
        v = int(value)
        if d.kind == "u":
            v %= 1 << (8 * d.itemsize)   # -1 is all ones, as NumPy's cast gives
        return f"tl.full([], {v}, {tl_type(d)})"

    def helper(self, name: str) -> str:
        self.helpers.add(name)
        return f"_{name}"

    def bool_op(self, op: str, x: str, y: str) -> str:
        # Triton's interpreter fails on `block & scalar` for comparison results (a 0-d int1
        # broadcast as float): spell the scalar case with where, which means the same.
        if op == "&":
            return f"tl.where({x}, {y}, False)"
        if op == "|":
            return f"tl.where({x}, True, {y})"
        return f"{x} != {y}"

    def emit(self, section: str, line: str) -> None:
        if not self.looped:
            section = "pre"
        self.lines[section].append(line)

    @contextmanager
    def at(self, section: str) -> Iterator[None]:
        old = self.section
        self.section = section
        try:
            yield
        finally:
            self.section = old

    def note(self, e: Eqn) -> None:
        self.eqns[id(e)] = e

    # --- sections (looped row kernels: before, inside, after the loop over row tiles) ---

    def section_for(self, axes: frozenset[str], deps: Sequence[str]) -> str:
        if not self.looped:
            return "pre"
        order = {s: i for i, s in enumerate(_SECTIONS)}
        s = max([order[d] for d in deps] + [0])
        if "r" in axes:
            if s == 2:
                raise NotFusible("a row value depends on a reduction of the same row, and the "
                                 "row is too long to keep in registers")
            s = max(s, 1)
        return _SECTIONS[s]

    def atom_section(self, atom: Atom) -> str:
        return "loop" if self.looped and "r" in atom.axes else "pre"

    def define_atoms(self, ix: Ix | None = None, atoms: Sequence[Atom] = ()) -> list[str]:
        """Define every atom an index expression uses (dependencies first); returns their
        sections."""
        todo = list(atoms) + ([a for a, _ in ix.terms] if ix is not None else [])
        sections = []
        for a in todo:
            sections.append(self._define(a))
        return sections

    def _define(self, a: Atom) -> str:
        sec = self.atom_section(a)
        if a.name in self.defined:
            return sec
        for d in a.deps:
            self._define(d)
        if a.group:
            group = self.space.groups[a.group]
            if a.name != group.index:
                self.emit(sec, f"{a.name} = {self.space.group_atom_code(a)}")
        else:
            self.emit(sec, f"{a.name} = {a.code}")
        self.defined.add(a.name)
        return sec

    def index_code(self, ix: Ix) -> tuple[str, list[str]]:
        """Source of ``ix``; defines the atoms it mentions. Returns (code, their sections)."""
        code = self.space.code(ix)
        candidates = [a for a, _ in ix.terms] + list(self.space._derived.values())
        sections = [self._define(a) for a in candidates if _mentions(code, a.name)]
        return code, sections

    def mask_for(self, axes: frozenset[str], conds: Sequence[str]) -> str | None:
        terms = [self.masks[a] for a in _AXIS_ORDER if a in axes and a in self.masks]
        terms += [f"({c})" for c in conds]
        if not terms:
            return None
        return " & ".join(terms)

    # --- values ---

    def value(self, a: Any, acc: Access) -> Val:
        if type(a) is Literal and not a.aval.shape:
            return Val(self.const(np.asarray(a.val)[()], a.aval.dtype), a.aval.dtype,
                       frozenset(), "pre")
        key = (id(a), acc.key())
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        if type(a) is Var and a in self.avail:
            natural, val = self.avail[a]
            if tuple(d.key() for d in acc.dims) != natural:
                raise NotFusible("a reduced value is read at another index than its own")
            return val
        if type(a) is Var and self.inline(a):
            val = self._compute(a, acc)
        else:
            val = self._load(a, acc)
        self.memo[key] = val
        return val

    def inline(self, v: Var) -> bool:
        return self.prog.is_lazy(v) and (v not in self.prog.shared or v in self.anchors)

    def _load(self, a: Any, acc: Access) -> Val:
        dtype = a.aval.dtype
        ptr = self.ptr(a)
        off = Ix()
        for ix, s in zip(acc.dims, contiguous_strides(acc.shape), strict=True):
            off = off + ix.scale(s)
        code, sections = self.index_code(off)
        axes = off.axes | acc.cond_axes
        mask = self.mask_for(off.axes, acc.conds) if (off.terms or acc.conds) else None
        section = self.section_for(axes, sections)
        addr = ptr if code == "0" else f"{ptr} + {code}"
        load = f"tl.load({addr}, mask={mask}, other=0)" if mask else f"tl.load({addr})"
        if dtype == np.float16:
            load += ".to(tl.float32)"
        name = self.fresh(a if type(a) is Var else None)
        self.emit(section, f"{name} = {load}")
        return Val(name, dtype, axes, section)

    def _compute(self, v: Var, acc: Access) -> Val:
        e = self.prog.producer[v]
        self.note(e)
        name = e.prim.name
        if name in triton_rules.MOVEMENT:
            return self._movement(e, v, acc)
        if name in triton_rules.INDEXED:
            return {"gather": self._gather, "dynamic_slice": self._dynamic_slice,
                    "dynamic_update_slice": self._dynamic_update_slice}[name](e, v, acc)
        rule = triton_rules.rule_for(e)
        assert rule is not None, name
        ins = []
        for a in e.invars:
            if not a.aval.shape and acc.shape:
                ins.append(self.value(a, Access((), (), acc.conds, acc.cond_axes)))
            else:
                ins.append(self.value(a, acc))
        axes: frozenset[str] = frozenset()
        for i in ins:
            axes = axes | i.axes
        section = self.section_for(axes, [i.section for i in ins])
        names = [i.name for i in ins]
        if rule.tensor_args:
            # Python constants cannot be broadcast inside @triton.jit helpers: make them
            # typed 0-d tensors.
            names = [n if n.isidentifier() else
                     f"tl.full([], {n}, {tl_type(compute_dtype(i.dtype))})"
                     for n, i in zip(names, ins, strict=True)]
        with self.at(section):
            expr = rule.fn(self, e, names)
        if v.aval.dtype == np.float16 and not rule.exact_half:
            expr = f"({expr}).to(tl.float16).to(tl.float32)"
        out = self.fresh(v)
        self.emit(section, f"{out} = {expr}")
        return Val(out, v.aval.dtype, axes, section)

    def _movement(self, e: Eqn, v: Var, acc: Access) -> Val:
        name, p = e.prim.name, e.params
        if name == "iota":
            ix = acc.dims[int(p["dimension"])]
            code, sections = self.index_code(ix)
            d = v.aval.dtype
            section = self.section_for(ix.axes, sections)
            out = self.fresh(v)
            if ix.is_const():
                self.emit(section, f"{out} = {self.const(ix.const, compute_dtype(d))}")
            else:
                expr = f"({code})"
                if d == np.float16:
                    expr = f"{expr}.to(tl.float16).to(tl.float32)"
                else:
                    expr = f"{expr}.to({tl_type(compute_dtype(d))})"
                self.emit(section, f"{out} = {expr}")
            return Val(out, d, ix.axes, section)
        if name == "pad":
            return self._pad(e, v, acc)
        if name == "concatenate":
            return self._concatenate(e, v, acc)
        inner = _through(self.space, e, acc)
        return self.value(e.invars[0], inner)

    def _range_conds(self, ix: Ix, lo: int, hi: int) -> tuple[list[str], frozenset[str], bool]:
        """Conditions for lo <= ix < hi; (conds, their axes, whether never true)."""
        conds = []
        if ix.max_value() < lo or ix.min_value() >= hi:
            return [], frozenset(), True
        code, _ = self.index_code(ix)
        if ix.min_value() < lo:
            conds.append(f"{code} >= {self._signed_int(lo)}")
        if ix.max_value() >= hi:
            conds.append(f"{code} < {self._signed_int(hi)}")
        return conds, ix.axes if conds else frozenset(), False

    def _signed_int(self, v: int) -> str:
        return self.int_arg(v) if v >= 0 else f"-{self.int_arg(-v)}"

    def _pad(self, e: Eqn, v: Var, acc: Access) -> Val:
        operand, padval = e.invars
        dims = [ix + (-int(lo)) for ix, (lo, _, _) in zip(acc.dims, e.params["padding_config"],
                                                           strict=True)]
        return self._inset(v, acc, operand, dims,
                           padval, Access((), (), acc.conds, acc.cond_axes))

    def _inset(self, v: Var, acc: Access, inner: Any, dims: list[Ix], outer: Any,
               outer_acc: Access) -> Val:
        """``inner`` read at ``dims`` where they all lie inside its shape, ``outer`` read at
        ``outer_acc`` elsewhere: pad (the operand inside the padding value) and
        dynamic_update_slice (the update inside the operand)."""
        conds, cond_axes = list(acc.conds), acc.cond_axes
        for ix, n in zip(dims, inner.aval.shape, strict=True):
            c, ax, never = self._range_conds(ix, 0, int(n))
            if never:
                return self.value(outer, outer_acc)
            conds += c
            cond_axes = cond_axes | ax
        new_conds = conds[len(acc.conds):]
        yes = self.value(inner, Access(tuple(inner.aval.shape), tuple(dims), tuple(conds),
                                       cond_axes))
        if not new_conds:
            return yes
        no = self.value(outer, outer_acc)
        return self._where(v, " & ".join(f"({c})" for c in new_conds), cond_axes, yes, no)

    def _where(self, v: Var, cond: str, cond_axes: frozenset[str], yes: Val, no: Val) -> Val:
        axes = yes.axes | no.axes | cond_axes
        section = self.section_for(axes, [yes.section, no.section])
        out = self.fresh(v)
        self.emit(section, f"{out} = tl.where({cond}, {yes.name}, {no.name})")
        return Val(out, v.aval.dtype, axes, section)

    def _concatenate(self, e: Eqn, v: Var, acc: Access) -> Val:
        dim = int(e.params["dimension"])
        ix = acc.dims[dim]
        pieces: list[tuple[str | None, Val]] = []
        offset = 0
        for a in e.invars:
            n = int(a.aval.shape[dim])
            lo, hi = offset, offset + n
            offset = hi
            if n == 0:
                continue
            inner = ix + (-lo)
            c, ax, never = self._range_conds(inner, 0, n)
            if never:
                continue
            dims = list(acc.dims)
            dims[dim] = inner
            sub = Access(tuple(a.aval.shape), tuple(dims), acc.conds + tuple(c),
                         acc.cond_axes | ax)
            val = self.value(a, sub)
            if not c:
                return val if not pieces else self._select(v, pieces, val)
            # Selecting by "below the end of this piece" is enough (pieces are in order).
            cond = None
            if ix.max_value() >= hi:
                code, _ = self.index_code(ix)
                cond = f"{code} < {self._signed_int(hi)}"
            pieces.append((cond, val))
        if not pieces:  # every piece is empty: so is the result, never read
            return Val(self.const(0, compute_dtype(v.aval.dtype)), v.aval.dtype, frozenset(),
                       "pre")
        last = pieces.pop()[1]
        return self._select(v, pieces, last)

    def _select(self, v: Var, pieces: list[tuple[str | None, Val]], last: Val) -> Val:
        expr = last.name
        axes, sections = last.axes, [last.section]
        for cond, val in reversed(pieces):
            if cond is None:
                expr = val.name
            else:
                expr = f"tl.where({cond}, {val.name}, {expr})"
            axes = axes | val.axes
            sections.append(val.section)
        out = self.fresh(v)
        section = self.section_for(axes, sections)
        self.emit(section, f"{out} = {expr}")
        return Val(out, v.aval.dtype, axes, section)

    # --- data-dependent index maps: gather, dynamic_slice, dynamic_update_slice ---

    def _start(self, a: Any, acc: Access, upper: int) -> tuple[Ix, str | None, list[Val]]:
        """A start index read from ``a`` at ``acc`` and clamped into ``[0, upper]`` as the
        impls clamp it: an Ix over an atom whose value is the clamped index (a constant for
        a literal), the condition that it was in bounds (None: always), and the values it
        was computed from."""
        if type(a) is Literal and not a.aval.shape:
            i = int(np.asarray(a.val)[()])
            return Ix({}, min(max(i, 0), upper)), None if 0 <= i <= upper else "False", []
        val = self.value(a, acc)
        clamped, ok = triton_rules.clamped_index(self, val.name, a.aval.dtype, upper,
                                                 self.i64)
        if upper == 0:
            return Ix(), ok, [val]
        atom = self.space.derived(clamped, upper + 1, [], val.axes)
        if self.looped and self.atom_section(atom) != val.section:
            raise NotFusible("an index depends on a reduction of a row too long to keep in "
                             "registers")
        return Ix.of(atom), ok, [val]

    def _starts(self, e: Eqn, acc: Access) -> tuple[list[Ix], list[str], frozenset[str]]:
        """The operand index of a gather (``acc`` over its output) or of a scatter (``acc``
        over its updates), with the in-bounds conditions of its windows and their axes."""
        operand, indices = e.invars[:2]
        entries, dims, bounds = window_map(acc, e.params["dimension_numbers"],
                                           operand.aval.shape, indices.aval.shape)
        oks, axes = [], frozenset()
        for entry, (d, upper) in zip(entries, bounds, strict=True):
            start, ok, vals = self._start(indices, entry, upper)
            dims[d] = dims[d] + start
            if ok is not None:
                oks.append(ok)
                axes = axes.union(*(val.axes for val in vals))
        return dims, oks, axes

    def _gather(self, e: Eqn, v: Var, acc: Access) -> Val:
        operand = e.invars[0]
        dims, oks, ok_axes = self._starts(e, acc)
        val = self.value(operand, acc.with_dims(operand.aval.shape, dims))
        if e.params["mode"] != FILL_OR_DROP or not oks:
            return val   # CLIP and PROMISE_IN_BOUNDS clamp (what the impl does)
        fill = e.params["fill_value"]
        fill = default_fill(v.aval.dtype) if fill is None else fill
        no = Val(self.const(fill, compute_dtype(v.aval.dtype)), v.aval.dtype, frozenset(), "pre")
        return self._where(v, " & ".join(oks), ok_axes, val, no)

    def _slice_starts(self, acc: Access, starts: Sequence[Any], operand: Any,
                      sizes: Sequence[int]) -> list[Ix]:
        """The starts of a dynamic slice of ``sizes`` out of ``operand``, read from the
        scalar ``starts`` and clamped as the impls clamp them."""
        scalar = Access((), (), acc.conds, acc.cond_axes)
        return [self._start(s, scalar, int(n) - int(size))[0]
                for s, n, size in zip(starts, operand.aval.shape, sizes, strict=True)]

    def _dynamic_slice(self, e: Eqn, v: Var, acc: Access) -> Val:
        operand, *starts = e.invars
        dims = [ix + s for ix, s in zip(
            acc.dims, self._slice_starts(acc, starts, operand, v.aval.shape), strict=True)]
        return self.value(operand, acc.with_dims(operand.aval.shape, dims))

    def _dynamic_update_slice(self, e: Eqn, v: Var, acc: Access) -> Val:
        operand, update, *starts = e.invars
        if 0 in update.aval.shape:
            return self.value(operand, acc)
        dims = [ix + s.scale(-1) for ix, s in zip(
            acc.dims, self._slice_starts(acc, starts, operand, update.aval.shape), strict=True)]
        return self._inset(v, acc, update, dims, operand, acc)

    # --- stores ---

    def store(self, var: Var, val: Val, acc: Access, store_axes: frozenset[str],
              conds: Sequence[str] = (), atomic_add: bool = False) -> None:
        """Store ``val`` (or, with ``atomic_add``, add it atomically) where ``acc`` points
        in ``var``'s buffer, in the lanes of ``store_axes`` where ``conds`` hold."""
        ptr = self.ptr(var)
        off = Ix()
        for ix, s in zip(acc.dims, contiguous_strides(acc.shape), strict=True):
            off = off + ix.scale(s)
        code, sections = self.index_code(off)
        mask = self.mask_for(store_axes, ())
        for c in conds:
            # (where, not &: a condition on a 0-d index is a scalar; see bool_op)
            mask = f"tl.where({c}, {mask}, False)" if mask else c
        section = self.section_for(store_axes | val.axes, sections + [val.section])
        value = val.name
        if var.aval.dtype == np.float16:
            value = f"({value}).to(tl.float16)"
        if not (val.axes >= store_axes):
            # Broadcast explicitly to the block (for bools too: where, not arithmetic).
            zero = self.const(0, compute_dtype(var.aval.dtype))
            value = f"tl.where({mask}, {value}, {zero})" if mask else value
        addr = ptr if code == "0" else f"{ptr} + {code}"
        # The pointer must be a block over every store axis (a 0-d result of a full
        # reduction is stored by the one unmasked lane).
        for axis in [a for a in _AXIS_ORDER if a in store_axes - off.axes]:
            addr += f" + 0 * {self.axis_index[axis]}"
        if atomic_add:
            line = f"tl.atomic_add({addr}, {value}, mask={mask}, sem=\"relaxed\")"
        else:
            line = f"tl.store({addr}, {value}, mask={mask})" if mask else \
                f"tl.store({addr}, {value})"
        self.emit(section, line)
        if var not in self.outputs:
            self.outputs.append(var)


def _mentions(code: str, name: str) -> bool:
    import re
    return re.search(rf"\b{re.escape(name)}\b", code) is not None


# --- kernels by kind ------------------------------------------------------------------------------


def _identity_access(shape: tuple[int, ...], space_dims: list[Ix], space_shape: tuple[int, ...]
                     ) -> Access:
    """The access of a value of ``shape`` at the kernel's own index, where ``shape`` equals the
    iteration shape up to size-1 dims."""
    it = iter([ix for ix, s in zip(space_dims, space_shape, strict=True) if s != 1])
    dims = [next(it) if s != 1 else Ix() for s in shape]
    return Access(tuple(shape), tuple(dims))


def _in_program_order(prog: Program, values: Sequence[Var]) -> list[Var]:
    """Anchors computed in program order: each one stops the recursion of the next at the
    values already written (chains are cut every MAX_DEPTH equations)."""
    return sorted(values, key=lambda v: prog.pos[id(prog.producer[v])])


def _needs_i64(prog: Program, c: Cluster) -> bool:
    """64-bit index arithmetic when any array of the program has 2**31 elements or more."""
    biggest = getattr(prog, "_biggest", None)
    if biggest is None:
        sizes = [prod(v.aval.shape) for e in prog.jaxpr.eqns for v in (*e.invars, *e.outvars)]
        sizes += [prod(v.aval.shape) for v in prog.jaxpr.invars]
        biggest = prog._biggest = max(sizes + [0])
    return max(biggest, prod(c.shape)) > I64_LIMIT


def build_kernel(prog: Program, c: Cluster, namer: _Namer, kname: str) -> KernelPlan:
    if c.kind == "pointwise":
        return _pointwise(prog, c, namer, kname)
    if c.kind == "row":
        return _row(prog, c, namer, kname)
    if c.kind == "matmul":
        return _matmul(prog, c, namer, kname)
    if c.kind == "scatter":
        return _scatter(prog, c, namer, kname)
    raise AssertionError(c.kind)


def _pointwise(prog: Program, c: Cluster, namer: _Namer, kname: str) -> KernelPlan:
    shape = c.shape
    i64 = _needs_i64(prog, c)
    w = Writer(prog, c, namer, [Group("x", "xindex", shape, frozenset({"x"}))],
               {"x": "xmask"}, looped=False, i64=i64)
    numel = prod(shape)
    xnumel = w.named_int("xnumel", numel)
    dims = w.space.dims("x")
    for v in _in_program_order(prog, c.anchors):
        acc = _identity_access(tuple(v.aval.shape), dims, shape)
        val = w.value(v, acc)
        if v not in c.internal:
            w.store(v, val, acc, frozenset({"x"}))
    src = _kernel_source(w, kname, "pointwise", _flat_head(i64, xnumel), ["XBLOCK"])
    return KernelPlan(kname, "pointwise", src, w.ptr_args, w.int_values, w.outputs,
                      _ordered_eqns(prog, w), _pointwise_launch(numel), empty=numel == 0,
                      helpers=w.helpers)


def _flat_head(i64: bool, xnumel: str) -> list[str]:
    """The first lines of a kernel over a flat index space of ``xnumel`` elements."""
    pid = "tl.program_id(0).to(tl.int64)" if i64 else "tl.program_id(0)"
    return [f"xoffset = {pid} * XBLOCK", "xindex = xoffset + tl.arange(0, XBLOCK)",
            f"xmask = xindex < {xnumel}"]


def _pointwise_launch(numel: int) -> dict[str, tuple[tuple[int, ...], dict[str, Any]]]:
    launch = {}
    for rt_name, cap in (("cuda", 1024), ("interpreter", 4096)):
        block = max(16, min(next_pow2(numel), cap))
        warps = max(1, min(8, block // 256))
        launch[rt_name] = ((_cdiv(numel, block),), {"XBLOCK": block, "num_warps": warps})
    return launch


def _row(prog: Program, c: Cluster, namer: _Namer, kname: str) -> KernelPlan:
    shape, axes = c.shape, c.axes
    kept = tuple(s for i, s in enumerate(shape) if i not in axes)
    reduced = tuple(shape[a] for a in axes)
    xnumel_v, rnumel_v = prod(kept), prod(reduced)
    i64 = _needs_i64(prog, c)
    looped = not c.persistent
    w = Writer(prog, c, namer, [Group("x", "xindex", kept, frozenset({"x"})),
                                Group("r", "rindex", reduced, frozenset({"r"}))],
               {"x": "xmask", "r": "rmask"}, looped=looped, i64=i64)
    xnumel = w.named_int("xnumel", xnumel_v)
    rnumel = w.named_int("rnumel", rnumel_v)
    xdims, rdims = w.space.dims("x"), w.space.dims("r")
    full_dims, xi, ri = [], iter(xdims), iter(rdims)
    for i in range(len(shape)):
        full_dims.append(next(ri) if i in axes else next(xi))
    row_acc = Access(shape, tuple(full_dims))
    red_acc = Access(kept, tuple(xdims))
    natural = tuple(d.key() for d in xdims)
    inits: list[str] = []
    for e in c.reds:
        w.note(e)
        val = w.value(e.invars[0], row_acc)
        out = e.outvars[0]
        res = _reduce(w, e, val, inits)
        w.avail[out] = (natural, Val(res, out.aval.dtype, frozenset({"x"}),
                                     "post" if looped else "pre"))
    for v in list(c.stores):
        _, val = w.avail[v]
        w.store(v, val, red_acc, frozenset({"x"}))
    for v in _in_program_order(prog, c.anchors):
        vshape = tuple(v.aval.shape)
        if [s for s in vshape if s != 1] == [s for s in shape if s != 1]:
            acc = _identity_access(vshape, list(full_dims), shape)
            store_axes = frozenset({"x", "r"})
        else:
            acc = _identity_access(vshape, list(xdims), kept)
            store_axes = frozenset({"x"})
        val = w.value(v, acc)
        if v not in c.internal:
            w.store(v, val, acc, store_axes)
    pid = "tl.program_id(0).to(tl.int64)" if i64 else "tl.program_id(0)"
    head = [f"xoffset = {pid} * XBLOCK",
            "xindex = xoffset + tl.arange(0, XBLOCK)[:, None]",
            f"xmask = xindex < {xnumel}"]
    rhead = ["rindex = tl.arange(0, RBLOCK)[None, :]" if not looped
             else "rindex = roffset + tl.arange(0, RBLOCK)[None, :]",
             f"rmask = rindex < {rnumel}"]
    src = _kernel_source(w, kname, "row", head + (inits if looped else []) +
                         ([] if looped else rhead), ["XBLOCK", "RBLOCK"],
                         loop=(f"for roffset in range(0, {rnumel}, RBLOCK):", rhead)
                         if looped else None)
    launch = {}
    for rt_name, budget in (("cuda", 4096), ("interpreter", 16384)):
        loop_block = LOOPED_RBLOCK[rt_name]
        rblock = max(2, next_pow2(rnumel_v))
        if looped:
            rblock = min(rblock, loop_block)
        xblock = max(1, min(next_pow2(xnumel_v), max(1, budget // rblock)))
        elems = rblock * xblock
        warps = 16 if elems >= 8192 else 8 if elems >= 2048 else 4 if elems >= 512 else 2
        launch[rt_name] = ((_cdiv(xnumel_v, xblock),),
                           {"XBLOCK": xblock, "RBLOCK": rblock, "num_warps": warps})
    return KernelPlan(kname, "row", src, w.ptr_args, w.int_values, w.outputs,
                      _ordered_eqns(prog, w), launch, empty=xnumel_v == 0, helpers=w.helpers)


def _scatter(prog: Program, c: Cluster, namer: _Namer, kname: str) -> KernelPlan:
    """scatter_add as atomic adds: one lane per element of the updates (computed inline, with
    their producers) adds it at its operand position, into the buffer of the operand's copy
    (``canonicalize_scatters``), which becomes the result. Windows not entirely in bounds are
    dropped, or clamped in CLIP mode, as the impl does. Float sums of repeated indices come
    out in a run-dependent order."""
    e = c.eqn
    assert e is not None
    buffer, _, updates = e.invars
    out = e.outvars[0]
    shape = c.shape
    w = Writer(prog, c, namer, [Group("x", "xindex", shape, frozenset({"x"}))],
               {"x": "xmask"}, looped=False, i64=_needs_i64(prog, c))
    w.note(e)
    numel = prod(shape)
    xnumel = w.named_int("xnumel", numel)
    acc = Access(shape, tuple(w.space.dims("x")))
    dims, oks, _ = w._starts(e, acc)
    w.store(out, w.value(updates, acc), Access(tuple(out.aval.shape), tuple(dims)),
            frozenset({"x"}), conds=oks if e.params["mode"] != CLIP else (), atomic_add=True)
    src = _kernel_source(w, kname, "scatter", _flat_head(w.i64, xnumel), ["XBLOCK"])
    return KernelPlan(kname, "scatter", src, w.ptr_args, w.int_values, w.outputs,
                      _ordered_eqns(prog, w), _pointwise_launch(numel), empty=numel == 0,
                      helpers=w.helpers, inplace={out: buffer})


def _reduce(w: Writer, e: Eqn, val: Val, inits: list[str]) -> str:
    """Reduce ``val`` over the row axis; returns the name of the [XBLOCK, 1] result."""
    name = e.prim.name
    in_dtype = e.invars[0].aval.dtype
    out = e.outvars[0]
    mask = "xmask & rmask"
    res = w.fresh(out)
    if name in triton_rules.ARG_REDUCTIONS:
        combine = w.helper(triton_rules.ARG_REDUCTIONS[name])
        ident = triton_rules.identity_value("lowest" if name == "argmax" else "highest",
                                            compute_dtype(in_dtype))
        ident_s = w.const(ident, compute_dtype(in_dtype))
        idx_t = tl_type(e.params["index_dtype"])
        masked = f"tl.where({mask}, {val.name}, {ident_s})"
        ridx = "tl.broadcast_to(rindex, [XBLOCK, RBLOCK])"
        if not w.looped:
            w.emit("pre", f"_, {res} = tl.reduce(({masked}, {ridx}), 1, {combine}, "
                          f"keep_dims=True)")
            w.emit("pre", f"{res} = {res}.to({idx_t})")
            return res
        accv, acci = w.fresh(None), w.fresh(None)
        inits.append(f"{accv} = tl.full([XBLOCK, RBLOCK], {ident_s}, "
                     f"{tl_type(compute_dtype(in_dtype))})")
        inits.append(f"{acci} = tl.full([XBLOCK, RBLOCK], 0, tl.int32)")
        w.emit("loop", f"{accv}, {acci} = {combine}({accv}, {acci}, {masked}, {ridx})")
        w.emit("post", f"_, {res} = tl.reduce(({accv}, {acci}), 1, {combine}, "
                       f"keep_dims=True)")
        w.emit("post", f"{res} = {res}.to({idx_t})")
        return res
    combine_name, ident_kind = triton_rules.REDUCTIONS[name]
    cd = compute_dtype(out.aval.dtype)
    src = val.name
    if in_dtype.kind == "b":
        # Booleans reduce as small integers.
        src = f"{src}.to(tl.int8)"
        cd = np.dtype(np.int8)
    elif cd != compute_dtype(in_dtype):
        src = f"{src}.to({tl_type(cd)})"
    ident = triton_rules.identity_value(ident_kind, cd)
    ident_s = w.const(ident, cd)
    masked = f"tl.where({mask}, {src}, {ident_s})"
    finish = "" if out.aval.dtype.kind != "b" else " != 0"
    result_t = tl_type(compute_dtype(out.aval.dtype)) if out.aval.dtype.kind != "b" else None
    half = out.aval.dtype == np.float16

    def finalize(expr: str) -> str:
        if result_t is not None and result_t != tl_type(cd):
            expr = f"({expr}).to({result_t})"
        if half:
            expr = f"{expr}.to(tl.float16).to(tl.float32)"
        return expr + finish

    if name == "reduce_sum":
        reducer = lambda x: f"tl.sum({x}, 1, keep_dims=True)"
    else:
        helper = w.helper(combine_name)
        reducer = lambda x: f"tl.reduce({x}, 1, {helper}, keep_dims=True)"
    if not w.looped:
        w.emit("pre", f"{res} = {finalize(reducer(masked))}")
        return res
    acc = w.fresh(None)
    inits.append(f"{acc} = tl.full([XBLOCK, RBLOCK], {ident_s}, {tl_type(cd)})")
    helper = w.helper(combine_name)
    w.emit("loop", f"{acc} = {helper}({acc}, {masked})")
    w.emit("post", f"{res} = {finalize(reducer(acc))}")
    return res


def _matmul(prog: Program, c: Cluster, namer: _Namer, kname: str) -> KernelPlan:
    e = c.eqn
    assert e is not None
    out = e.outvars[0]
    lgroups, rgroups = dot_groups(e)
    la, ra = e.invars[0].aval, e.invars[1].aval
    batch_shape = tuple(la.shape[d] for d in lgroups[0])
    lfree = tuple(la.shape[d] for d in lgroups[1])
    rfree = tuple(ra.shape[d] for d in rgroups[2])
    kdim = prod(la.shape[d] for d in lgroups[2])
    m, n = prod(lfree), prod(rfree)
    batch = prod(batch_shape)
    i64 = _needs_i64(prog, c)
    w = Writer(prog, c, namer, [Group("b", "pid_b", batch_shape, frozenset()),
                                Group("m", "rm", lfree, frozenset({"m"})),
                                Group("n", "rn", rfree, frozenset({"n"}))],
               {"m": "mmask", "n": "nmask"}, looped=False, i64=i64)
    w.note(e)
    operands = []
    for i, (a, groups) in enumerate(zip(e.invars, (lgroups, rgroups), strict=True)):
        view = prog.dot_views.get((id(e), i))
        if view is None:
            buf, off, strides = a, 0, list(contiguous_strides(a.aval.shape))
        else:
            buf, off, strides = view
        shape = tuple(a.aval.shape)
        parts = [merged(strides, shape, g) for g in groups]
        if any(p is None for p in parts):
            raise NotFusible("matmul operand layout")
        ptr = w.ptr(buf)
        operands.append((ptr, off, [p[0] for p in parts]))
    (pa, offa, (sab, sam, sak)), (pb, offb, (sbb, sbk, sbn)) = operands
    M, N, Kn = w.named_int("M", m), w.named_int("N", n), w.named_int("K", kdim)

    def ptr_expr(p: str, off: int) -> str:
        return p if off == 0 else f"{p} + {w.int_arg(off)}"

    def s(v: int) -> str:
        return "0" if v == 0 else w.int_arg(v)

    acc_t = "tl.float64" if la.dtype == np.float64 else "tl.float32"
    head = [(f"acc, rm, rn, pid_b = _matmul_tile({ptr_expr(pa, offa)}, {ptr_expr(pb, offb)}, "
             f"{M}, {N}, {Kn}, {s(sab)}, {s(sam)}, {s(sak)}, {s(sbb)}, {s(sbk)}, {s(sbn)}, "
             f"BLOCK_M, BLOCK_N, BLOCK_K, GROUP_M, {acc_t})"),
            f"mmask = rm < {M}", f"nmask = rn < {N}"]
    w.helpers.add("__matmul_tile")
    out_dims = w.space.dims("b") + w.space.dims("m") + w.space.dims("n")
    out_shape = tuple(out.aval.shape)
    natural = tuple(d.key() for d in out_dims)
    od = out.aval.dtype
    if od == np.float16:
        accv = "acc.to(tl.float16).to(tl.float32)"
    elif np.dtype(acc_t[3:]) != od:
        accv = f"acc.to({tl_type(compute_dtype(od))})"
    else:
        accv = "acc"
    name = w.fresh(out)
    w.emit("pre", f"{name} = {accv}")
    w.avail[out] = (natural, Val(name, od, frozenset({"m", "n"}), "pre"))
    acc_out = Access(out_shape, tuple(out_dims))
    for v in c.stores:
        w.store(v, w.avail[v][1], acc_out, frozenset({"m", "n"}))
    for v in _in_program_order(prog, c.anchors):
        acc = _identity_access(tuple(v.aval.shape), out_dims, out_shape)
        val = w.value(v, acc)
        if v not in c.internal:
            w.store(v, val, acc, frozenset({"m", "n"}))
    src = _kernel_source(w, kname, "matmul", head,
                         ["BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M"])
    # An epilogue with transcendental math keeps temporaries per accumulator element: use
    # half-width tiles so that it fits in registers (ptxas spilled at 128x128 with gelu).
    heavy = bool(w.helpers - {"__matmul_tile", "maximum", "minimum"}) or len(w.eqns) > 6
    launch = {}
    for rt_name in ("cuda", "interpreter"):
        bm, bn, bk, warps, stages = triton_rules.block_config(la.dtype, m, n, kdim,
                                                   rt_name == "interpreter")
        if heavy and rt_name == "cuda" and bn > 64:
            bn = 64
        launch[rt_name] = ((_cdiv(m, bm) * _cdiv(n, bn), batch),
                           {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": 8,
                            "num_warps": warps, "num_stages": stages})
    return KernelPlan(kname, "matmul", src, w.ptr_args, w.int_values, w.outputs,
                      _ordered_eqns(prog, w), launch, empty=m * n * batch == 0,
                      helpers=w.helpers)


def _cdiv(a: int, b: int) -> int:
    return -(-int(a) // int(b))


def _ordered_eqns(prog: Program, w: Writer) -> list[Eqn]:
    return sorted(w.eqns.values(), key=lambda e: prog.pos[id(e)])


# --- kernel module source ---------------------------------------------------------------------

_HELPER_IMPORTS = {"__matmul_tile": "from functrans.kernels.matmul import matmul_tile as "
                                    "_matmul_tile"}


_SHAPE_PARAMS = {"shape", "new_sizes", "broadcast_dimensions", "start_indices",
                 "limit_indices", "padding_config", "dimensions", "dimension", "axes",
                 "permutation", "strides", "dimension_numbers"}


def _untyped_eqn(e: Eqn, namer: _Namer) -> str:
    """``c = mul a 2.0  (file.py:12 (f))``: an equation without avals or shape parameters,
    plus the user's source line."""
    def atom(a: Any) -> str:
        if type(a) is Literal:
            return str(np.asarray(a.val)[()])
        return namer(a)

    params = [f"{k}={v}" for k, v in sorted(e.params.items())
              if k not in _SHAPE_PARAMS and not hasattr(v, "jaxpr")]
    head = e.prim.name + (f"[{' '.join(params)}]" if params else "")
    outs = " ".join(namer(v) for v in e.outvars)
    ins = " ".join(atom(a) for a in e.invars)
    where = f"  ({e.source_info})" if e.source_info else ""
    return f"{outs} = {head} {ins}{where}"


def _kernel_source(w: Writer, kname: str, kind: str, head: list[str], constexprs: list[str],
                   loop: tuple[str, list[str]] | None = None) -> str:
    args = [w._ptr_names[id(a)] for a in w.ptr_args]
    ints = [w._int_names[v] for v in w.int_values]
    sig = ", ".join(args + ints + [f"{c}: tl.constexpr" for c in constexprs])
    body: list[str] = []
    eqns = _ordered_eqns(w.prog, w)
    # Provenance without shapes: the kernel text (and Triton's cache key, which hashes it)
    # stays the same for every shape with the same structure. The launcher lists the typed
    # equations.
    body.append(f"# {kind} kernel: {len(eqns)} equation{'s' if len(eqns) != 1 else ''}")
    for e in eqns:
        body.append(f"#   {_untyped_eqn(e, w.namer)}")
    body += head
    body += w.lines["pre"]
    if loop is not None:
        header, loop_head = loop
        body.append(header)
        body += ["    " + line for line in loop_head + w.lines["loop"]]
    body += w.lines["post"]
    lines = [("# functrans generated Triton kernel (regenerated from the jaxpr; edits are "
              "not kept)"),
             "import triton",
             "import triton.language as tl", ""]
    for h in sorted(w.helpers):
        if h in _HELPER_IMPORTS:
            lines.append(_HELPER_IMPORTS[h])
        else:
            lines.append(f"from functrans.kernels.tl_math import {h} as _{h}")
    lines += ["", "", "@triton.jit", f"def {kname}({sig}):"]
    lines += ["    " + b if b else "" for b in body]
    return "\n".join(lines) + "\n"


# --- the whole program --------------------------------------------------------------------------


@dataclass
class Plan:
    closed: ClosedJaxpr
    schedule: Schedule
    kernels: dict[int, KernelPlan]       # cluster index -> kernel
    launcher: str
    consts: list[tuple[str, Any]]        # (note, value) for the launcher's K table
    text: str


def try_kernel(prog: Program, c: Cluster) -> bool:
    try:
        build_kernel(prog, c, _Namer(), "probe")
    except NotFusible:
        return False
    return True


def _uniform_constants(closed: ClosedJaxpr) -> ClosedJaxpr:
    """Folded constants that hold one value everywhere (zeros from derivative rules, say)
    become broadcasts of a literal: free inside a kernel instead of a buffer to read."""
    j = closed.jaxpr
    keep_v, keep_c, fills = [], [], []
    from functrans.primitives.structural import broadcast_in_dim_p
    for v, c in zip(j.constvars, closed.consts, strict=True):
        a = core.to_numpy(c)
        if (isinstance(a, np.ndarray) and a.size > 1 and a.dtype.kind in "biuf"
                and triton_rules.supported_dtype(a.dtype)):
            first = a.reshape(-1)[0]
            same = (a == first) | (np.isnan(a) & np.isnan(first)) if a.dtype.kind == "f" \
                else (a == first)
            if same.all():
                lit = Literal(np.asarray(first, a.dtype), core.ShapedArray((), a.dtype))
                fills.append(Eqn(broadcast_in_dim_p, [lit], [v],
                                 {"shape": tuple(a.shape), "broadcast_dimensions": ()}))
                continue
        keep_v.append(v)
        keep_c.append(c)
    if not fills:
        return closed
    return ClosedJaxpr(Jaxpr(keep_v, j.invars, j.outvars, fills + list(j.eqns), j.debug),
                       keep_c)


def plan(closed: ClosedJaxpr, name: str, fuse: bool = True) -> Plan:
    optimized = canonicalize_dots(canonicalize_scatters(
        _uniform_constants(passes.run_passes(closed))))
    sched = schedule(optimized, fuse=fuse, try_kernel=try_kernel)
    jaxpr = optimized.jaxpr
    namer = _Namer()
    header = pp_jaxpr(jaxpr, namer)
    kernels: dict[int, KernelPlan] = {}
    base = _safe_ident(name)
    for c in sched.clusters:
        if c.kind == "fallback":
            continue
        prims: list[str] = []
        for e in _cluster_eqns(sched.prog, c):
            short = e.prim.name.replace("reduce_", "").replace("dot_general", "dot")
            if e.prim.name not in triton_rules.MOVEMENT and short not in prims:
                prims.append(short)
        label = "_".join(prims[:4]) or "copy"
        kname = _safe_ident(f"{c.kind}_{label}_{c.index}")
        try:
            kernels[c.index] = build_kernel(sched.prog, c, namer, kname)
        except NotFusible as e:  # pragma: no cover - the scheduler checked this
            raise AssertionError(f"kernel {kname}: {e}") from e
    launcher, consts = _launcher(optimized, sched, kernels, namer, base, header)
    text = launcher
    for c in sched.clusters:
        k = kernels.get(c.index)
        if k is not None:
            text += f"\n\n# ======== kernel module {k.name} ========\n" + k.source
    return Plan(optimized, sched, kernels, launcher, consts, text)


def _cluster_eqns(prog: Program, c: Cluster) -> list[Eqn]:
    from functrans.lowering.triton_schedule import cluster_roots, lazy_closure
    ids, _ = lazy_closure(prog, cluster_roots(c), c)
    return [e for e in prog.jaxpr.eqns if id(e) in ids]


def _safe_ident(s: str) -> str:
    out = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in s)
    if not out or out[0].isdigit():
        out = "k_" + out
    return out


class _Ref(NamedTuple):
    """A K-table entry filled in when loading (the runtime, a kernel, a launch config)."""

    what: str          # "runtime" | "kernel" | "launch"
    index: int = -1


class _Consts:
    """The launcher's K table: values passed in at build time, each bound to a local name
    (never spliced into the source)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, Any]] = []   # (local name, note, value)
        self._keys: dict[Any, str] = {}

    def add(self, value: Any, note: str, prefix: str, key: Any = None) -> str:
        k = ("id", id(value)) if key is None else key
        name = self._keys.get(k)
        if name is None:
            name = f"{prefix}{len(self.items)}"
            self.items.append((name, note, value))
            self._keys[k] = name
        return name


def _launcher(closed: ClosedJaxpr, sched: Schedule, kernels: dict[int, KernelPlan],
              namer: _Namer, name: str, header: str) -> tuple[str, list[tuple[str, Any]]]:
    jaxpr = closed.jaxpr
    consts = _Consts()
    names: dict[int, str] = {}
    used: set[str] = set(_RESERVED)

    def vname(a: Any) -> str:
        n = names.get(id(a))
        if n is None:
            base = namer(a) if type(a) is Var else f"lit{len(names)}"
            if keyword.iskeyword(base) or base in used:
                base += "_"
            n = names[id(a)] = base
            used.add(base)
        return n

    # Build-time lines: captured arrays and literal operands copied to the device once, so
    # that every value run() handles is a device buffer (kernels never read a literal
    # operand: they inline scalars as constants).
    device_consts: list[str] = []
    body: list[str] = []
    for v in jaxpr.invars:
        body.append(f"{vname(v)} = rt.input({vname(v)})")
    for v, c in zip(jaxpr.constvars, closed.consts, strict=True):
        ref = consts.add(core.to_numpy(c), f"captured {v.aval.str_short()}", "c")
        device_consts.append(f"{vname(v)} = rt.to_device({ref})")

    def operand(a: Any, host: bool = False) -> str:
        """``a``'s name in run(); a literal is a device buffer made at build time, or with
        ``host`` (an operand of a host impl) a 0-d literal is a NumPy scalar that
        rt.fallback passes as it is (no copy back on every call)."""
        if type(a) is Literal:
            if host and not a.aval.shape:
                return consts.add(np.asarray(a.val, a.aval.dtype)[()],
                                  f"literal {a.aval.str_short()} (host)", "c",
                                  key=("host lit", id(a)))
            value = np.asarray(a.val, a.aval.dtype)
            ref = consts.add(value, f"literal {a.aval.str_short()}", "c",
                             key=("lit", id(a)))
            n = vname(a)
            line = f"{n} = rt.to_device({ref})"
            if line not in device_consts:
                device_consts.append(line)
            return n
        return vname(a)

    for c in sched.clusters:
        if c.kind == "fallback":
            e = c.eqn
            assert e is not None
            xp = triton_rules.xp_fallback(e)
            impl = functools.partial(e.prim.impl, **e.params)
            fref = consts.add(impl, f"{e.prim.name} impl (NumPy)", "f")
            xref = consts.add(xp, f"{e.prim.name} in array-API form", "x") \
                if xp is not None else "None"
            how = ("an array-API function: CuPy on the GPU, NumPy under the interpreter"
                   if xp is not None else "the primitive's NumPy impl on host buffers "
                   "(a device round trip on the GPU)")
            reason = triton_rules.fallback_why(e)
            body.append(f"# fallback {c.index}: {e.prim.name} runs as {how}")
            body.append(f"#   (why: {reason})")
            text = pp_eqn(e, namer, indent=0).strip().splitlines()[0]
            where = f"  ({e.source_info})" if e.source_info else ""
            body.append(f"#   {text}{where}")
            args = ", ".join(operand(a, host=xp is None) for a in e.invars)
            args = f"({args},)" if len(e.invars) == 1 else f"({args})"
            outs = [vname(v) for v in e.outvars]
            multi = e.prim.multiple_results
            call = f"rt.fallback({fref}, {xref}, {args}, {multi})"
            if not outs:
                body.append(call)
            else:
                lhs = (", ".join(outs) + ("," if len(outs) == 1 else "")) if multi \
                    else outs[0]
                body.append(f"{lhs} = {call}")
            continue
        k = kernels[c.index]
        kref = consts.add(_Ref("kernel", c.index), f"kernel {k.name} (triton.jit)", "k",
                          key=("kernel", c.index))
        cfg = consts.add(_Ref("launch", c.index), f"(grid, meta) of {k.name}", "cfg",
                         key=("launch", c.index))
        outs = ", ".join(namer(v) for v in k.outputs)
        body.append(f"# kernel {c.index}: {k.name} ({k.kind}, {len(k.eqns)} equation"
                    f"{'s' if len(k.eqns) != 1 else ''}) -> {outs}")
        for e in k.eqns:
            text = pp_eqn(e, namer, indent=0).strip().splitlines()[0]
            body.append(f"#   {text}")
        grid_gpu, meta_gpu = k.launch["cuda"]
        meta_txt = ", ".join(f"{a}={b}" for a, b in meta_gpu.items())
        body.append(f"#   on a GPU: grid {grid_gpu}, {meta_txt}")
        for v in k.outputs:
            if v in k.inplace:
                body.append(f"# {namer(v)} is {namer(k.inplace[v])}'s buffer, added into in "
                            f"place")
                body.append(f"{vname(v)} = {vname(k.inplace[v])}")
                continue
            dref = consts.add(v.aval.dtype, v.aval.dtype.name, "dt",
                              key=("dtype", v.aval.dtype.str))
            body.append(f"{vname(v)} = rt.empty({_ints(v.aval.shape)}, {dref})")
        if k.empty:
            body.append("# (zero-size: nothing to launch)")
            continue
        ptrs = [operand(a) for a in k.ptr_args]
        args = ", ".join(ptrs + [str(int(i)) for i in k.int_args])
        body.append(f"rt.launch({kref}, {cfg}[0], ({args},), {cfg}[1])")
    outs = ", ".join(operand(a) for a in jaxpr.outvars)
    body.append(f"return ({outs}{',' if len(jaxpr.outvars) == 1 else ''})")

    n_kernels = sum(1 for c in sched.clusters if c.kind != "fallback")
    n_fallbacks = len(sched.clusters) - n_kernels
    w = source.SourceWriter()
    w.comment(f"functrans generated module (Triton backend) for {name}: {n_kernels} "
              f"kernel{'s' if n_kernels != 1 else ''}, {n_fallbacks} "
              f"fallback{'s' if n_fallbacks != 1 else ''}")
    w.comment("Regenerated from the jaxpr below; edits are not kept. The kernel modules "
              "follow this one in as_text().")
    w.comment("")
    w.comment(header)
    w.line("")
    w.line("")
    w.line("def build(K):")
    with w.indent():
        w.line("rt = K[0]")
        w.lines[-1] += "  "
        w.comment_inline("runtime: buffers, launches and fallbacks (kernels/launch.py)")
        for i, (local, note, _) in enumerate(consts.items):
            w.line(f"{local} = K[{i + 1}]")
            w.lines[-1] += "  "
            w.comment_inline(note)
        for line in device_consts:
            w.line(line)
        w.line("")
        w.line(f"def run({', '.join(vname(v) for v in jaxpr.invars)}):")
        with w.indent():
            for line in body:
                if line.startswith("#"):
                    w.comment(line[2:] if line.startswith("# ") else line[1:])
                else:
                    w.line(line)
        w.line("")
        w.line("return run")
    return w.text(), [(note, value) for _, note, value in consts.items]




# --- loading and running ------------------------------------------------------------------------

_module_lock = threading.Lock()
_kernel_modules: dict[str, Any] = {}


def _load_kernel(k: KernelPlan) -> Any:
    """The kernel's JITFunction; one module per distinct kernel source in this process, so
    Triton's in-memory cache of compiled binaries is shared by every function using it."""
    key = source.content_key("triton-kernel", k.source)
    with _module_lock:
        mod = _kernel_modules.get(key)
        if mod is None:
            mod, _, _ = source.load_module(
                "triton", k.source, {"kernel": k.name, "kind": k.kind,
                                     "equations": len(k.eqns)},
                persist=config.persistent_cache.value)
            _kernel_modules[key] = mod
    return getattr(mod, k.name)


class TritonExecutable(Executable):
    """An Executable of this backend. ``run(*host_arrays)`` returns host arrays, like the NumPy
    backend's (for jit_call's impl and verify); ``device_run(*args)`` takes
    device arrays (their buffers pass through) or host values (copied over) and returns the
    runtime's device buffers, which jit wraps with ``runtime.wrap`` without copying back."""

    __slots__ = ("device_run", "runtime", "plan")


def compile_triton(closed: ClosedJaxpr, name: str = "f", fuse: bool = True
                   ) -> TritonExecutable:
    from functrans.kernels import launch as launch_mod
    t0 = time.perf_counter()
    p = plan(closed, name, fuse=fuse)
    t1 = time.perf_counter()
    rt = launch_mod.runtime()
    t2 = time.perf_counter()
    K: list[Any] = [rt]
    for _, value in p.consts:
        if type(value) is _Ref:
            k = p.kernels[value.index]
            K.append(_load_kernel(k) if value.what == "kernel" else k.launch[rt.name])
        else:
            K.append(value)
    module, path, found = source.load_module(
        "triton", p.launcher, {"function": name, "n_eqns": len(p.closed.jaxpr.eqns),
                               "kernels": [k.name for k in p.kernels.values()]},
        persist=config.persistent_cache.value)
    device_run = module.build(K)
    t3 = time.perf_counter()

    def run(*args: Any) -> tuple:
        return tuple(rt.to_host(o) for o in device_run(*args))

    timings = {"passes+schedule+codegen": t1 - t0, "runtime": t2 - t1, "load": t3 - t2}
    exe = TritonExecutable(run, p.text, path, p.closed, timings, found)
    exe.device_run, exe.runtime, exe.plan = device_run, rt, p
    return exe


def plan_of(exe: Executable) -> Plan | None:
    """The schedule and kernels behind an executable of this backend."""
    return getattr(exe, "plan", None)


def lower_text(closed: ClosedJaxpr, name: str = "f") -> str:
    """The launcher and kernel sources for ``closed`` (no triton import, no GPU needed)."""
    return plan(closed, name).text


_executables: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def executable(closed: ClosedJaxpr, name: str) -> Executable:
    exe = _executables.get(closed)
    if exe is None:
        exe = _executables[closed] = compile_triton(closed, name)
    return exe


def clear_caches() -> None:
    _executables.clear()
    with _module_lock:
        _kernel_modules.clear()
