"""Content-addressed blob store: one interface (``BlobStore``), a local folder or an S3-compatible bucket behind it.

``open_blob_store(settings)`` picks the backend; ``S3BlobStore`` lives in ``storage.blobs.s3`` (it needs boto3).
"""

from storage.blobs.base import (
    BlobCorrupt,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreUnavailable,
    InvalidDigest,
    check_digest,
)
from storage.blobs.factory import BlobSettings, open_blob_store, parse_blob_url
from storage.blobs.local import LocalBlobStore

__all__ = [
    "BlobCorrupt",
    "BlobInfo",
    "BlobNotFound",
    "BlobSettings",
    "BlobStore",
    "BlobStoreUnavailable",
    "InvalidDigest",
    "LocalBlobStore",
    "check_digest",
    "open_blob_store",
    "parse_blob_url",
]
