"""Training settings kept apart from model hyperparameters (seed, progress, fine-tuning)."""

from rectune.training.config import TrainConfig

__all__ = ["TrainConfig"]
