"""`TorchRecommender`: the bridge from torch modules to the `Recommender` contract.

A torch model implements `_build_module`, `epoch_arrays` (the rows of one epoch, negatives
included) and `batch_loss`; this base gives it fit (with checkpoints), fine-tuning with every
strategy (through `TorchTrainer`), `partial_fit`, growable embedding tables for new ids (with
the fine-tuning initialisers), scoring in no-grad batches, and artifacts (the state dict as
float32 arrays in ``params.npz``: no pickle). Every run goes through the one epoch loop of
`rectune.training.torch_loop`, whose hooks (`TorchTrainable`) this class implements; DDP
(`rectune.training.distributed`) calls the same hooks.

Parameter groups are the module's top-level submodules: name embedding tables ``user_factors``
and ``item_factors`` (as DESIGN.md does) so strategies written for the classic models apply.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Self

import numpy as np
import torch

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.models._ranking import cosine_rows
from rectune.models.base import Recommender
from rectune.training.config import TrainConfig
from rectune.training.epochs import report_epoch
from rectune.training.growth import RowInit
from rectune.training.hooks import FinetuneContext
from rectune.training.settings import GRADIENT_STRATEGIES, ITEM_ROW_STARTS
from rectune.training.strategy import FinetuneStrategy
from rectune.training.torch_loop import monitor_run, run_epoch, train_epochs
from rectune.training.torch_trainer import Batch, TorchTrainer, group_names

TORCH_STRATEGIES = GRADIENT_STRATEGIES

#: Pairs per forward pass when scoring.
_SCORE_BATCH = 1 << 16


class TorchRecommender(Recommender):
    """Base of the torch models; see the module docstring."""

    supported_strategies = TORCH_STRATEGIES
    fit_settings = frozenset({"schedule"})  # epochs and step size are the model config's
    partial_fit_settings = frozenset(
        {"epochs", "new_ids=zeros", "new_ids=neighbors", "new_ids=features", "new_ids=text"}
    )
    add_items_settings = ITEM_ROW_STARTS
    state_names: ClassVar[tuple[str, ...]] = ()
    #: Embedding submodules indexed by user ids / item ids (grown for new ids).
    user_tables: ClassVar[tuple[str, ...]] = ("user_factors",)
    item_tables: ClassVar[tuple[str, ...]] = ("item_factors",)
    #: SGD-style passes over new events in `partial_fit`.
    partial_fit_epochs: ClassVar[int] = 2

    module_: torch.nn.Module
    _checkpoint_dir: str | os.PathLike[str] | None = None
    """Where the running `fit` checkpoints (None: nowhere)."""

    # ------------------------------------------------------------------ subclass API
    def _build_module(self, n_users: int, n_items: int) -> torch.nn.Module:
        raise NotImplementedError

    def epoch_arrays(self, data: Interactions, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Rows of one epoch as arrays (users, items, targets, sampled negatives...)."""
        raise NotImplementedError

    def batch_loss(self, batch: Batch, forward: torch.nn.Module) -> torch.Tensor:
        """Mean loss of a batch; run the forward pass through ``forward`` (``module_`` or its
        DDP wrapper), never ``module_`` directly."""
        raise NotImplementedError

    def _forward_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of (user, item) index pairs."""
        raise NotImplementedError

    def _prepare_training(self, data: Interactions, train: TrainConfig) -> None:
        """Per-run structures built from the training rows before the module (default: none)."""
        return None

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

    # ------------------------------------------------------------------ training hooks
    def prepare(self, data: Interactions) -> Interactions:
        """Id maps and base state from ``data``; its rows in the model's index space (DDP)."""
        return self._prepare(data)

    def start_training(self, data: Interactions, train: TrainConfig) -> TorchTrainer:
        """Per-run structures, the module (built under ``train.seed``) and its trainer."""
        self._prepare_training(data, train)
        torch.manual_seed(train.seed)
        self.module_ = self._build_module(data.n_users, data.n_items)
        return self._trainer(train, float(self.config.learning_rate))  # type: ignore[attr-defined]

    def _trainer(
        self,
        train: TrainConfig,
        learning_rate: float,
        strategy: FinetuneStrategy | None = None,
        anchors: dict[str, torch.Tensor] | None = None,
        *,
        weight_decay: bool = True,
    ) -> TorchTrainer:
        decay = float(getattr(self.config, "weight_decay", 0.0)) if weight_decay else 0.0
        return TorchTrainer(self.module_, learning_rate=learning_rate, weight_decay=decay,
                            train=train, strategy=strategy, anchors=anchors)  # fmt: skip

    def batch_size(self) -> int:
        return int(getattr(self.config, "batch_size", 1024))

    def fit_epochs(self) -> int:
        return int(self.config.epochs)  # type: ignore[attr-defined]

    def epoch_scope(self, trainer: TorchTrainer) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def resumed(self) -> None:
        return None

    def extra_seconds(self, epochs: int) -> float:
        """No work outside the batches."""
        return 0.0

    def cost_hint(self) -> str:
        return "lower epochs or subsample the data"

    def finish_training(self) -> None:
        self.module_.eval()
        self._after_load()

    # ------------------------------------------------------------------ training
    def fit(
        self,
        data: Interactions,
        *,
        train: TrainConfig | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
    ) -> Self:
        """`Recommender.fit`; with ``checkpoint_dir`` a checkpoint (weights, optimizer, epoch,
        RNG) is written after every epoch and an existing one is resumed from, so the result
        equals an uninterrupted run."""
        self._checkpoint_dir = checkpoint_dir
        try:
            return super().fit(data, train=train)
        finally:
            self._checkpoint_dir = None

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        trainer = self.start_training(data, train)
        epochs = self.fit_epochs()
        if self._checkpoint_dir is not None:  # resumable: the loop that checkpoints
            train_epochs(self, trainer, data, seed=train.seed, epochs=epochs,
                         schedule=train.lr_factor, checkpoint_dir=self._checkpoint_dir)  # fmt: skip
        else:  # `train_epochs`'s loop, with each epoch's mean loss recorded and observed
            monitor = monitor_run(self, train, epochs)
            try:
                for epoch in range(epochs):
                    scale = train.lr_factor(epoch, epochs)
                    loss = run_epoch(self, trainer, data, seed=train.seed, epoch=epoch,
                                     lr_scale=scale, monitor=monitor)  # fmt: skip
                    report_epoch(self._epoch_history, epoch, loss, self._epoch_scores)
            finally:
                monitor.close()
        self.finish_training()

    def _epoch_scores(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Pair scores from the module mid-fit (no derived cache: those are built at the end)."""
        scores = TorchRecommender._score_pairs(self, users, items)
        self.module_.train()
        return scores

    def _finetune_begin(self, ctx: FinetuneContext) -> None:
        anchors = {n: p.detach().clone() for n, p in self.module_.named_parameters()}
        lr = ctx.learning_rate(float(self.config.learning_rate))  # type: ignore[attr-defined]
        ctx.extra["trainer"] = self._trainer(ctx.train, lr, ctx.strategy, anchors)
        ctx.extra["monitor"] = monitor_run(self, ctx.train, ctx.epochs)

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        run_epoch(self, ctx.extra["trainer"], ctx.data, seed=ctx.train.seed + 1, epoch=epoch,
                  lr_scale=lr_scale, monitor=ctx.extra.get("monitor"))  # fmt: skip
        self.module_.eval()

    def _finetune_end(self, ctx: FinetuneContext) -> None:
        for p in self.module_.parameters():
            p.requires_grad_(True)
        ctx.extra.pop("trainer", None)
        if "monitor" in ctx.extra:
            ctx.extra.pop("monitor").close()
        self.module_.eval()

    def _partial_fit(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, train: TrainConfig
    ) -> None:
        """A few passes over the new events (new rows start from the ``mean`` initialiser)."""
        lr = float(self.config.learning_rate)  # type: ignore[attr-defined]
        trainer = self._trainer(train, lr, weight_decay=False)
        epochs = self.partial_fit_epochs if train.epochs is None else train.epochs
        train_epochs(self, trainer, local, seed=train.seed + 2, epochs=epochs)
        self.module_.eval()

    # ------------------------------------------------------------------ growth
    def row_axes(self) -> dict[str, tuple[str, ...]]:
        """None: the id-indexed state is the embedding tables, grown by `_grow`."""
        return {}

    def _grow(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, init: RowInit
    ) -> None:
        """Embedding tables (`user_tables`, `item_tables`) get rows for new ids."""
        for names, new, n0, side in (
            (self.user_tables, new_users, init.n_users0, "user"),
            (self.item_tables, new_items, init.n_items0, "item"),
        ):
            if not len(new):
                continue
            for name in names:
                table: torch.nn.Embedding = getattr(self.module_, name)
                known = table.weight.detach().numpy()[:n0]
                rows = init.rows(known, side)  # type: ignore[arg-type]
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

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        """Cosine of the rows of the first item table (``item_factors``)."""
        if not self.item_tables:
            return super()._item_similarities(items)
        table = getattr(self.module_, self.item_tables[0]).weight.detach().numpy()
        return cosine_rows(table, items)

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, np.ndarray]:
        state = super().get_state()
        for key, value in self.module_.state_dict().items():
            state[f"torch.{key}"] = value.detach().cpu().numpy()
        return state

    def set_state(
        self, state: Mapping[str, np.ndarray], user_map: IdMap, item_map: IdMap, kind: str
    ) -> Self:
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
