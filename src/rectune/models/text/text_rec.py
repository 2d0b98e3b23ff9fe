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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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
from rectune.models.text.config import TextRecommenderConfig
from rectune.text.encoder import TextEncoder, resolve_encoder, shared_encoder
from rectune.text.tfidf import TokenVocab
from rectune.training.config import TrainConfig
from rectune.training.growth import RowInit
from rectune.training.hooks import FinetuneContext
from rectune.training.progress import Bar
from rectune.training.strategy import FinetuneStrategy
from rectune.training.torch_loop import monitor_run, run_epoch, train_epochs
from rectune.training.torch_trainer import Batch, TorchTrainer


class TextRecommender(TorchRecommender):
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
