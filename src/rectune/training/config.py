"""`TrainConfig`: runtime options of a training run, kept apart from model hyperparameters.

A model's config says *what* the model is (factors, regularisation, epochs); the training config
says how this particular run goes: seed, progress display, and for fine-tuning the learning
rate, epochs, schedule and early stopping, which may differ from the parent's.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from rectune.config import ConfigBase


class TrainConfig(ConfigBase):
    """Runtime options of one training or fine-tuning run."""

    seed: int = Field(0, ge=0)
    """Seed of every random choice in the run (initialisation, shuffling, sampling)."""
    progress: bool = False
    """Show a progress bar on long loops (the CLI turns it on)."""
    warn_seconds: float | None = Field(900.0, gt=0)
    """Warn (``logging``, before the bulk of a torch run) when the run is estimated to take
    longer than this (None: never). The estimate times the first few batches."""
    threads: int = Field(0, ge=0)
    """Worker threads for compiled kernels; 0 means all cores."""
    learning_rate: float | None = Field(None, gt=0)
    """Fine-tuning: step size (None: the model's own; fine-tunes usually want a smaller one)."""
    epochs: int | None = Field(None, ge=0)
    """Fine-tuning: passes over the new data (None: the model's own)."""
    schedule: Literal["constant", "cosine", "linear"] = "constant"
    """Learning-rate schedule over the epochs after warm-up."""
    warmup_epochs: int = Field(0, ge=0)
    """Epochs of linear warm-up from 0 to the full learning rate."""
    early_stopping: int | None = Field(None, ge=1)
    """Stop when the validation metric has not improved for this many epochs (None: never)."""
    validation_fraction: float = Field(0.1, gt=0, lt=0.5)
    """Share of the new data held out for early stopping."""
    validation_metric: str = "rmse"
    """Metric watched by early stopping (lower is better for rmse/mae, higher otherwise)."""

    def lr_factor(self, epoch: int, epochs: int) -> float:
        """Multiplier of the learning rate in ``epoch`` (0-based) of ``epochs``."""
        if epoch < self.warmup_epochs:
            return (epoch + 1) / (self.warmup_epochs + 1)
        span = max(epochs - self.warmup_epochs, 1)
        t = (epoch - self.warmup_epochs) / span
        if self.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * t))
        if self.schedule == "linear":
            return 1.0 - t
        return 1.0
