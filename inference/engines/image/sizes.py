"""Output sizes: an aspect ratio turned into width and height at the model's native pixel count."""

from __future__ import annotations

import math

from core.prompts import parse_aspect_ratio


def size_for_aspect(aspect_ratio: str, *, base_side: int, multiple: int) -> tuple[int, int]:
    """``(width, height)`` with about ``base_side``² pixels, ratio ``aspect_ratio``, both snapped to ``multiple``.

    Diffusion models are trained near one pixel count (1024² for SD3); keeping the area and changing the shape
    keeps them in distribution. ``ValueError`` names ``--ar`` when the ratio is malformed or too extreme.
    """
    w_ratio, h_ratio = parse_aspect_ratio(aspect_ratio)
    area = base_side * base_side
    ratio = w_ratio / h_ratio
    # Snap the shorter side first and derive the longer from it: the ratio drifts least that way.
    if ratio <= 1:
        width = _snap(math.sqrt(area * ratio), multiple)
        return width, _snap(width / ratio, multiple)
    height = _snap(math.sqrt(area / ratio), multiple)
    return _snap(height * ratio, multiple), height


def _snap(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)
