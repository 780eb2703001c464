"""Job lifecycle: submit, state changes with delivery events, cancel (recovery after crashes and outages is
``core.recovery``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import delivery, jobkinds, queue
from core.delivery import DELIVERED, DeliveryEvent
from core.errors import NotFound, Unavailable, UsageError
from core.jobspecs import JobSpec, PersonaAnalyzeSpec
from core.quotas import check_can_submit
from core.settings import Settings
from storage.db import Database
from storage.models import Job, User
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.states import JobStatus

log = logging.getLogger(__name__)

LEASE_PREFIX = "studio:lease:"
CANCEL_PREFIX = "studio:cancel:"
REQUEUE_PREFIX = "studio:deferrals:"  # a counter per job: each requeue gets a fresh RQ id
# Pauses between tries of publishing an event after its row changed: a blip of Redis does not lose it; a
# longer outage is covered by ``Recovery.redeliver_lost`` (final events) or the next progress report.
PUBLISH_PAUSES_S = (0.1, 0.3, 0.6)


def lease_key(job_id: str) -> str:
    """Redis key a worker keeps alive while it runs ``job_id``."""
    return f"{LEASE_PREFIX}{job_id}"


def cancel_key(job_id: str) -> str:
    """Redis key that tells the worker running ``job_id`` to stop."""
    return f"{CANCEL_PREFIX}{job_id}"


def _undo_on_give_up(session: Session, job: Job) -> None:
    """State a job put aside when it was queued, restored when it fails or is cancelled on any path
    (in the worker, before it started, or by recovery after its worker died)."""
    if job.kind != jobkinds.JobKind.PERSONA:
        return
    try:
        spec = PersonaAnalyzeSpec.model_validate(job.spec)
    except ValidationError:
        return  # nothing was put aside for a spec that never made sense
    persona_repo.reopen_collection(session, persona_id=spec.persona_id, user_id=job.owner_id)


@dataclass(frozen=True)
class Submitted:
    """What the front end needs to answer at once."""

    job_id: str
    position: int | None


class Start(StrEnum):
    """What ``JobService.start`` did with a queued job."""

    STARTED = "started"
    BUSY = "busy"  # its owner already runs their allowance of jobs: it waits its turn
    GONE = "gone"  # no longer queued (cancelled, failed at submission, or taken by another try)


@dataclass(frozen=True)
class Recorded:
    """A state change written to the row, with the event that tells the chat about it (not yet published)."""

    job_id: str
    platform: str
    event: DeliveryEvent


class JobService:
    """Owns every job state change, so the row and the delivery stream never disagree."""

    def __init__(self, *, db: Database, redis: Redis, settings: Settings) -> None:
        self.db = db
        self.redis = redis
        self.settings = settings

    # -- front-end side -------------------------------------------------------------------------------

    def submit(self, *, user: User, spec: JobSpec, chat: dict[str, Any]) -> Submitted:
        """Check quotas, write a ``queued`` row and enqueue it.

        Raises ``QuotaExceeded`` when over a limit and ``Unavailable`` when the queue cannot be reached; then the
        row is failed on the spot, so nothing runs later behind the user's back.
        """
        kind = jobkinds.for_spec(spec)
        with self.db.session() as session:
            check_can_submit(session, user=user, settings=self.settings)
            # Not yet shown: redelivery publishes the final event again until a front end says it was.
            job = job_repo.create(session, owner_id=user.id, kind=kind.kind.value, queue=kind.queue,
                                  spec=spec.model_dump(mode="json"), chat={**chat, DELIVERED: False})
            job_id = job.id
        try:
            rq_id = self.enqueue(job_id, kind, attempt=1)
        except RedisError as exc:
            log.warning("could not queue job %s: %s", job_id, exc)
            with self.db.session() as session:
                job_repo.transition(session, job_id=job_id, to=JobStatus.FAILED, expect=[JobStatus.QUEUED],
                                    error="The queue was unreachable; nothing was started.")
            raise Unavailable("I can't reach the job queue right now, so nothing was started. "
                              "Please try again in a minute.") from None
        try:
            position = queue.position(rq_id, connection=self.redis)
        except RedisError:
            position = None  # queued; only the position is unknown
        return Submitted(job_id=job_id, position=position)

    @staticmethod
    def validate(kind: str, data: dict[str, Any]) -> JobSpec:
        """``data`` as ``kind``'s spec; raises ``UsageError`` naming the field (for specs built from user input)."""
        try:
            return jobkinds.parse_spec(kind, data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "request"
            raise UsageError(f"{where}: {first['msg']}.") from None

    def enqueue(self, job_id: str, kind: jobkinds.KindInfo, *, attempt: int, at_front: bool = False,
                 deferral: int = 0) -> str:
        """Put the job on its queue under a fresh RQ id and record that id on the row."""
        rq_id = queue.enqueue(
            connection=self.redis,
            kind=kind,
            job_id=job_id,
            attempt=attempt,
            timeout_s=kind.timeout(self.settings),
            at_front=at_front,
            deferral=deferral,
        )
        with self.db.session() as session:
            row = job_repo.get(session, job_id=job_id)
            if row is not None:
                row.rq_id = rq_id
        return rq_id

    def cancel(self, *, owner_id: int, job_id: str) -> str:
        """Cancel the user's job; returns a one-line answer. Running jobs stop at their next progress point."""
        with self.db.session() as session:
            job = job_repo.get_owned(session, job_id=job_id, owner_id=owner_id)
            if job is None:
                raise NotFound(f"No job {job_id!r} among yours; /jobs lists them.")
            status = JobStatus(job.status)
            rq_id = job.rq_id
        if status.is_final:
            raise UsageError(f"Job {job_id} is already {status.value}.")
        # The flag first: a worker picking the job up right now sees it before doing any work.
        self.redis.set(cancel_key(job_id), "1", ex=86400)
        if status == JobStatus.QUEUED:
            if rq_id:
                queue.remove(rq_id, connection=self.redis)
            if self.transition(job_id, JobStatus.CANCELLED, expect=[JobStatus.QUEUED], message="Cancelled."):
                return f"Job {job_id} cancelled before it started."
        with self.db.session() as session:
            job_row = job_repo.get(session, job_id=job_id)
            if job_row is not None:
                job_row.cancel_requested = True
        return f"Stopping job {job_id}…"

    def defer_if_busy(self, job_id: str) -> bool:
        """Put a queued job back at the end of its queue when its owner already runs their allowance of jobs
        (``STUDIO_MAX_RUNNING_JOBS``; admins are exempt), so one user cannot hold every worker; returns whether
        it was deferred."""
        with self.db.session() as session:
            job = job_repo.get(session, job_id=job_id)
            if job is None or job.status != JobStatus.QUEUED.value or not self._at_allowance(session, job.owner_id):
                return False
        return self.requeue(job_id)

    def _at_allowance(self, session: Session, owner_id: int) -> bool:
        owner = session.get(User, owner_id)
        if owner is None or owner.is_admin:
            return False
        running = session.scalar(select(func.count()).select_from(Job).where(
            Job.owner_id == owner_id, Job.status == JobStatus.RUNNING.value)) or 0
        return running >= self.settings.max_running_jobs

    def start(self, job_id: str, *, attempt: int) -> Start:
        """Mark a queued job running as try ``attempt``, unless its owner already runs their allowance of jobs.

        The owner's row is locked first, so two workers starting two jobs of one user at the same moment count
        one after the other: ``STUDIO_MAX_RUNNING_JOBS`` holds with any number of workers.
        """
        with self.db.session() as session:
            job = job_repo.get(session, job_id=job_id)
            if job is None or job.status != JobStatus.QUEUED.value:
                return Start.GONE
            owner_id = job.owner_id
            # A no-op write takes the lock on both databases: PostgreSQL's row lock (a non-key column, so rows
            # referring to the user are not held up), SQLite's write lock; the count below then sees every start
            # committed before ours.
            session.execute(update(User).where(User.id == owner_id).values(is_admin=User.is_admin)
                            .execution_options(synchronize_session=False))
            if self._at_allowance(session, owner_id):
                return Start.BUSY
            moved = job_repo.transition(session, job_id=job_id, to=JobStatus.RUNNING, expect=[JobStatus.QUEUED],
                                        attempts=attempt, stage="starting", progress=0.0)
            recorded = self.recorded(session, job_id, message="") if moved else None
        if recorded is None:
            return Start.GONE
        self.announce(recorded)
        return Start.STARTED

    def requeue(self, job_id: str, *, at_front: bool = False) -> bool:
        """Put a queued job on its queue again under a fresh RQ id (its owner is busy, or its worker is
        stopping before it started); returns whether it was queued."""
        with self.db.session() as session:
            job = job_repo.get(session, job_id=job_id)
            if job is None or job.status != JobStatus.QUEUED.value:
                return False
            kind, attempt = job.kind, job.attempts + 1
        self.enqueue(job_id, jobkinds.info(kind), attempt=attempt, at_front=at_front,
                      deferral=self._next_requeue(job_id))
        return True

    def _next_requeue(self, job_id: str) -> int:
        key = f"{REQUEUE_PREFIX}{job_id}"
        count = int(self.redis.incr(key))
        self.redis.expire(key, 86400)
        return count

    def hand_back(self, job_id: str, *, attempt: int) -> bool:
        """Put try ``attempt`` of a running job back at the front of its queue because its worker is stopping;
        the try is not counted (the job did nothing wrong). Returns whether it was handed back."""
        with self.db.session() as session:
            job = job_repo.get(session, job_id=job_id)
            kind = job.kind if job is not None else ""
        if not kind:
            return False
        moved = self.transition(job_id, JobStatus.QUEUED, expect=[JobStatus.RUNNING], attempt=attempt,
                                message="The worker running this job is restarting; it is back at the front of "
                                        "the queue.", attempts=attempt - 1, progress=0.0, stage="")
        if moved:
            self.enqueue(job_id, jobkinds.info(kind), attempt=attempt, at_front=True,
                          deferral=self._next_requeue(job_id))
        return moved

    def retry_after_outage(self, job_id: str, *, attempt: int) -> bool:
        """Try ``attempt`` lost the queue or the database under it: run the job again from the front of its queue
        while tries are left, else fail it with a message saying so. Returns whether the row moved."""
        with self.db.session() as session:
            job = job_repo.get(session, job_id=job_id)
            kind = job.kind if job is not None else ""
        if not kind:
            return False
        if attempt < self.settings.job_max_attempts:
            moved = self.transition(job_id, JobStatus.QUEUED, expect=[JobStatus.RUNNING], attempt=attempt,
                                    message="Our database or job queue dropped out while this ran; trying again.",
                                    progress=0.0, stage="")
            if moved:
                self.enqueue(job_id, jobkinds.info(kind), attempt=attempt + 1, at_front=True)
            return moved
        return self.transition(job_id, JobStatus.FAILED, expect=[JobStatus.RUNNING], attempt=attempt,
                               message=f"Our database or job queue dropped out while this ran ({attempt} tries). "
                                       "Please try again in a few minutes.")

    def is_cancelled(self, job_id: str) -> bool:
        """Whether the owner asked to stop ``job_id``."""
        return bool(self.redis.exists(cancel_key(job_id)))

    # -- state changes with events --------------------------------------------------------------------

    def transition(
        self,
        job_id: str,
        to: JobStatus,
        *,
        expect: list[JobStatus],
        message: str = "",
        attempt: int | None = None,
        **fields: Any,
    ) -> bool:
        """Compare-and-set the job's status (on try ``attempt``, when given) and publish the change; returns
        whether it moved.

        The row is the truth: when Redis cannot take the event the change still stands, and a final one is
        published again by ``redeliver_lost``.
        """
        recorded = self.record(job_id, to, expect=expect, message=message, attempt=attempt, **fields)
        if recorded is not None:
            self.announce(recorded)
        return recorded is not None

    def record(
        self,
        job_id: str,
        to: JobStatus,
        *,
        expect: list[JobStatus],
        message: str = "",
        attempt: int | None = None,
        **fields: Any,
    ) -> Recorded | None:
        """The first half of ``transition``: the compare-and-set on the row; None when it did not move."""
        if to in (JobStatus.FAILED, JobStatus.CANCELLED) and message:
            fields.setdefault("error", message)
        with self.db.session() as session:
            if not job_repo.transition(session, job_id=job_id, to=to, expect=expect, attempt=attempt, **fields):
                return None
            if to in (JobStatus.FAILED, JobStatus.CANCELLED):
                job = job_repo.get(session, job_id=job_id)
                if job is not None:
                    session.refresh(job)
                    _undo_on_give_up(session, job)
            return self.recorded(session, job_id, message=message)

    def recorded(self, session: Session, job_id: str, *, message: str) -> Recorded | None:
        job = job_repo.get(session, job_id=job_id)
        if job is None:
            return None
        session.refresh(job)
        return Recorded(job_id=job_id, platform=str(job.chat.get("platform", "")),
                        event=self._event_for(job, message=message))

    def announce(self, recorded: Recorded) -> bool:
        """The second half of ``transition``: publish the change to its front end; returns whether Redis took it.

        A few quick tries ride out a blip; after that the change is left to ``Recovery.redeliver_lost`` (the row already
        says it), so a worker never fails a job, or dies, because the event could not be sent.
        """
        if not recorded.platform:
            return True
        for pause in (*PUBLISH_PAUSES_S, None):
            try:
                delivery.publish(self.redis, platform=recorded.platform, event=recorded.event)
                return True
            except RedisError as exc:
                if pause is None:
                    log.warning("could not publish the %s event of job %s (%s); %s", recorded.event.status,
                                recorded.job_id, exc, "redelivery publishes it from the database later"
                                if recorded.event.is_final else "the next change will show")
                    return False
                time.sleep(pause)
        return False

    def progress(self, job_id: str, fraction: float, stage: str) -> None:
        """Record and publish progress of a running job (callers throttle).

        Progress is advisory: a lost event is superseded by the next one, so it is published once, not retried.
        """
        fraction = min(max(fraction, 0.0), 1.0)
        with self.db.session() as session:
            job_repo.set_progress(session, job_id=job_id, progress=fraction, stage=stage)
            job = job_repo.get(session, job_id=job_id)
            platform = job.chat.get("platform", "") if job else ""
        if platform:
            event = DeliveryEvent(job_id=job_id, status=JobStatus.RUNNING.value, progress=fraction, stage=stage)
            delivery.publish(self.redis, platform=platform, event=event)

    def _event_for(self, job: Job, *, message: str) -> DeliveryEvent:
        return DeliveryEvent(
            job_id=job.id,
            status=job.status,
            progress=1.0 if job.status == JobStatus.DONE.value else job.progress,
            stage=job.stage,
            message=message or (job.error or ""),
            extra={"kind": job.kind, "attempt": job.attempts},
        )
