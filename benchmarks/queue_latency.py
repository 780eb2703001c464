"""Queue benchmark: enqueue→start latency with a warm worker, jobs per second, cold vs warm engine load.

Runs against the Redis at STUDIO_REDIS_URL (default: the local server, else an embedded one) and a fresh
SQLite database in a temporary directory, with a real `studio worker` process.

    .venv/bin/python benchmarks/queue_latency.py [--samples 50] [--throughput-jobs 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.jobs import JobService  # noqa: E402
from core.settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import User  # noqa: E402
from storage.repositories import jobs as job_repo  # noqa: E402
from storage.repositories import users as user_repo  # noqa: E402


def _redis_url(data_dir: Path) -> str:
    url = os.environ.get("STUDIO_REDIS_URL", "redis://127.0.0.1:6379/11")
    try:
        Redis.from_url(url, socket_connect_timeout=1).ping()
        return url
    except Exception:
        from core.queue import EmbeddedRedis

        return EmbeddedRedis(data_dir).url


def _wait(db: Database, job_ids: list[str], timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    pending = set(job_ids)
    while pending and time.monotonic() < deadline:
        with db.session() as session:
            for job_id in list(pending):
                job = job_repo.get(session, job_id=job_id)
                if job is not None and job.status in ("done", "failed", "cancelled"):
                    if job.status != "done":
                        raise SystemExit(f"job {job_id} ended {job.status}: {job.error}")
                    pending.discard(job_id)
        if pending:
            time.sleep(0.005)
    if pending:
        raise SystemExit(f"{len(pending)} jobs did not finish")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--throughput-jobs", type=int, default=200)
    parser.add_argument("--engine-kind", default="image", help="job kind for the cold/warm engine comparison")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp:
        data_dir = Path(tmp)
        url = _redis_url(data_dir)
        redis = Redis.from_url(url)
        redis.flushdb()
        settings = Settings(environment="test", data_dir=data_dir, redis_url=url, model_profile="tiny",
                            progress_interval_s=2.0, _env_file=None)  # type: ignore[call-arg]
        db = Database(settings.resolved_database_url)
        upgrade(db.engine)
        jobs = JobService(db=db, redis=redis, settings=settings)
        with db.session() as session:
            user: User = user_repo.get_or_create(session, platform="console", platform_user_id="bench",
                                                 is_admin=True)
        if args.engine_kind == "image":
            from inference.models import image_model

            image_model(settings)  # build the tiny model now, so "cold" below is loading only
        env = {**os.environ, "STUDIO_DATA_DIR": str(data_dir), "STUDIO_REDIS_URL": url,
               "STUDIO_DATABASE_URL": settings.resolved_database_url, "STUDIO_MODEL_PROFILE": "tiny",
               "STUDIO_ENVIRONMENT": "test"}
        worker = subprocess.Popen([sys.executable, "-m", "cli.main", "worker", "--queues", "gpu,cpu"], cwd=ROOT,
                                  env=env)
        try:
            # Warm-up: the worker process is started and has imported everything.
            _wait(db, [jobs.submit(user=user, kind="echo", spec={"text": "warm"}, chat={}).job_id], timeout=120)

            latencies = []
            for i in range(args.samples):
                job_id = jobs.submit(user=user, kind="echo", spec={"text": str(i)}, chat={}).job_id
                _wait(db, [job_id])
                with db.session() as session:
                    job = job_repo.get(session, job_id=job_id)
                    assert job is not None and job.started_at is not None
                    latencies.append((job.started_at - job.created_at).total_seconds() * 1000)
            print(f"enqueue→start, warm worker ({args.samples} jobs, one at a time):")
            print(f"  median {statistics.median(latencies):.1f} ms   p95 {percentile(latencies, 0.95):.1f} ms   "
                  f"max {max(latencies):.1f} ms")

            started = time.perf_counter()
            ids = [jobs.submit(user=user, kind="echo", spec={"text": str(i)}, chat={}).job_id
                   for i in range(args.throughput_jobs)]
            submitted = time.perf_counter()
            _wait(db, ids)
            elapsed = time.perf_counter() - started
            print(f"throughput: {args.throughput_jobs} echo jobs in {elapsed:.2f} s "
                  f"= {args.throughput_jobs / elapsed:.1f} jobs/s (submitting took {submitted - started:.2f} s)")

            engine_runs = []
            for attempt in ("cold", "warm"):
                spec = {"persona_id": None, "prompt": "a lighthouse at dusk", "aspect_ratio": "1:1", "n": 1,
                        "seed": 1, "steps": 2, "template": None, "platform": None, "negative": None,
                        "variation_of": None, "variation": None}
                job_id = jobs.submit(user=user, kind=args.engine_kind, spec=spec, chat={}).job_id
                _wait(db, [job_id])
                with db.session() as session:
                    job = job_repo.get(session, job_id=job_id)
                    assert job is not None and job.started_at and job.finished_at
                    engine_runs.append((attempt, (job.finished_at - job.started_at).total_seconds()))
            cold, warm = engine_runs[0][1], engine_runs[1][1]
            print(f"{args.engine_kind} job, same spec twice in one worker: cold {cold:.2f} s, warm {warm:.2f} s "
                  f"(engine load ≈ {cold - warm:.2f} s)")
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            redis.flushdb()


if __name__ == "__main__":
    main()
