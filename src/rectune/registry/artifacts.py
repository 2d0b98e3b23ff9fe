"""Save and load models as artifact directories that are safe to open from anywhere.

An artifact holds no pickle and no code: ``config.json`` (model name and hyperparameters),
``params.npz`` (learned arrays, read with ``allow_pickle=False``), ``ids.json`` (raw id maps),
``train.json`` (training settings), ``metrics.json``, ``lineage.json`` (parent artifact,
data fingerprint, creation time, version) and ``manifest.json`` with a SHA-256 per file, which
`load_model` verifies before reading anything else.
"""

from __future__ import annotations

import hashlib
import io
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
from rectune.errors import ArtifactError, NotFittedError, RectuneError
from rectune.registry.catalog import SavedModel, model_class
from rectune.registry.codecs import (
    COMPRESSED_VERSION,
    decode_state,
    parent_compression,
    stored_compressed,
)
from rectune.registry.durable import fsync_dir, write_file
from rectune.registry.packing import decode_ids, encode_ids
from rectune.training.info import fit_info
from rectune.version import __version__

#: Ordinary artifacts keep writing version 1; versions 2 and 3 mark stored-compressed arrays
#: (``"storage"`` in config.json, `rectune.registry.codecs`; 3 adds the varint, const and
#: seen_count codecs, float16 scales, a deflated params.npz and varint id maps), which older
#: readers refuse. Every version up to this one loads.
FORMAT_VERSION = COMPRESSED_VERSION
_PLAIN_VERSION = 1
_FILES = ("config.json", "params.npz", "ids.json", "train.json", "metrics.json", "lineage.json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_bytes(obj: Any, *, indent: int | None = 2) -> bytes:
    """``obj`` as sorted JSON; ``indent=None`` for big files (the C encoder, ~10x faster)."""
    return (json.dumps(obj, indent=indent, sort_keys=True, default=_json_default) + "\n").encode()


class _Writer:
    """Writes an artifact's files and hashes the bytes as they are written (no read-back);
    ``durable``: each file is fsynced before the directory is published."""

    def __init__(self, folder: Path, durable: bool) -> None:
        self.folder, self.durable = folder, durable
        self.digests: dict[str, str] = {}

    def write(self, name: str, data: bytes | memoryview) -> None:
        self.digests[name] = hashlib.sha256(data).hexdigest()
        if self.durable:
            write_file(self.folder / name, data)
        else:
            (self.folder / name).write_bytes(data)


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
    parent: str | os.PathLike[str] | dict[str, Any] | None = None,
    strategy: dict[str, Any] | None = None,
    overwrite: bool = True,
    durable: bool = False,
) -> str:
    """Write ``model`` to the directory ``path`` atomically; returns the artifact id.

    The directory is assembled in a temporary sibling and renamed into place, so a crash never
    leaves a half-written artifact where a good one stood. The manifest's SHA-256 digests are
    those of the bytes written (``model.artifact_["checksum"]`` is the manifest checksum);
    ``durable`` fsyncs every file and the directory before the rename (for a version a
    registry publishes by moving it in, so a power cut cannot leave it with empty files).
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
        state = model.get_state()
        bad = [k for k, v in state.items() if np.asarray(v).dtype == object]
        if bad:
            raise ArtifactError(f"state arrays {bad} have dtype object and cannot be saved safely")
        cfg: dict[str, Any] = {
            "model": model.name,
            "class": type(model).__name__,
            "config": model.config.to_dict(),
            "format_version": _PLAIN_VERSION,
        }
        state = stored_compressed(model, state, cfg)
        compact = cfg["format_version"] >= COMPRESSED_VERSION  # deflated, varint id maps
        out = _Writer(tmp, durable)
        out.write("config.json", _json_bytes(cfg))
        buf = io.BytesIO()
        (np.savez_compressed if compact else np.savez)(buf, **state)
        out.write("params.npz", buf.getbuffer())
        del buf
        maps = [m.to_json() for m in (model.user_map_, model.item_map_)]
        if compact:
            maps = [encode_ids(m) for m in maps]
        ids = {"users": maps[0], "items": maps[1], "kind": model.data_kind_}
        out.write("ids.json", _json_bytes(ids, indent=None))
        train_rec = {
            "train": info.get("train"),
            "strategy": strategy,
            "fit_seconds": info.get("fit_seconds"),
        }
        out.write("train.json", _json_bytes(train_rec))
        out.write("metrics.json", _json_bytes(metrics or {}))
        parent_rec = _parent_record(parent, info.get("parent"))
        if strategy is None:
            strategy = info.get("strategy")
        lineage = {
            "id": artifact_id,
            "parent": parent_rec,
            "data_fingerprint": info.get("data_fingerprint"),
            "n_interactions": info.get("n_interactions"),
            "strategy": strategy,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "rectune_version": __version__,
        }
        out.write("lineage.json", _json_bytes(lineage))
        files = {name: out.digests[name] for name in _FILES}
        checksum = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        manifest = {"id": artifact_id, "files": files, "checksum": checksum}
        out.write("manifest.json", _json_bytes(manifest))
        if durable:
            fsync_dir(tmp)
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
    model.artifact_ = {"path": str(path), "id": artifact_id, "checksum": checksum}
    return artifact_id


def _parent_record(
    parent: str | os.PathLike[str] | dict[str, Any] | None, recorded: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Lineage of the parent: an explicit path (its manifest verified) or record (``id``,
    ``path``, ``checksum``: a registry version, verified when it was added), else what a
    fine-tune recorded in the model."""
    rec = _parent_fields(parent, recorded)
    if rec is not None and "compression" not in rec:
        comp = parent_compression(rec.get("path"))
        if comp is not None:
            rec["compression"] = comp
    return rec


def _parent_fields(
    parent: str | os.PathLike[str] | dict[str, Any] | None, recorded: dict[str, Any] | None
) -> dict[str, Any] | None:
    if isinstance(parent, dict):
        return {k: parent[k] for k in ("id", "path", "checksum")}
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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{mpath}: corrupt manifest ({exc})") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(d, str) for d in files.values()):
        raise ArtifactError(f"{mpath}: entry 'files' must map file names to SHA-256 digests")
    unlisted = [name for name in _FILES if name not in files]
    if unlisted:
        raise ArtifactError(f"{mpath}: entry 'files' lacks {', '.join(unlisted)}")
    for name, digest in files.items():
        fpath = path / name
        if Path(name).name != name or not fpath.is_file():
            raise ArtifactError(f"{path}: missing file {name}")
        if _sha256(fpath) != digest:
            raise ArtifactError(f"{fpath}: checksum mismatch (file changed or corrupt)")
    for key in ("id", "checksum"):
        if not isinstance(manifest.get(key), str):
            raise ArtifactError(f"{mpath}: entry {key!r} missing or not a string")
    return manifest


def read_json(path: str | os.PathLike[str], name: str) -> Any:
    """One JSON file of an artifact (config, lineage, metrics, train, ids)."""
    fpath = Path(path) / name
    try:
        return json.loads(fpath.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{fpath}: missing file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{fpath}: not valid JSON ({exc})") from None


def _json_object(path: Path, name: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """A JSON file that must hold an object with ``keys``; errors name the file and entry."""
    obj = read_json(path, name)
    if not isinstance(obj, dict):
        raise ArtifactError(f"{path / name}: must hold a JSON object, not {type(obj).__name__}")
    for key in keys:
        if key not in obj:
            raise ArtifactError(f"{path / name}: missing entry {key!r}")
    return obj


#: Base state every model saves (`Recommender.get_state`), checked before the model reads it.
_BASE_STATE = (
    "_global_mean",
    "_rating_range",
    "_item_popularity",
    "_seen_indptr",
    "_seen_indices",
    "_seen_data",
)


def _read_params(path: Path) -> dict[str, np.ndarray]:
    """Every array of ``params.npz`` (no pickle); an unreadable entry is named."""
    fpath = path / "params.npz"
    try:
        npz = np.load(fpath, allow_pickle=False)
    except Exception as exc:  # not a zip, a pickle, truncated...: all a corrupt file
        raise ArtifactError(f"{fpath}: unreadable ({exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ArtifactError(f"{fpath}: not an .npz archive of named arrays")
    state: dict[str, np.ndarray] = {}
    with npz:
        for key in npz.files:
            try:
                state[key] = npz[key]
            except Exception as exc:  # object arrays (need pickle), bad headers, bad zip data
                raise ArtifactError(f"{fpath}: entry {key!r} cannot be read ({exc})") from None
    for key, arr in state.items():
        if arr.dtype.kind not in "biufU":
            raise ArtifactError(f"{fpath}: entry {key!r} has unsupported dtype {arr.dtype}")
    return state


def _check_state(
    fpath: Path,
    state: dict[str, np.ndarray],
    axes: dict[str, tuple[str, ...]],
    n_users: int,
    n_items: int,
) -> None:
    """Shapes and dtypes the base state and the id-indexed arrays must have (`row_axes`)."""
    missing = [k for k in (*_BASE_STATE, *axes) if k not in state]
    if missing:
        raise ArtifactError(f"{fpath}: missing entry {missing[0]!r}")

    def bad(key: str, why: str) -> ArtifactError:
        return ArtifactError(f"{fpath}: entry {key!r} {why} (shape {state[key].shape})")

    for key in _BASE_STATE:
        if state[key].dtype.kind not in "biuf":
            raise bad(key, f"must be numeric, not {state[key].dtype}")
    want = {"_global_mean": (1,), "_rating_range": (2,), "_item_popularity": (n_items,)}
    for key, shape in want.items():
        if state[key].shape != shape:
            raise bad(key, f"must have shape {shape}")
    indptr, indices = state["_seen_indptr"], state["_seen_indices"]
    if indptr.shape != (n_users + 1,) or indptr.dtype.kind not in "iu":
        raise bad("_seen_indptr", f"must be {n_users + 1} integer offsets")
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != len(indices):
        raise bad("_seen_indptr", "must rise from 0 to the number of seen entries")
    in_range = not len(indices) or 0 <= indices.min() <= indices.max() < n_items
    if indices.dtype.kind not in "iu" or not in_range:
        raise bad("_seen_indices", f"must be item indices in [0, {n_items})")
    if state["_seen_data"].shape != indices.shape:
        raise bad("_seen_data", f"must have one value per seen entry ({len(indices)})")
    sizes = {"user": n_users, "item": n_items}
    for key, entities in axes.items():
        arr = state[key]
        lengths = tuple(sizes[e] for e in entities)
        if arr.shape[: len(lengths)] != lengths:
            rows = " x ".join(f"{n} {e}s" for n, e in zip(lengths, entities, strict=True))
            raise bad(key, f"must have {rows} rows")


def load_model(path: str | os.PathLike[str]) -> Any:
    """Rebuild a model from an artifact; predictions equal those of the saved model.

    Every failure (missing or corrupt file, checksum mismatch, unknown model, bad entry, wrong
    dtype or shape) is an `ArtifactError` naming the file and the entry.
    """
    path = Path(path)
    read_manifest(path)
    cfg_path = path / "config.json"
    cfg = _json_object(path, "config.json", ("model", "config"))
    version = cfg.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ArtifactError(
            f"{cfg_path}: entry 'format_version' is {version!r}; this rectune reads up to "
            f"{FORMAT_VERSION} (upgrade rectune)"
        )
    try:
        cls = model_class(cfg["model"])
    except (RectuneError, ImportError, AttributeError, TypeError) as exc:
        raise ArtifactError(f"{cfg_path}: entry 'model': {exc}") from None
    if not isinstance(cfg["config"], dict):
        raise ArtifactError(f"{cfg_path}: entry 'config' must be a JSON object")
    try:
        model = cls(cfg["config"])
    except RectuneError as exc:
        raise ArtifactError(f"{cfg_path}: entry 'config': {exc}") from None
    ids_path = path / "ids.json"
    ids = _json_object(path, "ids.json", ("users", "items", "kind"))
    maps = {}
    for side in ("users", "items"):
        try:
            maps[side] = IdMap.from_json(decode_ids(ids[side]))
        except Exception as exc:  # wrong types, duplicates...: the map is unusable
            raise ArtifactError(f"{ids_path}: entry {side!r} is not an id map ({exc})") from None
    params = path / "params.npz"
    state = _read_params(path)
    if "storage" in cfg:
        state = decode_state(state, cfg["storage"], params)
    model.data_kind_ = ids["kind"]  # some models' axes follow the data kind (set_state sets it)
    try:
        axes = model.row_axes()
    except Exception:  # axes that depend on more fitted state: the model checks its own arrays
        axes = {}
    _check_state(params, state, axes, len(maps["users"]), len(maps["items"]))
    try:
        model.set_state(state, maps["users"], maps["items"], ids["kind"])
    except KeyError as exc:
        raise ArtifactError(f"{params}: missing entry {exc.args[0]!r}") from None
    except Exception as exc:  # the model's own checks, torch shape mismatches, ...
        raise ArtifactError(f"{params}: does not fit a {cls.__name__} ({exc})") from None
    train = _json_object(path, "train.json", ())
    lineage = _json_object(path, "lineage.json", ("id",))
    model.fit_info_ = fit_info(
        seconds=train.get("fit_seconds"),
        train=train.get("train"),
        data_fingerprint=lineage.get("data_fingerprint"),
        n_interactions=lineage.get("n_interactions"),
        parent=lineage.get("parent") or None,
    )
    model.artifact_ = {"path": str(path), "id": lineage["id"], "lineage": lineage}
    if "storage" in cfg:
        comp = cfg.get("compression") if isinstance(cfg.get("compression"), dict) else {}
        storage = {k: rec["codec"] for k, rec in cfg["storage"].items()}
        model.compression_ = {**comp, "storage": storage}
    return model


def verify_artifact(path: str | os.PathLike[str]) -> Any:
    """Load an artifact and check that every learned array is finite; returns the model.

    `load_model` already checks the manifest checksums, the entries and the shapes; this adds
    the check that a model with NaN or infinite parameters (a diverged update) is refused.
    """
    model = load_model(path)
    for key, arr in model.get_state().items():
        arr = np.asarray(arr)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            raise ArtifactError(
                f"{Path(path) / 'params.npz'}: entry {key!r} has {bad} non-finite value(s)"
            )
    return model
