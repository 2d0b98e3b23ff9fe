"""Versioned model artifacts with lineage, and the catalogue of model names."""

from rectune.registry.artifacts import load_model, read_manifest, save_model
from rectune.registry.catalog import MODELS, create_model, model_class, register_model

__all__ = [
    "MODELS",
    "create_model",
    "load_model",
    "model_class",
    "read_manifest",
    "register_model",
    "save_model",
]
