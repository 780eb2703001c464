"""Provenance benchmark: what the two layers cost, and how much of the watermark survives what a post goes through.

Cost (median of ``--runs``, in CPU seconds, which other processes on the machine do not inflate, with
wall-clock seconds beside them), against the export work each file needs anyway:

- a picture: the Instagram feed rendition (1080x1350, 1.46 MP) of a 1024x1024 still, as the export job makes it
  (fit, scale, JPEG q90 with the XMP label), then the watermark on the finished frame and the C2PA signature
  (with the source as parent ingredient); reported per 1 MP and as a share of the whole file's time;
- a clip: the feed rendition of a 10 s 1920x1080 30 fps clip with sound, with and without the watermark in
  the same ffmpeg run, then its signature; the share is (extra encode time + signing) / the whole file's time;
- ``stamp`` of a delivered chat result: a 1024x1024 JPEG and PNG, and the 10 s 1080p clip (re-encoded once to
  carry the watermark).

Survival: three photos at the feed size marked with the asset id's first 32 bits, then JPEG q90/80/70, scaled
to 1080 and 720 px on the long side (then JPEG q85), cropped by 10 % (5 % off each edge, JPEG q85) and
H.264-encoded at CRF 23 and 28 (a 1 s clip of the picture, libx264 veryfast yuv420p, decoded back), and the
watermarked clip re-encoded at CRF 23 and 28 and at 720 px. The table gives the payload bits recovered (of
32; the least over the photos) and whether the asset was identified (checksum held). With
``invisible-watermark`` importable (``pip install --no-deps invisible-watermark PyWavelets``: it would pull
torch and a second OpenCV otherwise) its dwtDct, dwtDctSvd and rivaGan methods get the same 32 bits and the
same edits, for comparison.

    .venv/bin/python benchmarks/provenance.py [--runs 7] [--skip-timing] [--skip-survival] [--no-baselines]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.platforms import PRESETS, ImageFormat  # noqa: E402
from inference.export.images import render_image  # noqa: E402
from inference.export.package import _Marks  # noqa: E402
from inference.export.videos import render_video  # noqa: E402
from inference.media import ffmpeg_exe, probe, read_frames, transcode  # noqa: E402
from inference.provenance import labels, payload, watermark  # noqa: E402
from inference.provenance.credentials import Claim, Ingredient  # noqa: E402
from inference.provenance.keys import local_keys  # noqa: E402
from inference.provenance.stamp import Stamper  # noqa: E402
from storage.states import AssetOrigin  # noqa: E402

ASSET = "3fa85f6457174562"
PLATFORM = PRESETS["instagram"]
FEED = PLATFORM.presets[0]
CLIP_SECONDS = 10
SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def _cpu() -> float:
    """CPU seconds of this process (all threads, fine-grained) and of its finished children (ffmpeg; counted in
    clock ticks, which is fine for children that run for seconds)."""
    children = os.times()
    return time.process_time() + children.children_user + children.children_system


def median_time(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds of ``fn``. CPU time is what the work costs; wall time on a
    machine others are using also counts the time other processes held the cores."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), _cpu()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def photos() -> dict[str, Image.Image]:
    """Three photos of different kinds at the feed size: a portrait, a still life, and a group (insightface's
    sample photo where that package is installed, else a cat)."""
    import skimage.data

    group = SITE / "insightface" / "data" / "images" / "t1.jpg"
    found = {"astronaut": Image.fromarray(skimage.data.astronaut()),
             "coffee": Image.fromarray(skimage.data.coffee()),
             "group": Image.open(group) if group.is_file() else Image.fromarray(skimage.data.chelsea())}
    return {name: _fill(image, (FEED.width, FEED.height)) for name, image in found.items()}


def _fill(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    from PIL import ImageOps

    return ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)


def make_clip(folder: Path, still: Image.Image) -> Path:
    """A 10 s 1920x1080 30 fps clip with stereo sound: a slow zoom over a photo (as the export benchmark)."""
    source = folder / "still.png"
    still.save(source)
    path = folder / "clip.mp4"
    frames = CLIP_SECONDS * 30
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-loop", "1", "-i", str(source),
                    "-f", "lavfi", "-i", f"sine=frequency=330:duration={CLIP_SECONDS}",
                    "-filter_complex", f"[0:v]scale=3840:-2,zoompan=z='1+0.2*on/{frames}':d={frames}:"
                    "x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':s=1920x1080:fps=30,format=yuv420p[v]",
                    "-map", "[v]", "-map", "1:a", "-t", str(CLIP_SECONDS), "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "18", "-c:a", "aac", "-ac", "2", "-y", str(path)], check=True, timeout=600)
    return path


# ---- cost -------------------------------------------------------------------------------------------------------


def timing(folder: Path, stamper: Stamper, runs: int) -> list[list[str]]:
    """Rows: what the export does anyway, what the watermark and signature add, and their share (CPU time)."""
    still = _fill(Image.open(folder / "astronaut-1024.png"), (1024, 1024))
    still_path = folder / "still-1024.png"
    still.save(still_path)
    fmt = ImageFormat()
    parent = (Ingredient(path=still_path, asset_id=ASSET),)
    claim = Claim(origin=AssetOrigin.GENERATED, asset_id=ASSET, title="feed.jpg", note="fitted", ingredients=parent,
                  watermark=ASSET[:8])
    megapixels = FEED.width * FEED.height / 1e6
    render = median_time(lambda: render_image(still, FEED, fmt, source_type=labels.TRAINED), runs)
    # The watermark as the export applies it (the frame read out of PIL, marked, written back), not on an array
    # kept from run to run: fresh memory and the copies cost as much as the arithmetic.
    marks = _Marks(stamper, ASSET, folder)
    marked_render = median_time(lambda: render_image(still, FEED, fmt, source_type=labels.TRAINED,
                                                     watermark=marks.image), runs)
    mark = (max(0.0, marked_render[0] - render[0]), max(0.0, marked_render[1] - render[1]))
    data = render_image(still, FEED, fmt, source_type=labels.TRAINED).data
    sign = median_time(lambda: stamper.sign_bytes(claim, "jpeg", data), runs)
    rows = [_row("feed JPEG 1080x1350 (1.46 MP) from a 1024² still", render, mark, sign,
                 f"{(mark[1] + sign[1]) / megapixels * 1000:.0f} ms/MP")]

    clip = make_clip(folder, still)
    info = probe(clip)
    out = folder / "feed.mp4"

    def export_clip(marked: bool) -> None:
        def add_mark(graph: str, width: int, height: int) -> str:
            return stamper.video_filter(graph, width=width, height=height, asset_id=ASSET, workdir=folder)[0]
        render_video(clip, out, FEED, PLATFORM, source_type=labels.TRAINED, info=info,
                     watermark=add_mark if marked else None)

    plain = median_time(lambda: export_clip(False), runs)
    marked = median_time(lambda: export_clip(True), runs)
    # The blend on its own (decode the exported clip, with and without it, no encode): the difference between
    # two whole encodes is smaller than their run-to-run spread.
    pattern_graph = stamper.video_filter("null", width=FEED.width, height=FEED.height, asset_id=ASSET,
                                         workdir=folder)[0]

    def decode(graph: str) -> None:
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(out), "-filter_complex",
                        f"[0:v:0]{graph}[v]", "-map", "[v]", "-f", "null", "-"], check=True, timeout=600)

    blend = median_time(lambda: decode(pattern_graph), runs)
    bare = median_time(lambda: decode("null"), runs)
    video_claim = Claim(origin=AssetOrigin.GENERATED, asset_id=ASSET, title="feed.mp4", note="fitted",
                        ingredients=(Ingredient(path=clip, asset_id=ASSET),), watermark=ASSET[:8])
    signed = folder / "feed-signed.mp4"
    vsign = median_time(lambda: stamper.signer.sign_file(video_claim, "video/mp4", out, signed), runs)
    extra = (max(0.0, blend[0] - bare[0]), max(0.0, blend[1] - bare[1]))
    rows.append(_row(f"feed MP4 1080x1350 from a {CLIP_SECONDS} s 1080p clip", plain, extra, vsign,
                     f"{extra[1] + vsign[1]:.2f} s/clip"))
    rows.append([f"  (the same export with the watermark blended in: {marked[1]:.2f} CPU s, {marked[0]:.1f} s wall)",
                 "", "", "", "", ""])

    # The export benchmark's Instagram package: 10 stills in three presets and one clip in two.
    stills_n, clip_n = 10 * 3, 2
    spent = stills_n * (mark[1] + sign[1]) + clip_n * (extra[1] + vsign[1])
    whole = stills_n * (render[1] + mark[1] + sign[1]) + clip_n * (marked[1] + vsign[1])
    rows.append(["Instagram package: 10 stills × 3 presets + the clip × 2", f"{whole - spent:.2f}", "-", "-",
                 f"{spent:.2f} s", f"{100 * spent / whole:.0f} %"])

    for name, suffix in (("JPEG", ".jpg"), ("PNG", ".png")):
        original = folder / f"original{suffix}"
        still.save(original, quality=90) if suffix == ".jpg" else still.save(original)

        def stamp_still(original: Path = original, suffix: str = suffix) -> None:
            target = folder / f"result{suffix}"
            shutil.copy(original, target)
            stamper.stamp(target, kind="image", origin="generated", asset_id=ASSET)
        wall, cpu = median_time(stamp_still, runs)
        rows.append([f"stamp() of a 1024² chat result ({name}: read, mark, re-encode, sign)", "-", "-", "-",
                     f"{cpu / 1.048576 * 1000:.0f} ms/MP (wall {wall / 1.048576 * 1000:.0f})", "-"])

    def stamp_clip() -> None:
        target = folder / "result.mp4"
        shutil.copy(clip, target)
        stamper.stamp(target, kind="video", origin="generated", asset_id=ASSET)
    wall, cpu = median_time(stamp_clip, max(1, runs // 3))
    rows.append([f"stamp() of the {CLIP_SECONDS} s 1080p clip (one re-encode, CRF 18)", "-", "-", "-",
                 f"{cpu:.1f} CPU s (wall {wall:.1f} s)", "-"])
    return rows


def _row(name: str, work: tuple[float, float], mark: tuple[float, float], sign: tuple[float, float],
         cost: str) -> list[str]:
    share = (mark[1] + sign[1]) / (work[1] + mark[1] + sign[1])
    return [name, f"{work[1]:.3f} ({work[0]:.3f})", f"{mark[1]:+.3f} ({mark[0]:+.3f})",
            f"{sign[1]:.3f} ({sign[0]:.3f})", cost, f"{100 * share:.0f} %"]


# ---- survival ---------------------------------------------------------------------------------------------------


def jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def longest(pixels: np.ndarray, side: int) -> np.ndarray:
    height, width = pixels.shape[:2]
    scale = side / max(width, height)
    size = (round(width * scale), round(height * scale))
    return jpeg(np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS)), 85)


def crop(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    return jpeg(pixels[round(0.05 * height):round(0.95 * height), round(0.05 * width):round(0.95 * width)], 85)


def h264(pixels: np.ndarray, crf: int) -> np.ndarray:
    height, width = (side // 2 * 2 for side in pixels.shape[:2])
    frames = np.ascontiguousarray(np.repeat(pixels[None, :height, :width], 30, axis=0))
    encoded = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
                              "-s", f"{width}x{height}", "-r", "30", "-i", "-", "-c:v", "libx264", "-preset",
                              "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p", "-f", "mp4", "-movflags",
                              "frag_keyframe+empty_moov", "-"], input=frames.tobytes(), capture_output=True,
                             check=True).stdout
    decoded = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", "-", "-vf", "select=eq(n\\,15)",
                              "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], input=encoded,
                             capture_output=True, check=True).stdout
    return np.frombuffer(decoded, dtype=np.uint8).reshape(height, width, 3)


EDITS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda p: p,
    "JPEG q90": lambda p: jpeg(p, 90),
    "JPEG q80": lambda p: jpeg(p, 80),
    "JPEG q70": lambda p: jpeg(p, 70),
    "resize 1080 px": lambda p: longest(p, 1080),
    "resize 720 px": lambda p: longest(p, 720),
    "crop 10 %": crop,
    "H.264 CRF 23": lambda p: h264(p, 23),
    "H.264 CRF 28": lambda p: h264(p, 28),
}


def bits_recovered(found: str | None, truth: str) -> int:
    if not found:
        return 0
    return 32 - bin(int(found, 16) ^ int(truth, 16)).count("1")


class Method:
    name = ""

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def read(self, pixels: np.ndarray) -> tuple[int, bool]:
        """Bits recovered of 32, and whether the asset was identified."""
        raise NotImplementedError


class Ours(Method):
    name = f"{watermark.VERSION} (ours)"

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        return watermark.embed(pixels, ASSET)

    def read(self, pixels: np.ndarray) -> tuple[int, bool]:
        found = watermark.detect(pixels)
        return bits_recovered(found.raw, ASSET[:8]), found.prefix == ASSET[:8]


class Baseline(Method):
    """invisible-watermark's methods, with the same 32 bits (BGR pixels, as that library takes)."""

    def __init__(self, method: str) -> None:
        from imwatermark import WatermarkDecoder, WatermarkEncoder

        self.name = f"invisible-watermark {method}"
        self.method = method
        if method == "rivaGan":
            WatermarkEncoder.loadModel()
            WatermarkDecoder.loadModel()
        self.encoder = WatermarkEncoder()
        self.encoder.set_watermark("bytes", bytes.fromhex(ASSET[:8]))
        self.decoder = WatermarkDecoder("bytes", 32)

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.encoder.encode(pixels[..., ::-1].copy(), self.method)[..., ::-1])

    def read(self, pixels: np.ndarray) -> tuple[int, bool]:
        try:
            found = self.decoder.decode(np.ascontiguousarray(pixels[..., ::-1]), self.method).hex()
        except Exception:  # the library fails on sizes it does not expect (a crop)
            return 0, False
        return bits_recovered(found, ASSET[:8]), found == ASSET[:8]


def survival(methods: list[Method], pictures: dict[str, Image.Image]) -> tuple[list[str], list[list[str]], list[str]]:
    headers = ["edit", *(m.name for m in methods)]
    results: dict[str, dict[str, list[tuple[int, bool]]]] = {e: {m.name: [] for m in methods} for e in EDITS}
    speed = []
    for method in methods:
        marked_all = []
        started = time.perf_counter()
        for picture in pictures.values():
            marked_all.append(method.embed(np.asarray(picture)))
        per = (time.perf_counter() - started) / len(pictures) / (FEED.width * FEED.height / 1e6)
        speed.append(f"{method.name}: embed {per:.2f} s/MP")
        for marked in marked_all:
            for edit, apply in EDITS.items():
                results[edit][method.name].append(method.read(apply(marked)))
    rows = []
    for edit in EDITS:
        cells = []
        for method in methods:
            found = results[edit][method.name]
            cells.append(f"{min(b for b, _ in found)}/32, {sum(ok for _, ok in found)}/{len(found)} identified")
        rows.append([edit, *cells])
    return headers, rows, speed


def clip_survival(folder: Path, stamper: Stamper, clip: Path) -> list[list[str]]:
    marked = folder / "marked.mp4"
    info = probe(clip)

    def mark(graph: str, width: int, height: int) -> str:
        return stamper.video_filter(graph, width=width, height=height, asset_id=ASSET, workdir=folder)[0]

    render_video(clip, marked, FEED, PLATFORM, source_type=labels.TRAINED, info=info, watermark=mark)
    rows = []
    variants = {"exported feed clip": marked}
    for crf in (23, 28):
        variants[f"re-encoded CRF {crf}"] = transcode(marked, folder / f"crf{crf}.mp4", video_filter="null",
                                                      fps=30, crf=crf)
    variants["720 px, CRF 23"] = transcode(marked, folder / "small.mp4", video_filter="scale=576:720", fps=30, crf=23)
    for name, path in variants.items():
        frames = list(read_frames(path, fps=6 / CLIP_SECONDS, max_frames=6))
        found = watermark.detect_frames(frames)
        rows.append([name, f"{bits_recovered(found.raw, ASSET[:8])}/32, "
                     f"{'identified' if found.prefix == ASSET[:8] else 'not identified'} (score {found.score:.0f})"])
    return rows


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-survival", action="store_true")
    parser.add_argument("--no-baselines", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="provenance-bench-"))
    try:
        stamper = Stamper(local_keys(tmp / "keys"))
        pictures = photos()
        import skimage.data

        Image.fromarray(skimage.data.astronaut()).resize((1024, 1024)).save(tmp / "astronaut-1024.png")
        print(f"{os.cpu_count()} CPU cores; medians of {args.runs} runs; payload {payload.DATA_BITS} bits "
              f"(+{payload.CRC_BITS} CRC, rate-1/2 K={payload.CONSTRAINT} code: {payload.CODED_BITS} coded bits)\n")
        if not args.skip_timing:
            print("CPU seconds, wall-clock seconds in brackets; the share is of the file's whole CPU time")
            print(table(["file", "export work", "watermark", "signature", "provenance", "share"],
                        timing(tmp, stamper, args.runs)))
            print()
        if not args.skip_survival:
            methods: list[Method] = [Ours()]
            if not args.no_baselines:
                try:
                    methods += [Baseline("dwtDct"), Baseline("dwtDctSvd"), Baseline("rivaGan")]
                except ImportError:
                    print("(invisible-watermark is not installed: no baselines)")
            headers, rows, speed = survival(methods, pictures)
            print(f"Survival, {len(pictures)} photos at {FEED.width}x{FEED.height} (least bits recovered over "
                  "the photos, and how many were identified):")
            print(table(headers, rows))
            print("; ".join(speed))
            print()
            clip = tmp / "clip.mp4"
            if not clip.is_file():
                clip = make_clip(tmp, pictures["astronaut"])
            print(f"Clip: the {CLIP_SECONDS} s 1080p clip exported to the feed preset, then re-encoded:")
            print(table(["clip", "payload"], clip_survival(tmp, stamper, clip)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
