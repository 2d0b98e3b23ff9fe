"""`ContentKNN`: content-based recommendation from item text (TF-IDF profiles).

Items are TF-IDF vectors of their text (word unigrams and bigrams, sublinear term frequency,
smoothed idf, l2-normalised rows; Salton & Buckley 1988, "Term-weighting approaches in automatic
text retrieval"). A user's profile is the weighted sum of the vectors of the items in their
history: ratings centred on the user's mean for explicit data (liked items pull toward their
words, disliked ones push away), the interaction weights for implicit data (Pazzani & Billsus
2007, "Content-based recommendation systems", The Adaptive Web). The ranking score is the cosine
of profile and item vector. Rating estimates are the user's mean plus the similarity-weighted
average of their centred ratings over every item they rated (item-kNN with content
similarities), which needs no extra state: ``sum_j s_ij d_uj = (sum_j d_uj x_j) . x_i``.

Every item with text is in the model, interacted with or not: cold items (text, no events) are
scorable from the start. The vocabulary and idf are fixed at fit; `partial_fit` vectorises new
items' text with them (unseen words are ignored) and rebuilds the profiles of the users the
events touch. Nothing is learned by gradient, so fine-tuning only absorbs the new rows.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field

from rectune.config import ConfigBase
from rectune.data.interactions import Interactions
from rectune.models.base import Recommender
from rectune.text.tfidf import Tfidf, row_sums
from rectune.training.config import TrainConfig
from rectune.training.growth import RowInit
from rectune.training.hooks import FinetuneContext

logger = logging.getLogger(__name__)

#: Users whose profiles are densified at once when scoring the catalogue.
_PROFILE_BLOCK = 128


class ContentKNNConfig(ConfigBase):
    """Hyperparameters of `ContentKNN`."""

    ngram_max: int = Field(2, ge=1, le=3)
    """Longest word n-gram in the TF-IDF vocabulary (1: unigrams only)."""
    min_df: int = Field(1, ge=1)
    """Terms in fewer item texts than this are dropped from the vocabulary."""
    implicit_weighting: Literal["value", "log1p", "binary"] = "value"
    """Implicit data: profile weight of an interaction (its value, ``log(1 + value)`` or 1)."""
    shrinkage: float = Field(0.1, ge=0)
    """Rating estimates: added to the similarity sum in the denominator (pulls toward the
    user's mean when the user's rated items are unlike the target)."""


class ContentKNN(Recommender):
    """Content-based kNN over TF-IDF item text; cold items (text only) are scorable.

    Examples
    --------
    >>> import pandas as pd
    >>> from rectune import Interactions
    >>> text = pd.Series({"a": "Galaxy Quest | Sci-Fi", "b": "Love Actually | Romance",
    ...                   "c": "Galaxy Wars | Sci-Fi", "d": "Summer Love | Romance"})
    >>> data = Interactions.from_raw([1, 1, 2, 2], list("abba"), [5, 1, 5, 2], item_text=text)
    >>> model = ContentKNN().fit(data)
    >>> model.recommend([1, 2], n=1)[0].tolist()  # c and d were never interacted with
    [['c'], ['d']]
    """

    name = "content-knn"
    config_class = ContentKNNConfig
    config: ContentKNNConfig
    state_names = ("tfidf_indptr", "tfidf_indices", "tfidf_data", "vocabulary", "idf")
    param_groups = ()
    supported_strategies = frozenset({"new_ids=text"})
    partial_fit_init = "zeros"
    partial_fit_settings = frozenset({"new_ids=text"})
    #: A new item is the TF-IDF vector of its text (no ridge map, no encoder).
    add_items_settings = frozenset({"new_ids=text"})
    embeds_item_text = True

    tfidf_indptr_: np.ndarray
    tfidf_indices_: np.ndarray
    tfidf_data_: np.ndarray
    vocabulary_: np.ndarray
    idf_: np.ndarray

    # Caches derived from the state (`_after_load`; `_partial_fit` updates the touched rows).
    _x: sp.csr_matrix
    """Item TF-IDF vectors (rows: model item indices)."""
    _prof: sp.csr_matrix
    """User profiles: weighted sums of the vectors of their items."""
    _norms: np.ndarray
    """l2 norm of each profile."""
    _hist: sp.csr_matrix | None
    """Explicit data: sums of the (unweighted) vectors of each user's items, else None."""
    _means: np.ndarray
    """Each user's mean rating (the global mean for users without rows)."""

    # ------------------------------------------------------------------ fitting
    def _prepare(self, data: Interactions) -> Interactions:
        """Base maps, plus every item that has text in ``data.item_text`` (cold items too)."""
        local = super()._prepare(data)
        if data.item_text is not None and len(data.item_text):
            self.item_map_.add(np.asarray(data.item_text.index))
            self._resize_items()
        return local

    def _resize_items(self) -> None:
        shape = (len(self.user_map_), len(self.item_map_))
        seen = self.seen_.copy()
        seen.resize(shape)
        self.seen_ = seen
        pop = np.zeros(shape[1])
        pop[: len(self.item_popularity_)] = self.item_popularity_
        self.item_popularity_ = pop

    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        texts = self._texts(data.item_text, self.item_map_.ids)
        if data.item_text is None:
            logger.warning("content-knn: the data has no item text; every score will be 0")
        tfidf = Tfidf(self.config.ngram_max, self.config.min_df).fit(t for t in texts if t)
        self.vocabulary_, self.idf_ = tfidf.vocabulary_, tfidf.idf_
        self._set_vectors(tfidf.transform(texts))
        self._after_load()

    @staticmethod
    def _texts(item_text: pd.Series | None, ids: np.ndarray) -> list[str]:
        """Text of each raw id ('' where there is none)."""
        if item_text is None or not len(item_text):
            return [""] * len(ids)
        found = item_text.reindex(pd.Index(ids))
        return ["" if not isinstance(t, str) else t for t in found.to_numpy(dtype=object)]

    def _set_vectors(self, x: sp.csr_matrix) -> None:
        self.tfidf_indptr_ = x.indptr.astype(np.int64)
        self.tfidf_indices_ = x.indices.astype(np.int32)
        self.tfidf_data_ = x.data.astype(np.float64)

    def _vectors(self) -> sp.csr_matrix:
        n = len(self.tfidf_indptr_) - 1
        return sp.csr_matrix(
            (self.tfidf_data_, self.tfidf_indices_, self.tfidf_indptr_),
            shape=(n, len(self.vocabulary_)),
        )

    # ------------------------------------------------------------------ derived caches
    def _weights(self, rows: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
        """Profile weights (centred ratings or implicit weights), binary history, user means."""
        seen = self.seen_[rows]
        counts = np.diff(seen.indptr)
        sums = row_sums(seen, seen.data)
        means = np.where(counts > 0, sums / np.maximum(counts, 1), self.global_mean_)
        w = seen.copy()
        if self.data_kind_ == "rating":
            w.data = w.data - np.repeat(means, counts)
        elif self.config.implicit_weighting == "log1p":
            w.data = np.log1p(w.data)
        elif self.config.implicit_weighting == "binary":
            w.data = np.ones_like(w.data)
        b = seen.copy()
        b.data = np.ones_like(b.data)
        return w, b, means

    def _profiles(self, rows: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, Any, np.ndarray]:
        x = self._x
        w, b, means = self._weights(rows)
        prof = (w @ x).tocsr()
        norms = np.sqrt(np.asarray(prof.multiply(prof).sum(axis=1)).ravel())
        hist = (b @ x).tocsr() if self.data_kind_ == "rating" else None
        return prof, norms, hist, means

    def _after_load(self) -> None:
        self._x = self._vectors()
        every = np.arange(len(self.user_map_))
        self._prof, self._norms, self._hist, self._means = self._profiles(every)

    def _invalidate_caches(self) -> None:
        """Profiles are updated row by row in `_partial_fit`; only the item view changes."""
        self._x = self._vectors()

    # ------------------------------------------------------------------ updates
    def row_axes(self) -> dict[str, tuple[str, ...]]:
        return {}  # item vectors are CSR parts, grown in `_grow`

    def _grow(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, init: RowInit
    ) -> None:
        """New items get the TF-IDF vectors of their text (fixed vocabulary), and so do items
        that appear only in ``local.item_text`` (launched without events yet)."""
        if local.item_text is not None and len(local.item_text):
            self.item_map_.add(np.asarray(local.item_text.index))
        n0 = len(self.tfidf_indptr_) - 1
        fresh = self.item_map_.ids[n0:]
        if len(fresh):
            tfidf = Tfidf(self.config.ngram_max).restore(self.vocabulary_, self.idf_)
            x = sp.vstack([self._vectors(), tfidf.transform(self._texts(local.item_text, fresh))])
            self._set_vectors(x.tocsr())
        self._resize_items()

    def _default_finetune_epochs(self) -> int:
        return 1

    def _finetune_epoch(self, ctx: FinetuneContext, epoch: int, lr_scale: float) -> None:
        """Nothing is iterated: the driver absorbed the rows; profiles follow in `_finetune_end`."""
        return None

    def _finetune_end(self, ctx: FinetuneContext) -> None:
        self._after_load()

    def _partial_fit(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, train: TrainConfig
    ) -> None:
        """Rebuild the profiles of the users the events touch (new users included)."""
        self._x = self._vectors()
        n_users = len(self.user_map_)
        touched = np.unique(np.concatenate([local.users.astype(np.int64), new_users]))
        prof, norms, hist, means = self._profiles(touched)
        self._prof = _replace_rows(self._prof, touched, prof, n_users)
        self._norms = _replace_vec(self._norms, touched, norms, n_users)
        self._means = _replace_vec(self._means, touched, means, n_users)
        if hist is not None:
            self._hist = _replace_rows(self._hist, touched, hist, n_users)

    # ------------------------------------------------------------------ scoring
    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        dots = np.asarray(self._prof[users].multiply(self._x[items]).sum(axis=1)).ravel()
        norms = self._norms[users]
        return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        # Profiles are dense-ish, item rows short: densify a few profiles at a time and let
        # the sparse item matrix multiply them (faster than sparse x sparse).
        scores = np.empty((len(users), self._x.shape[0]))
        for start in range(0, len(users), _PROFILE_BLOCK):
            dense = self._prof[users[start : start + _PROFILE_BLOCK]].toarray()
            scores[start : start + len(dense)] = (self._x @ dense.T).T
        norms = self._norms[users]
        np.divide(scores, norms[:, None], out=scores, where=norms[:, None] > 0)
        scores[norms == 0] = 0.0
        return scores

    def _predict_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """User mean + similarity-weighted mean of the user's centred ratings (explicit data)."""
        if self._hist is None:
            return self._score_pairs(users, items)
        x = self._x[items]
        num = np.asarray(self._prof[users].multiply(x).sum(axis=1)).ravel()
        den = np.asarray(self._hist[users].multiply(x).sum(axis=1)).ravel()
        return self._means[users] + num / (den + self.config.shrinkage + 1e-12)

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        """Cosine of the items' TF-IDF vectors (rows are unit vectors)."""
        return np.asarray((self._x[items] @ self._x.T).todense(), dtype=np.float64)

    def _fallback_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Unknown item: the user's mean rating; unknown user: the global mean."""
        out = np.full(len(users), self.global_mean_)
        known = users >= 0
        if self.data_kind_ == "rating":
            out[known] = self._means[users[known]]
        return out


def _replace_rows(
    m: sp.csr_matrix, rows: np.ndarray, new: sp.csr_matrix, n_rows: int
) -> sp.csr_matrix:
    """``m`` grown to ``n_rows`` rows with ``rows`` replaced by the rows of ``new``."""
    old = m.copy()
    old.resize((n_rows, m.shape[1]))
    keep = np.ones(n_rows)
    keep[rows] = 0.0
    scatter = sp.csr_matrix(
        (np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(n_rows, len(rows))
    )
    out = (sp.diags(keep) @ old + scatter @ new).tocsr()
    out.eliminate_zeros()
    return out


def _replace_vec(v: np.ndarray, rows: np.ndarray, new: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=v.dtype)
    out[: len(v)] = v
    out[rows] = new
    return out
