"""The console as a person meets it: `studio up` in a real pseudo-terminal, the screen read back through a
terminal emulator. Typing while a job runs, live bars above the input line, finished bars replaced by their
final line, /cancel alone, Ctrl-C, and log lines kept out of the chat."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.terminal import Terminal, studio_env

PROMPT = "›"
LOG_LINE = re.compile(r"\b(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\b|Traceback|^\d{4}-\d\d-\d\d ", re.MULTILINE)


def bar_lines(terminal: Terminal) -> list[str]:
    return [line for line in terminal.lines if "echoing" in line and "%" in line]


@pytest.mark.slow
def test_typing_while_a_job_runs_stopping_and_logs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    terminal = Terminal(["up", "--no-web", "--user", "tester"], env=studio_env(data), columns=100, rows=30)
    try:
        terminal.wait_for(lambda text: PROMPT in text, timeout=180)
        terminal.enter("/echo slow one --seconds 6")
        terminal.wait_for(lambda text: "echoing" in text and "%" in text, timeout=120)
        job = re.search(r"job #([0-9a-f]{8})", terminal.text)
        assert job is not None, terminal.text

        # Typed while the bar moves: the text stays on the input line at the bottom, the bar above it.
        terminal.type("/jobs")
        terminal.read(1.5)
        assert terminal.cursor_line() == f"{PROMPT} /jobs", terminal.text
        bars = bar_lines(terminal)
        assert len(bars) == 1 and f"#{job.group(1)}" in bars[0], terminal.text
        assert "/jobs" not in bars[0]
        assert terminal.lines.index(bars[0]) == terminal.screen.cursor.y - 1, "the bar sits right above the input"

        terminal.enter()
        terminal.wait_for(lambda text: "Your jobs (newest first):" in text, timeout=30)
        assert f"#{job.group(1)} · echo ·" in terminal.text
        terminal.wait_for(lambda text: "echo: slow one" in text, timeout=60)
        # The finished bar gave way to the job's final line; none is left behind in the scrollback.
        assert f"✅ echo done · job #{job.group(1)}" in terminal.text
        assert bar_lines(terminal) == [], terminal.text
        assert terminal.text.count(f"{PROMPT} /jobs") == 1, "the typed line shows once, as sent"

        # /cancel alone stops the one job in progress.
        terminal.enter("/echo two --seconds 40")
        terminal.wait_for(lambda text: len(bar_lines(terminal)) == 1, timeout=60)
        terminal.enter("/cancel")
        terminal.wait_for(lambda text: "⏹ echo cancelled" in text, timeout=60)
        assert bar_lines(terminal) == []

        terminal.interrupt()
        terminal.wait_for(lambda text: "stopping…" in text, timeout=5)
        assert terminal.wait_exit(timeout=20) < 10
        assert terminal.child.exitstatus == 0, terminal.text
    finally:
        terminal.close()
    # Nothing but the chat reached the screen: every log line went to a file in the data folder.
    assert not LOG_LINE.search(terminal.text), terminal.text
    assert "WARNING" not in terminal.output and "Traceback" not in terminal.output
    logs = {p.name for p in (data / "logs").iterdir()}
    assert {"worker-gpu.log", "worker-cpu.log", "console.log", "redis.log"} <= logs
    # The embedded Redis kept its files in the data folder, not in a temporary folder of its own.
    assert (data / "redis" / "redis.config").is_file()
    assert "redis" in (data / "logs" / "redis.log").read_text(errors="replace").lower()
