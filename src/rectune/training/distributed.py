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

import argparse
import logging
import os
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist

from rectune.training.config import TrainConfig
from rectune.training.torch_trainer import Batch, TorchTrainer, minibatches

if TYPE_CHECKING:
    from rectune.data.interactions import Interactions
    from rectune.models.torch_base import TorchRecommender

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


def fit_distributed(
    model: TorchRecommender,
    data: Interactions,
    train: TrainConfig | None = None,
    *,
    save_to: str | os.PathLike[str] | None = None,
    backend: str | None = None,
) -> TorchRecommender:
    """Fit ``model`` on ``data`` with DDP across the current process group; rank 0 saves.

    Every rank must call this with the same model config, data and ``train`` (seed). The
    per-rank batch is the model's ``batch_size``; the effective batch is ``world_size`` times
    that. Returns the fitted model (identical on every rank).

    Examples
    --------
    A one-process group on the loopback interface (``torchrun`` normally creates the group)::

        >>> import os, socket
        >>> from rectune.models.ncf import NCF
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
    from torch.nn.parallel import DistributedDataParallel

    train = train or TrainConfig()
    rank, world = init_process_group(backend)
    cuda = dist.get_backend() == "nccl"
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    local = model._prepare(data)
    model.artifact_ = None
    t0 = time.perf_counter()
    torch.manual_seed(train.seed)
    prepare = getattr(model, "_prepare_training", None)
    if prepare is not None:
        prepare(local, train)
    module = model._build_module(local.n_users, local.n_items).to(device)
    model.module_ = module
    cfg: Any = model.config
    trainer = TorchTrainer(
        module,
        learning_rate=float(cfg.learning_rate),
        weight_decay=float(getattr(cfg, "weight_decay", 0.0)),
        train=train,
    )
    ddp = DistributedDataParallel(module, forward_sync_buffers=False)
    epochs = int(cfg.epochs)
    try:
        model.module_ = ddp  # the model's _loss calls self.module_(...) -> the DDP forward
        for epoch in range(epochs):
            arrays = model._training_arrays(local, np.random.default_rng([train.seed, epoch, 5]))
            batches = shard_batches(arrays, model._batch_size(), train.seed, epoch, rank, world)
            loss = trainer.run_epoch(
                _on_device(batches, device),
                lambda b: _scaled_loss(model, b, world),
                lr_scale=train.lr_factor(epoch, epochs),
            )
            logger.debug("rank %d epoch %d loss %.5f", rank, epoch + 1, loss)
    finally:
        model.module_ = module
        cleanup = getattr(model, "_end_training", None)
        if cleanup is not None:
            cleanup()
    module.cpu().eval()
    model._after_load()
    model.fit_info_ = {
        "fit_seconds": time.perf_counter() - t0,
        "n_interactions": len(data),
        "data_fingerprint": data.fingerprint(),
        "train": train.to_dict(),
        "distributed": {"world_size": world, "backend": dist.get_backend()},
    }
    if save_to is not None and rank == 0:
        model.save(str(save_to))
    dist.barrier()
    return model


def _on_device(batches: Iterator[tuple[Batch, int, int]], device: torch.device) -> Iterator[Batch]:
    for batch, rows, total in batches:
        out = {k: v.to(device) for k, v in batch.items()}
        out["_weight"] = torch.tensor(float(rows) / float(total))
        yield out


def _scaled_loss(model: TorchRecommender, batch: Batch, world: int) -> torch.Tensor:
    weight = batch.pop("_weight")
    # DDP averages gradients over ranks: scale so the average is the global batch's mean.
    return model._loss(batch) * (weight * world)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rectune.training.distributed``: fit one model under ``torchrun``."""
    from rectune.config import parse_overrides
    from rectune.data.loaders import load
    from rectune.models import create_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="registered torch model (ncf, ...)")
    parser.add_argument("--data", required=True, help="dataset path (rectune.data.load)")
    parser.add_argument("--out", required=True, help="artifact directory (written by rank 0)")
    parser.add_argument("--set", action="append", default=[], help="hyperparameter key=value")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads per rank")
    parser.add_argument("--binarize", action="store_true", help="treat all rows as positives")
    parser.add_argument("--backend", default=None, help="gloo or nccl (default: by CUDA)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load(args.data)
    if args.binarize:
        data = data.binarize()
    model = create_model(args.model, **parse_overrides(args.set))
    fit_distributed(
        model, data, TrainConfig(seed=args.seed), save_to=args.out, backend=args.backend
    )
    if dist.get_rank() == 0:
        logger.info(
            "saved %s trained with world size %d (%s) to %s",
            args.model,
            dist.get_world_size(),
            dist.get_backend(),
            args.out,
        )
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
