"""Eager value_and_grad of a 784-512-512-10 MLP loss (batch 128, float32).

Compares functrans' eager (no jit) value_and_grad with the plain forward NumPy computation
(target: functrans' gradient costs under 3x the forward pass), a hand-written NumPy
forward+backward, and, when installed, HIPS autograd and JAX without jit.

    python benchmarks/grad_mlp.py [--samples 9]
"""

from __future__ import annotations

import argparse

import harness  # noqa: F401  (pins BLAS threads before numpy loads)
import numpy as np
from workloads import mlp_loss


def numpy_value_and_grad(params, x, y):
    (w1, b1), (w2, b2), (w3, b3) = params
    a1 = x @ w1 + b1
    h1 = np.tanh(a1)
    a2 = h1 @ w2 + b2
    h2 = np.tanh(a2)
    out = h2 @ w3 + b3
    diff = out - y
    loss = np.mean(diff ** 2)
    d_out = 2 * diff / diff.size
    g3 = (h2.T @ d_out, d_out.sum(0))
    d_h2 = (d_out @ w3.T) * (1 - h2 ** 2)
    g2 = (h1.T @ d_h2, d_h2.sum(0))
    d_h1 = (d_h2 @ w2.T) * (1 - h1 ** 2)
    g1 = (x.T @ d_h1, d_h1.sum(0))
    return loss, (g1, g2, g3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=9)
    args = parser.parse_args()

    import functrans as ft
    import functrans.numpy as fnp

    rng = np.random.default_rng(0)
    sizes = [784, 512, 512, 10]
    params = [((rng.normal(size=(m, n)) / np.sqrt(m)).astype(np.float32),
               np.zeros(n, np.float32)) for m, n in zip(sizes[:-1], sizes[1:])]
    x = rng.normal(size=(128, 784)).astype(np.float32)
    y = rng.normal(size=(128, 10)).astype(np.float32)

    forward = mlp_loss(np)
    ft_vg = ft.value_and_grad(mlp_loss(fnp))
    v_ref, g_ref = numpy_value_and_grad(params, x, y)
    v, g = ft_vg(params, x, y)
    np.testing.assert_allclose(float(v), v_ref, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(g[0][0]), g_ref[0][0], rtol=1e-3, atol=1e-6)

    ft_jit_vg = ft.jit(ft_vg)
    ft_jit_vg(params, x, y)
    systems = {
        "numpy forward only": lambda: forward(params, x, y),
        "numpy hand-written value+grad": lambda: numpy_value_and_grad(params, x, y),
        "functrans value_and_grad (eager)": lambda: ft_vg(params, x, y),
        "functrans jit(value_and_grad)": lambda: ft_jit_vg(params, x, y),
    }
    autograd = harness.optional("autograd")
    if autograd is not None:
        import autograd.numpy as anp
        ag_vg = autograd.value_and_grad(mlp_loss(anp))
        systems["autograd value_and_grad"] = lambda: ag_vg(params, x, y)
    jax = harness.optional("jax")
    if jax is not None:
        import jax.numpy as jnp
        jparams = jax.tree_util.tree_map(jnp.asarray, params)
        jx, jy = jnp.asarray(x), jnp.asarray(y)
        j_vg = jax.value_and_grad(mlp_loss(jnp))

        def run_jax():
            out = j_vg(jparams, jx, jy)
            jax.block_until_ready(out)
        systems["jax value_and_grad (no jit)"] = run_jax
        j_jit = jax.jit(j_vg)
        jax.block_until_ready(j_jit(jparams, jx, jy))
        systems["jax.jit(value_and_grad)"] = lambda: jax.block_until_ready(
            j_jit(jparams, jx, jy))

    print("value_and_grad of a 784-512-512-10 MLP, batch 128, float32, 1 BLAS thread")
    results = harness.compare(systems, samples=args.samples)
    harness.report(results, baseline="numpy forward only")
    ratio = results["functrans value_and_grad (eager)"][0] / results["numpy forward only"][0]
    print(f"functrans eager grad / numpy forward: {ratio:.2f}x (target < 3x)")
    for other in ("autograd value_and_grad", "jax value_and_grad (no jit)"):
        if other in results:
            r = results[other][0] / results["functrans value_and_grad (eager)"][0]
            print(f"{other} / functrans eager: {r:.2f}x")
    if "jax.jit(value_and_grad)" in results:
        r = results["functrans jit(value_and_grad)"][0] / results["jax.jit(value_and_grad)"][0]
        print(f"functrans jit / jax.jit: {r:.2f}x (target <= 1.25x)")


if __name__ == "__main__":
    main()
