"""What every video engine takes and returns, and the argument checks they share.

Checks raise ``ValueError`` naming the chat option at fault (``--seconds``, ``--motion``), so the worker can
hand the message to the user as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.limits import ANIMATE_SECONDS, MOTIONS
from inference.media import MarkFactory

# The chat grammar owns the names. "ai" is image-to-video through a model; every other motion is a camera
# move made from the still itself (no model).
AI = "ai"
PRESETS = tuple(motion for motion in MOTIONS if motion != AI)
MIN_SECONDS, MAX_SECONDS = ANIMATE_SECONDS


def check_seconds(seconds: float) -> float:
    """``seconds`` as a float when it is a clip length we make; ``ValueError`` naming ``--seconds`` otherwise."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        raise ValueError(f"--seconds must be a number between {MIN_SECONDS:g} and {MAX_SECONDS:g}, got {seconds!r}")
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(f"--seconds must be between {MIN_SECONDS:g} and {MAX_SECONDS:g}, got {seconds:g}")
    return float(seconds)


def check_motion(motion: str, allowed: tuple[str, ...] = MOTIONS) -> str:
    """``motion`` when it is one of ``allowed``; ``ValueError`` naming ``--motion`` otherwise."""
    if not isinstance(motion, str) or motion not in allowed:
        raise ValueError(f"--motion must be one of {', '.join(allowed)}, got {motion!r}")
    return motion


def check_fps(fps: int) -> int:
    """``fps`` when it is a frame rate players handle well (1-60)."""
    if isinstance(fps, bool) or not isinstance(fps, int) or not 1 <= fps <= 60:
        raise ValueError(f"fps must be a whole number between 1 and 60, got {fps!r}")
    return fps


@dataclass(frozen=True)
class VideoRequest:
    """One clip to make from a still image.

    ``image`` is the upright RGB source. The MP4 is written to ``output`` and appears there only once it is
    complete. The prompt, negative prompt, seed, steps and guidance matter to AI motion only.
    """

    image: Image.Image
    output: Path
    motion: str
    seconds: float
    fps: int = 24
    max_side: int = 1024
    prompt: str = ""
    negative: str = ""
    seed: int = 0
    steps: int | None = None  # None: the model's default
    guidance: float | None = None  # None: the model's default
    mark: MarkFactory | None = None  # applied to each frame as it is encoded (the provenance watermark)


@dataclass(frozen=True)
class VideoResult:
    """A finished clip and how it was made."""

    path: Path
    width: int
    height: int
    fps: int
    frames: int
    motion: str
    engine: str
    last_frame: np.ndarray  # (height, width, 3) uint8 RGB: what a likeness check looks at
    render_s: float  # making the frames (denoising and decoding, or warping the still)
    encode_s: float  # waiting on the encoder after the frames were made
    model: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None

    @property
    def duration_s(self) -> float:
        """Playing time of the clip."""
        return self.frames / self.fps
