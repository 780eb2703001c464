"""Which model a worker loads for its profile: ``full`` → SD3 Medium, ``cpu`` → SD-Turbo, ``tiny`` → tiny SD3."""

from __future__ import annotations

import logging

from core.settings import Settings
from inference.models.registry import image_model_for_profile
from inference.models.store import ModelStore, ResolvedModel

log = logging.getLogger(__name__)


def store_for(settings: Settings) -> ModelStore:
    """The model store at ``STUDIO_MODELS_DIR`` (or ``<data dir>/models``)."""
    return ModelStore(settings.resolved_models_dir)


def image_model(settings: Settings, store: ModelStore | None = None) -> ResolvedModel:
    """The text-to-image model for ``STUDIO_MODEL_PROFILE``, installed and active.

    The tiny model is written on first use, so tests and offline demos need no set-up; the real models raise
    ``NotAvailable`` naming the `studio models pull` command to run.
    """
    store = store or store_for(settings)
    spec = image_model_for_profile(settings.model_profile, store.registry)
    if spec.source == "tiny" and store.active_revision(spec.name) is None:
        from inference.models.tiny import make_tiny

        log.info("the tiny model is missing: writing it to %s", store.model_dir(spec.name))
        return make_tiny(store, name=spec.name)
    return store.resolve(spec.name)
