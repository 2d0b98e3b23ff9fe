"""Shared helpers for the benchmark scripts (not part of the package)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np


def data_dir() -> Path:
    """Directory of the shared datasets (RECTUNE_DATA_DIR or ../shared/data)."""
    env = os.environ.get("RECTUNE_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def kfold_rows(n: int, folds: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Test row indices of each fold: one seeded permutation cut into equal parts."""
    perm = np.random.default_rng(seed).permutation(n)
    return list(np.array_split(perm, folds))


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
