"""Face swap over a video: decode, find and follow faces, swap, encode, then put the original audio back.

Frames stream from the decoder through the swap into the encoder one at a time, so memory stays flat for
long clips; decoding and following faces run a few frames ahead on a thread of their own (``_Reader``), so
they overlap with the swap on a second core. The picture is encoded to a file of its own first and the
original audio is muxed in a second pass (an encoder fed frames while it reads the source's audio can
deadlock). The output appears only once
complete: a cancel or an error while frames are written aborts the encoder and removes its partial file.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from inference.engines.base import Progress
from inference.engines.faceswap.contract import StageTimes, SwapRequest, SwapResult
from inference.engines.faceswap.tracking import FaceTracker, Found
from inference.media import VideoInfo, VideoWriter, even, mux_audio, probe, read_frames

if TYPE_CHECKING:
    from inference.engines.faceswap.engine import FaceSwapEngine

PROGRESS_EVERY = 0.05  # report every 5% of frames
FALLBACK_FPS = 25.0  # when the container does not say
SAMPLES = (0.25, 0.5, 0.75)  # where in the clip the likeness check looks (first swapped frame from there)
READ_AHEAD = 4  # frames decoded and tracked ahead of the swap


def frame_size(info: VideoInfo, max_side: int) -> tuple[int, int]:
    """The output's (width, height): the picture as displayed, longer side at most ``max_side``, even."""
    width, height = info.display_size
    scale = min(1.0, max_side / max(width, height))
    return even(width * scale), even(height * scale)


def check_length(info: VideoInfo, max_seconds: float) -> None:
    """``ValueError`` when the clip runs longer than ``max_seconds``."""
    if info.duration_s > max_seconds + 0.05:
        raise ValueError(f"target video is {info.duration_s:.1f} s long; the limit is {max_seconds:g} s")


@dataclass(frozen=True)
class _Tracked:
    """One decoded frame and the faces to swap in it, as the reading thread hands them over."""

    index: int
    frame: np.ndarray
    faces: list[tuple[int, Found]]  # (track id, the face with its smoothed landmarks)


_DONE = object()


class _Reader:
    """Decodes frames and follows faces in them on a thread of its own, a few frames ahead of the swap.

    Finding and following faces (dlib) and swapping them (OpenCV, numpy) then use both cores; the queue
    between them is short, so memory stays flat. ``stop`` ends the thread early (a cancel, an error).
    """

    def __init__(self, frames: Iterator[np.ndarray], tracker: FaceTracker, times: StageTimes) -> None:
        self._frames = frames
        self._tracker = tracker
        self._times = times
        self._queue: queue.Queue[object] = queue.Queue(maxsize=READ_AHEAD)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faceswap-reader", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            index = 0
            while not self._stopped.is_set():
                started = time.perf_counter()
                frame = next(self._frames, None)
                self._times.decode += time.perf_counter() - started
                if frame is None:
                    break
                tracks = self._tracker.step_tracks(frame, index)
                faces = [(track.id, replace(track.found, points=track.points.copy())) for track in tracks]
                if not self._put(_Tracked(index=index, frame=frame, faces=faces)):
                    return
                index += 1
            self._put(_DONE)
        except BaseException as exc:  # handed to the swapping thread, which raises it
            self._put(exc)
        finally:
            close = getattr(self._frames, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[_Tracked]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, _Tracked)
            yield item

    def stop(self) -> None:
        """End the reading thread and wait for it."""
        self._stopped.set()
        self._thread.join()


def swap_video(engine: FaceSwapEngine[Any], sources: list[Any], request: SwapRequest,
               progress: Progress) -> SwapResult:
    """Swap the faces of ``request.target`` (a video file) into ``request.output``.

    Each tracked face is planned once, on the first frame it is swapped in (which reference, which settings:
    ``engine.plan_track``), and swapped with that plan in every later frame, so nothing changes from one
    frame to the next except what the face itself does.
    """
    assert not isinstance(request.target, np.ndarray) and request.output is not None
    source, output = request.target, request.output
    info = request.info or probe(source)
    check_length(info, request.max_seconds)
    width, height = frame_size(info, request.max_side)
    fps = info.fps if 1 <= info.fps <= 120 else FALLBACK_FPS
    expected = max(1, info.frames or round(info.duration_s * fps))
    tracker = FaceTracker(engine, fps=fps, detect_every=request.detect_every, smoothing=request.smoothing,
                          policy=request.faces)
    times = StageTimes()
    every = max(1, round(expected * PROGRESS_EVERY))
    sample_at = [max(0, int(expected * point)) for point in SAMPLES]
    samples: list[np.ndarray] = []
    with_faces = 0
    plans: dict[int, Any] = {}
    last_swapped: np.ndarray | None = None
    picture = output.with_name(f"{output.stem}.picture.mp4")
    progress(0.0, "reading the video")
    # Scaled by the decoder whenever the displayed size is not already the output size (odd sizes included).
    size = None if info.display_size == (width, height) else (width, height)
    reader = _Reader(read_frames(source, size=size), tracker, tracker.times)
    index = 0
    try:
        with VideoWriter(picture, size=(width, height), fps=fps, mark=request.mark) as writer:
            for item in reader:
                out = item.frame
                if item.faces:
                    for track_id, found in item.faces:
                        if track_id not in plans:
                            started = time.perf_counter()
                            plans[track_id] = engine.plan_track(out, found, sources, request)
                            times.choose += time.perf_counter() - started
                    started = time.perf_counter()
                    for track_id, found in item.faces:
                        out = engine.swap_tracked(out, found.points, plans[track_id])
                    times.swap += time.perf_counter() - started
                    with_faces += 1
                    last_swapped = out
                    if sample_at and item.index >= sample_at[0]:
                        samples.append(out)
                        while sample_at and item.index >= sample_at[0]:
                            sample_at.pop(0)
                started = time.perf_counter()
                writer.write(out)
                times.encode += time.perf_counter() - started
                index += 1
                if index % every == 0:
                    progress(min(index / expected, 0.99), f"frame {index}/{max(expected, index)}")
            closing = time.perf_counter()
        times.encode += time.perf_counter() - closing
    finally:
        reader.stop()
    for name in ("decode", "detect", "landmarks"):
        setattr(times, name, getattr(tracker.times, name))
    if last_swapped is not None and not samples:
        samples.append(last_swapped)  # a clip shorter than expected: its last swapped frame stands in
    started = time.perf_counter()
    try:
        if info.has_audio:
            mux_audio(picture, source, output)
        else:
            os.replace(picture, output)
    finally:
        picture.unlink(missing_ok=True)
    times.encode += time.perf_counter() - started
    progress(1.0, f"frame {index}/{index}")
    choices = [engine.describe_plan(plans[track_id], request) for track_id in sorted(plans)]
    return SwapResult(kind="video", engine=engine.name, width=width, height=height,
                      faces_swapped=len(tracker.swapped), path=output, frames=index, fps=fps,
                      has_audio=info.has_audio, frames_with_faces=with_faces, samples=samples, times=times,
                      choices=choices)
