"""The S3 backend: blobs as private objects ``<prefix>/ab/cd/<sha256>`` in an S3-compatible bucket.

boto3 is the client (see docs/DEPLOY.md for why). Credentials come from boto3's standard chain: the
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` variables, ``~/.aws`` files and profiles, or an instance role.

- Integrity: every upload carries its SHA-256 (``x-amz-checksum-sha256`` per request or per part), which the
  store verifies before it accepts the object; every download is hashed and compared with its digest, and a
  mismatch is tried once more before the blob is reported as damaged.
- Large files go up and down in parts (``TransferConfig``), several at a time, never whole in memory.
- Objects are written without an ACL, so they are as private as the bucket; nothing here makes a bucket or an
  object public, and ``public_access()`` lets an operator check that nobody else did.
- Every failure to reach the store, or a refusal of the credentials, is raised as ``BlobStoreUnavailable``;
  a missing object as ``BlobNotFound``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage.blobs.base import (
    CHUNK,
    SHA256,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreUnavailable,
    Readable,
    check_digest,
    file_digest,
    relative_key,
)
from storage.blobs.cache import BlobCache

log = logging.getLogger(__name__)

T = TypeVar("T")

# Parts of 16 MiB, four at a time: a 100 MB clip is seven requests in flight, not one long one.
PART_SIZE = 16 * 2**20
CONCURRENCY = 4
_MISSING = ("NoSuchKey", "404", "NotFound")

# One boto3 session per process: building one parses the S3 service description (a third of a second), and
# every store of the process (assistant, web page, worker) would pay it again. Clients are thread-safe;
# creating them from one session is not, hence the lock.
_session_lock = threading.Lock()
_shared_session: boto3.Session | None = None


def _default_session() -> boto3.Session:
    global _shared_session
    with _session_lock:
        if _shared_session is None:
            _shared_session = boto3.Session()
        return _shared_session


class S3BlobStore(BlobStore):
    """Blobs in ``bucket`` under ``prefix``; ``cache`` keeps recently read blobs on this machine."""

    def __init__(self, bucket: str, prefix: str = "", *, spool_dir: Path, endpoint_url: str | None = None,
                 region: str | None = None, cache: BlobCache | None = None, session: boto3.Session | None = None,
                 max_attempts: int = 3, connect_timeout_s: float = 5.0, read_timeout_s: float = 60.0,
                 part_size: int = PART_SIZE) -> None:
        super().__init__()
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.endpoint_url = endpoint_url
        self.cache = cache
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.part_size = part_size
        # Non-AWS stores (SeaweedFS, MinIO, Ceph) are addressed by path; AWS picks its own style.
        config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            max_pool_connections=max(10, CONCURRENCY * 2),
        )
        self._session = session or _default_session()
        self._region = region or self._session.region_name or "us-east-1"
        with _session_lock:
            self._client = self._session.client("s3", endpoint_url=endpoint_url, region_name=self._region,
                                                config=config)
        self._transfer = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size,
                                        max_concurrency=CONCURRENCY, io_chunksize=CHUNK)

    def key(self, digest: str) -> str:
        """The object key of ``digest``: the prefix and the digest, nothing else."""
        relative = relative_key(digest)
        return f"{self.prefix}/{relative}" if self.prefix else relative

    # ---- errors ----------------------------------------------------------------------------------------

    @contextmanager
    def _calls(self, action: str, digest: str | None = None, *, report: bool = True) -> Iterator[None]:
        """Turn boto3's exceptions into the store's: missing objects (logged once when ``report``), and
        everything that means "try later"."""
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if digest is not None and (code in _MISSING or (status == 404 and code != "NoSuchBucket")):
                raise (self.missing(digest) if report else BlobNotFound(digest)) from None
            raise BlobStoreUnavailable(f"{self.location}: {action} refused ({code or status}: "
                                       f"{error.get('Message', '')})") from exc
        except (BotoCoreError, Boto3Error) as exc:
            # Connection refused or timed out, no credentials found, a body cut off mid-read.
            raise BlobStoreUnavailable(f"{self.location}: {action} failed ({exc})") from exc

    def _call(self, action: str, fn: Callable[..., T], digest: str | None = None, *, report: bool = True,
              **kwargs: Any) -> T:
        with self._calls(action, digest, report=report):
            return fn(**kwargs)

    # ---- writing --------------------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        if len(data) > self.part_size:
            return super().put_bytes(data)  # spooled and sent in parts
        raw = hashlib.sha256(data)
        digest = raw.hexdigest()
        self._call("upload", self._client.put_object, Bucket=self.bucket, Key=self.key(digest), Body=data,
                   ChecksumSHA256=base64.b64encode(raw.digest()).decode(), Metadata={"sha256": digest},
                   ContentType="application/octet-stream")
        return digest

    def put_file(self, source: Path) -> str:
        digest = file_digest(source)
        self._upload(source, digest)
        return digest

    def put_stream(self, stream: Readable) -> str:
        """Spool ``stream`` to a local file while hashing it (the key is the hash), then upload that file."""
        digest = hashlib.sha256()
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.spool_dir, prefix="put-")
        spooled = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            self._upload(spooled, digest.hexdigest())
        finally:
            spooled.unlink(missing_ok=True)
        return digest.hexdigest()

    def _upload(self, source: Path, digest: str) -> None:
        # Always written, even when the object exists: the fresh LastModified is what keeps housekeeping off a
        # blob that a job stored a moment ago and has not yet recorded in a row.
        key = self.key(digest)
        if source.stat().st_size <= self.part_size:
            with open(source, "rb") as body:
                raw = bytes.fromhex(digest)
                self._call("upload", self._client.put_object, Bucket=self.bucket, Key=key, Body=body,
                           ChecksumSHA256=base64.b64encode(raw).decode(), Metadata={"sha256": digest},
                           ContentType="application/octet-stream")
            return
        # In parts, each with its own SHA-256 checked by the store; a failed upload is aborted, not left half.
        self._call("upload", self._client.upload_file, Filename=str(source), Bucket=self.bucket, Key=key,
                   ExtraArgs={"ChecksumAlgorithm": "SHA256", "Metadata": {"sha256": digest},
                              "ContentType": "application/octet-stream"},
                   Config=self._transfer)

    def delete(self, digest: str) -> bool:
        if self.stat(digest) is None:
            return False
        self._call("delete", self._client.delete_object, Bucket=self.bucket, Key=self.key(digest))
        if self.cache is not None:
            self.cache.path_for(digest).unlink(missing_ok=True)
        return True

    # ---- reading --------------------------------------------------------------------------------------

    def _download(self, digest: str, target: Path) -> None:
        """Download ``digest`` into ``target`` (in parts when large), checked against its digest."""
        for attempt in (1, 2):
            partial = target.with_name(target.name + ".part")
            try:
                self._call("download", self._client.download_file, digest, Bucket=self.bucket,
                           Key=self.key(digest), Filename=str(partial), Config=self._transfer)
                if file_digest(partial) == digest:
                    os.replace(partial, target)
                    return
            finally:
                partial.unlink(missing_ok=True)
            log.warning("download of %s from %s did not match its digest (try %d)", digest, self.location, attempt)
        raise self.missing(digest, corrupt=True)

    def _cached(self, digest: str) -> Path | None:
        """The blob's path in this machine's cache, downloading it first; None when it is not worth caching."""
        if self.cache is None:
            return None
        found = self.cache.get(digest)
        if found is not None:
            return found
        if not self.cache.holds(self.info(digest).size):
            return None
        downloaded = self.cache.temporary()
        try:
            self._download(digest, downloaded)
            return self.cache.admit(downloaded, digest)
        finally:
            downloaded.unlink(missing_ok=True)

    def read_bytes(self, digest: str) -> bytes:
        check_digest(digest)
        cached = self._cached(digest)
        if cached is not None:
            return cached.read_bytes()
        for attempt in (1, 2):
            with self._calls("download", digest):
                response = self._client.get_object(Bucket=self.bucket, Key=self.key(digest))
                data: bytes = response["Body"].read()
            if hashlib.sha256(data).hexdigest() == digest:
                return data
            log.warning("download of %s from %s did not match its digest (try %d)", digest, self.location, attempt)
        raise self.missing(digest, corrupt=True)

    def open(self, digest: str) -> BinaryIO:
        check_digest(digest)
        cached = self._cached(digest)
        if cached is not None:
            return open(cached, "rb")
        # Downloaded and checked first: a reader never gets bytes that turn out not to match.
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.spool_dir, prefix="get-")
        os.close(fd)
        path = Path(name)
        try:
            self._download(digest, path)
            handle = open(path, "rb")  # noqa: SIM115
        finally:
            path.unlink(missing_ok=True)  # the open handle keeps the bytes until it is closed
        return handle

    def read_range(self, digest: str, start: int, end: int) -> Iterator[bytes]:
        with self._calls("download", digest):
            response = self._client.get_object(Bucket=self.bucket, Key=self.key(digest), Range=f"bytes={start}-{end}")
        body = response["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                with self._calls("download", digest):
                    yield from body.iter_chunks(CHUNK)
            finally:
                body.close()

        return chunks()

    def fetch(self, digest: str, into: Path) -> Path:
        check_digest(digest)
        target = Path(into) / digest
        if target.is_file():
            return target
        cached = self._cached(digest)
        if cached is not None:
            # A hard link: the job's copy survives the cache evicting its own.
            try:
                os.link(cached, target)
            except OSError:
                shutil.copyfile(cached, target)
            return target
        self._download(digest, target)
        return target

    def stat(self, digest: str) -> BlobInfo | None:
        try:
            head = self._call("look-up", self._client.head_object, digest, report=False, Bucket=self.bucket,
                              Key=self.key(digest))
        except BlobNotFound:
            return None
        return BlobInfo(digest, int(head["ContentLength"]), head["LastModified"])

    def info(self, digest: str) -> BlobInfo:
        check_digest(digest)
        head = self._call("look-up", self._client.head_object, digest, Bucket=self.bucket, Key=self.key(digest))
        return BlobInfo(digest, int(head["ContentLength"]), head["LastModified"])

    def entries(self) -> Iterator[BlobInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        start = f"{self.prefix}/" if self.prefix else ""
        with self._calls("listing"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", []):
                    digest = item["Key"].rsplit("/", 1)[-1]
                    # Only keys in the store's own layout: anything else in the bucket is not ours to touch.
                    if SHA256.match(digest) and item["Key"] == self.key(digest):
                        yield BlobInfo(digest, int(item["Size"]), item["LastModified"])

    # ---- operations -------------------------------------------------------------------------------------

    def ensure_bucket(self) -> bool:
        """Create the bucket (private: no ACL, no policy) when it does not exist; returns whether it did."""
        try:
            self._call("bucket look-up", self._client.head_bucket, Bucket=self.bucket)
            return False
        except BlobStoreUnavailable as exc:
            cause = exc.__cause__
            if not (isinstance(cause, ClientError) and
                    cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404):
                raise
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self._region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        self._call("bucket creation", self._client.create_bucket, **kwargs)
        return True

    def check(self) -> None:
        self._call("bucket look-up", self._client.head_bucket, Bucket=self.bucket)

    def public_access(self) -> list[str]:
        """What anyone without credentials can do here (should be nothing): each entry a finding."""
        unsigned = Config(signature_version=UNSIGNED, retries={"max_attempts": 1},
                          s3={"addressing_style": "path" if self.endpoint_url else "auto"})
        with _session_lock:
            anonymous = self._session.client("s3", endpoint_url=self.endpoint_url, region_name=self._region,
                                             config=unsigned)
        probe = self.put_bytes(b"persona-studio access probe\n")
        findings: list[str] = []
        checks: list[tuple[str, Callable[[], object]]] = [
            ("anyone can list the bucket",
             lambda: anonymous.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)),
            ("anyone can read stored files", lambda: anonymous.get_object(Bucket=self.bucket, Key=self.key(probe))),
        ]
        try:
            for finding, attempt in checks:
                try:
                    attempt()
                except ClientError:
                    continue  # refused: as it should be
                except BotoCoreError as exc:
                    raise BlobStoreUnavailable(f"{self.location}: access check failed ({exc})") from exc
                findings.append(finding)
        finally:
            self.delete(probe)
        return findings

    def sweep_temporary(self, *, older_than: timedelta) -> int:
        """Abort multipart uploads left by killed processes, and remove this machine's stale spool files."""
        cutoff = datetime.now(UTC) - older_than
        removed = 0
        start = f"{self.prefix}/" if self.prefix else ""
        with self._calls("multipart listing"):
            paginator = self._client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < cutoff:
                        self._client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                            UploadId=upload["UploadId"])
                        removed += 1
        for folder in (self.spool_dir, *([self.cache.spool] if self.cache is not None else [])):
            for leftover in list(folder.glob("put-*")) + list(folder.glob("get-*")):
                try:
                    if datetime.fromtimestamp(leftover.stat().st_mtime, UTC) < cutoff:
                        leftover.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed
