"""String enums stored in the database: job states and persona states."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is in its lifecycle; the last four are final."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Whether no further change will happen."""
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class PersonaStatus(StrEnum):
    """A persona collects photos, is analysed, then is ready (or the analysis failed)."""

    COLLECTING = "collecting"
    ANALYZING = "analyzing"
    READY = "ready"
    FAILED = "failed"
