"""Checksum manifests: what a stored revision holds, and what has changed in it since it was stored."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
# Tool state inside a revision being fetched (huggingface_hub's resume data, an archive being downloaded):
# never part of the model, so never checksummed, and removed when the revision is installed.
CACHE_DIR = ".cache"
_CHUNK = 8 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (model files run to gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a file renamed into place: a reader sees the old or the new text."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def model_files(directory: Path) -> list[str]:
    """Relative paths of the model's files under ``directory``: everything but the manifest and tool state."""
    found = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and rel != MANIFEST and not rel.startswith(f"{CACHE_DIR}/"):
            found.append(rel)
    return found


@dataclass
class Manifest:
    """Checksums of one stored revision."""

    name: str
    revision: str
    source: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: str = ""
    requested_revision: str = ""

    @classmethod
    def of(cls, directory: Path, *, name: str, revision: str, source: str, requested: str = "") -> Manifest:
        """The manifest of every model file under ``directory`` (sha256 and size each)."""
        files = {
            rel: {"sha256": sha256_file(directory / rel), "size": (directory / rel).stat().st_size}
            for rel in model_files(directory)
        }
        return cls(name=name, revision=revision, source=source, files=files,
                   created_at=datetime.now(UTC).isoformat(timespec="seconds"), requested_revision=requested or revision)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    @property
    def size_bytes(self) -> int:
        return sum(int(entry["size"]) for entry in self.files.values())

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    def write(self, directory: Path) -> None:
        """Write ``manifest.json`` into ``directory``."""
        write_text_atomic(directory / MANIFEST, self.to_json())


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found: files missing, changed or unexpected against the manifest."""

    name: str
    revision: str
    checked: int
    missing: tuple[str, ...] = ()
    mismatched: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched)


def verify_directory(directory: Path, manifest: Manifest) -> VerifyReport:
    """Re-check the files under ``directory`` against ``manifest`` (size first, then sha256)."""
    missing, mismatched = [], []
    for rel, entry in manifest.files.items():
        path = directory / rel
        if not path.is_file():
            missing.append(rel)
        elif path.stat().st_size != int(entry["size"]) or sha256_file(path) != entry["sha256"]:
            mismatched.append(rel)
    unexpected = sorted(set(model_files(directory)) - set(manifest.files))
    return VerifyReport(name=manifest.name, revision=manifest.revision, checked=len(manifest.files),
                        missing=tuple(missing), mismatched=tuple(mismatched), unexpected=tuple(unexpected))
