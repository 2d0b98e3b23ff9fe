"""Per-epoch values of a fit: recorded in ``fit_info_["epoch_history"]`` and shown to observers.

Models that train in epochs, iterations or sweeps (SVD, SVD++, NMF, BPMF, ALS, BPR, every torch
model) call `report_epoch` after each one with its training loss and a scorer of the model as it
is at that moment (what each loss is: the README's "Per-epoch history" table). The
values go into the fit record (learning curves for reports), and an observer installed with
`observe_epochs` sees them as they happen: the tuner scores its validation rows with the scorer
and prunes a bad trial by raising from the observer, which ends the fit.

Examples
--------
>>> seen = []
>>> history: list[dict[str, float]] = []
>>> with observe_epochs(lambda epoch, loss, score: seen.append((epoch, loss))):
...     report_epoch(history, 0, 1.5, lambda users, items: users * 0.0)
>>> seen, history
([(0, 1.5)], [{'epoch': 1, 'loss': 1.5}])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

#: Scores of ``(users, items)`` pairs in the model's own indices, from the model mid-fit.
EpochScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: ``observer(epoch, loss, score)``, called after every epoch (0-based); may raise to stop.
EpochObserver = Callable[[int, float, EpochScorer], None]

_OBSERVER: ContextVar[EpochObserver | None] = ContextVar("rectune_epoch_observer", default=None)


@contextmanager
def observe_epochs(observer: EpochObserver) -> Iterator[None]:
    """Show every epoch reported inside the block to ``observer`` (this thread/context only)."""
    token = _OBSERVER.set(observer)
    try:
        yield
    finally:
        _OBSERVER.reset(token)


def observing() -> bool:
    """Whether an observer is installed (models may skip work no one reads)."""
    return _OBSERVER.get() is not None


def report_epoch(
    history: list[dict[str, float]], epoch: int, loss: float, score: EpochScorer
) -> None:
    """Record epoch ``epoch`` (0-based) with its training ``loss`` and call the observer."""
    history.append({"epoch": epoch + 1, "loss": float(loss)})
    observer = _OBSERVER.get()
    if observer is not None:
        observer(epoch, float(loss), score)


__all__ = ["EpochObserver", "EpochScorer", "observe_epochs", "observing", "report_epoch"]
