"""String enums stored in the database: job kinds and states, asset kinds, persona states."""

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


class JobKind(StrEnum):
    """What a job does; each kind has one task function and one queue."""

    ECHO = "echo"
    PERSONA_ANALYZE = "persona_analyze"
    PERSONA_TRAIN = "train_lora"
    IMAGE = "image"
    VIDEO = "video"
    FACESWAP = "faceswap"
    EXPORT = "export"


class AssetKind(StrEnum):
    """Media kinds a user owns."""

    IMAGE = "image"
    VIDEO = "video"


class PersonaStatus(StrEnum):
    """A persona collects photos, is analysed, then is ready (or the analysis failed)."""

    COLLECTING = "collecting"
    ANALYZING = "analyzing"
    READY = "ready"
    FAILED = "failed"
