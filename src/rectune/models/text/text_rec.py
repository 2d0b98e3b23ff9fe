"""`TextRecommender`: a two-tower recommender over item text, with three tuning modes.

The item tower embeds an item's text with a local transformer (`rectune.text.TextEncoder`,
all-MiniLM-L6-v2 by default) and maps it through a residual ``adapter``, plus a sparse
``tokens`` bag (TF-IDF words, genre phrases and decades of the same text) embedded in the same
space. The user tower pools the item-tower vectors of the user's ``history`` most recent items
(weighted by rating, or log-count for implicit data) and maps them through a ``user_adapter``;
with ``user_tower="text"`` it encodes the concatenated text of those items instead. Scores are
cosine similarities. Training is in-batch softmax (InfoNCE; Oord et al. 2018, "Representation
learning with contrastive predictive coding"; Yi et al. 2019, "Sampling-bias-corrected neural
modeling for large corpus item recommendations") over (user, positive item) pairs plus
sampled negatives, each user's positive left out of its own history pool.

Tuning modes: ``frozen`` caches the encoder's vectors and trains the adapters (and tokens);
``lora`` adds LoRA adapters to the encoder's attention (Hu et al. 2022, "LoRA: Low-rank
adaptation of large language models"); ``full`` trains every encoder weight. In lora/full mode
the encoder runs with gradients for the batch's candidate items, while history items use the
encoder vectors refreshed at the start of each epoch.

Nothing is tied to an id: new items join from their text (``catalogue="text"``), new users
from their histories (``partial_fit``: no gradient steps unless ``TrainConfig(epochs=...)``),
and a model trained on one domain scores another domain's users zero-shot.

With ``popularity_prior="auto"`` a score is the cosine plus ``w(n_u) * log1p(popularity)``,
one weight per history-length bucket chosen on held-out training interactions after each fit
or fine-tuning (`rectune.models.text._prior`): users with one or two items lean on popularity,
users with rich histories on the text. Popularity is counted over every row the model has seen.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
import torch

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.errors import ArtifactError
from rectune.models.base import Recommender
from rectune.models.neural.torch_base import TorchRecommender
from rectune.models.text import _prior
from rectune.models.text import _towers as tt
from rectune.models.text._training import TextTraining
from rectune.models.text.config import TextRecommenderConfig
from rectune.text.encoder import TextEncoder, resolve_encoder, shared_encoder
from rectune.text.tfidf import TokenVocab
from rectune.training.growth import RowInit
from rectune.training.progress import Bar


class TextRecommender(TextTraining, TorchRecommender):
    """Two-tower text recommender (frozen encoder + adapter, LoRA, or full fine-tuning).

    Examples
    --------
    >>> import pandas as pd
    >>> from rectune.data import Interactions
    >>> text = pd.Series({1: "Alien (1979) | Sci-Fi, Horror", 2: "Aliens (1986) | Sci-Fi",
    ...                   3: "Notting Hill (1999) | Romance", 4: "Love Actually | Romance",
    ...                   5: "Solaris (1972) | Sci-Fi"})
    >>> data = Interactions.from_raw(["a", "a", "b", "b"], [1, 2, 3, 4], [5, 5, 5, 4],
    ...                              item_text=text)
    >>> model = TextRecommender(epochs=0).fit(data)  # zero-shot: the untrained encoder
    >>> model.recommend(["a", "b"], n=1)[0].tolist()  # item 5 was never interacted with
    [[5], [5]]
    >>> model.param_groups
    ('encoder', 'adapter', 'tokens', 'user_adapter')
    """

    name = "text"
    config_class = TextRecommenderConfig
    config: TextRecommenderConfig
    predicts_ratings = False
    state_names: ClassVar[tuple[str, ...]] = (
        "item_text", "user_recent", "vocab", "vocab_idf", "prior_weights", "prior_support"
    )  # fmt: skip
    user_tables: ClassVar[tuple[str, ...]] = ()
    item_tables: ClassVar[tuple[str, ...]] = ()
    # New ids always start from their text / history (``new_ids=text``); features and
    # neighbour initialisers have no rows to fill, early stopping watches rating error and
    # pseudo-labels are ratings, so those settings raise.
    supported_strategies = frozenset(
        {"l2sp", "freeze", "clip_norm", "replay", "schedule", "new_ids=text", "learning_rate",
         "epochs"}
    )  # fmt: skip
    fit_settings = frozenset({"learning_rate", "schedule"})
    partial_fit_settings = frozenset({"epochs"})  # new rows always start from their text
    # An item is its text: only a text start means anything.
    add_items_settings = frozenset({"new_ids=text"})
    embeds_item_text = True
    # Lower edges of the popularity prior's history-length buckets (one weight each).
    prior_edges: ClassVar[tuple[int, ...]] = tuple(int(e) for e in _prior.EDGES)

    item_text_: np.ndarray
    user_recent_: np.ndarray
    vocab_: np.ndarray
    vocab_idf_: np.ndarray
    prior_weights_: np.ndarray
    """Popularity-prior weight of each history-length bucket (`_prior.EDGES`)."""
    prior_support_: np.ndarray
    """Held-out users each weight was chosen on (0: kept from the parent or inherited)."""
    epoch_seconds_: list[float]
    """Wall time of each training epoch of the last run."""

    # Caches, rebuilt by `_after_load` (the one place; `_invalidate_caches` calls it).
    _vocab: TokenVocab | None = None  # The token vocabulary of ``vocab_``/``vocab_idf_``.
    _encoder_dirty: bool = False  # weights changed since its text-hash cache was filled
    _encoder_trains: bool = False  # the running epoch steps encoder weights (lora/full)
    _progress: bool = False  # a bar while encoding (the run's `TrainConfig.progress`)
    _encode_seconds: float = 0.0  # wall time of the last catalogue encoding
    _raw: torch.Tensor  # Encoder vectors of every item text.
    _bags: tuple[np.ndarray, np.ndarray, np.ndarray]  # Token bags (CSR) of every item text.
    _hist_w: np.ndarray  # Pooling weight of each history slot.
    _item_vecs: np.ndarray  # Item-tower vectors of every item (unit rows).
    _user_vecs: np.ndarray  # User-tower vectors of every user (unit rows).
    _user_prior: np.ndarray  # popularity-prior weight of every user (by history length)
    _logpop: np.ndarray  # log1p of every item's interaction count.
    _plan: _prior.Plan | None = None  # held-out interactions of the running fit (prior)

    # ------------------------------------------------------------------ catalogue and state
    def _prepare(self, data: Interactions) -> Interactions:
        local = super()._prepare(data)
        if self.config.catalogue == "text" and data.item_text is not None:
            n0 = len(self.item_map_)
            self.item_map_.add(np.asarray(data.item_text.index))
            extra = len(self.item_map_) - n0
            if extra:
                self.seen_.resize((self.seen_.shape[0], len(self.item_map_)))
                self.item_popularity_ = np.concatenate([self.item_popularity_, np.zeros(extra)])
        self.item_text_ = tt.texts_of(self.item_map_.ids, data.item_text)
        order = np.argsort(data.timestamps, kind="stable") if data.timestamps is not None else None
        rank = np.empty(len(local), np.int64)
        rank[np.arange(len(local)) if order is None else order] = np.arange(len(local))
        self.user_recent_ = tt.recent_items(
            None, local.users, local.items, rank, len(self.user_map_), self.config.history
        )
        vocab = TokenVocab.build(list(self.item_text_), self.config.max_tokens)
        if not self.config.token_features:
            vocab = TokenVocab(np.zeros(0, dtype=str), np.zeros(0))
        self.vocab_, self.vocab_idf_ = vocab.tokens, vocab.idf
        self._vocab = vocab
        return local

    def _update_catalogue(self, local: Interactions, new_users: np.ndarray) -> None:
        """New/changed texts and user rows; histories get the rows in time order."""
        self.item_text_ = tt.merged_texts(self.item_text_, self.item_map_.ids, local.item_text)
        rank = np.arange(len(local))
        if local.timestamps is not None:
            rank[np.argsort(local.timestamps, kind="stable")] = np.arange(len(local))
        self.user_recent_ = tt.recent_items(self.user_recent_, local.users, local.items, rank,
                                            len(self.user_map_), self.config.history)  # fmt: skip

    def _grow(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, init: RowInit
    ) -> None:
        """No id-indexed rows: new items are their text (appended here, so items added
        without events are scored at once), new users their history."""
        if len(new_items) > len(self.item_text_) - init.n_items0:
            extra = self.item_map_.ids[len(self.item_text_) :]
            self.item_text_ = np.concatenate([self.item_text_, tt.texts_of(extra, local.item_text)])

    def get_state(self) -> dict[str, np.ndarray]:
        state = Recommender.get_state(self)
        for key, value in self.module_.state_dict().items():
            if self._saves(key):
                state[f"torch.{key}"] = value.detach().cpu().numpy()
        return state

    def _saves(self, key: str) -> bool:
        """Encoder weights are saved only when trained (LoRA weights; all in full mode)."""
        if not key.startswith("encoder."):
            return True
        return self.config.tuning == "full" or (self.config.tuning == "lora" and "lora_" in key)

    def set_state(
        self, state: Mapping[str, np.ndarray], user_map: IdMap, item_map: IdMap, kind: str
    ) -> Self:
        self.vocab_, self.vocab_idf_ = state["vocab"], state["vocab_idf"]
        if "prior_weights" not in state:  # an artifact from before the popularity prior
            zeros = np.zeros(len(_prior.EDGES))
            state = {**state, "prior_weights": zeros, "prior_support": zeros.astype(np.int64)}
        self._vocab = TokenVocab(np.asarray(self.vocab_), np.asarray(self.vocab_idf_))
        self.module_ = self._build_module(len(user_map), len(item_map))
        tensors = {
            k[6:]: torch.from_numpy(np.array(v)) for k, v in state.items() if k.startswith("torch.")
        }
        missing, unexpected = self.module_.load_state_dict(tensors, strict=False)
        bad = [k for k in missing if self._saves(k)] + list(unexpected)
        if bad:
            raise ArtifactError(f"text model state does not match its module: {bad[:5]}")
        self.module_.eval()
        return Recommender.set_state(self, state, user_map, item_map, kind)

    # ------------------------------------------------------------------ module
    def _build_module(self, n_users: int, n_items: int) -> torch.nn.Module:
        cfg = self.config
        if cfg.tuning == "frozen":  # never trained: one per process (`shared_encoder`)
            encoder = shared_encoder(cfg.encoder, max_length=cfg.max_length, pooling=cfg.pooling)
        else:
            encoder = TextEncoder(
                resolve_encoder(cfg.encoder), max_length=cfg.max_length, pooling=cfg.pooling
            )
            if cfg.tuning == "lora":
                encoder.add_lora(r=cfg.lora_r, alpha=cfg.lora_alpha)
        self._encoder_dirty = False
        self.epoch_seconds_ = []
        assert self._vocab is not None
        return tt.Towers(encoder, encoder.dim, cfg.adapter, len(self._vocab))

    @property
    def encoder(self) -> TextEncoder:
        return self.module_.encoder  # type: ignore[return-value]

    def _apply_mode(self) -> None:
        """Which encoder weights may train: none, the LoRA matrices, or all."""
        for name, p in self.encoder.model.named_parameters():
            mode = self.config.tuning
            p.requires_grad_(mode == "full" or (mode == "lora" and "lora_" in name))

    # ------------------------------------------------------------------ caches and scoring
    def _after_load(self) -> None:
        """Rebuild every cache: encoder vectors (unchanged texts come from the encoder's
        hash cache; all after encoder weights changed), token bags, item and user vectors."""
        self._apply_mode()
        if self._encoder_dirty:
            self.encoder.clear_cache()
            self._encoder_dirty = False
        if self._vocab is None or len(self._vocab) != len(self.vocab_):
            self._vocab = TokenVocab(np.asarray(self.vocab_), np.asarray(self.vocab_idf_))
        texts = [str(t) for t in self.item_text_]
        self._raw = torch.from_numpy(self._encode_catalogue())
        self._bags = self._vocab.bags(texts)
        self._hist_w = tt.history_weights(
            self.user_recent_, self.seen_, self.data_kind_, self.config.pool_weights
        )
        everything = np.arange(len(texts))
        self.module_.eval()
        with torch.no_grad():
            items = self._item_vectors(everything, grad_encoder=False)
            if self.config.user_tower == "pool":
                hist = torch.from_numpy(np.maximum(self.user_recent_, 0))
                pooled = tt.pool(items[hist], torch.from_numpy(self._hist_w))
            else:
                users = [
                    self._user_text(h[w > 0])
                    for h, w in zip(self.user_recent_, self._hist_w, strict=True)
                ]
                pooled = torch.from_numpy(self.encoder.encode(users))
            self._item_vecs = items.numpy().astype(np.float64)
            self._user_vecs = self.module_.users(pooled).numpy().astype(np.float64)
        self._logpop = np.log1p(self.item_popularity_)
        n_u = np.diff(self.seen_.indptr)
        on = self.config.popularity_prior == "auto"
        self._user_prior = self.prior_weights_[_prior.bucket_of(n_u)] if on else np.zeros(len(n_u))

    def _encode_catalogue(self) -> np.ndarray:
        """Encoder vectors of every item text (a bar if progress is on and texts are new)."""
        t0 = time.perf_counter()
        texts = [str(t) for t in self.item_text_]
        with Bar(self._progress, f"encoding {len(texts):,} item texts", len(texts)) as bar:
            out = self.encoder.encode(texts, on_batch=bar.advance)
        self._encode_seconds = time.perf_counter() - t0
        return out

    def _score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        cos = np.einsum("ij,ij->i", self._user_vecs[users], self._item_vecs[items])
        return cos + self._user_prior[users] * self._logpop[items]

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        cos = self._user_vecs[users] @ self._item_vecs.T
        return cos + self._user_prior[users][:, None] * self._logpop[None, :]

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        """Cosine of the item-tower vectors (unit rows)."""
        return self._item_vecs[items] @ self._item_vecs.T

    def item_vectors(self, items: Any) -> np.ndarray:
        """Item-tower vectors of raw item ids (unknown ids: zeros)."""
        self._check_fitted()
        idx = self.item_map_.index_of(items)
        out = np.zeros((len(idx), self._item_vecs.shape[1]))
        out[idx >= 0] = self._item_vecs[idx[idx >= 0]]
        return out

    def trainable_parameters(self) -> int:
        """Parameters a fit updates under the tuning mode (encoder: none, LoRA, or all)."""
        self._check_fitted()
        self._apply_mode()
        return sum(p.numel() for p in self.module_.parameters() if p.requires_grad)
