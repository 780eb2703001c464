"""The no-model job: echoes text back after a few progress steps, so the whole job path runs without engines."""

from __future__ import annotations

import time

from core.jobresults import EchoResult
from core.jobspecs import EchoSpec
from inference.runtime import task
from inference.task_context import TaskContext


def _echo(ctx: TaskContext) -> EchoResult:
    spec = ctx.spec_as(EchoSpec)
    steps = max(1, int(spec.seconds * 4))
    for step in range(steps):
        ctx.progress(step / steps, f"echoing ({step + 1}/{steps})")
        time.sleep(spec.seconds / steps)
    return EchoResult(text=spec.text)


run_echo = task(_echo)
