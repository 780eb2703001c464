"""The blob store on both backends (a local folder, a bucket on a real S3 server): content addressing,
integrity, multipart streaming, ranges, fetching into a workdir, the worker cache, and what goes wrong."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

from core.settings import Settings
from storage.blobs import (
    BlobCorrupt,
    BlobNotFound,
    BlobStore,
    BlobStoreUnavailable,
    InvalidDigest,
    LocalBlobStore,
    open_blob_store,
    parse_blob_url,
)
from storage.blobs.cache import BlobCache
from storage.blobs.s3 import S3BlobStore
from tests.services import S3Server


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def s3_store(s3: S3Server, prefix: str, tmp_path: Path, **kwargs: object) -> S3BlobStore:
    return S3BlobStore(s3.bucket, prefix, endpoint_url=s3.endpoint_url, spool_dir=tmp_path / "spool",
                       **kwargs)  # type: ignore[arg-type]


def test_round_trip_dedup_listing_and_delete(any_blobs: BlobStore) -> None:
    first = any_blobs.put_bytes(b"hello")
    assert first == sha(b"hello")
    assert any_blobs.put_bytes(b"hello") == first, "the same content is one blob"
    assert any_blobs.read_bytes(first) == b"hello"
    assert any_blobs.size(first) == 5 and any_blobs.exists(first)
    with open(__file__, "rb") as stream:
        second = any_blobs.put_stream(stream)
    assert sorted(any_blobs.digests()) == sorted([first, second])
    assert {e.digest: e.size for e in any_blobs.entries()}[second] == os.path.getsize(__file__)
    assert any_blobs.delete(first) and not any_blobs.exists(first) and not any_blobs.delete(first)
    assert any_blobs.size(first) == 0
    with pytest.raises(BlobNotFound):
        any_blobs.read_bytes(first)
    assert list(any_blobs.digests()) == [second]


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "abc", "/" + "a" * 63, "a" * 63 + "/", "a" * 63 + "\n"])
def test_no_input_ever_becomes_a_path_or_key(any_blobs: BlobStore, bad: str, tmp_path: Path) -> None:
    for call in (any_blobs.read_bytes, any_blobs.delete, any_blobs.info, any_blobs.exists,
                 lambda d: any_blobs.fetch(d, into=tmp_path), lambda d: any_blobs.read_range(d, 0, 1)):
        with pytest.raises(InvalidDigest):
            call(bad)


def test_keys_are_the_prefix_and_the_digest_only(s3: S3Server, s3_prefix: str, tmp_path: Path) -> None:
    store = s3_store(s3, s3_prefix, tmp_path)
    digest = store.put_bytes(b"ava at the beach.png")
    assert s3.keys(s3_prefix + "/") == [f"{s3_prefix}/{digest[:2]}/{digest[2:4]}/{digest}"]
    local = LocalBlobStore(tmp_path / "blobs")
    assert local.path(local.put_bytes(b"x")).relative_to(local.root).parts[:2] == (sha(b"x")[:2], sha(b"x")[2:4])


class Exploding:
    """A reader whose source fails part-way (a connection dropped, a disk gone)."""

    def __init__(self) -> None:
        self.calls = 0

    def read(self, size: int = -1, /) -> bytes:
        self.calls += 1
        if self.calls > 2:
            raise OSError("the source went away")
        return b"x" * 1024


def test_a_failed_write_leaves_nothing_behind(blob_settings: Settings) -> None:
    store = open_blob_store(blob_settings)
    with pytest.raises(OSError, match="went away"):
        store.put_stream(Exploding())
    assert list(store.digests()) == []
    spool = blob_settings.blobs_dir / "tmp" if isinstance(store, LocalBlobStore) else blob_settings.data_dir / "tmp"
    assert list(spool.iterdir()) == []


def test_concurrent_writers_of_the_same_content(any_blobs: BlobStore) -> None:
    data = os.urandom(3_000_000)
    digests: list[str] = []
    threads = [threading.Thread(target=lambda: digests.append(any_blobs.put_bytes(data))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert digests == [sha(data)] * 4
    assert any_blobs.read_bytes(digests[0]) == data


def test_ranges_are_exact_and_a_missing_blob_raises_before_any_byte(any_blobs: BlobStore) -> None:
    data = bytes(range(256)) * 8000  # 2 MB: more than one read chunk
    digest = any_blobs.put_bytes(data)
    assert b"".join(any_blobs.read_range(digest, 100, 199)) == data[100:200]
    assert b"".join(any_blobs.read_range(digest, 0, len(data) - 1)) == data
    assert b"".join(any_blobs.read_range(digest, len(data) - 3, len(data) - 1)) == data[-3:]
    with pytest.raises(BlobNotFound):
        any_blobs.read_range(sha(b"never stored"), 0, 10)


def test_fetch_gives_tools_a_real_file(any_blobs: BlobStore, tmp_path: Path) -> None:
    workdir = tmp_path / "job"
    workdir.mkdir()
    digest = any_blobs.put_bytes(b"\x00video bytes")
    path = any_blobs.fetch(digest, into=workdir)
    assert path.read_bytes() == b"\x00video bytes"
    if isinstance(any_blobs, LocalBlobStore):
        assert path == any_blobs.path(digest), "one machine: the stored file itself, nothing copied"
    else:
        assert path.parent == workdir, "many machines: downloaded into the job's own folder"
    with pytest.raises(BlobNotFound):
        any_blobs.fetch(sha(b"gone"), into=workdir)


def test_large_files_travel_in_checked_parts_both_ways(s3: S3Server, s3_prefix: str, tmp_path: Path) -> None:
    store = s3_store(s3, s3_prefix, tmp_path, part_size=5 * 2**20)  # S3's smallest part
    source = tmp_path / "clip.bin"
    source.write_bytes(os.urandom(12 * 2**20))
    digest = store.put_file(source)
    head = s3.client().head_object(Bucket=s3.bucket, Key=store.key(digest), ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-3"'), "uploaded as three parts"
    assert head["ChecksumSHA256"].endswith("-3") and head["Metadata"]["sha256"] == digest
    fetched = store.fetch(digest, into=tmp_path)
    assert fetched != source and fetched.read_bytes() == source.read_bytes()
    assert store.read_bytes(digest) == source.read_bytes()


def test_uploads_carry_their_sha256_for_the_store_to_check(s3: S3Server, s3_prefix: str, tmp_path: Path) -> None:
    store = s3_store(s3, s3_prefix, tmp_path)
    digest = store.put_bytes(b"checked on arrival")
    head = s3.client().head_object(Bucket=s3.bucket, Key=store.key(digest), ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(digest)).decode()


def test_content_that_no_longer_matches_its_digest_is_reported_once(
        s3: S3Server, s3_prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = s3_store(s3, s3_prefix, tmp_path)
    digest = store.put_bytes(b"the original")
    s3.client().put_object(Bucket=s3.bucket, Key=store.key(digest), Body=b"tampered with")
    with caplog.at_level(logging.ERROR, logger="storage.blobs"):
        for _ in range(3):
            with pytest.raises(BlobCorrupt):
                store.read_bytes(digest)
        with pytest.raises(BlobCorrupt):
            store.fetch(digest, into=tmp_path)
    assert not list(tmp_path.glob(f"{digest}*")), "no damaged file handed to a tool"
    reports = [r for r in caplog.records if digest in r.getMessage()]
    assert len(reports) == 1 and "damaged" in reports[0].getMessage() and s3.bucket in reports[0].getMessage()


def test_a_missing_blob_is_reported_once(any_blobs: BlobStore, caplog: pytest.LogCaptureFixture) -> None:
    gone = sha(b"deleted behind our back")
    with caplog.at_level(logging.ERROR, logger="storage.blobs"):
        assert not any_blobs.exists(gone), "looking is not reading: nothing logged"
        for _ in range(3):
            with pytest.raises(BlobNotFound):
                any_blobs.read_bytes(gone)
    reports = [r for r in caplog.records if gone in r.getMessage()]
    assert len(reports) == 1 and any_blobs.location in reports[0].getMessage()


def test_worker_cache_serves_repeated_reads_from_local_disk(s3: S3Server, s3_prefix: str, tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache", max_bytes=2**20)
    store = s3_store(s3, s3_prefix, tmp_path, cache=cache)
    lora = store.put_bytes(b"lora weights" * 1000)
    reference = store.put_bytes(b"persona photo" * 1000)
    assert store.read_bytes(reference) == b"persona photo" * 1000
    (tmp_path / "job1").mkdir()
    first = store.fetch(lora, into=tmp_path / "job1")
    # The bucket loses both objects (behind the store's back): the cached copies still serve the next jobs.
    s3.empty(s3_prefix + "/")
    assert store.read_bytes(reference) == b"persona photo" * 1000
    (tmp_path / "job2").mkdir()
    second = store.fetch(lora, into=tmp_path / "job2")
    assert second.read_bytes() == first.read_bytes() and second.parent.name == "job2"
    assert cache.get(lora) is not None


def test_the_cache_stays_within_its_budget_evicting_the_least_recently_used(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache", max_bytes=1000, in_use_s=0)
    contents = [bytes([n]) * 240 for n in range(6)]
    for data in contents[:4]:
        download = cache.temporary()
        download.write_bytes(data)
        cache.admit(download, sha(data))
    os.utime(cache.path_for(sha(contents[0])), (1, 1))  # the oldest use
    assert cache.get(sha(contents[1])) is not None  # just used: keeps its place
    for data in contents[4:]:
        download = cache.temporary()
        download.write_bytes(data)
        cache.admit(download, sha(data))
    held = sum(p.stat().st_size for p in (tmp_path / "cache").glob("??/??/*"))
    assert held <= 1000
    assert cache.get(sha(contents[0])) is None, "the least recently used went first"
    assert cache.get(sha(contents[5])) is not None
    assert not cache.holds(400) and cache.holds(250), "one file may take at most a quarter"


def test_the_bucket_is_not_public(s3: S3Server, s3_prefix: str, tmp_path: Path) -> None:
    store = s3_store(s3, s3_prefix, tmp_path)
    digest = store.put_bytes(b"private result")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{s3.endpoint_url}/{s3.bucket}/{store.key(digest)}", timeout=5)
    assert refused.value.code == 403
    assert store.public_access() == []
    assert list(store.digests()) == [digest], "the access probe leaves nothing behind"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("fault", ["unreachable", "wrong secret"])
def test_an_unreachable_store_or_wrong_credentials_mean_try_again_later(
        s3: S3Server, s3_prefix: str, tmp_path: Path, fault: str) -> None:
    good = s3_store(s3, s3_prefix, tmp_path)
    stored = good.put_bytes(b"already there")
    if fault == "unreachable":
        store = S3BlobStore(s3.bucket, s3_prefix, endpoint_url=f"http://127.0.0.1:{_closed_port()}",
                            spool_dir=tmp_path / "spool", max_attempts=1, connect_timeout_s=1)
    else:
        wrong = boto3.Session(aws_access_key_id=s3.access_key, aws_secret_access_key="not-the-secret",
                              region_name="us-east-1")
        store = s3_store(s3, s3_prefix, tmp_path, session=wrong)
    for call in (lambda: store.put_bytes(b"new"), lambda: store.read_bytes(stored), lambda: store.stat(stored),
                 lambda: store.exists(stored), lambda: store.delete(stored), lambda: list(store.entries()),
                 store.check):
        with pytest.raises(BlobStoreUnavailable):
            call()
    assert list(good.digests()) == [stored], "nothing was written or removed"
    assert list((tmp_path / "spool").iterdir()) == []


def test_settings_choose_the_backend(settings: Settings, s3: S3Server) -> None:
    assert isinstance(open_blob_store(settings), LocalBlobStore)
    remote = open_blob_store(settings.model_copy(update={"blob_url": f"s3://{s3.bucket}/a/b",
                                                         "s3_endpoint_url": s3.endpoint_url}), cache=True)
    assert isinstance(remote, S3BlobStore) and remote.location == f"s3://{s3.bucket}/a/b"
    assert remote.cache is not None and remote.cache.root == settings.resolved_data_dir / "blob-cache"
    assert parse_blob_url("s3://studio-blobs") == ("studio-blobs", "")
    assert parse_blob_url("s3://studio-blobs/prod//eu/") == ("studio-blobs", "prod/eu")
    for bad in ("studio-blobs", "http://x/y", "s3://Studio/x", "s3://ab", "s3://studio/../x", "s3://studio/a b"):
        with pytest.raises(ValueError):
            parse_blob_url(bad)
    with pytest.raises(ValueError, match="STUDIO_S3_ENDPOINT_URL"):
        Settings(s3_endpoint_url="localhost:8333", _env_file=None)  # type: ignore[call-arg]


def test_storage_check_creates_a_private_bucket_and_says_what_is_wrong(
        s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    bucket = f"studio-check-{os.urandom(4).hex()}"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STUDIO_BLOB_URL", f"s3://{bucket}/studio")
    monkeypatch.setenv("STUDIO_S3_ENDPOINT_URL", s3.endpoint_url)
    try:
        done = CliRunner().invoke(cli, ["storage", "check", "--create-bucket"])
        assert done.exit_code == 0, done.output
        assert f"created bucket {bucket}" in done.output and "not readable without credentials" in done.output
        assert s3.client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0, "the probe files are gone"
        assert CliRunner().invoke(cli, ["db", "upgrade"]).exit_code == 0
        swept = CliRunner().invoke(cli, ["storage", "sweep"])
        assert swept.exit_code == 0 and "0 unreferenced blob(s) removed" in swept.output, swept.output
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
        monkeypatch.setattr("storage.blobs.s3._shared_session", None)  # a fresh process reads the variables
        refused = CliRunner().invoke(cli, ["storage", "check"])
        assert refused.exit_code == 1 and "AWS_ACCESS_KEY_ID" in refused.output, refused.output
    finally:
        s3.client().delete_bucket(Bucket=bucket)
