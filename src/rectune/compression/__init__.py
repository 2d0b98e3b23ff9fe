"""Smaller models for serving: int8 / fp16 tables, pruning, distillation (``rectune compress``).

A compressed model is an ordinary `Recommender`: it saves to an ordinary artifact (its arrays
stored as `rectune.registry.codecs` says, recorded in ``config.json``), which `rectune.load`
reads back, the service serves, and fine-tuning and updates continue from (on the dequantized
float values; a child trained since is saved in float, its lineage naming the compressed
parent). Each artifact's ``metrics.json`` holds ``{"compression": {method, bytes_before,
bytes_after, ...}}`` and its lineage names the original.
"""

from __future__ import annotations

from rectune.compression._record import METHODS, PRUNE_MODELS, TABLE_MODELS
from rectune.compression.api import compress, compress_artifact, directory_bytes

__all__ = [
    "METHODS",
    "PRUNE_MODELS",
    "TABLE_MODELS",
    "compress",
    "compress_artifact",
    "directory_bytes",
]
