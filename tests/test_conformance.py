"""Every registered model against every conformance check (rectune.testing)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, ClassVar

import pytest

from rectune.models import MODELS, create_model
from rectune.testing import CHECKS, two_clusters


@cache
def _tiny_text_encoder() -> str:
    """A tiny random BERT saved once per session (the text model's encoder in these runs)."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from tests.text.conftest import _save_tiny

    path = Path(tempfile.mkdtemp(prefix="rectune-tiny-bert-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return _save_tiny("bert", path)


class _TextParams(Mapping[str, Any]):
    """The text model's parameters; the tiny encoder is built only when a test asks."""

    _fixed: ClassVar[dict[str, Any]] = {
        "epochs": 1,
        "batch_size": 512,
        "adapter": 8,
        "max_length": 16,
    }

    def _all(self) -> dict[str, Any]:
        return {"encoder": _tiny_text_encoder(), **self._fixed}

    def __getitem__(self, key: str) -> Any:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(["encoder", *self._fixed])

    def __len__(self) -> int:
        return len(self._fixed) + 1


class _HybridParams(_TextParams):
    """The text-hybrid model's parameters (the same tiny encoder)."""

    _fixed: ClassVar[dict[str, Any]] = {
        "epochs": 1,
        "embedding_size": 8,
        "max_length": 8,
        "blocks": 1,
        "batch_size": 32,
        "content_hidden": 16,
        "text_length": 16,
    }


#: Small, fast hyperparameters per model so the whole matrix runs in seconds.
FAST_PARAMS: dict[str, Mapping[str, Any]] = {
    "ncf": {"embedding_size": 4, "layers": [8], "epochs": 2, "batch_size": 256},
    "two-tower": {"embedding_size": 4, "layers": [8], "epochs": 2, "batch_size": 128},
    "sasrec": {"embedding_size": 8, "max_length": 8, "blocks": 1, "epochs": 2, "batch_size": 32},
    "svd": {"epochs": 5, "embedding_size": 8},
    "svdpp": {"epochs": 5, "embedding_size": 8},
    "nmf": {"epochs": 10, "embedding_size": 5},
    "bpmf": {"embedding_size": 3, "iterations": 12, "burn_in": 4, "keep": 4},
    "blend": {"members": ["baseline", {"model": "svd", "epochs": 3, "embedding_size": 4}]},
    "als": {"embedding_size": 8, "epochs": 5, "alpha": 2.0, "reg": 0.1},
    "bpr": {"embedding_size": 8, "epochs": 10, "learning_rate": 0.05},
    "ease": {"reg": 10.0},
    "text": _TextParams(),
    "text-hybrid": _HybridParams(),
    "als-text": {"embedding_size": 8, "epochs": 5, "alpha": 2.0, "reg": 0.1, "map_epochs": 1},
}


def _available(name: str) -> bool:
    module = MODELS[name].split(":")[0]
    try:
        importlib.import_module(f"rectune.models.{module}")
    except ModuleNotFoundError:
        return False
    return True


MODEL_NAMES = [name for name in MODELS if _available(name)]


@pytest.fixture(scope="module")
def data():
    return two_clusters()


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_conformance(name: str, check: str, data) -> None:
    CHECKS[check](lambda: create_model(name, **FAST_PARAMS.get(name, {})), data)


def test_every_registered_model_is_present() -> None:
    missing = [name for name in MODELS if not _available(name)]
    assert not missing, f"registered models without a module: {missing}"
