"""Streams of events: chunked and per-event replay, and micro-batch artifact updates."""

from __future__ import annotations

from rectune.online.stream import ChunkResult, ReplayResult, prequential_models, replay
from rectune.online.updater import MicroBatchUpdater, UpdateResult, update_artifact

__all__ = [
    "ChunkResult",
    "MicroBatchUpdater",
    "ReplayResult",
    "UpdateResult",
    "prequential_models",
    "replay",
    "update_artifact",
]
