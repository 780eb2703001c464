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
from tests.faults.timing import fault_settings


@pytest.fixture(scope="module")
def fault_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultRedis]:
    server = FaultRedis(tmp_path_factory.mktemp("fault-redis"))
    server.start()
    yield server
    server.stop()


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
