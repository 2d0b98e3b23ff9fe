"""The text recommender: a two-tower model over item text (frozen encoder, LoRA or full)."""

from rectune.models.text.config import TextRecommenderConfig
from rectune.models.text.text_rec import TextRecommender

__all__ = ["TextRecommender", "TextRecommenderConfig"]
