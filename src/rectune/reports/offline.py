"""Report sections of the offline results: ``evaluate``, ``compare`` and ``replay`` JSON."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rectune.reports import plots
from rectune.reports._html import ci, esc, figure, num, section, table


def fold_interval(values: list[float]) -> tuple[float | None, float | None]:
    """95% t-interval of the mean of per-fold values (None with fewer than two folds).

    Examples
    --------
    >>> [round(v, 4) for v in fold_interval([1.0, 2.0, 3.0])]
    [-0.4841, 4.4841]
    """
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if len(vals) < 2:
        return None, None
    from scipy.stats import t

    half = float(t.ppf(0.975, len(vals) - 1)) * float(np.std(vals, ddof=1)) / math.sqrt(len(vals))
    mean = float(np.mean(vals))
    return mean - half, mean + half


def evaluate_section(doc: dict[str, Any], source: str) -> str:
    folds = doc["folds"]
    names = [k for k in doc["mean"] if k not in ("fit_seconds", "predict_seconds")]
    header = ["fold", *names, "fit s", "predict s"]
    rows = [
        [
            str(k + 1),
            *(num(f["metrics"].get(m)) for m in names),
            num(f["fit_seconds"], 2),
            num(f["predict_seconds"], 2),
        ]
        for k, f in enumerate(folds)
    ]
    mean = doc["mean"]
    rows.append(
        [
            "<b>mean</b>",
            *(f"<b>{num(mean.get(m))}</b>" for m in names),
            num(mean.get("fit_seconds"), 2),
            num(mean.get("predict_seconds"), 2),
        ]
    )
    cis = {m: fold_interval([f["metrics"].get(m) for f in folds]) for m in names}
    rows.append(["95% CI (folds)", *(ci(*cis[m]) for m in names), "", ""])
    body = [table(header, rows, cls="metrics")]
    if len(folds) > 1:
        series = {
            m: (list(range(1, len(folds) + 1)), [f["metrics"].get(m) for f in folds]) for m in names
        }
        body.append(
            figure(
                plots.lines(series, title="metric per fold", xlabel="fold", ylabel="value"),
                "Each metric on each fold.",
            )
        )
    curves = {
        f"fold {k + 1}": (
            [e["epoch"] for e in f["epoch_history"]],
            [e["loss"] for e in f["epoch_history"]],
        )
        for k, f in enumerate(folds)
        if f.get("epoch_history")
    }
    if curves:
        body.append(
            figure(
                plots.lines(curves, title="learning curve", xlabel="epoch", ylabel="training loss"),
                "Training loss after every epoch of each fold's fit.",
            )
        )
    split = ", ".join(f"{k}={v}" for k, v in doc["split"].items())
    note = f"split: <code>{esc(split)}</code>; config: <code>{esc(doc.get('config'))}</code>"
    title = f"evaluate: {doc['model']} on {doc['data'].get('path')}"
    return section(title, source, body, note)


_DELTA_HEADER = ["metric", "A", "B", "B - A", "95% CI", "p", "n"]


def _delta_rows(metrics: dict[str, dict[str, Any]]) -> list[list[str]]:
    """One table row per metric of a paired comparison (compare's metrics and its retention)."""
    return [
        [
            esc(m),
            num(v["a"]),
            num(v["b"]),
            num(v["delta"], sign=True),
            ci(v["ci_low"], v["ci_high"]),
            num(v["p_value"]),
            num(v.get("n")),
        ]
        for m, v in metrics.items()
    ]


def compare_section(doc: dict[str, Any], source: str) -> str:
    metrics = doc["metrics"]
    body = [table(_DELTA_HEADER, _delta_rows(metrics), cls="metrics")]
    rel = {m: v for m, v in metrics.items() if v["a"] not in (None, 0) and v["delta"] is not None}
    if rel:
        pct = [100 * v["delta"] / abs(v["a"]) for v in rel.values()]
        lows = [
            None if v["ci_low"] is None else 100 * v["ci_low"] / abs(v["a"]) for v in rel.values()
        ]
        highs = [
            None if v["ci_high"] is None else 100 * v["ci_high"] / abs(v["a"]) for v in rel.values()
        ]
        body.append(
            figure(
                plots.intervals(
                    list(rel),
                    pct,
                    lows,
                    highs,
                    title="B vs A (paired bootstrap 95% CI)",
                    xlabel="B - A, % of A",
                ),
                "Lower is better for rmse and mae, higher for ranking metrics.",
            )
        )
    for m, d in (doc.get("deltas") or {}).items():
        if "hist" not in d:
            continue
        caption = (
            f"{d['n']:,} test {d['unit']}s: B better for {d['better']:,}, worse for "
            f"{d['worse']:,}, the same for {d['same']:,}."
        )
        body.append(
            figure(
                plots.histogram(
                    d["hist"]["edges"],
                    d["hist"]["counts"],
                    title=f"per-{d['unit']} change of {m}",
                    xlabel=f"B - A ({d['value']})",
                ),
                caption,
            )
        )
    ret = doc.get("retention")
    if ret:
        rows = _delta_rows(ret["metrics"])
        body.append(
            "<h3>retention on the old data</h3>" + table(_DELTA_HEADER, rows, cls="metrics")
        )
    a, b = doc["a"], doc["b"]
    note = (
        f"A: <code>{esc(a.get('model'))}</code> {esc(a.get('path') or '')}; B: "
        f"<code>{esc(b.get('model'))}</code> {esc(b.get('path') or '')}; "
        f"{num(doc.get('n_boot'))} bootstrap replicates"
    )
    return section(f"compare on {doc['data'].get('path')}", source, body, note)


def replay_section(doc: dict[str, Any], source: str) -> str:
    chunks = doc["chunks"]
    names = list(doc["pooled"])
    header = ["chunk", "events", *names, "update s"]
    rows = [
        [
            str(c["index"] + 1),
            num(c["n"]),
            *(num(c["metrics"].get(m)) for m in names),
            num(c["update_seconds"], 3),
        ]
        for c in chunks
    ]
    rows.append(
        [
            "<b>pooled</b>",
            num(doc.get("n_scored")),
            *(f"<b>{num(doc['pooled'][m])}</b>" for m in names),
            num(doc.get("total_update_seconds"), 3),
        ]
    )
    body = [table(header, rows, cls="metrics")]
    xs = list(range(1, len(chunks) + 1))
    series = {m: (xs, [c["metrics"].get(m) for c in chunks]) for m in names}
    body.append(
        figure(
            plots.lines(
                series,
                title="prequential accuracy over time",
                xlabel="chunk (time order)",
                ylabel="value",
            ),
            "Each chunk is scored by the model before it learns from it.",
        )
    )
    body.append(
        figure(
            plots.bars(
                [str(x) for x in xs],
                [c["update_seconds"] for c in chunks],
                title="update time per chunk",
                ylabel="seconds",
            ),
            f"Update mode: {doc.get('update')}.",
        )
    )
    note = (
        f"initial fit on {num(doc.get('n_initial'))} events in "
        f"{num(doc.get('initial_fit_seconds'), 2)} s; update <code>{esc(doc.get('update'))}"
        f"</code>, strategy <code>{esc(doc.get('strategy'))}</code>"
    )
    return section(
        f"replay: {doc['model']} on {doc.get('data', {}).get('path')}", source, body, note
    )


__all__ = ["compare_section", "evaluate_section", "fold_interval", "replay_section"]
