"""The target's head reshaped to the swapped face's outline: jaw, chin and forehead where the persona has them.

The face's outline is a strong part of a likeness, and the target's own jaw line around the persona's
features gives a stranger's face. The target picture is warped through a mesh whose inner points move from
the target's landmarks to the destination layout, while a ring around the face stays fixed: cheeks, chin and
the background just outside them stretch or shrink smoothly, and nothing beyond the ring moves.
"""

from __future__ import annotations

import numpy as np

from inference.engines.faceswap.warp import Region, mesh_maps, region_around, triangulate

RING_RADIUS = 0.85  # of the face's size, from its centre: the band between jaw and ring absorbs the change
RING_POINTS = 24
MAP_STEP = 4  # the warp's lookup is computed every 4th pixel and interpolated (it is piecewise linear)


def ring(points: np.ndarray, size: float) -> np.ndarray:
    """``RING_POINTS`` fixed points on a circle around the face."""
    centre = np.asarray(points, dtype=np.float64).mean(axis=0)
    angles = np.linspace(0.0, 2.0 * np.pi, RING_POINTS, endpoint=False)
    return centre + RING_RADIUS * size * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (points[triangles[:, i]] for i in range(3))
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def reshape_maps(from_points: np.ndarray, to_points: np.ndarray, size: float,
                 shape: tuple[int, ...]) -> tuple[Region, np.ndarray, np.ndarray] | None:
    """The region the reshape touches and its remap tables, taking the picture's ``from_points`` to
    ``to_points``; None when nothing moves or the mesh would fold (a triangle turned over)."""
    src = np.asarray(from_points, dtype=np.float64)
    dst = np.asarray(to_points, dtype=np.float64)
    if float(np.abs(src - dst).max()) < 0.25:
        return None
    fixed = ring(np.vstack([src, dst]), size)
    src_mesh, dst_mesh = np.vstack([src, fixed]), np.vstack([dst, fixed])
    triangles = triangulate(dst_mesh)
    before, after = _signed_areas(src_mesh, triangles), _signed_areas(dst_mesh, triangles)
    if np.any(before * after <= 0):
        return None
    region = region_around(fixed, shape, margin=0.0)
    if region.empty:
        return None
    map_x, map_y = mesh_maps(src_mesh, dst_mesh, triangles, region, step=MAP_STEP, outside="identity")
    return region, map_x, map_y
