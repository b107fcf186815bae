"""Programs that several benchmarks time, written once against any NumPy-like module.

No side effects at import (unlike harness.py, which pins BLAS threads), so GPU scripts can use
them too.
"""

from __future__ import annotations


def mlp_loss(np_like):
    """The autodiff issue's MLP (784-512-512-10 in the benchmarks): two tanh layers, a linear
    output and a mean squared error."""
    def loss(params, x, y):
        (w1, b1), (w2, b2), (w3, b3) = params
        h = np_like.tanh(x @ w1 + b1)
        h = np_like.tanh(h @ w2 + b2)
        logits = h @ w3 + b3
        return np_like.mean((logits - y) ** 2)
    return loss
