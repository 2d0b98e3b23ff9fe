"""Shared helpers for the benchmark scripts (not part of the package)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def data_dir() -> Path:
    """Directory of the shared datasets (RECTUNE_DATA_DIR or ../shared/data)."""
    env = os.environ.get("RECTUNE_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
