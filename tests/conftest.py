"""pytest set-up: hypothesis profiles (no deadlines: CI machines are shared and noisy), a
private cache for generated modules, and tracer-leak checking for every test."""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, settings

# The default profile draws the same examples on every run (derandomize), so CI cannot fail
# on a case no earlier run saw; FUNCTRANS_HYPOTHESIS_PROFILE=random (or thorough) explores.
settings.register_profile(
    "default", deadline=None, max_examples=60, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "random", deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "thorough", deadline=None, max_examples=500,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("FUNCTRANS_HYPOTHESIS_PROFILE", "default"))

# Generated modules go to a cache private to this test session, not the user's cache.
os.environ.setdefault("FUNCTRANS_CACHE_DIR", tempfile.mkdtemp(prefix="functrans-test-cache-"))
# Every test runs under tracer-leak checking (functrans.testing.plugin): a test that leaves a
# tracer alive after its transformation errors at teardown, naming who holds it. Tests that leak
# on purpose are marked allow_tracer_leaks; FUNCTRANS_CHECK_TRACER_LEAKS=0 turns checking off.
os.environ.setdefault("FUNCTRANS_CHECK_TRACER_LEAKS", "1")
