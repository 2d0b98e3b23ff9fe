"""``kill -9`` of ``rectune serve`` during ingest (3 kills; `benchmarks/crash_serve.py` runs
20): every acknowledged event stored exactly once, nothing of a refused batch stored, no
partial batch, ready again within 3 s each time, no updater left behind."""

from __future__ import annotations

from pathlib import Path

from rectune.testing.serve_crash import BATCH, audit, crash_loop, setup


def test_kill_9_during_ingest_loses_and_repeats_nothing(tmp_path: Path) -> None:
    cfg = setup(tmp_path)
    loop = crash_loop(cfg, 3, seed=1)
    report = audit(cfg, loop)
    assert report["ok"], report
    assert report["acked_batches"] >= 5 and report["refused_batches"] >= 1
    assert report["stored_events"] == BATCH * (
        report["acked_batches"] + report["failed_batches_stored"]
    )
    assert len(report["ready_seconds"]) == 3


def test_the_audit_sees_a_lost_and_a_refused_batch(tmp_path: Path) -> None:
    """The audit can fail: an acknowledged batch missing from the store, a refused one stored
    and a batch stored in part are each reported."""
    from rectune.online.store import EventStore
    from rectune.testing.serve_crash import batch

    cfg = {"store": f"sqlite:///{tmp_path / 'events.db'}"}
    users, items = [1, 2, 3], [10, 20, 30]
    with EventStore(cfg["store"]) as store:
        store.append(batch(0, users, items)[:5])  # batch 0 stored in part
        refused = batch(9, users, items)
        refused[-1]["timestamp"] = 5
        store.append(refused)  # a batch that was refused, stored anyway
    lines = ["ACK 0 0\n", "ACK 1 0\n"] + [f"ACK {k} 0\n" for k in range(2, 9)]
    loop = {"kills": 0, "lines": [*lines, "REFUSED 9 422\n"], "ready_seconds": [0.5],
            "orphans_alive": []}  # fmt: skip
    report = audit(cfg, loop)
    assert not report["ok"]
    assert report["acked_missing"] == BATCH * 9 - 5
    assert report["refused_stored"] == BATCH and report["partial_batches"] == 1
