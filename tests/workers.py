"""Run real workers in tests: in this process (burst) or as a separate process that can be killed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from redis import Redis

from core.jobs import JobService
from core.settings import Settings
from inference.engine_cache import EngineCache
from inference.resources import WorkerResources
from inference.worker import run_worker
from storage.blobs import open_blob_store
from storage.db import Database
from storage.repositories import jobs as job_repo

ROOT = Path(__file__).resolve().parent.parent


def resources(settings: Settings, db: Database, redis: Redis) -> WorkerResources:
    """Worker resources sharing the test's database and Redis."""
    return WorkerResources(
        settings=settings,
        db=db,
        redis=redis,
        blobs=open_blob_store(settings, cache=True),
        engines=EngineCache(settings.engine_memory_budget_mb * 2**20),
    )


def drain(settings: Settings, db: Database, redis: Redis, queues: tuple[str, ...] = ("gpu", "cpu")) -> None:
    """Run every queued job to completion in this process (an RQ burst worker that does not fork)."""
    run_worker(resources(settings, db, redis), queue_names=queues, burst=True)


def drain_cancelling_midway(settings: Settings, db: Database, redis: Redis, *, jobs: JobService, job_id: str,
                            owner_id: int, stage_prefix: str, queues: tuple[str, ...] = ("gpu",)) -> str:
    """Drain ``queues`` while the owner cancels ``job_id`` once its stage starts with ``stage_prefix`` and it is
    less than half done; returns the cancel answer ("" when the job never got there)."""
    answer: list[str] = []

    def cancel_midway() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.session() as session:
                job = job_repo.get(session, job_id=job_id)
                assert job is not None
                if job.status in ("done", "failed", "cancelled"):
                    return
                if job.status != "queued" and job.stage.startswith(stage_prefix) and job.progress < 0.5:
                    answer.append(jobs.cancel(owner_id=owner_id, job_id=job_id))
                    return
            time.sleep(0.01)

    watcher = threading.Thread(target=cancel_midway)
    watcher.start()
    drain(settings, db, redis, queues=queues)
    watcher.join(timeout=30)
    return answer[0] if answer else ""


def env_for(settings: Settings) -> dict[str, str]:
    """Environment that makes a `studio` subprocess use the test's data dir, database and Redis."""
    env = dict(os.environ)
    env.update(
        STUDIO_ENVIRONMENT=settings.environment,
        STUDIO_DATA_DIR=str(settings.data_dir),
        STUDIO_DATABASE_URL=settings.resolved_database_url,
        STUDIO_REDIS_URL=settings.redis_url or "",
        STUDIO_MODEL_PROFILE=settings.model_profile,
        STUDIO_JOB_LEASE_SECONDS=str(settings.job_lease_seconds),
        STUDIO_PROGRESS_INTERVAL_S=str(settings.progress_interval_s),
        STUDIO_BLOB_URL=settings.blob_url or "",
        STUDIO_S3_ENDPOINT_URL=settings.s3_endpoint_url or "",
    )
    return env


def spawn_worker(settings: Settings, queues: str = "cpu,gpu") -> subprocess.Popen[bytes]:
    """A `studio worker` process, as deployments run it."""
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker", "--queues", queues],
        cwd=ROOT,
        env=env_for(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for_status(db: Database, job_id: str, status: str, timeout: float = 60.0) -> None:
    """Block until the job reaches ``status`` (a running one: with some progress made)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as session:
            job = job_repo.get(session, job_id=job_id)
            if job is not None and job.status == status and (status != "running" or job.progress > 0):
                return
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {status}")
