"""The image engine: text-to-image with persona LoRAs, output sizes and the identity gate."""

from __future__ import annotations

from inference.engines.image.gate import GatedImage, Score, identity_gate
from inference.engines.image.pipeline import (
    MAX_IMAGES,
    GeneratedImage,
    ImageEngine,
    ImageRequest,
    ImageResult,
    check_count,
    check_seed,
    check_steps,
)
from inference.engines.image.sizes import size_for_aspect

__all__ = [
    "MAX_IMAGES",
    "GatedImage",
    "GeneratedImage",
    "ImageEngine",
    "ImageRequest",
    "ImageResult",
    "Score",
    "check_count",
    "check_seed",
    "check_steps",
    "identity_gate",
    "size_for_aspect",
]
