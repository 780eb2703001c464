"""DreamBooth-style LoRA training on the SD3 transformer with peft, following diffusers' SD3 example.

Defaults from ``train_dreambooth_lora_sd3.py``: rank 4, ``lora_alpha = rank``, gaussian init, LoRA on the
joint attention's image and context projections, flow-matching loss with logit-normal timestep sampling.
Text encoders and VAE stay frozen; the instance prompt is encoded once and the images' latents are cached.

The trainer borrows a loaded pipeline (the image engine's warm one) instead of loading a second copy: it
adds its own adapter, trains it, hands back the weights and removes the adapter again.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageOps

from core.limits import LORA_MAX_LEARNING_RATE as MAX_LEARNING_RATE
from core.limits import LORA_MAX_RANK as MAX_RANK
from core.limits import LORA_MAX_STEPS as MAX_STEPS
from inference.engines.base import Progress, no_progress

log = logging.getLogger(__name__)

TARGET_MODULES = (
    "attn.add_k_proj",
    "attn.add_q_proj",
    "attn.add_v_proj",
    "attn.to_add_out",
    "attn.to_k",
    "attn.to_out.0",
    "attn.to_q",
    "attn.to_v",
)
MAX_IMAGES = 50
EVAL_SIGMAS = (0.25, 0.5, 0.75)  # fixed noise levels of the held-still evaluation loss


@dataclass(frozen=True)
class LoraTrainingRequest:
    """One training run: the persona's photos (already cropped), the prompt with its trigger token, knobs."""

    images: tuple[Image.Image, ...]
    instance_prompt: str
    rank: int = 4
    steps: int = 500
    learning_rate: float = 1e-4
    resolution: int = 512
    seed: int = 0
    adapter_name: str = "studio_training"


@dataclass(frozen=True)
class LoraTrainingResult:
    """The trained LoRA (peft state dict of the transformer) and how training went."""

    state_dict: dict[str, torch.Tensor]
    losses: tuple[float, ...]
    eval_loss_before: float
    eval_loss_after: float
    steps: int
    rank: int
    seconds: float

    def save(self, directory: Path) -> Path:
        """Write the weights with ``StableDiffusion3Pipeline.save_lora_weights``; returns the file."""
        from diffusers import StableDiffusion3Pipeline

        directory.mkdir(parents=True, exist_ok=True)
        StableDiffusion3Pipeline.save_lora_weights(directory, transformer_lora_layers=self.state_dict)
        return directory / "pytorch_lora_weights.safetensors"


def _image_tensor(image: Image.Image, resolution: int) -> torch.Tensor:
    # Centre crop to a square and scale: SD3 DreamBooth trains on square crops.
    square = ImageOps.fit(image.convert("RGB"), (resolution, resolution), method=Image.Resampling.BICUBIC)
    data = torch.frombuffer(bytearray(square.tobytes()), dtype=torch.uint8)
    tensor = data.reshape(resolution, resolution, 3).permute(2, 0, 1).float() / 127.5 - 1.0
    return tensor


class LoraTrainer:
    """Trains a persona LoRA on a borrowed SD3 pipeline."""

    name = "lora"

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    def check_inputs(self, request: LoraTrainingRequest) -> None:
        """Raise ``ValueError`` naming the bad argument (steps, rank, learning_rate, images, resolution)."""
        if not request.images:
            raise ValueError("images: the persona has no reference photos to train on")
        if len(request.images) > MAX_IMAGES:
            raise ValueError(f"images: at most {MAX_IMAGES} photos, got {len(request.images)}")
        if isinstance(request.steps, bool) or not 1 <= request.steps <= MAX_STEPS:
            raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {request.steps!r}")
        if isinstance(request.rank, bool) or not 1 <= request.rank <= MAX_RANK:
            raise ValueError(f"rank must be between 1 and {MAX_RANK}, got {request.rank!r}")
        if not 0 < request.learning_rate <= MAX_LEARNING_RATE:
            raise ValueError(f"learning_rate must be above 0 and at most {MAX_LEARNING_RATE:g}, "
                             f"got {request.learning_rate!r}")
        multiple = int(self.pipeline.vae_scale_factor) * int(getattr(self.pipeline, "patch_size", 1) or 1)
        if request.resolution < multiple or request.resolution % multiple:
            raise ValueError(f"resolution must be a multiple of {multiple}, got {request.resolution}")
        if not request.instance_prompt.strip():
            raise ValueError("instance_prompt is empty")

    def run(self, request: LoraTrainingRequest, progress: Progress = no_progress) -> LoraTrainingResult:
        """Train and return the LoRA weights; ``progress`` hears every step (and may cancel the job)."""
        from diffusers import FlowMatchEulerDiscreteScheduler
        from diffusers.training_utils import (
            cast_training_params,
            compute_density_for_timestep_sampling,
            compute_loss_weighting_for_sd3,
        )
        from peft import LoraConfig
        from peft.utils import get_peft_model_state_dict

        self.check_inputs(request)
        started = time.perf_counter()
        pipe = self.pipeline
        transformer = pipe.transformer
        device = pipe._execution_device
        weight_dtype = transformer.dtype
        generator = torch.Generator(device="cpu").manual_seed(request.seed)

        progress(0.0, "preparing photos")
        latents, prompt_embeds, pooled = self._encode(request, device, generator)
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config)
        train_timesteps = int(scheduler.config.num_train_timesteps)
        all_timesteps = scheduler.timesteps.to(device)
        all_sigmas = scheduler.sigmas.to(device)

        transformer.requires_grad_(False)
        config = LoraConfig(r=request.rank, lora_alpha=request.rank, init_lora_weights="gaussian",
                            target_modules=list(TARGET_MODULES))
        transformer.add_adapter(config, adapter_name=request.adapter_name)
        transformer.set_adapter(request.adapter_name)
        try:
            if weight_dtype != torch.float32:
                # LoRA parameters train in fp32 on top of half-precision base weights, as the example does.
                cast_training_params(transformer, dtype=torch.float32)
            params = [p for p in transformer.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(params, lr=request.learning_rate, betas=(0.9, 0.999),
                                          weight_decay=1e-4, eps=1e-8)
            use_checkpointing = torch.device(device).type == "cuda"
            if use_checkpointing:
                transformer.enable_gradient_checkpointing()
            eval_noise = torch.randn(latents.shape, generator=generator).to(device, latents.dtype)
            eval_before = self._eval_loss(latents, eval_noise, prompt_embeds, pooled)
            losses: list[float] = []
            transformer.train()
            for step in range(request.steps):
                index = torch.randint(len(latents), (1,), generator=generator)
                model_input = latents[index]
                noise = torch.randn(model_input.shape, generator=generator).to(device, model_input.dtype)
                u = compute_density_for_timestep_sampling(
                    weighting_scheme="logit_normal", batch_size=1, logit_mean=0.0, logit_std=1.0,
                    generator=generator,
                )
                indices = (u * train_timesteps).long().clamp(max=train_timesteps - 1).to(device)
                timesteps = all_timesteps[indices]
                sigmas = all_sigmas[indices].to(model_input.dtype).view(-1, 1, 1, 1)
                noisy = (1.0 - sigmas) * model_input + sigmas * noise
                with self._autocast(device, weight_dtype):
                    pred = transformer(hidden_states=noisy.to(weight_dtype), timestep=timesteps,
                                       encoder_hidden_states=prompt_embeds, pooled_projections=pooled,
                                       return_dict=False)[0]
                # Flow matching: the transformer predicts the velocity from data to noise.
                target = noise - model_input
                weighting = compute_loss_weighting_for_sd3(weighting_scheme="logit_normal", sigmas=sigmas)
                loss = (weighting.float() * (pred.float() - target.float()) ** 2).reshape(1, -1).mean()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise RuntimeError(f"training diverged at step {step + 1} (loss {value}); "
                                       "lower learning_rate")
                losses.append(value)
                progress((step + 1) / request.steps, f"training step {step + 1}/{request.steps}")
            transformer.eval()
            if use_checkpointing:
                transformer.disable_gradient_checkpointing()
            eval_after = self._eval_loss(latents, eval_noise, prompt_embeds, pooled)
            state = get_peft_model_state_dict(transformer, adapter_name=request.adapter_name)
            weights = {key: value.detach().to("cpu", torch.float32).contiguous() for key, value in state.items()}
        finally:
            # The pipeline goes back to its owner as it was lent: no training adapter, no gradients.
            transformer.delete_adapters(request.adapter_name)
            transformer.requires_grad_(False)
            transformer.eval()
        seconds = time.perf_counter() - started
        log.info("LoRA trained: %d steps in %.1f s, eval loss %.4f → %.4f", request.steps, seconds,
                 eval_before, eval_after)
        return LoraTrainingResult(state_dict=weights, losses=tuple(losses), eval_loss_before=eval_before,
                                  eval_loss_after=eval_after, steps=request.steps, rank=request.rank,
                                  seconds=seconds)

    @staticmethod
    def _autocast(device: Any, dtype: torch.dtype) -> Any:
        kind = torch.device(device).type
        if kind == "cuda" and dtype in (torch.float16, torch.bfloat16):
            return torch.autocast(device_type="cuda", dtype=dtype)
        return torch.autocast(device_type="cpu", enabled=False)

    @torch.no_grad()
    def _encode(self, request: LoraTrainingRequest, device: Any,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pipe = self.pipeline
        vae = pipe.vae
        pixels = torch.stack([_image_tensor(img, request.resolution) for img in request.images])
        # Mirrored copies double a small photo set; faces are close enough to symmetric for identity.
        pixels = torch.cat([pixels, pixels.flip(-1)])
        latents = []
        for batch in pixels.split(4):
            dist = vae.encode(batch.to(vae.device, vae.dtype)).latent_dist
            sample = dist.mean + dist.std * torch.randn(dist.mean.shape, generator=generator).to(
                dist.mean.device, dist.mean.dtype)
            latents.append((sample - vae.config.shift_factor) * vae.config.scaling_factor)
        prompt_embeds, _, pooled, _ = pipe.encode_prompt(
            prompt=request.instance_prompt, prompt_2=None, prompt_3=None, device=device,
            num_images_per_prompt=1, do_classifier_free_guidance=False,
        )
        dtype = pipe.transformer.dtype
        return torch.cat(latents).to(device, torch.float32), prompt_embeds.to(dtype), pooled.to(dtype)

    @torch.no_grad()
    def _eval_loss(self, latents: torch.Tensor, noise: torch.Tensor, prompt_embeds: torch.Tensor,
                   pooled: torch.Tensor) -> float:
        """Loss on fixed noise at fixed noise levels: comparable before and after training."""
        transformer = self.pipeline.transformer
        was_training = transformer.training
        transformer.eval()
        total = 0.0
        embeds = prompt_embeds.expand(len(latents), -1, -1)
        pooled_all = pooled.expand(len(latents), -1)
        for sigma in EVAL_SIGMAS:
            sigmas = torch.full((len(latents), 1, 1, 1), sigma, device=latents.device)
            noisy = (1.0 - sigmas) * latents + sigmas * noise
            timestep = torch.full((len(latents),), sigma * 1000.0, device=latents.device)
            with self._autocast(latents.device, transformer.dtype):
                pred = transformer(hidden_states=noisy.to(transformer.dtype), timestep=timestep,
                                   encoder_hidden_states=embeds, pooled_projections=pooled_all,
                                   return_dict=False)[0]
            total += float(((pred.float() - (noise - latents)) ** 2).mean())
        transformer.train(was_training)
        return total / len(EVAL_SIGMAS)

    def memory_bytes(self) -> int:
        """Nothing of its own: the pipeline belongs to the image engine."""
        return 0

    def unload(self) -> None:
        """Nothing to release (the pipeline is borrowed)."""
        self.pipeline = None
