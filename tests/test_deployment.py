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
