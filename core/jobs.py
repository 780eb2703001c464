"""Job lifecycle: submit, state changes with delivery events, cancel, and recovery of abandoned jobs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from core import delivery, jobkinds, queue
from core.delivery import DeliveryEvent
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
            job = job_repo.create(session, owner_id=user.id, kind=kind.kind.value, queue=kind.queue,
                                  spec=spec.model_dump(mode="json"), chat=chat)
            job_id = job.id
        try:
            rq_id = self._enqueue(job_id, kind, attempt=1)
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

    def _enqueue(self, job_id: str, kind: jobkinds.KindInfo, *, attempt: int, at_front: bool = False,
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
            if job is None or job.status != JobStatus.QUEUED.value:
                return False
            owner = session.get(User, job.owner_id)
            if owner is None or owner.is_admin:
                return False
            running = job_repo.count_by_status(session, owner_id=job.owner_id).get(JobStatus.RUNNING.value, 0)
            if running < self.settings.max_running_jobs:
                return False
            kind, attempt = job.kind, job.attempts + 1
        self.requeue(job_id, kind, attempt=attempt)
        return True

    def requeue(self, job_id: str, kind: str, *, attempt: int) -> str:
        """Put a queued job on the end of its queue again under a fresh RQ id (deferred, or waiting out a
        storage outage); ``attempt`` is the try it will run as."""
        deferral = int(self.redis.incr(f"studio:deferrals:{job_id}"))
        self.redis.expire(f"studio:deferrals:{job_id}", 86400)
        return self._enqueue(job_id, jobkinds.info(kind), attempt=attempt, deferral=deferral)

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
        whether it moved."""
        if to in (JobStatus.FAILED, JobStatus.CANCELLED) and message:
            fields.setdefault("error", message)
        with self.db.session() as session:
            moved = job_repo.transition(session, job_id=job_id, to=to, expect=expect, attempt=attempt, **fields)
            job = job_repo.get(session, job_id=job_id) if moved else None
            if job is not None:
                session.refresh(job)
                if to in (JobStatus.FAILED, JobStatus.CANCELLED):
                    _undo_on_give_up(session, job)
                event = self._event_for(job, message=message)
                platform = job.chat.get("platform", "")
        if job is not None and platform:
            delivery.publish(self.redis, platform=platform, event=event)
        return moved

    def progress(self, job_id: str, fraction: float, stage: str) -> None:
        """Record and publish progress of a running job (callers throttle)."""
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

    # -- recovery -------------------------------------------------------------------------------------

    def recover_abandoned(self) -> list[str]:
        """Requeue or fail running jobs whose worker lease expired (a worker died); returns their ids.

        Safe to call from any number of processes: each job moves once thanks to compare-and-set.
        """
        handled: list[str] = []
        with self.db.session() as session:
            running = [(job.id, job.kind, job.attempts) for job in job_repo.running(session)]
        for job_id, kind, attempts in running:
            if self.redis.exists(lease_key(job_id)):
                continue
            if self.is_cancelled(job_id):
                # The owner asked to stop it and its worker died before noticing: it is stopped.
                moved = self.transition(job_id, JobStatus.CANCELLED, expect=[JobStatus.RUNNING], message="Cancelled.")
            elif attempts < self.settings.job_max_attempts:
                moved = self.transition(
                    job_id,
                    JobStatus.QUEUED,
                    expect=[JobStatus.RUNNING],
                    message="The worker running this job stopped; trying again.",
                    progress=0.0,
                    stage="",
                )
                if moved:
                    self._enqueue(job_id, jobkinds.info(kind), attempt=attempts + 1, at_front=True)
            else:
                moved = self.transition(
                    job_id,
                    JobStatus.FAILED,
                    expect=[JobStatus.RUNNING],
                    message=f"The worker stopped while running this job ({attempts} tries). Please try again.",
                )
            if moved:
                log.warning("recovered abandoned job %s (attempt %d)", job_id, attempts)
                handled.append(job_id)
        return handled

    def requeue_lost(self, *, older_than: timedelta = timedelta(minutes=2)) -> list[str]:
        """Re-enqueue queued jobs whose RQ entry vanished (e.g. Redis restarted without persistence)."""
        lost: list[str] = []
        with self.db.session() as session:
            candidates = [
                (job.id, job.kind, job.rq_id, job.attempts)
                for job in job_repo.stale_queued(session, older_than=older_than)
            ]
        for job_id, kind, rq_id, attempts in candidates:
            if rq_id and queue.is_alive(rq_id, connection=self.redis):
                continue  # still waiting, or picked up right now
            # Each loss counts as a try, so a job that can never start is failed instead of requeued forever.
            if attempts + 1 >= self.settings.job_max_attempts:
                moved = self.transition(job_id, JobStatus.FAILED, expect=[JobStatus.QUEUED],
                                        message="This job could not be started. Please try again later.")
            else:
                with self.db.session() as session:
                    moved = job_repo.bump_attempts(session, job_id=job_id, expect=attempts)
                if moved:
                    self._enqueue(job_id, jobkinds.info(kind), attempt=attempts + 2)
            if moved:
                lost.append(job_id)
        return lost
