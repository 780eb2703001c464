"""Photoshoot benchmark: time to the contact sheet for a shoot of N (default 6), and the shoot's overhead beyond
N single /imagine calls of the same shots, measured in the same run (alternating, median of --runs).

Two models: the tiny profile's random-weight SD3 (no faces, so the identity layers find nothing to check), and
the tests' stand-in model, which "draws" photos of real people other than the persona, so every shot goes
through scoring and the face-swap refinement as on a real model. An in-process burst worker runs the jobs
against the Redis at STUDIO_REDIS_URL (default the local server, db 11) and a fresh SQLite database.

    .venv/bin/python benchmarks/shoot.py [--runs 5] [--shots 6] [--model tiny|standin|both] [--sheet FILE]

``--sheet`` keeps the stand-in's last contact sheet (docs/shoot-sheet.jpg is one).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.app import Studio  # noqa: E402
from core.jobresults import ShootResult  # noqa: E402
from core.messages import Incoming  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.shots import choose, plan  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.repositories import jobs as job_repo  # noqa: E402
from storage.repositories import users as user_repo  # noqa: E402
from tests import faceswap_data, standin  # noqa: E402
from tests.workers import drain  # noqa: E402

SCENE = "on a beach at sunset in a red linen dress"


def _say(studio: Studio, text: str) -> str:
    [reply] = studio.assistant.handle(Incoming(platform="console", user_id="bench", chat_id="bench", text=text))
    if not reply.job_id:
        raise SystemExit(f"{text!r} was refused: {reply.text}")
    return reply.job_id


def _finish(studio: Studio, db: Database, redis: Redis, job_ids: list[str]) -> float:
    """Seconds for a burst worker to run ``job_ids`` to the end (every one must be done)."""
    start = time.perf_counter()
    drain(studio.settings, db, redis, queues=("gpu",))
    elapsed = time.perf_counter() - start
    with db.session() as session:
        for job_id in job_ids:
            job = job_repo.get(session, job_id=job_id)
            if job is None or job.status != "done":
                raise SystemExit(f"job {job_id} ended {job.status if job else 'missing'}: {job.error if job else ''}")
    return elapsed


def measure(model: str, runs: int, count: int, sheet: Path | None = None) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = os.environ.get("STUDIO_REDIS_URL", "redis://127.0.0.1:6379/11")
        settings = Settings(environment="test", data_dir=folder / "data", redis_url=url, model_profile="tiny",
                            progress_interval_s=0.0, identity_gate_retries=1,
                            _env_file=None)  # type: ignore[call-arg]
        if model == "standin":
            models = folder / "models"
            settings = settings.model_copy(update={"models_dir": models,
                                                   "image_model": standin.install(models, people=[0, 1, 2, 4, 5])})
        redis = Redis.from_url(url)
        redis.flushdb()
        db = Database(settings.resolved_database_url)
        upgrade(db.engine)
        studio = Studio.build(settings, redis=redis)
        with db.session() as session:
            owner = user_repo.get_or_create(session, platform="console", platform_user_id="bench")
        faceswap_data.analysed_persona(settings, db, redis, owner, name="Lisa")
        # Warm-up: the engine loads once per worker process; neither side should pay for it.
        _finish(studio, db, redis, [_say(studio, f"/imagine Lisa: {SCENE} --seed 1")])
        shoots, singles = [], []
        for run in range(runs):
            seed = 1000 + run
            shoot = _say(studio, f"/shoot Lisa {count} {SCENE} --seed {seed}")
            shoots.append(_finish(studio, db, redis, [shoot]))
            # The same shots as single requests: the same prompts and seeds, one /imagine each.
            shots = plan(SCENE, choose(count), seed=seed)
            singles.append(_finish(studio, db, redis, [_say(studio, f"/imagine Lisa: {s.prompt} --seed {s.seed}")
                                                        for s in shots]))
        if sheet is not None:
            with db.session() as session:
                job = job_repo.get(session, job_id=shoot)
                blob = ShootResult.model_validate(job.result if job else {}).media[0].blob
            sheet.write_bytes(studio.blobs.read_bytes(blob))
        studio.close()
        db.dispose()
        redis.flushdb()
    return shoots, singles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--shots", type=int, default=6)
    parser.add_argument("--model", choices=("tiny", "standin", "both"), default="both")
    parser.add_argument("--sheet", type=Path, default=None, help="where to keep the stand-in's last contact sheet")
    args = parser.parse_args()
    models = ("tiny", "standin") if args.model == "both" else (args.model,)
    print(f"| model | shoot of {args.shots}: time to the contact sheet (median, s) | {args.shots} × /imagine "
          f"(median, s) | overhead (median of per-run ratios) |")
    print("|---|---|---|---|")
    for model in models:
        shoots, singles = measure(model, args.runs, args.shots, args.sheet if model == "standin" else None)
        ratios = [s / i - 1 for s, i in zip(shoots, singles, strict=True)]
        print(f"| {model} | {statistics.median(shoots):.2f} (min {min(shoots):.2f}) | "
              f"{statistics.median(singles):.2f} (min {min(singles):.2f}) | {statistics.median(ratios):+.1%} |",
              flush=True)


if __name__ == "__main__":
    main()
