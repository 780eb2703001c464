"""Where the swapped face's features go: the persona's proportions with the target's pose and expression.

A plain landmark swap warps the source face exactly onto the target's landmarks, so the result keeps the
target's eye spacing, nose length and mouth shape: much of what makes a face recognisable stays the
target's. Here the destination landmarks are first moved towards the source's own layout (aligned onto the
target by a similarity transform), feature by feature, while what is expression stays the target's:

- the jaw line stays the target's (it has to meet the target's neck and hair);
- brows and nose take the source's shape and place;
- each eye takes the source's shape and place but the target's openness (a blink stays a blink);
- the outer lips take the source's shape at the target's mouth height (a smile or an open mouth stays);
  the inner lips, the opening itself, stay where the target's teeth are.

How far the layout moves falls off with the difference in head turn between the two faces: a frontal layout
placed on a face seen from the side lands features where the face is not.
"""

from __future__ import annotations

import numpy as np

from inference.engines.faces.geometry import estimate_pose, five_from_68, similarity_transform

BROWS = slice(17, 27)
NOSE = slice(27, 36)
EYES = ((slice(36, 42), 36, 39), (slice(42, 48), 42, 45))  # each eye and its two corners
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)
MOUTH_CORNERS = (48, 54)
# The mouth counts as open when the inner lips are apart by this fraction of the mouth's width: the target's
# teeth then show and stay the target's.
MOUTH_OPEN_RATIO = 0.12
# Beyond this difference in yaw (degrees) the target keeps its own layout entirely.
YAW_FALLOFF = 40.0
# Forehead points are the brows raised by this fraction of the brow-to-chin height: enough to carry the
# source's brow ridge and lower forehead, short of most hairlines.
FOREHEAD = 0.08


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


def layout_weight(source: np.ndarray, target: np.ndarray, strength: float = 1.0) -> float:
    """How far (0-1) the target's layout moves towards the source's: ``strength``, less for a turned head."""
    yaw_s = estimate_pose(five_from_68(source)).yaw
    yaw_t = estimate_pose(five_from_68(target)).yaw
    return strength * max(0.0, 1.0 - abs(yaw_s - yaw_t) / YAW_FALLOFF)


def transfer_layout(source: np.ndarray, target: np.ndarray, weight: float) -> np.ndarray:
    """The 68 destination points for warping ``source``'s face onto ``target``'s (both 68-point layouts).

    ``weight`` 0 gives the target's own landmarks (a plain swap), 1 the source's layout with the target's
    expression; see the module notes for what each feature takes from which face.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    if weight <= 0:
        return dst.copy()
    matrix = similarity_transform(src, dst)
    aligned = src @ matrix[:, :2].T + matrix[:, 2]
    out = dst.copy()
    for group in (BROWS, NOSE):
        out[group] = dst[group] + weight * (aligned[group] - dst[group])
    for group, a, b in EYES:
        first = group.start
        shaped = _with_openness(aligned[group], dst[group], a - first, b - first)
        out[group] = dst[group] + weight * (shaped - dst[group])
    a, b = MOUTH_CORNERS
    shaped = _with_openness(aligned[OUTER_LIPS], dst[OUTER_LIPS], a - OUTER_LIPS.start, b - OUTER_LIPS.start)
    # A closed mouth moves to where the source has it; an open one stays put, because the target's own teeth
    # show through it and the lips must stay around them. In between it moves part way, so a mouth opening
    # and closing in a video glides instead of jumping.
    stay = min(1.0, mouth_gap(dst) / MOUTH_OPEN_RATIO)
    target_centre = (dst[a] + dst[b]) / 2
    offset = ((aligned[a] + aligned[b]) / 2 - target_centre) * (1.0 - stay)
    shaped += target_centre + offset - (shaped[0] + shaped[b - a]) / 2
    out[OUTER_LIPS] = dst[OUTER_LIPS] + weight * (shaped - dst[OUTER_LIPS])
    out[INNER_LIPS] = dst[INNER_LIPS] + weight * offset
    return out


def mouth_gap(points: np.ndarray) -> float:
    """How far apart the inner lips are, relative to the mouth's width (0 for a closed mouth)."""
    pts = np.asarray(points, dtype=np.float64)
    # Inner lip pairs (61, 67), (62, 66), (63, 65): top and bottom of the opening.
    gap = float(np.mean([np.linalg.norm(pts[top] - pts[bottom]) for top, bottom in ((61, 67), (62, 66), (63, 65))]))
    width = float(np.linalg.norm(pts[MOUTH_CORNERS[1]] - pts[MOUTH_CORNERS[0]])) or 1.0
    return gap / width


def with_forehead(points: np.ndarray, fraction: float = FOREHEAD) -> np.ndarray:
    """The 68 points plus ten forehead points: the brows raised by ``fraction`` of the brow-to-chin height.

    The 68-point layout stops at the brows; without these the brow ridge above them stays the target's.
    """
    pts = np.asarray(points, dtype=np.float64)
    up = pts[BROWS].mean(axis=0) - pts[8]  # chin to brows
    return np.vstack([pts, pts[BROWS] + fraction * up])
