"""``rectune serve``: the registry's champion over HTTP, events into the store, the updater.

::

    rectune serve --registry REG [--store URL] [--host 127.0.0.1] [--port 8000]
                  [--token-file FILE] [--workers N] [--no-update]
                  [--every-events N] [--every-seconds T] [--data DIR]
                  [--mlflow] [--mlflow-uri URI] [--mlflow-experiment NAME]
    rectune serve --demo [--data DIR] [--demo-seconds 40] [--keep-serving]

``--data DIR``: a dataset whose item text gives the dashboard its titles. ``--mlflow*``: the
updater's session is one MLflow run with a step per cycle (`rectune.tracking.record`).
``--demo`` runs the whole life on the embedded default (`rectune.serving.demo`): it trains
SVD on ``--data`` (or synthetic data), makes a registry (in ``--registry`` or a temporary
directory), serves it on SQLite on loopback with the updater on, streams the newer events in
over HTTP and prints the dashboard URL and every promotion.

The default store is ``sqlite:///REG/events.db`` (created on first use). Every write route
needs ``Authorization: Bearer <token>`` with the token in ``--token-file``; without a token
the service refuses any ``--host`` but loopback. ``--workers N`` runs N processes sharing the
registry and the store: one of them runs the updater, all follow its promotions. SIGTERM
drains the requests in flight (10 s at most) and stops. A bad setting exits 2 with one line.
The dashboard is at ``/``; ``--data DIR`` (a dataset with item text, such as MovieLens) gives
it item titles.
"""

from __future__ import annotations

import typer

from rectune.cli._common import user_errors
from rectune.cli._tracking import MLFLOW, MLFLOW_EXPERIMENT, MLFLOW_URI


def serve(
    registry: str | None = typer.Option(
        None, "--registry", help="Registry directory to serve (--demo: where to make one)."
    ),
    store: str | None = typer.Option(
        None, "--store", help="Event store URL (default: sqlite:///REG/events.db)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8000, "--port", help="Port to bind.", min=0, max=65535),
    token_file: str | None = typer.Option(
        None, "--token-file", help="File holding the bearer token the write routes require."
    ),
    workers: int = typer.Option(1, "--workers", help="Server processes.", min=1),
    no_update: bool = typer.Option(
        False, "--no-update", help="Do not run the updater (serve and follow promotions only)."
    ),
    every_events: int = typer.Option(
        1000, "--every-events", help="Updater: a cycle once this many events wait.", min=1
    ),
    every_seconds: float = typer.Option(
        10.0, "--every-seconds", help="Updater: or once the oldest has waited this long."
    ),
    data: str | None = typer.Option(
        None,
        "--data",
        help="Dataset directory: the dashboard's titles (--demo: the data, default synthetic).",
    ),
    demo: bool = typer.Option(
        False, "--demo", help="Train, serve on SQLite, stream events in, show the updates."
    ),
    demo_seconds: float = typer.Option(40.0, "--demo-seconds", help="--demo: stream this long."),
    keep_serving: bool = typer.Option(
        False, "--keep-serving", help="--demo: keep serving after the stream (Ctrl-C stops)."
    ),
    mlflow: bool = MLFLOW,
    mlflow_uri: str | None = MLFLOW_URI,
    mlflow_experiment: str | None = MLFLOW_EXPERIMENT,
) -> None:
    """Serve recommendations and take events over HTTP (FastAPI + uvicorn)."""
    from rectune.serving.server import preflight, run_server
    from rectune.serving.settings import ServeSettings, default_store_url

    if demo:
        _demo(registry, data, demo_seconds, port if port != 8000 else 0, keep_serving)
        return
    with user_errors():
        if registry is None:
            from rectune.errors import ConfigError

            raise ConfigError("--registry REG is required (or --demo)")
        settings = ServeSettings.from_dict(
            {
                "registry": registry,
                "store": store or default_store_url(registry),
                "token_file": token_file,
                "update": not no_update,
                "every_events": every_events,
                "every_seconds": every_seconds,
                "data": data,
                "mlflow": mlflow,
                "mlflow_uri": mlflow_uri,
                "mlflow_experiment": mlflow_experiment,
            }
        )
        preflight(host, settings)
        typer.echo(
            f"serving {registry} ({settings.alias}) on http://{host}:{port}, store "
            f"{settings.store}, {workers} worker(s), updater {'on' if settings.update else 'off'}"
        )
        typer.echo(f"dashboard: http://{host}:{port}/")
        run_server(settings, host=host, port=port, workers=workers, log_level="warning")


def _demo(registry: str | None, data: str | None, seconds: float, port: int, keep: bool) -> None:
    import tempfile

    from rectune.cli._common import load_data
    from rectune.serving.demo import run_demo

    with user_errors():
        if data:
            dataset = load_data(data)
        else:
            from rectune.data.synthetic import generate

            dataset = generate(seed=0)
        root = registry or tempfile.mkdtemp(prefix="rectune-demo-")
        run_demo(root, dataset, seconds=seconds, port=port, keep_serving=keep, say=typer.echo)
