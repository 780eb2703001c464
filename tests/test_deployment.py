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


def test_compose_keeps_blobs_in_the_object_store_and_shares_no_folder() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    studio = {name: spec for name, spec in services.items() if "build" in spec}
    assert {"worker-gpu", "worker-cpu", "telegram", "discord", "web", "migrate", "storage-init"} <= set(studio)
    for name, spec in studio.items():
        env = spec["environment"]
        assert env["STUDIO_BLOB_URL"].startswith("s3://") and env["STUDIO_S3_ENDPOINT_URL"], name
        assert "AWS_ACCESS_KEY_ID" in env and "AWS_SECRET_ACCESS_KEY" in env, name
    mounts = [volume.split(":")[0] for spec in studio.values() for volume in spec.get("volumes", [])
              if not volume.endswith(":/models")]
    assert len(mounts) == len(set(mounts)), f"a data folder shared between services: {mounts}"
    assert services["storage-init"]["command"] == ["storage", "check", "--create-bucket"]
    assert "objectstore" in services and services["objectstore"]["ports"] == ["127.0.0.1:8333:8333"]


def test_compose_config_validates() -> None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        command = ["docker", "compose", "config", "-q"]
    elif shutil.which("docker-compose"):
        command = ["docker-compose", "config", "-q"]
    else:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    env = {**os.environ, "STUDIO_SECRET_KEY": "test-secret", "AWS_ACCESS_KEY_ID": "studio",
           "AWS_SECRET_ACCESS_KEY": "test-secret"}
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
