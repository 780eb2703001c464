"""Runs the GPU stages one process each, every one under its own time limit, and writes the results.

    python -m benchmarks.gpu.run --out DIR [--deadline-at EPOCH]     (benchmarks/gpu/run.sh calls this)
    python -m benchmarks.gpu.run --out DIR --tiny                    (CPU rehearsal with the tiny models)

A stage that overruns its limit is stopped (its whole process group) and keeps what it had recorded; the next
stage starts on time. Whatever happens, ``DIR/gpu.json`` and ``DIR/gpu.md`` are written and the table printed.
Logs of every stage are in ``DIR/logs/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.gpu.check_gpu import versions
from benchmarks.gpu.report import markdown
from benchmarks.gpu.stage import ROOT, now_iso

TOTAL_S = 480  # the whole run, wheels included: 8 minutes
REPORT_RESERVE_S = 10  # kept back at the end for writing the results
MIN_STAGE_S = 20  # a stage with less time than this left is skipped rather than started
STOP_GRACE_S = 10


@dataclass(frozen=True)
class StagePlan:
    """A stage and the most seconds it may take."""

    name: str
    limit_s: float


# In order. Each limit is about 1.5 times what the stage is expected to need on an H200 (store: building,
# saving and checksumming about 30 GB); compile comes last and gets what is left, since the time its first
# call takes is the least predictable.
GPU_STAGES = (
    StagePlan("store", 80),
    StagePlan("sd3", 90),
    StagePlan("ltx", 75),
    StagePlan("lora", 45),
    StagePlan("pytest", 80),
    StagePlan("compile", 240),
)
TINY_STAGES = tuple(StagePlan(stage.name, 600) for stage in GPU_STAGES)


def run_stage(command: Sequence[str], *, limit_s: float, log: Path, env: dict[str, str]) -> tuple[str, float]:
    """Run ``command`` in its own process group for at most ``limit_s``; returns (outcome, seconds).

    The outcome is ``exited <code>`` or ``timeout``; on a timeout the group is sent SIGTERM, then SIGKILL.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log, "ab") as out:
        process = subprocess.Popen(list(command), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            code = process.wait(timeout=limit_s)
            return f"exited {code}", time.monotonic() - started
        except subprocess.TimeoutExpired:
            _stop_group(process)
            return "timeout", time.monotonic() - started


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=STOP_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue


def stage_env(work: Path) -> dict[str, str]:
    """The stages' environment: offline, caches in the scratch folder, quiet libraries."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HOME=str(work / "hf"),
        TORCHINDUCTOR_CACHE_DIR=str(work / "inductor"),
        TRITON_CACHE_DIR=str(work / "triton"),
        PYTHONUNBUFFERED="1",
    )
    path = env.get("PYTHONPATH", "")
    if str(ROOT) not in path.split(os.pathsep):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (path, str(ROOT)) if p)
    return env


def collect(out: Path, plans: Sequence[StagePlan], outcomes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every stage's record with its limit, wall time and final status."""
    stages: dict[str, Any] = {}
    for plan in plans:
        path = out / "stages" / f"{plan.name}.json"
        record: dict[str, Any] = {}
        if path.is_file():
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                record = {"notes": ["its record could not be read"]}
        outcome = outcomes.get(plan.name, {"status": "not run"})
        record.update({k: v for k, v in outcome.items() if k != "status"})
        if outcome["status"] == "timeout":
            record["status"] = "timeout"
            record["reason"] = f"stopped at its {outcome['limit_s']:.0f} s limit"
        elif outcome["status"] in ("skipped", "not run"):
            record["status"] = outcome["status"]
        elif record.get("status") in (None, "running"):
            record["status"] = "failed"
            record["reason"] = f"the process {outcome['status']} without finishing its record"
        stages[plan.name] = record
    return stages


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tiny", action="store_true", help="CPU rehearsal with the tiny models")
    parser.add_argument("--deadline-at", type=float, help="epoch seconds by which everything must be done")
    parser.add_argument("--only", nargs="*", help="run only these stages (in the usual order)")
    parser.add_argument("--trace-imports", type=Path, help="folder for each stage's imported top-level modules")
    args = parser.parse_args(argv)

    started_at, started = now_iso(), time.time()
    deadline = args.deadline_at or started + (len(TINY_STAGES) * 600 if args.tiny else TOTAL_S)
    out: Path = args.out.resolve()
    (out / "stages").mkdir(parents=True, exist_ok=True)
    plans = [p for p in (TINY_STAGES if args.tiny else GPU_STAGES) if not args.only or p.name in args.only]
    work = Path(tempfile.mkdtemp(prefix="studio-gpu-run-"))
    env = stage_env(work)
    outcomes: dict[str, dict[str, Any]] = {}
    try:
        for plan in plans:
            left = deadline - REPORT_RESERVE_S - time.time()
            limit = min(plan.limit_s, left)
            if limit < MIN_STAGE_S:
                outcomes[plan.name] = {"status": "skipped", "reason": f"only {max(0, left):.0f} s left"}
                print(f"{plan.name}: skipped, only {max(0, left):.0f} s left", flush=True)
                continue
            command = [sys.executable, "-m", f"benchmarks.gpu.stage_{plan.name}", "--out", str(out / "stages"),
                       "--work", str(work), "--models", str(work / "models")]
            if args.tiny:
                command.append("--tiny")
            if args.trace_imports:
                command += ["--trace-imports", str(args.trace_imports / f"{plan.name}.json")]
            print(f"{plan.name}: running (limit {limit:.0f} s)", flush=True)
            status, seconds = run_stage(command, limit_s=limit, log=out / "logs" / f"{plan.name}.log", env=env)
            outcomes[plan.name] = {"status": status, "wall_s": round(seconds, 1), "limit_s": round(limit)}
            print(f"{plan.name}: {status} after {seconds:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        stages = collect(out, plans, outcomes)
        machine_path = out / "stages" / "env.json"
        machine = json.loads(machine_path.read_text(encoding="utf-8")) if machine_path.is_file() else {}
        if args.tiny:
            machine = {"gpu": "none: CPU rehearsal with the tiny models", "python": platform.python_version()}
        # Read again here: the GPU check ran before the wheels (diffusers among them) were installed.
        machine.setdefault("versions", {}).update({k: v for k, v in versions().items() if v})
        complete = all(stage.get("status") == "ok" for stage in stages.values())
        result = {
            "status": "complete" if complete else "partial",
            "rehearsal": args.tiny,
            "started_at": started_at,
            "seconds": round(time.time() - started, 1),
            "budget_s": round(deadline - started),
            "machine": machine,
            "stages": stages,
        }
        (out / "gpu.json").write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
        table = markdown(result)
        (out / "gpu.md").write_text(table, encoding="utf-8")
        print()
        print(table)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
