"""Platform presets for exports, as data: the sizes, file formats and caption rules each platform wants.

Names are the canonical ones the grammar accepts (``core.prompts.PLATFORMS``, same order). Figures follow each
platform's published upload guidance; where a platform states no hard limit (TikTok and Facebook hashtags) the
limit here is a house one, so captions stay readable. Every file of one preset has exactly its size: images are
cropped or padded to the aspect, then scaled (``inference/export/fit.py`` decides which).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

# IPTC's digital source type for media made by a trained model; platforms read it to mark posts as AI-made.
AI_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
AI_LABEL_TEXT = "AI-generated (IPTC digital source type: trainedAlgorithmicMedia)"

IMAGE = "image"
VIDEO = "video"
BOTH = frozenset({IMAGE, VIDEO})
IMAGES_ONLY = frozenset({IMAGE})


@dataclass(frozen=True)
class Preset:
    """One target format of a platform, e.g. Instagram's 4:5 feed post. ``kinds`` says what it is made for."""

    name: str
    label: str
    width: int
    height: int
    kinds: frozenset[str] = BOTH
    max_seconds: float | None = None  # tighter than the platform's video limit (stories), None = the platform's

    @property
    def aspect(self) -> str:
        """The aspect ratio in lowest terms, e.g. ``"4:5"``."""
        ratio = Fraction(self.width, self.height)
        return f"{ratio.numerator}:{ratio.denominator}"

    @property
    def folder(self) -> str:
        """The folder this preset's files get in a package, e.g. ``feed-1080x1350``."""
        return f"{self.name}-{self.width}x{self.height}"


@dataclass(frozen=True)
class ImageFormat:
    """How images are written: baseline JPEG in sRGB at ``quality``, lowered step by step above ``max_bytes``."""

    quality: int = 90
    min_quality: int = 70
    max_bytes: int = 8 * 2**20


@dataclass(frozen=True)
class VideoFormat:
    """How videos are written: H.264 High (yuv420p) + AAC in MP4 with the index up front (``+faststart``)."""

    fps: int = 30
    max_seconds: float = 90.0
    max_kbps: int = 5000  # the encoder's rate cap; quality is constant (CRF) below it
    crf: int = 20
    audio_kbps: int = 128


@dataclass(frozen=True)
class Platform:
    """Everything an export for one platform needs: presets, file formats and caption rules."""

    name: str
    title: str
    presets: tuple[Preset, ...]
    image: ImageFormat
    video: VideoFormat
    caption_limit: int  # characters of the whole post text, hashtags included
    hashtag_limit: int

    def presets_for(self, kind: str) -> tuple[Preset, ...]:
        """The presets a file of ``kind`` ("image" or "video") is made in."""
        return tuple(p for p in self.presets if kind in p.kinds)

    def max_seconds(self, preset: Preset) -> float:
        """The longest video ``preset`` takes."""
        return min(self.video.max_seconds, preset.max_seconds or self.video.max_seconds)


FEED_4X5 = Preset("feed", "feed post 4:5", 1080, 1350)
SQUARE = Preset("square", "square post 1:1", 1080, 1080, kinds=IMAGES_ONLY)
VERTICAL = (1080, 1920)

PRESETS: dict[str, Platform] = {platform.name: platform for platform in (
    Platform(
        name="instagram",
        title="Instagram",
        presets=(FEED_4X5, SQUARE, Preset("story", "story / reel 9:16", *VERTICAL, max_seconds=60.0)),
        image=ImageFormat(max_bytes=8 * 2**20),
        video=VideoFormat(max_seconds=90.0, max_kbps=5000),
        caption_limit=2200,
        hashtag_limit=30,
    ),
    Platform(
        name="tiktok",
        title="TikTok",
        presets=(Preset("vertical", "video / photo 9:16", *VERTICAL),),
        image=ImageFormat(max_bytes=20 * 2**20),
        video=VideoFormat(max_seconds=600.0, max_kbps=6000),
        caption_limit=2200,
        hashtag_limit=10,
    ),
    Platform(
        name="youtube",
        title="YouTube Shorts",
        presets=(Preset("shorts", "Shorts 9:16", *VERTICAL),),
        image=ImageFormat(max_bytes=2 * 2**20),  # custom thumbnails are capped at 2 MB
        video=VideoFormat(max_seconds=180.0, max_kbps=8000),
        # A Short's caption is its title (100 characters); with more than 15 hashtags YouTube ignores them all.
        caption_limit=100,
        hashtag_limit=15,
    ),
    Platform(
        name="x",
        title="X",
        presets=(Preset("landscape", "landscape 16:9", 1600, 900), Preset("square", "square 1:1", 1200, 1200)),
        image=ImageFormat(max_bytes=5 * 2**20),
        video=VideoFormat(max_seconds=140.0, max_kbps=5000),
        caption_limit=280,
        hashtag_limit=3,
    ),
    Platform(
        name="facebook",
        title="Facebook",
        presets=(FEED_4X5, SQUARE, Preset("story", "story 9:16", *VERTICAL, max_seconds=60.0)),
        image=ImageFormat(max_bytes=10 * 2**20),
        video=VideoFormat(max_seconds=90.0, max_kbps=6000),
        caption_limit=63206,
        hashtag_limit=10,
    ),
)}


def get(name: str) -> Platform:
    """The presets of platform ``name`` (canonical name, as the grammar returns it); ``ValueError`` otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"platform must be one of {', '.join(PRESETS)}, got {name!r}") from None
