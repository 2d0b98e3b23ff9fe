"""DDP training (2 processes, gloo on 127.0.0.1) equals single-process training."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from rectune.data.loaders import load
from rectune.data.synthetic import generate
from rectune.models import create_model
from rectune.registry.artifacts import load_model
from rectune.training.config import TrainConfig
from rectune.training.distributed import shard_batches
from rectune.training.torch_trainer import minibatches

PARAMS = {"embedding_size": 8, "layers": [16], "epochs": 3, "negatives": 2}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_shards_partition_the_global_batches() -> None:
    arrays = {"x": np.arange(103)}
    single = [b["x"].numpy() for b in minibatches(arrays, 20, 3, 1)]
    parts = [list(shard_batches(arrays, 10, 3, 1, rank, 2)) for rank in range(2)]
    for k, whole in enumerate(single):
        a, b = parts[0][k], parts[1][k]
        np.testing.assert_array_equal(np.concatenate([a[0]["x"], b[0]["x"]]), whole)
        assert a[1] + b[1] == len(whole) == a[2]
    tiny = [list(shard_batches({"x": np.arange(1)}, 4, 0, 0, r, 2)) for r in range(2)]
    assert tiny[0][0][1] == 1 and tiny[1][0][1] == 0  # the empty shard carries weight 0


@pytest.mark.slow
def test_ddp_two_processes_match_single_process(tmp_path) -> None:
    data = generate(n_users=120, n_items=80, n_interactions=2500, seed=1, with_text=False)
    csv = tmp_path / "ratings.csv"
    data.to_frame().to_csv(csv, index=False)
    out = tmp_path / "ddp"
    port = _free_port()
    env = {
        **os.environ,
        "GLOO_SOCKET_IFNAME": "lo",
        "OMP_NUM_THREADS": "1",
        "MASTER_ADDR": "127.0.0.1",
    }
    cmd = [
        sys.executable, "-m", "torch.distributed.run",
        "--nnodes=1", "--nproc-per-node=2",
        "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--local-addr=127.0.0.1",
        "-m", "rectune.training.distributed",
        "--model", "ncf", "--data", str(csv), "--out", str(out), "--binarize", "--threads", "1",
        "--seed", "4",
        *[f"--set={k}={v}" for k, v in PARAMS.items()], "--set=batch_size=64",
    ]  # fmt: skip
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    ddp = load_model(out)
    assert "world size 2" in run.stderr

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = create_model("ncf", **PARAMS, batch_size=128).fit(
            load(csv).binarize(), train=TrainConfig(seed=4)
        )
    finally:
        torch.set_num_threads(before)
    a, b = single.parameter_groups(), ddp.parameter_groups()
    assert a.keys() == b.keys()
    for group in a:
        np.testing.assert_allclose(b[group], a[group], atol=1e-6, err_msg=group)  # seen: 9e-8
    users, items = data.user_ids[:200], data.item_ids[:200]
    np.testing.assert_allclose(ddp.score(users, items), single.score(users, items), atol=1e-5)
    # and the replicas did learn: a different seed gives clearly different parameters
    other = create_model("ncf", **PARAMS, batch_size=128).fit(
        load(csv).binarize(), train=TrainConfig(seed=5)
    )
    assert np.abs(other.parameter_groups()["mlp"] - a["mlp"]).max() > 1e-3


@pytest.mark.parametrize(
    "name, params",
    [
        ("two-tower", {"embedding_size": 4, "layers": [8], "epochs": 2, "batch_size": 64}),
        ("sasrec", {"embedding_size": 8, "max_length": 6, "blocks": 1, "epochs": 2}),
    ],
)
def test_one_rank_group_equals_plain_fit(name: str, params: dict, monkeypatch) -> None:
    """The model-specific preparation (features, sequences) runs under `fit_distributed`."""
    import torch.distributed as dist

    from rectune.training.distributed import fit_distributed

    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    data = generate(n_users=40, n_items=30, n_interactions=400, seed=2, implicit=True)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )
    try:
        ddp = fit_distributed(create_model(name, **params), data, TrainConfig(seed=1))
    finally:
        dist.destroy_process_group()
    plain = create_model(name, **params).fit(data, train=TrainConfig(seed=1))
    users, items = data.user_ids[:50], data.item_ids[:50]
    np.testing.assert_allclose(ddp.score(users, items), plain.score(users, items), atol=1e-5)


def test_text_model_under_ddp_finishes_its_run(tmp_path, monkeypatch) -> None:
    """Regression: DDP looked the end-of-run hook up as ``_end_training``, which the text model
    does not have (its hook was ``_finish_training``), so its vectors were never rebuilt from
    the trained towers; and its loss bypassed the DDP forward. Both go through the public
    torch hooks now: a one-rank DDP fit equals a plain fit."""
    import torch.distributed as dist

    from rectune.training.distributed import fit_distributed
    from tests.text.conftest import _save_tiny

    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    encoder = _save_tiny("bert", tmp_path / "bert")
    params = {"encoder": encoder, "epochs": 2, "batch_size": 64, "adapter": 8, "max_length": 16}
    data = generate(n_users=40, n_items=30, n_interactions=400, seed=2, implicit=True)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )
    try:
        ddp = fit_distributed(create_model("text", **params), data, TrainConfig(seed=1))
    finally:
        dist.destroy_process_group()
    plain = create_model("text", **params).fit(data, train=TrainConfig(seed=1))
    users, items = data.user_ids[:50], data.item_ids[:50]
    np.testing.assert_allclose(ddp.score(users, items), plain.score(users, items), atol=1e-5)
    assert len(ddp.epoch_seconds_) == 2
