"""A studio inside the benchmark process: SQLite, embedded Redis, blobs, a worker and a persona with an identity.

It runs real ``/imagine`` jobs the way a GPU worker does (``StudioWorker`` over RQ, the task loading its engine
from the model store into the worker's engine cache, the identity gate, PNG blobs and asset rows, delivery
events), so that their time can be set against the bare pipeline call in the same process.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from core import queue as studio_queue
from core.jobs import JobService
from core.settings import Settings
from inference.engine_cache import EngineCache
from inference.engines.faces import choose_backend, load_analyzer
from inference.identity import PersonaIdentity
from inference.resources import WorkerResources
from inference.worker import StudioWorker
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Asset, Job, User
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo

# The default budget (8192 MB) is below SD3 Medium's 15.4 GB of weights: loading the face engine for the gate
# would evict and unload the image engine the job is about to use, and the job would fail. A GPU worker needs
# room for both.
ENGINE_BUDGET_MB = 65536
CHAT = {"platform": "console", "chat_id": "gpu-run"}
PROMPT = "reading a book in a Paris cafe by the window, natural light, 35mm photo"


@dataclass(frozen=True)
class JobTiming:
    """One finished job: when it was queued, started and finished (wall clock, from its row)."""

    job_id: str
    created_at: datetime
    started_at: datetime
    finished_at: datetime

    @property
    def run_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


class BenchStudio:
    """Settings, database, Redis and worker resources on a scratch data folder, with one admin and persona."""

    def __init__(self, data_dir: Path, models_dir: Path) -> None:
        self.settings = Settings(
            environment="development",
            data_dir=data_dir,
            models_dir=models_dir,
            model_profile="full",
            # A failed likeness check would generate again: that is more work, not overhead, so none here.
            identity_gate_retries=0,
            engine_memory_budget_mb=ENGINE_BUDGET_MB,
            _env_file=None,  # type: ignore[call-arg]
        )
        self.redis = studio_queue.connect(self.settings)
        self.db = Database(self.settings.resolved_database_url)
        upgrade(self.db.engine)
        self.resources = WorkerResources(
            settings=self.settings, db=self.db, redis=self.redis, blobs=LocalBlobStore(self.settings.blobs_dir),
            engines=EngineCache(self.settings.engine_memory_budget_mb * 2**20))
        self.jobs = JobService(db=self.db, redis=self.redis, settings=self.settings)
        self.gate_engine = ""
        with self.db.session() as session:
            self.user: User = user_repo.get_or_create(session, platform="console", platform_user_id="gpu-run",
                                                      is_admin=True)
        self.persona_id = self._persona()

    def _persona(self) -> int:
        """A persona whose identity is stored for the worker's face engine, so every job runs the gate."""
        backend = choose_backend(self.settings)
        analyzer = load_analyzer(self.settings, backend)
        self.gate_engine = analyzer.name
        rng = np.random.default_rng(5)
        vector = rng.normal(size=analyzer.embedding_size)
        identity = PersonaIdentity(vector=vector / np.linalg.norm(vector), threshold=analyzer.threshold,
                                   spread=0.1, count=5)
        with self.db.session() as session:
            persona = persona_repo.create(session, owner_id=self.user.id, name="Ava", trigger_token="zkvtr")
            persona.description = "woman with red hair"
            persona.identity = {analyzer.name: identity.to_json(analyzer)}
            return persona.id

    def submit(self, count: int, *, seed: int = 1) -> list[str]:
        """Queue ``count`` identical /imagine jobs for the persona (1:1, one image, the model's default steps)."""
        spec: dict[str, Any] = {"persona_id": self.persona_id, "prompt": PROMPT, "aspect_ratio": "1:1", "n": 1,
                                "seed": seed, "steps": None, "template": None, "platform": None, "negative": None,
                                "variation_of": None, "variation": None}
        return [self.jobs.submit(user=self.user, kind="image", spec=spec, chat=CHAT).job_id for _ in range(count)]

    def work(self) -> None:
        """Run the queued jobs in this process, as a GPU worker does, until the queue is empty.

        The worker is created per burst but the resources (and so the engine cache) are the same, like one
        long-running worker; ``run_worker`` is not used because it unloads every engine when it stops.
        """
        queues = [studio_queue.queue(studio_queue.GPU_QUEUE, connection=self.redis)]
        worker = StudioWorker(queues, resources=self.resources, name=f"gpu-run-{secrets.token_hex(4)}")
        worker.work(burst=True, with_scheduler=False, logging_level="WARNING")

    def finished(self, job_ids: list[str]) -> list[JobTiming]:
        """Timings of the jobs, in the order they finished; raises if one did not finish as ``done``."""
        timings = []
        with self.db.session() as session:
            for job_id in job_ids:
                job: Job | None = job_repo.get(session, job_id=job_id)
                if job is None or job.status != "done" or job.started_at is None or job.finished_at is None:
                    status = "missing" if job is None else f"{job.status}: {job.error}"
                    raise RuntimeError(f"job {job_id} did not finish: {status}")
                timings.append(JobTiming(job_id, job.created_at, job.started_at, job.finished_at))
        return sorted(timings, key=lambda t: t.finished_at)

    def output(self, job_id: str) -> Asset:
        """The job's (first) image asset."""
        with self.db.session() as session:
            assets = asset_repo.for_job(session, job_id=job_id)
            if not assets:
                raise RuntimeError(f"job {job_id} stored no asset")
            session.expunge(assets[0])
            return assets[0]

    def image_engine(self) -> Any:
        """The image engine the worker loaded (from its engine cache)."""
        loaded = self.resources.engines.keys()  # a list of cache keys, least recently used first
        for key in loaded:
            if key.startswith("image:"):
                return self.resources.engines.get(key, _never)
        raise RuntimeError("the worker has no image engine loaded")

    def close(self) -> None:
        """Unload the engines, close the database and stop the embedded Redis."""
        self.resources.engines.clear()
        self.db.dispose()
        studio_queue.shutdown_embedded()


def _never() -> Any:
    raise RuntimeError("engine is not loaded")
