"""Putting a warped face into a picture: the face mask, colour matching and a seam-free blend.

All functions work on a region (a crop of the target around the face) so a small face in a big photo costs
what the face costs, not what the photo costs.
"""

from __future__ import annotations

import cv2
import numpy as np

# How far inside the hull the blend starts, and how soft its edge is, as fractions of the face's size:
# the jaw line and brow points sit on edges where a hard seam would show.
ERODE_FRACTION = 0.04
FEATHER_FRACTION = 0.06
# Colour transfer never scales contrast by more than this either way (a dark or flat face would blow up).
STD_RATIO_LIMIT = (0.5, 2.0)


def face_size(points: np.ndarray) -> float:
    """The larger side of the landmarks' bounding box, in pixels."""
    pts = np.asarray(points, dtype=np.float64)
    return float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0))


def _odd(value: float) -> int:
    size = max(1, round(value))
    return size if size % 2 else size + 1


def _disc(diameter: float) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(diameter),) * 2)


def face_mask(covered: np.ndarray, size: float, *, mouth: np.ndarray | None = None,
              keep_mouth: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The blend's masks over a region: a hard uint8 mask (0/255) and a feathered float alpha in [0, 1].

    ``covered`` is the warped mesh's coverage (the landmarks' convex hull) and ``size`` the face's size in
    pixels. The mask is eroded so the blend edge lies inside the face, then feathered; the alpha is zero on and
    beyond the hull, so pixels outside the face are never touched. ``mouth`` (the target's inner-lip polygon,
    region coordinates) is faded out of the alpha by ``keep_mouth`` (0-1): an open mouth keeps the target's
    teeth and tongue, since the source's lips stretched over an opening look wrong.
    """
    hard = cv2.erode(covered, _disc(size * ERODE_FRACTION))
    blur = _odd(size * FEATHER_FRACTION)
    # Blurring the hard mask would let the feather spill past it; eroding by the blur radius first keeps the
    # soft edge inside the hull.
    inner = cv2.erode(hard, _disc(blur))
    alpha = np.asarray(cv2.GaussianBlur(inner.astype(np.float32) / 255.0, (blur * 2 + 1,) * 2, 0), dtype=np.float32)
    alpha[hard == 0] = 0.0
    if mouth is not None and keep_mouth > 0:
        hole = np.zeros(hard.shape, dtype=np.uint8)
        cv2.fillConvexPoly(hole, np.round(mouth).astype(np.int32), 255)
        grown = np.asarray(cv2.dilate(hole, _disc(size * 0.015)), dtype=np.float32) / 255.0
        soft = np.asarray(cv2.GaussianBlur(grown, (_odd(size * 0.02),) * 2, 0), dtype=np.float32)
        alpha *= 1.0 - float(min(keep_mouth, 1.0)) * soft
    return hard, alpha


def match_colour(face: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``face`` with its colour statistics in LAB (mean and spread inside ``mask``) moved onto ``target``'s.

    Reinhard-style transfer: lighting and skin tone follow the target, the face's own detail stays.
    """
    inside = mask > 0
    if int(inside.sum()) < 16:
        return face
    src = cv2.cvtColor(face, cv2.COLOR_RGB2LAB).astype(np.float32)
    dst = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    out = src.copy()
    low, high = STD_RATIO_LIMIT
    for channel in range(3):
        s, d = src[..., channel][inside], dst[..., channel][inside]
        s_mean, s_std = float(s.mean()), float(s.std())
        d_mean, d_std = float(d.mean()), float(d.std())
        ratio = float(np.clip(d_std / s_std, low, high)) if s_std > 1e-3 else 1.0
        out[..., channel] = (src[..., channel] - s_mean) * ratio + d_mean
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def seamless(face: np.ndarray, target: np.ndarray, hard: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``face`` blended into ``target`` (both region-sized RGB): Poisson clone, then the feathered alpha.

    The Poisson clone (``cv2.seamlessClone``) keeps the face's gradients and takes its boundary colour from
    the target, which hides what colour matching leaves; the alpha then fades to exactly the target at the
    mask's edge. The region is padded first so the mask never touches its border (the clone needs that).
    """
    if int((hard > 0).sum()) < 16:
        return target
    pad = 4
    face_p = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    target_p = cv2.copyMakeBorder(target, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    hard_p = cv2.copyMakeBorder(hard, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    x, y, w, h = cv2.boundingRect(hard_p)
    center = (x + w // 2, y + h // 2)
    try:
        cloned = cv2.seamlessClone(face_p, target_p, hard_p, center, cv2.NORMAL_CLONE)[pad:-pad, pad:-pad]
    except cv2.error:
        cloned = face  # a degenerate mask (a sliver at the frame's edge): the feathered paste alone
    a = alpha[..., None]
    blended = a * cloned.astype(np.float32) + (1.0 - a) * target.astype(np.float32)
    out = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    # Exactly the target wherever the alpha is zero (no rounding drift outside the face).
    out[alpha <= 0] = target[alpha <= 0]
    return out
