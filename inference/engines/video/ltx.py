"""AI motion: image-to-video through diffusers' ``LTXImageToVideoPipeline`` (LTX-Video, or the tiny one in tests).

The still conditions the first frame; the model invents the motion that follows, steered by a prompt. Sizes
follow the model's rules: width and height multiples of 32, frame counts of the form 8k + 1 (the VAE packs
8 frames into one latent after the first), at most 257 frames.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from inference.device import DevicePlan, apply_plan, empty_cache
from inference.engines.base import Progress, no_progress, scaled
from inference.engines.video.contract import AI, VideoRequest, VideoResult, check_fps, check_motion, check_seconds
from inference.media import VideoWriter
from inference.models.store import ResolvedModel

log = logging.getLogger(__name__)

SIDE_MULTIPLE = 32
FRAME_STEP = 8
MAX_FRAMES = 257
MAX_SEED = 2**32 - 1
MAX_GUIDANCE = 20.0
DEFAULT_NATIVE_SIDE = 768  # LTX-Video's training resolution is 768x512
DENOISE_SHARE = 0.9  # of the engine's progress for denoising (decoding follows the last step); the rest is encoding
NEUTRAL_PROMPT = ("the subject moves naturally with subtle, lifelike motion, gentle camera movement, "
                  "consistent lighting, high quality, detailed")
NEGATIVE_PROMPT = "worst quality, inconsistent motion, blurry, jittery, distorted, deformed, watermark, text"


def _floor_to(value: float, multiple: int) -> int:
    return max(multiple, int(value) // multiple * multiple)


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


class LtxVideoEngine:
    """A loaded LTX image-to-video pipeline kept warm in the worker's engine cache."""

    name = "ltx"

    def __init__(self, pipeline: Any, *, model: ResolvedModel, plan: DevicePlan) -> None:
        self.pipeline = pipeline
        self.model = model
        self.plan = plan

    @classmethod
    def load(cls, model: ResolvedModel, plan: DevicePlan) -> LtxVideoEngine:
        """The engine for ``model`` loaded from the store with ``from_pretrained`` and placed per ``plan``."""
        from diffusers import LTXImageToVideoPipeline

        pipeline = LTXImageToVideoPipeline.from_pretrained(str(model.path), dtype=plan.dtype)
        pipeline.set_progress_bar_config(disable=True)
        # T5 is LTX's only text encoder: it cannot be dropped to save memory, so offload has to do.
        plan = replace(plan, drop_t5=False)
        apply_plan(pipeline, plan)
        log.info("video engine %s loaded on %s", model.key, plan.describe())
        return cls(pipeline, model=model, plan=plan)

    # -- sizes ----------------------------------------------------------------------------------------

    @property
    def native_side(self) -> int:
        """The longest side the model was trained for."""
        return self.model.spec.native_side or DEFAULT_NATIVE_SIDE

    def size_for(self, width: int, height: int, max_side: int) -> tuple[int, int]:
        """Output (width, height) for a source of ``width`` x ``height``: its aspect ratio, multiples of 32,
        longest side at most the model's native side and ``max_side``."""
        if width < 1 or height < 1:
            raise ValueError(f"image is too small to animate ({width}x{height})")
        if max_side < SIDE_MULTIPLE:
            raise ValueError(f"max_side must be at least {SIDE_MULTIPLE}, got {max_side}")
        long_side = _floor_to(min(self.native_side, max_side), SIDE_MULTIPLE)
        short_side = min(long_side, _round_to(long_side * min(width, height) / max(width, height), SIDE_MULTIPLE))
        return (long_side, short_side) if width >= height else (short_side, long_side)

    @staticmethod
    def frames_for(seconds: float, fps: int) -> int:
        """The 8k + 1 frame count closest to ``seconds`` at ``fps`` (9 to 257)."""
        steps = round((seconds * fps - 1) / FRAME_STEP)
        return min(MAX_FRAMES, max(FRAME_STEP + 1, FRAME_STEP * steps + 1))

    # -- inputs ---------------------------------------------------------------------------------------

    def check_inputs(self, request: VideoRequest) -> None:
        """Raise ``ValueError`` naming the bad argument (``--motion``, ``--seconds``, steps, seed ...)."""
        check_motion(request.motion, (AI,))
        check_seconds(request.seconds)
        check_fps(request.fps)
        self.size_for(request.image.width, request.image.height, request.max_side)
        spec = self.model.spec
        steps = request.steps
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)
                                  or not 1 <= steps <= spec.max_steps):
            raise ValueError(f"steps must be between 1 and {spec.max_steps} for {spec.name}, got {steps!r}")
        seed = request.seed
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be a whole number between 0 and {MAX_SEED}, got {seed!r}")
        guidance = request.guidance
        if guidance is not None and not (math.isfinite(guidance) and 0.0 <= guidance <= MAX_GUIDANCE):
            raise ValueError(f"guidance must be between 0 and {MAX_GUIDANCE:g}, got {guidance!r}")

    # -- running --------------------------------------------------------------------------------------

    def run(self, request: VideoRequest, progress: Progress = no_progress) -> VideoResult:
        """Generate and encode the clip; ``progress`` hears every denoising step (and may cancel the job)."""
        self.check_inputs(request)
        spec = self.model.spec
        width, height = self.size_for(request.image.width, request.image.height, request.max_side)
        frames = self.frames_for(request.seconds, request.fps)
        steps = request.steps or spec.default_steps
        guidance = spec.default_guidance if request.guidance is None else request.guidance
        denoise = scaled(progress, 0.0, DENOISE_SHARE)

        def on_step_end(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
            denoise((step + 1) / steps, f"denoising {step + 1}/{steps}")
            return callback_kwargs

        started = time.perf_counter()
        denoise(0.0, "denoising")
        output = self.pipeline(
            image=_fit(request.image, (width, height)),
            prompt=request.prompt or NEUTRAL_PROMPT,
            negative_prompt=request.negative or NEGATIVE_PROMPT,
            width=width,
            height=height,
            num_frames=frames,
            frame_rate=request.fps,
            num_inference_steps=steps,
            guidance_scale=guidance,
            # A CPU generator: the same seed gives the same clip on any device.
            generator=torch.Generator(device="cpu").manual_seed(request.seed),
            output_type="np",
            callback_on_step_end=on_step_end,
        )
        video = output.frames[0]  # (frames, height, width, 3) floats in [0, 1]
        render_s = time.perf_counter() - started
        encode = scaled(progress, DENOISE_SHARE, 1.0)
        encode(0.0, "encoding")
        every = max(1, len(video) // 10)
        last: np.ndarray | None = None
        started = time.perf_counter()
        with VideoWriter(request.output, size=(width, height), fps=request.fps, mark=request.mark) as writer:
            for index, frame in enumerate(video):
                last = to_uint8(frame)
                writer.write(last)
                if (index + 1) % every == 0:
                    encode((index + 1) / len(video), "encoding")
        encode_s = time.perf_counter() - started
        assert last is not None
        return VideoResult(path=request.output, width=width, height=height, fps=request.fps, frames=len(video),
                           motion=AI, engine=self.name, last_frame=last, render_s=render_s, encode_s=encode_s,
                           model=self.model.key, seed=request.seed, steps=steps, guidance=guidance)

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
        self.pipeline = None
        gc.collect()
        empty_cache(self.plan.device)


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """A decoded frame (floats in [0, 1]) as contiguous ``uint8`` RGB, rounded rather than truncated."""
    return np.ascontiguousarray(np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8))


def _fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` scaled to cover ``size`` and centre-cropped to it: the pipeline would otherwise stretch it."""
    return ImageOps.fit(image.convert("RGB"), size, method=Image.Resampling.LANCZOS)
