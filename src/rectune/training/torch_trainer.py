"""`TorchTrainer`: the training loop of every torch model, honouring the fine-tuning strategy.

One loop for pretraining and fine-tuning (nanoGPT's ``init_from`` idea): parameters are grouped
by the name of their top-level submodule (``user_factors``, ``item_factors``, ``mlp``,
``encoder``, ``adapter``...), the names fine-tuning strategies address. The trainer

- freezes groups by excluding them from the optimizer (they stay bit-identical);
- applies L2-SP ``lambda ||theta - theta_parent||^2`` as a decoupled proximal step after every
  optimizer step, ``theta <- (theta + 2 lr lambda theta_0) / (1 + 2 lr lambda)``, the same rule
  the compiled SGD models use: lambda 0 is plain training, a huge lambda keeps the parent exactly,
  and the pull does not depend on Adam's gradient normalisation;
- clips the gradient norm, scales the learning rate per epoch (`TrainConfig.lr_factor`);
- checkpoints weights, optimizer state, epoch, step and RNG state to safetensors + JSON (no
  pickle), and resumes exactly: batches are drawn from ``default_rng([seed, epoch])``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from rectune.training.config import TrainConfig
from rectune.training.strategy import FinetuneStrategy

logger = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]


def param_group_of(name: str) -> str:
    """The group of a parameter: its top-level submodule name (``mlp.0.weight`` -> ``mlp``)."""
    return name.split(".", 1)[0]


def group_names(module: torch.nn.Module) -> tuple[str, ...]:
    """The parameter groups of a module, in registration order."""
    seen: dict[str, None] = {}
    for name, _ in module.named_parameters():
        seen[param_group_of(name)] = None
    return tuple(seen)


class TorchTrainer:
    """Optimizer, schedule, L2-SP, freezing, clipping and checkpoints for one module."""

    def __init__(
        self,
        module: torch.nn.Module,
        *,
        learning_rate: float,
        weight_decay: float = 0.0,
        train: TrainConfig | None = None,
        strategy: FinetuneStrategy | None = None,
        anchors: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.module = module
        self.train = train or TrainConfig()
        self.strategy = strategy or FinetuneStrategy()
        self.base_lr = learning_rate
        groups = group_names(module)
        frozen = self.strategy.frozen(groups) if self.strategy.freeze else set()
        lambdas = self.strategy.lambdas(groups) if self.strategy.l2sp else {}
        self.frozen = frozen
        self.trainable: list[tuple[str, torch.nn.Parameter]] = []
        for name, p in module.named_parameters():
            if param_group_of(name) in frozen:
                p.requires_grad_(False)
            elif p.requires_grad:
                self.trainable.append((name, p))
        self.l2sp: list[tuple[torch.nn.Parameter, torch.Tensor, float]] = []
        if lambdas:
            if anchors is None:
                anchors = {n: p.detach().clone() for n, p in module.named_parameters()}
            for name, p in self.trainable:
                lam = lambdas.get(param_group_of(name), 0.0)
                if lam > 0:
                    self.l2sp.append((p, anchors[name], lam))
        params = [p for _, p in self.trainable]
        self.optimizer = torch.optim.Adam(params, lr=learning_rate, weight_decay=weight_decay)
        self.epoch = 0
        self.step = 0

    # ------------------------------------------------------------------ loop
    def run_epoch(
        self,
        batches: Iterable[Batch],
        loss_fn: Callable[[Batch], torch.Tensor],
        *,
        lr_scale: float = 1.0,
        on_batch: Callable[[], None] | None = None,
    ) -> float:
        """One pass over ``batches``; returns the mean loss (``on_batch()`` after each step)."""
        self.module.train()
        lr = self.base_lr * lr_scale
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        total, count = 0.0, 0
        clip = self.strategy.clip_norm
        for batch in batches:
            self.optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(batch)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_([p for _, p in self.trainable], clip)
            self.optimizer.step()
            self._proximal(lr)
            total += float(loss.detach())
            count += 1
            self.step += 1
            if on_batch is not None:
                on_batch()
        self.epoch += 1
        return total / max(count, 1)

    @torch.no_grad()
    def _proximal(self, lr: float) -> None:
        for p, anchor, lam in self.l2sp:
            c = 2.0 * lr * lam
            p.add_(anchor, alpha=c).div_(1.0 + c)

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, path: str | Path) -> None:
        """Weights, optimizer state, epoch, step and torch RNG state (safetensors + JSON)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tensors = {
            f"model.{k}": v.detach().contiguous() for k, v in self.module.state_dict().items()
        }
        opt = self.optimizer.state_dict()
        scalars: dict[str, Any] = {"param_groups": opt["param_groups"], "state": {}}
        for idx, st in opt["state"].items():
            entry = {}
            for key, value in st.items():
                if torch.is_tensor(value) and value.dim() > 0:
                    tensors[f"opt.{idx}.{key}"] = value.contiguous()
                else:
                    entry[key] = float(value)
            scalars["state"][str(idx)] = entry
        tensors["rng.torch"] = torch.get_rng_state()
        save_file(tensors, str(path / "checkpoint.safetensors"))
        (path / "trainer.json").write_text(
            json.dumps({"epoch": self.epoch, "step": self.step, "optimizer": scalars}, indent=1)
        )

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore what `save_checkpoint` wrote; training then continues exactly."""
        path = Path(path)
        tensors = load_file(str(path / "checkpoint.safetensors"))
        meta = json.loads((path / "trainer.json").read_text())
        model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        self.module.load_state_dict(model_state)
        state: dict[int, dict[str, Any]] = {}
        for idx, entry in meta["optimizer"]["state"].items():
            st: dict[str, Any] = {k: torch.tensor(v) for k, v in entry.items()}
            prefix = f"opt.{idx}."
            for k, v in tensors.items():
                if k.startswith(prefix):
                    st[k[len(prefix) :]] = v
            state[int(idx)] = st
        self.optimizer.load_state_dict(
            {"state": state, "param_groups": meta["optimizer"]["param_groups"]}
        )
        torch.set_rng_state(tensors["rng.torch"])
        self.epoch, self.step = int(meta["epoch"]), int(meta["step"])


def minibatches(
    arrays: dict[str, np.ndarray], batch_size: int, seed: int, epoch: int
) -> Iterator[Batch]:
    """Shuffled minibatches of equal-length arrays; the order depends only on (seed, epoch)."""
    n = len(next(iter(arrays.values())))
    order = np.random.default_rng([seed, epoch, 17]).permutation(n)
    for start in range(0, n, batch_size):
        rows = order[start : start + batch_size]
        yield {k: torch.from_numpy(np.ascontiguousarray(v[rows])) for k, v in arrays.items()}
