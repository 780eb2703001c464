"""What every face-swap engine takes and returns, and the argument checks they share.

A request carries the source face (the persona's best reference photo, with its landmarks or identity
embedding), optionally more reference photos to choose from by pose, and the target: an RGB array for a
photo, a file path for a video. Checks raise ``ValueError`` naming the argument at fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from inference.media import MarkFactory, VideoInfo

# Which faces of the target get the persona's face. "largest": the main subject only (the biggest face in a
# photo; in a video the face that is biggest when it first matters, kept until another is clearly bigger),
# so bystanders and people in the background keep their own faces. "all": every face found.
FACE_POLICIES = ("largest", "all")
MIN_FACE_PX = 40  # smaller faces are left alone: their landmarks are guesses and a swap there shows nothing


@dataclass(frozen=True)
class SourceFace:
    """The face to put in: an upright RGB photo, its landmarks (68 or 5 points) and, for models that take
    one, the identity embedding (an L2-normalised ArcFace vector)."""

    image: np.ndarray
    points: np.ndarray
    embedding: np.ndarray | None = None
    label: str = ""


@dataclass(frozen=True)
class SwapRequest:
    """One photo or video to put ``source``'s face into.

    ``alternatives``: more photos of the same persona; an engine that matches poses swaps each face with the
    photo (``source`` included) whose head pose best matches it. ``identity``: the persona's identity in the
    engine's own face space (the landmark engine: dlib's 128-d vector), what candidates are scored against
    (None: the source photo's own); ``candidates``: how many ways to swap each face an engine that chooses
    may try (1: no choice); ``choice_budget_s``: the most seconds it may spend on that per face (the first
    candidate is always made).

    ``target`` is an (H, W, 3) uint8 RGB array (a photo) or the path of a video file; a video's result is
    written to ``output`` (an .mp4 that appears only once complete). Videos longer than ``max_seconds`` are
    refused, and frames are scaled so their longer side is at most ``max_side``. ``detect_every``: a video
    runs the face detector on every n-th frame and follows faces in between; ``smoothing`` steadies landmark
    positions over time. ``info``: the target video's probe, where the caller already has it.
    """

    source: SourceFace
    target: np.ndarray | Path
    alternatives: tuple[SourceFace, ...] = ()
    identity: np.ndarray | None = None
    candidates: int = 5
    choice_budget_s: float = 0.8
    output: Path | None = None
    faces: str = "largest"
    max_seconds: float = 30.0
    max_side: int = 1080
    detect_every: int = 5
    smoothing: bool = True
    info: VideoInfo | None = None
    mark: MarkFactory | None = None  # a video's frames: applied as each is encoded (the provenance watermark)

    @property
    def sources(self) -> tuple[SourceFace, ...]:
        """``source`` then the ``alternatives``."""
        return (self.source, *self.alternatives)


@dataclass(frozen=True)
class FaceChoice:
    """How one face (a photo's face, or a video's tracked face) was swapped.

    ``reference``: the label of the persona photo used; ``settings``: the engine's settings for it;
    ``distance``: its distance to the persona as the engine scored it while choosing (None: not scored);
    ``tried``: candidates made.
    """

    reference: str
    settings: dict[str, float] = field(default_factory=dict)
    distance: float | None = None
    tried: int = 1

    def as_dict(self) -> dict[str, object]:
        """JSON-ready values for asset meta."""
        return {"reference": self.reference, "settings": dict(self.settings),
                "distance": None if self.distance is None else round(self.distance, 4), "tried": self.tried}


@dataclass
class StageTimes:
    """Seconds spent per stage (what the benchmark reports)."""

    decode: float = 0.0
    detect: float = 0.0
    landmarks: float = 0.0
    choose: float = 0.0
    swap: float = 0.0
    encode: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Rounded values for logs and asset meta."""
        return {name: round(value, 3) for name, value in self.__dict__.items()}


@dataclass
class SwapResult:
    """A finished swap.

    Photos: ``image`` is the result. Videos: ``path`` is the MP4 (original audio kept), ``frames`` and ``fps``
    describe it. ``faces_swapped`` counts faces in a photo, and distinct faces (tracks) in a video; 0 means no
    face was found and the output is not worth keeping. ``samples`` are a few swapped frames a likeness check
    looks at. ``choices``: how each face (track) was swapped, the main subject first.
    """

    kind: Literal["image", "video"]
    engine: str
    width: int
    height: int
    faces_swapped: int
    image: np.ndarray | None = None
    path: Path | None = None
    frames: int = 0
    fps: float = 0.0
    has_audio: bool = False
    frames_with_faces: int = 0
    samples: list[np.ndarray] = field(default_factory=list)
    times: StageTimes = field(default_factory=StageTimes)
    choices: list[FaceChoice] = field(default_factory=list)

    @property
    def reference(self) -> str | None:
        """The persona photo used for the main face (None when no face was swapped)."""
        return self.choices[0].reference if self.choices else None

    @property
    def duration_s(self) -> float:
        """Playing time of a video result (0 for a photo)."""
        return self.frames / self.fps if self.fps else 0.0


def check_faces(policy: str) -> str:
    """``policy`` when it is one of ``FACE_POLICIES``; ``ValueError`` naming ``faces`` otherwise."""
    if policy not in FACE_POLICIES:
        raise ValueError(f"faces must be one of {', '.join(FACE_POLICIES)}, got {policy!r}")
    return policy


def check_request(request: SwapRequest) -> None:
    """The checks every engine runs first; ``ValueError`` names the argument at fault."""
    for index, source in enumerate(request.sources):
        name = "source" if index == 0 else f"alternatives[{index - 1}]"
        if not isinstance(source.image, np.ndarray) or source.image.ndim != 3 or source.image.shape[2] != 3:
            raise ValueError(f"{name}.image must be an HxWx3 RGB array")
        if np.asarray(source.points).ndim != 2 or np.asarray(source.points).shape[1] != 2:
            raise ValueError(f"{name}.points must be (N, 2) landmarks, got shape {np.asarray(source.points).shape}")
    if isinstance(request.candidates, bool) or not isinstance(request.candidates, int) or request.candidates < 1:
        raise ValueError(f"candidates must be a whole number of at least 1, got {request.candidates!r}")
    if not (isinstance(request.choice_budget_s, int | float) and math.isfinite(request.choice_budget_s)
            and request.choice_budget_s >= 0):
        raise ValueError(f"choice_budget_s must be a number of seconds, 0 or more, got {request.choice_budget_s!r}")
    check_faces(request.faces)
    if isinstance(request.target, np.ndarray):
        image = request.target
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"target must be HxWx3 uint8 RGB, got shape {image.shape} dtype {image.dtype}")
        if min(image.shape[:2]) < 16:
            raise ValueError(f"target is too small to hold a face: {image.shape[1]}x{image.shape[0]}")
        return
    if not isinstance(request.target, Path) or not request.target.is_file():
        raise ValueError(f"target must be an RGB array or an existing video file, got {request.target!r}")
    if request.output is None:
        raise ValueError("output is missing: a video swap needs a path to write the clip to")
    if not (isinstance(request.max_seconds, int | float) and math.isfinite(request.max_seconds)
            and request.max_seconds > 0):
        raise ValueError(f"max_seconds must be a positive number, got {request.max_seconds!r}")
    if isinstance(request.max_side, bool) or not isinstance(request.max_side, int) or request.max_side < 64:
        raise ValueError(f"max_side must be a whole number of at least 64 pixels, got {request.max_side!r}")
    if isinstance(request.detect_every, bool) or not isinstance(request.detect_every, int) \
            or not 1 <= request.detect_every <= 120:
        raise ValueError(f"detect_every must be a whole number of frames from 1 to 120, got {request.detect_every!r}")
