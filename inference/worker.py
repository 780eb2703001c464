"""The worker process: an RQ worker that never forks, lends its resources to jobs and recovers dead ones."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from rq import SimpleWorker
from rq.job import Job as RQJob
from rq.queue import Queue

from core import queue as studio_queue
from inference import runtime
from inference.housekeeping import Housekeeper
from inference.runtime import WorkerResources

log = logging.getLogger(__name__)


class StudioWorker(SimpleWorker):
    """Runs jobs in its own process: engines loaded once stay warm (CUDA cannot survive a fork)."""

    def __init__(self, queues: Sequence[Queue], *, resources: WorkerResources, **kwargs: Any) -> None:
        super().__init__(list(queues), connection=resources.redis, serializer=studio_queue.SERIALIZER, **kwargs)
        self.resources = resources

    def execute_job(self, job: RQJob, queue: Queue) -> None:
        token = runtime.bind(self.resources)
        try:
            super().execute_job(job, queue)
        finally:
            runtime.unbind(token)


class Recovery:
    """Background sweep: jobs whose worker lease expired are retried or failed, lost queued jobs requeued."""

    def __init__(self, resources: WorkerResources, *, interval_s: float) -> None:
        self.resources = resources
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-recovery", daemon=True)

    def start(self) -> None:
        self.sweep()
        self._thread.start()

    def sweep(self) -> None:
        try:
            self.resources.jobs.recover_abandoned()
            self.resources.jobs.requeue_lost()
        except Exception:  # recovery must never take the worker down
            log.warning("job recovery sweep failed", exc_info=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sweep()

    def stop(self) -> None:
        self._stop.set()


def quiet_libraries() -> None:
    """Silence the model libraries' own progress bars and chatter: a worker reports progress through jobs.

    Set before the libraries are first imported (engines import them lazily, on the first job).
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def run_worker(
    resources: WorkerResources, *, queue_names: Sequence[str], burst: bool = False, name: str | None = None
) -> bool:
    """Work the named queues until stopped (or, with ``burst``, until they are empty)."""
    quiet_libraries()
    queues = [studio_queue.queue(q, connection=resources.redis) for q in queue_names]
    worker = StudioWorker(queues, resources=resources, name=name)
    recovery = Recovery(resources, interval_s=max(2.0, resources.settings.job_lease_seconds / 2))
    recovery.start()
    # A burst worker (tests, one-off drains) leaves housekeeping to the long-running ones.
    housekeeper = None if burst else Housekeeper(resources)
    if housekeeper is not None:
        housekeeper.start()
    try:
        return bool(worker.work(burst=burst, with_scheduler=False, logging_level="WARNING"))
    finally:
        recovery.stop()
        if housekeeper is not None:
            housekeeper.stop()
        resources.engines.clear()
