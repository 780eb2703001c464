"""Serving a blob over HTTP once a link was checked: streamed from the store, with Range, ETag and 304.

The page streams rather than redirecting to a presigned store URL, for three reasons: the bucket stays
private and need not be reachable from the internet at all; a revoked or expired link stops working on the
next request (a presigned URL, once handed out, keeps working until it expires); and every download passes
the counting rule. The cost is that the bytes pass through this process; the store's own Range support keeps
that to what the browser asked for, so seeking in a video fetches only the part it needs.
"""

from __future__ import annotations

import html
import logging
import re

from fastapi import Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from storage.blobs import BlobNotFound, BlobStore, BlobStoreUnavailable

log = logging.getLogger(__name__)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

UNAVAILABLE = (503, "Downloads are briefly unavailable", "The file store cannot be reached right now. Your files are "
               "kept: try again in a few minutes.")
MISSING = (404, "This file is missing", "The link is fine, but the file is no longer in storage. Ask the bot for "
           "the result again, or make it anew.")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for a single-range ``Range`` header; None for no range, one we do not serve
    (several ranges: the whole file is a valid answer), or a malformed one. Raises ``ValueError`` when the
    range lies outside the file (416)."""
    if not header:
        return None
    match = _RANGE.match(header.replace(" ", "").lower())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes
        length = int(last)
        if length == 0:
            raise ValueError("empty suffix range")
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise ValueError("range outside the file")
    return start, end


def blob_response(blobs: BlobStore, digest: str, request: Request, *, media_type: str, filename: str) -> Response:
    """The blob as an attachment named ``filename``: whole (200), a part (206), unchanged (304), or a short page
    when the store is out of reach (503) or the file is gone (404)."""
    try:
        size = blobs.info(digest).size
    except BlobStoreUnavailable as exc:
        log.warning("cannot serve %s: %s", digest, exc)
        return _page(*UNAVAILABLE, retry_after=60)
    except BlobNotFound:
        return _page(*MISSING)
    # Content-addressed: the digest is a strong validator that never changes for this URL's content.
    etag = f'"{digest}"'
    headers = {
        "accept-ranges": "bytes",
        "etag": etag,
        "cache-control": "private, no-cache",  # revalidated each time, so a revoked link stops at once
        "content-disposition": f'attachment; filename="{filename}"',
    }
    if etag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers)
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range != etag:
        wanted = None  # the client's partial copy is of something else: send it whole
    try:
        part = byte_range(wanted, size)
    except ValueError:
        return Response(status_code=416, headers={**headers, "content-range": f"bytes */{size}"})
    start, end = part if part is not None else (0, size - 1)
    status = 206 if part is not None else 200
    if part is not None:
        headers["content-range"] = f"bytes {start}-{end}/{size}"
    headers["content-length"] = str(end - start + 1)
    if size == 0:
        return Response(status_code=200, headers=headers, media_type=media_type)
    try:
        chunks = blobs.read_range(digest, start, end)
    except BlobStoreUnavailable as exc:
        log.warning("cannot serve %s: %s", digest, exc)
        return _page(*UNAVAILABLE, retry_after=60)
    except BlobNotFound:
        return _page(*MISSING)
    return StreamingResponse(chunks, status_code=status, headers=headers, media_type=media_type)


def _page(status: int, title: str, text: str, *, retry_after: int | None = None) -> HTMLResponse:
    response = HTMLResponse(f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
                            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>", status_code=status)
    if retry_after is not None:
        response.headers["retry-after"] = str(retry_after)
    return response
