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


class AssetOrigin(StrEnum):
    """Where an asset's pixels came from; decides its AI label (a user's own upload is never claimed as AI)."""

    UPLOADED = "uploaded"  # the user's own file, unmodified
    GENERATED = "generated"  # made by a model from a prompt (or animated from our own still)
    EDITED = "edited"  # someone's pixels changed by a model: a face swap, an identity refinement

    @property
    def is_result(self) -> bool:
        """Whether the studio made it (results), as opposed to what the user sent."""
        return self is not AssetOrigin.UPLOADED
