"""``rectune compare``: two artifacts on the same test data, with paired bootstrap CIs.

The flags and the ``--json`` layout are a contract that scripts drive; add, never rename.
"""

from __future__ import annotations

import typer
from rich.table import Table

from rectune.cli._common import FORMATS, console, load_data, user_errors, write_json


def compare(
    model_a: str = typer.Argument(..., help="Artifact directory of model A (the reference)."),
    model_b: str = typer.Argument(..., help="Artifact directory of model B."),
    data: str = typer.Option(..., "--data", help="Test dataset directory or file."),
    fmt: str = typer.Option("auto", "--format", help=f"One of {', '.join(FORMATS)}."),
    old_data: str | None = typer.Option(
        None, "--old-data", help="The parent's training/validation data (retention)."
    ),
    split: str | None = typer.Option(
        None, "--split", help="Use only the test part of this split of --data (e.g. random)."
    ),
    test_size: float | None = typer.Option(None, "--test-size", help="Test share of --split."),
    metrics: str | None = typer.Option(None, "--metrics", help="e.g. rmse,ndcg@10."),
    n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap replicates."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and the bootstrap."),
    json_out: str | None = typer.Option(None, "--json", help="Write the results as JSON here."),
) -> None:
    """Compare B with A on the same test rows: values, delta B-A, 95% CI and p-value."""
    from rectune.errors import ConfigError
    from rectune.evaluation.compare import compare as run

    with user_errors():
        inter = load_data(data, fmt)
        old = load_data(old_data, fmt) if old_data else None
        if test_size is not None and split is None:
            split = "random"
        split_spec = None
        if split is not None:
            split_spec = {"method": split}
            if test_size is not None:
                split_spec["test_size"] = test_size
        metric_list = None  # compare's default: ranking metrics for implicit data or models
        if metrics is not None:
            metric_list = [m.strip() for m in metrics.split(",") if m.strip()]
            if not metric_list:
                raise ConfigError("--metrics is empty")
        result = run(
            model_a,
            model_b,
            inter,
            split=split_spec,
            metrics=metric_list,
            seed=seed,
            n_boot=n_boot,
            old_data=old,
        )
        out = result.to_dict()
        out["data"]["path"] = data
        if out["retention"] is not None:
            out["retention"]["data"]["path"] = old_data
    _print(out["metrics"], f"B vs A on {data}")
    if out["retention"] is not None:
        _print(out["retention"]["metrics"], f"retention on {old_data}")
    write_json(json_out, out)


def _print(metrics: dict, title: str) -> None:
    table = Table(title=title)
    for col in ("metric", "A", "B", "B - A", "95% CI", "p"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, m in metrics.items():
        ci = f"[{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]"
        p = m["p_value"]
        style = "bold" if p is not None and p < 0.05 else None
        table.add_row(
            name, _fmt(m["a"]), _fmt(m["b"]), _fmt(m["delta"], sign=True), ci, _fmt(p), style=style
        )
    console.print(table)


def _fmt(value: object, sign: bool = False) -> str:
    if isinstance(value, float):
        return f"{value:+.4f}" if sign else f"{value:.4f}"
    return "-" if value is None else str(value)
