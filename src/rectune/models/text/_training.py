"""The training side of `TextRecommender`: its trainer, epoch hooks, loss and fine-tuning.

Kept apart from `rectune.models.text.text_rec` (catalogue, state, caches and scoring) so each
file reads as one concern; `TextTraining` is a mixin that only `TextRecommender` uses, and
the attributes it reads are declared and documented there.

The loss is in-batch softmax over (user, positive item) pairs plus sampled negatives, each
user's positive left out of its own history pool; in lora/full mode the batch's candidate
items get an encoder pass with gradients while history items use the vectors refreshed at
the start of each epoch (`epoch_scope`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from rectune.data.interactions import Interactions
from rectune.models.text import _prior
from rectune.models.text import _towers as tt
from rectune.training.config import TrainConfig
from rectune.training.hooks import FinetuneContext
from rectune.training.strategy import FinetuneStrategy
from rectune.training.torch_loop import monitor_run, run_epoch, train_epochs
from rectune.training.torch_trainer import Batch, TorchTrainer


class TextTraining:
    """Training hooks of `TextRecommender` (see that class for the attributes used here)."""

    config: Any
    module_: Any
    encoder: Any
    item_map_: Any
    item_text_: np.ndarray
    user_recent_: np.ndarray
    prior_weights_: np.ndarray
    prior_support_: np.ndarray
    item_popularity_: np.ndarray
    seen_: Any
    data_kind_: str
    epoch_seconds_: list[float]
    _progress: bool
    _encoder_dirty: bool
    _encoder_trains: bool
    _encode_seconds: float
    _raw: torch.Tensor
    _bags: tuple[np.ndarray, np.ndarray, np.ndarray]
    _hist_w: np.ndarray
    _item_vecs: np.ndarray
    _plan: _prior.Plan | None

    # Provided by `TextRecommender`.
    _build_module: Any
    _after_load: Any
    _apply_mode: Any
    _encode_catalogue: Any
    _update_catalogue: Any

    def _text_trainer(
        self,
        train: TrainConfig,
        strategy: FinetuneStrategy | None = None,
        anchors: dict[str, torch.Tensor] | None = None,
    ) -> TorchTrainer:
        self._apply_mode()
        cfg = self.config
        enc_lr = cfg.encoder_learning_rate or (5e-4 if cfg.tuning == "lora" else 5e-5)
        lr = train.learning_rate or cfg.learning_rate
        return tt.TextTrainer(
            self.module_,
            encoder_mult=enc_lr / cfg.learning_rate,
            learning_rate=lr,
            train=train,
            strategy=strategy,
            anchors=anchors,
        )

    # ------------------------------------------------------------------ training hooks
    def fit_epochs(self) -> int:
        return self.config.run_epochs()

    def _default_finetune_epochs(self) -> int:
        return self.config.run_epochs()

    def extra_seconds(self, epochs: int) -> float:
        """lora/full re-encode the catalogue after every epoch (between epochs and at the end)."""
        return self._encode_seconds * epochs if self.config.tuning != "frozen" else 0.0

    def cost_hint(self) -> str:
        return "lower max_pairs/epochs or use tuning=frozen"

    def start_training(self, data: Interactions, train: TrainConfig) -> TorchTrainer:
        self._progress = train.progress
        torch.manual_seed(train.seed)
        self.module_ = self._build_module(data.n_users, data.n_items)
        self.prior_weights_ = np.zeros(len(_prior.EDGES))
        self.prior_support_ = np.zeros(len(_prior.EDGES), np.int64)
        self._plan_prior(data, np.arange(len(self.item_map_)), None, train.seed)
        self._after_load()
        return self._text_trainer(train)

    @contextmanager
    def epoch_scope(self, trainer: TorchTrainer) -> Iterator[None]:
        """Fresh history vectors if the encoder trained, deterministic kernels, epoch time."""
        t0 = time.perf_counter()
        if self._encoder_dirty:  # history vectors under the current encoder weights
            self.encoder.clear_cache()
            self._raw = torch.from_numpy(self._encode_catalogue())
        self._encoder_trains = self.config.tuning != "frozen" and any(
            n.startswith("encoder.") for n, _ in trainer.trainable
        )
        with tt.deterministic():
            yield
        self._encoder_dirty = self._encoder_dirty or self._encoder_trains
        self.epoch_seconds_.append(time.perf_counter() - t0)

    def resumed(self) -> None:
        self._encoder_dirty = self.config.tuning != "frozen"

    def finish_training(self) -> None:
        self._apply_mode()
        self.module_.eval()
        self._after_load()
        if self._plan is not None:  # choose the prior on the run's held-out interactions
            self.prior_weights_, self.prior_support_ = _prior.choose(
                self._plan, self._users_from_histories, self._item_vecs,
                self.item_popularity_, self.seen_,
            )  # fmt: skip
            self._plan = None
            self._after_load()

    def _plan_prior(
        self, data: Interactions, candidates: np.ndarray, previous: np.ndarray | None, seed: int
    ) -> None:
        """Hold out interactions of ``data`` (model indices) to choose the prior on."""
        self._plan = None
        if self.config.popularity_prior == "auto":
            self._plan = _prior.plan(data.users, data.items, data.timestamps,
                                     len(self.item_map_), candidates, self.config.prior_users,
                                     seed, previous)  # fmt: skip

    def epoch_arrays(self, data: Interactions, rng: np.random.Generator) -> dict[str, np.ndarray]:
        keep = np.ones(len(data), bool)
        if self.config.positive_threshold is not None:
            keep = data.values >= self.config.positive_threshold
        keep &= _prior.holdout_mask(self._plan, data.users, data.items, len(self.item_map_))
        rows = np.flatnonzero(keep)
        max_pairs = self.config.pairs_per_epoch()
        if max_pairs is not None and len(rows) > max_pairs:
            rows = np.sort(rng.choice(rows, max_pairs, replace=False))
        neg = rng.integers(0, len(self.item_map_), (len(rows), self.config.negatives))
        return {
            "users": data.users[rows].astype(np.int64),
            "items": data.items[rows].astype(np.int64),
            "neg": neg.astype(np.int64),
        }

    def _item_vectors(self, items: np.ndarray, grad_encoder: bool) -> torch.Tensor:
        bag = tt.gather_bags(self._bags, items) if self.module_.has_tokens else None
        if grad_encoder:
            raw = self.encoder([str(t) for t in self.item_text_[items]])
        else:
            raw = self._raw[torch.from_numpy(items)]
        return self.module_.items(raw, bag)

    def batch_loss(self, batch: Batch, forward: torch.nn.Module) -> torch.Tensor:
        # Through ``forward`` (the towers or their DDP wrapper), which runs the step.
        return forward(lambda: self._loss(batch))

    def _loss(self, batch: Batch) -> torch.Tensor:
        users, pos = batch["users"].numpy(), batch["items"].numpy()
        cand = np.concatenate([pos, batch["neg"].numpy().ravel()])
        hist = self.user_recent_[users]
        weights = self._hist_w[users] * (hist != pos[:, None])
        if self.config.user_tower == "pool":
            # One item-tower pass over the batch's history items (and the candidates, unless
            # the encoder trains: then they get their own pass with gradients below).
            need, inv = np.unique(np.concatenate([cand, hist[hist >= 0]]), return_inverse=True)
            vecs = self._item_vectors(need, grad_encoder=False)
            slot = np.zeros(hist.shape, np.int64)
            slot[hist >= 0] = inv[len(cand) :] + 1
            padded = torch.cat([torch.zeros((1, vecs.shape[1])), vecs])
            pooled = tt.pool(padded[torch.from_numpy(slot)], torch.from_numpy(weights))
        else:
            texts = [self._user_text(h[w > 0]) for h, w in zip(hist, weights, strict=True)]
            pooled = torch.from_numpy(self.encoder.encode(texts))
        if self.config.user_tower == "pool" and not self._encoder_trains:
            cv = vecs[torch.from_numpy(inv[: len(cand)])]
        else:
            uniq, cinv = np.unique(cand, return_inverse=True)
            cv = self._item_vectors(uniq, grad_encoder=self._encoder_trains)
            cv = cv[torch.from_numpy(cinv)]
        logits = self.module_.users(pooled) @ cv.T / self.config.temperature
        clash = torch.from_numpy(cand[None, :] == pos[:, None])
        clash[torch.arange(len(pos)), torch.arange(len(pos))] = False
        logits = logits.masked_fill(clash, float("-inf"))
        return torch.nn.functional.cross_entropy(logits, torch.arange(len(pos)))

    @torch.no_grad()
    def _users_from_histories(self, users: np.ndarray, hists: list[np.ndarray]) -> np.ndarray:
        """Unit user-tower vectors of ``users`` rebuilt from the given histories (oldest
        first; the prior's held-out users)."""
        width = self.config.history
        recent = np.full((len(hists), width), -1, np.int64)
        for row, h in enumerate(hists):
            h = h[-width:]
            recent[row, width - len(h) :] = h
        w = tt.history_weights(recent, self.seen_[users], self.data_kind_, self.config.pool_weights)
        if self.config.user_tower == "pool":
            items = torch.from_numpy(self._item_vecs.astype(np.float32))
            pooled = tt.pool(items[torch.from_numpy(np.maximum(recent, 0))], torch.from_numpy(w))
        else:
            texts = [self._user_text(h[x > 0]) for h, x in zip(recent, w, strict=True)]
            pooled = torch.from_numpy(self.encoder.encode(texts))
        return self.module_.users(pooled).numpy().astype(np.float64)

    def _user_text(self, items: np.ndarray) -> str:
        """A history as one text, most recent item first."""
        return " ; ".join(str(t) for t in self.item_text_[items[::-1]])

    # ------------------------------------------------------------------ fine-tuning, updates
    def _finetune_begin(self, ctx: FinetuneContext) -> None:
        self._progress = ctx.train.progress
        new = ctx.data.subset(np.arange(ctx.n_new_rows))
        self._update_catalogue(new, ctx.new_users)
        catalogue = new.items
        if new.item_text is not None:
            found = self.item_map_.index_of(np.asarray(new.item_text.index))
            catalogue = np.union1d(catalogue, found[found >= 0])
        self._plan_prior(new, np.unique(catalogue), self.prior_weights_, ctx.train.seed)
        self._after_load()
        self._apply_mode()
        anchors = {
            n: p.detach().clone() for n, p in self.module_.named_parameters() if p.requires_grad
        }
        ctx.extra["trainer"] = self._text_trainer(ctx.train, ctx.strategy, anchors)
        ctx.extra["monitor"] = monitor_run(self, ctx.train, ctx.epochs)

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        run_epoch(self, ctx.extra["trainer"], ctx.data, seed=ctx.train.seed + 1, epoch=epoch,
                  lr_scale=lr_scale, monitor=ctx.extra.get("monitor"))  # fmt: skip

    def _finetune_end(self, ctx: FinetuneContext) -> None:
        ctx.extra.pop("trainer", None)
        if "monitor" in ctx.extra:
            ctx.extra.pop("monitor").close()
        self.finish_training()

    def _partial_fit(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, train: TrainConfig
    ) -> None:
        """Fold in new texts and histories; gradient steps only if ``train.epochs`` asks."""
        self._progress = train.progress
        self._update_catalogue(local, new_users)
        if train.epochs:
            self._after_load()
            trainer = self._text_trainer(train)
            train_epochs(self, trainer, local, seed=train.seed + 2, epochs=train.epochs)
            self.finish_training()
