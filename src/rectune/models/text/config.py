"""Hyperparameters of `TextRecommender` (see `rectune.models.text.text_rec`).

``epochs`` and ``max_pairs`` default to ``"auto"``: the budget of the tuning mode and user
tower in `AUTO_BUDGET`, chosen so that every mode's defaults finish
``rectune evaluate --data ml-latest-small --model text --split cold-items`` in under 15
minutes on 2 CPU cores (benchmarks/RESULTS.md, "Issue 10: text-model cost"). An explicit value
(as every saved artifact's ``config.json`` holds) means what it always meant.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rectune.config import ConfigBase

#: How the encoder pools token states into one vector (see `rectune.text.TextEncoder`).
Pooling = Literal["auto", "mean", "last", "cls"]

#: ``(tuning, user_tower) -> (epochs, max_pairs)`` of ``"auto"`` (None: every pair). Frozen
#: pool mode steps over cached vectors (about 0.1 s per batch of 256 on 2 cores); LoRA and full
#: fine-tuning run the encoder forward and backward for every candidate (2-5 s per batch) and
#: re-encode the whole catalogue after every epoch (30-90 s for 9.7K texts), so they get one
#: epoch of a sample; a text user tower encodes each pair's joined history.
AUTO_BUDGET: dict[tuple[str, str], tuple[int, int | None]] = {
    ("frozen", "pool"): (5, None),
    ("lora", "pool"): (1, 6000),
    ("full", "pool"): (1, 3000),
    ("frozen", "text"): (3, 20000),
    ("lora", "text"): (1, 3000),
    ("full", "text"): (1, 2000),
}


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
    epochs: Annotated[int, Field(ge=0)] | Literal["auto"] = "auto"
    """Passes over the training pairs (0: the untrained encoder, i.e. zero-shot); ``auto``:
    the mode's (`AUTO_BUDGET`: 5 for frozen pooling, 1 for lora/full)."""
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
    max_pairs: Annotated[int, Field(ge=1)] | Literal["auto"] | None = "auto"
    """Subsample this many training pairs per epoch (None: all); ``auto``: the mode's
    (`AUTO_BUDGET`: all for frozen pooling, 6,000 for lora, 3,000 for full)."""
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

    def run_epochs(self) -> int:
        """``epochs``, with ``auto`` resolved for the tuning mode and user tower."""
        if self.epochs == "auto":
            return AUTO_BUDGET[(self.tuning, self.user_tower)][0]
        return self.epochs

    def pairs_per_epoch(self) -> int | None:
        """``max_pairs``, with ``auto`` resolved (None: every training pair)."""
        if self.max_pairs == "auto":
            return AUTO_BUDGET[(self.tuning, self.user_tower)][1]
        return self.max_pairs
