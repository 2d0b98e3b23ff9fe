"""``rectune data``: inspect datasets."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from rectune.cli._common import FORMATS, console, load_data, user_errors

app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)


@app.command("stats")
def stats(
    data: str = typer.Option(..., "--data", help="Dataset directory or file."),
    fmt: str = typer.Option("auto", "--format", help=f"One of {', '.join(FORMATS)}."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Drop and count bad rows."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Print size, density, value range, time span and side information of a dataset."""
    with user_errors():
        inter = load_data(data, fmt, skip_bad_rows=skip_bad_rows)
        info = inter.stats()
        info["bad_rows"] = inter.meta.get("bad_rows", 0)
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    table = Table(title=f"{data}", show_header=False)
    for key, value in info.items():
        table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    console.print(table)
