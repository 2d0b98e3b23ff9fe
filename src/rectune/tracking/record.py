"""What each command puts in its MLflow run: a fit, an evaluation, a study, an updater session.

Every run has the tags ``rectune.command`` and ``rectune.version``; a run about an artifact
adds ``rectune.model``, ``rectune.artifact_id``, ``rectune.data_fingerprint`` and, for a
fine-tuned or updated artifact, ``rectune.parent_id`` / ``rectune.parent_checksum``.

=================  =========================================================================
command            run contents
=================  =========================================================================
train, finetune    params: ``model``, the model config, ``train.*`` (``strategy.*``);
                   metrics: ``fit_seconds``, ``n_interactions``, per-epoch ``loss`` (and any
                   other per-epoch value) with ``step=epoch``, ``validation_<metric>`` per
                   epoch when fine-tuning held out a validation share; artifacts: the
                   artifact directory under ``artifact/``
evaluate           params: ``model``, the model config, ``split.*``; metrics: the fold means,
                   each fold's values with ``step=fold`` (``fold_<metric>``), fold k's
                   per-epoch loss as ``fold<k>_loss``; artifacts: ``evaluation.json``
tune               one parent run (params: model, metric, split, trials, the space; metrics:
                   ``best_validation_<m>``, ``test_tuned_<m>``, ``test_default_<m>``, search
                   seconds; artifacts: ``tune.json``, the best TOML) and one nested run per
                   trial (params: the trial's values; metric ``validation_<m>``, the pruner's
                   per-epoch values as ``epoch_validation_<m>`` with ``step=epoch``,
                   per-epoch ``loss``; tags ``rectune.trial``, ``rectune.trial_state``); a
                   resumed study's run holds every trial of the study, earlier ones too
updater            one run per session, one step per cycle (`UpdaterRun`)
=================  =========================================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rectune.tracking.runs import Run

#: Keys of ``fit_info_`` logged as metrics when they are numbers.
_FIT_METRICS = ("fit_seconds", "n_interactions", "epochs_run", "new_users", "new_items")


def artifact_tags(artifact_dir: str | Path) -> dict[str, Any]:
    """Tags naming a saved artifact: its model, id, data fingerprint and parent (if any)."""
    from rectune.registry.artifacts import read_json

    lineage = read_json(artifact_dir, "lineage.json")
    cfg = read_json(artifact_dir, "config.json")
    parent = lineage.get("parent") or {}
    return {
        "rectune.model": cfg.get("model"),
        "rectune.artifact_id": lineage.get("id"),
        "rectune.data_fingerprint": lineage.get("data_fingerprint"),
        "rectune.parent_id": parent.get("id"),
        "rectune.parent_checksum": parent.get("checksum"),
        "rectune.artifact_created_at": lineage.get("created_at"),
    }


def log_fit(
    run: Run,
    model: Any,
    artifact_dir: str | Path,
    *,
    strategy: dict[str, Any] | None = None,
    validation_metric: str | None = None,
) -> None:
    """Log a fitted (or fine-tuned) and saved ``model``: config, training settings, fit
    record, per-epoch values, and the artifact directory itself."""
    info = model.fit_info_
    run.log_params({"model": model.name, **model.config.to_dict()})
    if info.get("train"):
        run.log_params(info["train"], prefix="train.")
    if strategy:
        run.log_params(strategy, prefix="strategy.")
    run.log_metrics({k: info.get(k) for k in _FIT_METRICS})
    run.log_epochs(info.get("epoch_history") or [])
    history = info.get("validation_history") or []
    if history:
        name = f"validation_{validation_metric or 'score'}"
        run.log_series({name: [(epoch, v) for epoch, v in enumerate(history, start=1)]})
    run.set_tags(artifact_tags(artifact_dir))
    run.log_dir(artifact_dir, "artifact")


def log_evaluation(run: Run, doc: dict[str, Any]) -> None:
    """Log an `EvaluationResult` record (``to_dict`` form): means, folds, per-epoch loss."""
    run.log_params({"model": doc["model"], **(doc.get("config") or {})})
    run.log_params(doc.get("split") or {}, prefix="split.")
    run.log_metrics(doc.get("mean") or {})
    series: dict[str, list[tuple[int, Any]]] = {}
    for k, fold in enumerate(doc.get("folds") or [], start=1):
        for name, value in {**fold["metrics"], "fit_seconds": fold.get("fit_seconds")}.items():
            series.setdefault(f"fold_{name}", []).append((k, value))
        run.log_epochs(fold.get("epoch_history") or [], prefix=f"fold{k}_")
    run.log_series(series)
    data = doc.get("data") or {}
    run.set_tags(
        {
            "rectune.model": doc["model"],
            "rectune.data_fingerprint": data.get("fingerprint"),
            "rectune.data_path": data.get("path"),
        }
    )
    run.log_json(doc, "evaluation.json")


def log_tune(run: Run, doc: dict[str, Any], best_toml: str | Path | None = None) -> None:
    """Log a `TuneResult` record: the study on ``run``, each trial as a nested run."""
    m = doc["metric"]
    run.log_params(
        {
            "model": doc["model"],
            "metric": m,
            "direction": doc["direction"],
            "study_name": doc["study_name"],
            "n_trials": doc["n_trials"],
            "split": doc["split"],
            "validation": doc["validation"],
            "space": doc["space"],
        }
    )
    run.log_params(doc["best"]["params"], prefix="best.")
    test = doc.get("test") or {}
    run.log_metrics(
        {
            f"best_validation_{m}": doc["best"]["value"],
            f"test_tuned_{m}": (test.get("tuned") or {}).get(m),
            f"test_default_{m}": (test.get("default") or {}).get(m),
            "n_pruned": doc.get("n_pruned"),
            "search_seconds": doc["seconds"]["search"],
            "refit_seconds": doc["seconds"]["refit"],
        }
    )
    run.set_tags(
        {
            "rectune.model": doc["model"],
            "rectune.best_trial": doc["best"]["trial"],
            "rectune.data_fingerprint": (doc.get("data") or {}).get("fingerprint"),
        }
    )
    for trial in doc["trials"]:
        tags = {"rectune.trial": trial["number"], "rectune.trial_state": trial["state"]}
        with run.child(f"trial-{trial['number']}", tags) as child:
            child.log_params(trial["params"])
            child.log_metrics({f"validation_{m}": trial["value"], "seconds": trial["seconds"]})
            steps = [(int(e) + 1, v) for e, v in trial.get("intermediate", {}).items()]
            child.log_series({f"epoch_validation_{m}": steps})
            child.log_epochs(trial.get("epoch_history") or [])
    run.log_json(doc, "tune.json")
    if best_toml is not None:
        run.client.log_artifact(run.run_id, str(best_toml))


class UpdaterRun:
    """An updater session's run: one step per cycle, ``step`` = the cycle's number (1, 2..).

    Metrics per cycle: ``promoted`` (1/0), ``version``, ``events``, ``holdout``, ``seconds``,
    ``lag_events`` (store events the alias does not hold yet, after the cycle),
    ``prequential_<metric>`` (the champion scored on the cycle's events before learning them),
    and the guard's ``guard_<metric>_candidate`` / ``_current`` / ``_delta``; the reason of a
    refusal is the tag ``rectune.last_refusal``. `finish` logs the alias's artifact (the
    session's last champion) under ``artifact/`` with its tags. One run per session rather than
    a nested run per cycle: a service's updater runs thousands of cycles, and MLflow draws a
    metric over steps as one curve.
    """

    def __init__(self, run: Run, updater: Any) -> None:
        self.run, self.updater, self.step = run, updater, 0
        run.log_params(
            {
                "policy": updater.policy,
                "strategy": updater.strategy,
                "alias": updater.alias,
                "every_events": updater.every_events,
                "every_seconds": updater.every_seconds,
                "holdout": updater.holdout,
                "retrain_every_events": updater.retrain_every_events,
                "registry": str(updater.registry.root),
                "store": updater.store.url,
            }
        )

    def cycle(self, cycle: Any) -> None:
        """Log one finished cycle (a `rectune.online.live.Cycle`)."""
        self.step += 1
        status = self.updater.status()
        values: dict[str, Any] = {
            "promoted": int(bool(cycle.promoted)),
            "version": cycle.version,
            "base_version": cycle.base_version,
            "events": cycle.events,
            "holdout": cycle.holdout,
            "seconds": cycle.seconds,
            "last_seq": cycle.last_seq,
            "lag_events": status["lag_events"],
        }
        values.update({f"prequential_{k}": v for k, v in cycle.prequential.items()})
        for check in self._checks(cycle.version):
            for part in ("candidate", "current", "delta"):
                values[f"guard_{check['metric']}_{part}"] = check.get(part)
        self.run.log_metrics(values, step=self.step)
        if not cycle.promoted:
            self.run.set_tags({"rectune.last_refusal": cycle.reason})
        self.run.set_tags({"rectune.champion_version": status["version"]})

    def finish(self) -> None:
        """End of the session: the alias's artifact (the champion now) under ``artifact/``."""
        status = self.updater.status()
        version = status["version"]
        self.run.log_metrics({"cycles": self.step, "final_lag_events": status["lag_events"]})
        if version is not None:
            path = self.updater.registry.resolve(version).path
            self.run.set_tags({**artifact_tags(path), "rectune.champion_version": version})
            self.run.log_dir(path, "artifact")

    def _checks(self, version: int | None) -> list[dict[str, Any]]:
        """The guard's checks of ``version``'s promotion, from the registry's audit log."""
        for record in reversed(self.updater.registry.audit()):
            if record.get("to") == version and record.get("action") in ("promote", "refuse"):
                return list(record.get("checks") or [])
        return []


__all__ = ["UpdaterRun", "artifact_tags", "log_evaluation", "log_fit", "log_tune"]
