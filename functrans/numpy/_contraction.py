"""Products in ``functrans.numpy``: matmul (with broadcast batch dimensions), dot, vdot,
inner, outer, tensordot; each is one ``dot_general`` (plus reshapes/transposes).

Size-1 batch dimensions are never materialized: they are squeezed and treated as free
dimensions of the other operand, so ``(1, n, k) @ (b, k, m)`` costs one BLAS call per batch.
Imports ``lax`` and ``_promotion``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from functrans import lax
from functrans.errors import ShapeError
from functrans.numpy._promotion import asarray_leaf, promote_dtypes, shape_of
from functrans.numpy._shape import ravel, reshape

__all__ = ["matmul", "dot", "vdot", "vecdot", "inner", "outer", "tensordot"]


def _prepare(name: str, a: Any, b: Any) -> tuple[Any, Any]:
    a, b = promote_dtypes(asarray_leaf(a), asarray_leaf(b))
    return a, b


_MATRIX_PRODUCT = (((1,), (0,)), ((), ()))


def matmul(a: Any, b: Any, /) -> Any:
    """Matrix product with NumPy's broadcasting over leading (batch) dimensions."""
    a, b = _prepare("matmul", a, b)
    sa, sb = shape_of(a), shape_of(b)
    if len(sa) == 2 and len(sb) == 2 and sa[1] == sb[0]:
        return lax.dot_general_p.bind(a, b, dimension_numbers=_MATRIX_PRODUCT, precision=None,
                                      preferred_element_type=None)  # the common case, directly
    if not sa or not sb:
        raise ValueError("functrans.numpy.matmul: operands must be at least 1-dimensional "
                         f"(got shapes {sa} and {sb}); use multiply for scalars")
    a_vec, b_vec = len(sa) == 1, len(sb) == 1
    if a_vec or b_vec:
        # A vector operand contracts directly (no (1, n) reshape): vmap of x @ W then stays a
        # plain matrix product.
        ca, cb = len(sa) - 1, (0 if b_vec else len(sb) - 2)
        if sa[ca] != sb[cb]:
            raise ShapeError(
                f"functrans.numpy.matmul: contracted dimensions differ: {describe(a)} and "
                f"{describe(b)} ({sa[ca]} vs {sb[cb]})")
        return lax.dot_general(a, b, (((ca,), (cb,)), ((), ())))
    if sa[-1] != sb[-2]:
        raise ShapeError(
            f"functrans.numpy.matmul: contracted dimensions differ: {describe(a)} has "
            f"{sa[-1]} columns but {describe(b)} has {sb[-2]} rows")
    ba, bb = sa[:-2], sb[:-2]
    nb = max(len(ba), len(bb))
    ba, bb = (1,) * (nb - len(ba)) + ba, (1,) * (nb - len(bb)) + bb
    pad_a, pad_b = nb - (len(sa) - 2), nb - (len(sb) - 2)
    shared, a_free, b_free, a_squeeze, b_squeeze = [], [], [], [], []
    for i, (x, y) in enumerate(zip(ba, bb, strict=True)):
        if x == y:
            shared.append(i)
        elif x == 1:
            a_squeeze.append(i)
            b_free.append(i)
        elif y == 1:
            b_squeeze.append(i)
            a_free.append(i)
        else:
            raise ShapeError(f"functrans.numpy.matmul: batch dimensions of shapes {sa} and "
                             f"{sb} do not broadcast (axis {i - nb - 2}: {x} vs {y})")
    # Real axis numbers in each operand (padded batch dims do not exist there).
    a_axes = {i: i - pad_a for i in range(nb) if i >= pad_a}
    b_axes = {i: i - pad_b for i in range(nb) if i >= pad_b}
    a_drop = tuple(a_axes[i] for i in a_squeeze if i in a_axes)
    b_drop = tuple(b_axes[i] for i in b_squeeze if i in b_axes)
    # Shared dims that are padding in one operand must be size 1 in both: squeeze them too.
    shared_real = [i for i in shared if i in a_axes and i in b_axes]
    a_drop += tuple(a_axes[i] for i in shared if i in a_axes and i not in b_axes)
    b_drop += tuple(b_axes[i] for i in shared if i in b_axes and i not in a_axes)
    if a_drop:
        a = lax.squeeze(a, tuple(sorted(a_drop)))
    if b_drop:
        b = lax.squeeze(b, tuple(sorted(b_drop)))

    def renumber(axes_map: dict[int, int], dropped: tuple[int, ...]) -> dict[int, int]:
        return {i: r - sum(1 for d in dropped if d < r)
                for i, r in axes_map.items() if r not in dropped}

    a_map, b_map = renumber(a_axes, a_drop), renumber(b_axes, b_drop)
    ra, rb = len(shape_of(a)), len(shape_of(b))
    dims = (((ra - 1,), (rb - 2,)),
            (tuple(a_map[i] for i in shared_real), tuple(b_map[i] for i in shared_real)))
    out = lax.dot_general(a, b, dims)
    # Output order: shared batch, a free (its batch dims then n), b free (batch dims then m).
    order = shared_real + [i for i in a_free if i in a_map] + ["n"] + \
        [i for i in b_free if i in b_map] + ["m"]
    final = [i for i in range(nb) if i in order] + ["n", "m"]
    perm = tuple(order.index(x) for x in final)
    if perm != tuple(range(len(perm))):
        out = lax.transpose(out, perm)
    out_shape = list(shape_of(out))
    full_batch = tuple(max(x, y) for x, y in zip(ba, bb, strict=True))
    present = [i for i in range(nb) if i in order]
    if len(present) != nb:
        out = reshape(out, full_batch + tuple(out_shape[len(present):]))
    return out


def describe(x: Any) -> str:
    from functrans.numpy._promotion import describe as _describe
    return _describe(x)


def dot(a: Any, b: Any) -> Any:
    """NumPy's dot: scalars multiply; otherwise contract a's last axis with b's second-to-last
    (or only) axis."""
    a, b = _prepare("dot", a, b)
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        return lax.mul(*lax_broadcast_scalar(a, b))
    ca = len(sa) - 1
    cb = 0 if len(sb) == 1 else len(sb) - 2
    if sa[ca] != sb[cb]:
        raise ShapeError(f"functrans.numpy.dot: shapes {sa} and {sb} not aligned: {sa[ca]} "
                         f"(axis {ca}) != {sb[cb]} (axis {cb})")
    out = lax.dot_general(a, b, (((ca,), (cb,)), ((), ())))
    return out


def lax_broadcast_scalar(a: Any, b: Any) -> tuple[Any, Any]:
    from functrans.numpy._promotion import promote_shapes
    return tuple(promote_shapes("dot", a, b))  # type: ignore[return-value]


def vdot(a: Any, b: Any) -> Any:
    """Dot product of the flattened arrays, conjugating the first."""
    from functrans.numpy._ufuncs import conjugate
    return dot(conjugate(ravel(a)), ravel(b))


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """Vector dot product along ``axis`` with broadcasting, conjugating x1."""
    from functrans.numpy._reductions import sum as sum_
    from functrans.numpy._ufuncs import conjugate, multiply
    return sum_(multiply(conjugate(x1), x2), axis=axis)


def inner(a: Any, b: Any) -> Any:
    """Contract the last axes of a and b."""
    a, b = _prepare("inner", a, b)
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        return lax.mul(*lax_broadcast_scalar(a, b))
    if sa[-1] != sb[-1]:
        raise ShapeError(f"functrans.numpy.inner: last dimensions differ: {sa} vs {sb}")
    return lax.dot_general(a, b, (((len(sa) - 1,), (len(sb) - 1,)), ((), ())))


def outer(a: Any, b: Any) -> Any:
    """Outer product of the flattened arrays."""
    a, b = _prepare("outer", ravel(a), ravel(b))
    return lax.dot_general(reshape(a, (-1, 1)), reshape(b, (1, -1)), (((1,), (0,)), ((), ())))


def tensordot(a: Any, b: Any, axes: int | Sequence[Any] = 2) -> Any:
    """Sum products over the given axes (like numpy.tensordot)."""
    a, b = _prepare("tensordot", a, b)
    sa, sb = shape_of(a), shape_of(b)
    if isinstance(axes, int):
        if axes < 0 or axes > min(len(sa), len(sb)):
            raise ValueError(f"functrans.numpy.tensordot: axes={axes} out of range for shapes "
                             f"{sa} and {sb}")
        ax_a = tuple(range(len(sa) - axes, len(sa)))
        ax_b = tuple(range(axes))
    else:
        ax_a, ax_b = axes
        ax_a = (ax_a,) if isinstance(ax_a, int) else tuple(ax_a)
        ax_b = (ax_b,) if isinstance(ax_b, int) else tuple(ax_b)
        ax_a = tuple(x % len(sa) for x in ax_a)
        ax_b = tuple(x % len(sb) for x in ax_b)
    for i, j in zip(ax_a, ax_b, strict=True):
        if sa[i] != sb[j]:
            raise ShapeError(f"functrans.numpy.tensordot: shape mismatch for sum: {sa} axis "
                             f"{i} ({sa[i]}) vs {sb} axis {j} ({sb[j]})")
    return lax.dot_general(a, b, ((ax_a, ax_b), ((), ())))

