"""Hypothesis profiles: ``fast`` (default, CI) and ``thorough`` (HYPOTHESIS_PROFILE=thorough).

Tests that pin ``max_examples`` in their own ``@settings`` keep that number under either profile.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("fast", max_examples=30, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))
