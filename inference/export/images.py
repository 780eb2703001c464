"""Images for a preset: fit (crop or blurred pad), scale, sRGB, watermark, JPEG with the AI label (where the
asset is AI-made); nothing else kept.

The source's own metadata (EXIF with camera and location, text chunks with prompts) is left out of exports:
only the sRGB profile and the XMP label are written. The watermark goes into the finished frame, at the
preset's exact size, so no later step of ours scales it away; the caller signs the JPEG afterwards.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageCms, ImageEnhance, ImageFilter, ImageOps

from core.platforms import ImageFormat, Preset
from inference.export.fit import Box, FitPlan, detail_map, plan_fit
from inference.export.label import xmp_packet

DETAIL_SIDE = 256  # the detail map is computed on a copy this big: placement needs no more
BACKGROUND_SCALE = 8  # the padded background is blurred at 1/8 of the frame, then enlarged: same look, cheaper
BACKGROUND_BLUR = 6.0
BACKGROUND_DIM = 0.8
QUALITY_STEP = 5
SIGNATURE_ROOM = 64 * 1024  # bytes kept free under the size cap for the Content Credentials added afterwards
# Marks a finished frame; it may change the frame it is given (``render_image`` hands it a frame of its own).
Watermark = Callable[[Image.Image], Image.Image]


@dataclass(frozen=True)
class RenderedImage:
    """A finished JPEG for one preset, and how it was made."""

    data: bytes
    width: int
    height: int
    plan: FitPlan
    quality: int


@cache
def srgb_profile() -> bytes:
    """An sRGB ICC profile to embed, so every viewer shows the colours the same."""
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def to_srgb(image: Image.Image) -> Image.Image:
    """``image`` upright, as RGB in sRGB: its embedded colour profile converted, transparency put on white."""
    upright = ImageOps.exif_transpose(image) or image
    icc = upright.info.get("icc_profile")
    if icc and upright.mode in ("RGB", "CMYK", "L"):
        # Converted in the profile's own colour space (a CMYK print file, a wide-gamut RGB photo).
        try:
            converted = ImageCms.profileToProfile(upright, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                                  ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")),
                                                  outputMode="RGB")
            if converted is not None:
                upright = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unreadable profile: the pixels are taken as sRGB already, as browsers do
    if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
        rgba = upright.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        upright = flat
    elif upright.mode != "RGB":
        upright = upright.convert("RGB")
    upright.info.pop("icc_profile", None)
    return upright


def detail_of(image: Image.Image) -> np.ndarray:
    """The detail map of ``image`` (see ``fit.detail_map``), from a small greyscale copy."""
    small = image.convert("L")
    small.thumbnail((DETAIL_SIDE, DETAIL_SIDE), Image.Resampling.BILINEAR)
    return detail_map(np.asarray(small))


def plan_for(image: Image.Image, preset: Preset, faces: Sequence[Box]) -> FitPlan:
    """How ``image`` fits ``preset``'s frame (faces in the image's pixels)."""
    return plan_fit(image.size, (preset.width, preset.height), faces=faces, detail=detail_of(image))


def compose(image: Image.Image, plan: FitPlan) -> Image.Image:
    """The frame ``plan`` describes, as an RGB image of the target size."""
    x, y, w, h = plan.region
    region = image if (x, y, w, h) == (0, 0, image.width, image.height) else image.crop((x, y, x + w, y + h))
    px, py, pw, ph = plan.placed
    picture = region if region.size == (pw, ph) else region.resize((pw, ph), Image.Resampling.LANCZOS)
    if plan.mode == "crop":
        return picture
    frame = _background(image, plan.target)
    frame.paste(picture, (px, py))
    return frame


def _background(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """The picture itself, scaled to cover the frame, blurred and dimmed: the fill around a padded picture."""
    small_size = (max(1, target[0] // BACKGROUND_SCALE), max(1, target[1] // BACKGROUND_SCALE))
    small = ImageOps.fit(image, small_size, Image.Resampling.BILINEAR)
    small = small.filter(ImageFilter.GaussianBlur(BACKGROUND_BLUR))
    small = ImageEnhance.Brightness(small).enhance(BACKGROUND_DIM)
    return small.resize(target, Image.Resampling.BICUBIC)


def encode_jpeg(frame: Image.Image, fmt: ImageFormat, *, source_type: str | None) -> tuple[bytes, int]:
    """Baseline JPEG bytes with the sRGB profile and the XMP label (none for an upload), at the best quality
    under the size limit (less room for the signature that follows)."""
    quality = fmt.quality
    limit = fmt.max_bytes - SIGNATURE_ROOM
    while True:
        buffer = io.BytesIO()
        frame.save(buffer, format="JPEG", quality=quality, optimize=True, icc_profile=srgb_profile(),
                   xmp=xmp_packet(source_type))
        data = buffer.getvalue()
        if len(data) <= limit or quality - QUALITY_STEP < fmt.min_quality:
            return data, quality
        quality -= QUALITY_STEP


def render_image(image: Image.Image, preset: Preset, fmt: ImageFormat, *, source_type: str | None,
                 faces: Sequence[Box] = (), watermark: Watermark | None = None) -> RenderedImage:
    """``image`` made for ``preset``: fitted, scaled to its exact size, watermarked, encoded and labelled.

    ``source_type`` is the IPTC code for the asset's origin (None: a user's upload, no label); ``watermark``
    marks the finished frame.
    """
    source = to_srgb(image)
    plan = plan_for(source, preset, faces)
    frame = compose(source, plan)
    if watermark is not None:
        # A source already at the preset's size is the frame itself: the watermark gets a copy to change.
        frame = watermark(frame.copy() if frame is source else frame)
    data, quality = encode_jpeg(frame, fmt, source_type=source_type)
    return RenderedImage(data=data, width=frame.width, height=frame.height, plan=plan, quality=quality)
