"""Real services for tests: Redis and PostgreSQL on loopback, or the embedded Redis where none runs.

Under ``CI=true`` a missing service is an error, not a skip: CI starts them before the tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_URL = os.environ.get("STUDIO_TEST_REDIS_URL", "redis://127.0.0.1:6379")
# Separate test runs on one machine pick separate databases so they never flush each other's data.
REDIS_DB = int(os.environ.get("STUDIO_TEST_REDIS_DB", "15"))
POSTGRES_ADMIN_URL = os.environ.get("STUDIO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def missing(service: str, reason: str) -> None:
    """Fail under CI, skip elsewhere."""
    message = f"{service} is not reachable ({reason})"
    if IN_CI:
        pytest.fail(message + "; .ci/run should have started it", pytrace=False)
    pytest.skip(message)


def redis_url(tmp_root: Path) -> str:
    """URL of a Redis database for this test run: the local server, or an embedded one."""
    url = f"{REDIS_URL}/{REDIS_DB}"
    try:
        Redis.from_url(url, socket_connect_timeout=1).ping()
        return url
    except RedisConnectionError as exc:
        if IN_CI:
            missing("Redis", str(exc))
    from core.queue import EmbeddedRedis

    return EmbeddedRedis(tmp_root).url


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards; yields its SQLAlchemy URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    name = f"studio_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        missing("PostgreSQL", str(exc.orig))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
