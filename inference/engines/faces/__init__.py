"""Face analysis engines: one contract (``FaceAnalyzer``), backends ``dlib`` (default) and ``insightface``.

Which backend a worker uses: ``insightface`` when a model pack (buffalo_l / antelopev2) is in the model store
and the profile is not ``tiny`` (tiny packs have random weights, useless for identity); otherwise ``dlib``,
whose real models ship in a Python package and so always work on CPU.
"""

from __future__ import annotations

from core.settings import Settings
from inference.engines.faces.contract import Detection, Face, FaceAnalyzer, FaceQuality, as_rgb_array
from inference.engines.faces.geometry import Pose, align_face, estimate_pose, sharpness

BACKENDS = ("dlib", "insightface")

__all__ = [
    "BACKENDS",
    "Detection",
    "Face",
    "FaceAnalyzer",
    "FaceQuality",
    "Pose",
    "align_face",
    "as_rgb_array",
    "choose_backend",
    "engine_key",
    "estimate_pose",
    "load_analyzer",
    "sharpness",
]


def choose_backend(settings: Settings) -> str:
    """``"insightface"`` when a usable pack is in the model store, else ``"dlib"``."""
    from inference.engines.faces.insightface_backend import find_pack

    if settings.model_profile != "tiny" and find_pack(settings.resolved_models_dir) is not None:
        return "insightface"
    return "dlib"


def engine_key(backend: str) -> str:
    """The worker engine-cache key of a face backend."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return f"faces:{backend}"


def load_analyzer(settings: Settings, backend: str) -> FaceAnalyzer:
    """A loaded ``FaceAnalyzer`` for ``backend``; ``NotAvailable`` when its models are missing."""
    engine_key(backend)  # validates the name
    if backend == "dlib":
        from inference.engines.faces.dlib_backend import load_dlib

        return load_dlib()
    from core.errors import NotAvailable
    from inference.engines.faces.insightface_backend import find_pack, load_insightface

    pack = find_pack(settings.resolved_models_dir)
    if pack is None:
        raise NotAvailable(f"No insightface model pack (buffalo_l or antelopev2) in {settings.resolved_models_dir}.")
    return load_insightface(pack)
