"""Artifact format 3 (compressed storage): the lossless codecs, float16 int8 scales, varint id
maps, a deflated params.npz; format 2 artifacts still load; tampering is an `ArtifactError`
naming the file and the entry."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rectune
from rectune.compression import compress
from rectune.errors import ArtifactError
from rectune.models import create_model
from rectune.registry.codecs import decode_state, encode_state, pack_plan, quantize_int8
from rectune.registry.packing import (
    decode_ids,
    encode_ids,
    half_scales,
    varint_decode,
    varint_encode,
)
from rectune.testing import low_rank
from rectune.training import TrainConfig
from tests.registry.test_crafted_artifacts import reseal

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED_V2 = json.loads((FIXTURES / "expected_v2.json").read_text())
F = Path("params.npz")


@given(st.lists(st.integers(-(2**59), 2**59), max_size=60))
@settings(max_examples=60, deadline=None)
def test_varint_round_trips_any_integers(values: list[int]) -> None:
    x = np.array(values, dtype=np.int64)
    assert varint_decode(varint_encode(x), len(x)).tolist() == values


def test_varint_refuses_truncated_or_miscounted_bytes() -> None:
    b = varint_encode(np.array([1, 300, 70_000]))
    with pytest.raises(ValueError, match="complete varints"):
        varint_decode(b[:-1], 3)
    with pytest.raises(ValueError, match="complete varints"):
        varint_decode(b, 2)


def test_int8_scales_are_exact_float16_values_even_when_small() -> None:
    x = np.random.default_rng(0).normal(0, 1e-4, (40, 16)).astype(np.float32)  # scales < 2^-14
    q, scale = quantize_int8(x)
    half, exp = half_scales(scale)
    assert half.dtype == np.float16 and exp > 0
    assert np.array_equal(np.ldexp(half.astype(np.float64), -exp), scale.astype(np.float64))
    assert np.abs(q).max() == 127  # rounding the scale up keeps the full code range
    assert np.all(np.abs(q * scale[:, None] - x) <= scale[:, None] / 2 + 1e-12)


def test_lossless_codecs_round_trip_and_are_chosen_where_smaller() -> None:
    rng = np.random.default_rng(1)
    indptr = np.concatenate([[0], np.cumsum(rng.integers(1, 30, 50))]).astype(np.int32)
    indices = np.concatenate(
        [np.sort(rng.choice(3000, int(n), replace=False)) for n in np.diff(indptr)]
    ).astype(np.int32)
    state = {
        "_seen_indptr": indptr,
        "_seen_indices": indices,
        "_seen_data": np.ones(len(indices)),
        "_item_popularity": np.bincount(indices, minlength=3000).astype(np.float64),
        "small": rng.integers(0, 200, 100).astype(np.int64),
    }
    plan = pack_plan(state)
    assert plan == {"_seen_indptr": "varint", "_seen_indices": "varint", "_seen_data": "const",
                    "_item_popularity": "seen_count", "small": "pack"}  # fmt: skip
    stored, meta = encode_state(state, plan)
    assert "_seen_data" not in stored and "_item_popularity" not in stored
    assert stored["_seen_indices"].dtype == np.uint8
    assert stored["_seen_indices"].nbytes < 2 * len(indices)  # below uint16's size
    back = decode_state(stored, meta, F)
    for key, value in state.items():
        assert back[key].dtype == value.dtype and np.array_equal(back[key], value), key


def test_a_popularity_that_is_not_the_seen_counts_is_stored() -> None:
    indices = np.arange(40, dtype=np.int32) % 20
    pop = np.bincount(indices, minlength=20).astype(np.float64)
    pop[3] += 1  # a repeated interaction: the count of rows, not of seen entries
    plan = pack_plan({"_seen_indices": indices, "_item_popularity": pop})
    assert plan["_item_popularity"] == "pack"


def test_integer_id_maps_shrink_and_string_maps_stay_lists() -> None:
    ids = {"dtype": "int64", "ids": [1, 2, 5, 9, 200_000, *range(300_000, 300_100)]}
    enc = encode_ids(ids)
    assert set(enc) == {"dtype", "n", "varint"} and len(json.dumps(enc)) < len(json.dumps(ids))
    assert decode_ids(enc)["ids"].tolist() == ids["ids"]
    strings = {"dtype": "str", "ids": [f"u{i}" for i in range(40)]}
    assert encode_ids(strings) is strings and decode_ids(strings) is strings


@pytest.fixture(scope="module")
def int8_artifact(tmp_path_factory) -> tuple[Path, object]:
    data = low_rank(n_users=60, n_items=400, density=0.1).binarize()  # > 256 items: varint
    model = create_model("als", embedding_size=8, epochs=3).fit(data, train=TrainConfig(seed=0))
    small = compress(model, "int8")
    path = tmp_path_factory.mktemp("v3") / "als-int8"
    small.save(path)
    return path, small


def test_format_3_round_trip(int8_artifact) -> None:
    path, small = int8_artifact
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["format_version"] == 3
    codecs = {k: r["codec"] for k, r in cfg["storage"].items()}
    assert codecs["_seen_indices"] == "varint" and codecs["_seen_data"] == "const"
    assert codecs["_item_popularity"] == "seen_count" and codecs["item_factors"] == "int8"
    with zipfile.ZipFile(path / "params.npz") as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
    with np.load(path / "params.npz") as npz:
        assert npz["item_factors@scale"].dtype == np.float16
    assert "varint" in json.loads((path / "ids.json").read_text())["items"]
    back = rectune.load(path)
    users, items = small.user_map_.ids[:20], small.item_map_.ids[:20]
    np.testing.assert_array_equal(back.score(users, items), small.score(users, items))
    assert back.user_map_ == small.user_map_ and back.item_map_ == small.item_map_
    assert (back.seen_ != small.seen_).nnz == 0
    np.testing.assert_array_equal(back.item_popularity_, small.item_popularity_)
    again = path.parent / "again"
    back.save(again)  # a loaded int8 model re-saves on its grid, as int8 again
    storage = json.loads((again / "config.json").read_text())["storage"]
    assert storage["item_factors"]["codec"] == "int8"


@pytest.mark.parametrize("name", sorted(EXPECTED_V2))
def test_format_2_artifacts_still_load_and_score_the_same(name: str, tmp_path: Path) -> None:
    path = FIXTURES / f"{name}-v2"
    assert json.loads((path / "config.json").read_text())["format_version"] == 2
    model = rectune.load(path)
    want = EXPECTED_V2[name]
    got = model.score(np.array(want["users"]), np.array(want["items"]))
    np.testing.assert_allclose(got, want["score"], rtol=1e-6, atol=1e-9)
    model.save(tmp_path / "resaved")  # a format 2 model re-saves compressed (float32 scales)
    resaved = rectune.load(tmp_path / "resaved")
    np.testing.assert_allclose(resaved.score(np.array(want["users"]), np.array(want["items"])),
                               want["score"], rtol=1e-6, atol=1e-9)  # fmt: skip
    cfg = json.loads((tmp_path / "resaved" / "config.json").read_text())
    assert cfg["format_version"] == 3 and any(
        r["codec"] in ("int8", "sparse") for r in cfg["storage"].values()
    )


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "tampered"
    shutil.copytree(src, dst)
    return dst


def test_a_changed_byte_is_a_checksum_error_naming_the_file(int8_artifact, tmp_path) -> None:
    path = _copy(int8_artifact[0], tmp_path)
    raw = bytearray((path / "params.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (path / "params.npz").write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match=r"params\.npz: checksum mismatch"):
        rectune.load(path)


def test_resealed_bad_varint_bytes_name_the_entry(int8_artifact, tmp_path) -> None:
    path = _copy(int8_artifact[0], tmp_path)
    with np.load(path / "params.npz") as npz:
        state = {k: npz[k] for k in npz.files}
    state["_seen_indices"] = state["_seen_indices"][:-1]  # one varint short
    with (path / "params.npz").open("wb") as fh:
        np.savez_compressed(fh, **state)
    reseal(path)
    with pytest.raises(ArtifactError, match=r"params\.npz: entry '_seen_indices' varint storage"):
        rectune.load(path)


def test_resealed_bad_id_map_names_the_entry(int8_artifact, tmp_path) -> None:
    path = _copy(int8_artifact[0], tmp_path)
    ids = json.loads((path / "ids.json").read_text())
    ids["items"]["varint"] = "not base64!"
    (path / "ids.json").write_text(json.dumps(ids))
    reseal(path)
    with pytest.raises(ArtifactError, match=r"ids\.json: entry 'items' is not an id map"):
        rectune.load(path)


def test_resealed_bad_const_value_names_the_entry(int8_artifact, tmp_path) -> None:
    path = _copy(int8_artifact[0], tmp_path)
    cfg = json.loads((path / "config.json").read_text())
    cfg["storage"]["_seen_data"]["value"] = "one"
    (path / "config.json").write_text(json.dumps(cfg))
    reseal(path)
    with pytest.raises(ArtifactError, match=r"params\.npz: entry '_seen_data' const storage"):
        rectune.load(path)
