"""Crafted artifacts (checksums recomputed, so the manifest passes): every load failure is an
`ArtifactError` that names the file and the entry, never a bare numpy/KeyError/JSON error."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rectune.errors import ArtifactError
from rectune.models import create_model
from rectune.registry import load_model, save_model
from rectune.testing import low_rank

FILES = ("config.json", "params.npz", "ids.json", "train.json", "metrics.json", "lineage.json")


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("art") / "svd"
    save_model(create_model("svd", epochs=2, embedding_size=3).fit(low_rank()), path)
    return path


def reseal(path: Path, files: tuple[str, ...] = FILES) -> None:
    """Recompute the manifest as `save_model` writes it, so tampering passes the checksums."""
    digests = {n: hashlib.sha256((path / n).read_bytes()).hexdigest() for n in files}
    checksum = hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(files=digests, checksum=checksum)
    (path / "manifest.json").write_text(json.dumps(manifest))


def crafted(saved: Path, tmp_path: Path, edit: Callable[[Path], None]) -> Path:
    path = tmp_path / "crafted"
    shutil.copytree(saved, path)
    edit(path)
    reseal(path)
    return path


def edit_params(change: Callable[[dict[str, np.ndarray]], None]) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        with np.load(path / "params.npz") as npz:
            state = {k: npz[k] for k in npz.files}
        change(state)
        with (path / "params.npz").open("wb") as fh:
            np.savez(fh, **state)  # np.savez pickles object arrays: what a crafted file holds

    return edit


def edit_json(name: str, change: Callable[[dict], object]) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        obj = json.loads((path / name).read_text())
        out = change(obj)
        (path / name).write_text(json.dumps(obj if out is None else out))

    return edit


def _set(key: str, value: object) -> Callable[[dict], None]:
    return lambda state: state.__setitem__(key, value)


def _drop(key: str) -> Callable[[dict], None]:
    def drop(obj: dict) -> None:
        del obj[key]

    return drop


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "object array": (
        edit_params(_set("user_bias", np.array([{"x": 1}, None], dtype=object))),
        r"params\.npz: entry 'user_bias' cannot be read",
    ),
    "missing entry": (
        edit_params(_drop("item_factors")),
        r"params\.npz: missing entry 'item_factors'",
    ),
    "missing base entry": (
        edit_params(_drop("_global_mean")),
        r"params\.npz: missing entry '_global_mean'",
    ),
    "string dtype": (
        edit_params(_set("_global_mean", np.array(["3.5"]))),
        r"params\.npz: entry '_global_mean' must be numeric",
    ),
    "complex dtype": (
        edit_params(lambda s: s.__setitem__("user_bias", s["user_bias"].astype(complex))),
        r"params\.npz: entry 'user_bias' has unsupported dtype",
    ),
    "short rows": (
        edit_params(lambda s: s.__setitem__("user_factors", s["user_factors"][:-1])),
        r"params\.npz: entry 'user_factors' must have \d+ users rows|entry 'user_factors'",
    ),
    "seen index out of range": (
        edit_params(lambda s: s.__setitem__("_seen_indices", s["_seen_indices"] + 10_000)),
        r"params\.npz: entry '_seen_indices' must be item indices",
    ),
    "bad JSON": (
        lambda p: (p / "config.json").write_text("{not json"),
        r"config\.json: not valid JSON",
    ),
    "config not an object": (
        edit_json("config.json", lambda obj: [obj]),
        r"config\.json: must hold a JSON object",
    ),
    "unknown model": (
        edit_json("config.json", lambda obj: obj.__setitem__("model", "no-such-model")),
        r"config\.json: entry 'model': unknown model 'no-such-model'",
    ),
    "bad hyperparameter": (
        edit_json("config.json", lambda obj: obj["config"].__setitem__("embedding_size", -2)),
        r"config\.json: entry 'config'.*embedding_size",
    ),
    "newer format": (
        edit_json("config.json", lambda obj: obj.__setitem__("format_version", 99)),
        r"config\.json: entry 'format_version'",
    ),
    "ids lack a map": (
        edit_json("ids.json", _drop("items")),
        r"ids\.json: missing entry 'items'",
    ),
    "lineage lacks id": (
        edit_json("lineage.json", _drop("id")),
        r"lineage\.json: missing entry 'id'",
    ),
    "params not a zip": (
        lambda p: (p / "params.npz").write_bytes(b"\x80\x04 definitely not a zip"),
        r"params\.npz: unreadable",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_crafted_artifact_is_a_typed_error_naming_file_and_entry(saved, tmp_path, case) -> None:
    edit, message = CASES[case]
    path = crafted(saved, tmp_path, edit)
    with pytest.raises(ArtifactError, match=message) as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_the_untouched_copy_still_loads(saved, tmp_path) -> None:
    path = crafted(saved, tmp_path, lambda p: None)
    data = low_rank()
    loaded = load_model(path)
    original = load_model(saved)
    np.testing.assert_array_equal(
        loaded.predict(data.user_ids, data.item_ids), original.predict(data.user_ids, data.item_ids)
    )


def test_manifest_failures_are_typed(saved, tmp_path) -> None:
    path = tmp_path / "m"
    shutil.copytree(saved, path)
    (path / "metrics.json").unlink()
    with pytest.raises(ArtifactError, match=r"missing file metrics\.json"):
        load_model(path)
    shutil.copy(saved / "metrics.json", path / "metrics.json")
    (path / "ids.json").write_text("{}")
    with pytest.raises(ArtifactError, match=r"ids\.json: checksum mismatch"):
        load_model(path)
    # A manifest that leaves a file out would leave that file unverified: refused.
    shutil.copy(saved / "ids.json", path / "ids.json")
    reseal(path, files=tuple(f for f in FILES if f != "params.npz"))
    with pytest.raises(ArtifactError, match=r"manifest\.json: entry 'files' lacks params\.npz"):
        load_model(path)
    (path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError, match=r"manifest\.json: entry 'files'"):
        load_model(path)


def test_torch_state_mismatch_is_typed(tmp_path) -> None:
    pytest.importorskip("torch")
    model = create_model("ncf", embedding_size=4, layers=[4], epochs=1).fit(low_rank())
    save_model(model, tmp_path / "ncf")

    def shrink(state: dict[str, np.ndarray]) -> None:
        key = next(k for k in state if k.startswith("torch.") and state[k].ndim == 2)
        state[key] = state[key][:, :1]

    path = crafted(tmp_path / "ncf", tmp_path, edit_params(shrink))
    with pytest.raises(ArtifactError, match=r"params\.npz: does not fit a NCF"):
        load_model(path)
