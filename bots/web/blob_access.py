"""Every byte the web page serves comes out of the blob store through here: a window of one blob (a whole file,
or one member stored inside an export zip) streamed with HTTP Range support, and blobs read for previews.

The page streams from the store rather than redirecting to a presigned store URL: the bucket stays private and
need not be reachable from the internet at all; a revoked or expired link stops working on the next request (a
presigned URL keeps working until it expires); and every download passes the counting rule. The bytes pass
through this process, but the store's own Range support keeps that to what the browser asked for. A store out
of reach or a missing file raise ``BlobStoreUnavailable``/``BlobNotFound``, which become short pages (503, 404).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from storage.blobs import BlobStore

CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(ValueError):
    """The Range header asks for bytes past the end of the file."""


@dataclass(frozen=True)
class Window:
    """Bytes ``start`` to ``end`` (inclusive) of a file of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        """How many bytes the window holds."""
        return self.end - self.start + 1


def requested_window(range_header: str | None, size: int) -> Window | None:
    """The single byte range a ``Range`` header asks for, or None for the whole file.

    Several ranges at once (rare; no player asks for them) are answered with the whole file, as RFC 9110 allows.
    """
    if not range_header:
        return None
    match = _RANGE.match(range_header.replace(" ", "").lower())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # "bytes=-500": the last 500 bytes
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(range_header)
        return Window(max(0, size - suffix), size - 1, size)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(range_header)
    return Window(start, end, size)


def content_disposition(filename: str, *, inline: bool) -> str:
    """A ``Content-Disposition`` value that keeps non-ASCII names (RFC 6266 ``filename*``)."""
    kind = "inline" if inline else "attachment"
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    if ascii_name == filename:
        return f'{kind}; filename="{filename}"'
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def blob_exists(blobs: BlobStore, digest: str) -> bool:
    """Whether ``digest`` is stored."""
    return blobs.exists(digest)


def blob_size(blobs: BlobStore, digest: str) -> int:
    """The stored size of ``digest`` in bytes (0 when it is gone)."""
    return blobs.size(digest)


def open_blob(blobs: BlobStore, digest: str) -> BinaryIO:
    """``digest`` opened for reading, seekable (zip members and ranges are read in place)."""
    return blobs.open(digest)


def read_window(blobs: BlobStore, digest: str, offset: int, length: int) -> bytes:
    """``length`` bytes of ``digest`` from ``offset`` (only those travel from a remote store)."""
    if length <= 0:
        return b""
    return b"".join(blobs.read_range(digest, offset, offset + length - 1))


@contextmanager
def blob_file(blobs: BlobStore, digest: str, *, offset: int = 0, length: int | None = None,
              scratch: Path | None = None) -> Iterator[Path]:
    """A local file holding ``digest`` (or its window at ``offset``), for tools that need a path (ffmpeg).

    A whole blob of a local store is used in place (a remote one is fetched into a temporary folder); a window
    is copied into ``scratch``. Either copy is removed after.
    """
    if offset == 0 and length is None:
        with tempfile.TemporaryDirectory(dir=scratch, prefix="blob-") as folder:
            yield blobs.fetch(digest, into=Path(folder))
        return
    end = (offset + length - 1) if length is not None else blob_size(blobs, digest) - 1
    with tempfile.NamedTemporaryFile(dir=scratch, prefix="window-", suffix=".bin") as copy:
        if end >= offset:
            for chunk in blobs.read_range(digest, offset, end):
                copy.write(chunk)
        copy.flush()
        yield Path(copy.name)


def blob_response(blobs: BlobStore, digest: str, request: Request, *, media_type: str, filename: str,
                  inline: bool = False, offset: int = 0, length: int | None = None,
                  cache_control: str | None = None) -> Response:
    """Stream ``length`` bytes of ``digest`` from ``offset`` (default: all of it) as a file called ``filename``.

    Range requests are answered with 206, so video players can start at once and seek, and interrupted
    downloads resume; the digest (and window) is a strong ETag, so a repeat visit gets 304 and ``If-Range`` is
    honoured. ``inline`` shows the file in the browser instead of saving it.
    """
    size = (blobs.info(digest).size - offset) if length is None else length
    # Content-addressed: the digest names these bytes for ever, so it is a strong validator.
    etag = f'"{digest}"' if offset == 0 and length is None else f'"{digest}-{offset}-{size}"'
    headers = {"Accept-Ranges": "bytes", "Content-Disposition": content_disposition(filename, inline=inline),
               "ETag": etag}
    if cache_control:
        headers["Cache-Control"] = cache_control
    if etag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers)
    wanted = request.headers.get("range")
    if request.headers.get("if-range") not in (None, etag):
        wanted = None  # the client's partial copy is of something else: send it whole
    try:
        window = requested_window(wanted, size)
    except RangeNotSatisfiable:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    status = 206 if window is not None else 200
    if window is None:
        window = Window(0, size - 1, size)
    else:
        headers["Content-Range"] = f"bytes {window.start}-{window.end}/{size}"
    headers["Content-Length"] = str(max(0, window.length))
    if request.method == "HEAD" or window.length <= 0:
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(_read_window(blobs, digest, offset + window.start, window.length), status_code=status,
                             headers=headers, media_type=media_type)


def _read_window(blobs: BlobStore, digest: str, start: int, length: int) -> Iterator[bytes]:
    # A plain generator: Starlette runs it on a worker thread, so slow disks and stores never block the event loop.
    yield from blobs.read_range(digest, start, start + length - 1)

