"""Baselines: `Popularity`, the bias model `Baseline`, and `Blend`, a ridge stack of models."""

from rectune.models.baselines.baseline import Baseline, BaselineConfig, bias_fallback, fit_biases
from rectune.models.baselines.blend import Blend, BlendConfig
from rectune.models.baselines.popularity import Popularity, PopularityConfig

__all__ = [
    "Baseline",
    "BaselineConfig",
    "Blend",
    "BlendConfig",
    "Popularity",
    "PopularityConfig",
    "bias_fallback",
    "fit_biases",
]
