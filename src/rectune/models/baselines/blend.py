"""`Blend`: a linear stack of member models, weighted by ridge regression on a holdout.

The recipe of the Netflix Prize winners (Koren 2009, "The BellKor solution to the Netflix
Grand Prize"; Töscher et al. 2009): fit each member on most of the training data, learn blend
weights on the rest (the probe set), then refit the members on all the training data. Errors of
a neighbourhood model and a factor model are only partly correlated, so the blend beats both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from rectune.config import ConfigBase
from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.errors import ConfigError
from rectune.models.base import Recommender
from rectune.registry.catalog import create_model
from rectune.training.config import TrainConfig
from rectune.training.growth import RowInit
from rectune.training.hooks import FinetuneContext
from rectune.training.info import fit_info
from rectune.training.settings import Phase


class BlendConfig(ConfigBase):
    """Hyperparameters of `Blend`."""

    members: list[dict[str, Any]] = Field(min_length=1)
    """Member models: ``{"model": NAME, **hyperparameters}`` (a bare name is accepted)."""
    holdout: float = Field(0.1, gt=0, lt=0.5)
    """Share of the training rows held out to fit the blend weights."""
    reg: float = Field(1.0, ge=0)
    """Ridge penalty on the blend weights."""
    support_features: bool = True
    """Also blend on log user and item support, letting weights vary with data volume."""

    @field_validator("members", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        out = []
        for m in value:
            spec = {"model": m} if isinstance(m, str) else dict(m)
            if "model" not in spec:
                raise ValueError(f"member {m!r} has no 'model' key")
            if spec["model"] == "blend":
                raise ValueError("a blend cannot contain a blend")
            out.append(spec)
        return out


#: Strategy settings a blend can pass on to its members (it has no parameter groups itself;
#: early stopping would restore the weights but not the members).
_DELEGATED = frozenset(
    {"l2sp", "clip_norm", "replay", "augment=pseudo", "schedule", "new_ids=features",
     "new_ids=neighbors", "new_ids=zeros", "learning_rate", "epochs"}
)  # fmt: skip
#: What a blend passes on to its members' `partial_fit` (the training config only).
_DELEGATED_UPDATE = frozenset({"learning_rate", "epochs"})


class Blend(Recommender):
    """Ridge-weighted linear blend of rating models.

    `partial_fit` and `finetune` delegate to the members (each updated or fine-tuned with the
    same events, training config and strategy); the blend weights are kept.

    Examples
    --------
    >>> from rectune.testing import low_rank
    >>> data = low_rank()
    >>> members = ["baseline", {"model": "svd", "embedding_size": 4}]
    >>> model = Blend(members=members, support_features=False).fit(data)
    >>> model.weights_.shape
    (3,)
    """

    name = "blend"
    config_class = BlendConfig
    config: BlendConfig
    state_names = ("weights",)
    param_groups = ()

    weights_: np.ndarray
    members_: list[Recommender]

    _user_support: np.ndarray
    _item_support: np.ndarray

    def _make_members(self) -> list[Recommender]:
        members = []
        for spec in self.config.members:
            params = {k: v for k, v in spec.items() if k != "model"}
            try:
                members.append(create_model(spec["model"], **params))
            except ConfigError as exc:
                raise ConfigError(f"blend member {spec['model']!r}: {exc}") from None
        return members

    def _features(
        self, users: np.ndarray, items: np.ndarray, preds: list[np.ndarray]
    ) -> np.ndarray:
        cols = [np.ones(len(users)), *preds]
        if self.config.support_features:
            nu = np.log1p(self._user_support[np.maximum(users, 0)] * (users >= 0))
            ni = np.log1p(self._item_support[np.maximum(items, 0)] * (items >= 0))
            for p in preds:
                cols += [p * nu, p * ni]
            cols += [nu, ni]
        return np.column_stack(cols)

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        rng = np.random.default_rng(train.seed)
        probe = rng.random(len(data)) < self.config.holdout
        fit_part, probe_part = data.subset(~probe), data.subset(probe)
        self._user_support = np.bincount(fit_part.users, minlength=data.n_users).astype(float)
        self._item_support = np.bincount(fit_part.items, minlength=data.n_items).astype(float)
        preds = []
        for member in self._make_members():
            member.fit(fit_part, train=train)
            u = member.user_map_.index_of(probe_part.user_ids)
            i = member.item_map_.index_of(probe_part.item_ids)
            preds.append(member.predict_indices(u, i))
        x = self._features(probe_part.users, probe_part.items, preds)
        y = probe_part.values
        penalty = self.config.reg * np.eye(x.shape[1])
        penalty[0, 0] = 0.0
        self.weights_ = np.linalg.solve(x.T @ x + penalty, x.T @ y)
        self.members_ = [m.fit(data, train=train) for m in self._make_members()]
        self._set_support(data)

    @property  # type: ignore[override]
    def supported_strategies(self) -> frozenset[str]:  # type: ignore[override]
        """What every member honours, among the settings a blend can delegate."""
        return self.honoured_settings("finetune")

    def honoured_settings(self, phase: Phase) -> frozenset[str]:
        """What every member honours in ``phase``, among the settings a blend passes on."""
        members = [m.honoured_settings(phase) for m in self._make_members()]
        passed = {"finetune": _DELEGATED, "partial_fit": _DELEGATED_UPDATE}.get(phase)
        return frozenset.intersection(*members, *([passed] if passed else []))

    def _finetune_begin(self, ctx: FinetuneContext) -> None:
        """Fine-tune every member on the new rows with the run's training config and strategy."""
        new = ctx.data.subset(np.arange(ctx.n_new_rows))
        for member in self.members_:
            member.finetune(new, train=ctx.train, strategy=ctx.strategy)

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        return None  # the members ran their own epochs in `_finetune_begin`

    def _default_finetune_epochs(self) -> int:
        return 1

    def _partial_fit(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, train: TrainConfig
    ) -> None:
        for member in self.members_:
            member.partial_fit(local, train=train)

    def _check_new_items(
        self, ids: np.ndarray, text: pd.Series | None, features: pd.DataFrame | None, method: str
    ) -> None:
        for member in self.members_:
            member._check_new_items(ids, text, features, method)

    def _grow(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, init: RowInit
    ) -> None:
        """Items added without interactions (`add_items`) join every member the same way;
        updates grow the members in their own `partial_fit` / `finetune`."""
        if init.catalogue and len(new_items):
            for member in self.members_:
                member.add_items(
                    self.item_map_.ids[new_items],
                    item_text=local.item_text,
                    item_features=local.item_features,
                    new_ids=init.method,
                    text_encoder=init.strategy.text_encoder,
                )

    def _set_support(self, data: Interactions | None = None) -> None:
        self._user_support = np.diff(self.seen_.indptr).astype(float)
        self._item_support = self.item_popularity_.astype(float)

    def _member_preds(self, users: np.ndarray, items: np.ndarray) -> list[np.ndarray]:
        return [m.predict_indices(users, items) for m in self.members_]

    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self._features(users, items, self._member_preds(users, items)) @ self.weights_

    def _fallback_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self._score_pairs(users, items)

    def get_state(self) -> dict[str, np.ndarray]:
        state = super().get_state()
        for k, member in enumerate(self.members_):
            for key, value in member.get_state().items():
                if not key.startswith("_"):
                    state[f"m{k}.{key}"] = value
        return state

    def _after_load(self) -> None:
        self._set_support()

    def set_state(
        self, state: Mapping[str, np.ndarray], user_map: IdMap, item_map: IdMap, kind: str
    ) -> Self:
        super().set_state(state, user_map, item_map, kind)
        shared = {k: v for k, v in state.items() if k.startswith("_")}
        self.members_ = []
        for k, member in enumerate(self._make_members()):
            own = {key.split(".", 1)[1]: v for key, v in state.items() if key.startswith(f"m{k}.")}
            member.set_state({**shared, **own}, user_map.copy(), item_map.copy(), kind)
            member.fit_info_ = fit_info(seconds=None)
            self.members_.append(member)
        return self
