"""Content-addressed blob store: files named by their sha256, written atomically, never by user-chosen paths."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


class BlobNotFound(KeyError):
    """No blob with that digest is stored."""


class InvalidDigest(ValueError):
    """A digest that is not 64 lowercase hex characters; never turned into a path."""


class BlobStore:
    """Stores bytes under ``root/ab/cd/<sha256>``; identical content is stored once."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(exist_ok=True)

    def path(self, digest: str) -> Path:
        """The file path of ``digest``; raises ``InvalidDigest`` for anything but a sha256 hex string."""
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise InvalidDigest(f"not a sha256 digest: {digest!r}")
        return self.root / digest[:2] / digest[2:4] / digest

    def size(self, digest: str) -> int:
        """The blob's size in bytes; 0 when it is missing."""
        try:
            return self.path(digest).stat().st_size
        except OSError:
            return 0

    def exists(self, digest: str) -> bool:
        """Whether ``digest`` is stored."""
        return self.path(digest).is_file()

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` and return its sha256 digest."""
        return self.put_stream(_BytesReader(data))

    def put_file(self, source: Path) -> str:
        """Copy the file at ``source`` into the store and return its digest."""
        with open(source, "rb") as handle:
            return self.put_stream(handle)

    def put_stream(self, stream: BinaryIO | _BytesReader) -> str:
        """Store everything read from ``stream``; a crash mid-write leaves no partial blob behind."""
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            final = self.path(digest.hexdigest())
            final.parent.mkdir(parents=True, exist_ok=True)
            # os.replace is atomic on one filesystem: readers see the old file, the new one, never half.
            os.replace(tmp_name, final)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return digest.hexdigest()

    def read_bytes(self, digest: str) -> bytes:
        """The stored content of ``digest``."""
        path = self.path(digest)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def open(self, digest: str) -> BinaryIO:
        """An open binary file for reading ``digest``."""
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def delete(self, digest: str) -> bool:
        """Remove ``digest``; returns whether it was there. Callers check that no row still refers to it."""
        path = self.path(digest)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def copy_to(self, digest: str, target: Path) -> Path:
        """Copy a blob to ``target`` (for tools that need a real file, like ffmpeg)."""
        with self.open(digest) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        return target

    def digests(self) -> Iterator[str]:
        """Every stored digest (for garbage collection and audits)."""
        for path in self.root.glob("??/??/*"):
            if _SHA256.match(path.name):
                yield path.name


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else min(len(self._data), self._pos + size)
        chunk = bytes(self._data[self._pos : end])
        self._pos = end
        return chunk
