"""``rectune compress``: a smaller artifact from a saved one (int8, fp16, prune, distill).

::

    rectune compress --from ART --method int8|fp16|prune|distill --out ART2
                     [--top-k K] [--threshold T] [--keep-fraction F]
                     [--student als|bpr] [--quantize int8|fp16] [--set key=value] [--json FILE]

``int8`` / ``fp16``: factor and embedding tables (per-row int8 scales). ``prune``: kNN keeps
``--top-k`` neighbours per row; EASE keeps weights ``>= --threshold`` in magnitude or the
``--keep-fraction`` largest. ``distill``: a ``--student`` (ALS by default) fitted to the
teacher's ``--top-k`` lists (10), its hyperparameters from ``--set key=value``
(``embedding_size=32`` by default), its tables optionally ``--quantize``d. The new artifact's
lineage names the source; its ``metrics.json`` holds the compression record. A method or
option the model cannot honour exits 2 with one line naming both.
"""

from __future__ import annotations

from typing import Any

import typer

from rectune.cli._common import console, user_errors, write_json
from rectune.config import parse_overrides


def compress(
    source: str = typer.Option(..., "--from", help="Artifact directory to compress."),
    method: str = typer.Option(..., "--method", help="int8, fp16, prune or distill."),
    out: str = typer.Option(..., "--out", help="Directory of the compressed artifact."),
    top_k: int | None = typer.Option(
        None, "--top-k", help="prune: neighbours kept per row; distill: teacher items per user."
    ),
    threshold: float | None = typer.Option(None, "--threshold", help="prune (EASE): min |w|."),
    keep_fraction: float | None = typer.Option(
        None, "--keep-fraction", help="prune (EASE): share of weights kept."
    ),
    student: str | None = typer.Option(None, "--student", help="distill: als or bpr."),
    quantize: str | None = typer.Option(
        None, "--quantize", help="distill: store the student int8 or fp16."
    ),
    sets: list[str] | None = typer.Option(
        None, "--set", help="distill: student hyperparameter key=value (repeatable)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="distill: random seed."),
    json_out: str | None = typer.Option(None, "--json", help="Write the record as JSON here."),
) -> None:
    """Compress a saved model into a new artifact whose lineage names the original."""
    from rectune.compression import compress_artifact

    flags: dict[str, Any] = {
        "top_k": top_k,
        "threshold": threshold,
        "keep_fraction": keep_fraction,
        "student": student,
        "quantize": quantize,
        "seed": seed,
    }
    options = {k: v for k, v in flags.items() if v is not None}
    with user_errors():
        if sets:
            options["params"] = parse_overrides(sets)
        record = compress_artifact(source, out, method, **options)
    a, b = record["artifact_bytes_before"], record["artifact_bytes_after"]
    console.print(
        f"compressed [bold]{record['model']}[/] ({method}): {a:,} -> {b:,} bytes on disk "
        f"({a / b:.2f}x); saved artifact {record['artifact_id']} to {out}"
    )
    write_json(json_out, record)
