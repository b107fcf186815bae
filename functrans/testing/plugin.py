"""pytest plugin: a ``check_grads`` fixture and a hypothesis profile for functrans tests.

Installed functrans registers it through a ``pytest11`` entry point named like the module,
``functrans.testing.plugin``, so ``-p functrans.testing.plugin`` or ``pytest_plugins =
["functrans.testing.plugin"]`` (needed when functrans is not installed) never registers it
twice; ``-p no:functrans.testing.plugin`` turns it off.

* fixture ``check_grads``: ``functrans.testing.check_grads`` with a per-test default seed
  (derived from the test's node id, so each test draws different but reproducible directions);
  an explicit ``seed=`` wins.
* hypothesis profile ``"functrans"``: no deadline (transforms trace on first call, which makes
  timings noisy), slow-data health check off, ``derandomize`` when ``FUNCTRANS_DERANDOMIZE=1``.
  It is registered always and loaded with ``--functrans-profile`` (or
  ``FUNCTRANS_HYPOTHESIS_PROFILE=functrans``, or hypothesis' own
  ``--hypothesis-profile=functrans``), so installing functrans changes no one's settings.

Imports pytest, functrans.testing, and hypothesis when it is installed.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from functrans.testing.gradients import check_grads as _check_grads

PROFILE = "functrans"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")


def _register_profile() -> bool:
    """Register the hypothesis profile; False when hypothesis is not installed."""
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:
        return False
    settings.register_profile(
        PROFILE, deadline=None, derandomize=_flag("FUNCTRANS_DERANDOMIZE"),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    return True


# At import, before any pytest_configure: hypothesis' own plugin may load the profile by name
# (``--hypothesis-profile=functrans``) in its pytest_configure.
_HAVE_HYPOTHESIS = _register_profile()
_loaded = False


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("functrans")
    group.addoption("--functrans-profile", action="store_true", default=False,
                    help="load the 'functrans' hypothesis profile (no deadline; derandomized "
                         "when FUNCTRANS_DERANDOMIZE=1)")


def pytest_configure(config: pytest.Config) -> None:
    global _loaded
    wanted = (config.getoption("--functrans-profile")
              or os.environ.get("FUNCTRANS_HYPOTHESIS_PROFILE") == PROFILE)
    if wanted:
        if not _HAVE_HYPOTHESIS:
            raise pytest.UsageError("--functrans-profile needs hypothesis installed")
        from hypothesis import settings
        settings.load_profile(PROFILE)
        _loaded = True


def pytest_report_header(config: pytest.Config) -> str | None:
    if not _HAVE_HYPOTHESIS:
        return None
    return (f"functrans: hypothesis profile '{PROFILE}' "
            f"{'loaded' if _loaded else 'registered'} "
            f"(derandomize={_flag('FUNCTRANS_DERANDOMIZE')})")


def seed_for(nodeid: str) -> int:
    """The stable per-test seed the fixture uses (a CRC of the node id)."""
    return zlib.crc32(nodeid.encode())


@pytest.fixture
def check_grads(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``functrans.testing.check_grads`` seeded per test: failures name the seed, and the same
    test always uses the same directions."""
    seed = seed_for(request.node.nodeid)

    @functools.wraps(_check_grads)
    def seeded(*args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("seed", seed)
        return _check_grads(*args, **kwargs)

    return seeded
