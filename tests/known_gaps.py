"""Rules a primitive does not have yet, with the reason. The registry tests skip exactly these
and fail when a listed rule exists (so the table stays honest) or an unlisted one is missing.

Keys are (primitive name, property); properties: "jvp", "transpose".
"""

from __future__ import annotations

KNOWN_GAPS: dict[tuple[str, str], str] = {
    ("digamma", "jvp"): "needs polygamma(1, x) (trigamma), not a primitive yet",
    ("pmax", "jvp"): "derivative of a maximum across the mapped axis not written yet",
    ("pmin", "jvp"): "derivative of a minimum across the mapped axis not written yet",
    ("custom_lin", "jvp"): "second-order forward mode through a custom_vjp function",
    ("random_gamma_grad", "jvp"): "second derivative of gamma samples in a (d2x/da2) not "
                                  "written yet",
    ("while_transpose", "jvp"): "second-order differentiation (e.g. hessian) through a while "
                                "loop under jit; eager hessians work (the trip count is then "
                                "concrete and the loop's reverse mode is a scan)",
    ("while_transpose", "transpose"): "its own transpose: see its jvp entry",
}


def gap(prim_name: str, prop: str) -> str | None:
    return KNOWN_GAPS.get((prim_name, prop))


# Primitives whose derivative is zero by definition although the function itself changes, so
# finite differences do not apply (their jvp is still checked for types and transposition).
NOT_FINITE_DIFFERENCES: dict[str, str] = {
    "stop_gradient": "identity whose derivative is defined to be zero",
    "bitcast_convert_type": "reinterprets bits; the derivative is defined to be zero",
    "reduce_precision": "rounding (piecewise constant) is differentiated as the identity",
    "random_gamma": "its derivative is the implicit reparameterization dx/da of the gamma CDF, "
                    "not the pathwise derivative of the rejection sampler; tests/test_random.py "
                    "checks it against finite differences of the CDF",
}

# Internal primitives that cannot be evaluated on their own, so they have no samples; their
# rules are tested through the API that creates them (named test).
NO_SAMPLES: dict[str, str] = {
    "custom_lin": "the linear map of a custom_vjp function; tests/test_autodiff.py covers it",
    **{name: "a collective means nothing outside a vmap that names its axis; "
             "tests/test_vmap.py covers it"
       for name in ("psum", "pmax", "pmin", "all_gather", "all_to_all", "ppermute",
                    "psum_scatter", "axis_index")},
}
