"""Parity fixtures: the real datasets, loaded once, and a table of the measured figures.

Every parity test records ``rectune vs peer`` in ``parity_figures``; the table is printed at the
end of the pytest run, so a CI log shows the figures and not only that the tests passed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rectune.data import Interactions, load

_FIGURES: list[str] = []


@pytest.fixture(scope="session")
def dataset(data_dir: Path) -> Callable[[str], Interactions]:
    """Loader of a dataset under the shared data directory (cached); skips when it is absent."""
    cache: dict[str, Interactions] = {}

    def get(name: str) -> Interactions:
        if name not in cache:
            if not (data_dir / name).is_dir():
                pytest.skip(f"{name} not found under {data_dir}")
            cache[name] = load(data_dir / name)
        return cache[name]

    return get


@pytest.fixture
def parity_figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record one line of measured figures for the end-of-run parity table."""

    def record(line: str) -> None:
        _FIGURES.append(f"{request.node.name}: {line}")

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("parity figures (rectune vs peer, same data)")
        for line in _FIGURES:
            terminalreporter.write_line(line)
