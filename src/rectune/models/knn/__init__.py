"""Neighbourhood models: `UserKNN`, `ItemKNN` (Surprise's KNN family, implicit's item-item) and
`ContentKNN` (TF-IDF over item text)."""

from rectune.models.knn.config import ItemKNNConfig, KNNConfig, UserKNNConfig
from rectune.models.knn.content_knn import ContentKNN, ContentKNNConfig
from rectune.models.knn.knn import ItemKNN, KNNBase, UserKNN

__all__ = [
    "ContentKNN",
    "ContentKNNConfig",
    "ItemKNN",
    "ItemKNNConfig",
    "KNNBase",
    "KNNConfig",
    "UserKNN",
    "UserKNNConfig",
]
