"""The primitive record and the registry of every primitive.

A ``Primitive`` holds everything the system knows about one operation, in one place: its NumPy
``impl``, its ``abstract_eval`` (shape, dtype, weak type), the rule slots that the transforms
read (``jvp``, ``transpose`` + ``linear_in``, ``batch``), per-backend ``lowerings``, the dtypes
it accepts, and a ``sample`` function that produces example inputs for the generic tests.
``define_primitive`` validates the record and registers it; interpreters never list primitives.
Imports ``core`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from functrans import core

FAMILIES = (
    "unary", "binary", "compare", "logical", "select", "convert", "reduction", "cumulative",
    "structural", "indexing", "sort", "contraction", "identity", "random", "control", "call",
    "linalg", "fft", "collective", "custom", "other",
)
BACKENDS = ("numpy", "triton")


@dataclass(frozen=True)
class Example:
    """One sample input of a primitive: positional array arguments and params."""

    args: tuple[Any, ...]
    params: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def label(self) -> str:
        shapes = ",".join(
            f"{np.asarray(a).dtype.name}{list(np.shape(a))}" for a in self.args)
        extra = f"-{self.note}" if self.note else ""
        return f"{shapes}{extra}"


class RuleBuilder:
    """A rule made by a builder that needs its primitive (e.g. a jvp rule that re-binds it):
    ``define_primitive`` calls ``build(prim)`` to get the actual rule."""

    __slots__ = ("build",)

    def __init__(self, build: Callable[[Any], Callable]):
        self.build = build

    def specialize(self, prim: Any) -> Callable:
        return self.build(prim)


class Primitive:
    """One operation and all of its rules. See the module docstring."""

    __slots__ = ("name", "family", "impl", "abstract_eval", "multiple_results", "dtypes",
                 "sample", "jvp", "transpose", "linear_in", "batch", "partial_eval",
                 "lowerings", "doc", "effectful")

    def __init__(self, name: str, *, family: str, impl: Callable, abstract_eval: Callable,
                 dtypes: Iterable[np.dtype], sample: Callable[[np.dtype], Sequence[Example]],
                 multiple_results: bool = False, jvp: Callable | None = None,
                 transpose: Callable | None = None,
                 linear_in: tuple[int, ...] | str | None = None,
                 batch: Callable | None = None, partial_eval: Callable | None = None,
                 lowerings: dict[str, Any] | None = None, doc: str = "",
                 effectful: bool = False):
        self.name = name
        self.family = family
        self.impl = impl
        self.abstract_eval = abstract_eval
        self.multiple_results = multiple_results
        self.dtypes = frozenset(np.dtype(d) for d in dtypes)
        self.sample = sample
        self.jvp = jvp
        self.transpose = transpose
        self.linear_in = linear_in
        self.batch = batch
        # Call-like primitives (checkpoint, jit, control flow) split themselves into a known
        # part evaluated now and an unknown part staged for the backward pass.
        self.partial_eval = partial_eval
        self.lowerings = dict(lowerings or {})
        self.doc = doc
        self.effectful = effectful

    def bind(self, *args: Any, **params: Any) -> Any:
        trace = _trace_var.get()
        if trace is None:
            return core.eval_primitive(self, args, params)
        return trace.process_primitive(self, args, params)

    def __repr__(self) -> str:
        return self.name


_trace_var = core._trace_var  # read on every bind
_REGISTRY: dict[str, Primitive] = {}


class PrimitiveDefinitionError(Exception):
    """A primitive record is malformed (a bug in functrans, caught at import time)."""


def define_primitive(name: str, **fields: Any) -> Primitive:
    """Create, validate and register a primitive. See ``Primitive`` for the fields."""
    if name in _REGISTRY:
        raise PrimitiveDefinitionError(f"primitive {name!r} is defined twice")
    prim = Primitive(name, **fields)
    _specialize_rules(prim)
    _validate(prim)
    _REGISTRY[name] = prim
    return prim


def _specialize_rules(p: Primitive) -> None:
    """Rules made by builders (``ad_rules.jvp_partials(...)``) learn their primitive here."""
    for slot in ("jvp", "transpose", "batch"):
        rule = getattr(p, slot)
        if isinstance(rule, RuleBuilder):
            setattr(p, slot, rule.specialize(p))


def _validate(p: Primitive) -> None:
    def bad(what: str) -> PrimitiveDefinitionError:
        return PrimitiveDefinitionError(f"primitive {p.name!r}: {what}")

    if p.family not in FAMILIES:
        raise bad(f"unknown family {p.family!r}; expected one of {FAMILIES}")
    if not callable(p.impl) or not callable(p.abstract_eval) or not callable(p.sample):
        raise bad("impl, abstract_eval and sample must be callables")
    if (p.transpose is None) != (p.linear_in is None):
        raise bad("transpose and linear_in go together: give both or neither")
    if isinstance(p.linear_in, str) and p.linear_in != "all":
        raise bad(f"linear_in must be a tuple of operand positions or 'all', got "
                  f"{p.linear_in!r}")
    for key in p.lowerings:
        if key not in BACKENDS:
            raise bad(f"lowering for unknown backend {key!r}; expected one of {BACKENDS}")
    if not p.dtypes:
        raise bad("claims no dtypes")


def get_primitive(name: str) -> Primitive:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no primitive named {name!r}") from None


def all_primitives() -> list[Primitive]:
    """Every registered primitive, in definition order."""
    return list(_REGISTRY.values())


def set_rule(prim: Primitive, slot: str, rule: Any) -> None:
    """Fill a rule slot after definition (for rules that need a later module, e.g. jvp rules
    that bind other primitives defined below). Refuses to overwrite an existing rule."""
    if slot not in ("jvp", "transpose", "batch", "linear_in", "partial_eval"):
        raise ValueError(f"set_rule: unknown slot {slot!r}")
    if getattr(prim, slot) is not None:
        raise PrimitiveDefinitionError(f"primitive {prim.name!r}: {slot} rule set twice")
    setattr(prim, slot, rule.specialize(prim) if isinstance(rule, RuleBuilder) else rule)
