"""``einsum`` and ``einsum_path`` for ``functrans.numpy``, with our own contraction-order search.

Each operand's repeated labels become diagonals and labels no one else needs are summed away;
then operands are contracted pairwise with ``lax.dot_general`` in the order a path search picks,
counting FLOPs like NumPy/opt_einsum: 'greedy' contracts the pair whose result removes the most
memory (ties by FLOPs), 'optimal' minimizes total FLOPs by dynamic programming over partitions
of the operands (up to 8). Imports ``lax`` and the fnp modules.
"""

from __future__ import annotations

import functools
import itertools
import math
import string
from collections.abc import Sequence
from typing import Any, NamedTuple

from functrans import dtypes as dt
from functrans import lax
from functrans.errors import ShapeError
from functrans.numpy import _selection
from functrans.numpy._promotion import (
    asarray_leaf, cast, promote_dtypes, shape_of, typeof,
)

__all__ = ["einsum", "einsum_path"]

_LETTERS = string.ascii_letters
_OPTIMAL_LIMIT = 8  # operands; the partition DP grows like the Bell numbers beyond this


def _err(msg: str, name: str = "einsum") -> str:
    return f"functrans.numpy.{name}: {msg}"


# --- parsing ------------------------------------------------------------------------------------


class Spec(NamedTuple):
    """A parsed expression: one label string per operand, the output labels, and the size of
    every label. Ellipsis dimensions get private labels (characters past U+0100)."""

    inputs: tuple[str, ...]
    output: str
    sizes: dict[str, int]
    text: str


def _interleaved(args: Sequence[Any]) -> tuple[str, list[Any]]:
    """NumPy's ``einsum(op0, sublist0, op1, sublist1, ..., [sublistout])`` form as a string."""
    args = list(args)
    out_sub = args.pop() if len(args) % 2 == 1 else None
    operands, terms = args[0::2], args[1::2]

    def label(s: Any) -> str:
        if s is Ellipsis:
            return "..."
        i = int(s)
        if not 0 <= i < len(_LETTERS):
            raise ValueError(_err(f"subscript integers must be in [0, {len(_LETTERS)}), got "
                                  f"{s}"))
        return _LETTERS[i]

    text = ",".join("".join(label(s) for s in t) for t in terms)
    if out_sub is not None:
        text += "->" + "".join(label(s) for s in out_sub)
    return text, operands


def _parse(subscripts: str, shapes: list[tuple[int, ...]]) -> Spec:
    text = subscripts.replace(" ", "")
    if "->" in text:
        lhs, out = text.split("->", 1)
        if "->" in out:
            raise ValueError(_err(f"subscripts {subscripts!r} contain '->' more than once"))
        explicit = True
    else:
        lhs, out, explicit = text, "", False
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(_err(f"subscripts {subscripts!r} name {len(terms)} operand(s) but "
                              f"{len(shapes)} were given"))
    for t in terms + [out]:
        bad = set(t.replace("...", "")) - set(_LETTERS)
        if bad or t.count("...") > 1 or "." in t.replace("...", ""):
            raise ValueError(_err(f"invalid subscript {t!r} in {subscripts!r}: use letters a-z, "
                                  f"A-Z and at most one '...' per term"))
    # Ellipses: each covers the operand's dimensions not named by letters, aligned from the
    # right across operands (NumPy's broadcasting).
    n_ell = 0
    for t, s in zip(terms, shapes, strict=True):
        named = len(t.replace("...", ""))
        if "..." in t:
            if len(s) < named:
                raise ValueError(_err(f"operand of shape {s} has fewer dimensions than the "
                                      f"{named} labels of subscript {t!r}"))
            n_ell = max(n_ell, len(s) - named)
        elif len(s) != named:
            raise ValueError(_err(f"operand of shape {s} (rank {len(s)}) does not match "
                                  f"subscript {t!r} ({named} labels)"))
    ell = "".join(chr(0x100 + i) for i in range(n_ell))
    inputs = []
    for t, s in zip(terms, shapes, strict=True):
        if "..." in t:
            k = len(s) - len(t.replace("...", ""))
            t = t.replace("...", ell[n_ell - k:])
        inputs.append(t)
    if explicit:
        if "..." in out:
            out = out.replace("...", ell)
        elif n_ell and any("..." in t for t in terms):
            raise ValueError(_err(f"output has more dimensions than subscripts given in "
                                  f"{subscripts!r}, but no '...' to broadcast the extra "
                                  f"dimensions"))
        seen = set()
        for c in out:
            if c in seen:
                raise ValueError(_err(f"output subscript {c!r} appears more than once in "
                                      f"{subscripts!r}"))
            seen.add(c)
            if not any(c in t for t in inputs):
                raise ValueError(_err(f"output subscript {c!r} does not appear in any input "
                                      f"of {subscripts!r}"))
    else:
        counts = {c: sum(t.count(c) for t in inputs) for c in set("".join(inputs))}
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    sizes: dict[str, int] = {}
    for i, (t, s) in enumerate(zip(inputs, shapes, strict=True)):
        for c, d in zip(t, s, strict=True):
            prev = sizes.get(c)
            if prev is None or prev == 1:
                sizes[c] = d
            elif d not in (1, prev):
                shown = _show(c)
                raise ShapeError(_err(f"size of label {shown} for operand {i} ({d}) does not "
                                      f"match previous terms ({prev}) in {subscripts!r} with "
                                      f"shapes {', '.join(map(str, shapes))}"))
    for t, s in zip(inputs, shapes, strict=True):
        for c in set(t):
            dims = {d for cc, d in zip(t, s, strict=True) if cc == c}
            if len(dims) > 1:
                raise ShapeError(_err(f"label {_show(c)} is repeated in subscript with "
                                      f"different sizes {sorted(dims)} (shape {s})"))
    return Spec(tuple(inputs), out, sizes, text)


def _show(c: str) -> str:
    return f"'{c}'" if c in _LETTERS else "of an ellipsis dimension"


# --- path search --------------------------------------------------------------------------------


def _size(labels: Any, sizes: dict[str, int]) -> int:
    return math.prod(sizes[c] for c in labels)


def _flops(labels: Any, inner: bool, num_terms: int, sizes: dict[str, int]) -> int:
    """NumPy's/opt_einsum's count: one multiply per term pair plus one add when summing."""
    factor = max(1, num_terms - 1) + (1 if inner else 0)
    return _size(labels, sizes) * factor


class _Problem:
    """Label sets of the (deduplicated, pre-reduced) operands and the output."""

    def __init__(self, terms: list[frozenset], output: frozenset, sizes: dict[str, int]):
        self.terms = terms
        self.output = output
        self.sizes = sizes

    def kept(self, block: frozenset[int]) -> frozenset:
        """Labels an intermediate holding operands ``block`` must keep: those of the output
        and of operands outside the block."""
        inside = frozenset().union(*(self.terms[i] for i in block))
        outside = frozenset().union(*(self.terms[i] for i in range(len(self.terms))
                                      if i not in block))
        return inside & (self.output | outside)

    def merge_cost(self, a: frozenset[int], b: frozenset[int]) -> tuple[int, int, frozenset]:
        la, lb = self.kept(a), self.kept(b)
        both = la | lb
        out = self.kept(a | b)
        flops = _flops(both, bool(both - out), 2, self.sizes)
        return flops, _size(out, self.sizes), out


def _greedy(problem: _Problem) -> list[tuple[frozenset, frozenset]]:
    blocks = [frozenset([i]) for i in range(len(problem.terms))]
    merges = []
    while len(blocks) > 1:
        best = None
        pairs = [(i, j) for i, j in itertools.combinations(range(len(blocks)), 2)
                 if problem.kept(blocks[i]) & problem.kept(blocks[j])]
        if not pairs:  # only outer products remain
            pairs = list(itertools.combinations(range(len(blocks)), 2))
        for i, j in pairs:
            a, b = blocks[i], blocks[j]
            flops, size, _ = problem.merge_cost(a, b)
            removed = size - _size(problem.kept(a), problem.sizes) - _size(problem.kept(b),
                                                                           problem.sizes)
            key = (removed, flops, i, j)
            if best is None or key < best[0]:
                best = (key, i, j)
        _, i, j = best  # type: ignore[misc]
        merges.append((blocks[i], blocks[j]))
        blocks = [blk for k, blk in enumerate(blocks) if k not in (i, j)] + [blocks[i] | blocks[j]]
    return merges


def _optimal(problem: _Problem) -> list[tuple[frozenset, frozenset]]:
    n = len(problem.terms)

    @functools.cache
    def best(state: frozenset) -> tuple[int, int, tuple]:
        """(total FLOPs, largest intermediate, merges) to reduce ``state`` to one block."""
        if len(state) == 1:
            return 0, 0, ()
        result = None
        blocks = sorted(state, key=sorted)
        for a, b in itertools.combinations(blocks, 2):
            flops, size, _ = problem.merge_cost(a, b)
            rest = best(state - {a, b} | {a | b})
            cand = (flops + rest[0], max(size, rest[1]), ((a, b),) + rest[2])
            if result is None or cand[:2] < result[:2]:
                result = cand
        return result  # type: ignore[return-value]

    return list(best(frozenset(frozenset([i]) for i in range(n)))[2])


def _naive(problem: _Problem) -> list[tuple[frozenset, frozenset]]:
    merges = []
    acc = frozenset([0])
    for i in range(1, len(problem.terms)):
        merges.append((acc, frozenset([i])))
        acc = acc | {i}
    return merges


def _to_positions(n: int, merges: list[tuple[frozenset, frozenset]]) -> list[tuple[int, int]]:
    """Merges as NumPy's path: positions in the current operand list, where the two operands
    are removed and their result appended at the end."""
    current = [frozenset([i]) for i in range(n)]
    path = []
    for a, b in merges:
        i, j = sorted((current.index(a), current.index(b)))
        path.append((i, j))
        current = [blk for k, blk in enumerate(current) if k not in (i, j)] + [a | b]
    return path


def _from_positions(n: int, path: Sequence[Any]) -> list[tuple[frozenset, frozenset]]:
    current = [frozenset([i]) for i in range(n)]
    merges = []
    for step in path:
        step = tuple(int(k) for k in step)
        if len(step) == 1:
            continue
        if len(step) != 2 or len(set(step)) != 2 or not all(0 <= k < len(current)
                                                             for k in step):
            raise ValueError(_err(f"invalid contraction path step {step} for {len(current)} "
                                  f"remaining operands (each step names two of them)"))
        i, j = sorted(step)
        merges.append((current[i], current[j]))
        current = [blk for k, blk in enumerate(current) if k not in (i, j)] + \
            [current[i] | current[j]]
    if len(current) != 1:
        raise ValueError(_err(f"the contraction path leaves {len(current)} operands; it must "
                              f"contract all of them"))
    return merges


def _choose(problem: _Problem, optimize: Any) -> list[tuple[frozenset, frozenset]]:
    n = len(problem.terms)
    if n < 2:
        return []
    if isinstance(optimize, (list, tuple)):
        steps = list(optimize)
        if steps and steps[0] == "einsum_path":
            steps = steps[1:]
        return _from_positions(n, steps)
    if optimize is False or optimize is None:
        return _naive(problem)
    if optimize is True or optimize == "greedy":
        return _greedy(problem)
    if optimize == "auto":
        return _optimal(problem) if n <= 4 else _greedy(problem)
    if optimize == "optimal":
        if n > _OPTIMAL_LIMIT:
            raise ValueError(_err(f"optimize='optimal' searches exhaustively and is limited to "
                                  f"{_OPTIMAL_LIMIT} operands (got {n}); use 'greedy'"))
        return _optimal(problem)
    raise ValueError(_err(f"optimize must be True, False, 'auto', 'greedy', 'optimal' or a "
                          f"path, got {optimize!r}"))


# --- lowering -----------------------------------------------------------------------------------


def _take_diagonals(a: Any, term: str) -> tuple[Any, str]:
    """Repeated labels within one operand become a diagonal (moved to the last axis)."""
    while True:
        dup = next((c for c in term if term.count(c) > 1), None)
        if dup is None:
            return a, term
        i = term.index(dup)
        j = term.index(dup, i + 1)
        a = _selection.diagonal(a, 0, i, j)
        term = "".join(c for k, c in enumerate(term) if k not in (i, j)) + dup


def _sum_out(a: Any, term: str, drop: set[str]) -> tuple[Any, str]:
    axes = tuple(k for k, c in enumerate(term) if c in drop)
    if not axes:
        return a, term
    return lax.reduce_sum(a, axes), "".join(c for c in term if c not in drop)


def _squeeze_broadcast(a: Any, term: str, sizes: dict[str, int]) -> tuple[Any, str]:
    """Size-1 dimensions that broadcast against larger ones elsewhere are dropped: an absent
    label is constant along that dimension, which is what broadcasting means."""
    drop = tuple(k for k, c in enumerate(term) if shape_of(a)[k] == 1 and sizes[c] != 1)
    if not drop:
        return a, term
    return lax.squeeze(a, drop), "".join(c for k, c in enumerate(term) if k not in drop)


def _contract_pair(a: Any, ta: str, b: Any, tb: str, keep: frozenset, precision: Any,
                   preferred: Any) -> tuple[Any, str]:
    a, ta = _sum_out(a, ta, {c for c in ta if c not in tb and c not in keep})
    b, tb = _sum_out(b, tb, {c for c in tb if c not in ta and c not in keep})
    shared = [c for c in ta if c in tb]
    batch = [c for c in shared if c in keep]
    contract = [c for c in shared if c not in keep]
    dims = ((tuple(ta.index(c) for c in contract), tuple(tb.index(c) for c in contract)),
            (tuple(ta.index(c) for c in batch), tuple(tb.index(c) for c in batch)))
    out = lax.dot_general(a, b, dims, precision=precision, preferred_element_type=preferred)
    term = "".join(batch) + "".join(c for c in ta if c not in shared) + \
        "".join(c for c in tb if c not in shared)
    return out, term


def _prepare(subscripts: Any, operands: Sequence[Any], name: str = "einsum"
             ) -> tuple[Spec, list[Any]]:
    if not isinstance(subscripts, str):
        subscripts, operands = _interleaved([subscripts, *operands])
    arrays = [asarray_leaf(o) for o in operands]
    spec = _parse(subscripts, [shape_of(a) for a in arrays])
    return spec, arrays


def _problem(spec: Spec) -> tuple[_Problem, list[str]]:
    """The path-search problem (one label set per operand) and the operands' terms."""
    terms = [frozenset(t) for t in spec.inputs]
    return _Problem(terms, frozenset(spec.output), spec.sizes), list(spec.inputs)


def einsum(subscripts: Any, /, *operands: Any, out: None = None, optimize: Any = "auto",
           precision: Any = None, preferred_element_type: Any = None) -> Any:
    """Einstein summation (like numpy.einsum): implicit and explicit outputs, '...',
    repeated labels (diagonals, traces), labels summed away, size-1 broadcasting, and NumPy's
    interleaved ``einsum(a, [0, 1], b, [1, 2])`` form.

    Operands are contracted pairwise with ``lax.dot_general`` in an order chosen by
    ``optimize``: 'auto' (exhaustive for up to 4 operands, else greedy), 'greedy'/True,
    'optimal' (exhaustive, up to 8 operands), False (left to right), or a path as returned by
    ``einsum_path``. ``precision`` and ``preferred_element_type`` go to every dot_general.

    >>> import functrans.numpy as fnp
    >>> fnp.einsum('ij,jk->ik', fnp.ones((2, 3)), fnp.ones((3, 4))).shape
    (2, 4)
    """
    if out is not None:
        raise NotImplementedError(_err("out= is not supported (arrays are immutable)"))
    spec, arrays = _prepare(subscripts, operands)
    arrays = promote_dtypes(*arrays) if arrays else arrays
    if not arrays:
        raise ValueError(_err("needs at least one operand"))
    preferred = None if preferred_element_type is None else dt.canonicalize(
        preferred_element_type)
    problem, terms = _problem(spec)
    merges = _choose(problem, optimize)
    # Per-operand preparation: diagonals, broadcasting, and labels nobody else needs.
    ops: dict[frozenset, tuple[Any, str]] = {}
    for i, (a, t) in enumerate(zip(arrays, terms, strict=True)):
        a, t = _take_diagonals(a, t)
        a, t = _squeeze_broadcast(a, t, spec.sizes)
        a, t = _sum_out(a, t, set(t) - problem.kept(frozenset([i])))
        ops[frozenset([i])] = (a, t)
    for blk_a, blk_b in merges:
        (a, ta), (b, tb) = ops.pop(blk_a), ops.pop(blk_b)
        ops[blk_a | blk_b] = _contract_pair(a, ta, b, tb, problem.kept(blk_a | blk_b),
                                            precision, preferred)
    ((result, term),) = ops.values()
    result, term = _sum_out(result, term, set(term) - set(spec.output))
    missing = [c for c in spec.output if c not in term]
    if missing:
        # Output labels only size-1 operands had: broadcast back.
        shape = tuple(spec.sizes[c] for c in spec.output)
        present = [c for c in spec.output if c in term]
        result = lax.transpose(result, tuple(term.index(c) for c in present)) \
            if present else result
        result = lax.broadcast_in_dim(result, shape, tuple(spec.output.index(c)
                                                           for c in present))
    elif term != spec.output:
        result = lax.transpose(result, tuple(term.index(c) for c in spec.output))
    if preferred is not None and typeof(result)[0] != preferred:
        result = cast(result, preferred)
    return result


def _fmt_term(t: str) -> str:
    return "".join(c if c in _LETTERS else "." for c in t)


def einsum_path(subscripts: Any, /, *operands: Any, optimize: Any = "auto"
                ) -> tuple[list[Any], str]:
    """The contraction order einsum would use and a report of its cost, like
    numpy.einsum_path: ``(['einsum_path', (i, j), ...], text)``. FLOPs are counted as in
    NumPy (one multiply per pair, plus one add when a label is summed)."""
    spec, _ = _prepare(subscripts, operands, "einsum_path")
    problem, terms = _problem(spec)
    merges = _choose(problem, optimize)
    path = _to_positions(len(terms), merges)
    all_labels = set("".join(spec.inputs))
    naive = _flops(all_labels, bool(all_labels - set(spec.output)), len(terms), spec.sizes)
    rows = []
    current = [(frozenset([i]), "".join(dict.fromkeys(t))) for i, t in enumerate(terms)]
    total, largest, scaling = 0, 0, 0
    for a, b in merges:
        (ta,) = [t for blk, t in current if blk == a]
        (tb,) = [t for blk, t in current if blk == b]
        kept = problem.kept(a | b)
        flops, size, _ = problem.merge_cost(a, b)
        total += flops
        largest = max(largest, size)
        idx = set(ta) | set(tb)
        scaling = max(scaling, len(idx))
        out_t = "".join(sorted(kept))
        current = [(blk, t) for blk, t in current if blk not in (a, b)] + [(a | b, out_t)]
        remaining = ",".join(_fmt_term(t) for _, t in current) + "->" + _fmt_term(spec.output)
        rows.append((len(idx), f"{_fmt_term(tb)},{_fmt_term(ta)}->{_fmt_term(out_t)}",
                     remaining))
    total = max(total, 1) if merges else naive
    lines = [
        (f"  Complete contraction:  {','.join(map(_fmt_term, spec.inputs))}->"
         f"{_fmt_term(spec.output)}"),
        f"         Naive scaling:  {len(all_labels)}",
        f"     Optimized scaling:  {scaling or len(all_labels)}",
        f"      Naive FLOP count:  {naive:.3e}",
        f"  Optimized FLOP count:  {total:.3e}",
        f"   Theoretical speedup:  {naive / max(total, 1):.3f}",
        f"  Largest intermediate:  {float(largest):.3e} elements",
        "-" * 74,
        f"{'scaling':>7}{'current':>25}{'remaining':>40}",
        "-" * 74,
    ] + [f"{s:>4}{cur:>28}{rem:>40}" for s, cur, rem in rows]
    return ["einsum_path", *path], "\n".join(lines)


def path_flops(subscripts: str, *operands: Any, optimize: Any = "greedy") -> int:
    """Total FLOPs of the pairwise contractions einsum would run (for tests and tuning)."""
    spec, _ = _prepare(subscripts, operands)
    problem, _ = _problem(spec)
    return sum(problem.merge_cost(a, b)[0] for a, b in _choose(problem, optimize))



