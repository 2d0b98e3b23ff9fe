"""Tiny random BERT and GPT-2 models built locally (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest


def _save_tiny(kind: str, path: Path) -> str:
    from transformers import AutoTokenizer, BertConfig, BertModel, GPT2Config, GPT2Model

    from rectune.text import default_encoder_path

    tok = AutoTokenizer.from_pretrained(default_encoder_path(), local_files_only=True)
    if kind == "bert":
        cfg = BertConfig(
            vocab_size=tok.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
        )
        model = BertModel(cfg)
    else:
        cfg = GPT2Config(vocab_size=tok.vocab_size, n_embd=32, n_layer=2, n_head=2, n_positions=128)
        model = GPT2Model(cfg)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    return _save_tiny("bert", tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> str:
    return _save_tiny("gpt2", tmp_path_factory.mktemp("tiny-gpt2"))
