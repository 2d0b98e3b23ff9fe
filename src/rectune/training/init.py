"""Initial rows for users and items a fine-tune or update meets for the first time.

``zeros`` and ``mean`` need nothing; ``features`` fits a ridge regression from side features to
the rows of known entities (Gantner et al. 2010, "Learning attribute-to-feature mappings for
cold-start recommendations"); ``neighbors`` averages the rows of the known entities that share
the most interactions with the new one; ``text`` maps item text embeddings to rows by a ridge
fitted on the known items (`rectune.text.text_init`). Users have no text: under ``text`` new
users start from the ``mean`` of the known users.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from rectune.errors import ConfigError


def init_rows(
    method: str,
    known: np.ndarray,
    n_new: int,
    *,
    features: pd.DataFrame | None = None,
    known_ids: np.ndarray | None = None,
    new_ids: np.ndarray | None = None,
    overlap: sp.csr_matrix | None = None,
    neighbors: int = 10,
    what: str = "user",
    texts: pd.Series | None = None,
    text_encoder: str = "minilm",
) -> np.ndarray:
    """Rows for ``n_new`` new entities given the ``known`` rows (first axis = entity).

    ``texts`` (raw item id -> text, `Interactions.item_text`) and ``text_encoder`` (a
    `TextEncoder` name or local model directory) serve ``method="text"``.
    """
    shape = (n_new, *known.shape[1:])
    if n_new == 0:
        return np.zeros(shape, dtype=known.dtype)
    if method == "zeros" or len(known) == 0:
        return np.zeros(shape, dtype=known.dtype)
    if method == "mean":
        return np.broadcast_to(known.mean(axis=0), shape).astype(known.dtype)
    if method == "features":
        if features is None or known_ids is None or new_ids is None:
            raise ConfigError(f"new_ids=features needs {what} features in the data; there are none")
        return _from_features(known, features, known_ids, new_ids).astype(known.dtype)
    if method == "neighbors":
        if overlap is None:
            raise ConfigError(f"new_ids=neighbors needs interactions of the new {what}s")
        return _from_neighbors(known, overlap, neighbors).astype(known.dtype)
    if method == "text":
        if what != "item":
            return np.broadcast_to(known.mean(axis=0), shape).astype(known.dtype)
        if known_ids is None or new_ids is None:
            raise ConfigError("new_ids=text needs the raw ids of the known and new items")
        from rectune.text.text_init import text_rows

        rows = text_rows(known, texts, known_ids, new_ids, encoder=text_encoder)
        return rows.astype(known.dtype)
    raise ConfigError(f"unknown new_ids method {method!r}")


def feature_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric design matrix: numbers standardised (NaN -> 0), categories one-hot."""
    cols = []
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            x = col.astype(float)
            sd = x.std()
            x = (x - x.mean()) / (sd if sd and np.isfinite(sd) else 1.0)
            cols.append(x.fillna(0.0).rename(name))
        else:
            cols.append(pd.get_dummies(col.astype(str), prefix=name, dtype=float))
    return pd.concat(cols, axis=1) if cols else pd.DataFrame(index=frame.index)


def _from_features(
    known: np.ndarray,
    features: pd.DataFrame,
    known_ids: np.ndarray,
    new_ids: np.ndarray,
    reg: float = 1.0,
) -> np.ndarray:
    design = feature_matrix(features)
    x_known = design.reindex(pd.Index(known_ids)).to_numpy(dtype=float)
    x_new = design.reindex(pd.Index(new_ids)).to_numpy(dtype=float)
    have = ~np.isnan(x_known).any(axis=1)
    if have.sum() < 2:
        raise ConfigError("new_ids=features: fewer than two known rows have side features")
    x_known = np.nan_to_num(x_known[have])
    x_new = np.nan_to_num(x_new)
    target = known.reshape(len(known), -1)[have].astype(float)
    x1 = np.column_stack([np.ones(len(x_known)), x_known])
    penalty = reg * np.eye(x1.shape[1])
    penalty[0, 0] = 0.0
    w = np.linalg.solve(x1.T @ x1 + penalty, x1.T @ target)
    out = np.column_stack([np.ones(len(x_new)), x_new]) @ w
    return out.reshape(len(x_new), *known.shape[1:])


def _from_neighbors(known: np.ndarray, overlap: sp.csr_matrix, k: int) -> np.ndarray:
    """Average of the ``k`` known rows with most overlap (rows of ``overlap``: new entities)."""
    out = np.empty((overlap.shape[0], *known.shape[1:]), dtype=float)
    mean = known.mean(axis=0)
    for r in range(overlap.shape[0]):
        lo, hi = overlap.indptr[r], overlap.indptr[r + 1]
        if hi == lo:
            out[r] = mean
            continue
        cols, vals = overlap.indices[lo:hi], overlap.data[lo:hi]
        top = cols[np.argsort(-vals, kind="stable")[:k]]
        out[r] = known[top].mean(axis=0)
    return out
