"""The local backend: files named by their sha256 under one folder, written atomically (the embedded default)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from storage.blobs.base import CHUNK, SHA256, BlobInfo, BlobStore, BlobStoreUnavailable, Readable, relative_key


class LocalBlobStore(BlobStore):
    """Stores bytes under ``root/ab/cd/<sha256>``; identical content is stored once.

    Every process that uses it must see the same folder; deployments on several machines use the S3 backend.
    """

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(exist_ok=True)
        self.location = str(self.root)

    def path(self, digest: str) -> Path:
        """The file path of ``digest``; raises ``InvalidDigest`` for anything but a sha256 hex string."""
        return self.root / relative_key(digest)

    # ---- writing --------------------------------------------------------------------------------------

    def put_file(self, source: Path) -> str:
        with open(source, "rb") as handle:
            return self.put_stream(handle)

    def put_stream(self, stream: Readable) -> str:
        """Store everything read from ``stream``; a crash mid-write leaves no partial blob behind."""
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            final = self.path(digest.hexdigest())
            final.parent.mkdir(parents=True, exist_ok=True)
            # os.replace is atomic on one filesystem: readers see the old file, the new one, never half. It also
            # gives the file a fresh mtime, which housekeeping's grace period relies on.
            os.replace(tmp_name, final)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return digest.hexdigest()

    def delete(self, digest: str) -> bool:
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    # ---- reading --------------------------------------------------------------------------------------

    def read_bytes(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise self.missing(digest) from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise self.missing(digest) from None

    def read_range(self, digest: str, start: int, end: int) -> Iterator[bytes]:
        handle = self.open(digest)  # raises before the first chunk, so a missing file is never a cut response

        def chunks() -> Iterator[bytes]:
            with handle:
                handle.seek(start)
                left = end - start + 1
                while left > 0 and (chunk := handle.read(min(CHUNK, left))):
                    left -= len(chunk)
                    yield chunk

        return chunks()

    def fetch(self, digest: str, into: Path) -> Path:
        """The stored file itself: nothing to download on one machine. Read it, never change or delete it."""
        path = self.path(digest)
        if not path.is_file():
            raise self.missing(digest)
        return path

    def stat(self, digest: str) -> BlobInfo | None:
        try:
            found = self.path(digest).stat()
        except FileNotFoundError:
            return None
        return BlobInfo(digest, found.st_size, datetime.fromtimestamp(found.st_mtime, UTC))

    def entries(self) -> Iterator[BlobInfo]:
        for path in self.root.glob("??/??/*"):
            if SHA256.match(path.name):
                try:
                    found = path.stat()
                except FileNotFoundError:  # deleted while listing
                    continue
                yield BlobInfo(path.name, found.st_size, datetime.fromtimestamp(found.st_mtime, UTC))

    # ---- operations -------------------------------------------------------------------------------------

    def check(self) -> None:
        try:
            with tempfile.TemporaryFile(dir=self._tmp):
                pass
        except OSError as exc:
            raise BlobStoreUnavailable(f"{self.location} is not writable: {exc}") from exc

    def sweep_temporary(self, *, older_than: timedelta) -> int:
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        for leftover in self._tmp.glob("put-*"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
