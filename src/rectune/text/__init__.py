"""Text side of rectune: encoders over local Hugging Face models and item-text helpers."""

from rectune.text.encoder import TextEncoder, default_encoder_path

__all__ = ["TextEncoder", "default_encoder_path"]
