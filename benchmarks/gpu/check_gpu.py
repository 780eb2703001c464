"""The GPU check that opens the run: the CUDA device and the software around it, or a clean stop without one.

    python -m benchmarks.gpu.check_gpu --out DIR

Exit status 0 with a CUDA device (its description goes to ``DIR/stages/env.json``); ``NO_CUDA`` (3) without
one, after writing ``DIR/gpu.json`` saying so. Only the standard library and torch are imported, so it runs
before the wheels are installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NO_CUDA = 3
PACKAGES = ("torch", "triton", "transformers", "accelerate", "peft", "safetensors", "tokenizers",
            "huggingface-hub", "onnxruntime", "numpy", "pillow", "pytest", "diffusers")


def versions() -> dict[str, str | None]:
    """Installed versions of the packages the run depends on (None where missing)."""
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def nvidia_smi() -> dict[str, str]:
    """Driver, power limit and clocks as ``nvidia-smi`` reports them (empty where it is missing)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {}
    fields = ("driver_version", "power.limit", "clocks.max.sm", "clocks.max.mem", "memory.total")
    try:
        result = subprocess.run([exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return {}
    values = [v.strip() for v in result.stdout.splitlines()[0].split(",")] if result.stdout.strip() else []
    return dict(zip(fields, values, strict=False))


def describe() -> tuple[bool, dict[str, Any]]:
    """Whether a CUDA device is usable, and what the run should record about this machine."""
    info: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions(),
    }
    try:
        import torch
    except ImportError:
        info["problem"] = "torch is not installed"
        return False, info
    info["torch_cuda"] = torch.version.cuda
    if not torch.cuda.is_available():
        info["problem"] = f"torch {torch.__version__} sees no CUDA device"
        return False, info
    props = torch.cuda.get_device_properties(0)
    info.update(
        gpu=props.name,
        gpu_count=torch.cuda.device_count(),
        memory_gib=round(props.total_memory / 2**30, 1),
        capability=f"{props.major}.{props.minor}",
        multiprocessors=props.multi_processor_count,
        bf16=torch.cuda.is_bf16_supported(),
        cudnn=torch.backends.cudnn.version(),
        flash_sdp=torch.backends.cuda.flash_sdp_enabled(),
        nvidia_smi=nvidia_smi(),
        # Triton builds its launcher with a C compiler on first use: without one torch.compile cannot run.
        c_compiler=next((found for cc in ("cc", "gcc", "clang") if (found := shutil.which(cc))), None),
        cpu_count=os.cpu_count(),
    )
    return True, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    usable, info = describe()
    args.out.mkdir(parents=True, exist_ok=True)
    if not usable:
        print(f"no CUDA device: {info['problem']}; the GPU run stops here (nothing was measured)")
        (args.out / "gpu.json").write_text(json.dumps({"status": "no-cuda", "machine": info}, indent=1),
                                           encoding="utf-8")
        return NO_CUDA
    stages = args.out / "stages"
    stages.mkdir(parents=True, exist_ok=True)
    (stages / "env.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    print(f"GPU: {info['gpu']}, {info['memory_gib']} GiB, compute {info['capability']}, torch "
          f"{info['versions']['torch']} (CUDA {info['torch_cuda']}), Python {info['python']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
