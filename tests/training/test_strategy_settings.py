"""`FinetuneStrategy` refuses settings that would silently poison a fine-tune (issue 7, s. 2)."""

from __future__ import annotations

import numpy as np
import pytest

from rectune.errors import ConfigError
from rectune.models import create_model
from rectune.testing import low_rank
from rectune.training import TrainConfig
from rectune.training.strategy import FinetuneStrategy


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("l2sp=-1", r"l2sp: .*finite lambda >= 0, got -1"),
        ("l2sp=-1e6", r"l2sp: .*finite lambda >= 0"),
        ("l2sp=nan", r"l2sp: .*finite lambda >= 0, got nan"),
        ("l2sp=inf", r"l2sp: .*finite lambda >= 0, got inf"),
        ({"l2sp": {"user_*": 0.1, "item_*": -2}}, r"l2sp\['item_\*'\] must be a finite lambda"),
        ("clip_norm=0", r"clip_norm: Input should be greater than 0"),
        ("clip_norm=-1", r"clip_norm: Input should be greater than 0"),
        ("clip_norm=inf", r"clip_norm: Input should be a finite number"),
        ("replay=-0.5", r"replay: Input should be greater than or equal to 0"),
        ("replay=nan", r"replay: Input should be"),
    ],
)
def test_bad_strategy_values_are_config_errors_naming_the_setting(spec, message) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        FinetuneStrategy.parse(spec)
    assert "\n" not in str(info.value)


def test_valid_values_still_parse() -> None:
    assert FinetuneStrategy.parse("l2sp=0").l2sp == 0
    assert FinetuneStrategy.parse("l2sp=1e12;clip_norm=0.5;replay=2").replay == 2
    assert FinetuneStrategy.parse({"l2sp": {"user_*": 0.0, "item_*": 3.0}}).lambdas(
        ["user_factors", "item_factors"]
    ) == {"user_factors": 0.0, "item_factors": 3.0}


@pytest.mark.parametrize("name", ["svd", "als"])
def test_negative_l2sp_never_reaches_training(name: str) -> None:
    # Before: SVD trained as if l2sp were 0; ALS returned NaN predictions.
    data = low_rank(n_users=30, n_items=20, density=0.5)
    model = create_model(name, embedding_size=3, epochs=2).fit(data)
    before = model.predict(data.user_ids[:5], data.item_ids[:5])
    with pytest.raises(ConfigError, match="l2sp"):
        model.finetune(data, train=TrainConfig(epochs=1), strategy="l2sp=-1e6")
    after = model.predict(data.user_ids[:5], data.item_ids[:5])
    np.testing.assert_array_equal(before, after)
    assert np.isfinite(after).all()
