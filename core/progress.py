"""Progress rendering shared by every front end: a text bar, one-line job status, and short job ids."""

from __future__ import annotations

from collections.abc import Sequence

from core.delivery import DeliveryEvent
from core.jobkinds import label as kind_label

BAR_WIDTH = 12
# Job ids are 16 hex characters; chats show the first eight, which any command taking a job accepts as a prefix.
SHORT_ID = 8


def short_id(job_id: str) -> str:
    """The first ``SHORT_ID`` characters of a job id, as chats show it."""
    return job_id[:SHORT_ID]


def job_tag(job_id: str) -> str:
    """"job #1a2b3c4d": every status line carries it, so a reply to the status message names the job."""
    return f"job #{short_id(job_id)}"


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A bar like ``▓▓▓▓░░░░ 50%``."""
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    return f"{'▓' * filled}{'░' * (width - filled)} {round(fraction * 100)}%"


def shorten(text: str, width: int) -> str:
    """``text`` on one line within ``width`` characters, cut at a word with an ellipsis (never mid-word)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    head = text[: width - 1]
    if text[width - 1] != " " and " " in head:
        head = head.rsplit(" ", 1)[0]  # the last word was cut: drop it
    return head.rstrip(" ,;:·-") + "…"


def queued_text(kind: str, job_id: str, position: int | None, details: Sequence[str] = ()) -> str:
    """The status message sent as soon as a job is accepted: its state, what it makes (``details``), and the job
    tag last, so the last ``#<id>`` in it is the job's (a reply to it names the job, not an asset the details
    mention)."""
    where = f"position {position}" if position else "starting soon"
    head = f"⏳ {kind_label(kind)} queued, {where}"
    lines = [line for line in details if line]
    if not lines:
        return f"{head} · {job_tag(job_id)}"
    return "\n".join([head, *lines, job_tag(job_id)])


def status_text(kind: str, event: DeliveryEvent) -> str:
    """The status message for ``event``, edited in place as the job moves."""
    label = kind_label(kind)
    tag = job_tag(event.job_id)
    if event.status == "queued":
        note = f" {event.message}" if event.message else ""
        return f"⏳ {label} queued · {tag}.{note}"
    if event.status == "running":
        stage = f" · {event.stage}" if event.stage else ""
        return f"⚙️ {label} {bar(event.progress)}{stage} · {tag}"
    if event.status == "done":
        return f"✅ {label} done · {tag}"
    if event.status == "cancelled":
        return f"⏹ {label} cancelled · {tag}"
    return f"❌ {label} failed: {event.message or 'unknown error'} ({tag})"
