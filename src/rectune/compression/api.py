"""`compress` (a model) and `compress_artifact` (an artifact directory to another)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rectune.compression._record import check_method
from rectune.compression.distill import distill
from rectune.compression.prune import prune
from rectune.compression.quantize import quantize
from rectune.errors import ConfigError
from rectune.models.base import Recommender
from rectune.registry.artifacts import load_model, read_json


def compress(model: Recommender, method: str, **options: Any) -> Recommender:
    """A compressed copy of the fitted ``model`` (the input is left unchanged).

    ``method``: ``int8`` or ``fp16`` (factor and embedding tables; no options), ``prune``
    (kNN: ``top_k`` neighbours per row; EASE: ``threshold`` or ``keep_fraction``) or
    ``distill`` (options of `rectune.compression.distill.distill`). The result scores with the
    values its artifact stores; ``save`` writes them compressed, and its ``compression_``
    holds the record (bytes before and after, per-tensor codecs and errors). A method or
    option the model cannot honour raises `ConfigError` naming both.

    Examples
    --------
    >>> from rectune.models import create_model
    >>> from rectune.testing import low_rank
    >>> model = create_model("als", embedding_size=8, epochs=3).fit(low_rank(30, 20))
    >>> small = compress(model, "int8")
    >>> small.compression_["method"], small.compression_["ratio"] > 1.5
    ('int8', True)
    """
    check_method(model, method)
    if method in ("int8", "fp16"):
        return quantize(model, method, **options)
    if method == "prune":
        return prune(model, **options)
    return distill(model, **options)


def compress_artifact(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    method: str,
    **options: Any,
) -> dict[str, Any]:
    """Load the artifact ``source``, compress it and save it to ``out`` (parent: ``source``);
    returns the compression record with the artifacts' sizes on disk."""
    if Path(out).resolve() == Path(source).resolve():
        raise ConfigError(f"--out {out} is the source artifact; choose another directory")
    model = load_model(source)
    small = compress(model, method, **options)
    record = {k: v for k, v in (small.compression_ or {}).items() if k != "storage"}
    strategy = {"compression": {"method": method, **record["options"]}}
    artifact_id = small.save(out, parent=source, metrics={"compression": record}, strategy=strategy)
    lineage = read_json(out, "lineage.json")
    return {
        **record,
        "artifact_id": artifact_id,
        "path": str(out),
        "model": small.name,
        "parent": lineage["parent"],
        "artifact_bytes_before": directory_bytes(source),
        "artifact_bytes_after": directory_bytes(out),
    }


def directory_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes of the files of an artifact directory."""
    return sum(p.stat().st_size for p in Path(path).iterdir() if p.is_file())
