"""``functrans.random``: JAX's counter-based threefry2x32 generator and samplers, bit for bit.

A key is a raw ``uint32[2]`` array (JAX's legacy key format; ``key`` and ``PRNGKey`` both make
one). For a given key every function returns the bits JAX's default ("partitionable")
threefry implementation returns, and the samplers apply JAX's algorithms to them, so samples
agree with ``jax.random`` up to float rounding. Everything is array code over
``functrans.lax`` (plus two rejection-sampling primitives, ``random_gamma`` and
``random_poisson``), so ``grad``, ``vmap`` and ``make_jaxpr`` apply.

Under ``vmap``, a batched key gives every example its own stream; an unbatched key gives every
example the same draws, as in JAX. ``_threefry`` holds the hash and key operations,
``_primitives`` the rejection samplers, ``_samplers`` the keys and core samplers,
``_distributions`` the other distributions, ``_args`` the argument checks.
"""

from __future__ import annotations

from functrans.random._distributions import (
    ball,
    beta,
    cauchy,
    chisquare,
    dirichlet,
    double_sided_maxwell,
    exponential,
    f,
    gamma,
    generalized_normal,
    geometric,
    laplace,
    loggamma,
    logistic,
    maxwell,
    orthogonal,
    pareto,
    poisson,
    rayleigh,
    t,
    triangular,
    wald,
    weibull_min,
)
from functrans.random._primitives import (
    random_gamma,
    random_gamma_grad,
    random_gamma_grad_p,
    random_gamma_p,
    random_poisson,
    random_poisson_p,
)
from functrans.random._samplers import (
    PRNGKey,
    bernoulli,
    bits,
    categorical,
    choice,
    clone,
    fold_in,
    gumbel,
    key,
    key_data,
    key_impl,
    lognormal,
    multivariate_normal,
    normal,
    permutation,
    rademacher,
    randint,
    shuffle,
    split,
    threefry_2x32,
    truncated_normal,
    uniform,
    wrap_key_data,
)

__all__ = [
    "PRNGKey", "ball", "bernoulli", "beta", "bits", "categorical", "cauchy", "chisquare",
    "choice", "clone", "dirichlet", "double_sided_maxwell", "exponential", "f", "fold_in",
    "gamma", "generalized_normal", "geometric", "gumbel", "key", "key_data", "key_impl",
    "laplace", "loggamma", "logistic", "lognormal", "maxwell", "multivariate_normal", "normal",
    "orthogonal", "pareto", "permutation", "poisson", "rademacher", "randint", "random_gamma",
    "random_gamma_grad", "random_gamma_grad_p", "random_gamma_p", "random_poisson",
    "random_poisson_p", "rayleigh", "shuffle", "split", "t", "threefry_2x32", "triangular",
    "truncated_normal", "uniform", "wald", "weibull_min", "wrap_key_data",
]
