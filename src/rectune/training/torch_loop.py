"""The one epoch loop of every torch model: fit, fine-tuning, updates and DDP all run it.

A model exposes `TorchTrainable` (`rectune.models.neural.TorchRecommender` implements it); an
epoch draws the model's rows for that epoch from ``default_rng([seed, epoch, 5])``, cuts them
into minibatches whose order depends only on ``(seed, epoch)`` (`minibatches`, or one rank's
shard of them under DDP) and takes one `TorchTrainer` step per batch inside the model's
`~TorchTrainable.epoch_scope`. `train_epochs` runs the epochs of a run and, given a directory,
checkpoints after each one and resumes from an existing checkpoint exactly. A `RunMonitor`
(`rectune.training.progress`) watches the batches of a run: the progress bar with its ETA when
`TrainConfig.progress` is on, and a warning with the estimated run time, logged after the first
few batches, when it exceeds `TrainConfig.warn_seconds`.

Every epoch runs under torch's deterministic algorithms and with torch's random stream (dropout)
seeded from ``(seed, epoch)`` in a forked state (`seeded_epoch`), so fit, fine-tuning and updates
give the same result for the same seed whatever ran before in the process, and the caller's
global torch stream is left as it was.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from rectune.data.interactions import Interactions
from rectune.training.config import TrainConfig
from rectune.training.progress import RunMonitor
from rectune.training.torch_trainer import Batch, TorchTrainer, minibatches

logger = logging.getLogger(__name__)

#: Batches of one epoch from its rows: ``(arrays, batch_size, seed, epoch) -> batches``.
Batcher = Callable[[dict[str, np.ndarray], int, int, int], Iterable[Batch]]


class TorchTrainable(Protocol):
    """The training-hook API of a torch model (public: DDP and the drivers call it)."""

    name: str
    module_: torch.nn.Module

    def start_training(self, data: Interactions, train: TrainConfig) -> TorchTrainer:
        """Prepare a fit on ``data`` (model indices): per-run structures, a module built under
        ``torch.manual_seed(train.seed)``, and the trainer (optimizer) of the run."""

    def batch_size(self) -> int: ...

    def fit_epochs(self) -> int:
        """Epochs of a fit (the model config's)."""

    def epoch_arrays(self, data: Interactions, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Rows of one epoch as equal-length arrays (users, items, targets, negatives...)."""

    def batch_loss(self, batch: Batch, forward: torch.nn.Module) -> torch.Tensor:
        """Mean loss of one batch; ``forward`` is ``module_`` or its DDP wrapper (call it)."""

    def epoch_scope(self, trainer: TorchTrainer) -> AbstractContextManager[None]:
        """Context around one epoch (caches to refresh before, bookkeeping after)."""

    def resumed(self) -> None:
        """Called after a checkpoint was loaded into the module."""

    def extra_seconds(self, epochs: int) -> float:
        """Estimated seconds a run of ``epochs`` epochs spends outside its batches (cache
        refreshes between epochs and at the end; 0 for most models)."""

    def cost_hint(self) -> str:
        """What to change when a run is estimated too long (ends the warning)."""

    def finish_training(self) -> None:
        """End of a run: evaluation mode and caches rebuilt from the trained module."""


def run_epoch(
    model: TorchTrainable,
    trainer: TorchTrainer,
    data: Interactions,
    *,
    seed: int,
    epoch: int,
    lr_scale: float = 1.0,
    batcher: Batcher | None = None,
    loss: Callable[[Batch], torch.Tensor] | None = None,
    monitor: RunMonitor | None = None,
) -> float:
    """One pass over the epoch's rows of ``data``; returns the mean loss.

    ``batcher`` replaces `minibatches` (DDP: this rank's shards) and ``loss`` the model's
    ``batch_loss`` on its own module (DDP: through the wrapper, rescaled); ``monitor`` is told
    of the epoch and of each batch.
    """
    with seeded_epoch(seed, epoch), model.epoch_scope(trainer):
        arrays = model.epoch_arrays(data, np.random.default_rng([seed, epoch, 5]))
        batches = (batcher or minibatches)(arrays, model.batch_size(), seed, epoch)
        step = loss or (lambda batch: model.batch_loss(batch, model.module_))
        on_batch = None
        if monitor is not None:
            n_rows = len(next(iter(arrays.values()))) if arrays else 0
            size = model.batch_size()
            monitor.start_epoch(epoch, -(-n_rows // size) if batcher is None else None)
            on_batch = monitor.batch_done
        mean = trainer.run_epoch(batches, step, lr_scale=lr_scale, on_batch=on_batch)
    if monitor is not None:
        monitor.end_epoch()
    logger.debug("%s epoch %d loss %.5f", model.name, epoch + 1, mean)
    return mean


@contextmanager
def seeded_epoch(seed: int, epoch: int) -> Iterator[None]:
    """Torch's CPU random stream seeded from ``(seed, epoch)`` and deterministic kernels (CPU
    scatter-adds and index_add_ otherwise may reduce in thread order), both restored after."""
    before = torch.are_deterministic_algorithms_enabled()
    state = np.random.SeedSequence([seed, epoch, 9]).generate_state(1, dtype=np.uint64)[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(before)


def train_epochs(
    model: TorchTrainable,
    trainer: TorchTrainer,
    data: Interactions,
    *,
    seed: int,
    epochs: int,
    schedule: Callable[[int, int], float] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    batcher: Batcher | None = None,
    loss: Callable[[Batch], torch.Tensor] | None = None,
) -> None:
    """Epochs ``trainer.epoch .. epochs - 1`` of a run (``schedule(epoch, epochs)``: lr factor).

    With ``checkpoint_dir`` a checkpoint written there earlier is resumed from, and a new one is
    written after every epoch, so an interrupted run continues exactly where it stopped. The
    run is watched by a `RunMonitor` (bar, estimate; see the module docstring).
    """
    if checkpoint_dir is not None and (Path(checkpoint_dir) / "trainer.json").is_file():
        trainer.load_checkpoint(checkpoint_dir)
        model.resumed()
        logger.info("%s resumed from %s at epoch %d", model.name, checkpoint_dir, trainer.epoch)
    monitor = monitor_run(model, trainer.train, epochs, first=trainer.epoch)
    try:
        for epoch in range(trainer.epoch, epochs):
            scale = 1.0 if schedule is None else schedule(epoch, epochs)
            run_epoch(model, trainer, data, seed=seed, epoch=epoch, lr_scale=scale,
                      batcher=batcher, loss=loss, monitor=monitor)  # fmt: skip
            if checkpoint_dir is not None:
                trainer.save_checkpoint(checkpoint_dir)
    finally:
        monitor.close()


def monitor_run(
    model: TorchTrainable, train: TrainConfig, epochs: int, *, first: int = 0
) -> RunMonitor:
    """The `RunMonitor` of a run of ``model`` over epochs ``first .. epochs - 1``."""
    return RunMonitor(model.name, epochs=epochs, first=first, progress=train.progress,
                      warn_seconds=train.warn_seconds, extra_seconds=model.extra_seconds,
                      hint=model.cost_hint())  # fmt: skip


def on_device(batches: Iterator[Batch], device: torch.device) -> Iterator[Batch]:
    """The batches moved to ``device``."""
    for batch in batches:
        yield {k: v.to(device) for k, v in batch.items()}
