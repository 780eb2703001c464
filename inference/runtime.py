"""Running one job inside a worker: lease heartbeat, throttled progress, cancel checks, outcome → job row.

Outages of Redis or the database are not the job's fault: progress and cancel checks carry on without them,
the outcome is written once they are back (``STUDIO_JOB_OUTAGE_RETRY_S``), a job whose own work met one runs
again, and a worker asked to stop hands its job back to the queue instead of leaving it to its lease.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from redis import Redis
from rq.timeouts import JobTimeoutException
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import jobkinds
from core.errors import JobCancelled, StudioError
from core.jobresults import JobResult
from core.jobs import JobService, Recorded, Start, lease_key
from core.jobspecs import JobSpec
from core.outages import is_outage, through_outage
from core.settings import Settings
from inference.engine_cache import EngineCache
from inference.engines.base import Engine
from inference.provenance.credentials import Ingredient
from inference.provenance.stamp import Stamper
from storage.blobs import BlobNotFound, BlobStore, BlobStoreUnavailable, open_blob_store
from storage.db import Database
from storage.models import ExportPackage, Persona, new_id
from storage.repositories import assets as asset_repo
from storage.repositories import blob_refs
from storage.repositories import jobs as job_repo
from storage.repositories import users as user_repo
from storage.states import AssetOrigin, JobStatus

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Engine)
S = TypeVar("S", bound=JobSpec)
T = TypeVar("T")


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


DEFER_PAUSE_S = 0.5
# What a result's bytes are written as before they are stamped (the stamper tells containers by content).
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4"}
OUTAGE_PREFIX = "studio:store-outage:"
RETRY_AT_PREFIX = "studio:store-retry-at:"
STORE_UNAVAILABLE = "Results are temporarily unavailable, your job is kept: it runs again once storage is back."
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


@dataclass
class NewAsset:
    """One output to store: its bytes (or a finished file) and its row's fields.

    Every stored result carries both provenance layers: ``store_assets`` watermarks it with ``id`` (unless
    ``marked``: its frames carry the mark already, added while they were encoded) and signs it with Content
    Credentials naming ``ingredients`` (the files of ours it was made from; the first ``parentOf`` makes it an
    edit). The id is chosen here, before the file exists, so an encoder can mark frames with it.
    """

    content: bytes | Path
    kind: str
    origin: AssetOrigin
    mime: str
    id: str = field(default_factory=new_id)
    marked: bool = False
    ingredients: tuple[Ingredient, ...] = ()
    width: int = 0
    height: int = 0
    duration_s: float | None = None
    persona_id: int | None = None
    tags: list[str] = field(default_factory=list)
    identity_score: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredAsset:
    """What a task needs to describe a stored output in its result."""

    id: str
    blob: str
    size_bytes: int


class JobSuperseded(Exception):
    """This try was replaced by a retry (its worker was thought dead): what it made is not kept."""


class WorkerStopping(Exception):
    """The worker was asked to stop (SIGTERM, Ctrl-C): the job goes back to the queue for another worker."""


class TaskContext:
    """Everything a task function needs for one job."""

    def __init__(self, resources: WorkerResources, *, job_id: str, owner_id: int, kind: str,
                 spec: JobSpec, attempt: int, content_owner_id: int | None = None) -> None:
        self.resources = resources
        self.job_id = job_id
        self.owner_id = owner_id
        # Whose personas and assets the job works with: the primary account when accounts are linked.
        self.content_owner_id = content_owner_id if content_owner_id is not None else owner_id
        self.kind = kind
        self.spec = spec
        self.attempt = attempt
        self._last_report = 0.0
        self._reported = False
        self._outages_logged: set[str] = set()

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    @property
    def db(self) -> Database:
        return self.resources.db

    @property
    def blobs(self) -> BlobStore:
        return self.resources.blobs

    def engine(self, key: str, load: Callable[[], E]) -> E:
        """A warm engine from the worker's cache, loaded on first use."""
        return self.resources.engines.get(key, load)

    @contextmanager
    def workdir(self) -> Iterator[Path]:
        """A private folder under the data dir for this job's intermediate files, removed however the job ends."""
        root = self.settings.resolved_data_dir / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"{self.kind}-{self.job_id}-", dir=root))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def spec_as(self, spec_type: type[S]) -> S:
        """The job's spec as the type its task expects."""
        if not isinstance(self.spec, spec_type):
            raise TypeError(f"{self.kind} job carries a {type(self.spec).__name__}, not a {spec_type.__name__}")
        return self.spec

    def store(self, contents: Sequence[bytes | Path], write: Callable[[Session, list[str]], T]) -> T:
        """The one way a task keeps what it made: ``contents`` go into the blob store, then ``write`` adds the
        rows that refer to them in one transaction, and a cancel is checked last (raising then rolls the rows
        back). However this fails, the blobs it stored are removed again unless another row shares them, so
        nothing is left half-written; a try that a retry has replaced keeps nothing."""
        digests: list[str] = []

        def rows() -> T:
            with self.db.session() as session:
                if not job_repo.is_current_try(session, job_id=self.job_id, attempt=self.attempt):
                    raise JobSuperseded(self.job_id)
                written = write(session, digests)
                session.flush()
                # The last moment a cancel can still leave nothing behind.
                self.check_cancelled()
                return written

        try:
            for content in contents:
                digests.append(self.blobs.put_file(content) if isinstance(content, Path)
                               else self.blobs.put_bytes(content))
            # The work is done and its files are stored: a database restart now is waited out, not redone.
            written = through_outage(rows, within_s=self.settings.job_outage_retry_s,
                                     what=f"storing the outputs of job {self.job_id}")
        except BaseException:
            self._discard(digests)
            raise
        self._checkpoint("stored")
        return written

    def store_assets(self, items: Sequence[NewAsset]) -> list[StoredAsset]:
        """Store the job's outputs as the owner's assets, all or none (see ``store``).

        A persona deleted while the job ran is unlinked from them; the results are kept.
        """
        def write(session: Session, digests: list[str]) -> list[StoredAsset]:
            stored = []
            for item, digest in zip(items, digests, strict=True):
                persona_id = item.persona_id
                if persona_id is not None and session.get(Persona, persona_id) is None:
                    persona_id = None
                asset = asset_repo.create(
                    session, owner_id=self.content_owner_id, kind=item.kind, origin=item.origin, blob=digest,
                    mime=item.mime, width=item.width, height=item.height, duration_s=item.duration_s,
                    persona_id=persona_id, job_id=self.job_id, tags=item.tags, identity_score=item.identity_score,
                    meta=item.meta, asset_id=item.id)
                stored.append(StoredAsset(id=asset.id, blob=digest, size_bytes=self.blobs.size(digest)))
            return stored

        with self.workdir() as workdir:
            files = [self._stamped(item, workdir / f"out-{index}") for index, item in enumerate(items)]
            return self.store(files, write)

    def _stamped(self, item: NewAsset, name: Path) -> Path:
        """The output's file with its watermark and Content Credentials (rewritten in place when it is one)."""
        if isinstance(item.content, Path):
            path = item.content
        else:
            path = name.with_suffix("." + _EXTENSIONS.get(item.mime, "bin"))
            path.write_bytes(item.content)
        self.resources.stamper().stamp(path, kind=item.kind, origin=item.origin, asset_id=item.id,
                                       ingredients=item.ingredients, mark=not item.marked)
        return path

    def _discard(self, digests: list[str]) -> None:
        for digest in digests:
            self.discard_blob(digest)

    def discard_blob(self, blob: str) -> None:
        """Delete a blob this job stored but could not keep, unless some row refers to it (identical content).

        Best effort: with the store out of reach the blob stays, and housekeeping removes it later.
        """
        with self.db.session() as session:
            if not blob_refs.in_use(session, blob=blob):
                try:
                    self.blobs.delete(blob)
                except BlobStoreUnavailable as exc:
                    log.warning("could not delete blob %s now (%s); housekeeping will", blob, exc)

    def check_cancelled(self) -> None:
        """Raise ``JobCancelled`` if the owner cancelled this job (``WorkerStopping`` if the worker is stopping).

        Without Redis the job goes on: a cancel sent meanwhile is seen once Redis is back.
        """
        if self.resources.stopping.is_set():
            raise WorkerStopping(self.job_id)
        try:
            cancelled = self.resources.jobs.is_cancelled(self.job_id)
        except Exception as exc:
            if not is_outage(exc):
                raise
            self._outage("checking for a cancel", exc)
            return
        if cancelled:
            raise JobCancelled(self.job_id)

    def progress(self, fraction: float, stage: str) -> None:
        """Report progress (throttled to one update per ``progress_interval_s``) and honour cancel and stop.

        Progress is advisory: without Redis or the database the job goes on and the next report catches up.
        """
        self.check_cancelled()
        if not self._reported:
            self._reported = True
            self._checkpoint("running")
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_report < self.resources.settings.progress_interval_s:
            return
        self._last_report = now
        try:
            self.resources.jobs.progress(self.job_id, fraction, stage)
        except Exception as exc:
            if not is_outage(exc):
                raise
            self._outage("reporting progress", exc)

    def _outage(self, what: str, exc: Exception) -> None:
        # Once per job and kind of work: a long outage must not flood the log with one line per progress step.
        if what not in self._outages_logged:
            self._outages_logged.add(what)
            log.warning("job %s: %s failed (%s); going on without it", self.job_id, what, exc)

    def _checkpoint(self, step: str) -> None:
        checkpoint(self.resources, self.job_id, step)


TaskFunction = Callable[[TaskContext], JobResult]


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


def checkpoint(resources: WorkerResources, job_id: str, step: str) -> None:
    """Call the resources' checkpoint hook, if any, at ``step`` (one of ``STEPS``) of job ``job_id``."""
    if resources.checkpoint is not None:
        resources.checkpoint(job_id, step)


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
        try:
            resources = _resources.get()
        except LookupError:
            raise RuntimeError("studio tasks run inside `studio worker` (StudioWorker)") from None
        execute(resources, job_id, fn)

    return run
