"""`TrainConfig`: runtime training options kept apart from a model's hyperparameters.

A model's config says *what* the model is (factors, regularisation, epochs); the training config
says how this particular run goes (seed, progress display, later: fine-tuning settings). Two runs
of the same model config with different training configs produce comparable artifacts.
"""

from __future__ import annotations

from pydantic import Field

from rectune.config import ConfigBase


class TrainConfig(ConfigBase):
    """Runtime options of one training run."""

    seed: int = Field(0, ge=0)
    """Seed of every random choice in the run (initialisation, shuffling, sampling)."""

    progress: bool = False
    """Show a progress bar on long loops (the CLI turns it on)."""

    threads: int = Field(0, ge=0)
    """Worker threads for compiled kernels; 0 means all cores."""
