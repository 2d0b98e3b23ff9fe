"""Checkpoint and resume through the one torch loop, for every torch model.

A fit is interrupted for real (an exception in epoch k + 1, after the checkpoint of epoch k
was written); a fresh model fitted again on the same checkpoint directory resumes and must
score every (user, item) pair bit for bit as a run that was never interrupted.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from rectune.errors import ConfigError
from rectune.models import MODELS, create_model
from rectune.models.neural.torch_base import TorchRecommender
from rectune.testing import low_rank
from rectune.training import TrainConfig
from tests.test_conformance import FAST_PARAMS, MODEL_NAMES


def _params(name: str) -> dict:
    return dict(FAST_PARAMS.get(name, {}))


def _is_torch(name: str) -> bool:
    """Whether a registered model trains through the torch loop (its class, not an instance)."""
    module, cls = MODELS[name].split(":")
    return issubclass(getattr(importlib.import_module(f"rectune.models.{module}"), cls),
                      TorchRecommender)  # fmt: skip


TORCH = [n for n in MODEL_NAMES if _is_torch(n)]
OTHERS = [n for n in MODEL_NAMES if not _is_torch(n)]


class Interrupted(Exception):
    """Stands for a killed process."""


def _data(name: str):
    data = low_rank(n_users=40, n_items=30, density=0.3)
    return data if name == "ncf" else data.binarize()


def _fit(name: str, data, **kw):
    params = {**_params(name), "epochs": 3}
    return create_model(name, **params).fit(data, train=TrainConfig(seed=4), **kw)


def _scores(model) -> np.ndarray:
    users, items = np.meshgrid(model.user_map_.ids, model.item_map_.ids, indexing="ij")
    return model.score(users.ravel(), items.ravel())


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("name", TORCH)
def test_interrupted_then_resumed_equals_uninterrupted(name, k, tmp_path, monkeypatch) -> None:
    data = _data(name)
    full = _fit(name, data)
    ckpt = tmp_path / "ck"

    calls = {"n": 0}
    cls = type(full)
    real = cls.epoch_arrays

    def dying(self, data, rng):
        calls["n"] += 1
        if calls["n"] == k + 1:
            raise Interrupted
        return real(self, data, rng)

    monkeypatch.setattr(cls, "epoch_arrays", dying)
    with pytest.raises(Interrupted):
        _fit(name, data, checkpoint_dir=ckpt)
    assert (ckpt / "trainer.json").is_file()

    def counting(self, data, rng):
        calls["resumed"] = calls.get("resumed", 0) + 1
        return real(self, data, rng)

    monkeypatch.setattr(cls, "epoch_arrays", counting)
    torch.manual_seed(123)  # disturb the global RNG: the checkpoint restores it
    resumed = _fit(name, data, checkpoint_dir=ckpt)
    assert calls["resumed"] == 3 - k  # only the epochs after the checkpoint ran
    assert np.array_equal(_scores(full), _scores(resumed))
    for (key, a), (_, b) in zip(
        full.module_.state_dict().items(), resumed.module_.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), key


@pytest.mark.parametrize("name", OTHERS)
def test_a_model_without_an_epoch_loop_refuses_checkpoint_dir(name, tmp_path) -> None:
    model = create_model(name, **_params(name))
    with pytest.raises(ConfigError, match=f"{name} cannot checkpoint"):
        model.fit(low_rank(), checkpoint_dir=tmp_path / "ck")
    assert not (tmp_path / "ck").exists()
