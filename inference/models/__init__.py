"""The model store: registry of models, pinned revisions on disk with checksums, their sources, and profiles."""

from __future__ import annotations

from inference.models.registry import ModelSpec, UnknownModel, image_model_for_profile, load_registry
from inference.models.resolve import image_model, store_for
from inference.models.sources import ModelSource
from inference.models.store import ModelStore, PullFailed, ResolvedModel, VerifyReport

__all__ = [
    "ModelSource",
    "ModelSpec",
    "ModelStore",
    "PullFailed",
    "ResolvedModel",
    "UnknownModel",
    "VerifyReport",
    "image_model",
    "image_model_for_profile",
    "load_registry",
    "store_for",
]
