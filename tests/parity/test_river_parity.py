"""rectune SVD vs River 0.26.1 ``reco.BiasedMF``: progressive validation on ML-100K (issue 3).

The whole ML-100K stream in timestamp order, predict then learn one rating at a time, River's
tutorial settings on both sides (`SVDConfig.from_river_biased_mf`, the same Normal(0, 0.1)
draws from seed 73, predictions clipped to [1, 5]). RESULTS.md claims RMSE at most River's,
with predictions equal up to float32 rounding; both rectune paths are checked: the compiled
``prequential`` and the per-event ``predict_learn_one`` loop.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import river  # noqa: F401  (a missing peer fails here rather than skipping)

import rectune
from rectune.testing.peers import RIVER_TUTORIAL, rating_errors, river_prequential

pytestmark = pytest.mark.realdata

_STREAM: dict[str, tuple] = {}


@pytest.fixture
def stream(dataset):
    """The time-ordered ML-100K events and River's predictions on them (computed once)."""
    if not _STREAM:
        data = dataset("ml-100k")
        data = data.subset(np.argsort(data.timestamps, kind="stable"))
        t0 = time.perf_counter()
        pred = river_prequential(data.user_ids.tolist(), data.item_ids.tolist(), data.values)
        _STREAM["ml-100k"] = (data, pred, time.perf_counter() - t0)
    return _STREAM["ml-100k"]


def _config():
    cls = rectune.model_class("svd")
    settings = {k: v for k, v in RIVER_TUTORIAL.items() if k != "seed"}
    return cls, cls.config_class.from_river_biased_mf(**settings)


def _check(name: str, ours: np.ndarray, stream, seconds: float, parity_figures) -> None:
    data, theirs, river_s = stream
    rmse_o = rating_errors(ours, data.values)["rmse"]
    rmse_t = rating_errors(theirs, data.values)["rmse"]
    diff = np.abs(ours - theirs)
    parity_figures(
        f"{name}: RMSE {rmse_o:.7f} vs River {rmse_t:.7f}, max |pred diff| {diff.max():.1e}, "
        f"{seconds:.2f} s vs River {river_s:.2f} s"
    )
    # float32 factors vs River's float64: measured RMSE gaps 3e-10 (prequential) and
    # +4.8e-7 (per-event loop); the claim is "RMSE at most River's" (equal to 4 digits).
    assert rmse_o <= rmse_t + 1e-5
    assert np.mean(diff > 1e-4) < 1e-3  # predictions equal but for a handful of events


def test_prequential_equals_river(stream, parity_figures) -> None:
    data = stream[0]
    cls, cfg = _config()
    t0 = time.perf_counter()
    ours = cls(cfg).prequential(data, clip=(1.0, 5.0), seed=RIVER_TUTORIAL["seed"])
    seconds = time.perf_counter() - t0
    _check("prequential", ours, stream, seconds, parity_figures)
    assert np.abs(ours - stream[1]).max() < 1e-5  # measured 6.1e-7


def test_per_event_loop_equals_river(stream, parity_figures) -> None:
    data = stream[0]
    cls, cfg = _config()
    model = cls(cfg)
    users, items, values = data.user_ids.tolist(), data.item_ids.tolist(), data.values.tolist()
    ours = np.empty(len(values))
    t0 = time.perf_counter()
    # The first event starts the online stream from River's seed; the rest go one at a time.
    first = data.subset(np.arange(1))
    ours[0] = model.prequential(first, clip=(1.0, 5.0), seed=RIVER_TUTORIAL["seed"])[0]
    for t in range(1, len(values)):
        ours[t] = model.predict_learn_one(users[t], items[t], values[t])
    seconds = time.perf_counter() - t0
    _check("predict_learn_one loop", ours, stream, seconds, parity_figures)
