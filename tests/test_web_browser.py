"""The web pages in a real browser (Debian's Chromium through Playwright), at a phone and a desktop viewport:
the export page and the gallery render, every preview loads, a video's metadata loads, Save downloads the right
bytes, Copy puts the post text on the clipboard, the zip downloads and opens, error pages are HTML, and no page
asks another origin for anything. Screenshots are kept under pytest's temporary folder.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.signing import sign
from tests.web_support import (
    VIEWPORTS,
    Site,
    save_doc_image,
)


@pytest.fixture(params=sorted(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Visit:
    page: Any
    requests: list[str]
    problems: list[str]


@contextmanager
def visit(browser: Any, site: Site, viewport: str, *, allow_errors: bool = False) -> Iterator[Visit]:
    """A fresh browser context (no cache, no cookies) at ``viewport``, recording every request and page error."""
    context = browser.new_context(**VIEWPORTS[viewport], accept_downloads=True, base_url=site.live.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.live.url)
    page = context.new_page()
    seen = Visit(page, [], [])
    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("pageerror", lambda error: seen.problems.append(f"page error: {error}"))
    page.on("console", lambda message: seen.problems.append(message.text) if message.type == "error" else None)
    try:
        yield seen
    finally:
        context.close()
    foreign = [url for url in seen.requests if not url.startswith(site.live.url + "/")]
    assert foreign == [], "every request stays on the page's own origin"
    if not allow_errors:
        assert seen.problems == [], "no script errors and no content-security-policy refusals"


def all_previews_load(page: Any, selector: str) -> list[dict[str, Any]]:
    """Bring every image matching ``selector`` into view in turn (lazy ones load then) and wait until each one
    has loaded or failed; their sources and decoded sizes (0 where loading failed)."""
    return list(page.eval_on_selector_all(selector, """async images => {
        for (const image of images) {
            image.scrollIntoView();
            if (!image.complete) {
                await new Promise(done => {
                    image.addEventListener("load", done, {once: true});
                    image.addEventListener("error", done, {once: true});
                });
            }
        }
        return images.map(i => ({src: i.getAttribute("src"), w: i.naturalWidth, h: i.naturalHeight}));
    }"""))


def fits_the_screen(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_export_page(browser: Any, site: Site, viewport: str, screenshots: Path) -> None:
    token = site.seeded.export_token
    with visit(browser, site, viewport) as seen:
        page = seen.page
        response = page.goto(f"/x/{token}")
        assert response is not None and response.status == 200
        assert page.title() == "Instagram package · Persona Studio"
        facts = page.locator(".facts").inner_text()
        assert "8 files from 3 results" in facts and "Link works until" in facts
        assert [h.strip() for h in page.locator("section.preset h2").all_inner_texts()] == [
            "Feed post 4:5 1080×1350", "Square post 1:1 1080×1080", "Story / reel 9:16 1080×1920"]
        assert "labelled as made with AI" in page.locator(".note").inner_text()
        assert fits_the_screen(page), "nothing wider than the screen"

        previews = all_previews_load(page, "section.preset img")
        assert len(previews) == 6 and all(p["w"] > 0 for p in previews), "every preview loads"
        assert all(p["src"].startswith(f"/x/{token}/preview/") for p in previews)
        assert all(max(p["w"], p["h"]) <= 640 for p in previews), "previews, not the full-size files"

        videos = page.locator("section.preset video")
        assert videos.count() == 2
        for index in range(videos.count()):
            video = videos.nth(index)
            video.scroll_into_view_if_needed()
            page.wait_for_function("v => v.readyState >= 1", arg=video.element_handle(), timeout=15_000)
            width, height, duration = video.evaluate("v => [v.videoWidth, v.videoHeight, v.duration]")
            assert width == 1080 and height in (1350, 1920) and duration == pytest.approx(1.0, abs=0.2)

        # Save: the first file of the page is the feed cut of the first picture.
        entry, data = site.member(0)
        first = page.locator("section.preset li.card").first
        with page.expect_download() as saving:
            first.get_by_role("link", name="Save").click()
        download = saving.value
        assert Path(download.path()).read_bytes() == data
        assert download.suggested_filename == f"instagram-feed-01-{entry['asset_id']}.jpg"

        clip_card = page.locator("section.preset li.card", has=page.locator("video")).first
        clip_index = int(clip_card.locator("textarea").get_attribute("id").removeprefix("post-"))
        _, clip_data = site.member(clip_index)
        with page.expect_download() as saving:
            clip_card.get_by_role("link", name="Save").click()
        assert Path(saving.value.path()).read_bytes() == clip_data
        assert saving.value.suggested_filename.endswith(".mp4")

        copy = first.locator("button[data-copy]")  # by role and name it would stop matching once it says "Copied"
        assert copy.inner_text() == "Copy text"
        copy.click()
        page.wait_for_function("button => button.textContent === 'Copied'", arg=copy.element_handle())
        assert page.evaluate("navigator.clipboard.readText()") == entry["post_text"]
        assert "#AIgenerated" in entry["post_text"]

        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=screenshots / f"export-{viewport}.png", full_page=True, scale="css")
        if viewport == "phone":
            save_doc_image(page, "web-export.png")

        with page.expect_download() as saving:
            page.get_by_role("link", name="Download all (zip)").click()
        assert saving.value.suggested_filename == f"instagram-{site.seeded.package_id}.zip"
        with zipfile.ZipFile(saving.value.path()) as archive:
            assert archive.testzip() is None
            manifest = json.loads(archive.read("manifest.json"))
            assert len(manifest["files"]) == 8 and archive.read(entry["path"]) == data
    assert any(f"/x/{token}/preview/" in url for url in seen.requests if "preview" in url)


def test_gallery_page(browser: Any, site: Site, viewport: str, screenshots: Path) -> None:
    token, assets = site.seeded.gallery_token, site.seeded.assets
    with visit(browser, site, viewport) as seen:
        page = seen.page
        response = page.goto(f"/u/{token}")
        assert response is not None and response.status == 200
        assert page.locator("h1").inner_text() == "Your gallery"
        headings = [" ".join(h.split()) for h in page.locator("section.group h2").all_inner_texts()]
        assert headings == ["Ava · Videos 1", "Ava · Images 4", "Tom · Images 2", "No persona · Images 1"], \
            "grouped by persona and kind, the group with the newest item first"
        assert fits_the_screen(page)

        thumbs = all_previews_load(page, "section.group img")
        assert len(thumbs) == 8 and all(t["w"] > 0 for t in thumbs), "every thumbnail loads"
        assert all(t["src"].startswith(f"/u/{token}/thumb/") for t in thumbs), "never the originals in the grid"
        assert all(max(t["w"], t["h"]) <= 360 for t in thumbs)
        clip_tile = page.locator("li.card", has=page.locator(".play")).first
        assert clip_tile.locator(".play").inner_text() == "▶ 1 s"
        assert "Ava reading in a Paris café" in clip_tile.inner_text(), "a clip shows its still's prompt"
        newest_picture = page.locator("section.group").nth(1).locator("li.card").first
        described = newest_picture.inner_text()
        assert "Ava hiking in the Alps" in described and "likeness 0.84" in described
        assert page.locator(".tag", has_text="Upload").count() == 0, "uploads are not results"

        with page.expect_download() as saving:
            newest_picture.get_by_role("link", name="Save").click()
        with site.db.session() as session:
            from storage.models import Asset

            original = session.get(Asset, assets["ava3"])
            assert original is not None
            assert Path(saving.value.path()).read_bytes() == site.blobs.read_bytes(original.blob)
        assert saving.value.suggested_filename.startswith("ava-") and assets["ava3"] in saving.value.suggested_filename

        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=screenshots / f"gallery-{viewport}.png", full_page=True, scale="css")
        if viewport == "phone":
            save_doc_image(page, "web-gallery.png")

        page.get_by_role("link", name="Tom 2").click()
        page.wait_for_url("**persona=*")
        assert [" ".join(h.split()) for h in page.locator("section.group h2").all_inner_texts()] == ["Tom · Images 2"]

        page.get_by_role("link", name="Your uploads 2").click()
        page.wait_for_url("**show=uploads*")
        assert page.locator("li.card").count() == 2
        assert page.locator(".tag", has_text="Upload").count() == 2
        assert all(t["w"] > 0 for t in all_previews_load(page, "section.group img"))
        page.screenshot(path=screenshots / f"gallery-uploads-{viewport}.png", full_page=True, scale="css")


def test_error_pages_are_html(browser: Any, site: Site, viewport: str, screenshots: Path) -> None:
    secret, ann = site.settings.secret_key, site.seeded.owner_id
    package = site.seeded.package_id
    expired = sign(secret, f"export:{package}:{ann}:0", ttl_s=-5)
    revoked = sign(secret, f"export:{package}:{ann}:7", ttl_s=600)  # an epoch before the owner's /web revoke
    stale_gallery = sign(secret, f"user:{ann}:0", ttl_s=-5)
    cases = [
        ("/no/such/page", 404, "Nothing here"),
        (f"/x/{site.seeded.export_token[:-4]}AAAA", 404, "No such download"),
        (f"/x/{expired}", 410, "This download has expired"),
        (f"/x/{revoked}", 403, "This download link was revoked"),
        (f"/u/{stale_gallery}", 410, "This link has expired"),
        ("/u/not-a-token", 403, "This link is not valid"),
        (f"/x/{site.seeded.export_token}/explode", 500, "Something went wrong on our side"),
    ]
    with visit(browser, site, viewport, allow_errors=True) as seen:
        page = seen.page
        for number, (path, status, title) in enumerate(cases):
            response = page.goto(path)
            assert response is not None and response.status == status, path
            headers = response.headers
            assert headers["content-type"].startswith("text/html"), path
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert headers["referrer-policy"] == "no-referrer" and headers["cache-control"] == "private, no-store"
            assert page.locator("h1").inner_text() == title
            assert "/web" in page.inner_text("main") or "/export" in page.inner_text("main"), "it says what to do"
            assert fits_the_screen(page)
            page.screenshot(path=screenshots / f"error-{number}-{status}-{viewport}.png")
    assert all("Failed to load resource" in problem for problem in seen.problems), seen.problems


def test_tokens_never_reach_the_log(site: Site) -> None:
    token = site.seeded.export_token
    for path in (f"/x/{token}", f"/x/{token}/zip", f"/u/{site.seeded.gallery_token}", f"/x/{token}/explode"):
        try:
            urllib.request.urlopen(site.live.url + path, timeout=15).read()
        except urllib.error.HTTPError as refused:
            assert refused.code == 500 and path.endswith("/explode")
    logs = site.live.logs.text
    assert '"GET /x/…/zip HTTP/1.1" 200' in logs, "the access log is written, with the token cut out"
    assert "error answering GET /x/…/explode" in logs and "RuntimeError" in logs
    assert token not in logs and site.seeded.gallery_token not in logs
    assert token.split(".")[0] not in logs, "not even the token's readable half"
