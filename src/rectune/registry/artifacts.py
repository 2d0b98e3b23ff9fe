"""Save and load models as artifact directories that are safe to open from anywhere.

An artifact holds no pickle and no code: ``config.json`` (model name and hyperparameters),
``params.npz`` (learned arrays, read with ``allow_pickle=False``), ``ids.json`` (raw id maps),
``train.json`` (training settings), ``metrics.json``, ``lineage.json`` (parent artifact,
data fingerprint, creation time, version) and ``manifest.json`` with a SHA-256 per file, which
`load_model` verifies before reading anything else.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rectune.data.idmap import IdMap
from rectune.errors import ArtifactError, NotFittedError
from rectune.registry.catalog import SavedModel, model_class
from rectune.training.info import fit_info
from rectune.version import __version__

FORMAT_VERSION = 1
_FILES = ("config.json", "params.npz", "ids.json", "train.json", "metrics.json", "lineage.json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_model(
    model: SavedModel,
    path: str | os.PathLike[str],
    *,
    metrics: dict[str, Any] | None = None,
    parent: str | os.PathLike[str] | None = None,
    strategy: dict[str, Any] | None = None,
    overwrite: bool = True,
) -> str:
    """Write ``model`` to the directory ``path`` atomically; returns the artifact id.

    The directory is assembled in a temporary sibling and renamed into place, so a crash never
    leaves a half-written artifact where a good one stood.
    """
    if not model.is_fitted:
        raise NotFittedError(f"{type(model).__name__} is not fitted; call fit() or load()")
    path = Path(path)
    if path.exists() and not overwrite:
        raise ArtifactError(f"{path} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        artifact_id = uuid.uuid4().hex[:16]
        info = model.fit_info_
        _write_json(
            tmp / "config.json",
            {
                "model": model.name,
                "class": type(model).__name__,
                "config": model.config.to_dict(),
                "format_version": FORMAT_VERSION,
            },
        )
        state = model.get_state()
        bad = [k for k, v in state.items() if np.asarray(v).dtype == object]
        if bad:
            raise ArtifactError(f"state arrays {bad} have dtype object and cannot be saved safely")
        with (tmp / "params.npz").open("wb") as fh:
            np.savez(fh, **state)
        _write_json(
            tmp / "ids.json",
            {
                "users": model.user_map_.to_json(),
                "items": model.item_map_.to_json(),
                "kind": model.data_kind_,
            },
        )
        _write_json(
            tmp / "train.json",
            {
                "train": info.get("train"),
                "strategy": strategy,
                "fit_seconds": info.get("fit_seconds"),
            },
        )
        _write_json(tmp / "metrics.json", metrics or {})
        parent_rec = _parent_record(parent, info.get("parent"))
        if strategy is None:
            strategy = info.get("strategy")
        _write_json(
            tmp / "lineage.json",
            {
                "id": artifact_id,
                "parent": parent_rec,
                "data_fingerprint": info.get("data_fingerprint"),
                "n_interactions": info.get("n_interactions"),
                "strategy": strategy,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "rectune_version": __version__,
            },
        )
        files = {name: _sha256(tmp / name) for name in _FILES}
        checksum = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        _write_json(
            tmp / "manifest.json", {"id": artifact_id, "files": files, "checksum": checksum}
        )
        if path.exists():
            backup = path.with_name(f".{path.name}.old-{artifact_id}")
            path.rename(backup)
            tmp.rename(path)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    model.artifact_ = {"path": str(path), "id": artifact_id}
    return artifact_id


def _parent_record(
    parent: str | os.PathLike[str] | None, recorded: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Lineage of the parent: an explicit path, else what a fine-tune recorded in the model."""
    if parent is None and recorded and recorded.get("path"):
        parent = recorded["path"]
    if parent is not None:
        if not (Path(parent) / "manifest.json").is_file() and recorded:
            return dict(recorded)
        manifest = read_manifest(parent)
        return {
            "id": manifest["id"],
            "path": str(Path(parent).resolve()),
            "checksum": manifest["checksum"],
        }
    if recorded:
        return dict(recorded)
    return None


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of an artifact, after checking every file against its checksum."""
    path = Path(path)
    mpath = path / "manifest.json"
    if not mpath.is_file():
        raise ArtifactError(f"{path}: not an artifact (no manifest.json)")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{mpath}: corrupt manifest ({exc})") from None
    for name, digest in manifest.get("files", {}).items():
        fpath = path / name
        if not fpath.is_file():
            raise ArtifactError(f"{path}: missing file {name}")
        if _sha256(fpath) != digest:
            raise ArtifactError(f"{fpath}: checksum mismatch (file changed or corrupt)")
    return manifest


def read_json(path: str | os.PathLike[str], name: str) -> Any:
    """One JSON file of an artifact (config, lineage, metrics, train, ids)."""
    return json.loads((Path(path) / name).read_text())


def load_model(path: str | os.PathLike[str]) -> Any:
    """Rebuild a model from an artifact; predictions equal those of the saved model."""
    path = Path(path)
    read_manifest(path)
    cfg = read_json(path, "config.json")
    cls = model_class(cfg["model"])
    model = cls(cfg["config"])
    ids = read_json(path, "ids.json")
    with np.load(path / "params.npz", allow_pickle=False) as npz:
        state = {k: npz[k] for k in npz.files}
    model.set_state(
        state, IdMap.from_json(ids["users"]), IdMap.from_json(ids["items"]), ids["kind"]
    )
    train = read_json(path, "train.json")
    lineage = read_json(path, "lineage.json")
    model.fit_info_ = fit_info(
        seconds=train.get("fit_seconds"),
        train=train.get("train"),
        data_fingerprint=lineage.get("data_fingerprint"),
        n_interactions=lineage.get("n_interactions"),
        parent=lineage.get("parent") or None,
    )
    model.artifact_ = {"path": str(path), "id": lineage["id"], "lineage": lineage}
    return model
