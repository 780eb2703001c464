"""The part every face-swap engine shares: the engine contract, photos, and handing videos to the frame loop.

An engine supplies ``prepare`` (each source photo made ready once per job), ``find``/``follow`` (faces and
their landmarks in a frame, see ``tracking.FaceFinder``) and ``swap_face`` (one face replaced in one frame).
Engines that choose how to swap each face (which reference, which settings) override ``swap_photo_face``
(a still: may try candidates) and ``plan_track``/``swap_tracked`` (a video: the choice made once per tracked
face, then applied frame after frame). Which faces get swapped, progress, timing and video handling are the
same for all of them.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

import numpy as np

from inference.engines.base import Progress, no_progress
from inference.engines.faceswap.contract import (
    MIN_FACE_PX,
    FaceChoice,
    SourceFace,
    StageTimes,
    SwapRequest,
    SwapResult,
    check_request,
)
from inference.engines.faceswap.tracking import Found

P = TypeVar("P")


class FaceSwapEngine(ABC, Generic[P]):
    """A loaded face-swap engine; ``run`` swaps a photo or a video (see ``SwapRequest``)."""

    name: str
    can_follow: bool = False

    def check_inputs(self, request: SwapRequest) -> None:
        """Raise ``ValueError`` naming the argument at fault."""
        check_request(request)
        for source in request.sources:
            self.prepare(source)

    def run(self, request: SwapRequest, progress: Progress = no_progress) -> SwapResult:
        """Put ``request.source``'s face into the photo or video; ``progress`` may cancel the job."""
        check_request(request)
        sources = [self.prepare(source) for source in request.sources]
        if isinstance(request.target, np.ndarray):
            return self._photo(request.target, sources, request, progress)
        from inference.engines.faceswap.video import swap_video

        return swap_video(self, sources, request, progress)

    def _photo(self, image: np.ndarray, sources: list[P], request: SwapRequest, progress: Progress) -> SwapResult:
        times = StageTimes()
        progress(0.0, "finding faces")
        found = [face for face in self.find(image, times) if face.size >= MIN_FACE_PX]
        chosen = sorted(found, key=lambda face: face.area, reverse=True)
        if request.faces == "largest":
            chosen = chosen[:1]
        out = image
        choices = []
        for index, face in enumerate(chosen):
            progress((index + 1) / (len(chosen) + 1), f"swapping face {index + 1} of {len(chosen)}")
            out, choice = self.swap_photo_face(out, face, sources, request, times)
            choices.append(choice)
        progress(1.0, "swapped")
        height, width = image.shape[:2]
        return SwapResult(kind="image", engine=self.name, width=width, height=height, faces_swapped=len(chosen),
                          image=out, frames_with_faces=1 if chosen else 0, samples=[out] if chosen else [],
                          times=times, choices=choices)

    def swap_photo_face(self, frame: np.ndarray, face: Found, sources: list[P], request: SwapRequest,
                        times: StageTimes) -> tuple[np.ndarray, FaceChoice]:
        """``frame`` with ``face`` swapped, and how; by default with the first source as it is."""
        started = time.perf_counter()
        out = self.swap_face(frame, face.points, sources[0])
        times.swap += time.perf_counter() - started
        return out, FaceChoice(reference=request.source.label)

    def plan_track(self, frame: np.ndarray, face: Found, sources: list[P], request: SwapRequest) -> Any:
        """What a video's tracked face is swapped with, chosen once when it first needs swapping."""
        return sources[0]

    def swap_tracked(self, frame: np.ndarray, points: np.ndarray, plan: Any) -> np.ndarray:
        """``frame`` with a tracked face (its smoothed landmarks) swapped as ``plan`` says."""
        return self.swap_face(frame, points, plan)

    def describe_plan(self, plan: Any, request: SwapRequest) -> FaceChoice:
        """How a tracked face was swapped (for the result's ``choices``)."""
        return FaceChoice(reference=request.source.label)

    @abstractmethod
    def prepare(self, source: SourceFace) -> P:
        """The source face made ready for swapping (once per job); ``ValueError`` names what is wrong."""

    @abstractmethod
    def find(self, frame: np.ndarray, times: StageTimes, *, quick: bool = False) -> list[Found]:
        """Every face in ``frame`` with the landmarks ``swap_face`` needs; adds its time to ``times``.

        ``quick``: a video's routine check between full searches; an engine may then skip faces too small
        to matter much (a full search still finds them a moment later)."""

    def follow(self, frame: np.ndarray, previous: Found) -> Found | None:
        """``previous`` re-fitted in this frame (engines with ``can_follow``); None when it has left."""
        return None

    @abstractmethod
    def swap_face(self, frame: np.ndarray, points: np.ndarray, prepared: P) -> np.ndarray:
        """A copy of ``frame`` with the face at ``points`` replaced by the prepared source face."""

    @abstractmethod
    def unload(self) -> None:
        """Release what the engine holds."""

    @abstractmethod
    def memory_bytes(self) -> int:
        """Approximate memory the engine holds while loaded."""
