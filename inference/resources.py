"""What a worker process owns and lends to each job (connections, stores, engines, the stamper), and how a
task function enqueued by dotted path reaches it."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from redis import Redis

from core.jobs import JobService
from core.settings import Settings
from inference.engine_cache import EngineCache
from inference.provenance.stamp import Stamper
from storage.blobs import BlobStore, open_blob_store
from storage.db import Database

log = logging.getLogger(__name__)

Checkpoint = Callable[[str, str], None]


@dataclass(frozen=True)
class InFlight:
    """The job a worker is running now, for whoever must hand it back when the worker stops."""

    job_id: str
    attempt: int


@dataclass
class WorkerResources:
    """What a worker process owns and lends to each job: connections, stores and the engine cache.

    ``stopping`` is set when the worker was asked to stop: the job in flight is handed back to the queue at its
    next progress report. ``checkpoint`` (none in production) is called as ``checkpoint(job_id, step)`` at
    each step of a job (``STEPS``): the seam through which fault tests stop a real worker at a chosen step.
    """

    settings: Settings
    db: Database
    redis: Redis
    blobs: BlobStore
    engines: EngineCache
    checkpoint: Checkpoint | None = None
    jobs: JobService = field(init=False)
    stopping: threading.Event = field(init=False, default_factory=threading.Event)
    in_flight: InFlight | None = field(init=False, default=None)

    _stamper: Stamper | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.jobs = JobService(db=self.db, redis=self.redis, settings=self.settings)

    def stamper(self) -> Stamper:
        """The worker's provenance stamper, its signing keys loaded (or made, in the data folder) once."""
        if self._stamper is None:
            self._stamper = Stamper.from_settings(self.settings)
        return self._stamper

    @classmethod
    def from_settings(cls, settings: Settings, *, redis: Redis) -> WorkerResources:
        """Resources built from settings (the worker command uses this)."""
        return cls(
            settings=settings,
            db=Database(settings.resolved_database_url),
            redis=redis,
            blobs=open_blob_store(settings, cache=True),
            engines=EngineCache(settings.engine_memory_budget_mb * 2**20),
        )


# The steps of a job at which ``WorkerResources.checkpoint`` is called, in order.
STEPS = ("dequeued", "started", "running", "stored", "recorded")

# Set by the worker around each job, so task functions enqueued by dotted path with only a job id
# reach the worker's resources without module-level state.
_resources: contextvars.ContextVar[WorkerResources] = contextvars.ContextVar("studio_worker_resources")


def bind(resources: WorkerResources) -> contextvars.Token[WorkerResources]:
    """Make ``resources`` visible to task functions called in this context."""
    return _resources.set(resources)


def unbind(token: contextvars.Token[WorkerResources]) -> None:
    """Undo ``bind``."""
    _resources.reset(token)


def checkpoint(resources: WorkerResources, job_id: str, step: str) -> None:
    """Call the resources' checkpoint hook, if any, at ``step`` (one of ``STEPS``) of job ``job_id``."""
    if resources.checkpoint is not None:
        resources.checkpoint(job_id, step)


def bound() -> WorkerResources:
    """The resources ``bind`` made visible here; ``RuntimeError`` outside a worker."""
    try:
        return _resources.get()
    except LookupError:
        raise RuntimeError("studio tasks run inside `studio worker` (StudioWorker)") from None
