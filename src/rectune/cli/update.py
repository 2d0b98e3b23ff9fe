"""``rectune update``: fold new events into a saved artifact and write a new version.

Events go through `partial_fit` in micro-batches (``--batch-size``). The new version is written
atomically to ``--out`` with lineage naming the parent; the parent is never modified, and
invalid events (exit code 2) leave nothing written.
"""

from __future__ import annotations

import typer

from rectune.cli._common import FORMATS, console, load_data, user_errors, write_json


def update(
    parent: str = typer.Option(..., "--from", help="Parent artifact directory."),
    events: str = typer.Option(..., "--events", help="Events file (csv, parquet, ...)."),
    fmt: str = typer.Option("auto", "--format", help=f"One of {', '.join(FORMATS)}."),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Events per partial_fit call (default: all at once)."
    ),
    out: str = typer.Option(..., "--out", help="Directory of the new artifact version."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    json_out: str | None = typer.Option(None, "--json", help="Write a summary as JSON here."),
) -> None:
    """Fold events into a saved model with partial_fit and save a new artifact version."""
    from rectune.online.updater import update_artifact
    from rectune.training import TrainConfig

    with user_errors():
        inter = load_data(events, fmt)
        with console.status(f"folding in {len(inter):,} events"):
            result = update_artifact(
                parent, inter, out, batch_size=batch_size, train=TrainConfig(seed=seed)
            )
    console.print(
        f"folded {result.events:,} events in {result.batches} batch(es) in "
        f"{result.seconds:.2f}s ({result.new_users} new users, {result.new_items} new items); "
        f"saved artifact {result.artifact_id} to {out} (parent {result.parent['id']})"
    )
    write_json(json_out, result.to_dict())
