"""Watermark read-back over many asset ids: how often the payload comes back, clean and after common edits,
and how often an unmarked picture is taken for a marked one.

One id's mark can read well while another's fails (the payload decides which chips are +1 and which -1, and so how
the pattern meets the picture), so one asset id proves little: every (picture, size) pair is marked with ``--ids``
random ids (``secrets.token_hex(8)``-style, from a fixed seed so runs compare) and read back as it is;
``--edit-ids`` of them are also read after JPEG q75, a 50 % resize and a 10 % crop (5 % off each edge); with
``--harder`` also after JPEG q50, a 50 % resize then JPEG q75, and a 33 % resize. Pictures: the astronaut as the
tests use it (``tests/faces_data.py``), insightface's group photo ``t1.jpg`` and ``Tom_Hanks_54745.png`` (a 112 px
face enlarged: soft, little texture), and a flat-ish sky (a smooth gradient with faint noise, where the mask is at
its floor); sizes 480x360, 1024x1024, 720x1280.

False detections: ``--unmarked`` pictures nobody marked (skimage's sample photos and crops of the pictures
above at several sizes) must neither pass ``DETECT_SCORE`` nor decode to a prefix whose checksum holds.

The PSNR column is the marked picture against the original (all three channels), the mean over the ids.

    .venv/bin/python benchmarks/watermark_survival.py [--ids 300] [--edit-ids 60] [--unmarked 120] [--harder]
        [--show-failures]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.provenance import jpeg, table  # noqa: E402
from inference.provenance import watermark  # noqa: E402
from tests import faces_data  # noqa: E402

SIZES = ((480, 360), (1024, 1024), (720, 1280))
SEED = 20261130


def _sky() -> Image.Image:
    """A flat-ish picture: a vertical blue gradient with faint noise (flat areas get the mask's floor)."""
    rows = np.linspace(0.0, 1.0, 720)[:, None, None]
    top, bottom = np.array([70.0, 120.0, 200.0]), np.array([190.0, 215.0, 240.0])
    sky = np.broadcast_to(top + (bottom - top) * rows, (720, 960, 3))
    noise = np.random.default_rng(1).normal(0.0, 1.2, sky.shape)
    return Image.fromarray(np.clip(np.rint(sky + noise), 0, 255).astype(np.uint8))


def pictures() -> dict[str, Image.Image]:
    images = faces_data.images_dir()
    return {"astronaut": faces_data.astronaut(),
            "group": Image.open(images / "t1.jpg").convert("RGB"),
            "tom": faces_data.tom(),
            "sky": _sky()}


def fitted(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """``image`` at ``size``: a square source stretched to it (as the tests do with the astronaut), any other
    filled (scaled and cropped to the aspect)."""
    if image.width == image.height:
        return np.asarray(image.resize(size, Image.Resampling.LANCZOS).convert("RGB"))
    return np.asarray(ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS))


def half(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    return np.asarray(Image.fromarray(pixels).resize((width // 2, height // 2), Image.Resampling.LANCZOS))


def crop(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    return np.ascontiguousarray(pixels[round(0.05 * height):round(0.95 * height),
                                       round(0.05 * width):round(0.95 * width)])


def third(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    return np.asarray(Image.fromarray(pixels).resize((width // 3, height // 3), Image.Resampling.LANCZOS))


Edit = Callable[[np.ndarray], np.ndarray]
EDITS: dict[str, Edit] = {
    "JPEG q75": lambda pixels: jpeg(pixels, 75),
    "resize 50 %": half,
    "crop 10 %": crop,
}
# Beyond what a post usually goes through (``--harder``): where the margin shows once the edits above all pass.
HARDER: dict[str, Edit] = {
    "JPEG q50": lambda pixels: jpeg(pixels, 50),
    "resize 50 % + JPEG q75": lambda pixels: jpeg(half(pixels), 75),
    "resize 33 %": third,
}


def asset_ids(count: int) -> list[str]:
    rng = np.random.default_rng(SEED)
    return [rng.bytes(8).hex() for _ in range(count)]


def psnr(marked: np.ndarray, original: np.ndarray) -> float:
    error = np.mean((marked.astype(np.float64) - original.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(error, 1e-12)))


def read_back(originals: dict[str, Image.Image], ids: list[str], edit_ids: int, edits: dict[str, Edit],
              failures: list[str]) -> list[list[str]]:
    """One row per (picture, size): ids read back clean and after each edit, least clean score, mean PSNR."""
    rows = []
    for name, image in originals.items():
        for size in SIZES:
            original = fitted(image, size)
            clean = 0
            edited = dict.fromkeys(edits, 0)
            scores, quality = [], []
            for index, asset_id in enumerate(ids):
                marked = watermark.embed(original, asset_id)
                quality.append(psnr(marked, original))
                found = watermark.detect(marked)
                scores.append(found.score)
                if found.prefix == asset_id[:8]:
                    clean += 1
                else:
                    failures.append(f"{name} {size[0]}x{size[1]} clean {asset_id}: {found}")
                if index >= edit_ids:
                    continue
                for edit, apply in edits.items():
                    seen = watermark.detect(apply(marked))
                    if seen.prefix == asset_id[:8]:
                        edited[edit] += 1
                    else:
                        failures.append(f"{name} {size[0]}x{size[1]} {edit} {asset_id}: {seen}")
            tried = min(edit_ids, len(ids))
            rows.append([f"{name} {size[0]}×{size[1]}", f"{clean}/{len(ids)}",
                         *(f"{edited[edit]}/{tried}" for edit in edits),
                         f"{min(scores):.1f}", f"{np.mean(quality):.1f} dB"])
            print(" | ".join(rows[-1]), flush=True)
    return rows


def unmarked(originals: dict[str, Image.Image], count: int) -> Iterator[tuple[str, np.ndarray]]:
    """``count`` pictures nobody marked: skimage's sample photos, then random crops of ``originals``."""
    import skimage.data

    samples = ("camera", "coffee", "chelsea", "rocket", "coins", "moon", "page", "text", "horse", "hubble_deep_field",
               "immunohistochemistry", "motorcycle_left", "retina", "brick", "grass", "gravel", "cell", "clock")
    made = 0
    for sample in samples:
        if made >= count:
            return
        try:
            pixels = getattr(skimage.data, sample)()
        except Exception:  # some samples download on first use; this machine may have no network
            continue
        if pixels.dtype != np.uint8:
            pixels = (255 * (pixels > 0)).astype(np.uint8) if pixels.dtype == bool else pixels.astype(np.uint8)
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[..., None], 3, axis=2)
        made += 1
        yield sample, np.ascontiguousarray(pixels[..., :3])
    rng = np.random.default_rng(SEED + 1)
    sources = [(name, np.asarray(image.convert("RGB"))) for name, image in originals.items()]
    while made < count:
        name, pixels = sources[made % len(sources)]
        height, width = pixels.shape[:2]
        crop_w, crop_h = (int(rng.integers(max(64, side // 3), side + 1)) for side in (width, height))
        left, top = int(rng.integers(0, width - crop_w + 1)), int(rng.integers(0, height - crop_h + 1))
        target = SIZES[made % len(SIZES)]
        piece = Image.fromarray(pixels[top:top + crop_h, left:left + crop_w])
        made += 1
        yield f"{name} crop", np.asarray(ImageOps.fit(piece, target, Image.Resampling.LANCZOS))


def false_detections(originals: dict[str, Image.Image], count: int, failures: list[str]) -> tuple[int, int, float]:
    """How many unmarked pictures read as marked, of how many, and the highest score among them."""
    seen, wrong, highest = 0, 0, 0.0
    for name, pixels in unmarked(originals, count):
        found = watermark.detect(pixels)
        seen += 1
        highest = max(highest, found.score)
        if found.present or found.prefix is not None:
            wrong += 1
            failures.append(f"unmarked {name} {pixels.shape[1]}x{pixels.shape[0]}: {found}")
    return wrong, seen, highest


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ids", type=int, default=300, help="random asset ids per picture and size")
    parser.add_argument("--edit-ids", type=int, default=60, help="of those, how many are also read after edits")
    parser.add_argument("--unmarked", type=int, default=120, help="unmarked pictures checked for false detections")
    parser.add_argument("--harder", action="store_true", help="also JPEG q50, resize 50 %% + JPEG q75, resize 33 %%")
    parser.add_argument("--show-failures", action="store_true", help="print every id that did not read back")
    args = parser.parse_args()
    for option in ("ids", "edit_ids", "unmarked"):
        if getattr(args, option) < 0:
            parser.error(f"--{option.replace('_', '-')} must be 0 or more")

    started = time.perf_counter()
    print(f"{watermark.VERSION}; {os.cpu_count()} CPU cores; {args.ids} ids per picture and size "
          f"({args.edit_ids} of them edited); seed {SEED}\n", flush=True)
    originals = pictures()
    failures: list[str] = []
    edits = {**EDITS, **HARDER} if args.harder else EDITS
    rows = read_back(originals, asset_ids(args.ids), args.edit_ids, edits, failures)
    print()
    print(table(["picture", "clean", *edits, "least clean score", "PSNR"], rows))
    wrong, seen, highest = false_detections(originals, args.unmarked, failures)
    print(f"\nfalse detections: {wrong}/{seen} unmarked pictures (highest score {highest:.2f}, "
          f"threshold {watermark.DETECT_SCORE})")
    print(f"{time.perf_counter() - started:.0f} s")
    if args.show_failures:
        print("\n".join(failures))


if __name__ == "__main__":
    main()
