from __future__ import annotations

import numpy as np
import pytest
import torch

from rectune.errors import ConfigError
from rectune.text import TextEncoder


def test_minilm_matches_sentence_transformers() -> None:
    from sentence_transformers import SentenceTransformer

    enc = TextEncoder("minilm")
    texts = ["Toy Story (1995) | Animation, Comedy", "Heat (1995) | Crime, Thriller", "x"]
    ours = enc.encode(texts)
    ref = SentenceTransformer(enc.path, device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_cache_makes_reencoding_free_and_is_exact() -> None:
    enc = TextEncoder("minilm")
    first = enc.encode(["a film", "another film"])
    calls = []
    original = enc._encode_uncached
    enc._encode_uncached = lambda texts, *a: calls.append(texts) or original(texts, *a)  # type: ignore[method-assign]
    again = enc.encode(["another film", "a film", "a third film"])
    assert calls == [["a third film"]]
    np.testing.assert_array_equal(again[:2], first[::-1])


def test_tiny_bert_mean_pooling(tiny_bert) -> None:
    enc = TextEncoder(tiny_bert)
    assert enc.pooling == "mean" and enc.dim == 32
    vecs = enc.encode(["short", "a much longer text about a movie"], cache=False)
    assert vecs.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_tiny_gpt2_last_token_pooling_ignores_padding(tiny_gpt2) -> None:
    enc = TextEncoder(tiny_gpt2)
    assert enc.pooling == "last"
    alone = enc.encode(["hello world"], cache=False)
    batched = enc.encode(
        ["hello world", "a considerably longer sentence to force padding"], cache=False
    )
    np.testing.assert_allclose(alone[0], batched[0], atol=1e-5)


def test_lora_trains_only_adapters(tiny_bert) -> None:
    enc = TextEncoder(tiny_bert)
    total = sum(p.numel() for p in enc.parameters())
    enc.add_lora(r=2)
    trainable = enc.trainable_parameters()
    assert 0 < trainable < total / 5
    out = enc(["a", "b"])
    out.sum().backward()
    assert any(p.grad is not None for n, p in enc.named_parameters() if "lora" in n)


def test_forward_has_gradients_and_freeze_stops_them(tiny_gpt2) -> None:
    enc = TextEncoder(tiny_gpt2)
    out = enc(["a b c", "d"])
    assert out.requires_grad
    enc.freeze()
    with torch.no_grad():
        assert enc.trainable_parameters() == 0


def test_missing_directory_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="never downloads"):
        TextEncoder(str(tmp_path / "nope"))
