"""The one table of job kinds: queue, task function, label, time limit, and spec and result types.

Everything that varies by kind reads this table; nothing builds names from a kind's string.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import ValidationError

from core import jobresults as results
from core import jobspecs as specs
from core.settings import Settings

log = logging.getLogger(__name__)

GPU_QUEUE = "gpu"
CPU_QUEUE = "cpu"
QUEUES = (GPU_QUEUE, CPU_QUEUE)


class JobKind(StrEnum):
    """Stored in ``Job.kind``."""

    ECHO = "echo"
    PERSONA = "persona_analyze"
    IMAGE = "image"
    TRAIN = "train_lora"
    VIDEO = "video"
    FACESWAP = "faceswap"
    EXPORT = "export"
    VERIFY = "verify"
    SHOOT = "shoot"


@dataclass(frozen=True)
class KindInfo:
    """How one kind of job runs: ``task`` is a dotted path, so core never imports the worker package."""

    kind: JobKind
    queue: str
    task: str
    label: str
    timeout: Callable[[Settings], int]
    spec: type[specs.JobSpec]
    result: type[results.JobResult]


KINDS: dict[JobKind, KindInfo] = {info.kind: info for info in (
    KindInfo(JobKind.ECHO, CPU_QUEUE, "inference.tasks.echo.run_echo", "echo",
             lambda s: s.timeout_echo_s, specs.EchoSpec, results.EchoResult),
    KindInfo(JobKind.PERSONA, CPU_QUEUE, "inference.tasks.persona.analyze_persona", "persona analysis",
             lambda s: s.timeout_persona_s, specs.PersonaAnalyzeSpec, results.PersonaResult),
    KindInfo(JobKind.IMAGE, GPU_QUEUE, "inference.tasks.image.generate_images", "image",
             lambda s: s.timeout_image_s, specs.ImageSpec, results.JobResult),
    KindInfo(JobKind.TRAIN, GPU_QUEUE, "inference.tasks.train.train_lora", "LoRA training",
             lambda s: s.timeout_train_s, specs.TrainSpec, results.TrainResult),
    KindInfo(JobKind.VIDEO, GPU_QUEUE, "inference.tasks.video.animate", "animation",
             lambda s: s.timeout_video_s, specs.VideoSpec, results.JobResult),
    KindInfo(JobKind.FACESWAP, GPU_QUEUE, "inference.tasks.faceswap.swap_faces", "face swap",
             lambda s: s.timeout_faceswap_s, specs.FaceSwapSpec, results.JobResult),
    KindInfo(JobKind.EXPORT, CPU_QUEUE, "inference.tasks.export.build_export", "export",
             lambda s: s.timeout_export_s, specs.ExportSpec, results.ExportResult),
    KindInfo(JobKind.VERIFY, CPU_QUEUE, "inference.tasks.verify.verify_file", "file check",
             lambda s: s.timeout_verify_s, specs.VerifySpec, results.VerifyResult),
    KindInfo(JobKind.SHOOT, GPU_QUEUE, "inference.tasks.shoot.run_shoot", "photoshoot",
             lambda s: s.timeout_shoot_s, specs.ShootSpec, results.ShootResult),
)}


def info(kind: str) -> KindInfo:
    """The table row for ``kind``; ``ValueError`` for a kind this release does not know."""
    try:
        return KINDS[JobKind(kind)]
    except ValueError:
        raise ValueError(f"no such job kind {kind!r}") from None


def label(kind: str) -> str:
    """What a chat calls the kind ("face swap"); the raw name for a kind this release does not know."""
    try:
        return info(kind).label
    except ValueError:
        return kind


def parse_result(kind: str, data: dict[str, object] | None) -> results.JobResult:
    """A stored result as its kind's type (an unknown kind reads as the common base); one this release cannot
    read keeps only its message, so a chat still hears how the job ended."""
    try:
        model = info(kind).result
    except ValueError:
        model = results.JobResult
    try:
        return model.model_validate(data or {})
    except ValidationError:
        log.error("unreadable %s result %r", kind, data)
        message = (data or {}).get("message")
        return results.JobResult(message=message if isinstance(message, str) else "")


def for_spec(spec: specs.JobSpec) -> KindInfo:
    """The kind a spec belongs to (each spec type serves exactly one kind)."""
    for row in KINDS.values():
        if type(spec) is row.spec:
            return row
    raise ValueError(f"no job kind takes a {type(spec).__name__}")


def parse_spec(kind: str, data: dict[str, object] | None) -> specs.JobSpec:
    """A stored spec as its kind's type; pydantic's ``ValidationError`` (a ``ValueError``) names the field."""
    return info(kind).spec.model_validate(data or {})
