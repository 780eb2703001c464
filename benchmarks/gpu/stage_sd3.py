"""Stage ``sd3``: SD3 Medium at 1024x1024, 28 steps: an /imagine job through the worker against the bare call.

In one process: the first job loads the engine from the store through the worker (cold job); then the bare
pipeline call on that same engine's pipeline (eager seconds per image, peak memory), a burst of identical jobs
through the worker (the time between consecutive finishes is what one job costs a warm worker), the bare call
again, and last the same call without the T5 encoder (seconds and peak memory). The job/bare ratio uses the
medians of both. Without a model store (its stage failed) the pipeline is built directly and only the bare
figures are taken.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Any

from benchmarks.gpu.stage import Stage, medians, peak_gib, reset_peak, stage_main, synchronize

RATIO_GOAL = 1.03


def bare_call(pipeline: Any, meta: dict[str, Any]) -> Callable[[], Any]:
    """The pipeline call the image engine makes for a job whose asset carries ``meta``, without the job."""
    import torch

    def call() -> Any:
        kwargs: dict[str, Any] = {}
        if getattr(pipeline, "text_encoder_3", None) is not None:
            kwargs["max_sequence_length"] = 256
        return pipeline(prompt=meta["clip_prompt"], prompt_3=meta["prompt"], negative_prompt=meta["negative"] or None,
                        height=meta["height"], width=meta["width"], num_inference_steps=meta["steps"],
                        guidance_scale=meta["guidance"], num_images_per_prompt=1,
                        generator=[torch.Generator(device="cpu").manual_seed(int(meta["seed"]))], **kwargs)

    return call


def _warm_up(pipeline: Any, meta: dict[str, Any], steps: int) -> None:
    bare_call(pipeline, {**meta, "steps": steps})()


def measure_bare(stage: Stage, pipeline: Any, meta: dict[str, Any], label: str) -> float:
    """Median seconds of the bare call; records them and the peak memory as ``<label>_*``."""
    device, runs = stage.workload.device, stage.workload.runs
    reset_peak(device)
    median, each = medians(bare_call(pipeline, meta), device, runs)
    stage.record.set(f"{label}_s", round(median, 4))
    stage.record.set(f"{label}_runs_s", each)
    stage.record.set(f"{label}_peak_gib", peak_gib(device))
    return median


def measure_without_t5(stage: Stage, pipeline: Any, meta: dict[str, Any]) -> None:
    """The same call with the T5 encoder dropped (moved off the GPU), as a memory-short worker loads it."""
    from diffusers import StableDiffusion3Pipeline

    t5 = pipeline.text_encoder_3
    without: Any = StableDiffusion3Pipeline(**{**pipeline.components, "text_encoder_3": None, "tokenizer_3": None})
    without.set_progress_bar_config(disable=True)
    t5.to("cpu")
    _warm_up(without, meta, stage.workload.warmup_steps)
    measure_bare(stage, without, meta, "no_t5_eager")


def job_parts(studio: Any, blob: str, runs: int) -> dict[str, float]:
    """Median seconds of the CPU work a job adds around generation, on the job's own image: the likeness check,
    the PNG encoding and the blob write (what explains a ratio above 1)."""
    import io

    import numpy as np
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    image = Image.open(io.BytesIO(studio.resources.blobs.read_bytes(blob))).convert("RGB")
    analyzer = studio.resources.engines.get(f"faces:{studio.gate_engine.split(':', 1)[0]}", _loaded_only)
    pixels = np.asarray(image)
    encoded: list[bytes] = []

    def png() -> None:
        info = PngInfo()
        info.add_text("studio:prompt", "x" * 200)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", pnginfo=info)  # as the image task writes its results
        encoded[:] = [buffer.getvalue()]

    parts = {"likeness_check": lambda: analyzer.analyze(pixels), "png_encode": png,
             "blob_write": lambda: studio.resources.blobs.put_bytes(encoded[0] + secrets_suffix())}
    return {name: round(medians(fn, "cpu", runs)[0], 4) for name, fn in parts.items()}


def secrets_suffix() -> bytes:
    # A new blob every time: identical bytes would be found already stored and not written again.
    import secrets

    return secrets.token_bytes(8)


def _loaded_only() -> Any:
    raise RuntimeError("the worker did not load a face engine")


def run(stage: Stage) -> None:
    from benchmarks.gpu.models import SD3
    from inference.models.store import ModelStore

    record = stage.record
    workload = stage.workload
    if ModelStore(stage.models).active_revision(SD3) is None:
        record.note("no model store (the store stage did not finish): the pipeline was built directly and the "
                    "worker figures were not taken")
        run_bare_only(stage)
        return
    from benchmarks.gpu.studio import BenchStudio

    studio = BenchStudio(stage.work / "studio", stage.models)
    try:
        record.set("gate_engine", studio.gate_engine)
        started = time.perf_counter()
        (first,) = studio.submit(1)
        studio.work()
        synchronize(workload.device)
        record.set("cold_job_s", round(time.perf_counter() - started, 2))
        record.set("engine_load_s", {k: round(v, 2) for k, v in studio.resources.engines.stats.load_seconds.items()})
        studio.finished([first])
        asset = studio.output(first)
        meta = dict(asset.meta)
        record.set("size", f"{meta['width']}x{meta['height']}")
        record.set("steps", meta["steps"])
        record.set("guidance", meta["guidance"])
        record.set("identity_gate", {"score": asset.identity_score, "passed": meta.get("identity_passed"),
                                     "attempts": meta.get("attempts")})
        engine = studio.image_engine()
        pipeline = engine.pipeline
        record.set("plan", engine.plan.describe())
        record.set("dtype", str(engine.plan.dtype).removeprefix("torch."))
        record.set("engine_gib", round(engine.memory_bytes() / 2**30, 2))

        bare_before = measure_bare(stage, pipeline, meta, "eager")
        job_ids = studio.submit(workload.jobs)
        studio.work()
        timings = studio.finished(job_ids)
        intervals = [(b.finished_at - a.finished_at).total_seconds() for a, b in pairwise(timings)]
        record.set("job_intervals_s", [round(i, 4) for i in intervals])
        record.set("job_run_s", [round(t.run_s, 4) for t in timings])
        bare_after = measure_bare(stage, pipeline, meta, "eager_after_jobs")
        bare = statistics.median(record.data["eager_runs_s"] + record.data["eager_after_jobs_runs_s"])
        job = statistics.median(intervals)
        record.set("bare_s", round(bare, 4))
        record.set("job_s", round(job, 4))
        record.set("job_over_bare", round(job / bare, 4))
        record.set("job_over_bare_goal", RATIO_GOAL)
        record.set("bare_drift", round(bare_after / bare_before, 4))
        stats = studio.resources.engines.stats
        record.set("engine_cache", {"loads": stats.loads, "hits": stats.hits, "evictions": stats.evictions})
        record.set("job_parts_s", job_parts(studio, asset.blob, workload.runs))
        measure_without_t5(stage, pipeline, meta)
    finally:
        studio.close()


def run_bare_only(stage: Stage) -> None:
    """Eager and no-T5 figures on a pipeline built here, with the request a 1:1 job would make."""
    from benchmarks.gpu.models import SD3, build_sd3
    from inference.device import DevicePlan
    from inference.engines.image import ImageEngine
    from inference.models.registry import get_spec
    from inference.models.store import ResolvedModel

    workload = stage.workload
    pipeline = build_sd3(workload)
    spec = get_spec(SD3)
    engine = ImageEngine(pipeline, model=ResolvedModel(spec=spec, revision="built", path=stage.work),
                         plan=DevicePlan(device=workload.device, dtype=workload.dtype))
    width, height = engine.size_for("1:1")
    meta = {"clip_prompt": "woman with red hair, reading a book in a Paris cafe", "prompt": "woman with red hair, "
            "reading a book in a Paris cafe by the window, natural light, 35mm photo", "negative": "",
            "width": width, "height": height, "steps": spec.default_steps, "guidance": spec.default_guidance,
            "seed": 1}
    stage.record.set("size", f"{width}x{height}")
    stage.record.set("steps", spec.default_steps)
    _warm_up(pipeline, meta, workload.warmup_steps)
    measure_bare(stage, pipeline, meta, "eager")
    measure_without_t5(stage, pipeline, meta)


if __name__ == "__main__":
    raise SystemExit(stage_main("sd3", run))
