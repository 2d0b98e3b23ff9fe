"""Hyperparameter search (Optuna): `tune`, search spaces and the best config as TOML.

Examples
--------
>>> from rectune.testing import low_rank
>>> space = SearchSpace.from_dict({"params": {"reg": {"type": "float", "low": 0.001,
...     "high": 1.0, "log": True}}, "fixed": {"embedding_size": 4, "epochs": 3}})
>>> res = tune("svd", low_rank(), space, trials=2, metric="rmse")
>>> len(res.trials), sorted(res.test)
(2, ['default', 'tuned'])
"""

from __future__ import annotations

from rectune.tuning.result import TuneResult, best_toml
from rectune.tuning.space import Param, SearchSpace
from rectune.tuning.tuner import SINGLE_SPLITS, lower_is_better, tune, write_best_toml

__all__ = [
    "SINGLE_SPLITS",
    "Param",
    "SearchSpace",
    "TuneResult",
    "best_toml",
    "lower_is_better",
    "tune",
    "write_best_toml",
]
