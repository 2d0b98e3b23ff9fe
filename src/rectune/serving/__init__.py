"""The recommendation service (filled by the next issues; empty on purpose for now).

It will hold the FastAPI app factory, its routes (``POST /v1/events``, ``GET /v1/recommend``,
``/metrics``), request and response schemas, and the dashboard: the live loop of DESIGN.md,
serving the registry's champion artifact and feeding events to the same updater
`rectune replay` runs. It sits above `rectune.models`, `rectune.online` and
`rectune.registry` in the dependency order and below `rectune.cli`.
"""
