"""A short tour of functrans: ``python -m functrans.demo``.

NumPy-style code on immutable arrays, the jaxpr a function traces to, shape evaluation,
pytrees, the error a traced ``if`` gives, gradients (and a gradient check), per-example
gradients with vmap, random keys, and jit: its generated source and its speed-up over eager
NumPy on an elementwise chain.
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

    y_true = rng.normal(size=2).astype(np.float32)

    def loss(p, xb, yb):
        return fnp.mean((predict(p, xb) - yb) ** 2)

    _section("grad: reverse-mode derivatives of pytrees, checked against finite differences")
    grads = ft.grad(loss)(params, x, y_true)
    print("grad(loss) shapes:", ft.tree.map(lambda g: g.shape, grads))
    from functrans.testing import check_grads
    check_grads(loss, (params, x, y_true), order=2)
    print("check_grads(loss, order=2): jvp and vjp agree with finite differences")
    print("hessian of sum(sin(v)**2) at v=[0.1, 0.2]:\n",
          ft.hessian(lambda v: fnp.sum(fnp.sin(v) ** 2))(np.array([0.1, 0.2])))

    _section("vmap: per-example gradients, one batched program")
    per_example = ft.vmap(ft.grad(lambda p, xi, yi: (predict(p, xi) - yi) ** 2),
                          in_axes=(None, 0, 0))(params, x, y_true)
    print("per-example grad shapes:", ft.tree.map(lambda g: g.shape, per_example))

    _section("control flow: reverse mode through a while loop (JAX refuses this)")

    def newton_sqrt(a):
        return ft.lax.while_loop(lambda r: fnp.abs(r * r - a) > 1e-12 * a,
                                 lambda r: 0.5 * (r + a / r), a)

    a = np.array([2.0, 9.0, 1e4])
    print("vmap(grad(newton_sqrt))(a) =", ft.vmap(ft.grad(newton_sqrt))(a),
          "| analytic 1/(2 sqrt(a)) =", 0.5 / np.sqrt(a))

    _section("random: explicit keys (threefry, the same bits as JAX)")
    key = ft.random.PRNGKey(0)
    k1, k2 = ft.random.split(key)
    print("normal(k1, (3,)) =", ft.random.normal(k1, (3,)),
          "| randint(k2, (5,), 0, 10) =", ft.random.randint(k2, (5,), 0, 10))

    _section("jit: the generated NumPy module (each line names its equation and source line)")

    def small(z):
        return fnp.sum(fnp.sin(z) * 2.0 + 1.0)

    print(ft.jit(small).lower(np.ones(3, np.float32)).as_text())

    _section("jit: speed-up over eager NumPy on sum(tanh(x)*exp(-x**2) + 0.5*sin(3x) - x/(1+x**2))")

    def transcendental(np_like):
        def f(z):
            return np_like.sum(np_like.tanh(z) * np_like.exp(-z ** 2) + 0.5 * np_like.sin(3 * z)
                               - z / (1 + z ** 2))
        return f

    for n in (1_000_000, 10_000_000):
        xs = np.linspace(-3, 3, n, dtype=np.float32)
        eager, jitted = transcendental(np), ft.jit(transcendental(fnp))
        t0 = time.perf_counter()
        jitted(xs)
        compile_ms = (time.perf_counter() - t0) * 1e3
        t_np = _best_of(lambda: eager(xs))
        t_jit = _best_of(lambda: jitted(xs))
        print(f"n={n:>10,}: eager NumPy {t_np * 1e3:7.2f} ms | jit {t_jit * 1e3:7.2f} ms "
              f"({t_np / t_jit:.1f}x faster; first call incl. compile {compile_ms:.0f} ms)")
    print("(best of 5; python benchmarks/jit_elementwise.py compares with jax.jit too)")


def _best_of(fn, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


if __name__ == "__main__":
    main()
