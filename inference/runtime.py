"""Running one job inside a worker: lease heartbeat, throttled progress, cancel checks, outcome → job row.

Outages of Redis or the database are not the job's fault: progress and cancel checks carry on without them,
the outcome is written once they are back (``STUDIO_JOB_OUTAGE_RETRY_S``), a job whose own work met one runs
again, and a worker asked to stop hands its job back to the queue instead of leaving it to its lease.
"""

from __future__ import annotations

import functools
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from rq.timeouts import JobTimeoutException
from sqlalchemy import select

from core import jobkinds
from core.errors import JobCancelled, StudioError
from core.jobs import Recorded, Start, lease_key
from core.outages import is_outage, through_outage
from inference.resources import InFlight, WorkerResources, bound, checkpoint
from inference.task_context import JobSuperseded, TaskContext, TaskFunction, WorkerStopping
from storage.blobs import BlobNotFound, BlobStoreUnavailable
from storage.models import ExportPackage
from storage.repositories import assets as asset_repo
from storage.repositories import blob_refs
from storage.repositories import jobs as job_repo
from storage.repositories import users as user_repo
from storage.states import JobStatus

log = logging.getLogger(__name__)

DEFER_PAUSE_S = 0.5
OUTAGE_PREFIX = "studio:store-outage:"
RETRY_AT_PREFIX = "studio:store-retry-at:"
STORE_UNAVAILABLE = "Results are temporarily unavailable, your job is kept: it runs again once storage is back."


class _Lease:
    """Keeps ``studio:lease:<job>`` alive while the job runs; its expiry is how a dead worker is noticed.

    Taken before the job is marked running, so a recovery sweep never sees a running job without a lease.
    Beats go on through a Redis outage (a missed beat only risks a retry), and leaving never fails.
    """

    def __init__(self, redis: Redis, job_id: str, seconds: int) -> None:
        self._redis = redis
        self._key = lease_key(job_id)
        self._token = secrets.token_hex(8)
        self._seconds = max(3, seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job_id}", daemon=True)

    def __enter__(self) -> _Lease:
        self._redis.set(self._key, self._token, ex=self._seconds)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self._seconds / 3):
            try:
                self._redis.set(self._key, self._token, ex=self._seconds)
            except Exception as exc:  # a missed beat only risks a retry; keep beating
                log.warning("lease heartbeat failed for %s: %s", self._key, exc)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            # Only our own lease: a duplicate delivery of a job another worker runs must not drop that one's lease.
            if self._redis.get(self._key) == self._token.encode():
                self._redis.delete(self._key)
        except Exception as exc:
            log.warning("could not release %s (%s); it expires by itself", self._key, exc)


def execute(resources: WorkerResources, job_id: str, fn: TaskFunction) -> None:
    """Run ``fn`` for job ``job_id`` and record the outcome; never raises for a job's own failure.

    An outage that outlasts ``STUDIO_JOB_OUTAGE_RETRY_S`` before the job started is raised: the row is still
    queued and recovery queues it again (``Recovery.requeue_lost``).
    """
    jobs = resources.jobs
    patience = resources.settings.job_outage_retry_s
    checkpoint(resources, job_id, "dequeued")

    def read() -> tuple[int, int, str, dict[str, Any], int] | None:
        with resources.db.session() as session:
            job = job_repo.get(session, job_id=job_id)
            if job is None:
                return None
            owner = user_repo.get(session, user_id=job.owner_id)
            content_owner = user_repo.content_owner_id(owner) if owner is not None else job.owner_id
            return job.attempts + 1, job.owner_id, job.kind, dict(job.spec), content_owner

    row = through_outage(read, within_s=patience, what=f"reading job {job_id}", stop=resources.stopping)
    if row is None:
        log.warning("job %s vanished from the database; skipping", job_id)
        return
    attempt, owner_id, kind, raw_spec, content_owner_id = row
    try:
        spec = jobkinds.parse_spec(kind, raw_spec)
    except ValueError as exc:
        # Written by a release that understood it differently, or by hand: it can never run.
        log.error("job %s has an unreadable %s spec: %s", job_id, kind, exc)
        jobs.transition(job_id, JobStatus.FAILED, expect=[JobStatus.QUEUED],
                        message="This request can't be run by this version; please send the command again.")
        return
    # The lease first: from here on a worker that dies is noticed within a lease, whether it started the job or not.
    with _Lease(resources.redis, job_id, resources.settings.job_lease_seconds):
        if resources.stopping.is_set():
            jobs.requeue(job_id, at_front=True)  # taken just as the worker was told to stop: the next one runs it
            return
        if jobs.is_cancelled(job_id):
            jobs.transition(job_id, JobStatus.CANCELLED, expect=[JobStatus.QUEUED], message="Cancelled.")
            return
        _pause_for_storage(resources, job_id)
        started = through_outage(lambda: jobs.start(job_id, attempt=attempt), within_s=patience,
                                 what=f"starting job {job_id}", stop=resources.stopping)
        if started is Start.BUSY:
            # Its owner runs their allowance of jobs: back at the end of the queue; a short pause keeps a worker
            # with nothing else to do from spinning.
            jobs.requeue(job_id)
            time.sleep(DEFER_PAUSE_S)
            return
        if started is Start.GONE:
            log.info("job %s is not queued any more; skipping", job_id)
            return
        resources.in_flight = InFlight(job_id, attempt)
        try:
            checkpoint(resources, job_id, "started")
            ctx = TaskContext(resources, job_id=job_id, owner_id=owner_id, kind=kind, spec=spec, attempt=attempt,
                              content_owner_id=content_owner_id)
            _run_to_outcome(ctx, fn)
        finally:
            resources.in_flight = None
            resources.engines.release()


def _drop_earlier_outputs(resources: WorkerResources, job_id: str) -> None:
    """A retry replaces what an earlier try of the same job stored before its worker died or stopped: the user
    gets one set of results, never two (the earlier set was never delivered: only the final event delivers)."""
    with resources.db.session() as session:
        earlier = list(asset_repo.for_job(session, job_id=job_id))
        packages = list(session.scalars(select(ExportPackage).where(ExportPackage.job_id == job_id)))
        for row in [*earlier, *packages]:
            session.delete(row)
        session.flush()
        freed = blob_refs.unused(session, [asset.blob for asset in earlier]
                                 + [package.blob for package in packages if package.blob])
    try:
        for digest in freed:
            resources.blobs.delete(digest)
    except BlobStoreUnavailable as exc:
        log.warning("outputs of an earlier try of %s left for housekeeping: %s", job_id, exc)
    if earlier or packages:
        log.info("job %s: removed %d output(s) of an earlier try", job_id, len(earlier) + len(packages))


def _run_to_outcome(ctx: TaskContext, fn: TaskFunction) -> None:
    """Call ``fn`` and record how it ended; every change is for this try only (``attempt``)."""
    resources, job_id, kind = ctx.resources, ctx.job_id, ctx.kind
    jobs = resources.jobs
    patience = ctx.settings.job_outage_retry_s
    try:
        # Always, not only on a retry: a try handed back by a stopping worker is not counted, so the next one may
        # carry the same number and still find the outputs it stored.
        through_outage(lambda: _drop_earlier_outputs(resources, job_id), within_s=patience,
                       what=f"clearing earlier outputs of job {job_id}")
        ctx.check_cancelled()  # a cancel, or a stop, that came while the job was being started
        result = fn(ctx)
    except JobCancelled:
        _finish(ctx, JobStatus.CANCELLED, message="Cancelled.")
    except JobSuperseded:
        log.warning("job %s: try %d was replaced by a retry; its outputs were dropped", job_id, ctx.attempt)
    except WorkerStopping:
        _hand_back(ctx)
    except JobTimeoutException:
        limit = jobkinds.info(kind).timeout(ctx.settings)
        _finish(ctx, JobStatus.FAILED, message=f"This took longer than the {limit} s allowed for it and was stopped.")
    except (StudioError, ValueError) as exc:
        # Input problems found by an engine: the message names what to change.
        _finish(ctx, JobStatus.FAILED, message=str(exc))
    except BlobStoreUnavailable as exc:
        _retry_after_outage(ctx, exc)
    except BlobNotFound as exc:
        # The store has logged it (once); retrying cannot bring the file back.
        _finish(ctx, JobStatus.FAILED, message=f"A file this job needs is missing from storage "
                                               f"(#{str(exc.args[0])[:12]}). Send the photo or video again, or "
                                               "pick another result.")
    except Exception as exc:
        if is_outage(exc):
            # Redis or the database went away under the job's own work: nothing wrong with the job.
            log.warning("job %s (%s) lost its connection to %s; retrying it", job_id, kind, _service(exc))
            _give_up_safely(ctx, "putting it back on the queue",
                            lambda: jobs.retry_after_outage(job_id, attempt=ctx.attempt))
        else:
            log.exception("job %s (%s) crashed", job_id, kind)
            _finish(ctx, JobStatus.FAILED,
                    message=f"Something went wrong on our side (job {job_id}). Please try again.")
    else:
        _finish(ctx, JobStatus.DONE, result=result.model_dump(mode="json"), progress=1.0, stage="done")
        resources.redis.delete(OUTAGE_PREFIX + job_id, RETRY_AT_PREFIX + job_id)


def _retry_after_outage(ctx: TaskContext, exc: BlobStoreUnavailable) -> None:
    """The blob store could not be reached or refused the credentials: the job goes back on its queue without
    counting a try and runs again after ``blob_retry_s``, until the outage has lasted ``blob_outage_minutes``.

    Whatever the job had written to the database was rolled back with its session, so no asset row points at
    a blob that never arrived; blobs it did upload are unreferenced, and housekeeping removes them.
    """
    resources, job_id, settings = ctx.resources, ctx.job_id, ctx.settings
    redis, jobs = resources.redis, resources.jobs
    window_s = settings.blob_outage_minutes * 60
    now = time.time()
    redis.set(OUTAGE_PREFIX + job_id, now, nx=True, ex=int(window_s) + 3600)
    since = float(redis.get(OUTAGE_PREFIX + job_id) or now)
    if now - since >= window_s:
        log.error("job %s failed: the blob store has been unavailable for %.0f min (%s)", job_id, window_s / 60, exc)
        _finish(ctx, JobStatus.FAILED, message=f"Results storage has been unavailable for {window_s / 60:.0f} "
                                               "minutes, so this job was stopped. Please try again later.")
        redis.delete(OUTAGE_PREFIX + job_id, RETRY_AT_PREFIX + job_id)
        return
    log.warning("job %s: blob store unavailable (%s); it runs again in %.0f s", job_id, exc, settings.blob_retry_s)
    redis.set(RETRY_AT_PREFIX + job_id, now + settings.blob_retry_s, ex=int(settings.blob_retry_s) + 3600)
    if jobs.transition(job_id, JobStatus.QUEUED, expect=[JobStatus.RUNNING], attempt=ctx.attempt,
                       message=STORE_UNAVAILABLE, attempts=ctx.attempt - 1, progress=0.0, stage="waiting for storage"):
        jobs.requeue(job_id)


def _pause_for_storage(resources: WorkerResources, job_id: str) -> None:
    """Wait out the pause a storage outage put on this job: the worker that picks it up too soon sleeps (an
    outage stops every job, so its other work could not have run either)."""
    due = resources.redis.get(RETRY_AT_PREFIX + job_id)
    if due is not None:
        time.sleep(max(0.0, min(float(due) - time.time(), resources.settings.blob_retry_s)))


def _finish(ctx: TaskContext, to: JobStatus, *, message: str = "", **fields: Any) -> None:
    """Write the outcome of this try (waiting out an outage), then tell the chat."""
    jobs = ctx.resources.jobs
    recorded: list[Recorded | None] = []

    def record() -> None:
        recorded.append(jobs.record(ctx.job_id, to, expect=[JobStatus.RUNNING], attempt=ctx.attempt,
                                    message=message, **fields))

    if not _give_up_safely(ctx, f"recording it {to.value}", record) or not recorded or recorded[0] is None:
        return
    checkpoint(ctx.resources, ctx.job_id, "recorded")
    jobs.announce(recorded[0])


def _hand_back(ctx: TaskContext) -> None:
    jobs = ctx.resources.jobs
    if _give_up_safely(ctx, "handing it back", lambda: jobs.hand_back(ctx.job_id, attempt=ctx.attempt)):
        log.warning("job %s: the worker is stopping; handed try %d back to the queue", ctx.job_id, ctx.attempt)


def _give_up_safely(ctx: TaskContext, what: str, write: Callable[[], object]) -> bool:
    """``write()`` through an outage of up to ``STUDIO_JOB_OUTAGE_RETRY_S``; False when it never went through.

    Then the row still says running and the lease is released as the job leaves: the recovery sweep of any
    worker retries or fails the job once the database is back, so it is never stuck.
    """
    try:
        through_outage(write, within_s=ctx.settings.job_outage_retry_s, what=f"job {ctx.job_id}: {what}")
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.error("job %s: %s failed (%s); recovery takes it over once %s is back", ctx.job_id, what, exc,
                  _service(exc))
        return False
    return True


def _service(exc: BaseException) -> str:
    return "Redis" if type(exc).__module__.startswith("redis") else "the database"


def task(fn: TaskFunction) -> Callable[[str], None]:
    """Turn ``fn(ctx) -> result`` into an RQ task taking only a job id, run with the worker's resources."""

    @functools.wraps(fn)
    def run(job_id: str) -> None:
        execute(bound(), job_id, fn)

    return run
