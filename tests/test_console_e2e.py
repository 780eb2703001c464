"""End to end through the console front end: message → job → real worker → progress → result → ack."""

from __future__ import annotations

import io

from redis import Redis
from rich.console import Console

from bots.console import ConsoleFrontend
from core.app import Studio
from core.settings import Settings
from storage.db import Database
from storage.repositories import jobs as job_repo
from tests.workers import drain


def _frontend(settings: Settings, redis: Redis) -> tuple[ConsoleFrontend, io.StringIO, Studio]:
    out = io.StringIO()
    studio = Studio.build(settings, redis=redis)
    frontend = ConsoleFrontend(studio, user_id="alice", console=Console(file=out, width=120))
    return frontend, out, studio


def test_echo_conversation_end_to_end(settings: Settings, db: Database, redis: Redis) -> None:
    frontend, out, studio = _frontend(settings, redis)
    replies = frontend.feed("/echo hello studio --seconds 1")
    assert replies[0].job_id, "the first reply is the job's status message"
    job_id = replies[0].job_id
    assert "queued, position 1" in out.getvalue()

    drain(settings, db, redis)
    while frontend.pump(block_ms=100):
        pass

    text = out.getvalue()
    assert "echo: hello studio" in text
    assert f"done · job {job_id}" in text
    assert frontend.consumer.pending_count() == 0, "every event is acknowledged after it was shown"
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "done"
        assert job.chat["status_message_id"] == f"console:{job_id}"
    studio.close()


def test_unknown_input_gets_a_hint_not_a_traceback(settings: Settings, redis: Redis) -> None:
    frontend, out, studio = _frontend(settings, redis)
    frontend.feed("/imagin a cat")
    frontend.feed("blorp")
    text = out.getvalue()
    assert "Did you mean /imagine?" in text
    assert "I didn't catch that" in text
    assert "Traceback" not in text
    studio.close()


def test_cancel_a_queued_job(settings: Settings, db: Database, redis: Redis) -> None:
    frontend, out, studio = _frontend(settings, redis)
    job_id = frontend.feed("/echo slow --seconds 5")[0].job_id
    frontend.feed(f"/cancel {job_id}")
    assert "cancelled before it started" in out.getvalue()
    drain(settings, db, redis)
    while frontend.pump(block_ms=100):
        pass
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "cancelled"
    assert f"cancelled · job {job_id}" in out.getvalue()
    studio.close()
