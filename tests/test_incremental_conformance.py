"""Every registered model against the fine-tune and incremental checks (rectune.testing)."""

from __future__ import annotations

import pytest

from rectune.models import create_model
from rectune.testing import INCREMENTAL_CHECKS, low_rank
from tests.test_conformance import FAST_PARAMS, MODEL_NAMES

#: Models without fine-tuning/incremental support yet, with the reason (kept honest and short).
NOT_YET: dict[str, str] = {}


@pytest.fixture(scope="module")
def data():
    return low_rank(n_users=50, n_items=40, density=0.4)


@pytest.mark.parametrize("check", list(INCREMENTAL_CHECKS))
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_incremental(name: str, check: str, data) -> None:
    if name in NOT_YET:
        pytest.xfail(NOT_YET[name])
    INCREMENTAL_CHECKS[check](lambda: create_model(name, **FAST_PARAMS.get(name, {})), data)
