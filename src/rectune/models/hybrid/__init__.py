"""Hybrid models: `TextHybrid` (collaborative id vectors and text vectors in one space)."""

from rectune.models.hybrid.config import TextHybridConfig
from rectune.models.hybrid.hybrid import TextHybrid

__all__ = ["TextHybrid", "TextHybridConfig"]
