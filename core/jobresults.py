"""What a finished job hands back to the chat: typed results, written by the worker and read by the presenter.

Files are ``core.messages.Media``, the same type a front end sends.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.messages import Media


def card_filename(persona_name: str) -> str:
    """A persona card's file name, after its persona ("Ava Rose" → "Ava-Rose-card.png"): saved side by side,
    two personas' cards never overwrite each other."""
    return "-".join(persona_name.replace("'", "").replace(".", " ").split()) + "-card.png"




class JobResult(BaseModel):
    """Every result: a message, files, the assets made, and a download link where there is one.

    Extra fields a kind adds are kept (``extra="allow"``) so an older row still reads after an upgrade.
    """

    model_config = ConfigDict(extra="allow")

    message: str = ""
    media: list[Media] = Field(default_factory=list)
    asset_ids: list[str] = Field(default_factory=list)
    link: str | None = None


class EchoResult(JobResult):
    """/echo: the text, back."""

    text: str = ""


class PersonaResult(JobResult):
    """Face analysis: how many photos became references."""

    persona_id: int | None = None
    accepted: int = 0
    rejected: list[dict[str, str]] = Field(default_factory=list)  # {"photo", "reason"} each


class TrainResult(JobResult):
    """LoRA training: the new version and how the evaluation loss moved."""

    lora_version: int | None = None
    blob: str | None = None
    eval_loss_before: float | None = None
    eval_loss_after: float | None = None


class VerifyResult(JobResult):
    """What a checked file carries (``inference.provenance.verify.VerifyReport.as_dict``)."""

    report: dict[str, object] = Field(default_factory=dict)


class ShotResult(BaseModel):
    """One shot of a shoot as the contact sheet numbers it."""

    number: int
    asset_id: str
    shot: str  # its name in ``core.shots``
    label: str
    likeness: str = ""  # on the persona's scale, as the sheet shows it ("likeness 91 %"; "" without a face)
    passed: bool | None = None  # None: not checked (no face)
    redone: bool = False


class ShootResult(JobResult):
    """A photoshoot: the contact sheet in ``media``, every shot in ``asset_ids`` and ``shots`` (by number), and
    the owner's picks (shot numbers, in the order picked: a carousel keeps that order). The picks live here, on
    the job's stored result, so they outlast any restart without a table of their own."""

    persona_id: int | None = None
    scene: str = ""
    shots: list[ShotResult] = Field(default_factory=list)
    picks: list[int] = Field(default_factory=list)

    def shot(self, number: int) -> ShotResult | None:
        """Shot ``number`` (1-based), or None when the shoot has no such shot."""
        return next((s for s in self.shots if s.number == number), None)


class ExportResult(JobResult):
    """An export package behind ``link``."""

    package_id: str | None = None
    platform: str | None = None
    files: int = 0
    size_bytes: int = 0
    expires_at: str | None = None
