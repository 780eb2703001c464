"""A stand-in text-to-image pipeline for tests: "generates" photos of real people (other than any persona).

It is a real diffusers ``DiffusionPipeline`` loaded from a model folder by the store, so the worker's image
path runs unchanged; only the pixels are photos instead of a model's output. The seed picks the person, the
requested size is honoured, and the prompt can ask for no face ("no people") or for a bystander beside the
subject ("with a friend"). Progress is reported per step like a real pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from diffusers import DiffusionPipeline
from diffusers.pipelines.pipeline_utils import ImagePipelineOutput
from PIL import Image


class _Words:
    """What the engine counts prompt tokens with: one token a word."""

    model_max_length = 77

    def __call__(self, text: str, **_: Any) -> dict[str, list[int]]:
        return {"input_ids": list(range(len(text.split())))}


class FacePhotoPipeline(DiffusionPipeline):  # type: ignore[misc]
    """Photos from ``<model folder>/photos``: ``person-*.png`` (one face each) and ``empty.png`` (none)."""

    vae_scale_factor = 8
    patch_size = 2
    default_sample_size = 64  # a 512 px native side, multiples of 16: like a small SD3
    tokenizer_max_length = 77

    def __init__(self) -> None:
        super().__init__()
        self.tokenizer = _Words()

    def _photos(self) -> tuple[list[Image.Image], Image.Image]:
        folder = Path(self.config._name_or_path) / "photos"
        people = [Image.open(p).convert("RGB") for p in sorted(folder.glob("person-*.png"))]
        return people, Image.open(folder / "empty.png").convert("RGB")

    def __call__(self, prompt: str, height: int, width: int, num_inference_steps: int = 4,
                 num_images_per_prompt: int = 1, generator: Any = None, callback_on_step_end: Any = None,
                 **_: Any) -> ImagePipelineOutput:
        people, empty = self._photos()
        generators = generator if isinstance(generator, list) else [generator] * num_images_per_prompt
        for step in range(num_inference_steps):
            if callback_on_step_end is not None:
                callback_on_step_end(self, step, step, {})
        images = []
        for index in range(num_images_per_prompt):
            seed = generators[index].initial_seed() if generators[index] is not None else index
            lowered = prompt.lower()
            if "no people" in lowered or "empty" in lowered:
                images.append(_fill(empty, width, height))
                continue
            subject = people[seed % len(people)]
            picture = _fill(subject, width, height)
            if "friend" in lowered:
                # A smaller second person in a corner: the main subject is the largest face.
                other = people[(seed + 1) % len(people)]
                side = max(64, min(width, height) // 3)
                picture.paste(other.resize((side, side), Image.Resampling.BICUBIC), (width - side, height - side))
            images.append(picture)
        return ImagePipelineOutput(images=images)


def _fill(photo: Image.Image, width: int, height: int) -> Image.Image:
    """``photo`` scaled to cover ``width``×``height`` and cropped around its centre."""
    scale = max(width / photo.width, height / photo.height)
    size = (max(width, round(photo.width * scale)), max(height, round(photo.height * scale)))
    resized = photo.resize(size, Image.Resampling.BICUBIC)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return resized.crop((left, top, left + width, top + height))
