"""Jobs: creation, state changes and the queries that quotas and recovery need."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import Job, utcnow
from storage.states import JobStatus

ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


def create(
    session: Session, *, owner_id: int, kind: str, queue: str, spec: dict[str, Any], chat: dict[str, Any]
) -> Job:
    """A new ``queued`` job row."""
    job = Job(owner_id=owner_id, kind=kind, queue=queue, spec=spec, chat=chat, status=JobStatus.QUEUED.value)
    session.add(job)
    session.flush()
    return job


def get(session: Session, *, job_id: str) -> Job | None:
    """The job with this id, whoever owns it (workers and delivery use this)."""
    return session.get(Job, job_id)


def get_owned(session: Session, *, job_id: str, owner_id: int) -> Job | None:
    """The job only if ``owner_id`` owns it."""
    job = session.get(Job, job_id)
    return job if job is not None and job.owner_id == owner_id else None


def count_by_status(session: Session, *, owner_id: int) -> dict[str, int]:
    """How many of the user's jobs are in each state."""
    rows = session.execute(
        select(Job.status, func.count()).where(Job.owner_id == owner_id).group_by(Job.status)
    ).all()
    return {status: int(count) for status, count in rows}


def count_since(session: Session, *, owner_id: int, since: datetime) -> int:
    """Jobs the user created since ``since`` (the daily quota)."""
    stmt = select(func.count()).select_from(Job).where(Job.owner_id == owner_id, Job.created_at >= since)
    return int(session.scalar(stmt) or 0)


def recent(session: Session, *, owner_id: int, limit: int = 10) -> Sequence[Job]:
    """The user's newest jobs first."""
    stmt = select(Job).where(Job.owner_id == owner_id).order_by(Job.created_at.desc()).limit(limit)
    return session.scalars(stmt).all()


def running(session: Session) -> Sequence[Job]:
    """Every job in ``running`` (recovery checks their leases)."""
    return session.scalars(select(Job).where(Job.status == JobStatus.RUNNING.value)).all()


def stale_queued(session: Session, *, older_than: timedelta) -> Sequence[Job]:
    """Queued jobs older than ``older_than`` (recovery checks they are still on the queue)."""
    cutoff = utcnow() - older_than
    stmt = select(Job).where(Job.status == JobStatus.QUEUED.value, Job.created_at < cutoff)
    return session.scalars(stmt).all()


def transition(
    session: Session,
    *,
    job_id: str,
    to: JobStatus,
    expect: Sequence[JobStatus],
    attempt: int | None = None,
    **fields: Any,
) -> bool:
    """Move a job to ``to`` only if it is in one of ``expect`` (and on try ``attempt``, when given); returns
    whether it moved.

    A compare-and-set, so a cancel and a worker finishing at the same moment cannot both win, and a slow first
    try cannot overwrite the outcome of the retry that replaced it.
    """
    values: dict[str, Any] = {"status": to.value, **fields}
    if to == JobStatus.RUNNING:
        values.setdefault("started_at", utcnow())
    if to.is_final:
        values.setdefault("finished_at", utcnow())
    stmt = update(Job).where(Job.id == job_id, Job.status.in_([s.value for s in expect]))
    if attempt is not None:
        stmt = stmt.where(Job.attempts == attempt)
    stmt = stmt.values(**values).execution_options(synchronize_session=False)
    result = session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


def set_progress(session: Session, *, job_id: str, progress: float, stage: str) -> None:
    """Record progress of a running job."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING.value)
        .values(progress=progress, stage=stage[:128])
        .execution_options(synchronize_session=False)
    )


def update_chat(session: Session, *, job_id: str, **fields: Any) -> None:
    """Merge ``fields`` into the job's chat context (e.g. the status message id once it was sent)."""
    job = session.get(Job, job_id)
    if job is not None:
        job.chat = {**job.chat, **fields}


def bump_attempts(session: Session, *, job_id: str, expect: int) -> bool:
    """Count one more try of a queued job, if nobody counted it meanwhile; returns whether it did."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED.value, Job.attempts == expect)
        .values(attempts=expect + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def is_current_try(session: Session, *, job_id: str, attempt: int) -> bool:
    """Whether try ``attempt`` of the job is the one running (a retry replaces a try thought dead)."""
    job = session.get(Job, job_id)
    return job is not None and job.status == JobStatus.RUNNING.value and job.attempts == attempt
