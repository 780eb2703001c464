"""Colour and light: the swapped face given the skin tone and lighting of the face it replaces.

Measured on the face's skin only (``skin``), on both faces at the same place: the target photo's own face,
reshaped to the same layout, is the exact reference for how skin looks there (its tone, the light falling on
it, the shadow on one side). Two steps, in CIELAB:

- global: the source skin's median moved onto the target skin's, lightness contrast scaled by the ratio of
  their spreads (within limits), so tone and exposure match without a cast from hair, lips or background;
- local: the difference between the two faces' skin, blurred over about a sixth of the face (normalised
  convolution, so non-skin pixels neither count nor leave holes), is added back: light from one side, a
  darker chin, a warmer cheek follow the target. Only low frequencies move; the source's own detail stays.

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
_ZOOM = 0.75
_LIFT = 0.094 * CANON
CANON_TEMPLATE = (ARCFACE_TEMPLATE - 56.0) * _ZOOM * (CANON / 112.0) + np.array([CANON / 2, CANON / 2 - _LIFT])
# Blur of the local correction, in canonical pixels (the face spans about 70): low enough to carry light
# and shade, too low to carry the target's features.
SIGMA = 18.0

# Lightness contrast is matched within these limits (a flat or very contrasty source must not blow up).
GAIN_LIMITS = (0.75, 1.33)
# Neutral a and b in OpenCV's 8-bit LAB; a skin closer to neutral than MIN_CHROMA counts as grey; saturation
# is raised at most this much.
NEUTRAL = 128.0
MIN_CHROMA = 2.0
CHROMA_GAIN_LIMIT = 1.25
# The local correction never exceeds these (L, a, b): beyond, the two faces disagree about something other
# than light (a hand, a shadow edge), and following it would paint that onto the face.
FIELD_LIMITS = np.array([30.0, 10.0, 10.0], dtype=np.float32)
# Local correction fades out where less than this weight of skin is nearby on either face.
CONFIDENT_WEIGHT = 0.25


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

    ``source``/``target``: the skin centres (LAB); ``gain``: contrast per channel; ``field``: the local
    correction (CANON x CANON x 3, LAB units); ``source_skin``/``target_skin``: how skin-like each face is
    per canonical pixel (what the blend uses to leave hair alone).
    """

    source: np.ndarray
    target: np.ndarray
    gain: np.ndarray
    field: np.ndarray
    source_skin: np.ndarray
    target_skin: np.ndarray

    def mixed(self, previous: FaceLook | None, keep: float) -> FaceLook:
        """This look averaged with the one before (``keep``: the previous one's share), for video."""
        if previous is None or keep <= 0:
            return self

        def mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return (keep * b + (1.0 - keep) * a).astype(np.float32)

        return FaceLook(source=mix(self.source, previous.source), target=mix(self.target, previous.target),
                        gain=mix(self.gain, previous.gain), field=mix(self.field, previous.field),
                        source_skin=mix(self.source_skin, previous.source_skin),
                        target_skin=mix(self.target_skin, previous.target_skin))


def features(points: np.ndarray) -> np.ndarray:
    """The inner features' area in the canonical crop (float32 1 inside): brows, eyes, nose and mouth."""
    hull = cv2.convexHull(np.asarray(points, dtype=np.float32)[17:68])[:, 0, :]
    mask = np.zeros((CANON, CANON), dtype=np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 255)
    return cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 2.0)


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
    face_lab = cv2.cvtColor(cv2.GaussianBlur(face, (0, 0), 0.8), cv2.COLOR_RGB2LAB).astype(np.float32)
    base_lab = cv2.cvtColor(cv2.GaussianBlur(base, (0, 0), 0.8), cv2.COLOR_RGB2LAB).astype(np.float32)
    sample = skin.sample_mask(points, face.shape)
    mouth = np.zeros(face.shape[:2], dtype=np.uint8)
    cv2.fillPoly(mouth, [np.round(points[OUTER_LIPS]).astype(np.int32)], 255)
    sample &= mouth == 0
    inside = covered > 0
    source_model = skin.SkinModel.fit(face_lab, sample & inside)
    target_model = skin.SkinModel.fit(base_lab, sample)
    if source_model is None or target_model is None:
        return None
    gain = np.ones(3, dtype=np.float32)
    gain[0] = float(np.clip(target_model.spread[0] / source_model.spread[0], *GAIN_LIMITS))
    # Saturation follows the target's skin: a black-and-white target makes a black-and-white face (a shift
    # of the skin's hue alone would leave lips red and shadows blue on a grey face).
    source_chroma = float(np.linalg.norm(source_model.centre[1:] - NEUTRAL))
    target_chroma = float(np.linalg.norm(target_model.centre[1:] - NEUTRAL))
    if source_chroma > MIN_CHROMA:
        gain[1:] = float(np.clip(target_chroma / source_chroma, 0.0, CHROMA_GAIN_LIMIT))
    adjusted = (face_lab - source_model.centre) * gain + target_model.centre
    region = (hull > 0).astype(np.float32)
    source_skin = source_model.likeness(face_lab) * region * inside
    target_skin = target_model.likeness(base_lab) * region
    # Lips and the open mouth are never skin, whatever their colour.
    source_skin[mouth > 0] = 0.0
    target_skin[mouth > 0] = 0.0
    field = np.zeros((CANON, CANON, 3), dtype=np.float32)
    if light > 0:
        # Light is read off the skin around the features (cheeks, forehead, chin), not between them: the
        # shading of the target's own eye sockets and nose would otherwise be painted onto the persona's.
        ring = 1.0 - features(points)
        target_mean, target_weight = _normalised_blur(base_lab, target_skin * ring, SIGMA)
        source_mean, source_weight = _normalised_blur(adjusted, source_skin * ring, SIGMA)
        confidence = np.clip(np.minimum(target_weight, source_weight) / CONFIDENT_WEIGHT, 0.0, 1.0)
        field = np.clip(target_mean - source_mean, -FIELD_LIMITS, FIELD_LIMITS) * (confidence[..., None] * light)
        # Where the confidence fell off, the correction still has to be smooth: blur it once more.
        field = cv2.GaussianBlur(field, (0, 0), SIGMA / 2)
    return FaceLook(source=source_model.centre, target=target_model.centre, gain=gain,
                    field=field.astype(np.float32), source_skin=source_skin, target_skin=target_skin)


def apply(face: np.ndarray, look: FaceLook, matrix: np.ndarray) -> np.ndarray:
    """``face`` (region-sized RGB uint8) with ``look`` applied; ``matrix`` took the region to canonical."""
    height, width = face.shape[:2]
    field = from_canonical(look.field, matrix, (width, height))
    lab = cv2.cvtColor(face, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab = (lab - look.source) * look.gain + look.target + field
    return cv2.cvtColor(np.clip(lab + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
