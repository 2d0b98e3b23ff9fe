"""The report's figures: matplotlib (no pyplot) drawn to inline SVG that links nothing outside.

Every function takes plain lists from a result's JSON and returns an ``<svg>`` element as text.
Glyphs are drawn as paths (``svg.fonttype = "path"``), and the XML prolog, the DOCTYPE and the
RDF metadata block and the namespace declarations (which name w3.org and purl.org URLs) are
stripped, so the page holds no URL at all.
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Sequence

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

_PROLOG = re.compile(r"<\?xml.*?\?>\s*|<!DOCTYPE.*?>\s*|<metadata>.*?</metadata>\s*", re.S)
#: Namespace declarations: inline SVG in HTML needs none (the HTML parser knows ``xlink:``).
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")


def to_svg(fig: Figure, label: str) -> str:
    """The figure as an inline ``<svg>`` (with ``role="img"`` and an ``aria-label``)."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "rectune"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = _XMLNS.sub("", _PROLOG.sub("", buf.getvalue()))
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(label)}" class="plot" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _figure(width: float = 6.4, height: float = 3.4) -> tuple[Figure, Axes]:
    """A figure without pyplot: no global backend or figure registry is touched."""
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.subplots()
    ax.grid(True, alpha=0.3)
    return fig, ax


def lines(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    markers: bool = True,
) -> str:
    """One line per series ``name -> (x, y)``; None/NaN values leave gaps."""
    fig, ax = _figure()
    for k, (name, (x, y)) in enumerate(series.items()):
        ys = [math.nan if v is None else v for v in y]
        ax.plot(
            list(x),
            ys,
            marker="o" if markers else None,
            ms=3,
            lw=1.4,
            color=COLORS[k % len(COLORS)],
            label=name,
        )
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if all(isinstance(v, int) for x, _ in series.values() for v in x):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if 1 < len(series) <= 12:
        ax.legend(fontsize=8)
    return to_svg(fig, title)


def intervals(
    labels: Sequence[str],
    values: Sequence[float],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    *,
    title: str,
    xlabel: str,
    zero: bool = True,
) -> str:
    """A forest plot: one point per label with its interval (``None``: no interval)."""
    fig, ax = _figure(height=max(1.6, 0.5 * len(labels) + 1.0))
    ys = list(range(len(labels)))[::-1]
    for y, v, lo, hi in zip(ys, values, lows, highs, strict=True):
        if lo is not None and hi is not None:
            ax.plot([lo, hi], [y, y], color=COLORS[0], lw=2)
        ax.plot([v], [y], "o", color=COLORS[1])
    if zero:
        ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(ys, list(labels))
    ax.set(title=title, xlabel=xlabel)
    return to_svg(fig, title)


def histogram(edges: Sequence[float], counts: Sequence[int], *, title: str, xlabel: str) -> str:
    """A histogram from precomputed ``edges`` (n + 1) and ``counts`` (n)."""
    fig, ax = _figure()
    widths = [b - a for a, b in itertools.pairwise(edges)]
    ax.bar(
        list(edges[:-1]),
        list(counts),
        width=widths,
        align="edge",
        color=COLORS[0],
        edgecolor="white",
    )
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set(title=title, xlabel=xlabel, ylabel="count")
    return to_svg(fig, title)


def bars(labels: Sequence[str], values: Sequence[float], *, title: str, ylabel: str) -> str:
    """Vertical bars, one per label."""
    fig, ax = _figure()
    ax.bar(list(labels), list(values), color=COLORS[0])
    ax.set(title=title, ylabel=ylabel)
    ax.tick_params(axis="x", labelrotation=30 if len(labels) > 6 else 0)
    return to_svg(fig, title)


def scatter(
    groups: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    errors: dict[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    annotate: dict[str, Sequence[str]] | None = None,
    line: tuple[Sequence[float], Sequence[float]] | None = None,
) -> str:
    """Points per group ``name -> (x, y)``, optional vertical error bars ``(below, above)``,
    text labels, and one extra line (e.g. the best value so far)."""
    fig, ax = _figure()
    if line is not None:
        ax.step(list(line[0]), list(line[1]), where="post", color="black", lw=1, label="best")
    for k, (name, (x, y)) in enumerate(groups.items()):
        color = COLORS[k % len(COLORS)]
        if errors and name in errors:
            below, above = errors[name]
            ax.errorbar(
                list(x),
                list(y),
                yerr=[list(below), list(above)],
                fmt="o",
                ms=4,
                color=color,
                capsize=3,
                label=name,
            )
        else:
            ax.plot(list(x), list(y), "o", ms=4, color=color, label=name)
        for xi, yi, text in zip(x, y, (annotate or {}).get(name, ()), strict=False):
            ax.annotate(text, (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if logx:
        ax.set_xscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(groups) > 1 or line is not None:
        ax.legend(fontsize=8)
    return to_svg(fig, title)


__all__ = ["bars", "histogram", "intervals", "lines", "scatter", "to_svg"]
