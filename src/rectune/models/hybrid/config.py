"""Hyperparameters of `TextHybrid` (see `rectune.models.hybrid.hybrid`)."""

from __future__ import annotations

from pydantic import Field

from rectune.config import ConfigBase


class TextHybridConfig(ConfigBase):
    """Hyperparameters of `TextHybrid`."""

    encoder: str = "minilm"
    """``minilm`` (the packaged all-MiniLM-L6-v2) or a local Hugging Face model directory; it is
    never trained (its vectors are cached), only the content tower over them."""
    text_length: int = Field(64, ge=4)
    """Tokens per item text given to the encoder."""
    token_features: bool = False
    """Add a sparse TF-IDF bag of the text's words, genre phrases and decades to the content
    tower (`rectune.text.tfidf.TokenVocab`). Off by default: on a cold-items split of
    ml-latest-small (seed 1) its per-title words let the tower memorise warm items (NDCG@10 on
    cold items 0.2316 with it, 0.2591 without)."""
    max_tokens: int = Field(20000, ge=1)
    """Largest token vocabulary (most frequent first, tokens in at least two texts)."""
    strip_tags: bool = True
    """Drop the ``| tags: ...`` part of every text: items that arrive without interactions have
    no user tags yet, so a content tower trained on tagged texts would not transfer to them."""
    embedding_size: int = Field(64, ge=1)
    """Width of the item vectors (id part and content part) and of every attention block."""
    content_hidden: int = Field(256, ge=1)
    """Hidden width of the content MLP over the encoder vector."""
    max_length: int = Field(100, ge=1)
    """Most recent items of a user's sequence kept and attended to (SASRec's name)."""
    blocks: int = Field(2, ge=1)
    """Causal self-attention blocks of the user tower."""
    heads: int = Field(1, ge=1)
    """Attention heads (must divide ``embedding_size``)."""
    dropout: float = Field(0.2, ge=0, lt=1)
    """Dropout on embeddings, attention weights and feed-forward outputs."""
    id_dropout: float = Field(0.8, ge=0, lt=1)
    """Share of items whose id part (embedding and bias) is dropped at each training step, so
    the content part alone must rank them (DropoutNet, Volkovs et al. 2017)."""
    id_shrink: float = Field(0.0, ge=0)
    """Gate of an item's id part: ``n / (n + id_shrink)`` for an item with ``n`` training
    interactions (0: the id part counts fully for every item with an interaction; items
    without any have no id part whatever the value)."""
    epochs: int = Field(3, ge=1)
    """Passes over the training windows (cold-item ranking peaks early: the content tower
    starts to memorise warm items; sequence accuracy on warm items wants more, e.g. 20-40)."""
    learning_rate: float = Field(0.001, gt=0)
    """Adam step size."""
    weight_decay: float = Field(0.0, ge=0)
    """Adam L2 penalty."""
    negatives: int | None = Field(4096, ge=1)
    """Uniformly sampled negatives per batch (items with interactions; shared by its
    positions); None, or a catalogue this small, uses the full softmax."""
    batch_size: int = Field(64, ge=1)
    """Sequence windows per optimizer step (each position's loss is a softmax over the whole
    interacted catalogue)."""
