"""Camera-motion presets: a still turned into a clip by moving a virtual camera over it (no model, any CPU).

Each frame is a window onto the source: ``zoom`` (the window is 1/zoom of the source's width and height) and
a centre. The window always lies inside the source, so no frame ever shows a border; pans and tilts therefore
run slightly zoomed in, leaving room to travel. Directions are the camera's: ``pan-left`` turns the camera to
the left, so the picture's content slides right across the frame; ``tilt-up`` looks up, so content slides
down.

Motion is eased in and out (a cosine ramp: the camera starts and stops at rest) and zoom changes at a
constant rate on a log scale, which is how a steady zoom looks to the eye. Every frame is resampled from the
source with an affine warp at sub-pixel positions (bicubic), never a rounded crop, so slow moves do not jitter.
Frames are made one at a time and streamed to the encoder, so memory stays flat for long clips.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from inference.engines.base import Progress, no_progress
from inference.engines.video.contract import (
    PRESETS,
    VideoRequest,
    VideoResult,
    check_fps,
    check_motion,
    check_seconds,
)
from inference.media import VideoWriter, even

ZOOM_END = 1.2  # zoom-in ends (zoom-out starts) this close: a 1.2x push reads clearly without losing context
PAN_ZOOM = 1.16  # pans and tilts are framed this close, leaving room to travel without showing an edge
PAN_TRAVEL = 0.12  # of the frame's width (pans) or height (tilts) crossed over the clip
ORBIT_ZOOM = (1.12, 1.16)  # orbit breathes between these
ORBIT_RADIUS = (0.035, 0.022)  # the orbit's ellipse, as fractions of the source's width and height
PROGRESS_EVERY = 0.05  # report progress every 5% of frames


@dataclass(frozen=True)
class Camera:
    """One frame's view: ``zoom`` >= 1 and the window's centre as fractions of the source's width and height."""

    zoom: float
    x: float = 0.5
    y: float = 0.5


def ease_in_out(t: float) -> float:
    """0 → 1 with zero speed at both ends (a half cosine): no jolt when the clip starts or stops moving."""
    t = min(max(t, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * t)


def _zoom_between(start: float, end: float, e: float) -> float:
    # Geometric interpolation: each frame scales by the same factor, which the eye sees as an even zoom.
    return start * (end / start) ** e


def camera_at(motion: str, t: float) -> Camera:
    """Where the camera is at time ``t`` in [0, 1] of a ``motion`` preset."""
    e = ease_in_out(t)
    half = PAN_TRAVEL / PAN_ZOOM / 2  # half the travel, as a fraction of the source
    if motion == "zoom-in":
        return Camera(_zoom_between(1.0, ZOOM_END, e))
    if motion == "zoom-out":
        return Camera(_zoom_between(ZOOM_END, 1.0, e))
    if motion == "pan-left":
        return Camera(PAN_ZOOM, x=0.5 + half - 2 * half * e)
    if motion == "pan-right":
        return Camera(PAN_ZOOM, x=0.5 - half + 2 * half * e)
    if motion == "tilt-up":
        return Camera(PAN_ZOOM, y=0.5 + half - 2 * half * e)
    if motion == "tilt-down":
        return Camera(PAN_ZOOM, y=0.5 - half + 2 * half * e)
    if motion == "orbit":
        # One loop of an ellipse with a slight push in and back out: first and last frames match, so the clip
        # also loops cleanly on platforms that replay it.
        angle = 2 * math.pi * e
        low, high = ORBIT_ZOOM
        zoom = low + (high - low) * (1 - math.cos(angle)) / 2
        return Camera(zoom, x=0.5 + ORBIT_RADIUS[0] * math.sin(angle), y=0.5 - ORBIT_RADIUS[1] * math.cos(angle))
    raise ValueError(f"--motion must be one of {', '.join(PRESETS)}, got {motion!r}")


def max_zoom(motion: str) -> float:
    """The closest the camera gets during ``motion`` (how much source detail the frames need)."""
    return max(camera_at(motion, i / 32).zoom for i in range(33))


def output_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The clip's (width, height): the source's aspect ratio, longest side at most ``max_side`` and never
    above the source's own (upscaling adds no detail), both even (the encoder needs that)."""
    if width < 2 or height < 2:
        raise ValueError(f"image is too small to animate ({width}x{height})")
    if max_side < 2:
        raise ValueError(f"max_side must be at least 2, got {max_side}")
    scale = min(max_side, max(width, height)) / max(width, height)
    return even(round(width * scale)), even(round(height * scale))


def frame_count(seconds: float, fps: int) -> int:
    """Frames in a clip of ``seconds`` at ``fps``."""
    return max(2, round(seconds * fps))


def _working_image(image: Image.Image, size: tuple[int, int], zoom: float) -> np.ndarray:
    """The source as an RGB array, reduced to the detail the closest frame needs (never enlarged).

    Reducing once with area averaging keeps fine texture from aliasing; the per-frame warp then scales by at
    most ``zoom`` either way, where a bicubic kernel is sharp and clean.
    """
    source = np.asarray(image.convert("RGB"))
    height, width = source.shape[:2]
    scale = min(1.0, max(size) * zoom / max(width, height))
    if scale >= 1.0:
        return np.ascontiguousarray(source)
    target = (max(2, round(width * scale)), max(2, round(height * scale)))
    return cv2.resize(source, target, interpolation=cv2.INTER_AREA)


def _warp(source: np.ndarray, camera: Camera, size: tuple[int, int]) -> np.ndarray:
    """The frame ``camera`` sees, resampled from ``source`` at sub-pixel precision."""
    src_h, src_w = source.shape[:2]
    out_w, out_h = size
    view_w, view_h = src_w / camera.zoom, src_h / camera.zoom
    # Clamp the window inside the source: rounding must never let a frame sample past an edge.
    left = min(max(camera.x * src_w - view_w / 2, 0.0), src_w - view_w)
    top = min(max(camera.y * src_h - view_h / 2, 0.0), src_h - view_h)
    sx, sy = view_w / out_w, view_h / out_h
    # Output pixel centre (i + 0.5) maps to source position left + (i + 0.5) * sx; OpenCV indexes pixel
    # centres at integers, hence the half-pixel terms.
    matrix = np.array([[sx, 0.0, left + 0.5 * sx - 0.5], [0.0, sy, top + 0.5 * sy - 0.5]])
    # Bicubic taps one pixel beyond a sample at the very edge; mirroring fills those taps with picture,
    # never black.
    return cv2.warpAffine(source, matrix, size, flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT_101)


def render_frames(image: Image.Image, motion: str, size: tuple[int, int], frames: int) -> Iterator[np.ndarray]:
    """The ``frames`` frames of ``motion`` over ``image`` at ``size``, one (height, width, 3) uint8 array each."""
    check_motion(motion, PRESETS)
    if frames < 2:
        raise ValueError(f"a clip needs at least 2 frames, got {frames}")
    source = _working_image(image, size, max_zoom(motion))
    # Checked above, before the first frame is asked for; frames are then made one at a time.
    return (_warp(source, camera_at(motion, index / (frames - 1)), size) for index in range(frames))


class MotionEngine:
    """Camera-motion presets: holds nothing, so it is cheap to make and never needs unloading."""

    name = "motion"

    def check_inputs(self, request: VideoRequest) -> None:
        """Raise ``ValueError`` naming ``--motion`` or ``--seconds`` when the request cannot be made."""
        check_motion(request.motion, PRESETS)
        check_seconds(request.seconds)
        check_fps(request.fps)
        output_size(request.image.width, request.image.height, request.max_side)

    def run(self, request: VideoRequest, progress: Progress = no_progress) -> VideoResult:
        """Render and encode the clip; ``progress`` hears every ~5% of frames (and may cancel the job).

        A cancel or error removes the partial file: the output appears only when complete.
        """
        self.check_inputs(request)
        size = output_size(request.image.width, request.image.height, request.max_side)
        total = frame_count(request.seconds, request.fps)
        every = max(1, round(total * PROGRESS_EVERY))
        render_s = encode_s = 0.0
        last: np.ndarray | None = None
        progress(0.0, "animating")
        with VideoWriter(request.output, size=size, fps=request.fps, mark=request.mark) as writer:
            started = time.perf_counter()
            for index, frame in enumerate(render_frames(request.image, request.motion, size, total)):
                made = time.perf_counter()
                render_s += made - started
                writer.write(frame)
                started = time.perf_counter()
                encode_s += started - made
                last = frame
                done = index + 1
                if done % every == 0 or done == total:
                    progress(done / total, f"frame {done}/{total}")
                    started = time.perf_counter()
            closing = time.perf_counter()
        encode_s += time.perf_counter() - closing
        assert last is not None
        return VideoResult(path=request.output, width=size[0], height=size[1], fps=request.fps, frames=total,
                           motion=request.motion, engine=self.name, last_frame=last, render_s=render_s,
                           encode_s=encode_s)

    def memory_bytes(self) -> int:
        """Nothing is held between jobs."""
        return 0

    def unload(self) -> None:
        """Nothing to release."""
