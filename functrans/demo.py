"""A short tour of functrans: ``python -m functrans.demo``.

Shows what works today: NumPy-style code on immutable arrays, the jaxpr a function traces
to, shape evaluation without computing, pytrees and the errors a traced ``if`` gives. Later
features (grad, vmap, jit) join the tour as they land.
"""

from __future__ import annotations

import time

import numpy as np

import functrans as ft
import functrans.numpy as fnp


def _section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)))


def predict(params: dict, x: np.ndarray) -> ft.Array:
    """A tiny two-layer network written against functrans.numpy."""
    h = fnp.tanh(x @ params["w1"] + params["b1"])
    return fnp.sum(h * params["w2"], axis=-1)


def main() -> None:
    rng = np.random.default_rng(0)
    params = {"w1": rng.normal(size=(3, 4)).astype(np.float32),
              "b1": np.zeros(4, np.float32),
              "w2": rng.normal(size=4).astype(np.float32)}
    x = rng.normal(size=(2, 3)).astype(np.float32)

    _section("eager evaluation: functrans.numpy on NumPy inputs")
    y = predict(params, x)
    print("predict(params, x) =", y)
    print("type:", type(y).__name__, "| dtype:", y.dtype, "| zero-copy to NumPy:",
          np.shares_memory(np.asarray(y), np.asarray(y)))

    _section("make_jaxpr: the program functrans traces")
    print(ft.make_jaxpr(predict)(params, x))

    _section("eval_shape: shapes and dtypes without computing")
    print(ft.eval_shape(predict, params, ft.ShapeDtypeStruct((1000, 3), np.float64)))

    _section("pytrees")
    leaves, treedef = ft.tree_util.tree_flatten(params)
    print(treedef)
    print("tree.map(shape):", ft.tree.map(lambda a: a.shape, params))

    _section("immutable arrays: functional updates with .at[]")
    a = fnp.zeros(4)
    try:
        a[0] = 1.0
    except TypeError as e:
        print("a[0] = 1.0  ->", type(e).__name__ + ":", str(e).split(":")[0])
    print("a.at[1:3].set(7.0) =", a.at[1:3].set(7.0), "| a is unchanged:", a)

    _section("a Python `if` on a traced value explains itself")

    def relu_if(z):
        if z > 0:
            return z
        return 0.0 * z

    try:
        ft.make_jaxpr(relu_if)(1.0)
    except ft.errors.ConcretizationTypeError as e:
        print(type(e).__name__ + ":\n" + str(e))

    _section("tracing speed")
    def chain(z):
        for _ in range(250):
            z = fnp.sin(z) * 1.01 + fnp.cos(z) * 0.5
        return fnp.sum(z)

    t0 = time.perf_counter()
    jaxpr = ft.make_jaxpr(chain)(np.ones(128, np.float32))
    ms = (time.perf_counter() - t0) * 1e3
    print(f"make_jaxpr of a {len(jaxpr.eqns)}-equation chain: {ms:.1f} ms")


if __name__ == "__main__":
    main()
