"""The convolution primitive ``conv_general_dilated`` and lax's wrappers around it (conv,
conv_with_general_padding, conv_transpose), with ``ConvDimensionNumbers`` and padding helpers.

Any number of spatial dimensions works (1 to 3 in practice), with window strides, explicit or
'SAME'/'VALID'/'SAME_LOWER' padding (negative pads crop), lhs (input) and rhs (kernel)
dilation, feature groups and batch groups. The NumPy impl dilates and pads the input, takes a
strided view of its windows (``sliding_window_view``) and contracts them with the kernel in one
batched ``np.matmul`` per call. The primitive is bilinear; its transposes are convolutions
(JAX's ``_conv_general_dilated_transpose_lhs/rhs``) and vmap folds the batch into the batch or
feature-group dimensions. The window helpers here are shared with ``windowed``. Imports
``core``, ``registry``, ``rules``, ``ad_rules``, ``batch_rules``, ``elementwise``,
``structural``, ``slicing`` and ``contraction`` (Precision).
"""

from __future__ import annotations

import enum
import math
import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from functrans import core
from functrans import dtypes as dt
from functrans.core import ShapedArray
from functrans.errors import ShapeError
from functrans.primitives import rules
from functrans.primitives.ad_rules import (
    Zero, cast_to, check_linear_in_one, is_undefined, jvp_partials, tangent_aval,
)
from functrans.primitives.batch_rules import AxisData
from functrans.primitives.contraction import (
    Precision, _check_preferred, _compute_dtype, canonicalize_precision,
)
from functrans.primitives.registry import Example, define_primitive
from functrans.primitives.slicing import pad_p
from functrans.primitives.structural import broadcast_in_dim, reshape, rev, transpose

__all__ = [
    "ConvDimensionNumbers", "ConvGeneralDilatedDimensionNumbers", "PaddingType", "conv",
    "conv_dimension_numbers", "conv_general_dilated", "conv_general_dilated_p",
    "conv_general_permutations", "conv_shape_tuple", "conv_transpose",
    "conv_with_general_padding", "padtype_to_pads",
]

_NAME = "functrans.lax.conv_general_dilated"
_NUMERIC = frozenset(dt.NUMERIC)


class ConvDimensionNumbers(NamedTuple):
    """Where the dimensions of each operand are, as in ``lax``: ``lhs_spec`` is (batch,
    feature, spatial...) positions of the input, ``rhs_spec`` (out feature, in feature,
    spatial...) of the kernel, ``out_spec`` (batch, feature, spatial...) of the output."""

    lhs_spec: tuple[int, ...]
    rhs_spec: tuple[int, ...]
    out_spec: tuple[int, ...]


# What conv_general_dilated accepts as dimension_numbers (a type alias, as in lax).
ConvGeneralDilatedDimensionNumbers = ConvDimensionNumbers | tuple[str, str, str] | None


class PaddingType(enum.Enum):
    VALID = 1
    SAME = 2
    SAME_LOWER = 3


# --- shape helpers (shared with windowed.py) ----------------------------------------------------


def dilate_dim(d: int, dilation: int) -> int:
    """The size of ``d`` elements with ``dilation - 1`` holes between neighbours."""
    return 0 if d == 0 else 1 + dilation * (d - 1)


def strided_dim(padded: int, window: int, stride: int) -> int:
    """How many windows of size ``window`` fit in ``padded`` at ``stride``."""
    return 0 if padded < window else (padded - window) // stride + 1


def padtype_to_pads(in_shape: Sequence[int], window_shape: Sequence[int],
                    window_strides: Sequence[int], padding: str | PaddingType
                    ) -> list[tuple[int, int]]:
    """``lax.padtype_to_pads``: explicit (lo, hi) pads for 'VALID', 'SAME' (extra padding at
    the end) or 'SAME_LOWER' (extra padding at the start); SAME gives ceil(in / stride)
    outputs."""
    if isinstance(padding, str):
        try:
            padding = PaddingType[padding.upper()]
        except KeyError:
            raise ValueError(f"functrans.lax: unrecognized padding type {padding!r}; expected "
                             f"'VALID', 'SAME' or 'SAME_LOWER'") from None
    if padding == PaddingType.VALID:
        return [(0, 0)] * len(in_shape)
    pads = []
    for d, w, s in zip(in_shape, window_shape, window_strides, strict=True):
        out = -(-d // s)
        total = max((out - 1) * s + w - d, 0)
        small, big = total // 2, total - total // 2
        pads.append((small, big) if padding == PaddingType.SAME else (big, small))
    return pads


def window_view(x: np.ndarray, fill: Any, axes: Sequence[int], window: Sequence[int],
                strides: Sequence[int], padding: Sequence[tuple[int, int]],
                base_dilation: Sequence[int], window_dilation: Sequence[int]) -> np.ndarray:
    """The windows of ``x`` over ``axes``: ``x`` is dilated by ``base_dilation`` and padded
    (negative pads crop) with ``fill``; the result has ``x``'s shape with each of ``axes``
    replaced by its number of windows, then one trailing axis per window dimension. It is a
    strided view (no copy) unless ``x`` needed padding."""
    if not axes:
        return x
    config = [(0, 0, 0)] * x.ndim
    for ax, (lo, hi), b in zip(axes, padding, base_dilation, strict=True):
        config[ax] = (lo, hi, b - 1)
    if any(c != (0, 0, 0) for c in config):
        x = pad_p.impl(x, np.asarray(fill, x.dtype), padding_config=tuple(config))
    spans = [dilate_dim(w, d) for w, d in zip(window, window_dilation, strict=True)]
    counts = [strided_dim(x.shape[ax], sp, s)
              for ax, sp, s in zip(axes, spans, strides, strict=True)]
    if 0 in counts:
        shape = list(x.shape)
        for ax, n in zip(axes, counts, strict=True):
            shape[ax] = n
        return np.full(tuple(shape) + tuple(window), fill, x.dtype)
    view = sliding_window_view(x, spans, axis=tuple(axes))
    index = [slice(None)] * x.ndim
    for ax, s in zip(axes, strides, strict=True):
        index[ax] = slice(None, None, s)
    index += [slice(None, None, d) for d in window_dilation]
    return view[tuple(index)]


# --- dimension numbers --------------------------------------------------------------------------


def conv_general_permutations(dimension_numbers: tuple[str, str, str]
                              ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """The (lhs, rhs, out) specs of string dimension numbers such as ('NCHW', 'OIHW', 'NCHW');
    spatial dimensions are ordered as they appear in the rhs (kernel) string."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    pairs = (("N", "C"), ("O", "I"), ("N", "C"))
    for i, (a, b) in enumerate(pairs):
        spec = dimension_numbers[i]
        if not spec.count(a) == spec.count(b) == 1:
            raise TypeError(f"functrans.lax.conv_general_dilated: dimension_numbers[{i}] must "
                            f"contain the characters {a!r} and {b!r} exactly once, got "
                            f"{spec!r}")
        if len(spec) != len(set(spec)):
            raise TypeError(f"functrans.lax.conv_general_dilated: dimension_numbers[{i}] "
                            f"cannot have duplicate characters, got {spec!r}")
    spatial = [set(s) - set(p) for s, p in zip(dimension_numbers, pairs, strict=True)]
    if not spatial[0] == spatial[1] == spatial[2]:
        raise TypeError(f"functrans.lax.conv_general_dilated: dimension_numbers must each have "
                        f"the same spatial characters, got {tuple(dimension_numbers)}")

    def perm(spec: str, pair: tuple[str, str]) -> tuple[int, ...]:
        sp = [i for i, c in enumerate(spec) if c not in pair]
        if spec is not rhs_spec:
            sp = sorted(sp, key=lambda i: rhs_spec.index(spec[i]))
        return (spec.index(pair[0]), spec.index(pair[1]), *sp)

    return (perm(lhs_spec, pairs[0]), perm(rhs_spec, pairs[1]), perm(out_spec, pairs[2]))


def conv_dimension_numbers(lhs_shape: Sequence[int], rhs_shape: Sequence[int],
                           dimension_numbers: Any) -> ConvDimensionNumbers:
    """Normalize ``dimension_numbers`` (None: 'NC<spatial>' layouts everywhere, a
    ConvDimensionNumbers, or three layout strings) for operands of these shapes."""
    if isinstance(dimension_numbers, ConvDimensionNumbers):
        return ConvDimensionNumbers(*(tuple(int(d) for d in s) for s in dimension_numbers))
    if len(lhs_shape) != len(rhs_shape):
        raise ShapeError(f"{_NAME}: lhs and rhs must have the same rank, got shapes "
                         f"{tuple(lhs_shape)} and {tuple(rhs_shape)}")
    if dimension_numbers is None:
        iota = tuple(range(len(lhs_shape)))
        return ConvDimensionNumbers(iota, iota, iota)
    if not isinstance(dimension_numbers, (list, tuple)) or len(dimension_numbers) != 3:
        raise TypeError(f"{_NAME}: dimension_numbers must be None, a ConvDimensionNumbers or "
                        f"three layout strings like ('NCHW', 'OIHW', 'NCHW'), got "
                        f"{dimension_numbers!r}")
    if all(isinstance(s, str) for s in dimension_numbers):
        for i, spec in enumerate(dimension_numbers):
            if len(spec) != len(lhs_shape):
                raise TypeError(f"{_NAME}: dimension_numbers[{i}] = {spec!r} must have one "
                                f"character per dimension of lhs and rhs, shapes "
                                f"{tuple(lhs_shape)} and {tuple(rhs_shape)}")
        return ConvDimensionNumbers(*conv_general_permutations(tuple(dimension_numbers)))
    try:
        return ConvDimensionNumbers(*(tuple(operator.index(d) for d in s)
                                      for s in dimension_numbers))
    except TypeError:
        raise TypeError(f"{_NAME}: dimension_numbers elements must be layout strings or "
                        f"tuples of ints, got {dimension_numbers!r}") from None


def conv_shape_tuple(lhs_shape: Sequence[int], rhs_shape: Sequence[int],
                     strides: Sequence[int], pads: Any, batch_group_count: int = 1
                     ) -> tuple[int, ...]:
    """The output shape of a convolution in the default (N, C, spatial...) layouts."""
    if isinstance(pads, str):
        pads = padtype_to_pads(lhs_shape[2:], rhs_shape[2:], strides, pads)
    spatial = tuple(strided_dim(d + lo + hi, k, s)
                    for d, k, s, (lo, hi) in zip(lhs_shape[2:], rhs_shape[2:], strides, pads,
                                                 strict=True))
    return (lhs_shape[0] // batch_group_count, rhs_shape[0], *spatial)


# --- impl ---------------------------------------------------------------------------------------


def _conv_impl(lhs: np.ndarray, rhs: np.ndarray, *, window_strides: tuple[int, ...],
               padding: tuple[tuple[int, int], ...], lhs_dilation: tuple[int, ...],
               rhs_dilation: tuple[int, ...], dimension_numbers: ConvDimensionNumbers,
               feature_group_count: int, batch_group_count: int, precision: Any = None,
               preferred_element_type: np.dtype | None = None) -> np.ndarray:
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    out_dtype = lhs.dtype if preferred_element_type is None else preferred_element_type
    compute = _compute_dtype(lhs.dtype, out_dtype)
    x = lhs.transpose(lhs_spec).astype(compute, copy=False)   # (N, C, spatial...)
    w = rhs.transpose(rhs_spec).astype(compute, copy=False)   # (O, I, kernel...)
    nsp = x.ndim - 2
    sp = tuple(range(2, 2 + nsp))
    win = window_view(x, 0, sp, w.shape[2:], window_strides, padding, lhs_dilation,
                      rhs_dilation)                           # (N, C, out..., kernel...)
    n, c, o = x.shape[0], x.shape[1], w.shape[0]
    out_sp, k_sp = win.shape[2:2 + nsp], w.shape[2:]
    # Split the grouped dimension into (groups, per group) and put the groups first: batch
    # groups split the input batch, feature groups the input features (contiguous blocks).
    if batch_group_count > 1:
        g = batch_group_count
        grouped = win.reshape((g, n // g, c) + win.shape[2:])
    else:
        g = feature_group_count
        grouped = np.moveaxis(win.reshape((n, g, c // g) + win.shape[2:]), 1, 0)
    ng, cg = grouped.shape[1], grouped.shape[2]
    # One patch matrix per group: rows are (batch, output position), columns (feature,
    # kernel position); the kernel is (feature, kernel position) x out features. The reshape
    # copies the patches once; matmul then runs one BLAS call per group.
    order = (0, 1, *range(3, 3 + nsp), 2, *range(3 + nsp, 3 + 2 * nsp))
    k = cg * math.prod(k_sp)
    patches = grouped.transpose(order).reshape(g, ng * math.prod(out_sp), k)
    kernel = w.reshape(g, o // g, k).transpose(0, 2, 1)
    with np.errstate(all="ignore"):
        out = np.matmul(patches, kernel)                      # (g, ng * out, o // g)
    out = out.reshape((g, ng, *out_sp, o // g))
    out = out.transpose((1, 0, 2 + nsp, *range(2, 2 + nsp))).reshape((ng, o, *out_sp))
    out = out.transpose(tuple(np.argsort(out_spec).tolist()))
    return np.ascontiguousarray(out.astype(out_dtype, copy=False))


# --- abstract evaluation ------------------------------------------------------------------------


def _check_spec(spec: Any, ndim: int, what: str, dnums: Any) -> tuple[int, ...]:
    if not (isinstance(spec, tuple) and sorted(spec) == list(range(ndim))
            and all(type(d) is int for d in spec)):
        raise TypeError(f"{_NAME}: dimension_numbers.{what} must be a permutation of "
                        f"range({ndim}) for operands of rank {ndim}, got {dnums!r}")
    return spec


def _conv_rule(lhs: ShapedArray, rhs: ShapedArray, *, window_strides: tuple[int, ...],
               padding: tuple[tuple[int, int], ...], lhs_dilation: tuple[int, ...],
               rhs_dilation: tuple[int, ...], dimension_numbers: ConvDimensionNumbers,
               feature_group_count: int, batch_group_count: int, precision: Any = None,
               preferred_element_type: np.dtype | None = None) -> ShapedArray:
    rules.check_same_dtypes("conv_general_dilated", (lhs, rhs))
    rules.check_dtype("conv_general_dilated", lhs, _NUMERIC, what="lhs")
    shown = f"lhs {lhs.str_short()} and rhs {rhs.str_short()}"
    if lhs.ndim != rhs.ndim:
        raise ShapeError(f"{_NAME}: lhs and rhs must have the same rank, got {shown}")
    if lhs.ndim < 2:
        raise ShapeError(f"{_NAME}: operands need a batch and a feature dimension (rank >= "
                         f"2), got {shown}")
    if not isinstance(dimension_numbers, ConvDimensionNumbers):
        raise TypeError(f"{_NAME}: dimension_numbers must be a ConvDimensionNumbers, got "
                        f"{dimension_numbers!r}")
    lhs_spec, rhs_spec, out_spec = (
        _check_spec(s, lhs.ndim, w, dimension_numbers)
        for s, w in zip(dimension_numbers, ("lhs_spec", "rhs_spec", "out_spec"), strict=True))
    nsp = lhs.ndim - 2
    for what, value in (("window_strides", window_strides), ("lhs_dilation", lhs_dilation),
                        ("rhs_dilation", rhs_dilation)):
        rules.check_window_ints("conv_general_dilated", what, value, nsp,
                                f"spatial dimension ({nsp})", 1)
    rules.check_padding("conv_general_dilated", padding, nsp, f"spatial dimension ({nsp})")
    for what, count in (("feature_group_count", feature_group_count),
                        ("batch_group_count", batch_group_count)):
        if type(count) is not int or count < 1:
            raise ValueError(f"{_NAME}: {what} must be a positive int, got {count!r}")
    if feature_group_count > 1 and batch_group_count > 1:
        raise ValueError(f"{_NAME}: at most one of feature_group_count and batch_group_count "
                         f"may be > 1, got {feature_group_count} and {batch_group_count}")
    n, c = lhs.shape[lhs_spec[0]], lhs.shape[lhs_spec[1]]
    o, i = rhs.shape[rhs_spec[0]], rhs.shape[rhs_spec[1]]
    g = feature_group_count
    if c % g:
        raise ShapeError(f"{_NAME}: feature_group_count={g} must divide the lhs feature "
                         f"dimension ({c}) of {shown}")
    if c // g != i:
        raise ShapeError(f"{_NAME}: the lhs feature dimension divided by feature_group_count "
                         f"({c} // {g} = {c // g}) must equal the rhs input feature dimension "
                         f"({i}) for {shown}")
    if o % g:
        raise ShapeError(f"{_NAME}: the rhs output feature dimension ({o}) must be a multiple "
                         f"of feature_group_count={g} for {shown}")
    b = batch_group_count
    if n % b:
        raise ShapeError(f"{_NAME}: batch_group_count={b} must divide the lhs batch dimension "
                         f"({n}) of {shown}")
    if o % b:
        raise ShapeError(f"{_NAME}: the rhs output feature dimension ({o}) must be a multiple "
                         f"of batch_group_count={b} for {shown}")
    in_sp = [dilate_dim(lhs.shape[d], s) for d, s in zip(lhs_spec[2:], lhs_dilation,
                                                         strict=True)]
    k_sp = [dilate_dim(rhs.shape[d], s) for d, s in zip(rhs_spec[2:], rhs_dilation,
                                                        strict=True)]
    out_sp = []
    for d, size, k, s, (lo, hi) in zip(range(nsp), in_sp, k_sp, window_strides, padding,
                                       strict=True):
        padded = size + lo + hi
        if padded < 0:
            raise ShapeError(f"{_NAME}: padding {(lo, hi)} of spatial dimension {d} (dilated "
                             f"size {size}) of {shown} is more negative than the dimension "
                             f"is long")
        out_sp.append(strided_dim(padded, k, s))
    if precision is not None and not (
            isinstance(precision, tuple) and len(precision) == 2
            and all(isinstance(p, Precision) for p in precision)):
        raise TypeError(f"{_NAME}: precision must be None or a pair of lax.Precision values, "
                        f"got {precision!r}")
    out_dtype = _check_preferred(lhs.dtype, preferred_element_type, _NAME)
    canonical = (n // b, o, *out_sp)
    shape = [0] * lhs.ndim
    for pos, size in zip(out_spec, canonical, strict=True):
        shape[pos] = size
    weak = lhs.weak_type and rhs.weak_type and out_dtype == lhs.dtype
    return ShapedArray(tuple(shape), out_dtype, weak)


# --- samples ------------------------------------------------------------------------------------


def _params(nsp: int, strides: Any = None, padding: Any = None, lhs_dil: Any = None,
            rhs_dil: Any = None, dnums: Any = None, fgc: int = 1, bgc: int = 1,
            preferred: Any = None, ndim: int | None = None) -> dict:
    ones = (1,) * nsp
    ndim = nsp + 2 if ndim is None else ndim
    if dnums is None:
        dnums = ConvDimensionNumbers(*(tuple(range(ndim)),) * 3)
    return {"window_strides": strides or ones, "padding": padding or ((0, 0),) * nsp,
            "lhs_dilation": lhs_dil or ones, "rhs_dilation": rhs_dil or ones,
            "dimension_numbers": dnums, "feature_group_count": fgc, "batch_group_count": bgc,
            "precision": None, "preferred_element_type": preferred}


def _preferred_sample_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind in "iu":
        return dt.int64 if dtype.kind == "i" else dt.uint64
    return {dt.float16: dt.float32, dt.float32: dt.float64, dt.float64: dt.float64,
            dt.complex64: dt.complex128}.get(dtype, dt.complex128)


def _conv_sample(dtype: np.dtype) -> list[Example]:
    nhwc = ConvDimensionNumbers(*conv_general_permutations(("NHWC", "HWIO", "NHWC")))
    nwc = ConvDimensionNumbers(*conv_general_permutations(("NWC", "WIO", "NWC")))
    odd = ConvDimensionNumbers(*conv_general_permutations(("HCNW", "IWOH", "WNHC")))
    cases = [
        ((2, 3, 5), (4, 3, 2), _params(1, padding=((1, 0),)), "1d"),
        ((1, 4, 5, 6), (6, 2, 3, 2), _params(2, strides=(2, 1), padding=((1, 0), (1, 2)),
                                           rhs_dil=(1, 2), dnums=nhwc, fgc=2), "nhwc-groups"),
        ((4, 3, 5), (4, 3, 2), _params(1, lhs_dil=(2,), padding=((0, 1),), bgc=2),
         "batch-groups"),
        ((3, 2, 2, 5), (3, 2, 2, 2), _params(2, strides=(1, 2), padding=((1, 1), (0, 1)),
                                           dnums=odd), "odd-layout"),
        ((1, 2, 3, 4, 3), (2, 2, 2, 2, 2), _params(3, padding=((1, 0), (0, 1), (1, 1)),
                                                 strides=(1, 2, 1), lhs_dil=(1, 1, 2)), "3d"),
        ((1, 1, 6), (1, 1, 2), _params(1, padding=((-1, -2),)), "negative-padding"),
        ((0, 2, 4), (3, 2, 2), _params(1), "empty-batch"),
        ((1, 1, 2), (1, 1, 3), _params(1), "empty-output"),
        ((2, 3), (4, 3), _params(0), "no-spatial"),
        ((1, 4, 5), (4, 1, 3), _params(1, strides=(2,), padding=((2, 2),), rhs_dil=(2,),
                                       dnums=nwc, fgc=4), "nwc-depthwise"),
        ((2, 3, 4), (2, 3, 2), _params(1, preferred=_preferred_sample_dtype(dtype)),
         "preferred"),
    ]
    out = []
    for k, (ls, rs, params, note) in enumerate(cases):
        dn = params["dimension_numbers"]
        # The layout tables above give canonical shapes; place them per the specs.
        lhs_shape, rhs_shape = [0] * len(ls), [0] * len(rs)
        for pos, size in zip(dn.lhs_spec, ls, strict=True):
            lhs_shape[pos] = size
        for pos, size in zip(dn.rhs_spec, rs, strict=True):
            rhs_shape[pos] = size
        out.append(Example((rules.sample_array(tuple(lhs_shape), dtype, seed=2 * k),
                            rules.sample_array(tuple(rhs_shape), dtype, seed=2 * k + 1)),
                           params, note))
    return out


# --- differentiation rules ----------------------------------------------------------------------


def _sdims(spec: tuple[int, ...]) -> tuple[int, ...]:
    return spec[2:]


def _spec_transpose(spec: tuple[int, ...]) -> tuple[int, ...]:
    return (spec[1], spec[0], *spec[2:])


def _reshape_axis_out_of(src: int, size1: int, x: Any) -> Any:
    """Split axis ``src`` of ``x`` into (size1, rest), in row-major order."""
    shape = list(core.get_aval(x).shape)
    shape[src:src + 1] = [size1, shape[src] // size1 if size1 else 0]
    return reshape(x, tuple(shape))


def _reshape_axis_into(src: int, dst: int, x: Any) -> Any:
    """Merge axis ``src`` into axis ``dst`` (numbered without ``src``) as its major part."""
    shape = core.get_aval(x).shape
    perm = [i for i in range(len(shape)) if i != src]
    perm.insert(dst, src)
    new_shape = [shape[i] for i in range(len(shape)) if i != src]
    new_shape[dst] *= shape[src]
    return reshape(x, tuple(new_shape), perm)


def _conv_general_vjp_lhs_padding(in_shape: Sequence[int], window_dimensions: Sequence[int],
                                  window_strides: Sequence[int], out_shape: Sequence[int],
                                  padding: Sequence[tuple[int, int]],
                                  lhs_dilation: Sequence[int], rhs_dilation: Sequence[int]
                                  ) -> tuple[tuple[int, int], ...]:
    """Pads of the cotangent (dilated by the strides) so that a convolution with the flipped
    kernel gives exactly the (dilated) input's shape: JAX's helper of the same name."""
    pads = []
    for i, k, s, o, (lo, _), ld, rd in zip(in_shape, window_dimensions, window_strides,
                                           out_shape, padding, lhs_dilation, rhs_dilation,
                                           strict=True):
        lhs_d, rhs_d, out_d = dilate_dim(i, ld), dilate_dim(k, rd), dilate_dim(o, s)
        before = rhs_d - lo - 1
        after = lhs_d + rhs_d - 1 - out_d - before
        pads.append((before, after))
    return tuple(pads)


def _conv_general_vjp_rhs_padding(in_shape: Sequence[int], window_dimensions: Sequence[int],
                                  window_strides: Sequence[int], out_shape: Sequence[int],
                                  padding: Sequence[tuple[int, int]],
                                  lhs_dilation: Sequence[int], rhs_dilation: Sequence[int]
                                  ) -> tuple[tuple[int, int], ...]:
    pads = []
    for i, k, s, o, (lo, _), ld, rd in zip(in_shape, window_dimensions, window_strides,
                                           out_shape, padding, lhs_dilation, rhs_dilation,
                                           strict=True):
        lhs_d, rhs_d, out_d = dilate_dim(i, ld), dilate_dim(k, rd), dilate_dim(o, s)
        pads.append((lo, (out_d - lhs_d) + (rhs_d - lo - 1)))
    return tuple(pads)


def _transpose_lhs(g: Any, lhs_aval: ShapedArray, rhs: Any, *,
                   window_strides: tuple[int, ...], padding: tuple[tuple[int, int], ...],
                   lhs_dilation: tuple[int, ...], rhs_dilation: tuple[int, ...],
                   dimension_numbers: ConvDimensionNumbers, feature_group_count: int,
                   batch_group_count: int, precision: Any) -> Any:
    """JAX's _conv_general_dilated_transpose_lhs: convolve the cotangent with the spatially
    flipped kernel, its in/out features swapped (and the groups moved into the new output
    features), with strides and input dilation exchanged."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    t_rhs_spec = _spec_transpose(rhs_spec)
    if feature_group_count > 1:
        rhs = _reshape_axis_out_of(rhs_spec[0], feature_group_count, rhs)
        rhs = _reshape_axis_into(rhs_spec[0], rhs_spec[1], rhs)
    elif batch_group_count > 1:
        rhs = _reshape_axis_out_of(rhs_spec[0], batch_group_count, rhs)
        rhs = _reshape_axis_into(rhs_spec[0], rhs_spec[1], rhs)
        feature_group_count = batch_group_count
    trans_dnums = ConvDimensionNumbers(out_spec, t_rhs_spec, lhs_spec)
    rhs_shape = core.get_aval(rhs).shape
    g_shape = core.get_aval(g).shape
    pads = _conv_general_vjp_lhs_padding(
        [lhs_aval.shape[d] for d in _sdims(lhs_spec)], [rhs_shape[d] for d in _sdims(rhs_spec)],
        window_strides, [g_shape[d] for d in _sdims(out_spec)], padding, lhs_dilation,
        rhs_dilation)
    flipped = rev(rhs, _sdims(rhs_spec)) if _sdims(rhs_spec) else rhs
    compute = np.promote_types(core.get_aval(g).dtype, core.get_aval(rhs).dtype)
    out = conv_general_dilated_p.bind(
        cast_to(g, compute), cast_to(flipped, compute), window_strides=lhs_dilation, padding=pads,
        lhs_dilation=window_strides, rhs_dilation=rhs_dilation, dimension_numbers=trans_dnums,
        feature_group_count=feature_group_count, batch_group_count=1, precision=precision,
        preferred_element_type=None)
    if batch_group_count > 1:
        out = _reshape_axis_out_of(lhs_spec[1], batch_group_count, out)
        out = _reshape_axis_into(lhs_spec[1], lhs_spec[0], out)
    return cast_to(out, lhs_aval.dtype)


def _transpose_rhs(g: Any, lhs: Any, rhs_aval: ShapedArray, *,
                   window_strides: tuple[int, ...], padding: tuple[tuple[int, int], ...],
                   lhs_dilation: tuple[int, ...], rhs_dilation: tuple[int, ...],
                   dimension_numbers: ConvDimensionNumbers, feature_group_count: int,
                   batch_group_count: int, precision: Any) -> Any:
    """JAX's _conv_general_dilated_transpose_rhs: correlate the input with the cotangent,
    batch and feature roles swapped (feature groups become batch groups and vice versa),
    with strides and kernel dilation exchanged."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    g_aval = core.get_aval(g)
    if g_aval.size == 0:
        # No output element: the kernel had no influence (and the transposed convolution
        # would have a kernel of spatial size 0).
        return Zero(tangent_aval(rhs_aval))
    lhs_trans, rhs_trans, out_trans = map(_spec_transpose, dimension_numbers)
    if batch_group_count > 1:
        feature_group_count, batch_group_count = batch_group_count, 1
    elif feature_group_count > 1:
        feature_group_count, batch_group_count = 1, feature_group_count
    trans_dnums = ConvDimensionNumbers(lhs_trans, out_trans, rhs_trans)
    lhs_shape = core.get_aval(lhs).shape
    pads = _conv_general_vjp_rhs_padding(
        [lhs_shape[d] for d in _sdims(lhs_spec)], [rhs_aval.shape[d] for d in _sdims(rhs_spec)],
        window_strides, [g_aval.shape[d] for d in _sdims(out_spec)], padding, lhs_dilation,
        rhs_dilation)
    compute = np.promote_types(g_aval.dtype, core.get_aval(lhs).dtype)
    out = conv_general_dilated_p.bind(
        cast_to(lhs, compute), cast_to(g, compute), window_strides=rhs_dilation, padding=pads,
        lhs_dilation=lhs_dilation, rhs_dilation=window_strides, dimension_numbers=trans_dnums,
        feature_group_count=feature_group_count, batch_group_count=batch_group_count,
        precision=precision, preferred_element_type=None)
    return cast_to(out, rhs_aval.dtype)


def _conv_transpose_rule(ct: Any, lhs: Any, rhs: Any, *, preferred_element_type: Any = None,
                         **params: Any) -> list[Any]:
    check_linear_in_one("conv_general_dilated", (lhs, rhs))
    if is_undefined(lhs):
        return [_transpose_lhs(ct, tangent_aval(lhs.aval), rhs, **params), None]
    aval = tangent_aval(rhs.aval)
    return [None, _transpose_rhs(ct, lhs, aval, **params)]


def _conv_jvp_lhs(g: Any, lhs: Any, rhs: Any, **params: Any) -> Any:
    return conv_general_dilated_p.bind(g, rhs, **params)


def _conv_jvp_rhs(g: Any, lhs: Any, rhs: Any, **params: Any) -> Any:
    return conv_general_dilated_p.bind(lhs, g, **params)


# --- batching rule ------------------------------------------------------------------------------


def _conv_batch(axis: AxisData, vals: Sequence[Any], dims: Sequence[int | None], **params: Any
                ) -> tuple[Any, int]:
    """JAX's _conv_general_dilated_batch_rule: the vmapped dimension is folded into the
    batch dimension (lhs batched), the output features (rhs batched) or, with both batched,
    into feature groups (or batch groups), so one convolution computes the whole batch."""
    lhs, rhs = vals
    lhs_bdim, rhs_bdim = dims
    dn = params["dimension_numbers"]
    lhs_spec, rhs_spec, out_spec = dn
    fgc, bgc = params["feature_group_count"], params["batch_group_count"]
    size = axis.size
    if size == 0:
        # Groups of size zero are not convolutions: the (empty) result is zeros.
        lhs_aval, rhs_aval = core.get_aval(lhs), core.get_aval(rhs)
        ex_lhs = _drop_axis(lhs_aval, lhs_bdim)
        ex_rhs = _drop_axis(rhs_aval, rhs_bdim)
        out_aval = _conv_rule(ex_lhs, ex_rhs, **params)
        zero = np.zeros((), out_aval.dtype)
        return broadcast_in_dim(zero, (0, *out_aval.shape), ()), 0
    bind = conv_general_dilated_p.bind
    if lhs_bdim is not None and rhs_bdim is not None:
        if bgc > 1:
            new_lhs = _reshape_axis_into(lhs_bdim, lhs_spec[0], lhs)
            params = dict(params, batch_group_count=bgc * size)
        else:
            new_lhs = _reshape_axis_into(lhs_bdim, lhs_spec[1], lhs)
            params = dict(params, feature_group_count=fgc * size)
        new_rhs = _reshape_axis_into(rhs_bdim, rhs_spec[0], rhs)
        out = bind(new_lhs, new_rhs, **params)
        return _reshape_axis_out_of(out_spec[1], size, out), out_spec[1]
    if lhs_bdim is not None:
        if bgc == 1:
            new_lhs = _reshape_axis_into(lhs_bdim, lhs_spec[0], lhs)
        else:
            # Batch groups must stay outermost: factor them out of the batch dimension, fold
            # the vmapped dimension into what is left, and put the groups back in front.
            new_lhs = _reshape_axis_out_of(lhs_spec[0] + int(lhs_bdim <= lhs_spec[0]), bgc,
                                           lhs)
            new_lhs = _reshape_axis_into(lhs_bdim + int(lhs_spec[0] < lhs_bdim),
                                         lhs_spec[0] + 1, new_lhs)
            new_lhs = _reshape_axis_into(lhs_spec[0], lhs_spec[0], new_lhs)
        out = bind(new_lhs, rhs, **params)
        return _reshape_axis_out_of(out_spec[0], size, out), out_spec[0]
    if fgc == 1 and bgc == 1:
        new_rhs = _reshape_axis_into(rhs_bdim, rhs_spec[0], rhs)
        out = bind(lhs, new_rhs, **params)
        return _reshape_axis_out_of(out_spec[1], size, out), out_spec[1]
    # Groups must stay outermost in the output features: factor them out, fold the vmapped
    # dimension into the rest, put them back; undo the same on the output.
    groups = fgc if fgc > 1 else bgc
    new_rhs = _reshape_axis_out_of(rhs_spec[0] + int(rhs_bdim <= rhs_spec[0]), groups, rhs)
    new_rhs = _reshape_axis_into(rhs_bdim + int(rhs_spec[0] < rhs_bdim), rhs_spec[0] + 1,
                                 new_rhs)
    new_rhs = _reshape_axis_into(rhs_spec[0], rhs_spec[0], new_rhs)
    out = bind(lhs, new_rhs, **params)
    out = _reshape_axis_out_of(out_spec[1], groups, out)
    out = _reshape_axis_out_of(out_spec[1] + 1, size, out)
    out = _reshape_axis_into(out_spec[1], out_spec[1] + 1, out)
    return out, out_spec[1]


def _drop_axis(aval: ShapedArray, bdim: int | None) -> ShapedArray:
    if bdim is None:
        return aval
    return aval.update(shape=aval.shape[:bdim] + aval.shape[bdim + 1:])


conv_general_dilated_p = define_primitive(
    "conv_general_dilated", family="contraction", impl=_conv_impl, abstract_eval=_conv_rule,
    dtypes=dt.NUMERIC, sample=_conv_sample,
    jvp=jvp_partials(_conv_jvp_lhs, _conv_jvp_rhs),
    transpose=_conv_transpose_rule, linear_in=(0, 1), batch=_conv_batch,
    doc="N-d convolution with strides, padding, dilations and feature/batch groups")


# --- wrappers -----------------------------------------------------------------------------------


def _int_tuple(value: Any, n: int, what: str, name: str = "conv_general_dilated"
               ) -> tuple[int, ...]:
    """Strides and dilations: None means all ones, one int applies to every dimension."""
    if value is None:
        return (1,) * n
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    return rules.int_tuple(name, what, value)


def _canonical_precision(precision: Any) -> Any:
    try:
        return canonicalize_precision(precision)
    except ValueError:
        raise ValueError(f"{_NAME}: precision must be None, a lax.Precision, its name, or a "
                         f"pair of these (one per operand); got {precision!r}") from None


def conv_general_dilated(lhs: Any, rhs: Any, window_strides: Sequence[int], padding: Any,
                         lhs_dilation: Sequence[int] | None = None,
                         rhs_dilation: Sequence[int] | None = None,
                         dimension_numbers: Any = None, feature_group_count: int = 1,
                         batch_group_count: int = 1, precision: Any = None,
                         preferred_element_type: Any = None) -> Any:
    """General n-d convolution (XLA's ConvGeneralDilated, ``lax.conv_general_dilated``).

    ``padding`` is 'SAME', 'VALID', 'SAME_LOWER' or a (low, high) pair per spatial dimension;
    ``lhs_dilation`` dilates the input (a transposed convolution), ``rhs_dilation`` the kernel
    (an atrous convolution); ``dimension_numbers`` is None (NCHW / OIHW / NCHW layouts), a
    ConvDimensionNumbers, or layout strings such as ('NHWC', 'HWIO', 'NHWC').
    """
    la, ra = core.get_aval(lhs), core.get_aval(rhs)
    dnums = conv_dimension_numbers(la.shape, ra.shape, dimension_numbers)
    nsp = la.ndim - 2
    strides = _int_tuple(window_strides, nsp, "window_strides")
    lhs_dil = _int_tuple(lhs_dilation, nsp, "lhs_dilation")
    rhs_dil = _int_tuple(rhs_dilation, nsp, "rhs_dilation")
    if isinstance(padding, (str, PaddingType)):
        if any(d != 1 for d in lhs_dil):
            raise ValueError(f"{_NAME}: string padding is not implemented for transposed "
                             f"convolutions (lhs_dilation={lhs_dil}); give explicit (low, "
                             f"high) pads or use lax.conv_transpose")
        in_sp = [la.shape[d] for d in dnums.lhs_spec[2:]]
        k_sp = [dilate_dim(ra.shape[d], r) for d, r in zip(dnums.rhs_spec[2:], rhs_dil,
                                                           strict=False)]
        pads = tuple(padtype_to_pads(in_sp, k_sp, strides, padding))
    else:
        pads = rules.int_pairs("conv_general_dilated", padding, "'SAME', 'VALID', 'SAME_LOWER'")
    preferred = (None if preferred_element_type is None
                 else dt.canonicalize(preferred_element_type))
    return conv_general_dilated_p.bind(
        lhs, rhs, window_strides=strides, padding=pads, lhs_dilation=lhs_dil,
        rhs_dilation=rhs_dil, dimension_numbers=dnums,
        feature_group_count=operator.index(feature_group_count),
        batch_group_count=operator.index(batch_group_count),
        precision=_canonical_precision(precision), preferred_element_type=preferred)


def conv(lhs: Any, rhs: Any, window_strides: Sequence[int], padding: Any,
         precision: Any = None, preferred_element_type: Any = None) -> Any:
    """Convolution in the NCHW / OIHW / NCHW layouts, without dilation."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_with_general_padding(lhs: Any, rhs: Any, window_strides: Sequence[int],
                              padding: Any, lhs_dilation: Sequence[int] | None,
                              rhs_dilation: Sequence[int] | None, precision: Any = None,
                              preferred_element_type: Any = None) -> Any:
    """Convolution in the NCHW / OIHW / NCHW layouts with padding and dilations."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
                                rhs_dilation=rhs_dilation, precision=precision,
                                preferred_element_type=preferred_element_type)


def _conv_transpose_padding(k: int, s: int, padding: str) -> tuple[int, int]:
    """Explicit pads making conv_transpose's output size s * in ('SAME') or
    s * (in - 1) + k ('VALID'), as in JAX."""
    if padding == "SAME":
        pad_len = k + s - 2
        pad_a = k - 1 if s > k - 1 else int(np.ceil(pad_len / 2))
    elif padding == "VALID":
        pad_len = k + s - 2 + max(k - s, 0)
        pad_a = k - 1
    else:
        raise ValueError(f"functrans.lax.conv_transpose: padding must be 'SAME', 'VALID' or "
                         f"(low, high) pairs, got {padding!r}")
    return pad_a, pad_len - pad_a


def conv_transpose(lhs: Any, rhs: Any, strides: Sequence[int], padding: Any,
                   rhs_dilation: Sequence[int] | None = None, dimension_numbers: Any = None,
                   transpose_kernel: bool = False, precision: Any = None,
                   preferred_element_type: Any = None) -> Any:
    """A transposed ("deconvolution") convolution: the input is dilated by ``strides``.

    Layouts default to NHWC / HWIO / NHWC (by rank). ``transpose_kernel=True`` flips the
    kernel spatially and swaps its in/out feature axes, giving the gradient of
    ``conv_general_dilated`` with respect to its input (as in JAX and TensorFlow).
    """
    la, ra = core.get_aval(lhs), core.get_aval(rhs)
    ndim = la.ndim
    if ndim != ra.ndim or ndim < 2:
        raise ShapeError(f"functrans.lax.conv_transpose: lhs and rhs must have the same rank "
                         f">= 2, got lhs {la.str_short()} and rhs {ra.str_short()}")
    if dimension_numbers is None:
        defaults = {2: ("NC", "IO", "NC"), 3: ("NHC", "HIO", "NHC"),
                    4: ("NHWC", "HWIO", "NHWC"), 5: ("NHWDC", "HWDIO", "NHWDC")}
        if ndim not in defaults:
            raise ValueError("functrans.lax.conv_transpose: no default dimension_numbers for "
                             f"rank {ndim}; pass dimension_numbers")
        dimension_numbers = defaults[ndim]
    dn = conv_dimension_numbers(la.shape, ra.shape, dimension_numbers)
    k_sdims = [ra.shape[d] for d in dn.rhs_spec[2:]]
    nsp = ndim - 2
    strides = _int_tuple(strides, nsp, "strides", "conv_transpose")
    if isinstance(padding, str):
        rd = _int_tuple(rhs_dilation, nsp, "rhs_dilation", "conv_transpose")
        pads: Any = [_conv_transpose_padding(dilate_dim(k, r), s, padding)
                     for k, r, s in zip(k_sdims, rd, strides, strict=True)]
    else:
        pads = padding
    if transpose_kernel:
        rhs = rev(rhs, dn.rhs_spec[2:]) if nsp else rhs
        perm = list(range(ndim))
        perm[dn.rhs_spec[0]], perm[dn.rhs_spec[1]] = perm[dn.rhs_spec[1]], perm[dn.rhs_spec[0]]
        rhs = transpose(rhs, tuple(perm))
    return conv_general_dilated(lhs, rhs, (1,) * nsp, pads, strides, rhs_dilation, dn,
                                precision=precision,
                                preferred_element_type=preferred_element_type)
