"""The target's head reshaped to the swapped face's outline: jaw, chin and forehead where the persona has them.

The face's outline is a strong part of a likeness, and the target's own jaw line around the persona's
features gives a stranger's face. The target picture is warped so that its outline points move to the
destination layout's, while a ring around the face stays fixed: cheeks, chin and the background just
outside them stretch or shrink, and nothing beyond the ring moves. The warp is a thin-plate spline through
those points: smooth everywhere (a mesh of triangles would bend every hair strand or edge crossing the band
into a zigzag), and computed on a coarse grid, interpolated up.
"""

from __future__ import annotations

import cv2
import numpy as np

from inference.engines.faceswap.warp import Region, region_around

RING_RADIUS = 0.85  # of the face's size, from its centre: the band between jaw and ring absorbs the change
RING_POINTS = 24
# A second, looser ring outside the first keeps the spline flat beyond it.
OUTER_RADIUS = 1.1
OUTER_POINTS = 16
MAP_STEP = 10  # the spline is evaluated every 10th pixel and interpolated (it is smooth)
# Inner landmarks held in place (nose, eye and mouth corners): what shows of the target inside the face (an
# open mouth, shut eyes) stays where the layout puts it.
PINNED = (30, 48, 51, 54, 57)
# Indices of the moving outline in the 78-point mesh: the jaw and the forehead.
OUTLINE = (*range(17), *range(68, 78))
# A warp that would squeeze or fold the picture (its local scale under this) is not made.
MIN_JACOBIAN = 0.2


def ring(points: np.ndarray, size: float, radius: float = RING_RADIUS, count: int = RING_POINTS) -> np.ndarray:
    """``count`` fixed points on a circle of ``radius`` face sizes around the face."""
    centre = np.asarray(points, dtype=np.float64).mean(axis=0)
    angles = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    return centre + radius * size * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _kernel(distance_sq: np.ndarray) -> np.ndarray:
    """The thin-plate kernel r² log r, written for squared distances (0 at 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(distance_sq > 0, 0.5 * distance_sq * np.log(np.maximum(distance_sq, 1e-12)), 0.0)


def spline(controls: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thin-plate spline weights (n, k) and affine part (3, k) interpolating ``values`` at ``controls``."""
    n = len(controls)
    difference = controls[:, None, :] - controls[None, :, :]
    k = _kernel(np.sum(difference * difference, axis=-1))
    p = np.hstack([np.ones((n, 1)), controls])
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = k + 1e-6 * np.eye(n)
    system[:n, n:] = p
    system[n:, :n] = p.T
    rhs = np.zeros((n + 3, values.shape[1]))
    rhs[:n] = values
    solved = np.linalg.lstsq(system, rhs, rcond=None)[0]
    return solved[:n], solved[n:]


def evaluate(controls: np.ndarray, weights: np.ndarray, affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The spline's values at ``points`` (m, 2), in single precision (plenty for pixel offsets)."""
    pts = points.astype(np.float32)
    ctl = controls.astype(np.float32)
    distance_sq = np.sum(pts * pts, axis=1)[:, None] + np.sum(ctl * ctl, axis=1)[None, :] - 2.0 * (pts @ ctl.T)
    k = _kernel(np.maximum(distance_sq, 0.0))
    return np.asarray(k @ weights.astype(np.float32) + affine[0] + pts @ affine[1:].astype(np.float32))


def reshape_maps(from_points: np.ndarray, to_points: np.ndarray, size: float,
                 shape: tuple[int, ...]) -> tuple[Region, np.ndarray, np.ndarray] | None:
    """The region the reshape touches and its remap tables, taking the picture's ``from_points`` to
    ``to_points`` (78-point meshes: only the outline moves, see ``OUTLINE``); None when nothing moves or the
    warp would fold the picture over."""
    src = np.asarray(from_points, dtype=np.float64)[list(OUTLINE)]
    dst_mesh = np.asarray(to_points, dtype=np.float64)
    dst = dst_mesh[list(OUTLINE)]
    if float(np.abs(src - dst).max()) < 0.25:
        return None
    middle = np.vstack([src, dst])
    fixed = np.vstack([dst_mesh[list(PINNED)], ring(middle, size), ring(middle, size, OUTER_RADIUS, OUTER_POINTS)])
    region = region_around(ring(middle, size), shape, margin=0.0)
    if region.empty:
        return None
    # Work in units of the face's size around its centre: the system is then equally well conditioned for
    # any photo size.
    centre = middle.mean(axis=0)
    controls = (np.vstack([dst, fixed]) - centre) / size
    offsets = (np.vstack([src - dst, np.zeros_like(fixed)])) / size
    weights, affine = spline(controls, offsets)
    step = MAP_STEP
    rows, cols = (region.height - 1) // step + 2, (region.width - 1) // step + 2
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float64) * step
    grid = np.stack([xs.ravel() + region.x, ys.ravel() + region.y], axis=1)
    moved = evaluate(controls, weights, affine, (grid - centre) / size) * size
    # Nothing moves beyond the ring: the spline is pinned on it, and faded out over the last stretch so that
    # between its points nothing leaks either.
    radius = np.linalg.norm(grid - centre, axis=1) / (RING_RADIUS * size)
    moved *= np.clip((1.0 - radius) / 0.15, 0.0, 1.0)[:, None]
    offset_x = moved[:, 0].reshape(rows, cols).astype(np.float32)
    offset_y = moved[:, 1].reshape(rows, cols).astype(np.float32)
    # A fold shows as the map's local scale dropping to zero or below.
    jacobian = (1 + np.diff(offset_x, axis=1)[:-1] / step) * (1 + np.diff(offset_y, axis=0)[:, :-1] / step) \
        - (np.diff(offset_x, axis=0)[:, :-1] / step) * (np.diff(offset_y, axis=1)[:-1] / step)
    if float(jacobian.min()) < MIN_JACOBIAN:
        return None
    scale = np.array([[1.0 / step, 0.0, 0.0], [0.0, 1.0 / step, 0.0]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    full = (region.width, region.height)
    columns = np.arange(region.x, region.x + region.width, dtype=np.float32)[None, :]
    rows_ = np.arange(region.y, region.y + region.height, dtype=np.float32)[:, None]
    map_x = np.asarray(cv2.warpAffine(offset_x, scale, full, flags=flags, borderMode=cv2.BORDER_REPLICATE)) + columns
    map_y = np.asarray(cv2.warpAffine(offset_y, scale, full, flags=flags, borderMode=cv2.BORDER_REPLICATE)) + rows_
    return region, map_x.astype(np.float32), map_y.astype(np.float32)
