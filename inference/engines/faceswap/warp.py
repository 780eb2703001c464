"""Piecewise-affine warping of one face onto another face's landmarks.

The source's landmarks are triangulated once (Delaunay); every triangle then maps affinely onto the same
triangle of the target's landmarks. The whole warp is one ``cv2.remap`` over the target's face region: each
target pixel looks up which triangle it lies in and where that point sits in the source. One resampling pass
(rather than one warp per triangle pasted together) leaves no cracks or doubled pixels along shared edges.

A piecewise-affine map is continuous, so it can be computed on a coarser grid and interpolated back up
(``step``): the lookup then costs what a face a quarter the size costs, and the picture is still resampled
once at full resolution. Pixels just outside the mesh take the nearest triangle's map, so the interpolation
never mixes in undefined values at the mesh's edge.
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

    @property
    def offset(self) -> np.ndarray:
        """The region's top-left corner as an (x, y) float vector (image → region coordinates)."""
        return np.array([self.x, self.y], dtype=np.float64)


def region_around(points: np.ndarray, shape: tuple[int, ...], *, margin: float) -> Region:
    """The bounding box of ``points`` grown by ``margin`` × its larger side, clipped to an image of ``shape``."""
    pts = np.asarray(points, dtype=np.float64)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    pad = margin * max(x1 - x0, y1 - y0)
    height, width = shape[:2]
    left, top = max(0, int(np.floor(x0 - pad))), max(0, int(np.floor(y0 - pad)))
    right, bottom = min(width, int(np.ceil(x1 + pad)) + 1), min(height, int(np.ceil(y1 + pad)) + 1)
    return Region(left, top, max(0, right - left), max(0, bottom - top))


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles of ``points`` as an (M, 3) array of point indices.

    Computed on one face's points; the same index triples are then used on the other face, so the two meshes
    correspond triangle by triangle.
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


def triangle_index_map(points: np.ndarray, triangles: np.ndarray, height: int, width: int,
                       scale: float = 1.0) -> np.ndarray:
    """An int32 (height, width) raster holding, per pixel, 1 + the index of the triangle covering it (0: none).

    ``points`` are in the raster's pixel units divided by ``scale`` (a coarse raster has ``scale`` < 1).
    """
    raster = np.zeros((height, width), dtype=np.int32)
    local = np.round(np.asarray(points, dtype=np.float64) * scale * (1 << _SHIFT)).astype(np.int32)
    for index, triple in enumerate(triangles):
        cv2.fillConvexPoly(raster, local[triple], index + 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return raster


def affines(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """For each triangle, the 2x3 affine taking a destination point to its source point (inverse map).

    Row 0 is a zero matrix (for pixels no triangle covers); a collapsed destination triangle gets zeros too.
    """
    d = np.asarray(dst, dtype=np.float64)[triangles]  # (M, 3, 2)
    s = np.asarray(src, dtype=np.float64)[triangles]
    ones = np.ones((len(triangles), 3, 1))
    a = np.concatenate([d, ones], axis=2)  # rows (x, y, 1) of the destination corners
    det = np.linalg.det(a)
    good = np.abs(det) > 1e-6
    matrices = np.zeros((len(triangles) + 1, 2, 3), dtype=np.float64)
    if good.any():
        # a @ m.T = s for each triangle: the 3x2 solution transposed is the 2x3 affine.
        solved = np.linalg.solve(a[good], s[good])
        matrices[1:][good] = solved.transpose(0, 2, 1)
    return matrices


def _fill_outside(index: np.ndarray) -> np.ndarray:
    """``index`` with uncovered pixels given their nearest covered pixel's triangle."""
    if index.all() or not index.any():
        return index
    _, labels = cv2.distanceTransformWithLabels((index == 0).astype(np.uint8), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    covered = index > 0
    lookup = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    lookup[labels[covered]] = index[covered]
    return lookup[labels]


def mesh_maps(src_points: np.ndarray, dst_points: np.ndarray, triangles: np.ndarray, region: Region, *,
              step: int = 1, outside: str = "nearest") -> tuple[np.ndarray, np.ndarray]:
    """The remap tables (float32 map_x, map_y over ``region``) taking each destination pixel to the source.

    Computed every ``step`` pixels and interpolated in between. ``outside``: what pixels beyond the mesh get:
    ``"nearest"`` (the nearest triangle's affine, extrapolated) or ``"identity"`` (themselves: nothing moves
    there; for warps whose mesh border stays put).
    """
    src = np.asarray(src_points, dtype=np.float64)
    dst = np.asarray(dst_points, dtype=np.float64) - region.offset
    step = max(1, int(step))
    coarse_h, coarse_w = (region.height - 1) // step + 2, (region.width - 1) // step + 2
    if step == 1:
        coarse_h, coarse_w = region.height, region.width
    index = triangle_index_map(dst, triangles, coarse_h, coarse_w, scale=1.0 / step)
    matrices = affines(src, dst + region.offset, triangles).astype(np.float32)
    ys, xs = np.mgrid[0:coarse_h, 0:coarse_w].astype(np.float32) * step
    xs += region.x
    ys += region.y
    if outside == "nearest":
        index = _fill_outside(index)
    chosen = matrices[index]  # (h, w, 2, 3)
    map_x = chosen[..., 0, 0] * xs + chosen[..., 0, 1] * ys + chosen[..., 0, 2]
    map_y = chosen[..., 1, 0] * xs + chosen[..., 1, 1] * ys + chosen[..., 1, 2]
    if outside == "identity" or not index.any():
        uncovered = index == 0
        map_x[uncovered] = xs[uncovered]
        map_y[uncovered] = ys[uncovered]
    if step > 1:
        # Coarse sample (i, j) is full-resolution pixel (j * step, i * step): an inverse affine of 1/step reads
        # each full-resolution pixel's value off the coarse grid by bilinear interpolation.
        grid = np.array([[1.0 / step, 0.0, 0.0], [0.0, 1.0 / step, 0.0]], dtype=np.float64)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        size = (region.width, region.height)
        map_x = cv2.warpAffine(map_x, grid, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        map_y = cv2.warpAffine(map_y, grid, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return map_x, map_y


def covered_mask(dst_points: np.ndarray, triangles: np.ndarray, region: Region) -> np.ndarray:
    """A uint8 mask (255 inside) of the region's pixels the destination mesh covers."""
    index = triangle_index_map(np.asarray(dst_points, dtype=np.float64) - region.offset, triangles,
                               region.height, region.width)
    return (index > 0).astype(np.uint8) * 255


def warp_mesh(source: np.ndarray, src_points: np.ndarray, dst_points: np.ndarray, triangles: np.ndarray,
              region: Region, *, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``source`` warped so its ``src_points`` land on ``dst_points``, over the target ``region`` only.

    Returns the warped pixels (region-sized, same channels as ``source``) and a uint8 mask of the pixels the
    mesh covers (255) — the convex hull of ``dst_points``.
    """
    map_x, map_y = mesh_maps(src_points, dst_points, triangles, region, step=step)
    warped = cv2.remap(source, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return warped, covered_mask(dst_points, triangles, region)
