"""Metric functions: hand-computed cases, a slow reference, and hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from rectune.errors import ConfigError
from rectune.evaluation.metrics import (
    MetricSpec,
    average_precision_at_k,
    coverage_at_k,
    f1_at_k,
    hit_matrix,
    hit_rate_at_k,
    mae,
    mean_metrics,
    ndcg_at_k,
    parse_metric,
    parse_metrics,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    reciprocal_rank_at_k,
    rmse,
)

PER_USER = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "f1": f1_at_k,
    "ndcg": ndcg_at_k,
    "map": average_precision_at_k,
    "mrr": reciprocal_rank_at_k,
    "hr": hit_rate_at_k,
}


# ---------------------------------------------------------------------------- reference
def reference(base: str, rec: list[int], rel: set[int], k: int) -> float:
    """Slow, obviously-correct per-user metric."""
    top = list(rec[:k])
    hits = [1 if (i >= 0 and i in rel) else 0 for i in top] + [0] * (k - len(top))
    n_hit, n_rel = sum(hits), len(rel)
    prec = n_hit / k
    rec_ = n_hit / n_rel if n_rel else 0.0
    if base == "precision":
        return prec
    if base == "recall":
        return rec_
    if base == "f1":
        return 2 * prec * rec_ / (prec + rec_) if prec + rec_ else 0.0
    if base == "ndcg":
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / math.log2(r + 2) for r in range(min(k, n_rel)))
        return dcg / idcg if idcg else 0.0
    if base == "map":
        total, seen = 0.0, 0
        for r, h in enumerate(hits):
            if h:
                seen += 1
                total += seen / (r + 1)
        return total / min(k, n_rel) if n_rel else 0.0
    if base == "mrr":
        return next((1 / (r + 1) for r, h in enumerate(hits) if h), 0.0)
    if base == "hr":
        return float(n_hit > 0)
    raise AssertionError(base)


# ---------------------------------------------------------------------------- hand-computed
def test_rmse_mae_by_hand() -> None:
    assert rmse([1, 2, 3], [2, 2, 1]) == pytest.approx(math.sqrt(5 / 3))
    assert mae([1, 2, 3], [2, 2, 1]) == pytest.approx(1.0)
    assert math.isnan(rmse([], []))
    with pytest.raises(ValueError, match="shape"):
        rmse([1, 2], [1])


def test_ranking_by_hand() -> None:
    rec = np.array([[4, 1, 7, 2], [0, 3, -1, -1], [5, 6, 8, 9]])
    rel = [[1, 2, 3], [0], [1]]
    k = 3
    assert precision_at_k(rec, rel, k).tolist() == pytest.approx([1 / 3, 1 / 3, 0])
    assert recall_at_k(rec, rel, k).tolist() == pytest.approx([1 / 3, 1.0, 0])
    assert f1_at_k(rec, rel, k).tolist() == pytest.approx([1 / 3, 0.5, 0])
    d2 = 1 / math.log2(3)
    ideal0 = 1 + d2 + 1 / math.log2(4)
    assert ndcg_at_k(rec, rel, k).tolist() == pytest.approx([d2 / ideal0, 1.0, 0])
    assert average_precision_at_k(rec, rel, k).tolist() == pytest.approx([(1 / 2) / 3, 1.0, 0])
    assert reciprocal_rank_at_k(rec, rel, k).tolist() == pytest.approx([0.5, 1.0, 0])
    assert hit_rate_at_k(rec, rel, k).tolist() == [1.0, 1.0, 0.0]
    # Ideal DCG only over min(K, |relevant|): one relevant item at rank 1 is perfect.
    assert ndcg_at_k([[0, 9]], [[0]], 2).tolist() == [1.0]
    assert average_precision_at_k([[0, 9]], [[0]], 2).tolist() == [1.0]


def test_sparse_and_list_relevance_agree() -> None:
    rec = np.array([[4, 1, 7, 2], [0, 3, -1, -1]])
    rel_list = [[1, 2, 3], [0]]
    rel_csr = sp.csr_matrix(([1.0, 1, 1, 1], ([0, 0, 0, 1], [1, 2, 3, 0])), shape=(2, 10))
    for fn in PER_USER.values():
        np.testing.assert_allclose(fn(rec, rel_list, 4), fn(rec, rel_csr, 4))
    # Explicit zeros in a sparse matrix are not relevant.
    rel_zero = sp.csr_matrix(([1.0, 0.0], ([0, 0], [4, 1])), shape=(2, 10))
    assert hit_matrix(rec, rel_zero, 2)[0].tolist() == [[True, False], [False, False]]


def test_short_lists_and_empty_relevance() -> None:
    hits, n_rel = hit_matrix([[1]], [[1]], k=3)
    assert hits.tolist() == [[True, False, False]] and n_rel.tolist() == [1]
    assert precision_at_k([[1]], [[1]], 3).tolist() == pytest.approx([1 / 3])
    for fn in PER_USER.values():
        assert fn([[1, 2]], [[]], 2).tolist() == [0.0]
    with pytest.raises(ValueError, match="rows"):
        precision_at_k([[1, 2]], [[1], [2]], 2)


def test_coverage() -> None:
    rec = [[0, 1, 2], [0, 3, -1]]
    assert coverage_at_k(rec, 1, 10) == pytest.approx(0.1)
    assert coverage_at_k(rec, 3, 10) == pytest.approx(0.4)
    assert coverage_at_k(rec, 3, 2) == pytest.approx(1.0)


def test_ranking_metrics_matches_single_functions() -> None:
    rng = np.random.default_rng(0)
    rec = np.stack([rng.permutation(30)[:12] for _ in range(20)])
    rel = [rng.choice(30, size=rng.integers(1, 8), replace=False) for _ in range(20)]
    names = [f"{b}@{k}" for b in PER_USER for k in (1, 5, 10)] + ["coverage@5"]
    out = ranking_metrics(rec, rel, names, n_items=30)
    for b, fn in PER_USER.items():
        for k in (1, 5, 10):
            np.testing.assert_allclose(out[f"{b}@{k}"], fn(rec, rel, k))
    assert float(out["coverage@5"]) == coverage_at_k(rec, 5, 30)
    means = mean_metrics(out)
    assert means["ndcg@5"] == pytest.approx(out["ndcg@5"].mean())
    with pytest.raises(ConfigError, match="rating"):
        ranking_metrics(rec, rel, ["rmse"])


# ---------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("text", "name", "kind"),
    [
        ("rmse", "rmse", "rating"),
        ("MAE", "mae", "rating"),
        ("ndcg@10", "ndcg@10", "ranking"),
        ("precision@5", "precision@5", "ranking"),
        ("recall@20", "recall@20", "ranking"),
        ("f1@10", "f1@10", "ranking"),
        ("map@10", "map@10", "ranking"),
        ("mrr@10", "mrr@10", "ranking"),
        ("hr@10", "hr@10", "ranking"),
        ("hit@10", "hr@10", "ranking"),
        ("coverage@10", "coverage@10", "catalogue"),
        (" ndcg @ 3 ", "ndcg@3", "ranking"),
    ],
)
def test_parse_metric(text: str, name: str, kind: str) -> None:
    spec = parse_metric(text)
    assert spec.name == name and spec.kind == kind


@pytest.mark.parametrize("bad", ["auc@10", "ndcg", "rmse@10", "ndcg@0", "ndcg@x", "", "@5"])
def test_parse_metric_rejects(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"ndcg@K|ndcg@10|at least 1|no cut-off"):
        parse_metric(bad)


def test_unknown_metric_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        parse_metric("auc@10")
    for valid in ("rmse", "mae", "precision@K", "recall@K", "map@K", "hr@K", "coverage@K"):
        assert valid in str(info.value)


def test_parse_metrics_dedupes_and_splits() -> None:
    specs = parse_metrics("rmse, hit@10,hr@10,ndcg@5")
    assert [s.name for s in specs] == ["rmse", "hr@10", "ndcg@5"]
    assert specs[1] == MetricSpec("hr", 10)
    with pytest.raises(ConfigError):
        parse_metrics([])


# ---------------------------------------------------------------------------- properties
@st.composite
def ranking_case(draw: st.DrawFn) -> tuple[np.ndarray, list[np.ndarray], int]:
    n_items = draw(st.integers(1, 25))
    n_users = draw(st.integers(1, 6))
    width = draw(st.integers(1, n_items))
    recs, rels = [], []
    for _ in range(n_users):
        perm = draw(st.permutations(range(n_items)))
        row = list(perm[:width])
        n_pad = draw(st.integers(0, width))
        row[width - n_pad :] = [-1] * n_pad
        recs.append(row)
        rels.append(np.array(sorted(draw(st.sets(st.integers(0, n_items - 1), max_size=n_items)))))
    k = draw(st.integers(1, width + 3))
    return np.array(recs, dtype=np.int64).reshape(n_users, width), rels, k


@settings(max_examples=150, deadline=None)
@given(ranking_case())
def test_matches_reference_and_bounded(case: tuple[np.ndarray, list[np.ndarray], int]) -> None:
    rec, rel, k = case
    for base, fn in PER_USER.items():
        got = fn(rec, rel, k)
        assert got.shape == (len(rec),)
        assert np.all((got >= 0) & (got <= 1 + 1e-12)), base
        want = [reference(base, list(r), set(s.tolist()), k) for r, s in zip(rec, rel, strict=True)]
        np.testing.assert_allclose(got, want, atol=1e-12, err_msg=base)


@settings(max_examples=100, deadline=None)
@given(ranking_case())
def test_precision_times_k_is_hits(case: tuple[np.ndarray, list[np.ndarray], int]) -> None:
    rec, rel, k = case
    hits = [
        sum(1 for i in r[:k] if i >= 0 and i in set(s.tolist()))
        for r, s in zip(rec, rel, strict=True)
    ]
    np.testing.assert_allclose(precision_at_k(rec, rel, k) * k, hits)


@settings(max_examples=100, deadline=None)
@given(ranking_case())
def test_invariant_to_padding(case: tuple[np.ndarray, list[np.ndarray], int]) -> None:
    rec, rel, k = case
    # Appending padding columns, or replacing a non-relevant item by padding, changes nothing.
    padded = np.hstack([rec, np.full((len(rec), 4), -1)])
    masked = rec.copy()
    for row, s in zip(masked, rel, strict=True):
        row[~np.isin(row, s)] = -1
    for fn in PER_USER.values():
        base = fn(rec, rel, k)
        np.testing.assert_allclose(fn(padded, rel, k), base)
        np.testing.assert_allclose(fn(masked, rel, k), base)


@settings(max_examples=100, deadline=None)
@given(ranking_case())
def test_recall_and_hit_rate_monotone_in_k(case: tuple[np.ndarray, list[np.ndarray], int]) -> None:
    rec, rel, _ = case
    prev_r = prev_h = np.zeros(len(rec))
    for k in range(1, rec.shape[1] + 3):
        r, h = recall_at_k(rec, rel, k), hit_rate_at_k(rec, rel, k)
        assert np.all(r >= prev_r - 1e-12) and np.all(h >= prev_h)
        prev_r, prev_h = r, h


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=15, unique=True),
    st.integers(1, 20),
    st.integers(0, 2**32 - 1),
)
def test_perfect_ranking_scores_one(relevant: list[int], k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    others = np.setdiff1d(np.arange(41), relevant)
    rec = np.concatenate([rng.permutation(relevant), rng.permutation(others)])[None, :]
    rel = [np.array(relevant)]
    for fn in (ndcg_at_k, average_precision_at_k, reciprocal_rank_at_k, hit_rate_at_k):
        assert fn(rec, rel, k).tolist() == pytest.approx([1.0])
    m = min(k, len(relevant))
    assert precision_at_k(rec, rel, k).tolist() == pytest.approx([m / k])
    assert recall_at_k(rec, rel, k).tolist() == pytest.approx([m / len(relevant)])
