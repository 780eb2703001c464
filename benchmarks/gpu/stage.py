"""What every stage shares: its arguments, a result file written as figures arrive, and GPU-aware timing.

A stage is one process (``python -m benchmarks.gpu.stage_<name> --out DIR --work DIR``). It writes
``<out>/<name>.json`` after every figure, so a stage stopped at its time limit still leaves what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GIB = 1 << 30


def now_iso() -> str:
    """The current UTC time, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class StageRecord:
    """A stage's result file: every ``set`` rewrites it whole (atomically), so it is always readable."""

    def __init__(self, path: Path, stage: str) -> None:
        self.path = path
        self.data: dict[str, Any] = {"stage": stage, "status": "running", "started_at": now_iso()}
        self._started = time.perf_counter()
        self.flush()

    def set(self, key: str, value: Any) -> None:
        """Record one figure (or a dict of them) and write the file."""
        self.data[key] = value
        self.flush()

    def note(self, text: str) -> None:
        """A sentence the report shows beside the figures (what was skipped, or why)."""
        self.data.setdefault("notes", []).append(text)
        self.flush()

    def finish(self, status: str, error: str | None = None) -> None:
        """Close the record with ``ok`` or ``failed`` (and the error)."""
        self.data["status"] = status
        self.data["seconds"] = round(time.perf_counter() - self._started, 2)
        if error:
            self.data["error"] = error
        self.flush()

    def flush(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True, default=str), encoding="utf-8")
        os.replace(tmp, self.path)


@dataclass(frozen=True)
class Workload:
    """What the stages run: the full-size models on CUDA, or the tiny ones on the CPU for a rehearsal.

    The requests are the same either way (1:1 at the model's native side, its default steps, a 5 s clip at
    24 fps); only the models and the number of repetitions differ.
    """

    full: bool
    runs: int  # timed repetitions behind each median
    warmup_steps: int  # denoising steps of the untimed first call (kernels, allocator, lazy imports)
    jobs: int  # /imagine jobs in the timed worker burst (intervals between consecutive ones are timed)
    lora_steps: int  # training steps of the LoRA stage; the first ``lora_warmup`` are not timed
    lora_warmup: int
    lora_resolution: int
    clip_seconds: float = 5.0
    clip_fps: int = 24
    clip_side: int = 768

    @property
    def device(self) -> str:
        return "cuda" if self.full else "cpu"

    @property
    def dtype(self) -> Any:
        from inference.device import pick_dtype

        return pick_dtype(self.device)


FULL = Workload(full=True, runs=3, warmup_steps=2, jobs=4, lora_steps=13, lora_warmup=3, lora_resolution=1024)
TINY = Workload(full=False, runs=2, warmup_steps=1, jobs=3, lora_steps=4, lora_warmup=1, lora_resolution=64)


@dataclass
class Stage:
    """One stage's arguments and record."""

    name: str
    out: Path
    work: Path
    models: Path
    workload: Workload
    record: StageRecord


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so a timer measures the work and not its launch."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str) -> float:
    """Seconds ``fn()`` takes, GPU work included."""
    synchronize(device)
    started = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - started


def medians(fn: Callable[[], Any], device: str, runs: int) -> tuple[float, list[float]]:
    """Median seconds of ``runs`` calls and every call's seconds."""
    times = [timed(fn, device) for _ in range(runs)]
    return statistics.median(times), [round(t, 4) for t in times]


def peak_gib(device: str) -> float | None:
    """Peak allocated GPU memory since the last reset, in GiB (None off CUDA)."""
    from inference.device import peak_memory_bytes

    peak = peak_memory_bytes(device)
    return None if peak is None else round(peak / GIB, 2)


def reset_peak(device: str) -> None:
    """Start a new peak-memory measurement (after giving cached blocks back, so the figure is this part's)."""
    from inference.device import empty_cache, reset_peak_memory

    empty_cache(device)
    reset_peak_memory(device)


class ImportTracer:
    """Records, for every top-level module imported after ``install``, which top-level module imported it first.

    The import check needs both: a module the project or a brought wheel needs must be on the GPU machine, while
    one that only a package of that machine reaches for (an optional extra) is that package's own business.
    """

    def __init__(self) -> None:
        self.first_importer: dict[str, str] = {}

    def install(self) -> None:
        sys.meta_path.insert(0, self)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        top = fullname.split(".", 1)[0]
        if top not in self.first_importer:
            self.first_importer[top] = _importer()
        return None  # only watching: the real finders do the work

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        generated = os.environ.get("TORCHINDUCTOR_CACHE_DIR") or "\0"
        imported = set()
        for name, module in list(sys.modules.items()):
            spec = getattr(module, "__spec__", None)
            # Skipped: modules without a spec (cython_runtime) and the code torch.compile writes and loads.
            if spec is None or str(spec.origin or "").startswith(generated):
                continue
            imported.add(name.split(".", 1)[0])
        found = {name: self.first_importer.get(name, "(before the trace)") for name in sorted(imported)}
        path.write_text(json.dumps(found, indent=1), encoding="utf-8")


def _importer() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if name and not name.startswith(("importlib", "_frozen_importlib")) and name != __name__:
            return name.split(".", 1)[0]
        frame = frame.f_back  # type: ignore[assignment]
    return "(unknown)"


def stage_main(name: str, body: Callable[[Stage], None], argv: Sequence[str] | None = None) -> int:
    """Parse the stage arguments, run ``body`` and close the record; 0 when it finished, 1 when it failed."""
    parser = argparse.ArgumentParser(description=f"GPU run stage {name}")
    parser.add_argument("--out", type=Path, required=True, help="folder for <stage>.json")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder shared by the stages")
    parser.add_argument("--models", type=Path, help="model store written by the store stage")
    parser.add_argument("--tiny", action="store_true", help="CPU rehearsal with the tiny models")
    parser.add_argument("--trace-imports", type=Path, help="write the imported top-level modules here")
    args = parser.parse_args(argv)
    tracer = ImportTracer()
    if args.trace_imports is not None:
        tracer.install()
    from inference.worker import quiet_libraries

    quiet_libraries()
    record = StageRecord(args.out / f"{name}.json", name)
    stage = Stage(name=name, out=args.out, work=args.work, models=args.models or args.work / "models",
                  workload=TINY if args.tiny else FULL, record=record)
    code = 0
    try:
        body(stage)
        record.finish("ok")
    except Exception as exc:
        traceback.print_exc()
        tail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        record.finish("failed", error=tail[:500])
        code = 1
    finally:
        if args.trace_imports is not None:
            tracer.write(args.trace_imports)
    return code
