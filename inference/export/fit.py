"""Fitting a picture to a preset's aspect: crop around the subject, or pad with a blurred copy of itself.

Cropping fills the frame and is what a person would do, as long as it keeps most of the picture and never cuts
a face. So: crop when the window keeps at least ``MIN_KEEP`` of the area and holds the subject's faces with a
margin, placed with the faces in the upper part of the frame (headroom) or, without faces, over the most
detailed part (edge energy) with a pull to the centre. Otherwise (a portrait for a 16:9 post, a square for a
9:16 story) the whole picture is shown, scaled to fit, over a blurred, darkened copy that fills the frame, the
way the platforms' own apps present such posts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in source pixels
Anchor = Literal["whole", "faces", "detail", "center"]
Rect = tuple[int, int, int, int]  # x, y, width, height

MIN_KEEP = 0.6  # smallest share of the picture's area a crop may keep
SAME_ASPECT = 0.005  # relative aspect difference treated as equal (rounding of the source's size)
FACE_MARGIN = 0.3  # of the face's size, kept around it (hair, chin, ears)
FACE_LINE = 0.4  # where the subject's centre sits from the top of a vertical crop window
SUBJECT_SHARE = 0.3  # faces at least this share of the largest face's area count as the subject
CENTER_PULL = 0.25  # weight of the centre in placing a crop without faces


@dataclass(frozen=True)
class FitPlan:
    """How a source of ``source`` size becomes a ``target`` frame.

    ``crop`` mode: ``region`` of the source is scaled to fill the frame. ``pad`` mode: the whole source is
    scaled into ``placed`` (x, y, w, h in the frame) over a blurred background.
    """

    mode: Literal["crop", "pad"]
    source: tuple[int, int]
    target: tuple[int, int]
    region: Rect
    placed: Rect
    anchor: Anchor

    @property
    def scale(self) -> float:
        """Output pixels per source pixel of the picture itself."""
        return self.placed[2] / self.region[2]

    @property
    def upscale(self) -> float | None:
        """How much the picture is enlarged (rounded), or None when it is not enlarged."""
        return round(self.scale, 2) if self.scale > 1.01 else None


def subject_box(faces: Sequence[Box]) -> Box | None:
    """The box around the picture's subject: its largest face and every face of similar size (people far in
    the background are not the subject)."""
    if not faces:
        return None
    areas = [max(0, x1 - x0) * max(0, y1 - y0) for x0, y0, x1, y1 in faces]
    largest = max(areas)
    chosen = [face for face, area in zip(faces, areas, strict=True) if area >= SUBJECT_SHARE * largest]
    return (min(f[0] for f in chosen), min(f[1] for f in chosen), max(f[2] for f in chosen), max(f[3] for f in chosen))


def _with_margin(box: Box, faces: Sequence[Box], size: tuple[int, int]) -> Box:
    """``box`` widened by a margin in proportion to the largest face (not to the group's box)."""
    x0, y0, x1, y1 = box
    face = max(faces, key=lambda f: max(0, f[2] - f[0]) * max(0, f[3] - f[1]))
    mx, my = (face[2] - face[0]) * FACE_MARGIN, (face[3] - face[1]) * FACE_MARGIN
    width, height = size
    return (max(0, round(x0 - mx)), max(0, round(y0 - my)), min(width, round(x1 + mx)), min(height, round(y1 + my)))


def needs_placement(source: tuple[int, int], target: tuple[int, int]) -> bool:
    """Whether fitting ``source`` into ``target`` crops, so that where the faces are matters."""
    src_w, src_h = source
    dst_w, dst_h = target
    src_aspect, dst_aspect = src_w / src_h, dst_w / dst_h
    if abs(src_aspect / dst_aspect - 1) <= SAME_ASPECT:
        return False
    keep = dst_aspect / src_aspect if src_aspect > dst_aspect else src_aspect / dst_aspect
    return keep >= MIN_KEEP


def plan_fit(source: tuple[int, int], target: tuple[int, int], *, faces: Sequence[Box] = (),
             detail: np.ndarray | None = None, even: bool = False) -> FitPlan:
    """The crop-or-pad plan for a ``source`` (w, h) picture in a ``target`` (w, h) frame.

    ``faces`` are face boxes in source pixels; ``detail`` is a 2-D map of where the picture has detail (any
    resolution, see ``detail_map``). ``even`` keeps every size and offset even, as yuv420p video needs.
    """
    src_w, src_h = source
    dst_w, dst_h = target
    if min(src_w, src_h, dst_w, dst_h) < 2:
        raise ValueError(f"sizes must be at least 2x2, got source {src_w}x{src_h} and target {dst_w}x{dst_h}")
    src_aspect, dst_aspect = src_w / src_h, dst_w / dst_h
    if abs(src_aspect / dst_aspect - 1) <= SAME_ASPECT:
        return FitPlan("crop", source, target, (0, 0, src_w, src_h), (0, 0, dst_w, dst_h), "whole")
    wider = src_aspect > dst_aspect  # the crop window slides horizontally; else vertically
    win_w = round(src_h * dst_aspect) if wider else src_w
    win_h = src_h if wider else round(src_w / dst_aspect)
    if even:
        win_w, win_h = max(2, win_w // 2 * 2), max(2, win_h // 2 * 2)
    if win_w * win_h >= MIN_KEEP * src_w * src_h:
        placed = _place(source, (win_w, win_h), wider, faces, detail)
        if placed is not None:
            offset, anchor = placed
            if even:
                offset -= offset % 2
            x, y = (offset, 0) if wider else (0, offset)
            return FitPlan("crop", source, target, (x, y, win_w, win_h), (0, 0, dst_w, dst_h), anchor)
    return _pad(source, target, even=even)


def _place(source: tuple[int, int], window: tuple[int, int], wider: bool, faces: Sequence[Box],
           detail: np.ndarray | None) -> tuple[int, Anchor] | None:
    """Offset of the window along its free axis and what placed it; None when no window keeps the faces."""
    length = source[0] if wider else source[1]
    span = window[0] if wider else window[1]
    room = length - span
    subject = subject_box(faces)
    if subject is not None:
        x0, y0, x1, y1 = _with_margin(subject, faces, source)
        lo, hi = (x0, x1) if wider else (y0, y1)
        if hi - lo > span:
            return None  # a crop would cut someone: the picture is padded instead
        center = (lo + hi) / 2
        # Horizontally the subject is centred; vertically it sits a little high, as portraits are framed.
        wanted = center - span / 2 if wider else center - FACE_LINE * span
        offset = min(max(wanted, hi - span), lo)  # the whole subject stays inside the window
        return round(min(max(offset, 0), room)), "faces"
    if detail is not None and detail.size and float(detail.sum()) > 0:
        return _detail_offset(detail, wider, span / length, room), "detail"
    return room // 2, "center"


def _detail_offset(detail: np.ndarray, wider: bool, share: float, room: int) -> int:
    """The window offset covering the most detail, pulled towards the centre so flat pictures stay centred."""
    profile = detail.sum(axis=0 if wider else 1).astype(np.float64)
    cells = len(profile)
    window = max(1, min(cells, round(share * cells)))
    sums = np.convolve(profile, np.ones(window), mode="valid")  # detail inside each window position
    positions = len(sums)
    if positions <= 1:
        return room // 2
    offsets = np.arange(positions) / (positions - 1)  # 0 = window at the start, 1 = at the end
    pull = 1.0 - CENTER_PULL * np.abs(offsets - 0.5) * 2
    best = int(np.argmax(sums / (sums.max() or 1.0) * pull))
    return round(offsets[best] * room)


def _pad(source: tuple[int, int], target: tuple[int, int], *, even: bool) -> FitPlan:
    src_w, src_h = source
    dst_w, dst_h = target
    scale = min(dst_w / src_w, dst_h / src_h)
    width, height = min(dst_w, round(src_w * scale)), min(dst_h, round(src_h * scale))
    if even:
        width, height = max(2, width // 2 * 2), max(2, height // 2 * 2)
    x, y = (dst_w - width) // 2, (dst_h - height) // 2
    if even:
        x, y = x - x % 2, y - y % 2
    return FitPlan("pad", source, target, (0, 0, src_w, src_h), (x, y, width, height), "whole")


def detail_map(gray: np.ndarray) -> np.ndarray:
    """Edge energy of a greyscale picture (any size; a small copy is enough): where its detail is."""
    values = gray.astype(np.float32)
    energy = np.zeros_like(values)
    energy[:, 1:] += np.abs(np.diff(values, axis=1))
    energy[1:, :] += np.abs(np.diff(values, axis=0))
    return energy
