"""Fault-test fixtures: a Redis server of the tests' own (one per module, emptied between tests) and settings
with short leases, timeouts and redelivery intervals, so that each recovery happens within a second or two."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from core import queue
from core.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from tests.faults.servers import FaultRedis


@pytest.fixture(scope="module")
def fault_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultRedis]:
    server = FaultRedis(tmp_path_factory.mktemp("fault-redis"))
    server.start()
    yield server
    server.stop()


def fault_settings(data_dir: Path, redis_url: str, **extra: object) -> Settings:
    """Settings for fault tests: short leases and waits, so every recovery path runs within seconds."""
    values: dict[str, object] = dict(
        environment="test", data_dir=data_dir, redis_url=redis_url, model_profile="tiny",
        progress_interval_s=0.0, job_lease_seconds=3, job_lost_after_s=1, job_outage_retry_s=15.0,
        delivery_redeliver_interval_s=0.5, delivery_redeliver_after_s=1.0, video_max_side=64, video_fps=8,
    )
    values.update(extra)
    return Settings(**values, _env_file=None)  # type: ignore[arg-type, call-arg]


@pytest.fixture
def settings(tmp_path: Path, fault_redis: FaultRedis) -> Iterator[Settings]:
    """The fault tests' settings, on their own Redis (emptied before and after each test)."""
    if not _up(fault_redis):  # a test that failed half-way through an outage
        fault_redis.start()
    fault_redis.flush()
    yield fault_settings(tmp_path / "data", fault_redis.url)
    if _up(fault_redis):
        fault_redis.flush()


def _up(server: FaultRedis) -> bool:
    try:
        return bool(server.client().ping())
    except Exception:
        return False


@pytest.fixture
def redis(settings: Settings) -> Iterator[Redis]:
    """A client of the fault Redis with the production connection settings (timeouts, retries)."""
    client = queue.connect(settings)
    yield client
    client.close()


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.resolved_database_url)
    upgrade(database.engine)
    yield database
    database.dispose()
