"""A persona's face as a swap source: the engine for this worker, the persona's reference photos prepared as
sources, and its identity vector (what a landmark swap scores its candidates against).

Used by /swap and by the /imagine refinement layer, so both put the persona's face in the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import NotAvailable
from inference.engines.faces import FaceAnalyzer, engine_key, load_analyzer
from inference.engines.faces.dlib_backend import DlibFaceAnalyzer
from inference.engines.faces.geometry import five_from_68
from inference.engines.faceswap import (
    INSWAPPER_MODEL,
    FaceSwapEngine,
    LandmarkSwapEngine,
    SourceFace,
    choose_engine,
)
from inference.engines.faceswap.inswapper import InswapperEngine
from inference.engines.faceswap.sources import load_source
from inference.identity import load_rgb
from inference.models.resolve import store_for
from inference.task_context import TaskContext
from storage.models import Persona

# Reference ranking: a swap warps the source onto the target's pose, so a turned source leaves its hidden
# side smeared; frontal counts most, then sharpness, then size (each saturating where more stops helping).
SHARP_ENOUGH = 150.0
LARGE_ENOUGH = 400.0
MAX_ALTERNATIVES = 5  # other reference photos a landmark swap may choose from by pose


@dataclass(frozen=True)
class Reference:
    """One analysed reference photo of the persona, as face analysis stored it."""

    blob: str
    label: str
    landmarks: list[list[float]] | None
    face_box: list[int] | None
    quality: dict[str, Any]


def references_of(persona: Persona) -> list[Reference]:
    """The persona's reference photos as analysis stored them (read inside the caller's session)."""
    return [Reference(blob=ref.blob, label=ref.filename or f"photo {index + 1}", landmarks=ref.landmarks,
                      face_box=ref.face_box, quality=dict(ref.quality or {}))
            for index, ref in enumerate(persona.references)]


@dataclass(frozen=True)
class PersonaFace:
    """Everything a swap request needs from the persona, prepared once per job."""

    engine: FaceSwapEngine[Any]
    source: SourceFace
    alternatives: tuple[SourceFace, ...]
    identity: np.ndarray | None


def prepare(ctx: TaskContext, persona: Persona, references: Sequence[Reference]) -> PersonaFace:
    """The worker's swap engine (``STUDIO_SWAP_ENGINE``) with ``persona``'s face ready to put in."""
    engine = load_engine(ctx, choose_engine(ctx.settings))
    refs = list(references)
    source = source_face(ctx, persona, refs, engine)
    alternatives, identity = landmark_choices(ctx, persona, refs, engine)
    return PersonaFace(engine=engine, source=source, alternatives=alternatives, identity=identity)


def reference_score(quality: dict[str, Any]) -> float:
    """How good a reference photo is as a swap source (higher is better; 0 for one never analysed)."""
    if not quality:
        return 0.0
    yaw = min(abs(float(quality.get("yaw", 90.0))), 90.0)
    frontal = math.cos(math.radians(yaw)) ** 2
    sharp = min(float(quality.get("blur", 0.0)), SHARP_ENOUGH) / SHARP_ENOUGH
    size = min(float(quality.get("face_px", 0.0)), LARGE_ENOUGH) / LARGE_ENOUGH
    return frontal * (0.5 + 0.5 * sharp) * (0.5 + 0.5 * size)


def best_reference(references: list[Reference]) -> Reference:
    """The persona's best swap source: most frontal, sharp and large among its analysed photos."""
    analysed = [ref for ref in references if ref.quality and ref.face_box]
    if not analysed:
        raise NotAvailable("That persona has no analysed photos yet; send its photos and /done first.")
    return max(analysed, key=lambda ref: reference_score(ref.quality))


def dlib_analyzer(ctx: TaskContext) -> DlibFaceAnalyzer:
    analyzer = ctx.engine(engine_key("dlib"), lambda: load_analyzer(ctx.settings, "dlib"))
    assert isinstance(analyzer, DlibFaceAnalyzer)
    return analyzer


def load_engine(ctx: TaskContext, name: str) -> FaceSwapEngine[Any]:
    if name == "landmark":
        return LandmarkSwapEngine(dlib_analyzer(ctx))
    from inference.engines.faces.insightface_backend import InsightFaceAnalyzer
    from inference.engines.faceswap.inswapper import load_inswapper

    model = store_for(ctx.settings).resolve(INSWAPPER_MODEL)
    analyzer: FaceAnalyzer = ctx.engine(engine_key("insightface"),
                                        lambda: load_analyzer(ctx.settings, "insightface"))
    assert isinstance(analyzer, InsightFaceAnalyzer)
    swapper = ctx.engine(f"faceswap:{model.key}", lambda: load_inswapper(model.path))
    return InswapperEngine(swapper, analyzer)


def _nearest(faces: list[np.ndarray], box: list[int] | None) -> np.ndarray:
    """The landmarks (of several faces) whose centre is nearest the stored face box's centre."""
    if box is None or len(faces) == 1:
        return faces[0]
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    return min(faces, key=lambda points: float(np.linalg.norm(points.mean(axis=0) - centre)))


def source_face(ctx: TaskContext, persona: Persona, references: list[Reference],
                engine: FaceSwapEngine[Any]) -> SourceFace:
    """The persona's best reference photo with the landmarks (and, for inswapper, embedding) it needs."""
    ref = best_reference(references)
    image = load_rgb(ctx.blobs.read_bytes(ref.blob))
    stored = np.asarray(ref.landmarks, dtype=np.float64) if ref.landmarks else None
    if isinstance(engine, LandmarkSwapEngine):
        if stored is None or stored.shape != (68, 2):
            # Analysed by a five-point engine: dlib places the 68 points the landmark swap needs.
            found = dlib_analyzer(ctx).detect(image)
            if not found:
                raise NotAvailable(f"No face could be found again in {persona.name}'s photo {ref.label}; "
                                   "re-create the persona with clearer photos.")
            stored = _nearest([face.landmarks for face in found], ref.face_box)
        return SourceFace(image=image, points=stored, label=ref.label)
    assert isinstance(engine, InswapperEngine)
    # The persona's aggregate embedding under the pack's engine, where analysis stored one: steadier than any
    # single photo's. Otherwise the engine embeds the reference photo itself.
    identity = (persona.identity or {}).get(engine.analyzer.name) or {}
    vector = identity.get("vector")
    embedding = np.asarray(vector, dtype=np.float64) if vector else None
    points = stored if stored is not None else np.zeros((5, 2))
    if points.shape == (68, 2):
        points = five_from_68(points)
    return SourceFace(image=image, points=points, embedding=embedding, label=ref.label)


def landmark_choices(ctx: TaskContext, persona: Persona, references: list[Reference],
                     engine: FaceSwapEngine[Any]) -> tuple[tuple[SourceFace, ...], np.ndarray | None]:
    """For the landmark swap: the persona's other analysed photos (each face is swapped with the one whose
    head pose matches it best) and its dlib identity (what the engine scores its candidates against)."""
    if not isinstance(engine, LandmarkSwapEngine):
        return (), None
    best = best_reference(references)
    others = sorted((ref for ref in references if ref.blob != best.blob and ref.quality and ref.landmarks
                     and np.asarray(ref.landmarks).shape == (68, 2)),
                    key=lambda ref: reference_score(ref.quality), reverse=True)[:MAX_ALTERNATIVES]
    alternatives = tuple(load_source(ctx.blobs.read_bytes(ref.blob), np.asarray(ref.landmarks, dtype=np.float64),
                                     label=ref.label) for ref in others)
    vector = ((persona.identity or {}).get("dlib") or {}).get("vector")
    return alternatives, np.asarray(vector, dtype=np.float64) if vector else None


