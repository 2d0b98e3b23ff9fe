"""``rectune update``: fold new events and new catalogue items into a saved artifact.

Events go through `partial_fit` in micro-batches (``--batch-size``). Items that arrive with text
(and features) but no interactions yet (``--items FILE``) go through `Recommender.add_items`
first, with ``--new-ids`` (``text`` by default: a ridge map from their MiniLM embeddings to the
rows of the known items), so they are recommendable at once. The new version is written
atomically to ``--out`` with lineage naming the parent; the parent is never modified, and
invalid events or items (exit code 2) leave nothing written.
"""

from __future__ import annotations

import typer

from rectune.cli._common import FORMATS, console, load_data, user_errors, write_json

_ITEMS_HELP = (
    "Items to add without interactions: CSV/TSV, JSON Lines or Parquet with an item_id column, "
    "text (a 'text' column, or MovieLens 'title' and 'genres') and optional feature columns "
    "(or a 'features' JSON object). Rows of items the model knows are not added, but their "
    "text serves the text map."
)
_ITEM_TEXT_HELP = (
    "The catalogue's item text (and features) for --new-ids text/features: an items file as "
    "for --items, or a dataset directory rectune loads (e.g. ml-latest-small). The text map "
    "is fitted on the known items' text, and artifacts do not keep it: pass it here unless "
    "--items lists the known items too (content-knn and text models need none)."
)


def update(
    parent: str = typer.Option(..., "--from", help="Parent artifact directory."),
    events: str | None = typer.Option(None, "--events", help="Events file (csv, parquet, ...)."),
    items: str | None = typer.Option(None, "--items", help=_ITEMS_HELP),
    item_text: str | None = typer.Option(None, "--item-text", help=_ITEM_TEXT_HELP),
    new_ids: str = typer.Option(
        "text", "--new-ids", help="How added items' rows start: text, features, mean, zeros."
    ),
    text_encoder: str = typer.Option(
        "minilm", "--text-encoder", help="--new-ids text: 'minilm' or a local model directory."
    ),
    fmt: str = typer.Option("auto", "--format", help=f"One of {', '.join(FORMATS)}."),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Events per partial_fit call (default: all at once)."
    ),
    out: str = typer.Option(..., "--out", help="Directory of the new artifact version."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    json_out: str | None = typer.Option(None, "--json", help="Write a summary as JSON here."),
) -> None:
    """Add new items (--items) and fold events (--events) into a saved model; save a new
    artifact version whose lineage names the parent."""
    from rectune.errors import ConfigError
    from rectune.online.updater import update_artifact
    from rectune.training import TrainConfig

    with user_errors():
        if events is None and items is None:
            raise ConfigError("nothing to update with: pass --events FILE, --items FILE or both")
        if item_text is not None and items is None:
            raise ConfigError("--item-text applies only with --items")
        inter = load_data(events, fmt) if events is not None else None
        what = f"{len(inter):,} events" if inter is not None else "new items"
        with console.status(f"folding in {what}"):
            result = update_artifact(
                parent,
                inter,
                out,
                batch_size=batch_size,
                train=TrainConfig(seed=seed),
                items=items,
                item_text=item_text,
                new_ids=new_ids,
                text_encoder=text_encoder,
            )
    done = []
    if items is not None:
        done.append(
            f"added {result.items_added:,} items with new_ids={new_ids} "
            f"({result.items_known:,} already known)"
        )
    if inter is not None:
        done.append(
            f"folded {result.events:,} events in {result.batches} batch(es) in "
            f"{result.seconds:.2f}s ({result.new_users} new users, {result.new_items} new items)"
        )
    console.print(
        f"{'; '.join(done)}; saved artifact {result.artifact_id} to {out} "
        f"(parent {result.parent['id'] if result.parent else None})"
    )
    write_json(json_out, result.to_dict())
