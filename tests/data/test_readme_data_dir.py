"""The README doctest and its skip check agree on where ML-100K is, wherever that is.

Regression: the root conftest skipped the README by `default_data_dir()` while the README loaded
``"../shared/data/ml-100k"`` relative to the working directory, so with ``RECTUNE_DATA_DIR``
pointing elsewhere the doctest ran and failed instead of passing or skipping.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"

pytestmark = pytest.mark.skipif(
    not (README.is_file() and (REPO / "conftest.py").is_file()), reason="needs a source checkout"
)


def _run_readme(data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """pytest on README.md alone, from ``cwd``, with ``RECTUNE_DATA_DIR=data_dir``."""
    env = dict(os.environ, RECTUNE_DATA_DIR=str(data_dir))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(README)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.parametrize("exists", [True, False])
def test_readme_skips_cleanly_without_the_data(tmp_path: Path, exists: bool) -> None:
    empty = tmp_path / "empty"
    if exists:
        empty.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    result = _run_readme(empty, work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout and "failed" not in result.stdout


@pytest.mark.realdata
def test_readme_runs_with_the_data_dir_elsewhere(data_dir: Path, tmp_path: Path) -> None:
    if not (data_dir / "ml-100k").is_dir():
        pytest.skip("ml-100k not found")
    elsewhere = tmp_path / "datasets"
    elsewhere.mkdir()
    (elsewhere / "ml-100k").symlink_to((data_dir / "ml-100k").resolve(), target_is_directory=True)
    work = tmp_path / "work"  # no ../shared/data next to it
    work.mkdir()
    result = _run_readme(elsewhere, work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
