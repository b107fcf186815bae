"""Testing tools for functrans users: gradient checks, transform laws, hypothesis strategies."""

from __future__ import annotations

from functrans.testing.gradients import check_grads, check_jvp, check_vjp, default_tolerance
