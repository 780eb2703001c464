"""PostgreSQL restarted under a running job and a reading chat (a cluster of the tests' own, never the shared
server): the worker waits the restart out and finishes the job once, and the chat shows it once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from core.jobs import JobService
from core.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Job
from tests.faults import jobs as fj
from tests.faults.chat import recording_chat
from tests.faults.ledger import Ledger
from tests.faults.processes import fork_worker, stop
from tests.faults.servers import OwnPostgres


@pytest.fixture(scope="module")
def postgres() -> Iterator[OwnPostgres]:
    cluster = OwnPostgres()
    cluster.create()
    yield cluster
    cluster.destroy()


@pytest.fixture
def pg_settings(settings: Settings, postgres: OwnPostgres) -> Settings:
    return settings.model_copy(update={"database_url": postgres.url})


@pytest.fixture
def pg_db(pg_settings: Settings) -> Iterator[Database]:
    database = Database(pg_settings.resolved_database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


def test_a_postgres_restart_during_a_job_is_waited_out_not_redone(
        pg_settings: Settings, pg_db: Database, redis: Redis, postgres: OwnPostgres, tmp_path: Path) -> None:
    jobs = JobService(db=pg_db, redis=redis, settings=pg_settings)
    owner = fj.user(pg_db)
    job_id = fj.submit(jobs, owner, fj.echo("through a restart", seconds=2))
    worker = fork_worker(pg_settings, queues=("cpu",))
    try:
        with recording_chat(pg_settings, pg_db) as chat:
            fj.wait_until(pg_db, [job_id], status={"running"}, running=True)
            postgres.stop()  # immediate: every connection of the worker and the chat is cut
            time.sleep(1.5)
            postgres.start()
            fj.wait_until(pg_db, [job_id], timeout=60)
            fj.eventually(lambda: chat.finals()[job_id] >= 1, what="the result in the chat")
            time.sleep(0.6)  # past the next redelivery sweep
            ledger = Ledger.count(pg_db, [job_id], chat.finals())
            assert worker.is_alive(), "the worker survives the restart"
    finally:
        stop([worker])
    assert ledger.balanced(), ledger
    with pg_db.session() as session:
        row = session.get(Job, job_id)
        assert row is not None
        assert (row.status, row.attempts, row.result.get("text")) == ("done", 1, "through a restart"), row.error
