"""Shared helpers of the registry tests: small artifacts, manifest rehashing, state snapshots."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from rectune.data.interactions import Interactions
from rectune.models.mf import SVD
from rectune.online.registry import Registry
from rectune.testing import low_rank


def split_data(seed: int = 0) -> tuple[Interactions, Interactions]:
    """A low-rank rating set split by rows into 80% train and 20% held-out."""
    data = low_rank(n_users=80, n_items=60, density=0.35, noise=0.1, seed=seed)
    rows = np.random.default_rng(seed).permutation(len(data))
    cut = int(0.8 * len(data))
    return data.subset(np.sort(rows[:cut])), data.subset(np.sort(rows[cut:]))


def train_svd(data: Interactions, path: Path, *, epochs: int = 100, seed: int = 0) -> SVD:
    """An SVD that fits `split_data` well (held-out RMSE about 0.22, the baseline's 0.75)."""
    from rectune.training import TrainConfig

    model = SVD(embedding_size=3, epochs=epochs, learning_rate=0.05, reg=0.05)
    model.fit(data, train=TrainConfig(seed=seed))
    model.save(path)
    return model


def rehash(path: Path) -> None:
    """Recompute an artifact's manifest after a test tampered with its files (so only the
    deeper checks can catch the damage)."""
    mpath = path / "manifest.json"
    manifest = json.loads(mpath.read_text())
    files = {n: hashlib.sha256((path / n).read_bytes()).hexdigest() for n in manifest["files"]}
    manifest["files"] = files
    manifest["checksum"] = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    mpath.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _strip(obj: Any) -> Any:
    """``obj`` without times (they differ between two runs of the same change)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in ("at", "created_at")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def snapshot(reg: Registry) -> dict[str, Any]:
    """Everything a registry shows, times removed: versions, aliases, histories, audit."""
    return _strip(
        {
            "list": reg.list(),
            "aliases": reg.aliases,
            "history": dict(reg.files.state["history"]),
            "deleted": list(reg.files.state["deleted"]),
            "audit": reg.audit(),
        }
    )


def leftovers(root: Path) -> list[str]:
    """Temporary names an interrupted change left (should be none after an open)."""
    names = [p.name for p in root.iterdir()] + [p.name for p in (root / "versions").iterdir()]
    names += [p.name for p in root.parent.iterdir() if p.name.startswith(f".tmp-{root.name}")]
    return [n for n in names if n.startswith(".tmp-")]
