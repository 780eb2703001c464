"""Progress rendering shared by every front end: a text bar and one-line job status."""

from __future__ import annotations

from core.delivery import DeliveryEvent
from core.jobkinds import label as kind_label

BAR_WIDTH = 12


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A bar like ``▓▓▓▓░░░░ 50%``."""
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    return f"{'▓' * filled}{'░' * (width - filled)} {round(fraction * 100)}%"


def queued_text(kind: str, job_id: str, position: int | None) -> str:
    """The first status line, sent as soon as a job is accepted."""
    where = f"position {position}" if position else "starting soon"
    return f"⏳ {kind_label(kind)} queued, {where} · job {job_id}"


def status_text(kind: str, event: DeliveryEvent) -> str:
    """The status message for ``event``, edited in place as the job moves."""
    label = kind_label(kind)
    if event.status == "queued":
        note = f" {event.message}" if event.message else ""
        return f"⏳ {label} queued · job {event.job_id}.{note}"
    if event.status == "running":
        stage = f" · {event.stage}" if event.stage else ""
        return f"⚙️ {label} {bar(event.progress)}{stage}"
    if event.status == "done":
        return f"✅ {label} done · job {event.job_id}"
    if event.status == "cancelled":
        return f"⏹ {label} cancelled · job {event.job_id}"
    return f"❌ {label} failed: {event.message or 'unknown error'}"
