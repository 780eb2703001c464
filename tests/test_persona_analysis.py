"""Persona analysis end to end: photos in the blob store, the job through a real worker, the persona after."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image
from redis import Redis

from core.jobs import JobService
from core.jobspecs import PersonaAnalyzeSpec
from core.settings import Settings
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import Persona, ReferenceImage
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from tests.faces_data import astronaut, astronaut_photo, augment, group, jpeg_bytes, no_face, tom, turned
from tests.workers import drain

GOOD = ("flip", "crop", "brighter", "contrast")


def _tom_photos(count: int) -> list[tuple[str, Image.Image]]:
    photos = [("tom.jpg", tom())] + [(f"tom-{kind}.jpg", augment(tom(), kind)) for kind in GOOD]
    return photos[:count]


def _analyse(settings: Settings, db: Database, redis: Redis,
             photos: list[tuple[str, Image.Image]]) -> tuple[int, dict[str, Any], str]:
    blobs = LocalBlobStore(settings.blobs_dir)
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="alice")
        persona = persona_repo.create(session, owner_id=user.id, name="Tom")
        for filename, image in photos:
            data = jpeg_bytes(image)
            persona_repo.add_reference(session, persona=persona, blob=blobs.put_bytes(data), filename=filename,
                                       width=image.width, height=image.height)
        persona.status = "analyzing"
        persona_id = persona.id
    submitted = JobService(db=db, redis=redis, settings=settings).submit(
        user=user, spec=PersonaAnalyzeSpec(persona_id=persona_id),
        chat={"platform": "console", "chat_id": "1"})
    drain(settings, db, redis, queues=("cpu",))
    with db.session() as session:
        job = job_repo.get(session, job_id=submitted.job_id)
        assert job is not None
        assert job.status == "done", job.error
        return persona_id, dict(job.result), job.stage


def _persona(db: Database, persona_id: int) -> tuple[Persona, list[ReferenceImage]]:
    with db.session() as session:
        persona = session.get(Persona, persona_id)
        assert persona is not None
        return persona, list(persona.references)


def test_good_photos_make_a_ready_persona_with_a_card(settings: Settings, db: Database, redis: Redis) -> None:
    persona_id, result, _ = _analyse(settings, db, redis, _tom_photos(4))

    assert result["accepted"] == 4 and result["rejected"] == []
    assert result["persona_id"] == persona_id
    assert "Tom is ready" in result["message"]
    persona, refs = _persona(db, persona_id)
    assert persona.status == "ready"
    identity = persona.identity["dlib"]
    assert len(identity["vector"]) == 128 and identity["count"] == 4
    assert 0.4 <= identity["threshold"] <= 0.6 and identity["spread"] > 0
    assert identity["floor"] == 0.4 and identity["engine_threshold"] == 0.6
    assert identity["likeness_full"] == identity["spread"] and identity["likeness_zero"] == 0.78
    for ref in refs:
        assert ref.face_box is not None and len(ref.landmarks or []) == 68
        assert len(ref.embeddings["dlib"]) == 128
        assert {"face_px", "blur", "yaw", "pitch", "roll"} <= set(ref.quality)
    (media,) = result["media"]
    assert media["blob"] == persona.card_blob and media["filename"] == "Tom-card.png"
    assert media["kind"] == "image" and "Tom" in media["caption"]
    card = Image.open(io.BytesIO(LocalBlobStore(settings.blobs_dir).read_bytes(media["blob"])))
    assert card.format == "PNG" and card.width > 4 * 192


def test_photo_without_a_face_and_group_photo_are_refused_by_name(settings: Settings, db: Database,
                                                                 redis: Redis) -> None:
    photos = [*_tom_photos(3), ("coffee.jpg", no_face()), ("party.jpg", group())]
    persona_id, result, _ = _analyse(settings, db, redis, photos)

    reasons = {item["photo"]: item["reason"] for item in result["rejected"]}
    assert set(reasons) == {"coffee.jpg", "party.jpg"}
    assert "no face found in coffee.jpg" in reasons["coffee.jpg"]
    assert "party.jpg shows 6 faces" in reasons["party.jpg"]
    assert "coffee.jpg" in result["message"] and "party.jpg" in result["message"]
    persona, refs = _persona(db, persona_id)
    assert persona.status == "ready" and result["accepted"] == 3
    assert [ref.filename for ref in refs] == ["tom.jpg", "tom-flip.jpg", "tom-crop.jpg"]
    assert [ref.position for ref in refs] == [0, 1, 2]
    # The group photo comes back with its six faces boxed, after the persona card.
    card, marked = result["media"]
    assert card["blob"] == persona.card_blob
    assert marked["filename"] == "party-faces.jpg" and marked["kind"] == "image"
    assert marked["caption"].startswith("party.jpg shows 6 faces") and "boxed" in marked["caption"]
    picture = Image.open(io.BytesIO(LocalBlobStore(settings.blobs_dir).read_bytes(marked["blob"])))
    assert picture.format == "JPEG" and picture.size == group().size
    # The refused photos' blobs went with their rows; the boxed copy is kept for the chat to send.
    stored = set(LocalBlobStore(settings.blobs_dir).digests())
    assert {ref.blob for ref in refs} | {persona.card_blob, marked["blob"]} == stored


def test_small_turned_photos_of_one_person_make_a_persona(settings: Settings, db: Database, redis: Redis) -> None:
    # The whole astronaut picture held askew: the HOG detector also finds badges on her suit there.
    photos = [("askew.jpg", turned(astronaut_photo(), 6)), ("other-way.jpg", turned(astronaut_photo(), -8)),
              ("portrait.jpg", astronaut()), ("mirrored.jpg", augment(astronaut(), "flip"))]
    persona_id, result, _ = _analyse(settings, db, redis, photos)

    assert result["rejected"] == [] and result["accepted"] == 4, result["message"]
    assert [item["filename"] for item in result["media"]] == ["Tom-card.png"]
    persona, refs = _persona(db, persona_id)
    assert persona.status == "ready" and len(refs) == 4


def test_photo_of_someone_else_among_four_is_refused(settings: Settings, db: Database, redis: Redis) -> None:
    photos = [*_tom_photos(2), ("beach.jpg", astronaut()), *_tom_photos(4)[2:]]
    persona_id, result, _ = _analyse(settings, db, redis, photos)

    assert [item["photo"] for item in result["rejected"]] == ["beach.jpg"]
    assert "different person" in result["rejected"][0]["reason"]
    persona, refs = _persona(db, persona_id)
    assert persona.status == "ready" and len(refs) == 4
    assert "beach.jpg" not in [ref.filename for ref in refs]
    assert persona.identity["dlib"]["count"] == 4


def test_too_few_good_photos_go_back_to_collecting(settings: Settings, db: Database, redis: Redis) -> None:
    photos = [*_tom_photos(2), ("blurry.jpg", augment(astronaut(), "blur")),
              ("again.jpg", augment(tom(), "jpeg"))]
    persona_id, result, _ = _analyse(settings, db, redis, photos)

    reasons = {item["photo"]: item["reason"] for item in result["rejected"]}
    assert "blurry.jpg is blurred" in reasons["blurry.jpg"]
    assert "again.jpg is a near-duplicate of tom.jpg" in reasons["again.jpg"]
    assert result["accepted"] == 2 and result["media"] == []
    assert "Send 1 more clear photo" in result["message"] and "/done again" in result["message"]
    persona, refs = _persona(db, persona_id)
    assert persona.status == "collecting"
    assert persona.identity == {} and persona.card_blob is None
    assert [ref.filename for ref in refs] == ["tom.jpg", "tom-flip.jpg"]
    assert all(ref.face_box is None and ref.embeddings == {} for ref in refs)
