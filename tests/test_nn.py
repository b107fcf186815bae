"""``functrans.nn`` and ``functrans.nn.initializers`` against NumPy formulas.

Activations are compared with their definitions on drawn arrays (0-d and empty included), their
gradients with the analytic derivatives (JAX's choices at the kinks), softmax/log_softmax/
logsumexp with a float64 reference including masks and infinities (gradients must stay NaN-free
for -inf entries), dot_product_attention with a NumPy implementation, and the initializers with
their distributions' moments and a few values pinned from jax.nn.initializers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import functrans as ft
import functrans.numpy as fnp
from functrans.errors import DtypeError, ShapeError

nn = pytest.importorskip("functrans.nn")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the oracles' log(0), inf-inf

F32, F64, I32 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32)
TOL = {F32: 2e-5, F64: 1e-11}
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@st.composite
def floats(draw: st.DrawFn, shapes: st.SearchStrategy = SHAPES, bound: float = 20.0,
           dtypes: tuple = (F32, F64)) -> np.ndarray:
    d = draw(st.sampled_from(dtypes))
    return draw(hnp.arrays(d, draw(shapes), elements=hnp.from_dtype(
        d, min_value=-bound, max_value=bound, allow_nan=False, allow_infinity=False,
        allow_subnormal=False)))


def check(got, want, dtype=None, tol=None, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if dtype is not None:
        assert got.dtype == dtype, f"{what}: dtype {got.dtype} != {dtype}"
    t = TOL.get(got.dtype, 0) if tol is None else tol
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=t,
                               atol=t, equal_nan=True, err_msg=what)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def erf(x):
    return np.vectorize(math.erf)(x) if np.size(x) else np.zeros(np.shape(x))


SQRT_2_PI = math.sqrt(2 / math.pi)
SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

# name -> (value formula, derivative formula), both on float64 inputs.
ACTIVATIONS = {
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "relu6": (lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)) * 1.0),
    "leaky_relu": (lambda x: np.where(x >= 0, x, 0.01 * x), lambda x: np.where(x >= 0, 1, .01)),
    "hard_tanh": (lambda x: np.clip(x, -1, 1), lambda x: ((x >= -1) & (x <= 1)) * 1.0),
    "hard_sigmoid": (lambda x: np.clip(x + 3, 0, 6) / 6,
                     lambda x: ((x > -3) & (x < 3)) / 6.0),
    "sigmoid": (sigmoid, lambda x: sigmoid(x) * (1 - sigmoid(x))),
    "silu": (lambda x: x * sigmoid(x), lambda x: sigmoid(x) * (1 + x * (1 - sigmoid(x)))),
    "softplus": (lambda x: np.logaddexp(x, 0), sigmoid),
    "log_sigmoid": (lambda x: -np.logaddexp(-x, 0), lambda x: sigmoid(-x)),
    "soft_sign": (lambda x: x / (np.abs(x) + 1), lambda x: 1 / (np.abs(x) + 1) ** 2),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
            lambda x: np.where(x > 0, 1, np.exp(np.minimum(x, 0)))),
    "celu": (lambda x: np.maximum(x, 0) + np.expm1(np.minimum(x, 0)),
             lambda x: np.where(x > 0, 1, np.exp(np.minimum(x, 0)))),
    "selu": (lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(np.minimum(x, 0))),
             lambda x: SELU_S * np.where(x > 0, 1, SELU_A * np.exp(np.minimum(x, 0)))),
    "gelu": (lambda x: 0.5 * x * (1 + np.tanh(SQRT_2_PI * (x + 0.044715 * x ** 3))), None),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "mish": (lambda x: x * np.tanh(np.logaddexp(x, 0)), None),
    "squareplus": (lambda x: (x + np.sqrt(x * x + 4)) / 2, lambda x: (1 + x / np.sqrt(x * x + 4))
                   / 2),
    "sparse_plus": (lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)),
                    lambda x: np.where(x <= -1, 0, np.where(x >= 1, 1, (x + 1) / 2))),
    "sparse_sigmoid": (lambda x: np.clip((x + 1) / 2, 0, 1), None),
    "hard_silu": (lambda x: x * np.clip(x + 3, 0, 6) / 6, None),
    "identity": (lambda x: x, lambda x: np.ones_like(x)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(x=floats())
def test_activation_values(name, x):
    value, _ = ACTIVATIONS[name]
    check(getattr(nn, name)(x), value(x.astype(F64)), x.dtype, TOL[x.dtype] * 10, name)


@pytest.mark.parametrize("name", [n for n, (_, d) in sorted(ACTIVATIONS.items()) if d])
@given(x=floats(hnp.array_shapes(min_dims=1, max_dims=1, min_side=1, max_side=6), 8.0, (F64,)))
def test_activation_gradients(name, x):
    _, deriv = ACTIVATIONS[name]
    got = ft.vmap(ft.grad(getattr(nn, name)))(x)
    check(got, deriv(x), F64, 1e-9, name)


def test_gelu_forms_and_kinks():
    x = np.linspace(-4, 4, 17)
    exact = x * 0.5 * (1 + erf(x / math.sqrt(2)))
    check(nn.gelu(x, approximate=False), exact, F64, 1e-12)
    check(nn.gelu(x.astype(F32)), ACTIVATIONS["gelu"][0](x), F32, 1e-5)
    # JAX's slopes at the kinks.
    kinks = {"relu": (0.0, 0.0), "relu6": (0.0, 0.0), "leaky_relu": (0.0, 1.0),
             "hard_tanh": (1.0, 1.0), "elu": (0.0, 1.0), "celu": (0.0, 1.0),
             "softplus": (0.0, 0.5), "hard_sigmoid": (3.0, 0.0)}
    for name, (at, slope) in kinks.items():
        assert float(ft.grad(getattr(nn, name))(at)) == slope, name
    assert float(ft.grad(nn.relu6)(6.0)) == 0.0
    assert math.isnan(float(nn.relu(float("nan"))))  # NaN propagates, as in JAX


def test_activation_dtypes():
    i = np.array([1, -2, 0], np.int32)
    assert nn.relu(i).dtype == I32 and nn.hard_tanh(i).dtype == I32
    for name in ("gelu", "sigmoid", "softplus", "silu", "elu"):
        assert getattr(nn, name)(i).dtype == F32, name  # integers become float32
    assert nn.relu(np.float16(1.0)).dtype == np.float16
    assert nn.relu(2.0).weak_type  # a Python scalar stays weakly typed
    with pytest.raises(DtypeError, match="functrans.nn.softplus: not defined for complex"):
        nn.softplus(np.ones(2, np.complex64))


# --- softmax and friends ------------------------------------------------------------------------


def ref_logsumexp(x, axis, where=None, b=None):
    x = x.astype(F64)
    if where is not None:
        x = np.where(where, x, -np.inf)
    if b is not None:
        x = np.where(b != 0, x, -np.inf)
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    e = np.exp(x - m) * (1 if b is None else b)
    s = np.sum(e, axis=axis, keepdims=True)
    return np.log(np.abs(s)) + m, np.sign(s)


@st.composite
def logits(draw: st.DrawFn):
    x = draw(floats(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)))
    if draw(st.booleans()):
        x = np.where(draw(hnp.arrays(np.bool_, x.shape)), -np.inf, x).astype(x.dtype)
    axis = draw(st.sampled_from([-1, 0, None] + ([(0, -1)] if x.ndim > 1 else [])))
    where = draw(hnp.arrays(np.bool_, x.shape)) if draw(st.booleans()) else None
    return x, axis, where


@given(logits(), st.booleans())
def test_logsumexp(case, keepdims):
    x, axis, where = case
    want, _ = ref_logsumexp(x, axis, where)
    if not keepdims:
        want = np.squeeze(want, axis) if axis is not None else want.reshape(())
    check(nn.logsumexp(x, axis, keepdims=keepdims, where=where), want, x.dtype)


@given(logits(), st.data())
def test_logsumexp_with_b(case, data):
    x, axis, _ = case
    b = data.draw(hnp.arrays(F64, x.shape, elements=st.floats(-2, 2)))
    out, sign = nn.logsumexp(x, axis, b=b, return_sign=True)
    want, wsign = ref_logsumexp(x, axis, b=b)
    shape = np.squeeze(want, axis).shape if axis is not None else ()
    check(out, want.reshape(shape), F64)
    check(sign, wsign.reshape(shape), F64)
    plain = np.asarray(nn.logsumexp(x, axis, b=b))
    assert np.all(np.isnan(plain[np.asarray(sign) < 0]))  # a negative sum has no real log


@given(logits())
def test_softmax_log_softmax(case):
    x, axis, where = case
    lse, _ = ref_logsumexp(x, axis, where)
    xw = x.astype(F64) if where is None else np.where(where, x, -np.inf)
    want_log = xw - lse
    want = np.exp(want_log)
    if where is not None:
        want = np.where(where, want, 0.0)
        want_log = np.where(where, want_log, -np.inf)  # JAX: -inf where masked
    check(nn.softmax(x, axis, where), want, x.dtype)
    check(nn.log_softmax(x, axis, where), want_log, x.dtype)


def test_masked_entries_have_zero_gradient():
    x = np.array([[-np.inf, 0.0, 1.0, 2.0], [3.0, -np.inf, -np.inf, 0.5]])
    for f in (lambda v: fnp.sum(nn.logsumexp(v, axis=1)),
              lambda v: fnp.sum(nn.softmax(v)[:, 2] + nn.softmax(v)[:, 3]),
              lambda v: fnp.sum(nn.log_softmax(v)[:, 3]),
              lambda v: fnp.sum(nn.softmax(v, where=v > -1.0)[:, 3])):
        g = np.asarray(ft.grad(f)(x))
        assert not np.any(np.isnan(g)), g
        assert np.all(g[np.isinf(x)] == 0)
    # d logsumexp / dx = softmax, also with -inf entries.
    check(ft.grad(lambda v: nn.logsumexp(v))(x[0]), nn.softmax(x[0]), F64)
    # Forward mode agrees.
    _, t = ft.jvp(lambda v: nn.softmax(v), (x,), (np.ones_like(x),))
    assert not np.any(np.isnan(np.asarray(t)))


def test_softmax_initial_and_vmap():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    m = np.array([[True, False, True], [False, False, False]])
    out = np.asarray(nn.softmax(x, where=m, initial=-1e30))
    check(out[0], [np.exp(1) / (np.exp(1) + np.exp(3)), 0, np.exp(3) / (np.exp(1) +
                                                                      np.exp(3))], F64)
    check(ft.vmap(nn.softmax)(x), nn.softmax(x, axis=-1), F64)
    check(ft.vmap(lambda v: nn.logsumexp(v))(x), nn.logsumexp(x, axis=1), F64)


def test_logmeanexp():
    x = np.array([[1.0, 2.0], [3.0, -np.inf]])
    check(nn.logmeanexp(x, axis=1), np.log(np.mean(np.exp(x), axis=1)), F64)


# --- one_hot, standardize, glu ------------------------------------------------------------------


@given(hnp.arrays(I32, SHAPES, elements=st.integers(-2, 5)), st.integers(0, 5), st.data())
def test_one_hot(x, n, data):
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim))
    want = np.moveaxis((x[..., None] == np.arange(n)).astype(F32), -1, axis)
    check(nn.one_hot(x, n, axis=axis), want, F32)
    check(nn.one_hot(x, n, dtype=np.int32, axis=axis), want, I32)


@given(floats(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)), st.data())
def test_standardize(x, data):
    axis = data.draw(st.sampled_from([-1, 0, None]))
    m = x.astype(F64).mean(axis=axis, keepdims=True)
    v = x.astype(F64).var(axis=axis, keepdims=True)
    check(nn.standardize(x, axis), (x - m) / np.sqrt(v + 1e-5), x.dtype, TOL[x.dtype] * 100)
    check(nn.standardize(x, axis, mean=0.0, variance=4.0, epsilon=0.0), x / 2, x.dtype)


@given(floats(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4)), st.data())
def test_glu(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    if x.shape[axis] % 2:
        with pytest.raises(ShapeError, match="glu: axis .* must have an even size"):
            nn.glu(x, axis)
        return
    a, b = np.split(x.astype(F64), 2, axis)
    check(nn.glu(x, axis), a * sigmoid(b), x.dtype, TOL[x.dtype] * 10)


# --- attention ----------------------------------------------------------------------------------


def ref_attention(q, k, v, bias=None, mask=None, causal=False, q_len=None, kv_len=None):
    _, t, n, h = q.shape
    s, kh = k.shape[1], k.shape[2]
    k = np.repeat(k, n // kh, axis=2)
    v = np.repeat(v, n // kh, axis=2)
    logits = np.einsum("btnh,bsnh->bnts", q, k) / math.sqrt(h)
    if bias is not None:
        logits = logits + bias
    keep = np.ones(logits.shape, bool)
    if mask is not None:
        keep &= mask
    if causal:
        keep &= np.tril(np.ones((t, s), bool))
    if kv_len is not None:
        keep &= (np.arange(s)[None, :] < kv_len[:, None])[:, None, None, :]
    if q_len is not None:
        keep &= (np.arange(t)[None, :] < q_len[:, None])[:, None, :, None]
    logits = np.where(keep, logits, -0.7 * np.finfo(np.float32).max)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    out = np.einsum("bnts,bsnh->btnh", p, v)
    if q_len is not None:
        out = out * (np.arange(t)[None, :] < q_len[:, None])[:, :, None, None]
    return out


def test_dot_product_attention():
    r = np.random.default_rng(0)
    q = r.normal(size=(2, 4, 6, 8)).astype(F32)
    k = r.normal(size=(2, 5, 3, 8)).astype(F32)  # grouped-query: 6 heads over 3 kv heads
    v = r.normal(size=(2, 5, 3, 8)).astype(F32)
    bias = r.normal(size=(2, 6, 4, 5)).astype(F32)
    mask = r.uniform(size=(2, 1, 4, 5)) > 0.3
    check(nn.dot_product_attention(q, k, v), ref_attention(q, k, v), F32, 1e-5)
    check(nn.dot_product_attention(q, k, v, bias, mask), ref_attention(q, k, v, bias, mask),
          F32, 1e-5)
    q5 = r.normal(size=(2, 5, 6, 8)).astype(F32)
    check(nn.dot_product_attention(q5, k, v, is_causal=True),
          ref_attention(q5, k, v, causal=True), F32, 1e-5)
    lens = {"query_seq_lengths": np.array([3, 5]), "key_value_seq_lengths": np.array([2, 4])}
    check(nn.dot_product_attention(q5, k, v, **lens),
          ref_attention(q5, k, v, q_len=lens["query_seq_lengths"],
                        kv_len=lens["key_value_seq_lengths"]), F32, 1e-5)
    check(nn.dot_product_attention(q[0], k[0], v[0]), ref_attention(q, k, v)[0], F32, 1e-5)
    g = ft.grad(lambda qq: fnp.sum(nn.dot_product_attention(qq, k, v, mask=mask)))(q)
    assert np.all(np.isfinite(np.asarray(g)))
    with pytest.raises(ShapeError, match="dot_product_attention: incompatible shapes"):
        nn.dot_product_attention(q, k[..., :4], v[..., :4])
    with pytest.raises(NotImplementedError, match="implementation='cudnn'"):
        nn.dot_product_attention(q, k, v, implementation="cudnn")


# --- initializers -------------------------------------------------------------------------------

from functrans import random  # noqa: E402
init = nn.initializers


def key(seed: int = 0):
    return random.PRNGKey(seed)


def test_constant_initializers():
    check(init.zeros(key(), (2, 3)), np.zeros((2, 3)), F32)
    check(init.ones(key(), (2,), np.float64), np.ones(2), F64)
    check(init.constant(0.5)(key(), (3,)), np.full(3, 0.5), F32)
    check(init.constant(2, np.float64)(key(), (1, 2)), np.full((1, 2), 2.0), F64)


@pytest.mark.parametrize("name,scale,mode,dist", [
    ("glorot_uniform", 1.0, "fan_avg", "uniform"),
    ("glorot_normal", 1.0, "fan_avg", "truncated_normal"),
    ("xavier_uniform", 1.0, "fan_avg", "uniform"),
    ("xavier_normal", 1.0, "fan_avg", "truncated_normal"),
    ("he_uniform", 2.0, "fan_in", "uniform"),
    ("he_normal", 2.0, "fan_in", "truncated_normal"),
    ("kaiming_uniform", 2.0, "fan_in", "uniform"),
    ("kaiming_normal", 2.0, "fan_in", "truncated_normal"),
    ("lecun_uniform", 1.0, "fan_in", "uniform"),
    ("lecun_normal", 1.0, "fan_in", "truncated_normal"),
])
def test_variance_scaling_presets(name, scale, mode, dist):
    shape = (300, 200)
    w = np.asarray(getattr(init, name)()(key(1), shape))
    assert w.shape == shape and w.dtype == F32
    fan_in, fan_out = shape
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    var = scale / n
    np.testing.assert_allclose(w.var(), var, rtol=0.03)
    assert abs(w.mean()) < 4 * math.sqrt(var / w.size)
    if dist == "uniform":
        assert np.abs(w).max() <= math.sqrt(3 * var)
    else:
        assert np.abs(w).max() <= 2 * math.sqrt(var) / 0.87962566103423978 + 1e-6
    # Same key, same values; another key, other values.
    np.testing.assert_array_equal(w, getattr(init, name)()(key(1), shape))
    assert not np.array_equal(w, getattr(init, name)()(key(2), shape))


def test_variance_scaling_fans_and_errors():
    # A conv kernel (h, w, in, out): receptive field 3*3; batch axes leave the fan.
    shape = (3, 3, 64, 50)
    w = np.asarray(init.variance_scaling(1.0, "fan_in", "normal")(key(), shape))
    np.testing.assert_allclose(w.var(), 1.0 / (3 * 3 * 64), rtol=0.05)
    w = np.asarray(init.variance_scaling(2.0, "fan_out", "normal", in_axis=0, out_axis=(1, 2),
                                         batch_axis=3)(key(), (40, 5, 6, 7), np.float64))
    assert w.dtype == F64
    np.testing.assert_allclose(w.var(), 2.0 / 30, rtol=0.05)
    w = np.asarray(init.variance_scaling(1.0, "fan_geo_avg", "uniform")(key(), (100, 400)))
    np.testing.assert_allclose(w.var(), 1.0 / 200, rtol=0.05)
    with pytest.raises(ValueError, match="must be at least 2-d"):
        init.glorot_uniform()(key(), (5,))
    with pytest.raises(ValueError, match="mode must be one of"):
        init.variance_scaling(1.0, "fan", "normal")
    with pytest.raises(ValueError, match="distribution must be one of"):
        init.variance_scaling(1.0, "fan_in", "cauchy")
    with pytest.raises(TypeError, match="dtype must be floating or complex, got int32"):
        init.normal()(key(), (2,), np.int32)


def test_simple_distributions():
    x = np.asarray(init.normal(0.5)(key(3), (20000,)))
    np.testing.assert_allclose(x.std(), 0.5, rtol=0.03)
    u = np.asarray(init.uniform(2.0)(key(3), (20000,)))
    assert u.min() >= 0 and u.max() < 2.0
    np.testing.assert_allclose(u.mean(), 1.0, rtol=0.03)
    t = np.asarray(init.truncated_normal(1.0, lower=-1.0, upper=0.5)(key(3), (20000,)))
    assert t.min() >= -1.0 and t.max() <= 0.5


@pytest.mark.parametrize("shape,column_axis", [((6, 4), -1), ((4, 6), -1), ((3, 2, 5), -1),
                                               ((5, 3, 2), 0)])
def test_orthogonal(shape, column_axis):
    pytest.importorskip("functrans.numpy.linalg")
    w = np.asarray(init.orthogonal(2.0, column_axis)(key(5), shape), np.float64)
    assert w.shape == shape
    m = np.moveaxis(w, column_axis, -1).reshape(-1, shape[column_axis]) / 2.0
    small = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(small, np.eye(small.shape[0]), atol=1e-5)
    d = np.asarray(init.delta_orthogonal()(key(5), (3, 3, 4, 4)))
    np.testing.assert_allclose(d[1, 1].T @ d[1, 1], np.eye(4), atol=1e-5)
    assert np.all(d[0] == 0) and np.all(d[:, 0] == 0)


def test_values_match_jax():
    """Pinned from jax.nn.initializers with jax.random.PRNGKey(42) (JAX 0.10.2)."""
    k = key(42)
    check(init.glorot_uniform()(k, (2, 3)),
          [[-0.024736095, 0.3939159, 0.2547381], [0.13367954, -0.10813224, 0.18812267]],
          F32, 1e-6)
    check(init.he_normal()(k, (2, 3)),
          [[-0.030713633, 0.5051931, 0.32045117], [0.16655728, -0.13455985, 0.2352222]],
          F32, 1e-6)
    check(init.normal(0.5)(k, (4,)), [-0.014152308, 0.23356593, 0.14785148, 0.07677296],
          F32, 1e-6)
    pytest.importorskip("functrans.numpy.linalg")
    check(init.orthogonal()(k, (3, 2)),
          [[-0.08792734, 0.8722634], [0.9185913, 0.25780204], [-0.38530377, 0.4155657]],
          F32, 1e-5)


def test_initializers_under_vmap():
    keys = random.split(key(0), 3)
    ws = ft.vmap(lambda kk: init.glorot_normal()(kk, (4, 5)))(keys)
    assert np.asarray(ws).shape == (3, 4, 5)
    np.testing.assert_allclose(np.asarray(ws)[1], init.glorot_normal()(keys[1], (4, 5)),
                               rtol=1e-6)
