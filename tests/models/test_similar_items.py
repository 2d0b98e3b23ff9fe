"""`similar_items`: batch-first, best first, from each model's item factors or similarities."""

from __future__ import annotations

import numpy as np
import pytest

from rectune.errors import ConfigError
from rectune.models import SVD, ItemKNN, Popularity
from rectune.testing import two_clusters


def test_factor_model_ranks_by_cosine_of_item_factors() -> None:
    data = two_clusters()
    model = SVD(embedding_size=4, epochs=5).fit(data)
    items = model.item_map_.ids[:3]
    ids, scores = model.similar_items(items, n=5)
    q = model.item_factors_.astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    for row in range(3):
        cos = q @ q[row]
        cos[row] = -np.inf
        want = np.argsort(-cos, kind="stable")[:5]
        np.testing.assert_array_equal(ids[row], model.item_map_.ids[want])
        np.testing.assert_allclose(scores[row], cos[want], rtol=1e-6)


def test_item_knn_uses_its_similarity_matrix() -> None:
    data = two_clusters()
    model = ItemKNN(similarity="cosine", centering="mean").fit(data)
    _, scores = model.similar_items(model.item_map_.ids[:1], n=3)
    sim = model.similarity_[:, 0].astype(np.float64)
    sim[0] = -np.inf
    np.testing.assert_allclose(scores[0], np.sort(sim)[::-1][:3], rtol=1e-6)


def test_unknown_items_get_empty_rows_and_models_without_similarities_say_so() -> None:
    data = two_clusters()
    ids, scores = SVD(embedding_size=4, epochs=2).fit(data).similar_items(["nope"], n=2)
    assert ids.shape == (1, 2) and np.all(np.isneginf(scores))
    with pytest.raises(ConfigError, match="popularity has no item similarities"):
        Popularity().fit(data).similar_items(data.item_ids[:1])
