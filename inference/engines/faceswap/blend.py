"""Putting a warped face into a picture: the face mask and the feathered composite.

The mask covers the face from the forehead (above the brows) to the chin and follows the jaw line (the
destination layout's outline, not a convex hull: a turned face's hollow cheek stays out). Its edge lies just
inside that outline and is feathered, and it is zero on and beyond it, so nothing outside the face changes.
Within the band between the inner features and the outline, the mask also needs skin on both faces: the
source's hair over its forehead is not pasted and the target's hair over its own face stays in front.

Parts of the target can show through on purpose: an open mouth keeps the target's teeth and tongue, a mouth
the source shows open but the target keeps closed keeps the target's lips (stretched teeth would show
otherwise), and shut eyes stay shut.
"""

from __future__ import annotations

import cv2
import numpy as np

# How far inside the outline the mask's edge starts, and how wide its soft edge is, as fractions of the
# face's size: the jaw line and the forehead sit on edges where a hard seam would show.
ERODE_FRACTION = 0.005
FEATHER_FRACTION = 0.05
# The inner features (each brow, eye, the nose, the mouth) are always swapped whatever the skin test says:
# dark brows, eye shadow or lipstick are not skin but are the persona's. Each is grown a little (a fraction
# of the canonical crop's side) to take in lashes and the shadow under the brow.
CORE = (slice(17, 22), slice(22, 27), slice(36, 42), slice(42, 48), slice(27, 36), slice(48, 68))
CORE_GROW = 0.05
# The lower face: the jaw from cheekbone to cheekbone and the eyes' outer corners.
LOWER_FACE = (*range(2, 15), 45, 36)


def face_size(points: np.ndarray) -> float:
    """The larger side of the landmarks' bounding box, in pixels."""
    pts = np.asarray(points, dtype=np.float64)
    return float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0))


def _odd(value: float) -> int:
    size = max(1, round(value))
    return size if size % 2 else size + 1


def _disc(diameter: float) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(diameter),) * 2)


def fill(polygon: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 mask (255 inside) of ``polygon`` (float (N, 2)) in an image of ``shape``, sub-pixel exact."""
    mask = np.zeros(shape[:2], dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(polygon) * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    return mask


def skin_gate(points: np.ndarray, source_skin: np.ndarray, target_skin: np.ndarray) -> np.ndarray:
    """Where the source may be pasted (float32 in [0, 1], canonical frame): everywhere but where hair may be,
    the forehead above the brows and the temples; there, the inner features always, the rest where both
    faces show skin. (Cheeks and chin are left alone: what is not skin-coloured there is shade, freckles or
    a beard, all of them the persona's.)"""
    side = source_skin.shape[0]
    pts = np.asarray(points, dtype=np.float32)
    features = np.zeros(source_skin.shape, dtype=np.uint8)
    for group in CORE:
        features |= fill(cv2.convexHull(pts[group])[:, 0, :], source_skin.shape)
    # Below the eyes and inside the jaw from the cheekbones down: no hair to expect.
    features |= fill(pts[list(LOWER_FACE)], source_skin.shape)
    core = cv2.dilate(features, _disc(side * CORE_GROW)).astype(np.float32) / 255.0
    # Likeness falls off gradually; anything fairly skin-like counts fully.
    both = np.clip(1.6 * source_skin, 0.0, 1.0) * np.clip(1.6 * target_skin, 0.0, 1.0)
    gate = np.maximum(core, both)
    # As soft as the mask's own edge: a hard step from hair to skin would draw a line across the forehead.
    return np.asarray(cv2.GaussianBlur(gate, (0, 0), side / 40.0), dtype=np.float32)


def face_alpha(outline: np.ndarray, shape: tuple[int, ...], size: float, *, gate: np.ndarray | None = None,
               holes: list[tuple[np.ndarray, float]] | None = None) -> np.ndarray:
    """The blend's alpha over a region (float32 in [0, 1]).

    ``outline``: the face's closed outline (jaw, then forehead) in region coordinates; ``size``: the face's
    size in pixels; ``gate``: an extra factor per pixel (``skin_gate`` brought into the region); ``holes``:
    (polygon, strength) pairs where the target shows through (strength 0-1), softened by a small blur.
    """
    hard = fill(outline, shape)
    hard = cv2.erode(hard, _disc(size * ERODE_FRACTION))
    feather = max(1.0, size * FEATHER_FRACTION)
    # The soft edge must stay inside the outline: erode by the blur's reach before blurring.
    inner = cv2.erode(hard, _disc(feather))
    alpha = np.asarray(cv2.GaussianBlur(inner.astype(np.float32) / 255.0, (0, 0), feather / 2.5), dtype=np.float32)
    alpha[hard == 0] = 0.0
    if gate is not None:
        alpha *= gate
    for polygon, strength in holes or []:
        if strength <= 0:
            continue
        hole = cv2.dilate(fill(polygon, shape), _disc(size * 0.015)).astype(np.float32) / 255.0
        soft = np.asarray(cv2.GaussianBlur(hole, (0, 0), max(0.5, size * 0.008)), dtype=np.float32)
        alpha *= 1.0 - float(min(strength, 1.0)) * soft
    return alpha


def composite(face: np.ndarray, area: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``face`` over ``area`` (both region-sized RGB uint8) by ``alpha``; exactly ``area`` where alpha is 0."""
    weight = np.ascontiguousarray(alpha, dtype=np.float32)
    out = cv2.blendLinear(face, area, weight, 1.0 - weight)
    untouched = weight <= 0
    out[untouched] = area[untouched]
    return np.asarray(out)
