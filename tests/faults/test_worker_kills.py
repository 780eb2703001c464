"""A real worker process killed (SIGKILL) or stopped (SIGTERM, SIGINT) at each step of a job: every job still
ends once, keeps one set of outputs and reaches the chat once (issue cases 5 and 10's hand-back)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis

from core.jobs import JobService
from core.settings import Settings
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import Job
from tests.faults import jobs as fj
from tests.faults.chat import recording_chat
from tests.faults.ledger import Ledger
from tests.faults.processes import fork_worker, hold_at, kill, stop, wait_for_step
from tests.workers import ROOT, env_for

# before start, mid-run, after its outputs were stored, after the row says done but before the event went out
STEPS = ("dequeued", "running", "stored", "recorded")


def test_a_worker_killed_at_each_step_of_a_job_loses_nothing_and_doubles_nothing(
        settings: Settings, db: Database, redis: Redis, tmp_path: Path) -> None:
    jobs = JobService(db=db, redis=redis, settings=settings)
    blobs = LocalBlobStore(settings.blobs_dir)
    owner = fj.user(db)
    settings.max_running_jobs = 4  # the killed tries are the subject here, not the per-user allowance
    control = tmp_path / "control"
    control.mkdir()
    submitted: list[str] = []
    with recording_chat(settings, db) as chat:
        for step in STEPS:
            job_id = fj.submit(jobs, owner, fj.animate(fj.picture(db, blobs, owner)))
            submitted.append(job_id)
            hold_at(control, step, job_id)
            worker = fork_worker(settings, control=control)
            wait_for_step(control, job_id, step)
            kill(worker)
        with db.session() as session:
            states = {job_id: session.get(Job, job_id).status for job_id in submitted}  # type: ignore[union-attr]
        assert states == dict(zip(submitted, ["queued", "running", "running", "done"], strict=True))

        survivor = fork_worker(settings)
        try:
            fj.wait_until(db, submitted)
            fj.eventually(lambda: len(chat.finals()) == len(submitted), what="every result in the chat")
            time.sleep(0.5)  # a second copy of any result would arrive now
        finally:
            stop([survivor])
        ledger = Ledger.count(db, submitted, chat.finals())
    assert ledger.balanced(outputs_per_job=1), ledger
    with db.session() as session:
        assert {session.get(Job, job_id).status for job_id in submitted} == {"done"}  # type: ignore[union-attr]


@pytest.mark.parametrize("how", ["sigterm at a progress report", "sigint inside a long step"])
def test_a_stopped_worker_hands_its_job_back_at_once(settings: Settings, db: Database, redis: Redis,
                                                     tmp_path: Path, how: str) -> None:
    jobs = JobService(db=db, redis=redis, settings=settings)
    owner = fj.user(db)
    control = tmp_path / "control"
    control.mkdir()
    with recording_chat(settings, db) as chat:
        if how.startswith("sigterm"):
            job_id = fj.submit(jobs, owner, fj.echo("patience", seconds=2))
            # `studio worker` itself, so the signal handling is the command's own.
            worker = subprocess.Popen([sys.executable, "-m", "cli.main", "worker", "--queues", "cpu"], cwd=ROOT,
                                      env=env_for(settings), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            fj.wait_until(db, [job_id], status={"running"}, running=True)
            asked = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            worker.wait(10)
        else:
            job_id = fj.submit(jobs, owner, fj.echo("patience", seconds=1))
            hold_at(control, "running", job_id)  # as if inside a model load that reports nothing for minutes
            forked = fork_worker(settings, queues=("cpu",), control=control)
            wait_for_step(control, job_id, "running")
            asked = time.monotonic()
            assert forked.pid is not None
            os.kill(forked.pid, signal.SIGINT)
            forked.join(10)
        stopped_after = time.monotonic() - asked
        with db.session() as session:
            row = session.get(Job, job_id)
            assert row is not None
            status, attempts = row.status, row.attempts
        assert status == "queued" and attempts == 0, "handed back at once, and the try is not counted"
        assert stopped_after < 5.0, f"the worker took {stopped_after:.1f} s to stop"

        (control / "running").unlink(missing_ok=True)
        successor = fork_worker(settings, queues=("cpu",))
        try:
            fj.wait_until(db, [job_id], timeout=60)
            fj.eventually(lambda: chat.finals()[job_id] >= 1, what="the result in the chat")
        finally:
            stop([successor])
        ledger = Ledger.count(db, [job_id], chat.finals())
    assert ledger.balanced(), ledger
    with db.session() as session:
        row = session.get(Job, job_id)
        assert row is not None and row.status == "done" and row.attempts == 1
