"""Text-to-image: SD3 (or the CPU profile's small model) through diffusers, persona LoRAs as named adapters."""

from __future__ import annotations

import gc
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from core.errors import NotAvailable
from inference.device import DevicePlan, apply_plan, empty_cache
from inference.engines.base import Progress, no_progress
from inference.engines.image.sizes import size_for_aspect
from inference.models.store import ResolvedModel

log = logging.getLogger(__name__)

MAX_IMAGES = 4
MAX_SEED = 2**32 - 1
MAX_GUIDANCE = 20.0
MAX_ADAPTERS = 8  # persona LoRAs kept loaded per engine; the least recently used is dropped beyond this


def check_count(n: int) -> int:
    """``n`` if it is a valid number of images per job; ``ValueError`` naming ``--n`` otherwise."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
        raise ValueError(f"--n must be between 1 and {MAX_IMAGES}, got {n!r}")
    return n


def check_steps(steps: int, *, max_steps: int) -> int:
    """``steps`` if the model accepts that many denoising steps; ``ValueError`` naming ``--steps`` otherwise."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= max_steps:
        raise ValueError(f"--steps must be between 1 and {max_steps} for this model, got {steps!r}")
    return steps


def check_seed(seed: int) -> int:
    """``seed`` if it fits a generator seed; ``ValueError`` naming ``--seed`` otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"--seed must be a whole number between 0 and {MAX_SEED}, got {seed!r}")
    return seed


@dataclass(frozen=True)
class ImageRequest:
    """One generation call: ``len(seeds)`` images of one prompt."""

    prompt: str  # what the CLIP encoders read (prompt and prompt_2); at most 77 tokens
    negative: str
    aspect_ratio: str
    seeds: tuple[int, ...]
    steps: int
    guidance: float
    prompt_3: str | None = None  # what T5 reads: the whole prompt (SD3 only)
    adapter: str | None = None
    adapter_scale: float = 1.0

    @property
    def n(self) -> int:
        return len(self.seeds)


@dataclass(frozen=True)
class GeneratedImage:
    """One output image and the seed that reproduces it."""

    image: Image.Image
    seed: int
    width: int
    height: int


@dataclass(frozen=True)
class ImageResult:
    """What ``ImageEngine.run`` returns."""

    images: tuple[GeneratedImage, ...]
    width: int
    height: int
    steps: int
    guidance: float
    model: str
    adapter: str | None
    seconds: float


class ImageEngine:
    """A loaded text-to-image pipeline kept warm in the worker's engine cache."""

    name = "image"

    def __init__(self, pipeline: Any, *, model: ResolvedModel, plan: DevicePlan) -> None:
        self.pipeline = pipeline
        self.model = model
        self.plan = plan
        self._adapters: OrderedDict[str, None] = OrderedDict()
        self._active: str | None = None
        vae_scale = int(getattr(pipeline, "vae_scale_factor", 8))
        patch = int(getattr(pipeline, "patch_size", 1) or 1)
        sample = getattr(pipeline, "default_sample_size", None)
        if sample is None:
            denoiser = getattr(pipeline, "unet", None) or pipeline.transformer
            sample = int(denoiser.config.sample_size)
        # The model's native side (1024 for SD3 Medium) and the multiple its latents need (16 for SD3).
        self.base_side = int(sample) * vae_scale
        self.multiple = vae_scale * patch

    @classmethod
    def load(cls, model: ResolvedModel, plan: DevicePlan) -> ImageEngine:
        """The engine for ``model`` loaded from the store with ``from_pretrained`` and placed per ``plan``."""
        import diffusers

        spec = model.spec
        kwargs: dict[str, Any] = {"dtype": plan.dtype}
        pipeline_class: Any
        if spec.variant:
            kwargs["variant"] = spec.variant
        if spec.is_sd3:
            if plan.drop_t5:
                # Without T5 SD3 Medium fits in about half the memory; prompts past 77 tokens lose detail.
                kwargs.update(text_encoder_3=None, tokenizer_3=None)
            pipeline_class = diffusers.StableDiffusion3Pipeline
        elif spec.pipeline == "custom":
            # The model's folder carries its pipeline code (pipeline.py), as community pipelines do. The registry
            # allows that only for models the operator installed themselves, so no downloaded code runs.
            pipeline_class = diffusers.DiffusionPipeline
            kwargs.update(custom_pipeline=str(model.path), trust_remote_code=True)
        else:
            pipeline_class = getattr(diffusers, spec.pipeline or "AutoPipelineForText2Image")
        pipeline = pipeline_class.from_pretrained(str(model.path), **kwargs)
        pipeline.set_progress_bar_config(disable=True)
        apply_plan(pipeline, plan)
        log.info("image engine %s loaded on %s", model.key, plan.describe())
        return cls(pipeline, model=model, plan=plan)

    # -- inputs ---------------------------------------------------------------------------------------

    def size_for(self, aspect_ratio: str) -> tuple[int, int]:
        """Output ``(width, height)`` for an aspect ratio at this model's native size."""
        return size_for_aspect(aspect_ratio, base_side=self.base_side, multiple=self.multiple)

    def count_clip_tokens(self, text: str) -> int:
        """CLIP tokens ``text`` takes without start and end, counted by the pipeline's own tokenizer."""
        tokenizer = self.pipeline.tokenizer
        return len(tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    @property
    def clip_limit(self) -> int:
        """How many prompt tokens CLIP reads (77 minus start and end)."""
        return int(getattr(self.pipeline, "tokenizer_max_length", 77)) - 2

    def check_inputs(self, request: ImageRequest) -> None:
        """Raise ``ValueError`` naming the bad argument (``--n``, ``--steps``, ``--seed``, ``--ar`` ...)."""
        if not request.prompt.strip():
            raise ValueError("prompt is empty; describe the image you want")
        check_count(request.n)
        for seed in request.seeds:
            check_seed(seed)
        check_steps(request.steps, max_steps=self.model.spec.max_steps)
        if not 0.0 <= request.guidance <= MAX_GUIDANCE:
            raise ValueError(f"guidance must be between 0 and {MAX_GUIDANCE:g}, got {request.guidance!r}")
        self.size_for(request.aspect_ratio)
        if request.adapter is not None and request.adapter not in self._adapters:
            raise ValueError(f"adapter {request.adapter!r} is not loaded; load_adapter() it first")
        if not 0.0 <= request.adapter_scale <= 2.0:
            raise ValueError(f"adapter_scale must be between 0 and 2, got {request.adapter_scale!r}")

    # -- persona LoRAs --------------------------------------------------------------------------------

    @property
    def adapters(self) -> list[str]:
        """Names of the LoRA adapters loaded now, least recently used first."""
        return list(self._adapters)

    def load_adapter(self, name: str, weights: Path | Mapping[str, torch.Tensor]) -> None:
        """Load LoRA ``weights`` (a directory, a safetensors file or a state dict) as adapter ``name``.

        The base model stays loaded: adapters are added beside it and switched per job.
        """
        if not self.model.spec.supports_lora:
            raise NotAvailable(f"{self.model.name} does not take persona LoRAs; use the full or tiny profile")
        if name in self._adapters:
            self._adapters.move_to_end(name)
            return
        source: Any = weights
        if isinstance(weights, Path) and weights.is_file():
            from safetensors.torch import load_file

            # Blob files have no extension, so diffusers could not tell safetensors from a pickle by name.
            source = load_file(str(weights))
        elif isinstance(weights, Path):
            source = str(weights)
        elif isinstance(weights, Mapping):
            source = dict(weights)
        self.pipeline.load_lora_weights(source, adapter_name=name)
        self._adapters[name] = None
        while len(self._adapters) > MAX_ADAPTERS:
            oldest, _ = self._adapters.popitem(last=False)
            self.pipeline.delete_adapters([oldest])
            if self._active == oldest:
                self._active = None
        # Loading activates the new adapter; jobs choose explicitly in use_adapter.
        self._active = None
        self.use_adapter(None)

    def use_adapter(self, name: str | None, scale: float = 1.0) -> None:
        """Switch the pipeline to adapter ``name`` at ``scale``, or to the plain base model with None."""
        if name is None:
            if self._adapters:
                self.pipeline.disable_lora()
            self._active = None
            return
        if name not in self._adapters:
            raise ValueError(f"adapter {name!r} is not loaded")
        self.pipeline.enable_lora()
        self.pipeline.set_adapters([name], adapter_weights=[scale])
        self._adapters.move_to_end(name)
        self._active = name

    # -- running --------------------------------------------------------------------------------------

    def run(self, request: ImageRequest, progress: Progress = no_progress) -> ImageResult:
        """Generate ``request.n`` images; ``progress`` hears every denoising step (and may cancel the job)."""
        self.check_inputs(request)
        self.use_adapter(request.adapter, request.adapter_scale)
        width, height = self.size_for(request.aspect_ratio)
        steps = request.steps

        def on_step_end(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
            progress((step + 1) / steps, f"denoising {step + 1}/{steps}")
            return callback_kwargs

        # One CPU generator per image: image i is reproducible from its own seed, alone or in a batch.
        generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in request.seeds]
        kwargs: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative or None,
            "height": height,
            "width": width,
            "num_inference_steps": steps,
            "guidance_scale": request.guidance,
            "num_images_per_prompt": request.n,
            "generator": generators,
            "callback_on_step_end": on_step_end,
        }
        if self.model.spec.is_sd3:
            kwargs["prompt_3"] = request.prompt_3 or request.prompt
            if getattr(self.pipeline, "text_encoder_3", None) is not None:
                kwargs["max_sequence_length"] = 256
        started = time.perf_counter()
        progress(0.0, "denoising")
        output = self.pipeline(**kwargs)
        seconds = time.perf_counter() - started
        images = tuple(
            GeneratedImage(image=image, seed=seed, width=image.width, height=image.height)
            for image, seed in zip(output.images, request.seeds, strict=True)
        )
        return ImageResult(images=images, width=width, height=height, steps=steps, guidance=request.guidance,
                           model=self.model.key, adapter=request.adapter, seconds=seconds)

    # -- cache contract -------------------------------------------------------------------------------

    def memory_bytes(self) -> int:
        """Bytes held by the pipeline's weights (what the engine cache budgets)."""
        total = 0
        for component in self.pipeline.components.values():
            if isinstance(component, torch.nn.Module):
                total += sum(p.numel() * p.element_size() for p in component.parameters())
        return total

    def unload(self) -> None:
        """Drop the pipeline and give its memory back."""
        self._adapters.clear()
        self.pipeline = None
        gc.collect()
        empty_cache(self.plan.device)
