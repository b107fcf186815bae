"""An RNN with lax.scan: h = tanh(h @ W + x_t @ U), hidden 256, input 128, batch 32, 100 steps,
float32; forward value and value_and_grad with respect to (W, U, h0).

Compares functrans' scan, eager and under jit, with a plain NumPy loop (forward) and a
hand-written NumPy backpropagation through time (value and gradient), and, when JAX is
importable, jax.jit of lax.scan (target, issue 7: functrans jit value_and_grad within 1.5x of
JAX's). JAX is not a dependency; to include it, run with an interpreter that has it, e.g.
``PYTHONPATH=. /path/to/jax-venv/bin/python benchmarks/rnn_scan.py``.

    python benchmarks/rnn_scan.py [--samples 9]
"""

from __future__ import annotations

import argparse

import harness
import numpy as np

HIDDEN, INPUT, BATCH, STEPS = 256, 128, 32, 100


def make_loss(lax, np_like):
    def loss(params, h0, xs):
        w, u = params

        def step(h, x):
            h = np_like.tanh(h @ w + x @ u)
            return h, None

        h, _ = lax.scan(step, h0, xs)
        return np_like.sum(h * h) / h.shape[0]

    return loss


def numpy_forward(params, h0, xs):
    w, u = params
    h = h0
    for x in xs:
        h = np.tanh(h @ w + x @ u)
    return np.sum(h * h) / h.shape[0]


def numpy_value_and_grad(params, h0, xs):
    """Backpropagation through time by hand (the reference for the gradient rows)."""
    w, u = params
    hs = [h0]
    for x in xs:
        hs.append(np.tanh(hs[-1] @ w + x @ u))
    h = hs[-1]
    value = np.sum(h * h) / h.shape[0]
    dh = 2 * h / h.shape[0]
    dw, du = np.zeros_like(w), np.zeros_like(u)
    for t in range(len(xs) - 1, -1, -1):
        dz = dh * (1 - hs[t + 1] ** 2)
        dw += hs[t].T @ dz
        du += xs[t].T @ dz
        dh = dz @ w.T
    return value, ((dw, du), dh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=9)
    args = parser.parse_args()

    import functrans as ft
    import functrans.numpy as fnp

    rng = np.random.default_rng(0)
    w = (rng.normal(size=(HIDDEN, HIDDEN)) / np.sqrt(HIDDEN)).astype(np.float32)
    u = (rng.normal(size=(INPUT, HIDDEN)) / np.sqrt(INPUT)).astype(np.float32)
    h0 = (0.1 * rng.normal(size=(BATCH, HIDDEN))).astype(np.float32)
    xs = rng.normal(size=(STEPS, BATCH, INPUT)).astype(np.float32)
    params = (w, u)

    ft_loss = make_loss(ft.lax, fnp)
    ft_vg = ft.value_and_grad(ft_loss, argnums=(0, 1))
    ft_jit_loss, ft_jit_vg = ft.jit(ft_loss), ft.jit(ft_vg)

    v_ref, ((dw_ref, du_ref), dh_ref) = numpy_value_and_grad(params, h0, xs)
    for vg in (ft_vg, ft_jit_vg):
        v, ((dw, du), dh) = vg(params, h0, xs)
        np.testing.assert_allclose(float(v), v_ref, rtol=1e-4)
        np.testing.assert_allclose(np.asarray(dw), dw_ref, rtol=2e-3, atol=2e-5)
        np.testing.assert_allclose(np.asarray(du), du_ref, rtol=2e-3, atol=2e-5)
        np.testing.assert_allclose(np.asarray(dh), dh_ref, rtol=2e-3, atol=2e-5)
    np.testing.assert_allclose(float(ft_jit_loss(params, h0, xs)), numpy_forward(params, h0, xs),
                               rtol=1e-4)

    forward = {
        "numpy loop": lambda: numpy_forward(params, h0, xs),
        "functrans scan (eager)": lambda: ft_loss(params, h0, xs),
        "functrans jit(scan)": lambda: ft_jit_loss(params, h0, xs),
    }
    gradient = {
        "numpy hand-written BPTT": lambda: numpy_value_and_grad(params, h0, xs),
        "functrans value_and_grad (eager)": lambda: ft_vg(params, h0, xs),
        "functrans jit(value_and_grad)": lambda: ft_jit_vg(params, h0, xs),
    }
    jax = harness.optional("jax")
    if jax is not None:
        import jax.numpy as jnp
        j_loss = make_loss(jax.lax, jnp)
        jparams = (jnp.asarray(w), jnp.asarray(u))
        jh0, jxs = jnp.asarray(h0), jnp.asarray(xs)
        j_fwd = jax.jit(j_loss)
        j_vg = jax.jit(jax.value_and_grad(j_loss, argnums=(0, 1)))
        jax.block_until_ready(j_fwd(jparams, jh0, jxs))
        jax.block_until_ready(j_vg(jparams, jh0, jxs))
        forward["jax.jit(lax.scan)"] = lambda: jax.block_until_ready(j_fwd(jparams, jh0, jxs))
        gradient["jax.jit(value_and_grad(lax.scan))"] = lambda: jax.block_until_ready(
            j_vg(jparams, jh0, jxs))

    print(f"RNN h = tanh(h @ W + x_t @ U): hidden {HIDDEN}, input {INPUT}, batch {BATCH}, "
          f"{STEPS} steps, float32, 1 BLAS thread")
    print("forward value:")
    fwd = harness.compare(forward, samples=args.samples)
    harness.report(fwd, baseline="numpy loop")
    print("value and gradient with respect to (W, U, h0):")
    grad = harness.compare(gradient, samples=args.samples)
    harness.report(grad, baseline="numpy hand-written BPTT")
    r = fwd["functrans jit(scan)"][0] / fwd["numpy loop"][0]
    print(f"functrans jit(scan) / numpy loop (forward): {r:.2f}x")
    if jax is not None:
        r = (grad["functrans jit(value_and_grad)"][0]
             / grad["jax.jit(value_and_grad(lax.scan))"][0])
        print(f"functrans jit(value_and_grad) / jax.jit: {r:.2f}x (target <= 1.5x)")
        r = fwd["functrans jit(scan)"][0] / fwd["jax.jit(lax.scan)"][0]
        print(f"functrans jit(scan) / jax.jit (forward): {r:.2f}x")


if __name__ == "__main__":
    main()
