"""The image engine on the tiny SD3: sizes, input checks, seeds, progress, LoRA adapters, identity gate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import JobCancelled
from core.prompts import PersonaText, build_prompt
from inference.engines.image import (
    GeneratedImage,
    ImageEngine,
    ImageRequest,
    identity_gate,
    size_for_aspect,
)
from inference.engines.image.gate import Refined
from tests.tiny_models import load_tiny_engine


@pytest.fixture(scope="module")
def engine(tiny_models_dir: Path) -> Iterator[ImageEngine]:
    loaded = load_tiny_engine(tiny_models_dir)
    yield loaded
    loaded.unload()


def request(**changes: object) -> ImageRequest:
    fields: dict[str, object] = {"prompt": "a photo of a woman on a beach", "negative": "blurry",
                                 "aspect_ratio": "1:1", "seeds": (11,), "steps": 3, "guidance": 5.0}
    fields.update(changes)
    return ImageRequest(**fields)  # type: ignore[arg-type]


def pixels(item: GeneratedImage) -> np.ndarray:
    return np.asarray(item.image, dtype=np.float32)


def same_image(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to one or two levels of 8-bit rounding (disabled LoRA layers take another float path)."""
    return bool(np.abs(a - b).max() <= 2)


def test_aspect_ratios_snap_to_the_model_multiple_at_native_area() -> None:
    assert size_for_aspect("1:1", base_side=1024, multiple=16) == (1024, 1024)
    assert size_for_aspect("4:5", base_side=1024, multiple=16) == (912, 1136)
    assert size_for_aspect("9:16", base_side=1024, multiple=16) == (768, 1360)
    assert size_for_aspect("16:9", base_side=1024, multiple=16) == (1360, 768)
    for ratio in ("4:5", "9:16", "3:2", "21:9"):
        width, height = size_for_aspect(ratio, base_side=1024, multiple=16)
        assert width % 16 == 0 and height % 16 == 0
        assert 0.9 < width * height / 1024**2 < 1.1


def test_tiny_engine_makes_small_images_in_the_requested_shape(engine: ImageEngine) -> None:
    assert (engine.base_side, engine.multiple) == (64, 2)
    result = engine.run(request(aspect_ratio="4:5", seeds=(1, 2)))
    assert [img.image.size for img in result.images] == [(58, 72), (58, 72)]
    assert result.model == "sd3-tiny@tiny-v1"


@pytest.mark.parametrize(
    ("changes", "argument"),
    [
        ({"aspect_ratio": "0:1"}, "--ar"),
        ({"seeds": tuple(range(9))}, "--n must be between 1 and 4, got 9"),
        ({"seeds": ()}, "--n"),
        ({"steps": 0}, "--steps"),
        ({"steps": 500}, "--steps must be between 1 and 50"),
        ({"seeds": (-1,)}, "--seed"),
        ({"guidance": 99.0}, "guidance"),
        ({"prompt": "  "}, "prompt"),
        ({"adapter": "nobody"}, "adapter 'nobody'"),
    ],
)
def test_check_inputs_names_the_bad_argument(engine: ImageEngine, changes: dict[str, object],
                                             argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        engine.check_inputs(request(**changes))



def test_each_image_is_reproducible_from_its_own_seed(engine: ImageEngine) -> None:
    batch = engine.run(request(seeds=(5, 6)))
    alone = engine.run(request(seeds=(6,)))
    again = engine.run(request(seeds=(5, 6)))
    assert np.abs(pixels(batch.images[1]) - pixels(alone.images[0])).max() <= 2
    assert np.array_equal(pixels(batch.images[0]), pixels(again.images[0]))
    assert np.abs(pixels(batch.images[0]) - pixels(batch.images[1])).max() > 10


def test_progress_hears_every_step_and_can_stop_the_run(engine: ImageEngine) -> None:
    heard: list[tuple[float, str]] = []
    engine.run(request(steps=4), lambda fraction, stage: heard.append((fraction, stage)))
    assert [f for f, _ in heard] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert heard[-1][1] == "denoising 4/4"

    def cancel(fraction: float, stage: str) -> None:
        if fraction >= 0.5:
            raise JobCancelled("job")

    with pytest.raises(JobCancelled):
        engine.run(request(steps=4), cancel)


def test_long_prompts_fit_clip_and_reach_t5_whole(engine: ImageEngine) -> None:
    long_prompt = ", ".join(["golden hour light on the beach near the sea"] * 20)
    built = build_prompt(long_prompt, persona=PersonaText("", "woman with red hair"),
                         clip_limit=engine.clip_limit, count_tokens=engine.count_clip_tokens)
    assert engine.count_clip_tokens(built.text) > engine.clip_limit
    assert engine.count_clip_tokens(built.clip_text) <= engine.clip_limit
    # The T5 prompt changes the image: the routing is not a no-op.
    short = engine.run(request(prompt=built.clip_text, prompt_3=built.clip_text))
    full = engine.run(request(prompt=built.clip_text, prompt_3=built.text))
    assert np.abs(pixels(short.images[0]) - pixels(full.images[0])).max() > 0


def _lora_dir(tmp: Path, seed: int) -> Path:
    """LoRA weights with random non-zero factors (so they visibly change the output), saved like training does."""
    from diffusers import SD3Transformer2DModel, StableDiffusion3Pipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from inference.engines.lora import TARGET_MODULES

    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(sample_size=32, patch_size=1, in_channels=4, num_layers=1,
                                        attention_head_dim=8, num_attention_heads=4, caption_projection_dim=32,
                                        joint_attention_dim=32, pooled_projection_dim=64, out_channels=4)
    config = LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=list(TARGET_MODULES))
    transformer.add_adapter(config)  # type: ignore[attr-defined]
    out = tmp / f"lora-{seed}"
    # peft's random init is small; scaled up so the tiny model's output changes by more than rounding.
    state = {key: value * 8 for key, value in get_peft_model_state_dict(transformer).items()}
    StableDiffusion3Pipeline.save_lora_weights(out, transformer_lora_layers=state)
    return out


def test_persona_loras_switch_per_job_without_reloading(tiny_models_dir: Path, tmp_path: Path) -> None:
    engine = load_tiny_engine(tiny_models_dir)  # its own engine: adapters stay out of the shared one
    transformer = engine.pipeline.transformer
    base = pixels(engine.run(request()).images[0])
    engine.load_adapter("ava-v1", _lora_dir(tmp_path, 1))
    weights_file = _lora_dir(tmp_path, 2) / "pytorch_lora_weights.safetensors"
    engine.load_adapter("bo-v1", weights_file)  # a bare file, as the blob store keeps it
    assert engine.adapters == ["ava-v1", "bo-v1"]
    assert same_image(pixels(engine.run(request()).images[0]), base), "loading must not switch adapters on"

    ava = pixels(engine.run(request(adapter="ava-v1")).images[0])
    bo = pixels(engine.run(request(adapter="bo-v1")).images[0])
    plain = pixels(engine.run(request()).images[0])
    ava_again = pixels(engine.run(request(adapter="ava-v1")).images[0])

    assert np.abs(ava - base).max() > 5 and np.abs(bo - base).max() > 5 and np.abs(ava - bo).max() > 5
    assert same_image(plain, base)
    assert same_image(ava_again, ava)
    assert engine.pipeline.transformer is transformer  # the base model was never reloaded
    engine.unload()


def test_identity_gate_regenerates_rejected_outputs(engine: ImageEngine) -> None:
    first = list(engine.run(request(seeds=(1, 2))).images)
    verdicts = iter([(0.2, False), (0.3, False), (0.9, True), (0.8, True)])  # slot 0 fails twice
    regenerated: list[tuple[int, int]] = []

    def regenerate(slot: int, attempt: int) -> GeneratedImage:
        regenerated.append((slot, attempt))
        return engine.run(request(seeds=(100 + attempt,))).images[0]

    gated = identity_gate(first, score=lambda image: next(verdicts), regenerate=regenerate, retries=2)

    assert regenerated == [(0, 2), (0, 3)]
    assert [(g.passed, g.score, g.attempts) for g in gated] == [(True, 0.9, 3), (True, 0.8, 1)]
    assert gated[0].image.seed == 103 and gated[1].image.seed == 2


def test_identity_gate_keeps_the_best_attempt_when_all_fail(engine: ImageEngine) -> None:
    first = list(engine.run(request(seeds=(1,))).images)
    verdicts = iter([(0.2, False), (0.35, False), (0.1, False)])  # weak likenesses, the second the closest

    gated = identity_gate(first, score=lambda image: next(verdicts),
                          regenerate=lambda slot, attempt: engine.run(request(seeds=(attempt,))).images[0],
                          retries=2)

    assert len(gated) == 1
    assert (gated[0].passed, gated[0].score, gated[0].attempts) == (False, 0.35, 3)
    assert gated[0].image.seed == 2


def test_a_picture_without_a_face_is_delivered_once_not_regenerated(engine: ImageEngine) -> None:
    first = list(engine.run(request(seeds=(1,))).images)
    tried: list[int] = []

    def regenerate(slot: int, attempt: int) -> GeneratedImage:
        tried.append(attempt)
        return first[0]

    [gated] = identity_gate(first, score=lambda image: (None, False), regenerate=regenerate, retries=2,
                            refine=lambda image: None)
    assert tried == [] and gated.no_face and gated.attempts == 1 and gated.image is first[0]


def test_refinement_comes_before_a_new_seed_and_is_kept_only_when_it_helps(engine: ImageEngine) -> None:
    first = list(engine.run(request(seeds=(1, 2))).images)
    refined_of = {seed: GeneratedImage(image=Image.new("RGB", (8, 8), (seed, 0, 0)), seed=seed, width=8, height=8)
                  for seed in (1, 2)}
    # slot 0: 0.3 raw, 0.8 refined (passes); slot 1: 0.3 raw, 0.1 refined (worse: the raw one stays), then a
    # new seed that passes as it is.
    scores = {id(first[0].image): (0.3, False), id(refined_of[1].image): (0.8, True),
              id(first[1].image): (0.3, False), id(refined_of[2].image): (0.1, False)}
    fresh = engine.run(request(seeds=(9,))).images[0]
    scores[id(fresh.image)] = (0.9, True)

    def refine(image: GeneratedImage) -> Refined | None:
        if image.seed == 9:
            raise AssertionError("an output that passes is never refined")
        return Refined(image=refined_of[image.seed], reference="ava-front.jpg")

    gated = identity_gate(first, score=lambda image: scores[id(image)], retries=2, refine=refine,
                          regenerate=lambda slot, attempt: fresh)
    assert (gated[0].refined, gated[0].reference, gated[0].score, gated[0].attempts) == (
        True, "ava-front.jpg", 0.8, 1)
    assert (gated[1].refined, gated[1].score, gated[1].attempts, gated[1].image.seed) == (False, 0.9, 2, 9)
