"""The gallery (the /web link): results grouped by persona and kind, newest first, a page at a time, filters,
uploads apart; thumbnails and poster frames made once and never the originals; Save names; refusals.

The grouping query runs on the embedded SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from bots.web.app import create_app
from bots.web.gallery import Filters, load_page
from core import links
from core.settings import Settings
from core.signing import sign
from storage.blobs import BlobStore, LocalBlobStore
from storage.db import Database
from storage.models import Asset
from storage.repositories import users as user_repo
from storage.states import AssetOrigin
from tests.web_support import add_asset, gallery_token, make_clip, owner, persona, plain_png


@pytest.fixture
def store(settings: Settings, any_db: Database) -> tuple[Settings, Database, BlobStore]:
    url = any_db.engine.url.render_as_string(hide_password=False)
    return settings.model_copy(update={"database_url": url}), any_db, LocalBlobStore(settings.blobs_dir)


def headings(html: str) -> list[str]:
    return [" ".join(re.sub(r"<[^>]+>", " ", h).split()) for h in re.findall(r"<h2>(.*?)</h2>", html, re.S)]


def test_groups_follow_their_newest_item_and_pages_carry_on(store: tuple[Settings, Database, BlobStore]) -> None:
    _, db, blobs = store
    ann = owner(db)
    ava, bo = persona(db, ann, "Ava"), persona(db, ann, "Bo")
    ids: dict[str, str] = {}
    # Ages in seconds: Bo's newest picture is the newest result of all, so Bo's images come first.
    for name, who, kind, age in (("ava-old", ava, "image", 500), ("ava-new", ava, "image", 100),
                                 ("ava-clip", ava, "video", 300), ("bo-1", bo, "image", 50),
                                 ("bo-2", bo, "image", 400), ("loose", None, "image", 200)):
        ids[name] = add_asset(db, blobs, owner_id=ann, data=plain_png((len(ids) * 30, 9, 9)), kind=kind,
                              persona_id=who, age_s=age, mime="video/mp4" if kind == "video" else "image/png")
    add_asset(db, blobs, owner_id=ann, data=plain_png((1, 2, 3)), origin=AssetOrigin.UPLOADED, age_s=1)
    add_asset(db, blobs, owner_id=owner(db, "bob"), data=plain_png((3, 2, 1)), age_s=1)

    with db.session() as session:
        every = load_page(session, owner_id=ann, filters=Filters(), page_size=50)
        assert [(g.persona_name, g.kind, g.total) for g in every.groups] == [
            ("Bo", "image", 2), ("Ava", "image", 2), ("No persona", "image", 1), ("Ava", "video", 1)]
        assert [a.id for a in every.items] == [ids[n] for n in ("bo-1", "bo-2", "ava-new", "ava-old", "loose",
                                                                  "ava-clip")]
        assert (every.results_count, every.uploads_count, every.total, every.pages) == (6, 1, 6, 1)

        first = load_page(session, owner_id=ann, filters=Filters(page=1), page_size=3)
        second = load_page(session, owner_id=ann, filters=Filters(page=2), page_size=3)
        assert [a.id for a in first.items + second.items] == [a.id for a in every.items]
        assert [(g.persona_name, g.continued) for g in second.groups] == [("Ava", True), ("No persona", False),
                                                                          ("Ava", False)]
        assert load_page(session, owner_id=ann, filters=Filters(page=9), page_size=3).filters.page == 2, \
            "a page past the end shows the last one"

        only_ava = load_page(session, owner_id=ann, filters=Filters(persona=str(ava)))
        assert {a.id for a in only_ava.items} == {ids["ava-old"], ids["ava-new"], ids["ava-clip"]}
        videos = load_page(session, owner_id=ann, filters=Filters(kind="video"))
        assert [a.id for a in videos.items] == [ids["ava-clip"]]
        loose = load_page(session, owner_id=ann, filters=Filters(persona="none"))
        assert [a.id for a in loose.items] == [ids["loose"]]
        uploads = load_page(session, owner_id=ann, filters=Filters(uploads=True))
        assert len(uploads.items) == 1 and uploads.items[0].origin == "uploaded"
        assert [(c.name, c.count) for c in every.personas] == [("Ava", 3), ("Bo", 2), ("No persona", 1)]
        assert every.kinds == {"image": 5, "video": 1}


def test_the_page_pages_filters_and_keeps_uploads_apart(store: tuple[Settings, Database, BlobStore]) -> None:
    settings, db, blobs = store
    ann = owner(db)
    ava = persona(db, ann, "Ava")
    for number in range(50):
        add_asset(db, blobs, owner_id=ann, data=plain_png((number, 50, 50), (8, 8)), persona_id=ava,
                  prompt=f"picture {number}", age_s=number, width=8, height=8)
    add_asset(db, blobs, owner_id=ann, data=plain_png((9, 9, 9), (8, 8)), origin=AssetOrigin.UPLOADED)
    token = gallery_token(settings, db, ann)
    client = TestClient(create_app(settings))

    first = client.get(f"/u/{token}").text
    assert first.count('<li class="card">') == 48 and "picture 0</p>" in first and "picture 48" not in first
    assert "Page 1 of 2" in first and f'rel="next" href="/u/{token}?page=2"' in first
    assert headings(first) == ["Ava · Images 50"]
    assert 'class="tag">Upload' not in first, "uploads are not among the results"
    second = client.get(f"/u/{token}?page=2").text
    assert second.count('<li class="card">') == 2 and "picture 49</p>" in second
    assert headings(second) == ["Ava · Images 50 · continued"]
    assert f'rel="prev" href="/u/{token}"' in second

    uploads = client.get(f"/u/{token}?show=uploads").text
    assert uploads.count('<li class="card upload">') == 1 and '<span class="tag">Upload</span>' in uploads
    assert headings(uploads) == ["Your uploads · Images 1"] and "Your upload</p>" in uploads
    assert re.search(r'aria-current="page">Your uploads <span class="count">1</span>', uploads)

    odd = client.get(f"/u/{token}?page=zz&kind=gif&persona=%27x&show=1")
    assert odd.status_code == 200 and "Page 1 of 2" in odd.text, "a mangled query shows everything"
    nothing = client.get(f"/u/{token}?kind=video").text
    assert "Nothing matches these filters" in nothing


def test_thumbnails_are_small_made_once_and_never_the_original(settings: Settings, db: Database,
                                                               blobs: BlobStore) -> None:
    ann = owner(db)
    buffer = io.BytesIO()
    Image.effect_noise((1024, 768), 60).convert("RGB").save(buffer, "PNG")
    original = buffer.getvalue()
    picture = add_asset(db, blobs, owner_id=ann, data=original, width=1024, height=768, prompt="noise")
    token = gallery_token(settings, db, ann)
    client = TestClient(create_app(settings))
    page = client.get(f"/u/{token}").text
    assert f'<img src="/u/{token}/thumb/{picture}" width="360" height="270"' in page
    assert f"/asset/{picture}\"" not in page.split('<a class="button"')[0], "the grid links previews only"

    thumb = client.get(f"/u/{token}/thumb/{picture}")
    assert thumb.headers["content-type"] == "image/webp" and len(thumb.content) < len(original) / 10
    with Image.open(io.BytesIO(thumb.content)) as small:
        assert small.size == (360, 270)
    cached = next(settings.resolved_data_dir.joinpath("cache", "previews").glob("*/*-360.webp"))
    made = cached.stat().st_mtime_ns
    again = TestClient(create_app(settings)).get(f"/u/{token}/thumb/{picture}")
    assert again.content == thumb.content and cached.stat().st_mtime_ns == made, "kept on disk, made once"
    shutil.rmtree(settings.resolved_data_dir / "cache")
    remade = client.get(f"/u/{token}/thumb/{picture}")
    assert remade.headers["content-type"] == "image/webp" and cached.is_file(), "the cache may be deleted any time"

    saved = client.get(f"/u/{token}/asset/{picture}")
    assert saved.content == original
    assert re.fullmatch(rf'attachment; filename="persona-studio-\d{{4}}-\d\d-\d\d-{picture}\.png"',
                        saved.headers["content-disposition"])
    assert client.get(f"/u/{token}/asset/{picture}?view=1").headers["content-disposition"].startswith("inline;")

    broken = add_asset(db, blobs, owner_id=ann, data=b"\x89PNG not really", prompt="broken")
    stand_in = client.get(f"/u/{token}/thumb/{broken}")
    assert stand_in.status_code == 200 and stand_in.headers["content-type"] == "image/svg+xml"


def test_videos_get_a_poster_frame_or_a_placeholder(settings: Settings, db: Database, blobs: BlobStore,
                                                    tmp_path: Path) -> None:
    ann = owner(db)
    ava = persona(db, ann, "Ava")
    clip = make_clip(tmp_path / "clip.mp4", still=Image.new("RGB", (64, 64), (200, 40, 40)), seconds=1.0, side=320)
    video = add_asset(db, blobs, owner_id=ann, data=clip.read_bytes(), kind="video", mime="video/mp4", width=320,
                      height=320, duration_s=1.0, persona_id=ava)
    token = gallery_token(settings, db, ann)

    # A web process without ffmpeg shows a placeholder tile.
    without = TestClient(create_app(settings, posters=False))
    plain = without.get(f"/u/{token}").text
    assert '<img src="/static/video.svg?v=' in plain and f"/thumb/{video}" not in plain
    assert without.get(f"/u/{token}/thumb/{video}").headers["content-type"] == "image/svg+xml"

    client = TestClient(create_app(settings))
    page = client.get(f"/u/{token}").text
    assert f'<img src="/u/{token}/thumb/{video}"' in page and '<span class="play">▶ 1 s</span>' in page
    poster = client.get(f"/u/{token}/thumb/{video}")
    assert poster.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(poster.content)) as frame:
        assert frame.size == (320, 320)
        red, green, _ = frame.convert("RGB").getpixel((160, 160))
        assert red > 150 and green < 90, "a frame of the clip"
    saved = client.get(f"/u/{token}/asset/{video}", headers={"Range": "bytes=0-99"})
    assert saved.status_code == 206 and saved.content == clip.read_bytes()[:100], "players seek in ranges"
    assert re.search(rf'filename="ava-[0-9-]+-{video}\.mp4"', saved.headers["content-disposition"])



def test_gallery_links_refuse_clearly(settings: Settings, db: Database, blobs: BlobStore) -> None:
    ann, bob = owner(db), owner(db, "bob")
    theirs = add_asset(db, blobs, owner_id=bob, data=plain_png((4, 4, 4)))
    mine = add_asset(db, blobs, owner_id=ann, data=plain_png((5, 5, 5)))
    token = gallery_token(settings, db, ann)
    client = TestClient(create_app(settings))
    assert client.get(f"/u/{token}/asset/{theirs}").status_code == 404
    assert "This file is no longer here" in client.get(f"/u/{token}/thumb/{theirs}").text
    with db.session() as session:
        single = links.asset_url(settings, session, asset=session.get_one(Asset, mine)).rsplit("/", 1)[1]
    refused = client.get(f"/u/{single}")
    assert refused.status_code == 403 and "This link opens one file only" in refused.text
    assert client.get(f"/a/{single}").content == plain_png((5, 5, 5))
    assert client.get(f"/a/{token}").status_code == 403, "a gallery link is not a single-file link"
    expired = client.get(f"/u/{sign(settings.secret_key, f'user:{ann}:0', ttl_s=-1)}")
    assert expired.status_code == 410 and "This link has expired" in expired.text
    with db.session() as session:
        links.revoke_all(session, owner_id=user_repo.get_or_create(session, platform="telegram",
                                                                   platform_user_id="ann").id)
    revoked = client.get(f"/u/{token}")
    assert revoked.status_code == 403 and "This link was revoked" in revoked.text
    assert client.get(f"/a/{single}").status_code == 403
