"""One face swapped with given settings: layout, reshape, warp, colour and light, mask and composite.

``render`` returns a ``Patch`` (the changed rectangle of the picture) rather than a whole new picture, so a
still can try several candidates and score each on its patch alone, and a video pastes the patch it keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from inference.engines.faces.geometry import Pose
from inference.engines.faceswap import blend, colour, shape
from inference.engines.faceswap.reshape import reshape_maps
from inference.engines.faceswap.warp import Region, region_around, triangle_index_map, warp_mesh

# Margin of the face's own sub-region around its mesh (room for the feather to read the target).
FACE_MARGIN = 0.05
# Mouth and eye states (see ``blend``): below CLOSED a mouth counts as closed, from OPEN on as open.
MOUTH_CLOSED, MOUTH_OPEN = shape.MOUTH_CLOSED_RATIO, shape.MOUTH_OPEN_RATIO
EYES_SHUT, EYES_OPEN = 0.09, 0.16
# A source turned this far (yaw, degrees) or more has its hidden side filled from its mirror image, blended
# over this fraction of the face's size.
SYMMETRY_FROM = 20.0
SYMMETRY_SOFTNESS = 0.04
SQUEEZED, HIDDEN = 0.45, 0.15
# Shares of the outline's move tried in turn when the full move would fold the picture.
OUTLINE_TRIES = (1.0, 0.6, 0.3, 0.0)
# How far the mask's upper corners move in from the temples (see ``shape.outline``).
TEMPLES = 0.12


@dataclass(frozen=True)
class SwapSettings:
    """How one face is swapped; the candidates a still chooses among differ in these.

    ``features``: how far brows, eyes, nose and lips move to the persona's layout (0-1); ``outline``: how
    far the jaw line does (the target's head is reshaped to meet it); ``forehead``: how far above the brows
    the swapped area reaches (fraction of the brow-to-chin height); ``light``: how much of the target's
    local light and shade the face takes (0: tone and exposure only).
    """

    features: float = 1.0
    outline: float = 1.0
    forehead: float = shape.FOREHEAD
    light: float = 1.0

    def as_dict(self) -> dict[str, float]:
        """The settings for logs and asset meta."""
        return {name: round(float(value), 3) for name, value in self.__dict__.items()}


@dataclass
class PreparedSource:
    """A persona photo ready to warp: the picture, its 68 landmarks, pose and expression, cached meshes."""

    image: np.ndarray
    points: np.ndarray
    label: str = ""
    pose: Pose = field(init=False)
    mouth: float = field(init=False)
    eyes: float = field(init=False)
    _meshes: dict[float, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.pose = shape.pose_of(self.points)
        self.mouth = shape.mouth_gap(self.points)
        self.eyes = shape.eye_openness(self.points)

    def mesh(self, forehead: float) -> tuple[np.ndarray, np.ndarray]:
        """The source's mesh points (68 + forehead) and their triangles, for a forehead height."""
        key = round(float(forehead), 4)
        if key not in self._meshes:
            self._meshes[key] = (shape.with_forehead(self.points, key), shape.mesh_triangles())
        return self._meshes[key]


@dataclass(frozen=True)
class Patch:
    """The changed part of a picture: ``pixels`` go at ``region``; ``look`` is what the colour step used."""

    region: Region
    pixels: np.ndarray
    points: np.ndarray  # where the swapped face's 68 landmarks now are (picture coordinates)
    look: colour.FaceLook | None = None

    def applied(self, frame: np.ndarray, *, copy: bool = True) -> np.ndarray:
        """``frame`` with the patch in (a copy unless ``copy`` is false and the frame is writable)."""
        out = np.array(frame, copy=True) if copy or not frame.flags.writeable else frame
        out[self.region.slices] = self.pixels
        return out


def _ramp(value: float, low: float, high: float) -> float:
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def _holes(source: PreparedSource, target: np.ndarray, dst: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Where the target shows through, and how much (see ``blend``)."""
    opening = _ramp(shape.mouth_gap(target), MOUTH_CLOSED, MOUTH_OPEN)
    # The source shows teeth the target does not: its stretched teeth would show in a closed mouth, so the
    # target's own lips stay.
    lips = _ramp(source.mouth, MOUTH_CLOSED, MOUTH_OPEN) * (1.0 - opening)
    shut = _ramp(EYES_OPEN - shape.eye_openness(target), 0.0, EYES_OPEN - EYES_SHUT) \
        * _ramp(source.eyes, EYES_SHUT, EYES_OPEN)
    holes = [(dst[shape.INNER_LIPS], opening), (dst[shape.OUTER_LIPS], lips)]
    holes += [(dst[group], shut) for group, _, _ in shape.EYES]
    return holes


def render(frame: np.ndarray, target: np.ndarray, source: PreparedSource, settings: SwapSettings, *,
           previous: colour.FaceLook | None = None, keep: float = 0.0, measure: bool = True,
           map_step: int = 2) -> Patch | None:
    """``source``'s face put onto the face at ``target`` (68 landmarks) in ``frame``; None when it is off the
    picture. ``previous``/``keep``: a video's earlier look, averaged in so colours stay steady; ``measure``
    false reuses ``previous`` as it is (a video measures every few frames)."""
    target = np.asarray(target, dtype=np.float64)
    weight = shape.pose_weight(source.points, target)
    jaw = settings.outline * shape.outline_weight(source.points, target)
    forehead = settings.forehead
    # Where the outline cannot move all the way without folding the picture, it moves part of the way.
    for share in OUTLINE_TRIES:
        dst = shape.transfer_layout(source.points, target, settings.features * weight, jaw * share)
        dst_mesh = shape.with_forehead(dst, forehead)
        size = blend.face_size(dst_mesh)
        reshaped = _reshape(frame, target, dst_mesh, forehead, size)
        if reshaped is not None or jaw * share <= 0:
            break
    face_region = region_around(dst_mesh, frame.shape, margin=FACE_MARGIN)
    if reshaped is None:
        outer = face_region
        base = np.array(frame[outer.slices], copy=True)
    else:
        outer, map_x, map_y = reshaped
        base = cv2.remap(frame, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    face_region = _inside(face_region, outer)
    if face_region.empty or outer.empty:
        return None
    src_mesh, triangles = source.mesh(forehead)
    warped, covered = warp_mesh(source.image, src_mesh, dst_mesh, triangles, face_region, step=map_step)
    warped = _with_symmetry(warped, source, src_mesh, dst_mesh, triangles, face_region, map_step)
    local = (face_region.x - outer.x, face_region.y - outer.y)
    area_slices = (slice(local[1], local[1] + face_region.height), slice(local[0], local[0] + face_region.width))
    area = base[area_slices]
    points = dst - face_region.offset
    matrix = colour.canonical_matrix(points)
    canon_points = points @ matrix[:, :2].T + matrix[:, 2]
    hull = blend.fill(shape.outline(canon_points, forehead), (colour.CANON, colour.CANON))
    if measure or previous is None:
        look = colour.measure(colour.to_canonical(warped, matrix), colour.to_canonical(area, matrix),
                              colour.to_canonical(covered, matrix), canon_points, hull, light=settings.light)
        look = None if look is None else look.mixed(previous, keep)
    else:
        look = previous
    gate = None
    if look is not None:
        warped = colour.apply(warped, look, matrix)
        gate = colour.from_canonical(blend.skin_gate(canon_points, look.source_skin, look.target_skin), matrix,
                                     (face_region.width, face_region.height))
    holes = [(polygon - face_region.offset, strength) for polygon, strength in _holes(source, target, dst)]
    outline = shape.outline(dst, forehead, temples=TEMPLES) - face_region.offset
    alpha = blend.face_alpha(outline, area.shape, size, gate=gate, holes=holes)
    alpha[covered == 0] = 0.0
    base[area_slices] = blend.composite(warped, area, alpha)
    return Patch(region=outer, pixels=base, points=dst, look=look)


def _visibility(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per triangle, how much of it the source photo shows: its area there against its area in the
    destination, relative to the whole face's (1: as much as the rest, near 0 or below: turned away)."""
    def areas(points: np.ndarray) -> np.ndarray:
        a, b, c = (points[triangles[:, i]] for i in range(3))
        return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))

    src_areas, dst_areas = areas(src), areas(dst)
    scale = abs(float(src_areas.sum())) / max(abs(float(dst_areas.sum())), 1e-6)
    # Same orientation as the destination: positive; folded over (seen from behind): negative.
    sign = np.sign(float(dst_areas.sum())) or 1.0
    return sign * src_areas / np.maximum(np.abs(dst_areas) * scale, 1e-6)


def _with_symmetry(warped: np.ndarray, source: PreparedSource, src_mesh: np.ndarray, dst_mesh: np.ndarray,
                   triangles: np.ndarray, region: Region, map_step: int) -> np.ndarray:
    """``warped`` with the parts the source photo hardly shows (the far side of a turned head) taken from
    the mirror image of the side it does show, blended in softly.

    A head turned 40° away shows one cheek squeezed into a sliver; warped onto a frontal face that sliver
    becomes a smear. Faces are nearly symmetric, so the near side, mirrored, is the better guess.
    """
    if abs(source.pose.yaw) < SYMMETRY_FROM:
        return warped
    mirrored_src = src_mesh[list(shape.MIRROR)]
    own = _visibility(src_mesh, dst_mesh, triangles)
    # A mirror image turns every triangle over: seen right, its orientation is the opposite of the face's.
    mirror = -_visibility(mirrored_src, dst_mesh, triangles)
    # Only where the photo's own view is squeezed to under SQUEEZED of its share (fully under HIDDEN), and the
    # mirror shows clearly more: where the own side is merely foreshortened it is still the persona's own.
    weights = np.clip((SQUEEZED - own) / (SQUEEZED - HIDDEN), 0.0, 1.0) * (mirror > own + 0.3)
    if not np.any(weights > 0):
        return warped
    index = triangle_index_map(dst_mesh - region.offset, triangles, region.height, region.width)
    size = blend.face_size(dst_mesh)
    weight = np.concatenate([[0.0], weights]).astype(np.float32)[index]
    weight = cv2.GaussianBlur(weight, (0, 0), max(1.0, SYMMETRY_SOFTNESS * size))[..., None]
    other, _ = warp_mesh(source.image, mirrored_src, dst_mesh, triangles, region, step=map_step)
    return np.clip(warped * (1.0 - weight) + other * weight + 0.5, 0, 255).astype(np.uint8)


def _reshape(frame: np.ndarray, target: np.ndarray, dst_mesh: np.ndarray, forehead: float,
             size: float) -> tuple[Region, np.ndarray, np.ndarray] | None:
    """The target's head reshaped to the destination outline (jaw and forehead).

    Only the outline moves: the inner points stay where they are, because what lies between them is
    replaced by the persona's face anyway, and moving the target's own features there would carry the
    target's shading into the colour step.
    """
    moved = shape.with_forehead(target, forehead)
    moved[shape.BROWS.start:shape.INNER_LIPS.stop] = dst_mesh[shape.BROWS.start:shape.INNER_LIPS.stop]
    return reshape_maps(moved, dst_mesh, size, frame.shape)


def _inside(region: Region, outer: Region) -> Region:
    """``region`` clipped to ``outer``."""
    x0, y0 = max(region.x, outer.x), max(region.y, outer.y)
    x1 = min(region.x + region.width, outer.x + outer.width)
    y1 = min(region.y + region.height, outer.y + outer.height)
    return Region(x0, y0, max(0, x1 - x0), max(0, y1 - y0))
