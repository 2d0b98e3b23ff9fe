"""Root conftest: the README quickstart runs on ML-100K, so skip its doctest without the data."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from rectune.data.loaders import default_data_dir

    if default_data_dir() is not None and (default_data_dir() / "ml-100k").is_dir():
        return
    skip = pytest.mark.skip(reason="README quickstart needs ../shared/data/ml-100k")
    for item in items:
        if item.fspath.basename == "README.md":
            item.add_marker(skip)
