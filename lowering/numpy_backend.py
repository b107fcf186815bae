"""The NumPy backend: a closed jaxpr becomes a straight-line Python module that calls NumPy.

``compile_numpy(closed, name)`` runs the IR passes, writes the module (one line per equation,
each with its jaxpr equation and the user's source line in a comment), loads it through the
content-addressed cache (``source.py``) and returns an ``Executable``. Every value that is not
a plain int (literals, captured arrays, dtypes, impl functions) is passed in through a
constants table ``K``, so the generated text never contains a repr of user data. Large results
are written into buffers from ``BUFFERS``, which recycles a buffer once nothing else holds it.
Imports the IR, passes, numpy_rules and source.
"""

from __future__ import annotations

import functools
import keyword
import sys
import threading
import time
from typing import Any, NamedTuple

import numpy as np

from functrans import config, core
from functrans.ir import ClosedJaxpr, Eqn, Literal, Var, _Namer, pp_eqn, pp_jaxpr
from functrans.lowering import fusion, numpy_rules, passes, source
from functrans.lowering.numpy_rules import _ints
from functrans.primitives import reductions


_RESERVED = {"np", "K", "run", "build"}


class _Ctx:
    """Names values and collects the constants table while one module is written."""

    def __init__(self, namer: _Namer) -> None:
        self.consts: list[Any] = []
        self.const_notes: list[str] = []
        self._const_ids: dict[int, str] = {}
        self.names: dict[Var, str] = {}
        self.namer = namer
        self.eqn_texts: dict[int, str] = {}  # id(eqn) -> its text in the module's header
        self.quiet = False  # the module runs under np.errstate(all="ignore")

    def const(self, value: Any, note: str = "") -> str:
        key = id(value)
        name = self._const_ids.get(key)
        if name is None:
            name = self._const_ids[key] = f"k{len(self.consts)}"
            self.consts.append(value)
            self.const_notes.append(note)
        return name

    def name(self, v: Var) -> str:
        """The variable's jaxpr name (``a``, ``b``, ...), so code and comments match."""
        n = self.names.get(v)
        if n is None:
            n = self.namer(v)
            if keyword.iskeyword(n) or n in _RESERVED:
                n += "_"
            self.names[v] = n
        return n

    def atom(self, a: Any) -> str:
        if type(a) is Literal:
            value = np.asarray(a.val, dtype=a.aval.dtype)
            return self.const(value if value.shape else value[()], f"literal {a.aval.str_short()}")
        return self.name(a)


class Executable:
    """A compiled function: ``run(*numpy_args) -> tuple of numpy outputs``."""

    __slots__ = ("run", "source", "path", "jaxpr", "timings", "out_avals", "from_disk")

    def __init__(self, run: Any, src: str, path: str, jaxpr: ClosedJaxpr,
                 timings: dict[str, float], from_disk: bool):
        self.run = run
        self.source = src
        self.path = path
        self.jaxpr = jaxpr
        self.timings = timings
        self.out_avals = jaxpr.out_avals
        self.from_disk = from_disk


class Generated(NamedTuple):
    """A module's source before it is loaded: the optimized jaxpr it implements, the source,
    its constants table, and the seconds the IR passes and code generation took."""

    optimized: ClosedJaxpr
    source: str
    ctx: _Ctx
    timings: dict[str, float]


def generate_module(closed: ClosedJaxpr, name: str = "f") -> Generated:
    """Run the IR passes on ``closed`` and write its module (nothing is loaded yet)."""
    t0 = time.perf_counter()
    optimized = passes.run_passes(closed)
    t1 = time.perf_counter()
    src, ctx = generate(optimized, name)
    t2 = time.perf_counter()
    return Generated(optimized, src, ctx, {"passes": t1 - t0, "codegen": t2 - t1})


def load(gen: Generated, name: str = "f") -> Executable:
    """Load a generated module (through the on-disk cache) and build its ``run``."""
    t0 = time.perf_counter()
    module, path, found = source.load_module(
        "numpy", gen.source, {"function": name, "n_eqns": len(gen.optimized.eqns),
                              "constants": gen.ctx.const_notes},
        persist=config.persistent_cache.value)
    run = module.build(gen.ctx.consts)
    timings = {**gen.timings, "load": time.perf_counter() - t0}
    return Executable(run, gen.source, path, gen.optimized, timings, found)


def compile_numpy(closed: ClosedJaxpr, name: str = "f") -> Executable:
    return load(generate_module(closed, name), name)


def generate(closed: ClosedJaxpr, name: str) -> tuple[str, _Ctx]:
    """The module source and its constants table."""
    jaxpr = closed.jaxpr
    namer = _Namer()
    texts: dict[int, str] = {}
    header = pp_jaxpr(jaxpr, namer, record=texts)  # names every variable, in print order
    ctx = _Ctx(namer)
    ctx.eqn_texts.update(texts)
    ctx.quiet = any(e.prim.family in numpy_rules.QUIET_FAMILIES for e in jaxpr.eqns)
    for v, c in zip(jaxpr.constvars, closed.consts, strict=True):
        ctx.names[v] = ctx.const(core.to_numpy(c), f"captured {v.aval.str_short()}")
    body = source.SourceWriter()
    body.level = 2
    quiet = ctx.quiet
    if quiet:
        body.line("_token = _quiet()")
        body.line("try:")
        body.level += 1
    for item in fusion.fuse(jaxpr):
        if isinstance(item, fusion.FusionGroup):
            _emit_group(body, ctx, item, namer)
        else:
            _emit_eqn(body, ctx, item, namer)
    outs = ", ".join(ctx.atom(a) for a in jaxpr.outvars)
    body.line(f"return ({outs}{',' if len(jaxpr.outvars) == 1 else ''})")
    if quiet:
        body.level -= 1
        body.line("finally:")
        with body.indent():
            body.line("_restore(_token)")

    w = source.SourceWriter()
    w.comment(f"functrans generated module (NumPy backend) for {name}")
    w.comment("Regenerated from the jaxpr below; edits are not kept.")
    w.comment("")
    w.comment(header)
    w.line("import numpy as np")
    w.line("")
    w.line("from functrans.fpstate import quiet as _quiet")
    w.line("from functrans.fpstate import restore as _restore")
    w.line("")
    w.line("")
    w.line("def build(K):")
    with w.indent():
        for i, note in enumerate(ctx.const_notes):
            w.line(f"k{i} = K[{i}]")
            if note:
                w.lines[-1] += "  "
                w.comment_inline(note)
        w.line("")
        w.line(f"def run({', '.join(ctx.name(v) for v in jaxpr.invars)}):")
        w.lines.extend(body.lines)
        w.line("")
        w.line("return run")
    return w.text(), ctx


def _expression(ctx: _Ctx, eqn: Eqn, ins: list[str]) -> str:
    rule = numpy_rules.RULES.get(eqn.prim.name)
    expr = rule(ctx, eqn, ins) if rule is not None else None
    if expr is None:
        impl = functools.partial(eqn.prim.impl, **eqn.params)
        expr = f"{ctx.const(impl, f'{eqn.prim.name} impl')}({', '.join(ins)})"
    return expr


def _comment(w: source.SourceWriter, ctx: _Ctx, eqn: Eqn) -> None:
    where = f"  ({eqn.source_info})" if eqn.source_info else ""
    text = ctx.eqn_texts.get(id(eqn)) or pp_eqn(eqn, ctx.namer, indent=0)
    w.comment(text.strip().split("\n", 1)[0] + where)


def _emit_eqn(w: source.SourceWriter, ctx: _Ctx, eqn: Eqn, namer: _Namer) -> None:
    ins = [ctx.atom(a) for a in eqn.invars]
    ufunc = numpy_rules.ufunc_name(eqn)
    if ufunc is not None and _pooled(eqn.outvars[0].aval):  # a large result: recycled buffer
        expr = f"np.{ufunc}({', '.join(ins)}, out={_alloc(ctx, eqn.outvars[0].aval)})"
    else:
        expr = _expression(ctx, eqn, ins)
    outs = [ctx.name(v) for v in eqn.outvars]
    if not outs:  # an effect (debug_callback): a statement
        _comment(w, ctx, eqn)
        w.line(expr)
        return
    lhs = ", ".join(outs) if eqn.prim.multiple_results else outs[0]
    if eqn.prim.multiple_results and len(outs) == 1:
        lhs += ","
    _comment(w, ctx, eqn)
    w.line(f"{lhs} = {expr}")


# --- fusion groups: chunked evaluation ------------------------------------------------------------

# Below this many elements a group runs as plain straight-line NumPy (its temporaries fit in
# cache anyway). Above it, the group runs over blocks of about CHUNK_BYTES per buffer along
# the leading axis, with every temporary in a reused block-sized buffer: each ufunc then
# touches L2-resident memory and no large temporary is ever allocated (anchors/lowering.md
# section 5 measured 32K-64K float32 elements as the sweet spot on this machine kind).
CHUNK_THRESHOLD = 1 << 16
CHUNK_BYTES = 1 << 18  # per block buffer: a handful of them stay inside a 2 MiB L2


def _emit_group(w: source.SourceWriter, ctx: _Ctx, group: fusion.FusionGroup,
                namer: _Namer) -> None:
    shape = group.shape
    row = 1
    for d in shape[1:]:
        row *= d
    itemsize = max(v.aval.dtype.itemsize for e in group.eqns for v in e.outvars)
    chunk_elements = CHUNK_BYTES // itemsize
    chunkable = (group.size >= CHUNK_THRESHOLD and len(shape) >= 1 and shape[0] > 1
                 and row <= 4 * chunk_elements)
    if not chunkable:
        for eqn in group.all_eqns:
            _emit_eqn(w, ctx, eqn, namer)
        return
    rows = max(1, chunk_elements // max(row, 1))
    w.comment(f"fused: {len(group.all_eqns)} equations over {shape}, in blocks of {rows} "
              f"rows")
    for eqn in group.all_eqns:
        _comment(w, ctx, eqn)
    outputs = set(group.outputs)
    # Full-size results are allocated here; block buffers inside the block function, so that
    # each thread running a range of blocks has its own.
    for v in group.outputs:
        w.line(f"{ctx.name(v)} = {_alloc(ctx, v.aval)}")
    block_shape = (rows, *shape[1:])
    last_use = _last_uses(group)
    free: dict[Any, list[str]] = {}
    buffers: list[tuple[str, Any]] = []
    buffer_of: dict[Var, str] = {}
    plan: list[tuple[Eqn, str | None]] = []
    for i, eqn in enumerate(group.eqns):
        (v,) = eqn.outvars
        buf = None
        # Inputs whose last use this is give their buffer back first, so the result is written
        # in place over one of them (a ufunc may write over its own input): fewer distinct
        # buffers, a smaller cache footprint (measured 1.3x on memory-bound chains).
        # (A value read twice by one equation, like x in x*x, is released once.)
        for a in dict.fromkeys(a for a in eqn.invars if type(a) is Var):
            if a in buffer_of and last_use.get(a) == i:
                free.setdefault(a.aval.dtype, []).append(buffer_of[a])
        if v not in outputs and numpy_rules.ufunc_name(eqn) is not None:
            pool = free.setdefault(v.aval.dtype, [])
            if pool:
                buf = pool.pop()
            else:
                buf = f"_buf{len(buffers)}"
                buffers.append((buf, v.aval.dtype))
            buffer_of[v] = buf
        plan.append((eqn, buf))
    red = group.reduction
    red_axes = tuple(red.params["axes"]) if red is not None else ()
    accumulate = red is not None and 0 in red_axes
    combine = None
    if accumulate:
        out_dtype = red.outvars[0].aval.dtype
        identity = _REDUCTIONS[red.prim.name][1](out_dtype)
        acc_init = ctx.const(np.full(red.outvars[0].aval.shape, identity, out_dtype),
                             "reduction identity")
        ufunc = _REDUCTIONS[red.prim.name][0]
        combine = ctx.const(functools.partial(_combine, getattr(np, ufunc), out_dtype),
                            "combine partial reductions")
    elif red is not None:
        v = red.outvars[0]
        w.line(f"{ctx.name(v)} = {_alloc(ctx, v.aval)}")
    n = shape[0]
    fn = f"_blocks_{ctx.name(group.eqns[0].outvars[0])}"
    w.line(f"def {fn}(_lo, _hi):")
    with w.indent():
        if ctx.quiet:  # floating-point state is per thread
            w.line("_token = _quiet()")
            w.line("try:")
            w.level += 1
        for buf, dtype in buffers:
            w.line(f"{buf} = np.empty({_ints(block_shape)}, {ctx.const(dtype)})")
        if accumulate:
            w.line(f"_acc = {acc_init}")
        w.line(f"for _s in range(_lo, _hi, {int(rows)}):")
        with w.indent():
            w.line(f"_e = min(_s + {int(rows)}, _hi)")
            w.line("_k = _e - _s")
            _emit_block_body(w, ctx, group, plan, outputs, shape, red, red_axes, accumulate)
        w.line("return _acc" if accumulate else "return None")
        if ctx.quiet:
            w.level -= 1
            w.line("finally:")
            with w.indent():
                w.line("_restore(_token)")
    work = group.size * sum(_cost(e) for e in group.all_eqns)
    if group.size < CHEAP_PARALLEL_MIN_ELEMENTS and not any(
            e.prim.name in _EXPENSIVE for e in group.all_eqns):
        work = 0  # cheap arithmetic on cache-sized data: a second thread only competes
    if work < PARALLEL_MIN_WORK or n <= rows:  # never threaded: call the blocks directly
        call = f"{fn}(0, {int(n)})"
    else:
        call = f"{ctx.const(run_blocks, 'runs blocks on the thread pool')}({fn}, {int(n)}, " \
               f"{int(rows)}, {combine or None}, {int(work)})"
    w.line(f"{ctx.name(red.outvars[0])} = {call}" if accumulate else call)


def _emit_block_body(w: source.SourceWriter, ctx: _Ctx, group: fusion.FusionGroup,
                     plan: list, outputs: set, shape: tuple, red: Eqn | None,
                     red_axes: tuple, accumulate: bool) -> None:
    n = shape[0]
    local: dict[Any, str] = {}
    # Block views of the inputs that span the leading axis, made once per block.
    for a in group.inputs:
        if type(a) is Var and a.aval.shape and len(a.aval.shape) == len(shape) and \
                a.aval.shape[0] == n:
            local[a] = f"_i{ctx.name(a)}"
            w.line(f"{local[a]} = {ctx.name(a)}[_s:_e]")

    def operand(a: Any) -> str:
        if type(a) is Var and a in local:
            return local[a]
        return ctx.atom(a)  # 0-d or broadcast along the leading axis: the whole value

    for eqn, buf in plan:
        (v,) = eqn.outvars
        ins = [operand(a) for a in eqn.invars]
        ufunc = numpy_rules.ufunc_name(eqn)
        if v in outputs:
            target = f"{ctx.name(v)}[_s:_e]"
            if ufunc is not None:
                w.line(f"np.{ufunc}({', '.join(ins)}, out={target})")
            else:
                w.line(f"{target} = {_expression(ctx, eqn, ins)}")
            local[v] = target
        elif buf is not None:
            tmp = f"_t{ctx.name(v)}"
            w.line(f"{tmp} = np.{ufunc}({', '.join(ins)}, out={buf}[:_k])")
            local[v] = tmp
        else:
            tmp = f"_t{ctx.name(v)}"
            w.line(f"{tmp} = {_expression(ctx, eqn, ins)}")
            local[v] = tmp
    if red is not None:
        src = operand(red.invars[0])
        ufunc = _REDUCTIONS[red.prim.name][0]
        dtype = ctx.const(red.outvars[0].aval.dtype)
        part = f"np.{ufunc}.reduce({src}, axis={_ints(red_axes)}, dtype={dtype})"
        if accumulate:
            w.line(f"_acc = np.{ufunc}(_acc, {part}, dtype={dtype})")
        else:
            w.line(f"{ctx.name(red.outvars[0])}[_s:_e] = {part}")


# Relative per-element cost of an equation in a fused group, for the threading decision:
# transcendental ufuncs cost about ten simple arithmetic passes over cache-resident data.
_EXPENSIVE = frozenset({
    "exp", "exp2", "expm1", "log", "log1p", "sin", "cos", "tan", "asin", "acos", "atan",
    "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "logistic", "pow", "atan2", "erf",
    "erfc", "erf_inv", "lgamma", "digamma", "cbrt"})


def _cost(eqn: Eqn) -> int:
    return 10 if eqn.prim.name in _EXPENSIVE else 1


# The reductions a fused group may end in (fusion.REDUCTIONS): the NumPy ufunc that combines
# partial results, and the identity its accumulator starts from (the primitives' own).
_REDUCTIONS: dict[str, tuple[str, Any]] = {
    "reduce_sum": ("add", lambda dtype: 0),
    "reduce_prod": ("multiply", lambda dtype: 1),
    "reduce_max": ("maximum", reductions._max_identity),
    "reduce_min": ("minimum", reductions._min_identity),
}


def _combine(ufunc: Any, dtype: np.dtype, a: Any, b: Any) -> Any:
    return ufunc(a, b, dtype=dtype)


# --- recycling large buffers -------------------------------------------------------------------

# Full-size group outputs and ufunc results of at least this many bytes come from ``BUFFERS``
# instead of a fresh allocation. glibc maps fresh pages for every allocation above 32 MiB (and
# for smaller ones while its adaptive mmap threshold is low or after it trims its heap), so
# without the pool the kernel zeroes and maps a new 40 MB gradient on every call of a jitted
# grad at 1e7 float32. A recycled buffer is already mapped. From 1 MiB on, the pool's
# bookkeeping (about 1 us a buffer, measured) is under 4% of merely writing the buffer once.
POOL_MIN_BYTES = 1 << 20
# The pool holds at most this many bytes of buffers, idle or in use; past it the least
# recently taken ones are forgotten (one still in use then simply stops being recycled).
POOL_MAX_BYTES = 256 << 20


def _pooled(aval: core.ShapedArray) -> bool:
    return aval.size * aval.dtype.itemsize >= POOL_MIN_BYTES


def _alloc(ctx: _Ctx, aval: core.ShapedArray) -> str:
    """Source for an uninitialized buffer of ``aval``: a recycled one when it is large."""
    shape, dtype = _ints(aval.shape), ctx.const(aval.dtype)
    if _pooled(aval):
        return f"{ctx.const(_take_buffer, 'recycled large buffers')}({shape}, {dtype})"
    return f"np.empty({shape}, {dtype})"


def _refs(bufs: list[np.ndarray], i: int) -> int:
    return sys.getrefcount(bufs[i])


# What ``_refs`` counts for a buffer that only the pool's list holds (measured, not assumed:
# the interpreter's own temporary references differ between Python versions).
_IDLE_REFS = _refs([np.empty(0)], 0)


class BufferPool:
    """Large buffers for generated code, reused once nothing outside the pool references them.

    Each buffer owns its memory (no base) and sits in one list per (shape, dtype). It is idle
    exactly when that list entry is its only reference, which ``sys.getrefcount`` tells: an
    Array wrapping it, a view of it, a user's variable or a running call each hold one. So a
    buffer anyone can still read is never handed out again, and reuse is invisible to users.
    Buffers are taken under a lock and the taker holds a reference before the lock is
    released, so concurrent and nested calls (threads, recursion, grad of jit) never share
    one, and two outputs of one call never alias.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bufs: dict[tuple, list[np.ndarray]] = {}
        self._order: dict[int, tuple] = {}  # id(buffer) -> its key, least recently taken first
        self.nbytes = 0

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A writable buffer of ``shape`` and ``dtype`` (uninitialized) that nobody else holds."""
        key = (shape, dtype)
        with self._lock:
            bufs = self._bufs.get(key)
            if bufs is not None:
                for i in range(len(bufs)):
                    if _refs(bufs, i) == _IDLE_REFS:
                        buf = bufs[i]
                        # Arrays made it read-only; it owns its memory, so this is allowed.
                        buf.flags.writeable = True
                        self._order[id(buf)] = self._order.pop(id(buf))
                        return buf
            buf = np.empty(shape, dtype)
            if buf.nbytes <= POOL_MAX_BYTES:
                self._forget(POOL_MAX_BYTES - buf.nbytes)
                self._bufs.setdefault(key, []).append(buf)
                self._order[id(buf)] = key
                self.nbytes += buf.nbytes
            return buf

    def _forget(self, limit: int) -> None:
        """Drop the least recently taken buffers until at most ``limit`` bytes are held."""
        while self.nbytes > limit:
            ident, key = next(iter(self._order.items()))
            del self._order[ident]
            bufs = self._bufs[key]
            i = next(i for i, b in enumerate(bufs) if id(b) == ident)
            self.nbytes -= bufs.pop(i).nbytes
            if not bufs:
                del self._bufs[key]

    def idle_bytes(self) -> int:
        """Bytes held by buffers that nothing outside the pool references."""
        with self._lock:
            return sum(bufs[i].nbytes for bufs in self._bufs.values()
                       for i in range(len(bufs)) if _refs(bufs, i) == _IDLE_REFS)

    def clear(self) -> None:
        with self._lock:
            self._bufs.clear()
            self._order.clear()
            self.nbytes = 0


BUFFERS = BufferPool()
_take_buffer = BUFFERS.take  # one constant for every module (a bound method is made per access)


# --- running blocks on threads ------------------------------------------------------------------

# A group runs its blocks on several threads when its work (elements x per-element cost,
# see ``_cost``) is at least this much: NumPy releases the GIL inside each ufunc, so the
# blocks of one group proceed in parallel, but handing blocks to a thread costs tens of
# microseconds (measured: a 7-op arithmetic chain gains from 1e6 elements on, a
# transcendental one from 3e5). The work is split into contiguous, block-aligned ranges,
# one per thread, and partial reductions are combined in range order, so results do not
# depend on timing (only on the thread count).
PARALLEL_MIN_WORK = 5_000_000
# Groups of only cheap arithmetic are memory-bound: on this machine kind (2 vCPUs that share
# caches) a second thread made them slower (0.67 -> 0.92 ms at 1e6 float32) until the data
# no longer fits in cache, where it helps (8.1 -> 6.2 ms at 1e7).
CHEAP_PARALLEL_MIN_ELEMENTS = 4_000_000
_pool_lock = threading.Lock()
_pool: Any = None


def _threads() -> int:
    return max(1, config.cpu_threads.value)


def _executor(n: int) -> Any:
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < n:
            from concurrent.futures import ThreadPoolExecutor
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="functrans-blocks")
        return _pool


def run_blocks(fn: Any, n: int, rows: int, combine: Any, work: int) -> Any:
    """Run ``fn(lo, hi)`` over rows [0, n) in blocks of ``rows``: on one thread, or split
    across the configured CPU threads; return the combined partial results (or None)."""
    threads = _threads()
    n_blocks = -(-n // rows)
    if threads == 1 or n_blocks < 2 or work < PARALLEL_MIN_WORK:
        return fn(0, n)
    threads = min(threads, n_blocks)
    per = -(-n_blocks // threads) * rows
    bounds = [(lo, min(lo + per, n)) for lo in range(0, n, per)]
    pool = _executor(len(bounds) - 1)
    futures = [pool.submit(fn, lo, hi) for lo, hi in bounds[1:]]
    parts = [fn(*bounds[0])] + [f.result() for f in futures]
    if combine is None:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = combine(out, p)
    return out


def _last_uses(group: fusion.FusionGroup) -> dict[Var, int]:
    last: dict[Var, int] = {}
    for i, eqn in enumerate(group.eqns):
        for a in eqn.invars:
            if type(a) is Var:
                last[a] = i
    if group.reduction is not None:
        for a in group.reduction.invars:
            if type(a) is Var:
                last[a] = len(group.eqns)
    return last
