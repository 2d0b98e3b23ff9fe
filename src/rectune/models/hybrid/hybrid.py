"""`TextHybrid`: item vectors from interactions and text in one space, a sequential user tower.

Warm items keep what interactions taught, items with text and no interactions get vectors from
their text in the same space, and training teaches the model when to trust which:

- item ``i``'s vector is ``g_i id_i + f(x_i)`` and its bias ``g_i b_i + f_b(x_i)``, where
  ``x_i`` is the frozen encoder's vector of the item text (all-MiniLM-L6-v2 by default, cached)
  plus a sparse TF-IDF bag of its words, genre phrases and decade, ``f`` a small MLP (the
  content tower, as the collaborative-from-content maps of van den Oord et al. 2013, "Deep
  content-based music recommendation", and Barkan et al. 2019, "CB2CF: a neural multiview
  content-to-collaborative filtering model for completely cold item recommendations"), and
  ``g_i`` the id gate: ``n_i / (n_i + id_shrink)`` for an item with ``n_i`` interactions, 0 for
  an item without any;
- at every training step the id part of each item is dropped with probability ``id_dropout``
  (DropoutNet, Volkovs, Yu & Poutanen 2017, "DropoutNet: addressing cold start in recommender
  systems", NeurIPS), so the content part alone must rank the item, and it lands where the
  id part would have put it;
- the user is the last hidden state of a causal transformer over their latest ``max_length``
  items' vectors (SASRec, Kang & McAuley 2018; `rectune.models.neural.SASRec`, whose sequence
  state, windows and updates this model inherits), trained with the full softmax over the
  interacted catalogue at every position (Petrov & Macdonald 2023: better than sampled BCE).
  The bias terms are the popularity prior a thin user falls back on.

Items with text but no interactions join the catalogue at `fit` (every id of the data's
``item_text``) and through `add_items` (``new_ids="text"``): their vector is their content
part, so they are ranked from their text at once. They are left out of the training softmax
(no interaction is no evidence of dislike). Texts lose their ``| tags:`` part (``strip_tags``)
because new items have no user tags yet.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import torch

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.errors import ConfigError
from rectune.models._ranking import cosine_rows
from rectune.models.base import Recommender
from rectune.models.hybrid._module import HybridModule
from rectune.models.hybrid.config import TextHybridConfig
from rectune.models.neural.sasrec import SASRec
from rectune.text.encoder import shared_encoder
from rectune.text.item_text import strip_tags
from rectune.text.tfidf import TokenVocab
from rectune.training.config import TrainConfig
from rectune.training.growth import RowInit
from rectune.training.hooks import FinetuneContext
from rectune.training.torch_trainer import Batch, TorchTrainer

_ENCODE_BATCH = 1024


def texts_of(ids: np.ndarray, item_text: pd.Series | None, strip: bool) -> np.ndarray:
    """Text of each raw id (``item <id>`` where ``item_text`` has none), tags stripped."""
    out = [f"item {i}" for i in ids]
    if item_text is not None and len(ids):
        found = item_text.reindex(pd.Index(ids))
        out = [str(t) if isinstance(t, str) else d for t, d in zip(found, out, strict=True)]
    return np.array([strip_tags(t) if strip else t for t in out], dtype=str)


def _owners(n: np.ndarray, first: np.ndarray, length: int) -> np.ndarray:
    """The sequence of each training window `rectune.models.neural.windows` cuts from
    sequences of ``n`` items whose targets start at ``first`` (the same count per sequence)."""
    ft = np.maximum(first, 1)
    count = np.where(n > ft, -(-(n - ft) // length), 0)
    return np.repeat(np.arange(len(n)), count)


class TextHybrid(SASRec):
    """Hybrid of collaborative id vectors and text vectors (DropoutNet-style), sequential users.

    Examples
    --------
    >>> import pandas as pd
    >>> from rectune.data import Interactions
    >>> text = pd.Series({1: "Alien (1979) | Sci-Fi, Horror", 2: "Aliens (1986) | Sci-Fi",
    ...                   3: "Notting Hill (1999) | Romance", 4: "Love Actually | Romance",
    ...                   5: "Solaris (1972) | Sci-Fi"})
    >>> data = Interactions.from_raw(["a", "a", "b", "b"], [1, 2, 3, 4], [5, 5, 5, 4],
    ...                              item_text=text)
    >>> model = TextHybrid(embedding_size=8, max_length=4, blocks=1, epochs=2).fit(data)
    >>> model.param_groups[:4]
    ('user_factors', 'item_factors', 'item_bias', 'content')
    >>> len(model.item_map_)  # item 5 has text and no interactions: in the catalogue too
    5
    """

    name = "text-hybrid"
    config_class = TextHybridConfig
    config: TextHybridConfig  # type: ignore[assignment]
    state_names: ClassVar[tuple[str, ...]] = ("user_sequence", "item_text", "vocab", "vocab_idf")
    user_tables: ClassVar[tuple[str, ...]] = ("user_factors",)
    item_tables: ClassVar[tuple[str, ...]] = ("item_factors", "item_bias")
    #: New items start from their text: their id rows are zeros (and gated off until they
    #: have interactions); pseudo-labels carry no order and early stopping watches ratings.
    supported_strategies = frozenset(
        {"l2sp", "freeze", "clip_norm", "replay", "schedule", "new_ids=text", "learning_rate",
         "epochs"}
    )  # fmt: skip
    partial_fit_init = "text"
    partial_fit_settings = frozenset({"epochs"})
    add_items_settings = frozenset({"new_ids=text"})
    embeds_item_text = True

    item_text_: np.ndarray
    vocab_: np.ndarray
    vocab_idf_: np.ndarray
    _vocab: TokenVocab | None = None
    _features_of: np.ndarray | None = None
    """The texts the module's text buffers were computed from."""
    _item_cache: np.ndarray | None = None
    _owner: np.ndarray
    """The user of each pending training window."""
    epoch_seconds_: list[float]
    """Wall time of each training epoch since the module was built."""

    # ------------------------------------------------------------------ catalogue
    def _prepare(self, data: Interactions) -> Interactions:
        """Base state, then every item of the data's ``item_text`` joins the catalogue."""
        local = Recommender._prepare(self, data)
        if data.item_text is not None:
            n0 = len(self.item_map_)
            self.item_map_.add(np.asarray(data.item_text.index))
            extra = len(self.item_map_) - n0
            if extra:
                self.seen_.resize((self.seen_.shape[0], len(self.item_map_)))
                self.item_popularity_ = np.concatenate([self.item_popularity_, np.zeros(extra)])
        self.item_text_ = texts_of(self.item_map_.ids, data.item_text, self.config.strip_tags)
        vocab = TokenVocab(np.zeros(0, dtype=str), np.zeros(0))
        if self.config.token_features:
            vocab = TokenVocab.build(list(self.item_text_), self.config.max_tokens)
        self.vocab_, self.vocab_idf_ = vocab.tokens, vocab.idf
        self._vocab = vocab
        return local

    def _grow(
        self, local: Interactions, new_users: np.ndarray, new_items: np.ndarray, init: RowInit
    ) -> None:
        """New items: zero id rows (gated off until they have interactions) and their text."""
        n0 = init.n_items0
        if len(new_items):
            for name in self.item_tables:
                table: torch.nn.Embedding = getattr(self.module_, name)
                weight = table.weight.detach()[:n0]
                pad = torch.zeros(len(self.item_map_) - n0, weight.shape[1])
                grown = torch.nn.Embedding.from_pretrained(torch.cat([weight, pad]), freeze=False)
                setattr(self.module_, name, grown)
            extra = self.item_map_.ids[len(self.item_text_) :]
            texts = texts_of(extra, local.item_text, self.config.strip_tags)
            self.item_text_ = np.concatenate([self.item_text_, texts])
        if len(new_users):  # new users' lasting taste starts at the known users' mean
            table = self.module_.user_factors.weight.detach()
            pad = table[: init.n_users0].mean(0, keepdim=True).expand(len(new_users), -1)
            grown = torch.nn.Embedding.from_pretrained(torch.cat([table, pad]), freeze=False)
            self.module_.user_factors = grown
        pad_users = np.full((len(new_users), self.config.max_length), -1, np.int64)
        self.user_sequence_ = np.concatenate([self.user_sequence_, pad_users])
        self._refresh()

    # ------------------------------------------------------------------ module
    def _build_module(self, n_users: int, n_items: int) -> torch.nn.Module:
        cfg = self.config
        if cfg.embedding_size % cfg.heads:
            raise ConfigError("text-hybrid: heads must divide embedding_size")
        if self._vocab is None or len(self._vocab) != len(self.vocab_):
            self._vocab = TokenVocab(np.asarray(self.vocab_), np.asarray(self.vocab_idf_))
        dim = self._encoder().dim
        self._features_of = None
        self.epoch_seconds_ = []
        return HybridModule(len(self.user_map_), len(self.item_map_), dim, len(self._vocab), cfg)

    def _encoder(self):  # type: ignore[no-untyped-def]
        return shared_encoder(self.config.encoder, max_length=self.config.text_length)

    def _refresh(self) -> None:
        """Text buffers (encoder vectors, token bags) and id gates from the current state."""
        m: HybridModule = self.module_  # type: ignore[assignment]
        texts = [str(t) for t in self.item_text_]
        if (
            self._features_of is None
            or len(self._features_of) != len(texts)
            or not np.array_equal(self._features_of, self.item_text_)
        ):
            m.text_x = torch.from_numpy(self._encoder().encode(texts))
            assert self._vocab is not None
            m.bags = self._vocab.bags(texts) if m.has_tokens else None
            self._features_of = self.item_text_.copy()
        counts = np.bincount(self.seen_.indices, minlength=len(self.item_map_)).astype(np.float32)
        shrink = float(self.config.id_shrink)
        gate = (counts > 0).astype(np.float32) if shrink == 0 else counts / (counts + shrink)
        m.gate = torch.from_numpy(gate.astype(np.float32))
        self._cache = self._item_cache = None

    def start_training(self, data: Interactions, train: TrainConfig) -> TorchTrainer:
        trainer = super().start_training(data, train)
        self._refresh()
        return trainer

    @contextmanager
    def epoch_scope(self, trainer: TorchTrainer) -> Iterator[None]:
        """Gates from the current counts (an update's new items have interactions now); the
        epoch's wall time goes to ``epoch_seconds_``."""
        self._refresh()
        t0 = time.perf_counter()
        yield
        self.epoch_seconds_.append(time.perf_counter() - t0)

    # ------------------------------------------------------------------ windows' users
    def _prepare_training(self, data: Interactions, train: TrainConfig) -> None:
        super()._prepare_training(data, train)
        counts = np.bincount(data.users, minlength=data.n_users)
        self._owner = _owners(counts, np.ones(len(counts), np.int64), self.config.max_length)

    def _extend(self, rows: Interactions) -> tuple[np.ndarray, np.ndarray]:
        touched = np.unique(rows.users)
        n_ctx = (self.user_sequence_[touched] >= 0).sum(axis=1)
        n = n_ctx + np.bincount(np.searchsorted(touched, rows.users), minlength=len(touched))
        self._owner = touched[_owners(n, n_ctx, self.config.max_length)]
        return super()._extend(rows)

    def _finetune_begin(self, ctx: FinetuneContext) -> None:
        super()._finetune_begin(ctx)  # windows of the new rows (`_extend`), then replayed users
        new_users = ctx.data.users[: ctx.n_new_rows]
        old = np.setdiff1d(np.unique(ctx.data.users[ctx.n_new_rows :]), new_users)
        n = (self.user_sequence_[old] >= 0).sum(axis=1)
        more = old[_owners(n, np.ones(len(n), np.int64), self.config.max_length)]
        self._owner = np.concatenate([self._owner, more])

    # ------------------------------------------------------------------ training
    def epoch_arrays(self, data: Interactions, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Windows, and each window's share of its batch's uniform negatives (items with
        interactions only)."""
        if self._pending is None:
            raise RuntimeError("text-hybrid windows are prepared by fit/finetune/partial_fit")
        inp, tgt = self._pending
        assert len(self._owner) == len(inp)
        arrays = {"seq": inp, "target": tgt, "user": self._owner.astype(np.int64)}
        warm = np.flatnonzero(self.module_.gate.numpy() > 0)  # type: ignore[operator]
        k = self.config.negatives
        if k is not None and k < len(warm):
            per = -(-k // self.batch_size())
            arrays["negatives"] = warm[rng.integers(0, len(warm), (len(inp), per))]
        return arrays

    def batch_loss(self, batch: Batch, forward: torch.nn.Module) -> torch.Tensor:
        """Softmax cross-entropy of every position's next item: over every item with
        interactions, or (``negatives``) over the target and the batch's sampled negatives."""
        seq, tgt = batch["seq"], batch["target"]
        valid = tgt >= 0
        if "negatives" not in batch:
            h, vec, bias = forward(seq, batch["user"])
            logits = h[valid] @ vec.T + bias
            gate = self.module_.gate  # type: ignore[union-attr]
            logits = logits.masked_fill((gate <= 0)[None, :], float("-inf"))
            return torch.nn.functional.cross_entropy(logits, tgt[valid])
        neg = torch.unique(batch["negatives"])
        need = torch.unique(torch.cat([seq[seq >= 0], tgt[valid], neg]))
        local = torch.where(seq >= 0, torch.searchsorted(need, seq.clamp(min=0)), -1)
        h, vec, bias = forward(local, batch["user"], need)
        h = h[valid]
        t = torch.searchsorted(need, tgt[valid])
        n = torch.searchsorted(need, neg)
        pos = (h * vec[t]).sum(-1, keepdim=True) + bias[t, None]
        logits = h @ vec[n].T + bias[n]
        logits = logits.masked_fill(neg[None, :] == tgt[valid][:, None], float("-inf"))
        full = torch.cat([pos, logits], 1)
        return torch.nn.functional.cross_entropy(full, torch.zeros(len(h), dtype=torch.long))

    # ------------------------------------------------------------------ scoring
    def _item_vectors(self) -> np.ndarray:
        """(n_items, d + 1): item vectors with the bias as the last column (cached)."""
        if self._item_cache is None:
            self.module_.eval()
            with torch.no_grad():
                vec, bias = self.module_.item_table()  # type: ignore[operator]
            self._item_cache = torch.cat([vec, bias[:, None]], 1).double().numpy()
        return self._item_cache

    def _user_vectors(self) -> np.ndarray:
        """Last hidden state of every user's sequence, with a 1 for the item bias (cached)."""
        if self._cache is None:
            table = torch.from_numpy(self._item_vectors()[:, :-1].astype(np.float32))
            self.module_.eval()
            parts = [np.zeros((0, self.config.embedding_size + 1))]
            with torch.no_grad():
                for s in range(0, len(self.user_sequence_), _ENCODE_BATCH):
                    seq = torch.from_numpy(self.user_sequence_[s : s + _ENCODE_BATCH])
                    h = self.module_.encode(seq, table)[:, -1]  # type: ignore[operator]
                    users = torch.arange(s, s + len(seq))
                    h = (h + self.module_.user_factors(users)).double().numpy()  # type: ignore[operator]
                    parts.append(np.column_stack([h, np.ones(len(h))]))
            self._cache = np.concatenate(parts)
        return self._cache

    def _item_table(self) -> np.ndarray:
        return self._item_vectors()

    def _forward_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u = torch.from_numpy(self._user_vectors()[users.numpy()])
        return (u * torch.from_numpy(self._item_vectors()[items.numpy()])).sum(-1)

    def _item_similarities(self, items: np.ndarray) -> np.ndarray:
        """Cosine of the item vectors (id and content parts, no bias)."""
        return cosine_rows(self._item_vectors()[:, :-1], items)

    def item_vectors(self, items: Any) -> np.ndarray:
        """Item vectors of raw item ids (unknown ids: zeros)."""
        self._check_fitted()
        idx = self.item_map_.index_of(items)
        table = self._item_vectors()[:, :-1]
        out = np.zeros((len(idx), table.shape[1]))
        out[idx >= 0] = table[idx[idx >= 0]]
        return out

    def _after_load(self) -> None:
        self._refresh()

    def _restore_state(self, state: dict[str, Any]) -> None:
        super()._restore_state(state)
        self._refresh()

    def trainable_parameters(self) -> int:
        """Parameters a fit updates (the encoder is frozen: none of its weights)."""
        self._check_fitted()
        return sum(p.numel() for p in self.module_.parameters() if p.requires_grad)

    # ------------------------------------------------------------------ state
    def set_state(
        self, state: Mapping[str, np.ndarray], user_map: IdMap, item_map: IdMap, kind: str
    ) -> Self:
        self.vocab_, self.vocab_idf_ = state["vocab"], state["vocab_idf"]
        self._vocab = None
        self.user_map_, self.item_map_ = user_map, item_map
        self.item_text_ = np.asarray(state["item_text"])
        return super().set_state(state, user_map, item_map, kind)
