"""Identity scoring: how much a face in an image looks like a persona (``IdentityVerdict``), per face engine.

The persona side is ``Persona.identity[engine]``, written by persona analysis::

    {"vector": [...],               # robust aggregate of the reference embeddings
     "threshold": float,            # same-person distance in the engine's metric, calibrated for this persona
     "similarity_threshold": float, # the same limit as a similarity (what ``IdentityVerdict.threshold`` is)
     "spread": float,               # median leave-one-out distance of the reference photos
     "likeness_full": float,        # distance read as 100 % likeness (= spread; see core.likeness)
     "likeness_zero": float,        # distance read as 0 % likeness (the engine's stranger distance)
     "engine_threshold": float,     # the engine's documented same-person distance (the loosest limit)
     "floor": float,                # the engine's calibration floor (the tightest limit)
     "count": int, "metric": "euclidean" | "cosine"}

Similarity is ``max(0, 1 - distance)`` for every engine: for dlib (euclidean, documented threshold 0.6) the
same-person limit is at similarity 0.4 or higher; for ArcFace (cosine) it is the cosine similarity itself.

Calibration: the persona's limit is ``LOO_MARGIN`` times its photos' largest leave-one-out distance (each
photo against the aggregate of the others, the same comparison a new image gets), so a persona whose photos
agree closely is held to that closeness; but never tighter than the engine's ``calibration_floor`` (what
different photos of one person were measured to reach: tighter would refuse the person themself) and never
looser than the engine's documented ``threshold``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from core.errors import NotAvailable
from core.likeness import Likeness, LikenessScale
from core.likeness import read as read_likeness
from inference.engines.faces import FaceAnalyzer, choose_backend, engine_key, load_analyzer
from inference.task_context import TaskContext
from storage.blobs import BlobStore
from storage.models import Persona

# Headroom over the loosest leave-one-out distance among the persona's accepted photos: a new picture of the
# person differs from the set more than the set's own members differ from each other.
LOO_MARGIN = 1.5


@dataclass(frozen=True)
class FaceMatch:
    """One face in the scored image: its box (x0, y0, x1, y1) and how close it is to the persona."""

    box: tuple[int, int, int, int]
    similarity: float
    distance: float
    same_person: bool
    likeness: Likeness | None = None  # on the persona's own scale (None for a persona without a scale)


@dataclass(frozen=True)
class IdentityVerdict:
    """Every face in an image scored against a persona with one engine; ``threshold`` is a similarity."""

    engine: str
    threshold: float
    faces: list[FaceMatch] = field(default_factory=list)

    @property
    def likeness(self) -> Likeness | None:
        """The best face on the persona's likeness scale (``caption`` is what a result shows), or None."""
        best = self.best
        return None if best is None else best.likeness

    @property
    def subject(self) -> FaceMatch | None:
        """The main subject: the largest face (what a persona image is judged on, never a bystander), or None."""
        return max(self.faces, key=lambda match: (match.box[2] - match.box[0]) * (match.box[3] - match.box[1]),
                   default=None)

    @property
    def best(self) -> FaceMatch | None:
        """The face most like the persona (highest similarity), or None when there is no face."""
        return max(self.faces, key=lambda match: match.similarity, default=None)

    @property
    def score(self) -> float | None:
        """The best face's similarity in [0, 1], or None when there is no face."""
        best = self.best
        return None if best is None else best.similarity


@dataclass(frozen=True)
class PersonaIdentity:
    """A persona's aggregate embedding for one engine, its same-person limit and its likeness scale (distances)."""

    vector: np.ndarray
    threshold: float
    spread: float
    count: int
    scale: LikenessScale

    def to_json(self, analyzer: FaceAnalyzer) -> dict[str, Any]:
        """The form stored in ``Persona.identity[engine]``."""
        return {
            "vector": [float(v) for v in self.vector],
            "threshold": round(self.threshold, 4),
            "similarity_threshold": round(analyzer.similarity(self.threshold), 4),
            "spread": round(self.spread, 4),
            "likeness_full": round(self.scale.full, 4),
            "likeness_zero": round(self.scale.zero, 4),
            "engine_threshold": analyzer.threshold,
            "floor": analyzer_floor(analyzer),
            "count": self.count,
            "metric": analyzer.metric,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PersonaIdentity:
        """Read back what ``to_json`` stored (older entries without the scale get ``core.likeness``'s fallback)."""
        threshold, spread = float(data["threshold"]), float(data.get("spread", 0.0))
        zero = data.get("likeness_zero")
        scale = LikenessScale.from_calibration(full=float(data.get("likeness_full", spread)), threshold=threshold,
                                               zero=float(zero) if isinstance(zero, int | float) else None)
        return cls(vector=np.asarray(data["vector"], dtype=np.float64), threshold=threshold, spread=spread,
                   count=int(data.get("count", 0)), scale=scale)


def robust_center(analyzer: FaceAnalyzer, vectors: Sequence[np.ndarray]) -> np.ndarray:
    """The aggregate embedding of ``vectors``, unmoved by a minority of photos of someone else.

    The medoid (the vector closest to all others) picks the majority identity; the mean of the vectors within
    the engine's threshold of it then averages out pose and lighting without letting an outlier pull it.
    """
    if not vectors:
        raise ValueError("vectors must not be empty")
    arrays = [np.asarray(v, dtype=np.float64) for v in vectors]
    if len(arrays) <= 2:
        return analyzer.mean(arrays)
    distances = np.array([[analyzer.distance(a, b) for b in arrays] for a in arrays])
    medoid = arrays[int(distances.sum(axis=1).argmin())]
    close = [a for a in arrays if analyzer.distance(a, medoid) <= analyzer.threshold]
    return analyzer.mean(close or [medoid])


def leave_one_out(analyzer: FaceAnalyzer, vectors: Sequence[np.ndarray]) -> list[float]:
    """For each vector, its distance to the robust aggregate of all the others."""
    arrays = [np.asarray(v, dtype=np.float64) for v in vectors]
    if len(arrays) < 2:
        return [0.0] * len(arrays)
    return [analyzer.distance(a, robust_center(analyzer, arrays[:i] + arrays[i + 1:])) for i, a in enumerate(arrays)]


def analyzer_floor(analyzer: FaceAnalyzer) -> float:
    """The tightest limit a persona may get under ``analyzer``: its calibration floor, capped at its threshold."""
    return float(min(analyzer.calibration_floor, analyzer.threshold))


def calibrated_threshold(analyzer: FaceAnalyzer, loo: Sequence[float]) -> float:
    """The persona's same-person limit from its photos' leave-one-out distances, within [floor, threshold].

    One photo says nothing about how the person varies: the engine's documented threshold then stands.
    """
    if len(loo) < 2:
        return float(analyzer.threshold)
    return float(min(analyzer.threshold, max(analyzer_floor(analyzer), LOO_MARGIN * max(loo))))


def build_identity(analyzer: FaceAnalyzer, vectors: Sequence[np.ndarray]) -> PersonaIdentity:
    """The persona's aggregate, calibrated same-person limit and likeness scale from its photos' embeddings."""
    loo = leave_one_out(analyzer, vectors)
    limit = calibrated_threshold(analyzer, loo)
    spread = float(np.median(loo)) if loo else 0.0
    # 100 % is how far the persona's own photos are from it (a new image is compared the same way); 0 % is a
    # typical stranger under this engine.
    scale = LikenessScale.from_calibration(full=spread, threshold=limit, zero=analyzer.stranger_distance)
    return PersonaIdentity(vector=robust_center(analyzer, vectors), threshold=limit, spread=spread,
                           count=len(vectors), scale=scale)


def load_rgb(data: bytes) -> np.ndarray:
    """An upright RGB array from stored image bytes."""
    with Image.open(io.BytesIO(data)) as image:
        upright = ImageOps.exif_transpose(image) or image
        return np.ascontiguousarray(np.asarray(upright.convert("RGB")))


class IdentityScorer:
    """Scores images against personas with one loaded face engine."""

    def __init__(self, analyzer: FaceAnalyzer, *, blobs: BlobStore | None = None) -> None:
        self.analyzer = analyzer
        self.blobs = blobs
        # Aggregates recomputed for personas analysed with another engine, for this scorer's lifetime only:
        # persisting them is persona analysis's job.
        self._recomputed: dict[tuple[int, tuple[str, ...]], PersonaIdentity] = {}

    @property
    def engine(self) -> str:
        """The engine name embeddings are compared under."""
        return self.analyzer.name

    def score(self, image: Image.Image, persona: Persona) -> IdentityVerdict:
        """Every face in ``image`` compared with ``persona``; ``NotAvailable`` if it has no analysed photos."""
        identity = self.identity_of(persona)
        faces = self.analyzer.analyze(image)
        matches = []
        for face in faces:
            distance = self.analyzer.distance(face.embedding, identity.vector)
            matches.append(FaceMatch(box=face.box, similarity=self.analyzer.similarity(distance),
                                     distance=distance, same_person=distance <= identity.threshold,
                                     likeness=read_likeness(distance, identity.scale)))
        return IdentityVerdict(engine=self.engine, threshold=self.analyzer.similarity(identity.threshold),
                               faces=matches)

    def identity_of(self, persona: Persona) -> PersonaIdentity:
        """The persona's identity under this engine: stored, or recomputed from its reference photos."""
        stored = (persona.identity or {}).get(self.engine)
        if stored:
            return PersonaIdentity.from_json(stored)
        key = (persona.id, tuple(ref.blob for ref in persona.references))
        if key not in self._recomputed:
            self._recomputed[key] = self._recompute(persona)
        return self._recomputed[key]

    def _recompute(self, persona: Persona) -> PersonaIdentity:
        # Another engine's embeddings are a different space: only this engine's own vectors are ever used.
        vectors: list[np.ndarray] = []
        for ref in persona.references:
            stored = (ref.embeddings or {}).get(self.engine)
            if stored is not None:
                vectors.append(np.asarray(stored, dtype=np.float64))
            elif self.blobs is not None:
                faces = self.analyzer.analyze(load_rgb(self.blobs.read_bytes(ref.blob)))
                if faces:
                    vectors.append(faces[0].embedding)
        if not vectors:
            raise NotAvailable(f"{persona.name} has no analysed reference photos yet; send photos and /done.")
        return build_identity(self.analyzer, vectors)


def scorer_for(ctx: TaskContext) -> IdentityScorer:
    """An ``IdentityScorer`` with the worker's face engine (loaded once, kept warm in the engine cache)."""
    backend = choose_backend(ctx.settings)
    analyzer: FaceAnalyzer = ctx.engine(engine_key(backend), lambda: load_analyzer(ctx.settings, backend))
    return IdentityScorer(analyzer, blobs=ctx.blobs)
