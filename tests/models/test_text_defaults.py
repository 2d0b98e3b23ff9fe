"""Text-model defaults per mode (``auto``), saved configs keep their meaning, bars, warning."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pytest
from rich.console import Console
from rich.progress import Progress

from rectune.models.text import TextRecommender
from rectune.models.text.config import AUTO_BUDGET, TextRecommenderConfig
from rectune.registry.artifacts import load_model
from rectune.training import TrainConfig
from rectune.training.progress import hosted
from tests.models.test_text_rec import genre_data
from tests.test_conformance import _tiny_text_encoder


@pytest.fixture(scope="module")
def tiny() -> str:
    return _tiny_text_encoder()


@pytest.mark.parametrize("mode", sorted(AUTO_BUDGET))
def test_auto_resolves_to_the_mode_budget(mode) -> None:
    tuning, tower = mode
    cfg = TextRecommenderConfig(tuning=tuning, user_tower=tower)
    assert (cfg.epochs, cfg.max_pairs) == ("auto", "auto")
    assert (cfg.run_epochs(), cfg.pairs_per_epoch()) == AUTO_BUDGET[mode]
    assert TextRecommenderConfig.from_dict(cfg.to_dict()) == cfg  # "auto" round-trips


def test_lora_and_full_defaults_subsample_frozen_uses_every_pair() -> None:
    assert TextRecommenderConfig().pairs_per_epoch() is None
    assert TextRecommenderConfig(tuning="lora").run_epochs() == 1
    assert TextRecommenderConfig(tuning="full").pairs_per_epoch() == 3000


def test_explicit_values_of_an_older_config_mean_what_they_meant() -> None:
    """A config.json written before ``auto`` holds explicit numbers (and null = all pairs)."""
    old = {"tuning": "lora", "epochs": 5, "max_pairs": None}
    cfg = TextRecommenderConfig.from_dict(old)
    assert (cfg.run_epochs(), cfg.pairs_per_epoch()) == (5, None)
    assert TextRecommenderConfig(epochs=0).run_epochs() == 0  # zero-shot stays zero-shot
    with pytest.raises(Exception, match="max_pairs"):
        TextRecommenderConfig(max_pairs=0)


def test_saved_artifact_keeps_explicit_values_and_auto(tiny, tmp_path) -> None:
    data = genre_data()
    base = {"encoder": tiny, "batch_size": 64, "adapter": 16, "max_length": 24}
    explicit = TextRecommender(**base, epochs=1, max_pairs=None).fit(data)
    explicit.save(str(tmp_path / "a"))
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    assert json.dumps(saved).count('"max_pairs": null') == 1
    loaded = load_model(str(tmp_path / "a"))
    assert (loaded.config.epochs, loaded.config.max_pairs) == (1, None)
    np.testing.assert_array_equal(loaded.score(["u0"], [0]), explicit.score(["u0"], [0]))


def test_epoch_draws_the_resolved_number_of_pairs(tiny) -> None:
    data = genre_data()
    model = TextRecommender(encoder=tiny, epochs=1, max_pairs=10, adapter=8, max_length=16)
    model.fit(data)
    local = model._prepare(data)
    assert len(model.epoch_arrays(local, np.random.default_rng(0))["users"]) == 10
    model.config = model.config.with_overrides(max_pairs="auto")  # frozen: every pair
    assert len(model.epoch_arrays(local, np.random.default_rng(0))["users"]) == len(data)


def test_text_training_and_encoding_show_bars(tiny) -> None:
    display = Progress(console=Console(file=io.StringIO(), force_terminal=True))
    model = TextRecommender(encoder=tiny, tuning="lora", epochs=2, lora_r=2, batch_size=64,
                            adapter=8, max_length=16)  # fmt: skip
    with display, hosted(display):
        model.fit(genre_data(), train=TrainConfig(progress=True))
    names = [t.description for t in display.tasks]
    n_texts = len(model.item_text_)
    assert names[0] == f"encoding {n_texts:,} item texts"  # lora: its own encoder, cold cache
    assert "text training (2 epochs)" in names
    (train_task,) = [t for t in display.tasks if t.description.startswith("text training")]
    assert train_task.completed == train_task.total == 2 * -(-len(genre_data()) // 64)


def test_too_long_a_run_warns_with_the_text_hint(tiny, caplog) -> None:
    model = TextRecommender(encoder=tiny, epochs=1, batch_size=64, adapter=8, max_length=16)
    with caplog.at_level(logging.WARNING, logger="rectune.training.progress"):
        model.fit(genre_data(), train=TrainConfig(warn_seconds=1e-9))
    (record,) = caplog.records
    msg = record.getMessage()
    assert msg.startswith("text: estimated ") and "for 1 epoch x 4 batches" in msg
    assert msg.endswith(": lower max_pairs/epochs or use tuning=frozen")
