"""A bounded folder of recently used blobs on a worker's own disk, so repeated jobs do not download again.

Blobs never change (a digest names one content), so a cached copy needs no invalidation: only room. The
least recently used files go first once the folder is over its budget; a file used in the last minute stays,
since a job may be about to open the path it was just given. Several processes may share one folder: every
file enters by an atomic rename, and eviction tolerates files that vanish under it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from storage.blobs.base import SHA256, relative_key

log = logging.getLogger(__name__)

# Files used this recently are never evicted: a caller may be about to open the path it was handed.
IN_USE_S = 60.0
# Evicting down to this share of the budget leaves room, so not every new file triggers a scan.
LOW_WATER = 0.8


class BlobCache:
    """Up to ``max_bytes`` of blob copies under ``root``; ``get`` refreshes a file's place in line."""

    def __init__(self, root: Path, *, max_bytes: int, in_use_s: float = IN_USE_S) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.in_use_s = in_use_s
        self.spool = self.root / "tmp"
        self.spool.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._used: int | None = None  # bytes held, counted on first need

    def path_for(self, digest: str) -> Path:
        """Where ``digest`` lives in the cache (whether or not it is there)."""
        return self.root / relative_key(digest)

    def holds(self, size: int) -> bool:
        """Whether a blob of ``size`` bytes is worth caching: one file may take a quarter of the budget."""
        return 0 < size <= self.max_bytes // 4

    def get(self, digest: str) -> Path | None:
        """The cached copy of ``digest``, marked as just used; None when it is not cached."""
        path = self.path_for(digest)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        return path

    def temporary(self) -> Path:
        """A fresh file name in the cache's own folder (same filesystem, so ``admit`` is a rename)."""
        self.spool.mkdir(parents=True, exist_ok=True)  # an operator may have emptied the cache by hand
        fd, name = tempfile.mkstemp(dir=self.spool, prefix="get-")
        os.close(fd)
        return Path(name)

    def admit(self, downloaded: Path, digest: str) -> Path:
        """Move a verified download into the cache; returns its cached path."""
        final = self.path_for(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        size = downloaded.stat().st_size
        os.replace(downloaded, final)
        with self._lock:
            if self._used is not None:
                self._used += size
            over = self._used is None or self._used > self.max_bytes
        if over:
            self.trim()
        return final

    def trim(self) -> int:
        """Evict least recently used files until the cache is under its budget; returns bytes freed."""
        files: list[tuple[float, int, Path]] = []
        total = 0
        for path in self.root.glob("??/??/*"):
            if not SHA256.match(path.name):
                continue
            try:
                found = path.stat()
            except FileNotFoundError:
                continue
            files.append((found.st_mtime, found.st_size, path))
            total += found.st_size
        freed = 0
        if total > self.max_bytes:
            now = time.time()
            for mtime, size, path in sorted(files):
                if total - freed <= self.max_bytes * LOW_WATER or now - mtime < self.in_use_s:
                    break
                path.unlink(missing_ok=True)
                freed += size
            log.info("blob cache %s: evicted %d bytes", self.root, freed)
        with self._lock:
            self._used = total - freed
        return freed
