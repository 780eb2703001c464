"""The face engine contract: what every backend returns (``Face``) and the ``FaceAnalyzer`` base class."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from inference.engines.base import Progress, no_progress
from inference.engines.faces.geometry import Pose, align_face, estimate_pose, sharpness

Metric = Literal["euclidean", "cosine"]


@dataclass(frozen=True)
class FaceQuality:
    """How usable a face is as an identity reference."""

    face_px: int  # shorter side of the detection box, in source pixels
    blur: float  # variance of the Laplacian on the aligned 112 px crop; low = blurred
    pose: Pose

    def as_dict(self) -> dict[str, float]:
        """JSON-ready values for ``ReferenceImage.quality``."""
        return {"face_px": self.face_px, "blur": round(self.blur, 1), "yaw": round(self.pose.yaw, 1),
                "pitch": round(self.pose.pitch, 1), "roll": round(self.pose.roll, 1)}


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face: box (x0, y0, x1, y1), landmarks, detector score, identity embedding, quality."""

    box: tuple[int, int, int, int]
    landmarks: np.ndarray  # (N, 2) in source pixels: 68 points (dlib) or 5 (insightface)
    five: np.ndarray  # (5, 2): eye centres, nose tip, mouth corners, the alignment points
    score: float
    embedding: np.ndarray
    quality: FaceQuality

    @property
    def area(self) -> int:
        """Box area in pixels (the largest face is the subject)."""
        return max(0, self.box[2] - self.box[0]) * max(0, self.box[3] - self.box[1])


@dataclass(frozen=True)
class Detection:
    """A backend's raw find before embedding: box, landmarks and the five alignment points."""

    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    five: np.ndarray
    score: float
    handle: Any = None  # backend-specific object the embedder needs (dlib's full_object_detection)


def as_rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """An HxWx3 uint8 RGB array from a PIL image or an array (contiguous, as dlib requires)."""
    if isinstance(image, Image.Image):
        return np.ascontiguousarray(np.asarray(image.convert("RGB")))
    return np.ascontiguousarray(image)


class FaceAnalyzer(ABC):
    """Detects faces, places landmarks and computes identity embeddings; one instance per loaded backend.

    Subclasses set the class attributes that describe their embedding space. ``name`` is the key under which
    embeddings are stored (``ReferenceImage.embeddings``, ``Persona.identity``): two engines never share one.
    """

    name: str
    metric: Metric
    threshold: float  # documented same-person distance: below it, two faces are the same person
    # Same-person distances different photos of one person reach (measured): no persona's threshold is
    # tightened below it. Never above ``threshold``.
    calibration_floor: float
    # A typical distance between two different people: where the likeness scale reads 0 %.
    stranger_distance: float
    duplicate_distance: float  # below this, two photos are near-copies of one picture
    embedding_size: int

    def check_inputs(self, image: Any) -> None:
        """Raise ``ValueError`` naming ``image`` unless it is an HxWx3 uint8 RGB array."""
        if not isinstance(image, np.ndarray):
            raise ValueError(f"image must be an RGB numpy array, got {type(image).__name__}")
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be HxWx3 uint8 RGB, got shape {image.shape} dtype {image.dtype}")
        if min(image.shape[:2]) < 16:
            raise ValueError(f"image is too small to hold a face: {image.shape[1]}x{image.shape[0]}")

    def run(self, spec: Any, progress: Progress = no_progress) -> list[Face]:
        """Every face in ``spec`` (an RGB array or PIL image), largest first."""
        image = as_rgb_array(spec) if isinstance(spec, Image.Image) else spec
        self.check_inputs(image)
        progress(0.0, "finding faces")
        detections = self.detect(image)
        faces: list[Face] = []
        for index, found in enumerate(detections):
            progress((index + 1) / (len(detections) + 1), f"reading face {index + 1} of {len(detections)}")
            aligned = align_face(image, found.five)
            x0, y0, x1, y1 = found.box
            quality = FaceQuality(face_px=int(min(x1 - x0, y1 - y0)), blur=sharpness(aligned),
                                  pose=estimate_pose(found.five))
            faces.append(Face(box=found.box, landmarks=found.landmarks, five=found.five, score=found.score,
                              embedding=self.embed(image, found), quality=quality))
        progress(1.0, "faces read")
        return sorted(faces, key=lambda face: face.area, reverse=True)

    def analyze(self, image: Image.Image | np.ndarray) -> list[Face]:
        """Every face in ``image``, largest first (``run`` without progress reports)."""
        return self.run(image, no_progress)

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Boxes and landmarks of the faces in an RGB array."""

    @abstractmethod
    def embed(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """The identity embedding of one detected face."""

    def distance(self, a: np.ndarray | list[float], b: np.ndarray | list[float]) -> float:
        """Distance between two embeddings in this engine's metric (euclidean, or 1 - cosine)."""
        va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if self.metric == "euclidean":
            return float(np.linalg.norm(va - vb))
        denom = float(np.linalg.norm(va) * np.linalg.norm(vb)) or 1.0
        return float(1.0 - va @ vb / denom)

    def similarity(self, distance: float) -> float:
        """Similarity in [0, 1] (1 = identical) for a distance: ``max(0, 1 - d)`` for both metrics.

        For cosine engines that is the cosine similarity clipped at 0; for dlib's euclidean distance
        (same person below 0.6) it puts dlib's threshold at similarity 0.4.
        """
        return float(min(1.0, max(0.0, 1.0 - distance)))

    def mean(self, vectors: list[np.ndarray]) -> np.ndarray:
        """The average embedding of ``vectors`` in this engine's space (re-normalised for cosine)."""
        center = np.mean(np.stack([np.asarray(v, dtype=np.float64) for v in vectors]), axis=0)
        if self.metric == "cosine":
            center /= float(np.linalg.norm(center)) or 1.0
        return center

    @abstractmethod
    def unload(self) -> None:
        """Release the loaded models."""

    @abstractmethod
    def memory_bytes(self) -> int:
        """Approximate memory held by the loaded models."""
