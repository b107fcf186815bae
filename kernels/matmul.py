"""Hand-written Triton matmul: a tile function that generated kernels call, and a standalone
kernel with a fused epilogue (bias, activation, scale, cast).

``matmul_tile`` computes one (BLOCK_M, BLOCK_N) tile of ``A[b] @ B[b]`` for any strides (so
transposed and broadcast operands are read in place), with grouped program ordering for L2
reuse, a float32 accumulator (float64 for float64 inputs: an fp32 accumulator is silently
wrong in the interpreter and rejected on the GPU, anchors/lowering.md 1.4) and IEEE fp32
products (``tl.dot``'s default on a GPU is tf32). The Triton backend generates kernels that
call it and then run their own epilogue on the accumulator (lowering/triton_backend.py);
``matmul(...)`` here is the same tile plus a fixed epilogue, for direct use:

    out = matmul(a, b, bias=bias, activation="gelu", scale=0.5, out_dtype=np.float16)

Block sizes come from a small per-dtype table (``block_config``), clamped to the problem.
This module imports triton: import it only where kernels run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import triton
import triton.language as tl
from functrans.kernels import tl_math
from functrans.lowering.triton_rules import block_config

ACTIVATIONS = ("none", "relu", "gelu", "silu", "tanh", "sigmoid")


@triton.jit
def matmul_tile(a_ptr, b_ptr, M, N, K, stride_ab, stride_am, stride_ak, stride_bb, stride_bk,
                stride_bn, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr, ACC: tl.constexpr):
    """One output tile: (acc [BLOCK_M, BLOCK_N], rows [BLOCK_M, 1], cols [1, BLOCK_N],
    batch index). Grid: (cdiv(M, BLOCK_M) * cdiv(N, BLOCK_N), batch)."""
    pid = tl.program_id(0)
    pid_b = tl.program_id(1)
    num_m = tl.cdiv(M, BLOCK_M)
    num_n = tl.cdiv(N, BLOCK_N)
    per_group = GROUP_M * num_n
    group = pid // per_group
    first_m = group * GROUP_M
    group_size = tl.minimum(num_m - first_m, GROUP_M)
    pid_m = first_m + (pid % per_group) % group_size
    pid_n = (pid % per_group) // group_size
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    a_base = a_ptr + pid_b * stride_ab
    b_base = b_ptr + pid_b * stride_bb
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC)
    for k0 in range(0, K, BLOCK_K):
        kk = k0 + rk
        a = tl.load(a_base + rm[:, None] * stride_am + kk[None, :] * stride_ak,
                    mask=(rm[:, None] < M) & (kk[None, :] < K), other=0.0)
        b = tl.load(b_base + kk[:, None] * stride_bk + rn[None, :] * stride_bn,
                    mask=(kk[:, None] < K) & (rn[None, :] < N), other=0.0)
        acc = tl.dot(a, b, acc, input_precision="ieee", out_dtype=ACC)
    return acc, rm[:, None], rn[None, :], pid_b


@triton.jit
def _activation(x, ACTIVATION: tl.constexpr):
    if ACTIVATION == "relu":
        x = tl_math.maximum(x, 0.0)
    elif ACTIVATION == "gelu":
        # tanh approximation, as jax.nn.gelu(approximate=True)
        x = 0.5 * x * (1.0 + tl_math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    elif ACTIVATION == "silu":
        x = x * tl_math.logistic(x)
    elif ACTIVATION == "tanh":
        x = tl_math.tanh(x)
    elif ACTIVATION == "sigmoid":
        x = tl_math.logistic(x)
    return x


@triton.jit
def matmul_kernel(a_ptr, b_ptr, bias_ptr, c_ptr, M, N, K, stride_ab, stride_am, stride_ak,
                  stride_bb, stride_bk, stride_bn, scale, HAS_BIAS: tl.constexpr,
                  HAS_SCALE: tl.constexpr, ACTIVATION: tl.constexpr, BLOCK_M: tl.constexpr,
                  BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
                  ACC: tl.constexpr):
    """``c[b] = cast(act(a[b] @ b[b] + bias) * scale)``; c is contiguous (batch, M, N)."""
    acc, rm, rn, pid_b = matmul_tile(a_ptr, b_ptr, M, N, K, stride_ab, stride_am, stride_ak,
                                     stride_bb, stride_bk, stride_bn, BLOCK_M, BLOCK_N,
                                     BLOCK_K, GROUP_M, ACC)
    mask = (rm < M) & (rn < N)
    if HAS_BIAS:
        acc = acc + tl.load(bias_ptr + rn, mask=rn < N, other=0.0).to(ACC)
    acc = _activation(acc, ACTIVATION)
    if HAS_SCALE:
        acc = acc * scale
    tl.store(c_ptr + pid_b * M * N + rm * N + rn, acc.to(c_ptr.dtype.element_ty), mask=mask)


def matmul(a: Any, b: Any, bias: Any = None, activation: str = "none", scale: float | None
           = None, out_dtype: Any = None) -> Any:
    """``act(a @ b + bias) * scale`` cast to ``out_dtype`` in one kernel, for 2-D or batched
    3-D ``a`` and ``b`` (NumPy arrays under TRITON_INTERPRET=1, CuPy arrays on a GPU)."""
    from functrans.kernels import launch
    if activation not in ACTIVATIONS:
        raise ValueError(f"matmul: activation must be one of {ACTIVATIONS}, got {activation!r}")
    rt = launch.runtime()
    a, b = rt.input(a), rt.input(b)
    if a.ndim not in (2, 3) or b.ndim != a.ndim:
        raise ValueError(f"matmul: expects 2-D or 3-D operands of the same rank, got "
                         f"{a.shape} and {b.shape}")
    if a.dtype != b.dtype or a.dtype.kind != "f":
        raise TypeError(f"matmul: operands must share a float dtype, got {a.dtype} and "
                        f"{b.dtype}")
    batched = a.ndim == 3
    a3 = a if batched else a[None]
    b3 = b if batched else b[None]
    if a3.shape[0] != b3.shape[0] or a3.shape[2] != b3.shape[1]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not chain")
    batch, m, k = a3.shape
    n = b3.shape[2]
    out_dtype = np.dtype(out_dtype or a.dtype)
    c = rt.empty((batch, m, n), out_dtype)
    bias_arg = rt.input(bias) if bias is not None else c
    acc = tl.float64 if a.dtype == np.float64 else tl.float32
    bm, bn, bk, warps, stages = block_config(a.dtype, m, n, k, rt.name == "interpreter")
    item = a.itemsize
    sa = [s // item for s in a3.strides]
    sb = [s // item for s in b3.strides]
    grid = (triton.cdiv(m, bm) * triton.cdiv(n, bn), batch)
    rt.launch(matmul_kernel, grid,
              (a3, b3, bias_arg, c, m, n, k, sa[0], sa[1], sa[2], sb[0], sb[1], sb[2],
               float(scale if scale is not None else 1.0)),
              {"HAS_BIAS": bias is not None, "HAS_SCALE": scale is not None,
               "ACTIVATION": activation, "BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk,
               "GROUP_M": 8, "ACC": acc, "num_warps": warps, "num_stages": stages})
    return c if batched else c[0]
