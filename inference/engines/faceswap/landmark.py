"""The landmark swap: the persona's face warped onto each target face, colour-matched and blended in.

Works on any CPU with dlib's shipped models (HOG detector, 68-point landmarks, the ResNet descriptor); no
swap model is needed. Per face (``render``): the persona photo whose head pose best matches
(``references``), a destination layout with the persona's proportions and the target's expression
(``shape``), the target's head reshaped to the persona's outline (``reshape``), the photo warped onto the
layout (``warp``), skin tone and light matched to the target's skin (``colour``), then a feathered mask from
brows to chin along the jaw (``blend``). A still tries a few such candidates and keeps the one dlib finds
closest to the persona (``choice``); a video makes that choice once per tracked face and keeps its colour
steady over time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from inference.engines.faces.contract import Detection
from inference.engines.faces.dlib_backend import DlibFaceAnalyzer
from inference.engines.faces.geometry import five_from_68
from inference.engines.faceswap import choice as choosing
from inference.engines.faceswap.colour import FaceLook
from inference.engines.faceswap.contract import FaceChoice, SourceFace, StageTimes, SwapRequest
from inference.engines.faceswap.engine import FaceSwapEngine
from inference.engines.faceswap.references import ReferenceView, rank_references
from inference.engines.faceswap.render import PreparedSource, SwapSettings, render
from inference.engines.faceswap.tracking import Found, anchor_of, box_from_anchor

NAME = "landmark"
FOLLOW_FITS = 2  # landmark fits per followed face and frame at most (see ``follow``)
REFIT_SHIFT = 0.02
# A quick search (see ``find``) looks at frames this long: dlib upsamples anything under 800 px, which would
# cost more than it saves.
QUICK_SIDE = 800
# Where dlib's HOG box sits around its 68 landmarks (see ``tracking.Found.anchor``), for faces whose own box
# is not known: measured on the shipped test photos.
DEFAULT_ANCHOR = (-0.02, 0.08, 0.02, 0.02)
# Video: the choice for a tracked face may take this long (once per face), and each frame's colour look keeps
# this share of the previous one (at 30 fps, about a third of a second to follow a change of light).
VIDEO_CHOICE_BUDGET_S = 0.3
LOOK_KEEP = 0.8
LOOK_EVERY = 3
# The face warp's lookup is computed every 4th pixel on video frames (every 2nd on stills).
VIDEO_MAP_STEP = 4


@dataclass
class TrackPlan:
    """How one tracked face of a video is swapped: the reference and settings chosen for it, and the colour
    look of its last frame (averaged into the next)."""

    source: PreparedSource
    settings: SwapSettings
    choice: FaceChoice
    look: FaceLook | None = None
    frames: int = 0


class LandmarkSwapEngine(FaceSwapEngine[PreparedSource]):
    """Landmark-based face swap over a loaded dlib face analyzer (borrowed from the worker's cache)."""

    name = NAME
    can_follow = True

    def __init__(self, analyzer: DlibFaceAnalyzer, *, settings: SwapSettings | None = None) -> None:
        self._analyzer: DlibFaceAnalyzer | None = analyzer
        self.settings = settings or SwapSettings()

    @property
    def analyzer(self) -> DlibFaceAnalyzer:
        if self._analyzer is None:
            raise RuntimeError("engine was unloaded")
        return self._analyzer

    def prepare(self, source: SourceFace) -> PreparedSource:
        """The source photo with its 68 landmarks, pose and expression."""
        points = np.asarray(source.points, dtype=np.float64)
        if points.shape != (68, 2):
            raise ValueError(f"source.points must be the 68-point landmark layout, got shape {points.shape}")
        return PreparedSource(image=np.ascontiguousarray(source.image), points=points, label=source.label)

    def find(self, frame: np.ndarray, times: StageTimes, *, quick: bool = False) -> list[Found]:
        """Faces by dlib's HOG detector, then their 68 landmarks (fitted at full resolution).

        ``quick``: the detector looks at a copy at most ``QUICK_SIDE`` pixels long (a 720p frame at
        about 40 % of the pixels), which finds faces from about 130 px in such a frame."""
        started = time.perf_counter()
        height, width = frame.shape[:2]
        scale = QUICK_SIDE / max(height, width) if quick else 1.0
        if scale < 1.0:
            small = cv2.resize(frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
            boxes = [((round(x0 / scale), round(y0 / scale), round(x1 / scale), round(y1 / scale)), score)
                     for (x0, y0, x1, y1), score in self.analyzer.boxes(small)]
        else:
            boxes = self.analyzer.boxes(frame)
        located = time.perf_counter()
        times.detect += located - started
        found = []
        for box, score in boxes:
            box = (max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3]))
            points = self.analyzer.landmarks_in(frame, box)
            found.append(Found(box=box, points=points, score=score, anchor=anchor_of(box, points)))
        times.landmarks += time.perf_counter() - located
        return found

    def follow(self, frame: np.ndarray, previous: Found) -> Found | None:
        """The landmarks re-fitted in a detector-like box around where the face is expected.

        Fitted up to twice: the second time in the box the first fit's landmarks give, which pulls the box
        onto the face when the prediction was off (the fitter is trained on boxes centred on the face). When
        that box is where the first one was (within ``REFIT_SHIFT`` of its size), the second fit would change
        nothing and is skipped.
        """
        if previous.anchor is None:
            return None
        points = previous.points
        box: tuple[int, int, int, int] | None = None
        for _ in range(FOLLOW_FITS):
            fitted_box = box_from_anchor(points, previous.anchor, frame.shape)
            if fitted_box is None:
                return None
            if box is not None and max(abs(a - b) for a, b in zip(fitted_box, box, strict=True)) \
                    <= REFIT_SHIFT * (box[2] - box[0]):
                break
            box = fitted_box
            points = self.analyzer.landmarks_in(frame, box)
        assert box is not None
        return Found(box=box, points=points, score=previous.score, anchor=previous.anchor)

    def swap_face(self, frame: np.ndarray, points: np.ndarray, prepared: PreparedSource) -> np.ndarray:
        """A copy of ``frame`` with the face at ``points`` (68 landmarks) replaced by the source's, with the
        engine's settings and no choice."""
        patch = render(frame, np.asarray(points, dtype=np.float64), prepared, self.settings)
        return np.array(frame, copy=True) if patch is None else patch.applied(frame)

    # -- choosing ------------------------------------------------------------------------------------------

    def order(self, face: Found, sources: list[PreparedSource]) -> list[int]:
        """Indices of ``sources``, best head-pose match for ``face`` first."""
        views = [ReferenceView.from_points(source.points) for source in sources]
        return [ranked.index for ranked in rank_references(views, face.points)]

    def scorer(self, face: Found, sources: list[PreparedSource], request: SwapRequest) -> choosing.Scorer:
        """The scorer a face's candidates are judged by: dlib's distance to ``request.identity`` (else to the
        first source photo's own descriptor) of the face re-read where the candidate put it."""
        identity = request.identity
        if identity is None:
            identity = self.descriptor(sources[0].image, sources[0].points)
        anchor = face.anchor or DEFAULT_ANCHOR
        analyzer = self.analyzer

        def score(view: np.ndarray, points: np.ndarray) -> float | None:
            box = box_from_anchor(points, anchor, view.shape)
            if box is None:
                return None
            fitted = analyzer.landmarks_in(view, box)
            return analyzer.distance(self.descriptor(view, fitted, box), identity)

        return score

    def descriptor(self, image: np.ndarray, points: np.ndarray,
                   box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """dlib's identity descriptor of the face with these 68 landmarks (no detection needed)."""
        import dlib

        pts = np.round(np.asarray(points, dtype=np.float64)).astype(int)
        if box is None:
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            box = (int(x0), int(y0), int(x1), int(y1))
        shape = dlib.full_object_detection(dlib.rectangle(*box), [dlib.point(int(x), int(y)) for x, y in pts])
        detection = Detection(box=box, landmarks=np.asarray(points, dtype=np.float64),
                              five=five_from_68(np.asarray(points, dtype=np.float64)), score=1.0, handle=shape)
        return self.analyzer.embed(np.ascontiguousarray(image), detection)

    def _choose(self, frame: np.ndarray, face: Found, sources: list[PreparedSource], request: SwapRequest,
                count: int, budget_s: float) -> choosing.Choice | None:
        order = choosing.candidates(self.order(face, sources), count, first=self.settings)
        scorer = self.scorer(face, sources, request) if len(order) > 1 else None
        return choosing.choose(frame, face.points, sources, order, scorer, budget_s=budget_s)

    def _describe(self, chosen: choosing.Choice, sources: list[PreparedSource]) -> FaceChoice:
        return FaceChoice(reference=sources[chosen.candidate.source].label,
                          settings=chosen.candidate.settings.as_dict(), distance=chosen.distance,
                          tried=chosen.tried)

    def swap_photo_face(self, frame: np.ndarray, face: Found, sources: list[PreparedSource], request: SwapRequest,
                        times: StageTimes) -> tuple[np.ndarray, FaceChoice]:
        """``frame`` with ``face`` swapped by the best candidate (see ``choice``), and how."""
        started = time.perf_counter()
        chosen = self._choose(frame, face, sources, request, request.candidates, request.choice_budget_s)
        times.choose += time.perf_counter() - started
        if chosen is None:
            return frame, FaceChoice(reference=sources[0].label, tried=0)
        started = time.perf_counter()
        out = chosen.patch.applied(frame)
        times.swap += time.perf_counter() - started
        return out, self._describe(chosen, sources)

    def plan_track(self, frame: np.ndarray, face: Found, sources: list[PreparedSource],
                   request: SwapRequest) -> TrackPlan:
        """The reference and settings for a tracked face, chosen on the frame where it first needs swapping."""
        chosen = self._choose(frame, face, sources, request, request.candidates,
                              min(request.choice_budget_s, VIDEO_CHOICE_BUDGET_S))
        if chosen is None:
            source = sources[self.order(face, sources)[0]]
            return TrackPlan(source=source, settings=self.settings, choice=FaceChoice(reference=source.label, tried=0))
        return TrackPlan(source=sources[chosen.candidate.source], settings=chosen.candidate.settings,
                         choice=self._describe(chosen, sources), look=chosen.patch.look)

    def swap_tracked(self, frame: np.ndarray, points: np.ndarray, plan: TrackPlan) -> np.ndarray:
        """``frame`` (changed in place) with the tracked face swapped as planned, colours averaged over time."""
        # Light changes slowly next to faces: measuring it every LOOK_EVERY-th frame (averaged over time
        # anyway) saves a third of the work per frame.
        measure = plan.look is None or plan.frames % LOOK_EVERY == 0
        plan.frames += 1
        patch = render(frame, np.asarray(points, dtype=np.float64), plan.source, plan.settings, previous=plan.look,
                       keep=LOOK_KEEP, measure=measure, map_step=VIDEO_MAP_STEP)
        if patch is None:
            return frame
        plan.look = patch.look
        return patch.applied(frame, copy=False)

    def describe_plan(self, plan: TrackPlan, request: SwapRequest) -> FaceChoice:
        """How the tracked face was swapped."""
        return plan.choice

    def unload(self) -> None:
        """Drop the reference to the analyzer (the worker's cache owns and frees it)."""
        self._analyzer = None

    def memory_bytes(self) -> int:
        """Nothing of its own: the analyzer it borrows is counted under its own cache key."""
        return 0
