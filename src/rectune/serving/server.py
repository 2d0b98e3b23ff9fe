"""`run_server`: uvicorn for the service, with graceful shutdown, one process or several.

With one worker the app is built here (so a bad setting fails before the port is bound);
with ``workers > 1`` uvicorn starts that many processes, each calling
`rectune.serving.app.app_from_env` with the settings in ``RECTUNE_SERVE`` (the token file's
path travels, never the token). SIGTERM (or Ctrl-C) drains: ``/readyz`` turns 503, the
listening socket closes, requests in flight get ``graceful_seconds`` to finish, the updater
stops after its cycle, the store closes. Access logs are off (``/metrics`` counts requests).
Several workers keep their metrics in a fresh temporary directory (prometheus_client's
multiprocess mode, `rectune.serving.metrics`), removed when the server stops, so that a
scrape of any worker answers for the whole service.
Once the app is built, `rectune.serving.app.settle_process` freezes the objects made so far
out of the garbage collector's reach and shortens the GIL switch interval.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile

from rectune.errors import ConfigError
from rectune.serving.app import create_app, settle_process
from rectune.serving.metrics import MULTIPROC_ENV
from rectune.serving.settings import ENV_VAR, ServeSettings

FACTORY = "rectune.serving.app:app_from_env"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: ServeSettings) -> None:
    """Refuse to bind a non-loopback address without a token (writes would be open)."""
    if settings.token_file is None and not is_loopback(host):
        raise ConfigError(
            f"--host {host}: without --token-file the service binds loopback only "
            "(127.0.0.1, ::1, localhost), because its write routes would be open to anyone"
        )


def preflight(host: str, settings: ServeSettings) -> None:
    """Every check that can fail before the port is bound, each a one-line `RectuneError`:
    the address, the token file, the registry and its alias, the store, the titles' data,
    the MLflow tracking store of the updater's run."""
    from rectune.online.registry import Registry
    from rectune.online.store import EventStore
    from rectune.serving.settings import read_token
    from rectune.serving.titles import load_titles

    check_bind(host, settings)
    read_token(settings.token_file)
    Registry(settings.registry).resolve(settings.alias)
    EventStore(settings.store).close()
    if settings.data is not None:
        load_titles(settings.data)
    if settings.tracking:  # the updater's MLflow run: reach its store now, not minutes later
        from rectune.errors import ConfigError
        from rectune.tracking import TrackingSettings
        from rectune.tracking.runs import check_tracking

        if not settings.update:
            raise ConfigError("--mlflow logs the updater's session, and --no-update runs none")
        check_tracking(TrackingSettings(settings.mlflow_uri, settings.mlflow_experiment))


def run_server(
    settings: ServeSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    """Serve until SIGTERM / SIGINT (see the module docstring)."""
    import uvicorn

    preflight(host, settings)
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    common = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "timeout_graceful_shutdown": settings.graceful_seconds,
        "lifespan": "on",
    }
    if workers == 1:
        app = create_app(settings.registry, settings.store, settings)
        settle_process()
        uvicorn.run(app, **common)
        return
    create_app(settings.registry, settings.store, settings)  # fail here, not in N workers
    os.environ[ENV_VAR] = settings.to_env()
    shared = tempfile.mkdtemp(prefix="rectune-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = shared  # read by prometheus_client in each new worker
    try:
        uvicorn.run(FACTORY, factory=True, workers=workers, **common)
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(shared, ignore_errors=True)
