"""The worker process: an RQ worker that never forks, lends its resources to jobs and recovers dead ones.

It outlives outages: RQ's own loop quits on an error it does not expect (a Redis restart at the wrong moment),
so ``run_worker`` starts a fresh loop after a growing pause. Asked to stop (SIGTERM, Ctrl-C), it hands the
job in flight back to the queue at its next progress report, or after ``STOP_GRACE_S`` from a watchdog
thread when the job is inside a long step, and exits: a job is never left running until its lease expires.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

from rq import SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job as RQJob
from rq.queue import Queue
from rq.utils import now
from rq.worker.base import WorkerStatus

from core import queue as studio_queue
from core.outages import is_outage, through_outage
from core.recovery import Recovery as JobRecovery
from inference.housekeeping import Housekeeper
from inference.resources import WorkerResources
from inference.resources import bind as bind_resources
from inference.resources import unbind as unbind_resources

log = logging.getLogger(__name__)

# How long a stopping worker lets the job in flight reach its next progress report before handing it back
# itself; together with the hand-back and the exit this stays under the 5 s a service manager is told.
STOP_GRACE_S = 3.0
RESTART_PAUSE_S = (1.0, 30.0)  # first and longest pause before RQ's loop is started again after it quit
HAND_BACK_PATIENCE_S = 1.0


class StudioWorker(SimpleWorker):
    """Runs jobs in its own process: engines loaded once stay warm (CUDA cannot survive a fork)."""

    def __init__(self, queues: Sequence[Queue], *, resources: WorkerResources, **kwargs: Any) -> None:
        super().__init__(list(queues), connection=resources.redis, serializer=studio_queue.SERIALIZER, **kwargs)
        self.resources = resources
        self._watchdog: threading.Thread | None = None
        self._hand_back_now = threading.Event()

    def execute_job(self, job: RQJob, queue: Queue) -> None:
        token = bind_resources(self.resources)
        try:
            super().execute_job(job, queue)
        finally:
            unbind_resources(token)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM or SIGINT: stop taking jobs and hand the one in flight back (RQ would wait for it to end).

        A second signal hands it back at once.
        """
        self._shutdown_requested_date = now()
        first = not self.resources.stopping.is_set()
        if first:
            self.resources.stopping.set()
            log.warning("worker %s: stopping", self.name)
        else:
            self._hand_back_now.set()
        if self.resources.in_flight is not None and self._watchdog is None:
            self._watchdog = threading.Thread(target=self._hand_back_if_stuck, name="stop-watchdog", daemon=True)
            self._watchdog.start()
        if self.get_state() == WorkerStatus.BUSY:
            self._stop_requested = True  # RQ's loop ends once the job in flight has been handed back
        elif first:
            # Idle: leave the blocking dequeue now. Only once: a second signal (Ctrl-C, then `studio up`'s
            # SIGTERM) must not break into the shutdown that is already under way.
            raise StopRequested()

    def _hand_back_if_stuck(self) -> None:
        """The job in flight is inside a step that reports no progress: hand it back from here and leave."""
        deadline = time.monotonic() + STOP_GRACE_S
        while self.resources.in_flight is not None and time.monotonic() < deadline:
            if self._hand_back_now.wait(0.05):
                break
        in_flight = self.resources.in_flight
        if in_flight is None:
            return
        try:
            handed = through_outage(
                lambda: self.resources.jobs.hand_back(in_flight.job_id, attempt=in_flight.attempt),
                within_s=HAND_BACK_PATIENCE_S, what=f"handing job {in_flight.job_id} back")
        except Exception:
            log.exception("worker %s: could not hand job %s back; its lease expires instead", self.name,
                          in_flight.job_id)
        else:
            if handed:
                log.warning("worker %s: job %s did not reach a stopping point; handed it back", self.name,
                            in_flight.job_id)
        try:
            self.register_death()
        except Exception as exc:
            log.warning("worker %s: could not unregister (%s); its registration expires", self.name, exc)
        # The job's own thread may be deep in native code: leaving the process is the only way out in time.
        os._exit(0)


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
            recovery = JobRecovery(self.resources.jobs)
            recovery.recover_abandoned()
            recovery.requeue_lost()
        except Exception as exc:  # recovery must never take the worker down
            if is_outage(exc):
                log.warning("job recovery sweep skipped: %s", exc)
            else:
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
    """Work the named queues until stopped (or, with ``burst``, until they are empty); returns whether any job
    ran. An outage that makes RQ's loop quit is waited out and the loop started again."""
    quiet_libraries()
    queues = [studio_queue.queue(q, connection=resources.redis) for q in queue_names]
    recovery = Recovery(resources, interval_s=max(2.0, resources.settings.job_lease_seconds / 2))
    recovery.start()
    # A burst worker (tests, one-off drains) leaves housekeeping to the long-running ones.
    housekeeper = None if burst else Housekeeper(resources)
    if housekeeper is not None:
        housekeeper.start()
    worked = False
    pause, longest = RESTART_PAUSE_S
    loops = 0
    try:
        while not resources.stopping.is_set():
            loops += 1
            # A worker registration left behind by a loop that quit during an outage keeps its name until it
            # expires: a restarted loop registers under a new one.
            worker = StudioWorker(queues, resources=resources,
                                  name=None if name is None else name if loops == 1 else f"{name}-{loops}")
            try:
                worked = worker.work(burst=burst, with_scheduler=False, logging_level="WARNING") or worked
            except StopRequested:
                break  # a signal between two loops
            except Exception as exc:
                if not is_outage(exc):
                    raise
                log.warning("worker loop stopped: %s", exc)
            if burst or resources.stopping.is_set():
                break
            # RQ's loop only returns by itself after an error it logged ("found an unhandled exception").
            log.warning("worker loop ended unexpectedly; starting it again in %.0f s", pause)
            try:
                resources.stopping.wait(pause)
            except StopRequested:
                break
            pause = min(pause * 2, longest)
    finally:
        recovery.stop()
        if housekeeper is not None:
            housekeeper.stop()
        resources.engines.clear()
    return worked
