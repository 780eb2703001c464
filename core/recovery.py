"""Recovery: jobs whose worker died, queued jobs no worker will take, and final events no chat has shown.

Each sweep is safe from any number of processes: a job moves once (compare-and-set on its row), and
redelivery runs one sweep per platform at a time.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from core import delivery, jobkinds, queue
from core.delivery import DELIVERED
from core.jobs import lease_key
from storage.models import Job, utcnow
from storage.repositories import jobs as job_repo
from storage.states import JobStatus

if TYPE_CHECKING:
    from core.jobs import JobService

log = logging.getLogger(__name__)

REDELIVERY_LOCK_PREFIX = "studio:redelivery:lock:"
REDELIVERED_PREFIX = "studio:redelivered:"
# How far back redelivery looks, and how often it publishes one job's final event again before giving up
# (no front end for that platform is running, or the event can never be shown).
REDELIVERY_LOOKBACK = timedelta(hours=24)
MAX_REDELIVERIES = 3
FINAL = [JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED]


class Recovery:
    """The sweeps that put right what a crash or an outage left behind; reached as ``JobService.recovery``."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        self.db = jobs.db
        self.redis = jobs.redis
        self.settings = jobs.settings

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
            if self.jobs.is_cancelled(job_id):
                # The owner asked to stop it and its worker died before noticing: it is stopped.
                moved = self.jobs.transition(job_id, JobStatus.CANCELLED, expect=[JobStatus.RUNNING], attempt=attempts,
                                        message="Cancelled.")
            elif attempts < self.settings.job_max_attempts:
                moved = self.jobs.transition(
                    job_id,
                    JobStatus.QUEUED,
                    expect=[JobStatus.RUNNING],
                    attempt=attempts,  # only the try whose lease expired, never one that started since
                    message="The worker running this job stopped; trying again.",
                    progress=0.0,
                    stage="",
                )
                if moved:
                    self.jobs.enqueue(job_id, jobkinds.info(kind), attempt=attempts + 1, at_front=True)
            else:
                moved = self.jobs.transition(
                    job_id,
                    JobStatus.FAILED,
                    expect=[JobStatus.RUNNING],
                    attempt=attempts,
                    message=f"The worker stopped while running this job ({attempts} tries). Please try again.",
                )
            if moved:
                log.warning("recovered abandoned job %s (attempt %d)", job_id, attempts)
                handled.append(job_id)
        return handled

    def requeue_lost(self, *, older_than: timedelta | None = None) -> list[str]:
        """Re-enqueue queued jobs that no worker will ever take: their RQ entry vanished (Redis restarted without
        its data, or an enqueue failed half-way) or ended without running, or the worker that took it died
        before starting it (RQ still says "started", but no lease is kept alive). Only jobs queued longer than
        ``older_than`` (``STUDIO_JOB_LOST_AFTER_S``) are looked at. Returns their ids."""
        if older_than is None:
            older_than = timedelta(seconds=self.settings.job_lost_after_s)
        lost: list[str] = []
        with self.db.session() as session:
            candidates = [
                (job.id, job.kind, job.rq_id, job.attempts)
                for job in job_repo.stale_queued(session, older_than=older_than)
            ]
        for job_id, kind, rq_id, attempts in candidates:
            if rq_id and self._will_run(rq_id, job_id):
                continue
            # Each loss counts as a try, so a job that can never start is failed instead of requeued forever.
            if attempts + 1 >= self.settings.job_max_attempts:
                moved = self.jobs.transition(job_id, JobStatus.FAILED, expect=[JobStatus.QUEUED],
                                        message="This job could not be started. Please try again later.")
            else:
                with self.db.session() as session:
                    moved = job_repo.bump_attempts(session, job_id=job_id, expect=attempts)
                if moved:
                    self.jobs.enqueue(job_id, jobkinds.info(kind), attempt=attempts + 2)
            if moved:
                lost.append(job_id)
        return lost

    def _will_run(self, rq_id: str, job_id: str) -> bool:
        """Whether RQ's entry for a queued row still leads to a run without our help."""
        found = queue.state(rq_id, connection=self.redis)
        if found is None:
            return False
        if found.waiting:
            return True
        if not found.started:
            return False  # finished, failed or stopped without the row ever leaving "queued"
        if self.redis.exists(lease_key(job_id)):
            return True  # a worker holds it and is about to start it (or put it back)
        # Taken a moment ago and not yet leased, or taken by a worker that died before it leased it.
        started = found.started_at
        if started is None:
            return False
        if started.tzinfo is None:
            started = started.replace(tzinfo=utcnow().tzinfo)
        return (utcnow() - started).total_seconds() < self.settings.job_lease_seconds

    def redeliver_lost(self, platform: str) -> list[str]:
        """Publish again the final event of ``platform``'s jobs that ended more than
        ``STUDIO_DELIVERY_REDELIVER_AFTER_S`` ago and whose final event no front end has shown yet (``Job.chat``
        still says ``delivered: False``): the event was never published (Redis was away), was lost with the
        stream, or was set aside. Returns the job ids published again.

        Cheap and safe with several front-end processes: one sweep per platform runs at a time (a Redis lock
        that lapses after ``STUDIO_DELIVERY_REDELIVER_INTERVAL_S``), it reads only ended jobs created within
        the last day, a job is published again at most once per ``redeliver_after`` and ``MAX_REDELIVERIES``
        times in all, and a front end that meets a final event whose job is already marked delivered
        acknowledges it without showing it again.
        """
        settings = self.settings
        interval_ms = max(1, int(settings.delivery_redeliver_interval_s * 1000))
        if not self.redis.set(f"{REDELIVERY_LOCK_PREFIX}{platform}", secrets.token_hex(8), nx=True, px=interval_ms):
            return []  # another process of this platform swept a moment ago
        now = utcnow()
        ended_before = now - timedelta(seconds=settings.delivery_redeliver_after_s)
        with self.db.session() as session:
            rows = session.execute(
                select(Job.id, Job.chat).where(
                    Job.status.in_([status.value for status in FINAL]),
                    Job.created_at >= now - REDELIVERY_LOOKBACK,
                    Job.finished_at <= ended_before,
                )
            ).all()
        waiting = [job_id for job_id, chat in rows
                   if (chat or {}).get("platform") == platform and (chat or {}).get(DELIVERED) is False]
        published: list[str] = []
        pause_s = max(1, int(settings.delivery_redeliver_after_s))
        for job_id in waiting:
            if not self.redis.set(f"{REDELIVERED_PREFIX}{job_id}:recent", "1", nx=True, ex=pause_s):
                continue  # published again a moment ago: that copy is still on its way
            count_key = f"{REDELIVERED_PREFIX}{job_id}"
            count = int(self.redis.incr(count_key))
            self.redis.expire(count_key, int(REDELIVERY_LOOKBACK.total_seconds()))
            if count > MAX_REDELIVERIES:
                if count == MAX_REDELIVERIES + 1:
                    log.error("job %s: its final event was published %d times and never shown on %s; giving up",
                              job_id, MAX_REDELIVERIES, platform)
                continue
            with self.db.session() as session:
                recorded = self.jobs.recorded(session, job_id, message="")
            if recorded is None or not recorded.event.is_final:
                continue
            delivery.publish(self.redis, platform=platform, event=recorded.event)
            log.warning("job %s ended %s without its final event being shown on %s; published it again (%d)",
                        job_id, recorded.event.status, platform, count)
            published.append(job_id)
        return published
