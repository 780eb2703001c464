"""Upload intake: a ``CheckedImage`` (normalised RGB bytes), or ``InvalidUpload`` saying what to send instead.

Everything a user sends goes through here before any other code touches it. The order matters: size, then
type by content, then the pixel count read from the header, and only then decoding. A decompression bomb
(a small file declaring a huge canvas) is refused without allocating its pixels.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InvalidUpload
from core.settings import Settings

try:  # colour management is optional in Pillow builds; without it CMYK converts the naive way
    from PIL import ImageCms
except ImportError:  # pragma: no cover - depends on how Pillow was built
    ImageCms = None  # type: ignore[assignment]

MIN_SIDE = 64
JPEG_QUALITY = 95
# Formats decoded here; anything else Pillow might open (PSD, ICO, EPS ...) is refused as "not a photo".
ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
                    "BMP": "image/bmp", "TIFF": "image/tiff", "MPO": "image/jpeg"}
# Lossy sources stay JPEG (re-encoding them as PNG only makes them bigger); the rest become PNG.
_LOSSY = {"JPEG", "MPO", "WEBP"}
_SEND_INSTEAD = "send a JPEG, PNG or WebP photo"

# ISO base media (MP4/MOV/HEIC) brands that hold still images rather than video.
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif", b"avis"}


@dataclass(frozen=True)
class CheckedImage:
    """An accepted image: RGB, upright, first frame only, re-encoded (metadata such as GPS dropped)."""

    data: bytes
    width: int
    height: int
    mime: str
    notes: list[str] = field(default_factory=list)


def sniff_kind(data: bytes) -> str | None:
    """``"image"``, ``"video"`` or ``None``, judged by the file's magic bytes (never by its name)."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image"
    if head[:6] in (b"GIF87a", b"GIF89a") or head.startswith(b"BM"):
        return "image"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return "video"
    if head[4:8] == b"ftyp":
        return "image" if head[8:12] in _IMAGE_BRANDS else "video"
    return None


@dataclass(frozen=True)
class CheckedVideo:
    """An accepted video upload: its bytes as sent and its container's MIME type.

    Only size and container are checked here: front ends hold no decoder. The worker that uses the video
    reads its streams, length and picture size, and refuses it with a message when it cannot.
    """

    data: bytes
    mime: str


def video_mime(data: bytes) -> str:
    """The MIME type of a video container judged by its magic bytes (MP4 when unsure)."""
    head = data[:32]
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in data[:64] else "video/x-matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[4:8] == b"ftyp" and head[8:12] == b"qt  ":
        return "video/quicktime"
    return "video/mp4"


def check_video(data: bytes, *, filename: str, settings: Settings) -> CheckedVideo:
    """The upload as a ``CheckedVideo``; raises ``InvalidUpload`` naming ``filename`` when it is refused."""
    name = filename or "the file"
    limit = settings.max_upload_mb * 2**20
    if len(data) > limit:
        raise InvalidUpload(f"{name} is {len(data) / 2**20:.1f} MB, over the {settings.max_upload_mb} MB limit; "
                            "send a shorter or more compressed video.")
    kind = sniff_kind(data)
    if kind == "image":
        raise InvalidUpload(f"{name} is a photo, not a video; send an MP4 video.")
    if kind is None:
        raise InvalidUpload(f"{name} is not a video we recognise; send an MP4 video.")
    return CheckedVideo(data=data, mime=video_mime(data))


def check_image(data: bytes, *, filename: str, settings: Settings) -> CheckedImage:
    """The upload as a ``CheckedImage``; raises ``InvalidUpload`` naming ``filename`` when it is refused."""
    name = filename or "the file"
    limit = settings.max_upload_mb * 2**20
    if len(data) > limit:
        raise InvalidUpload(f"{name} is {len(data) / 2**20:.1f} MB, over the {settings.max_upload_mb} MB "
                            f"limit; send a smaller or more compressed photo.")
    kind = sniff_kind(data)
    if kind == "video":
        raise InvalidUpload(f"{name} is a video, not a photo; {_SEND_INSTEAD}.")
    if kind is None:
        raise InvalidUpload(f"{name} is not an image we recognise; {_SEND_INSTEAD}.")

    with warnings.catch_warnings():
        # Pillow warns about large canvases; our own pixel limit below is the one that decides.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            # Pillow refuses beyond twice its own limit while reading the header; it names the pixel count.
            found = re.search(r"\((\d+) pixels\)", str(exc))
            raise InvalidUpload(_too_many_pixels(name, int(found.group(1)) if found else None, settings)) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise InvalidUpload(f"{name} could not be read as an image (damaged or unsupported); "
                                f"{_SEND_INSTEAD}.") from None
        fmt = image.format or ""
        if fmt not in ACCEPTED_FORMATS:
            raise InvalidUpload(f"{name} is a {fmt or 'unknown'} file, which we do not take; "
                                f"{_SEND_INSTEAD}.")
        width, height = image.size
        # Checked from the header, before any pixel is decoded.
        if width * height > settings.max_image_pixels:
            raise InvalidUpload(_too_many_pixels(name, width * height, settings, size=(width, height)))
        if min(width, height) < MIN_SIDE:
            raise InvalidUpload(f"{name} is only {width}x{height} pixels; send a photo at least "
                                f"{MIN_SIDE} pixels on each side (a few hundred is better).")
        notes: list[str] = []
        frames = int(getattr(image, "n_frames", 1) or 1)
        if frames > 1:
            notes.append(f"{name} is animated ({frames} frames); only the first frame was kept.")
        try:
            image.seek(0)
            image.load()
        except (OSError, SyntaxError, ValueError):
            # Pillow refuses truncated data by default ("image file is truncated"): we never guess the rest.
            raise InvalidUpload(f"{name} is damaged or incomplete (the upload may have been cut off); "
                                f"send it again or {_SEND_INSTEAD}.") from None
        rgb = _to_rgb(_upright(image, name, notes), name, notes)

    out = io.BytesIO()
    if fmt in _LOSSY:
        rgb.save(out, format="JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=True)
        mime = "image/jpeg"
    else:
        rgb.save(out, format="PNG", optimize=False, compress_level=6)
        mime = "image/png"
    return CheckedImage(data=out.getvalue(), width=rgb.width, height=rgb.height, mime=mime, notes=notes)


def _too_many_pixels(name: str, pixels: int | None, settings: Settings, *,
                     size: tuple[int, int] | None = None) -> str:
    limit_mp = round(settings.max_image_pixels / 1e6, 1)
    dims = f"{size[0]}x{size[1]} = " if size else ""
    declared = f" ({dims}{round(pixels / 1e6, 1):g} megapixels)" if pixels else ""
    return (f"{name} is too large{declared}; the limit is {limit_mp:g} megapixels. "
            f"Send a resized photo (for example 4000 pixels on the long side).")


def _upright(image: Image.Image, name: str, notes: list[str]) -> Image.Image:
    orientation = image.getexif().get(0x0112, 1)
    if orientation in (None, 1):
        return image
    rotated = ImageOps.exif_transpose(image)
    notes.append(f"{name} was turned upright from its camera orientation (EXIF {orientation}).")
    return rotated if rotated is not None else image


def _to_rgb(image: Image.Image, name: str, notes: list[str]) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # Deep greyscale: Pillow's convert("L") clips at 255 instead of scaling, so scale by hand.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max() > 255 else 255.0
        grey = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        notes.append(f"{name} was a {mode} greyscale image; converted to 8-bit RGB.")
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode == "CMYK":
        notes.append(f"{name} was a CMYK (print) image; converted to RGB.")
        return _cmyk_to_rgb(image)
    if (mode == "P" and "transparency" in image.info) or mode in ("PA", "LA", "La", "RGBA", "RGBa"):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"))
        if alpha.min() < 255:
            notes.append(f"{name} has transparent areas; they were filled with white.")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    profile = image.info.get("icc_profile")
    if profile and ImageCms is not None:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"),
                                                  outputMode="RGB")
            if converted is not None:
                return converted
        except (OSError, ImageCms.PyCMSError):
            pass  # a broken embedded profile: the plain conversion below is still a usable picture
    return image.convert("RGB")
