"""Versioned model artifacts with lineage, the catalogue of model names, and the registry's
files (versions, aliases, audit log; `rectune.online.Registry` decides what may change)."""

from rectune.registry.artifacts import load_model, read_manifest, save_model, verify_artifact
from rectune.registry.catalog import MODELS, create_model, model_class, register_model

__all__ = [
    "MODELS",
    "create_model",
    "load_model",
    "model_class",
    "read_manifest",
    "register_model",
    "save_model",
    "verify_artifact",
]
