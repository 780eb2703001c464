"""Export benchmark: seconds to package 10 images and one 10 s 1080p clip for a platform, on the CPU.

The package is built as the export job builds it (``inference.export.package.build_package`` with the dlib face
finder): 10 distinct 1024x1024 stills (the image job's default size; scikit-image's astronaut, cropped and
turned) and a 10 s 1920x1080 30 fps clip with a stereo tone (a slow zoom over a photo, like /animate's
presets), each made in every preset of the platform for its kind, watermarked and signed with Content
Credentials, then zipped. Reported: the whole package, and its images and its clip on their own, median of
``--runs``.

    .venv/bin/python benchmarks/export_package.py [--platform instagram|...|all] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.platforms import PRESETS, Platform  # noqa: E402
from inference.engines.faces.dlib_backend import load_dlib  # noqa: E402
from inference.export.fit import Box  # noqa: E402
from inference.export.package import BuiltPackage, ExportSource, build_package  # noqa: E402
from inference.media import ffmpeg_exe  # noqa: E402
from inference.provenance.keys import local_keys  # noqa: E402
from inference.provenance.stamp import Stamper  # noqa: E402

IMAGES = 10
CLIP_SECONDS = 10


def stills(folder: Path) -> list[Path]:
    """Ten different 1024x1024 PNGs of one photo: crops at several places and angles."""
    import skimage.data

    photo = Image.fromarray(skimage.data.astronaut()).resize((1400, 1400), Image.Resampling.LANCZOS)
    paths = []
    for index in range(IMAGES):
        x, y = 40 * index, 30 * (index % 4)
        crop = photo.rotate(3 * (index - 5), resample=Image.Resampling.BICUBIC).crop((x, y, x + 1024, y + 1024))
        path = folder / f"still-{index}.png"
        crop.save(path)
        paths.append(path)
    return paths


def clip(folder: Path, still: Path) -> Path:
    """A 10 s 1920x1080 30 fps H.264 clip with AAC stereo sound: a slow zoom over the first still."""
    path = folder / "clip.mp4"
    frames = CLIP_SECONDS * 30
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-loop", "1", "-i", str(still),
                    "-f", "lavfi", "-i", f"sine=frequency=330:duration={CLIP_SECONDS}",
                    "-filter_complex", f"[0:v]scale=3840:-2,zoompan=z='1+0.2*on/{frames}':d={frames}:"
                    "x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':s=1920x1080:fps=30,format=yuv420p[v]",
                    "-map", "[v]", "-map", "1:a", "-t", str(CLIP_SECONDS), "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "18", "-c:a", "aac", "-ac", "2", "-y", str(path)], check=True, timeout=600)
    return path


def _median(fn: Callable[[], BuiltPackage], runs: int) -> tuple[float, BuiltPackage]:
    times, built = [], None
    for _ in range(runs):
        started = time.perf_counter()
        built = fn()
        times.append(time.perf_counter() - started)
    assert built is not None
    return statistics.median(times), built


def package(sources: Sequence[ExportSource], platform: Platform, work: Path,
            find_faces: Callable[[np.ndarray], list[Box]]) -> BuiltPackage:
    shutil.rmtree(work, ignore_errors=True)
    created = datetime.now(UTC)
    # Every file is watermarked and signed, as in the export job (local keys, made once per run).
    stamper = Stamper(local_keys(work.parent / "keys"))
    return build_package(sources, platform, workdir=work, package_id="bench", created_at=created,
                         expires_at=created + timedelta(hours=72), stamper=stamper, find_faces=find_faces)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--platform", default="instagram", choices=[*PRESETS, "all"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="export-bench-"))
    try:
        images = stills(tmp)
        video = clip(tmp, images[0])
        analyzer = load_dlib()

        def find_faces(pixels: np.ndarray) -> list[Box]:
            return [d.box for d in analyzer.detect(np.ascontiguousarray(pixels))]

        image_sources = [ExportSource(f"{i:08x}", "image", path, "generated",
                                      prompt="Ava floating in the space station") for i, path in enumerate(images)]
        video_source = [ExportSource("c1100000", "video", video, "generated",
                                     prompt="Ava floating in the space station")]
        names = list(PRESETS) if args.platform == "all" else [args.platform]
        rows = []
        work = tmp / "work"
        for name in names:
            platform = PRESETS[name]
            whole_s, built = _median(lambda p=platform: package([*image_sources, *video_source], p, work,
                                                                find_faces), args.runs)
            files, size = len(built.files), built.size_bytes
            images_s, _ = _median(lambda p=platform: package(image_sources, p, work, find_faces), args.runs)
            video_s, _ = _median(lambda p=platform: package(video_source, p, work, find_faces), args.runs)
            presets = " ".join(f"{p.name}({'i' if p.kinds == {'image'} else 'i+v'})" for p in platform.presets)
            rows.append([name, presets, str(files), f"{size / 2**20:.1f}", f"{whole_s:.1f}", f"{images_s:.1f}",
                         f"{video_s:.1f}", f"{IMAGES * len(platform.presets_for('image')) / images_s:.1f}"])
        print(f"{IMAGES} stills 1024x1024 + one {CLIP_SECONDS} s 1920x1080 30 fps clip with sound; median of "
              f"{args.runs} runs on {os.cpu_count()} CPU cores (libx264 veryfast)")
        print(table(["platform", "presets", "files", "zip MB", "package s", "images s", "clip s", "images/s"],
                    rows))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
