"""Deployment files: the compose file describes every service and validates with Docker Compose."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_has_every_service() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "postgres", "worker-gpu", "worker-cpu", "telegram", "discord", "web"} <= set(services)
    assert services["worker-gpu"]["command"] == ["worker", "--queues", "gpu"]
    assert services["worker-cpu"]["command"] == ["worker", "--queues", "cpu"]
    gpu = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    # Front ends must not pull torch: they build with the bots extra only.
    assert services["telegram"]["build"]["args"]["EXTRAS"] == "bots"
    assert services["discord"]["build"]["args"]["EXTRAS"] == "bots"
    assert services["discord"]["command"] == ["discord"] and "profiles" not in services["discord"], \
        "the Discord bot starts with the stack"
    assert "STUDIO_DISCORD_TOKEN" in services["discord"]["environment"]


def test_compose_config_validates() -> None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        command = ["docker", "compose", "config", "-q"]
    elif shutil.which("docker-compose"):
        command = ["docker-compose", "config", "-q"]
    else:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    env = {**os.environ, "STUDIO_SECRET_KEY": "test-secret"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_front_ends_never_import_workers_or_torch() -> None:
    """A bot or web container installs without torch: importing every front end pulls in none of it."""
    import subprocess
    import sys

    script = (
        "import sys, bots.telegram_bot, bots.discord_bot, bots.web.app, bots.console, core.app\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'diffusers', 'transformers', 'inference', 'cv2', 'dlib', 'onnxruntime', 'peft'})\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"front ends imported {result.stdout.strip()}"
