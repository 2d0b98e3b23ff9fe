"""`TorchRecommender`: the bridge from torch modules to the `Recommender` contract.

A torch model implements `_build_module`, `_training_arrays` (the rows of one epoch, negatives
included) and `_loss`; this base gives it fit, fine-tuning with every strategy (through
`TorchTrainer`), `partial_fit`, growable embedding tables for new ids (with the fine-tuning
initialisers), scoring in no-grad batches, and artifacts (the state dict as float32 arrays in
``params.npz``: no pickle).

Parameter groups are the module's top-level submodules: name embedding tables ``user_factors``
and ``item_factors`` (as DESIGN.md does) so strategies written for the classic models apply.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from rectune.data.interactions import Interactions
from rectune.models.base import Recommender
from rectune.training.config import TrainConfig
from rectune.training.init import init_rows
from rectune.training.torch_trainer import TorchTrainer, group_names, minibatches

logger = logging.getLogger(__name__)

TORCH_STRATEGIES = frozenset(
    {
        "l2sp",
        "freeze",
        "clip_norm",
        "replay",
        "augment=pseudo",
        "schedule",
        "early_stopping",
        "new_ids=features",
        "new_ids=neighbors",
        "new_ids=text",
    }
)

#: Pairs per forward pass when scoring.
_SCORE_BATCH = 1 << 16


class TorchRecommender(Recommender):
    """Base of the torch models; see the module docstring."""

    supported_strategies = TORCH_STRATEGIES
    state_names: ClassVar[tuple[str, ...]] = ()
    #: Embedding submodules indexed by user ids / item ids (grown for new ids).
    user_tables: ClassVar[tuple[str, ...]] = ("user_factors",)
    item_tables: ClassVar[tuple[str, ...]] = ("item_factors",)
    #: SGD-style passes over new events in `partial_fit`.
    partial_fit_epochs: ClassVar[int] = 2

    module_: torch.nn.Module

    # ------------------------------------------------------------------ subclass API
    def _build_module(self, n_users: int, n_items: int) -> torch.nn.Module:
        raise NotImplementedError

    def _training_arrays(
        self, data: Interactions, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """Rows of one epoch as arrays (users, items, targets, sampled negatives...)."""
        raise NotImplementedError

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def _forward_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of (user, item) index pairs."""
        raise NotImplementedError

    # ------------------------------------------------------------------ groups
    @property  # type: ignore[override]
    def param_groups(self) -> tuple[str, ...]:
        return group_names(self.module_) if hasattr(self, "module_") else ()

    def parameter_groups(self) -> dict[str, np.ndarray]:
        """Each group's parameters flattened and concatenated (a copy, float32)."""
        self._check_fitted()
        out: dict[str, list[np.ndarray]] = {}
        for name, p in self.module_.named_parameters():
            out.setdefault(name.split(".", 1)[0], []).append(p.detach().numpy().ravel())
        return {g: np.concatenate(v) for g, v in out.items()}

    # ------------------------------------------------------------------ training
    def _batch_size(self) -> int:
        return int(getattr(self.config, "batch_size", 1024))

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        torch.manual_seed(train.seed)
        self.module_ = self._build_module(data.n_users, data.n_items)
        cfg = self.config
        trainer = TorchTrainer(
            self.module_,
            learning_rate=float(cfg.learning_rate),  # type: ignore[attr-defined]
            weight_decay=float(getattr(cfg, "weight_decay", 0.0)),
            train=train,
        )
        epochs = int(cfg.epochs)  # type: ignore[attr-defined]
        for epoch in range(epochs):
            self._epoch(trainer, data, train.seed, epoch, train.lr_factor(epoch, epochs))
        self.module_.eval()
        self._after_load()

    def _epoch(
        self, trainer: TorchTrainer, data: Interactions, seed: int, epoch: int, lr_scale: float
    ) -> float:
        arrays = self._training_arrays(data, np.random.default_rng([seed, epoch, 5]))
        batches = minibatches(arrays, self._batch_size(), seed, epoch)
        loss = trainer.run_epoch(batches, self._loss, lr_scale=lr_scale)
        logger.debug("%s epoch %d loss %.5f", self.name, epoch + 1, loss)
        return loss

    def _finetune_begin(self, ctx: Any) -> None:
        anchors = {n: p.detach().clone() for n, p in self.module_.named_parameters()}
        ctx.extra["trainer"] = TorchTrainer(
            self.module_,
            learning_rate=ctx.learning_rate(float(self.config.learning_rate)),  # type: ignore[attr-defined]
            weight_decay=float(getattr(self.config, "weight_decay", 0.0)),
            train=ctx.train,
            strategy=ctx.strategy,
            anchors=anchors,
        )

    def _finetune_epoch(self, ctx: Any, epoch: int, lr_scale: float) -> None:
        self._epoch(ctx.extra["trainer"], ctx.data, ctx.train.seed + 1, epoch, lr_scale)
        self.module_.eval()

    def _finetune_end(self, ctx: Any) -> None:
        for p in self.module_.parameters():
            p.requires_grad_(True)
        ctx.extra.pop("trainer", None)
        self.module_.eval()

    def _partial_fit(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, train: TrainConfig
    ) -> None:
        """A few passes over the new events (new rows start from the ``mean`` initialiser)."""
        trainer = TorchTrainer(
            self.module_,
            learning_rate=float(self.config.learning_rate),
            train=train,  # type: ignore[attr-defined]
        )
        epochs = self.partial_fit_epochs if train.epochs is None else train.epochs
        for epoch in range(epochs):
            self._epoch(trainer, local, train.seed + 2, epoch, 1.0)
        self.module_.eval()

    # ------------------------------------------------------------------ growth
    def _grow(
        self,
        local: Interactions,
        new_users: np.ndarray,
        new_items: np.ndarray,
        method: str,
        strategy: Any,
    ) -> None:
        from rectune.training.finetune import _overlaps

        n_u0 = len(self.user_map_) - len(new_users)
        n_i0 = len(self.item_map_) - len(new_items)
        ov_u = ov_i = None
        if method == "neighbors":
            ov_u, ov_i = _overlaps(self, local, n_u0, n_i0)
        for names, new, n0, feats, idmap, ov, what in (
            (self.user_tables, new_users, n_u0, local.user_features, self.user_map_, ov_u, "user"),
            (self.item_tables, new_items, n_i0, local.item_features, self.item_map_, ov_i, "item"),
        ):
            if not len(new):
                continue
            for name in names:
                table: torch.nn.Embedding = getattr(self.module_, name)
                known = table.weight.detach().numpy()[:n0]
                rows = init_rows(
                    method,
                    known,
                    len(new),
                    features=feats,
                    known_ids=idmap.ids[:n0],
                    new_ids=idmap.ids[n0:],
                    overlap=ov,
                    neighbors=strategy.neighbors,
                    what=what,
                    texts=local.item_text if what == "item" else None,
                    text_encoder=getattr(strategy, "text_encoder", "minilm"),
                )
                weight = np.concatenate([known, rows.astype(known.dtype)])
                grown = torch.nn.Embedding(weight.shape[0], weight.shape[1])
                with torch.no_grad():
                    grown.weight.copy_(torch.from_numpy(weight))
                setattr(self.module_, name, grown)

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        self.module_.eval()
        out = np.empty(len(users), dtype=np.float64)
        for start in range(0, len(users), _SCORE_BATCH):
            u = torch.from_numpy(np.asarray(users[start : start + _SCORE_BATCH], dtype=np.int64))
            i = torch.from_numpy(np.asarray(items[start : start + _SCORE_BATCH], dtype=np.int64))
            out[start : start + len(u)] = self._forward_pairs(u, i).double().numpy()
        return out

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, np.ndarray]:
        state = super().get_state()
        for key, value in self.module_.state_dict().items():
            state[f"torch.{key}"] = value.detach().cpu().numpy()
        return state

    def set_state(self, state: Mapping[str, np.ndarray], user_map, item_map, kind):  # type: ignore[no-untyped-def]
        self.module_ = self._build_module(len(user_map), len(item_map))
        tensors = {
            k[6:]: torch.from_numpy(np.array(v)) for k, v in state.items() if k.startswith("torch.")
        }
        self.module_.load_state_dict(tensors)
        self.module_.eval()
        return super().set_state(state, user_map, item_map, kind)

    def _snapshot_state(self) -> dict[str, Any]:
        return {k: v.detach().clone() for k, v in self.module_.state_dict().items()}

    def _restore_state(self, state: dict[str, Any]) -> None:
        self.module_.load_state_dict(state)
