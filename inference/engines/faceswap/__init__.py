"""The face-swap engine: a persona's face put into photos and videos.

Two engines behind one contract (``SwapRequest`` → ``SwapResult``):
- ``landmark``: warp, colour match and seamless blend with dlib's shipped models; any CPU, no model to pull.
- ``inswapper``: insightface's inswapper ONNX model (``inswapper-128``) through onnxruntime, with an
  insightface face pack for detection and the identity embedding.

``STUDIO_SWAP_ENGINE`` picks one; ``auto`` (the default) takes inswapper where its model and a face pack are
installed and the profile is not ``tiny`` (tiny packs have random weights), else the landmark swap.
"""

from __future__ import annotations

from core.errors import NotAvailable
from core.settings import Settings
from inference.engines.faceswap.contract import (
    FACE_POLICIES,
    MIN_FACE_PX,
    FaceChoice,
    SourceFace,
    StageTimes,
    SwapRequest,
    SwapResult,
    check_faces,
)
from inference.engines.faceswap.engine import FaceSwapEngine
from inference.engines.faceswap.landmark import LandmarkSwapEngine
from inference.engines.faceswap.references import (
    RankedReference,
    ReferenceView,
    choose_reference,
    rank_references,
)
from inference.engines.faceswap.render import SwapSettings

ENGINES = ("landmark", "inswapper")
INSWAPPER_MODEL = "inswapper-128"  # its registry name

__all__ = [
    "ENGINES",
    "FACE_POLICIES",
    "INSWAPPER_MODEL",
    "MIN_FACE_PX",
    "FaceChoice",
    "FaceSwapEngine",
    "LandmarkSwapEngine",
    "RankedReference",
    "ReferenceView",
    "SourceFace",
    "StageTimes",
    "SwapRequest",
    "SwapResult",
    "SwapSettings",
    "check_faces",
    "choose_engine",
    "choose_reference",
    "inswapper_installed",
    "rank_references",
]


def inswapper_installed(settings: Settings) -> bool:
    """Whether the worker has what the ONNX swap needs: the inswapper model and an insightface face pack."""
    from inference.engines.faces.insightface_backend import find_pack
    from inference.models.resolve import store_for

    store = store_for(settings)
    return store.active_revision(INSWAPPER_MODEL) is not None and find_pack(settings.resolved_models_dir) is not None


def choose_engine(settings: Settings) -> str:
    """The engine this worker swaps faces with (see the module notes); ``NotAvailable`` when the one asked
    for by ``STUDIO_SWAP_ENGINE`` is not installed."""
    wanted = settings.swap_engine
    if wanted == "landmark":
        return "landmark"
    installed = inswapper_installed(settings)
    if wanted == "inswapper":
        if not installed:
            raise NotAvailable(f"This server is set to swap faces with the {INSWAPPER_MODEL} model, which its "
                               "worker does not have yet; please try again later.")
        return "inswapper"
    return "inswapper" if installed and settings.model_profile != "tiny" else "landmark"
