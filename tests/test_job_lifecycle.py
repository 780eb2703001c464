from __future__ import annotations

from redis import Redis

from core.delivery import DeliveryConsumer
from core.jobs import JobService
from core.settings import Settings
from storage.db import Database
from storage.repositories import jobs as job_repo
from storage.repositories import users as user_repo
from tests.workers import drain


def _user(db: Database):
    with db.session() as session:
        return user_repo.get_or_create(session, platform="console", platform_user_id="alice")


def test_echo_job_runs_and_emits_events(settings: Settings, db: Database, redis: Redis) -> None:
    jobs = JobService(db=db, redis=redis, settings=settings)
    user = _user(db)
    consumer = DeliveryConsumer(redis, platform="console", consumer="test")
    submitted = jobs.submit(user=user, kind="echo", spec={"text": "hi", "seconds": 0.5},
                            chat={"platform": "console", "chat_id": "1"})
    assert submitted.position == 1

    drain(settings, db, redis)

    with db.session() as session:
        job = job_repo.get(session, job_id=submitted.job_id)
        assert job is not None
        assert job.status == "done"
        assert job.result == {"text": "hi"}
        assert job.attempts == 1
    events = consumer.read(block_ms=100)
    statuses = [e.status for e in events]
    assert statuses[0] == "running" and statuses[-1] == "done"
    assert any(0 < e.progress < 1 for e in events), "progress events expected between start and done"
