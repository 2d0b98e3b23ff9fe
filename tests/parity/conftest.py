"""Parity fixtures: the real datasets, loaded once, and a table of the measured figures.

Every parity test records ``rectune vs peer`` through ``parity_figures``; the table, with each
test's outcome, is printed at the end of the pytest run, so a CI log shows which claims were
checked, with what figures, and that they passed rather than skipped. Without the datasets the
tests skip, except under CI (``CI=true``), where a missing dataset is a failure: the claims
must be checked there.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from rectune.data import Interactions, default_data_dir, load

_FIGURES: dict[str, list[str]] = {}


@pytest.fixture(scope="session")
def dataset() -> Callable[[str], Interactions]:
    """Loader of a dataset under the shared data directory (cached)."""
    cache: dict[str, Interactions] = {}

    def get(name: str) -> Interactions:
        if name not in cache:
            root = default_data_dir()
            if root is None or not (root / name).is_dir():
                message = f"{name} not found (set RECTUNE_DATA_DIR or provide ../shared/data)"
                if os.environ.get("CI", "").lower() == "true":
                    pytest.fail(f"parity tests need the real data in CI: {message}")
                pytest.skip(message)
            cache[name] = load(root / name)
        return cache[name]

    return get


@pytest.fixture
def parity_figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record one line of measured figures for the end-of-run parity table."""

    def record(line: str) -> None:
        _FIGURES.setdefault(request.node.nodeid, []).append(line)

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    outcomes = {
        report.nodeid: outcome.upper()
        for outcome in ("passed", "failed", "skipped", "error")
        for report in terminalreporter.stats.get(outcome, [])
        if "tests/parity/" in report.nodeid and report.when in ("call", "setup")
    }
    if not outcomes:
        return
    terminalreporter.section("parity with Surprise, implicit and River (rectune vs peer)")
    for nodeid, outcome in sorted(outcomes.items()):
        figures = "; ".join(_FIGURES.get(nodeid, [])) or "-"
        terminalreporter.write_line(f"{outcome} {nodeid.split('tests/parity/')[1]}: {figures}")
