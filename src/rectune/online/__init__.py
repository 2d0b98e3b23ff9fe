"""The live loop: the durable event store, chunked and per-event replay, micro-batch artifact
updates, and the model registry with guarded promotion."""

from __future__ import annotations

from rectune.online.guard import GuardCheck, GuardRule, Promotion, parse_guard
from rectune.online.live import Cycle, Updater
from rectune.online.registry import Registry
from rectune.online.store import EventBatch, EventStore, parse_url
from rectune.online.stream import ChunkResult, ReplayResult, prequential_models, replay
from rectune.online.updater import MicroBatchUpdater, UpdateResult, update_artifact

__all__ = [
    "ChunkResult",
    "Cycle",
    "EventBatch",
    "EventStore",
    "GuardCheck",
    "GuardRule",
    "MicroBatchUpdater",
    "Promotion",
    "Registry",
    "ReplayResult",
    "UpdateResult",
    "Updater",
    "parse_guard",
    "parse_url",
    "prequential_models",
    "replay",
    "update_artifact",
]
