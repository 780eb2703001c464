"""Real face photos that ship inside installed packages, and augmentations of them (no network needed).

- ``tom()``: Tom Hanks (insightface's ``Tom_Hanks_54745.png``, a 112 px crop, upscaled here to 448 px).
- ``astronaut()``: Eileen Collins (``skimage.data.astronaut``), cropped around her face.
- ``group()``: insightface's ``t1.jpg``, six people; ``group_faces()`` crops each of them.
- ``astronaut_photo()``: the whole astronaut picture (512 px, her face about 90 px, badges on her suit).
- ``no_face()``: a cup of coffee (``skimage.data.coffee``).
"""

from __future__ import annotations

import importlib.util
import io
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

# Augmentations that keep one person recognisable but make a different picture (not a near-duplicate).
AUGMENTATIONS = ("flip", "crop", "brighter", "darker", "rotate_left", "rotate_right", "contrast", "zoom_out")
# The wider set the calibration floor is measured on: every way a new photo of one person commonly differs
# that can be made from one picture (pose in the image plane, framing, light and colour, compression, size).
CALIBRATION_AUGMENTATIONS = (*AUGMENTATIONS, "jpeg", "rotate_3", "rotate_10", "crop_tight", "warm", "cool",
                             "desaturate", "side_light", "jpeg_low", "small", "flip_rotate_jpeg")
# Boxes (x0, y0, x1, y1) of the six faces in t1.jpg, from the dlib detector, widened when cropping.
GROUP_BOXES = ((452, 300, 577, 424), (65, 284, 169, 388), (734, 365, 837, 469), (1114, 284, 1217, 388),
               (883, 89, 987, 192), (275, 179, 362, 266))


def images_dir() -> Path:
    """insightface's bundled sample images (found without importing insightface)."""
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.submodule_search_locations, "insightface is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "images"


@cache
def _tom() -> Image.Image:
    return Image.open(images_dir() / "Tom_Hanks_54745.png").convert("RGB").resize((448, 448), Image.Resampling.BICUBIC)


def tom() -> Image.Image:
    """Tom Hanks, 448x448, one face of about 310 px."""
    return _tom().copy()


@cache
def _astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).crop((110, 10, 330, 230)).resize((440, 440), Image.Resampling.BICUBIC)


def astronaut() -> Image.Image:
    """Eileen Collins, 440x440, one face of about 185 px."""
    return _astronaut().copy()


@cache
def _group() -> Image.Image:
    return Image.open(images_dir() / "t1.jpg").convert("RGB")


def group() -> Image.Image:
    """Six people side by side, 1280x886."""
    return _group().copy()


def group_faces() -> list[Image.Image]:
    """Each of the six people in ``group()`` on a photo of their own (face widened and upscaled 2.5x)."""
    image = _group()
    crops = []
    for x0, y0, x1, y1 in GROUP_BOXES:
        pad = (x1 - x0) // 2
        box = (max(0, x0 - pad), max(0, y0 - pad), min(image.width, x1 + pad), min(image.height, y1 + pad))
        crop = image.crop(box)
        crops.append(crop.resize((crop.width * 5 // 2, crop.height * 5 // 2), Image.Resampling.BICUBIC))
    return crops


def astronaut_photo() -> Image.Image:
    """The whole astronaut picture, 512x512: one face of about 90 px, a flag, a helmet and badges on her suit."""
    from skimage import data

    return Image.fromarray(data.astronaut())


def turned(image: Image.Image, degrees: float, *, scale: float = 1.0) -> Image.Image:
    """``image`` scaled by ``scale`` and turned ``degrees`` counter-clockwise, as a phone photo held askew."""
    if scale != 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))


def group_crop(index: int, *, pad: float = 0.5) -> Image.Image:
    """Person ``index`` of ``group()`` at the photo's own size, with ``pad`` face widths around the face."""
    image = _group()
    x0, y0, x1, y1 = GROUP_BOXES[index]
    margin = round((x1 - x0) * pad)
    return image.crop((max(0, x0 - margin), max(0, y0 - margin), min(image.width, x1 + margin),
                       min(image.height, y1 + margin)))


def no_face() -> Image.Image:
    """A photo without any face (a coffee cup)."""
    from skimage import data

    return Image.fromarray(data.coffee())


def augment(image: Image.Image, kind: str) -> Image.Image:
    """``image`` changed the way a different snapshot of the same person would differ."""
    w, h = image.size
    if kind == "flip":
        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if kind == "crop":
        return image.crop((w // 10, h // 12, w - w // 20, h)).resize((w, h), Image.Resampling.BICUBIC)
    if kind == "brighter":
        return ImageEnhance.Brightness(image).enhance(1.3)
    if kind == "darker":
        return ImageEnhance.Brightness(image).enhance(0.7)
    if kind == "rotate_left":
        return image.rotate(6, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))
    if kind == "rotate_right":
        return image.rotate(-8, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))
    if kind == "contrast":
        return ImageEnhance.Contrast(image).enhance(1.4)
    if kind == "zoom_out":
        canvas = Image.new("RGB", (w * 5 // 4, h * 5 // 4), (200, 200, 205))
        canvas.paste(image, (w // 8, h // 8))
        return canvas
    if kind == "rotate_3":
        return image.rotate(3, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))
    if kind == "rotate_10":
        return image.rotate(-10, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))
    if kind == "crop_tight":
        return image.crop((w // 6, h // 8, w - w // 8, h - h // 10)).resize((w, h), Image.Resampling.BICUBIC)
    if kind in ("warm", "cool"):
        gains = (1.12, 1.0, 0.85) if kind == "warm" else (0.87, 0.98, 1.15)
        bands = [band.point(lambda v, g=g: min(255, round(v * g))) for band, g in zip(image.split(), gains,
                                                                                        strict=True)]
        return Image.merge("RGB", bands)
    if kind == "desaturate":
        return ImageEnhance.Color(image).enhance(0.35)
    if kind == "side_light":
        ramp = np.linspace(1.25, 0.6, w)[None, :, None]
        return Image.fromarray(np.clip(np.asarray(image, dtype=np.float64) * ramp, 0, 255).astype(np.uint8))
    if kind == "jpeg_low":
        return Image.open(io.BytesIO(jpeg_bytes(image, quality=35))).convert("RGB")
    if kind == "small":
        # A thumbnail-sized copy brought back to size: the detail a small or distant face keeps.
        small = image.resize((max(1, w * 2 // 5), max(1, h * 2 // 5)), Image.Resampling.BILINEAR)
        return small.resize((w, h), Image.Resampling.BICUBIC)
    if kind == "flip_rotate_jpeg":
        return augment(augment(augment(image, "flip"), "rotate_3"), "jpeg_low")
    if kind == "blur":
        return image.filter(ImageFilter.GaussianBlur(6))
    if kind == "jpeg":
        return Image.open(io.BytesIO(jpeg_bytes(image, quality=85))).convert("RGB")
    raise ValueError(f"unknown augmentation {kind!r}")


def jpeg_bytes(image: Image.Image, *, quality: int = 92) -> bytes:
    """``image`` encoded as JPEG."""
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    """``image`` encoded as PNG."""
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def rgb(image: Image.Image) -> np.ndarray:
    """The contiguous RGB array engines take."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB")))
