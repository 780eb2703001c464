"""The workers `studio up` runs (issue case 9): CPU jobs never wait behind a stream of GPU jobs, and a user's
allowance of running jobs holds across the workers."""

from __future__ import annotations

import time
from datetime import datetime
from itertools import pairwise

from redis import Redis

from cli.main import UP_WORKERS
from core.jobs import JobService
from core.settings import Settings
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import Job
from tests.faults import jobs as fj
from tests.faults.chat import recording_chat
from tests.faults.ledger import Ledger
from tests.faults.processes import fork_worker, stop


def _times(db: Database, job_ids: list[str]) -> dict[str, tuple[datetime, datetime]]:
    with db.session() as session:
        rows = [session.get(Job, job_id) for job_id in job_ids]
        return {row.id: (row.started_at, row.finished_at) for row in rows
                if row is not None and row.started_at and row.finished_at}


def test_cpu_jobs_do_not_starve_behind_gpu_work_and_the_allowance_holds(
        settings: Settings, db: Database, redis: Redis) -> None:
    settings.max_queued_jobs = 10  # max_running_jobs stays 1
    jobs = JobService(db=db, redis=redis, settings=settings)
    blobs = LocalBlobStore(settings.blobs_dir)
    alice, bob = fj.user(db, "alice"), fj.user(db, "bob")
    pictures = [fj.picture(db, blobs, alice, shade) for shade in (40, 80, 120)]
    # A stream of GPU work is waiting when Bob asks for something small, and Alice for more of her own.
    gpu = [fj.submit(jobs, alice, fj.animate(asset_id)) for asset_id in pictures]
    bobs = fj.submit(jobs, bob, fj.echo("quick"))
    alices = fj.submit(jobs, alice, fj.echo("mine"))
    everything = [*gpu, bobs, alices]
    with recording_chat(settings, db) as chat:
        workers = [fork_worker(settings, queues=queues.split(",")) for _label, queues in UP_WORKERS]
        try:
            fj.wait_until(db, everything, timeout=90)
            fj.eventually(lambda: len(chat.finals()) == len(everything), what="every result in the chat")
            time.sleep(0.3)
        finally:
            stop(workers)
        ledger = Ledger.count(db, everything, chat.finals())
    assert ledger.balanced(), ledger
    times = _times(db, everything)
    assert times[bobs][1] <= max(times[job_id][0] for job_id in gpu), \
        "Bob's CPU job ended before the last of the GPU jobs queued ahead of it started"
    mine = sorted(times[job_id] for job_id in [*gpu, alices])
    overlaps = [(a, b) for a, b in pairwise(mine) if b[0] < a[1]]
    assert overlaps == [], "Alice never had two jobs running at once (STUDIO_MAX_RUNNING_JOBS=1)"
