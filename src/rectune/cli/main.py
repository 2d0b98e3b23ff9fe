"""The ``rectune`` command line: data stats, train, evaluate, recommend, demo."""

from __future__ import annotations

import logging

import typer

from rectune.cli import compare, data, demo, evaluate, events, recommend, train
from rectune.cli import compress as compress_cmd
from rectune.cli import finetune as finetune_cmd
from rectune.cli import registry as registry_cmd
from rectune.cli import replay as replay_cmd
from rectune.cli import report as report_cmd
from rectune.cli import serve as serve_cmd
from rectune.cli import tune as tune_cmd
from rectune.cli import update as update_cmd
from rectune.cli import updater as updater_cmd
from rectune.cli._common import ConsoleHandler
from rectune.version import __version__

app = typer.Typer(
    name="rectune",
    help="Pretrain, fine-tune, update, evaluate and serve recommender models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(events.app, name="events")
app.add_typer(registry_cmd.app, name="registry")
app.command("train")(train.train)
app.command("evaluate")(evaluate.evaluate)
app.command("recommend")(recommend.recommend)
app.command("demo")(demo.demo)
app.command("compare")(compare.compare)
app.command("finetune")(finetune_cmd.finetune)
app.command("compress")(compress_cmd.compress)
app.command("update")(update_cmd.update)
app.command("replay")(replay_cmd.replay)
app.command("serve")(serve_cmd.serve)
app.command("updater")(updater_cmd.updater)
app.command("tune")(tune_cmd.tune)
app.command("report")(report_cmd.report)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rectune {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
) -> None:
    """rectune: the whole life of a recommender model."""
    handler = ConsoleHandler()  # through the console: log lines print above progress bars
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler])


if __name__ == "__main__":
    app()
