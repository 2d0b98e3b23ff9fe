"""Per-event learning for `SVD`: compiled prequential replay and `learn_one`.

Kept apart from `rectune.models.mf.svd` so that the batch model stays short; `SVD` mixes this in.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.models.mf._factor import GROUPS, FactorModel
from rectune.models.mf._finetune import prequential_sgd
from rectune.training.growth import absorb
from rectune.training.info import fit_info


class OnlineSGDMixin(FactorModel):
    """Predict-then-learn one event at a time (River's vocabulary) for SGD factor models."""

    # Online state (reset by `fit`, saved nowhere: a loaded model learns with a fixed mean).
    _mean_n: int = -1
    """Values in the running mean of online learning (-1: the fitted global mean, fixed)."""
    _online_range: bool = False
    """Whether the rating range grows with the values learned (a model started online)."""
    _online_rng: np.random.RandomState | None = None
    """Stream of initial rows of new ids (seeded 0 at first use)."""
    _pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    """Learned events not yet absorbed into ``seen_`` (absorbed when it is next read)."""
    _seen: sp.csr_matrix
    _item_popularity: np.ndarray

    # Caches, cleared in `_invalidate_caches`.
    _rates_cache: tuple[Any, np.ndarray, np.ndarray] | None = None
    """(config, step sizes, penalties) as float64 for the kernel."""
    _user_index: tuple[IdMap, dict[Any, int]] | None = None
    """(user map, raw id -> index) kept in step with the append-only map."""
    _item_index: tuple[IdMap, dict[Any, int]] | None = None

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

    def learn_one(self, user: Any, item: Any, value: float = 1.0) -> Self:
        """One SGD step on one rating, growing rows for new ids (as `prequential`)."""
        self.predict_learn_one(user, item, value)
        return self

    def predict_learn_one(self, user: Any, item: Any, value: float) -> float:
        """`predict_one` then `learn_one` in one compiled call; returns the prediction.

        Known ids take a fast path (a dict lookup and one kernel call; ``seen_`` absorbs the
        events lazily, when next read); a new id goes through `prequential`.
        """
        if not self.is_fitted:
            data = Interactions.from_raw([user], [item], [value])
            return float(self.prequential(data)[0])
        u = self._index_one(self.user_map_, "_user_index", user, 0)
        i = self._index_one(self.item_map_, "_item_index", item, 1)
        rates = self._rates_cache
        if rates is None or rates[0] is not self.config:
            lr, reg = self.config.group_rates(GROUPS)
            rates = (self.config, lr.astype(np.float64), reg.astype(np.float64))
            self._rates_cache = rates
        users, items = np.array([u], np.int32), np.array([i], np.int32)
        values, out = np.array([value], np.float64), np.empty(1)
        lo, hi = self.rating_range_
        mu, n, lo, hi = prequential_sgd(users, items, values, self.global_mean_,
                                        self._mean_n,
                                        self.user_bias_, self.item_bias_, self.user_factors_,
                                        self.item_factors_, rates[1], rates[2],
                                        self.config.biased, lo, hi,
                                        self._online_range, out)  # fmt: skip
        self._after_events(users, items, values, mu, n, (lo, hi))
        return float(out[0])

    def _index_one(self, idmap: IdMap, attr: str, raw: Any, side: int) -> int:
        """Index of one raw id (a dict cache kept in step with the append-only map); a new id
        is appended with a fresh row."""
        cache = getattr(self, attr)
        if cache is None or cache[0] is not idmap or len(cache[1]) != len(idmap):
            cache = (idmap, {k: n for n, k in enumerate(idmap.ids.tolist())})
            setattr(self, attr, cache)
        idx = cache[1].get(raw, -1)
        if idx < 0:
            idx = int(idmap.add([raw])[0])
            cache[1][raw] = idx
            self._append_rows(1 - side, side, np.arange(1))
        return idx

    def _append_rows(self, n_u: int, n_i: int, order: np.ndarray) -> None:
        """Zero biases and Normal(init_mean, init_std) factors for new rows, drawn from the
        model's online stream in ``order`` (the rows' order of first appearance)."""
        cfg = self.config
        rng = self._online_rng
        if rng is None:
            rng = self._online_rng = np.random.RandomState(0)
        draws = rng.normal(cfg.init_mean, cfg.init_std, (n_u + n_i, cfg.embedding_size))
        rows = np.empty_like(draws)
        rows[order] = draws
        f32 = np.float32
        self.user_factors_ = np.concatenate([self.user_factors_, rows[:n_u].astype(f32)])
        self.item_factors_ = np.concatenate([self.item_factors_, rows[n_u:].astype(f32)])
        self.user_bias_ = np.concatenate([self.user_bias_, np.zeros(n_u, f32)])
        self.item_bias_ = np.concatenate([self.item_bias_, np.zeros(n_i, f32)])

    # ``seen_`` and ``item_popularity_`` absorb learned events lazily (batched on next read).
    @property  # type: ignore[override]
    def seen_(self) -> sp.csr_matrix:
        self._flush_events()
        return self._seen

    @seen_.setter
    def seen_(self, value: sp.csr_matrix) -> None:
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._seen = value

    @property  # type: ignore[override]
    def item_popularity_(self) -> np.ndarray:
        self._flush_events()
        return self._item_popularity

    @item_popularity_.setter
    def item_popularity_(self, value: np.ndarray) -> None:
        self._item_popularity = value

    def _flush_events(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        u, i, v = (np.concatenate(x) for x in zip(*pending, strict=True))
        absorb(self, Interactions(u, i, v, self.user_map_, self.item_map_))
        self._pending = []

    def _online_rows(self, data: Interactions, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Model indices of the events, growing maps and rows (initialised as River does)."""
        if not self.is_fitted:
            self._start_empty(data)
        n_u0, n_i0 = len(self.user_map_), len(self.item_map_)
        users = self.user_map_.add(data.user_ids).astype(np.int32)
        items = self.item_map_.add(data.item_ids).astype(np.int32)
        n_u, n_i = len(self.user_map_) - n_u0, len(self.item_map_) - n_i0
        if n_u or n_i:
            # First appearance of each new row in the interleaved (user, item) event stream.
            first_u = np.full(n_u, np.iinfo(np.int64).max)
            first_i = np.full(n_i, np.iinfo(np.int64).max)
            pos = np.arange(len(users), dtype=np.int64) * 2
            nu, ni = users >= n_u0, items >= n_i0
            np.minimum.at(first_u, users[nu] - n_u0, pos[nu])
            np.minimum.at(first_i, items[ni] - n_i0, pos[ni] + 1)
            order = np.argsort(np.concatenate([first_u, first_i]), kind="stable")
            if seed is not None:
                self._online_rng = np.random.RandomState(seed)
            self._append_rows(n_u, n_i, order)
        return users, items

    def _start_empty(self, data: Interactions) -> None:
        """State of a model that has seen nothing (online learning from scratch)."""
        k = self.config.embedding_size
        self.user_map_ = IdMap(data.user_ids[:0])
        self.item_map_ = IdMap(data.item_ids[:0])
        self.global_mean_ = 0.0
        self.rating_range_ = np.array([np.nan, np.nan])
        self.seen_ = sp.csr_matrix((0, 0))
        self.item_popularity_ = np.zeros(0)
        self.data_kind_ = data.kind
        self.artifact_ = None
        self.fit_info_ = fit_info(seconds=None, n_interactions=0)
        self.user_factors_ = np.zeros((0, k), np.float32)
        self.item_factors_ = np.zeros((0, k), np.float32)
        self.user_bias_ = np.zeros(0, np.float32)
        self.item_bias_ = np.zeros(0, np.float32)
        self._mean_n = 0
        self._online_range = True

    def _after_events(
        self,
        users: np.ndarray,
        items: np.ndarray,
        values: np.ndarray,
        mu: float,
        n: int,
        rating_range: tuple[float, float] | None,
    ) -> None:
        """Absorb learned events into ``seen_``, popularity, mean and range."""
        self._pending.append((users, items, values))
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

    def _invalidate_caches(self) -> None:
        self._rates_cache = self._user_index = self._item_index = None
        super()._invalidate_caches()
