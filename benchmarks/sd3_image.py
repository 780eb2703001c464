"""SD3 image benchmark: seconds per image (eager and compiled), peak memory, job overhead over a bare call.

On CUDA it builds SD3 Medium from its published full-size configuration with random weights (same time and
memory per step as the real weights; no download) and times 1024x1024, 28 steps. Without CUDA it runs the
tiny profile on the CPU so the harness itself is exercised, and says that the GPU figures are pending.

    .venv/bin/python benchmarks/sd3_image.py [--runs 3] [--no-compile]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference.device import DevicePlan, peak_memory_bytes, pick_dtype, reset_peak_memory  # noqa: E402
from inference.engines.image import ImageEngine, ImageRequest  # noqa: E402
from inference.models.registry import get_spec  # noqa: E402
from inference.models.store import ModelStore, ResolvedModel  # noqa: E402
from inference.models.tiny import make_tiny, tiny_clip_tokenizer, tiny_t5_tokenizer  # noqa: E402
from storage.blobs import LocalBlobStore  # noqa: E402


def _cast(module: Any, dtype: torch.dtype) -> Any:
    return module.to(dtype)


def full_size_sd3(device: str, dtype: torch.dtype) -> Any:
    """SD3 Medium's architecture (transformer, VAE, CLIP-L, CLIP-G, T5-XXL) with random weights, on ``device``."""
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    with torch.device(device):
        transformer = SD3Transformer2DModel(
            sample_size=128, patch_size=2, in_channels=16, num_layers=24, attention_head_dim=64,
            num_attention_heads=24, joint_attention_dim=4096, caption_projection_dim=1536,
            pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=192,
        )
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=2, use_quant_conv=False, use_post_quant_conv=False,
            shift_factor=0.0609, scaling_factor=1.5305,
        )
        clip_l = CLIPTextModelWithProjection(CLIPTextConfig(
            hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
            projection_dim=768, vocab_size=49408, bos_token_id=0, eos_token_id=2, pad_token_id=1,
        ))
        clip_g = CLIPTextModelWithProjection(CLIPTextConfig(
            hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
            projection_dim=1280, vocab_size=49408, hidden_act="gelu", bos_token_id=0, eos_token_id=2,
            pad_token_id=1,
        ))
        t5 = T5EncoderModel(T5Config(
            vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
            feed_forward_proj="gated-gelu", is_encoder_decoder=False,
        ))
    transformer, vae, clip_l, clip_g, t5 = (_cast(m, dtype) for m in (transformer, vae, clip_l, clip_g, t5))
    return StableDiffusion3Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), text_encoder=clip_l, text_encoder_2=clip_g,
        text_encoder_3=t5, tokenizer=tiny_clip_tokenizer(), tokenizer_2=tiny_clip_tokenizer(),
        tokenizer_3=tiny_t5_tokenizer(), transformer=transformer, vae=vae,
    )


def _time(fn: Any, device: str, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()

    gpu = torch.cuda.is_available()
    device = "cuda" if gpu else "cpu"
    dtype = pick_dtype(device)
    tmp = Path(tempfile.mkdtemp(prefix="sd3-bench-"))
    build_started = time.perf_counter()
    if gpu:
        spec = get_spec("sd3-medium")
        pipeline = full_size_sd3(device, dtype)
        model = ResolvedModel(spec=spec, revision="random-weights", path=tmp)
        steps, ar = 28, "1:1"
    else:
        resolved = make_tiny(ModelStore(tmp / "models"))
        from diffusers import StableDiffusion3Pipeline

        pipeline = StableDiffusion3Pipeline.from_pretrained(resolved.path, dtype=dtype)
        model = resolved
        steps, ar = resolved.spec.default_steps, "1:1"
    pipeline.set_progress_bar_config(disable=True)
    pipeline.to(device)
    build_s = time.perf_counter() - build_started
    plan = DevicePlan(device=device, dtype=dtype)
    engine = ImageEngine(pipeline, model=model, plan=plan)
    blobs = LocalBlobStore(tmp / "blobs")
    prompt = "a photo of a woman with red hair drinking coffee in a cafe, natural light, 35mm lens"
    request = ImageRequest(prompt=prompt, prompt_3=prompt, negative="blurry, lowres", aspect_ratio=ar,
                           seeds=(1,), steps=steps, guidance=7.0)
    width, height = engine.size_for(ar)

    def bare() -> None:
        pipeline(prompt=prompt, prompt_3=prompt, negative_prompt="blurry, lowres", height=height, width=width,
                 num_inference_steps=steps, guidance_scale=7.0,
                 generator=torch.Generator("cpu").manual_seed(1))

    def job_path() -> None:
        # What the image task adds around the pipeline: checks, per-step progress, PNG encoding, blob write.
        result = engine.run(request, lambda fraction, stage: None)
        buffer = io.BytesIO()
        result.images[0].image.save(buffer, format="PNG")
        blobs.put_bytes(buffer.getvalue())

    bare()  # warm-up: kernels, allocator, lazy imports
    reset_peak_memory(device)
    bare_s, bare_all = _time(bare, device, args.runs)
    peak = peak_memory_bytes(device)
    job_s, job_all = _time(job_path, device, args.runs)
    figures: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if gpu else f"cpu ({torch.get_num_threads()} threads)",
        "model": "sd3-medium architecture, random weights" if gpu else model.key,
        "dtype": str(dtype).removeprefix("torch."),
        "size": f"{width}x{height}",
        "steps": steps,
        "build_s": round(build_s, 2),
        "eager_s_per_image": round(bare_s, 4),
        "eager_runs_s": [round(t, 4) for t in bare_all],
        "job_path_s_per_image": round(job_s, 4),
        "job_overhead_s": round(job_s - bare_s, 4),
        "job_overhead_pct": round(100 * (job_s - bare_s) / bare_s, 1),
        "job_runs_s": [round(t, 4) for t in job_all],
        "peak_memory_gib": round(peak / 2**30, 2) if peak is not None else None,
    }
    if not args.no_compile:
        pipeline.transformer.compile(fullgraph=False, dynamic=False)
        compile_started = time.perf_counter()
        bare()  # the first compiled call pays for compilation
        figures["compile_first_call_s"] = round(time.perf_counter() - compile_started, 2)
        compiled_s, compiled_all = _time(bare, device, args.runs)
        figures["compiled_s_per_image"] = round(compiled_s, 4)
        figures["compiled_runs_s"] = [round(t, 4) for t in compiled_all]
    if not gpu:
        figures["note"] = ("no CUDA device: tiny profile on the CPU (harness check only); SD3 Medium "
                           "1024x1024/28-step GPU figures are pending a GPU run")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
