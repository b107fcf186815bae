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
* ``--functrans-check-leaks`` (or ini ``functrans_check_leaks = true``, or
  ``FUNCTRANS_CHECK_TRACER_LEAKS=1``): each test runs under leak checking
  (``functrans.checking_leaks``) and errors at teardown if it left a tracer alive after its
  transformation, naming who holds it. Tests that leak on purpose opt out with
  ``@pytest.mark.allow_tracer_leaks``; a test that failed or was skipped is not checked.

Imports pytest, functrans.testing, and hypothesis when it is installed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import zlib
from collections.abc import Callable, Generator
from typing import Any

import pytest

from functrans import config as ft_config
from functrans import errors, leaks
from functrans.testing.gradients import check_grads as _check_grads

PROFILE = "functrans"
_CHECK_LEAKS = pytest.StashKey[bool]()
_LEAK_SCOPE = pytest.StashKey[contextlib.ExitStack]()
_UNCHECKED = pytest.StashKey[bool]()


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
    group.addoption("--functrans-check-leaks", action="store_true", default=False,
                    help="error at teardown when a test leaves a functrans tracer alive after "
                         "its transformation (a traced value stored in a global, an attribute "
                         "or a closure), naming who holds it")
    parser.addini("functrans_check_leaks", type="bool", default=False,
                  help="like --functrans-check-leaks")


def pytest_configure(config: pytest.Config) -> None:
    global _loaded
    config.addinivalue_line(
        "markers", "allow_tracer_leaks: the test leaks functrans tracers on purpose; "
                   "--functrans-check-leaks does not check it")
    config.stash[_CHECK_LEAKS] = bool(config.getoption("--functrans-check-leaks")
                                      or config.getini("functrans_check_leaks")
                                      or _flag("FUNCTRANS_CHECK_TRACER_LEAKS"))
    wanted = (config.getoption("--functrans-profile")
              or os.environ.get("FUNCTRANS_HYPOTHESIS_PROFILE") == PROFILE)
    if wanted:
        if not _HAVE_HYPOTHESIS:
            raise pytest.UsageError("--functrans-profile needs hypothesis installed")
        from hypothesis import settings
        settings.load_profile(PROFILE)
        _loaded = True


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    if _HAVE_HYPOTHESIS:
        lines.append(f"functrans: hypothesis profile '{PROFILE}' "
                     f"{'loaded' if _loaded else 'registered'} "
                     f"(derandomize={_flag('FUNCTRANS_DERANDOMIZE')})")
    if config.stash[_CHECK_LEAKS]:
        lines.append("functrans: every test is checked for leaked tracers")
    return lines


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.config.stash[_CHECK_LEAKS] and not item.get_closest_marker("allow_tracer_leaks"):
        leaks.forget()  # earlier tests' tracers are theirs
        scope = item.stash[_LEAK_SCOPE] = contextlib.ExitStack()
        scope.enter_context(ft_config.check_tracer_leaks(True))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when != "teardown" and not report.passed:
        item.stash[_UNCHECKED] = True  # its error (or skip) says more than leftover tracers
    return report


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, None, None]:
    scope = item.stash.get(_LEAK_SCOPE, None)
    try:
        result = yield  # fixtures are torn down first: their tracers count too
    finally:
        if scope is not None:
            del item.stash[_LEAK_SCOPE]
            scope.close()
    if scope is not None:
        if item.stash.get(_UNCHECKED, False):
            leaks.forget()
        else:
            try:
                leaks.check()
                report = None
            except errors.LeakedTracerError as e:
                report = str(e)
            if report:
                pytest.fail(report, pytrace=False)
    return result


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
