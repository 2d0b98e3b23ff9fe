"""``python -m rectune.cli.distributed``: data-parallel training of a torch model under torchrun.

The command-line side of `rectune.training.distributed.fit_distributed` (see
``docs/distributed.md``); ``python -m rectune.training.distributed`` runs this too.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import torch
import torch.distributed as dist

from rectune.config import parse_overrides
from rectune.data.loaders import load
from rectune.models import create_model
from rectune.training.config import TrainConfig
from rectune.training.distributed import fit_distributed

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Fit one model under ``torchrun``; rank 0 writes the artifact."""
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
    dist.barrier()  # every rank done with its collectives before any tears the group down
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
