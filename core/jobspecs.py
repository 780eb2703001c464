"""What a job is asked to do: one pydantic model per job kind, validated when the job is submitted and parsed
once more by the worker (the row's JSON may come from an older release or a hand-edited database)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from core.limits import (
    ANIMATE_SECONDS,
    LORA_MAX_LEARNING_RATE,
    LORA_MAX_RANK,
    LORA_MAX_STEPS,
    MAX_PROMPT_CHARS,
    MOTIONS,
    PERSONA_ID_MAX,
)
from core.platforms import PRESETS
from core.shots import BY_NAME, SCENE_CHARS, SHOOT_SIZE

# Ids as they appear in chat and button data; the worker never trusts them beyond their shape.
AssetId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{6,32}$", strip_whitespace=True, to_lower=True)]
PersonaId = Annotated[int, Field(gt=0, le=PERSONA_ID_MAX, strict=True)]
Motion = Literal[MOTIONS]  # type: ignore[valid-type]
Variation = Literal["seeds", "prompt"]


class JobSpec(BaseModel):
    """Base of every spec: immutable, and unknown fields are refused rather than silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class EchoSpec(JobSpec):
    """/echo: text back after ``seconds`` of progress steps."""

    text: str = Field(max_length=500)
    seconds: float = Field(default=0.0, ge=0.0, le=60.0)


class PersonaAnalyzeSpec(JobSpec):
    """Face analysis of a persona's reference photos."""

    persona_id: PersonaId
    engine: str | None = None


class ImageSpec(JobSpec):
    """/imagine, or a variation of an earlier image (``variation_of``: only what changes is given)."""

    prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    persona_id: PersonaId | None = None
    aspect_ratio: str | None = None
    n: int = Field(default=1, ge=1, le=4)
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    steps: int | None = Field(default=None, ge=1)
    template: str | None = None
    platform: str | None = None
    negative: str | None = None
    # The persona's outfits the prompt names (already written out in ``prompt``), for captions and /info.
    outfits: tuple[str, ...] = Field(default=(), max_length=8)
    variation_of: AssetId | None = None
    variation: Variation | None = None

    @model_validator(mode="after")
    def _variation_needs_source(self) -> ImageSpec:
        if self.variation is not None and self.variation_of is None:
            raise ValueError("variation needs variation_of (the image to vary)")
        if self.variation_of is not None and self.variation is None:
            return self.model_copy(update={"variation": "seeds"})
        return self

    def request_fields(self) -> dict[str, object]:
        """What a later variation needs to repeat this request (kept in the asset's meta)."""
        return self.model_dump(include={"prompt", "persona_id", "aspect_ratio", "steps", "template", "platform",
                                        "negative", "outfits"})


class ShootSpec(JobSpec):
    """/shoot: one shot per name in ``shots`` (``core.shots``), all of ``scene``, seeds from the ``seed`` family;
    ``more_like`` is the shot a second round follows (its seed family, new poses)."""

    persona_id: PersonaId
    scene: str = Field(min_length=1, max_length=SCENE_CHARS)
    shots: tuple[str, ...] = Field(min_length=SHOOT_SIZE[0], max_length=SHOOT_SIZE[1])
    seed: int = Field(ge=0, le=2**32 - 1)
    aspect_ratio: str | None = None
    steps: int | None = Field(default=None, ge=1)
    platform: str | None = None
    more_like: AssetId | None = None
    outfits: tuple[str, ...] = Field(default=(), max_length=8)  # the wardrobe's outfits the scene names

    @field_validator("shots")
    @classmethod
    def _known_shots(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in BY_NAME]
        if unknown:
            raise ValueError(f"unknown shot {unknown[0]!r}; choose from {', '.join(BY_NAME)}")
        return value


class TrainSpec(JobSpec):
    """/persona train: unset knobs come from the worker's settings."""

    persona_id: PersonaId
    steps: int | None = Field(default=None, ge=1, le=LORA_MAX_STEPS)
    rank: int | None = Field(default=None, ge=1, le=LORA_MAX_RANK)
    learning_rate: float | None = Field(default=None, gt=0.0, le=LORA_MAX_LEARNING_RATE)


class VideoSpec(JobSpec):
    """/animate: ``None`` motion or length means the worker's default."""

    asset_id: AssetId
    motion: Motion | None = None
    seconds: float | None = Field(default=None, ge=ANIMATE_SECONDS[0], le=ANIMATE_SECONDS[1])


class FaceSwapSpec(JobSpec):
    """/swap: the persona's face into the user's photo or video."""

    persona_id: PersonaId
    asset_id: AssetId


class VerifySpec(JobSpec):
    """/verify: what the file sent along carries; ``blob`` is the uploaded copy, removed once checked."""

    blob: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    filename: str | None = Field(default=None, max_length=255)


class ExportSpec(JobSpec):
    """/export: results packed for one platform (the per-deployment cap is checked where settings are known)."""

    platform: str
    asset_ids: tuple[AssetId, ...] = Field(min_length=1)
    # A carousel: one post of these files in this order, with one post text for the set.
    carousel: bool = False

    @field_validator("asset_ids")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))

    @field_validator("platform")
    @classmethod
    def _known_platform(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown platform {value!r}; choose {', '.join(PRESETS)}")
        return value
