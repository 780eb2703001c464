"""Per-user quotas: queued/running limits, the daily allowance, admins exempt."""

from __future__ import annotations

import pytest
from redis import Redis

from core.errors import QuotaExceeded
from core.jobs import JobService
from core.settings import Settings
from storage.db import Database
from storage.repositories import users as user_repo


def test_waiting_limit_then_cancel_frees_a_slot(settings: Settings, db: Database, redis: Redis) -> None:
    settings.max_queued_jobs, settings.max_running_jobs = 2, 1
    jobs = JobService(db=db, redis=redis, settings=settings)
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="q")
    ids = [jobs.submit(user=user, kind="echo", spec={"text": str(i)}, chat={}).job_id for i in range(3)]
    with pytest.raises(QuotaExceeded, match="limit 3"):
        jobs.submit(user=user, kind="echo", spec={"text": "x"}, chat={})
    jobs.cancel(owner_id=user.id, job_id=ids[0])
    jobs.submit(user=user, kind="echo", spec={"text": "y"}, chat={})


def test_daily_allowance(settings: Settings, db: Database, redis: Redis) -> None:
    settings.max_jobs_per_day = 2
    jobs = JobService(db=db, redis=redis, settings=settings)
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="d")
    for i in range(2):
        jobs.cancel(owner_id=user.id, job_id=jobs.submit(user=user, kind="echo", spec={"text": str(i)}, chat={}).job_id)
    with pytest.raises(QuotaExceeded, match="today's 2 jobs"):
        jobs.submit(user=user, kind="echo", spec={"text": "x"}, chat={})


def test_admins_are_exempt(settings: Settings, db: Database, redis: Redis) -> None:
    settings.max_queued_jobs, settings.max_running_jobs = 0, 0
    jobs = JobService(db=db, redis=redis, settings=settings)
    with db.session() as session:
        admin = user_repo.get_or_create(session, platform="console", platform_user_id="root", is_admin=True)
    assert jobs.submit(user=admin, kind="echo", spec={"text": "ok"}, chat={}).job_id


def test_a_users_second_job_waits_while_the_first_runs(settings: Settings, db: Database, redis: Redis) -> None:
    """Two workers, one user with STUDIO_MAX_RUNNING_JOBS=1: the second worker does not start the second job
    until the first is done."""
    from storage.repositories import jobs as job_repo
    from tests.test_faults import _wait_for_status
    from tests.workers import drain, spawn_worker

    jobs = JobService(db=db, redis=redis, settings=settings)
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="busy")
    first = jobs.submit(user=user, kind="echo", spec={"text": "1", "seconds": 3}, chat={}).job_id
    worker = spawn_worker(settings, queues="cpu")
    try:
        _wait_for_status(db, first, "running")
        second = jobs.submit(user=user, kind="echo", spec={"text": "2"}, chat={}).job_id
        drain(settings, db, redis)  # the second worker: defers the job until the first is done, then runs it
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    with db.session() as session:
        one, two = job_repo.get(session, job_id=first), job_repo.get(session, job_id=second)
        assert one is not None and two is not None and two.status == "done"
        assert one.finished_at is not None and two.started_at is not None
        assert two.started_at >= one.finished_at
