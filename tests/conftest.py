"""Hypothesis profiles: ``fast`` (default, CI) and ``thorough`` (HYPOTHESIS_PROFILE=thorough); one BLAS thread.

Tests that pin ``max_examples`` in their own ``@settings`` keep that number under either profile.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("fast", max_examples=30, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

# One BLAS thread, as the checkers use (verify.cli.single_threaded_blas): the tests' matrix products
# are small, and a multi-threaded OpenBLAS on a shared 2-core machine spins threads against each other.
from verify.cli import single_threaded_blas  # noqa: E402

_BLAS_LIMIT = single_threaded_blas()
