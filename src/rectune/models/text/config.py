"""Hyperparameters of `TextRecommender` (see `rectune.models.text.text_rec`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rectune.config import ConfigBase

#: How the encoder pools token states into one vector (see `rectune.text.TextEncoder`).
Pooling = Literal["auto", "mean", "last", "cls"]


class TextRecommenderConfig(ConfigBase):
    """Hyperparameters of `TextRecommender`."""

    encoder: str = "minilm"
    """``minilm`` (the packaged all-MiniLM-L6-v2) or a local Hugging Face model directory."""
    tuning: Literal["frozen", "lora", "full"] = "frozen"
    """frozen: cached encoder + trained adapters; lora: LoRA on the encoder; full: all weights."""
    adapter: int = Field(256, ge=1)
    """Hidden width of the residual adapters."""
    token_features: bool = True
    """Add a sparse TF-IDF bag of the text's words, phrases and decades to the item tower."""
    max_tokens: int = Field(20000, ge=1)
    """Largest token vocabulary (most frequent first, tokens in at least two texts)."""
    epochs: int = Field(5, ge=0)
    """Passes over the training pairs (0: the untrained encoder, i.e. zero-shot)."""
    learning_rate: float = Field(1e-3, gt=0)
    """Adam step size of the adapters and tokens."""
    encoder_learning_rate: float | None = Field(None, gt=0)
    """Step size of encoder weights (lora/full); None: 5e-4 for lora, 5e-5 for full."""
    batch_size: int = Field(256, ge=2)
    """Positive pairs per step (the other positives are the in-batch negatives)."""
    negatives: int = Field(1, ge=0)
    """Extra uniformly sampled negatives per positive, shared across the batch."""
    temperature: float = Field(0.05, gt=0)
    """Softmax temperature of the cosine scores."""
    history: int = Field(20, ge=1)
    """Most recent items of a user pooled by the user tower."""
    pool_weights: Literal["value", "uniform"] = "value"
    """History pooling: by rating (log1p of counts for implicit data), or uniform."""
    user_tower: Literal["pool", "text"] = "pool"
    """pool: pooled item-tower vectors; text: the encoder over the history's joined text."""
    max_length: int = Field(64, ge=4)
    """Tokens per text given to the encoder."""
    lora_r: int = Field(8, ge=1)
    """LoRA rank."""
    lora_alpha: int = Field(16, ge=1)
    """LoRA scaling numerator (scale = alpha / r)."""
    max_pairs: int | None = Field(None, ge=1)
    """Subsample this many training pairs per epoch (None: all)."""
    positive_threshold: float | None = None
    """Only rows with value >= this are positives (None: every row)."""
    catalogue: Literal["text", "interacted"] = "text"
    """text: items with text but no interactions are recommendable too."""
    pooling: Pooling = "auto"
    """Token pooling of the encoder: auto (last token for decoders such as GPT-2, else the
    attention-masked mean), mean, last (the last real token) or cls (the first token)."""
    popularity_prior: Literal["auto", "off"] = "auto"
    """auto: score = cosine + w(n_u) * log1p(item popularity), one weight per history-length
    bucket of the user, chosen on held-out training interactions (thin users lean on
    popularity); off: the cosine alone."""
    prior_users: int = Field(300, ge=1)
    """Training users whose last interaction is held out of training to choose the prior."""
