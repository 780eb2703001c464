"""A terminal for tests and benchmarks: a `studio` command in a real pseudo-terminal (pexpect), its output
rendered by a terminal emulator (pyte), so a test reads the screen a person would see."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pyte

ROOT = Path(__file__).resolve().parent.parent


class Terminal:
    """``studio <args>`` running in a ``columns`` × ``rows`` terminal."""

    def __init__(self, args: list[str], *, env: dict[str, str], columns: int = 100, rows: int = 30) -> None:
        self.screen = pyte.Screen(columns, rows)
        self.stream = pyte.Stream(self.screen)
        self.started = time.monotonic()
        self.child = pexpect.spawn(sys.executable, ["-m", "cli.main", *args], cwd=str(ROOT),
                                   env={**env, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)},
                                   dimensions=(rows, columns), encoding="utf-8", codec_errors="replace")
        self.output = ""  # everything the program wrote, escape sequences included

    def read(self, seconds: float = 0.1) -> None:
        """Feed what the program writes for ``seconds`` into the screen."""
        end = time.monotonic() + seconds
        while True:
            try:
                chunk = self.child.read_nonblocking(65536, timeout=max(0.01, end - time.monotonic()))
            except (pexpect.TIMEOUT, pexpect.EOF):
                return
            self.output += chunk
            self.stream.feed(chunk)
            if time.monotonic() >= end:
                return

    @property
    def lines(self) -> list[str]:
        """The screen, one string per row, trailing blanks removed."""
        return [line.rstrip() for line in self.screen.display]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def cursor_line(self) -> str:
        """The row the cursor is on: where typed text appears."""
        return self.lines[self.screen.cursor.y]

    def wait_for(self, check: Callable[[str], bool], timeout: float = 60.0) -> None:
        """Read until ``check(screen text)`` holds; ``AssertionError`` with the screen when it never does."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.read(0.1)
            if check(self.text):
                return
            if not self.child.isalive():
                self.read(0.2)
                break
        assert check(self.text), f"the screen never showed what was expected:\n{self.text}"

    def type(self, text: str) -> None:
        """Type ``text`` (no Enter)."""
        self.child.send(text)

    def enter(self, text: str = "") -> None:
        """Type ``text`` and press Enter."""
        self.child.send(text + "\r")

    def interrupt(self) -> None:
        """Press Ctrl-C."""
        self.child.sendintr()

    def wait_exit(self, timeout: float = 30.0) -> float:
        """Seconds until the program exited (reading its last output into the screen)."""
        start = time.monotonic()
        while self.child.isalive() and time.monotonic() - start < timeout:
            self.read(0.05)
        elapsed = time.monotonic() - start
        self.read(0.2)
        return elapsed

    def close(self) -> None:
        """Kill the program if it still runs."""
        if self.child.isalive():
            self.child.kill(9)
        self.child.close(force=True)


def studio_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `studio` run on its own data dir with the tiny models (no outside settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env.update(STUDIO_DATA_DIR=str(data_dir), STUDIO_MODEL_PROFILE="tiny", STUDIO_PROGRESS_INTERVAL_S="0.2", **extra)
    return env
