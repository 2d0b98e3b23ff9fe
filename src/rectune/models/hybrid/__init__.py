"""Hybrid models: `TextHybrid` (collaborative id vectors and text vectors in one space) and
`ALSText` (ALS whose cold items get factors from a text map trained to rank)."""

from rectune.models.hybrid.als_text import ALSText, ALSTextConfig
from rectune.models.hybrid.config import TextHybridConfig
from rectune.models.hybrid.hybrid import TextHybrid

__all__ = ["ALSText", "ALSTextConfig", "TextHybrid", "TextHybridConfig"]
