"""Per-user limits on queued, running and daily jobs; admins are exempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from core.errors import QuotaExceeded
from core.settings import Settings
from storage.models import User
from storage.repositories import jobs as job_repo
from storage.states import JobStatus


def check_can_submit(session: Session, *, user: User, settings: Settings, count: int = 1) -> None:
    """Raise ``QuotaExceeded`` with the reason when ``user`` may not queue ``count`` more jobs now (one press that
    queues several is checked for all of them first, so it never stops half-way)."""
    if user.is_admin:
        return
    counts = job_repo.count_by_status(session, owner_id=user.id)
    waiting = counts.get(JobStatus.QUEUED.value, 0) + counts.get(JobStatus.RUNNING.value, 0)
    limit = settings.max_queued_jobs + settings.max_running_jobs
    if waiting + count > limit:
        asked = "" if count == 1 else f"; this would add {count}"
        raise QuotaExceeded(
            f"You already have {waiting} jobs waiting or running (limit {limit}{asked}). "
            "Wait for one to finish or /cancel one (see /jobs)."
        )
    now = datetime.now(UTC)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = job_repo.count_since(session, owner_id=user.id, since=day_start)
    if today + count > settings.max_jobs_per_day:
        resets = day_start + timedelta(days=1) - now
        hours = max(1, round(resets.total_seconds() / 3600))
        left = max(0, settings.max_jobs_per_day - today)
        used = (f"You have used today's {settings.max_jobs_per_day} jobs" if left == 0
                else f"Only {left} of today's {settings.max_jobs_per_day} jobs are left, and this needs {count}")
        raise QuotaExceeded(f"{used}; the allowance resets in about {hours} h.")
