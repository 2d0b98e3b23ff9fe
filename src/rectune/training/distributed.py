"""Data-parallel training of the torch models with `torch.distributed` (DDP).

`fit_distributed` trains a `TorchRecommender` in every process of a process group: all ranks
build the same epoch rows and the same global minibatch order (`minibatches` depends only on
the seed and the epoch), each rank takes its contiguous shard of every global batch of
``world_size * batch_size`` rows, `DistributedDataParallel` all-reduces (averages) the
gradients, and every rank applies the same Adam step, so the replicas stay identical. Each
rank's mean loss is scaled by ``world_size * rows_on_rank / rows_in_batch``, so the averaged
gradient is exactly the gradient of the global batch's mean loss: DDP with ``world_size`` ranks
and per-rank batch ``b`` equals single-process training with batch ``world_size * b`` up to
float rounding (for losses that are means over rows, such as NCF's BCE or SASRec's per-position
losses; the two-tower's in-batch softmax draws its negatives from the rank's own shard, as usual
for in-batch negatives under data parallelism). Rank 0 writes the artifact.

Launch with ``torchrun`` (see ``docs/distributed.md``)::

    torchrun --standalone --nproc-per-node=2 -m rectune.training.distributed \\
        --model ncf --data data/ml-100k --out artifacts/ncf --set epochs=10

Backend: ``gloo`` on CPU, ``nccl`` when CUDA is available (each rank then trains on
``cuda:LOCAL_RANK`` and the model returns to the CPU afterwards).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from rectune.data.interactions import Interactions
from rectune.training.config import TrainConfig
from rectune.training.info import fit_info
from rectune.training.torch_loop import TorchTrainable, train_epochs
from rectune.training.torch_trainer import Batch, minibatches

logger = logging.getLogger(__name__)


def default_backend() -> str:
    """``nccl`` when CUDA is available, else ``gloo``."""
    return "nccl" if torch.cuda.is_available() else "gloo"


def init_process_group(backend: str | None = None) -> tuple[int, int]:
    """Join the process group described by the environment (``torchrun`` sets it).

    Returns ``(rank, world_size)``; a no-op when the group already exists.
    """
    if not dist.is_initialized():
        dist.init_process_group(backend=backend or default_backend())
    return dist.get_rank(), dist.get_world_size()


def shard_batches(
    arrays: dict[str, np.ndarray], batch_size: int, seed: int, epoch: int, rank: int, world: int
) -> Iterator[tuple[Batch, int, int]]:
    """This rank's part of every global batch of ``world * batch_size`` rows.

    Yields ``(shard, rows_on_rank, rows_in_global_batch)``. The global batches are exactly the
    ones single-process training with batch ``world * batch_size`` sees; shards are contiguous
    (``np.array_split``). A rank whose shard would be empty (a final batch shorter than the
    world) gets one row with weight 0, so every rank still joins the all-reduce.
    """
    for batch in minibatches(arrays, batch_size * world, seed, epoch):
        n = len(next(iter(batch.values())))
        cuts = [len(part) for part in np.array_split(np.arange(n), world)]
        lo = int(sum(cuts[:rank]))
        hi = lo + cuts[rank]
        if hi == lo:
            yield {k: v[:1] for k, v in batch.items()}, 0, n
        else:
            yield {k: v[lo:hi] for k, v in batch.items()}, hi - lo, n


class DistributedTrainable(TorchTrainable, Protocol):
    """A torch model `fit_distributed` can train: the torch hooks plus the fit bookkeeping."""

    fit_info_: dict[str, object]
    artifact_: dict[str, object] | None

    def prepare(self, data: Interactions) -> Interactions:
        """Id maps and base state from ``data``; the rows in the model's index space."""

    def save(self, path: str) -> str: ...


def fit_distributed(
    model: DistributedTrainable,
    data: Interactions,
    train: TrainConfig | None = None,
    *,
    save_to: str | os.PathLike[str] | None = None,
    backend: str | None = None,
) -> DistributedTrainable:
    """Fit ``model`` on ``data`` with DDP across the current process group; rank 0 saves.

    Every rank must call this with the same model config, data and ``train`` (seed). The
    per-rank batch is the model's ``batch_size``; the effective batch is ``world_size`` times
    that. The run is the single-process fit's (`rectune.training.torch_loop`), with each rank
    stepping on its shard through the DDP wrapper. Returns the fitted model (identical on every
    rank).

    Examples
    --------
    A one-process group on the loopback interface (``torchrun`` normally creates the group)::

        >>> import os, socket
        >>> from rectune.models import NCF
        >>> from rectune.testing import low_rank
        >>> with socket.socket() as s:
        ...     _ = s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
        >>> os.environ["GLOO_SOCKET_IFNAME"] = "lo"
        >>> dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
        ...                         rank=0, world_size=1)
        >>> model = fit_distributed(NCF(embedding_size=4, layers=[8], epochs=1), low_rank())
        >>> model.fit_info_["distributed"]
        {'world_size': 1, 'backend': 'gloo'}
        >>> dist.destroy_process_group(); del os.environ["GLOO_SOCKET_IFNAME"]
    """
    train = train or TrainConfig()
    rank, world = init_process_group(backend)
    cuda = dist.get_backend() == "nccl"
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    local = model.prepare(data)
    model.artifact_ = None
    t0 = time.perf_counter()
    trainer = model.start_training(local, train)
    module = model.module_.to(device)
    ddp = DistributedDataParallel(module, forward_sync_buffers=False)

    def batcher(arrays: dict[str, np.ndarray], size: int, seed: int, epoch: int) -> Iterator[Batch]:
        for shard, rows, total in shard_batches(arrays, size, seed, epoch, rank, world):
            out = {k: v.to(device) for k, v in shard.items()}
            out["_weight"] = torch.tensor(float(rows) / float(total))
            yield out

    def loss(batch: Batch) -> torch.Tensor:
        weight = batch.pop("_weight")
        # DDP averages gradients over ranks: scale so the average is the global batch's mean.
        return model.batch_loss(batch, ddp) * (weight * world)

    epochs = model.fit_epochs()
    train_epochs(model, trainer, local, seed=train.seed, epochs=epochs, schedule=train.lr_factor,
                 batcher=batcher, loss=loss)  # fmt: skip
    module.cpu()
    model.finish_training()
    model.fit_info_ = fit_info(
        seconds=time.perf_counter() - t0,
        data=data,
        train=train,
        distributed={"world_size": world, "backend": dist.get_backend()},
    )
    if save_to is not None and rank == 0:
        model.save(str(save_to))
    dist.barrier()
    return model


if __name__ == "__main__":  # the torchrun entry point lives with the other commands
    from rectune.cli.distributed import main

    raise SystemExit(main())
