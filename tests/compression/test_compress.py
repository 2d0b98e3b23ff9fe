"""`compress`: int8 close to float, pruning keeps top-k, distillation ranks like its teacher,
compressed artifacts load, fine-tune and update, and refusals name model and method."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import rectune
from rectune.compression import compress, compress_artifact
from rectune.errors import ConfigError
from rectune.models import create_model
from rectune.testing import low_rank, two_clusters
from rectune.training import TrainConfig

SEED = TrainConfig(seed=0)


@pytest.fixture(scope="module")
def ratings():
    return low_rank(n_users=80, n_items=60, density=0.35, noise=0.1, seed=0)


@pytest.fixture(scope="module")
def clicks():
    data = two_clusters(n_users=60, n_items=40, density=0.3, seed=1)
    keep = data.values > 3  # own-parity items only: implicit feedback
    return type(data)(
        data.users[keep], data.items[keep], np.ones(int(keep.sum())), data.user_map,
        data.item_map, kind="weight",
    )  # fmt: skip


def _top(model, users, n=5):
    return model.recommend(users, n=n)[0]


def test_int8_svd_predictions_stay_close_and_the_tables_shrink(ratings) -> None:
    model = create_model("svd", embedding_size=16, epochs=30).fit(ratings, train=SEED)
    small = compress(model, "int8")
    u, i = ratings.user_ids, ratings.item_ids
    err = np.abs(small.predict(u, i) - model.predict(u, i))
    # per-row error <= scale/2 per factor: |dot error| <= k * max|p| * max|q| / 127 roughly
    assert err.max() < 0.05 and err.mean() < 0.01
    rec = small.compression_
    assert rec["method"] == "int8" and rec["tensors"]["user_factors"]["codec"] == "int8"
    t = rec["tensors"]["item_factors"]
    n_items = len(model.item_map_)  # float32 rows of 16 -> 16 int8 codes + a float16 scale
    assert (t["bytes_before"], t["bytes_after"]) == (n_items * 64, n_items * 18)
    assert 0 < t["max_abs_error"] < 0.02
    assert model.compression_ is None  # the input is unchanged


def test_int8_artifact_round_trip_lineage_and_storage(ratings, tmp_path: Path) -> None:
    model = create_model("als", embedding_size=16, epochs=5).fit(ratings, train=SEED)
    src, out = tmp_path / "src", tmp_path / "out"
    src_id = model.save(src)
    rec = compress_artifact(src, out, "int8")
    assert rec["artifact_bytes_after"] < rec["artifact_bytes_before"]
    back = rectune.load(out)
    small = compress(model, "int8")
    u = ratings.user_ids[:30]
    np.testing.assert_array_equal(back.score(u, ratings.item_ids[:30]),
                                  small.score(u, ratings.item_ids[:30]))  # fmt: skip
    np.testing.assert_array_equal(_top(back, u), _top(small, u))
    params = np.load(out / "params.npz")
    assert params["item_factors"].dtype == np.int8 and "item_factors@scale" in params.files
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["format_version"] == 3 and cfg["storage"]["user_factors"]["codec"] == "int8"
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["parent"]["id"] == src_id
    assert lineage["data_fingerprint"] == ratings.fingerprint()
    metrics = json.loads((out / "metrics.json").read_text())["compression"]
    assert metrics["method"] == "int8" and metrics["bytes_after"] < metrics["bytes_before"]


def test_a_compressed_artifact_finetunes_and_updates_in_float(ratings, tmp_path: Path) -> None:
    model = create_model("svd", embedding_size=8, epochs=20).fit(ratings, train=SEED)
    model.save(tmp_path / "src")
    compress_artifact(tmp_path / "src", tmp_path / "q", "int8")
    q = rectune.load(tmp_path / "q")
    assert q.user_factors_.dtype == np.float32  # dequantized on load
    again = tmp_path / "again"
    q.save(again)  # unchanged: stays compressed
    assert json.loads((again / "config.json").read_text())["format_version"] == 3
    new = low_rank(n_users=90, n_items=60, density=0.1, seed=5)
    q.finetune(new, train=TrainConfig(seed=0, epochs=2), strategy="l2sp=0.1")
    q.save(tmp_path / "child")
    cfg = json.loads((tmp_path / "child" / "config.json").read_text())
    assert cfg["format_version"] == 1 and "storage" not in cfg  # trained: saved in float
    parent = json.loads((tmp_path / "child" / "lineage.json").read_text())["parent"]
    assert parent["compression"]["method"] == "int8"
    u = rectune.load(tmp_path / "q").partial_fit(new)
    assert np.all(np.isfinite(u.predict(new.user_ids, new.item_ids)))


def test_a_finetuned_int8_ease_is_saved_as_an_ordinary_artifact(clicks, tmp_path: Path) -> None:
    # the Gram matrix still equals S^T S after training: that lossless codec alone must not
    # keep the child "compressed"
    small = compress(create_model("ease", reg=5.0).fit(clicks), "int8")
    small.finetune(clicks.subset(np.arange(40)), strategy="l2sp=1.0")
    small.save(tmp_path / "child")
    cfg = json.loads((tmp_path / "child" / "config.json").read_text())
    assert cfg["format_version"] == 1 and "compression" not in cfg


def test_fp16_and_int8_of_torch_tables(ratings, tmp_path: Path) -> None:
    model = create_model("two-tower", embedding_size=8, layers=[16], epochs=2).fit(
        ratings, train=SEED
    )
    model.save(tmp_path / "src")
    rec = compress_artifact(tmp_path / "src", tmp_path / "out", "fp16")
    assert rec["tensors"]["torch.item_factors.weight"]["codec"] == "fp16"
    back = rectune.load(tmp_path / "out")
    u, i = ratings.user_ids[:50], ratings.item_ids[:50]
    np.testing.assert_allclose(back.score(u, i), model.score(u, i), atol=1e-2)
    q = compress(model, "int8")
    np.testing.assert_allclose(q.score(u, i), model.score(u, i), atol=0.05)


def test_prune_keeps_the_top_k_neighbours_of_each_item(ratings, tmp_path: Path) -> None:
    model = create_model("item-knn", similarity="pearson_baseline").fit(ratings)
    small = compress(model, "prune", top_k=5)
    full, pruned = model.item_similarity_, small.item_similarity_
    n = len(full)
    for row in range(n):
        off = np.delete(np.arange(n), row)
        kept = off[pruned[row, off] != 0]
        assert len(kept) <= 5 and np.all(pruned[row, kept] == full[row, kept])
        positive = off[full[row, off] > 0]
        best = np.sort(full[row, positive])[::-1][: len(kept)]
        np.testing.assert_array_equal(np.sort(pruned[row, kept])[::-1], best)
    model.save(tmp_path / "src")
    compress_artifact(tmp_path / "src", tmp_path / "out", "prune", top_k=5)
    assert "item_similarity@indices" in np.load(tmp_path / "out" / "params.npz").files
    back = rectune.load(tmp_path / "out")
    u, i = ratings.user_ids[:40], ratings.item_ids[:40]
    np.testing.assert_array_equal(back.predict(u, i), small.predict(u, i))


def test_prune_ease_keeps_a_fraction_stored_sparse(clicks, tmp_path: Path) -> None:
    model = create_model("ease", reg=5.0).fit(clicks)
    model.save(tmp_path / "src")
    rec = compress_artifact(tmp_path / "src", tmp_path / "out", "prune", keep_fraction=0.1)
    w = rectune.load(tmp_path / "out").item_similarity_
    assert 0.05 < np.count_nonzero(w) / np.count_nonzero(model.item_similarity_) < 0.15
    assert rec["tensors"]["item_similarity"]["codec"] == "sparse"
    assert "gram" not in np.load(tmp_path / "out" / "params.npz").files  # recomputed on load
    np.testing.assert_array_equal(rectune.load(tmp_path / "out").gram_, model.gram_)


def test_distilled_student_ranks_like_its_teacher(clicks, tmp_path: Path) -> None:
    teacher = create_model("ease", reg=5.0).fit(clicks)
    teacher.save(tmp_path / "t")
    rec = compress_artifact(
        tmp_path / "t", tmp_path / "s", "distill", top_k=10, params={"embedding_size": 4}
    )
    student = rectune.load(tmp_path / "s")
    assert student.name == "als" and rec["teacher"] == "ease"
    users = clicks.user_ids
    t, s = _top(teacher, users, n=10), _top(student, users)
    # the student's top 5 come from the teacher's top 10 (by chance: about half of them)
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(t, s, strict=True)])
    assert overlap > 0.9
    # the student excludes the teacher's seen items and likes the user's own parity
    parity = np.array([int(u[1:]) % 2 for u in users])
    assert np.mean(((s - 1) // 10) % 2 == parity[:, None]) > 0.95
    seen = {(u, i) for u, i in zip(clicks.user_ids, clicks.item_ids, strict=True)}
    assert not any((u, i) in seen for u, row in zip(users, s, strict=True) for i in row)
    lineage = json.loads((tmp_path / "s" / "lineage.json").read_text())
    assert lineage["parent"]["id"] == teacher.artifact_["id"]


@pytest.mark.parametrize(
    ("name", "method", "options", "match"),
    [
        ("item-knn", "int8", {}, "int8 cannot apply to item-knn: .*use method 'prune'"),
        ("svd", "prune", {"top_k": 3}, "prune cannot apply to svd"),
        ("baseline", "fp16", {}, "no factor or embedding tables"),
        ("item-knn", "prune", {"keep_fraction": 0.5}, r"unknown option\(s\) \['keep_fraction'\]"),
        ("svd", "int8", {"top_k": 3}, "takes no options"),
        ("svd", "distill", {"student": "ease"}, "student must be one of"),
        ("svd", "zip", {}, "unknown compression method 'zip'"),
    ],
)
def test_settings_a_model_cannot_honour_are_errors(ratings, name, method, options, match) -> None:
    model = create_model(name, **({"epochs": 2} if name == "svd" else {})).fit(ratings)
    with pytest.raises(ConfigError, match=match):
        compress(model, method, **options)
