"""Per-event learning for `SVD`: compiled prequential replay and River's per-event API.

Kept apart from `rectune.models.mf.svd` so that the batch model stays short; `SVD` mixes this in.
The state these methods update cheaply per event is in `rectune.models.mf._online_state`.
"""

from __future__ import annotations

import math
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.data.validate import check_event
from rectune.models.mf._factor import GROUPS
from rectune.models.mf._online_kernels import (
    BIASED,
    CLIP_PREDICT,
    LR,
    REG,
    estimate_one,
    learn_step,
    prequential_sgd,
)
from rectune.models.mf._online_state import OnlineState
from rectune.training.info import fit_info

#: Id and value types that `check_event` always accepts (finite floats aside), checked inline
#: so that the common case skips the call; anything else goes through `check_event`.
_PLAIN_IDS = frozenset({int, str, np.int64, np.int32, np.str_})
_FLOATS = frozenset({float, np.float64})
_INF = math.inf


class OnlineSGDMixin(OnlineState):
    """Predict-then-learn one event at a time (River's vocabulary) for SGD factor models.

    `learn_one`, `predict_one` and `predict_learn_one` are the per-event API: one call per
    event from a Python loop, each a dictionary lookup per id and one compiled step. They give
    exactly the numbers of `prequential` on the same events. A model that has not been fitted
    starts empty at its first event (`start_online`).
    """

    def prequential(
        self,
        data: Interactions,
        *,
        clip: tuple[float, float] | None = None,
        running_mean: bool | None = None,
        seed: int | None = None,
    ) -> np.ndarray:
        """Predict, then learn, each event of ``data`` in its row order; the predictions.

        Semantics (River's ``progressive_val_score`` with ``BiasedMF``, in one compiled loop):

        1. Up front, ids not yet known are appended to the maps (first-seen order) with zero
           biases and Normal(``init_mean``, ``init_std``) factors drawn in order of first
           appearance, user before item within an event (River's lazy initialisation draws in
           the same order), from ``numpy.random.RandomState(seed)``, or with ``seed=None`` from
           the model's online stream (seeded 0 at first use; `learn_one` continues it). An
           unfitted model starts empty.
        2. For event t: ``out[t] = clip(mu + b_u + b_i + p_u . q_i)`` from the state before the
           event (an id not learned yet contributes its initial row), then one SGD step on it
           with the config's per-group step sizes and penalties (no decay); see `SVD`.
        3. ``mu``: with ``running_mean`` (default: True if the model starts unfitted or was
           started online) the running mean of every value learned so far, updated with the
           event's value before its step (as River); otherwise the fitted global mean, fixed.
        4. ``clip``: fixed bounds; None means the model's rating range (an unfitted model: the
           running range of the values learned so far, no clipping before the first).

        Afterwards the events are in ``seen_`` like `partial_fit` rows. The data should be in
        time order (sort by timestamp first).

        Examples
        --------
        >>> from rectune import Interactions
        >>> from rectune.models import SVD, SVDConfig
        >>> stream = Interactions.from_raw([1, 2, 1, 2], ["a", "a", "b", "b"], [5, 4, 2, 1])
        >>> model = SVD(SVDConfig.from_river_biased_mf(n_factors=2))
        >>> model.prequential(stream, clip=(1, 5)).round(3).tolist()
        [1.0, 4.995, 4.515, 3.572]
        """
        users, items = self._online_rows(data, seed)
        lr, reg = self.config.group_rates(GROUPS)
        n_mean = self._mean_n
        if running_mean is None:
            running_mean = n_mean >= 0
        if running_mean and n_mean < 0:
            n_mean = int(self.fit_info_.get("n_interactions") or 0)
        n0 = n_mean if running_mean else -1
        lo, hi = self.rating_range_ if clip is None else clip
        running = clip is None and self._online_range
        out = np.empty(len(data), dtype=np.float64)
        mu, n, lo, hi = prequential_sgd(
            users,
            items,
            data.values,
            float(self.global_mean_),
            n0,
            self.user_bias_,
            self.item_bias_,
            self.user_factors_,
            self.item_factors_,
            lr.astype(np.float64),
            reg.astype(np.float64),
            self.config.biased,
            float(lo),
            float(hi),
            running,
            out,
        )
        self._after_events(users, items, data.values, mu, n, (lo, hi) if clip is None else None)
        return out

    def start_online(
        self, *, seed: int = 0, rating_range: tuple[float, float] | None = None
    ) -> Self:
        """Forget everything and start empty, to predict-then-learn from the first event.

        River's progressive validation: mu is the running mean of the values learned, new ids
        get zero biases and Normal(``init_mean``, ``init_std``) factors from
        ``numpy.random.RandomState(seed)`` in order of first appearance (user before item),
        and `predict_one` already shows an unknown id the row it will get (as River's lazy
        initialisation). Estimates are clipped to ``rating_range``, or with None to the running
        range of the values learned (no clipping before the first).

        Examples
        --------
        >>> from rectune.models import SVD, SVDConfig
        >>> model = SVD(SVDConfig.from_river_biased_mf(n_factors=2))
        >>> model = model.start_online(seed=0, rating_range=(1, 5))
        >>> events = [(1, "a", 5.0), (2, "a", 4.0), (1, "b", 2.0), (2, "b", 1.0)]
        >>> [round(model.predict_learn_one(u, i, y), 3) for u, i, y in events]
        [1.0, 4.995, 4.515, 3.572]
        """
        self._start_empty()
        self._seed_online(seed)
        if rating_range is not None:
            self.rating_range_ = np.array(rating_range, dtype=np.float64)
            self._online_range = False
        return self

    def learn_one(self, user: Any, item: Any, value: float = 1.0) -> Self:
        """One SGD step on one rating, growing rows for new ids (as `prequential`).

        A missing or non-finite id or value raises `DataError` before anything changes.
        """
        # The body of `predict_learn_one`, inline: one more Python call would cost ~10%.
        if (
            type(value) in _FLOATS
            and -_INF < value < _INF
            and type(user) in _PLAIN_IDS
            and type(item) in _PLAIN_IDS
        ):
            y = value
        else:
            y = check_event(user, item, value)
        users = self._user_index
        if users is None:
            users = self._prepare_events()
        u = users.get(user)
        if u is None:
            u = self._add_id(0, user)
        i = self._item_index.get(item)  # type: ignore[union-attr]
        if i is None:
            i = self._add_id(1, item)
        learn_step(u, i, y, self.user_bias_, self.item_bias_, self.user_factors_,
                   self.item_factors_, self._ctl, self._pend)  # fmt: skip
        room = self._pend_room - 1
        self._pend_room = room
        if not room:
            self._reserve_pending(1)
        return self

    def predict_learn_one(self, user: Any, item: Any, value: float) -> float:
        """`predict_one`, then `learn_one`, in one compiled step; returns the prediction."""
        if (
            type(value) in _FLOATS
            and -_INF < value < _INF
            and type(user) in _PLAIN_IDS
            and type(item) in _PLAIN_IDS
        ):
            y = value
        else:
            y = check_event(user, item, value)
        users = self._user_index
        if users is None:
            users = self._prepare_events()
        u = users.get(user)
        if u is None:
            u = self._add_id(0, user)
        i = self._item_index.get(item)  # type: ignore[union-attr]
        if i is None:
            i = self._add_id(1, item)
        est = learn_step(u, i, y, self.user_bias_, self.item_bias_, self.user_factors_,
                         self.item_factors_, self._ctl, self._pend)  # fmt: skip
        room = self._pend_room - 1
        self._pend_room = room
        if not room:
            self._reserve_pending(1)
        return est

    def predict_one(self, user: Any, item: Any) -> float:
        """Rating estimate of one pair, as `predict_learn_one` would predict it.

        Known pairs take one compiled call. Unknown ids: a model started empty shows them the
        rows they will get when learned (River's semantics, as `prequential`); a fitted model
        falls back as `predict` does (the global mean plus the known biases). An unfitted model
        starts empty (`start_online`).
        """
        users = self._user_index
        if users is not None:
            u, i = users.get(user), self._item_index.get(item)  # type: ignore[union-attr]
            if u is not None and i is not None:
                return estimate_one(u, i, self.user_bias_, self.item_bias_, self.user_factors_,
                                    self.item_factors_, self._ctl)  # fmt: skip
        return self._predict_one_slow(user, item)

    def _predict_one_slow(self, user: Any, item: Any) -> float:
        users = self._user_index
        if users is None:
            users = self._prepare_events()
        u, i = users.get(user), self._item_index.get(item)  # type: ignore[union-attr]
        if u is not None and i is not None:
            return self.predict_one(user, item)
        if not self._lazy_rows:
            return float(self.predict([user], [item])[0])
        # The rows the unknown ids will be given: the next draws, user first.
        draws = self._draw_rows((u is None) + (i is None), peek=True).astype(np.float32)
        zero = np.zeros(1, np.float32)
        P, bu = (draws[:1], zero) if u is None else (self.user_factors_, self.user_bias_)
        Q, bi = (draws[-1:], zero) if i is None else (self.item_factors_, self.item_bias_)
        return estimate_one(u or 0, i or 0, bu, bi, P, Q, self._ctl)

    def _prepare_events(self) -> dict[Any, int]:
        """Build what the per-event path reads: id dictionaries, rates, pending buffer."""
        if not self.is_fitted:
            self.start_online()
        ctl = self._control()
        lr, reg = self.config.group_rates(GROUPS)
        ctl[LR : LR + 4], ctl[REG : REG + 4] = lr, reg
        ctl[BIASED] = self.config.biased
        ctl[CLIP_PREDICT] = self.data_kind_ == "rating"
        self._reserve_pending(1)
        users = {raw: n for n, raw in enumerate(self.user_map_.ids.tolist())}
        self._item_index = {raw: n for n, raw in enumerate(self.item_map_.ids.tolist())}
        self._new_ids = ([], [])
        self._user_index = users
        return users

    def _add_id(self, side: int, raw: Any) -> int:
        """Index of a new raw id (appended to the map when next read) and its fresh row."""
        index = self._user_index if side == 0 else self._item_index
        idx = index[raw] = len(index)  # type: ignore[index,arg-type]
        self._new_ids[side].append(raw)  # type: ignore[index]
        self._append_rows(side, self._draw_rows(1))
        return idx

    def _online_rows(self, data: Interactions, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Model indices of the events, growing maps and rows (initialised as River does)."""
        if not self.is_fitted:
            self._start_empty(data)
        # An empty map takes its id type from the data.
        if len(self.user_map_) == 0:
            self.user_map_ = IdMap(data.user_ids[:0])
        if len(self.item_map_) == 0:
            self.item_map_ = IdMap(data.item_ids[:0])
        n_u0, n_i0 = len(self.user_map_), len(self.item_map_)
        users = self.user_map_.add(data.user_ids).astype(np.int32)
        items = self.item_map_.add(data.item_ids).astype(np.int32)
        n_u, n_i = len(self.user_map_) - n_u0, len(self.item_map_) - n_i0
        if n_u or n_i:
            self._user_index = self._item_index = None  # the maps grew behind them
            # First appearance of each new row in the interleaved (user, item) event stream.
            first_u = np.full(n_u, np.iinfo(np.int64).max)
            first_i = np.full(n_i, np.iinfo(np.int64).max)
            pos = np.arange(len(users), dtype=np.int64) * 2
            nu, ni = users >= n_u0, items >= n_i0
            np.minimum.at(first_u, users[nu] - n_u0, pos[nu])
            np.minimum.at(first_i, items[ni] - n_i0, pos[ni] + 1)
            order = np.argsort(np.concatenate([first_u, first_i]), kind="stable")
            if seed is not None:
                self._seed_online(seed)
            draws = self._draw_rows(n_u + n_i)
            rows = np.empty_like(draws)
            rows[order] = draws
            self._append_rows(0, rows[:n_u])
            self._append_rows(1, rows[n_u:])
        return users, items

    def _start_empty(self, data: Interactions | None = None) -> None:
        """State of a model that has seen nothing (online learning from scratch); the id maps
        take their id type from ``data`` (without: from the first ids learned)."""
        k = self.config.embedding_size
        no_ids = np.zeros(0, np.int64)
        self.user_map_ = IdMap(no_ids if data is None else data.user_ids[:0])
        self.item_map_ = IdMap(no_ids if data is None else data.item_ids[:0])
        self.global_mean_ = 0.0
        self.rating_range_ = np.array([np.nan, np.nan])
        self.seen_ = sp.csr_matrix((0, 0))
        self.item_popularity_ = np.zeros(0)
        self.data_kind_ = "rating" if data is None else data.kind
        self.artifact_ = None
        self.fit_info_ = fit_info(seconds=None, n_interactions=0)
        self.user_factors_ = np.zeros((0, k), np.float32)
        self.item_factors_ = np.zeros((0, k), np.float32)
        self.user_bias_ = np.zeros(0, np.float32)
        self.item_bias_ = np.zeros(0, np.float32)
        self._mean_n = 0
        self._online_range = True
        self._lazy_rows = True

    def _after_events(
        self,
        users: np.ndarray,
        items: np.ndarray,
        values: np.ndarray,
        mu: float,
        n: int,
        rating_range: tuple[float, float] | None,
    ) -> None:
        """Queue learned events for ``seen_`` and popularity; set the mean and range."""
        self._push_events(users, items, values)
        self.global_mean_ = float(mu)
        if n >= 0:
            self._mean_n = int(n)
        if rating_range is not None:
            self.rating_range_ = np.array(rating_range, dtype=np.float64)
        elif self._online_range:
            lo, hi = (
                np.nanmin([self.rating_range_[0], values.min()]),
                np.nanmax([self.rating_range_[1], values.max()]),
            )
            self.rating_range_ = np.array([lo, hi], dtype=np.float64)
        self.fit_info_["n_interactions"] = (self.fit_info_.get("n_interactions") or 0) + len(users)
        self.artifact_ = None
