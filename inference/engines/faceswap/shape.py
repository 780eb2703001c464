"""Where the swapped face's features go: the persona's proportions with the target's pose and expression.

A plain landmark swap warps the source face exactly onto the target's landmarks, so the result keeps the
target's eye spacing, nose length, mouth shape and face outline: much of what makes a face recognisable stays
the target's. Here the destination landmarks are moved towards the source's own layout (aligned onto the
target by a similarity transform), feature by feature, while what is expression stays the target's:

- brows and nose take the source's shape and place (``features``);
- each eye takes the source's shape and place but the target's openness (a blink stays a blink);
- the outer lips take the source's shape at the target's mouth height (a smile or an open mouth stays);
  the inner lips, the opening itself, stay where the target's teeth are;
- the jaw line takes the source's shape (``outline``), lowered by as much as the target's mouth is open
  wider than the source's, so an open mouth keeps its dropped chin. The target's head around it is reshaped
  to meet it (``reshape``).

How far the layout moves falls off with the difference in head turn between the two faces: a frontal layout
placed on a face seen from the side lands features where the face is not.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from inference.engines.faces.geometry import Pose, estimate_pose, five_from_68, similarity_transform
from inference.engines.faceswap.warp import triangulate

JAW = slice(0, 17)
BROWS = slice(17, 27)
NOSE = slice(27, 36)
EYES = ((slice(36, 42), 36, 39), (slice(42, 48), 42, 45))  # each eye and its two corners
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)
MOUTH_CORNERS = (48, 54)
LIP_MARGIN = 0.02  # how far inside the outer lips the inner lips stay, as a share of the mouth's width
# The mouth counts as open when the inner lips are apart by this fraction of the mouth's width: the target's
# teeth then show and stay the target's.
MOUTH_OPEN_RATIO = 0.12
# Below this it counts as closed.
MOUTH_CLOSED_RATIO = 0.06
# Up to YAW_FULL degrees of difference in head turn the layout moves all the way; beyond, less, down to
# YAW_FLOOR of the way from YAW_FALLOFF on (a frontal layout on a profile lands features off the face).
YAW_FULL = 30.0
YAW_FALLOFF = 70.0
YAW_FLOOR = 0.5
# The jaw line moves all the way up to OUTLINE_FULL degrees of difference, not at all from OUTLINE_FALLOFF.
OUTLINE_FULL = 30.0
OUTLINE_FALLOFF = 80.0
# Forehead points are the brows raised by this fraction of the brow-to-chin height: the brow ridge and the
# lower forehead, short of most hairlines (hair above the skin line is masked out separately).
FOREHEAD = 0.2
# A frontal face's 68 landmarks (the mean of three frontal photos and their mirror images, scaled into a
# 100-unit box). The mesh's triangles are taken from this layout once: triangles of a real face's own
# landmarks would change from face to face and frame to frame, and a turned face's would fold.
FRONTAL = np.array([
    [0.3, 13.8], [0.0, 27.1], [0.9, 40.3], [2.6, 53.6], [6.7, 66.2], [13.8, 77.7], [22.9, 87.7], [33.2, 96.3],
    [45.7, 99.4], [58.3, 97.7], [69.6, 90.3], [79.6, 81.2], [88.0, 70.7], [93.4, 58.6], [96.5, 45.5], [98.9, 32.5],
    [100.0, 19.3], [8.8, 6.2], [15.3, 0.5], [24.3, 0.0], [33.1, 2.0], [41.3, 6.2], [60.1, 7.2], [68.7, 3.9],
    [77.7, 2.9], [86.5, 4.4], [92.4, 10.7], [50.2, 16.6], [49.6, 26.1], [49.1, 35.4], [48.6, 44.8], [38.1, 49.3],
    [43.0, 51.3], [48.2, 53.4], [53.5, 51.8], [58.6, 50.4], [18.8, 16.4], [24.4, 14.5], [30.9, 15.0], [36.5, 18.3],
    [30.2, 19.4], [23.9, 18.9], [63.5, 19.8], [69.5, 17.1], [75.9, 17.3], [81.4, 19.9], [76.0, 21.8], [69.7, 21.5],
    [25.9, 60.2], [34.0, 60.0], [42.0, 60.3], [47.7, 62.1], [53.5, 60.9], [61.5, 61.5], [69.5, 62.6], [61.5, 71.9],
    [53.3, 75.8], [46.9, 76.4], [40.6, 75.1], [32.9, 70.4], [29.1, 61.6], [41.7, 64.6], [47.5, 65.7], [53.3, 65.2],
    [66.2, 63.6], [53.4, 68.3], [47.3, 68.9], [41.4, 67.6]
], dtype=np.float64)
# How much each jaw point follows the chin when the mouth opens (0 at the ears, 1 at the chin).
_CHIN_SHARE = np.sin(np.linspace(0.0, np.pi, 17)) ** 2


def pose_of(points: np.ndarray) -> Pose:
    """Head pose (yaw, pitch, roll in degrees) from 68 or 5 landmarks."""
    pts = np.asarray(points, dtype=np.float64)
    return estimate_pose(five_from_68(pts) if len(pts) == 68 else pts)


def _frame(points: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin (midpoint), unit axis from corner ``a`` to ``b``, its normal, and the corners' distance."""
    axis = points[b] - points[a]
    width = float(np.linalg.norm(axis)) or 1.0
    axis = axis / width
    return (points[a] + points[b]) / 2, axis, np.array([-axis[1], axis[0]]), width


def _to_local(points: np.ndarray, origin: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    shifted = points - origin
    return np.stack([shifted @ x, shifted @ y], axis=-1)


def _to_world(local: np.ndarray, origin: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return origin + local[:, :1] * x + local[:, 1:] * y


def _with_openness(source: np.ndarray, target: np.ndarray, a: int, b: int) -> np.ndarray:
    """``source``'s feature (points of one eye or lip contour) opened or closed as far as ``target``'s is."""
    s_origin, s_x, s_y, s_width = _frame(source, a, b)
    t_origin, t_x, t_y, t_width = _frame(target, a, b)
    s_local = _to_local(source, s_origin, s_x, s_y)
    t_local = _to_local(target, t_origin, t_x, t_y)
    s_open = float(np.ptp(s_local[:, 1])) / s_width
    t_open = float(np.ptp(t_local[:, 1])) / t_width
    s_local[:, 1] *= t_open / max(s_open, 1e-3)
    return _to_world(s_local, s_origin, s_x, s_y)


def pose_weight(source: np.ndarray, target: np.ndarray) -> float:
    """How far (0-1) a layout may move between two faces given the difference in their head turn."""
    difference = abs(pose_of(source).yaw - pose_of(target).yaw)
    share = float(np.clip((difference - YAW_FULL) / (YAW_FALLOFF - YAW_FULL), 0.0, 1.0))
    return 1.0 - (1.0 - YAW_FLOOR) * share


def outline_weight(source: np.ndarray, target: np.ndarray) -> float:
    """How far (0-1) the jaw line may move between two faces given the difference in their head turn.

    Stricter than the features: a jaw line seen from another angle is another curve, and reshaping the
    target's head to it bends the cheek and the background beside it.
    """
    difference = abs(pose_of(source).yaw - pose_of(target).yaw)
    return float(np.clip((OUTLINE_FALLOFF - difference) / (OUTLINE_FALLOFF - OUTLINE_FULL), 0.0, 1.0))


def layout_weight(source: np.ndarray, target: np.ndarray, strength: float = 1.0) -> float:
    """How far (0-1) the target's layout moves towards the source's: ``strength``, less for a turned head."""
    return strength * pose_weight(source, target)


def aligned(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``source``'s 68 landmarks moved onto ``target``'s by the least-squares similarity."""
    src = np.asarray(source, dtype=np.float64)
    matrix = similarity_transform(src, np.asarray(target, dtype=np.float64))
    return src @ matrix[:, :2].T + matrix[:, 2]


def transfer_layout(source: np.ndarray, target: np.ndarray, weight: float, outline: float = 0.0) -> np.ndarray:
    """The 68 destination points for warping ``source``'s face onto ``target``'s (both 68-point layouts).

    ``weight`` 0 gives the target's own landmarks (a plain swap), 1 the source's inner layout with the target's
    expression; ``outline`` (0-1) likewise moves the jaw line. See the module notes for what each feature takes
    from which face.
    """
    dst = np.asarray(target, dtype=np.float64)
    if weight <= 0 and outline <= 0:
        return dst.copy()
    src = aligned(source, dst)
    out = dst.copy()
    for group in (BROWS, NOSE):
        out[group] = dst[group] + weight * (src[group] - dst[group])
    for group, a, b in EYES:
        first = group.start
        shaped = _with_openness(src[group], dst[group], a - first, b - first)
        out[group] = dst[group] + weight * (shaped - dst[group])
    a, b = MOUTH_CORNERS
    shaped = _with_openness(src[OUTER_LIPS], dst[OUTER_LIPS], a - OUTER_LIPS.start, b - OUTER_LIPS.start)
    # A closed mouth moves to where the source has it; an open one stays put, because the target's own teeth
    # show through it and the lips must stay around them. In between it moves part way, so a mouth opening
    # and closing in a video glides instead of jumping.
    stay = min(1.0, mouth_gap(dst) / MOUTH_OPEN_RATIO)
    target_centre = (dst[a] + dst[b]) / 2
    offset = ((src[a] + src[b]) / 2 - target_centre) * (1.0 - stay)
    shaped += target_centre + offset - (shaped[0] + shaped[b - a]) / 2
    out[OUTER_LIPS] = dst[OUTER_LIPS] + weight * (shaped - dst[OUTER_LIPS])
    out[INNER_LIPS] = _inside(dst[INNER_LIPS] + weight * offset, out[OUTER_LIPS])
    if outline > 0:
        out[JAW] = dst[JAW] + outline * (_jaw_with_chin(src, dst) - dst[JAW])
    return out


def _inside(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """``inner`` (the inner lips) with each point that lies outside the ``outer`` lips, or closer than
    ``LIP_MARGIN`` of the mouth's width to their edge, moved towards the mouth's centre until it is inside.

    The outer lips take the source's shape while the inner lips stay near the target's: a source mouth narrower
    or thinner than the target's would leave inner points outside the outer contour, and the warp's triangles
    there fold over, dragging slivers of teeth and lips across the mouth corners.
    """
    contour = np.asarray(outer, dtype=np.float32).reshape(-1, 1, 2)
    centre = np.asarray(outer, dtype=np.float64).mean(axis=0)
    margin = LIP_MARGIN * float(np.linalg.norm(outer[6] - outer[0]))
    out = np.array(inner, dtype=np.float64)
    for index, point in enumerate(out):
        if cv2.pointPolygonTest(contour, (float(point[0]), float(point[1])), True) >= margin:
            continue
        low, high = 0.0, 1.0  # share of the way to the centre: 0 is where it is, 1 the centre (inside)
        for _ in range(12):
            middle = (low + high) / 2
            moved = point + middle * (centre - point)
            if cv2.pointPolygonTest(contour, (float(moved[0]), float(moved[1])), True) >= margin:
                high = middle
            else:
                low = middle
        out[index] = point + high * (centre - point)
    return out


def _jaw_with_chin(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The aligned source's jaw line, its chin lowered (or raised) by how much wider the target's mouth is
    open, along the face's down direction."""
    gap_t = _gap_px(dst)
    gap_s = _gap_px(src)
    _, _, down, _ = _frame(dst, 36, 45)
    if down @ (dst[8] - dst[27]) < 0:
        down = -down
    return src[JAW] + np.outer(_CHIN_SHARE * (gap_t - gap_s), down)


def _gap_px(points: np.ndarray) -> float:
    pts = np.asarray(points, dtype=np.float64)
    return float(np.mean([np.linalg.norm(pts[top] - pts[bottom]) for top, bottom in ((61, 67), (62, 66), (63, 65))]))


def mouth_gap(points: np.ndarray) -> float:
    """How far apart the inner lips are, relative to the mouth's width (0 for a closed mouth)."""
    pts = np.asarray(points, dtype=np.float64)
    width = float(np.linalg.norm(pts[MOUTH_CORNERS[1]] - pts[MOUTH_CORNERS[0]])) or 1.0
    return _gap_px(pts) / width


def eye_openness(points: np.ndarray) -> float:
    """How open the eyes are: mean eyelid gap relative to the eye's width (about 0.3 open, under 0.1 shut)."""
    pts = np.asarray(points, dtype=np.float64)
    values = []
    for group, a, b in EYES:
        eye = pts[group]
        width = float(np.linalg.norm(pts[b] - pts[a])) or 1.0
        # Upper lid points 1, 2 against lower lid points 5, 4 of the six eye points.
        values.append((np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])) / (2 * width))
    return float(np.mean(values))


def forehead(points: np.ndarray, fraction: float = FOREHEAD) -> np.ndarray:
    """Ten forehead points: the brows raised by ``fraction`` of the brow-to-chin height."""
    pts = np.asarray(points, dtype=np.float64)
    up = pts[BROWS].mean(axis=0) - pts[8]  # chin to brows
    return pts[BROWS] + fraction * up


def with_forehead(points: np.ndarray, fraction: float = FOREHEAD) -> np.ndarray:
    """The 68 points plus ten forehead points (see ``forehead``).

    The 68-point layout stops at the brows; without these the brow ridge above them stays the target's.
    """
    pts = np.asarray(points, dtype=np.float64)
    return np.vstack([pts, forehead(pts, fraction)])


def outline(points: np.ndarray, fraction: float = FOREHEAD, *, temples: float = 0.0) -> np.ndarray:
    """The face's outline as a closed polygon: the jaw from ear to ear, then the forehead back across.

    ``temples`` (0-1) pulls the outline's upper corners (the jaw's top three points on each side and the
    forehead's outer points) that far towards the nose: hair falls over the temples far more often than over
    the cheeks, so a mask there would carry the source's hair or cover the target's.
    """
    pts = np.asarray(points, dtype=np.float64)
    ring = np.vstack([pts[JAW], forehead(pts, fraction)[::-1]])
    if temples > 0:
        centre = pts[NOSE].mean(axis=0)
        pull = np.zeros(len(ring))
        pull[[0, 16, 17, 26]] = 1.0
        pull[[1, 15, 18, 25]] = 0.6
        pull[[2, 14]] = 0.25
        ring += (temples * pull)[:, None] * (centre - ring)
    return ring


@cache
def mesh_triangles() -> np.ndarray:
    """The mesh's triangles (indices into the 68 landmarks and ten forehead points), from ``FRONTAL``."""
    return triangulate(with_forehead(FRONTAL))


# Each of the 68 landmarks' counterpart on the other side of the face (the midline's points are their own),
# then the ten forehead points (raised brows) likewise.
MIRROR = (
    *range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, 35, 34, 33, 32, 31,
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65,
    *range(77, 67, -1),
)
