"""Opt-in progress bars with an ETA, and the warning for runs that would take too long.

`TrainConfig.progress` turns the bars on (the CLI does); off, nothing is drawn. A bar is a task
of a rich `~rich.progress.Progress` on stderr: of the display a CLI command opened with `hosted`
(a console holds one live display at a time, so everything shown during a command joins it),
else of a transient display of its own.

`RunMonitor` watches the batches of one training run (`rectune.training.torch_loop`): it drives
the bar (total = epochs x batches) and, after the first `PROBE_BATCHES` batches, estimates the
whole run (seconds per batch x batches, plus the model's time outside the batches, e.g. a text
model re-encoding its catalogue between epochs) and logs a warning with that estimate when it
exceeds `TrainConfig.warn_seconds`, before the bulk of the run starts. It estimates again from
the first whole epoch (which also holds what the first batches miss: a slower machine later,
per-epoch set-up such as cache refreshes) and warns then if it had not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

logger = logging.getLogger(__name__)

#: Batches timed before the whole run is estimated.
PROBE_BATCHES = 3

_HOSTS: list[Progress] = []


@contextmanager
def hosted(progress: Progress) -> Iterator[Progress]:
    """Bars opened inside this block become tasks of ``progress`` (a CLI command's display)."""
    _HOSTS.append(progress)
    try:
        yield progress
    finally:
        _HOSTS.remove(progress)


def columns() -> tuple[Any, ...]:
    """Description, bar, done/total, elapsed and the estimated time left."""
    return (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )


class Bar:
    """One progress bar, opened on the first `advance` (nothing drawn for work never done),
    a no-op when disabled. Closing hides it (its task stays in a hosted display's list)."""

    def __init__(self, enabled: bool, description: str, total: int | None = None) -> None:
        self.enabled = enabled
        self.description = description
        self.total = total
        self._progress: Progress | None = None
        self._own = False
        self._task: TaskID | None = None

    def _open(self) -> None:
        if _HOSTS:
            self._progress = _HOSTS[-1]
        else:
            self._progress = Progress(*columns(), console=Console(stderr=True), transient=True)
            self._progress.start()
            self._own = True
        self._task = self._progress.add_task(self.description, total=self.total)

    def advance(self, n: int = 1) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            self._open()
        assert self._progress is not None and self._task is not None
        self._progress.update(self._task, advance=n)

    def close(self) -> None:
        if self._progress is None or self._task is None:
            return
        if self._own:
            self._progress.stop()
        else:
            self._progress.update(self._task, visible=False)
        self._progress = None

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def duration(seconds: float) -> str:
    """``42 min`` / ``1.5 h`` / ``40 s``: a duration as a person reads it."""
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


class RunMonitor:
    """The bar and the early estimate of one training run (see the module docstring).

    Parameters
    ----------
    name
        Model name, in the bar and the warning.
    epochs, first
        The run covers epochs ``first .. epochs - 1`` (``first`` > 0 when resumed).
    progress
        Draw the bar (`TrainConfig.progress`).
    warn_seconds
        Warn when the estimate exceeds this (None: never).
    extra_seconds
        ``extra_seconds(n)``: the model's estimate of its time outside the batches of ``n``
        epochs (cache refreshes between epochs and at the end).
    hint
        What to change when the run is too long (ends the warning).
    clock
        Seconds now (a fake clock in tests).
    """

    def __init__(
        self,
        name: str,
        *,
        epochs: int,
        first: int = 0,
        progress: bool = False,
        warn_seconds: float | None = None,
        extra_seconds: Callable[[int], float] = lambda n: 0.0,
        hint: str = "lower epochs",
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.name = name
        self.epochs, self.first = epochs, first
        self.warn_seconds = warn_seconds
        self.extra_seconds, self.hint, self.clock = extra_seconds, hint, clock
        self.bar = Bar(progress, f"{name} training")
        self.batches: int | None = None
        self.estimate: float | None = None
        """Estimated seconds of the whole run (after `PROBE_BATCHES` batches)."""
        self.warning: str | None = None
        """The warning logged, if any."""
        self._seen = 0
        self._t0 = 0.0
        self._run_t0: float | None = None
        self._epochs_done = 0

    def start_epoch(self, epoch: int, n_batches: int | None) -> None:
        """Epoch ``epoch`` starts with ``n_batches`` batches (None: unknown)."""
        if self.batches is None and n_batches is not None:
            self.batches = n_batches
            self.bar.total = (self.epochs - self.first) * n_batches
            n = self.epochs - self.first
            self.bar.description = f"{self.name} training ({n} epoch{'s' * (n != 1)})"
        if self.estimate is None:
            self._seen, self._t0 = 0, self.clock()
        if self._run_t0 is None:
            self._run_t0 = self.clock()

    def batch_done(self) -> None:
        """One batch stepped."""
        self.bar.advance()
        if self.estimate is not None or self.batches is None:
            return
        self._seen += 1
        if self._seen >= min(PROBE_BATCHES, self.batches):
            per_batch = (self.clock() - self._t0) / self._seen
            n_epochs = self.epochs - self.first
            self.estimate = per_batch * n_epochs * self.batches + self.extra_seconds(n_epochs)
            self._check()

    def end_epoch(self) -> None:
        """An epoch finished: after the first, estimate again from its time."""
        self._epochs_done += 1
        if self._epochs_done != 1 or self._run_t0 is None or self.batches is None:
            return
        n_epochs = self.epochs - self.first
        per_epoch = self.clock() - self._run_t0
        self.estimate = per_epoch * n_epochs + self.extra_seconds(n_epochs)
        self._check()

    def _check(self) -> None:
        assert self.estimate is not None and self.batches is not None
        if self.warning is not None or self.warn_seconds is None:
            return
        if self.estimate <= self.warn_seconds:
            return
        n = self.epochs - self.first
        self.warning = (
            f"{self.name}: estimated {duration(self.estimate)} for {n} epoch{'s' * (n != 1)} "
            f"x {self.batches} batches (> {duration(self.warn_seconds)}): {self.hint}"
        )
        logger.warning("%s", self.warning)

    def close(self) -> None:
        self.bar.close()
