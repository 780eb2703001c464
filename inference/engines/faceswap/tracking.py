"""Faces through a video: detect now and then, follow in between, and hold the landmarks steady.

Detection (dlib's HOG, SCRFD) is the expensive step, so it runs on every n-th frame; in between each face's
landmarks are re-fitted in a box placed where the face just was, which costs a few milliseconds. Faces are
matched to the tracks they continue by box overlap; a track that a detection frame no longer finds ends.

Landmark fitters jitter by a pixel or two from frame to frame even on a still face, and a face swapped onto
jittering landmarks shimmers. Each track's landmarks go through a one-euro filter (Casiez et al., 2012): a
low-pass filter whose cutoff rises with speed, so a still face is held steady while a moving one is followed
without lag. Speeds are measured in face sizes per second, so the same settings suit any resolution.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from inference.engines.faceswap.contract import MIN_FACE_PX, StageTimes

# One-euro settings: cutoff (Hz) for a still face, how fast it rises with speed (per face size per second),
# and the cutoff of the speed estimate itself.
MIN_CUTOFF = 1.0
BETA = 5.0
SPEED_CUTOFF = 1.0
MATCH_IOU = 0.3  # a detection continues a track when their boxes overlap at least this much
# With the "largest" policy the subject changes only when another face is clearly bigger, so two faces of
# about the same size do not take turns from one detection to the next.
SWITCH_RATIO = 1.3
FULL_SEARCH_EVERY = 6  # detections: with detection every 5th frame, a full search every 30 frames


@dataclass(frozen=True)
class Found:
    """One face in one frame: its box (x0, y0, x1, y1), landmarks and detector score.

    ``anchor`` places the detector's box relative to the landmarks' bounding box (left, top, right, bottom
    offsets as fractions of its width and height), so a follower can put a detector-like box around the
    landmarks of the previous frame.
    """

    box: tuple[int, int, int, int]
    points: np.ndarray
    score: float = 1.0
    anchor: tuple[float, float, float, float] | None = None

    @property
    def area(self) -> float:
        """Area of the face's box (what "largest" compares)."""
        x0, y0, x1, y1 = self.box
        return float(max(0, x1 - x0) * max(0, y1 - y0))

    @property
    def size(self) -> float:
        """Larger side of the face's box, in pixels."""
        x0, y0, x1, y1 = self.box
        return float(max(x1 - x0, y1 - y0, 1))


class FaceFinder(Protocol):
    """What an engine offers the tracker: finding faces, and following one found before where it can.

    An engine that cannot follow (``can_follow`` false) has the detector run on every frame.
    """

    can_follow: bool

    def find(self, frame: np.ndarray, times: StageTimes, *, quick: bool = False) -> list[Found]:
        """Every face in the frame with its landmarks; adds detection and landmark time to ``times``.
        ``quick``: a routine check that may skip small faces."""

    def follow(self, frame: np.ndarray, previous: Found) -> Found | None:
        """The face ``previous`` (where it is expected in this frame) re-fitted, or None when it has left."""


def anchor_of(box: tuple[int, int, int, int], points: np.ndarray) -> tuple[float, float, float, float]:
    """Where ``box`` sits relative to the bounding box of ``points`` (see ``Found.anchor``)."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    width, height = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    return ((box[0] - x0) / width, (box[1] - y0) / height, (box[2] - x1) / width, (box[3] - y1) / height)


def box_from_anchor(points: np.ndarray, anchor: tuple[float, float, float, float],
                    shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """A detector-like box around ``points`` placed by ``anchor``, clipped to the frame; None when the face
    has left the frame."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    width, height = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    left, top = x0 + anchor[0] * width, y0 + anchor[1] * height
    right, bottom = x1 + anchor[2] * width, y1 + anchor[3] * height
    frame_h, frame_w = shape[:2]
    box = (max(0, round(left)), max(0, round(top)), min(frame_w, round(right)), min(frame_h, round(bottom)))
    # Mostly outside the frame: the landmarks would be fitted to the frame's edge.
    if (box[2] - box[0]) < 0.5 * (right - left) or (box[3] - box[1]) < 0.5 * (bottom - top):
        return None
    return box


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two boxes."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """A one-euro filter over a whole landmark set: one cutoff for all points, from the face's speed.

    Filtering every point with the same cutoff moves the face as one piece; per-point cutoffs would let a
    fast-moving chin lag a slow-moving nose and bend the face.
    """

    def __init__(self, *, min_cutoff: float = MIN_CUTOFF, beta: float = BETA,
                 speed_cutoff: float = SPEED_CUTOFF) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.speed_cutoff = speed_cutoff
        self._value: np.ndarray | None = None
        self._speed = 0.0
        self._time = 0.0

    def __call__(self, points: np.ndarray, t: float, scale: float) -> np.ndarray:
        """The filtered ``points`` at time ``t`` seconds; ``scale`` (the face's size) normalises speed."""
        points = np.asarray(points, dtype=np.float64)
        if self._value is None or t <= self._time:
            self._value, self._time, self._speed = points.copy(), t, 0.0
            return points.copy()
        dt = t - self._time
        velocity = (points - self._value) / dt
        speed = float(np.linalg.norm(velocity, axis=1).mean()) / max(scale, 1.0)
        a_speed = _alpha(self.speed_cutoff, dt)
        self._speed = a_speed * speed + (1 - a_speed) * self._speed
        a = _alpha(self.min_cutoff + self.beta * self._speed, dt)
        self._value = a * points + (1 - a) * self._value
        self._time = t
        return self._value.copy()


@dataclass
class Track:
    """One face followed through the video."""

    id: int
    found: Found
    points: np.ndarray  # smoothed landmarks: what the swap uses
    smoother: OneEuroFilter | None
    seen: int = 1  # frames it has been in
    previous: np.ndarray | None = None  # the raw landmarks one frame earlier

    def update(self, found: Found, t: float) -> None:
        """Take this frame's landmarks, smoothed when the track smooths."""
        self.previous = self.found.points
        self.found = found
        self.points = found.points.copy() if self.smoother is None else self.smoother(found.points, t, found.size)
        self.seen += 1

    def predicted(self) -> Found:
        """Where the face should be in the next frame if it keeps moving as it did (constant velocity)."""
        if self.previous is None or self.previous.shape != self.found.points.shape:
            return self.found
        return replace(self.found, points=2 * self.found.points - self.previous)


@dataclass
class FaceTracker:
    """Follows the faces of a video frame by frame; ``step`` gives the landmarks to swap in each frame."""

    finder: FaceFinder
    fps: float
    detect_every: int = 5
    smoothing: bool = True
    policy: str = "largest"
    times: StageTimes = field(default_factory=StageTimes)
    tracks: list[Track] = field(default_factory=list)
    track_count: int = 0  # distinct faces seen
    subject: int | None = None  # the track swapped under the "largest" policy
    swapped: set[int] = field(default_factory=set)  # tracks whose face was handed out for swapping
    detections: int = 0

    def step(self, frame: np.ndarray, index: int) -> list[np.ndarray]:
        """The landmarks of the faces to swap in frame ``index`` (largest first)."""
        return [track.points for track in self.step_tracks(frame, index)]

    def step_tracks(self, frame: np.ndarray, index: int) -> list[Track]:
        """The tracks whose faces to swap in frame ``index`` (largest first); ``Track.points`` are smoothed."""
        t = index / self.fps
        if not self.tracks or index % self.detect_every == 0 or not self.finder.can_follow:
            self._detect(frame, t)
        else:
            self._follow(frame, t)
        chosen = sorted(self._chosen(), key=lambda track: track.found.area, reverse=True)
        self.swapped.update(track.id for track in chosen)
        return chosen

    def _new_track(self, found: Found, t: float) -> Track:
        self.track_count += 1
        smoother = OneEuroFilter() if self.smoothing else None
        points = found.points.copy() if smoother is None else smoother(found.points, t, found.size)
        return Track(id=self.track_count, found=found, points=points, smoother=smoother)

    def _detect(self, frame: np.ndarray, t: float) -> None:
        # Every FULL_SEARCH_EVERY-th detection (and the first) searches at full resolution; those between are
        # quick checks, there to catch drift and faces that arrive large.
        quick = self.detections % FULL_SEARCH_EVERY != 0
        self.detections += 1
        found = [f for f in self.finder.find(frame, self.times, quick=quick) if f.size >= MIN_FACE_PX]
        pairs = sorted(((iou(track.found.box, face.box), ti, fi) for ti, track in enumerate(self.tracks)
                        for fi, face in enumerate(found)), reverse=True)
        matched_tracks: set[int] = set()
        matched_faces: set[int] = set()
        kept: list[Track] = []
        for overlap, ti, fi in pairs:
            if overlap < MATCH_IOU or ti in matched_tracks or fi in matched_faces:
                continue
            matched_tracks.add(ti)
            matched_faces.add(fi)
            self.tracks[ti].update(found[fi], t)
            kept.append(self.tracks[ti])
        # Tracks that this detection did not find have left the picture (or turned away).
        kept += [self._new_track(face, t) for fi, face in enumerate(found) if fi not in matched_faces]
        self.tracks = kept
        self._choose_subject()

    def _follow(self, frame: np.ndarray, t: float) -> None:
        started = time.perf_counter()
        alive: list[Track] = []
        for track in self.tracks:
            found = self.finder.follow(frame, track.predicted())
            if found is not None and found.size >= MIN_FACE_PX:
                track.update(found, t)
                alive.append(track)
        self.tracks = alive
        self.times.landmarks += time.perf_counter() - started
        if self.subject is not None and all(track.id != self.subject for track in self.tracks):
            self._choose_subject()

    def _choose_subject(self) -> None:
        if not self.tracks:
            self.subject = None
            return
        largest = max(self.tracks, key=lambda track: track.found.area)
        current = next((track for track in self.tracks if track.id == self.subject), None)
        if current is None or largest.found.area > SWITCH_RATIO * current.found.area:
            self.subject = largest.id

    def _chosen(self) -> list[Track]:
        if self.policy == "all":
            return list(self.tracks)
        return [track for track in self.tracks if track.id == self.subject]
