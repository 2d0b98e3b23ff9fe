"""``rectune report``: one self-contained HTML page from the JSON of rectune's commands."""

from __future__ import annotations

import typer

from rectune.cli._common import console, user_errors


def report(
    results: list[str] = typer.Argument(
        ...,
        help="JSON files: evaluate, compare, replay, tune, "
        "compress --json output, or the L2-SP sweep.",
    ),
    out: str = typer.Option(..., "--out", help="HTML file to write."),
    title: str = typer.Option("rectune report", "--title", help="Page title."),
) -> None:
    """Draw the results as one HTML page (inline plots and CSS; it fetches nothing)."""
    from rectune.reports import write_report

    with user_errors():
        path = write_report(results, out, title=title)
    console.print(f"wrote {path} ({len(results)} result(s))")
