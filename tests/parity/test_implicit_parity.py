"""rectune vs implicit 0.7.3 on the same split: the claims of benchmarks/RESULTS.md (issue 3).

Every rating is an interaction of weight 1; each user's latest 20% of rows are held out. Both
libraries rank the full catalogue of training items with seen items filtered and both top-10
lists are scored by the same code (`rectune.testing.peers.RankingSplit`). One thread on both
sides: implicit's BPR (hogwild SGD) and rectune's are only reproducible single-threaded.

The claims defended here: item-kNN (cosine, TF-IDF, BM25) reproduces implicit's NDCG@10; ALS
(both datasets) and BPR (ML-100K) reach an NDCG@10 no lower than implicit's - 0.003, and BPR
with implicit's negative sampler (``negatives="popularity"``) is within 0.003 of it on both
datasets, as means over seeds 0-4 (one seed moves NDCG@10 by up to +-0.005 on either side).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from implicit.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender

from rectune import create_model
from rectune.testing.peers import RankingSplit
from rectune.training import TrainConfig

pytestmark = [
    pytest.mark.realdata,
    # implicit warns about the BLAS thread pool and about CSR input it converts itself.
    pytest.mark.filterwarnings("ignore::RuntimeWarning:implicit.*"),
    pytest.mark.filterwarnings("ignore:Method expects CSR input"),
]

DATASETS = ["ml-100k", "ml-latest-small"]
SEEDS = range(5)
#: issue 7: "NDCG within 0.003" of implicit.
NDCG_TOLERANCE = 0.003
_SPLITS: dict[str, RankingSplit] = {}


@pytest.fixture
def ranking_split(dataset) -> Callable[[str], RankingSplit]:
    def get(name: str) -> RankingSplit:
        if name not in _SPLITS:
            _SPLITS[name] = RankingSplit(dataset(name))
        return _SPLITS[name]

    return get


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("weighting", ["cosine", "tfidf", "bm25"])
def test_item_knn_reproduces_implicit(name, weighting, ranking_split, parity_figures) -> None:
    s = ranking_split(name)
    peer = {"cosine": CosineRecommender, "tfidf": TFIDFRecommender, "bm25": BM25Recommender}
    # implicit's K counts the item itself, which always takes one of its K slots.
    ours = create_model(
        "item-knn", weighting="none" if weighting == "cosine" else weighting, n_neighbors=19
    )
    ours.fit(s.train, train=TrainConfig(threads=1))
    theirs = peer[weighting](K=20, num_threads=1)
    theirs.fit(s.user_items, show_progress=False)
    o = s.score(s.rectune_top(ours))["ndcg@10"]
    t = s.score(s.implicit_top(theirs))["ndcg@10"]
    parity_figures(f"NDCG@10 {o:.4f} vs {t:.4f} ({o - t:+.5f})")
    # Same similarities; lists differ only where scores tie (measured |diff| <= 0.0002).
    assert abs(o - t) <= 0.001


#: Peer NDCG@10 per (peer, dataset, seed), shared by the tests that compare with one peer.
_PEER_NDCG: dict[tuple[str, int, int], float] = {}


def _mean_over_seeds(s: RankingSplit, ours: Callable[[], object], theirs: Callable[[int], object]):
    pairs = []
    for seed in SEEDS:
        model = ours()
        model.fit(s.train, train=TrainConfig(seed=seed, threads=1))
        peer = theirs(seed)
        key = (type(peer).__name__, id(s), seed)
        if key not in _PEER_NDCG:
            peer.fit(s.user_items, show_progress=False)
            _PEER_NDCG[key] = s.score(s.implicit_top(peer))["ndcg@10"]
        pairs.append((s.score(s.rectune_top(model))["ndcg@10"], _PEER_NDCG[key]))
    o, t = np.mean(pairs, axis=0)
    return float(o), float(t), [a - b for a, b in pairs]


def _figures(o: float, t: float, diffs: list[float]) -> str:
    per_seed = ", ".join(f"{d:+.4f}" for d in diffs)
    return f"NDCG@10 mean of seeds 0-4 {o:.4f} vs {t:.4f} ({o - t:+.4f}; per seed {per_seed})"


@pytest.mark.parametrize("name", DATASETS)
def test_als_no_worse_than_implicit(name, ranking_split, parity_figures) -> None:
    """Measured: ML-100K +0.0008, ml-latest-small -0.0024 (means over seeds 0-4)."""
    s = ranking_split(name)
    o, t, diffs = _mean_over_seeds(
        s,
        lambda: create_model("als", embedding_size=64, epochs=15, reg=0.01, alpha=1.0),
        lambda seed: AlternatingLeastSquares(
            factors=64, iterations=15, regularization=0.01, num_threads=1, random_state=seed
        ),
    )
    parity_figures(_figures(o, t, diffs))
    assert o >= t - NDCG_TOLERANCE


def test_bpr_no_worse_than_implicit(ranking_split, parity_figures) -> None:
    """The default sampler (uniform negatives), ML-100K only (measured +0.0035 over seeds 0-4);
    on ml-latest-small it is 0.0039 below implicit's, a gap RESULTS.md reports as not met."""
    s = ranking_split("ml-100k")
    o, t, diffs = _mean_over_seeds(
        s,
        lambda: create_model("bpr"),
        lambda seed: BayesianPersonalizedRanking(num_threads=1, random_state=seed),
    )
    parity_figures(_figures(o, t, diffs))
    assert o >= t - NDCG_TOLERANCE


@pytest.mark.parametrize("name", DATASETS)
def test_bpr_with_implicits_sampler_matches_implicit(name, ranking_split, parity_figures) -> None:
    """Like with like: negatives drawn as implicit 0.7.3 draws them (the item of a random
    interaction; a triple whose negative the user liked is skipped). Measured over seeds 0-4:
    ML-100K -0.0004, ml-latest-small -0.0001."""
    s = ranking_split(name)
    o, t, diffs = _mean_over_seeds(
        s,
        lambda: create_model("bpr", negatives="popularity"),
        lambda seed: BayesianPersonalizedRanking(num_threads=1, random_state=seed),
    )
    parity_figures(_figures(o, t, diffs))
    assert abs(o - t) <= NDCG_TOLERANCE
