"""Test kit shipped with rectune: conformance checks and synthetic fixtures."""

from rectune.testing.conformance import CHECKS, run_checks
from rectune.testing.fixtures import low_rank, two_clusters
from rectune.testing.incremental import INCREMENTAL_CHECKS

__all__ = ["CHECKS", "INCREMENTAL_CHECKS", "low_rank", "run_checks", "two_clusters"]
