"""How much of jax.numpy's function namespace ``functrans.numpy`` provides.

``tests/data/jax_numpy_names.txt`` lists jax.numpy's public functions (its header says how it
was generated). This test prints how many of them functrans.numpy has and fails if the count
drops below ``FLOOR``: raise the floor whenever functions are added, never lower it.
"""

from __future__ import annotations

from pathlib import Path

import functrans.numpy as fnp

NAMES_FILE = Path(__file__).parent / "data" / "jax_numpy_names.txt"
FLOOR = 343  # of 344; jax.numpy.roots is missing (it needs a general eigenvalue solver)


def jax_numpy_names() -> list[str]:
    lines = NAMES_FILE.read_text().splitlines()
    assert lines and lines[0].startswith("#"), "the names file must start with its header"
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_names_file_is_well_formed():
    names = jax_numpy_names()
    assert len(names) == len(set(names)), "duplicate names"
    assert names == sorted(names), "names must stay sorted"
    assert all(n.isidentifier() and not n.startswith("_") for n in names)


def test_jax_numpy_coverage():
    names = jax_numpy_names()
    have = [n for n in names if callable(getattr(fnp, n, None))]
    missing = [n for n in names if n not in have]
    print(f"\nfunctrans.numpy provides {len(have)} of the {len(names)} jax.numpy functions "
          f"(floor {FLOOR}); missing: {', '.join(missing) or 'none'}")
    assert len(have) >= FLOOR, (
        f"functrans.numpy provides {len(have)} of the jax.numpy functions, below the floor "
        f"of {FLOOR}; missing: {', '.join(missing)}")
