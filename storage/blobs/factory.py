"""Which blob store a process uses: the local folder by default, an S3 bucket when ``STUDIO_BLOB_URL`` names one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from storage.blobs.base import BlobStore
from storage.blobs.local import LocalBlobStore

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX_PART = re.compile(r"^[A-Za-z0-9._-]+$")


def parse_blob_url(url: str) -> tuple[str, str]:
    """``(bucket, prefix)`` from ``s3://bucket/some/prefix``; raises ``ValueError`` saying what is wrong."""
    if not url.startswith("s3://"):
        raise ValueError(f"STUDIO_BLOB_URL must look like s3://<bucket>/<prefix>, not {url!r}")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(f"{bucket!r} is not a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)")
    parts = [part for part in prefix.split("/") if part]
    for part in parts:
        if not _PREFIX_PART.match(part) or part in (".", ".."):
            raise ValueError(f"the prefix in STUDIO_BLOB_URL may use letters, digits, '.', '_' and '-' only: {part!r}")
    return bucket, "/".join(parts)


class BlobSettings(Protocol):
    """The settings the blob store reads (``core.settings.Settings`` has them all)."""

    @property
    def blob_url(self) -> str | None: ...

    @property
    def s3_endpoint_url(self) -> str | None: ...

    @property
    def blobs_dir(self) -> Path: ...

    @property
    def resolved_data_dir(self) -> Path: ...

    @property
    def blob_cache_mb(self) -> int: ...


def open_blob_store(settings: BlobSettings, *, cache: bool = False) -> BlobStore:
    """The store ``settings`` name; ``cache`` (workers) keeps recently read blobs of a remote store on this
    machine, in ``<data dir>/blob-cache``, up to ``STUDIO_BLOB_CACHE_MB``."""
    if not settings.blob_url:
        return LocalBlobStore(settings.blobs_dir)
    # Imported here: boto3 takes a moment to import and the embedded default never needs it.
    from storage.blobs.cache import BlobCache
    from storage.blobs.s3 import S3BlobStore

    bucket, prefix = parse_blob_url(settings.blob_url)
    data_dir = settings.resolved_data_dir
    blob_cache = None
    if cache and settings.blob_cache_mb > 0:
        blob_cache = BlobCache(data_dir / "blob-cache", max_bytes=settings.blob_cache_mb * 2**20)
    return S3BlobStore(bucket, prefix, endpoint_url=settings.s3_endpoint_url or None, spool_dir=data_dir / "tmp",
                       cache=blob_cache)
