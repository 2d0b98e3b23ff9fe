"""Small HTML builders shared by the report's sections (escaping, tables, numbers)."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def num(value: Any, digits: int = 4, sign: bool = False) -> str:
    """A number for a table cell: 4 significant decimals, ints as ints, None/NaN as a dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "&ndash;"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:+.3e}" if sign else f"{value:.3e}"
        return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    return esc(value)


def ci(low: Any, high: Any) -> str:
    if low is None or high is None:
        return "&ndash;"
    return f"[{num(low)}, {num(high)}]"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "") -> str:
    """A table; header cells are escaped, row cells are HTML already (use `num`/`esc`)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def params(values: dict[str, Any]) -> str:
    return ", ".join(
        f"<code>{esc(k)}={num(v) if isinstance(v, float) else esc(v)}</code>"
        for k, v in values.items()
    )


def figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def section(title: str, source: str, body: Sequence[str], note: str = "") -> str:
    parts = [f"<h2>{esc(title)}</h2>", f'<p class="source">from <code>{esc(source)}</code></p>']
    if note:
        parts.append(f"<p>{note}</p>")
    return '<section class="result">' + "".join(parts) + "".join(body) + "</section>"
