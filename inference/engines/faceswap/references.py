"""Which of a persona's reference photos to swap in: the one whose head pose best matches the target face.

A landmark swap warps a photo onto another face's pose; the closer the two poses, the less it has to
invent. A turned target wants a reference turned the same way, a tilted one a tilted reference. Yaw matters
most (a turned head hides half the face), pitch less (the landmark estimate of pitch is biased, but it is
biased the same way for both faces), roll hardly (the warp rotates freely). Expression counts too: a
reference with the same mouth (open or closed) needs no teeth invented or hidden. Among equally good poses
the sharper and larger photo wins.

``choose_reference`` is what the swap task and the ``/imagine`` refinement call with the persona's stored
reference analysis; ``rank_references`` gives the whole order (a still tries the best few).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference.engines.faces.geometry import Pose
from inference.engines.faceswap import shape

# Cost weights, in "degrees of yaw" per unit.
YAW_WEIGHT = 1.0
PITCH_WEIGHT = 0.5
ROLL_WEIGHT = 0.1
# A reference whose mouth is open where the target's is closed (or the reverse) costs this much.
MOUTH_COST = 12.0
# Soft or small photos cost up to this much (a sharp, large one nothing).
QUALITY_COST = 10.0
SHARP_ENOUGH = 150.0  # variance of the Laplacian on the aligned crop (see ``faces.geometry.sharpness``)
LARGE_ENOUGH = 300.0  # face box side, pixels


@dataclass(frozen=True)
class ReferenceView:
    """What pose matching knows about one reference photo.

    ``pose``: head pose in degrees (None when never analysed: such a photo ranks last); ``mouth``: inner-lip
    gap relative to the mouth's width when 68 landmarks are known (None otherwise); ``blur`` and ``face_px``:
    the quality persona analysis measured (None: unknown, no penalty).
    """

    pose: Pose | None
    mouth: float | None = None
    blur: float | None = None
    face_px: float | None = None

    @classmethod
    def from_quality(cls, quality: Mapping[str, Any] | None,
                     landmarks: Sequence[Sequence[float]] | np.ndarray | None = None) -> ReferenceView:
        """A view from what persona analysis stored (``ReferenceImage.quality`` and ``landmarks``)."""
        quality = quality or {}
        pose = None
        if all(isinstance(quality.get(key), int | float) for key in ("yaw", "pitch", "roll")):
            pose = Pose(yaw=float(quality["yaw"]), pitch=float(quality["pitch"]), roll=float(quality["roll"]))
        mouth = None
        if landmarks is not None:
            points = np.asarray(landmarks, dtype=np.float64)
            if points.shape == (68, 2):
                mouth = shape.mouth_gap(points)
                pose = pose or shape.pose_of(points)
        blur = quality.get("blur")
        face_px = quality.get("face_px")
        return cls(pose=pose, mouth=mouth, blur=float(blur) if isinstance(blur, int | float) else None,
                   face_px=float(face_px) if isinstance(face_px, int | float) else None)

    @classmethod
    def from_points(cls, points: np.ndarray, *, blur: float | None = None,
                    face_px: float | None = None) -> ReferenceView:
        """A view from a face's landmarks (68 points, or the five alignment points)."""
        pts = np.asarray(points, dtype=np.float64)
        mouth = shape.mouth_gap(pts) if pts.shape == (68, 2) else None
        return cls(pose=shape.pose_of(pts), mouth=mouth, blur=blur, face_px=face_px)


@dataclass(frozen=True)
class RankedReference:
    """One reference in the ranking: its index in the list given, and its cost (lower is better)."""

    index: int
    cost: float


def _mouth_state(gap: float | None) -> float | None:
    if gap is None:
        return None
    return float(np.clip((gap - shape.MOUTH_CLOSED_RATIO) / (shape.MOUTH_OPEN_RATIO - shape.MOUTH_CLOSED_RATIO),
                         0.0, 1.0))


def pose_cost(reference: ReferenceView, target: ReferenceView) -> float:
    """How badly ``reference`` fits ``target`` (weighted degrees; ``inf`` without a pose)."""
    if reference.pose is None or target.pose is None:
        return math.inf
    a, b = reference.pose, target.pose
    cost = YAW_WEIGHT * abs(a.yaw - b.yaw) + PITCH_WEIGHT * abs(a.pitch - b.pitch) \
        + ROLL_WEIGHT * abs(_wrap(a.roll - b.roll))
    mouth_a, mouth_b = _mouth_state(reference.mouth), _mouth_state(target.mouth)
    if mouth_a is not None and mouth_b is not None:
        cost += MOUTH_COST * abs(mouth_a - mouth_b)
    sharp = 1.0 if reference.blur is None else min(reference.blur, SHARP_ENOUGH) / SHARP_ENOUGH
    large = 1.0 if reference.face_px is None else min(reference.face_px, LARGE_ENOUGH) / LARGE_ENOUGH
    return cost + QUALITY_COST * (1.0 - 0.5 * (sharp + large))


def _wrap(degrees: float) -> float:
    return (degrees + 180.0) % 360.0 - 180.0


def _target_view(target_face: ReferenceView | Pose | np.ndarray) -> ReferenceView:
    if isinstance(target_face, ReferenceView):
        return target_face
    if isinstance(target_face, Pose):
        return ReferenceView(pose=target_face)
    return ReferenceView.from_points(np.asarray(target_face, dtype=np.float64))


def rank_references(references: Sequence[ReferenceView],
                    target_face: ReferenceView | Pose | np.ndarray) -> list[RankedReference]:
    """Every reference, best match for ``target_face`` first (a view, a pose, or its landmarks).

    References without a pose come last, in their given order; ties keep the given order.
    """
    target = _target_view(target_face)
    ranked = [RankedReference(index=index, cost=pose_cost(reference, target))
              for index, reference in enumerate(references)]
    return sorted(ranked, key=lambda item: (item.cost, item.index))


def choose_reference(references: Sequence[ReferenceView],
                     target_face: ReferenceView | Pose | np.ndarray) -> RankedReference:
    """The reference whose head pose (and mouth) best matches ``target_face``; ``ValueError`` when the list
    is empty."""
    if not references:
        raise ValueError("references must not be empty: the persona has no analysed photos")
    return rank_references(references, target_face)[0]
