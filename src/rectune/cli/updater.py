"""``rectune updater``: keep a registry's champion fresh from an event store.

Tails the store from the champion's last consumed sequence number, folds new events in every
``--every-events`` events or ``--every-seconds`` seconds, writes a version per cycle (or every
``--publish-every`` cycles) and promotes it through the guard (`rectune.online.live.Updater`).
``--once`` catches up and exits. One line per cycle (``--json``: one JSON object per line).
Errors are one line, exit 2.
"""

from __future__ import annotations

import json
import signal
import threading

import typer

from rectune.cli._common import FORMATS, console, load_data, user_errors
from rectune.cli._tracking import (
    MLFLOW,
    MLFLOW_EXPERIMENT,
    MLFLOW_RUN_NAME,
    MLFLOW_URI,
    tracked,
)


def updater(
    registry: str = typer.Option(..., "--registry", help="Registry directory."),
    store: str = typer.Option(..., "--store", help="sqlite:///PATH or postgresql://..."),
    every_events: int = typer.Option(1000, "--every-events", help="Cycle once N events wait."),
    every_seconds: float = typer.Option(
        10.0, "--every-seconds", help="...or once the oldest waiting event waited T seconds."
    ),
    policy: str = typer.Option("partial", "--policy", help="partial, finetune or retrain."),
    strategy: str | None = typer.Option(
        None, "--strategy", help="Fine-tuning strategy (policy finetune), e.g. 'l2sp=0.1'."
    ),
    guard: str | None = typer.Option(
        None,
        "--guard",
        help="Guard, e.g. 'rmse<=+0.005' (default: that or ndcg); 'none': no check.",
    ),
    once: bool = typer.Option(False, "--once", help="Catch up with the store, then exit."),
    alias: str = typer.Option("champion", "--alias", help="The alias kept fresh."),
    holdout: float = typer.Option(
        0.1, "--holdout", help="Fraction of each cycle's newest events the guard scores."
    ),
    retrain_every: int | None = typer.Option(
        None, "--retrain-every-events", help="Also retrain from scratch every N events."
    ),
    data: str | None = typer.Option(
        None, "--data", help="The champion's original training data (retrains include it)."
    ),
    fmt: str = typer.Option("auto", "--format", help=f"Format of --data: {', '.join(FORMATS)}."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per cycle."),
    mlflow: bool = MLFLOW,
    mlflow_uri: str | None = MLFLOW_URI,
    mlflow_experiment: str | None = MLFLOW_EXPERIMENT,
    mlflow_run_name: str | None = MLFLOW_RUN_NAME,
    publish_every: int = typer.Option(
        1,
        "--publish-every",
        help="Write and promote a version every N cycles; the cycles between fold their "
        "events into the updater's in-memory model only (re-applied from the log after a crash).",
    ),
    publish_seconds: float | None = typer.Option(
        None, "--publish-seconds", help="...or once the oldest unpublished fold is T s old."
    ),
) -> None:
    """Fold the store's new events into the champion and promote each version through the guard."""
    from rectune.online.live import Updater

    with user_errors():
        up = Updater(
            registry,
            store,
            every_events=every_events,
            every_seconds=every_seconds,
            policy=policy,  # type: ignore[arg-type]
            strategy=strategy,
            guard=guard,
            alias=alias,
            holdout=holdout,
            retrain_every_events=retrain_every,
            base_data=load_data(data, fmt) if data else None,
            publish_every=publish_every,
            publish_seconds=publish_seconds,
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        try:
            with tracked(
                "updater", mlflow, mlflow_uri, mlflow_experiment, mlflow_run_name,
                f"updater-{alias}",
            ) as run:  # fmt: skip
                session = None
                if run is not None:
                    from rectune.tracking.record import UpdaterRun

                    session = UpdaterRun(run, up)

                def shown(cycle) -> None:  # type: ignore[no-untyped-def]
                    _show(cycle, as_json)
                    if session is not None:
                        session.cycle(cycle)

                if once:
                    for cycle in up.run_once():
                        shown(cycle)
                else:
                    up.run(stop, on_cycle=lambda cycle: cycle and shown(cycle))
                if session is not None:
                    session.finish()
        finally:
            up.close()
    if not as_json:
        st = up.status()
        console.print(
            f"{alias} -> v{st['version']}, consumed through seq {st['consumed_seq']} "
            f"of {st['store_last_seq']}"
        )


def _show(cycle, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        typer.echo(json.dumps(cycle.to_dict(), default=str), nl=True)
        return
    if cycle.promoted:
        verdict = "promoted"
    elif cycle.live:
        verdict = "folded into the live model (not published yet)"
    else:
        verdict = f"kept v{cycle.base_version}: {cycle.reason}"
    name = f"v{cycle.version}" if cycle.version is not None else "in memory"
    preq = ", ".join(
        f"{k} {v:.4f}" for k, v in cycle.prequential.items() if k != "n" and v is not None
    )
    console.print(
        f"{name} ({cycle.policy}) seq {cycle.first_seq}..{cycle.last_seq}: "
        f"{cycle.events} events, {cycle.holdout} held out, prequential {preq or 'n/a'}; "
        f"{verdict} ({cycle.seconds:.2f}s)",
        markup=False,
        highlight=False,
    )
