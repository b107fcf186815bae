"""Per-example gradients of a 64-128-10 MLP loss, batch 64, float32.

functrans' vmap(grad) (one batched program: the batch is folded into dot_general, never a
Python loop) against a Python loop of functrans grads, a hand-batched NumPy version, and, when
installed, JAX's vmap(grad) with and without jit.

    python benchmarks/per_example_grads.py [--samples 9]
"""

from __future__ import annotations

import argparse

import harness  # noqa: F401  (pins BLAS threads before numpy loads)
import numpy as np


def loss_fn(np_like):
    def loss(params, x, y):
        h = np_like.tanh(x @ params["w1"] + params["b1"])
        out = h @ params["w2"] + params["b2"]
        return np_like.sum((out - y) ** 2)
    return loss


def numpy_per_example(params, xs, ys):
    """Hand-batched per-example gradients (the einsum formulation)."""
    h = np.tanh(xs @ params["w1"] + params["b1"])
    out = h @ params["w2"] + params["b2"]
    d_out = 2 * (out - ys)
    g_w2 = np.einsum("bi,bj->bij", h, d_out)
    d_h = (d_out @ params["w2"].T) * (1 - h ** 2)
    g_w1 = np.einsum("bi,bj->bij", xs, d_h)
    return {"w1": g_w1, "b1": d_h, "w2": g_w2, "b2": d_out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=9)
    args = parser.parse_args()

    import functrans as ft
    import functrans.numpy as fnp

    rng = np.random.default_rng(0)
    params = {"w1": (rng.normal(size=(64, 128)) / 8).astype(np.float32),
              "b1": np.zeros(128, np.float32),
              "w2": (rng.normal(size=(128, 10)) / 11).astype(np.float32),
              "b2": np.zeros(10, np.float32)}
    xs = rng.normal(size=(64, 64)).astype(np.float32)
    ys = rng.normal(size=(64, 10)).astype(np.float32)

    per_example = ft.vmap(ft.grad(loss_fn(fnp)), in_axes=(None, 0, 0))
    one = ft.grad(loss_fn(fnp))
    want = numpy_per_example(params, xs, ys)
    got = per_example(params, xs, ys)
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=2e-4, atol=1e-5)

    systems = {
        "numpy hand-batched": lambda: numpy_per_example(params, xs, ys),
        "functrans vmap(grad) eager": lambda: per_example(params, xs, ys),
        "functrans loop of grad": lambda: [one(params, xs[i], ys[i]) for i in range(64)],
    }
    if hasattr(ft, "jit"):
        jitted = ft.jit(per_example)
        jitted(params, xs, ys)
        systems["functrans jit(vmap(grad))"] = lambda: jitted(params, xs, ys)
    jax = harness.optional("jax")
    if jax is not None:
        import jax.numpy as jnp
        jp = jax.tree_util.tree_map(jnp.asarray, params)
        jxs, jys = jnp.asarray(xs), jnp.asarray(ys)
        j_eager = jax.vmap(jax.grad(loss_fn(jnp)), in_axes=(None, 0, 0))
        j_jit = jax.jit(j_eager)
        jax.block_until_ready(j_jit(jp, jxs, jys))
        systems["jax jit(vmap(grad))"] = lambda: jax.block_until_ready(j_jit(jp, jxs, jys))
        systems["jax vmap(grad) no jit"] = lambda: jax.block_until_ready(j_eager(jp, jxs, jys))

    print("per-example gradients, 64-128-10 MLP, batch 64, float32, 1 BLAS thread")
    results = harness.compare(systems, samples=args.samples)
    harness.report(results, baseline="numpy hand-batched")
    ours = results["functrans vmap(grad) eager"][0]
    print(f"functrans loop of grads / functrans vmap(grad): "
          f"{results['functrans loop of grad'][0] / ours:.1f}x")
    if "jax jit(vmap(grad))" in results:
        print(f"jax jit(vmap(grad)) / functrans vmap(grad) eager: "
              f"{results['jax jit(vmap(grad))'][0] / ours:.2f}x")


if __name__ == "__main__":
    main()
