"""`NCF`: Neural Collaborative Filtering (NeuMF), He et al. (2017), WWW.

A generalised-MF branch (element-wise product of ``user_factors`` and ``item_factors``) and an
MLP branch over concatenated ``user_mlp``/``item_mlp`` embeddings, joined by a linear ``output``
layer. On implicit data it is trained with binary cross-entropy against sampled negatives (the
paper's setting); on ratings, with squared error (``objective="auto"`` picks by data kind).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from rectune.config import ConfigBase
from rectune.data.interactions import Interactions
from rectune.models.neural.torch_base import TorchRecommender
from rectune.training.torch_trainer import Batch


class NCFConfig(ConfigBase):
    """Hyperparameters of `NCF`."""

    embedding_size: int = Field(32, ge=1)
    """Width of the GMF embeddings (the MLP embeddings are twice as wide)."""
    layers: list[int] = Field(default_factory=lambda: [64, 32, 16])
    """Hidden sizes of the MLP branch."""
    epochs: int = Field(20, ge=1)
    """Passes over the training data."""
    learning_rate: float = Field(0.002, gt=0)
    """Adam step size."""
    weight_decay: float = Field(0.0, ge=0)
    """Adam L2 penalty."""
    batch_size: int = Field(1024, ge=1)
    """Rows per optimizer step."""
    negatives: int = Field(4, ge=0)
    """Sampled negatives per positive (ranking objective)."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout in the MLP branch."""
    objective: Literal["auto", "rating", "ranking"] = "auto"
    """``rating``: squared error on values; ``ranking``: BCE against sampled negatives."""


class _NeuMF(torch.nn.Module):
    def __init__(self, n_users: int, n_items: int, cfg: NCFConfig) -> None:
        super().__init__()
        k, m = cfg.embedding_size, 2 * cfg.embedding_size
        self.user_factors = torch.nn.Embedding(n_users, k)
        self.item_factors = torch.nn.Embedding(n_items, k)
        self.user_mlp = torch.nn.Embedding(n_users, m)
        self.item_mlp = torch.nn.Embedding(n_items, m)
        for emb in (self.user_factors, self.item_factors, self.user_mlp, self.item_mlp):
            torch.nn.init.normal_(emb.weight, std=0.01)
        layers: list[torch.nn.Module] = []
        width = 2 * m
        for size in cfg.layers:
            layers += [torch.nn.Linear(width, size), torch.nn.ReLU(), torch.nn.Dropout(cfg.dropout)]
            width = size
        self.mlp = torch.nn.Sequential(*layers)
        self.output = torch.nn.Linear(k + width, 1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        gmf = self.user_factors(users) * self.item_factors(items)
        mlp = self.mlp(torch.cat([self.user_mlp(users), self.item_mlp(items)], dim=-1))
        return self.output(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)


class NCF(TorchRecommender):
    """NeuMF: GMF and MLP branches joined by a linear layer.

    Examples
    --------
    >>> from rectune.testing import low_rank
    >>> model = NCF(embedding_size=4, layers=[8], epochs=2).fit(low_rank())
    >>> model.param_groups
    ('user_factors', 'item_factors', 'user_mlp', 'item_mlp', 'mlp', 'output')
    """

    name = "ncf"
    config_class = NCFConfig
    config: NCFConfig
    user_tables = ("user_factors", "user_mlp")
    item_tables = ("item_factors", "item_mlp")

    @property
    def _ranking(self) -> bool:
        if self.config.objective == "auto":
            return self.data_kind_ == "weight"
        return self.config.objective == "ranking"

    @property
    def predicts_ratings(self) -> bool:  # type: ignore[override]
        return not self._ranking

    def _build_module(self, n_users: int, n_items: int) -> torch.nn.Module:
        return _NeuMF(n_users, n_items, self.config)

    def epoch_arrays(self, data: Interactions, rng: np.random.Generator) -> dict[str, np.ndarray]:
        users = data.users.astype(np.int64)
        items = data.items.astype(np.int64)
        if not self._ranking:
            return {"users": users, "items": items, "target": data.values.astype(np.float32)}
        k = self.config.negatives
        neg_users = np.repeat(users, k)
        neg_items = rng.integers(0, len(self.item_map_), len(neg_users))
        return {
            "users": np.concatenate([users, neg_users]),
            "items": np.concatenate([items, neg_items]),
            "target": np.concatenate(
                [np.ones(len(users), np.float32), np.zeros(len(neg_users), np.float32)]
            ),
        }

    def batch_loss(self, batch: Batch, forward: torch.nn.Module) -> torch.Tensor:
        out = forward(batch["users"], batch["items"])
        if self._ranking:
            return torch.nn.functional.binary_cross_entropy_with_logits(out, batch["target"])
        return torch.nn.functional.mse_loss(out + self.global_mean_, batch["target"])

    def _forward_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        out = self.module_(users, items)
        return out if self._ranking else out + self.global_mean_
