"""`build_report`: one self-contained HTML page for the JSON results of rectune's commands.

Each file's kind is recognised from its keys (``rectune evaluate``, ``compare``, ``replay``,
``tune`` and ``compress`` ``--json``, and the L2-SP sweep of ``benchmarks/bench_l2sp.py``);
anything else is a `ConfigError` naming the file. Plots are inline SVG, the CSS is inline and
the page loads nothing: it opens offline and can be mailed as one file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rectune.errors import ConfigError
from rectune.reports._html import esc
from rectune.reports.offline import compare_section, evaluate_section, replay_section
from rectune.reports.search import (
    compress_record_section,
    compress_section,
    l2sp_section,
    tune_section,
)
from rectune.version import __version__

Section = Callable[[dict[str, Any], str], str]

#: Kind name -> keys its JSON must have, and the section that draws it.
KINDS: dict[str, tuple[frozenset[str], Section]] = {
    "tune": (frozenset({"kind", "trials", "best", "test"}), tune_section),
    "compress": (frozenset({"kind", "rows"}), compress_section),
    "l2sp": (frozenset({"kind", "rows"}), l2sp_section),
    "compare": (frozenset({"a", "b", "metrics", "n_boot"}), compare_section),
    "replay": (frozenset({"chunks", "pooled", "update"}), replay_section),
    "evaluate": (frozenset({"model", "folds", "mean", "split"}), evaluate_section),
    "compress-record": (
        frozenset({"method", "tensors", "artifact_bytes_before", "artifact_bytes_after"}),
        compress_record_section,
    ),
}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;border-bottom:1px solid #ccc;padding-bottom:.2rem}
section.result{margin-bottom:2.5rem}p.source{color:#666;font-size:.85rem;margin-top:-.6rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .55rem;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
figure{display:inline-block;margin:.5rem 1rem .5rem 0;vertical-align:top}
figcaption{font-size:.8rem;color:#555;max-width:640px}
svg.plot{max-width:100%;height:auto}code{font-size:.85em;background:#f6f6f6;padding:0 .2em}
"""


def kind_of(doc: Any, source: str) -> str:
    """The kind of result ``doc`` is (a key of `KINDS`), or a `ConfigError` naming ``source``."""
    if not isinstance(doc, dict):
        raise ConfigError(
            f"{source}: not a rectune result (a JSON object), got a {type(doc).__name__}"
        )
    declared = doc.get("kind")
    if declared is not None:
        if declared not in KINDS:
            raise ConfigError(
                f"{source}: unknown result kind {declared!r}; known: {', '.join(KINDS)}"
            )
        need = KINDS[declared][0]
        missing = sorted(need - set(doc))
        if missing:
            raise ConfigError(f"{source}: a {declared!r} result needs keys {missing}")
        return str(declared)
    for name, (need, _) in KINDS.items():
        if "kind" not in need and need <= set(doc):
            return name
    raise ConfigError(
        f"{source}: not a result rectune report knows (evaluate, compare, replay, tune, compress "
        f"or l2sp JSON); its top-level keys are {sorted(doc)[:8]}"
    )


def load_result(path: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
    """Read one result file: ``(kind, document)``; errors name the file (and line)."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read ({exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    return kind_of(doc, str(p)), doc


def build_report(paths: Sequence[str | os.PathLike[str]], *, title: str = "rectune report") -> str:
    """The HTML page of the results in ``paths``, in that order."""
    if not paths:
        raise ConfigError("no result files given")
    sections = []
    for path in paths:
        kind, doc = load_result(path)
        try:
            sections.append(KINDS[kind][1](doc, str(path)))
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"{path}: a {kind} result with a missing or bad entry ({exc!r})"
            ) from None
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{esc(title)}</h1><p class="source">rectune {esc(__version__)}, {stamp}; '
        f"{len(sections)} result(s)</p>" + "".join(sections) + "</body></html>\n"
    )


def write_report(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    title: str = "rectune report",
) -> Path:
    """`build_report` written to ``out`` (parents created); returns the path."""
    page = build_report(paths, title=title)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


__all__ = ["KINDS", "build_report", "kind_of", "load_result", "write_report"]
