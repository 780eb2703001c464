"""The /persona train job: a LoRA on the persona's reference photos, stored as a new active version."""

from __future__ import annotations

import io
import logging
import secrets
from typing import Any

from PIL import Image, ImageOps
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.errors import NotAvailable, NotFound
from core.jobresults import TrainResult
from core.jobspecs import TrainSpec
from inference.engines.base import scaled
from inference.engines.lora import LoraTrainer, LoraTrainingRequest
from inference.models import image_model
from inference.runtime import task
from inference.task_context import TaskContext
from inference.tasks.image import load_engine
from storage.models import LoraWeights, Persona
from storage.repositories import personas as persona_repo

log = logging.getLogger(__name__)

FACE_MARGIN = 0.8  # of the face box's size added on each side: hair, jaw line and some shoulders
MAX_RESOLUTION = 1024
_TRIGGER_LETTERS = "bcdfghjklmnpqrstvwxz"


def new_trigger_token() -> str:
    """A short rare word (consonants only) the persona's LoRA learns to mean "this person"."""
    return "".join(secrets.choice(_TRIGGER_LETTERS) for _ in range(5))


def crop_reference(image: Image.Image, face_box: list[Any] | None) -> Image.Image:
    """The photo cropped to a square around the face (``[left, top, right, bottom]``), or whole without a box."""
    image = ImageOps.exif_transpose(image).convert("RGB")
    if not face_box or len(face_box) != 4:
        return image
    left, top, right, bottom = (float(v) for v in face_box)
    if right <= left or bottom <= top:
        return image
    side = max(right - left, bottom - top) * (1 + 2 * FACE_MARGIN)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half = min(side / 2, image.width / 2, image.height / 2)
    cx = min(max(cx, half), image.width - half)
    cy = min(max(cy, half), image.height - half)
    return image.crop((int(cx - half), int(cy - half), int(cx + half), int(cy + half)))


def _train(ctx: TaskContext) -> TrainResult:
    spec = ctx.spec_as(TrainSpec)
    settings = ctx.settings
    with ctx.db.session() as session:
        persona = persona_repo.get_owned(session, persona_id=spec.persona_id, owner_id=ctx.content_owner_id)
        if persona is None:
            raise NotFound("No such persona among yours; /persona list shows them.")
        references = [(ref.blob, ref.face_box) for ref in persona.references]
        if not references:
            raise ValueError(f"{persona.name} has no reference photos to train on; send a few first.")
        if not persona.trigger_token:
            persona.trigger_token = new_trigger_token()
        trigger, name = persona.trigger_token, persona.name

    model = image_model(settings)
    if not model.spec.supports_lora:
        raise NotAvailable(f"LoRA training needs SD3; this worker runs {model.name} "
                           f"(STUDIO_MODEL_PROFILE={settings.model_profile}).")
    ctx.progress(0.01, "loading model")
    engine = load_engine(ctx, model)
    images = tuple(crop_reference(Image.open(io.BytesIO(ctx.blobs.read_bytes(blob))), box)
                   for blob, box in references)
    request = LoraTrainingRequest(
        images=images,
        instance_prompt=f"a photo of {trigger} person",
        rank=spec.rank or settings.lora_rank,
        steps=spec.steps or settings.lora_steps,
        learning_rate=spec.learning_rate or settings.lora_learning_rate,
        resolution=min(engine.base_side, MAX_RESOLUTION),
        seed=secrets.randbelow(2**31),
        adapter_name=f"training-{ctx.job_id}",
    )
    trainer = LoraTrainer(engine.pipeline)
    trainer.check_inputs(request)
    result = trainer.run(request, scaled(ctx.progress, 0.02, 0.95))

    ctx.progress(0.96, "saving")
    params = {"rank": result.rank, "steps": result.steps, "learning_rate": request.learning_rate,
              "resolution": request.resolution, "images": len(images), "trigger_token": trigger,
              "eval_loss_before": round(result.eval_loss_before, 6),
              "eval_loss_after": round(result.eval_loss_after, 6),
              "final_loss": round(result.losses[-1], 6), "seconds": round(result.seconds, 1),
              "job_id": ctx.job_id}

    def write(session: Session, digests: list[str]) -> tuple[int, str]:
        if session.get(Persona, spec.persona_id) is None:
            raise NotFound(f"{name} was deleted during training; the LoRA was discarded.")
        latest = session.scalar(select(func.max(LoraWeights.version)).where(
            LoraWeights.persona_id == spec.persona_id))
        version = int(latest or 0) + 1
        # Exactly one active version: the new one. Older ones stay for rollback.
        session.execute(update(LoraWeights).where(LoraWeights.persona_id == spec.persona_id)
                        .values(active=False).execution_options(synchronize_session=False))
        session.add(LoraWeights(persona_id=spec.persona_id, version=version, blob=digests[0],
                                base_model=model.key, params=params, active=True))
        return version, digests[0]

    with ctx.workdir() as workdir:
        weights = result.save(workdir)
        version, blob = ctx.store([weights], write)
    message = (f"{name}'s LoRA v{version} is trained ({result.steps} steps on {len(images)} photos, "
               f"{result.seconds:.0f} s) and active for /imagine.")
    return TrainResult(message=message, lora_version=version, blob=blob,
                       eval_loss_before=result.eval_loss_before, eval_loss_after=result.eval_loss_after)


train_lora = task(_train)
