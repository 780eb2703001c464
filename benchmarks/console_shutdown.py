"""How long `studio up` takes to stop after Ctrl-C in its console: idle, and with a job running.

Each run starts `studio up --no-web` on a fresh data dir (embedded Redis, a worker, the console) in a real
pseudo-terminal, waits for the prompt (and, for the busy case, for a running job's bar), presses Ctrl-C and
measures until "stopping…" shows and until the process has exited. Medians over the runs; the machine's load
makes single runs noisy.

    .venv/bin/python benchmarks/console_shutdown.py --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.terminal import Terminal, studio_env

BUSY_JOB = "/echo busy --seconds 60"


def one_run(*, busy: bool) -> tuple[float, float]:
    """(seconds until "stopping…" shows, seconds until the process exited) after Ctrl-C."""
    with tempfile.TemporaryDirectory() as data:
        terminal = Terminal(["up", "--no-web", "--user", "bench"], env=studio_env(Path(data)))
        try:
            terminal.wait_for(lambda text: "›" in text, timeout=180)
            if busy:
                terminal.enter(BUSY_JOB)
                terminal.wait_for(lambda text: "%" in text and "echoing" in text, timeout=120)
            pressed = time.monotonic()
            terminal.interrupt()
            terminal.wait_for(lambda text: "stopping…" in text, timeout=30)
            said = time.monotonic() - pressed
            gone = terminal.wait_exit(timeout=60) + said
            return said, gone
        finally:
            terminal.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for busy in (False, True):
        said, gone = zip(*(one_run(busy=busy) for _ in range(args.runs)), strict=True)
        case = "job running" if busy else "idle"
        print(f"{case:12} 'stopping…' shown after: median {statistics.median(said):.2f} s (max {max(said):.2f}); "
              f"exited after: median {statistics.median(gone):.2f} s (max {max(gone):.2f}), {args.runs} runs")


if __name__ == "__main__":
    main()
