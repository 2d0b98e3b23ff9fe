"""Data layer: interactions, id maps, loaders, synthetic data."""

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions
from rectune.data.loaders import FORMATS, default_data_dir, detect_format, load
from rectune.data.synthetic import checkerboard, generate

__all__ = [
    "FORMATS",
    "IdMap",
    "Interactions",
    "checkerboard",
    "default_data_dir",
    "detect_format",
    "generate",
    "load",
]
