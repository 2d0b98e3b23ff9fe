"""Progress bars with an ETA, the long-run estimate warning (fake clock, tiny budget knob)."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console
from rich.progress import Progress

from rectune.models.neural import NCF
from rectune.testing import low_rank
from rectune.training import TrainConfig
from rectune.training.progress import PROBE_BATCHES, Bar, RunMonitor, duration, hosted


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _display() -> Progress:
    return Progress(console=Console(file=io.StringIO(), force_terminal=True), auto_refresh=False)


def test_estimate_from_the_first_batches_warns_with_the_numbers(caplog) -> None:
    clock = FakeClock()
    mon = RunMonitor("text", epochs=5, warn_seconds=900, clock=clock,
                     extra_seconds=lambda n: 60.0 * n,
                     hint="lower max_pairs/epochs or use tuning=frozen")  # fmt: skip
    mon.start_epoch(0, 313)
    with caplog.at_level(logging.WARNING, logger="rectune.training.progress"):
        for _ in range(PROBE_BATCHES):
            clock.now += 1.5
            mon.batch_done()
    # 1.5 s x 5 epochs x 313 batches + 5 catalogue refreshes of 60 s = 2647.5 s = 44 min
    assert mon.estimate == pytest.approx(1.5 * 5 * 313 + 300)
    expected = ("text: estimated 44 min for 5 epochs x 313 batches (> 15 min): "
                "lower max_pairs/epochs or use tuning=frozen")  # fmt: skip
    assert mon.warning == expected
    assert [r.getMessage() for r in caplog.records] == [expected]
    clock.now += 1000.0  # later batches do not estimate (or warn) again
    mon.batch_done()
    assert len(caplog.records) == 1


def test_no_warning_under_the_budget_or_when_disabled(caplog) -> None:
    for budget in (900.0, None):
        clock = FakeClock()
        mon = RunMonitor("ncf", epochs=2, warn_seconds=budget, clock=clock)
        mon.start_epoch(0, 2)  # fewer batches than the probe: estimate after the epoch
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                clock.now += 0.5
                mon.batch_done()
        assert mon.estimate == pytest.approx(2.0)
        assert mon.warning is None
    assert not caplog.records


def test_a_resumed_run_estimates_only_its_remaining_epochs() -> None:
    clock = FakeClock()
    mon = RunMonitor("ncf", epochs=10, first=8, warn_seconds=1.0, clock=clock)
    mon.start_epoch(8, 100)
    for _ in range(PROBE_BATCHES):
        clock.now += 1.0
        mon.batch_done()
    assert mon.estimate == pytest.approx(200.0)
    assert mon.warning is not None and "2 epochs x 100 batches" in mon.warning


def test_a_run_that_slows_after_its_first_batches_warns_after_the_first_epoch(caplog) -> None:
    clock = FakeClock()
    mon = RunMonitor("ncf", epochs=30, warn_seconds=900, clock=clock)
    mon.start_epoch(0, 280)
    with caplog.at_level(logging.WARNING, logger="rectune.training.progress"):
        for i in range(280):
            clock.now += 0.05 if i < PROBE_BATCHES else 0.26  # the machine got busy
            mon.batch_done()
        assert mon.warning is None  # 0.05 s x 8,400 batches = 7 min: no warning yet
        mon.end_epoch()
        mon.start_epoch(1, 280)
        mon.end_epoch()  # only the first epoch re-estimates
    assert mon.estimate == pytest.approx(30 * (0.15 + 277 * 0.26))
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith("ncf: estimated 36 min for 30 epochs x 280")


def test_duration_reads_like_a_person_would() -> None:
    assert [duration(s) for s in (40, 900, 2520, 9000)] == ["40 s", "15 min", "42 min", "2.5 h"]


def _fit(train: TrainConfig) -> NCF:
    model = NCF(embedding_size=4, layers=[8], epochs=3, batch_size=64)
    return model.fit(low_rank(), train=train)


def test_training_bar_counts_every_batch_of_every_epoch() -> None:
    display = _display()
    with display, hosted(display):
        _fit(TrainConfig(progress=True))
    (task,) = display.tasks
    batches = -(-len(low_rank()) // 64)
    assert task.total == 3 * batches and task.completed == 3 * batches
    assert task.description == "ncf training (3 epochs)"
    assert not task.visible  # closed at the end of the run


def test_progress_off_draws_nothing(capsys) -> None:
    display = _display()
    with display, hosted(display):
        _fit(TrainConfig(progress=False))
    assert display.tasks == []
    assert capsys.readouterr().err == ""


def test_tiny_budget_knob_warns_during_a_real_fit(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="rectune.training.progress"):
        _fit(TrainConfig(warn_seconds=1e-9))
    (record,) = caplog.records
    assert record.getMessage().startswith("ncf: estimated ")
    assert "for 3 epochs x " in record.getMessage()
    assert record.getMessage().endswith("lower epochs or subsample the data")


def test_bar_opens_only_when_work_is_done() -> None:
    display = _display()
    with display, hosted(display):
        with Bar(True, "encoding", 10):
            pass
        assert display.tasks == []
        with Bar(True, "encoding", 10) as bar:
            bar.advance(4)
        assert display.tasks[0].completed == 4
        with Bar(False, "off", 10) as bar:
            bar.advance(4)
    assert len(display.tasks) == 1
