"""The video engine: stills animated by camera-motion presets (no model) or by image-to-video (LTX-Video)."""

from __future__ import annotations

from inference.engines.video.contract import (
    AI,
    MAX_SECONDS,
    MIN_SECONDS,
    MOTIONS,
    PRESETS,
    VideoRequest,
    VideoResult,
    check_motion,
    check_seconds,
)
from inference.engines.video.ltx import LtxVideoEngine
from inference.engines.video.motion import MotionEngine, frame_count, output_size, render_frames

__all__ = [
    "AI",
    "MAX_SECONDS",
    "MIN_SECONDS",
    "MOTIONS",
    "PRESETS",
    "LtxVideoEngine",
    "MotionEngine",
    "VideoRequest",
    "VideoResult",
    "check_motion",
    "check_seconds",
    "frame_count",
    "output_size",
    "render_frames",
]
