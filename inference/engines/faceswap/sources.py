"""Persona photos made into swap sources: decoded upright, at a size that suits the face, landmarks to match.

Reference photos can be 12-megapixel camera files; a swap needs the face at a few hundred pixels. JPEGs are
decoded at a reduced scale straight away (libjpeg's DCT scaling, much faster than decoding in full and
shrinking), then shrunk further so the face is at most ``MAX_FACE_PX`` across; the stored landmarks (upright
photo coordinates, as persona analysis wrote them) are scaled with the picture.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from inference.engines.faceswap.contract import SourceFace

MAX_FACE_PX = 640  # a larger face brings no detail a target face can show, only decoding time


def load_source(data: bytes, points: np.ndarray, *, label: str = "", embedding: np.ndarray | None = None,
                max_face_px: int = MAX_FACE_PX) -> SourceFace:
    """A ``SourceFace`` from a photo's bytes and its landmarks in the upright photo's pixel coordinates."""
    pts = np.asarray(points, dtype=np.float64)
    face = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0)) if len(pts) > 2 else 0.0
    with Image.open(io.BytesIO(data)) as opened:
        full = _upright_size(opened)
        scale = min(1.0, max_face_px / face) if face > 0 else 1.0
        if scale < 1.0:
            opened.draft("RGB", (max(1, int(opened.width * scale)), max(1, int(opened.height * scale))))
        upright = ImageOps.exif_transpose(opened) or opened
        picture = upright.convert("RGB")
    wanted = (max(1, round(full[0] * scale)), max(1, round(full[1] * scale)))
    if picture.size != wanted:
        picture = picture.resize(wanted, Image.Resampling.LANCZOS if picture.width > wanted[0]
                                 else Image.Resampling.BICUBIC)
    factors = np.array([wanted[0] / full[0], wanted[1] / full[1]])
    return SourceFace(image=np.ascontiguousarray(np.asarray(picture)), points=pts * factors, embedding=embedding,
                      label=label)


def _upright_size(image: Image.Image) -> tuple[int, int]:
    """The size of ``image`` once its EXIF orientation is applied."""
    orientation = image.getexif().get(0x0112, 1)
    return (image.height, image.width) if orientation in (5, 6, 7, 8) else (image.width, image.height)
