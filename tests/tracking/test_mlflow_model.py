"""The pickle-free MLflow model: no pickle anywhere, the same lists as `recommend`, and a real
``mlflow models serve`` answering ``/invocations`` on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rectune.errors import DataError
from rectune.models import create_model
from rectune.testing import low_rank
from rectune.tracking.mlflow_model import recommend_frame

#: Pickle streams start with the PROTO opcode and a protocol number (2-5).
_PICKLE_HEADS = tuple(bytes([0x80, p]) for p in range(2, 6))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlmodel")
    data = low_rank(n_users=40, n_items=30, density=0.3)
    model = create_model("svd", epochs=4, embedding_size=4).fit(data)
    model.save(root / "svd")
    return {"root": root, "model": model, "data": data}


@pytest.fixture(scope="module")
def saved(fitted):
    pytest.importorskip("mlflow")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from rectune.tracking import mlflow_model

    return mlflow_model.save(fitted["root"] / "svd", fitted["root"] / "mlmodel")


def _pickled(path: Path) -> bool:
    head = path.read_bytes()[:2]
    if head in _PICKLE_HEADS:
        return True
    if zipfile.is_zipfile(path):  # .npz: every member array, read as written
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                body = zf.read(name)
                if body[:2] in _PICKLE_HEADS or b"'descr': '|O'" in body[:200]:
                    return True
    return False


def test_saved_model_holds_no_pickle(saved) -> None:
    files = [p for p in saved.rglob("*") if p.is_file()]
    names = {p.relative_to(saved).as_posix() for p in files}
    assert "MLmodel" in names and "artifacts/svd/params.npz" in names
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".cloudpickle"))], names
    assert not [p for p in files if _pickled(p)]
    import yaml

    flavor = yaml.safe_load((saved / "MLmodel").read_text())["flavors"]["python_function"]
    assert "python_model" not in flavor  # the pickled-object form would name python_model.pkl
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert Path(flavor["model_code_path"]).name == "pyfunc_model.py"
    assert (saved / "pyfunc_model.py").is_file()  # the code MLflow runs, copied beside it


def test_signature_is_documented_in_mlmodel(saved) -> None:
    from mlflow.models import Model

    sig = Model.load(str(saved)).signature
    assert sig.inputs.input_names() == ["user_id", "n"]
    assert [c.required for c in sig.inputs.inputs] == [True, False]
    assert sig.outputs.input_names() == ["user_id", "item_ids", "scores"]
    assert {p.name: p.default for p in sig.params.params} == {"n": 10, "exclude_seen": True}


def test_pyfunc_answers_like_recommend(fitted, saved) -> None:
    import mlflow

    loaded = mlflow.pyfunc.load_model(str(saved))
    model, users = fitted["model"], fitted["data"].user_map.ids[:5]
    users = np.append(users, 10**9)  # an unknown user: popularity, as in `recommend`
    out = loaded.predict(pd.DataFrame({"user_id": users, "n": [3, 3, 5, np.nan, 1, 2]}))
    for row, k in zip(out.itertuples(), [3, 3, 5, 10, 1, 2], strict=True):
        ids, scores = model.recommend([row.user_id], n=k)
        assert list(row.item_ids) == ids[0].tolist()
        assert np.allclose(row.scores, scores[0])
    out = loaded.predict(pd.DataFrame({"user_id": users[:2]}), params={"n": 4})
    assert [len(x) for x in out["item_ids"]] == [4, 4]


def test_bad_input_is_a_data_error(fitted) -> None:
    with pytest.raises(DataError, match="user_id"):
        recommend_frame(fitted["model"], pd.DataFrame({"user": [1]}))
    with pytest.raises(DataError, match="row 0: n"):
        recommend_frame(fitted["model"], pd.DataFrame({"user_id": [1], "n": [2.5]}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mlflow_models_serve_answers_invocations(fitted, saved, tmp_path) -> None:
    """A real ``mlflow models serve`` subprocess on loopback: /invocations equals `recommend`."""
    import httpx

    port = _free_port()
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # uvicorn
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(saved),
           "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow models serve did not start in 120 s"
            try:
                if httpx.get(f"{base}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        users = [int(u) for u in fitted["data"].user_map.ids[:4]]
        body = {"dataframe_records": [{"user_id": u} for u in users], "params": {"n": 5}}
        res = httpx.post(f"{base}/invocations", json=body, timeout=30)
        assert res.status_code == 200, res.text
        answer = res.json()["predictions"]
        ids, scores = fitted["model"].recommend(users, n=5)
        assert [a["user_id"] for a in answer] == users
        assert [a["item_ids"] for a in answer] == ids.tolist()
        assert np.allclose([a["scores"] for a in answer], scores)
        bad = httpx.post(f"{base}/invocations", json={"dataframe_records": [{"u": 1}]}, timeout=30)
        assert bad.status_code >= 400 and "user_id" in bad.text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the group: mlflow's CLI and the uvicorn it runs
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def test_log_model_into_the_active_run(fitted, tracking_uri, experiment, monkeypatch) -> None:
    """`log_model` inside the user's own ``mlflow.start_run()``: an MLflow 3 logged model."""
    import mlflow

    from rectune.tracking import mlflow_model

    name, _ = experiment()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", name)
    with mlflow.start_run() as run:
        info = mlflow_model.log_model(fitted["root"] / "svd", "recs")
    assert info.run_id == run.info.run_id and info.signature.inputs.input_names()[0] == "user_id"
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    users = fitted["data"].user_map.ids[:2]
    out = loaded.predict(pd.DataFrame({"user_id": users}), params={"n": 3})
    assert [list(x) for x in out["item_ids"]] == fitted["model"].recommend(users, n=3)[0].tolist()
