"""Gradient checking: functrans' forward and reverse mode against central finite differences.

``check_grads`` compares ``functrans.jvp`` and ``functrans.vjp`` of a function with finite
differences along a few random directions, recursively up to a given order, and checks that
the two modes are transposes of each other. Finite differences run on float64 copies of the
inputs whenever the function accepts them, so float16/float32 functions are checked against
an accurate reference; failures say which side is autodiff, which is numerical, and where they
differ. Imports numpy and functrans (core, tree_util, errors, the derivative API) only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from functrans import core, errors, tree_util
from functrans import dtypes as dt
from functrans.primitives.ad_rules import tangent_aval

__all__ = ["check_grads", "check_jvp", "check_vjp", "default_tolerance"]

Tolerance = float | Mapping[Any, float] | None

# Relative tolerances by the real dtype of the values involved. Autodiff runs in the input
# dtype; finite differences either in float64 (accurate: the table only covers autodiff's own
# rounding) or, when the function cannot run in float64, in the input dtype (less accurate).
_TOL_FD64 = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-4,
             np.dtype(np.float64): 1e-6}
_TOL_NATIVE = {np.dtype(np.float16): 3e-2, np.dtype(np.float32): 1e-3,
               np.dtype(np.float64): 1e-6}
_LOCALIZE_MAX = 256   # reverse-mode failures are localized per input element up to this size
_NOISE_SAFETY = 2.0   # evaluation error of f, in ulps of its outputs
_STEP_SAFETY = 3.0    # finite-difference error, in units of its change when the step doubles
_PRECISION_SAFETY = 4.0  # autodiff rounding, in units of f's own rounding error in its dtype


def _real_dtype(dtype: np.dtype) -> np.dtype:
    return np.finfo(dtype).dtype if dtype.kind in "fc" else dtype


def _wide_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.complex128) if dtype.kind == "c" else np.dtype(np.float64)


def default_tolerance(dtype: Any, fd_in_float64: bool = True) -> float:
    """The default relative tolerance of ``check_grads`` for values of ``dtype``.

    >>> default_tolerance("float16"), default_tolerance("float32", fd_in_float64=False)
    (0.01, 0.001)
    """
    real = _real_dtype(np.dtype(dtype))
    table = _TOL_FD64 if fd_in_float64 else _TOL_NATIVE
    if real in table:
        return table[real]
    # Other float formats (bfloat16 through ml_dtypes...): scale with the machine epsilon.
    eps = float(np.finfo(real).eps)
    return min(0.1, 10 * eps if fd_in_float64 else 30 * eps)


def _resolve_tol(user: Tolerance, dtypes: Sequence[np.dtype], wide: bool, name: str) -> float:
    if isinstance(user, (int, float)) and not isinstance(user, bool):
        if user < 0:
            raise ValueError(f"check_grads: {name} must be >= 0, got {user}")
        return float(user)
    if user is not None and not isinstance(user, Mapping):
        raise TypeError(f"check_grads: {name} must be a number, a dict {{dtype: tolerance}} or "
                        f"None, got {type(user).__name__}")
    table = {np.dtype(k): float(v) for k, v in (user or {}).items()}
    return max((table.get(d, default_tolerance(d, wide)) for d in dtypes), default=0.0)


# --- pytree leaves ------------------------------------------------------------------------------


class _Leaves(NamedTuple):
    """A flattened pytree: its structure, leaves, key paths and avals."""

    tree: Any
    leaves: list[Any]
    paths: list[str]
    avals: list[core.ShapedArray]

    @classmethod
    def of(cls, tree: Any) -> _Leaves:
        pairs, treedef = tree_util.tree_flatten_with_path(tree)
        leaves = [leaf for _, leaf in pairs]
        for (p, leaf) in pairs:
            if not core.is_array_like(leaf):
                raise TypeError(f"check_grads: the leaf at {tree_util.keystr(p) or 'the top'} "
                                f"is a {type(leaf).__name__}, not an array or scalar")
        return cls(treedef, leaves, [tree_util.keystr(p) for p, _ in pairs],
                   [core.get_aval(x) for x in leaves])

    @property
    def inexact(self) -> list[bool]:
        return [a.dtype.kind in "fc" for a in self.avals]

    def unflatten(self, leaves: Sequence[Any]) -> Any:
        return tree_util.tree_unflatten(self.tree, list(leaves))


def _as_arrays(leaves: Sequence[Any]) -> list[Any]:
    """NumPy leaves as functrans Arrays, so that f's operators follow functrans' semantics
    (promotion, weak types) as they do under a transformation, not NumPy's."""
    from functrans.numpy import asarray
    return [asarray(x) if isinstance(x, (np.ndarray, np.generic)) else x for x in leaves]


def as_functrans(tree: Any) -> Any:
    """``tree`` with its NumPy leaves turned into functrans Arrays."""
    leaves, treedef = tree_util.tree_flatten(tree)
    return tree_util.tree_unflatten(treedef, _as_arrays(leaves))


def _np(x: Any) -> np.ndarray:
    return np.asarray(x)


def _wide(x: Any) -> np.ndarray:
    a = np.asarray(x)
    return a.astype(_wide_dtype(a.dtype)) if a.dtype.kind in "fc" else a


def _like_leaf(value: np.ndarray, leaf: Any, aval: core.ShapedArray) -> Any:
    """``value`` in the form of ``leaf``: Python scalars stay Python scalars (weakly typed)."""
    if type(leaf) in (float, complex):
        return type(leaf)(value)
    return np.asarray(value, dtype=aval.dtype)


def _element(path: str, shape: tuple[int, ...], flat_index: int) -> str:
    idx = np.unravel_index(flat_index, shape) if shape else ()
    suffix = "[" + ", ".join(str(int(i)) for i in idx) + "]" if idx else ""
    return (path + suffix) or "()"


def _fmt(x: Any) -> str:
    if isinstance(x, complex) or np.iscomplexobj(x):
        x = complex(x)
        return f"{x.real:.6g}{x.imag:+.6g}j"
    return f"{float(x):.6g}"


def _maxabs(x: np.ndarray) -> float:
    a = np.abs(x)
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else 0.0


def _pair(a: np.ndarray, b: np.ndarray) -> float:
    """The real pairing Re(sum(a * b)) that functrans' transposes satisfy."""
    return float(np.real(np.sum(_wide(a) * _wide(b))))


def _abs_pair(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum(np.abs(_wide(a)) * np.abs(_wide(b))))


# --- finite differences -------------------------------------------------------------------------


class _FiniteDifferences:
    """Central differences of ``f`` at ``args``, in float64 when ``f`` supports it.

    ``magnitude`` is the size of the values f combines internally when that is known to exceed
    its outputs (the derivative functions of order 2 and up cancel them down to their outputs),
    so the rounding-noise estimate covers them.
    """

    def __init__(self, f: Callable, ins: _Leaves, outs: _Leaves, eps: float | None,
                 magnitude: float = 0.0):
        self.f, self.ins, self.outs, self.magnitude = f, ins, outs, magnitude
        self.base_wide: list[np.ndarray] | None = None   # f at the float64 copies
        self.wide, self.why_native = self._try_wide()
        if eps is None:
            # in the function's own precision, the coarsest of its inputs and outputs counts
            native = [a.dtype for a, d in zip(ins.avals, ins.inexact, strict=True) if d]
            native += [a.dtype for a in outs.avals if a.dtype.kind in "fc"]
            machine = max((float(np.finfo(np.float64 if self.wide else p).eps)
                           for p in native), default=2.0 ** -52)
            # The cube root of machine epsilon balances rounding (eps/h) against truncation
            # (h^2); a power of two keeps x +- h*v as exact as the format allows.
            eps = 2.0 ** round(math.log2(machine ** (1 / 3)))
        elif not eps > 0:
            raise ValueError(f"check_grads: eps must be > 0, got {eps}")
        self.eps = float(eps)

    def _points(self, direction: Sequence[np.ndarray | None], step: float) -> list[Any]:
        out = []
        for leaf, aval, v in zip(self.ins.leaves, self.ins.avals, direction, strict=True):
            if v is None:
                out.append(leaf)
                continue
            x = _wide(leaf) + step * _wide(v)
            out.append(x if self.wide else _like_leaf(x.astype(aval.dtype), leaf, aval))
        return out

    def call(self, leaves: Sequence[Any]) -> list[np.ndarray]:
        out = self.f(*self.ins.unflatten(_as_arrays(leaves)))
        flat, tree = tree_util.tree_flatten(out)
        if tree != self.outs.tree:
            raise TypeError(f"check_grads: the function returned structure {tree} at a "
                            f"perturbed input, but {self.outs.tree} at the input")
        return [_np(o) for o in flat]

    def _try_wide(self) -> tuple[bool, str]:
        wide_in = [_wide(x) if d else x
                   for x, d in zip(self.ins.leaves, self.ins.inexact, strict=True)]
        try:
            got = self.call(wide_in)
        except Exception as e:  # noqa: BLE001 - any failure means: not usable in float64
            return False, f"evaluating it on float64 inputs raised {type(e).__name__}: {e}"
        for path, g, a in zip(self.outs.paths, got, self.outs.avals, strict=True):
            want = _wide_dtype(a.dtype) if a.dtype.kind in "fc" else a.dtype
            if g.dtype != want or g.shape != a.shape:
                return False, (f"on float64 inputs its output {path + ' ' if path else ''}is "
                               f"{g.dtype}{list(g.shape)}, not {want}{list(a.shape)}")
        self.base_wide = got
        return True, ""

    def effective(self, direction: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
        """The direction actually taken once x +- eps*v is rounded to the evaluation dtype.

        In float64 this is ``direction`` itself; in float16 it keeps the difference quotient
        consistent with the tangent autodiff gets (tiny elements may round to no step at all).
        """
        if self.wide:
            return list(direction)
        plus, minus = self._points(direction, self.eps), self._points(direction, -self.eps)
        return [None if v is None else
                ((_wide(p) - _wide(m)) / (2 * self.eps)).astype(v.dtype)
                for v, p, m in zip(direction, plus, minus, strict=True)]

    def _quotients(self, direction: Sequence[np.ndarray | None], h: float
                   ) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
        plus = self.call(self._points(direction, h))
        minus = self.call(self._points(direction, -h))
        quotients, noises = [], []
        for p, m, a in zip(plus, minus, self.outs.avals, strict=True):
            if a.dtype.kind not in "fc":
                quotients.append(None)
                noises.append(None)
                continue
            p, m = _wide(p), _wide(m)
            machine = float(np.finfo(_wide_dtype(a.dtype) if self.wide else a.dtype).eps)
            with np.errstate(invalid="ignore", over="ignore"):
                quotients.append((p - m) / (2 * h))
                size = np.maximum(np.abs(p) + np.abs(m), 2 * self.magnitude)
                noises.append(_NOISE_SAFETY * machine * size / (2 * h))
        return quotients, noises

    def jvp(self, direction: Sequence[np.ndarray | None], estimate_error: bool = True
            ) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
        """Per output leaf: the difference quotient and a bound on its error (None where the
        output is not inexact).

        The bound adds a rounding-noise model to the change of the quotient when the step is
        doubled, which measures truncation and rounding error alike without knowing f.
        """
        q, noise = self._quotients(direction, self.eps)
        if not estimate_error:
            return q, noise
        q2, _ = self._quotients(direction, 2 * self.eps)
        with np.errstate(invalid="ignore", over="ignore"):
            err = [None if a is None else n + _STEP_SAFETY * np.abs(a - b)
                   for a, b, n in zip(q, q2, noise, strict=True)]
        return q, err

    def describe(self) -> str:
        dtypes = sorted({str(a.dtype) for a, d in
                         zip(self.ins.avals, self.ins.inexact, strict=True) if d})
        where = (f"a float64 evaluation of the {'/'.join(dtypes)} function" if self.wide else
                 f"the function's own {'/'.join(dtypes)} precision ({self.why_native})")
        return f"central differences with step {self.eps:.3g} (relative to |x|), in {where}"


# --- the comparisons ----------------------------------------------------------------------------


class _Worst(NamedTuple):
    index: int
    n_bad: int
    ad: Any
    fd: Any
    abs_err: float
    allowed: float
    atol: float
    noise: float


def _worst(ad: np.ndarray, fd: np.ndarray, atol: float, rtol: float,
           noise: np.ndarray | float) -> _Worst | None:
    """The worst element where |ad - fd| > atol + rtol*|fd| + noise (None if all agree)."""
    shape = np.shape(fd)
    ad, fd = _wide(ad).ravel(), _wide(fd).ravel()
    noise = np.broadcast_to(np.nan_to_num(np.asarray(noise, float), posinf=0.0), shape).ravel()
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(ad - fd)
        allowed = atol + rtol * np.abs(fd) + noise
        same = (ad == fd) | (np.isnan(ad) & np.isnan(fd))
        bad = ~same & ~(err <= allowed)   # NaN on one side only counts as bad
    if not bad.any():
        return None
    score = np.where(bad, np.nan_to_num(err, nan=np.inf), -1.0)
    i = int(np.argmax(score))
    return _Worst(i, int(bad.sum()), ad[i], fd[i], float(np.nan_to_num(err[i], nan=np.inf)),
                  float(allowed[i]), atol, float(noise[i]))


def _explain(w: _Worst, rtol: float, where: str, side: str) -> str:
    fd_abs = abs(complex(w.fd)) if np.isfinite(w.fd) else math.inf
    rel = w.abs_err / fd_abs if fd_abs else math.inf
    return (f"max abs error {w.abs_err:.2e} at {where} ({side} {_fmt(w.ad)}, finite "
            f"differences {_fmt(w.fd)}, rel error {rel:.2e} > rtol {rtol:.1e}; allowed abs "
            f"error {w.allowed:.2e} = atol {w.atol:.2e} + rtol * |finite differences| + "
            f"finite-difference error estimate {w.noise:.1e})")


class _Checker:
    """Everything needed to check one function at one point against finite differences."""

    def __init__(self, f: Callable, args: tuple, *, atol: Tolerance, rtol: Tolerance,
                 eps: float | None, seed: int, level: int, label: str, err_msg: str = "",
                 magnitude: float = 0.0):
        self.f, self.args, self.seed, self.level, self.label = f, args, seed, level, label
        self.err_msg = err_msg
        self.ins = _Leaves.of(args)
        self.diff = self.ins.inexact
        if not any(self.diff):
            raise ValueError(f"check_grads: {label} has no floating-point or complex inputs to "
                             f"differentiate (inputs: {self._types(self.ins)})")
        self.outs = _Leaves.of(f(*self.ins.unflatten(_as_arrays(self.ins.leaves))))
        # Below the smallest normal number finite differences cannot resolve anything (they
        # return 0 where autodiff returns a subnormal): differences there always pass.
        self.tiny = 1e3 * max((float(np.finfo(_real_dtype(a.dtype)).tiny)
                               for a in self.outs.avals if a.dtype.kind in "fc"), default=0.0)
        self.out_values = [_np(o) for o in self.outs.leaves]
        if not any(self.outs.inexact):
            raise ValueError(f"check_grads: {label} has no floating-point or complex outputs to "
                             f"compare (outputs: {self._types(self.outs)})")
        self.fd = _FiniteDifferences(f, self.ins, self.outs, eps, magnitude)
        dtypes = [_real_dtype(a.dtype) for a, d in zip(self.ins.avals, self.diff, strict=True)
                  if d]
        dtypes += [_real_dtype(a.dtype) for a in self.outs.avals if a.dtype.kind in "fc"]
        self.rtol = _resolve_tol(rtol, dtypes, self.fd.wide, "rtol")
        self.user_atol = None if atol is None else _resolve_tol(atol, dtypes, self.fd.wide,
                                                                "atol")
        self.ulp = max(float(np.finfo(d).eps) for d in dtypes)
        self.parent_magnitude = magnitude
        self._scales = [self._scale(x) if d else None
                        for x, d in zip(self.ins.leaves, self.diff, strict=True)]
        self.size = max([magnitude] + [_maxabs(_wide(y)) for y, d in
                                       zip(self.out_values, self.outs.inexact) if d])
        self._directions: dict[int, list[np.ndarray | None]] = {}
        self._fd: dict[int, tuple[list, list]] = {}
        self._cotangents: dict[int, list[np.ndarray]] = {}

    def rounding(self, k: int) -> list[float]:
        """Per output leaf: how far autodiff may round in the inputs' dtype along direction k.

        Autodiff's rounding is relative to the values it combines, which may cancel to a far
        smaller derivative (d/dx (sin^2 + cos^2) comes out as a few ulps, not 0), so allow
        eight ulps of the function's magnitude (times the direction's largest component
        relative to |x|) plus a few times f's own rounding error in its dtype, measured
        against the float64 evaluation: a derivative is no more accurate than the function.
        """
        rmax = self.relative_size(k)
        wide = self.fd.base_wide or [None] * len(self.out_values)
        out = []
        for y, yw, d in zip(self.out_values, wide, self.outs.inexact, strict=True):
            if not d:
                out.append(0.0)
                continue
            r = 8 * self.ulp * max(_maxabs(_wide(y)), self.parent_magnitude) * rmax
            if yw is not None:
                with np.errstate(invalid="ignore", over="ignore"):
                    r += _PRECISION_SAFETY * _maxabs(_wide(y) - yw)
            out.append(r)
        return out

    @staticmethod
    def _types(leaves: _Leaves) -> str:
        return ", ".join(f"{p or 'x'}: {a.str_short()}"
                         for p, a in zip(leaves.paths, leaves.avals, strict=True)) or "none"

    # random directions and cotangents: reproducible from (seed, level, index)
    def _rng(self, k: int, what: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.level, k, what])

    def direction(self, k: int) -> list[np.ndarray | None]:
        """Direction k: N(0,1) components scaled by each element's magnitude."""
        if k not in self._directions:
            self._directions[k] = self._new_direction(k)
        return self._directions[k]

    def fd_jvp(self, k: int) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
        """Finite differences along direction k (cached: fwd and rev share them)."""
        if k not in self._fd:
            self._fd[k] = self.fd.jvp(self.direction(k))
        return self._fd[k]

    def relative_size(self, k: int) -> float:
        """The largest component of direction k relative to |x| (at least 1)."""
        return max([1.0] + [_maxabs(_wide(x) / s)
                            for x, s in zip(self.direction(k), self._scales, strict=True)
                            if x is not None and x.size])

    def child_magnitude(self) -> float:
        """The size of the values the derivative functions (order + 1) combine internally."""
        return self.size * self.relative_size(0)

    @staticmethod
    def _scale(leaf: Any) -> np.ndarray:
        """|x| elementwise, with zeros (and non-finite values) replaced by the mean |x|."""
        x = np.abs(_wide(leaf))
        finite = x[np.isfinite(x)]
        typical = float(finite.mean()) if finite.size and finite.mean() > 0 else 1.0
        return np.where((x > 0) & np.isfinite(x), x, typical)

    def _new_direction(self, k: int) -> list[np.ndarray | None]:
        rng = self._rng(k, 0)
        out: list[np.ndarray | None] = []
        for aval, scale in zip(self.ins.avals, self._scales, strict=True):
            if scale is None:
                out.append(None)
                continue
            r = rng.standard_normal(aval.shape)
            if aval.dtype.kind == "c":
                r = (r + 1j * rng.standard_normal(aval.shape)) / math.sqrt(2)
            out.append(np.asarray(r * scale, dtype=tangent_aval(aval).dtype))
        return self.fd.effective(out)

    def cotangent(self, k: int) -> list[np.ndarray]:
        """Cotangent k: half N(0,1), half conj(J v) along direction k (normalized).

        The J v part keeps <u, J v> away from cancellation, so a reverse-mode error shows up
        in the pairing at full size; the random part covers what J v does not span.
        """
        if k in self._cotangents:
            return self._cotangents[k]
        rng = self._rng(k, 1)
        fd, _ = self.fd_jvp(k)
        top = max([0.0] + [_maxabs(q) for q in fd if q is not None])
        out = []
        for aval, q in zip(self.outs.avals, fd, strict=True):
            if q is None:
                out.append(np.zeros(aval.shape, dt.float0))
                continue
            r = rng.standard_normal(aval.shape)
            if aval.dtype.kind == "c":
                r = (r + 1j * rng.standard_normal(aval.shape)) / math.sqrt(2)
            if top > 0:
                r = 0.5 * r + np.nan_to_num(np.conj(q) / top, nan=0.0, posinf=0.0, neginf=0.0)
            out.append(np.asarray(r if aval.dtype.kind == "c" else np.real(r), dtype=aval.dtype))
        self._cotangents[k] = out
        return out

    def tangent_tree(self, direction: Sequence[np.ndarray | None]) -> Any:
        return self.ins.unflatten(
            [np.zeros(a.shape, dt.float0) if v is None else v
             for v, a in zip(direction, self.ins.avals, strict=True)])

    # messages
    def _head(self, mode: str, side: str, k: int, directions: int) -> str:
        return (f"check_grads: {mode}-mode (autodiff: {side}) vs finite differences disagree "
                f"at order {self.level} along direction {k} of {directions} (seed={self.seed})")

    def _tail(self) -> str:
        lines = [f"  function: {self.label}, inputs {self._types(self.ins)}",
                 f"  finite differences: {self.fd.describe()}"]
        if self.err_msg:
            lines.append(f"  {self.err_msg}")
        return "\n".join(lines)

    def _atol(self, scale: float, rounding: float) -> float:
        """The default atol: elements far below the largest of their output are judged
        relative to that largest value (a quarter of rtol), not to themselves, plus autodiff's
        rounding allowance."""
        if self.user_atol is not None:
            return self.user_atol
        return 0.25 * self.rtol * scale + rounding + self.tiny

    def _pairing_rounding(self, u: Sequence[np.ndarray], k: int) -> float:
        return sum(float(np.abs(_wide(uu)).sum()) * r
                   for uu, r, d in zip(u, self.rounding(k), self.outs.inexact, strict=True)
                   if d)

    def check_primal(self, what: str, out: Any) -> None:
        flat, tree = tree_util.tree_flatten(out)
        if tree != self.outs.tree:
            raise AssertionError(f"check_grads: {what} returned a primal output with structure "
                                 f"{tree}, but {self.label} returns {self.outs.tree}")
        for path, got, want, aval in zip(self.outs.paths, flat, self.out_values,
                                         self.outs.avals, strict=True):
            got = _np(got)
            if got.shape != want.shape or got.dtype != want.dtype:
                raise AssertionError(
                    f"check_grads: {what} returned a primal output {got.dtype}{list(got.shape)} "
                    f"at output {path or '()'}, but {self.label} returns "
                    f"{want.dtype}{list(want.shape)}")
            if aval.dtype.kind in "fc":
                scale = max(_maxabs(_wide(got)), _maxabs(_wide(want)))
                w = _worst(got, want, self._atol(scale, 2 * self.ulp * scale), self.rtol, 0.0)
                if w is not None:
                    raise AssertionError(
                        f"check_grads: the primal output of {what} differs from {self.label} "
                        f"at output {_element(path, aval.shape, w.index)}: {_fmt(w.ad)} vs "
                        f"{_fmt(w.fd)}\n{self._tail()}")

    def check_forward(self, jvp_fn: Callable, k: int, directions: int, side: str
                      ) -> list[Any]:
        """Compare ``jvp_fn(args, tangents)`` with finite differences along direction k."""
        v = self.direction(k)
        out, t_out = jvp_fn(self.args, self.tangent_tree(v))
        self.check_primal(side, out)
        t_flat, t_tree = tree_util.tree_flatten(t_out)
        if t_tree != self.outs.tree:
            raise AssertionError(f"check_grads: {side} returned tangents with structure "
                                 f"{t_tree}, but the outputs have structure {self.outs.tree}")
        fd, noise = self.fd_jvp(k)
        for path, aval, ad, q, n, r in zip(self.outs.paths, self.outs.avals, t_flat, fd,
                                           noise, self.rounding(k), strict=True):
            if q is None:
                continue
            ad = _np(ad)
            if ad.shape != aval.shape:
                raise AssertionError(f"check_grads: {side} returned a tangent of shape "
                                     f"{ad.shape} for output {path or '()'} of shape "
                                     f"{aval.shape}")
            w = _worst(ad, q, self._atol(max(_maxabs(_wide(ad)), _maxabs(q)), r), self.rtol, n)
            if w is not None:
                where = "output " + _element(path, aval.shape, w.index)
                raise AssertionError(
                    f"{self._head('forward', side, k, directions)}: "
                    f"{_explain(w, self.rtol, where, 'autodiff')}; {w.n_bad} of {ad.size} "
                    f"elements of this output disagree\n{self._tail()}")
        return [None if q is None else _np(t) for t, q in zip(t_flat, fd, strict=True)]

    def check_reverse(self, pullback: Callable, k: int, directions: int, side: str
                      ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """Compare <pullback(u), v> with <u, finite differences along v> for direction k."""
        v, u = self.direction(k), self.cotangent(k)
        ct = self._pull(pullback, u, side)
        fd, noise = self.fd_jvp(k)
        ad_ip = sum(_pair(c, x) for c, x in zip(ct, v, strict=True) if x is not None)
        fd_ip = sum(_pair(a, q) for a, q in zip(u, fd, strict=True) if q is not None)
        scale = max(sum(_abs_pair(c, x) for c, x in zip(ct, v, strict=True) if x is not None),
                    sum(_abs_pair(a, q) for a, q in zip(u, fd, strict=True) if q is not None))
        ip_noise = sum(_abs_pair(a, n) for a, n in zip(u, noise, strict=True) if n is not None)
        atol = self._atol(scale, self._pairing_rounding(u, k))
        w = _worst(np.asarray(ad_ip), np.asarray(fd_ip), atol, self.rtol, ip_noise)
        if w is not None:
            rel = w.abs_err / abs(fd_ip) if fd_ip else math.inf
            raise AssertionError(
                f"{self._head('reverse', side, k, directions)}: <J^T u, v> = {_fmt(ad_ip)} "
                f"(autodiff) vs <u, J v> = {_fmt(fd_ip)} (finite differences) for a random "
                f"cotangent u: abs error {w.abs_err:.2e}, rel error {rel:.2e} > rtol "
                f"{self.rtol:.1e} (allowed abs error {w.allowed:.2e})\n"
                f"  {self._localize(ct, u)}\n{self._tail()}")
        return ct, fd

    def _pull(self, pullback: Callable, u: list[np.ndarray], side: str) -> list[np.ndarray]:
        ct = pullback(self.outs.unflatten(u))
        try:
            flat = self.ins.tree.flatten_up_to(tuple(ct) if isinstance(ct, list) else ct)
        except (TypeError, ValueError) as e:
            raise AssertionError(f"check_grads: {side} returned cotangents whose structure "
                                 f"does not match the inputs {self.ins.tree}: {e}") from None
        return [_np(c) for c in flat]

    def _localize(self, ct: list[np.ndarray], u: list[np.ndarray]) -> str:
        """Finite differences of J^T u along each input element, to say where it is wrong."""
        n = sum(a.size for a, d in zip(self.ins.avals, self.diff, strict=True) if d)
        if n > _LOCALIZE_MAX:
            return (f"(not localized per input element: {n} input elements > "
                    f"{_LOCALIZE_MAX}; check a smaller input to find the element)")
        worst: tuple[float, str] | None = None
        for i, (aval, d) in enumerate(zip(self.ins.avals, self.diff, strict=True)):
            if not d:
                continue
            x = _wide(self.ins.leaves[i]).ravel()
            fd_ct = np.zeros(aval.size, _wide_dtype(aval.dtype))
            for j in range(aval.size):
                s = abs(x[j]) if np.isfinite(x[j]) and x[j] != 0 else 1.0
                units = (1.0, 1j) if aval.dtype.kind == "c" else (1.0,)
                for unit in units:
                    e = np.zeros(aval.size, _wide_dtype(aval.dtype))
                    e[j] = unit * s
                    direction: list[np.ndarray | None] = [None] * len(self.ins.leaves)
                    direction[i] = e.reshape(aval.shape).astype(tangent_aval(aval).dtype)
                    direction = self.fd.effective(direction)
                    step = complex(_wide(direction[i]).ravel()[j])
                    q, _ = self.fd.jvp(direction, estimate_error=False)
                    ip = sum(_pair(a, qq) for a, qq in zip(u, q, strict=True) if qq is not None)
                    # ip = Re(ct_j * step): a real step s gives Re(ct_j) s, an imaginary step
                    # i s gives -Im(ct_j) s.
                    if unit == 1.0 and step.real != 0:
                        fd_ct[j] += ip / step.real
                    elif unit != 1.0 and step.imag != 0:
                        fd_ct[j] += -1j * ip / step.imag
            ad_ct = _wide(ct[i]).ravel()
            err = np.nan_to_num(np.abs(ad_ct - fd_ct), nan=np.inf)
            if err.size and (worst is None or err.max() > worst[0]):
                j = int(np.argmax(err))
                where = "args" + _element(self.ins.paths[i], aval.shape, j)
                text = (f"largest disagreement of J^T u per input element: abs error "
                        f"{err[j]:.2e} at {where} (autodiff {_fmt(ad_ct[j])}, finite "
                        f"differences {_fmt(fd_ct[j])})")
                worst = (float(err[j]), text)
        return worst[1] if worst else "(no input elements)"

    def check_transposes(self, t_out: list[Any], ct: list[np.ndarray], k: int,
                         directions: int) -> None:
        """<u, J v> from jvp must equal <J^T u, v> from vjp (the modes are transposes)."""
        v, u = self.direction(k), self.cotangent(k)
        a = sum(_pair(uu, t) for uu, t in zip(u, t_out, strict=True) if t is not None)
        b = sum(_pair(c, x) for c, x in zip(ct, v, strict=True) if x is not None)
        scale = max(sum(_abs_pair(uu, t) for uu, t in zip(u, t_out, strict=True)
                        if t is not None),
                    sum(_abs_pair(c, x) for c, x in zip(ct, v, strict=True) if x is not None))
        atol = self._atol(scale, 2 * self._pairing_rounding(u, k))   # both sides round
        w = _worst(np.asarray(b), np.asarray(a), atol, self.rtol, 0.0)
        if w is not None:
            raise AssertionError(
                f"check_grads: forward mode and reverse mode (both autodiff) are not transposes "
                f"of each other at order {self.level} along direction {k} of {directions} "
                f"(seed={self.seed}): <u, J v> from functrans.jvp = {_fmt(a)}, <J^T u, v> from "
                f"functrans.vjp = {_fmt(b)}, abs error {w.abs_err:.2e} > allowed "
                f"{w.allowed:.2e}. A transpose rule (or a custom_vjp bwd) does not match the "
                f"corresponding jvp rule.\n{self._tail()}")


# --- public API ---------------------------------------------------------------------------------


def _check_directions(directions: int) -> int:
    if not isinstance(directions, int) or isinstance(directions, bool) or directions < 1:
        raise ValueError(f"check_grads: directions must be a positive int, got {directions!r}")
    return directions


def check_jvp(f: Callable, f_jvp: Callable, args: Sequence[Any], atol: Tolerance = None,
              rtol: Tolerance = None, eps: float | None = None, err_msg: str = "", *,
              directions: int = 3, seed: int = 0) -> None:
    """Check ``f_jvp(args, tangents) -> (f(*args), J @ tangents)`` against finite differences.

    Like ``jax.test_util.check_jvp``; see ``check_grads`` for tolerances, ``eps`` and the
    directions. Raises AssertionError naming the output element where they disagree.
    """
    c = _Checker(f, tuple(args), atol=atol, rtol=rtol, eps=eps, seed=seed, level=1,
                 label=errors.function_location(f), err_msg=err_msg)
    for k in range(_check_directions(directions)):
        c.check_forward(f_jvp, k, directions, errors.function_location(f_jvp))


def check_vjp(f: Callable, f_vjp: Callable, args: Sequence[Any], atol: Tolerance = None,
              rtol: Tolerance = None, eps: float | None = None, err_msg: str = "", *,
              directions: int = 3, seed: int = 0) -> None:
    """Check ``f_vjp(*args) -> (f(*args), pullback)`` against finite differences.

    Like ``jax.test_util.check_vjp``: for random cotangents u and directions v, the pairing
    Re(sum(pullback(u) * v)) must match Re(sum(u * (finite-difference J v))). On failure the
    message also localizes the wrong input element (for inputs up to 256 elements).
    """
    c = _Checker(f, tuple(args), atol=atol, rtol=rtol, eps=eps, seed=seed, level=1,
                 label=errors.function_location(f), err_msg=err_msg)
    out, pullback = f_vjp(*c.args)
    side = errors.function_location(f_vjp)
    c.check_primal(side, out)
    for k in range(_check_directions(directions)):
        c.check_reverse(pullback, k, directions, side)


def _tangents_for(primals: Any, tangents: Sequence[Any]) -> Any:
    """Full tangents for ``primals`` from the inexact leaves' tangents (float0 elsewhere)."""
    from functrans import lax
    leaves, tree = tree_util.tree_flatten(primals)
    it = iter(tangents)
    out = []
    for p in leaves:
        want = tangent_aval(core.get_aval(p))
        if want.dtype == dt.float0:
            out.append(np.zeros(want.shape, dt.float0))
            continue
        t = next(it)
        if core.get_aval(t).dtype != want.dtype:   # the caller may have widened the primals
            t = lax.convert_element_type(t, want.dtype)
        out.append(t)
    return tree_util.tree_unflatten(tree, out)


def _drop_float0(tree: Any) -> Any:
    return tree_util.tree_map(
        lambda x: None if core.get_aval(x).dtype == dt.float0 else x, tree)


def _cast_cotangent(out: Any, u: Any) -> Any:
    return tree_util.tree_map(
        lambda o, c: c if c.dtype == dt.float0 else c.astype(tangent_aval(core.get_aval(o)).dtype),
        out, u)


def check_grads(f: Callable, args: Sequence[Any], order: int = 1,
                modes: Sequence[str] = ("fwd", "rev"), atol: Tolerance = None,
                rtol: Tolerance = None, eps: float | None = None, *, directions: int = 3,
                seed: int = 0) -> None:
    """Check functrans' derivatives of ``f`` at ``args`` against finite differences.

    >>> import numpy as np, functrans.numpy as fnp
    >>> check_grads(lambda x: fnp.sin(x) * x, (np.linspace(0.1, 1, 4, dtype=np.float16),),
    ...             order=2)

    ``args`` is a tuple of arrays, scalars or pytrees of them; integer and boolean leaves are
    not differentiated. For each of ``directions`` random directions v (components N(0,1)
    times |x| elementwise, reproducible from ``seed``):

    * ``"fwd"``: ``functrans.jvp`` must match the central difference
      (f(x + h v) - f(x - h v)) / 2h element by element;
    * ``"rev"``: with a cotangent u (random, plus a multiple of J v so that the pairing does
      not cancel), Re(sum(vjp(u) * v)) must match Re(sum(u * difference quotient)); a failure
      is localized to an input element by finite differences along each element;
    * both modes: Re(sum(u * jvp(v))) must equal Re(sum(vjp(u) * v)) (they are transposes).

    With ``order`` > 1 the checks are repeated on the derivatives (the jvp of f as a function
    of (primals, tangents), and x -> vjp(f, x)(u)), as ``jax.test_util.check_grads`` does.

    Finite differences run on float64 copies of the inputs when ``f`` accepts them (its
    floating outputs then come back as float64), so float16/float32 functions are compared
    with an accurate reference; otherwise (f fails on float64, or returns other dtypes) in
    the input dtype. ``eps`` is the step h, relative to |x| (default: the cube root of the
    evaluation dtype's machine epsilon, as a power of two: 2**-17 in float64, 1/8 in float16).

    Tolerances: an element passes when ``|autodiff - fd| <= atol + rtol * |fd| + e``, where
    e estimates the finite-difference error (a rounding model plus the change of the quotient
    when the step doubles). ``rtol`` defaults by dtype (see ``default_tolerance``: float16
    1e-2, float32 1e-4, float64 1e-6; looser when the differences run in the input dtype).
    ``atol`` defaults to ``rtol / 4`` times the largest magnitude in that output, plus a
    rounding allowance: 8 ulps of f's magnitude and 4 times f's own rounding error in its
    dtype (measured against float64), because autodiff is no more accurate than the function.
    ``rtol``/``atol`` may be numbers or ``{dtype: tolerance}`` dicts. In float16, derivatives
    wrong by more than a few percent are caught; ill-conditioned float16 functions (such as
    sin(10 x) for |x| ~ 2) may need a larger ``rtol``.

    Raises AssertionError naming the autodiff and finite-difference sides, the mode, order,
    direction and seed, the errors and where (output path and element; for reverse mode also
    the input element); ValueError for bad arguments or nothing to differentiate.
    """
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        raise ValueError(f"check_grads: order must be a positive int, got {order!r}")
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    unknown = [m for m in modes if m not in ("fwd", "rev")]
    if unknown or not modes:
        raise ValueError(f"check_grads: modes must be a non-empty subset of ('fwd', 'rev'), "
                         f"got {modes!r}")
    _check_directions(directions)
    from functrans.transforms.derivatives import jvp, vjp

    def check(fun: Callable, fargs: tuple, level: int, label: str, magnitude: float) -> None:
        c = _Checker(fun, fargs, atol=atol, rtol=rtol, eps=eps, seed=seed, level=level,
                     label=label, magnitude=magnitude)
        t_outs: list[list[Any]] = []
        if "fwd" in modes:
            for k in range(directions):
                t_outs.append(c.check_forward(lambda a, t: jvp(fun, a, t), k, directions,
                                              "functrans.jvp"))
        if "rev" in modes:
            out, pullback = vjp(fun, *fargs)
            c.check_primal("functrans.vjp", out)
            for k in range(directions):
                ct, _ = c.check_reverse(pullback, k, directions, "functrans.vjp")
                if t_outs:
                    c.check_transposes(t_outs[k], ct, k, directions)
        if level >= order:
            return
        if "fwd" in modes:
            v0 = [x for x in c.direction(0) if x is not None]

            def jvp_of(primals: tuple, tangents: list) -> Any:
                return _drop_float0(jvp(fun, primals, _tangents_for(primals, tangents))[1])

            check(jvp_of, (fargs, v0), level + 1, f"jvp({label})", c.child_magnitude())
        if "rev" in modes:
            u0 = c.outs.unflatten(c.cotangent(0))

            def vjp_of(*primals: Any) -> Any:
                out, pull = vjp(fun, *primals)
                return _drop_float0(pull(_cast_cotangent(out, u0)))

            check(vjp_of, tuple(fargs), level + 1, f"vjp({label})", c.child_magnitude())

    check(f, tuple(args), 1, errors.function_location(f), 0.0)
