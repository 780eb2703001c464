"""`studio up` on embedded defaults: migrations, embedded Redis, a worker, the web page and the console."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.workers import ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _processes_in(directory: Path) -> list[int]:
    """Pids of processes whose working directory is ``directory`` (the embedded Redis runs there)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cwd").resolve() == directory.resolve():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("stop", ["ctrl-d", "ctrl-c", "hangup"])
def test_studio_up_runs_a_job_from_the_console_and_stops_cleanly(tmp_path: Path, stop: str) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env.update(STUDIO_DATA_DIR=str(tmp_path / "data"), STUDIO_WEB_PORT=str(port), STUDIO_MODEL_PROFILE="tiny",
               STUDIO_PROGRESS_INTERVAL_S="0.2")
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "up", "--user", "tester"], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        assert proc.stdin is not None
        proc.stdin.write("/echo hello-from-up --seconds 1\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any("echo: hello-from-up" in line for line in lines):
            time.sleep(0.2)
        output = "".join(lines)
        assert "echo: hello-from-up" in output, output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            assert response.status == 200
        if stop == "ctrl-d":
            proc.stdin.close()  # the console ends and `up` stops its children
            assert proc.wait(timeout=60) == 0, "".join(lines)
        elif stop == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole process group
            assert proc.wait(timeout=60) == 0, "".join(lines)
        else:
            proc.send_signal(signal.SIGHUP)  # the terminal was closed
            proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # Nothing is left listening: the web page and the embedded Redis went down with it.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert "Traceback" not in "".join(lines)
    deadline = time.monotonic() + 10
    while _processes_in(tmp_path / "data") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_in(tmp_path / "data") == [], "the embedded Redis and the children are gone too"
