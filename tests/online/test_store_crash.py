"""``kill -9`` of an ingesting process: every acknowledged batch is stored exactly once."""

from __future__ import annotations

import pytest

from rectune.online import EventStore
from rectune.testing.ingest_crash import audit, crash_loop


@pytest.mark.slow
def test_kill_9_while_ingesting_loses_no_acknowledged_batch(store_url: str) -> None:
    acked = crash_loop(store_url, kills=5, seed=1)
    report = audit(store_url, acked)
    assert report["acked_batches"] > 5
    assert report["missing_acked"] == 0
    assert report["stored_twice"] == 0
    assert report["partial_batches"] == 0
    assert report["seq_increasing"] and report["count_matches"]
    # unacknowledged batches may be committed (killed between commit and ack), never more
    # than one per kill
    assert report["acked_events"] <= report["stored_events"]
    assert report["stored_events"] <= report["acked_events"] + 5 * 20
    with EventStore(store_url) as store:  # reopens and keeps appending
        assert (
            store.append([{"event_id": "after", "user_id": "u", "item_id": "i", "timestamp": 1}])[
                "accepted"
            ]
            == 1
        )
