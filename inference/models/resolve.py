"""Which models a worker loads for its profile.

Text-to-image: ``full`` → SD3 Medium, ``cpu`` → SD-Turbo, ``tiny`` → tiny SD3. Image-to-video: ``full`` →
LTX-Video, ``tiny`` → tiny LTX, ``cpu`` → none (camera-motion presets only).
"""

from __future__ import annotations

import logging

from core.errors import NotAvailable
from core.settings import Settings
from inference.models.registry import image_model_for_profile, video_model_for_profile
from inference.models.store import ModelStore, ResolvedModel

log = logging.getLogger(__name__)


def store_for(settings: Settings) -> ModelStore:
    """The model store at ``STUDIO_MODELS_DIR`` (or ``<data dir>/models``)."""
    return ModelStore(settings.resolved_models_dir)


def image_model(settings: Settings, store: ModelStore | None = None) -> ResolvedModel:
    """The text-to-image model ``STUDIO_IMAGE_MODEL`` names, else the one for ``STUDIO_MODEL_PROFILE``, installed
    and active.

    The tiny model is written on first use, so tests and offline demos need no set-up; the real models raise
    ``NotAvailable`` naming the `studio models pull` command to run.
    """
    store = store or store_for(settings)
    if settings.image_model:
        spec = store.spec(settings.image_model)
        if spec.role != "text-to-image":
            raise NotAvailable(f"STUDIO_IMAGE_MODEL={spec.name} is a {spec.role} model, not text-to-image.")
    else:
        spec = image_model_for_profile(settings.model_profile, store.registry)
    if spec.source == "tiny" and store.active_revision(spec.name) is None:
        from inference.models.tiny import make_tiny

        log.info("the tiny model is missing: writing it to %s", store.model_dir(spec.name))
        return make_tiny(store, name=spec.name)
    return store.resolve(spec.name)


def video_model(settings: Settings, store: ModelStore | None = None) -> ResolvedModel | None:
    """The image-to-video model for ``STUDIO_MODEL_PROFILE`` when this worker can load it, else None.

    None means "AI motion is not available here": the profile has no video model (``cpu``) or the full
    model has not been pulled. Callers that were asked for AI motion explain that to the user; callers
    choosing a default fall back to a camera-motion preset. The tiny model is written on first use.
    """
    store = store or store_for(settings)
    spec = video_model_for_profile(settings.model_profile, store.registry)
    if spec is None:
        return None
    if spec.source == "tiny" and store.active_revision(spec.name) is None:
        from inference.models.tiny_video import make_tiny_video

        log.info("the tiny video model is missing: writing it to %s", store.model_dir(spec.name))
        return make_tiny_video(store, name=spec.name)
    try:
        return store.resolve(spec.name)
    except NotAvailable:
        return None
