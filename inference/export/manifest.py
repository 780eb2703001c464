"""What a package says about itself: ``manifest.json`` (for tools) and ``captions.txt`` (for people)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.platforms import AI_LABEL_TEXT, AI_SOURCE_TYPE, Platform
from inference.export.captions import PostText

FORMAT = "persona-studio-export/1"
LABEL_PLACES = "JPEG: XMP Iptc4xmpExt:DigitalSourceType; MP4: the comment (IPTC code) and description tags"


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
    duration_s: float | None = None
    fps: float | None = None
    audio: bool | None = None
    upscaled: float | None = None  # enlargement factor when the source was smaller than the preset
    trimmed_from_s: float | None = None  # the source's length when cut to the platform's limit

    def as_dict(self) -> dict[str, Any]:
        """The JSON form in ``manifest.json``."""
        entry: dict[str, Any] = {
            "path": self.path, "asset_id": self.asset_id, "kind": self.kind, "preset": self.preset,
            "width": self.width, "height": self.height, "bytes": self.size_bytes,
            "duration_s": self.duration_s, "fit": self.fit, "anchor": self.anchor, "upscaled": self.upscaled,
            "caption": self.post.caption, "hashtags": list(self.post.hashtags), "post_text": self.post.text,
            "ai_label": AI_SOURCE_TYPE,
        }
        if self.kind == "video":
            entry.update(fps=self.fps, audio=self.audio, trimmed_from_s=self.trimmed_from_s)
        return entry


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def manifest(*, package_id: str, platform: Platform, created_at: datetime, expires_at: datetime,
             files: list[FileEntry]) -> dict[str, Any]:
    """The package's ``manifest.json`` content."""
    return {
        "format": FORMAT,
        "package_id": package_id,
        "platform": platform.name,
        "platform_title": platform.title,
        "created_at": _iso(created_at),
        "expires_at": _iso(expires_at),
        "ai_label": {"digital_source_type": AI_SOURCE_TYPE, "text": AI_LABEL_TEXT, "where": LABEL_PLACES},
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
                  files: list[FileEntry]) -> str:
    """``captions.txt``: per asset, its files and the post text to paste, in package order."""
    lines = [
        f"{platform.title} export · {len(files)} file(s) · made {created_at:%Y-%m-%d %H:%M} UTC · "
        f"download link valid until {expires_at:%Y-%m-%d %H:%M} UTC",
        f"Every file is labelled {AI_LABEL_TEXT} in its metadata.",
        f"Caption limit {platform.caption_limit} characters (hashtags included), at most "
        f"{platform.hashtag_limit} hashtags.",
    ]
    by_asset: dict[str, list[FileEntry]] = {}
    for entry in files:
        by_asset.setdefault(entry.asset_id, []).append(entry)
    for asset_id, entries in by_asset.items():
        first = entries[0]
        lines += ["", "-" * 60, f"#{asset_id} ({first.kind}): " + ", ".join(e.path for e in entries), ""]
        if not first.post.caption:
            lines.append("(no caption: this result has no prompt to make one from; write your own)")
        lines.append(first.post.text)
    return "\n".join(lines) + "\n"
