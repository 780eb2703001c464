"""An export package as its page shows it: the files of its manifest grouped by preset, each with a download
name, its post text and its AI label; and where each file lies inside the zip, so one file is served alone.

The zip's media are stored uncompressed (``inference/export/package.py``), so a file is a plain byte range of
the zip blob: it streams (and seeks) without unpacking anything.
"""

from __future__ import annotations

import io
import json
import struct
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from bots.web.blob_access import open_blob, read_window
from storage.blobs import BlobStore

_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then name and extra field lengths at bytes 26-29
_INDEX_CACHE_SIZE = 64
MEDIA_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
               ".mp4": "video/mp4", ".json": "application/json", ".txt": "text/plain; charset=utf-8"}
# IPTC digital source types (the last part of the code's URI) and how the page names them.
LABELS = {
    "trainedAlgorithmicMedia": "AI-generated",
    "compositeWithTrainedAlgorithmicMedia": "AI-edited",
}


class BrokenPackage(ValueError):
    """The stored zip does not hold what its manifest lists."""


@dataclass(frozen=True)
class Member:
    """One file inside the zip: where its bytes start, how many, and whether they are stored as they are."""

    offset: int
    size: int
    stored: bool


class ZipIndex:
    """Members of stored zips by name, read once per zip (a zip in the blob store never changes)."""

    def __init__(self, blobs: BlobStore, *, capacity: int = _INDEX_CACHE_SIZE) -> None:
        self.blobs = blobs
        self.capacity = capacity
        self._cache: OrderedDict[str, dict[str, Member]] = OrderedDict()
        self._lock = threading.Lock()

    def members(self, digest: str) -> dict[str, Member]:
        """Every member of the zip ``digest``; raises ``BrokenPackage`` when it is not a readable zip."""
        with self._lock:
            if digest in self._cache:
                self._cache.move_to_end(digest)
                return self._cache[digest]
        found = self._read(digest)
        with self._lock:
            self._cache[digest] = found
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return found

    def read_member(self, digest: str, name: str) -> bytes:
        """The unpacked content of one (small) member, e.g. ``manifest.json``."""
        with open_blob(self.blobs, digest) as handle, zipfile.ZipFile(handle) as archive:
            try:
                return archive.read(name)
            except KeyError:
                raise BrokenPackage(f"{name} is missing from the package") from None

    def open_member(self, digest: str, name: str) -> BinaryIO:
        """The content of member ``name`` as an in-memory file (for decoders that seek to its start)."""
        member = self.members(digest).get(name)
        if member is None:
            raise BrokenPackage(f"{name} is missing from the package")
        if member.stored:
            return io.BytesIO(read_window(self.blobs, digest, member.offset, member.size))
        return io.BytesIO(self.read_member(digest, name))

    def _read(self, digest: str) -> dict[str, Member]:
        members: dict[str, Member] = {}
        try:
            with open_blob(self.blobs, digest) as handle, zipfile.ZipFile(handle) as archive:
                for info in archive.infolist():
                    handle.seek(info.header_offset)
                    signature, name_length, extra_length = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
                    if signature != b"PK\x03\x04":
                        raise BrokenPackage(f"{info.filename}: bad local header")
                    start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
                    members[info.filename] = Member(offset=start, size=info.compress_size,
                                                    stored=info.compress_type == zipfile.ZIP_STORED)
        except (zipfile.BadZipFile, struct.error, OSError) as exc:
            raise BrokenPackage(f"not a readable zip: {exc}") from None
        return members


@dataclass(frozen=True)
class Label:
    """A file's AI disclosure as the page shows it; ``code`` is the IPTC digital source type, "" for none."""

    text: str
    code: str

    @property
    def is_ai(self) -> bool:
        """Whether the file says it was made or changed by AI."""
        return bool(self.code)


def label_of(entry: dict[str, Any]) -> Label:
    """The AI label a manifest entry records (a user's own unmodified photo carries none)."""
    raw = entry.get("ai_label")
    if isinstance(raw, dict):
        raw = raw.get("digital_source_type")
    code = raw if isinstance(raw, str) else ""
    kind = code.rstrip("/").rsplit("/", 1)[-1]
    if not kind:
        return Label("Your own photo: no AI label", "")
    return Label(LABELS.get(kind, "AI label: " + kind), code)


@dataclass(frozen=True)
class PackageFile:
    """One file of the package, as its tile shows it."""

    index: int
    path: str
    kind: str
    preset: str
    asset_id: str
    width: int
    height: int
    size_bytes: int
    post_text: str
    caption: str
    label: Label
    download_name: str
    duration_s: float | None = None
    audio: bool | None = None
    upscaled: float | None = None
    trimmed_from_s: float | None = None

    @property
    def media_type(self) -> str:
        """The file's MIME type, from its name in the zip."""
        return media_type_of(self.path)


@dataclass(frozen=True)
class PresetGroup:
    """The files made for one preset (e.g. Instagram's 4:5 feed post)."""

    name: str
    label: str
    width: int
    height: int
    aspect: str
    files: list[PackageFile]


@dataclass(frozen=True)
class PackageView:
    """What the export page shows of one package."""

    package_id: str
    platform: str
    platform_title: str
    created_at: datetime | None
    files: list[PackageFile]
    groups: list[PresetGroup]
    results: int

    @property
    def ai_files(self) -> int:
        """How many files carry an AI label."""
        return sum(1 for f in self.files if f.label.is_ai)


def media_type_of(path: str) -> str:
    """The MIME type of a file in the package, by its suffix."""
    return MEDIA_TYPES.get(PurePosixPath(path).suffix.lower(), "application/octet-stream")


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _audio(entry: dict[str, Any]) -> bool | None:
    """Whether a video file has sound (None for images and unknown)."""
    value = entry.get("audio")
    return bool(value) if entry.get("kind") == "video" and value is not None else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def package_view(manifest: dict[str, Any], *, platform: str) -> PackageView:
    """The page's view of a package ``manifest`` (``manifest.json``): files in order, grouped by preset."""
    entries = manifest.get("files")
    if not isinstance(entries, list):
        raise BrokenPackage("the manifest lists no files")
    name = str(manifest.get("platform") or platform)
    files = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise BrokenPackage(f"manifest entry {index} has no path")
        path = entry["path"]
        preset = str(entry.get("preset") or PurePosixPath(path).parent.name)
        files.append(PackageFile(
            index=index, path=path, kind=str(entry.get("kind") or "image"), preset=preset,
            asset_id=str(entry.get("asset_id") or ""), width=int(entry.get("width") or 0),
            height=int(entry.get("height") or 0), size_bytes=int(entry.get("bytes") or 0),
            post_text=str(entry.get("post_text") or ""), caption=str(entry.get("caption") or ""),
            label=label_of(entry), download_name=f"{name}-{preset}-{PurePosixPath(path).name}",
            duration_s=_float(entry.get("duration_s")), audio=_audio(entry),
            upscaled=_float(entry.get("upscaled")), trimmed_from_s=_float(entry.get("trimmed_from_s")),
        ))
    described: dict[str, dict[str, Any]] = {
        str(p.get("name")): p for p in manifest.get("presets") or [] if isinstance(p, dict)}
    # Presets in the platform's order; a file of a preset the manifest does not describe still gets a group.
    order = dict.fromkeys([*described, *(f.preset for f in files)])
    groups: list[PresetGroup] = []
    for preset_name in order:
        members = [f for f in files if f.preset == preset_name]
        if not members:
            continue
        spec = described.get(preset_name, {})
        groups.append(PresetGroup(
            name=preset_name, label=str(spec.get("label") or preset_name),
            width=int(spec.get("width") or members[0].width), height=int(spec.get("height") or members[0].height),
            aspect=str(spec.get("aspect") or ""), files=members))
    return PackageView(package_id=str(manifest.get("package_id") or ""), platform=name,
                       platform_title=str(manifest.get("platform_title") or name.title()),
                       created_at=_parse_time(manifest.get("created_at")), files=files, groups=groups,
                       results=len({f.asset_id for f in files}))


def manifest_of(stored: dict[str, Any] | None, index: ZipIndex, digest: str) -> dict[str, Any]:
    """The package's manifest: the copy its database row keeps, else ``manifest.json`` read from the zip."""
    if stored and isinstance(stored.get("files"), list):
        return stored
    try:
        loaded = json.loads(index.read_member(digest, "manifest.json"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BrokenPackage(f"manifest.json is not valid JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise BrokenPackage("manifest.json is not an object")
    return loaded
