"""/swap as every front end sees it: whose face, which photo or video, what is refused, the swap button, and the
finished result with its buttons.

The jobs are real rows on the real queue; the last test runs one through the real worker and presenter.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from redis import Redis

from bots.telegram_bot import TelegramFrontend
from core.app import Studio
from core.assistant.swap import NO_SWAP_TARGET
from core.delivery import DeliveryEvent
from core.messages import MAX_ACTION_BYTES, Incoming, Reply, Upload
from core.presenter import present
from core.progress import job_tag
from core.settings import Settings
from storage.db import Database
from storage.models import Asset, Job
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from tests import faces_data, faceswap_data
from tests.fake_telegram import fake_telegram, running
from tests.telegram.support import ALICE, telegram_settings
from tests.workers import drain


@pytest.fixture
def studio(settings: Settings, db: Database, redis: Redis) -> Iterator[Studio]:
    built = Studio.build(settings, redis=redis, migrate=False)
    yield built
    built.close()


def msg(text: str = "", *, user: str = "ann", uploads: tuple[Upload, ...] = (),
        reply_to_asset: str | None = None) -> Incoming:
    return Incoming(platform="telegram", user_id=user, chat_id=user, text=text, uploads=uploads,
                    reply_to_asset=reply_to_asset)


def say(studio: Studio, text: str = "", **kwargs: Any) -> list[Reply]:
    return studio.assistant.handle(msg(text, **kwargs))


def press(studio: Studio, action: str, *, user: str = "ann") -> list[Reply]:
    return studio.assistant.press(msg(user=user), action)


def refusal(replies: list[Reply]) -> str:
    assert len(replies) == 1 and replies[0].error and replies[0].job_id is None, [r.text for r in replies]
    return replies[0].text


def owner_id(studio: Studio, user: str = "ann") -> int:
    with studio.db.session() as session:
        return user_repo.get_or_create(session, platform="telegram", platform_user_id=user).id


def persona(studio: Studio, name: str = "Ava", *, user: str = "ann", status: str = "ready") -> int:
    with studio.db.session() as session:
        row = persona_repo.create(session, owner_id=owner_id(studio, user), name=name)
        row.status = status
        return row.id


def add_asset(studio: Studio, *, user: str = "ann", kind: str = "image") -> str:
    with studio.db.session() as session:
        return asset_repo.create(session, owner_id=owner_id(studio, user), kind=kind,
                                 blob=studio.blobs.put_bytes(faces_data.png_bytes(faces_data.astronaut())),
                                 mime="video/mp4" if kind == "video" else "image/png", width=440, height=440,
                                 origin="generated").id


def queued_job(studio: Studio, replies: list[Reply]) -> Job:
    assert replies and replies[0].job_id, [r.text for r in replies]
    with studio.db.session() as session:
        job = job_repo.get(session, job_id=replies[0].job_id)
        assert job is not None
        session.expunge(job)
        return job


def assets_of(studio: Studio, user: str = "ann") -> list[Asset]:
    with studio.db.session() as session:
        found = list(asset_repo.recent(session, owner_id=owner_id(studio, user), limit=100, origins=None))
        for asset in found:
            session.expunge(asset)
        return found


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    return faceswap_data.moving_face_clip(path, faceswap_data.target_photo(), seconds=1, fps=6).read_bytes()


def test_whose_face_must_be_a_ready_persona_of_ones_own(studio: Studio) -> None:
    photo = Upload(faces_data.png_bytes(faceswap_data.target_photo()), "target.png")
    assert refusal(say(studio, "/swap Nia", uploads=(photo,))) == \
        "You have no persona called Nia. /persona list shows yours."
    persona(studio, "Nia", user="bob")
    # Bob's persona is no help to Ann: her name lookup only sees her own.
    assert "You have no persona called Nia" in refusal(say(studio, "/swap Nia", uploads=(photo,)))
    persona(studio, "Ava", status="analyzing")
    assert refusal(say(studio, "/swap Ava", uploads=(photo,))) == \
        "Ava is still being analysed; try again when it is ready."
    persona(studio, "Zoe", status="collecting")
    assert refusal(say(studio, "/swap zoe", uploads=(photo,))).startswith("Zoe has no analysed photos yet: send 3-10")
    assert assets_of(studio) == [], "a refused swap stores nothing"


def test_the_target_is_the_named_then_replied_then_attached_one(studio: Studio, clip_bytes: bytes) -> None:
    ava = persona(studio)
    named, replied = add_asset(studio), add_asset(studio, kind="video")
    photo = Upload(faces_data.png_bytes(faceswap_data.target_photo()), "target.png")

    by_id = queued_job(studio, say(studio, f"/swap Ava #{named}", uploads=(photo,)))
    by_reply = queued_job(studio, say(studio, "/swap ava", reply_to_asset=replied, uploads=(photo,)))
    by_photo = queued_job(studio, say(studio, "/swap Ava", uploads=(photo,)))
    again = queued_job(studio, say(studio, "swap Ava's face into this", uploads=(photo,)))
    by_video = queued_job(studio, say(studio, "/swap Ava", uploads=(Upload(clip_bytes, "clip.mp4", kind="video"),)))

    assert [job.kind for job in (by_id, by_reply, by_photo, again, by_video)] == ["faceswap"] * 5
    assert by_id.spec == {"persona_id": ava, "asset_id": named} and by_id.queue == "gpu"
    assert by_reply.spec["asset_id"] == replied
    uploads = {a.id: a for a in assets_of(studio) if a.tags == ["uploaded"]}
    photo_asset, video_asset = uploads[by_photo.spec["asset_id"]], uploads[by_video.spec["asset_id"]]
    assert again.spec["asset_id"] == photo_asset.id, "the same photo sent twice is one asset"
    assert (photo_asset.kind, photo_asset.mime, photo_asset.width) == ("image", "image/png", 512)
    # Front ends hold no decoder: the video's size and length are the worker's to fill in.
    assert (video_asset.kind, video_asset.mime, video_asset.width, video_asset.duration_s) == \
        ("video", "video/mp4", 0, None)
    assert studio.blobs.read_bytes(video_asset.blob) == clip_bytes
    assert f"Ava's face into #{named}" in say(studio, f"/swap Ava {named}")[0].text


def test_what_cannot_be_swapped_into_is_refused(studio: Studio, settings: Settings) -> None:
    persona(studio)
    theirs = add_asset(studio, user="bob")
    photo = Upload(faces_data.png_bytes(faceswap_data.target_photo()), "a.png")
    assert refusal(say(studio, "/swap Ava")) == NO_SWAP_TARGET.format(name="Ava")
    assert refusal(say(studio, f"/swap Ava #{theirs}")) == \
        f"No photo or video #{theirs} among yours; /gallery shows your ids."
    assert refusal(say(studio, "/swap Ava", uploads=(photo, photo))) == "Send one photo or video at a time with /swap."
    # /swap takes photos and videos: the refusal names the formats of both.
    assert refusal(say(studio, "/swap Ava", uploads=(Upload(b"hello", "x.mp4"),))) == (
        "x.mp4 is neither a photo nor a video I recognise; send a JPEG, PNG or WebP photo, or an MP4, MOV or WebM "
        "video.")
    big = b"\x00\x00\x00\x18ftypmp42" + bytes(settings.max_upload_mb * 2**20)
    assert refusal(say(studio, "/swap Ava", uploads=(Upload(big, "big.mp4", kind="video"),))).startswith(
        f"big.mp4 is {len(big) / 2**20:.1f} MB, over the {settings.max_upload_mb} MB limit; send a shorter")
    assert "is not an asset id" in refusal(say(studio, "/swap Ava nonsense!"))
    assert assets_of(studio) == []
    assert [a.id for a in assets_of(studio, "bob")] == [theirs]


def test_the_swap_button_asks_whose_face_only_when_there_is_a_choice(studio: Studio) -> None:
    target = add_asset(studio)
    assert refusal(press(studio, f"swap:{target}")).startswith("You have no ready persona yet")
    ava = persona(studio, "Ava")
    persona(studio, "Nia", status="collecting")
    straight = queued_job(studio, press(studio, f"swap:{target}"))
    assert straight.kind == "faceswap" and straight.spec == {"persona_id": ava, "asset_id": target}

    zoe = persona(studio, "Zoe")
    (picker,) = press(studio, f"swap:{target}")
    assert picker.text == f"Whose face goes into #{target}?" and picker.job_id is None
    assert [(b.label, b.action) for b in picker.buttons] == [("Ava", f"swap:{target}:{ava}"),
                                                             ("Zoe", f"swap:{target}:{zoe}")]
    assert all(len(b.action.encode()) <= MAX_ACTION_BYTES for b in picker.buttons)
    assert queued_job(studio, press(studio, picker.buttons[1].action)).spec == {"persona_id": zoe,
                                                                                "asset_id": target}

    bobs = persona(studio, "Bo", user="bob")
    assert refusal(press(studio, f"swap:{target}:{bobs}")) == \
        "That persona is not yours or was deleted; /persona list shows yours."
    assert refusal(press(studio, f"swap:{target}", user="bob")).startswith(f"No photo or video #{target}")
    assert refusal(press(studio, f"swap:{target}:zz")) == "That button has expired. Send the command again."


def test_a_finished_swap_comes_back_with_its_buttons(settings: Settings, db: Database, redis: Redis,
                                                     studio: Studio, tmp_path: Path) -> None:
    with db.session() as session:
        ann = user_repo.get_or_create(session, platform="telegram", platform_user_id="ann")
    faceswap_data.analysed_persona(settings, db, redis, ann, name="Lisa")
    photo = Upload(faces_data.jpeg_bytes(faceswap_data.target_photo()), "target.jpg")
    clip = faceswap_data.moving_face_clip(tmp_path / "clip.mp4", faceswap_data.target_photo(), seconds=1, fps=6)
    photo_job = queued_job(studio, say(studio, "/swap Lisa", uploads=(photo,)))
    video_job = queued_job(studio, say(studio, "/swap Lisa", uploads=(Upload(clip.read_bytes(), "c.mp4"),)))

    drain(settings, db, redis, queues=("gpu",))

    shown = {}
    for job in (photo_job, video_job):
        presentation = present(db, DeliveryEvent(job_id=job.id, status="done"))
        assert presentation is not None and presentation.status_text == f"✅ face swap done · {job_tag(job.id)}"
        (shown[job.kind if job is photo_job else "video"],) = presentation.results
    image_reply, video_reply = shown["faceswap"], shown["video"]
    (image,), (video,) = image_reply.media, video_reply.media
    assert (image.kind, image.mime) == ("image", "image/jpeg") and image.caption.startswith(f"#{image.asset_id} · Lisa")
    assert (video.kind, video.mime, video.duration_s) == ("video", "video/mp4", 1.0)
    assert [(b.label, b.action) for b in image_reply.buttons] == [("🎬 Animate", f"anim:{image.asset_id}"),
                                                                 ("📦 Export", f"exp:{image.asset_id}")]
    assert [(b.label, b.action) for b in video_reply.buttons] == [("📦 Export", f"exp:{video.asset_id}")]
    assert Image.open(io.BytesIO(studio.blobs.read_bytes(image.blob))).format == "JPEG"


def test_telegram_video_with_a_swap_caption_and_a_reply_to_one(settings: Settings, db: Database, redis: Redis,
                                                              clip_bytes: bytes) -> None:
    with fake_telegram() as fake:
        tg_settings = telegram_settings(settings, fake)
        studio = Studio.build(tg_settings, redis=redis)
        frontend = TelegramFrontend(studio)
        with running(frontend, fake):
            ava = persona(studio, "Ava", user=str(ALICE))
            file_id, size = fake.add_file(clip_bytes)
            video = {"file_id": file_id, "file_unique_id": file_id, "width": 480, "height": 320, "duration": 1,
                     "mime_type": "video/mp4", "file_size": size}
            fake.content(ALICE, video=video, caption="/swap Ava")
            fake.wait_call("sendMessage", chat_id=ALICE, contains="face swap queued")
            # The same clip, then "/swap Ava" sent as a reply to the message that carried it.
            fake.text(ALICE, "/swap Ava", reply_to={"message_id": 1, "date": 0, "chat": fake.chat(ALICE),
                                                     "from": fake.user(ALICE), "video": video})
            fake.wait_for(lambda: len(fake.calls_to("sendMessage", chat_id=ALICE)) >= 2, what="second queued")
        frontend.close()
        with studio.db.session() as session:
            user = user_repo.get_or_create(session, platform="telegram", platform_user_id=str(ALICE))
            jobs = [j for j in job_repo.recent(session, owner_id=user.id, limit=10) if j.kind == "faceswap"]
            assert len(jobs) == 2 and {j.spec["persona_id"] for j in jobs} == {ava}
            # The video uploaded twice is one asset, stored as the video it is.
            (asset_id,) = {j.spec["asset_id"] for j in jobs}
            asset = asset_repo.get_owned(session, asset_id=asset_id, owner_id=user.id)
            assert asset is not None and (asset.kind, asset.mime, asset.tags) == ("video", "video/mp4", ["uploaded"])
        studio.close()
