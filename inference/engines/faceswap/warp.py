"""Piecewise-affine warping of one face onto another face's landmarks.

The source's landmarks are triangulated once (Delaunay); every triangle then maps affinely onto the same
triangle of the target's landmarks. The whole warp is one ``cv2.remap`` over the target's face region: each
target pixel looks up which triangle it lies in and where that point sits in the source. One resampling pass
(rather than one warp per triangle pasted together) leaves no cracks or doubled pixels along shared edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Sub-pixel precision of the triangle raster (cv2 drawing "shift" bits): vertices land within 1/16 px.
_SHIFT = 4


@dataclass(frozen=True)
class Region:
    """A rectangle of an image: left, top, width, height, always inside the image."""

    x: int
    y: int
    width: int
    height: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """Row and column slices selecting the region from an array."""
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)

    @property
    def empty(self) -> bool:
        """True when the region holds no pixels."""
        return self.width <= 0 or self.height <= 0


def region_around(points: np.ndarray, shape: tuple[int, ...], *, margin: float) -> Region:
    """The bounding box of ``points`` grown by ``margin`` × its larger side, clipped to an image of ``shape``."""
    pts = np.asarray(points, dtype=np.float64)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    pad = margin * max(x1 - x0, y1 - y0)
    height, width = shape[:2]
    left, top = max(0, int(np.floor(x0 - pad))), max(0, int(np.floor(y0 - pad)))
    right, bottom = min(width, int(np.ceil(x1 + pad)) + 1), min(height, int(np.ceil(y1 + pad)) + 1)
    return Region(left, top, right - left, bottom - top)


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles of ``points`` as an (M, 3) array of point indices.

    Computed on the source's landmarks once per source; the same index triples are then used on every target,
    so the two meshes correspond triangle by triangle.
    """
    pts = np.asarray(points, dtype=np.float64)
    x0, y0 = pts.min(axis=0) - 2
    x1, y1 = pts.max(axis=0) + 2
    subdiv = cv2.Subdiv2D((int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1 - x0)) + 1,
                           int(np.ceil(y1 - y0)) + 1))
    lookup: dict[tuple[float, float], int] = {}
    for index, (x, y) in enumerate(pts):
        key = (round(float(x), 3), round(float(y), 3))
        lookup.setdefault(key, index)
        subdiv.insert((float(x), float(y)))
    triangles = []
    for tri in subdiv.getTriangleList():
        corners = [(round(float(tri[i]), 3), round(float(tri[i + 1]), 3)) for i in (0, 2, 4)]
        if all(corner in lookup for corner in corners):
            triple = tuple(lookup[corner] for corner in corners)
            if len(set(triple)) == 3:
                triangles.append(triple)
    if not triangles:
        raise ValueError("landmarks must span an area: they are all on one line")
    return np.array(sorted(set(triangles)), dtype=np.int32)


def triangle_index_map(points: np.ndarray, triangles: np.ndarray, region: Region) -> np.ndarray:
    """An int32 image of ``region`` holding, per pixel, 1 + the index of the triangle covering it (0: none)."""
    raster = np.zeros((region.height, region.width), dtype=np.int32)
    local = (np.asarray(points, dtype=np.float64) - (region.x, region.y)) * (1 << _SHIFT)
    for index, triple in enumerate(triangles):
        corners = np.round(local[triple]).astype(np.int32)
        cv2.fillConvexPoly(raster, corners, index + 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return raster


def _affines(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """For each triangle, the 2x3 affine taking a destination point to its source point (inverse map)."""
    matrices = np.zeros((len(triangles) + 1, 2, 3), dtype=np.float64)
    for index, triple in enumerate(triangles):
        d = dst[triple]
        s = src[triple]
        if abs(np.cross(d[1] - d[0], d[2] - d[0])) < 1e-6:
            continue  # a collapsed target triangle covers no pixel
        matrices[index + 1] = cv2.getAffineTransform(d.astype(np.float32), s.astype(np.float32))
    return matrices


def warp_mesh(source: np.ndarray, src_points: np.ndarray, dst_points: np.ndarray, triangles: np.ndarray,
              region: Region) -> tuple[np.ndarray, np.ndarray]:
    """``source`` warped so its ``src_points`` land on ``dst_points``, over the target ``region`` only.

    Returns the warped pixels (region-sized, same channels as ``source``) and a uint8 mask of the pixels the
    mesh covers (255) — the convex hull of ``dst_points``.
    """
    dst = np.asarray(dst_points, dtype=np.float64)
    src = np.asarray(src_points, dtype=np.float64)
    index = triangle_index_map(dst, triangles, region)
    matrices = _affines(src, dst, triangles)
    ys, xs = np.mgrid[region.y:region.y + region.height, region.x:region.x + region.width].astype(np.float32)
    chosen = matrices[index].astype(np.float32)  # (h, w, 2, 3)
    map_x = chosen[..., 0, 0] * xs + chosen[..., 0, 1] * ys + chosen[..., 0, 2]
    map_y = chosen[..., 1, 0] * xs + chosen[..., 1, 1] * ys + chosen[..., 1, 2]
    covered = index > 0
    map_x[~covered] = -1.0
    map_y[~covered] = -1.0
    warped = cv2.remap(source, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return warped, covered.astype(np.uint8) * 255
