"""The no-model job: echoes text back after a few progress steps, so the whole job path runs without engines."""

from __future__ import annotations

import time
from typing import Any

from inference.runtime import TaskContext, task

MAX_SECONDS = 60.0


def _echo(ctx: TaskContext) -> dict[str, Any]:
    text = str(ctx.spec.get("text", ""))
    seconds = float(ctx.spec.get("seconds", 0.0))
    if not 0.0 <= seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be between 0 and {MAX_SECONDS:g}, got {seconds:g}")
    steps = max(1, int(seconds * 4))
    for step in range(steps):
        ctx.progress(step / steps, f"echoing ({step + 1}/{steps})")
        time.sleep(seconds / steps)
    return {"text": text}


run_echo = task(_echo)
