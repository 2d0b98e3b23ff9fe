"""The recommendation service: ``rectune serve`` (FastAPI + uvicorn).

`create_app` builds the app over a registry and an event store: recommendations, similar
items, events and item records into the durable store, guarded promotion and rollback,
probes and Prometheus metrics; the served alias is followed and swapped atomically
(`rectune.serving.state`), the updater runs beside it (`rectune.serving.updating`).
`run_server` starts uvicorn with graceful shutdown. It sits above `rectune.online` and
`rectune.models` in the dependency order and below `rectune.cli`.
"""

from __future__ import annotations

from rectune.serving.app import app_from_env, create_app
from rectune.serving.settings import ServeSettings

__all__ = ["ServeSettings", "app_from_env", "create_app"]
