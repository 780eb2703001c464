"""A face's skin colour, sampled where there is nothing but skin, and how skin-like every other pixel is.

The sample is the cheeks and the nose between the lower eyelids and the upper lip, pulled in from the jaw
line: no eyes, brows, lips, hair or background. Statistics are robust (median and median absolute
deviation), so nostrils, a mole or a specular highlight do not move them.

Colour matching compares the two faces' skin (not their whole regions, whose hair, eyes and background
would tint the result), and the blend uses skin likeness to keep hair out of the swapped area: the source's
hair over its forehead is not pasted, and the target's hair over its own face stays in front.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# The sample polygon, as indices into the 68 landmarks: jaw points 1-4 and 12-15 (pulled inwards, see
# ``INSET``), the upper lip's outline, the lower eyelids and the bridge of the nose between them.
SAMPLE = (1, 2, 3, 4, 48, 49, 50, 51, 52, 53, 54, 12, 13, 14, 15, 45, 46, 47, 42, 39, 40, 41, 36)
INSET = 0.15  # jaw points move this far towards the nose tip: the jaw line itself may be on background
# Lower bounds of the robust spread (LAB units, 8-bit scale): a very even skin must not make every other
# pixel of the same skin look foreign.
MIN_SPREAD = np.array([10.0, 3.0, 3.0], dtype=np.float32)
# How many spreads from the centre a pixel may be and still count as skin, per channel: lightness varies
# with light and shadow across one face far more than hue does.
TOLERANCE = np.array([2.5, 2.2, 2.2], dtype=np.float32)


def sample_polygon(points: np.ndarray) -> np.ndarray:
    """The skin sample polygon (float (N, 2), same coordinates as ``points``, 68 landmarks)."""
    pts = np.asarray(points, dtype=np.float64)
    polygon = pts[list(SAMPLE)].copy()
    nose = pts[30]
    for index, landmark in enumerate(SAMPLE):
        if landmark <= 16:
            polygon[index] += INSET * (nose - polygon[index])
    return polygon


def sample_mask(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A bool mask of the skin sample in an image of ``shape``."""
    mask = np.zeros(shape[:2], dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(sample_polygon(points) * 16).astype(np.int32)], 255, lineType=cv2.LINE_8,
                 shift=4)
    return mask > 0


@dataclass(frozen=True)
class SkinModel:
    """Skin colour in CIELAB (OpenCV's 8-bit scaling): the centre and robust spread of each channel."""

    centre: np.ndarray
    spread: np.ndarray

    @classmethod
    def fit(cls, lab: np.ndarray, mask: np.ndarray) -> SkinModel | None:
        """The model of the pixels of ``lab`` (float32 LAB) under ``mask``; None when too few to trust."""
        pixels = lab[mask]
        if len(pixels) < 24:
            return None
        centre = np.median(pixels, axis=0).astype(np.float32)
        spread = 1.4826 * np.median(np.abs(pixels - centre), axis=0).astype(np.float32)
        return cls(centre=centre, spread=np.maximum(spread, MIN_SPREAD))

    def likeness(self, lab: np.ndarray, *, lightness: float = 1.0) -> np.ndarray:
        """Per pixel, how skin-like it is (float32 in [0, 1]): 1 near the centre, falling off smoothly.

        ``lightness`` widens the tolerance of lightness alone: skin in other light (a lit forehead, a shaded
        jaw) still counts where its hue is the skin's."""
        tolerance = TOLERANCE * np.array([lightness, 1.0, 1.0], dtype=np.float32)
        scaled = (lab - self.centre) / (tolerance * self.spread)
        distance = np.sqrt(np.sum(scaled * scaled, axis=-1))
        return np.clip(1.5 - distance, 0.0, 1.0).astype(np.float32)
