"""Versioned model artifacts with lineage."""

from rectune.registry.artifacts import load_model, read_manifest, save_model

__all__ = ["load_model", "read_manifest", "save_model"]
