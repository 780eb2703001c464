"""Web page benchmark: page weight and time to first render of a 20-file export page and a 200-item gallery.

The pages are served by the real app on uvicorn (loopback) and opened in Debian's Chromium through Playwright,
each visit in a fresh browser context (nothing cached in the browser), at a phone and a desktop viewport:

- export page: an Instagram package of 6 pictures (1024x1024 stills, 3 presets each) and a 2 s clip (2 presets),
  20 files, built by the real packager;
- gallery: 200 results (180 distinct 1024x1024 PNG pictures and 20 distinct 2 s clips over three personas),
  the first page (48 items).

The pictures are windows of a real group photo (``tests/faces_data.group``), so previews weigh what photos do.

Reported per page and viewport, medians over ``--runs`` visits: first contentful paint, the load event, the
HTML's size, the bytes fetched until the network is idle without scrolling (what a visitor pays to see the
page), and the bytes once every preview was scrolled into view. "cold" visits find the server's preview cache
empty (previews are made during the visit); "warm" ones find them made. Also: the time to make one thumbnail
and one poster frame.

    .venv/bin/python benchmarks/web_pages.py [--runs 5] [--items 200]
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageEnhance
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bots.web.app import create_app  # noqa: E402
from bots.web.previews import GRID_SIDE, Previews, find_ffmpeg  # noqa: E402
from core.settings import Settings  # noqa: E402
from inference.export.package import ExportSource  # noqa: E402
from storage.blobs import BlobStore, LocalBlobStore  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests import faces_data  # noqa: E402
from tests.web_support import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORTS,
    add_asset,
    gallery_token,
    make_clip,
    owner,
    persona,
    start_server,
    stop_server,
    store_package,
)

PICTURES_IN_PACKAGE = 6


@cache
def _photo() -> Image.Image:
    return faces_data.group().convert("RGB")  # 1280x886, six people: a real photo's detail at this size


def picture(number: int) -> Image.Image:
    """A distinct 1024x1024 photo: a square window of the group photo at a place, angle and tint of its own."""
    photo = _photo()
    turned = photo.rotate((number % 7 - 3) * 1.5, resample=Image.Resampling.BICUBIC)
    left = (number * 37) % (photo.width - photo.height)
    crop = turned.crop((left, 0, left + photo.height, photo.height)).resize((1024, 1024), Image.Resampling.BICUBIC)
    return ImageEnhance.Color(crop).enhance(0.6 + (number % 9) / 10)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)  # quick to seed; decoding costs the same
    return buffer.getvalue()


@dataclass
class Visit:
    fcp_ms: float
    load_ms: float
    html_kb: float
    first_view_kb: float
    all_previews_kb: float
    requests: int


def visit(browser: Any, url: str, viewport: str) -> Visit:
    """One visit in a fresh context: timings from the page's own performance entries, bytes from the network."""
    context = browser.new_context(**VIEWPORTS[viewport])
    page = context.new_page()
    sizes: list[int] = []
    failed: list[str] = []
    measuring = [True]

    def answered(response: Any) -> None:
        if response.status >= 400:
            failed.append(f"{response.url} ({response.status})")

    def finished(request: Any) -> None:
        if not measuring[0]:
            return  # events still arriving while the context closes
        try:
            sizes.append(request.sizes()["responseBodySize"])
        except PlaywrightError:
            if measuring[0]:
                raise

    def aborted(request: Any) -> None:
        # A player stops fetching a clip once it has its metadata: that abort is no failure.
        if not (request.resource_type == "media" and "ERR_ABORTED" in (request.failure or "")):
            failed.append(f"{request.url} ({request.failure})")

    page.on("response", answered)
    page.on("requestfinished", finished)
    page.on("requestfailed", aborted)
    page.goto(url, wait_until="networkidle")
    first_view = sum(sizes)
    timing = page.evaluate("""() => {
        const nav = performance.getEntriesByType("navigation")[0];
        const paint = performance.getEntriesByName("first-contentful-paint")[0];
        return {fcp: paint ? paint.startTime : -1, load: nav.loadEventEnd, html: nav.encodedBodySize};
    }""")
    page.eval_on_selector_all("main img, main video", """async elements => {
        for (const element of elements) {
            element.scrollIntoView();
            if (element.tagName === "IMG" && !element.complete) {
                await new Promise(done => {
                    element.addEventListener("load", done, {once: true});
                    element.addEventListener("error", done, {once: true});
                });
            }
        }
    }""")
    page.wait_for_load_state("networkidle")
    if failed:
        raise RuntimeError(f"{len(failed)} requests failed, e.g. {failed[0]}")
    result = Visit(fcp_ms=timing["fcp"], load_ms=timing["load"], html_kb=timing["html"] / 1024,
                   first_view_kb=first_view / 1024, all_previews_kb=sum(sizes) / 1024, requests=len(sizes))
    measuring[0] = False
    context.close()
    return result


def preview_costs(settings: Settings, blobs: BlobStore, work: Path, runs: int) -> tuple[float, float]:
    """Median seconds to make one gallery thumbnail (a 1024x1024 PNG) and one poster frame (a 2 s clip)."""
    still = png(picture(9999))
    clip = work / "clip-0.mp4"
    thumbs, posters = [], []
    for _ in range(runs):
        previews = Previews(work / "preview-costs", ffmpeg=find_ffmpeg())
        started = time.perf_counter()
        previews.image("a" * 64, GRID_SIDE, lambda: io.BytesIO(still))
        thumbs.append(time.perf_counter() - started)
        started = time.perf_counter()
        previews.poster("b" * 64, GRID_SIDE, lambda: nullcontext(clip), 2.0)
        posters.append(time.perf_counter() - started)
        shutil.rmtree(work / "preview-costs")
    return statistics.median(thumbs), statistics.median(posters)


def median(visits: list[Visit], name: str) -> float:
    return statistics.median(getattr(v, name) for v in visits)


def seed(settings: Settings, db: Database, blobs: BlobStore, work: Path, items: int) -> tuple[str, str]:
    """The package (its link token) and the gallery (its link token)."""
    ann = owner(db)
    personas = [persona(db, ann, name) for name in ("Ava", "Bo", "Cleo")]
    clips = max(1, items // 10)
    started = time.perf_counter()
    for number in range(items - clips):
        image = picture(number)
        add_asset(db, blobs, owner_id=ann, data=png(image), width=1024, height=1024,
                  persona_id=personas[number % 3], prompt=f"picture {number} of a photo shoot on the coast",
                  score=0.7 + (number % 20) / 100, age_s=number * 60)
    for number in range(clips):
        path = make_clip(work / f"clip-{number}.mp4", still=picture(1000 + number), seconds=2.0, side=512)
        add_asset(db, blobs, owner_id=ann, data=path.read_bytes(), kind="video", mime="video/mp4", width=512,
                  height=512, duration_s=2.0, persona_id=personas[number % 3], age_s=number * 90 + 30)
    print(f"seeded {items} gallery items in {time.perf_counter() - started:.0f} s", flush=True)

    sources = []
    for number in range(PICTURES_IN_PACKAGE):
        path = work / f"still-{number}.png"
        picture(500 + number).save(path)
        sources.append(ExportSource(asset_id=f"{number:016x}", kind="image", path=path,
                                    prompt=f"picture {number} of a photo shoot on the coast", persona="Ava"))
    sources.append(ExportSource(asset_id="c" * 16, kind="video", path=work / "clip-0.mp4",
                                prompt="a walk on the coast", persona="Ava"))
    package_dir = work / "package"
    package_dir.mkdir()
    started = time.perf_counter()
    _, token = store_package(settings, db, blobs, owner_id=ann, platform="instagram", sources=sources,
                             workdir=package_dir)
    print(f"built the 20-file package in {time.perf_counter() - started:.0f} s", flush=True)
    return token, gallery_token(settings, db, ann)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="web-bench-") as tmp:
        root = Path(tmp)
        settings = Settings(environment="test", data_dir=root / "data", _env_file=None)  # type: ignore[call-arg]
        db = Database(settings.resolved_database_url)
        upgrade(db.engine)
        blobs = LocalBlobStore(settings.blobs_dir)
        (root / "work").mkdir()
        export_token, gallery = seed(settings, db, blobs, root / "work", args.items)
        thumb_s, poster_s = preview_costs(settings, blobs, root / "work", args.runs)
        live, running = start_server(create_app(settings))
        cache = settings.resolved_data_dir / "cache" / "previews"
        pages = {"export page (20 files)": f"{live.url}/x/{export_token}",
                 f"gallery ({args.items} items, first page)": f"{live.url}/u/{gallery}"}
        rows = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for title, url in pages.items():
                for viewport in VIEWPORTS:
                    cold = []
                    for _ in range(args.runs):
                        shutil.rmtree(cache, ignore_errors=True)
                        cold.append(visit(browser, url, viewport))
                    warm = [visit(browser, url, viewport) for _ in range(args.runs)]
                    rows.append((title, viewport, cold, warm))
            browser.close()
        stop_server(running, live)
        db.dispose()

    print(f"\nmaking one preview: thumbnail of a 1024x1024 PNG {thumb_s * 1000:.0f} ms, poster frame of a clip "
          f"{poster_s * 1000:.0f} ms (medians of {args.runs})")
    print(f"\nmedians of {args.runs} visits each (fresh browser context per visit)")
    header = (f"{'page':38} {'viewport':8} {'cache':5} {'FCP ms':>7} {'load ms':>8} {'HTML KB':>8} "
              f"{'first view KB':>14} {'all previews KB':>16} {'requests':>9}")
    print(header)
    print("-" * len(header))
    for title, viewport, cold, warm in rows:
        for label, visits in (("cold", cold), ("warm", warm)):
            print(f"{title:38} {viewport:8} {label:5} {median(visits, 'fcp_ms'):7.0f} {median(visits, 'load_ms'):8.0f} "
                  f"{median(visits, 'html_kb'):8.1f} {median(visits, 'first_view_kb'):14.0f} "
                  f"{median(visits, 'all_previews_kb'):16.0f} {median(visits, 'requests'):9.0f}")


if __name__ == "__main__":
    main()
