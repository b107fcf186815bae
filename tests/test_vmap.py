"""vmap end to end: axes specs, nesting, per-example gradients, collectives, chunking, and
the errors users see."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import errors, lax


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def _mlp_params(rng):
    return {"w1": rng.normal(size=(4, 8)), "b1": rng.normal(size=8),
            "w2": rng.normal(size=(8, 3)), "b2": rng.normal(size=3)}


def _loss(params, x, y):
    h = fnp.tanh(x @ params["w1"] + params["b1"])
    return fnp.sum((h @ params["w2"] + params["b2"] - y) ** 2)


def test_per_example_gradients_equal_a_loop_of_grads():
    rng = np.random.default_rng(0)
    params = _mlp_params(rng)
    xs, ys = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    batched = ft.vmap(ft.grad(_loss), in_axes=(None, 0, 0))(params, xs, ys)
    for i in range(5):
        one = ft.grad(_loss)(params, xs[i], ys[i])
        for k in params:
            close(batched[k][i], one[k], 1e-10)


def test_grad_of_vmap_and_vmap_of_grad_compose():
    rng = np.random.default_rng(1)
    params = _mlp_params(rng)
    xs, ys = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    mean_loss = lambda p: fnp.mean(ft.vmap(_loss, in_axes=(None, 0, 0))(p, xs, ys))  # noqa
    g = ft.grad(mean_loss)(params)
    per_example = ft.vmap(ft.grad(_loss), in_axes=(None, 0, 0))(params, xs, ys)
    for k in params:
        close(g[k], np.mean(np.asarray(per_example[k]), axis=0), 1e-10)


@given(st.integers(0, 2), st.integers(-2, 1), st.sampled_from([0, 1, 3]))
def test_in_axes_and_out_axes_positions(in_axis, out_axis, size):
    x = np.arange(2 * 3 * max(size, 1), dtype=np.float64)
    shape = [2, 3]
    shape.insert(in_axis, size)
    x = np.resize(x, shape)

    def f(v):
        return fnp.sin(v) @ fnp.ones((3,))

    got = ft.vmap(f, in_axes=in_axis, out_axes=out_axis)(x)
    loop = [np.sin(np.take(x, i, axis=in_axis)) @ np.ones(3) for i in range(size)]
    want = np.stack(loop, axis=0) if size else np.zeros((0, 2))
    close(got, np.moveaxis(want, 0, out_axis))


def test_pytree_in_axes_prefixes_and_none():
    x = {"a": np.ones((3, 2)), "b": (np.arange(3.0), np.ones(5))}
    f = lambda d: d["a"].sum() * d["b"][0] + d["b"][1].sum()  # noqa: E731
    out = ft.vmap(f, in_axes=({"a": 0, "b": (0, None)},))(x)
    close(out, 2.0 * np.arange(3.0) + 5.0)
    out2 = ft.vmap(lambda a, b: a + b, in_axes=(1, None))(np.ones((2, 4)), np.ones(2))
    assert out2.shape == (4, 2)


def test_nested_vmap_with_different_axes_and_names():
    x = np.arange(12.0).reshape(3, 4)

    def centered(v):
        return v - lax.pmean(v, "col")

    inner = ft.vmap(centered, axis_name="col")
    out = ft.vmap(inner, axis_name="row")(x)
    close(out, x - x.mean(axis=1, keepdims=True))
    both = ft.vmap(ft.vmap(lambda v: lax.psum(v, ("row", "col")), axis_name="col"),
                   axis_name="row")(x)
    close(both, np.full((3, 4), x.sum()))
    outer_only = ft.vmap(ft.vmap(lambda v: lax.psum(v, "row"), axis_name="col"),
                         axis_name="row")(x)
    close(outer_only, np.broadcast_to(x.sum(0), (3, 4)))


def test_collectives_inside_vmap():
    x = np.arange(8.0).reshape(4, 2)
    close(ft.vmap(lambda v: lax.pmax(v, "i"), axis_name="i")(x), np.broadcast_to(x.max(0),
                                                                                  x.shape))
    close(ft.vmap(lambda v: lax.all_gather(v, "i"), axis_name="i")(x),
          np.broadcast_to(x, (4, 4, 2)))
    close(ft.vmap(lambda v: lax.axis_index("i"), axis_name="i", in_axes=0)(x), np.arange(4))
    shifted = ft.vmap(lambda v: lax.ppermute(v, "i", [(i, (i + 1) % 4) for i in range(4)]),
                      axis_name="i")(x)
    close(shifted, np.roll(x, 1, axis=0))
    sq = np.arange(16.0).reshape(4, 4)
    close(ft.vmap(lambda v: lax.all_to_all(v, "i", 0, 0), axis_name="i")(sq), sq.T)
    # As in JAX: psum transposes to psum, so each member's gradient is that of the sum of
    # every member's objective: d/dv_i sum_j <v_j, S> = S + S.
    grads = ft.vmap(ft.grad(lambda v: fnp.sum(v * lax.psum(v, "i"))), axis_name="i")(x)
    close(grads, 2 * np.broadcast_to(x.sum(0), x.shape))


def test_collective_outside_vmap_is_an_error():
    with pytest.raises(NameError, match="unbound axis name 'i'"):
        lax.psum(np.ones(3), "i")
    with pytest.raises(NameError, match="unbound axis name 'j'"):
        ft.vmap(lambda v: lax.psum(v, "j"), axis_name="i")(np.ones(3))


def test_chunked_vmap_equals_unchunked():
    rng = np.random.default_rng(2)
    params = _mlp_params(rng)
    xs, ys = rng.normal(size=(7, 4)), rng.normal(size=(7, 3))
    f = ft.grad(_loss)
    full = ft.vmap(f, in_axes=(None, 0, 0))(params, xs, ys)
    for k in (1, 2, 3, 7, 100):
        chunked = ft.vmap(f, in_axes=(None, 0, 0), chunk_size=k)(params, xs, ys)
        for name in params:
            close(chunked[name], full[name], 1e-12)
    jac = ft.jacrev(lambda x: fnp.tanh(x) * x[0], chunk_size=2)(np.arange(5.0))
    close(jac, ft.jacrev(lambda x: fnp.tanh(x) * x[0])(np.arange(5.0)), 1e-12)


def test_unbatched_outputs_with_out_axes_none():
    out, const = ft.vmap(lambda v: (v * 2, fnp.ones(2)), out_axes=(0, None))(np.ones(3))
    assert out.shape == (3,) and const.shape == (2,)
    out, bcast = ft.vmap(lambda v: (v * 2, fnp.ones(2)))(np.ones(3))
    assert bcast.shape == (3, 2)


def test_python_control_flow_on_batched_values_explains():
    with pytest.raises(errors.TracerBoolConversionError) as info:
        ft.vmap(lambda v: v if v > 0 else -v)(np.arange(3.0))
    msg = str(info.value)
    assert "differs from one example of the batch to the next" in msg
    assert "functrans.numpy.where" in msg


# --- errors ---------------------------------------------------------------------------------------


def test_mismatched_axis_sizes_name_the_arguments():
    with pytest.raises(ValueError) as info:
        ft.vmap(lambda a, b: a + b)(np.ones(3), {"k": np.ones(4)})
    msg = str(info.value)
    assert "args[0] has size 3" in msg and "args[1]['k'] has size 4" in msg


def test_in_axes_structure_errors():
    with pytest.raises(ValueError, match="in_axes has 1 entries"):
        ft.vmap(lambda a, b: a + b, in_axes=(0,))(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="tree prefix"):
        ft.vmap(lambda d: d["a"], in_axes=({"b": 0},))({"a": np.ones(3)})
    with pytest.raises(ValueError, match="out of range"):
        ft.vmap(lambda a: a, in_axes=2)(np.ones((3, 2)))
    with pytest.raises(ValueError, match="scalar"):
        ft.vmap(lambda a: a)(1.0)


def test_out_axes_none_for_a_batched_output():
    with pytest.raises(ValueError, match="out_axes is None"):
        ft.vmap(lambda a: a * 2, out_axes=None)(np.ones(3))


def test_nothing_mapped_needs_axis_size():
    with pytest.raises(ValueError, match="axis_size"):
        ft.vmap(lambda a: a, in_axes=None)(np.ones(3))
    out = ft.vmap(lambda a: a + lax.axis_index("i"), in_axes=None, axis_size=4,
                  axis_name="i")(np.zeros(()))
    close(out, np.arange(4.0))


def test_missing_batching_rule_is_an_error_not_a_loop():
    from functrans.primitives.registry import Example, define_primitive

    p = define_primitive("test_unbatchable", family="other", impl=lambda x: x,
                         abstract_eval=lambda x: x, dtypes=[np.dtype(np.float32)],
                         sample=lambda d: [Example((np.ones(2, d),))])
    try:
        with pytest.raises(errors.MissingRuleError, match="'test_unbatchable' has no batching"):
            ft.vmap(lambda v: p.bind(v))(np.ones((3, 2), np.float32))
    finally:
        from functrans.primitives import registry
        registry._REGISTRY.pop("test_unbatchable")
