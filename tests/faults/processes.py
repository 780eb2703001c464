"""Real worker and bot processes that fault tests kill, stop and restart.

They are forked from a fork server (``multiprocessing``'s "forkserver": one clean, single-threaded process
started once per test session with this module imported), never from the test process itself: a fork of the
test process copies the locks its other threads hold at that moment (the recording chat's thread writing to
stderr, a connection pool), and a child that needs one of them hangs before it logs a line — one start in
about fifteen did. Each child runs the same ``run_worker`` / ``run_telegram`` that `studio worker` and
`studio telegram` run, with fresh connections of its own, and starts in milliseconds where a new interpreter
takes seconds on a busy machine. A worker can be told to stop at a step of a job (through
``WorkerResources.checkpoint``) so a SIGKILL lands exactly there.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import queue
from core.settings import Settings
from inference.engine_cache import EngineCache
from inference.resources import WorkerResources
from inference.worker import run_worker
from storage.blobs import LocalBlobStore
from storage.db import Database

if TYPE_CHECKING:
    from inference.resources import Checkpoint

_fork = multiprocessing.get_context("forkserver")
# The server imports what the children run once, so each fork starts with it loaded.
_fork.set_forkserver_preload([__name__])


def holding_checkpoint(control: Path) -> Checkpoint:
    """A checkpoint that holds a job at a step the test asked for: the file ``control/<step>`` names the job (or
    is empty for any job). Reaching it writes ``control/<job id>.<step>`` and waits there until killed."""

    def hold(job_id: str, step: str) -> None:
        wanted = control / step
        if wanted.exists() and wanted.read_text().strip() in ("", job_id):
            (control / f"{job_id}.{step}").touch()
            while True:
                time.sleep(0.5)

    return hold


def _work(settings: Settings, queues: Sequence[str], control: Path | None) -> None:
    os.setpgrp()  # signals sent to the test's process group (a Ctrl-C in the terminal) stay with the test
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="worker %(process)d %(levelname)s %(name)s: %(message)s", force=True)
    seam: dict[str, Any] = {"checkpoint": holding_checkpoint(control)} if control is not None else {}
    resources = WorkerResources(
        settings=settings,
        db=Database(settings.resolved_database_url),
        redis=queue.connect(settings),
        blobs=LocalBlobStore(settings.blobs_dir),
        engines=EngineCache(settings.engine_memory_budget_mb * 2**20),
        **seam,
    )
    run_worker(resources, queue_names=queues)


def fork_worker(settings: Settings, *, queues: Sequence[str] = ("gpu", "cpu"),
                control: Path | None = None) -> BaseProcess:
    """A worker process on ``queues``; with ``control``, it holds jobs at the steps named there."""
    proc = _fork.Process(target=_work, args=(settings, tuple(queues), control), daemon=True)
    proc.start()
    return proc


def wait_for_step(control: Path, job_id: str, step: str, *, timeout: float = 30.0) -> None:
    marker = control / f"{job_id}.{step}"
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never reached step {step!r}")
        time.sleep(0.02)


def hold_at(control: Path, step: str, job_id: str = "") -> None:
    """Ask workers started with ``control`` to hold ``job_id`` (any job when empty) at ``step``."""
    (control / step).write_text(job_id)


def kill(proc: BaseProcess) -> None:
    """SIGKILL, as the OOM killer or a power cut would."""
    if proc.pid is not None and proc.is_alive():
        os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)


def stop(procs: Sequence[BaseProcess]) -> None:
    for proc in procs:
        if proc.pid is not None and proc.is_alive():
            os.kill(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.join(10)
        if proc.is_alive():
            kill(proc)


def _telegram(settings: Settings) -> None:
    os.setpgrp()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="bot %(process)d %(levelname)s %(name)s: %(message)s", force=True)
    from bots.telegram_bot import run_telegram

    run_telegram(settings)


def fork_telegram(settings: Settings) -> BaseProcess:
    """`studio telegram` as a process of its own (``run_telegram``, the function that command runs)."""
    proc = _fork.Process(target=_telegram, args=(settings,), daemon=True)
    proc.start()
    return proc
