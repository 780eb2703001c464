"""What a package says about itself: ``manifest.json`` (for tools) and ``captions.txt`` (for people)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.platforms import Platform
from inference.export.captions import PostText
from inference.provenance import labels
from inference.provenance.watermark import VERSION as WATERMARK_VERSION

FORMAT = "persona-studio-export/1"
LABEL_PLACES = "JPEG: XMP Iptc4xmpExt:DigitalSourceType; MP4: the comment (IPTC code) and description tags"
LABEL_RULE = ("generated results: trainedAlgorithmicMedia; results edited with AI (a face swap, an identity "
              "refinement): compositeWithTrainedAlgorithmicMedia; your own uploads: no AI label")


@dataclass(frozen=True)
class FileEntry:
    """One file in the package."""

    path: str
    asset_id: str
    kind: str
    preset: str
    width: int
    height: int
    size_bytes: int
    fit: str  # crop | pad
    anchor: str  # what placed a crop: faces | detail | center | whole
    post: PostText
    origin: str  # uploaded | generated | edited: decides the label
    watermark: str | None = None  # the payload in the pixels (asset id prefix), None when too small to carry one
    duration_s: float | None = None
    fps: float | None = None
    audio: bool | None = None
    upscaled: float | None = None  # enlargement factor when the source was smaller than the preset
    trimmed_from_s: float | None = None  # the source's length when cut to the platform's limit

    @property
    def label(self) -> str | None:
        """The IPTC digital source type the file carries (None: a user's own upload)."""
        return labels.source_type(self.origin)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form in ``manifest.json``."""
        entry: dict[str, Any] = {
            "path": self.path, "asset_id": self.asset_id, "kind": self.kind, "preset": self.preset,
            "width": self.width, "height": self.height, "bytes": self.size_bytes,
            "duration_s": self.duration_s, "fit": self.fit, "anchor": self.anchor, "upscaled": self.upscaled,
            "caption": self.post.caption, "hashtags": list(self.post.hashtags), "post_text": self.post.text,
            "origin": self.origin, "ai_label": self.label, "watermark": self.watermark, "content_credentials": True,
        }
        if self.kind == "video":
            entry.update(fps=self.fps, audio=self.audio, trimmed_from_s=self.trimmed_from_s)
        return entry


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def manifest(*, package_id: str, platform: Platform, created_at: datetime, expires_at: datetime,
             files: list[FileEntry], signer: str = "", local_key: bool = False) -> dict[str, Any]:
    """The package's ``manifest.json`` content."""
    return {
        "format": FORMAT,
        "package_id": package_id,
        "platform": platform.name,
        "platform_title": platform.title,
        "created_at": _iso(created_at),
        "expires_at": _iso(expires_at),
        "ai_label": {"rule": LABEL_RULE, "where": LABEL_PLACES,
                     "digital_source_types": sorted({entry.label for entry in files if entry.label})},
        "provenance": {"content_credentials": "C2PA manifest in every file", "signer": signer,
                       "local_certificate": local_key, "watermark": WATERMARK_VERSION},
        "presets": [
            {"name": p.name, "label": p.label, "width": p.width, "height": p.height, "aspect": p.aspect,
             "kinds": sorted(p.kinds), "folder": p.folder}
            for p in platform.presets
        ],
        "limits": {
            "caption_chars": platform.caption_limit,
            "hashtags": platform.hashtag_limit,
            "image": {"format": "JPEG", "colour": "sRGB", "quality": platform.image.quality,
                      "max_bytes": platform.image.max_bytes},
            "video": {"codec": "H.264 High, yuv420p", "audio": f"AAC {platform.video.audio_kbps} kb/s",
                      "fps": platform.video.fps, "max_seconds": platform.video.max_seconds,
                      "max_kbps": platform.video.max_kbps, "faststart": True},
        },
        "files": [entry.as_dict() for entry in files],
    }


def captions_text(*, platform: Platform, created_at: datetime, expires_at: datetime,
                  files: list[FileEntry], carousel: PostText | None = None) -> str:
    """``captions.txt``: per asset, its files and the post text to paste, in package order; a carousel's one post
    text first, said once for the set."""
    lines = [
        f"{platform.title} export · {len(files)} file(s) · made {created_at:%Y-%m-%d %H:%M} UTC · "
        f"download link valid until {expires_at:%Y-%m-%d %H:%M} UTC",
        label_summary(files),
        "Every file carries Content Credentials (a signed C2PA manifest) and an invisible watermark.",
        f"Caption limit {platform.caption_limit} characters (hashtags included), at most "
        f"{platform.hashtag_limit} hashtags.",
    ]
    if carousel is not None:
        lines += ["", "=" * 60, f"Carousel: one post of {len({e.asset_id for e in files})} pictures, in the numbered "
                  "order (01, 02, …). Post text for the whole set:", "", carousel.text]
    by_asset: dict[str, list[FileEntry]] = {}
    for entry in files:
        by_asset.setdefault(entry.asset_id, []).append(entry)
    for asset_id, entries in by_asset.items():
        first = entries[0]
        label = labels.describe(first.label) if first.label else "your upload, no AI label"
        lines += ["", "-" * 60, f"#{asset_id} ({first.kind}, {label}): " + ", ".join(e.path for e in entries), ""]
        if carousel is not None:
            continue  # the set's one post text is above
        if not first.post.caption:
            lines.append("(no caption: this result has no prompt to make one from; write your own)")
        lines.append(first.post.text)
    return "\n".join(lines) + "\n"


def label_summary(files: list[FileEntry]) -> str:
    """One sentence on how the files are labelled, true for this package's mix of origins."""
    counts: dict[str | None, int] = {}
    for entry in files:
        counts[entry.label] = counts.get(entry.label, 0) + 1
    parts = []
    if counts.get(labels.TRAINED):
        parts.append(f"{counts[labels.TRAINED]} labelled AI-generated")
    if counts.get(labels.COMPOSITE):
        parts.append(f"{counts[labels.COMPOSITE]} labelled edited with AI")
    if counts.get(None):
        parts.append(f"{counts[None]} from your own uploads, not labelled as AI")
    if len(counts) == 1 and None not in counts:
        word = "AI-generated" if labels.TRAINED in counts else "edited with AI"
        return f"Every file is labelled {word} in its metadata (IPTC digital source type)."
    return "Files: " + ", ".join(parts) + " (IPTC digital source type in the metadata)."
