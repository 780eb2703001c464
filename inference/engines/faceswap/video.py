"""Face swap over a video: decode, find and follow faces, swap, encode, then put the original audio back.

Frames stream from the decoder through the swap into the encoder one at a time, so memory stays flat for
long clips. The picture is encoded to a file of its own first and the original audio is muxed in a second
pass (an encoder fed frames while it reads the source's audio can deadlock). The output appears only once
complete: a cancel or an error while frames are written aborts the encoder and removes its partial file.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from inference.engines.base import Progress
from inference.engines.faceswap.contract import SwapRequest, SwapResult
from inference.engines.faceswap.tracking import FaceTracker
from inference.media import VideoInfo, VideoWriter, even, mux_audio, probe, read_frames

if TYPE_CHECKING:
    from inference.engines.faceswap.engine import FaceSwapEngine

PROGRESS_EVERY = 0.05  # report every 5% of frames
FALLBACK_FPS = 25.0  # when the container does not say
SAMPLES = (0.25, 0.5, 0.75)  # where in the clip the likeness check looks (first swapped frame from there)


def frame_size(info: VideoInfo, max_side: int) -> tuple[int, int]:
    """The output's (width, height): the picture as displayed, longer side at most ``max_side``, even."""
    width, height = info.display_size
    scale = min(1.0, max_side / max(width, height))
    return even(width * scale), even(height * scale)


def check_length(info: VideoInfo, max_seconds: float) -> None:
    """``ValueError`` when the clip runs longer than ``max_seconds``."""
    if info.duration_s > max_seconds + 0.05:
        raise ValueError(f"target video is {info.duration_s:.1f} s long; the limit is {max_seconds:g} s")


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
    times = tracker.times
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
    frames = read_frames(source, size=size)
    index = 0
    with contextlib.closing(frames), VideoWriter(picture, size=(width, height), fps=fps) as writer:
        while True:
            started = time.perf_counter()
            frame = next(frames, None)
            times.decode += time.perf_counter() - started
            if frame is None:
                break
            tracks = tracker.step_tracks(frame, index)
            out = frame
            if tracks:
                for track in tracks:
                    if track.id not in plans:
                        started = time.perf_counter()
                        plans[track.id] = engine.plan_track(out, replace(track.found, points=track.points),
                                                            sources, request)
                        times.choose += time.perf_counter() - started
                started = time.perf_counter()
                for track in tracks:
                    out = engine.swap_tracked(out, track.points, plans[track.id])
                times.swap += time.perf_counter() - started
                with_faces += 1
                last_swapped = out
                if sample_at and index >= sample_at[0]:
                    samples.append(out)
                    while sample_at and index >= sample_at[0]:
                        sample_at.pop(0)
            started = time.perf_counter()
            writer.write(out)
            times.encode += time.perf_counter() - started
            index += 1
            if index % every == 0:
                progress(min(index / expected, 0.99), f"frame {index}/{max(expected, index)}")
        closing = time.perf_counter()
    times.encode += time.perf_counter() - closing
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
