"""functrans.random: threefry2x32 bits and JAX's samplers (functrans/random/).

Oracles: JAX 0.10.2's outputs pinned below (bits must be identical; floats agree up to the
rounding of transcendental functions), the Random123 known-answer vectors, an independent
scalar threefry written here, distribution moments of large samples, and finite differences of
the gamma CDF for the reparameterization gradient. Also checked: vmap semantics (batched keys
give independent streams, an unbatched key the same stream), that staged and eager evaluation
agree bit for bit, dtype/shape handling and error messages.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
import functrans.random as jr
from functrans.core import ShapedArray
from functrans.errors import DtypeError, ShapeError
from functrans.ir import eval_jaxpr
from functrans.primitives import special
from functrans.primitives.registry import all_primitives

# --- pinned JAX outputs ---------------------------------------------------------------------------
# Generated with JAX 0.10.2 on CPU (/work/jaxenv), default configuration (threefry2x32,
# jax_threefry_partitionable=True, x32 mode) for JAX_X32, and jax_enable_x64=True for JAX_X64,
# by calling, with k = jax.random.PRNGKey(42) and k0 = jax.random.PRNGKey(0), exactly the
# jax.random call that CASES_X32 / CASES_X64 below make with functrans.random (same argument
# values; logits = log([[.1, .2, .7], [.5, .25, .25]]), p5 = [.1, .2, .3, .15, .25],
# a6 = [.3, 1, 2.5, 10, .05, 100]), then printing np.asarray(result).ravel().tolist().
# gamma_grad_f64 is jax._src.lax.special.random_gamma_grad(a, x) on the pairs in
# test_gamma_grad_matches_jax.

JAX_X32 = {
    "split": [1832780943, 270669613, 64467757, 2916123636],
    "split_2x3": [
        1832780943, 270669613, 64467757, 2916123636, 2465931498, 255383827, 3134548294, 894150801,
        2954079971, 3276725750, 2765691542, 824333390,
    ],
    "fold_in_7": [2547012911, 1371500959],
    "fold_in_max": [2398536845, 3890976714],
    "bits_u32": [2098992034, 2919706841, 2646866425, 2409546199],
    "bits_u8": [162, 217, 249],
    "bits_u16": [5026, 12505],
    "bits_scalar": 2098992034,
    "uniform": [
        0.48870956897735596, 0.6797971725463867, 0.6162714958190918, 0.5610160827636719,
        0.4506446123123169,
    ],
    "uniform_k0": [0.9476670026779175, 0.9785798788070679, 0.33229148387908936],
    "uniform_range": [
        -0.5338712930679321, 0.7191886901855469, 1.081357479095459, -0.3169517517089844,
        -0.19742155075073242, 0.9293292760848999,
    ],
    "normal": [
        -0.02830461598932743, 0.4671318531036377, 0.2957029640674591, 0.15354591608047485,
        -0.12403281778097153, 0.21692314743995667,
    ],
    "normal_k0": [1.622642159461975, 2.0252647399902344, -0.4335944354534149],
    "normal_c64": [
        (0.05368746072053909+0.4283398389816284j), (-0.34389618039131165+0.5650094747543335j),
    ],
    "randint": [4, 4, 1, 9, 9, 9, 7, 7],
    "randint_wide": [-356, -86, -929, -631, 709, 419, -23, -193],
    "randint_u8_full": [196, 18, 183, 193, 141, 107, 129, 39],
    "randint_i8": [68, -110, 55, 65, 13, -21, 1, -89],
    "randint_arrays": [4, 14, 271, 4, 19, 619],
    "bernoulli": [0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
    "categorical": [2, 0, 2, 0, 1, 0, 1, 2],
    "categorical_axis0": [1, 0, 0],
    "categorical_noreplace": [1, 4, 2, 2, 3, 3],
    "permutation": [7, 4, 2, 5, 3, 6, 8, 9, 0, 1],
    "permutation_3000_head": [2629, 116, 2048, 2566, 2509, 255, 444, 1443, 578, 1266, 2505, 2039],
    "permutation_rows": [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9],
    "permutation_independent": [2, 3, 0, 1, 7, 4, 5, 6, 10, 11, 8, 9],
    "choice": [4, 4, 1, 9, 9, 9],
    "choice_noreplace": [14, 8, 32, 38, 4],
    "choice_p": [2, 2, 2, 2, 2, 2, 4, 1],
    "choice_p_noreplace": [2, 1, 4],
    "gamma": [
        0.43624743819236755, 0.33158406615257263, 4.194111347198486, 8.321683883666992,
        1.461748626241242e-26, 96.00260162353516,
    ],
    "loggamma": [
        -0.8295456171035767, -1.1038738489151, 1.4336814880371094, 2.1188647747039795,
        -59.487579345703125, 4.564375400543213,
    ],
    "gamma_shape": [1.5897877216339111, 1.7599413394927979, 1.12900710105896, 3.9743340015411377],
    "truncated_normal": [
        0.14770005643367767, 0.5684449076652527, 0.42102551460266113, 0.29997000098228455,
        0.0691138207912445, 0.3537633717060089,
    ],
    "exponential": [
        0.670817494392395, 1.1388006210327148, 0.9578199982643127, 0.8232924938201904,
        0.5990096926689148, 0.8815653324127197,
    ],
    "poisson_small": [1, 1, 3, 0, 18],
    "poisson_mixed": [1, 15, 43, 977, 5],
    "beta": [
        0.27497145533561707, 0.15737295150756836, 0.5494621992111206, 0.012798871845006943,
        0.031183909624814987,
    ],
    "dirichlet": [
        0.16127800941467285, 0.05350642278790474, 0.7852154970169067, 0.016318079084157944,
        0.10349566489458084, 0.8801862597465515,
    ],
    "laplace": [
        0.022839652374386787, -0.4456535577774048, -0.2646729052066803, -0.1301453858613968,
    ],
    "logistic": [-0.0451694130897522, 0.7528398036956787, 0.47375231981277466, 0.245286762714386],
    "gumbel": [0.3340933918952942, 0.952019453048706, 0.7255305647850037, 0.5481715202331543],
    "cauchy": [-0.03548463061451912, 0.6337261199951172, 0.38244056701660156, 0.1940706968307495],
    "chisquare": [5.87071418762207, 1.3978509902954102, 5.559423446655273, 1.4829895496368408],
    "t": [0.0862121731042862, -1.2958955764770508, 2.0797083377838135, 0.9826685786247253],
    "maxwell": [0.553582489490509, 0.293285071849823, 1.708603024482727, 1.5084577798843384],
    "rademacher": [1, -1, -1, -1, 1, -1, 1, -1],
    "geometric": [3, 2, 2, 2, 3, 2],
    "pareto": [1.2505779266357422, 1.461700201034546, 1.3761274814605713, 1.315781593322754],
    "vmap_normal": [
        0.07592553645372391, -0.4863426387310028, 0.6057640314102173, 0.7990440726280212,
        0.4323064982891083, 0.587263822555542,
    ],
    "vmap_gamma": [
        0.5883029699325562, 0.0526101216673851, 1.551202654838562, 0.2816920876502991,
        2.1199231147766113, 10.660514831542969,
    ],
    "vmap_poisson": [1, 0, 1, 23, 20, 23, 2, 5, 3],
}

JAX_X64 = {
    "seed_minus_7": [4294967295, 4294967289],
    "seed_2_40_plus_3": [256, 3],
    "seed_int64_min": [2147483648, 0],
    "seed_int32_minus_1": [0, 4294967295],
    "bits_u64": [7871734211187709741, 276886910877598708, 10591095138341673235],
    "randint_i64": [-64295291339, -359608887618, -961504916329, -77019434961],
    "uniform_f64": [
        0.4267275666499091, 0.015010069515314584, 0.5741444178995352, 0.7298188969046309,
    ],
    "normal_f64": [
        -0.18471174528191162, -2.169824560397754, 0.18693555179382582, 0.6122653570510959,
    ],
    "gamma_f64": [0.04064462722988022, 1.8851142907505218, 117.62439205366246],
    "loggamma_f64": [-3.2028886231903964, 0.6339884507598366, 4.7674964293792215],
    "truncated_normal_f64": [
        0.01998452592513169, -0.9504476695340623, 0.32827144083703297, 0.693751830608632,
    ],
    "exponential_f64": [
        0.5563942243855916, 0.015123860720489336, 0.8536549993431988, 1.30866279263241,
    ],
    "categorical_f64": [2, 2, 2, 2, 2, 2],
    "gamma_grad_f64": [
        0.7894044031182722, 1.6316914623496994, 0.9534627029186161, 1.112329443018088,
        0.12833851283676007, 0.9761983112187109, 2.348346064720834, 3.069403809276251,
    ],
}


K = np.array([0, 42], np.uint32)  # jax.random.PRNGKey(42)
K0 = np.array([0, 0], np.uint32)  # jax.random.PRNGKey(0)
LOGITS = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], np.float32))
P5 = np.array([0.1, 0.2, 0.3, 0.15, 0.25], np.float32)
A6 = np.array([0.3, 1.0, 2.5, 10.0, 0.05, 100.0], np.float32)

CASES_X32 = {
    "split": lambda: jr.split(K),
    "split_2x3": lambda: jr.split(K, (2, 3)),
    "fold_in_7": lambda: jr.fold_in(K, 7),
    "fold_in_max": lambda: jr.fold_in(K, 2**32 - 1),
    "bits_u32": lambda: jr.bits(K, (4,)),
    "bits_u8": lambda: jr.bits(K, (3,), "uint8"),
    "bits_u16": lambda: jr.bits(K, (2,), "uint16"),
    "bits_scalar": lambda: jr.bits(K),
    "uniform": lambda: jr.uniform(K, (5,)),
    "uniform_k0": lambda: jr.uniform(K0, (3,)),
    "uniform_range": lambda: jr.uniform(K, (2, 3), minval=-2.0,
                                        maxval=np.array([1.0, 2.0, 3.0], np.float32)),
    "normal": lambda: jr.normal(K, (2, 3)),
    "normal_k0": lambda: jr.normal(K0, (3,)),
    "normal_c64": lambda: jr.normal(K, (2,), "complex64"),
    "randint": lambda: jr.randint(K, (8,), 0, 10),
    "randint_wide": lambda: jr.randint(K, (8,), -1000, 1000),
    "randint_u8_full": lambda: jr.randint(K, (8,), 0, 256, "uint8"),
    "randint_i8": lambda: jr.randint(K, (8,), -128, 128, "int8"),
    "randint_arrays": lambda: jr.randint(K, (2, 3), np.array([0, 10, 100], np.int32),
                                         np.array([5, 20, 1000], np.int32)),
    "bernoulli": lambda: jr.bernoulli(K, 0.3, (10,)),
    "categorical": lambda: jr.categorical(K, LOGITS, shape=(4, 2)),
    "categorical_axis0": lambda: jr.categorical(K, LOGITS, axis=0),
    "categorical_noreplace": lambda: jr.categorical(K, np.zeros((2, 5), np.float32),
                                                    shape=(3, 2), replace=False),
    "permutation": lambda: jr.permutation(K, 10),
    "permutation_3000_head": lambda: jr.permutation(K, 3000)[:12],
    "permutation_rows": lambda: jr.permutation(K, np.arange(12, dtype=np.int32).reshape(3, 4),
                                               axis=1),
    "permutation_independent": lambda: jr.permutation(
        K, np.arange(12, dtype=np.int32).reshape(3, 4), axis=1, independent=True),
    "choice": lambda: jr.choice(K, 10, (6,)),
    "choice_noreplace": lambda: jr.choice(K, np.arange(20, dtype=np.int32) * 2, (5,),
                                          replace=False),
    "choice_p": lambda: jr.choice(K, 5, (8,), p=P5),
    "choice_p_noreplace": lambda: jr.choice(K, 5, (3,), replace=False, p=P5),
    "gamma": lambda: jr.gamma(K, A6),
    "loggamma": lambda: jr.loggamma(K, A6),
    "gamma_shape": lambda: jr.gamma(K0, 2.0, (4,)),
    "truncated_normal": lambda: jr.truncated_normal(K, -1.0, 2.0, (6,)),
    "exponential": lambda: jr.exponential(K, (6,)),
    "poisson_small": lambda: jr.poisson(K, np.array([0.5, 2.0, 5.0, 0.0, 9.9], np.float32)),
    "poisson_mixed": lambda: jr.poisson(K, np.array([0.5, 12.0, 50.0, 1000.0, 3.0],
                                                    np.float32)),
    "beta": lambda: jr.beta(K, 0.5, 2.0, (5,)),
    "dirichlet": lambda: jr.dirichlet(K, np.array([0.5, 1.0, 3.0], np.float32), (2,)),
    "laplace": lambda: jr.laplace(K, (4,)),
    "logistic": lambda: jr.logistic(K, (4,)),
    "gumbel": lambda: jr.gumbel(K, (4,)),
    "cauchy": lambda: jr.cauchy(K, (4,)),
    "chisquare": lambda: jr.chisquare(K, 3.0, (4,)),
    "t": lambda: jr.t(K, 4.0, (4,)),
    "maxwell": lambda: jr.maxwell(K, (4,)),
    "rademacher": lambda: jr.rademacher(K, (8,)),
    "geometric": lambda: jr.geometric(K, 0.3, (6,)),
    "pareto": lambda: jr.pareto(K, 3.0, (4,)),
    "vmap_normal": lambda: ft.vmap(lambda k: jr.normal(k, (2,)))(jr.split(K, 3)),
    "vmap_gamma": lambda: ft.vmap(lambda k, a: jr.gamma(k, a, (2,)))(
        jr.split(K, 3), np.array([0.5, 2.0, 7.0], np.float32)),
    "vmap_poisson": lambda: ft.vmap(lambda k, lam: jr.poisson(k, lam, (3,)))(
        jr.split(K, 3), np.array([1.0, 20.0, 4.0], np.float32)),
}

_A8 = np.array([0.3, 1.0, 2.5, 10.0, 0.05, 100.0, 3.0, 0.5])
_X8 = np.array([0.1, 2.0, 2.0, 12.0, 1e-3, 95.0, 20.0, 3.5])

CASES_X64 = {
    "seed_minus_7": lambda: jr.PRNGKey(-7),
    "seed_2_40_plus_3": lambda: jr.PRNGKey(2**40 + 3),
    "seed_int64_min": lambda: jr.PRNGKey(-2**63),
    "seed_int32_minus_1": lambda: jr.PRNGKey(np.int32(-1)),
    "bits_u64": lambda: jr.bits(K, (3,), "uint64"),
    "randint_i64": lambda: jr.randint(K, (4,), np.int64(-2**40), np.int64(2**40), "int64"),
    "uniform_f64": lambda: jr.uniform(K, (4,), "float64"),
    "normal_f64": lambda: jr.normal(K, (4,), "float64"),
    "gamma_f64": lambda: jr.gamma(K, np.array([0.3, 2.5, 100.0]), dtype="float64"),
    "loggamma_f64": lambda: jr.loggamma(K, np.array([0.3, 2.5, 100.0]), dtype="float64"),
    "truncated_normal_f64": lambda: jr.truncated_normal(K, -1.0, 2.0, (4,), "float64"),
    "exponential_f64": lambda: jr.exponential(K, (4,), "float64"),
    "categorical_f64": lambda: jr.categorical(K, np.log(np.array([0.1, 0.2, 0.7])), shape=(6,)),
    "gamma_grad_f64": lambda: jr.random_gamma_grad(_A8, _X8),
}


def assert_matches_jax(got, want, what: str) -> None:
    got = np.asarray(got)
    want = np.asarray(want, dtype=got.dtype).ravel()
    assert got.size == want.size, f"{what}: {got.size} values, JAX gave {want.size}"
    if got.dtype.kind in "fc":
        # Bits and the bits -> float map are exact; erf_inv/log/exp may differ in the last ulp.
        rtol = 1e-5 if got.dtype in (np.float32, np.complex64) else 1e-12
        np.testing.assert_allclose(got.ravel(), want, rtol=rtol, atol=0, err_msg=what)
    else:
        np.testing.assert_array_equal(got.ravel(), want, err_msg=what)


@pytest.mark.parametrize("name", sorted(CASES_X32))
def test_matches_jax_x32(name):
    assert_matches_jax(CASES_X32[name](), JAX_X32[name], name)


@pytest.mark.parametrize("name", sorted(CASES_X64))
def test_matches_jax_x64(name):
    assert_matches_jax(CASES_X64[name](), JAX_X64[name], name)


def test_pinned_tables_are_complete():
    assert set(CASES_X32) == set(JAX_X32) and set(CASES_X64) == set(JAX_X64)


def test_result_dtypes_and_shapes_match_jax():
    assert jr.split(K, (2, 3)).shape == (2, 3, 2)
    assert jr.uniform(K, (2, 3)).dtype == np.float32
    assert jr.normal(K, (2,), "complex64").dtype == np.complex64
    assert jr.randint(K, (8,), 0, 256, "uint8").dtype == np.uint8
    assert jr.bernoulli(K, 0.3, (10,)).dtype == np.bool_
    assert jr.categorical(K, LOGITS, shape=(4, 2)).shape == (4, 2)
    assert jr.categorical(K, np.zeros((2, 5), np.float32), shape=(3, 2),
                          replace=False).shape == (3, 2)
    assert jr.poisson(K, np.ones(3, np.float32)).dtype == np.int32
    assert jr.dirichlet(K, np.ones(3, np.float32), (2,)).shape == (2, 3)
    assert jr.permutation(K, np.arange(12).reshape(3, 4), axis=1).shape == (3, 4)


# --- the hash -------------------------------------------------------------------------------------

# Random123's known-answer tests for threefry2x32 with 20 rounds: (key, counter, output).
RANDOM123_KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


def _staged(f, *args):
    """Evaluate ``f`` through its jaxpr, so the lax-equation path runs instead of the eager
    NumPy fast path."""
    closed = ft.make_jaxpr(f)(*args)
    return eval_jaxpr(closed.jaxpr, closed.consts, *args)[0]


@pytest.mark.parametrize("key,count,want", RANDOM123_KAT)
def test_threefry_random123_known_answers(key, count, want):
    k, c = np.array(key, np.uint32), np.array(count, np.uint32)
    assert np.asarray(jr.threefry_2x32(k, c)).tolist() == list(want)
    assert np.asarray(_staged(jr.threefry_2x32, k, c)).tolist() == list(want)


def _threefry_scalar(k1: int, k2: int, x1: int, x2: int) -> tuple[int, int]:
    """An independent, deliberately plain threefry2x32-20 on Python ints (the oracle)."""
    m = 0xFFFFFFFF
    rot = [13, 15, 26, 6, 17, 29, 16, 24]
    ks = [k1, k2, k1 ^ k2 ^ 0x1BD11BDA]
    x1, x2 = (x1 + ks[0]) & m, (x2 + ks[1]) & m
    for r in range(20):
        x1 = (x1 + x2) & m
        s = rot[r % 8]
        x2 = ((x2 << s) | (x2 >> (32 - s))) & m
        x2 ^= x1
        if r % 4 == 3:
            j = r // 4 + 1
            x1 = (x1 + ks[j % 3]) & m
            x2 = (x2 + ks[(j + 1) % 3] + j) & m
    return x1, x2


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
       st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=9))
def test_threefry_matches_scalar_oracle(k1, k2, counts):
    c = np.array(counts, np.uint32)
    n, half = len(counts), (len(counts) + 1) // 2
    padded = counts + [0] * (n % 2)
    pairs = [_threefry_scalar(k1, k2, padded[i], padded[half + i]) for i in range(half)]
    want = ([a for a, _ in pairs] + [b for _, b in pairs])[:n]
    key = np.array([k1, k2], np.uint32)
    assert np.asarray(jr.threefry_2x32(key, c)).tolist() == want
    if n:
        assert np.asarray(_staged(jr.threefry_2x32, key, c)).tolist() == want


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
       st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple),
       st.sampled_from(["uint8", "uint16", "uint32", "uint64"]))
def test_bits_eager_and_staged_agree_and_follow_the_counter_layout(k1, k2, shape, dtype):
    key = np.array([k1, k2], np.uint32)
    eager = np.asarray(jr.bits(key, shape, dtype))
    staged = np.asarray(_staged(lambda k: jr.bits(k, shape, dtype), key))
    assert eager.dtype == staged.dtype == np.dtype(dtype) and eager.shape == shape
    np.testing.assert_array_equal(eager, staged)
    # Element i hashes counter (0, i) (row-major), as JAX's partitionable layout.
    for i in range(min(3, eager.size)):
        a, b = _threefry_scalar(k1, k2, 0, i)
        want = (a << 32) | b if dtype == "uint64" else (a ^ b) & np.iinfo(dtype).max
        assert int(eager.ravel()[i]) == want


def test_split_and_fold_in_are_hashes_of_counters():
    k1, k2 = 0, 42
    keys = np.asarray(jr.split(K, 3))
    for i in range(3):
        assert tuple(keys[i]) == _threefry_scalar(k1, k2, 0, i)
    assert tuple(np.asarray(jr.fold_in(K, 123))) == _threefry_scalar(k1, k2, 0, 123)


@pytest.mark.parametrize("name,f", [
    ("uniform", lambda k: jr.uniform(k, (3, 4))),
    ("uniform_f64", lambda k: jr.uniform(k, (5,), np.float64, -1.0, 3.0)),
    ("normal", lambda k: jr.normal(k, (6,))),
    ("randint", lambda k: jr.randint(k, (6,), -5, 17)),
    ("split", lambda k: jr.split(k, (2, 2))),
    ("fold_in", lambda k: jr.fold_in(k, 99)),
    ("permutation", lambda k: jr.permutation(k, 20)),
    ("gamma", lambda k: jr.gamma(k, np.array([0.4, 3.0], np.float32), (2,))),
    ("categorical", lambda k: jr.categorical(k, LOGITS)),
    ("exponential", lambda k: jr.exponential(k, (4,))),
])
def test_eager_fast_path_and_lax_path_agree(name, f):
    eager, staged = np.asarray(f(K)), np.asarray(_staged(f, K))
    assert eager.dtype == staged.dtype
    np.testing.assert_array_equal(eager, staged, err_msg=name)


@pytest.mark.parametrize("name,f", [
    ("uniform", lambda k: jr.uniform(k, (1000,))),
    ("normal_f64", lambda k: jr.normal(k, (3, 4), np.float64)),
    ("randint_i64", lambda k: jr.randint(k, (6,), 0, 2**40, np.int64)),
    ("bits_u8", lambda k: jr.bits(k, (7,), np.uint8)),
    ("bits_u64", lambda k: jr.bits(k, (7,), np.uint64)),
    ("split", lambda k: jr.split(k, (2, 2))),
    ("permutation", lambda k: jr.permutation(k, 20)),
    ("gamma", lambda k: jr.gamma(k, np.array([0.4, 3.0], np.float32))),
    ("poisson", lambda k: jr.poisson(k, np.array([0.4, 30.0], np.float32))),
    ("choice_p", lambda k: jr.choice(k, 5, (8,), p=P5)),
    ("seed", lambda k: jr.PRNGKey(k[1].astype(np.int64) - 100)),
])
def test_jit_matches_eager(name, f):
    np.testing.assert_array_equal(ft.jit(f)(K), f(K), err_msg=name)


_RANDOM_PRIMS = {"random_gamma", "random_gamma_grad", "random_poisson"}


@pytest.mark.parametrize("f", [
    lambda k: jr.uniform(k, (3,)),
    lambda k: jr.normal(k, (2, 2)),
    lambda k: jr.randint(k, (3,), 0, 9),
    lambda k: jr.split(k, 4),
    lambda k: jr.bernoulli(k, 0.5, (3,)),
    lambda k: jr.permutation(k, 5),
])
def test_jaxpr_uses_only_lax_primitives(f):
    closed = ft.make_jaxpr(f)(K)
    lax_prims = {p.name for p in all_primitives()} - _RANDOM_PRIMS
    used = {e.prim.name for e in closed.eqns}
    assert used and used <= lax_prims, used - lax_prims
    assert {"shift_left", "shift_right_logical", "add", "xor"} <= used


def test_gamma_and_poisson_stage_as_their_primitives():
    closed = ft.make_jaxpr(lambda k, a: jr.gamma(k, a))(K, np.ones(3, np.float32))
    assert "random_gamma" in {e.prim.name for e in closed.eqns}
    closed = ft.make_jaxpr(lambda k, lam: jr.poisson(k, lam))(K, np.ones(3, np.float32))
    assert "random_poisson" in {e.prim.name for e in closed.eqns}


# --- keys -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed,want", [
    (0, [0, 0]), (42, [0, 42]), (2**32 - 1, [0, 2**32 - 1]), (2**40 + 3, [256, 3]),
    (-1, [2**32 - 1, 2**32 - 1]), (-(2**63), [2**31, 0]), (2**63 - 1, [2**31 - 1, 2**32 - 1]),
    (np.int32(-1), [0, 2**32 - 1]), (np.int8(-2), [0, 2**32 - 2]), (np.uint32(3e9), [0, 3e9]),
    (np.int64(-5), [2**32 - 1, 2**32 - 5]), (np.uint64(2**63 + 7), [2**31, 7]),
    (np.array(7, np.int16), [0, 7]),
])
def test_seed_to_key(seed, want):
    for make in (jr.PRNGKey, jr.key):
        k = make(seed)
        assert isinstance(k, ft.Array) and k.dtype == np.uint32 and k.shape == (2,)
        assert np.asarray(k).tolist() == [int(w) for w in want]


def test_traced_seeds_give_the_same_keys():
    seeds = np.array([0, 42, -1, 2**31 - 1], np.int32)
    got = ft.vmap(jr.PRNGKey)(seeds)
    np.testing.assert_array_equal(got, np.stack([np.asarray(jr.PRNGKey(s)) for s in seeds]))
    seeds64 = np.array([-7, 2**40 + 3], np.int64)
    got = ft.vmap(jr.PRNGKey)(seeds64)
    np.testing.assert_array_equal(got, [[2**32 - 1, 2**32 - 7], [256, 3]])


def test_key_data_and_wrap_key_data_are_identities():
    k = jr.key(42)
    np.testing.assert_array_equal(jr.key_data(k), k)
    np.testing.assert_array_equal(jr.wrap_key_data(np.asarray(k)), k)
    ks = jr.split(k, (2, 3))
    assert jr.key_data(ks).shape == (2, 3, 2)
    assert jr.key_impl(k) == "threefry2x32"
    np.testing.assert_array_equal(jr.clone(k), k)
    # Keys may be NumPy arrays, functrans Arrays or tracers alike.
    np.testing.assert_array_equal(jr.uniform(np.asarray(k), (3,)), jr.uniform(k, (3,)))


def test_fold_in_accepts_integer_arrays_and_tracers():
    a = np.asarray(jr.fold_in(K, 5))
    np.testing.assert_array_equal(jr.fold_in(K, np.int64(5)), a)
    np.testing.assert_array_equal(jr.fold_in(K, np.uint8(5)), a)
    np.testing.assert_array_equal(ft.vmap(lambda d: jr.fold_in(K, d))(np.array([5, 6])),
                                  [a, np.asarray(jr.fold_in(K, 6))])
    # Integer arrays are taken modulo 2**32, like JAX's conversion to uint32.
    np.testing.assert_array_equal(jr.fold_in(K, np.int64(2**32 + 5)), a)


# --- vmap semantics -------------------------------------------------------------------------------


def test_vmap_batched_keys_give_independent_per_example_streams():
    keys = jr.split(K, 4)
    f = lambda k: (jr.uniform(k, (3,)), jr.normal(k, (2,)), jr.randint(k, (2,), 0, 100))
    got = ft.vmap(f)(keys)
    for j in range(3):
        want = np.stack([np.asarray(f(keys[i])[j]) for i in range(4)])
        np.testing.assert_array_equal(got[j], want)
    assert len({tuple(row) for row in np.asarray(got[0]).tolist()}) == 4


def test_vmap_unbatched_key_gives_every_example_the_same_stream():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    got = np.asarray(ft.vmap(lambda xi: xi + jr.uniform(K, (3,)))(x))
    want = x + np.asarray(jr.uniform(K, (3,)))
    np.testing.assert_array_equal(got, want)
    draws = np.asarray(ft.vmap(lambda xi: jr.uniform(K, (3,)) * fnp.ones_like(xi))(x))
    assert draws.shape == (4, 3) and all(np.array_equal(draws[0], d) for d in draws)
    # in_axes=None for the key: the same.
    got = ft.vmap(lambda k, xi: jr.normal(k, (3,)) * xi, in_axes=(None, 0))(K, x)
    np.testing.assert_allclose(got, x * np.asarray(jr.normal(K, (3,))), rtol=1e-6)


def test_vmap_of_rejection_samplers_matches_per_example_calls():
    keys = jr.split(K, 3)
    a = np.array([[0.3, 2.0], [5.0, 0.9], [1.0, 40.0]], np.float32)
    got = ft.vmap(lambda k, ai: jr.gamma(k, ai))(keys, a)
    want = np.stack([np.asarray(jr.gamma(keys[i], a[i])) for i in range(3)])
    np.testing.assert_array_equal(got, want)
    lam = np.array([[0.5, 30.0], [15.0, 2.0], [0.0, 200.0]], np.float32)
    got = ft.vmap(lambda k, li: jr.poisson(k, li))(keys, lam)
    want = np.stack([np.asarray(jr.poisson(keys[i], lam[i])) for i in range(3)])
    np.testing.assert_array_equal(got, want)
    # Only the parameters batched: every example uses the same key.
    got = ft.vmap(lambda ai: jr.gamma(K, ai))(a)
    want = np.stack([np.asarray(jr.gamma(K, a[i])) for i in range(3)])
    np.testing.assert_array_equal(got, want)


def test_nested_vmap_over_split_keys():
    keys = jr.split(K, (2, 3))
    got = ft.vmap(ft.vmap(lambda k: jr.uniform(k, (2,))))(keys)
    want = np.array([[np.asarray(jr.uniform(keys[i, j], (2,))) for j in range(3)]
                     for i in range(2)])
    np.testing.assert_array_equal(got, want)


# --- moments --------------------------------------------------------------------------------------

N = 200_000


def _moments(x, mean, var, what, k=6.0):
    """Sample mean and variance within k standard errors (the variance's error uses the
    sample fourth moment)."""
    x = np.asarray(x, np.float64).ravel()
    n = x.size
    m, v = x.mean(), x.var()
    assert abs(m - mean) < k * math.sqrt(var / n), f"{what}: mean {m}, expected {mean}"
    m4 = np.mean((x - m) ** 4)
    assert abs(v - var) < k * math.sqrt(max(m4 - v * v, 1e-300) / n), (
        f"{what}: variance {v}, expected {var}")


def _keys(i):
    return jr.fold_in(jr.PRNGKey(2024), i)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_continuous_moments(dtype):
    kw = {"dtype": dtype}
    _moments(jr.uniform(_keys(0), (N,), **kw), 0.5, 1 / 12, "uniform")
    _moments(jr.uniform(_keys(1), (N,), minval=-3, maxval=5, **kw), 1.0, 64 / 12, "uniform ab")
    _moments(jr.normal(_keys(2), (N,), **kw), 0.0, 1.0, "normal")
    _moments(jr.exponential(_keys(3), (N,), **kw), 1.0, 1.0, "exponential")
    _moments(jr.laplace(_keys(4), (N,), **kw), 0.0, 2.0, "laplace")
    _moments(jr.logistic(_keys(5), (N,), **kw), 0.0, math.pi ** 2 / 3, "logistic")
    euler = 0.5772156649015329
    _moments(jr.gumbel(_keys(6), (N,), **kw), euler, math.pi ** 2 / 6, "gumbel")
    _moments(jr.gumbel(_keys(7), (N,), mode="high", **kw), euler, math.pi ** 2 / 6,
             "gumbel high")
    for i, a in enumerate([0.1, 0.7, 1.0, 3.5, 50.0]):
        _moments(jr.gamma(_keys(10 + i), a, (N,), **kw), a, a, f"gamma({a})")
    a, b = 2.0, 5.0
    _moments(jr.beta(_keys(20), a, b, (N,), **kw), a / (a + b),
             a * b / ((a + b) ** 2 * (a + b + 1)), "beta")
    _moments(jr.chisquare(_keys(21), 4.0, (N,), **kw), 4.0, 8.0, "chisquare")
    _moments(jr.t(_keys(22), 7.0, (N,), **kw), 0.0, 7.0 / 5.0, "t")
    d1, d2 = 6.0, 12.0
    _moments(jr.f(_keys(23), d1, d2, (N,), **kw), d2 / (d2 - 2),
             2 * d2 ** 2 * (d1 + d2 - 2) / (d1 * (d2 - 2) ** 2 * (d2 - 4)), "f")
    s = 0.5
    _moments(jr.lognormal(_keys(24), s, (N,), **kw), math.exp(s * s / 2),
             (math.exp(s * s) - 1) * math.exp(s * s), "lognormal")
    _moments(jr.maxwell(_keys(25), (N,), **kw), 2 * math.sqrt(2 / math.pi),
             3 - 8 / math.pi, "maxwell")
    _moments(jr.rayleigh(_keys(26), 2.0, (N,), **kw), 2.0 * math.sqrt(math.pi / 2),
             (4 - math.pi) / 2 * 4.0, "rayleigh")
    _moments(jr.pareto(_keys(27), 5.0, (N,), **kw), 5 / 4, 5 / (16 * 3), "pareto")
    _moments(jr.weibull_min(_keys(28), 2.0, 3.0, (N,), **kw), 2.0 * math.gamma(1 + 1 / 3),
             4.0 * (math.gamma(1 + 2 / 3) - math.gamma(1 + 1 / 3) ** 2), "weibull_min")
    _moments(jr.wald(_keys(29), 1.5, (N,), **kw), 1.5, 1.5 ** 3, "wald")
    _moments(jr.triangular(_keys(30), 0.0, 0.3, 1.0, (N,), **kw), 1.3 / 3,
             (1 + 0.09 - 0.3) / 18, "triangular")
    _moments(jr.double_sided_maxwell(_keys(31), 1.0, 2.0, (N,), **kw), 1.0, 4.0 * 3,
             "double_sided_maxwell")
    # truncated standard normal on (-1, 2): moments from the closed form.
    lo, hi = -1.0, 2.0
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    z = 0.5 * (math.erf(hi / math.sqrt(2)) - math.erf(lo / math.sqrt(2)))
    mean = (phi(lo) - phi(hi)) / z
    var = 1 + (lo * phi(lo) - hi * phi(hi)) / z - mean ** 2
    tn = np.asarray(jr.truncated_normal(_keys(32), lo, hi, (N,), **kw))
    assert tn.min() > lo and tn.max() < hi
    _moments(tn, mean, var, "truncated_normal")
    # loggamma: E[log X] = digamma(a).
    a = 0.3
    lg = np.asarray(jr.loggamma(_keys(33), a, (N,), **kw), np.float64)
    assert abs(lg.mean() - float(special.digamma(a))) < 6 * lg.std() / math.sqrt(N)
    # cauchy: heavy tails, so check quartiles at +-1.
    c = np.asarray(jr.cauchy(_keys(34), (N,), **kw))
    np.testing.assert_allclose(np.percentile(c, [25, 50, 75]), [-1, 0, 1], atol=0.03)


def test_discrete_moments():
    for i, lam in enumerate([0.3, 4.0, 9.5, 10.0, 37.0, 500.0]):
        x = jr.poisson(_keys(40 + i), lam, (N,))
        assert np.asarray(x).dtype == np.int32 and np.asarray(x).min() >= 0
        _moments(x, lam, lam, f"poisson({lam})")
    _moments(jr.bernoulli(_keys(50), 0.3, (N,)), 0.3, 0.21, "bernoulli")
    _moments(jr.bernoulli(_keys(51), np.float32(1e-3), (N,), mode="high"), 1e-3, 1e-3 * 0.999,
             "bernoulli high")
    r = np.asarray(jr.randint(_keys(52), (N,), -3, 7))
    assert r.min() == -3 and r.max() == 6
    _moments(r, 1.5, (10 ** 2 - 1) / 12, "randint")
    _moments(jr.rademacher(_keys(53), (N,)), 0.0, 1.0, "rademacher")
    p = 0.2
    _moments(jr.geometric(_keys(54), p, (N,)), 1 / p, (1 - p) / p ** 2, "geometric")


def _frequencies(x, k):
    return np.bincount(np.asarray(x).ravel(), minlength=k) / np.asarray(x).size


def test_categorical_and_choice_frequencies():
    probs = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    tol = 6 * math.sqrt(0.25 / N)
    np.testing.assert_allclose(_frequencies(jr.categorical(_keys(60), np.log(probs), shape=(N,)),
                                            4), probs, atol=tol)
    np.testing.assert_allclose(_frequencies(jr.choice(_keys(61), 4, (N,), p=probs), 4), probs,
                               atol=tol)
    np.testing.assert_allclose(_frequencies(jr.choice(_keys(62), 4, (N,)), 4), [0.25] * 4,
                               atol=tol)
    # Without replacement: the first draw follows p; no index repeats within a draw.
    draws = ft.vmap(lambda k: jr.choice(k, 4, (3,), replace=False, p=probs))(
        jr.split(_keys(63), 20_000))
    d = np.asarray(draws)
    assert all(len(set(row)) == 3 for row in d.tolist())
    np.testing.assert_allclose(_frequencies(d[:, 0], 4), probs, atol=6 * math.sqrt(0.25 / 20_000))


def test_dirichlet_moments_and_simplex():
    alpha = np.array([0.5, 1.0, 3.0], np.float32)
    x = np.asarray(jr.dirichlet(_keys(70), alpha, (N,)), np.float64)
    np.testing.assert_allclose(x.sum(-1), 1.0, rtol=1e-5)
    a0 = alpha.sum()
    for i in range(3):
        ai = alpha[i]
        _moments(x[:, i], ai / a0, ai * (a0 - ai) / (a0 ** 2 * (a0 + 1)), f"dirichlet[{i}]")


def test_permutations_are_permutations_and_uniform():
    for n in (1, 7, 1000, 3000):  # 3000 takes two sorting rounds
        p = np.asarray(jr.permutation(_keys(n), n))
        assert sorted(p.tolist()) == list(range(n))
    x = np.arange(30, dtype=np.float32).reshape(5, 6)
    rows = np.asarray(jr.permutation(K, x, axis=1))
    assert all(sorted(r) == sorted(x[0] + 6 * i) for i, r in enumerate(rows.tolist()))
    assert len({tuple(r - r[0]) for r in rows}) == 1  # the same column permutation
    ind = np.asarray(jr.permutation(K, x, axis=1, independent=True))
    assert len({tuple(np.argsort(r)) for r in ind.tolist()}) > 1
    np.testing.assert_array_equal(jr.shuffle(K, x, 1), ind)
    firsts = np.asarray(ft.vmap(lambda k: jr.permutation(k, 4)[0])(jr.split(_keys(80), 40_000)))
    np.testing.assert_allclose(_frequencies(firsts, 4), [0.25] * 4, atol=0.015)


def test_ball_and_orthogonal_shapes():
    b = np.asarray(jr.ball(_keys(90), 3, 2, (1000,)))
    assert b.shape == (1000, 3) and np.all(np.linalg.norm(b, axis=-1) <= 1)
    b1 = np.asarray(jr.ball(_keys(91), 2, 1, (1000,)))
    assert np.all(np.abs(b1).sum(-1) <= 1)


# --- independence ---------------------------------------------------------------------------------


def _corr(a, b):
    return float(np.corrcoef(np.asarray(a, np.float64).ravel(),
                             np.asarray(b, np.float64).ravel())[0, 1])


def test_split_keys_give_uncorrelated_streams():
    n = 100_000
    bound = 6 / math.sqrt(n)
    k1, k2 = jr.split(K)
    u1, u2 = jr.uniform(k1, (n,)), jr.uniform(k2, (n,))
    assert abs(_corr(u1, u2)) < bound
    assert abs(_corr(u1, jr.uniform(K, (n,)))) < bound  # parent and child
    keys = jr.split(K, 8)
    draws = np.asarray(ft.vmap(lambda k: jr.uniform(k, (n // 8,)))(keys))
    c = np.corrcoef(draws)
    assert np.max(np.abs(c - np.eye(8))) < 6 / math.sqrt(n // 8)
    # Neighbouring elements of one stream are uncorrelated too.
    assert abs(_corr(u1[:-1], u1[1:])) < bound
    # Same key, different shapes: prefix-consistent counters, so the first values agree.
    np.testing.assert_array_equal(jr.bits(K, (3,)), jr.bits(K, (10,))[:3])


def test_fold_in_with_different_data_differs():
    keys = np.stack([np.asarray(jr.fold_in(K, d)) for d in range(200)])
    assert len({tuple(k) for k in keys.tolist()}) == 200
    n = 50_000
    u = [jr.uniform(jr.fold_in(K, d), (n,)) for d in (0, 1, 2**31)]
    assert abs(_corr(u[0], u[1])) < 6 / math.sqrt(n)
    assert abs(_corr(u[0], u[2])) < 6 / math.sqrt(n)
    assert not np.array_equal(jr.fold_in(K, 0), K)
    assert not np.array_equal(jr.fold_in(K, 3), jr.fold_in(jr.PRNGKey(43), 3))


def test_bits_are_uniform_per_bit():
    b = np.asarray(jr.bits(K, (100_000,)))
    ones = np.unpackbits(b.view(np.uint8)).reshape(-1, 32).mean(0)
    np.testing.assert_allclose(ones, 0.5, atol=6 * 0.5 / math.sqrt(100_000))


# --- dtypes and shapes ----------------------------------------------------------------------------


@given(st.lists(st.integers(0, 3), max_size=3).map(tuple),
       st.sampled_from([np.float16, np.float32, np.float64]),
       st.integers(0, 2**32 - 1))
def test_float_samplers_dtype_shape_range(shape, dtype, seed):
    k = jr.PRNGKey(seed)
    for f in (jr.uniform, jr.normal, jr.exponential, jr.laplace, jr.logistic, jr.gumbel,
              jr.cauchy):
        x = np.asarray(f(k, shape, dtype))
        assert x.shape == shape and x.dtype == dtype, f.__name__
        assert np.all(np.isfinite(x)), f.__name__
    u = np.asarray(jr.uniform(k, shape, dtype, -2.0, 3.0))
    assert np.all((u >= -2) & (u < 3))
    assert np.all(np.asarray(jr.exponential(k, shape, dtype)) >= 0)


@given(st.sampled_from(["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
                        "uint64"]),
       st.integers(0, 2**32 - 1), st.data())
def test_randint_dtypes_and_ranges(dtype, seed, data):
    info = np.iinfo(dtype)
    top = min(int(info.max) + 1, 2**64 - 1)  # bounds must fit a NumPy integer, as in JAX
    lo = data.draw(st.integers(int(info.min), int(info.max)))
    hi = data.draw(st.integers(lo, top))

    def as_int(v):
        return np.int64(v) if v < 2**63 else np.uint64(v)

    x = np.asarray(jr.randint(jr.PRNGKey(seed), (50,), as_int(lo), as_int(hi), dtype))
    assert x.dtype == np.dtype(dtype) and x.shape == (50,)
    vals = x.astype(object)
    if hi > lo:
        assert all(lo <= v < hi for v in vals)
    else:
        assert all(v == lo for v in vals)  # an empty range returns minval, as JAX


def test_randint_reaches_the_top_of_the_dtype():
    x = np.asarray(jr.randint(K, (5000,), 0, 256, np.uint8))
    assert x.min() == 0 and x.max() == 255
    x = np.asarray(jr.randint(K, (5000,), -128, 128, np.int8))
    assert x.min() == -128 and x.max() == 127


def test_empty_and_scalar_shapes():
    for f in (lambda s: jr.uniform(K, s), lambda s: jr.normal(K, s),
              lambda s: jr.randint(K, s, 0, 3), lambda s: jr.gamma(K, 2.0, s),
              lambda s: jr.poisson(K, 3.0, s), lambda s: jr.bernoulli(K, 0.5, s),
              lambda s: jr.bits(K, s), lambda s: jr.split(K, s)):
        for s in ((), (0,), (2, 0)):
            x = np.asarray(f(s))
            assert x.shape[:len(s)] == s
    assert jr.choice(K, 5, (0,)).shape == (0,)
    assert jr.permutation(K, 0).shape == (0,)


def test_weak_python_parameters_do_not_change_dtypes():
    assert jr.uniform(K, (2,), np.float64, minval=0.5, maxval=2).dtype == np.float64
    assert jr.gamma(K, 2, (2,), np.float64).dtype == np.float64
    assert jr.beta(K, np.float32(2), 3.0, (2,)).dtype == np.float32
    assert jr.poisson(K, 3.0, (2,), np.int64).dtype == np.int64
    assert jr.rademacher(K, (2,), np.float32).dtype == np.float32
    assert jr.geometric(K, 0.5, (2,), np.int16).dtype == np.int16


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("call,exc,match", [
    (lambda: jr.uniform(np.zeros(2, np.float32), (2,)), TypeError, (r"uniform: expected a PRNG "
     r"key \(uint32\[2\].*got f32\[2\]")),
    (lambda: jr.uniform(np.zeros(3, np.uint32), (2,)), TypeError, r"got u32\[3\]"),
    (lambda: jr.normal(jr.split(K, 3), (2,)), TypeError, (r"normal: .*got u32\[3,2\]; for a "
     r"batch of keys, map over it with functrans.vmap")),
    (lambda: jr.split(jr.split(K, 2)), TypeError, r"split: expected a PRNG key"),
    (lambda: jr.uniform("key", (2,)), TypeError, r"uniform: expected a PRNG key .*got a str"),
    (lambda: jr.uniform(K, (2,), np.int32), ValueError, (r"uniform: dtype must be a floating "
     r"dtype, got int32")),
    (lambda: jr.normal(K, (2,), np.uint8), ValueError, (r"normal: dtype must be a floating or "
     r"complex dtype, got uint8")),
    (lambda: jr.randint(K, (2,), 0, 5, np.float32), ValueError, (r"randint: dtype must be an "
     r"integer dtype")),
    (lambda: jr.bits(K, (2,), np.int32), ValueError, r"bits: dtype must be an unsigned integer"),
    (lambda: jr.uniform(K, 3), TypeError, (r"uniform: shape must be a sequence of ints, got 3; "
     r"write \(3,\)")),
    (lambda: jr.uniform(K, (2, -1)), ValueError, r"negative dimension"),
    (lambda: jr.uniform(K, (2,), minval=np.zeros(3, np.float32)), ValueError,
     (r"uniform: parameter shapes \[\(3,\), \(\)\] must broadcast with the shape argument to "
     r"exactly \(2,\)")),
    (lambda: jr.gamma(K, np.ones(3, np.float32), (2,)), ValueError, r"gamma: parameter shapes"),
    (lambda: jr.randint(K, (2,), np.zeros(3, np.int32), 5), ValueError, r"randint: parameter"),
    (lambda: jr.bernoulli(K, 1, (2,)), TypeError, (r"bernoulli: the probability p must have a "
     r"floating dtype, got int32")),
    (lambda: jr.bernoulli(K, 0.5, (2,), mode="mid"), ValueError, (r"mode must be 'high' or "
     r"'low'")),
    (lambda: jr.choice(K, 3, (5,), replace=False), ValueError, (r"cannot take a larger sample "
     r"\(size 5\) than the population \(size 3\)")),
    (lambda: jr.choice(K, 0, (2,)), ValueError, r"a must be greater than 0"),
    (lambda: jr.choice(K, 5, (2,), p=np.ones(4, np.float32)), ValueError, (r"p must be None or "
     r"a 1-d vector of the size of a.shape\[axis\] \(5\), got shape \(4,\)")),
    (lambda: jr.choice(K, 5, 2), TypeError, r"choice: shape must be a sequence"),
    (lambda: jr.categorical(K, np.zeros((2, 3), np.float32), shape=(4, 2), replace=False),
     ValueError, r"cannot draw 4 samples without replacement from 3 categories"),
    (lambda: jr.categorical(K, np.zeros((2, 3), np.float32), axis=2), ValueError,
     r"axis 2 is out of bounds for an array of rank 2"),
    (lambda: jr.categorical(K, np.zeros((2, 3), np.float32), shape=(3,)), ValueError,
     r"categorical: parameter shapes"),
    (lambda: jr.permutation(K, 2.5), TypeError, (r"x must be an integer or an array of rank "
     r">= 1")),
    (lambda: jr.fold_in(K, -1), OverflowError, r"data -1 is out of bounds for uint32"),
    (lambda: jr.fold_in(K, 2**32), OverflowError, r"out of bounds for uint32"),
    (lambda: jr.fold_in(K, np.arange(2)), TypeError, r"data must be a scalar, got i64\[2\]"),
    (lambda: jr.fold_in(K, 1.5), TypeError, r"data must be an integer"),
    (lambda: jr.PRNGKey(1.5), TypeError, r"PRNGKey: the seed must be an integer, got f32\[\]"),
    (lambda: jr.PRNGKey(np.arange(3)), TypeError, (r"expected a scalar seed, got an array "
     r"i64\[3\]")),
    (lambda: jr.key(2**64), OverflowError, r"does not fit in int64"),
    (lambda: jr.dirichlet(K, 1.0), ValueError, r"alpha must have ndim >= 1"),
    (lambda: jr.gumbel(K, (2,), mode="highest"), ValueError, r"mode must be 'low' or 'high'"),
    (lambda: jr.multivariate_normal(K, np.zeros(2), np.eye(3)), ValueError,
     r"cov must have shape \(..., 2, 2\)"),
    (lambda: jr.multivariate_normal(K, np.zeros(2), np.eye(2), method="lu"), ValueError,
     r"method must be one of"),
    (lambda: jr.wrap_key_data(np.zeros((3, 4), np.uint32)), TypeError,
     r"expected a PRNG key \(uint32\[..., 2\]"),
])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_traced_integer_population_is_an_error():
    with pytest.raises(TypeError, match="must be concrete"):
        ft.vmap(lambda n: jr.permutation(K, n))(np.array([3, 4]))


def test_primitive_abstract_eval_errors():
    f32 = np.dtype(np.float32)
    key = ShapedArray((2,), np.dtype(np.uint32))
    with pytest.raises(DtypeError, match=r"random_gamma: the key operand must be "
                                         r"uint32\[..., 2\], got f32\[2\]"):
        jr.random_gamma_p.abstract_eval(ShapedArray((2,), f32), ShapedArray((3,), f32),
                                        log_space=False)
    with pytest.raises(DtypeError, match=r"random_gamma: operand i32\[3\] has dtype int32; "
                                         r"expected a floating dtype"):
        jr.random_gamma_p.abstract_eval(key, ShapedArray((3,), np.dtype(np.int32)),
                                        log_space=False)
    with pytest.raises(ShapeError, match=r"a key array u32\[4,2\] needs an operand whose shape "
                                         r"starts with \(4,\), got f32\[3\]"):
        jr.random_gamma_p.abstract_eval(ShapedArray((4, 2), np.dtype(np.uint32)),
                                        ShapedArray((3,), f32), log_space=False)
    with pytest.raises(TypeError, match="log_space must be a bool"):
        jr.random_gamma_p.abstract_eval(key, ShapedArray((3,), f32), log_space=1)
    with pytest.raises(DtypeError, match=r"random_poisson: operand f64\[3\] has dtype float64"):
        jr.random_poisson_p.abstract_eval(key, ShapedArray((3,), np.dtype(np.float64)),
                                          dtype=np.dtype(np.int32))
    with pytest.raises(TypeError, match="dtype must be an integer np.dtype"):
        jr.random_poisson_p.abstract_eval(key, ShapedArray((3,), f32), dtype=f32)
    out = jr.random_gamma_p.abstract_eval(ShapedArray((4, 2), np.dtype(np.uint32)),
                                          ShapedArray((4, 3), f32), log_space=True)
    assert out == ShapedArray((4, 3), f32)


# --- gradients ------------------------------------------------------------------------------------


def test_grad_of_reparameterized_normal():
    z = np.asarray(jr.normal(K, (5,)))
    loss = lambda mu, sigma: fnp.sum((mu + sigma * jr.normal(K, (5,))) ** 2)
    g_mu, g_sigma = ft.grad(loss, argnums=(0, 1))(0.3, 1.7)
    np.testing.assert_allclose(g_mu, np.sum(2 * (0.3 + 1.7 * z)), rtol=1e-5)
    np.testing.assert_allclose(g_sigma, np.sum(2 * (0.3 + 1.7 * z) * z), rtol=1e-5)
    # Gradients through uniform's bounds and truncated_normal's bounds exist and match FD.
    f = lambda lo: fnp.sum(jr.uniform(K, (4,), np.float64, lo, 3.0))
    fd = (f(0.5 + 1e-6) - f(0.5 - 1e-6)) / 2e-6
    np.testing.assert_allclose(ft.grad(f)(0.5), fd, rtol=1e-6)
    g = lambda lo: fnp.sum(jr.truncated_normal(K, lo, 2.0, (4,), np.float64))
    fd = (g(-1.0 + 1e-6) - g(-1.0 - 1e-6)) / 2e-6
    np.testing.assert_allclose(ft.grad(g)(-1.0), fd, rtol=1e-5)


def _inverse_cdf_derivative(a: np.ndarray, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """dx/da along igamma(a, x) = const: -(dP/da) / (dP/dx), dP/da by central differences,
    dP/dx the gamma density."""
    dp_da = (special.igamma(a + h, x) - special.igamma(a - h, x)) / (2 * h)
    density = np.exp((a - 1) * np.log(x) - x - special.lgamma(a))
    return -dp_da / density


def test_gamma_grad_matches_jax():
    np.testing.assert_allclose(jr.random_gamma_grad(_A8, _X8), JAX_X64["gamma_grad_f64"],
                               rtol=1e-12)


@settings(max_examples=15)  # each example bisects igamma 80 times
@given(st.lists(st.tuples(st.floats(0.05, 200.0), st.floats(0.001, 0.999)), min_size=1,
                max_size=16))
def test_gamma_grad_is_the_implicit_derivative_of_the_cdf(pairs):
    a, q = (np.array(v, np.float64) for v in zip(*pairs))
    # x at quantile q of Gamma(a), by bisection on igamma: both of random_gamma_grad's
    # branches (series for x <= max(1, a), continued fraction beyond) are reached.
    lo, hi = np.zeros_like(a), a + 40 * np.sqrt(a) + 40
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        below = special.igamma(a, mid) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    x = 0.5 * (lo + hi)
    keep = x > 1e-250
    got = np.asarray(jr.random_gamma_grad(a[keep], x[keep]))
    np.testing.assert_allclose(got, _inverse_cdf_derivative(a[keep], x[keep]), rtol=2e-5,
                               atol=1e-12)


def test_grad_of_gamma_samples_wrt_a():
    a = np.array([0.2, 0.9, 1.0, 4.0, 60.0], np.float64)
    key = jr.PRNGKey(7)
    x = np.asarray(jr.gamma(key, a))
    g = np.asarray(ft.grad(lambda a: fnp.sum(jr.gamma(key, a)))(a))
    np.testing.assert_allclose(g, _inverse_cdf_derivative(a, x), rtol=2e-5)
    # loggamma differentiates log x.
    gl = np.asarray(ft.grad(lambda a: fnp.sum(jr.loggamma(key, a)))(a))
    xl = np.exp(np.asarray(jr.loggamma(key, a)))
    np.testing.assert_allclose(gl, _inverse_cdf_derivative(a, xl) / xl, rtol=2e-5)
    # jvp agrees with grad; float32 works too.
    _, t = ft.jvp(lambda a: jr.gamma(key, a), (a,), (np.ones_like(a),))
    np.testing.assert_allclose(t, g, rtol=1e-12)
    g32 = ft.grad(lambda a: fnp.sum(jr.gamma(key, a)))(a.astype(np.float32))
    assert np.asarray(g32).dtype == np.float32


def test_reparameterization_gradients_are_unbiased():
    # E[x] = a for Gamma(a), so d/da of the sample mean is 1 on average; E[log x] = digamma(a).
    key = jr.PRNGKey(11)
    n = 100_000
    for a in (0.3, 2.0):
        g = float(ft.grad(lambda a: fnp.mean(jr.gamma(key, a, (n,), np.float64)))(a))
        assert g == pytest.approx(1.0, abs=0.02)
    a, h = 1.5, 1e-4
    trigamma = float((special.digamma(a + h) - special.digamma(a - h)) / (2 * h))
    g = float(ft.grad(lambda a: fnp.mean(jr.loggamma(key, a, (n,), np.float64)))(a))
    assert g == pytest.approx(trigamma, rel=0.02)
    # beta and dirichlet inherit the gradient: d/da E[Beta(a, b)] = b / (a + b)**2.
    g = float(ft.grad(lambda a: fnp.mean(jr.beta(key, a, 3.0, (n,), np.float64)))(2.0))
    assert g == pytest.approx(3.0 / 25.0, rel=0.05)


def test_vmap_of_grad_of_gamma():
    keys = jr.split(K, 3)
    a = np.array([0.5, 2.0, 9.0])
    got = ft.vmap(ft.grad(lambda k, a: jr.gamma(k, a), argnums=1))(keys, a)
    want = [float(ft.grad(lambda a, k=keys[i]: jr.gamma(k, a))(a[i])) for i in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


# --- linalg-based samplers ------------------------------------------------------------------------



def test_multivariate_normal():
    mean = np.array([1.0, -2.0, 0.5])
    cov = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
    for i, method in enumerate(("cholesky", "eigh", "svd")):
        x = np.asarray(jr.multivariate_normal(_keys(100 + i), mean, cov, (N,), method=method))
        assert x.shape == (N, 3) and x.dtype == np.float64
        np.testing.assert_allclose(x.mean(0), mean, atol=6 * math.sqrt(2.0 / N))
        np.testing.assert_allclose(np.cov(x.T), cov, atol=0.03)
    # Cholesky: mean + L z with JAX's normal draws z.
    z = np.asarray(jr.normal(K, (4, 3), np.float64))
    want = mean + z @ np.linalg.cholesky(cov).T
    np.testing.assert_allclose(jr.multivariate_normal(K, mean, cov, (4,)), want, rtol=1e-12)


def test_orthogonal():
    # Complex dtypes give unitary matrices, as in JAX (nn.initializers.orthogonal uses this).
    for dtype in (np.float64, np.complex128):
        for n, m in ((3, 3), (4, 2), (2, 5)):
            q = np.asarray(jr.orthogonal(K, n, (2,), dtype, m=m))
            assert q.shape == (2, n, m) and q.dtype == dtype
            qh = np.conj(np.swapaxes(q, -1, -2))
            gram = q @ qh if n < m else qh @ q
            np.testing.assert_allclose(gram, np.broadcast_to(np.eye(min(n, m)), gram.shape),
                                       atol=1e-12)


def test_a_million_uniforms():
    # Speed: benchmarks/primitive_speed.py.
    u = np.asarray(jr.uniform(K, (1_000_000,)))
    assert u.shape == (1_000_000,) and u.dtype == np.float32
    assert 0.0 <= u.min() and u.max() < 1.0 and abs(u.mean() - 0.5) < 2e-3
