from __future__ import annotations

import pytest

from rectune.config import parse_overrides, parse_value
from rectune.errors import ConfigError
from rectune.models import create_model, model_class


def test_parse_value_types() -> None:
    assert parse_value("40") == 40
    assert parse_value("0.5") == 0.5
    assert parse_value("true") is True
    assert parse_value("pearson_baseline") == "pearson_baseline"
    assert parse_value('["a", "b"]') == ["a", "b"]


def test_parse_overrides_rejects_missing_equals() -> None:
    assert parse_overrides(["k=3", "sim = cosine"]) == {"k": 3, "sim": "cosine"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["oops"])


def test_unknown_hyperparameter_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="n_factorz"):
        create_model("baseline", n_factorz=3)


def test_invalid_value_names_field() -> None:
    with pytest.raises(ConfigError, match="epochs"):
        create_model("baseline", epochs=-1)


def test_unknown_model_lists_known() -> None:
    with pytest.raises(ConfigError, match="svd"):
        model_class("no-such-model")


def test_config_is_frozen() -> None:
    model = create_model("baseline")
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type
        model.config.epochs = 3  # type: ignore[misc]
