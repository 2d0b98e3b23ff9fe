"""Replay settings: per-event from the very first event, and combinations it cannot honour."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rectune.errors import ConfigError
from rectune.models import create_model
from rectune.online.stream import replay
from rectune.testing import low_rank

SVD = {"epochs": 5, "embedding_size": 4}


@pytest.fixture(scope="module")
def stream():
    return low_rank(n_users=40, n_items=30, density=0.4)


def test_per_event_from_the_first_event_scores_every_event(stream) -> None:
    # Before: "initial_fraction must be in (0, 1)". River's progressive validation starts empty.
    res = replay(stream, "svd", SVD, initial_fraction=0, chunks=3, update="partial", per_event=True)
    out = res.to_dict()
    assert out["n_initial"] == 0 and out["initial_fit_seconds"] == 0.0
    assert out["n_scored"] == len(stream)
    assert np.isfinite(out["pooled"]["rmse"]) and 0 < out["pooled"]["rmse"] < 2
    # Each event is predicted from the events before it, then learned: one event at a time on
    # an empty model (estimates clipped to the rating scale) gives the same predictions.
    ordered = stream.subset(np.argsort(stream.timestamps, kind="stable"))
    scale = (ordered.values.min(), ordered.values.max())
    model = create_model("svd", **SVD)
    slow = [
        model.prequential(ordered.subset(np.array([t])), clip=scale, **({} if t else {"seed": 0}))
        for t in range(len(ordered))
    ]
    fast = np.concatenate([c.errors for c in res.chunks]) + ordered.values
    np.testing.assert_allclose(fast, np.concatenate(slow), rtol=1e-6, atol=1e-6)
    assert scale[0] <= fast.min() and fast.max() <= scale[1]
    assert res.model is not None and len(res.model.user_map_) == stream.n_users


def test_empty_start_is_seeded(stream) -> None:
    kw = {"initial_fraction": 0, "chunks": 2, "update": "partial", "per_event": True}
    a = replay(stream, "svd", SVD, seed=0, **kw).pooled["rmse"]
    b = replay(stream, "svd", SVD, seed=0, **kw).pooled["rmse"]
    c = replay(stream, "svd", SVD, seed=1, **kw).pooled["rmse"]
    assert a == b and a != c


def test_per_event_with_update_none_is_refused(stream) -> None:
    # Before: per_event was silently ignored (chunked scoring ran instead).
    with pytest.raises(ConfigError, match="update='none' nothing is learned"):
        replay(stream, "svd", SVD, update="none", per_event=True)
    with pytest.raises(ConfigError, match="use update='partial', not 'retrain'"):
        replay(stream, "svd", SVD, update="retrain", per_event=True)


def test_fractions_outside_the_range_are_refused(stream) -> None:
    for bad in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ConfigError, match=r"initial_fraction must be in \[0, 1\)"):
            replay(stream, "baseline", initial_fraction=bad)
    with pytest.raises(ConfigError, match="initial_fraction=0 starts from an empty model"):
        replay(stream, "baseline", initial_fraction=0, update="partial")


def test_rating_metrics_and_cutoffs_that_cannot_apply_are_refused(stream) -> None:
    with pytest.raises(ConfigError, match=r"model als .* does not predict ratings.*rmse"):
        replay(stream, "als", update="partial", metrics=["rmse"])
    with pytest.raises(ConfigError, match="ndcg@31: cut-off 31 exceeds the 30 items"):
        replay(stream, "popularity", update="partial", metrics=["ndcg@31"])
    res = replay(stream, "als", {"epochs": 2}, chunks=2, update="partial", metrics=["ndcg@10"])
    assert 0 <= res.pooled["ndcg@10"] <= 1


@pytest.mark.realdata
def test_cli_replay_from_event_0_with_river_tutorial_settings_matches_river(ml100k, tmp_path):
    """`rectune replay --per-event --initial-fraction 0` with River's tutorial BiasedMF settings
    scores ML-100K at RMSE <= River's own progressive validation (0.94813 measured for both)."""
    pytest.importorskip("river")
    from river import optim, reco
    from typer.testing import CliRunner

    from rectune.cli.main import app

    ordered = ml100k.subset(np.argsort(ml100k.timestamps, kind="stable"))
    model = reco.BiasedMF(
        n_factors=10,
        bias_optimizer=optim.SGD(0.025),
        latent_optimizer=optim.SGD(0.05),
        weight_initializer=optim.initializers.Zeros(),
        latent_initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=73),
    )
    sq = 0.0
    events = zip(ordered.user_ids.tolist(), ordered.item_ids.tolist(), ordered.values, strict=True)
    for u, i, y in events:
        sq += (min(5.0, max(1.0, model.predict_one(u, i))) - y) ** 2
        model.learn_one(u, i, y)
    river_rmse = float(np.sqrt(sq / len(ordered)))
    # `SVDConfig.from_river_biased_mf()`: River's steps doubled, its penalties halved.
    sets = {"embedding_size": 10, "epochs": 1, "learning_rate": 0.1, "reg": 0, "init_std": 0.1,
            "learning_rate_user_bias": 0.05, "learning_rate_item_bias": 0.05,
            "reg_user_bias": 0, "reg_item_bias": 0, "init_mean": 0}  # fmt: skip
    args = ["replay", "--data", ml100k.source, "--model", "svd", "--update", "partial",
            "--per-event", "--initial-fraction", "0", "--chunks", "1", "--seed", "73",
            "--json", str(tmp_path / "r.json")]  # fmt: skip
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "r.json").read_text())
    assert out["n_scored"] == len(ml100k) == 100_000
    assert out["pooled"]["rmse"] <= river_rmse + 1e-6, (out["pooled"]["rmse"], river_rmse)
