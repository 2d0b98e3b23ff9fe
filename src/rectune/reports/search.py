"""Report sections of searches and trade-offs: ``tune``, ``compress`` and the L2-SP sweep.

The shapes read here (besides ``rectune tune --json``)::

    {"kind": "compress", "model": ..., "metric": "ndcg@10",
     "rows": [{"method", "bytes", "metric", "delta", "ci": [lo, hi], ...}]}
    {"kind": "l2sp", "dataset": ..., "rows": [{"run", "lambda", "new_rmse", "old_rmse"}]}

and the record ``rectune compress --json FILE`` writes (``method``, ``tensors``, the
artifact's bytes before and after): its per-table sizes and errors (no accuracy: that needs a
split, as in ``benchmarks/bench_compress.py``, whose rows are the ``compress`` shape above).

A compress row's ``delta`` is its metric minus the original's with the paired 95% ``ci``;
other keys of a row (load seconds, latencies) become extra table columns.
"""

from __future__ import annotations

from typing import Any

from rectune.reports import plots
from rectune.reports._html import ci, esc, figure, num, params, section, table


def tune_section(doc: dict[str, Any], source: str) -> str:
    m, trials = doc["metric"], doc["trials"]
    test, best = doc["test"], doc["best"]
    rows = [
        [
            "tuned",
            num(best["value"]),
            f"<b>{num(test['tuned'].get(m))}</b>",
            params(best["params"]),
        ],
        [
            "default",
            "&ndash;",
            num(test["default"].get(m)),
            params(doc.get("default_params", {})) or "model defaults",
        ],
    ]
    body = [table(["config", f"validation {m}", f"test {m}", "params"], rows, cls="metrics")]
    done = [t for t in trials if t["value"] is not None]
    pruned = [t for t in trials if t["state"] == "pruned" and t["intermediate"]]
    better = min if doc["direction"] == "minimize" else max
    xs, running, so_far = [], [], None
    for t in sorted(done, key=lambda t: t["number"]):
        so_far = t["value"] if so_far is None else better(so_far, t["value"])
        xs.append(t["number"])
        running.append(so_far)
    groups = {"complete": ([t["number"] for t in done], [t["value"] for t in done])}
    if pruned:
        groups["pruned (last epoch value)"] = (
            [t["number"] for t in pruned],
            [list(t["intermediate"].values())[-1] for t in pruned],
        )
    body.append(
        figure(
            plots.scatter(
                groups,
                title="search history",
                xlabel="trial",
                ylabel=f"validation {m}",
                line=(xs, running),
            ),
            f"{len(trials)} trials, {doc.get('n_pruned', 0)} pruned; "
            f"direction: {doc['direction']}.",
        )
    )
    curves = {
        f"trial {t['number']}": (
            [int(k) + 1 for k in t["intermediate"]],
            list(t["intermediate"].values()),
        )
        for t in trials
        if t["intermediate"]
    }
    if curves:
        body.append(
            figure(
                plots.lines(
                    curves,
                    title="validation metric per epoch",
                    xlabel="epoch",
                    ylabel=f"validation {m}",
                    markers=False,
                ),
                "Each trial's validation value after every epoch; pruned trials stop early.",
            )
        )
    losses = {
        f"trial {t['number']}": (
            [e["epoch"] for e in t["epoch_history"]],
            [e["loss"] for e in t["epoch_history"]],
        )
        for t in trials
        if t.get("epoch_history") and t["number"] == best["trial"]
    }
    if losses:
        body.append(
            figure(
                plots.lines(
                    losses,
                    title="learning curve of the best trial",
                    xlabel="epoch",
                    ylabel="training loss",
                ),
                "Training loss after every epoch.",
            )
        )
    space = doc.get("space", {}).get("params", {})
    for name, spec in space.items():
        pts = [(t["params"][name], t["value"]) for t in done if name in t["params"]]
        if not pts or spec.get("type") == "categorical":
            continue
        body.append(
            figure(
                plots.scatter(
                    {name: ([p for p, _ in pts], [v for _, v in pts])},
                    title=f"{name} vs validation {m}",
                    xlabel=name,
                    ylabel=f"validation {m}",
                    logx=bool(spec.get("log")),
                ),
                f"Every complete trial's {name}.",
            )
        )
    secs = doc.get("seconds", {})
    note = (
        f"{len(trials)} trials; search {num(secs.get('search'), 1)} s for "
        f"{num(secs.get('ran_trials'))} trials run by that call, refit "
        f"{num(secs.get('refit'), 1)} s; split <code>{esc(doc.get('split'))}</code>, "
        f"validation <code>{esc(doc.get('validation'))}</code>"
    )
    return section(f"tune: {doc['model']} on {doc['data'].get('path')}", source, body, note)


def compress_section(doc: dict[str, Any], source: str) -> str:
    rows_in = doc["rows"]
    metric = doc.get("metric", "metric")
    known = ("method", "bytes", "metric", "delta", "ci")
    extra = [k for k in rows_in[0] if k not in known] if rows_in else []
    base = max((r["bytes"] for r in rows_in), default=0)
    header = ["method", "bytes", "smaller", metric, "delta", "95% CI", *extra]
    rows = [
        [
            esc(r["method"]),
            num(int(r["bytes"])),
            f"{base / r['bytes']:.1f}x" if r["bytes"] else "&ndash;",
            num(r["metric"]),
            num(r.get("delta"), sign=True),
            ci(*(r.get("ci") or (None, None))),
            *(num(r.get(k)) for k in extra),
        ]
        for r in rows_in
    ]
    body = [table(header, rows, cls="metrics")]
    below = [
        r["delta"] - r["ci"][0] if r.get("ci") and r.get("delta") is not None else 0.0
        for r in rows_in
    ]
    above = [
        r["ci"][1] - r["delta"] if r.get("ci") and r.get("delta") is not None else 0.0
        for r in rows_in
    ]
    pts = {"methods": ([r["bytes"] for r in rows_in], [r["metric"] for r in rows_in])}
    body.append(
        figure(
            plots.scatter(
                pts,
                title="size / accuracy trade-off",
                xlabel="bytes",
                ylabel=metric,
                logx=True,
                errors={"methods": (below, above)},
                annotate={"methods": [r["method"] for r in rows_in]},
            ),
            "Error bars: the paired 95% CI of each method's delta.",
        )
    )
    return section(f"compress: {doc.get('model', '')}", source, body)


def compress_record_section(doc: dict[str, Any], source: str) -> str:
    """One ``rectune compress`` record: bytes and error of every table it changed."""
    tensors = doc.get("tensors") or {}
    header = ["table", "codec", "bytes before", "bytes after", "smaller", "max abs error"]
    rows = [
        [
            esc(name),
            esc(t.get("codec", "")),
            num(int(t.get("bytes_before", 0))),
            num(int(t.get("bytes_after", 0))),
            f"{t['bytes_before'] / t['bytes_after']:.2f}x" if t.get("bytes_after") else "&ndash;",
            num(t.get("max_abs_error")),
        ]
        for name, t in tensors.items()
    ]
    a, b = doc["artifact_bytes_before"], doc["artifact_bytes_after"]
    note = (
        f"artifact {num(int(a))} &rarr; {num(int(b))} bytes on disk ({a / b:.2f}x smaller)"
        if b
        else ""
    )
    body = [table(header, rows, cls="metrics")]
    if tensors:
        body.append(
            figure(
                plots.bars(
                    [*tensors, "artifact"],
                    [
                        *(
                            t.get("bytes_before", 0) / max(t.get("bytes_after", 1), 1)
                            for t in tensors.values()
                        ),
                        a / max(b, 1),
                    ],
                    title="how many times smaller",
                    ylabel="before / after",
                ),
                "Bytes before / after per table, and for the whole artifact directory.",
            )
        )
    return section(f"compress: {doc.get('model', '')} ({doc['method']})", source, body, note)


def l2sp_section(doc: dict[str, Any], source: str) -> str:
    rows_in = doc["rows"]
    rows = [
        [esc(r["run"]), num(r.get("lambda")), num(r["new_rmse"]), num(r["old_rmse"])]
        for r in rows_in
    ]
    body = [
        table(
            ["run", "lambda", "RMSE new (adaptation)", "RMSE old (retention)"], rows, cls="metrics"
        )
    ]
    sweep = [r for r in rows_in if r.get("lambda") is not None]
    refs = [r for r in rows_in if r.get("lambda") is None]
    groups = {
        "fine-tune, L2-SP lambda": ([r["old_rmse"] for r in sweep], [r["new_rmse"] for r in sweep])
    }
    labels = {"fine-tune, L2-SP lambda": [f"{r['lambda']:g}" for r in sweep]}
    for r in refs:
        groups[r["run"]] = ([r["old_rmse"]], [r["new_rmse"]])
    body.append(
        figure(
            plots.scatter(
                groups,
                title="L2-SP sweep",
                xlabel="RMSE on old data",
                ylabel="RMSE on new data",
                annotate=labels,
            ),
            "Lower-left is better on both; labels are lambda.",
        )
    )
    return section(f"L2-SP sweep on {doc.get('dataset', '')}", source, body)


__all__ = ["compress_record_section", "compress_section", "l2sp_section", "tune_section"]
