"""Stage ``ltx``: LTX-Video 2B image-to-video, 768x512, 121 frames (5 s at 24 fps), the model's default steps.

Seconds per clip through the project's video engine: denoising, VAE decode and H.264 encode (the engine's
render and encode times are recorded apart), and the peak memory. The untimed first clip uses a couple of
steps only: it warms the same kernels, decoder and encoder at a fraction of the cost.
"""

from __future__ import annotations

import statistics
from dataclasses import replace

import numpy as np
from PIL import Image

from benchmarks.gpu.stage import Stage, peak_gib, reset_peak, stage_main, timed


def still(width: int, height: int) -> Image.Image:
    """A detailed synthetic still (gradients, rings and noise): the content does not change the work."""
    y, x = np.mgrid[:height, :width].astype(np.float32)
    rings = (np.sin(np.hypot(x - width / 2, y - height / 2) / 9.0) + 1.0) * 0.5
    noise = np.random.default_rng(3).random((height, width), dtype=np.float32)
    rgb = np.stack([x / width, y / height, 0.6 * rings + 0.4 * noise], axis=-1)
    return Image.fromarray((rgb * 255).astype(np.uint8))


def run(stage: Stage) -> None:
    from benchmarks.gpu.models import LTX, REVISION, build_ltx
    from inference.device import DevicePlan
    from inference.engines.video import LtxVideoEngine, VideoRequest
    from inference.models.registry import get_spec
    from inference.models.store import ResolvedModel

    record = stage.record
    workload = stage.workload
    device = workload.device
    pipeline = build_ltx(workload)
    # The rehearsal's tiny LTX keeps its own registry entry: at LTX-Video's native 768 px its latent would hold
    # hundreds of thousands of tokens for a model meant for 64 px.
    spec = get_spec(LTX if workload.full else "ltx-tiny")
    engine = LtxVideoEngine(pipeline, model=ResolvedModel(spec=spec, revision=REVISION, path=stage.work),
                            plan=DevicePlan(device=device, dtype=workload.dtype))
    image = still(workload.clip_side, workload.clip_side * 2 // 3)
    request = VideoRequest(image=image, output=stage.work / "ltx.mp4", motion="ai", seconds=workload.clip_seconds,
                           fps=workload.clip_fps, max_side=workload.clip_side, seed=1)
    engine.run(replace(request, steps=workload.warmup_steps))
    reset_peak(device)
    results = []
    for _ in range(workload.runs - 1 if workload.full else workload.runs):
        seconds = timed(lambda: results.append(engine.run(request)), device)
        last = results[-1]
        record.set("clips", [*record.data.get("clips", []),
                             {"clip_s": round(seconds, 3), "render_s": round(last.render_s, 3),
                              "encode_s": round(last.encode_s, 3)}])
    clips = record.data["clips"]
    last = results[-1]
    record.set("size", f"{last.width}x{last.height}")
    record.set("frames", last.frames)
    record.set("steps", last.steps)
    record.set("guidance", last.guidance)
    record.set("clip_s", round(statistics.median(c["clip_s"] for c in clips), 3))
    record.set("render_s", round(statistics.median(c["render_s"] for c in clips), 3))
    record.set("encode_s", round(statistics.median(c["encode_s"] for c in clips), 3))
    record.set("video_s", round(last.frames / last.fps, 3))
    record.set("peak_gib", peak_gib(device))
    record.set("mp4_bytes", last.path.stat().st_size)


if __name__ == "__main__":
    raise SystemExit(stage_main("ltx", run))
