"""Shared fixtures: settings on a temporary data dir, real Redis, SQLite and PostgreSQL databases, and the blob
store in a local folder or in a bucket on a real S3 server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from core.settings import Settings
from storage.blobs import BlobStore, open_blob_store
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


@contextmanager
def _database(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Iterator[Database]:
    sqlite = f"sqlite:///{tmp_path / 'any.sqlite3'}"
    database = Database(sqlite if kind == "sqlite" else request.getfixturevalue("postgres_url"))
    upgrade(database.engine)
    yield database
    if kind == "postgresql":
        from storage.models import Base

        # One PostgreSQL database serves the whole run: empty it for the next test.
        with database.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The same test on the embedded SQLite file and on a real PostgreSQL database."""
    with _database(request, request.param, tmp_path) as database:
        yield database


@pytest.fixture
def blobs(settings: Settings) -> BlobStore:
    return open_blob_store(settings)


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.S3Server]:
    """A real S3 server (SeaweedFS), started once for the whole run, with a bucket of its own; boto3 in this
    process and in the workers it starts finds it through the standard AWS variables."""
    with services.s3_server(tmp_path_factory.mktemp("s3")) as server, pytest.MonkeyPatch.context() as patch:
        for name, value in server.env().items():
            patch.setenv(name, value)
        yield server


@pytest.fixture
def s3_prefix(s3: services.S3Server) -> Iterator[str]:
    """A prefix in the run's bucket for one test, emptied afterwards."""
    prefix = f"t-{uuid.uuid4().hex[:10]}"
    yield prefix
    s3.empty(prefix + "/")


def _blob_backend(request: pytest.FixtureRequest, backend: str) -> dict[str, Any]:
    """Settings that put the blob store in ``backend``: the data dir's folder, or a fresh prefix in the bucket."""
    if backend == "local":
        return {}
    server: services.S3Server = request.getfixturevalue("s3")
    prefix: str = request.getfixturevalue("s3_prefix")
    return {"blob_url": f"s3://{server.bucket}/{prefix}", "s3_endpoint_url": server.endpoint_url}


@pytest.fixture(params=["local", "s3"])
def blob_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The test's settings with blobs in a local folder, then in a bucket on the real S3 server."""
    return settings.model_copy(update=_blob_backend(request, request.param))


@pytest.fixture
def any_blobs(blob_settings: Settings) -> BlobStore:
    """The same test on the local blob folder and on the S3 bucket."""
    return open_blob_store(blob_settings)


@pytest.fixture(params=["sqlite+local", "postgresql+s3"])
def stack(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings for the embedded layout (SQLite file, blob folder) and the production one (PostgreSQL, S3
    bucket): conversation tests run on both without running four times."""
    database_kind, blob_kind = request.param.split("+")
    with _database(request, database_kind, tmp_path) as database:
        url = database.engine.url.render_as_string(hide_password=False)
        yield settings.model_copy(update={"database_url": url, **_blob_backend(request, blob_kind)})


@pytest.fixture
def production_settings(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """The production layout only: PostgreSQL and the S3 bucket (for tests of several machines)."""
    with _database(request, "postgresql", tmp_path) as database:
        url = database.engine.url.render_as_string(hide_password=False)
        yield settings.model_copy(update={"database_url": url, **_blob_backend(request, "s3")})
