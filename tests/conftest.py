"""Shared fixtures: settings on a temporary data dir, real Redis, SQLite and PostgreSQL databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from core.settings import Settings
from storage.blobs import BlobStore
from storage.db import Database
from storage.migrate import upgrade
from tests import services

# Fixtures that several test modules use live in these modules, not in each other's test files.
pytest_plugins = ("tests.tiny_models", "tests.web_support")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return services.redis_url(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with services.postgres_database() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        redis_url=redis_url,
        model_profile="tiny",
        progress_interval_s=0.0,
        job_lease_seconds=3,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.resolved_database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The same test on the embedded SQLite file and on a real PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'any.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(url)
    upgrade(database.engine)
    yield database
    if request.param == "postgresql":
        from storage.models import Base

        # One PostgreSQL database serves the whole run: empty it for the next test.
        with database.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    database.dispose()


@pytest.fixture
def blobs(settings: Settings) -> BlobStore:
    return BlobStore(settings.blobs_dir)
