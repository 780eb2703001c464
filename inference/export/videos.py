"""Videos for a preset: the same crop-or-pad fit as images, done by ffmpeg in one pass with the watermark added to
the finished frames and the AI label (where the asset is AI-made) in the tags."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.platforms import Platform, Preset
from inference.export.fit import Box, FitPlan, plan_fit
from inference.export.images import detail_of
from inference.export.label import mp4_tags
from inference.media import VideoInfo, probe, still_frame, transcode

BACKGROUND_SCALE = 8  # the padded background is blurred small, then enlarged (as for images)
BACKGROUND_BLUR = 6  # box radius in pixels of the small copy, applied twice
# Turns the picture filtergraph (ending in a width x height frame) into one that also adds the watermark.
Watermark = Callable[[str, int, int], str]


@dataclass(frozen=True)
class RenderedVideo:
    """A finished MP4 for one preset, and how it was made."""

    path: Path
    width: int
    height: int
    duration_s: float
    fps: float
    has_audio: bool
    plan: FitPlan
    trimmed_from_s: float | None  # the source's length when it was cut to the platform's limit


def key_frame(path: Path, info: VideoInfo) -> np.ndarray:
    """The frame that stands for the clip when placing the crop: the middle one."""
    return still_frame(path, at_s=info.duration_s / 2 if info.duration_s > 0.2 else 0.0)


def plan_video(frame: np.ndarray, preset: Preset, faces: Sequence[Box]) -> FitPlan:
    """How a clip whose ``frame`` is given fits ``preset``: every size and offset even, as yuv420p needs."""
    height, width = frame.shape[:2]
    detail = detail_of(Image.fromarray(frame))
    return plan_fit((width, height), (preset.width, preset.height), faces=faces, detail=detail, even=True)


def video_filter(plan: FitPlan) -> str:
    """The ffmpeg filtergraph that turns the decoded picture into ``plan``'s frame."""
    dst_w, dst_h = plan.target
    x, y, w, h = plan.region
    px, py, pw, ph = plan.placed
    if plan.mode == "crop":
        crop = f"crop={w}:{h}:{x}:{y}," if (w, h) != plan.source else ""
        return f"{crop}scale={dst_w}:{dst_h}:flags=lanczos,setsar=1"
    bw, bh = max(2, dst_w // BACKGROUND_SCALE // 2 * 2), max(2, dst_h // BACKGROUND_SCALE // 2 * 2)
    # boxblur's radius must stay under a quarter of the smaller side (the chroma planes are half size).
    radius = max(1, min(BACKGROUND_BLUR, min(bw, bh) // 4 - 1))
    return (
        "split=2[bg0][fg0];"
        f"[bg0]scale={bw}:{bh}:force_original_aspect_ratio=increase,crop={bw}:{bh},boxblur={radius}:2,"
        f"scale={dst_w}:{dst_h}:flags=bicubic,eq=brightness=-0.08[bg];"
        f"[fg0]scale={pw}:{ph}:flags=lanczos[fg];"
        f"[bg][fg]overlay={px}:{py},setsar=1"
    )


def render_video(source: Path, out: Path, preset: Preset, platform: Platform, *, source_type: str | None,
                 faces: Sequence[Box] = (), frame: np.ndarray | None = None, info: VideoInfo | None = None,
                 watermark: Watermark | None = None, progress: Callable[[float], None] | None = None) -> RenderedVideo:
    """``source`` made for ``preset``: fitted, scaled, at the platform's frame rate, rate cap and length limit.

    ``source_type`` is the IPTC code for the asset's origin (None: a user's upload, no label); ``watermark``
    adds the watermark to the finished frames inside the same ffmpeg run. ``faces`` are in the pixels of
    ``frame`` (the clip's key frame, read here when not given); ``info`` is the source's probe when the caller
    has it already (a clip made in several presets is probed once).
    """
    info = info if info is not None else probe(source)
    frame = frame if frame is not None else key_frame(source, info)
    plan = plan_video(frame, preset, faces)
    graph = video_filter(plan)
    if watermark is not None:
        graph = watermark(graph, preset.width, preset.height)
    fmt = platform.video
    limit = platform.max_seconds(preset)
    transcode(source, out, video_filter=graph, fps=fmt.fps, max_seconds=limit, crf=fmt.crf,
              max_kbps=fmt.max_kbps, audio_kbps=fmt.audio_kbps, tags=mp4_tags(source_type), progress=progress)
    made = probe(out)
    trimmed = round(info.duration_s, 2) if info.duration_s > limit + 0.05 else None
    return RenderedVideo(path=out, width=made.width, height=made.height, duration_s=round(made.duration_s, 3),
                         fps=made.fps, has_audio=made.has_audio, plan=plan, trimmed_from_s=trimmed)
