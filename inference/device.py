"""Device and dtype choice, and the memory savers a pipeline needs to fit the memory that is free."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger(__name__)

GIB = 1 << 30


@dataclass(frozen=True)
class DevicePlan:
    """Where and how a pipeline runs: device, dtype and the memory savers it needs there."""

    device: str
    dtype: torch.dtype
    free_bytes: int | None = None
    cpu_offload: bool = False
    vae_tiling: bool = False
    drop_t5: bool = False
    compile: bool = False

    def describe(self) -> str:
        """One line for logs and benchmark output."""
        savers = [name for name, on in (("cpu-offload", self.cpu_offload), ("vae-tiling", self.vae_tiling),
                                        ("no-t5", self.drop_t5), ("compiled", self.compile)) if on]
        free = f", {self.free_bytes / GIB:.1f} GiB free" if self.free_bytes is not None else ""
        dtype = str(self.dtype).removeprefix("torch.")
        return f"{self.device} {dtype}{free}" + (f" ({', '.join(savers)})" if savers else "")


def pick_device(prefer: str | None = None) -> str:
    """``prefer`` when given, else ``cuda`` when present, then ``mps``, else ``cpu``."""
    if prefer:
        return prefer
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str) -> torch.dtype:
    """bf16 on CUDA cards that support it, fp16 on older CUDA cards and on MPS, fp32 on CPU."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if kind == "mps":
        return torch.float16
    # Half precision on CPU is slow or unsupported for many kernels; fp32 is the safe choice.
    return torch.float32


def free_memory(device: str) -> int | None:
    """Free bytes on ``device`` (CUDA: the driver's figure), or None where it cannot be known."""
    kind = torch.device(device).type
    if kind == "cuda":
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    if kind == "mps":
        recommended = getattr(torch.mps, "recommended_max_memory", None)
        return int(recommended()) if recommended is not None else None
    return None


def plan_memory(
    *, device: str, dtype: torch.dtype, free_bytes: int | None, full_gb: float, min_gb: float,
    large_image: bool = False, compile: bool = False,
) -> DevicePlan:
    """Memory savers for a model needing ``full_gb`` resident and ``min_gb`` at least, given free memory.

    Cheapest saver first: keep everything resident when it fits; otherwise offload idle components to the CPU
    (slower steps, same quality); below the minimum also drop the T5 encoder (long prompts lose detail) and
    decode in VAE tiles. On CPU nothing is offloaded: host memory is the only memory.
    """
    kind = torch.device(device).type
    if kind == "cpu" or free_bytes is None or full_gb <= 0:
        return DevicePlan(device=device, dtype=dtype, free_bytes=free_bytes, vae_tiling=large_image,
                          compile=compile)
    free_gb = free_bytes / GIB
    cpu_offload = free_gb < full_gb
    short = free_gb < max(min_gb, 1.0) * 1.25
    # torch.compile and accelerate's offload hooks fight over the module; compile only when resident.
    return DevicePlan(
        device=device,
        dtype=dtype,
        free_bytes=free_bytes,
        cpu_offload=cpu_offload,
        vae_tiling=large_image or short,
        drop_t5=short,
        compile=compile and not cpu_offload,
    )


def plan_for(*, full_gb: float, min_gb: float, prefer: str | None = None, compile: bool = False,
             free_bytes: int | None = None) -> DevicePlan:
    """The plan for this machine: device and dtype picked, free memory measured unless given."""
    device = pick_device(prefer)
    dtype = pick_dtype(device)
    if free_bytes is None:
        free_bytes = free_memory(device)
    plan = plan_memory(device=device, dtype=dtype, free_bytes=free_bytes, full_gb=full_gb, min_gb=min_gb,
                       compile=compile)
    log.info("device plan: %s", plan.describe())
    return plan


def apply_plan(pipeline: Any, plan: DevicePlan) -> Any:
    """Move ``pipeline`` onto the plan's device with its memory savers on; returns the pipeline."""
    if plan.cpu_offload:
        # Offload hooks move each component to the GPU only while it runs.
        pipeline.enable_model_cpu_offload(device=plan.device)
    else:
        pipeline.to(plan.device)
    if plan.vae_tiling and hasattr(pipeline, "vae") and hasattr(pipeline.vae, "enable_tiling"):
        pipeline.vae.enable_tiling()
    if plan.compile:
        denoiser = getattr(pipeline, "transformer", None) or getattr(pipeline, "unet", None)
        if denoiser is not None:
            denoiser.compile(fullgraph=False, dynamic=False)
    return pipeline


def peak_memory_bytes(device: str) -> int | None:
    """Peak allocated memory on a CUDA device since the last reset, or None elsewhere."""
    if torch.device(device).type == "cuda":
        return int(torch.cuda.max_memory_allocated(torch.device(device)))
    return None


def reset_peak_memory(device: str) -> None:
    """Start a new peak-memory measurement (CUDA only)."""
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(torch.device(device))


def empty_cache(device: str) -> None:
    """Give cached allocator memory back to the driver (after an engine is unloaded)."""
    kind = torch.device(device).type
    if kind == "cuda":
        torch.cuda.empty_cache()
    elif kind == "mps":
        torch.mps.empty_cache()
