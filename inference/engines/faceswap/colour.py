"""Colour and light: the swapped face given the skin tone and lighting of the face it replaces.

Measured on the face's skin only (``skin``), on both faces at the same place: the target photo's own face
at the same spot is the exact reference for how skin looks there (its tone, the light falling on it, the
shadow on one side). Each face is split, in CIELAB, into an illumination layer (its skin's colour averaged
over about a quarter of the face, by normalised convolution so that hair, eyes and background neither count
nor leave holes) and detail (the rest). The swapped face is the source's detail on the target's layer:

- lightness: the target's light and shade with the source's features, wrinkles and pores; the source's
  highlights (detail far above its own layer: a flash's specular spots) are compressed, or they would show
  as white blotches under the target's light;
- colour: the target's skin tone, with the source's colour relative to its own skin (lips, brows, a flush)
  carried over in the frame of each skin's hue and damped, so no part turns the opposite hue; a
  black-and-white source takes the target's skin colour, a black-and-white target makes a grey face.

Only low frequencies move, and the source's identity lies in the rest: the likeness stays.

Everything is measured in a canonical frame (a fixed-size crop in which the face has a fixed size), so the
cost does not grow with the photo, and in a video the measurements of successive frames refer to the same
parts of the face and can be averaged over time (``FaceLook.mixed``) without flicker.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inference.engines.faces.geometry import ARCFACE_TEMPLATE, five_from_68, similarity_transform
from inference.engines.faceswap import shape, skin
from inference.engines.faceswap.shape import OUTER_LIPS

CANON = 128  # side of the canonical crop, pixels
# The five-point template scaled so that the face from forehead to chin fits the crop with a margin, and
# moved up so forehead and chin sit at equal distances from the edges.
_ZOOM = 0.9
_LIFT = 0.11 * CANON
CANON_TEMPLATE = (ARCFACE_TEMPLATE - 56.0) * _ZOOM * (CANON / 112.0) + np.array([CANON / 2, CANON / 2 - _LIFT])
# The illumination layer's blur, in canonical pixels (the face spans about 80): it carries light and shade
# and the skin's tone, too low to carry features, which stay the source's (they are the likeness).
SIGMA = 20.0
# Light is measured this far (canonical pixels) inside the outline: at the outline itself hair, ears and
# background crowd in, whatever their colour.
INSET = 5.0
# How much wider the skin test is in lightness for the layers than for the blend (see ``skin.likeness``).
LIT = 2.5
# Where less than this (blurred) weight of skin is near, the layer leans on the whole face's skin median
# instead: a smooth fallback, so no edge of the measured area shows.
FALLBACK_WEIGHT = 0.08
# The face's own shading moves at most this far towards the target's (L*, then a*/b*, relative to each
# skin's median): beyond, the two faces differ by more than light on skin (a hand, a hard shadow edge, or
# the shape of the persona's own face, which is part of its likeness).
LIGHT_LIMIT = 12.0
TINT_LIMIT = 12.0
# A source highlight: lightness this far (L*) above the source's own illumination layer is compressed to
# HIGHLIGHT_SLOPE of its excess. A flash's specular spots would turn into white blotches under other light;
# the fine detail below the knee (pores, the shape of the nose) is the persona's and stays.
HIGHLIGHT_KNEE = 8.0
HIGHLIGHT_SLOPE = 0.3
# The source's colour relative to its skin's (see ``apply``) is followed by COLOUR_SHARE, within
# ALONG_LIMITS times the target skin's chroma along its hue (lips redder, brows paler) and ACROSS_LIMIT of it
# across (no new hues). Not fully: a source lit by warm light from one side has its shadow side far more
# orange than its lit side, and under the target's light that would show as orange and grey-blue patches.
COLOUR_SHARE = 0.8
ALONG_LIMITS = (0.5, 1.7)
ACROSS_LIMIT = 0.25
# A target skin closer to neutral than GREY_CHROMA (CIELAB a*/b* units) is black and white; from
# COLOUR_CHROMA on it is in colour (real skin in colour photos is 8-25 away). In between the face keeps part of
# its own colour detail.
GREY_CHROMA = 1.0
COLOUR_CHROMA = 4.0


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
    """What one face needs to look lit like the target, in the canonical frame (CIELAB, L 0-100).

    ``target_layer``/``source_layer``: the two faces' illumination layers (CANON x CANON x 3, L a b; see
    ``measure``); ``keep``: where highlights are left alone (eyes and the open mouth, CANON x CANON, 1 = kept);
    ``source_skin``/``target_skin``: how skin-like each face is per canonical pixel (what the blend uses to
    leave hair alone).
    """

    target_layer: np.ndarray
    source_layer: np.ndarray
    keep: np.ndarray
    source_skin: np.ndarray
    target_skin: np.ndarray

    def mixed(self, previous: FaceLook | None, keep: float) -> FaceLook:
        """This look averaged with the one before (``keep``: the previous one's share), for video."""
        if previous is None or keep <= 0:
            return self

        def mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return (keep * b + (1.0 - keep) * a).astype(np.float32)

        return FaceLook(target_layer=mix(self.target_layer, previous.target_layer),
                        source_layer=mix(self.source_layer, previous.source_layer),
                        keep=mix(self.keep, previous.keep), source_skin=mix(self.source_skin, previous.source_skin),
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


def _lab(rgb: np.ndarray) -> np.ndarray:
    """8-bit RGB → float CIELAB (L 0-100, a/b signed)."""
    return np.asarray(cv2.cvtColor(rgb.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2LAB))


def _layer(values: np.ndarray, weight: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The illumination layer: ``values`` averaged over ``weight`` within SIGMA, leaning on ``fallback``
    (per channel) where little weight is near."""
    total = cv2.GaussianBlur(weight, (0, 0), SIGMA)
    summed = cv2.GaussianBlur(values * weight[..., None], (0, 0), SIGMA)
    return np.asarray((summed + FALLBACK_WEIGHT * fallback) / (total + FALLBACK_WEIGHT)[..., None], dtype=np.float32)


def _highlight_keep(points: np.ndarray) -> np.ndarray:
    """Where bright detail is the face's own, not light: the eyes' whites and the teeth (float32, 1 there)."""
    mask = np.zeros((CANON, CANON), dtype=np.uint8)
    for group, _, _ in shape.EYES:
        cv2.fillConvexPoly(mask, np.round(cv2.convexHull(points[group].astype(np.float32))[:, 0, :]).astype(np.int32),
                           255)
    cv2.fillPoly(mask, [np.round(points[shape.INNER_LIPS]).astype(np.int32)], 255)
    grown = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    return np.asarray(cv2.GaussianBlur(grown.astype(np.float32) / 255.0, (0, 0), 1.5), dtype=np.float32)


def measure(face: np.ndarray, base: np.ndarray, covered: np.ndarray, points: np.ndarray, hull: np.ndarray,
            *, light: float = 1.0) -> FaceLook | None:
    """The look that matches ``face`` (the warped source) to ``base`` (the target), all canonical crops.

    ``covered``: where the warped source has pixels (uint8); ``points``: the 68 destination landmarks in the
    canonical frame; ``hull``: the face's outline filled (uint8). ``light`` (0-1): how much of the target's
    local light and shade the face takes (0: the whole skin's tone and exposure only, the source's own
    shading kept). None when either face shows too little skin to measure (colours are then left alone).

    Both faces are split into an illumination layer (their skin's colour blurred over about a sixth of the
    face, see ``_layer``) and detail (the rest). The result is the source's detail on the target's layer:
    the target's light, shade and skin tone with the persona's features, wrinkles and pores.
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
    region = (hull > 0).astype(np.float32)
    source_skin = source_model.likeness(face_lab) * region * inside
    target_skin = target_model.likeness(base_lab) * region
    # Lips and the open mouth are never skin, whatever their colour.
    source_skin[mouth > 0] = 0.0
    target_skin[mouth > 0] = 0.0
    source, target = _lab(face), _lab(base)
    source_median = _skin_median(source, sample & inside, source_skin)
    target_median = _skin_median(target, sample, target_skin)
    # Light is read off the skin around the features (cheeks, forehead, chin), not between them: the
    # shading of the target's own eye sockets and nose would otherwise be painted onto the persona's.
    ring = (1.0 - features(points)) * _shrunk(hull, INSET)
    # Skin in any light counts towards the layers (a lit forehead is the light to follow, not a foreign colour).
    target_lit = target_model.likeness(base_lab, lightness=LIT) * region
    source_lit = source_model.likeness(face_lab, lightness=LIT) * region * inside
    target_lit[mouth > 0] = 0.0
    source_lit[mouth > 0] = 0.0
    target_layer = _layer(target, target_lit * ring, target_median)
    source_layer = _layer(source, source_lit * ring, source_median)
    limit = np.array([LIGHT_LIMIT, TINT_LIMIT, TINT_LIMIT], dtype=np.float32)
    # With less than all of the target's light (``light`` < 1) part of the source's own shading stays: what
    # the face is moved by is the blend of the two layers, while highlights are still told apart against
    # the source's own layer.
    moved = np.clip(target_layer - target_median - (source_layer - source_median), -limit, limit)
    target_layer = source_layer + (target_median - source_median) + light * moved
    target_chroma = float(np.hypot(*target_median[1:]))
    chroma = float(np.clip((target_chroma - GREY_CHROMA) / (COLOUR_CHROMA - GREY_CHROMA), 0.0, 1.0))
    # A black-and-white target: its layer is exactly neutral, and so is the face.
    target_layer[..., 1:] *= chroma
    return FaceLook(target_layer=target_layer.astype(np.float32), source_layer=source_layer.astype(np.float32),
                    keep=_highlight_keep(points), source_skin=source_skin, target_skin=target_skin)


def _skin_median(lab: np.ndarray, sample: np.ndarray, likeness: np.ndarray) -> np.ndarray:
    """The median colour of the sample's clearly skin-like pixels (all of the sample when too few are)."""
    chosen = sample & (likeness > 0.5)
    return np.asarray(np.median(lab[chosen if np.count_nonzero(chosen) >= 24 else sample], axis=0), dtype=np.float32)


def apply(face: np.ndarray, look: FaceLook, matrix: np.ndarray) -> np.ndarray:
    """``face`` (region-sized RGB uint8) with ``look`` applied; ``matrix`` took the region to canonical."""
    height, width = face.shape[:2]
    fields = from_canonical(np.dstack([look.target_layer, look.source_layer, look.keep]), matrix, (width, height))
    target, source, keep = fields[..., :3], fields[..., 3:6], fields[..., 6]
    lab = _lab(face)
    detail = lab - source
    # Lightness: the source's detail on the target's light, its highlights compressed.
    excess = np.maximum(detail[..., 0] - HIGHLIGHT_KNEE, 0.0) * (1.0 - keep)
    out = np.empty_like(lab)
    out[..., 0] = target[..., 0] + detail[..., 0] - (1.0 - HIGHLIGHT_SLOPE) * excess
    # Colour, in the frame of each face's skin hue: the source's colour relative to its own skin (lips
    # redder, brows and eyes less colourful, a flush a little off its hue) carried over onto the target's
    # skin. Relative, so a part of the source less colourful than its skin becomes less colourful on the
    # target, never the opposite hue (blue-green); a black-and-white target's zero tone makes grey. A source
    # without colour of its own (black and white) takes the target's skin colour as it is.
    s_tone = np.linalg.norm(source[..., 1:], axis=-1)
    s_hue = source[..., 1:] / np.maximum(s_tone, 1e-3)[..., None]
    colourful = np.clip((s_tone - GREY_CHROMA) / (COLOUR_CHROMA - GREY_CHROMA), 0.0, 1.0)
    scale = np.maximum(s_tone, 1e-3)
    along = (lab[..., 1] * s_hue[..., 0] + lab[..., 2] * s_hue[..., 1]) / scale
    across = (lab[..., 2] * s_hue[..., 0] - lab[..., 1] * s_hue[..., 1]) / scale
    along = 1.0 + colourful * np.clip(COLOUR_SHARE * (along - 1.0), ALONG_LIMITS[0] - 1.0, ALONG_LIMITS[1] - 1.0)
    across = colourful * np.clip(COLOUR_SHARE * across, -ACROSS_LIMIT, ACROSS_LIMIT)
    t_tone = target[..., 1:]
    ab = np.empty_like(t_tone)
    ab[..., 0] = along * t_tone[..., 0] - across * t_tone[..., 1]
    ab[..., 1] = along * t_tone[..., 1] + across * t_tone[..., 0]
    out[..., 1:] = ab
    rgb = cv2.cvtColor(out, cv2.COLOR_LAB2RGB)
    return np.asarray(np.clip(rgb * 255.0 + 0.5, 0, 255), dtype=np.uint8)
