"""Torch models: the `TorchRecommender` base, `NCF` (NeuMF), `TwoTower` and `SASRec`."""

from rectune.models.neural.ncf import NCF, NCFConfig
from rectune.models.neural.sasrec import SASRec, SASRecConfig, windows
from rectune.models.neural.torch_base import TORCH_STRATEGIES, TorchRecommender
from rectune.models.neural.two_tower import TwoTower, TwoTowerConfig

__all__ = [
    "NCF",
    "TORCH_STRATEGIES",
    "NCFConfig",
    "SASRec",
    "SASRecConfig",
    "TorchRecommender",
    "TwoTower",
    "TwoTowerConfig",
    "windows",
]
