"""The live loop: the durable event store, stream replay and micro-batch artifact updates."""

from __future__ import annotations

from rectune.online.store import EventBatch, EventStore, parse_url
from rectune.online.stream import ChunkResult, ReplayResult, prequential_models, replay
from rectune.online.updater import MicroBatchUpdater, UpdateResult, update_artifact

__all__ = [
    "ChunkResult",
    "EventBatch",
    "EventStore",
    "MicroBatchUpdater",
    "ReplayResult",
    "UpdateResult",
    "parse_url",
    "prequential_models",
    "replay",
    "update_artifact",
]
