"""Speed of two NumPy impls that tests used to time: convolution and random uniforms.

- conv_general_dilated's impl on a small CNN layer ((8, 3, 32, 32) x (16, 3, 3, 3), SAME
  padding, float32) against one matmul of the same FLOPs (the im2col GEMM it should approach).
- functrans.random.uniform of 1e6 float32 against NumPy's Generator.random (a different
  generator; the ratio says what counter-based threefry in NumPy costs).

    python benchmarks/primitive_speed.py [--samples 9]
"""

from __future__ import annotations

import argparse

import harness
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=9)
    args = parser.parse_args()

    import functrans as ft
    from functrans import lax

    x = np.random.default_rng(0).normal(size=(8, 3, 32, 32)).astype(np.float32)
    w = np.random.default_rng(1).normal(size=(16, 3, 3, 3)).astype(np.float32)
    cols = np.ones((8 * 32 * 32, 3 * 3 * 3), np.float32)
    wmat = np.ones((3 * 3 * 3, 16), np.float32)
    results = harness.compare({
        "GEMM of the same FLOPs": lambda: cols @ wmat,
        "conv_general_dilated": lambda: lax.conv_general_dilated(x, w, (1, 1), "SAME"),
    }, samples=args.samples)
    print("conv (8,3,32,32) x (16,3,3,3), SAME, float32")
    harness.report(results, baseline="GEMM of the same FLOPs")

    key = ft.random.PRNGKey(0)
    rng = np.random.default_rng(0)
    results = harness.compare({
        "numpy Generator.random": lambda: rng.random(1_000_000, np.float32),
        "functrans.random.uniform": lambda: ft.random.uniform(key, (1_000_000,)),
    }, samples=args.samples)
    print("1e6 uniform float32")
    harness.report(results, baseline="numpy Generator.random")


if __name__ == "__main__":
    main()
