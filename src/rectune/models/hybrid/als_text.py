"""`ALSText`: ALS whose items without interactions get factors from a ranking-trained text map.

The ridge map of ``new_ids="text"`` (`rectune.text.text_init.RidgeMap`) regresses warm items'
factors on their MiniLM embeddings: it fits the factors, not what they are for. Here the map
starts from that least-squares solution and is then trained for the task: with the ALS user
factors held fixed, a linear map plus a small residual MLP of the item's text embedding must
rank each training interaction's item above every other warm item (full softmax over the warm
catalogue). Content-to-collaborative maps of this kind: van den Oord et al. 2013 ("Deep
content-based music recommendation"), Barkan et al. 2019 (CB2CF); trained through the user
factors as in DropoutNet (Volkovs et al. 2017), whose id-less path is exactly this map.

The map's rows are rescaled so that on the warm items' own texts their mean norm equals the warm
factors' (the softmax's free scale would otherwise put every text-only item above every warm
one in a whole-catalogue list). Warm items keep the factors the interactions taught; items that
have text but no interactions
(at `fit`, from ``data.item_text``, and later through `add_items`) get the map's factors. The
map's weights are part of the artifact, so items added after loading use the trained map too.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from rectune.data.interactions import Interactions
from rectune.models.implicit.als import ALS, ALSConfig
from rectune.text.encoder import shared_encoder
from rectune.text.item_text import strip_tags
from rectune.training.config import TrainConfig

logger = logging.getLogger(__name__)


class ALSTextConfig(ALSConfig):
    """`ALS` settings plus the text map's (chosen on the cold-items split of seed 1)."""

    map_epochs: int = Field(3, ge=0)
    """Passes of the ranking loss over the training interactions (0: the ridge map only)."""
    map_hidden: int = Field(256, ge=1)
    """Width of the residual MLP on top of the linear map."""
    map_learning_rate: float = Field(1e-3, gt=0)
    map_batch_size: int = Field(1024, ge=1)
    encoder: str = "minilm"
    """Text encoder (``minilm`` or a local Hugging Face model directory)."""


class ALSText(ALS):
    """ALS + text map trained to rank; cold items are recommendable from their text alone.

    Examples
    --------
    >>> import dataclasses
    >>> from rectune.testing import low_rank
    >>> data = low_rank(30, 20, seed=0)
    >>> text = pd.Series({i: f"item {i} genre {i % 3}" for i in data.item_map.ids})
    >>> model = ALSText(map_epochs=1, epochs=3).fit(data)  # no text: ALS, cold rows zero
    >>> model = ALSText(map_epochs=1, epochs=3).fit(dataclasses.replace(data, item_text=text))
    >>> model.add_items([999], item_text=pd.concat([text, pd.Series({999: "genre 1"})]))
    1
    >>> bool(np.abs(model.item_factors_[-1]).sum() > 0)  # its row comes from the trained map
    True
    """

    name = "als-text"
    config_class = ALSTextConfig
    config: ALSTextConfig
    state_names: ClassVar[tuple[str, ...]] = (
        *ALS.state_names,
        "map_linear",
        "map_hidden_w",
        "map_hidden_b",
        "map_out_w",
        "map_out_b",
        "map_norm",
    )
    fit_settings = ALS.fit_settings
    embeds_item_text = True

    map_linear_: np.ndarray
    """(dim + 1, k): the linear map, last row the intercept."""
    map_hidden_w_: np.ndarray
    map_hidden_b_: np.ndarray
    map_out_w_: np.ndarray
    map_out_b_: np.ndarray
    map_norm_: np.ndarray
    """(1,): rescales the map's rows so that, on the warm items' texts, their mean norm is the
    warm factors' (rankings among text-only items are unchanged; against warm items, a
    text-only item scores like a typical warm one instead of above every one)."""

    # ------------------------------------------------------------------ fit
    def _fit(self, data: Interactions, train: TrainConfig) -> None:
        super()._fit(data, train)
        k = self.config.embedding_size
        self.map_linear_ = np.zeros((1, k), np.float32)  # no text: no map (cold rows = 0)
        self.map_hidden_w_ = np.zeros((0, self.config.map_hidden), np.float32)
        self.map_hidden_b_ = np.zeros(self.config.map_hidden, np.float32)
        self.map_out_w_ = np.zeros((self.config.map_hidden, k), np.float32)
        self.map_out_b_ = np.zeros(k, np.float32)
        self.map_norm_ = np.ones(1, np.float32)
        if data.item_text is not None and len(data.item_text):
            self._train_map(data, train.seed)

    def fit(self, data: Interactions, *, train: TrainConfig | None = None, **kw: Any) -> ALSText:
        """`ALS.fit`, then items of ``data.item_text`` without interactions join from text."""
        super().fit(data, train=train, **kw)
        if data.item_text is not None and len(self.map_hidden_w_):
            ids = np.asarray(data.item_text.index)
            new = ids[self.item_map_.index_of(ids) < 0]
            if len(new):
                self.add_items(new, item_text=data.item_text)
        return self

    def _embed(self, texts: list[str]) -> np.ndarray:
        return shared_encoder(self.config.encoder).encode([strip_tags(t) for t in texts])

    def _train_map(self, data: Interactions, seed: int) -> None:
        import torch

        text = data.item_text
        assert text is not None
        ids = self.item_map_.ids
        has = np.array([i in text.index for i in ids])
        warm = np.flatnonzero(has)
        if len(warm) < 2:
            return
        x = torch.from_numpy(self._embed([str(text[i]) for i in ids[warm]]))
        v = torch.from_numpy(np.ascontiguousarray(self.item_factors_[warm], np.float32))
        u = torch.from_numpy(np.ascontiguousarray(self.user_factors_, np.float32))
        ones = torch.ones(len(warm), 1)
        sol = torch.linalg.lstsq(torch.cat([x, ones], 1).double(), v.double()).solution.float()
        cfg = self.config
        gen = torch.Generator().manual_seed(seed)
        dim, k = x.shape[1], v.shape[1]
        linear = torch.nn.Parameter(sol.clone())
        w1 = torch.nn.Parameter(torch.randn(dim, cfg.map_hidden, generator=gen) / dim**0.5)
        b1 = torch.nn.Parameter(torch.zeros(cfg.map_hidden))
        w2 = torch.nn.Parameter(torch.zeros(cfg.map_hidden, k))
        b2 = torch.nn.Parameter(torch.zeros(k))
        scale = torch.nn.Parameter(torch.tensor(1.0))
        opt = torch.optim.Adam([linear, w1, b1, w2, b2, scale], lr=cfg.map_learning_rate)
        # Training pairs: every (user, warm item with text) of the seen matrix.
        pos = np.full(len(ids), -1, np.int64)
        pos[warm] = np.arange(len(warm))
        coo = self.seen_.tocoo()
        keep = pos[coo.col] >= 0
        users, items = coo.row[keep].astype(np.int64), pos[coo.col[keep]]
        rng = np.random.default_rng([seed, 11])
        xa = torch.cat([x, ones], 1)

        def content() -> torch.Tensor:
            return xa @ linear + torch.nn.functional.gelu(x @ w1 + b1) @ w2 + b2

        for epoch in range(cfg.map_epochs):
            order = rng.permutation(len(users))
            total = 0.0
            for s in range(0, len(order), cfg.map_batch_size):
                b = order[s : s + cfg.map_batch_size]
                logits = scale * (u[users[b]] @ content().T)
                loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(items[b]))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
            logger.info("als-text map epoch %d: loss %.4f", epoch, total / max(len(order), 1))
        self.map_linear_ = linear.detach().numpy().copy()
        self.map_hidden_w_ = w1.detach().numpy().copy()
        self.map_hidden_b_ = b1.detach().numpy().copy()
        self.map_out_w_ = w2.detach().numpy().copy()
        self.map_out_b_ = b2.detach().numpy().copy()
        with torch.no_grad():
            mapped = float(content().norm(dim=1).mean())
        self.map_norm_ = np.array([float(v.norm(dim=1).mean()) / max(mapped, 1e-12)], np.float32)

    # ------------------------------------------------------------------ text items
    def map_text(self, texts: list[str]) -> np.ndarray:
        """Factors the trained map gives these texts (float32, one row each)."""
        if not len(self.map_hidden_w_):
            return np.zeros((len(texts), self.config.embedding_size), np.float32)
        x = self._embed(texts)
        xa = np.hstack([x, np.ones((len(x), 1), np.float32)])
        h = x @ self.map_hidden_w_ + self.map_hidden_b_
        gelu = 0.5 * h * (1.0 + _erf(h / np.sqrt(2.0)))
        rows = xa @ self.map_linear_ + gelu @ self.map_out_w_ + self.map_out_b_
        return (rows * self.map_norm_[0]).astype(np.float32)

    def add_items(self, item_ids: Any, *, item_text: Any = None, **kw: Any) -> int:
        """`Recommender.add_items`; with text (the default start), rows come from the trained
        map instead of a ridge map."""
        n0 = len(self.item_map_)
        added = super().add_items(item_ids, item_text=item_text, **kw)
        if added and item_text is not None and kw.get("new_ids", "text") == "text":
            text = pd.Series(item_text) if not isinstance(item_text, pd.Series) else item_text
            new_ids = self.item_map_.ids[n0:]
            self.item_factors_[n0:] = self.map_text([str(text[i]) for i in new_ids])
            self._invalidate_caches()
        return added


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(x).astype(np.float32)


__all__ = ["ALSText", "ALSTextConfig"]
