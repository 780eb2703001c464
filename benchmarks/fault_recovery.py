"""How long the system takes to come back from real faults (issue 9's cases), medians over several runs.

Each scenario uses the fault tests' own servers and processes (tests/faults/): a Redis server of its own with
AOF, a PostgreSQL cluster of its own, worker processes forked and signalled, the real Telegram front end
against the loopback fake Bot API. Settings are the fault tests' short ones (lease 3 s, redelivery sweep every
0.5 s for events older than 1 s); with the production defaults a lost final event is shown 2-3 minutes late.

    .venv/bin/python benchmarks/fault_recovery.py --runs 3
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import queue
from core.jobs import JobService
from core.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Job
from tests.fake_telegram import fake_telegram
from tests.faults import jobs as fj
from tests.faults.bot import ALICE, queued_job, results, telegram_bot
from tests.faults.chat import recording_chat
from tests.faults.processes import fork_worker, stop
from tests.faults.servers import FaultRedis, OwnPostgres
from tests.faults.timing import fault_settings
from tests.workers import drain

Scenario = Callable[[Settings, Database, FaultRedis, OwnPostgres], dict[str, float]]


def redis_blip_during_flood_wait(settings: Settings, db: Database, server: FaultRedis,
                                 _pg: OwnPostgres) -> dict[str, float]:
    """Case 1: three results in one chat, the lane waiting out a 429, Redis down for 2 s meanwhile."""
    redis = queue.connect(settings)
    with fake_telegram() as fake, telegram_bot(settings, fake, redis):
        for text in ("a", "b", "c"):
            before = len(fake.calls)
            fake.text(ALICE, f"/echo {text}")
            queued_job(fake, ALICE, after=before)
        fake.fail_next("editMessageText", retry_after=2)
        drain(settings, db, redis)
        fake.wait_for(lambda: any(c.status == 429 for c in fake.calls_to("editMessageText", chat_id=ALICE)))
        server.stop()
        time.sleep(2.0)
        server.start()
        back = time.monotonic()
        fake.wait_for(lambda: len(results(fake, ALICE)) == 3, timeout=60)
        shown = time.monotonic() - back
    redis.close()
    return {"Redis back → all 3 results shown": shown}


def redis_restarted_empty(settings: Settings, db: Database, server: FaultRedis,
                          _pg: OwnPostgres) -> dict[str, float]:
    """Case 2: Redis restarted without its data under a running bot, then a new command."""
    redis = queue.connect(settings)
    with fake_telegram() as fake, telegram_bot(settings, fake, redis):
        fake.text(ALICE, "/start")
        fake.wait_call("sendMessage", chat_id=ALICE)
        server.restart(empty=True)
        back = time.monotonic()
        before = len(fake.calls)
        fake.text(ALICE, "/echo after")
        queued_job(fake, ALICE, after=before)
        drain(settings, db, redis)
        fake.wait_call("sendMessage", chat_id=ALICE, contains="echo: after", timeout=60)
        shown = time.monotonic() - back
    redis.close()
    return {"restart → next result shown": shown}


def redis_outage_during_a_job(settings: Settings, db: Database, server: FaultRedis,
                              _pg: OwnPostgres) -> dict[str, float]:
    """Case 3: a 1 s echo job; Redis down for 2.5 s from its first progress report."""
    redis = queue.connect(settings)
    worker = fork_worker(settings, queues=("cpu",))
    try:
        with fake_telegram() as fake, telegram_bot(settings, fake, redis):
            before = len(fake.calls)
            fake.text(ALICE, "/echo slow --seconds 1")
            job_id = queued_job(fake, ALICE, after=before)
            fj.wait_until(db, [job_id], status={"running"}, running=True)
            server.stop()
            time.sleep(2.5)
            server.start()
            back = time.monotonic()
            fake.wait_call("sendMessage", chat_id=ALICE, contains="echo: slow", timeout=60)
            shown = time.monotonic() - back
    finally:
        stop([worker])
        redis.close()
    return {"Redis back → result shown": shown}


def worker_stopped_with_a_job(settings: Settings, db: Database, server: FaultRedis,
                              _pg: OwnPostgres) -> dict[str, float]:
    """Case 10 (worker part): SIGTERM to a worker in the middle of a 3 s job."""
    redis = queue.connect(settings)
    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = fj.submit(jobs, fj.user(db), fj.echo("x", seconds=3))
    worker = fork_worker(settings, queues=("cpu",))
    fj.wait_until(db, [job_id], status={"running"}, running=True)
    asked = time.monotonic()
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGTERM)
    fj.wait_until(db, [job_id], status={"queued"})
    handed = time.monotonic() - asked
    worker.join(10)
    gone = time.monotonic() - asked
    with db.session() as session:
        row = session.get(Job, job_id)
        assert row is not None
        session.delete(row)
    redis.close()
    return {"SIGTERM → job back on the queue": handed, "SIGTERM → worker gone": gone}


def postgres_restart_during_a_job(settings: Settings, _db: Database, _server: FaultRedis,
                                  pg: OwnPostgres) -> dict[str, float]:
    """A 2 s echo job; PostgreSQL stopped (immediate) for 1.5 s from its first progress report."""
    pg_settings = settings.model_copy(update={"database_url": pg.url})
    db = Database(pg.url)
    upgrade(db.engine)
    redis = queue.connect(pg_settings)
    jobs = JobService(db=db, redis=redis, settings=pg_settings)
    job_id = fj.submit(jobs, fj.user(db, f"pg{time.monotonic_ns()}"), fj.echo("x", seconds=2))
    worker = fork_worker(pg_settings, queues=("cpu",))
    try:
        with recording_chat(pg_settings, db) as chat:
            fj.wait_until(db, [job_id], status={"running"}, running=True)
            pg.stop()
            time.sleep(1.5)
            pg.start()
            back = time.monotonic()
            fj.wait_until(db, [job_id], timeout=60)
            done = time.monotonic() - back
            fj.eventually(lambda: chat.finals()[job_id] >= 1, timeout=60)
            shown = time.monotonic() - back
    finally:
        stop([worker])
        redis.close()
        db.dispose()
    return {"PostgreSQL back → job done": done, "PostgreSQL back → result shown": shown}


def cpu_job_behind_gpu_work(settings: Settings, db: Database, _server: FaultRedis,
                            _pg: OwnPostgres) -> dict[str, float]:
    """Case 9: a CPU job submitted behind five GPU jobs, with one worker on gpu,cpu (the old `studio up`) and
    with the workers `studio up` runs now."""
    from cli.main import UP_WORKERS
    from storage.blobs import BlobStore

    settings.max_queued_jobs = 10
    redis = queue.connect(settings)
    jobs = JobService(db=db, redis=redis, settings=settings)
    blobs = BlobStore(settings.blobs_dir)
    figures = {}
    for label, layout in (("one gpu,cpu worker", [["gpu", "cpu"]]),
                          ("studio up's workers", [q.split(",") for _name, q in UP_WORKERS])):
        alice, bob = fj.user(db, f"a-{label}"), fj.user(db, f"b-{label}")
        gpu = [fj.submit(jobs, alice, fj.animate(fj.picture(db, blobs, alice, shade))) for shade in range(5)]
        quick = fj.submit(jobs, bob, fj.echo("quick"))
        workers = [fork_worker(settings, queues=queues) for queues in layout]
        try:
            fj.wait_until(db, [*gpu, quick], timeout=120)
        finally:
            stop(workers)
        with db.session() as session:
            row = session.get(Job, quick)
            assert row is not None and row.started_at is not None
            figures[f"CPU job wait behind 5 GPU jobs, {label}"] = (row.started_at - row.created_at).total_seconds()
    redis.close()
    return figures


SCENARIOS: list[Scenario] = [cpu_job_behind_gpu_work, redis_blip_during_flood_wait, redis_restarted_empty,
                             redis_outage_during_a_job, worker_stopped_with_a_job, postgres_restart_during_a_job]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {}
    pg = OwnPostgres()
    pg.create()
    try:
        for run in range(args.runs):
            for scenario in SCENARIOS:
                with tempfile.TemporaryDirectory() as tmp:
                    server = FaultRedis(Path(tmp) / "redis")
                    server.start()
                    try:
                        settings = fault_settings(Path(tmp) / "data", server.url)
                        db = Database(settings.resolved_database_url)
                        upgrade(db.engine)
                        for label, seconds in scenario(settings, db, server, pg).items():
                            figures.setdefault(f"{scenario.__name__}: {label}", []).append(seconds)
                        db.dispose()
                    finally:
                        server.stop()
            print(f"run {run + 1} of {args.runs} done", flush=True)
    finally:
        pg.destroy()
    for label, values in figures.items():
        print(f"{label:75s} median {statistics.median(values):5.2f} s  (runs: "
              + ", ".join(f"{v:.2f}" for v in values) + ")")


if __name__ == "__main__":
    main()
