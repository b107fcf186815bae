"""``jit``: trace once per signature, run generated code; and the ``jit_call`` primitive.

Calling a jitted function looks up its argument *signature* (pytree structure, shape, dtype
and weak type of every leaf, values of static arguments): a hit runs the compiled module, a
miss traces the function to a jaxpr, runs the IR passes, generates and loads the module, and
records why it happened (``cache_info()``). Under another transformation (grad, vmap, an
outer jit) the call is one ``jit_call`` equation whose rules transform the inner jaxpr (and
memoize the result per jaxpr). Imports core, ir, the transforms and the NumPy backend.
"""

from __future__ import annotations

import functools
import inspect
import sys
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from functrans import api_util, config, core, errors, tree_util
from functrans import dtypes as dt
from functrans.core import Array, ShapedArray, Tracer
from functrans.ir import ClosedJaxpr, hoist_consts
from functrans.lowering.numpy_backend import (BUFFERS, Executable, compile_numpy, generate_module,
                                               load)
from functrans.primitives.ad_rules import UndefinedPrimal, Zero, tangent_aval
from functrans.primitives.registry import Example, define_primitive
from functrans.primitives.rules import ELEMENTWISE_SHAPES, sample_array
from functrans.transforms import ad
from functrans.transforms.partial_eval import trace_to_jaxpr
from functrans.transforms import subprograms as sp

BACKENDS = ("numpy", "triton")


# --- compiled executables, memoized per jaxpr ---------------------------------------------------

_executables: weakref.WeakKeyDictionary[ClosedJaxpr, Executable] = weakref.WeakKeyDictionary()


def executable(closed: ClosedJaxpr, name: str, backend: str = "numpy") -> Executable:
    if backend != "numpy":
        return _backend_executable(closed, name, backend)
    exe = _executables.get(closed)
    if exe is None:
        exe = _executables[closed] = compile_numpy(closed, name)
    return exe


def _backend_executable(closed: ClosedJaxpr, name: str, backend: str) -> Executable:
    """Dispatch hook for the other backends (generated Triton kernels: triton_backend.py)."""
    from functrans.lowering import triton_backend
    return triton_backend.executable(closed, name)


def clear_caches() -> None:
    """Forget every compiled function and derived program (the on-disk cache too), and the
    NumPy backend's recycled buffers."""
    from functrans.lowering import source
    _executables.clear()
    BUFFERS.clear()
    sp.clear_derived()
    triton = sys.modules.get("functrans.lowering.triton_backend")  # only if it was ever used
    if triton is not None:
        triton.clear_caches()
    for fn in list(_live_jitted):
        fn.clear_cache()
    source.clear_disk_cache()


_live_jitted: weakref.WeakSet = weakref.WeakSet()


# --- the jit_call primitive -----------------------------------------------------------------------


# ``backend`` is the jitted function's: the programs jit_call's rules derive (jvp, the known and
# unknown halves, transpose, vmap) compile for the same backend when they run outside an
# outer jit, e.g. grad of a Triton-jitted function. Under an outer jit the passes inline
# jit_call, so the outer jit's backend compiles the whole program.

def _jit_call_impl(*args: np.ndarray, jaxpr: ClosedJaxpr, name: str, backend: str
                   ) -> list[np.ndarray]:
    return [np.asarray(o) for o in executable(jaxpr, name, backend).run(*args)]


def _jit_call_abstract_eval(*avals: ShapedArray, jaxpr: ClosedJaxpr, name: str, backend: str
                            ) -> list[ShapedArray]:
    return list(jaxpr.out_avals)


def _jit_call_jvp(primals: list, tangents: list, jaxpr: ClosedJaxpr, name: str, backend: str
                  ) -> tuple[list, list]:
    nonzeros = tuple(type(t) is not Zero for t in tangents)
    jvp_closed, out_nz = sp.jvp_jaxpr(jaxpr, nonzeros, False)
    outs = jit_call_p.bind(*primals, *[t for t in tangents if type(t) is not Zero],
                           jaxpr=jvp_closed, name=f"jvp({name})", backend=backend)
    n = len(jaxpr.out_avals)
    nz = iter(outs[n:])
    return outs[:n], [next(nz) if z else Zero(tangent_aval(a))
                      for z, a in zip(out_nz, jaxpr.out_avals, strict=True)]


def _jit_call_partial_eval(trace: ad.PartialEvalTrace, args: Sequence[Any], params: dict
                           ) -> list[Any]:
    """Run the known part (compiled) now; stage the unknown part as another jit_call whose
    inputs include the known part's residuals (nothing is recomputed)."""
    jaxpr, name, backend = params["jaxpr"], params["name"], params["backend"]
    unknowns = tuple(trace.is_unknown(a) for a in args)
    known, unknown, out_unknowns, _ = sp.partial_eval_jaxpr(jaxpr, unknowns)
    known_args = [a for a, u in zip(args, unknowns, strict=True) if not u]
    known_results = trace.evaluate(jit_call_p, known_args,
                                   {"jaxpr": known, "name": name, "backend": backend})
    n_known = sum(1 for u in out_unknowns if not u)
    known_outs, residuals = known_results[:n_known], known_results[n_known:]
    unknown_args = [a for a, u in zip(args, unknowns, strict=True) if u]
    staged = trace.stage(jit_call_p, [*residuals, *unknown_args],
                         {"jaxpr": unknown, "name": f"{name}_tangent", "backend": backend})
    known_it, staged_it = iter(known_outs), iter(staged)
    return [next(staged_it) if u else next(known_it) for u in out_unknowns]


def _jit_call_transpose(cts: list, *args: Any, jaxpr: ClosedJaxpr, name: str, backend: str
                        ) -> list[Any]:
    undefined = tuple(type(a) is UndefinedPrimal for a in args)
    ct_zero = tuple(type(c) is Zero for c in cts)

    closed = sp.transpose_jaxpr(jaxpr, undefined, ct_zero)
    known = [a for a, u in zip(args, undefined, strict=True) if not u]
    out = jit_call_p.bind(*known, *[c for c in cts if type(c) is not Zero], jaxpr=closed,
                          name=f"transpose({name})", backend=backend)
    out_it = iter(out)
    return [next(out_it) if u else None for u in undefined]


def _jit_call_batch(axis: Any, vals: list, dims: list, jaxpr: ClosedJaxpr, name: str,
                    backend: str) -> tuple[list, list]:
    batched, out_dims = sp.batch_jaxpr_natural(jaxpr, axis, dims)
    return jit_call_p.bind(*vals, jaxpr=batched, name=f"vmap({name})", backend=backend), \
        out_dims


def _jit_call_sample(dtype: np.dtype) -> list[Example]:
    from functrans import lax
    out = []
    for shape in ELEMENTWISE_SHAPES:
        aval = ShapedArray(shape, dtype)
        closed = trace_to_jaxpr(lambda x: [lax.mul(lax.sin(x), x)], [aval],
                                core.DebugInfo("jit", _jit_call_sample))
        out.append(Example((sample_array(shape, dtype, seed=1),),
                           {"jaxpr": closed, "name": "sample", "backend": "numpy"}))
    return out


jit_call_p = define_primitive(
    "jit_call", family="call", impl=_jit_call_impl, abstract_eval=_jit_call_abstract_eval,
    multiple_results=True, dtypes=dt.INEXACT, sample=_jit_call_sample, jvp=_jit_call_jvp,
    transpose=_jit_call_transpose, linear_in=(), partial_eval=_jit_call_partial_eval,
    batch=_jit_call_batch, doc="call a jitted sub-program (compiled once per jaxpr)")


# --- signatures and cache entries ---------------------------------------------------------------

_SCALARS = (bool, int, float, complex)
_LEAF_TYPES = frozenset((np.ndarray, Array, bool, int, float, complex))


def _leaf_signature(x: Any) -> tuple:
    t = type(x)
    if t is np.ndarray:
        return (x.shape, x.dtype, False)
    if t is Array:
        v = x._value
        return (v.shape, v.dtype, x._weak)
    if t in _SCALARS:
        return ((), dt.scalar_dtype(x), t is not bool)
    if isinstance(x, Tracer):
        a = x.aval
        return (a.shape, a.dtype, a.weak_type)
    a = core.get_aval(x)
    return (a.shape, a.dtype, a.weak_type)


@functools.lru_cache(maxsize=64)
def _flat_treedef(n: int) -> Any:
    """The structure of ``((leaf,) * n, {})``: positional array arguments, no keywords."""
    return tree_util.tree_structure(((0,) * n, {}))


class _Entry:
    """One compiled signature: the staged program and (lazily) its executable."""

    __slots__ = ("jaxpr", "consts", "out_tree", "exe", "out_weak", "timings", "name",
                 "single_output", "backend", "device_consts")

    def __init__(self, jaxpr: ClosedJaxpr, consts: list, out_tree: Any,
                 timings: dict[str, float], name: str):
        self.jaxpr = jaxpr          # constvars turned into leading invars
        self.consts = consts
        self.out_tree = out_tree
        self.exe: Executable | None = None
        self.out_weak = [a.weak_type for a in jaxpr.out_avals]
        self.timings = timings
        self.name = name
        self.single_output = tree_util.treedef_is_strict_leaf(out_tree)
        self.backend = "numpy"
        self.device_consts: list | None = None  # consts on the device (Triton backend)

    def executable(self) -> Executable:
        if self.exe is None:
            self.exe = executable(self.jaxpr, self.name, self.backend)
            self.timings.update(self.exe.timings)
        return self.exe


class CacheMiss(NamedTuple):
    """Why a jitted function was traced again."""

    signature: str
    reason: str
    # Seconds per compile phase (trace, passes, codegen, load), filled in as they happen.
    timings: dict[str, float]


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    currsize: int
    miss_reasons: tuple[CacheMiss, ...]


# --- the user-facing object -----------------------------------------------------------------------


class JittedFunction:
    """A function compiled per argument signature; see ``jit``."""

    def __init__(self, fun: Callable, static_argnums: tuple[int, ...],
                 static_argnames: tuple[str, ...], donate_argnums: tuple[int, ...],
                 backend: str | None, verify: bool = False):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.static_argnums = static_argnums
        self.static_argnames = static_argnames
        self.donate_argnums = donate_argnums
        self.backend = backend  # None: chosen at the first compile (kernels/device.py)
        self.verify = verify
        self._resolved_backend: str | None = None
        self._cache: dict[Any, _Entry] = {}
        self._keys: list[tuple] = []
        self._hits = 0
        self._misses: list[CacheMiss] = []
        _live_jitted.add(self)

    # The call path is kept short: it runs on every call.
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            if config.disable_jit.value:
                return self.fun(*args, **kwargs)
            key, dyn_leaves, sigs, statics = self._key(args, kwargs)
            entry = self._cache.get(key)
            if entry is None:
                entry = self._compile(key, args, kwargs, dyn_leaves, sigs, statics)
            else:
                self._hits += 1
            if core._trace_var.get() is None:
                return self._run(entry, dyn_leaves, sigs)
            outs = jit_call_p.bind(*entry.consts, *dyn_leaves, jaxpr=entry.jaxpr,
                                   name=entry.name, backend=entry.backend)
            return tree_util.tree_unflatten(entry.out_tree, outs)
        except Exception as e:
            errors.reraise_filtered(e)
            raise

    def _key(self, args: tuple, kwargs: dict) -> tuple[Any, list, tuple, tuple]:
        if not kwargs and not self.static_argnums:
            # Fast path: positional array arguments only (the common call).
            types = _LEAF_TYPES
            if all(type(a) in types for a in args):
                sigs = tuple(_leaf_signature(a) for a in args)
                return (_flat_treedef(len(args)), sigs, ()), list(args), sigs, ()
        return self._key_general(args, kwargs)

    def _key_general(self, args: tuple, kwargs: dict) -> tuple[Any, list, tuple, tuple]:
        if self.static_argnums:
            nums = self._static_nums(len(args))
            statics = tuple(args[i] for i in nums)
            args = tuple(a for i, a in enumerate(args) if i not in nums)
        else:
            statics = ()
        if self.static_argnames and kwargs:
            named = tuple((k, kwargs[k]) for k in self.static_argnames if k in kwargs)
            kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
            statics = statics + named
        leaves, treedef = tree_util.tree_flatten((args, kwargs))
        sigs = tuple(_leaf_signature(x) for x in leaves)
        try:
            key = (treedef, sigs, statics)
            hash(key)
        except TypeError:
            raise _unhashable_static(self, statics) from None
        return key, leaves, sigs, statics

    def _run(self, entry: _Entry, leaves: list, sigs: tuple) -> Any:
        exe = entry.exe or entry.executable()
        if entry.backend != "numpy":
            return self._run_on_device(entry, exe, leaves)
        vals = [x if type(x) is np.ndarray else core.to_numpy(x) for x in leaves]
        outs = exe.run(*entry.consts, *vals)
        if self.verify or config.debug_nans.value:
            self._check_outputs(entry, vals, outs)
        results = [Array._wrap(core._owned(np.asarray(o), vals), weak)
                   for o, weak in zip(outs, entry.out_weak, strict=True)]
        if entry.single_output:
            return results[0]
        return tree_util.tree_unflatten(entry.out_tree, results)

    def _run_on_device(self, entry: _Entry, exe: Any, leaves: list) -> Any:
        """A Triton-backend call: results stay on the device as the runtime's Arrays
        (GpuArray) until ``np.asarray``/``device_get`` asks for them, so they chain into the
        next call without a copy (see ``_device_args``)."""
        rt = exe.runtime
        args = _device_args(leaves)
        outs = _device_call(entry, exe, args)
        if self.verify or config.debug_nans.value:  # both compare host copies
            self._check_outputs(entry, [core.to_numpy(a) for a in args],
                                [rt.to_host(o) for o in outs])
        results = [rt.wrap(o, weak) for o, weak in zip(outs, entry.out_weak, strict=True)]
        if entry.single_output:
            return results[0]
        return tree_util.tree_unflatten(entry.out_tree, results)

    def _check_outputs(self, entry: _Entry, vals: list, outs: Sequence[Any]) -> None:
        """``verify`` and ``debug_nans`` on host copies of one call's inputs and outputs."""
        if self.verify:
            from functrans.lowering.triton_verify import verify_call
            verify_call(self.fun, entry.jaxpr, entry.backend, [*entry.consts, *vals], outs)
        if config.debug_nans.value:
            _check_nans(self, entry, vals, outs)

    def _compile(self, key: tuple, args: tuple, kwargs: dict, leaves: list, sigs: tuple,
                 statics: tuple) -> _Entry:
        reason = self._miss_reason(key)
        t0 = time.perf_counter()
        closed, out_tree = self._trace(args, kwargs, leaves, sigs)
        t1 = time.perf_counter()
        opened, consts = hoist_consts(closed)
        entry = _Entry(opened, [_as_value(c) for c in consts], out_tree,
                       {"trace": t1 - t0}, getattr(self.fun, "__name__", "f"))
        entry.backend = self.resolved_backend()
        signature = _describe_signature(sigs, statics)
        self._misses.append(CacheMiss(signature, reason, entry.timings))
        if any(isinstance(c, Tracer) for c in closed.consts):
            # A closure over a tracer of an enclosing transformation: valid only now.
            return entry
        self._cache[key] = entry
        self._keys.append(key)
        if config.log_compiles.value:
            exe = entry.executable() if core.current_trace() is None else None
            phases = ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in entry.timings.items())
            print(f"functrans.jit: compiled {errors.function_location(self.fun)} for "
                  f"{signature} ({reason}): {phases}"
                  + ("" if exe is None else f"; module {exe.path or '(in memory)'}"),
                  file=sys.stderr)
        return entry

    def resolved_backend(self) -> str:
        """The backend this function compiles for (kernels/device.py chooses when none was
        given; an unusable explicit choice raises BackendUnavailableError saying why)."""
        if self._resolved_backend is None:
            from functrans.kernels.device import resolve_backend
            self._resolved_backend = resolve_backend(self.backend)
        return self._resolved_backend

    def _static_nums(self, nargs: int) -> tuple[int, ...]:
        # Arguments named static may be passed by keyword: then their position is absent.
        return api_util.normalize_argnums(
            "jit", tuple(i for i in self.static_argnums if i < nargs or i < 0), nargs)

    def _trace(self, args: tuple, kwargs: dict, leaves: list, sigs: tuple
               ) -> tuple[ClosedJaxpr, Any]:
        nums = self._static_nums(len(args))
        static_vals = [args[i] for i in nums]
        static_kw = {k: kwargs[k] for k in self.static_argnames if k in kwargs}
        dyn_args = tuple(a for i, a in enumerate(args) if i not in nums)
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}

        def with_static(*d: Any, **kw: Any) -> Any:
            return self.fun(*api_util.merge_static(d, static_vals, nums), **kw, **static_kw)

        functools.update_wrapper(with_static, self.fun)
        _, in_tree = tree_util.tree_flatten((dyn_args, dyn_kwargs))
        flat_fun, out_tree = api_util.flatten_fun(with_static, in_tree, "jit")
        avals = [ShapedArray(s[0], s[1], s[2]) for s in sigs]
        debug = core.DebugInfo("jit", self.fun, dyn_args, dyn_kwargs)
        closed = trace_to_jaxpr(flat_fun, avals, debug)
        return closed, out_tree()

    def _miss_reason(self, key: tuple) -> str:
        if not self._keys:
            return "first call"
        best = None
        for old in reversed(self._keys):
            diffs = _differences(old, key)
            if best is None or len(diffs) < len(best):
                best = diffs
        return "; ".join(best or ["new signature"])

    # --- public helpers ---

    def cache_info(self) -> CacheInfo:
        """Hits, misses and, for each miss, the signature and what changed."""
        return CacheInfo(self._hits, len(self._misses), len(self._cache), tuple(self._misses))

    def clear_cache(self) -> None:
        self._cache.clear()
        self._keys.clear()

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Trace and lower for these arguments without running: see ``Lowered``."""
        key, leaves, sigs, statics = self._key_general(args, kwargs)
        t0 = time.perf_counter()
        closed, out_tree = self._trace(args, kwargs, leaves, sigs)
        t1 = time.perf_counter()
        return Lowered(self, closed, out_tree, {"trace": t1 - t0})

    def eval_shape(self, *args: Any, **kwargs: Any) -> Any:
        key, leaves, sigs, statics = self._key_general(args, kwargs)
        closed, out_tree = self._trace(args, kwargs, leaves, sigs)
        return tree_util.tree_unflatten(out_tree, [
            core.ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in closed.out_avals])

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        # Decorating a method: bind like a function would.
        if obj is None:
            return self
        return functools.partial(self, obj)

    def __repr__(self) -> str:
        return f"<jitted {errors.function_location(self.fun)}>"


class Lowered:
    """``jit(f).lower(*args)``: the staged program and the source it generates."""

    def __init__(self, jitted: JittedFunction, closed: ClosedJaxpr, out_tree: Any,
                 timings: dict[str, float]):
        self._jitted = jitted
        self.jaxpr = closed
        self.out_tree = out_tree
        self._opened, _ = hoist_consts(closed)
        self._name = getattr(jitted.fun, "__name__", "f")
        from functrans.kernels.device import requested_backend
        self.backend = requested_backend(jitted.backend)
        self._generated = None
        if self.backend == "numpy":
            self._generated = generate_module(self._opened, self._name)
            self._source = self._generated.source
            self.timings = {**timings, **self._generated.timings}
        else:  # kernel source needs no GPU (and no triton) to be written
            from functrans.lowering import triton_backend
            t0 = time.perf_counter()
            self._source = triton_backend.lower_text(self._opened, self._name)
            self.timings = {**timings, "codegen": time.perf_counter() - t0}

    def as_text(self) -> str:
        """The generated module's source: exactly the file that runs."""
        return self._source

    def compile(self) -> Compiled:
        t0 = time.perf_counter()
        backend = self._jitted.resolved_backend()
        if backend == "numpy" and self._generated is not None:
            # Load the module this object already generated (no second pass or codegen).
            exe = _executables.get(self._opened)
            if exe is None:
                exe = _executables[self._opened] = load(self._generated, self._name)
        else:
            exe = executable(self._opened, self._name, backend)
        self.timings["load"] = time.perf_counter() - t0
        return Compiled(exe, [_as_value(c) for c in self.jaxpr.consts], self.out_tree,
                        self.timings)


class Compiled:
    """A compiled program for one signature: call it with arguments of that signature."""

    def __init__(self, exe: Executable, consts: list, out_tree: Any,
                 timings: dict[str, float]):
        self.exe = exe
        self.consts = consts
        self.out_tree = out_tree
        self.timings = timings
        self.out_weak = [a.weak_type for a in exe.out_avals]
        self.device_consts: list | None = None  # consts on the device (Triton backend)

    def as_text(self) -> str:
        return self.exe.source

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        leaves = tree_util.tree_leaves((args, kwargs))
        rt = getattr(self.exe, "runtime", None)
        if rt is not None:  # Triton backend: results stay on the device, as jit's do
            outs = _device_call(self, self.exe, _device_args(leaves))
            return tree_util.tree_unflatten(self.out_tree, [
                rt.wrap(o, w) for o, w in zip(outs, self.out_weak, strict=True)])
        vals = [core.to_numpy(x) for x in leaves]
        outs = self.exe.run(*self.consts, *vals)
        return tree_util.tree_unflatten(self.out_tree, [
            Array._wrap(core._owned(np.asarray(o), vals), w)
            for o, w in zip(outs, self.out_weak, strict=True)])


def _device_call(owner: _Entry | Compiled, exe: Any, args: list) -> Sequence[Any]:
    """The device buffers of a Triton executable's results for ``args`` (from
    ``_device_args``); ``owner``'s captured arrays go to the device on its first call only."""
    if owner.device_consts is None:
        rt = exe.runtime
        owner.device_consts = [rt.wrap(rt.to_device(c)) for c in owner.consts]
    return exe.device_run(*owner.device_consts, *args)


def _device_args(leaves: list) -> list:
    """Arguments for a Triton executable's ``device_run``: device arrays as they are (their
    buffers pass through), everything else as typed host values (the runtime copies them)."""
    from functrans.kernels.arrays import GpuArray
    return [x if isinstance(x, GpuArray) else core.to_numpy(x) for x in leaves]


def _as_value(c: Any) -> Any:
    if isinstance(c, Array):
        return c._value
    if isinstance(c, Tracer):
        return c
    return np.asarray(c)


def _fmt_sig(s: tuple) -> str:
    return ShapedArray(s[0], s[1], s[2]).str_short() + ("(weak)" if s[2] else "")


def _describe_signature(sigs: tuple, statics: tuple) -> str:
    parts = [_fmt_sig(s) for s in sigs]
    if statics:
        parts.append(f"{len(statics)} static")
    return "(" + ", ".join(parts) + ")"


def _differences(old: tuple, new: tuple) -> list[str]:
    (t_old, s_old, st_old), (t_new, s_new, st_new) = old, new
    out = []
    if t_old != t_new:
        out.append(f"argument structure changed from {t_old} to {t_new}")
    elif s_old != s_new:
        for i, (a, b) in enumerate(zip(s_old, s_new, strict=True)):
            if a == b:
                continue
            if a[0] != b[0]:
                what = "shape"
            elif a[1] != b[1]:
                what = "dtype"
            else:
                what = "weak type"
            out.append(f"{what} of argument leaf {i} changed: {_fmt_sig(a)} -> {_fmt_sig(b)}")
    if st_old != st_new:
        for i, (a, b) in enumerate(zip(st_old, st_new)):
            if a != b:
                out.append(f"static argument {i} changed value")
        if len(st_old) != len(st_new):
            out.append("the set of static arguments changed")
    return out


class StaticArgumentError(errors.FunctransError, TypeError):
    """A static argument of a jitted function cannot key the compile cache."""


def _unhashable_static(fn: JittedFunction, statics: tuple) -> StaticArgumentError:
    for v in statics:
        try:
            hash(v)
        except TypeError:
            return StaticArgumentError(
                f"functrans.jit: a static argument of {errors.function_location(fn.fun)} has "
                f"unhashable type {type(v).__name__}; static arguments key the compile cache, "
                f"so they must be hashable. Pass a tuple instead of a list (or a frozen "
                f"dataclass), or make it a regular (traced) argument.")
    return StaticArgumentError("functrans.jit: unhashable static argument")


def _check_nans(fn: JittedFunction, entry: _Entry, vals: list, outs: Sequence[Any]) -> None:
    if not any(core._has_nan(o) for o in outs):
        return
    # Re-run op by op to find the first equation that produced a NaN.
    jaxpr = entry.jaxpr.jaxpr
    env: dict[Any, Any] = {}
    from functrans.ir import Literal

    def read(a: Any) -> Any:
        return a.val if type(a) is Literal else env[a]

    for v, x in zip(jaxpr.invars, [*entry.consts, *vals], strict=True):
        env[v] = x
    with core.set_current_trace(None):
        for eqn in jaxpr.eqns:
            args = [read(a) for a in eqn.invars]
            out = eqn.prim.bind(*args, **eqn.params)
            outs_e = out if eqn.prim.multiple_results else [out]
            for v, o in zip(eqn.outvars, outs_e, strict=True):
                env[v] = o
            bad = [o for o in outs_e if core._has_nan(o)]
            had = any(core._has_nan(a) for a in args)
            if bad and not had:
                where = f" at {eqn.source_info}" if eqn.source_info else ""
                raise FloatingPointError(
                    f"functrans.config.debug_nans: primitive '{eqn.prim.name}'{where} produced "
                    f"a NaN (in {errors.function_location(fn.fun)}, equation {eqn!r}).")
    raise FloatingPointError(f"functrans.config.debug_nans: {errors.function_location(fn.fun)} "
                             f"returned a NaN that an input already contained")


def jit(fun: Callable | None = None, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), donate_argnums: int | Sequence[int] = (),
        backend: str | None = None, verify: bool = False) -> Any:
    """Compile ``fun``: trace it once per argument signature and run generated code.

    >>> import numpy as np, functrans as ft, functrans.numpy as fnp
    >>> f = ft.jit(lambda x: fnp.sum(fnp.sin(x) * x + 1))
    >>> float(f(np.zeros(4, np.float32)))
    4.0

    Works as ``@jit`` and ``@jit(static_argnums=...)``. A new signature (shapes, dtypes, weak
    types, pytree structure, static values) traces again; ``f.cache_info()`` says why.
    ``backend`` is "numpy" or "triton" (default: Triton on a usable GPU, else NumPy, or
    ``FUNCTRANS_BACKEND``); ``verify=True`` also runs the NumPy backend on every call and
    raises at the first equation whose result differs beyond tolerance.
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames,
                                 donate_argnums=donate_argnums, backend=backend,
                                 verify=verify)
    if backend not in (None, *BACKENDS):
        raise ValueError(f"functrans.jit: unknown backend {backend!r}; available: {BACKENDS}")
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
    donate = (donate_argnums,) if isinstance(donate_argnums, int) else tuple(donate_argnums)
    positional = _positional_params(fun)
    try:
        has_varargs = any(p.kind is p.VAR_POSITIONAL
                          for p in inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        has_varargs = True
    if positional and not has_varargs:
        for i in nums:
            if not -len(positional) <= i < len(positional):
                raise ValueError(
                    f"functrans.jit: static_argnums={nums} refers to argument {i}, but "
                    f"{errors.function_location(fun)} takes {len(positional)} positional "
                    f"argument{'s' if len(positional) != 1 else ''}")
    for name in names:
        if name in positional and positional.index(name) not in nums:
            nums = nums + (positional.index(name),)  # static by position or by name
    return JittedFunction(fun, nums, names, donate, backend, verify)


def _positional_params(fun: Callable) -> list[str]:
    try:
        params = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
