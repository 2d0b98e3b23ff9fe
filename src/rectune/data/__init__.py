"""Data layer: interactions, id maps, loaders, synthetic data."""

from rectune.data.idmap import IdMap
from rectune.data.interactions import Interactions, check_interactions
from rectune.data.loaders import FORMATS, default_data_dir, detect_format, load
from rectune.data.synthetic import checkerboard, generate
from rectune.data.validate import check_event, check_events

__all__ = [
    "FORMATS",
    "IdMap",
    "Interactions",
    "check_event",
    "check_events",
    "check_interactions",
    "checkerboard",
    "default_data_dir",
    "detect_format",
    "generate",
    "load",
]
