"""Text to factors: start new items' rows from a ridge map of their text embeddings.

Warm items have both a text and learned rows (factors, biases); a ridge regression fitted from
their text embeddings to those rows predicts rows for new items from their text alone, the
attribute-to-feature mapping of Gantner et al. (2010, "Learning attribute-to-feature mappings
for cold-start recommendations", ICDM) with sentence embeddings as attributes (as in van den
Oord et al. 2013, "Deep content-based music recommendation", regressing latent factors from
content). The ridge penalty is chosen by leave-one-out cross-validation over a log grid (exact
residuals for every penalty from one SVD, as in Golub, Heath & Wahba 1979).

Texts are embedded by the process-wide `TextEncoder` of the encoder (`get_encoder`, i.e.
`rectune.text.encoder.shared_encoder`), so its hash cache makes repeated growth (a stream of
updates) re-encode only texts it never saw.
User tags are stripped from every text before embedding (`strip_tags`): new items have none at
launch, and a map fitted on tagged warm texts would not transfer to them.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from rectune.errors import ConfigError
from rectune.text.encoder import TextEncoder, shared_encoder
from rectune.text.item_text import strip_tags

logger = logging.getLogger(__name__)

#: Ridge penalties tried by leave-one-out cross-validation (embeddings are unit vectors).
REG_GRID = tuple(10.0 ** np.arange(-3, 3.5, 0.5))
#: Wider targets (EASE's weight columns: one output per known item) choose the penalty on
#: this many evenly spaced outputs, so the search costs the same whatever the width.
LOO_OUTPUTS = 256


def get_encoder(name_or_path: str = "minilm") -> TextEncoder:
    """The process-wide `TextEncoder` for ``name_or_path`` (its embedding cache is shared)."""
    return shared_encoder(name_or_path)


class RidgeMap:
    """Multi-output ridge regression, unpenalised intercept, penalty chosen by leave-one-out.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 5))
    >>> y = x @ rng.normal(size=(5, 3)) + 1.0
    >>> m = RidgeMap().fit(x, y)
    >>> bool(np.abs(m.predict(x[:4]) - y[:4]).max() < 0.05)
    True
    """

    def __init__(self, reg: float | None = None) -> None:
        self.reg = reg

    def fit(self, x: np.ndarray, y: np.ndarray) -> RidgeMap:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(len(x), -1)
        self.x_mean_, self.y_mean_ = x.mean(axis=0), y.mean(axis=0)
        xc, yc = x - self.x_mean_, y - self.y_mean_
        u, s, vt = np.linalg.svd(xc, full_matrices=False)
        uty = u.T @ yc
        s2 = s**2
        reg = self.reg
        if reg is None:
            best = np.inf
            y_loo, uty_loo = yc, uty
            if yc.shape[1] > LOO_OUTPUTS:
                pick = np.linspace(0, yc.shape[1] - 1, LOO_OUTPUTS).round().astype(np.int64)
                y_loo, uty_loo = yc[:, pick], uty[:, pick]
            for lam in REG_GRID:
                shrink = s2 / (s2 + lam)
                fitted = u @ (shrink[:, None] * uty_loo)
                hat = 1.0 / len(x) + (u**2) @ shrink  # the intercept's leverage included
                loo = (y_loo - fitted) / np.maximum(1.0 - hat, 1e-9)[:, None]
                err = float(np.mean(loo**2))
                if err < best:
                    best, reg = err, lam
        assert reg is not None
        self.reg_ = float(reg)
        self.coef_ = vt.T @ ((s / (s2 + self.reg_))[:, None] * uty)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.x_mean_) @ self.coef_ + self.y_mean_


def text_rows(
    known: np.ndarray,
    item_text: pd.Series | None,
    known_ids: np.ndarray,
    new_ids: np.ndarray,
    *,
    encoder: str = "minilm",
    reg: float | None = None,
) -> np.ndarray:
    """Rows for ``new_ids`` mapped from their text by a ridge fitted on the ``known`` rows.

    Parameters
    ----------
    known
        Learned rows of the known items (first axis: item, in ``known_ids`` order).
    item_text
        Raw item id -> text, covering known and new items (`Interactions.item_text`).
    known_ids, new_ids
        Raw ids of the known rows and of the rows to start.
    encoder
        `TextEncoder` name or local model directory.
    reg
        Ridge penalty (None: chosen by leave-one-out cross-validation).

    Returns
    -------
    numpy.ndarray
        ``(len(new_ids), *known.shape[1:])``; new items without text get the known rows' mean.
    """
    if item_text is None or not len(item_text):
        raise ConfigError("new_ids=text needs item text in the data (Interactions.item_text)")
    k_text = _texts(item_text, known_ids)
    n_text = _texts(item_text, new_ids)
    have_k = np.array([t is not None for t in k_text])
    have_n = np.array([t is not None for t in n_text])
    if have_k.sum() < 2:
        raise ConfigError("new_ids=text: fewer than two known items have text")
    target = known.reshape(len(known), -1).astype(np.float64)
    out = np.broadcast_to(target.mean(axis=0), (len(new_ids), target.shape[1])).copy()
    if have_n.any():
        enc = get_encoder(encoder)
        emb_k = enc.encode([t for t in k_text if t is not None])
        emb_n = enc.encode([t for t in n_text if t is not None])
        ridge = RidgeMap(reg).fit(emb_k, target[have_k])
        out[have_n] = ridge.predict(emb_n)
        logger.debug(
            "new_ids=text: %d new rows from %d known (ridge %.3g)",
            int(have_n.sum()),
            int(have_k.sum()),
            ridge.reg_,
        )
    return out.reshape(len(new_ids), *known.shape[1:])


def _texts(item_text: pd.Series, ids: np.ndarray) -> list[str | None]:
    found = item_text.reindex(pd.Index(ids)).to_numpy(dtype=object)
    return [strip_tags(t) if isinstance(t, str) and t.strip() else None for t in found]


__all__ = ["LOO_OUTPUTS", "REG_GRID", "RidgeMap", "get_encoder", "text_rows"]
