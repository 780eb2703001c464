"""The part every face-swap engine shares: the engine contract, photos, and handing videos to the frame loop.

An engine supplies three things: ``prepare`` (the source face made ready once per job), ``find``/``follow``
(faces and their landmarks in a frame, see ``tracking.FaceFinder``) and ``swap_face`` (one face replaced in
one frame). Which faces get swapped, progress, timing and video handling are the same for all of them.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

import numpy as np

from inference.engines.base import Progress, no_progress
from inference.engines.faceswap.contract import (
    MIN_FACE_PX,
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
        self.prepare(request.source)

    def run(self, request: SwapRequest, progress: Progress = no_progress) -> SwapResult:
        """Put ``request.source``'s face into the photo or video; ``progress`` may cancel the job."""
        check_request(request)
        prepared = self.prepare(request.source)
        if isinstance(request.target, np.ndarray):
            return self._photo(request.target, prepared, request.faces, progress)
        from inference.engines.faceswap.video import swap_video

        return swap_video(self, prepared, request, progress)

    def _photo(self, image: np.ndarray, prepared: P, policy: str, progress: Progress) -> SwapResult:
        times = StageTimes()
        progress(0.0, "finding faces")
        found = [face for face in self.find(image, times) if face.size >= MIN_FACE_PX]
        chosen = sorted(found, key=lambda face: face.area, reverse=True)
        if policy == "largest":
            chosen = chosen[:1]
        out = image
        for index, face in enumerate(chosen):
            progress((index + 1) / (len(chosen) + 1), f"swapping face {index + 1} of {len(chosen)}")
            started = time.perf_counter()
            out = self.swap_face(out, face.points, prepared)
            times.swap += time.perf_counter() - started
        progress(1.0, "swapped")
        height, width = image.shape[:2]
        return SwapResult(kind="image", engine=self.name, width=width, height=height, faces_swapped=len(chosen),
                          image=out, frames_with_faces=1 if chosen else 0, samples=[out] if chosen else [],
                          times=times)

    @abstractmethod
    def prepare(self, source: SourceFace) -> P:
        """The source face made ready for swapping (once per job); ``ValueError`` names what is wrong."""

    @abstractmethod
    def find(self, frame: np.ndarray, times: StageTimes) -> list[Found]:
        """Every face in ``frame`` with the landmarks ``swap_face`` needs; adds its time to ``times``."""

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
