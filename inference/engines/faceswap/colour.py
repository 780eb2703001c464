"""Colour and light: the swapped face given the skin tone and lighting of the face it replaces.

Measured on the face's skin only (``skin``), on both faces at the same place: the target photo's own face
at the same spot is the exact reference for how skin looks there (its tone, the light falling on it, the
shadow on one side). The correction is a gain per colour channel on linear light, the way a change of
illuminant or of skin tone acts: the source's skin is multiplied onto the target's, so its darks stay dark
and its highlights take the target's tint instead of turning blue or pink (an additive shift in a colour
space would do that). Two steps:

- global: per-channel gains from the two skins' medians, so tone and exposure match without a cast from
  hair, lips or background; a black-and-white target makes a black-and-white face;
- local: the ratio of the two faces' skin, averaged over about a quarter of the face (normalised
  convolution, so non-skin pixels neither count nor leave holes) on the cheeks, chin and forehead inside
  the outline, is multiplied in: light from one side, a darker chin, a warmer cheek follow the target. Only
  low frequencies move; the source's own detail and features stay.

Everything is measured in a canonical frame (a fixed-size crop in which the face has a fixed size), so the
cost does not grow with the photo, and in a video the measurements of successive frames refer to the same
parts of the face and can be averaged over time (``FaceLook.mixed``) without flicker.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inference.engines.faces.geometry import ARCFACE_TEMPLATE, five_from_68, similarity_transform
from inference.engines.faceswap import skin
from inference.engines.faceswap.shape import OUTER_LIPS

CANON = 128  # side of the canonical crop, pixels
# The five-point template scaled so that the face from forehead to chin fits the crop with a margin, and
# moved up so forehead and chin sit at equal distances from the edges.
_ZOOM = 0.9
_LIFT = 0.11 * CANON
CANON_TEMPLATE = (ARCFACE_TEMPLATE - 56.0) * _ZOOM * (CANON / 112.0) + np.array([CANON / 2, CANON / 2 - _LIFT])
# Blur of the local correction, in canonical pixels (the face spans about 80): low enough to carry light
# and shade, too low to carry the target's features.
SIGMA = 18.0
# Light is measured this far (canonical pixels) inside the outline: at the outline itself hair, ears and
# background crowd in, whatever their colour.
INSET = 7.0
# Global gains stay within these (a face lit far darker or brighter than its target is still matched, a
# nearly black or blown-out measurement is not followed).
GAIN_LIMITS = (0.35, 3.0)
# The local correction stays within these ratios: beyond, the two faces disagree about something other
# than light (a hand, a shadow edge), and following it would paint that onto the face.
RATIO_LIMITS = (0.7, 1.45)
# Local correction fades out where less than this weight of skin is nearby on either face.
CONFIDENT_WEIGHT = 0.25
# A target skin closer to neutral than GREY_CHROMA (LAB a/b units) is black and white; from COLOUR_CHROMA on
# it is in colour (real skin in colour photos is 10-30 away). In between the face is partly desaturated.
NEUTRAL = 128.0
GREY_CHROMA = 2.0
COLOUR_CHROMA = 8.0
# Rec. 709 luminance weights (for desaturating onto a grey target).
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
# 8-bit sRGB to linear light, and a fine table back (linear values quantised to 1/4095).
_TO_LINEAR = np.where(np.arange(256) / 255.0 <= 0.04045, np.arange(256) / 255.0 / 12.92,
                      ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4).astype(np.float32)
_LEVELS = 4095
_grid = np.linspace(0.0, 1.0, _LEVELS + 1)
_TO_SRGB = np.clip(np.round(255.0 * np.where(_grid <= 0.0031308, 12.92 * _grid,
                                             1.055 * _grid ** (1 / 2.4) - 0.055)), 0, 255).astype(np.uint8)


def to_linear(image: np.ndarray) -> np.ndarray:
    """8-bit sRGB → linear light (float32 in [0, 1])."""
    return np.asarray(cv2.LUT(np.ascontiguousarray(image), _TO_LINEAR))


def to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear light (float) → 8-bit sRGB, clipped."""
    index = np.clip(linear * _LEVELS + 0.5, 0, _LEVELS).astype(np.int32)
    return _TO_SRGB[index]


def canonical_matrix(points: np.ndarray) -> np.ndarray:
    """The 2x3 similarity taking image coordinates of a face with these 68 landmarks into the canonical crop."""
    return similarity_transform(five_from_68(np.asarray(points, dtype=np.float64)), CANON_TEMPLATE)


def to_canonical(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``image`` seen through ``matrix`` as a CANON x CANON crop (zeros outside the image).

    A large face is first shrunk by area averaging, so the crop's pixels average the photo's instead of
    picking single ones (noise and pores would otherwise alias into the skin statistics).
    """
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.6:
        factor = min(1.0, 1.5 * scale)
        image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        matrix = np.hstack([matrix[:, :2] / factor, matrix[:, 2:]])
    return cv2.warpAffine(image, matrix, (CANON, CANON), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def from_canonical(values: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A canonical-frame map (``matrix`` took the region into it) brought back to a region of ``size`` (w, h)."""
    return cv2.warpAffine(values, matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class FaceLook:
    """What one face needs to look lit like the target, in the canonical frame.

    ``gain``: per-channel gains on linear light; ``grey``: how far to desaturate (1 for a black-and-white
    target); ``field``: the local ratio (CANON x CANON x 3, 1 = no change); ``source_skin``/``target_skin``:
    how skin-like each face is per canonical pixel (what the blend uses to leave hair alone).
    """

    gain: np.ndarray
    grey: float
    field: np.ndarray
    source_skin: np.ndarray
    target_skin: np.ndarray

    def mixed(self, previous: FaceLook | None, keep: float) -> FaceLook:
        """This look averaged with the one before (``keep``: the previous one's share), for video."""
        if previous is None or keep <= 0:
            return self

        def mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return (keep * b + (1.0 - keep) * a).astype(np.float32)

        return FaceLook(gain=mix(self.gain, previous.gain), grey=keep * previous.grey + (1.0 - keep) * self.grey,
                        field=mix(self.field, previous.field),
                        source_skin=mix(self.source_skin, previous.source_skin),
                        target_skin=mix(self.target_skin, previous.target_skin))


def features(points: np.ndarray) -> np.ndarray:
    """The inner features' area in the canonical crop (float32 1 inside): brows, eyes, nose and mouth."""
    hull = cv2.convexHull(np.asarray(points, dtype=np.float32)[17:68])[:, 0, :]
    mask = np.zeros((CANON, CANON), dtype=np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 255)
    return cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 2.0)


def _shrunk(mask: np.ndarray, pixels: float) -> np.ndarray:
    """``mask`` (uint8) eroded by ``pixels`` and softened, as float32 weights."""
    size = max(1, round(2 * pixels)) | 1
    eroded = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return cv2.GaussianBlur(eroded.astype(np.float32) / 255.0, (0, 0), 2.0)


def _normalised_blur(values: np.ndarray, weight: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    total = cv2.GaussianBlur(weight, (0, 0), sigma)
    summed = cv2.GaussianBlur(values * weight[..., None], (0, 0), sigma)
    return summed / np.maximum(total, 1e-4)[..., None], total


def measure(face: np.ndarray, base: np.ndarray, covered: np.ndarray, points: np.ndarray, hull: np.ndarray,
            *, light: float = 1.0) -> FaceLook | None:
    """The look that matches ``face`` (the warped source) to ``base`` (the target), all canonical crops.

    ``covered``: where the warped source has pixels (uint8); ``points``: the 68 destination landmarks in the
    canonical frame; ``hull``: the face's outline filled (uint8). ``light`` (0-1) scales the local step.
    None when either face shows too little skin to measure (the caller then leaves colours as they are).
    """
    # A light blur first: single-pixel chroma noise (JPEG blocks, sensor noise) is not a colour.
    face = cv2.GaussianBlur(face, (0, 0), 0.8)
    base = cv2.GaussianBlur(base, (0, 0), 0.8)
    face_lab = cv2.cvtColor(face, cv2.COLOR_RGB2LAB).astype(np.float32)
    base_lab = cv2.cvtColor(base, cv2.COLOR_RGB2LAB).astype(np.float32)
    sample = skin.sample_mask(points, face.shape)
    mouth = np.zeros(face.shape[:2], dtype=np.uint8)
    cv2.fillPoly(mouth, [np.round(points[OUTER_LIPS]).astype(np.int32)], 255)
    sample &= mouth == 0
    inside = covered > 0
    source_model = skin.SkinModel.fit(face_lab, sample & inside)
    target_model = skin.SkinModel.fit(base_lab, sample)
    if source_model is None or target_model is None:
        return None
    face_lin, base_lin = to_linear(face), to_linear(base)
    region = (hull > 0).astype(np.float32)
    source_skin = source_model.likeness(face_lab) * region * inside
    target_skin = target_model.likeness(base_lab) * region
    # Lips and the open mouth are never skin, whatever their colour.
    source_skin[mouth > 0] = 0.0
    target_skin[mouth > 0] = 0.0
    gain = np.clip(_skin_median(base_lin, sample, target_skin) / np.maximum(
        _skin_median(face_lin, sample & inside, source_skin), 1e-4), *GAIN_LIMITS).astype(np.float32)
    target_chroma = float(np.linalg.norm(target_model.centre[1:] - NEUTRAL))
    grey = 1.0 - float(np.clip((target_chroma - GREY_CHROMA) / (COLOUR_CHROMA - GREY_CHROMA), 0.0, 1.0))
    field = np.ones((CANON, CANON, 3), dtype=np.float32)
    if light > 0:
        adjusted = _desaturated(face_lin * gain, grey)
        # Light is read off the skin around the features (cheeks, forehead, chin), not between them: the
        # shading of the target's own eye sockets and nose would otherwise be painted onto the persona's.
        ring = (1.0 - features(points)) * _shrunk(hull, INSET)
        target_mean, target_weight = _normalised_blur(base_lin, target_skin * ring, SIGMA)
        source_mean, source_weight = _normalised_blur(adjusted, source_skin * ring, SIGMA)
        confidence = np.clip(np.minimum(target_weight, source_weight) / CONFIDENT_WEIGHT, 0.0, 1.0)
        ratio = np.clip(target_mean / np.maximum(source_mean, 1e-4), *RATIO_LIMITS)
        field = 1.0 + (ratio - 1.0) * (confidence[..., None] * light)
        # Where the confidence fell off, the correction still has to be smooth: blur it once more.
        field = cv2.GaussianBlur(field.astype(np.float32), (0, 0), SIGMA / 2)
    return FaceLook(gain=gain, grey=grey, field=field.astype(np.float32), source_skin=source_skin,
                    target_skin=target_skin)


def _skin_median(linear: np.ndarray, sample: np.ndarray, likeness: np.ndarray) -> np.ndarray:
    """The median colour of the sample's clearly skin-like pixels (all of the sample when too few are)."""
    chosen = sample & (likeness > 0.5)
    return np.asarray(np.median(linear[chosen if np.count_nonzero(chosen) >= 24 else sample], axis=0))


def _desaturated(linear: np.ndarray, grey: float) -> np.ndarray:
    if grey <= 0:
        return linear
    luma = linear @ LUMA
    return linear + grey * (luma[..., None] - linear)


def apply(face: np.ndarray, look: FaceLook, matrix: np.ndarray) -> np.ndarray:
    """``face`` (region-sized RGB uint8) with ``look`` applied; ``matrix`` took the region to canonical."""
    height, width = face.shape[:2]
    field = from_canonical(look.field, matrix, (width, height))
    linear = _desaturated(to_linear(face) * look.gain, look.grey) * field
    return to_srgb(linear)
