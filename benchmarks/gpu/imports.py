"""The import check of the GPU run: every module it needs is in the standard library, the project, the wheel
set or among what the GPU machine already has.

    python -m benchmarks.gpu.imports --trace DIR [--wheels .whl]

``DIR`` holds the stages' import traces from a rehearsal (``python -m benchmarks.gpu.run --tiny
--trace-imports DIR``): every top-level module each stage imported and which module imported it first. The
GPU tests skip without CUDA before importing much, so their files (and the run's own) are also read for
their import statements. A module first imported by a package of the GPU machine is that package's own
dependency or optional extra (it works there already); one first imported by the project or by a brought
wheel must be provided, unless it is a known optional import of that wheel (``OPTIONAL``).
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import json
import re
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

from benchmarks.gpu.wheels import ROOT, WHEELS, check, normalize

# What the GPU machine has (distribution names), from the issue and docs/BENCHMARKS.md.
GPU_MACHINE = ("torch", "transformers", "accelerate", "peft", "safetensors", "tokenizers", "sentencepiece",
               "huggingface-hub", "onnx", "onnxruntime", "opencv-python-headless", "numpy", "pillow", "pytest")
PROJECT = ("benchmarks", "bots", "cli", "core", "inference", "storage", "tests", "__main__")
# Imports the brought wheels make inside ``try``/``except ImportError`` (they work without them).
OPTIONAL = {
    "cryptography": "redis: OCSP and token helpers, imported only when present",
    "opentelemetry": "redis: metrics, imported only when present",
    "pygments": "mako: syntax highlighting of template errors, imported only when present",
    "hiredis": "redis: a faster parser, imported only when present",
    "scipy": "diffusers: schedulers import it only where installed (is_scipy_available), for beta sigmas",
}
# Run only on a CUDA machine, so a CPU trace cannot see them; all belong to torch's CUDA build.
CUDA_ONLY = ("triton",)
SCANNED = ("benchmarks/gpu", "tests/gpu", "tests/conftest.py", "tests/services.py")


def wheel_modules(wheel: Path) -> set[str]:
    """Top-level import names a wheel installs."""
    names = set()
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            parts = member.split("/")
            if parts[0].endswith(".data") and len(parts) > 2 and parts[1] in ("purelib", "platlib"):
                parts = parts[2:]
            top = parts[0]
            if top.endswith((".dist-info", ".data")) or top.endswith(".pth"):
                continue
            names.add(top.split(".", 1)[0] if len(parts) == 1 else top)
    return names


def _requirements(dist: importlib.metadata.Distribution) -> Iterable[str]:
    for req in dist.requires or []:
        name, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", name.strip())
        if match:
            yield match.group(0)


def machine_modules(names: Iterable[str] = GPU_MACHINE) -> tuple[set[str], set[str]]:
    """(modules of the listed distributions, modules of their dependencies), from this environment's metadata.

    The dependencies are read from the versions installed here, which may differ from the GPU machine's: the
    report names every module that is assumed this way.
    """
    by_dist: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            by_dist.setdefault(normalize(dist), set()).add(module)
    listed = {normalize(n) for n in names}
    seen, stack = set(), list(listed)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            found = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        stack.extend(normalize(r) for r in _requirements(found))
    direct = set().union(*(by_dist.get(n, set()) for n in listed))
    deps = set().union(*(by_dist.get(n, set()) for n in seen - listed)) - direct
    return direct | {"cv2", "PIL", "torchgen", "functorch"}, deps


def scanned_imports(paths: Iterable[Path]) -> dict[str, str]:
    """Top-level modules the files import anywhere (functions included), each with the first file that does."""
    found: dict[str, str] = {}
    for base in paths:
        files = [base] if base.is_file() else sorted(base.rglob("*.py"))
        for path in files:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".", 1)[0], str(path.relative_to(ROOT)))
    return found


def traced_imports(trace_dir: Path) -> dict[str, str]:
    """Every traced top-level module with the module that imported it first (across the stages)."""
    found: dict[str, str] = {}
    for path in sorted(trace_dir.glob("*.json")):
        for module, importer in json.loads(path.read_text(encoding="utf-8")).items():
            found.setdefault(module, importer)
    return found


def classify(trace_dir: Path, wheels_dir: Path = WHEELS) -> dict[str, dict[str, str]]:
    """Every needed module under one of: stdlib, project, wheels, gpu, gpu-dependency, theirs, optional,
    missing; each with where it came from."""
    wheels = {}
    for key, path in check(wheels_dir).present.items():
        for module in wheel_modules(path):
            wheels[module] = key
    direct, deps = machine_modules()
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    needed = {m: f"imported by {i}" for m, i in traced_imports(trace_dir).items()}
    for module, where in scanned_imports(ROOT / p for p in SCANNED).items():
        needed.setdefault(module, f"imported in {where}")
    for module in CUDA_ONLY:
        needed.setdefault(module, "torch's CUDA build (torch.compile)")
    ours = set(PROJECT) | set(wheels)
    result: dict[str, dict[str, str]] = {}
    for module, why in sorted(needed.items()):
        importer = why.removeprefix("imported by ")
        if module.startswith("_") or module in stdlib:
            kind = "stdlib"
        elif module in PROJECT:
            kind = "project"
        elif module in wheels:
            kind, why = "wheels", f"{wheels[module]} ({why})"
        elif module in direct or module in CUDA_ONLY:
            kind = "gpu"
        elif module in deps:
            kind = "gpu-dependency"
        elif why.startswith("imported by ") and importer not in ours and importer not in ("(before the trace)",):
            kind = "theirs"
        elif module in OPTIONAL:
            kind, why = "optional", OPTIONAL[module]
        else:
            kind = "missing"
        result[module] = {"kind": kind, "why": why}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trace", type=Path, required=True)
    parser.add_argument("--wheels", type=Path, default=WHEELS)
    args = parser.parse_args(argv)
    result = classify(args.trace, args.wheels)
    by_kind: dict[str, list[str]] = {}
    for module, entry in result.items():
        by_kind.setdefault(entry["kind"], []).append(module)
    for kind in ("wheels", "gpu", "gpu-dependency", "theirs", "optional"):
        print(f"{kind}: {', '.join(sorted(by_kind.get(kind, []))) or '-'}")
    for module in by_kind.get("gpu-dependency", []):
        print(f"  assumed on the GPU machine as a dependency of its packages: {module} ({result[module]['why']})")
    missing = by_kind.get("missing", [])
    for module in missing:
        print(f"MISSING: {module} ({result[module]['why']})")
    print("import check: " + ("every import resolves" if not missing else f"{len(missing)} module(s) missing"))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
