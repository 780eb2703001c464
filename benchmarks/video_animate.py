"""/animate benchmark: seconds per clip for every camera-motion preset (render vs encode) and for AI motion.

Presets: a 1024x1024 still (the image task's default output) animated for 4 s at 24 fps, 1024 px side, on the
CPU: the time to render the frames alone, to encode them alone, and the two streamed together as a job runs
them (the encoder works in its own process, so the total is less than the sum where cores are free).

AI motion: the tiny LTX on the CPU (harness check: 64 px, 2 steps). On CUDA, LTX-Video built from its
published full-size configuration with random weights (same time and memory per step as the real weights;
no download): 768x512, 121 frames, the registry's default steps.

    .venv/bin/python benchmarks/video_animate.py [--runs 3] [--seconds 4] [--side 1024]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inference.device import DevicePlan, peak_memory_bytes, pick_dtype, plan_for, reset_peak_memory  # noqa: E402
from inference.engines.video import (  # noqa: E402
    PRESETS,
    LtxVideoEngine,
    MotionEngine,
    VideoRequest,
    frame_count,
    output_size,
    render_frames,
)
from inference.media import VideoWriter  # noqa: E402
from inference.models.registry import get_spec  # noqa: E402
from inference.models.store import ModelStore, ResolvedModel  # noqa: E402
from inference.models.tiny import tiny_t5_tokenizer  # noqa: E402
from inference.models.tiny_video import make_tiny_video  # noqa: E402


def _median(fn: Callable[[], Any], runs: int, device: str = "cpu") -> float:
    times = []
    for _ in range(runs):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def still(side: int) -> Image.Image:
    """A detailed photo (scikit-image's astronaut) at ``side`` x ``side``."""
    import skimage.data

    return Image.fromarray(skimage.data.astronaut()).resize((side, side), Image.Resampling.LANCZOS)


def preset_rows(image: Image.Image, *, seconds: float, fps: int, side: int, runs: int, tmp: Path) -> list[list[str]]:
    engine = MotionEngine()
    size = output_size(image.width, image.height, side)
    frames = frame_count(seconds, fps)
    rows = []
    for motion in PRESETS:
        rendered = list(render_frames(image, motion, size, frames))  # for the encode-only timing

        def render(motion: str = motion) -> None:
            for _ in render_frames(image, motion, size, frames):
                pass

        def encode(rendered: list[np.ndarray] = rendered) -> None:
            with VideoWriter(tmp / "encode.mp4", size=size, fps=fps) as writer:
                for frame in rendered:
                    writer.write(frame)

        def job(motion: str = motion) -> None:
            engine.run(VideoRequest(image=image, output=tmp / "job.mp4", motion=motion, seconds=seconds, fps=fps,
                                    max_side=side))

        render_s, encode_s, total_s = _median(render, runs), _median(encode, runs), _median(job, runs)
        rows.append([motion, f"{size[0]}x{size[1]}", str(frames), f"{render_s:.2f}", f"{encode_s:.2f}",
                     f"{total_s:.2f}", f"{seconds / total_s:.1f}x"])
    return rows


def tiny_ltx_row(image: Image.Image, *, seconds: float, fps: int, runs: int, tmp: Path) -> list[str]:
    model = make_tiny_video(ModelStore(tmp / "models"))
    started = time.perf_counter()
    engine = LtxVideoEngine.load(model, plan_for(full_gb=0, min_gb=0, prefer="cpu"))
    load_s = time.perf_counter() - started
    request = VideoRequest(image=image, output=tmp / "tiny.mp4", motion="ai", seconds=seconds, fps=fps, seed=1)
    engine.run(request)  # warm-up
    results = []
    for _ in range(runs):
        started = time.perf_counter()
        result = engine.run(request)
        results.append((time.perf_counter() - started, result.render_s, result.encode_s))
    total, render, encode = (statistics.median(r[i] for r in results) for i in range(3))
    return [f"{model.key} (cpu, load {load_s:.2f} s)", f"{result.width}x{result.height}", str(result.frames),
            str(result.steps), f"{render:.2f}", f"{encode:.2f}", f"{total:.2f}", "-"]


def full_size_ltx(device: str, dtype: torch.dtype) -> Any:
    """LTX-Video 2B's architecture (transformer, video VAE, T5-XXL encoder) with random weights, on ``device``."""
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXImageToVideoPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    with torch.device(device):
        transformer = LTXVideoTransformer3DModel()  # the constructor's defaults are the published 2B config
        vae = AutoencoderKLLTXVideo()
        t5 = T5EncoderModel(T5Config(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24,
                                     num_heads=64, feed_forward_proj="gated-gelu", is_encoder_decoder=False))
    vae, t5, transformer = (_cast(module, dtype) for module in (vae, t5, transformer))
    return LTXImageToVideoPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=t5,
                                   tokenizer=tiny_t5_tokenizer(), transformer=transformer)


def _cast(module: Any, dtype: torch.dtype) -> Any:
    return module.to(dtype)


def gpu_ltx_row(*, runs: int, tmp: Path) -> list[str]:
    device, dtype = "cuda", pick_dtype("cuda")
    spec = get_spec("ltx-video")
    pipeline = full_size_ltx(device, dtype)
    pipeline.set_progress_bar_config(disable=True)
    engine = LtxVideoEngine(pipeline, model=ResolvedModel(spec=spec, revision="random-weights", path=tmp),
                            plan=DevicePlan(device=device, dtype=dtype))
    image = still(1024).resize((768, 512))
    request = VideoRequest(image=image, output=tmp / "full.mp4", motion="ai", seconds=5.0, fps=24, max_side=768,
                           seed=1)
    engine.run(request)  # warm-up: kernels, allocator
    reset_peak_memory(device)
    results = []
    for _ in range(runs):
        torch.cuda.synchronize()
        started = time.perf_counter()
        result = engine.run(request)
        torch.cuda.synchronize()
        results.append((time.perf_counter() - started, result.render_s, result.encode_s))
    peak = peak_memory_bytes(device) or 0
    total, render, encode = (statistics.median(r[i] for r in results) for i in range(3))
    return [f"ltx-video random weights ({torch.cuda.get_device_name()}, {str(dtype).removeprefix('torch.')}, "
            f"peak {peak / 2**30:.1f} GiB)", f"{result.width}x{result.height}", str(result.frames),
            str(result.steps), f"{render:.2f}", f"{encode:.2f}", f"{total:.2f}", f"{total / (result.steps or 1):.2f}"]


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--side", type=int, default=1024)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="video-bench-"))
    image = still(1024)
    print(f"presets: {args.seconds:g} s at {args.fps} fps from a {image.width}x{image.height} still, median of "
          f"{args.runs} (cpu, {torch.get_num_threads()} torch threads)")
    print(table(["motion", "size", "frames", "render s", "encode s", "job s", "speed"],
                preset_rows(image, seconds=args.seconds, fps=args.fps, side=args.side, runs=args.runs, tmp=tmp)))
    print()
    ai_rows = [tiny_ltx_row(image, seconds=args.seconds, fps=args.fps, runs=args.runs, tmp=tmp)]
    if torch.cuda.is_available():
        ai_rows.append(gpu_ltx_row(runs=args.runs, tmp=tmp))
    print(f"AI motion: median of {args.runs}; render = denoise + VAE decode")
    print(table(["model", "size", "frames", "steps", "render s", "encode s", "clip s", "s/step"], ai_rows))
    if not torch.cuda.is_available():
        print("no CUDA device: LTX-Video 768x512 / 121-frame figures are pending a GPU run")


if __name__ == "__main__":
    main()
