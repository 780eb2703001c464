"""Stage ``compile``: SD3 Medium with the denoiser compiled as the worker compiles it (``STUDIO_IMAGE_COMPILE``).

Eager first (the reference in this process), then ``apply_plan`` with ``compile=True``; the first compiled
call pays for compilation and is reported apart, then the compiled seconds per image. Break-even is how many
images one worker must make before compiling has paid for itself.
"""

from __future__ import annotations

import time

from benchmarks.gpu.stage import Stage, medians, stage_main, synchronize


def run(stage: Stage) -> None:
    from benchmarks.gpu.models import SD3, build_sd3
    from benchmarks.gpu.stage_sd3 import bare_call
    from inference.device import DevicePlan, apply_plan
    from inference.engines.image import ImageEngine
    from inference.models.registry import get_spec
    from inference.models.store import ResolvedModel

    record = stage.record
    workload = stage.workload
    device = workload.device
    pipeline = build_sd3(workload)
    spec = get_spec(SD3)
    plan = DevicePlan(device=device, dtype=workload.dtype, compile=True)
    engine = ImageEngine(pipeline, model=ResolvedModel(spec=spec, revision="built", path=stage.work), plan=plan)
    width, height = engine.size_for("1:1")
    meta = {"clip_prompt": "woman with red hair, reading a book in a Paris cafe", "prompt": "woman with red hair, "
            "reading a book in a Paris cafe by the window, natural light, 35mm photo", "negative": "blurry",
            "width": width, "height": height, "steps": spec.default_steps, "guidance": spec.default_guidance,
            "seed": 1}
    call = bare_call(pipeline, meta)
    bare_call(pipeline, {**meta, "steps": workload.warmup_steps})()
    record.set("size", f"{width}x{height}")
    record.set("steps", spec.default_steps)
    eager, each = medians(call, device, max(2, workload.runs - 1))
    record.set("eager_s", round(eager, 4))
    record.set("eager_runs_s", each)
    record.set("mode", "transformer.compile(fullgraph=False, dynamic=False) via inference.device.apply_plan")
    apply_plan(pipeline, plan)
    synchronize(device)
    started = time.perf_counter()
    call()
    synchronize(device)
    first = time.perf_counter() - started
    record.set("first_compiled_call_s", round(first, 2))
    compiled, each = medians(call, device, workload.runs)
    record.set("compiled_s", round(compiled, 4))
    record.set("compiled_runs_s", each)
    record.set("compile_s", round(first - compiled, 2))
    record.set("speedup", round(eager / compiled, 3))
    saved = eager - compiled
    record.set("break_even_images", round((first - compiled) / saved, 1) if saved > 0 else None)


if __name__ == "__main__":
    raise SystemExit(stage_main("compile", run))
