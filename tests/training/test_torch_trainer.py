"""TorchTrainer: exact resume, frozen groups, L2-SP limits, clipping."""

from __future__ import annotations

import numpy as np
import torch

from rectune.models.neural import NCF
from rectune.testing import low_rank
from rectune.training import FinetuneStrategy, TrainConfig
from rectune.training.torch_loop import run_epoch
from rectune.training.torch_trainer import TorchTrainer


def _setup(seed: int = 0):
    data = low_rank()
    model = NCF(embedding_size=4, layers=[8], epochs=1, dropout=0.3, batch_size=64).fit(data)
    local = model._prepare(data)  # the model's own index space
    torch.manual_seed(seed)
    model.module_ = model._build_module(local.n_users, local.n_items)
    return model, local


def _run(model, local, trainer, epochs, start=0):
    for epoch in range(start, epochs):
        run_epoch(model, trainer, local, seed=0, epoch=epoch)


def test_resume_equals_uninterrupted(tmp_path) -> None:
    a, local = _setup()
    ta = TorchTrainer(a.module_, learning_rate=0.01)
    _run(a, local, ta, 4)

    b, _ = _setup()
    tb = TorchTrainer(b.module_, learning_rate=0.01)
    _run(b, local, tb, 2)
    tb.save_checkpoint(tmp_path / "ckpt")
    torch.manual_seed(999)  # disturb the global RNG: resume must restore it

    c, _ = _setup(seed=5)  # different initial weights, overwritten by the checkpoint
    tc = TorchTrainer(c.module_, learning_rate=0.01)
    tc.load_checkpoint(tmp_path / "ckpt")
    assert (tc.epoch, tc.step) == (tb.epoch, tb.step)
    _run(c, local, tc, 4, start=2)
    for (name, pa), (_, pc) in zip(
        a.module_.state_dict().items(), c.module_.state_dict().items(), strict=True
    ):
        assert torch.equal(pa, pc), name


def test_frozen_groups_bit_identical_and_huge_l2sp_stays() -> None:
    model, local = _setup()
    before = {k: v.clone() for k, v in model.module_.state_dict().items()}
    strat = FinetuneStrategy(freeze=["item_*", "mlp"], l2sp={"user_factors": 1e12})
    trainer = TorchTrainer(model.module_, learning_rate=0.05, strategy=strat)
    _run(model, local, trainer, 2)
    after = model.module_.state_dict()
    for key in before:
        if key.startswith(("item_", "mlp")):
            assert torch.equal(before[key], after[key]), key
    torch.testing.assert_close(after["user_factors.weight"], before["user_factors.weight"])
    assert not torch.equal(after["user_mlp.weight"], before["user_mlp.weight"])


def test_clip_norm_bounds_the_step() -> None:
    model, local = _setup()
    trainer = TorchTrainer(
        model.module_, learning_rate=1.0, strategy=FinetuneStrategy(clip_norm=1e-6)
    )
    _run(model, local, trainer, 1)
    assert trainer.step > 0


def test_finetune_through_the_driver_uses_schedule_and_early_stopping() -> None:
    data = low_rank()
    old = data.subset(np.arange(len(data)) % 3 != 0)
    new = data.subset(np.arange(len(data)) % 3 == 0)
    model = NCF(embedding_size=4, layers=[8], epochs=2).fit(old)
    model.finetune(
        new,
        train=TrainConfig(epochs=6, schedule="cosine", warmup_epochs=1, early_stopping=2),
        strategy="l2sp=0.1",
    )
    assert 1 <= model.fit_info_["epochs_run"] <= 6
    assert all(p.requires_grad for p in model.module_.parameters())
