"""Building one package: every asset in each of the platform's presets for its kind, a manifest, one zip.

Everything is written inside ``workdir`` (the caller's private temporary folder, removed afterwards), and the
zip is complete before the caller stores it, so a failed or cancelled export leaves no partial package.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.platforms import IMAGE, VIDEO, Platform, Preset
from inference.export.captions import PostText, post_text
from inference.export.fit import Box, needs_placement
from inference.export.images import render_image, to_srgb
from inference.export.manifest import FileEntry, captions_text, manifest
from inference.export.videos import key_frame, render_video
from inference.media import probe

FaceFinder = Callable[[np.ndarray], list[Box]]
Progress = Callable[[float, str], None]
VIDEO_WEIGHT = 6.0  # a video file takes about this many images' time per preset, for the progress bar
# Already compressed: storing them again with deflate costs time and saves nothing.
STORED_SUFFIXES = (".jpg", ".mp4")


@dataclass(frozen=True)
class ExportSource:
    """One asset to export: its file and what its caption is made from.

    ``faces`` are face boxes in the file's pixels when the asset already knows them; None means unknown, so
    the package looks for faces itself where a crop needs them.
    """

    asset_id: str
    kind: str
    path: Path
    prompt: str = ""
    persona: str | None = None
    faces: Sequence[Box] | None = None


@dataclass
class BuiltPackage:
    """The finished zip and what it holds."""

    path: Path
    manifest: dict[str, Any]
    files: list[FileEntry]
    notes: list[str] = field(default_factory=list)

    @property
    def size_bytes(self) -> int:
        """Size of the zip."""
        return self.path.stat().st_size


def _no_progress(_fraction: float, _stage: str) -> None:
    return None


class _Tracker:
    """Progress over the whole package: each file's share is its weight (a clip costs more than a still)."""

    def __init__(self, weights: Sequence[float], progress: Progress) -> None:
        self.total = sum(weights) or 1.0
        self.files = len(weights)
        self.done = 0.0
        self.count = 0
        self.progress = progress

    def start(self, weight: float, what: str) -> Callable[[float], None]:
        """Announce the next file; returns the reporter for its own progress (0-1)."""
        self.count += 1
        stage, start = f"file {self.count} of {self.files}: {what}", self.done
        self.progress(start / self.total, stage)

        def report(fraction: float) -> None:
            self.progress(min(1.0, (start + fraction * weight) / self.total), stage)

        self.done += weight
        return report


def build_package(sources: Sequence[ExportSource], platform: Platform, *, workdir: Path, package_id: str,
                  created_at: datetime, expires_at: datetime, find_faces: FaceFinder | None = None,
                  progress: Progress = _no_progress) -> BuiltPackage:
    """Render ``sources`` for ``platform`` into ``workdir`` and zip them with ``manifest.json`` and ``captions.txt``.

    ``find_faces`` (an RGB array → face boxes) is asked only for pictures that get cropped and whose faces are
    not known; without it crops are placed by detail. ``progress`` gets the fraction done and a stage line.
    """
    if not sources:
        raise ValueError("sources is empty: an export needs at least one image or video")
    tracker = _Tracker([VIDEO_WEIGHT if source.kind == VIDEO else 1.0
                        for source in sources for _ in platform.presets_for(source.kind)], progress)
    files_dir = workdir / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    entries: list[FileEntry] = []
    for number, source in enumerate(sources, start=1):
        presets = platform.presets_for(source.kind)
        if not presets:
            continue
        post = post_text(platform, prompt=source.prompt, persona=source.persona)
        renderer = _render_images if source.kind == IMAGE else _render_videos
        entries += renderer(source, presets, platform, files_dir=files_dir, number=number, post=post,
                            find_faces=find_faces, tracker=tracker)
    progress(1.0, "zipping")
    built = manifest(package_id=package_id, platform=platform, created_at=created_at, expires_at=expires_at,
                     files=entries)
    path = workdir / f"{platform.name}-{package_id}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(built, indent=2, ensure_ascii=False))
        archive.writestr("captions.txt", captions_text(platform=platform, created_at=created_at,
                                                       expires_at=expires_at, files=entries))
        for entry in entries:
            compress = zipfile.ZIP_STORED if entry.path.endswith(STORED_SUFFIXES) else zipfile.ZIP_DEFLATED
            archive.write(files_dir / entry.path, entry.path, compress_type=compress)
    return BuiltPackage(path=path, manifest=built, files=entries, notes=_notes(entries, platform))


def _target(files_dir: Path, preset: Preset, number: int, asset_id: str, suffix: str) -> tuple[str, Path]:
    """The file's name in the zip (``feed-1080x1350/01-<asset id>.jpg``) and where it is written meanwhile."""
    name = f"{preset.folder}/{number:02d}-{asset_id}{suffix}"
    path = files_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return name, path


def _render_images(source: ExportSource, presets: Sequence[Preset], platform: Platform, *, files_dir: Path,
                   number: int, post: PostText, find_faces: FaceFinder | None,
                   tracker: _Tracker) -> list[FileEntry]:
    with Image.open(source.path) as opened:
        image = to_srgb(opened)
    faces = _faces(source.faces, image.size, presets, lambda: np.asarray(image), find_faces)
    entries = []
    for preset in presets:
        tracker.start(1.0, f"#{source.asset_id} {preset.label}")
        rendered = render_image(image, preset, platform.image, faces=faces)
        name, target = _target(files_dir, preset, number, source.asset_id, ".jpg")
        target.write_bytes(rendered.data)
        entries.append(FileEntry(path=name, asset_id=source.asset_id, kind=IMAGE, preset=preset.name,
                                 width=rendered.width, height=rendered.height, size_bytes=len(rendered.data),
                                 fit=rendered.plan.mode, anchor=rendered.plan.anchor, post=post,
                                 upscaled=rendered.plan.upscale))
    return entries


def _render_videos(source: ExportSource, presets: Sequence[Preset], platform: Platform, *, files_dir: Path,
                   number: int, post: PostText, find_faces: FaceFinder | None,
                   tracker: _Tracker) -> list[FileEntry]:
    info = probe(source.path)
    frame = key_frame(source.path, info)
    # A clip's faces are found on its key frame: boxes an asset knows are for its still, not for the clip.
    faces = _faces(None, (frame.shape[1], frame.shape[0]), presets, lambda: frame, find_faces)
    entries = []
    for preset in presets:
        report = tracker.start(VIDEO_WEIGHT, f"#{source.asset_id} {preset.label}")
        name, target = _target(files_dir, preset, number, source.asset_id, ".mp4")
        rendered = render_video(source.path, target, preset, platform, faces=faces, frame=frame, info=info,
                                progress=report)
        entries.append(FileEntry(path=name, asset_id=source.asset_id, kind=VIDEO, preset=preset.name,
                                 width=rendered.width, height=rendered.height, size_bytes=target.stat().st_size,
                                 fit=rendered.plan.mode, anchor=rendered.plan.anchor, post=post,
                                 duration_s=rendered.duration_s, fps=rendered.fps, audio=rendered.has_audio,
                                 upscaled=rendered.plan.upscale, trimmed_from_s=rendered.trimmed_from_s))
    return entries


def _faces(known: Sequence[Box] | None, size: tuple[int, int], presets: Sequence[Preset],
           pixels: Callable[[], np.ndarray], find_faces: FaceFinder | None) -> Sequence[Box]:
    """The picture's faces: ``known`` when given, else looked for only when some preset crops the picture."""
    if known is not None:
        return known
    if find_faces is None or not any(needs_placement(size, (p.width, p.height)) for p in presets):
        return ()
    return find_faces(pixels())


def _notes(entries: list[FileEntry], platform: Platform) -> list[str]:
    """What the user should know about the files: enlargements and cut videos."""
    notes = []
    enlarged = [e.upscaled for e in entries if e.upscaled]
    if enlarged:
        notes.append(f"{len(enlarged)} of {len(entries)} files are enlarged (up to {max(enlarged):.1f}×): their "
                     "sources are smaller than the preset's size.")
    cut: dict[str, list[FileEntry]] = {}
    for entry in entries:
        if entry.trimmed_from_s:
            cut.setdefault(entry.asset_id, []).append(entry)
    for asset_id, trimmed in cut.items():
        lengths = ", ".join(f"{e.duration_s:g} s ({e.preset})" for e in trimmed)
        notes.append(f"#{asset_id} is {trimmed[0].trimmed_from_s:g} s long, more than {platform.title} takes: "
                     f"cut to {lengths}.")
    return notes
