"""The export page and everything around it, over HTTP: what the page lists, single files served byte for byte
out of the stored zip (ranges too), previews made once, honest labels per file, refusals and errors as pages,
security headers, and tokens cut out of log lines."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from bots.web.app import create_app
from bots.web.blob_access import RangeNotSatisfiable, Window, requested_window
from bots.web.headers import CONTENT_SECURITY_POLICY
from bots.web.logs import RedactTokens, redact
from core.settings import Settings
from inference.export.package import ExportSource
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import ExportPackage
from tests import faces_data
from tests.web_support import (
    Site,
    owner,
    store_package,
)


@pytest.fixture
def client(site: Site) -> TestClient:
    return TestClient(site.live.app, raise_server_exceptions=False)


def package_row(db: Database, package_id: str) -> ExportPackage:
    with db.session() as session:
        row = session.get(ExportPackage, package_id)
        assert row is not None
        return row


# ---- the page -------------------------------------------------------------------------------------------------


def test_the_package_page_shows_each_preset_and_file(client: TestClient, site: Site) -> None:
    token = site.seeded.export_token
    downloads = package_row(site.db, site.seeded.package_id).download_count
    page = client.get(f"/x/{token}")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.text
    assert "<h1>Instagram package</h1>" in html and "8 files from 3 results" in html
    assert re.search(r"Link works until <time datetime=\"[0-9T:Z-]+\">[^<]+UTC</time> \(3 days left\)", html)
    assert html.count('<section class="preset"') == 3
    assert html.index('id="feed"') < html.index('id="square"') < html.index('id="story"')
    manifest = package_row(site.db, site.seeded.package_id).manifest
    for index, entry in enumerate(manifest["files"]):
        name = f"instagram-{entry['preset']}-{entry['path'].rsplit('/', 1)[1]}"
        assert f'<a class="button" href="/x/{token}/file/{index}" download="{name}">Save</a>' in html
        assert f'<textarea id="post-{index}" class="post" rows="4" readonly>' in html
    assert html.count('<video class="media" controls playsinline preload="metadata"') == 2
    assert html.count(f'poster="/x/{token}/preview/') == 2, "videos show a frame before they play"
    assert "Ava reading in a Paris café\n\n#AIgenerated #Ava" in html
    assert f'href="/x/{token}/zip" download="instagram-{site.seeded.package_id}.zip">Download all (zip)</a>' in html
    assert "Every file is labelled as made with AI" in html
    assert "<script" not in html.replace('<script src="/static/copy.js?v=', ""), "no inline script"
    assert " style=" not in html and "<style" not in html, "no inline style (the CSP allows neither)"
    assert package_row(site.db, site.seeded.package_id).download_count == downloads, "looking is not downloading"


def test_single_files_are_the_zips_bytes_and_seek(client: TestClient, site: Site) -> None:
    token = site.seeded.export_token
    before = package_row(site.db, site.seeded.package_id).download_count
    whole = client.get(f"/x/{token}/zip").content
    archive = zipfile.ZipFile(io.BytesIO(whole))
    assert package_row(site.db, site.seeded.package_id).download_count == before + 1
    asked = client.head(f"/x/{token}/zip")
    assert asked.status_code == 200 and asked.content == b"" and int(asked.headers["content-length"]) == len(whole)
    assert package_row(site.db, site.seeded.package_id).download_count == before + 1, "asking the size is no download"
    for index, entry in enumerate(package_row(site.db, site.seeded.package_id).manifest["files"]):
        expected = archive.read(entry["path"])
        response = client.get(f"/x/{token}/file/{index}")
        assert response.status_code == 200 and response.content == expected
        assert response.headers["content-type"] == ("video/mp4" if entry["kind"] == "video" else "image/jpeg")
        assert response.headers["content-disposition"].startswith("attachment; filename=\"instagram-")
        assert response.headers["accept-ranges"] == "bytes"
    part = client.get(f"/x/{token}/file/6", headers={"Range": "bytes=100-299"})
    assert part.status_code == 206 and part.content == archive.read(_path(site, 6))[100:300]
    assert part.headers["content-range"].startswith("bytes 100-299/")
    tail = client.get(f"/x/{token}/file/0", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == archive.read(_path(site, 0))[-10:]
    assert client.get(f"/x/{token}/file/0", headers={"Range": "bytes=99999999-"}).status_code == 416
    shown = client.get(f"/x/{token}/file/0?view=1")
    assert shown.headers["content-disposition"].startswith("inline;")
    assert package_row(site.db, site.seeded.package_id).download_count == before + 1, "single files are not counted"
    for bad in ("8", "-1", "x", "99999999999"):
        refused = client.get(f"/x/{token}/file/{bad}")
        assert refused.status_code == 404 and "No such file in this package" in refused.text


def _path(seeded: Site, index: int) -> str:
    return str(package_row(seeded.db, seeded.seeded.package_id).manifest["files"][index]["path"])


def test_previews_are_small_and_made_once(client: TestClient, site: Site) -> None:
    token = site.seeded.export_token
    first = client.get(f"/x/{token}/preview/2")  # the story cut of the first picture, 1080×1920
    assert first.status_code == 200 and first.headers["content-type"] == "image/webp"
    assert first.headers["cache-control"] == "private, max-age=86400"
    with Image.open(io.BytesIO(first.content)) as preview:
        assert preview.size == (360, 640)
    assert len(first.content) < len(client.get(f"/x/{token}/file/2").content) / 5
    kept = sorted(site.settings.resolved_data_dir.joinpath("cache", "previews").glob("*/*-2-640.webp"))
    assert len(kept) == 1
    made = kept[0].stat().st_mtime_ns
    assert client.get(f"/x/{token}/preview/2").content == first.content
    assert kept[0].stat().st_mtime_ns == made, "the second request is served from the cache"
    poster = client.get(f"/x/{token}/preview/6")  # the feed cut of the clip: a frame of it
    assert poster.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(poster.content)) as frame:
        assert frame.size == (512, 640)


def test_labels_follow_each_files_origin(settings: Settings, db: Database, blobs: BlobStore, tmp_path: Path) -> None:
    """Generated files say AI-generated, edited ones AI-edited, the user's own photo no AI label at all."""
    ann = owner(db)
    sources = []
    pictures = (faces_data.astronaut(), faces_data.tom(), faces_data.no_face())
    for number, (picture, origin) in enumerate(zip(pictures, ("generated", "edited", "uploaded"), strict=True)):
        path = tmp_path / f"{number}.png"
        picture.save(path)
        sources.append(ExportSource(asset_id=f"{number:016x}", kind="image", path=path, origin=origin,
                                    prompt=f"picture {number}"))
    (tmp_path / "work").mkdir()
    _, token = store_package(settings, db, blobs, owner_id=ann, platform="tiktok", sources=sources,
                                      workdir=tmp_path / "work")
    html = TestClient(create_app(settings)).get(f"/x/{token}").text
    badges = re.findall(r'<span class="badge ([a-z]+)">([^<]+)</span>', html)
    assert badges == [("ai", "AI-generated"), ("ai", "AI-edited"), ("own", "Your own photo: no AI label")]
    assert "2 of 3 files are labelled as made or edited with AI" in html


def test_a_package_whose_zip_is_gone(settings: Settings, db: Database, blobs: BlobStore, tmp_path: Path) -> None:
    path = tmp_path / "still.png"
    faces_data.tom().save(path)
    (tmp_path / "work").mkdir()
    package_id, token = store_package(settings, db, blobs, owner_id=owner(db), platform="x", workdir=tmp_path / "work",
                                      sources=[ExportSource(asset_id="a" * 16, kind="image", path=path,
                                                            origin="generated")])
    client = TestClient(create_app(settings))
    row = package_row(db, package_id)
    blobs.path(row.blob or "").write_bytes(b"not a zip any more")
    damaged = client.get(f"/x/{token}")
    assert damaged.status_code == 500 and "This package cannot be opened" in damaged.text
    blobs.delete(row.blob or "")
    assert client.get(f"/x/{token}").status_code == 500
    with db.session() as session:
        stored = session.get(ExportPackage, package_id)
        assert stored is not None
        stored.blob = None  # what the expiry sweep leaves behind
    gone = client.get(f"/x/{token}/zip")
    assert gone.status_code == 410 and "This download has expired" in gone.text


# ---- every answer -----------------------------------------------------------------------------------------------


def test_security_headers_on_every_answer(client: TestClient, site: Site) -> None:
    token = site.seeded.export_token
    answers = {
        "page": client.get(f"/x/{token}"),
        "file": client.get(f"/x/{token}/file/0"),
        "preview": client.get(f"/x/{token}/preview/0"),
        "gallery": client.get(f"/u/{site.seeded.gallery_token}"),
        "health": client.get("/health"),
        "missing": client.get("/nowhere"),
        "static": client.get("/static/style.css"),
    }
    for name, answer in answers.items():
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, name
        assert answer.headers["referrer-policy"] == "no-referrer", name
        assert answer.headers["x-content-type-options"] == "nosniff", name
        assert answer.headers["x-frame-options"] == "DENY", name
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    for name in ("page", "file", "gallery", "missing", "health"):
        assert answers[name].headers["cache-control"] == "private, no-store", name
    assert answers["preview"].headers["cache-control"] == "private, max-age=86400"
    assert answers["static"].headers["cache-control"] == "public, max-age=31536000, immutable"


def test_errors_are_short_pages_and_only_health_is_json(client: TestClient, site: Site) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    for path, status, title in (("/nowhere", 404, "Nothing here"), ("/openapi.json", 404, "Nothing here"),
                                ("/docs", 404, "Nothing here"), ("/x/not-a-token", 404, "No such download"),
                                ("/static/nothing.css", 404, "Nothing here"),
                                (f"/x/{site.seeded.export_token}/explode", 500, "Something went wrong on our side")):
        answer = client.get(path)
        assert answer.status_code == status, path
        assert answer.headers["content-type"] == "text/html; charset=utf-8", path
        assert f"<h1>{title}</h1>" in answer.text and '<link rel="stylesheet" href="/static/style.css?v=' in answer.text
        assert "Traceback" not in answer.text and "RuntimeError" not in answer.text
    wrong = client.post("/health")
    assert wrong.status_code == 405 and "That does not work here" in wrong.text and wrong.headers["allow"] == "GET"
    home = client.get("/")
    assert home.status_code == 200 and "Send <code>/web</code>" in home.text


def test_link_preview_fetchers_see_nothing_private(client: TestClient, site: Site) -> None:
    before = package_row(site.db, site.seeded.package_id).download_count
    for path in (f"/x/{site.seeded.export_token}", f"/u/{site.seeded.gallery_token}"):
        for agent in ("TelegramBot (like TwitterBot)", "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"):
            shown = client.get(path, headers={"User-Agent": agent})
            assert shown.status_code == 200 and "<h1>A private page</h1>" in shown.text
            assert "Ava" not in shown.text and "#AIgenerated" not in shown.text and "/file/" not in shown.text
    assert package_row(site.db, site.seeded.package_id).download_count == before


def test_tokens_are_cut_out_of_log_lines() -> None:
    assert redact('127.0.0.1 - "GET /x/ZXhw.b3J0/file/3?view=1 HTTP/1.1" 200') == \
        '127.0.0.1 - "GET /x/…/file/3?view=1 HTTP/1.1" 200'
    assert redact("/u/abc.def /a/ghi.jkl /static/style.css") == "/u/… /a/… /static/style.css"
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/u/secret.token", "1.1", 200), None)
    assert RedactTokens().filter(record) and record.getMessage() == '127.0.0.1:5 - "GET /u/… HTTP/1.1" 200'


def test_range_headers() -> None:
    assert requested_window(None, 100) is None
    assert requested_window("bytes=0-", 100) == Window(0, 99, 100)
    assert requested_window("bytes=10-19", 100) == Window(10, 19, 100)
    assert requested_window("bytes=90-500", 100) == Window(90, 99, 100)
    assert requested_window("bytes=-5", 100) == Window(95, 99, 100)
    assert requested_window("bytes=0-1,5-9", 100) is None, "several ranges: the whole file"
    for unsatisfiable in ("bytes=100-", "bytes=20-10", "bytes=-0"):
        with pytest.raises(RangeNotSatisfiable):
            requested_window(unsatisfiable, 100)


def test_an_expired_package_link_keeps_its_page(settings: Settings, db: Database, blobs: BlobStore,
                                                tmp_path: Path) -> None:
    path = tmp_path / "still.png"
    faces_data.tom().save(path)
    (tmp_path / "work").mkdir()
    package_id, token = store_package(settings, db, blobs, owner_id=owner(db), platform="x", workdir=tmp_path / "work",
                                      sources=[ExportSource(asset_id="b" * 16, kind="image", path=path,
                                                            origin="generated")],
                                      ttl=timedelta(seconds=1))
    with db.session() as session:
        stored = session.get(ExportPackage, package_id)
        assert stored is not None
        stored.expires_at = stored.created_at - timedelta(minutes=1)
    client = TestClient(create_app(settings))
    for suffix in ("", "/zip", "/file/0", "/preview/0"):
        answer = client.get(f"/x/{token}{suffix}")
        assert answer.status_code == 410 and "Send /export again" in answer.text, suffix
