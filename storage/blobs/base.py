"""The blob store contract: content-addressed bytes behind one interface, whatever holds them.

Exceptions::

    BlobNotFound (KeyError)       no blob with that digest is stored (or its content no longer matches it)
     └── BlobCorrupt              the stored bytes do not hash to their digest
    InvalidDigest (ValueError)    not a sha256 hex digest; never turned into a path or key
    BlobStoreUnavailable          the store cannot be reached, or refused the credentials: try again later

A digest is the sha256 of the content in lowercase hex. It is the only thing a path or an object key is built
from, so no user-supplied text ever names a stored file.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Protocol

log = logging.getLogger("storage.blobs")

SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


class BlobNotFound(KeyError):
    """No blob with that digest is stored; ``args[0]`` is the digest."""

    def __str__(self) -> str:
        return f"blob {self.args[0]} is not in the store" if self.args else "blob not in the store"


class BlobCorrupt(BlobNotFound):
    """The stored bytes do not hash to their digest: as good as missing, and reported the same way."""

    def __str__(self) -> str:
        return f"blob {self.args[0]} is damaged in the store (its content does not match its digest)"


class InvalidDigest(ValueError):
    """A digest that is not 64 lowercase hex characters; never turned into a path."""


class BlobStoreUnavailable(Exception):
    """The store could not be reached or refused the request (network, credentials, server error).

    Nothing was half-written: retrying later is the answer. ``str()`` is for logs, not for chats.
    """


class Readable(Protocol):
    """Anything with ``read(size)``: an open file, a socket body, an in-memory buffer."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class BlobInfo:
    """One stored blob: its digest, size in bytes and when it was last written."""

    digest: str
    size: int
    modified: datetime


def check_digest(digest: object) -> str:
    """``digest`` when it is a sha256 hex string; raises ``InvalidDigest`` otherwise."""
    if not isinstance(digest, str) or not SHA256.match(digest):
        raise InvalidDigest(f"not a sha256 digest: {digest!r}")
    return digest


def relative_key(digest: str) -> str:
    """``ab/cd/<digest>``: the layout both backends use, two levels of fan-out by the digest's first bytes."""
    check_digest(digest)
    return f"{digest[:2]}/{digest[2:4]}/{digest}"


def file_digest(path: Path) -> str:
    """The sha256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class BytesReader:
    """``read(size)`` over bytes without copying them all up front."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def read(self, size: int = -1, /) -> bytes:
        end = len(self._data) if size < 0 else min(len(self._data), self._pos + size)
        chunk = bytes(self._data[self._pos : end])
        self._pos = end
        return chunk


class BlobStore(ABC):
    """Content-addressed bytes: put returns the sha256 digest, everything else takes one.

    Two backends: ``LocalBlobStore`` (a folder, the embedded default) and ``S3BlobStore`` (an S3-compatible
    bucket, for deployments on several machines). Callers never see paths or keys, except through ``fetch``,
    which hands tools like ffmpeg a real file.
    """

    #: Where the blobs live, for log lines and operator messages (a folder or ``s3://bucket/prefix``).
    location: str

    def __init__(self) -> None:
        self._reported: set[str] = set()
        self._reported_lock = threading.Lock()

    # ---- writing --------------------------------------------------------------------------------------

    @abstractmethod
    def put_file(self, source: Path) -> str:
        """Store the file at ``source`` and return its digest; the store shows the whole content or nothing."""

    @abstractmethod
    def put_stream(self, stream: Readable) -> str:
        """Store everything read from ``stream`` and return its digest."""

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` and return its sha256 digest."""
        return self.put_stream(BytesReader(data))

    @abstractmethod
    def delete(self, digest: str) -> bool:
        """Remove ``digest``; returns whether it was there. Callers check that no row still refers to it."""

    # ---- reading --------------------------------------------------------------------------------------

    @abstractmethod
    def read_bytes(self, digest: str) -> bytes:
        """The stored content of ``digest``, checked against it; raises ``BlobNotFound`` when missing."""

    @abstractmethod
    def open(self, digest: str) -> BinaryIO:
        """An open binary file for reading ``digest`` (checked against it before the first byte is read)."""

    @abstractmethod
    def read_range(self, digest: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start``..``end`` (inclusive) of ``digest`` in chunks, for HTTP Range answers.

        Raises ``BlobNotFound`` before yielding anything when the blob is missing.
        """

    @abstractmethod
    def fetch(self, digest: str, into: Path) -> Path:
        """A real file holding ``digest``'s content, for tools that need a path (ffmpeg, weight loaders).

        A local store hands back its own file; a remote one downloads (or links from its cache) into the
        folder ``into``, normally a job's private workdir, and the file goes when that folder is removed.
        Treat the file as read-only either way.
        """

    def copy_to(self, digest: str, target: Path) -> Path:
        """Copy a blob to ``target`` (a file the caller owns, e.g. a console's outbox)."""
        with self.open(digest) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
        return target

    @abstractmethod
    def stat(self, digest: str) -> BlobInfo | None:
        """Size and modification time of ``digest``, or None when it is not stored."""

    def info(self, digest: str) -> BlobInfo:
        """Like ``stat`` but raises ``BlobNotFound`` (reported once) when the blob is missing."""
        found = self.stat(digest)
        if found is None:
            raise self.missing(digest)
        return found

    def size(self, digest: str) -> int:
        """The blob's size in bytes; 0 when it is missing."""
        found = self.stat(digest)
        return found.size if found is not None else 0

    def exists(self, digest: str) -> bool:
        """Whether ``digest`` is stored."""
        return self.stat(digest) is not None

    @abstractmethod
    def entries(self) -> Iterator[BlobInfo]:
        """Every stored blob (for housekeeping and audits), in no particular order."""

    def digests(self) -> Iterator[str]:
        """Every stored digest."""
        for entry in self.entries():
            yield entry.digest

    # ---- operations -------------------------------------------------------------------------------------

    @abstractmethod
    def check(self) -> None:
        """Raise ``BlobStoreUnavailable`` unless the store can be read and written now."""

    @abstractmethod
    def sweep_temporary(self, *, older_than: timedelta) -> int:
        """Remove leftovers of writes that never finished (a process killed mid-upload); returns how many."""

    def missing(self, digest: str, *, corrupt: bool = False) -> BlobNotFound:
        """The exception for a missing (or damaged) blob, logged once per digest by this store.

        A missing blob is an operator's problem (someone emptied the bucket, a disk was restored from an old
        backup): one clear line in the log, not one per retry or per page view.
        """
        error = BlobCorrupt(digest) if corrupt else BlobNotFound(digest)
        if self.first_reports([digest]):
            log.error("%s in %s; rows that refer to it cannot be shown or used", error, self.location)
        return error

    def first_reports(self, digests: Iterable[str]) -> list[str]:
        """Those of ``digests`` not yet reported missing by this store, now marked as reported."""
        with self._reported_lock:
            new = [digest for digest in dict.fromkeys(digests) if digest not in self._reported]
            self._reported.update(new)
        return new
