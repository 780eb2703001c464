"""Fault tests: a worker killed mid-job, a delivery consumer that dies before acknowledging, lost and handed-back
jobs, the per-user allowance under concurrent starts, outages waited out. (Whole-system faults: tests/faults/.)"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest
from redis import Redis

from core.delivery import DeliveryConsumer, DeliveryEvent, publish
from core.jobs import JobService
from core.jobspecs import EchoSpec
from core.recovery import Recovery
from core.settings import Settings
from storage.db import Database
from storage.repositories import jobs as job_repo
from storage.repositories import users as user_repo
from storage.states import JobStatus
from tests.workers import ROOT, drain, spawn_worker, wait_for_status


def _submit_slow_echo(settings: Settings, db: Database, redis: Redis, seconds: float = 20.0) -> str:
    jobs = JobService(db=db, redis=redis, settings=settings)
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="bob")
    return jobs.submit(user=user, spec=EchoSpec(text="slow", seconds=seconds),
                       chat={"platform": "console", "chat_id": "bob"}).job_id


def _kill_worker_mid_job(settings: Settings, db: Database, redis: Redis, seconds: float) -> str:
    job_id = _submit_slow_echo(settings, db, redis, seconds=seconds)
    worker = spawn_worker(settings, queues="cpu")
    try:
        wait_for_status(db, job_id, "running")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "running", "a killed worker leaves the row running..."
    # ...until its lease expires and a live worker's recovery sweep notices.
    time.sleep(settings.job_lease_seconds + 0.5)
    return job_id


def test_killed_worker_job_is_retried_and_finishes(settings: Settings, db: Database, redis: Redis) -> None:
    job_id = _kill_worker_mid_job(settings, db, redis, seconds=1.5)
    drain(settings, db, redis)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None
        assert job.status == "done"
        assert job.attempts == 2
        assert job.result["text"] == "slow"


def test_killed_worker_job_fails_with_message_when_out_of_attempts(
    settings: Settings, db: Database, redis: Redis
) -> None:
    settings.job_max_attempts = 1
    job_id = _kill_worker_mid_job(settings, db, redis, seconds=20)
    consumer = DeliveryConsumer(redis, platform="console", consumer="watcher")
    drain(settings, db, redis)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None
        assert job.status == "failed"
        assert job.error is not None and "worker stopped" in job.error
    final = [e for e in consumer.read(block_ms=100) if e.is_final]
    assert final and final[-1].status == "failed" and "try again" in final[-1].message


def test_consumer_that_dies_before_ack_gets_the_event_again(settings: Settings, redis: Redis) -> None:
    event = DeliveryEvent(job_id="abc123", status="done", message="ready")
    DeliveryConsumer(redis, platform="telegram", consumer="bot-1")  # the group exists before the event
    publish(redis, platform="telegram", event=event)
    # A separate process reads the event as consumer bot-1 and dies (SIGKILL-like exit) before acknowledging.
    script = textwrap.dedent(f"""
        import os
        from redis import Redis
        from core.delivery import DeliveryConsumer
        consumer = DeliveryConsumer(Redis.from_url({settings.redis_url!r}), platform="telegram", consumer="bot-1")
        events = consumer.read(block_ms=1000)
        assert [e.job_id for e in events] == ["abc123"], events
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)

    restarted = DeliveryConsumer(redis, platform="telegram", consumer="bot-1")
    again = restarted.read(block_ms=100)
    assert [(e.job_id, e.status, e.message) for e in again] == [("abc123", "done", "ready")]
    restarted.ack(again[0])
    assert restarted.pending_count() == 0
    assert DeliveryConsumer(redis, platform="telegram", consumer="bot-1").read(block_ms=100) == []


def test_queued_job_lost_from_redis_is_enqueued_again(settings: Settings, db: Database, redis: Redis) -> None:
    from datetime import timedelta

    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = _submit_slow_echo(settings, db, redis, seconds=0)
    redis.flushdb()  # Redis restarted without persistence: the queue is empty, the row still says queued
    assert Recovery(jobs).requeue_lost(older_than=timedelta(0)) == [job_id]
    assert Recovery(jobs).requeue_lost(older_than=timedelta(0)) == [], "a job already back on the queue is left alone"
    drain(settings, db, redis)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "done"


def test_queued_job_whose_rq_entry_failed_is_enqueued_again(settings: Settings, db: Database, redis: Redis) -> None:
    """A worker killed after taking the job off the queue but before starting it leaves an RQ job that
    RQ's own cleanup marks failed; the row still says queued and must not be stuck there."""
    from datetime import timedelta

    from rq.job import Job as RQJob
    from rq.job import JobStatus as RQStatus

    from core.queue import SERIALIZER

    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = _submit_slow_echo(settings, db, redis, seconds=0)
    with db.session() as session:
        rq_id = job_repo.get(session, job_id=job_id).rq_id  # type: ignore[union-attr]
    assert Recovery(jobs).requeue_lost(older_than=timedelta(0)) == [], "a waiting job is left alone"
    rq_job = RQJob.fetch(rq_id, connection=redis, serializer=SERIALIZER)
    redis.lrem("rq:queue:cpu", 0, rq_id)
    rq_job.set_status(RQStatus.FAILED)
    assert Recovery(jobs).requeue_lost(older_than=timedelta(0)) == [job_id]
    drain(settings, db, redis)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "done"


def test_a_job_that_keeps_getting_lost_is_failed_not_requeued_forever(
    settings: Settings, db: Database, redis: Redis
) -> None:
    from datetime import timedelta

    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = _submit_slow_echo(settings, db, redis, seconds=0)
    redis.flushdb()
    assert Recovery(jobs).requeue_lost(older_than=timedelta(0)) == [job_id]
    redis.flushdb()
    assert Recovery(jobs).requeue_lost(older_than=timedelta(0)) == [job_id]
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "failed" and "could not be started" in (job.error or "")


def test_recovery_leaves_a_job_with_a_live_lease_alone(settings: Settings, db: Database, redis: Redis) -> None:
    from core.jobs import lease_key
    from storage.states import JobStatus

    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = _submit_slow_echo(settings, db, redis, seconds=0)
    assert jobs.transition(job_id, JobStatus.RUNNING, expect=[JobStatus.QUEUED], attempts=1)
    redis.set(lease_key(job_id), "worker-token", ex=30)
    assert Recovery(jobs).recover_abandoned() == []
    redis.delete(lease_key(job_id))
    assert Recovery(jobs).recover_abandoned() == [job_id]


def test_a_cancelled_job_whose_worker_died_is_not_retried(settings: Settings, db: Database, redis: Redis) -> None:
    from storage.states import JobStatus

    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = _submit_slow_echo(settings, db, redis, seconds=0)
    assert jobs.transition(job_id, JobStatus.RUNNING, expect=[JobStatus.QUEUED], attempts=1)
    with db.session() as session:
        owner_id = job_repo.get(session, job_id=job_id).owner_id  # type: ignore[union-attr]
    assert jobs.cancel(owner_id=owner_id, job_id=job_id).startswith("Stopping")
    # The worker died before it saw the cancel: no lease, attempts left, but the owner wanted it stopped.
    assert Recovery(jobs).recover_abandoned() == [job_id]
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "cancelled"


def test_a_job_starts_only_within_its_owners_allowance(settings: Settings, db: Database, redis: Redis) -> None:
    from core.jobs import Start
    from storage.repositories import users as user_repo

    settings.max_queued_jobs = 5
    jobs = JobService(db=db, redis=redis, settings=settings)
    first = _submit_slow_echo(settings, db, redis, seconds=0)
    second = _submit_slow_echo(settings, db, redis, seconds=0)
    assert jobs.start(first, attempt=1) is Start.STARTED
    assert jobs.start(second, attempt=1) is Start.BUSY, "bob already runs his one job"
    assert jobs.start(first, attempt=1) is Start.GONE, "a job is started once"
    with db.session() as session:
        admin = user_repo.get_or_create(session, platform="console", platform_user_id="root", is_admin=True)
    chat = {"platform": "console", "chat_id": "root"}
    mine = [jobs.submit(user=admin, spec=EchoSpec(text=t), chat=chat).job_id for t in "ab"]
    assert [jobs.start(job_id, attempt=1) for job_id in mine] == [Start.STARTED, Start.STARTED]


def test_two_workers_starting_one_users_jobs_at_once_start_one(settings: Settings, db: Database,
                                                              redis: Redis) -> None:
    import threading

    from core.jobs import Start

    settings.max_queued_jobs = 10
    jobs = JobService(db=db, redis=redis, settings=settings)

    def start_together(pair: list[str]) -> list[Start]:
        outcomes: list[Start] = []
        gate = threading.Barrier(len(pair))

        def start(job_id: str) -> None:
            gate.wait()
            outcomes.append(jobs.start(job_id, attempt=1))

        threads = [threading.Thread(target=start, args=(job_id,)) for job_id in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sorted(outcomes)

    for _ in range(5):
        pair = [_submit_slow_echo(settings, db, redis, seconds=0) for _ in range(2)]
        assert start_together(pair) == [Start.BUSY, Start.STARTED]
        for job_id in pair:  # the started one ends, the waiting one is cancelled: the next pair starts afresh
            if not jobs.transition(job_id, JobStatus.DONE, expect=[JobStatus.RUNNING]):
                assert jobs.transition(job_id, JobStatus.CANCELLED, expect=[JobStatus.QUEUED])


def test_a_handed_back_try_is_not_counted_and_goes_to_the_front(settings: Settings, db: Database,
                                                                redis: Redis) -> None:
    jobs = JobService(db=db, redis=redis, settings=settings)
    waiting = _submit_slow_echo(settings, db, redis, seconds=0)
    job_id = _submit_slow_echo(settings, db, redis, seconds=0)
    assert jobs.transition(job_id, JobStatus.RUNNING, expect=[JobStatus.QUEUED], attempts=1)
    assert not jobs.hand_back(job_id, attempt=2), "only the try that runs can be handed back"
    assert jobs.hand_back(job_id, attempt=1)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and (job.status, job.attempts) == ("queued", 0)
        rq_id = job.rq_id
    front = redis.lindex("rq:queue:cpu", 0)
    assert front is not None and front.decode() == rq_id and waiting
    drain(settings, db, redis)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and (job.status, job.attempts) == ("done", 1)


def test_a_job_whose_worker_died_before_starting_it_is_queued_again(settings: Settings, db: Database,
                                                                    redis: Redis) -> None:
    from datetime import timedelta

    from rq.job import Job as RQJob
    from rq.job import JobStatus as RQStatus

    from core.jobs import lease_key
    from core.queue import SERIALIZER
    from storage.models import utcnow

    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = _submit_slow_echo(settings, db, redis, seconds=0)
    with db.session() as session:
        rq_id = job_repo.get(session, job_id=job_id).rq_id  # type: ignore[union-attr]
    # Taken off the queue by a worker that died before it started the job: RQ still says "started".
    redis.lrem("rq:queue:cpu", 0, rq_id)
    rq_job = RQJob.fetch(rq_id, connection=redis, serializer=SERIALIZER)
    rq_job.set_status(RQStatus.STARTED)
    rq_job.started_at = utcnow() - timedelta(seconds=settings.job_lease_seconds + 1)
    rq_job.save()
    redis.set(lease_key(job_id), "alive", ex=5)
    assert Recovery(jobs).requeue_lost(older_than=timedelta(0)) == [], \
        "a worker that holds the lease is about to start it"
    redis.delete(lease_key(job_id))
    assert Recovery(jobs).requeue_lost(older_than=timedelta(0)) == [job_id]
    drain(settings, db, redis)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "done"


def test_a_job_that_lost_its_connections_is_retried_then_failed_with_a_message(
        settings: Settings, db: Database, redis: Redis) -> None:
    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = _submit_slow_echo(settings, db, redis, seconds=0)
    assert jobs.transition(job_id, JobStatus.RUNNING, expect=[JobStatus.QUEUED], attempts=1)
    assert jobs.retry_after_outage(job_id, attempt=1)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and (job.status, job.attempts) == ("queued", 1)
    assert jobs.transition(job_id, JobStatus.RUNNING, expect=[JobStatus.QUEUED], attempts=2)
    assert jobs.retry_after_outage(job_id, attempt=2)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "failed"
        assert "dropped out while this ran (2 tries)" in (job.error or "")


def test_an_outage_is_waited_out_and_other_errors_are_not() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ResponseError

    from core.outages import through_outage

    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RedisConnectionError("Connection refused")
        return "ok"

    assert through_outage(flaky, within_s=5, what="test", first_pause_s=0.01) == "ok" and len(calls) == 3

    def wrong() -> None:
        raise ResponseError("WRONGTYPE")

    def down() -> None:
        raise RedisConnectionError("Connection refused")

    with pytest.raises(ResponseError):
        through_outage(wrong, within_s=5, what="test")
    with pytest.raises(RedisConnectionError):
        through_outage(down, within_s=0.05, what="test", first_pause_s=0.01)
