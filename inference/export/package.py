"""Building one package: every asset in each of the platform's presets for its kind, a manifest, one zip.

Every file is watermarked in its final pixels (after scaling to the preset's exact size), labelled by its
asset's origin and signed with Content Credentials that name the asset's own file as the parent ingredient.
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
from inference.export.fit import Box, FitPlan, needs_placement
from inference.export.images import render_image, to_srgb
from inference.export.manifest import FileEntry, captions_text, manifest
from inference.export.videos import key_frame, render_video
from inference.media import probe
from inference.provenance import labels, payload
from inference.provenance.credentials import Claim, Ingredient
from inference.provenance.stamp import Stamper
from storage.states import AssetOrigin

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
    origin: AssetOrigin | str  # decides the label: a user's upload is never labelled as AI-made
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
                  created_at: datetime, expires_at: datetime, stamper: Stamper, find_faces: FaceFinder | None = None,
                  progress: Progress = _no_progress, carousel: bool = False) -> BuiltPackage:
    """Render ``sources`` for ``platform`` into ``workdir`` and zip them with ``manifest.json`` and ``captions.txt``.

    ``stamper`` watermarks and signs every file.

    ``find_faces`` (an RGB array → face boxes) is asked only for pictures that get cropped and whose faces are
    not known; without it crops are placed by detail. ``progress`` gets the fraction done and a stage line.
    ``carousel``: the files are one post, numbered in the order given, with one post text for the set.
    """
    if not sources:
        raise ValueError("sources is empty: an export needs at least one image or video")
    tracker = _Tracker([VIDEO_WEIGHT if source.kind == VIDEO else 1.0
                        for source in sources for _ in platform.presets_for(source.kind)], progress)
    files_dir = workdir / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    entries: list[FileEntry] = []
    shared = carousel_post(sources, platform) if carousel else None
    for number, source in enumerate(sources, start=1):
        presets = platform.presets_for(source.kind)
        if not presets:
            continue
        labels.origin_of(source.origin)  # an unknown origin fails here, before any file is made
        payload.prefix_of(source.asset_id)
        post = shared or post_text(platform, prompt=source.prompt, persona=source.persona, origin=source.origin)
        renderer = _render_images if source.kind == IMAGE else _render_videos
        entries += renderer(source, presets, platform, files_dir=files_dir, number=number, post=post,
                            find_faces=find_faces, tracker=tracker, stamper=stamper)
    progress(1.0, "zipping")
    keys = stamper.keys
    built = manifest(package_id=package_id, platform=platform, created_at=created_at, expires_at=expires_at,
                     files=entries, signer=keys.certificate.subject.rfc4514_string(), local_key=keys.local)
    if shared is not None:
        built["carousel"] = {"order": [s.asset_id for s in sources], "post_text": shared.text,
                             "caption": shared.caption, "hashtags": list(shared.hashtags)}
    path = workdir / f"{platform.name}-{package_id}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(built, indent=2, ensure_ascii=False))
        archive.writestr("captions.txt", captions_text(platform=platform, created_at=created_at,
                                                       expires_at=expires_at, files=entries, carousel=shared))
        for entry in entries:
            compress = zipfile.ZIP_STORED if entry.path.endswith(STORED_SUFFIXES) else zipfile.ZIP_DEFLATED
            archive.write(files_dir / entry.path, entry.path, compress_type=compress)
    return BuiltPackage(path=path, manifest=built, files=entries, notes=_notes(entries, platform))


def carousel_post(sources: Sequence[ExportSource], platform: Platform) -> PostText:
    """One post text for a set posted together: the first file's words (a shoot's scene), and the strictest
    disclosure any file needs (one AI-edited file makes the set #AIedited)."""
    origins = {AssetOrigin(source.origin) for source in sources}
    origin = next((o for o in (AssetOrigin.EDITED, AssetOrigin.GENERATED) if o in origins), AssetOrigin.UPLOADED)
    first = sources[0]
    return post_text(platform, prompt=first.prompt, persona=first.persona, origin=origin)


def _target(files_dir: Path, preset: Preset, number: int, asset_id: str, suffix: str) -> tuple[str, Path]:
    """The file's name in the zip (``feed-1080x1350/01-<asset id>.jpg``) and where it is written meanwhile."""
    name = f"{preset.folder}/{number:02d}-{asset_id}{suffix}"
    path = files_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return name, path


class _Marks:
    """Watermarks one asset's renditions and remembers what the last one carries (None: too small for one)."""

    def __init__(self, stamper: Stamper, asset_id: str, workdir: Path) -> None:
        self.stamper = stamper
        self.asset_id = asset_id
        self.workdir = workdir
        self.carried: str | None = None

    def image(self, frame: Image.Image) -> Image.Image:
        # The frame is render_image's own (see ``images.Watermark``): marked where it is.
        marked, self.carried = self.stamper.mark_image(frame, self.asset_id, in_place=True)
        return marked

    def video(self, graph: str, width: int, height: int) -> str:
        marked, self.carried = self.stamper.video_filter(graph, width=width, height=height, asset_id=self.asset_id,
                                                         workdir=self.workdir)
        return marked


def _claim(source: ExportSource, platform: Platform, preset: Preset, plan: FitPlan, name: str,
           carried: str | None) -> Claim:
    """The rendition's claim: an edit of the asset's own file (the parent), fitted to the preset."""
    how = "cropping" if plan.mode == "crop" else "padding over a blurred copy"
    note = f"fitted to {platform.title} {preset.label} {preset.width}×{preset.height} by {how}"
    return Claim(origin=labels.origin_of(source.origin), asset_id=source.asset_id, title=Path(name).name,
                 note=note, ingredients=(Ingredient(path=source.path, asset_id=source.asset_id),), watermark=carried)


def _render_images(source: ExportSource, presets: Sequence[Preset], platform: Platform, *, files_dir: Path,
                   number: int, post: PostText, find_faces: FaceFinder | None, tracker: _Tracker,
                   stamper: Stamper) -> list[FileEntry]:
    with Image.open(source.path) as opened:
        image = to_srgb(opened)
    faces = _faces(source.faces, image.size, presets, lambda: np.asarray(image), find_faces)
    code = labels.source_type(source.origin)
    marks = _Marks(stamper, source.asset_id, files_dir.parent)
    entries = []
    for preset in presets:
        tracker.start(1.0, f"#{source.asset_id} {preset.label}")
        marks.carried = None
        rendered = render_image(image, preset, platform.image, source_type=code, faces=faces, watermark=marks.image)
        name, target = _target(files_dir, preset, number, source.asset_id, ".jpg")
        claim = _claim(source, platform, preset, rendered.plan, name, marks.carried)
        data = stamper.sign_bytes(claim, "jpeg", rendered.data)
        target.write_bytes(data)
        entries.append(FileEntry(path=name, asset_id=source.asset_id, kind=IMAGE, preset=preset.name,
                                 width=rendered.width, height=rendered.height, size_bytes=len(data),
                                 fit=rendered.plan.mode, anchor=rendered.plan.anchor, post=post,
                                 origin=str(labels.origin_of(source.origin)), watermark=marks.carried,
                                 upscaled=rendered.plan.upscale))
    return entries


def _render_videos(source: ExportSource, presets: Sequence[Preset], platform: Platform, *, files_dir: Path,
                   number: int, post: PostText, find_faces: FaceFinder | None, tracker: _Tracker,
                   stamper: Stamper) -> list[FileEntry]:
    info = probe(source.path)
    frame = key_frame(source.path, info)
    # A clip's faces are found on its key frame: boxes an asset knows are for its still, not for the clip.
    faces = _faces(None, (frame.shape[1], frame.shape[0]), presets, lambda: frame, find_faces)
    code = labels.source_type(source.origin)
    marks_dir = files_dir.parent / "marks"
    marks_dir.mkdir(parents=True, exist_ok=True)
    marks = _Marks(stamper, source.asset_id, marks_dir)
    entries = []
    for preset in presets:
        report = tracker.start(VIDEO_WEIGHT, f"#{source.asset_id} {preset.label}")
        name, target = _target(files_dir, preset, number, source.asset_id, ".mp4")
        marks.carried = None
        unsigned = marks_dir / f"{preset.name}-{source.asset_id}.mp4"
        rendered = render_video(source.path, unsigned, preset, platform, source_type=code, faces=faces,
                                frame=frame, info=info, watermark=marks.video, progress=report)
        claim = _claim(source, platform, preset, rendered.plan, name, marks.carried)
        stamper.signer.sign_file(claim, "video/mp4", unsigned, target)
        unsigned.unlink()
        entries.append(FileEntry(path=name, asset_id=source.asset_id, kind=VIDEO, preset=preset.name,
                                 width=rendered.width, height=rendered.height, size_bytes=target.stat().st_size,
                                 fit=rendered.plan.mode, anchor=rendered.plan.anchor, post=post,
                                 origin=str(labels.origin_of(source.origin)), watermark=marks.carried,
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
