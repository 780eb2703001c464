"""/animate jobs end to end through the real queue and worker: presets, AI motion on the tiny LTX, refusals, cancel."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
import skimage.data
from PIL import Image
from redis import Redis

from core.delivery import DeliveryConsumer
from core.errors import NotAvailable, UsageError
from core.jobs import JobService
from core.jobspecs import VideoSpec
from core.settings import Settings
from inference.engines.faces.dlib_backend import load_dlib
from inference.engines.video import VideoResult
from inference.identity import build_identity
from inference.media import probe
from inference.models.store import ModelStore
from inference.models.tiny_video import make_tiny_video
from inference.task_context import TaskContext
from inference.tasks.video import _likeness, _Source, choose_motion
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import Persona, User
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from tests import faces_data
from tests.workers import drain, drain_cancelling_midway, resources

CHAT = {"platform": "console", "chat_id": "1"}


@pytest.fixture
def video_settings(settings: Settings, tiny_video_models_dir: Path) -> Settings:
    """Tiny profile, small fast clips."""
    return settings.model_copy(update={"models_dir": tiny_video_models_dir, "video_max_side": 128, "video_fps": 12})


def _user(db: Database, name: str = "alice") -> User:
    with db.session() as session:
        return user_repo.get_or_create(session, platform="console", platform_user_id=name)


def _image_asset(settings: Settings, db: Database, user: User, *, persona_id: int | None = None,
                 kind: str = "image", score: float | None = 0.81, size: tuple[int, int] = (300, 200)) -> str:
    """A PNG of the astronaut (300x200 unless told) owned by ``user``, as /imagine would have stored it."""
    picture = Image.fromarray(skimage.data.astronaut()).resize(size)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    blob = LocalBlobStore(settings.blobs_dir).put_bytes(buffer.getvalue())
    with db.session() as session:
        asset = asset_repo.create(session, owner_id=user.id, kind=kind, blob=blob,
                                  mime="image/png" if kind == "image" else "video/mp4", width=size[0],
                                  height=size[1], persona_id=persona_id, identity_score=score,
                                  meta={"prompt": "woman in an orange suit smiling"}, origin="generated")
        return asset.id


def _persona(db: Database, user: User, identity: dict[str, Any] | None = None) -> int:
    with db.session() as session:
        persona = persona_repo.create(session, owner_id=user.id, name="Ava")
        persona.identity = identity or {}
        return persona.id


def _run(settings: Settings, db: Database, redis: Redis, user: User, spec: dict[str, Any]) -> Any:
    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = jobs.submit(user=user, spec=JobService.validate("video", spec), chat=CHAT).job_id
    drain(settings, db, redis, queues=("gpu",))
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None
        return job


def _temp_leftovers(settings: Settings) -> list[str]:
    tmp = settings.resolved_data_dir / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


def test_preset_clip_is_stored_as_a_video_asset(video_settings: Settings, db: Database, redis: Redis) -> None:
    user = _user(db)
    persona_id = _persona(db, user)
    source_id = _image_asset(video_settings, db, user, persona_id=persona_id)
    consumer = DeliveryConsumer(redis, platform="console", consumer="test")

    job = _run(video_settings, db, redis, user, {"asset_id": source_id, "motion": None, "seconds": 2})

    assert job.status == "done", job.error
    result = job.result
    assert set(result) == {"message", "media", "asset_ids", "link"}
    assert result["message"].startswith(f"2 s zoom-in animation of {source_id}")  # the CPU default
    (media,) = result["media"]
    assert result["asset_ids"] == [media["asset_id"]]
    assert media["kind"] == "video" and media["mime"] == "video/mp4" and media["filename"] == f"{job.id}.mp4"
    assert (media["width"], media["height"], media["duration_s"]) == (128, 84, 2.0)
    assert "zoom-in" in media["caption"]
    blobs = LocalBlobStore(video_settings.blobs_dir)
    assert media["size_bytes"] == blobs.path(media["blob"]).stat().st_size > 0
    info = probe(blobs.path(media["blob"]), count_frames=True)
    assert (info.width, info.height, info.fps, info.frames, info.codec) == (128, 84, 12.0, 24, "h264")
    with db.session() as session:
        (asset,) = asset_repo.for_job(session, job_id=job.id)
        assert asset.id == media["asset_id"] and asset.blob == media["blob"] and asset.owner_id == user.id
        assert (asset.kind, asset.mime, asset.width, asset.height) == ("video", "video/mp4", 128, 84)
        assert asset.duration_s == pytest.approx(2.0)
        assert asset.persona_id == persona_id and asset.identity_score == pytest.approx(0.81)
        assert asset.tags == ["animated", "zoom-in"]
        assert asset.meta == {"source_asset": source_id, "motion": "zoom-in", "seconds": 2.0, "fps": 12,
                              "frames": 24, "engine": "motion", "identity_engine": None}
    assert _temp_leftovers(video_settings) == []
    stages = [e.stage for e in consumer.read(block_ms=100)]
    assert any(stage.startswith("frame ") for stage in stages)


def test_default_length_and_explicit_preset(video_settings: Settings, db: Database, redis: Redis) -> None:
    user = _user(db)
    source_id = _image_asset(video_settings, db, user)
    settings = video_settings.model_copy(update={"video_default_seconds": 3.0})

    job = _run(settings, db, redis, user, {"asset_id": source_id, "motion": "pan-left", "seconds": None})

    assert job.status == "done", job.error
    (media,) = job.result["media"]
    assert media["duration_s"] == 3.0
    with db.session() as session:
        (asset,) = asset_repo.for_job(session, job_id=job.id)
        assert asset.tags == ["animated", "pan-left"] and asset.meta["frames"] == 36
        assert asset.persona_id is None


def test_ai_motion_runs_the_tiny_model(video_settings: Settings, db: Database, redis: Redis) -> None:
    user = _user(db)
    source_id = _image_asset(video_settings, db, user, score=0.9)

    job = _run(video_settings, db, redis, user, {"asset_id": source_id, "motion": "ai", "seconds": 2})

    assert job.status == "done", job.error
    assert job.result["message"].startswith(f"2 s AI animation of {source_id}")
    (media,) = job.result["media"]
    info = probe(LocalBlobStore(video_settings.blobs_dir).path(media["blob"]), count_frames=True)
    assert (info.width, info.height, info.frames) == (64, 32, 25)  # 3:2 in multiples of 32; 24 → 8k + 1
    with db.session() as session:
        (asset,) = asset_repo.for_job(session, job_id=job.id)
        assert asset.tags == ["animated", "ai"]
        assert asset.meta["model"] == "ltx-tiny@tiny-v1" and asset.meta["engine"] == "ltx"
        assert isinstance(asset.meta["seed"], int) and asset.meta["frames"] == 25
        assert asset.meta["prompt"].startswith("woman in an orange suit smiling, ")
        assert asset.identity_score is None  # not measured on the clip: no persona
        assert f"seed {asset.meta['seed']}" in media["caption"]
    assert _temp_leftovers(video_settings) == []


def test_ai_motion_checks_the_persona_likeness(video_settings: Settings, db: Database, redis: Redis) -> None:
    user = _user(db)
    faces = load_dlib()
    vectors = [faces.analyze(faces_data.astronaut())[0].embedding]
    persona_id = _persona(db, user, {"dlib": build_identity(faces, vectors).to_json(faces)})
    source_id = _image_asset(video_settings, db, user, persona_id=persona_id)

    job = _run(video_settings, db, redis, user, {"asset_id": source_id, "motion": "ai", "seconds": 2})

    assert job.status == "done", job.error
    # The tiny model's random frames hold no face: the user is told the likeness could not be checked.
    assert "No face is visible in the last frame" in job.result["message"]
    with db.session() as session:
        (asset,) = asset_repo.for_job(session, job_id=job.id)
        assert asset.persona_id == persona_id and asset.identity_score is None


def test_likeness_of_the_last_frame_is_scored(video_settings: Settings, db: Database, redis: Redis) -> None:
    faces = load_dlib()
    tom = faces_data.tom()
    vectors = [faces.analyze(photo)[0].embedding
               for photo in [tom, *(faces_data.augment(tom, k) for k in ("flip", "crop", "brighter"))]]
    persona = Persona(id=1, name="Tom", identity={"dlib": build_identity(faces, vectors).to_json(faces)})
    ctx = TaskContext(resources(video_settings, db, redis), job_id="job", owner_id=1, kind="video", spec={},
                      attempt=1)

    def check(last: Image.Image) -> tuple[float | None, list[str]]:
        source = _Source(asset_id="a", blob="b", persona_id=1, identity_score=0.9, prompt="", persona=persona)
        frame = np.asarray(last.convert("RGB"))
        result = VideoResult(path=Path("x.mp4"), width=frame.shape[1], height=frame.shape[0], fps=24, frames=9,
                             motion="ai", engine="ltx", last_frame=frame, render_s=0.0, encode_s=0.0)
        return _likeness(ctx, source, result), source.notes

    same, same_notes = check(faces_data.augment(tom, "darker"))
    other, other_notes = check(faces_data.astronaut())
    none, none_notes = check(faces_data.no_face())

    assert same is not None and same > 0.6 and same_notes == []
    assert other is not None and other < same and "drifts from Tom's likeness" in other_notes[0]
    assert none is None and "No face is visible" in none_notes[0]


def test_someone_elses_or_a_missing_image_is_refused(video_settings: Settings, db: Database,
                                                     redis: Redis) -> None:
    alice, bob = _user(db, "alice"), _user(db, "bob")
    alices = _image_asset(video_settings, db, alice)

    stolen = _run(video_settings, db, redis, bob, {"asset_id": alices, "motion": "zoom-in", "seconds": 2})
    missing = _run(video_settings, db, redis, bob, {"asset_id": "0123456789abcdef", "motion": None,
                                                    "seconds": None})

    for job in (stolen, missing):
        assert job.status == "failed"
        assert (job.error or "").startswith("That image is gone or isn't yours")
    with db.session() as session:
        assert asset_repo.for_job(session, job_id=stolen.id) == []


def test_bad_input_fails_with_a_readable_message(video_settings: Settings, db: Database, redis: Redis) -> None:
    user = _user(db)
    image_id = _image_asset(video_settings, db, user)
    video_id = _image_asset(video_settings, db, user, kind="video")
    job = _run(video_settings, db, redis, user, {"asset_id": video_id, "motion": "zoom-in", "seconds": 2})
    assert job.status == "failed" and "is a video, not an image" in (job.error or ""), job.error
    # What the spec itself rules out never reaches a worker: the submission is refused, naming the field.
    for spec, field in (({"asset_id": image_id, "motion": "zoom-in", "seconds": 11}, "seconds"),
                        ({"asset_id": image_id, "motion": "spin", "seconds": 2}, "motion"),
                        ({"motion": "zoom-in"}, "asset_id")):
        with pytest.raises(UsageError, match=field):
            _run(video_settings, db, redis, user, spec)
    assert _temp_leftovers(video_settings) == []


def test_ai_motion_where_no_video_model_is_installed(video_settings: Settings, db: Database,
                                                    redis: Redis, tmp_path: Path) -> None:
    user = _user(db)
    source_id = _image_asset(video_settings, db, user)
    full = video_settings.model_copy(update={"model_profile": "full", "models_dir": tmp_path / "empty"})
    cpu = video_settings.model_copy(update={"model_profile": "cpu"})

    not_pulled = _run(full, db, redis, user, {"asset_id": source_id, "motion": "ai", "seconds": 2})
    cpu_only = _run(cpu, db, redis, user, {"asset_id": source_id, "motion": "ai", "seconds": 2})
    default = _run(full, db, redis, user, {"asset_id": source_id, "motion": None, "seconds": 2})

    assert not_pulled.status == "failed"
    assert not_pulled.error == ("AI motion needs the ltx-video model on the worker (studio models pull ltx-video); "
                                "try --motion zoom-in or another preset.")
    assert cpu_only.status == "failed" and "try --motion zoom-in" in (cpu_only.error or "")
    assert default.status == "done" and default.result["message"].startswith("2 s zoom-in")


def test_full_size_ai_motion_is_refused_on_a_cpu_worker(video_settings: Settings, tmp_path: Path) -> None:
    # A real ltx-video install cannot be had offline; the tiny weights stand in under its name, which is all
    # the guard looks at: a full-size model on a CPU would only run into the job timeout.
    store = ModelStore(tmp_path / "models")
    built = make_tiny_video(store, activate=False)
    copy = tmp_path / "copy"
    shutil.copytree(built.path, copy)
    store.install("ltx-video", "test-rev", copy)
    full = video_settings.model_copy(update={"model_profile": "full", "models_dir": tmp_path / "models",
                                             "torch_device": "cpu"})
    with pytest.raises(NotAvailable, match="needs a GPU worker"):
        choose_motion(full, "ai")
    assert choose_motion(full, None) == ("zoom-in", None)


def test_pulling_the_tiny_video_model_builds_an_ltx_pipeline(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    resolved = store.pull("ltx-tiny")
    index = json.loads((resolved.path / "model_index.json").read_text())
    assert index["_class_name"] == "LTXImageToVideoPipeline"
    assert store.verify("ltx-tiny").ok


def test_default_motion_is_ai_only_on_cuda(video_settings: Settings) -> None:
    assert choose_motion(video_settings, None) == ("zoom-in", None)  # tiny profile, but a CPU
    on_gpu = video_settings.model_copy(update={"torch_device": "cuda"})
    motion, model = choose_motion(on_gpu, None)
    assert motion == "ai" and model is not None and model.name == "ltx-tiny"
    assert choose_motion(on_gpu, "orbit") == ("orbit", None)


def test_cancel_mid_clip_leaves_nothing_behind(video_settings: Settings, db: Database, redis: Redis) -> None:
    user = _user(db)
    # Large enough that the clip takes about a second: time for the watcher to cancel it part-way.
    source_id = _image_asset(video_settings, db, user, size=(960, 640))
    settings = video_settings.model_copy(update={"video_max_side": 640, "video_fps": 24})
    jobs = JobService(db=db, redis=redis, settings=settings)
    job_id = jobs.submit(user=user, spec=VideoSpec(asset_id=source_id, motion="orbit", seconds=10),
                         chat=CHAT).job_id
    answer = drain_cancelling_midway(settings, db, redis, jobs=jobs, job_id=job_id, owner_id=user.id,
                                     stage_prefix="frame ")
    assert answer.startswith("Stopping"), answer
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "cancelled" and not job.result
        assert asset_repo.for_job(session, job_id=job_id) == []
    assert _temp_leftovers(settings) == []
    assert not [p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()]
    assert list(LocalBlobStore(settings.blobs_dir).digests()) == [_source_blob(db, user, source_id)]


def _source_blob(db: Database, user: User, asset_id: str) -> str:
    with db.session() as session:
        asset = asset_repo.get_owned(session, asset_id=asset_id, owner_id=user.id)
        assert asset is not None
        return asset.blob
