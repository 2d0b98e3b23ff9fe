"""Test kit shipped with rectune: conformance checks and synthetic fixtures."""

from rectune.testing.conformance import CHECKS, run_checks
from rectune.testing.fixtures import low_rank, two_clusters

__all__ = ["CHECKS", "low_rank", "run_checks", "two_clusters"]
