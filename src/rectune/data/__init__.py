"""Data layer: interactions, id maps, loaders, synthetic data."""

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions

__all__ = ["IdMap", "Interactions"]
