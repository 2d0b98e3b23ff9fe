"""Training settings kept apart from model hyperparameters, and fine-tuning strategies."""

from rectune.training.config import TrainConfig
from rectune.training.strategy import PRESETS, FinetuneStrategy

__all__ = ["PRESETS", "FinetuneStrategy", "TrainConfig"]
