"""/export as a user lives it: the command or the Export button, the job on the real queue and worker, the
package stored as a zip, the link in the chat, and the web page that serves it, refuses it once it expired or
was revoked, and never opens another user's package.

Each test runs on the embedded layout (SQLite file, blob folder) and the production one (PostgreSQL, S3
bucket), the web page streaming the zip from either.
"""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from redis import Redis
from sqlalchemy import select

from bots.web.app import create_app
from core import links
from core.app import Studio
from core.delivery import DeliveryEvent
from core.messages import Incoming, Reply
from core.platforms import AI_SOURCE_TYPE, PRESETS
from core.presenter import present
from core.settings import Settings
from core.signing import sign
from inference.export.label import jpeg_source_type
from inference.media import ffmpeg_exe
from inference.provenance import credentials
from inference.provenance.keys import load_keys
from inference.provenance.verify import verify
from storage.models import ExportPackage, Job, utcnow
from storage.repositories import assets as asset_repo
from storage.repositories import exports as export_repo
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from tests import faces_data
from tests.workers import drain


@pytest.fixture
def studio(stack: Settings, redis: Redis) -> Iterator[Studio]:
    built = Studio.build(stack, redis=redis, migrate=False)
    yield built
    built.close()


@pytest.fixture
def web(studio: Studio) -> TestClient:
    return TestClient(create_app(studio.settings))


def say(studio: Studio, text: str, *, user: str = "ann") -> list[Reply]:
    return studio.assistant.handle(Incoming(platform="telegram", user_id=user, chat_id=user, text=text))


def press(studio: Studio, action: str, *, user: str = "ann") -> list[Reply]:
    return studio.assistant.press(Incoming(platform="telegram", user_id=user, chat_id=user), action)


def text_of(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def owner_id(studio: Studio, user: str = "ann") -> int:
    with studio.db.session() as session:
        return user_repo.get_or_create(session, platform="telegram", platform_user_id=user).id


def add_image(studio: Studio, *, user: str = "ann", prompt: str = "", age_s: int = 0, persona: str | None = None,
              image: Image.Image | None = None, origin: str = "generated") -> str:
    picture = image or faces_data.astronaut().resize((200, 200))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    with studio.db.session() as session:
        owner = owner_id(studio, user)
        persona_id = persona_repo.create(session, owner_id=owner, name=persona).id if persona else None
        asset = asset_repo.create(session, owner_id=owner, kind="image", blob=studio.blobs.put_bytes(buffer.getvalue()),
                                  mime="image/png", width=picture.width, height=picture.height, persona_id=persona_id,
                                  meta={"prompt": f"{prompt}, high detail", "request": {"prompt": prompt}},
                                  origin=origin)
        asset.created_at = utcnow() - timedelta(seconds=age_s)
        return asset.id


def add_clip(studio: Studio, tmp_path: Path, *, user: str = "ann") -> str:
    """A 1 s 160x120 clip with a tone, as an animated result."""
    path = tmp_path / "clip.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=160x120:rate=24:duration=1", "-f", "lavfi", "-i", "sine=duration=1",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-y", str(path)],
                   check=True, timeout=60)
    with studio.db.session() as session:
        asset = asset_repo.create(session, owner_id=owner_id(studio, user), kind="video",
                                  blob=studio.blobs.put_file(path), mime="video/mp4", width=160, height=120,
                                  duration_s=1.0, origin="generated")
        return asset.id


def queued_job(studio: Studio, replies: list[Reply]) -> Job:
    assert replies and replies[0].job_id, text_of(replies)
    with studio.db.session() as session:
        job = job_repo.get(session, job_id=replies[0].job_id)
        assert job is not None
        session.expunge(job)
        return job


def run_jobs(studio: Studio) -> None:
    drain(studio.settings, studio.db, studio.redis, queues=("cpu",))


def finished(studio: Studio, job_id: str) -> tuple[Job, Reply]:
    """The job after the worker ran it, and the result message the chat shows for it."""
    with studio.db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None
        session.expunge(job)
    assert job.status == "done", job.error
    shown = present(studio.db, DeliveryEvent(job_id=job_id, status="done", progress=1.0))
    assert shown is not None and len(shown.results) == 1
    return job, shown.results[0]


def link_path(studio: Studio, reply: Reply) -> str:
    base = studio.settings.public_url.rstrip("/")
    (line,) = [word for word in reply.text.split() if word.startswith(base + "/x/")]
    return line[len(base):]


def package_row(studio: Studio, package_id: str) -> ExportPackage:
    with studio.db.session() as session:
        row = session.get(ExportPackage, package_id)
        assert row is not None
        session.expunge(row)
        return row


def export_now(studio: Studio, text: str, *, user: str = "ann") -> tuple[Job, Reply]:
    job = queued_job(studio, say(studio, text, user=user))
    run_jobs(studio)
    return finished(studio, job.id)


# ---- end to end -----------------------------------------------------------------------------------------------


def test_export_last_two_end_to_end(studio: Studio, web: TestClient) -> None:
    older = add_image(studio, prompt="Ava on a beach at sunset", persona="Ava", age_s=60)
    newer = add_image(studio, prompt="Ava reading in a cosy library", age_s=30)
    add_image(studio, prompt="not asked for", age_s=90)
    replies = say(studio, "/export instagram last 2")
    job = queued_job(studio, replies)
    assert job.kind == "export" and job.queue == "cpu" and job.owner_id == owner_id(studio)
    assert job.spec == {"platform": "instagram", "asset_ids": [newer, older], "carousel": False}, \
        "newest first, only two"
    assert "Instagram package of 2 result(s)" in replies[0].text
    assert [b.action for b in replies[0].buttons] == [f"cancel:{job.id}"]

    run_jobs(studio)
    job, reply = finished(studio, job.id)
    assert reply.media == [] and job.result["link"] in reply.text
    assert "6 file(s) from 2 result(s)" in reply.text and "labelled AI-generated" in reply.text
    package = package_row(studio, job.result["package_id"])
    assert package.owner_id == owner_id(studio) and package.platform == "instagram" and package.job_id == job.id
    assert package.asset_ids == [newer, older] and package.download_count == 0 and not package.revoked
    assert studio.blobs.exists(package.blob or "")
    ttl = export_repo.is_expired(package, now=utcnow() + timedelta(hours=studio.settings.export_ttl_hours, minutes=1))
    assert ttl and not export_repo.is_expired(package), "the link works for STUDIO_EXPORT_TTL_HOURS"

    assert "Download all (zip)" in web.get(link_path(studio, reply)).text, "the link opens the package's page"
    response = web.get(link_path(studio, reply) + "/zip")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert f'filename="instagram-{package.id}.zip"' in response.headers["content-disposition"]
    assert "attachment" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["platform"] == "instagram" and manifest["package_id"] == package.id
    files = manifest["files"]
    sizes = {(p.width, p.height) for p in PRESETS["instagram"].presets}
    assert [(f["asset_id"], f["preset"]) for f in files] == [
        (newer, "feed"), (newer, "square"), (newer, "story"), (older, "feed"), (older, "square"), (older, "story")]
    for entry in files:
        data = archive.read(entry["path"])
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "JPEG" and image.size == (entry["width"], entry["height"])
            assert image.size in sizes
        assert jpeg_source_type(data) == AI_SOURCE_TYPE
    assert files[3]["caption"] == "Ava on a beach at sunset" and "#Ava" in files[3]["hashtags"]
    assert "Ava reading in a cosy library" in archive.read("captions.txt").decode()
    assert sorted(archive.namelist()) == sorted(["manifest.json", "captions.txt", *(f["path"] for f in files)])
    assert package_row(studio, package.id).download_count == 1
    web.get(link_path(studio, reply) + "/zip", headers={"Range": "bytes=100-"})
    assert package_row(studio, package.id).download_count == 1, "resuming a download is not a new download"
    preview = web.get(link_path(studio, reply) + "/zip", headers={"User-Agent": "TelegramBot (like TwitterBot)"})
    assert preview.status_code == 200 and package_row(studio, package.id).download_count == 1, \
        "a chat app drawing a link preview is not a download"
    web.get(link_path(studio, reply) + "/zip")
    assert package_row(studio, package.id).download_count == 2


def test_an_upload_exported_is_not_claimed_as_generated(studio: Studio, tmp_path: Path) -> None:
    """The bug a new user found: their own photo came back labelled trainedAlgorithmicMedia with #AIgenerated."""
    made = add_image(studio, prompt="Ava on a beach at sunset", persona="Ava", age_s=60)
    own = add_image(studio, age_s=30, origin="uploaded", image=faces_data.group().resize((320, 240)))
    job, reply = export_now(studio, f"/export instagram {own} {made}")
    assert "3 labelled AI-generated, 3 from your own uploads, not labelled as AI" in reply.text
    package = package_row(studio, job.result["package_id"])
    archive = zipfile.ZipFile(io.BytesIO(studio.blobs.read_bytes(package.blob or "")))
    files = json.loads(archive.read("manifest.json"))["files"]
    anchors = load_keys(studio.settings).anchors_pem
    assert {entry["asset_id"] for entry in files} == {own, made}
    for entry in files:
        extracted = tmp_path / entry["path"].replace("/", "-")
        extracted.write_bytes(archive.read(entry["path"]))
        signed = credentials.read(extracted, anchors_pem=anchors, container="jpeg")
        assert signed is not None and signed.state == "signed-here" and signed.ingredients == 1
        checked = verify(extracted, settings=studio.settings, db=studio.db, owner_id=owner_id(studio))
        assert checked.match is not None and checked.match.asset_id == entry["asset_id"], checked.answer()
        if entry["asset_id"] == own:
            assert entry["origin"] == "uploaded" and entry["ai_label"] is None
            assert jpeg_source_type(extracted.read_bytes()) is None
            assert not any(tag.startswith("#AI") for tag in entry["hashtags"])
            assert signed.source_type is None, "the signed claim does not call the upload AI-made either"
            assert [action for action, _ in signed.actions] == ["c2pa.opened", "c2pa.edited", "c2pa.watermarked"]
            assert "your own upload" in checked.answer() and "AI-generated" not in checked.answer()
        else:
            assert entry["ai_label"] == AI_SOURCE_TYPE == jpeg_source_type(extracted.read_bytes())
            assert signed.source_type == AI_SOURCE_TYPE and entry["hashtags"][0] == "#AIgenerated"
    captions = archive.read("captions.txt").decode()
    upload_block = captions.split(f"#{own} (image, your upload, no AI label)")[1].split("-" * 60)[0]
    assert "#AIgenerated" not in upload_block


def test_a_clip_exports_with_its_sound(studio: Studio, web: TestClient, tmp_path: Path) -> None:
    clip = add_clip(studio, tmp_path)
    _, reply = export_now(studio, f"/export tiktok #{clip}")
    archive = zipfile.ZipFile(io.BytesIO(web.get(link_path(studio, reply) + "/zip").content))
    (entry,) = json.loads(archive.read("manifest.json"))["files"]
    assert entry["path"].endswith(".mp4") and (entry["width"], entry["height"]) == (1080, 1920)
    assert entry["audio"] is True and entry["fps"] == 30 and entry["duration_s"] == pytest.approx(1.0, abs=0.1)
    assert entry["caption"] == "" and entry["hashtags"] == ["#AIgenerated"]
    assert "no caption" in archive.read("captions.txt").decode()


# ---- links: expiry, revocation, forgery -----------------------------------------------------------------------


def test_an_expired_package_is_gone(studio: Studio, web: TestClient) -> None:
    add_image(studio, prompt="city at night")
    job, reply = export_now(studio, "/export x")
    path = link_path(studio, reply)
    with studio.db.session() as session:
        row = session.get(ExportPackage, job.result["package_id"])
        assert row is not None
        row.expires_at = utcnow() - timedelta(minutes=1)
    response = web.get(path)
    assert response.status_code == 410 and "expired" in response.text and "/export" in response.text
    assert package_row(studio, job.result["package_id"]).download_count == 0

    # The next export deletes expired zips; the row stays, so the old link still says "expired", not "unknown".
    blob = package_row(studio, job.result["package_id"]).blob
    export_now(studio, "/export x")
    assert package_row(studio, job.result["package_id"]).blob is None and not studio.blobs.exists(blob or "")
    assert web.get(path).status_code == 410


def test_a_link_past_its_signed_time_is_expired(studio: Studio, web: TestClient) -> None:
    add_image(studio, prompt="city at night")
    job, _ = export_now(studio, "/export facebook")
    package_id, owner = job.result["package_id"], owner_id(studio)
    token = sign(studio.settings.secret_key, f"export:{package_id}:{owner}:0", ttl_s=-5)
    assert web.get(f"/x/{token}").status_code == 410


def test_web_revoke_kills_export_links(studio: Studio, web: TestClient) -> None:
    add_image(studio, prompt="mountain lake")
    job, reply = export_now(studio, "/export youtube")
    path = link_path(studio, reply)
    assert web.get(path).status_code == 200
    assert "now invalid" in text_of(say(studio, "/web revoke"))
    response = web.get(path)
    assert response.status_code == 403 and "revoked" in response.text
    assert package_row(studio, job.result["package_id"]).revoked
    _, fresh = export_now(studio, "/export youtube")
    assert web.get(link_path(studio, fresh)).status_code == 200, "links made after the revoke work"


def test_forged_and_foreign_links_open_nothing(studio: Studio, web: TestClient) -> None:
    add_image(studio, prompt="mountain lake")
    job, reply = export_now(studio, "/export instagram")
    path = link_path(studio, reply)
    package_id = job.result["package_id"]
    bob = owner_id(studio, "bob")
    secret = studio.settings.secret_key
    foreign = sign(secret, f"export:{package_id}:{bob}:0", ttl_s=600)  # genuine, but for bob: not his package
    other_key = sign("another secret", f"export:{package_id}:{owner_id(studio)}:0", ttl_s=600)
    for bad in (path[:-4] + "AAAA", "/x/not-a-token", f"/x/{foreign}", f"/x/{other_key}"):
        response = web.get(bad)
        assert response.status_code == 404 and "No such download" in response.text, bad
    # An export link opens no page or file, and an asset link no package.
    token = path.rsplit("/", 1)[1]
    assert web.get(f"/u/{token}").status_code == 403 and web.get(f"/a/{token}").status_code == 403
    with studio.db.session() as session:
        asset = asset_repo.recent(session, owner_id=owner_id(studio), limit=1)[0]
        single = links.asset_url(studio.settings, session, asset=asset).rsplit("/", 1)[1]
    assert web.get(f"/x/{single}").status_code == 404
    assert package_row(studio, package_id).download_count == 0


# ---- the assistant's checks -----------------------------------------------------------------------------------


def test_another_users_assets_are_refused(studio: Studio) -> None:
    mine = add_image(studio, prompt="mine")
    theirs = add_image(studio, user="bob", prompt="theirs")
    answer = text_of(say(studio, f"/export instagram {mine} {theirs}"))
    assert f"No result #{theirs} among yours" in answer
    assert f"No result #{theirs} among yours" in text_of(say(studio, f"/export instagram {theirs}"))
    assert f"No result #{theirs} among yours" in text_of(press(studio, f"exp:{theirs}:tiktok"))
    with studio.db.session() as session:
        assert job_repo.recent(session, owner_id=owner_id(studio), limit=10) == []
    # "last N" only ever counts the user's own results.
    job = queued_job(studio, say(studio, "/export instagram last 5"))
    assert job.spec["asset_ids"] == [mine]


def test_the_worker_checks_ownership_again(studio: Studio) -> None:
    mine = add_image(studio, prompt="mine")
    theirs = add_image(studio, user="bob", prompt="theirs")
    job = queued_job(studio, say(studio, f"/export x {mine}"))
    with studio.db.session() as session:  # a spec that names someone else's asset never reaches their file
        row = job_repo.get(session, job_id=job.id)
        assert row is not None
        row.spec = {"platform": "x", "asset_ids": [theirs]}
    run_jobs(studio)
    with studio.db.session() as session:
        failed = job_repo.get(session, job_id=job.id)
        assert failed is not None and failed.status == "failed"
        assert "None of those results exist among yours" in (failed.error or "")
        assert session.query(ExportPackage).count() == 0


def test_nothing_to_export_and_limits_are_explained(studio: Studio) -> None:
    assert "nothing to export yet" in text_of(say(studio, "/export tiktok"))
    assert "nothing to export yet" in text_of(say(studio, "/export tiktok last 3"))
    limit = studio.settings.export_max_assets
    assert f"At most {limit} results per export" in text_of(say(studio, f"/export tiktok last {limit + 1}"))
    ids = [add_image(studio, prompt=f"p{i}") for i in range(2)]
    job = queued_job(studio, say(studio, "/export tiktok last 3"))
    assert len(job.spec["asset_ids"]) == 2
    named = " ".join(f"#{i:016x}" for i in range(limit + 1))
    assert "At most" in text_of(say(studio, f"/export x {named}"))
    job = queued_job(studio, say(studio, f"/export ig {ids[0]} #{ids[0]} {ids[1].upper()}"))
    assert job.spec == {"platform": "instagram", "asset_ids": [ids[0], ids[1]], "carousel": False}, \
        "aliases, case and repeats"
    assert "platform I export for" in text_of(say(studio, "/export myspace"))


def test_the_export_button_asks_for_a_platform_or_uses_the_default(studio: Studio) -> None:
    image = add_image(studio, prompt="a red kite")
    (picker,) = press(studio, f"exp:{image}")
    assert "which platform" in picker.text
    assert [b.action for b in picker.buttons] == [f"exp:{image}:{name}" for name in PRESETS]
    job = queued_job(studio, press(studio, picker.buttons[1].action))
    assert job.kind == "export" and job.spec == {"platform": "tiktok", "asset_ids": [image], "carousel": False}
    say(studio, "/settings platform x")
    job = queued_job(studio, press(studio, f"exp:{image}"))
    assert job.spec == {"platform": "x", "asset_ids": [image], "carousel": False}
    for forged in (f"exp:{image}:myspace", "exp:../../etc", f"exp:{image}:x:y"):
        assert "expired" in text_of(press(studio, forged)), forged
    assert "No result #0123456789abcdef among yours" in text_of(press(studio, "exp:0123456789abcdef"))


def test_image_results_offer_the_export_button(studio: Studio) -> None:
    image = add_image(studio, prompt="a red kite")
    with studio.db.session() as session:
        job = job_repo.create(session, owner_id=owner_id(studio), kind="image", queue="gpu", spec={}, chat={})
        job.status = "done"
        job.result = {"message": "1 image", "media": [{"blob": "0" * 64, "kind": "image", "filename": "k.png",
                                                       "asset_id": image}]}
        job_id = job.id
    shown = present(studio.db, DeliveryEvent(job_id=job_id, status="done", progress=1.0))
    assert shown is not None
    actions: list[Any] = [b.action for b in shown.results[0].buttons]
    assert f"exp:{image}" in actions
    job2 = queued_job(studio, press(studio, f"exp:{image}:instagram"))
    assert job2.spec["asset_ids"] == [image]


def test_export_links_are_never_posted_in_a_group(studio: Studio) -> None:
    image = add_image(studio, prompt="a red kite")
    for replies in (
        studio.assistant.handle(Incoming(platform="telegram", user_id="ann", chat_id="-100", text="/export x",
                                         private=False)),
        studio.assistant.press(Incoming(platform="telegram", user_id="ann", chat_id="-100", private=False),
                               f"exp:{image}:x"),
    ):
        assert text_of(replies) == "Export links are private: send /export to me in a direct message."
    with studio.db.session() as session:
        assert session.scalars(select(Job).where(Job.kind == "export")).first() is None
