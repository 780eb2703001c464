"""One package: every asset in each preset for its kind, manifest.json and captions.txt that say what is in the
zip, progress per file; and the job stopped part-way leaves no zip, row, temporary file or ffmpeg behind."""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from PIL import Image
from redis import Redis

from core.jobs import JobService
from core.jobspecs import ExportSpec
from core.platforms import AI_SOURCE_TYPE, PRESETS, ImageFormat, Platform, Preset, VideoFormat
from core.settings import Settings
from inference.engines.faces.dlib_backend import load_dlib
from inference.export.label import COMPOSITE, jpeg_source_type
from inference.export.package import ExportSource, build_package
from inference.media import ffmpeg_exe, probe, read_tags
from inference.provenance.keys import local_keys
from inference.provenance.stamp import Stamper
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import ExportPackage
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import users as user_repo
from tests import faces_data
from tests.workers import drain

CREATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EXPIRES = CREATED + timedelta(hours=72)
SMALL = Platform(name="test", title="Test", image=ImageFormat(),
                 video=VideoFormat(fps=30, max_seconds=1.0, max_kbps=800),
                 presets=(Preset("portrait", "4:5", 216, 270), Preset("wide", "16:9", 320, 180),
                          Preset("still", "1:1", 200, 200, kinds=frozenset({"image"}))),
                 caption_limit=60, hashtag_limit=3)


@pytest.fixture(scope="module")
def stamper(tmp_path_factory: pytest.TempPathFactory) -> Stamper:
    return Stamper(local_keys(tmp_path_factory.mktemp("keys")))


def write_clip(path: Path, *, seconds: float, size: str = "320x240") -> Path:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
                    "-i", f"testsrc2=size={size}:rate=24:duration={seconds}", "-f", "lavfi",
                    "-i", f"sine=duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", "-y", str(path)], check=True, timeout=120)
    return path


def write_image(path: Path, image: Image.Image) -> Path:
    image.save(path, "PNG")
    return path


def test_a_package_holds_every_file_with_its_manifest(tmp_path: Path, stamper: Stamper) -> None:
    portrait = write_image(tmp_path / "a.png", faces_data.astronaut())
    wide = write_image(tmp_path / "b.png", faces_data.group())
    clip = write_clip(tmp_path / "c.mp4", seconds=2.0)
    sources = [
        ExportSource("aaaa1111", "image", portrait, "generated",
                     prompt="Ava floating in the space station, soft light", persona="Ava",
                     faces=[(150, 60, 300, 230)]),
        ExportSource("bbbb2222", "image", wide, "uploaded",
                     prompt="six friends laughing on a sunny terrace overlooking the sea"),
        ExportSource("cccc3333", "video", clip, "edited", prompt=""),
    ]
    stages: list[tuple[float, str]] = []
    asked: list[tuple[int, int]] = []
    analyzer = load_dlib()

    def find_faces(pixels: Any) -> list[tuple[int, int, int, int]]:
        asked.append(pixels.shape[:2])
        return [d.box for d in analyzer.detect(pixels)]

    work = tmp_path / "work"
    built = build_package(sources, SMALL, workdir=work, package_id="pkg123", created_at=CREATED,
                          expires_at=EXPIRES, stamper=stamper, find_faces=find_faces,
                          progress=lambda f, s: stages.append((f, s)))
    assert built.path.parent == work and built.path.name == "test-pkg123.zip"
    archive = zipfile.ZipFile(built.path)
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest == built.manifest
    assert manifest["platform"] == "test" and manifest["package_id"] == "pkg123"
    assert manifest["created_at"] == "2026-03-01T12:00:00Z" and manifest["expires_at"] == "2026-03-04T12:00:00Z"
    assert manifest["ai_label"]["digital_source_types"] == sorted([AI_SOURCE_TYPE, COMPOSITE])
    assert manifest["provenance"]["local_certificate"] and manifest["provenance"]["watermark"] == "psw1"
    assert [p["folder"] for p in manifest["presets"]] == ["portrait-216x270", "wide-320x180", "still-200x200"]
    files = manifest["files"]
    assert [(f["asset_id"], f["preset"]) for f in files] == [
        ("aaaa1111", "portrait"), ("aaaa1111", "wide"), ("aaaa1111", "still"),
        ("bbbb2222", "portrait"), ("bbbb2222", "wide"), ("bbbb2222", "still"),
        ("cccc3333", "portrait"), ("cccc3333", "wide")], "a still-only preset makes no video"
    assert files[0]["path"] == "portrait-216x270/01-aaaa1111.jpg" and files[7]["path"] == "wide-320x180/03-cccc3333.mp4"
    for entry in files:
        info = archive.getinfo(entry["path"])
        assert info.compress_type == zipfile.ZIP_STORED and info.file_size == entry["bytes"]
        assert len(entry["post_text"]) <= SMALL.caption_limit and len(entry["hashtags"]) <= SMALL.hashtag_limit
        label = {"aaaa1111": AI_SOURCE_TYPE, "bbbb2222": None, "cccc3333": COMPOSITE}[entry["asset_id"]]
        assert entry["ai_label"] == label and entry["watermark"] == entry["asset_id"][:8]
        data = archive.read(entry["path"])
        if entry["kind"] == "image":
            assert jpeg_source_type(data) == label and entry["duration_s"] is None
            with Image.open(io.BytesIO(data)) as image:
                assert image.size == (entry["width"], entry["height"])
        else:
            extracted = tmp_path / entry["path"].replace("/", "-")
            extracted.write_bytes(data)
            info_v = probe(extracted)
            assert (info_v.width, info_v.height) == (entry["width"], entry["height"]) and info_v.has_audio
            assert entry["duration_s"] == pytest.approx(1.0, abs=0.05) and entry["trimmed_from_s"] == 2.0
            assert read_tags(extracted)["comment"] == COMPOSITE
    first = files[0]
    assert first["caption"] == "Ava floating in the space station, soft light"
    assert first["hashtags"] == ["#AIgenerated"], "what 60 characters leave next to the whole caption"
    assert files[3]["caption"].endswith("…") and not any(t.startswith("#AI") for t in files[3]["hashtags"])
    assert files[6]["hashtags"] == ["#AIedited"], "a face swap is disclosed as an AI edit"
    assert (first["fit"], first["anchor"]) == ("crop", "faces"), "the face box the asset knows places the crop"
    assert (files[4]["fit"], files[4]["anchor"]) == ("crop", "faces"), "16:9 keeps the six people of the group"
    assert files[5]["fit"] == "pad", "a square crop of the group would cut people out"
    assert asked == [(886, 1280), (240, 320)], "faces are looked for only where a crop needs them and unknown"
    assert first["upscaled"] is None and files[0]["width"] == 216
    assert archive.getinfo("manifest.json").compress_type == zipfile.ZIP_DEFLATED
    captions = archive.read("captions.txt").decode()
    assert "Test export · 8 file(s)" in captions
    assert "#aaaa1111 (image, AI-generated): portrait-216x270/01-aaaa1111.jpg" in captions
    assert "#bbbb2222 (image, your upload, no AI label)" in captions
    assert "Files: 3 labelled AI-generated, 2 labelled edited with AI, 3 from your own uploads" in captions
    assert "Ava floating in the space station, soft light\n\n#AIgenerated\n" in captions
    assert any("#cccc3333 is 2 s long" in note and "cut to 1 s" in note for note in built.notes)
    fractions = [f for f, _ in stages]
    assert fractions == sorted(fractions) and fractions[-1] <= 1.0
    assert {s for _, s in stages} >= {"file 1 of 8: #aaaa1111 4:5", "file 8 of 8: #cccc3333 16:9", "zipping"}


def test_a_small_source_is_reported_enlarged(tmp_path: Path, stamper: Stamper) -> None:
    small = write_image(tmp_path / "s.png", faces_data.astronaut().resize((100, 100)))
    built = build_package([ExportSource("dddd4444", "image", small, "generated")], PRESETS["instagram"],
                          workdir=tmp_path / "w", package_id="p", created_at=CREATED, expires_at=EXPIRES,
                          stamper=stamper)
    assert [f["upscaled"] for f in built.manifest["files"]] == [13.5, 10.8, 10.8]
    assert built.notes == ["3 of 3 files are enlarged (up to 13.5×): their sources are smaller than the preset's "
                           "size."]


def test_nothing_to_package_is_refused(tmp_path: Path, stamper: Stamper) -> None:
    with pytest.raises(ValueError, match="sources is empty"):
        build_package([], SMALL, workdir=tmp_path, package_id="p", created_at=CREATED, expires_at=EXPIRES,
                      stamper=stamper)


# ---- the job stopped part-way ---------------------------------------------------------------------------------


def test_cancel_mid_export_leaves_nothing_behind(settings: Settings, db: Database, redis: Redis,
                                                 tmp_path: Path) -> None:
    blobs = LocalBlobStore(settings.blobs_dir)
    clip = write_clip(tmp_path / "long.mp4", seconds=6.0, size="640x480")
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="alice")
        asset_id = asset_repo.create(session, owner_id=user.id, kind="video", blob=blobs.put_file(clip),
                                     mime="video/mp4", width=640, height=480, duration_s=6.0, origin="generated").id
    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = jobs.submit(user=user, spec=ExportSpec(platform="tiktok", asset_ids=[asset_id]),
                         chat={"platform": "console", "chat_id": "1"}).job_id
    seen: dict[str, Any] = {}

    def cancel_while_encoding() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with db.session() as session:
                job = job_repo.get(session, job_id=job_id)
                assert job is not None
                if job.status == "running" and job.stage.startswith("file 1") and 0.1 < job.progress < 0.8:
                    seen["answer"] = jobs.cancel(owner_id=user.id, job_id=job_id)
                    return
                if job.status in ("done", "failed", "cancelled"):
                    return
            time.sleep(0.02)

    watcher = threading.Thread(target=cancel_while_encoding)
    watcher.start()
    drain(settings, db, redis, queues=("cpu",))
    watcher.join(timeout=60)

    assert seen.get("answer", "").startswith("Stopping"), seen
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "cancelled" and not job.result
        assert session.query(ExportPackage).count() == 0
    assert list((settings.resolved_data_dir / "tmp").iterdir()) == []
    assert list(blobs.root.joinpath("tmp").iterdir()) == []
    assert len(list(blobs.digests())) == 1, "only the source clip is stored"
    assert not [p for p in psutil.Process().children(recursive=True)
                if "ffmpeg" in p.name() and p.status() != psutil.STATUS_ZOMBIE]
