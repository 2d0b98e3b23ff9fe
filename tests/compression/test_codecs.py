"""The stored forms of compressed arrays: int8 error bound, lossless packing, sparse, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rectune.errors import ArtifactError
from rectune.registry.codecs import (
    decode_state,
    dequantize_int8,
    encode_state,
    pack_dtype,
    quantize_int8,
)

F = Path("params.npz")


def test_int8_error_is_at_most_half_a_step_per_row() -> None:
    x = np.random.default_rng(0).normal(0, 1, (50, 16)).astype(np.float32)
    x[3] = 0.0  # an all-zero row has scale 0 and decodes to zeros
    q, scale = quantize_int8(x)
    assert q.dtype == np.int8 and scale.shape == (50,) and np.abs(q).max() == 127
    err = np.abs(dequantize_int8(q, scale) - x)
    assert np.all(err <= scale[:, None] / 2 + 1e-7)
    assert np.all(dequantize_int8(q, scale)[3] == 0)


def test_pack_is_lossless_and_picks_the_narrowest_dtype() -> None:
    assert pack_dtype(np.array([1.0, 5.0, 3.0])) == "uint8"
    assert pack_dtype(np.array([-3, 40_000], dtype=np.int64)) == "int32"
    assert pack_dtype(np.array([0.5, 1.5])) == "float16"
    assert pack_dtype(np.array([0.1, 0.2])) is None  # not exact in float16 or float32
    assert pack_dtype(np.array([1, 2], dtype=np.uint8)) is None


def test_half_star_ratings_pack_into_one_byte_each() -> None:
    r = np.array([0.5, 4.5, 3.0, 5.0] * 8)
    stored, meta = encode_state({"r": r}, {"r": "pack"})
    assert stored["r"].dtype == np.uint8 and meta["r"]["step"] == 0.5
    back = decode_state(stored, meta, F)["r"]
    assert back.dtype == np.float64 and np.array_equal(back, r)


def test_round_trip_of_every_codec() -> None:
    rng = np.random.default_rng(1)
    dense = rng.normal(0, 1, (20, 30)).astype(np.float32)
    sparse = np.where(rng.random((20, 30)) < 0.1, dense, 0).astype(np.float32)
    state = {
        "t8": dense,
        "t16": dense.copy(),
        "s": sparse,
        "p": rng.integers(0, 200, 100).astype(np.float64),
        "txt": np.array(["Amélie (2001)", "", "東京物語"] * 6),
    }
    plan = {"t8": "int8", "t16": "fp16", "s": "sparse", "p": "pack", "txt": "utf8"}
    # the lossy codecs apply only to values already on their grid (compress puts them there)
    q, scale = quantize_int8(dense)
    state["t8"] = dequantize_int8(q, scale)
    state["t16"] = dense.astype(np.float16).astype(np.float32)
    stored, meta = encode_state(state, plan)
    assert stored["t8"].dtype == np.int8 and "t8@scale" in stored
    assert stored["t16"].dtype == np.float16 and stored["p"].dtype == np.uint8
    assert "s" not in stored and stored["s@indices"].dtype == np.uint16
    back = decode_state(stored, meta, F)
    for key, value in state.items():
        assert back[key].dtype == value.dtype
        if key == "txt":
            assert back[key].tolist() == value.tolist() and stored["txt@data"].dtype == np.uint8
            continue
        np.testing.assert_allclose(back[key], value, rtol=1e-6, atol=1e-7)


def test_lossy_codecs_never_quantize_values_off_their_grid() -> None:
    x = np.random.default_rng(2).normal(0, 1, (10, 8)).astype(np.float32)
    stored, meta = encode_state({"t": x}, {"t": "int8"})
    assert meta == {} and stored["t"].dtype == np.float32 and np.array_equal(stored["t"], x)


def test_bad_storage_is_an_error_naming_the_entry() -> None:
    x = dequantize_int8(*quantize_int8(np.ones((4, 8), dtype=np.float32)))
    stored, meta = encode_state({"t": x}, {"t": "int8"})
    del stored["t@scale"]
    with pytest.raises(ArtifactError, match=r"params\.npz: entry 't' int8 storage needs"):
        decode_state(stored, meta, F)
    with pytest.raises(ArtifactError, match=r"storage\.t' needs a codec"):
        decode_state({"t": x}, {"t": {"codec": "zip"}}, F)
    stray = {"t": x, "u@scale": np.ones(4, dtype=np.float32)}
    with pytest.raises(ArtifactError, match="'u@scale' is a storage part"):
        decode_state(stray, {}, F)
