"""Housekeeping on both blob stores: expired export zips and unreferenced blobs go, everything a row refers to
or a job may be about to record stays, unfinished uploads are cleared, and one worker sweeps per interval."""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta

import pytest
from redis import Redis

from core.settings import Settings
from inference.engine_cache import EngineCache
from inference.housekeeping import DUE_KEY, Housekeeper
from inference.resources import WorkerResources
from storage.blobs import BlobStore, LocalBlobStore, open_blob_store
from storage.blobs.s3 import S3BlobStore
from storage.db import Database
from storage.housekeeping import prune_expired_exports, sweep
from storage.models import ExportPackage, utcnow
from storage.repositories import assets as asset_repo
from storage.repositories import exports as export_repo
from storage.repositories import users as user_repo
from tests.services import S3Server

GRACE = timedelta(hours=24)


def _owner(db: Database) -> int:
    with db.session() as session:
        return user_repo.get_or_create(session, platform="console", platform_user_id="ann").id


def _package(db: Database, owner: int, blob: str, *, expires_in: timedelta) -> str:
    with db.session() as session:
        package = export_repo.create(session, package_id=os.urandom(8).hex(), owner_id=owner, platform="instagram",
                                     asset_ids=[], job_id=None, blob=blob, manifest={},
                                     expires_at=utcnow() + expires_in)
        return package.id


def test_a_sweep_removes_what_nothing_needs_and_keeps_the_rest(db: Database, blob_settings: Settings,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    blobs = open_blob_store(blob_settings)
    owner = _owner(db)
    kept_asset = blobs.put_bytes(b"an image someone owns")
    with db.session() as session:
        asset_repo.create(session, owner_id=owner, kind="image", blob=kept_asset, mime="image/png",
                          origin="generated")
        vanished = "f" * 64
        asset_repo.create(session, owner_id=owner, kind="image", blob=vanished, mime="image/png", origin="generated")
    old_zip = blobs.put_bytes(b"an old zip")
    expired = _package(db, owner, old_zip, expires_in=timedelta(hours=-1))
    live_zip = blobs.put_bytes(b"a fresh zip")
    live = _package(db, owner, live_zip, expires_in=timedelta(hours=70))
    orphan = blobs.put_bytes(b"left by a job that died after storing it")

    # Just now, the orphan could be a job's result a moment before its row is written: it stays.
    with caplog.at_level(logging.ERROR, logger="storage"):
        report = sweep(db, blobs, grace=GRACE)
    assert report.expired_exports == 1 and not blobs.exists(old_zip), "the expired zip goes at once"
    assert (report.blobs_removed, report.kept_young) == (0, 1) and blobs.exists(orphan)
    # A day later nothing refers to it: it goes too.
    report = sweep(db, blobs, grace=GRACE, now=utcnow() + GRACE + timedelta(minutes=1))
    assert report.blobs_removed == 1 and not blobs.exists(orphan)

    assert sorted(blobs.digests()) == sorted([kept_asset, live_zip])
    with db.session() as session:
        assert session.get(ExportPackage, expired).blob is None, "the row stays: its link says 'expired'"  # type: ignore[union-attr]
        assert session.get(ExportPackage, live).blob == live_zip  # type: ignore[union-attr]
    assert report.missing == [vanished]
    lines = [r.getMessage() for r in caplog.records if vanished in r.getMessage()]
    assert len(lines) == 1 and "missing" in lines[0], "a referenced blob gone from the store: said once"
    assert "expired export" in report.summary()


def test_content_stored_again_is_young_again(db: Database, any_blobs: BlobStore) -> None:
    """A job storing content that an old orphan already holds refreshes it, so the sweep cannot take it
    between the job's store and its row."""
    orphan = any_blobs.put_bytes(b"same bytes")
    first = any_blobs.info(orphan).modified
    time.sleep(1.1)  # S3 keeps LastModified to the second
    assert any_blobs.put_bytes(b"same bytes") == orphan
    assert any_blobs.info(orphan).modified > first


def test_pruning_expired_exports_in_batches(db: Database, any_blobs: BlobStore) -> None:
    owner = _owner(db)
    shared = any_blobs.put_bytes(b"one zip two packages")
    for _ in range(2):
        _package(db, owner, shared, expires_in=timedelta(minutes=-5))
    future = _package(db, owner, any_blobs.put_bytes(b"later"), expires_in=timedelta(minutes=5))
    assert prune_expired_exports(db, any_blobs) == 2
    assert not any_blobs.exists(shared)
    with db.session() as session:
        assert session.get(ExportPackage, future).blob is not None  # type: ignore[union-attr]


def test_unfinished_uploads_are_cleared(blob_settings: Settings, s3: S3Server) -> None:
    blobs = open_blob_store(blob_settings)
    if isinstance(blobs, LocalBlobStore):
        leftover = blobs.root / "tmp" / "put-killed-midway"
        leftover.write_bytes(b"half")
        os.utime(leftover, (time.time() - 7 * 3600,) * 2)
        fresh = blobs.root / "tmp" / "put-in-progress"
        fresh.write_bytes(b"still writing")
        assert blobs.sweep_temporary(older_than=timedelta(hours=6)) == 1
        assert not leftover.exists() and fresh.exists()
        return
    assert isinstance(blobs, S3BlobStore)
    client = s3.client()
    client.create_multipart_upload(Bucket=s3.bucket, Key=blobs.key("a" * 64))
    assert blobs.sweep_temporary(older_than=timedelta(hours=6)) == 0, "a recent upload may still be running"
    assert blobs.sweep_temporary(older_than=timedelta(seconds=-1)) == 1
    assert client.list_multipart_uploads(Bucket=s3.bucket, Prefix=blobs.prefix).get("Uploads", []) == []


def test_one_worker_of_many_sweeps_per_interval(settings: Settings, db: Database, redis: Redis) -> None:
    workers = [Housekeeper(WorkerResources(settings=settings, db=db, redis=redis, blobs=open_blob_store(settings),
                                           engines=EngineCache(2**20))) for _ in range(3)]
    reports = [worker.run_if_due() for worker in workers]
    assert sum(report is not None for report in reports) == 1
    ttl = redis.ttl(DUE_KEY)
    assert 0 < ttl <= settings.housekeeping_interval_minutes * 60
    redis.delete(DUE_KEY)  # the interval is over
    assert workers[2].run_if_due() is not None
