"""``rectune recommend``: top-n items for users from a saved artifact."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from rectune.cli._common import console, user_errors


def recommend(
    model_dir: str = typer.Option(..., "--from", "--model-dir", help="Artifact directory."),
    users: list[str] = typer.Option(..., "--user", "-u", help="Raw user id (repeatable)."),
    n: int = typer.Option(10, "--n", "-n", help="Items per user."),
    include_seen: bool = typer.Option(False, "--include-seen", help="Allow already-seen items."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the top-n recommendations for one or more users."""
    from rectune.errors import ConfigError
    from rectune.registry import load_model

    with user_errors():
        if n < 1:
            raise ConfigError(f"--n must be at least 1, got {n}")
        model = load_model(model_dir)
        raw = [_coerce(u, model.user_map_.dtype) for u in users]
        ids, scores = model.recommend(raw, n=n, exclude_seen=not include_seen)
        known = {str(u): u in model.user_map_ for u in raw}  # raw ids: the keys are strings
    out = {
        str(u): [
            {"item": item.item() if hasattr(item, "item") else item, "score": float(s)}
            for item, s in zip(ids[row], scores[row], strict=True)
            if s != float("-inf")
        ]
        for row, u in enumerate(raw)
    }
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    for u, recs in out.items():
        table = Table(title=f"user {u}" + ("" if known[u] else " (unknown: popular)"))
        table.add_column("rank")
        table.add_column("item")
        table.add_column("score", justify="right")
        text = getattr(model, "item_text_", None)
        if text is not None and not hasattr(text, "get"):  # one text per item index (text)
            text = dict(zip(model.item_map_.ids.tolist(), list(text), strict=True))
        for rank, rec in enumerate(recs, 1):
            label = (
                str(rec["item"]) if text is None else f"{rec['item']} {text.get(rec['item'], '')}"
            )
            table.add_row(str(rank), label, f"{rec['score']:.4f}")
        console.print(table)


def _coerce(raw: str, dtype: str) -> object:
    if dtype == "int64":
        try:
            return int(raw)
        except ValueError:
            return raw
    return raw
