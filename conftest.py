"""Root conftest: the README quickstart runs on ML-100K, so skip its doctest without the data.

The README loads ``default_data_dir() / "ml-100k"``; the skip asks the very same question, so
the two agree wherever ``RECTUNE_DATA_DIR`` points and whatever the working directory is.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from rectune.data.loaders import default_data_dir

    found = default_data_dir()
    if found is not None and (found / "ml-100k").is_dir():
        return
    skip = pytest.mark.skip(
        reason="README quickstart needs ml-100k in the data dir ($RECTUNE_DATA_DIR or "
        "../shared/data)"
    )
    for item in items:
        if item.fspath.basename == "README.md":
            item.add_marker(skip)
