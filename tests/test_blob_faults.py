"""When the S3 store fails: a job that cannot store its result is kept and retried (never a half-written asset
row), a front end says so instead of losing an upload, and a file missing from the bucket is reported once."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator

import boto3
import pytest
import skimage.data
from PIL import Image
from redis import Redis

from core import queue
from core.app import Studio
from core.assistant import STORAGE_UNAVAILABLE
from core.delivery import DeliveryConsumer
from core.jobs import JobService
from core.jobspecs import VideoSpec
from core.messages import Incoming, Media, Upload
from core.settings import Settings
from inference.engine_cache import EngineCache
from inference.resources import WorkerResources
from inference.resources import bind as bind_resources
from inference.resources import unbind as unbind_resources
from inference.runtime import STORE_UNAVAILABLE
from inference.tasks.video import animate
from storage.blobs import BlobStore, open_blob_store
from storage.blobs.cache import BlobCache
from storage.blobs.s3 import S3BlobStore
from storage.db import Database
from storage.models import Asset, Job
from storage.repositories import assets as asset_repo
from storage.repositories import users as user_repo
from tests.services import S3Server
from tests.workers import drain

CHAT = {"platform": "console", "chat_id": "1"}


@pytest.fixture
def on_s3(settings: Settings, s3: S3Server, s3_prefix: str) -> Settings:
    """Blobs in the bucket, small fast clips, and a short pause between tries through an outage."""
    return settings.model_copy(update={"blob_url": f"s3://{s3.bucket}/{s3_prefix}",
                                       "s3_endpoint_url": s3.endpoint_url, "video_max_side": 96, "video_fps": 8,
                                       "blob_retry_s": 0.2})


def _photo() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).resize((160, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def _animation_job(settings: Settings, db: Database, redis: Redis, blobs: BlobStore) -> tuple[str, str]:
    """An uploaded photo and a queued 2 s zoom of it: ``(job id, photo blob)``."""
    blob = blobs.put_bytes(_photo())
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="1")
        asset = asset_repo.create(session, owner_id=user.id, kind="image", blob=blob, mime="image/png", width=160,
                                  height=160, origin="uploaded")
        asset_id = asset.id
    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = jobs.submit(user=user, spec=VideoSpec(asset_id=asset_id, motion="zoom-in", seconds=2),
                         chat=CHAT).job_id
    return job_id, blob


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _broken_store(settings: Settings, s3: S3Server, fault: str, cache: BlobCache) -> S3BlobStore:
    """The worker's store after the fault: the credential rotated away, or the store's address gone dark."""
    bucket, prefix = (settings.blob_url or "").removeprefix("s3://").split("/", 1)
    if fault == "wrong credentials":
        wrong = boto3.Session(aws_access_key_id=s3.access_key, aws_secret_access_key="rotated-away",
                              region_name="us-east-1")
        return S3BlobStore(bucket, prefix, endpoint_url=s3.endpoint_url, spool_dir=settings.data_dir / "tmp",
                           cache=cache, session=wrong)
    return S3BlobStore(bucket, prefix, endpoint_url=f"http://127.0.0.1:{_closed_port()}", max_attempts=1,
                       spool_dir=settings.data_dir / "tmp", cache=cache)


def _job(db: Database, job_id: str) -> Job:
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def _assets_of(db: Database, job_id: str) -> list[Asset]:
    with db.session() as session:
        return list(session.query(Asset).filter(Asset.job_id == job_id))


def _run_once(resources: WorkerResources, job_id: str) -> None:
    """What a worker does with the job it took off the queue, run with ``resources``."""
    queue.remove(_job(resources.db, job_id).rq_id or "", connection=resources.redis)
    token = bind_resources(resources)
    try:
        animate(job_id)
    finally:
        unbind_resources(token)


@pytest.fixture
def consumer(redis: Redis) -> Iterator[DeliveryConsumer]:
    yield DeliveryConsumer(redis, platform="console", consumer="watcher")


@pytest.mark.parametrize("fault", ["wrong credentials", "unreachable"])
def test_a_result_that_cannot_be_stored_keeps_the_job_and_it_runs_again(
        on_s3: Settings, db: Database, redis: Redis, s3: S3Server, consumer: DeliveryConsumer, fault: str) -> None:
    good = open_blob_store(on_s3)
    job_id, photo = _animation_job(on_s3, db, redis, good)
    # The worker read the photo before the fault (it sits in its cache), so the fault strikes when the finished
    # clip is stored: the worst moment for a half-written result.
    worker_store = open_blob_store(on_s3, cache=True)
    assert isinstance(worker_store, S3BlobStore) and worker_store.cache is not None
    worker_store.read_bytes(photo)
    cache = worker_store.cache
    broken = WorkerResources(settings=on_s3, db=db, redis=redis, blobs=_broken_store(on_s3, s3, fault, cache),
                             engines=EngineCache(2**30))
    _run_once(broken, job_id)

    job = _job(db, job_id)
    assert (job.status, job.attempts, job.stage) == ("queued", 0, "waiting for storage"), "kept, no try counted"
    assert _assets_of(db, job_id) == [], "no asset row points at a clip that never arrived"
    assert list(good.digests()) == [photo]
    shown = [e for e in consumer.read(block_ms=100) if e.job_id == job_id and e.status == "queued"]
    assert shown and shown[-1].message == STORE_UNAVAILABLE
    assert STORE_UNAVAILABLE.startswith("Results are temporarily unavailable, your job is kept")
    assert queue.queue("gpu", connection=redis).job_ids == [job.rq_id], "back on its queue, under a fresh RQ id"

    drain(on_s3, db, redis, queues=("gpu",))  # the store is back
    job = _job(db, job_id)
    assert job.status == "done" and job.attempts == 1, job.error
    (clip,) = _assets_of(db, job_id)
    assert good.exists(clip.blob) and sorted(good.digests()) == sorted([photo, clip.blob])


def test_an_outage_longer_than_the_window_fails_the_job_with_a_message(
        on_s3: Settings, db: Database, redis: Redis, s3: S3Server) -> None:
    settings = on_s3.model_copy(update={"blob_outage_minutes": 0.0})
    job_id, _ = _animation_job(settings, db, redis, open_blob_store(settings))
    cache = BlobCache(settings.resolved_data_dir / "blob-cache", max_bytes=2**30)
    broken = WorkerResources(settings=settings, db=db, redis=redis,
                             blobs=_broken_store(settings, s3, "unreachable", cache), engines=EngineCache(2**30))
    _run_once(broken, job_id)
    job = _job(db, job_id)
    assert job.status == "failed" and job.error is not None
    assert "storage has been unavailable" in job.error and "try again later" in job.error
    assert _assets_of(db, job_id) == []


def test_an_upload_while_the_store_is_down_is_answered_not_lost_silently(
        on_s3: Settings, redis: Redis, db: Database) -> None:
    broken = on_s3.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{_closed_port()}"})
    studio = Studio.build(broken, redis=redis, migrate=False)
    try:
        replies = studio.assistant.handle(Incoming(platform="console", user_id="1", chat_id="1", text="/animate",
                                                   uploads=(Upload(data=_photo(), filename="me.png"),)))
    finally:
        studio.close()
    assert [r.text for r in replies] == [STORAGE_UNAVAILABLE] and replies[0].error
    with db.session() as session:
        assert session.query(Asset).count() == 0 and session.query(Job).count() == 0


def test_a_job_whose_input_left_the_bucket_fails_once_with_a_clear_message(
        on_s3: Settings, db: Database, redis: Redis, caplog: pytest.LogCaptureFixture) -> None:
    store = open_blob_store(on_s3)
    job_id, photo = _animation_job(on_s3, db, redis, store)
    store.delete(photo)  # someone emptied part of the bucket
    with caplog.at_level(logging.ERROR, logger="storage.blobs"):
        drain(on_s3, db, redis, queues=("gpu",))
    job = _job(db, job_id)
    assert job.status == "failed" and job.attempts == 1, "not retried: retrying cannot bring the file back"
    assert job.error is not None and "missing from storage" in job.error and "Send the photo" in job.error
    assert len([r for r in caplog.records if photo in r.getMessage()]) == 1
    assert "Traceback" not in job.error


def test_results_whose_file_left_the_store_are_named_instead_of_sent(any_blobs: BlobStore) -> None:
    from bots.delivery_lanes import stored_media

    kept = any_blobs.put_bytes(b"still here")
    gone = any_blobs.put_bytes(b"about to vanish")
    any_blobs.delete(gone)
    media = [Media(blob=kept, kind="image", filename="a.png", asset_id="aaaa1111"),
             Media(blob=gone, kind="image", filename="b.png", asset_id="bbbb2222")]
    present, notes = stored_media(any_blobs, media)
    assert [m.blob for m in present] == [kept]
    assert notes == ["#bbbb2222 could not be sent: its file is missing from storage."]
