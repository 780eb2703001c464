"""Stage ``lora``: SD3 LoRA training with the project's trainer: seconds per step and peak memory.

Rank 4, 1024 px, batch 1, on the resident SD3 Medium pipeline (what the GPU worker lends the trainer), with
diffusers' DreamBooth-LoRA recipe as the trainer implements it: bf16 base weights, fp32 LoRA parameters,
gradient checkpointing, AdamW. Step times come from the trainer's own per-step progress calls (each follows a
loss read-back, so the GPU work of the step is done); the first steps are not counted.
"""

from __future__ import annotations

import statistics
import time
from itertools import pairwise

from benchmarks.gpu.stage import Stage, peak_gib, reset_peak, stage_main


def run(stage: Stage) -> None:
    from benchmarks.gpu.models import build_sd3
    from benchmarks.gpu.stage_ltx import still
    from inference.engines.lora import LoraTrainer, LoraTrainingRequest

    record = stage.record
    workload = stage.workload
    pipeline = build_sd3(workload)
    side = workload.lora_resolution
    request = LoraTrainingRequest(images=(still(side, side),), instance_prompt="a photo of zkvtr woman",
                                  rank=4, steps=workload.lora_steps, resolution=side, seed=0)
    marks: list[float] = []

    def progress(fraction: float, stage: str) -> None:
        if stage.startswith("training step"):
            marks.append(time.perf_counter())

    reset_peak(workload.device)
    started = time.perf_counter()
    result = LoraTrainer(pipeline).run(request, progress)
    record.set("run_s", round(time.perf_counter() - started, 2))
    steps = [b - a for a, b in pairwise(marks)][workload.lora_warmup:]
    record.set("rank", result.rank)
    record.set("resolution", side)
    record.set("batch", 1)
    record.set("steps_timed", len(steps))
    record.set("step_s", round(statistics.median(steps), 4))
    record.set("step_runs_s", [round(s, 4) for s in steps])
    record.set("peak_gib", peak_gib(workload.device))
    record.set("lora_parameters", sum(t.numel() for t in result.state_dict.values()))
    record.set("eval_loss", [round(result.eval_loss_before, 4), round(result.eval_loss_after, 4)])


if __name__ == "__main__":
    raise SystemExit(stage_main("lora", run))
