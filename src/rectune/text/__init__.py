"""Text side of rectune: encoders over local Hugging Face models, TF-IDF, item-text helpers.

`TextEncoder` (and torch behind it) loads on first access, so models that use only `tfidf`
(content-kNN) never import torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TextEncoder", "default_encoder_path", "shared_encoder"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rectune.text import encoder

        return getattr(encoder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
