"""/swap jobs end to end through the real queue and worker: photos and videos, likeness, refusals, cancel."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from PIL import Image
from redis import Redis

from core.errors import UsageError
from core.jobs import JobService
from core.jobspecs import FaceSwapSpec
from core.settings import Settings
from inference.media import probe
from inference.persona_face import Reference, best_reference, reference_score
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import Persona, User
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from tests import faces_data, faceswap_data
from tests.workers import drain, drain_cancelling_midway

CHAT = {"platform": "console", "chat_id": "1"}


def _user(db: Database, name: str = "alice") -> User:
    with db.session() as session:
        return user_repo.get_or_create(session, platform="console", platform_user_id=name)


def _photo_asset(settings: Settings, db: Database, user: User, image: Image.Image, *, jpeg: bool = False) -> str:
    data = faces_data.jpeg_bytes(image) if jpeg else faces_data.png_bytes(image)
    blob = LocalBlobStore(settings.blobs_dir).put_bytes(data)
    with db.session() as session:
        return asset_repo.create(session, owner_id=user.id, kind="image", blob=blob,
                                 mime="image/jpeg" if jpeg else "image/png", width=image.width,
                                 height=image.height, tags=["uploaded"], origin="uploaded").id


def _video_asset(settings: Settings, db: Database, user: User, path: Path) -> str:
    """A video as the assistant stores an upload: bytes and container type only, size and length unknown."""
    blob = LocalBlobStore(settings.blobs_dir).put_file(path)
    with db.session() as session:
        return asset_repo.create(session, owner_id=user.id, kind="video", blob=blob, mime="video/mp4",
                                 tags=["uploaded"], origin="uploaded").id


def _run(settings: Settings, db: Database, redis: Redis, user: User, spec: dict[str, Any]) -> Any:
    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = jobs.submit(user=user, spec=JobService.validate("faceswap", spec), chat=CHAT).job_id
    drain(settings, db, redis, queues=("gpu",))
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None
        return job


def _threshold(db: Database, persona_id: int) -> float:
    with db.session() as session:
        persona = session.get(Persona, persona_id)
        assert persona is not None
        return float(persona.identity["dlib"]["similarity_threshold"])


def _leftovers(settings: Settings) -> list[str]:
    tmp = settings.resolved_data_dir / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


def test_photo_swap_is_stored_with_its_likeness(settings: Settings, db: Database, redis: Redis) -> None:
    user = _user(db)
    persona_id = faceswap_data.analysed_persona(settings, db, redis, user)
    target_id = _photo_asset(settings, db, user, faceswap_data.target_photo())

    job = _run(settings, db, redis, user, {"persona_id": persona_id, "asset_id": target_id})

    assert job.status == "done", job.error
    result = job.result
    assert set(result) == {"message", "media", "asset_ids", "link"}
    assert result["message"] == f"Lisa's face swapped into #{target_id} (the face)."
    (media,) = result["media"]
    assert result["asset_ids"] == [media["asset_id"]]
    assert (media["kind"], media["mime"], media["filename"]) == ("image", "image/png", f"{job.id}.png")
    assert (media["width"], media["height"]) == (512, 515) and media["duration_s"] is None
    assert media["caption"].startswith("Lisa · landmark swap · likeness ")
    blobs = LocalBlobStore(settings.blobs_dir)
    assert media["size_bytes"] == blobs.path(media["blob"]).stat().st_size > 0
    with db.session() as session:
        (asset,) = asset_repo.for_job(session, job_id=job.id)
        assert asset.id == media["asset_id"] and asset.owner_id == user.id and asset.blob == media["blob"]
        assert (asset.kind, asset.mime, asset.width, asset.height) == ("image", "image/png", 512, 515)
        assert asset.persona_id == persona_id and asset.tags == ["swapped"] and asset.duration_s is None
        # The swapped face passes the persona's own same-person limit.
        assert asset.identity_score is not None and asset.identity_score > _threshold(db, persona_id)
        assert asset.meta["source_asset"] == target_id and asset.meta["engine"] == "landmark"
        assert asset.meta["faces_swapped"] == 1 and asset.meta["faces"] == "largest"
        assert asset.meta["reference"].startswith("lisa") and set(asset.meta["times"]) >= {"detect", "swap"}
        assert "notes" not in asset.meta
    assert re.search(r" · likeness \d+ %$", media["caption"]), "likeness on the persona's own scale"
    swapped = np.asarray(Image.open(io.BytesIO(blobs.read_bytes(media["blob"]))).convert("RGB"))
    assert np.any(swapped != faces_data.rgb(faceswap_data.target_photo()), axis=2).mean() > 0.05
    assert _leftovers(settings) == []


def test_a_jpeg_stays_a_jpeg_and_a_weak_likeness_is_said(settings: Settings, db: Database, redis: Redis) -> None:
    user = _user(db)
    persona_id = faceswap_data.analysed_persona(settings, db, redis, user,
                                                photos=faceswap_data.one_sided_persona_photos())
    # A small photo of a face in profile, turned away from every photo of the persona: the landmark swap
    # cannot turn it fully into the persona's face.
    target_id = _photo_asset(settings, db, user, faceswap_data.hard_target(), jpeg=True)

    job = _run(settings, db, redis, user, {"persona_id": persona_id, "asset_id": target_id})

    assert job.status == "done", job.error
    (media,) = job.result["media"]
    assert (media["mime"], media["filename"]) == ("image/jpeg", f"{job.id}.jpg")
    with db.session() as session:
        (asset,) = asset_repo.for_job(session, job_id=job.id)
        assert asset.mime == "image/jpeg" and asset.identity_score is not None
        assert asset.identity_score < _threshold(db, persona_id)
        (note,) = asset.meta["notes"]
    assert re.match(r"Weak likeness: \d+ % \(Lisa's own photos are 100 %, a clear match 70 % or more\)", note), note
    assert job.result["message"].endswith(note)
    assert Image.open(io.BytesIO(LocalBlobStore(settings.blobs_dir).read_bytes(media["blob"]))).format == "JPEG"


def test_video_swap_end_to_end(settings: Settings, db: Database, redis: Redis, tmp_path: Path) -> None:
    user = _user(db)
    persona_id = faceswap_data.analysed_persona(settings, db, redis, user)
    clip = faceswap_data.moving_face_clip(tmp_path / "clip.mp4", faceswap_data.target_photo(), seconds=2, fps=12)
    target_id = _video_asset(settings, db, user, clip)

    job = _run(settings, db, redis, user, {"persona_id": persona_id, "asset_id": target_id})

    assert job.status == "done", job.error
    (media,) = job.result["media"]
    assert (media["kind"], media["mime"], media["filename"]) == ("video", "video/mp4", f"{job.id}.mp4")
    assert (media["width"], media["height"], media["duration_s"]) == (480, 320, 2.0)
    assert " · 2.0 s · likeness " in media["caption"]
    info = probe(LocalBlobStore(settings.blobs_dir).path(media["blob"]), count_frames=True)
    assert (info.frames, info.fps, info.has_audio, info.codec) == (24, 12.0, True, "h264")
    with db.session() as session:
        (asset,) = asset_repo.for_job(session, job_id=job.id)
        assert (asset.kind, asset.duration_s, asset.tags) == ("video", 2.0, ["swapped"])
        assert asset.meta["frames"] == 24 and asset.meta["fps"] == 12.0 and asset.meta["has_audio"] is True
        assert asset.meta["frames_with_faces"] == 24 and asset.meta["faces_swapped"] == 1
        assert asset.identity_score is not None and asset.identity_score > _threshold(db, persona_id)
        # The upload's size and length, unknown to the chat side, were filled in by the worker.
        source = asset_repo.get_owned(session, asset_id=target_id, owner_id=user.id)
        assert source is not None and (source.width, source.height) == (480, 320)
        assert source.duration_s == pytest.approx(2.0, abs=0.1)
    assert _leftovers(settings) == []


def test_no_face_too_long_and_not_ready_are_refused(settings: Settings, db: Database, redis: Redis,
                                                   tmp_path: Path) -> None:
    user = _user(db)
    persona_id = faceswap_data.analysed_persona(settings, db, redis, user)
    coffee = _photo_asset(settings, db, user, faces_data.no_face())
    empty_clip = faceswap_data.moving_face_clip(tmp_path / "empty.mp4", faces_data.no_face(), seconds=1, fps=6,
                                                audio=False)
    empty = _video_asset(settings, db, user, empty_clip)
    long_clip = faceswap_data.moving_face_clip(tmp_path / "long.mp4", faceswap_data.target_photo(), seconds=2,
                                               fps=6)
    too_long = _video_asset(settings, db, user, long_clip)
    with db.session() as session:
        unready = persona_repo.create(session, owner_id=user.id, name="Nia").id
    short_limit = settings.model_copy(update={"swap_max_seconds": 1.0})
    before = set(LocalBlobStore(settings.blobs_dir).digests())

    cases = [
        (settings, {"persona_id": persona_id, "asset_id": coffee},
         "I found no face in that photo; send one where a face is clearly visible"),
        (settings, {"persona_id": persona_id, "asset_id": empty}, "I found no face in that video;"),
        (short_limit, {"persona_id": persona_id, "asset_id": too_long},
         "That video is 2 s long; face swap takes videos up to 1 s. Trim it and send it again."),
        (settings, {"persona_id": unready, "asset_id": coffee}, "Nia is not ready yet (collecting)"),
    ]
    # What the spec itself rules out never reaches a worker: the submission is refused, naming the field.
    for spec, field in (({"persona_id": "1", "asset_id": coffee}, "persona_id"), ({"persona_id": persona_id},
                                                                                 "asset_id")):
        with pytest.raises(UsageError, match=field):
            _run(settings, db, redis, user, spec)
    for cfg, spec, expected in cases:
        job = _run(cfg, db, redis, user, spec)
        assert job.status == "failed" and (job.error or "").startswith(expected), (spec, job.error)
        with db.session() as session:
            assert asset_repo.for_job(session, job_id=job.id) == []
    # Nothing new is left behind; the too-long upload itself is removed with the refusal (it can never be used).
    assert set(LocalBlobStore(settings.blobs_dir).digests()) <= before
    assert _leftovers(settings) == []


def test_someone_elses_persona_or_photo_is_refused(settings: Settings, db: Database, redis: Redis) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    alices_persona = faceswap_data.analysed_persona(settings, db, redis, alice)
    alices_photo = _photo_asset(settings, db, alice, faceswap_data.target_photo())
    bobs_photo = _photo_asset(settings, db, bob, faceswap_data.target_photo())

    borrowed_face = _run(settings, db, redis, bob, {"persona_id": alices_persona, "asset_id": bobs_photo})
    borrowed_photo = _run(settings, db, redis, bob, {"persona_id": alices_persona, "asset_id": alices_photo})

    assert borrowed_face.status == "failed"
    assert borrowed_face.error == "That persona is gone or isn't yours; /persona list shows yours."
    assert borrowed_photo.status == "failed"
    assert (borrowed_photo.error or "").startswith("That photo or video is gone or isn't yours")
    with db.session() as session:
        assert asset_repo.for_job(session, job_id=borrowed_face.id) == []


def test_cancel_mid_video_leaves_nothing_behind(settings: Settings, db: Database, redis: Redis,
                                                tmp_path: Path) -> None:
    user = _user(db)
    persona_id = faceswap_data.analysed_persona(settings, db, redis, user)
    clip = faceswap_data.moving_face_clip(tmp_path / "clip.mp4", faceswap_data.target_photo(), seconds=10, fps=24)
    target_id = _video_asset(settings, db, user, clip)
    before = set(LocalBlobStore(settings.blobs_dir).digests())
    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = jobs.submit(user=user, spec=FaceSwapSpec(persona_id=persona_id, asset_id=target_id),
                         chat=CHAT).job_id
    answer = drain_cancelling_midway(settings, db, redis, jobs=jobs, job_id=job_id, owner_id=user.id,
                                     stage_prefix="frame ")
    assert answer.startswith("Stopping"), answer
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "cancelled" and not job.result
        assert asset_repo.for_job(session, job_id=job_id) == []
    assert _leftovers(settings) == []
    assert not [p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()]
    assert set(LocalBlobStore(settings.blobs_dir).digests()) == before


def test_the_most_frontal_sharp_large_reference_is_the_source() -> None:
    def ref(label: str, **quality: float) -> Reference:
        return Reference(blob=label, label=label, landmarks=None, face_box=[0, 0, 1, 1], quality=quality)

    turned = ref("turned", yaw=40, blur=300, face_px=400)
    soft = ref("soft", yaw=5, blur=40, face_px=400)
    small = ref("small", yaw=5, blur=300, face_px=120)
    best = ref("best", yaw=-8, blur=200, face_px=380)
    unanalysed = Reference(blob="x", label="x", landmarks=None, face_box=None, quality={})
    assert best_reference([turned, soft, small, unanalysed, best]).label == "best"
    assert reference_score(turned.quality) < reference_score(best.quality)
    assert reference_score({}) == 0.0
