"""Per-user quotas: queued/running limits, the daily allowance, admins exempt."""

from __future__ import annotations

import pytest
from redis import Redis

from core.errors import QuotaExceeded
from core.jobs import JobService
from core.jobspecs import EchoSpec
from core.settings import Settings
from storage.db import Database
from storage.repositories import users as user_repo
from storage.states import JobStatus


def test_waiting_limit_then_cancel_frees_a_slot(settings: Settings, db: Database, redis: Redis) -> None:
    settings.max_queued_jobs, settings.max_running_jobs = 2, 1
    jobs = JobService(db=db, redis=redis, settings=settings)
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="q")
    ids = [jobs.submit(user=user, spec=EchoSpec(text=str(i)), chat={}).job_id for i in range(3)]
    # A running job counts as much as a waiting one.
    assert jobs.transition(ids[1], JobStatus.RUNNING, expect=[JobStatus.QUEUED])
    with pytest.raises(QuotaExceeded, match="limit 3"):
        jobs.submit(user=user, spec=EchoSpec(text="x"), chat={})
    jobs.cancel(owner_id=user.id, job_id=ids[0])
    assert jobs.submit(user=user, spec=EchoSpec(text="y"), chat={}).position is not None
    with pytest.raises(QuotaExceeded):
        jobs.submit(user=user, spec=EchoSpec(text="z"), chat={})


def test_daily_allowance(settings: Settings, db: Database, redis: Redis) -> None:
    settings.max_jobs_per_day = 2
    jobs = JobService(db=db, redis=redis, settings=settings)
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="d")
    for i in range(2):
        jobs.cancel(owner_id=user.id, job_id=jobs.submit(user=user, spec=EchoSpec(text=str(i)), chat={}).job_id)
    with pytest.raises(QuotaExceeded, match="today's 2 jobs"):
        jobs.submit(user=user, spec=EchoSpec(text="x"), chat={})


def test_admins_are_exempt(settings: Settings, db: Database, redis: Redis) -> None:
    settings.max_queued_jobs, settings.max_running_jobs = 0, 1
    jobs = JobService(db=db, redis=redis, settings=settings)
    with db.session() as session:
        admin = user_repo.get_or_create(session, platform="console", platform_user_id="root", is_admin=True)
        user = user_repo.get_or_create(session, platform="console", platform_user_id="plain")
    first, second = (jobs.submit(user=admin, spec=EchoSpec(text=t), chat={}).job_id for t in "ab")
    assert jobs.transition(first, JobStatus.RUNNING, expect=[JobStatus.QUEUED])
    assert not jobs.defer_if_busy(second), "an admin's second job may run beside the first"
    mine = jobs.submit(user=user, spec=EchoSpec(text="one"), chat={}).job_id
    with pytest.raises(QuotaExceeded):
        jobs.submit(user=user, spec=EchoSpec(text="two"), chat={})
    assert jobs.transition(mine, JobStatus.RUNNING, expect=[JobStatus.QUEUED])
    settings.max_queued_jobs = 5
    waiting = jobs.submit(user=user, spec=EchoSpec(text="three"), chat={}).job_id
    assert jobs.defer_if_busy(waiting), "a plain user's second job waits while the first runs"


def test_quota_refusal_is_a_one_line_answer_in_chat(settings: Settings, db: Database, redis: Redis) -> None:
    from core.app import Studio
    from core.messages import Incoming

    settings.max_queued_jobs, settings.max_running_jobs = 1, 0
    studio = Studio.build(settings, redis=redis)
    msg = Incoming(platform="telegram", user_id="5", chat_id="5", text="/echo one")
    assert studio.assistant.handle(msg)[0].job_id
    (refusal,) = studio.assistant.handle(msg)
    assert refusal.error and refusal.job_id is None
    assert refusal.text.startswith("You already have 1 jobs waiting or running") and "\n" not in refusal.text
    studio.close()


def test_a_users_second_job_waits_while_the_first_runs(settings: Settings, db: Database, redis: Redis) -> None:
    """Two workers, one user with STUDIO_MAX_RUNNING_JOBS=1: the second worker does not start the second job
    until the first is done."""
    from storage.repositories import jobs as job_repo
    from tests.workers import drain, spawn_worker, wait_for_status

    jobs = JobService(db=db, redis=redis, settings=settings)
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="busy")
    first = jobs.submit(user=user, spec=EchoSpec(text="1", seconds=3), chat={}).job_id
    worker = spawn_worker(settings, queues="cpu")
    try:
        wait_for_status(db, first, "running")
        second = jobs.submit(user=user, spec=EchoSpec(text="2"), chat={}).job_id
        drain(settings, db, redis)  # the second worker: defers the job until the first is done, then runs it
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    with db.session() as session:
        one, two = job_repo.get(session, job_id=first), job_repo.get(session, job_id=second)
        assert one is not None and two is not None and two.status == "done"
        assert one.finished_at is not None and two.started_at is not None
        assert two.started_at >= one.finished_at
