"""Persona LoRA training on the tiny SD3: the loss falls, the weights change the output, versions rotate."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from redis import Redis

from core.jobs import JobService
from core.jobspecs import ImageSpec, TrainSpec
from core.settings import Settings
from inference.engines.image import ImageRequest
from inference.engines.lora import LoraTrainer, LoraTrainingRequest
from inference.tasks.train import crop_reference
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import LoraWeights
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from tests.tiny_models import load_tiny_engine
from tests.workers import drain

CHAT = {"platform": "console", "chat_id": "1"}


def _photo(seed: int, size: tuple[int, int] = (96, 80)) -> Image.Image:
    rng = np.random.default_rng(seed)
    # A smooth blob on a plain background: something with structure for the LoRA to learn.
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    face = np.exp(-(((xx - size[0] / 2) / 18.0) ** 2 + ((yy - size[1] / 2) / 22.0) ** 2))
    colour = rng.uniform(0.3, 1.0, 3)
    pixels = 0.15 + face[..., None] * colour[None, None, :]
    return Image.fromarray((np.clip(pixels, 0, 1) * 255).astype("uint8"))


def test_training_lowers_the_loss_and_the_lora_changes_the_output(tiny_models_dir: Path,
                                                                   tmp_path: Path) -> None:
    engine = load_tiny_engine(tiny_models_dir)
    trainer = LoraTrainer(engine.pipeline)
    request = LoraTrainingRequest(images=(_photo(1), _photo(2)), instance_prompt="a photo of zkvtr person",
                                  steps=40, learning_rate=2e-3, resolution=64, seed=0)
    prompt = ImageRequest(prompt="a photo of zkvtr person", negative="", aspect_ratio="1:1", seeds=(3,),
                          steps=4, guidance=5.0)
    before = np.asarray(engine.run(prompt).images[0].image, dtype=np.float32)
    heard: list[float] = []

    result = trainer.run(request, lambda fraction, stage: heard.append(fraction))

    assert result.eval_loss_after < result.eval_loss_before * 0.98, (result.eval_loss_before,
                                                                      result.eval_loss_after)
    assert np.mean(result.losses[-10:]) < np.mean(result.losses[:10])
    assert heard[-1] == 1.0 and len(heard) == 41
    assert all(key.startswith("transformer_blocks.") for key in result.state_dict)
    # The pipeline goes back clean: no training adapter left, same output as before.
    assert not getattr(engine.pipeline.transformer, "peft_config", {})
    unchanged = np.asarray(engine.run(prompt).images[0].image, dtype=np.float32)
    assert np.abs(unchanged - before).max() <= 2

    weights = result.save(tmp_path / "lora")
    engine.load_adapter("trained", weights)
    after = np.asarray(engine.run(ImageRequest(**{**prompt.__dict__, "adapter": "trained"})).images[0].image,
                       dtype=np.float32)
    assert np.abs(after - before).max() > 3


@pytest.mark.parametrize(
    ("spec", "argument"),
    [({"persona_id": "ava"}, "persona_id"), ({"persona_id": 1, "steps": 0}, "steps"),
     ({"persona_id": 1, "rank": 1000}, "rank"), ({"persona_id": 1, "learning_rate": 1.0}, "learning_rate")],
)
def test_train_spec_names_the_bad_argument(spec: dict[str, object], argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        TrainSpec.model_validate(spec)



def test_face_box_crops_a_square_around_the_face() -> None:
    photo = Image.new("RGB", (400, 300))
    crop = crop_reference(photo, [180, 100, 220, 150])
    assert crop.width == crop.height and 100 < crop.width < 160
    assert crop_reference(photo, None).size == (400, 300)


def test_train_jobs_add_versions_and_imagine_uses_the_active_lora(tiny_settings: Settings,
                                                                   db: Database, redis: Redis) -> None:
    settings = tiny_settings.model_copy(update={"lora_steps": 3})
    blobs = LocalBlobStore(settings.blobs_dir)
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="alice")
        persona = persona_repo.create(session, owner_id=user.id, name="Ava")
        for seed in (1, 2):
            buffer = io.BytesIO()
            _photo(seed).save(buffer, format="PNG")
            ref = persona_repo.add_reference(session, persona=persona, blob=blobs.put_bytes(buffer.getvalue()),
                                             filename=f"{seed}.png", width=96, height=80)
            ref.face_box = [30, 20, 66, 60] if seed == 1 else None
        persona_id = persona.id
    jobs = JobService(db=db, redis=redis, settings=settings)

    first = jobs.submit(user=user, spec=TrainSpec(persona_id=persona_id, steps=2), chat=CHAT)
    drain(settings, db, redis)
    second = jobs.submit(user=user, spec=TrainSpec(persona_id=persona_id, rank=2), chat=CHAT)
    drain(settings, db, redis)
    imagine = jobs.submit(user=user, spec=ImageSpec(persona_id=persona_id, prompt="on a beach", n=1), chat=CHAT)
    drain(settings, db, redis)

    with db.session() as session:
        done = [job_repo.get(session, job_id=j.job_id) for j in (first, second, imagine)]
        assert [j.status for j in done if j] == ["done", "done", "done"], [j.error for j in done if j]
        persona_row = persona_repo.get_owned(session, persona_id=persona_id, owner_id=user.id)
        assert persona_row is not None and persona_row.trigger_token  # made up on first training
        versions = [(w.version, w.active, w.params["steps"], w.params["rank"]) for w in persona_row.loras]
        assert versions == [(1, False, 2, 4), (2, True, 3, 2)]
        assert all(isinstance(w, LoraWeights) and blobs.exists(w.blob) for w in persona_row.loras)
        assert persona_row.loras[1].base_model == "sd3-tiny@tiny-v1"
        (asset,) = asset_repo.for_job(session, job_id=imagine.job_id)
        assert asset.meta["lora"] == f"lora-{persona_row.loras[1].blob[:16]}" and asset.meta["lora_version"] == 2
        assert asset.meta["prompt"].startswith(persona_row.trigger_token)
