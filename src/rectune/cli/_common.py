"""Helpers shared by the CLI commands: console, error reporting, data and model specs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID

from rectune.config import load_toml, parse_overrides
from rectune.errors import RectuneError

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error stays one (grep-able) line


class ConsoleHandler(logging.Handler):
    """Log records printed through `err_console`, so they appear above a live progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            err_console.print(self.format(record), markup=False, highlight=False)
        except Exception:  # logging must never raise into the caller
            self.handleError(record)


@contextmanager
def progress_display(description: str | None = None) -> Iterator[tuple[Progress, TaskID | None]]:
    """The command's one live display, on stderr: a spinner task for ``description`` (if
    given); training and encoding bars (`rectune.training.progress`) join it as tasks."""
    from rectune.training.progress import columns, hosted

    with (
        Progress(SpinnerColumn(), *columns(), console=err_console, transient=True) as bar,
        hosted(bar),
    ):
        task = bar.add_task(description, total=None) if description else None
        yield bar, task


FORMATS = ("auto", "ml-100k", "ml-1m", "ml-latest", "lastfm", "csv", "parquet")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn rectune's own errors into a one-line message and exit code 2 (no traceback)."""
    try:
        yield
    except RectuneError as exc:
        # escaped: a message's own brackets ("rectune[mlflow]") are text, not rich markup
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None


def load_data(path: str, fmt: str = "auto", *, skip_bad_rows: bool = False) -> Any:
    """Load a dataset through `rectune.data.loaders.load`, reporting skipped rows."""
    from rectune.data.loaders import load

    data = load(path, format=fmt, skip_bad_rows=skip_bad_rows)
    bad = data.meta.get("bad_rows", 0)
    if bad:
        err_console.print(f"[yellow]skipped {bad} bad rows[/] in {path}")
        for example in data.meta.get("bad_row_examples", [])[:5]:
            err_console.print(f"  {example}", highlight=False)
    return data


def model_spec(
    model: str | None, sets: list[str] | None, config: str | None
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Resolve ``--model``, ``--config FILE.toml`` and ``--set k=v`` into (name, params, extra).

    The TOML file may hold ``model = "..."``, a ``[params]`` table of hyperparameters and an
    ``[evaluate]`` table of evaluation defaults; ``--model`` and ``--set`` take precedence.
    """
    from rectune.errors import ConfigError

    file_cfg: dict[str, Any] = load_toml(config) if config else {}
    name = model or file_cfg.get("model")
    if not name:
        raise ConfigError("no model given: pass --model NAME or a --config file with model = ...")
    params = (
        dict(file_cfg.get("params", {}))
        if (model is None or model == file_cfg.get("model"))
        else {}
    )
    params.update(parse_overrides(sets or []))
    return name, params, dict(file_cfg.get("evaluate", {}))


def write_json(path: str | None, obj: Any) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(obj, indent=2, default=str) + "\n")
