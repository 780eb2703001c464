"""Run real workers in tests: in this process (burst) or as a separate process that can be killed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from redis import Redis

from core.settings import Settings
from inference.engine_cache import EngineCache
from inference.runtime import WorkerResources
from inference.worker import run_worker
from storage.blobs import BlobStore
from storage.db import Database

ROOT = Path(__file__).resolve().parent.parent


def resources(settings: Settings, db: Database, redis: Redis) -> WorkerResources:
    """Worker resources sharing the test's database and Redis."""
    return WorkerResources(
        settings=settings,
        db=db,
        redis=redis,
        blobs=BlobStore(settings.blobs_dir),
        engines=EngineCache(settings.engine_memory_budget_mb * 2**20),
    )


def drain(settings: Settings, db: Database, redis: Redis, queues: tuple[str, ...] = ("gpu", "cpu")) -> None:
    """Run every queued job to completion in this process (an RQ burst worker that does not fork)."""
    run_worker(resources(settings, db, redis), queue_names=queues, burst=True)


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
