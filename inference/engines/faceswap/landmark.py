"""The landmark swap: the persona's face warped onto each target face, colour-matched and blended in.

Works on any CPU with dlib's shipped models (HOG detector, 68-point landmarks); no swap model is needed.
Per face: the destination landmarks take the source's proportions with the target's pose and expression
(``shape``), the source photo is warped onto them triangle by triangle (``warp``), then colour-matched in
LAB and blended with a Poisson clone and a feathered edge (``blend``). Only pixels inside the face's hull
change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from inference.engines.faces.dlib_backend import DlibFaceAnalyzer
from inference.engines.faceswap import blend, shape
from inference.engines.faceswap.contract import SourceFace, StageTimes
from inference.engines.faceswap.engine import FaceSwapEngine
from inference.engines.faceswap.tracking import Found, anchor_of, box_from_anchor
from inference.engines.faceswap.warp import region_around, triangulate, warp_mesh

NAME = "landmark"
REGION_MARGIN = 0.06  # of the face's size around its hull: room for the blend to read the target's colours
# Below this gap (as a fraction of mouth width) the mouth counts as closed and the source's lips cover it;
# at MOUTH_OPEN_RATIO and above the target's open mouth shows through; in between it fades.
MOUTH_CLOSED_RATIO = 0.06
FOLLOW_FITS = 2  # landmark fits per followed face and frame (see ``follow``)


@dataclass(frozen=True)
class PreparedSource:
    """The source face ready to warp: its photo, 68 landmarks, forehead-extended mesh points and triangles."""

    image: np.ndarray
    points: np.ndarray
    mesh: np.ndarray
    triangles: np.ndarray


class LandmarkSwapEngine(FaceSwapEngine[PreparedSource]):
    """Landmark-based face swap over a loaded dlib face analyzer (borrowed from the worker's cache)."""

    name = NAME
    can_follow = True

    def __init__(self, analyzer: DlibFaceAnalyzer, *, strength: float = 1.0) -> None:
        self._analyzer: DlibFaceAnalyzer | None = analyzer
        self.strength = strength

    @property
    def analyzer(self) -> DlibFaceAnalyzer:
        if self._analyzer is None:
            raise RuntimeError("engine was unloaded")
        return self._analyzer

    def prepare(self, source: SourceFace) -> PreparedSource:
        """Triangulate the source's landmarks."""
        points = np.asarray(source.points, dtype=np.float64)
        if points.shape != (68, 2):
            raise ValueError(f"source.points must be the 68-point landmark layout, got shape {points.shape}")
        mesh = shape.with_forehead(points)
        return PreparedSource(image=np.ascontiguousarray(source.image), points=points, mesh=mesh,
                              triangles=triangulate(mesh))

    def find(self, frame: np.ndarray, times: StageTimes) -> list[Found]:
        """Faces by dlib's HOG detector, then their 68 landmarks."""
        started = time.perf_counter()
        boxes = self.analyzer.boxes(frame)
        located = time.perf_counter()
        times.detect += located - started
        found = []
        for box, score in boxes:
            points = self.analyzer.landmarks_in(frame, box)
            found.append(Found(box=box, points=points, score=score, anchor=anchor_of(box, points)))
        times.landmarks += time.perf_counter() - located
        return found

    def follow(self, frame: np.ndarray, previous: Found) -> Found | None:
        """The landmarks re-fitted in a detector-like box around where the face is expected.

        Fitted twice: the second time in the box the first fit's landmarks give, which pulls the box onto
        the face when the prediction was off (the fitter is trained on boxes centred on the face).
        """
        if previous.anchor is None:
            return None
        points = previous.points
        box: tuple[int, int, int, int] | None = None
        for _ in range(FOLLOW_FITS):
            box = box_from_anchor(points, previous.anchor, frame.shape)
            if box is None:
                return None
            points = self.analyzer.landmarks_in(frame, box)
        assert box is not None
        return Found(box=box, points=points, score=previous.score, anchor=previous.anchor)

    def swap_face(self, frame: np.ndarray, points: np.ndarray, prepared: PreparedSource) -> np.ndarray:
        """A copy of ``frame`` with the face at ``points`` (68 landmarks) replaced by the source's."""
        target = np.asarray(points, dtype=np.float64)
        weight = shape.layout_weight(prepared.points, target, self.strength)
        layout = shape.transfer_layout(prepared.points, target, weight)
        mesh = shape.with_forehead(layout)
        region = region_around(mesh, frame.shape, margin=REGION_MARGIN)
        out = np.array(frame, copy=True)
        if region.empty:
            return out
        warped, covered = warp_mesh(prepared.image, prepared.mesh, mesh, prepared.triangles, region)
        offset = np.array([region.x, region.y], dtype=np.float64)
        size = blend.face_size(target)
        gap = shape.mouth_gap(target)
        keep_mouth = float(np.clip((gap - MOUTH_CLOSED_RATIO) / (shape.MOUTH_OPEN_RATIO - MOUTH_CLOSED_RATIO),
                                   0.0, 1.0))
        hard, alpha = blend.face_mask(covered, size, mouth=target[shape.INNER_LIPS] - offset, keep_mouth=keep_mouth)
        area = out[region.slices]
        face = blend.match_colour(warped, area, hard)
        out[region.slices] = blend.seamless(face, area, hard, alpha)
        return out

    def unload(self) -> None:
        """Drop the reference to the analyzer (the worker's cache owns and frees it)."""
        self._analyzer = None

    def memory_bytes(self) -> int:
        """Nothing of its own: the analyzer it borrows is counted under its own cache key."""
        return 0
