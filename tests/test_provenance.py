"""Both provenance layers on delivered files: stamp → verify round trips for JPEG, PNG and MP4 (the real c2pa
SDK, ffmpeg and database), tampering found, any file answered without a crash, the /verify job, and the
honest claims the manifest makes for each origin."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from redis import Redis

from core.platforms import AI_SOURCE_TYPE
from core.settings import Settings
from inference.media import ffmpeg_exe, read_tags
from inference.provenance import credentials, labels, stamp, verify
from inference.provenance.credentials import Claim, Ingredient
from inference.provenance.keys import load_keys
from inference.provenance.stamp import Stamper
from inference.provenance.verify import MAX_BYTES, SUPPORTED
from inference.runtime import execute
from inference.tasks.verify import _verify
from storage.blobs import BlobStore
from storage.db import Database
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import users as user_repo
from tests import faces_data
from tests.workers import resources


def picture(size: tuple[int, int] = (480, 360)) -> Image.Image:
    return faces_data.astronaut().resize(size, Image.Resampling.LANCZOS)


def write_clip(path: Path, *, seconds: float = 1.0, size: str = "320x240") -> Path:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
                    "-i", f"testsrc2=size={size}:rate=24:duration={seconds}", "-f", "lavfi",
                    "-i", f"sine=duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", "-y", str(path)], check=True, timeout=60)
    return path


def add_asset(db: Database, blobs: BlobStore, path: Path, *, kind: str, origin: str, user: str = "ann") -> str:
    with db.session() as session:
        owner = user_repo.get_or_create(session, platform="console", platform_user_id=user)
        mime = "video/mp4" if kind == "video" else "image/jpeg"
        return asset_repo.create(session, owner_id=owner.id, kind=kind, origin=origin,  # type: ignore[arg-type]
                                 blob=blobs.put_file(path), mime=mime).id


def owner(db: Database, user: str = "ann") -> int:
    with db.session() as session:
        return user_repo.get_or_create(session, platform="console", platform_user_id=user).id


@pytest.mark.parametrize("container", ["jpeg", "png", "mp4"])
def test_stamp_then_verify_round_trip(container: str, settings: Settings, db: Database, blobs: BlobStore,
                                      tmp_path: Path) -> None:
    path = tmp_path / f"result.{container[:3]}"
    kind = "video" if container == "mp4" else "image"
    if kind == "video":
        write_clip(path)
    else:
        picture().save(path, container.upper())
    asset_id = add_asset(db, blobs, path, kind=kind, origin="generated")
    assert stamp(path, kind=kind, origin="generated", asset_id=asset_id, settings=settings) == path

    report = verify(path, settings=settings, db=db, owner_id=owner(db))
    found = report.credentials
    assert found is not None and found.state == "signed-here" and not found.tampered
    assert found.generator.startswith("persona-studio ") and found.source_type == AI_SOURCE_TYPE
    assert [action for action, _ in found.actions] == ["c2pa.created", "c2pa.watermarked"]
    assert found.watermark == asset_id[:8], "the signed record names the watermark it vouches for"
    assert report.iptc_source_type == AI_SOURCE_TYPE
    assert report.watermark is not None and report.watermark.prefix == asset_id[:8]
    assert report.match is not None and report.match.asset_id == asset_id
    answer = report.answer()
    assert "signed by this studio" in answer and f"#{asset_id}, one of your {kind}s (AI-generated" in answer
    assert "untrusted" in answer, "a local certificate is said to be untrusted elsewhere"
    if kind == "image":
        with Image.open(path) as stamped:
            assert stamped.format == container.upper() and stamped.size == (480, 360)
    else:
        assert read_tags(path)["comment"] == AI_SOURCE_TYPE

    stranger = verify(path, settings=settings, db=db, owner_id=owner(db, "bob"))
    assert stranger.match is None and "not one of yours" in stranger.answer(), "nothing about others' assets"


def test_a_tampered_file_reports_a_hash_mismatch(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    picture().save(path, "JPEG", quality=90)
    stamp(path, kind="image", origin="generated", asset_id="0123456789abcdef", settings=settings)
    data = bytearray(path.read_bytes())
    data[-2000] ^= 0x40  # one bit of the compressed picture, well after the manifest
    tampered = tmp_path / "tampered.jpg"
    tampered.write_bytes(bytes(data))
    report = verify(tampered, settings=settings)
    assert report.credentials is not None and report.credentials.tampered
    assert "assertion.dataHash.mismatch" in report.credentials.failures
    assert "changed after signing (hash mismatch)" in report.answer()

    clip = write_clip(tmp_path / "c.mp4")
    stamp(clip, kind="video", origin="edited", asset_id="fedcba9876543210", settings=settings)
    data = bytearray(clip.read_bytes())
    data[-100] ^= 0x01  # inside the media data
    clip.write_bytes(bytes(data))
    found = verify(clip, settings=settings).credentials
    assert found is not None and found.tampered and found.state == "invalid"


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width``×``height`` pixels (a decompression bomb's shape)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def test_any_file_gets_an_answer_and_never_a_crash(settings: Settings, tmp_path: Path) -> None:
    signed = tmp_path / "signed.jpg"
    picture().save(signed, "JPEG")
    stamp(signed, kind="image", origin="generated", asset_id="a1a1a1a1a1a1a1a1", settings=settings)
    clip = write_clip(tmp_path / "clip.mp4")
    stamp(clip, kind="video", origin="generated", asset_id="b2b2b2b2b2b2b2b2", settings=settings)
    plain = tmp_path / "plain.png"
    picture().save(plain, "PNG")
    files = {
        "random.bin": os.urandom(50_000),
        "empty.jpg": b"",
        "document.pdf": b"%PDF-1.7\n" + os.urandom(1000),
        "truncated.jpg": signed.read_bytes()[: signed.stat().st_size // 3],
        "truncated.mp4": clip.read_bytes()[: clip.stat().st_size // 2],
        "bomb.png": _png_claiming(100_000, 100_000),
        "fake.png": b"\x89PNG\r\n\x1a\n" + os.urandom(500),
        "plain.png": plain.read_bytes(),
    }
    answers = {}
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        answers[name] = verify(path, settings=settings).answer()
    huge = tmp_path / "huge.mp4"
    with open(huge, "wb") as handle:
        handle.write(b"\0\0\0\x18ftypisom")
        handle.truncate(MAX_BYTES + 1)  # sparse: no disk is used
    answers["huge.mp4"] = verify(huge, settings=settings).answer()
    answers["missing.jpg"] = verify(tmp_path / "missing.jpg", settings=settings).answer()

    not_supported = f"That is not a file I can check: send {SUPPORTED}."
    assert answers["random.bin"] == answers["empty.jpg"] == answers["document.pdf"] == not_supported
    assert "changed after signing" in answers["truncated.jpg"] and "could not be decoded" in answers["truncated.jpg"]
    assert "Content Credentials" in answers["truncated.mp4"]
    assert "more pixels than this studio reads" in answers["bomb.png"]
    assert answers["fake.png"].startswith(("Nothing found", "🔎"))
    assert answers["plain.png"].startswith("Nothing found in this picture")
    assert "easily stripped" in answers["plain.png"]
    assert "more than the 2 GB checked here" in answers["huge.mp4"]
    assert "cannot be read" in answers["missing.jpg"]


def test_claims_follow_the_origin(settings: Settings, tmp_path: Path) -> None:
    upload = tmp_path / "upload.jpg"
    picture().save(upload, "JPEG")
    with pytest.raises(ValueError, match="never claimed as created"):
        credentials.actions(Claim(origin=labels.origin_of("uploaded"), asset_id="c3c3c3c3", title="x"))
    with pytest.raises(ValueError, match="origin must be one of"):
        labels.origin_of("ai")

    swapped = tmp_path / "swapped.jpg"
    picture().save(swapped, "JPEG")
    stamper = Stamper.from_settings(settings)
    stamper.stamp(swapped, kind="image", origin="edited", asset_id="d4d4d4d4d4d4d4d4",
                  ingredients=[Ingredient(path=upload, asset_id="c3c3c3c3c3c3c3c3")], note="face swapped")
    report = verify(swapped, settings=settings)
    found = report.credentials
    assert found is not None and found.ingredients == 1
    assert found.actions[:2] == (("c2pa.opened", None), ("c2pa.edited", labels.COMPOSITE))
    assert report.iptc_source_type == labels.COMPOSITE and "edited with AI" in report.answer()

    refined = tmp_path / "refined.png"
    picture().save(refined, "PNG")
    stamper.stamp(refined, kind="image", origin="edited", asset_id="e5e5e5e5e5e5e5e5")
    found = verify(refined, settings=settings).credentials
    assert found is not None and found.actions[0] == ("c2pa.created", labels.COMPOSITE)

    with pytest.raises(ValueError, match="not a mp4 / mov file"):
        stamper.stamp(refined, kind="video", origin="generated", asset_id="e5e5e5e5e5e5e5e5")
    with pytest.raises(ValueError, match="hex digits"):
        stamper.stamp(refined, kind="image", origin="generated", asset_id="not-an-id")


def test_a_tiny_picture_is_signed_without_a_watermark(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "icon.png"
    Image.new("RGBA", (48, 48), (200, 10, 10, 128)).save(path)
    stamp(path, kind="image", origin="generated", asset_id="f6f6f6f6f6f6f6f6", settings=settings)
    report = verify(path, settings=settings)
    assert report.credentials is not None and report.credentials.watermark is None
    assert "too small" not in report.answer() and "Watermark: not checked" in report.answer()
    with Image.open(path) as image:
        assert image.mode == "RGBA", "transparency is kept"


def test_the_verify_job_answers_and_forgets_the_file(settings: Settings, db: Database, redis: Redis,
                                                    blobs: BlobStore, tmp_path: Path) -> None:
    result = tmp_path / "mine.jpg"
    picture((640, 480)).save(result, "JPEG", quality=92)
    asset_id = add_asset(db, blobs, result, kind="image", origin="generated")
    stamp(result, kind="image", origin="generated", asset_id=asset_id, settings=settings)
    # What the user sends back: the result as a platform recompressed it.
    sent = io.BytesIO()
    Image.open(result).convert("RGB").resize((480, 360)).save(sent, "JPEG", quality=75)
    digest = blobs.put_bytes(sent.getvalue())
    with db.session() as session:
        job_id = job_repo.create(session, owner_id=owner(db), kind="verify", queue="cpu",
                                 spec={"blob": digest, "filename": "post<1>.jpg"}, chat={}).id
    execute(resources(settings, db, redis), job_id, _verify)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "done", job.error
        message, report = job.result["message"], job.result["report"]
    assert message.startswith("🔎 What post1.jpg carries:")
    assert "Content Credentials: none" in message, "recompression drops the metadata ..."
    assert f"#{asset_id}, one of your images" in message, "... and the watermark still names the result"
    assert report["watermark"]["payload"] == asset_id[:8] and report["match"]["asset_id"] == asset_id
    assert not blobs.exists(digest), "a file sent only to be checked is not kept"

    with db.session() as session:
        gone = job_repo.create(session, owner_id=owner(db), kind="verify", queue="cpu", spec={"blob": digest},
                               chat={}).id
    execute(resources(settings, db, redis), gone, _verify)
    with db.session() as session:
        job = job_repo.get(session, job_id=gone)
        assert job is not None and job.status == "failed" and job.error == \
            "The file to check is gone; send it again with /verify."


def test_verify_trusts_only_this_installations_certificates(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    picture().save(path, "JPEG")
    stamp(path, kind="image", origin="generated", asset_id="0a0a0a0a0a0a0a0a", settings=settings)
    elsewhere = settings.model_copy(update={"data_dir": tmp_path / "other-install"})
    report = verify(path, settings=elsewhere)
    assert report.credentials is not None and report.credentials.state == "valid"
    assert report.credentials.failures == ("signingCredential.untrusted",)
    assert "not a signer this studio knows" in report.answer()
    assert load_keys(settings).fingerprint != load_keys(elsewhere).fingerprint


def test_a_watermark_without_metadata_is_still_read(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    picture((800, 600)).save(path)
    stamp(path, kind="image", origin="generated", asset_id="1234abcd1234abcd", settings=settings)
    stripped = tmp_path / "screenshot.png"
    Image.fromarray(np.asarray(Image.open(path).convert("RGB"))).save(stripped)  # pixels only
    report = verify(stripped, settings=settings)
    assert report.credentials is None and report.iptc_source_type is None
    assert report.watermark is not None and report.watermark.prefix == "1234abcd"
    assert "Persona Studio asset 1234abcd…" in report.answer()


def test_the_command_line_says_which_key_signs_and_checks_a_file(settings: Settings, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli.main import cli

    env = {"STUDIO_DATA_DIR": str(settings.resolved_data_dir), "STUDIO_C2PA_CERT": "", "STUDIO_C2PA_KEY": ""}
    runner = CliRunner()
    status = runner.invoke(cli, ["provenance", "status"], env=env)
    assert status.exit_code == 0, status.output
    assert "Persona Studio signer" in status.output and "untrusted" in status.output
    assert load_keys(settings).fingerprint in status.output

    path = tmp_path / "a.jpg"
    picture().save(path, "JPEG")
    stamp(path, kind="image", origin="generated", asset_id="0b0b0b0b0b0b0b0b", settings=settings)
    checked = runner.invoke(cli, ["provenance", "verify", str(path)], env=env)
    assert checked.exit_code == 0 and "signed by this studio" in checked.output
    as_json = runner.invoke(cli, ["provenance", "verify", "--json", str(path)], env=env)
    assert '"payload": "0b0b0b0b"' in as_json.output
    junk = tmp_path / "junk.bin"
    junk.write_bytes(os.urandom(64))
    refused = runner.invoke(cli, ["provenance", "verify", str(junk)], env=env)
    assert refused.exit_code == 1 and "not a file I can check" in refused.output
