"""The delivery stream: pending events re-read once per start, failures retried, poison events set aside, a lost
group created again, and final events never shown published again from the database."""

from __future__ import annotations

import time
from datetime import timedelta

from redis import Redis

from core import delivery
from core.delivery import (
    DEAD_LETTER,
    MAX_DELIVERIES,
    DeliveryConsumer,
    DeliveryEvent,
    Receipt,
    publish,
    stream_key,
    superseded,
)
from core.jobs import JobService
from core.jobspecs import EchoSpec
from core.recovery import MAX_REDELIVERIES, Recovery
from core.settings import Settings
from storage.db import Database
from storage.models import Job, utcnow
from storage.repositories import users as user_repo
from storage.states import JobStatus


def _publish(redis: Redis, job_id: str, status: str = "done") -> None:
    publish(redis, platform="telegram", event=DeliveryEvent(job_id=job_id, status=status))


def test_pending_events_are_handed_out_once_per_start(redis: Redis) -> None:
    DeliveryConsumer(redis, platform="telegram", consumer="bot")
    for job in ("a", "b", "c"):
        _publish(redis, job)
    first = DeliveryConsumer(redis, platform="telegram", consumer="bot")
    assert [e.job_id for e in first.read(block_ms=10)] == ["a", "b", "c"]  # then the process dies, no acks

    restarted = DeliveryConsumer(redis, platform="telegram", consumer="bot")
    assert [e.job_id for e in restarted.read(count=2, block_ms=10)] == ["a", "b"]
    assert [e.job_id for e in restarted.read(count=2, block_ms=10)] == ["c"], "a cursor, not the same batch again"
    _publish(redis, "d")
    assert [e.job_id for e in restarted.read(block_ms=10)] == ["d"], "new events flow while old ones are in flight"


def test_a_failed_event_is_retried_then_set_aside(redis: Redis) -> None:
    consumer = DeliveryConsumer(redis, platform="telegram", consumer="bot", retry_idle_ms=0)
    _publish(redis, "poison")
    tries = 0
    for _ in range(MAX_DELIVERIES + 3):
        events = [e for e in consumer.read(block_ms=10) if e.job_id == "poison"]
        tries += len(events)  # showing it fails every time: never acknowledged
    assert tries == MAX_DELIVERIES
    assert consumer.pending_count() == 0
    dead = redis.xrange(DEAD_LETTER)
    assert len(dead) == 1 and dead[0][1][b"job_id"] == b"poison"
    _publish(redis, "fine")
    assert [e.job_id for e in consumer.read(block_ms=10)] == ["fine"]


def test_superseded_progress_is_skipped_but_final_events_never_are() -> None:
    events = [
        DeliveryEvent(job_id="j", status="running", progress=0.1, event_id="1-0"),
        DeliveryEvent(job_id="k", status="running", progress=0.5, event_id="2-0"),
        DeliveryEvent(job_id="j", status="running", progress=0.6, event_id="3-0"),
        DeliveryEvent(job_id="j", status="done", event_id="4-0"),
    ]
    assert superseded(events) == {"1-0", "3-0"}


def test_a_vanished_group_is_created_again_and_reading_goes_on(redis: Redis) -> None:
    consumer = DeliveryConsumer(redis, platform="telegram", consumer="bot")
    _publish(redis, "before")
    assert [e.job_id for e in consumer.read(block_ms=10)] == ["before"]
    redis.delete(stream_key("telegram"))  # as after a restart without persistence: stream and group are gone
    assert consumer.read(block_ms=10) == []
    assert consumer.pending_count() == 0
    _publish(redis, "after")
    assert [e.job_id for e in consumer.read(block_ms=10)] == ["after"]


def test_a_rewound_consumer_reads_its_own_unacknowledged_events_again(redis: Redis) -> None:
    consumer = DeliveryConsumer(redis, platform="telegram", consumer="bot")
    for job in ("a", "b"):
        _publish(redis, job)
    first = consumer.read(block_ms=10)
    consumer.ack(first[0])
    consumer.rewind()  # the batch failed part-way: "b" was read but never shown
    assert [e.job_id for e in consumer.read(block_ms=10)] == ["b"]


def test_a_receipt_makes_shown_results_and_late_progress_stale() -> None:
    done = DeliveryEvent(job_id="j", status="done", event_id="2-0")
    progress = DeliveryEvent(job_id="j", status="running", progress=0.4, event_id="1-0")
    assert not Receipt(status="done", delivered=False).makes_stale(done)
    assert Receipt(status="done", delivered=True).makes_stale(done), "a second copy of a shown result"
    assert Receipt(status="done", delivered=False).makes_stale(progress), "never 40 % over the result"
    assert not Receipt(status="running", delivered=False).makes_stale(progress)


def _ended_job(jobs: JobService, db: Database, *, platform: str = "telegram", ago_s: float = 600,
               chat: dict[str, object] | None = None) -> str:
    with db.session() as session:
        owner = user_repo.get_or_create(session, platform=platform, platform_user_id="7")
    job_id = jobs.submit(user=owner, spec=EchoSpec(text="x"),
                         chat=chat if chat is not None else {"platform": platform, "chat_id": "7"}).job_id
    assert jobs.transition(job_id, JobStatus.RUNNING, expect=[JobStatus.QUEUED], attempts=1)
    assert jobs.transition(job_id, JobStatus.DONE, expect=[JobStatus.RUNNING], result={"text": "x"})
    with db.session() as session:
        row = session.get(Job, job_id)
        assert row is not None
        row.finished_at = utcnow() - timedelta(seconds=ago_s)
    return job_id


def test_redelivery_publishes_final_events_never_shown_and_nothing_else(
        settings: Settings, db: Database, redis: Redis) -> None:
    settings.delivery_redeliver_after_s = 60
    settings.delivery_redeliver_interval_s = 0.05
    jobs = JobService(db=db, redis=redis, settings=settings)
    lost = _ended_job(jobs, db)
    shown = _ended_job(jobs, db)
    delivery.mark_delivered(db, shown)
    just_ended = _ended_job(jobs, db, ago_s=1)  # its event is probably still on its way
    elsewhere = _ended_job(jobs, db, platform="discord")
    with db.session() as session:  # a row written before receipts existed: its delivery is unknown, leave it
        old = session.get(Job, _ended_job(jobs, db))
        assert old is not None
        old.chat = {"platform": "telegram", "chat_id": "7"}
    redis.delete(stream_key("telegram"))

    assert Recovery(jobs).redeliver_lost("telegram") == [lost]
    republished = [DeliveryEvent.from_fields(raw_id.decode(), fields) for raw_id, fields
                   in redis.xrange(stream_key("telegram"))]
    assert [(e.job_id, e.status) for e in republished] == [(lost, "done")]
    assert Recovery(jobs).redeliver_lost("telegram") == [], "one sweep per interval, whichever process asks"
    time.sleep(0.1)
    assert Recovery(jobs).redeliver_lost("telegram") == [], "that copy is still on its way: not again so soon"
    assert just_ended and elsewhere


def test_redelivery_gives_up_after_a_few_copies(settings: Settings, db: Database, redis: Redis) -> None:
    settings.delivery_redeliver_after_s = 1
    settings.delivery_redeliver_interval_s = 0.01
    jobs = JobService(db=db, redis=redis, settings=settings)
    lost = _ended_job(jobs, db)
    copies = 0
    for _ in range(MAX_REDELIVERIES + 2):
        redis.delete(f"studio:redelivered:{lost}:recent")  # as if the pause had passed
        time.sleep(0.02)
        copies += len(Recovery(jobs).redeliver_lost("telegram"))
    assert copies == MAX_REDELIVERIES
