"""Shared fixtures: the real-data directory (tests marked ``realdata`` skip without it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rectune.data.loaders import default_data_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared datasets directory; skips the test when it is absent."""
    found = default_data_dir()
    if found is None:
        pytest.skip("real datasets not found (set RECTUNE_DATA_DIR or provide ../shared/data)")
    return found


@pytest.fixture(scope="session")
def ml100k(data_dir: Path):
    from rectune.data.loaders import load

    path = data_dir / "ml-100k"
    if not path.is_dir():
        pytest.skip("ml-100k not found")
    return load(path)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """One intra-op thread for torch in tests: on a shared 2-core machine torch's pool thrashes
    (a NeuMF test took 25 s with two threads against 1 s with one)."""
    import torch

    torch.set_num_threads(1)
