"""`TwoTower`: a dual-encoder retrieval model with side features and in-batch softmax.

The user tower maps a ``user_factors`` id embedding concatenated with the user's encoded side
features (numbers standardised, categories one-hot) through an MLP (``user_tower``) to a
``embedding_size``-dimensional vector; the item tower does the same with ``item_factors`` and the
item features (genres multi-hot, year standardised) through ``item_tower``. The score of a pair
is the dot product of the two vectors (cosine / temperature when ``normalize``).

Training is the in-batch sampled softmax of Yi et al. (2019), "Sampling-bias-corrected neural
modeling for large corpus item recommendations" (RecSys): every other positive item of a
minibatch is a negative, and the logits are corrected by ``log q(item)`` (the item's share of the
training rows) so that popular items are not over-penalised. The tower structure follows
Covington et al. (2016), "Deep neural networks for YouTube recommendations" (RecSys).

Every interaction is treated as a positive (rating values are ignored; ``predicts_ratings`` is
False). Feature encoders are stored in the artifact as plain arrays; users and items met later
(`partial_fit`, `finetune`, `add_items`) are encoded with them, so a new item with features but
no interactions gets a meaningful vector: its id embedding from the ``new_ids`` initialiser and
its features through the tower. `partial_fit` takes a few passes over the new events, whose
in-batch negatives are the other new events: a single event (``learn_one``) only adds rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from rectune.config import ConfigBase
from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.errors import ConfigError
from rectune.models._ranking import cosine_rows
from rectune.models.neural.torch_base import TorchRecommender
from rectune.training.config import TrainConfig
from rectune.training.growth import RowInit
from rectune.training.hooks import FinetuneContext
from rectune.training.torch_trainer import Batch

_ENCODE_BATCH = 8192


class TwoTowerConfig(ConfigBase):
    """Hyperparameters of `TwoTower`."""

    embedding_size: int = Field(32, ge=1)
    """Width of the id embeddings and of the shared output space."""
    layers: list[int] = Field(default_factory=lambda: [64])
    """Hidden sizes of each tower's MLP (empty: one linear map)."""
    epochs: int = Field(20, ge=1)
    """Passes over the training data."""
    learning_rate: float = Field(0.005, gt=0)
    """Adam step size."""
    weight_decay: float = Field(0.0, ge=0)
    """Adam L2 penalty."""
    batch_size: int = Field(512, ge=2)
    """Positives per optimizer step (each one's in-batch negatives are the others)."""
    temperature: float = Field(0.1, gt=0)
    """Softmax temperature applied to the (normalised) dot products."""
    normalize: bool = True
    """L2-normalise both towers' outputs (scores are cosines / temperature)."""
    logq_correction: bool = True
    """Subtract ``log q(item)`` from the logits (Yi et al. 2019)."""
    use_features: bool = True
    """Feed the data's user/item side features to the towers (when the data has them)."""
    max_categories: int = Field(64, ge=1)
    """Most frequent values kept per categorical feature (the rest encode as all zeros)."""
    id_dropout: float = Field(0.0, ge=0, lt=1)
    """Share of training rows whose id embeddings are zeroed, so the towers learn to rely on
    features too (DropoutNet, Volkovs et al. 2017); helps items added without interactions."""


# ---------------------------------------------------------------------- feature encoding
def _fit_spec(frame: pd.DataFrame | None, max_categories: int) -> dict[str, np.ndarray]:
    """Encoder spec as arrays: numeric columns with mean/sd, categorical vocabularies."""
    spec = {
        "num_cols": np.array([], dtype=str),
        "num_mean": np.zeros(0),
        "num_sd": np.ones(0),
        "cat_cols": np.array([], dtype=str),
        "cat_values": np.array([], dtype=str),
        "cat_owner": np.zeros(0, dtype=np.int64),
    }
    if frame is None or frame.empty:
        return spec
    num, mean, sd, cats, values, owner = [], [], [], [], [], []
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            x = col.astype(float)
            if x.dropna().isin([0.0, 1.0]).all():  # flags (genres) stay 0/1
                m, s = 0.0, 1.0
            else:
                m, s = float(x.mean()), float(x.std())
                s = s if np.isfinite(s) and s > 0 else 1.0
            num.append(str(name))
            mean.append(m if np.isfinite(m) else 0.0)
            sd.append(s)
        else:
            counts = col.dropna().astype(str).value_counts(sort=True)
            keep = counts[counts >= 2].index[:max_categories]
            if len(keep) == 0:
                continue
            owner += [len(cats)] * len(keep)
            cats.append(str(name))
            values += [str(v) for v in keep]
    spec.update(
        num_cols=np.array(num, dtype=str),
        num_mean=np.array(mean, dtype=np.float64),
        num_sd=np.array(sd, dtype=np.float64),
        cat_cols=np.array(cats, dtype=str),
        cat_values=np.array(values, dtype=str),
        cat_owner=np.array(owner, dtype=np.int64),
    )
    return spec


def _spec_width(spec: Mapping[str, np.ndarray]) -> int:
    return len(spec["num_cols"]) + len(spec["cat_values"])


def _encode(
    spec: Mapping[str, np.ndarray], frame: pd.DataFrame | None, ids: np.ndarray
) -> np.ndarray:
    """Encoded rows for raw ``ids`` (missing ids or values: zeros)."""
    out = np.zeros((len(ids), _spec_width(spec)), dtype=np.float32)
    if frame is None or out.shape[1] == 0 or len(ids) == 0:
        return out
    rows = frame.reindex(pd.Index(ids))
    for j, name in enumerate(spec["num_cols"]):
        if name in rows.columns:
            x = (rows[name].astype(float).to_numpy() - spec["num_mean"][j]) / spec["num_sd"][j]
            out[:, j] = np.nan_to_num(x)
    base = len(spec["num_cols"])
    for c, name in enumerate(spec["cat_cols"]):
        if name not in rows.columns:
            continue
        cols = np.flatnonzero(spec["cat_owner"] == c)
        vocab = pd.Index(spec["cat_values"][cols])
        pos = vocab.get_indexer(
            rows[name].astype(object).where(rows[name].notna(), None).astype(str)
        )
        hit = pos >= 0
        out[np.flatnonzero(hit), base + cols[pos[hit]]] = 1.0
    return out


# ---------------------------------------------------------------------- module
def _mlp(width: int, layers: list[int], out: int) -> torch.nn.Sequential:
    mods: list[torch.nn.Module] = []
    for size in layers:
        mods += [torch.nn.Linear(width, size), torch.nn.ReLU()]
        width = size
    mods.append(torch.nn.Linear(width, out))
    return torch.nn.Sequential(*mods)


class _Towers(torch.nn.Module):
    def __init__(self, n_users: int, n_items: int, f_user: int, f_item: int, cfg: TwoTowerConfig):
        super().__init__()
        k = cfg.embedding_size
        self.user_factors = torch.nn.Embedding(n_users, k)
        self.item_factors = torch.nn.Embedding(n_items, k)
        for emb in (self.user_factors, self.item_factors):
            torch.nn.init.normal_(emb.weight, std=0.1)
        self.user_tower = _mlp(k + f_user, cfg.layers, k)
        self.item_tower = _mlp(k + f_item, cfg.layers, k)
        self.register_buffer("user_side", torch.zeros(n_users, f_user))
        self.register_buffer("item_side", torch.zeros(n_items, f_item))
        self.normalize = cfg.normalize
        self.id_dropout = cfg.id_dropout

    def _ids(self, table: torch.nn.Embedding, idx: torch.Tensor) -> torch.Tensor:
        emb = table(idx)
        if self.training and self.id_dropout > 0:
            keep = torch.rand(len(idx), 1, device=idx.device) >= self.id_dropout
            emb = emb * keep
        return emb

    def users(self, idx: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self._ids(self.user_factors, idx), self.user_side[idx]], dim=-1)
        out = self.user_tower(x)
        return torch.nn.functional.normalize(out, dim=-1) if self.normalize else out

    def items(self, idx: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self._ids(self.item_factors, idx), self.item_side[idx]], dim=-1)
        out = self.item_tower(x)
        return torch.nn.functional.normalize(out, dim=-1) if self.normalize else out

    def forward(
        self, users: torch.Tensor, items: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.users(users), self.items(items)


class TwoTower(TorchRecommender):
    """Two-tower retrieval model (ids + side features) trained with in-batch softmax.

    Examples
    --------
    >>> import pandas as pd
    >>> from rectune import Interactions
    >>> users = [1, 1, 2, 2, 3, 3, 4, 4]
    >>> items = ["a", "b", "a", "b", "c", "d", "c", "d"]
    >>> genres = pd.DataFrame({"scifi": [1, 1, 0, 0]}, index=pd.Index(["a", "b", "c", "d"]))
    >>> data = Interactions.from_raw(users, items, kind="weight")
    >>> data.item_features = genres
    >>> model = TwoTower(embedding_size=4, layers=[8], epochs=30, batch_size=4).fit(data)
    >>> model.param_groups
    ('user_factors', 'item_factors', 'user_tower', 'item_tower')
    >>> model.recommend([1], n=1)[0].shape
    (1, 1)
    """

    name = "two-tower"
    config_class = TwoTowerConfig
    config: TwoTowerConfig
    predicts_ratings = False
    partial_fit_epochs = 2

    _specs: dict[str, dict[str, np.ndarray]]
    _side_init: tuple[np.ndarray, np.ndarray] | None = None
    _cache: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ module
    def _build_module(self, n_users: int, n_items: int) -> torch.nn.Module:
        f_u, f_i = (_spec_width(self._specs[s]) for s in ("user", "item"))
        module = _Towers(n_users, n_items, f_u, f_i, self.config)
        if self._side_init is not None:
            module.user_side = torch.from_numpy(self._side_init[0])
            module.item_side = torch.from_numpy(self._side_init[1])
            self._side_init = None
        return module

    def _prepare_training(self, data: Interactions, train: TrainConfig) -> None:
        """Fit the feature encoders and encode every id (fit and `fit_distributed`)."""
        use = self.config.use_features
        cap = self.config.max_categories
        uf = data.user_features if use else None
        itf = data.item_features if use else None
        self._specs = {"user": _fit_spec(uf, cap), "item": _fit_spec(itf, cap)}
        self._side_init = (
            _encode(self._specs["user"], uf, self.user_map_.ids),
            _encode(self._specs["item"], itf, self.item_map_.ids),
        )

    def epoch_arrays(self, data: Interactions, rng: np.random.Generator) -> dict[str, np.ndarray]:
        items = data.items.astype(np.int64)
        counts = np.bincount(items, minlength=len(self.item_map_)).astype(np.float64)
        logq = np.log(counts[items] / len(items)).astype(np.float32)
        return {"users": data.users.astype(np.int64), "items": items, "logq": logq}

    def batch_loss(self, batch: Batch, forward: torch.nn.Module) -> torch.Tensor:
        u, v = forward(batch["users"], batch["items"])
        logits = (u @ v.T) / self.config.temperature
        if self.config.logq_correction:
            logits = logits - batch["logq"][None, :]
        items = batch["items"]
        same = (items[:, None] == items[None, :]) & ~torch.eye(
            len(items), dtype=torch.bool, device=items.device
        )
        logits = logits.masked_fill(same, float("-inf"))
        target = torch.arange(len(items), device=items.device)
        return torch.nn.functional.cross_entropy(logits, target)

    def _forward_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u, v = self.module_(users, items)
        return (u * v).sum(-1)

    # ------------------------------------------------------------------ scoring
    def _vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """User and item tower outputs of every known id (cached until the state changes)."""
        if self._cache is None:
            m = self.module_
            m.eval()
            with torch.no_grad():
                out = []
                for n, fn in ((len(self.user_map_), m.users), (len(self.item_map_), m.items)):
                    parts = [
                        fn(torch.arange(s, min(s + _ENCODE_BATCH, n))).numpy()
                        for s in range(0, n, _ENCODE_BATCH)
                    ]
                    out.append(np.concatenate(parts).astype(np.float64))
            self._cache = (out[0], out[1])
        return self._cache

    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        u, v = self._vectors()
        return np.einsum("ij,ij->i", u[users], v[items])

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        u, v = self._vectors()
        return u[users] @ v.T

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        """Cosine of the item-tower vectors."""
        return cosine_rows(self._vectors()[1], items)

    def _after_load(self) -> None:
        self._cache = None

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        super()._finetune_epoch(ctx, epoch, lr_scale)
        self._cache = None

    def _restore_state(self, state: dict[str, Any]) -> None:
        super()._restore_state(state)
        self._cache = None

    # ------------------------------------------------------------------ growth
    def _grow(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, init: RowInit
    ) -> None:
        super()._grow(local, new_users, new_items, init)
        m = self.module_
        if len(new_users):
            rows = _encode(self._specs["user"], local.user_features, self.user_map_.ids[new_users])
            m.user_side = torch.cat([m.user_side, torch.from_numpy(rows)])
        if len(new_items):
            rows = _encode(self._specs["item"], local.item_features, self.item_map_.ids[new_items])
            m.item_side = torch.cat([m.item_side, torch.from_numpy(rows)])
        self._cache = None

    def _check_new_items(
        self, ids: np.ndarray, text: pd.Series | None, features: pd.DataFrame | None, method: str
    ) -> None:
        """Items added without events (`add_items`) go through the item tower with their
        features: a model that encodes item features needs them for every new item."""
        spec = self._specs["item"]
        if _spec_width(spec) == 0:
            return
        lacking = ids if features is None else ids[~np.isin(ids, np.asarray(features.index))]
        if len(lacking):
            cols = [str(c) for c in (*spec["num_cols"], *spec["cat_cols"])]
            raise ConfigError(
                f"two-tower encodes item features ({', '.join(cols[:4])}) in its item tower: "
                f"add_items needs item_features for every new item ({len(lacking)} lack them, "
                f"first: {lacking[:1].tolist()[0]!r})"
            )

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, np.ndarray]:
        state = super().get_state()
        for side, spec in self._specs.items():
            for key, value in spec.items():
                state[f"_features.{side}.{key}"] = value
        return state

    def set_state(  # type: ignore[no-untyped-def]
        self, state: Mapping[str, np.ndarray], user_map: IdMap, item_map: IdMap, kind: str
    ):
        self._specs = {"user": {}, "item": {}}
        for key, value in state.items():
            if key.startswith("_features."):
                _, side, name = key.split(".", 2)
                self._specs[side][name] = np.asarray(value)
        return super().set_state(state, user_map, item_map, kind)
