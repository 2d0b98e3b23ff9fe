"""GPT-2 as the text model's encoder: pooling, LoRA on c_attn, frozen and full modes, artifacts,
and the docs/llm.md recipe (examples/gpt2_recipe.py) end to end on a tiny local GPT-2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from rectune.data.synthetic import generate
from rectune.models.text import TextRecommender
from rectune.registry.artifacts import load_model
from rectune.text import TextEncoder
from tests.models.test_text_rec import genre_data

RECIPE = Path(__file__).parents[2] / "examples" / "gpt2_recipe.py"


def _model(encoder: str, **kw) -> TextRecommender:
    params = {"encoder": encoder, "epochs": 1, "batch_size": 32, "adapter": 8, "max_length": 24}
    return TextRecommender(**{**params, **kw})


def test_last_and_mean_pooling_differ_and_ignore_padding(tiny_gpt2) -> None:
    texts = ["Alien (1979) | Sci-Fi", "a considerably longer title to force padding | Drama"]
    vecs = {}
    for pooling in ("last", "mean"):
        enc = TextEncoder(tiny_gpt2, pooling=pooling)
        batched = enc.encode(texts, cache=False)
        alone = enc.encode(texts[:1], cache=False)
        np.testing.assert_allclose(alone[0], batched[0], atol=1e-5)
        vecs[pooling] = batched
    assert np.abs(vecs["last"] - vecs["mean"]).max() > 1e-2
    # the config's pooling reaches the encoder (auto: last token for a decoder)
    assert _model(tiny_gpt2).fit(genre_data(n_users=8)).encoder.pooling == "last"
    assert _model(tiny_gpt2, pooling="mean").fit(genre_data(n_users=8)).encoder.pooling == "mean"


def test_lora_trains_only_lora_weights_of_c_attn(tiny_gpt2) -> None:
    reference = TextEncoder(tiny_gpt2, max_length=24).model.state_dict()
    model = _model(tiny_gpt2, tuning="lora", lora_r=2, epochs=2).fit(genre_data(n_users=16))
    trainable = [n for n, p in model.encoder.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and ".c_attn." in n for n in trainable)
    moved = False
    for key, value in model.encoder.model.state_dict().items():
        if "lora_" in key:
            moved |= "lora_B" in key and bool(value.abs().sum() > 0)
            continue
        base = key.replace("base_model.model.", "").replace(".base_layer", "")
        assert torch.equal(value, reference[base]), key
    assert moved, "LoRA B matrices never left zero"


def test_frozen_and_full_modes(tiny_gpt2) -> None:
    reference = TextEncoder(tiny_gpt2, max_length=24).model.state_dict()
    frozen = _model(tiny_gpt2).fit(genre_data(n_users=16))
    for key, value in frozen.encoder.model.state_dict().items():
        assert torch.equal(value, reference[key]), key
    encoder_size = sum(p.numel() for p in frozen.encoder.parameters())
    full = _model(tiny_gpt2, tuning="full").fit(genre_data(n_users=16))
    assert full.trainable_parameters() == frozen.trainable_parameters() + encoder_size
    state = full.encoder.model.state_dict()
    assert any(not torch.equal(state[k], reference[k]) for k in reference)


@pytest.mark.parametrize("tuning", ["lora", "full"])
def test_save_load_round_trip_scores_equal(tiny_gpt2, tuning, tmp_path) -> None:
    data = genre_data(n_users=16)
    model = _model(tiny_gpt2, tuning=tuning, user_tower="text").fit(data)
    model.save(str(tmp_path / "m"))
    again = load_model(tmp_path / "m")
    users, items = ["u0", "u1", "u5"], [0, 1, 2]
    np.testing.assert_allclose(again.score(users, items), model.score(users, items), atol=1e-6)


def test_recipe_runs_end_to_end(tmp_path) -> None:
    spec = importlib.util.spec_from_file_location("gpt2_recipe", RECIPE)
    assert spec is not None and spec.loader is not None
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    data = generate(n_users=30, n_items=40, n_interactions=240, seed=0)
    encoder = recipe.build_tiny_gpt2(tmp_path / "gpt2", [str(t) for t in data.item_text])
    enc = TextEncoder(encoder)
    assert enc.pooling == "last" and enc.tokenizer.pad_token == recipe.EOS  # GPT-2: no pad
    res = recipe.run_recipe(data, encoder, max_pairs=64, out=tmp_path / "art")
    assert res["pooling"] == "last" and res["reloaded_equal"]
    assert res["users"] > 0 and 0.0 <= res["hit_rate"] <= 1.0
    model = res["model"]
    lora = sum(p.numel() for n, p in model.encoder.named_parameters() if "lora_" in n)
    heads = sum(p.numel() for n, p in model.module_.named_parameters()
                if not n.startswith("encoder."))  # fmt: skip
    assert model.trainable_parameters() == lora + heads > 0


def test_cli_recommend_labels_a_text_model_with_its_texts(tiny_gpt2, tmp_path) -> None:
    """Regression: `rectune recommend` on a text model crashed labelling items (its texts are
    an array by item index, not a mapping)."""
    from typer.testing import CliRunner

    from rectune.cli.main import app

    _model(tiny_gpt2, epochs=0).fit(genre_data(n_users=8)).save(str(tmp_path / "m"))
    res = CliRunner().invoke(app, ["recommend", "--from", str(tmp_path / "m"), "-u", "u0"])
    assert res.exit_code == 0, res.output
    assert "Film" in res.output and "|" in res.output
