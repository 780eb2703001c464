"""/animate as every front end sees it: which image is animated, what is refused, defaults, quotas, buttons.

Each test runs on the embedded layout (SQLite file, blob folder) and the production one (PostgreSQL, S3
bucket). The jobs are real rows on the real queue; the video worker itself is exercised end to end in
test_console_e2e.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from redis import Redis

from core.app import Studio
from core.assistant.animate import NO_IMAGE
from core.delivery import DeliveryEvent
from core.grammar import MOTIONS
from core.messages import MAX_ACTION_BYTES, Incoming, Reply, Upload
from core.presenter import present
from core.progress import job_tag
from core.settings import Settings
from storage.models import Asset, Job, utcnow
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import users as user_repo
from storage.states import JobStatus


def png(color: tuple[int, int, int], size: tuple[int, int] = (160, 96)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def studio(stack: Settings, redis: Redis) -> Iterator[Studio]:
    built = Studio.build(stack, redis=redis, migrate=False)
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


def owner_id(studio: Studio, user: str = "ann") -> int:
    with studio.db.session() as session:
        return user_repo.get_or_create(session, platform="telegram", platform_user_id=user).id


def add_asset(studio: Studio, *, user: str = "ann", kind: str = "image", age_s: int = 0, shade: int = 1) -> str:
    """An asset owned by ``user``, ``age_s`` seconds old (ages make 'the newest' unambiguous)."""
    data = png((shade, 2, 3))
    with studio.db.session() as session:
        asset = asset_repo.create(session, owner_id=owner_id(studio, user), kind=kind,
                                  blob=studio.blobs.put_bytes(data),
                                  mime="video/mp4" if kind == "video" else "image/png", width=160, height=96,
                                  origin="generated")
        asset.created_at = utcnow() - timedelta(seconds=age_s)
        return asset.id


def queued_job(studio: Studio, replies: list[Reply]) -> Job:
    """The job the first reply announces; fails with the replies' text when none was queued."""
    assert replies and replies[0].job_id, [r.text for r in replies]
    with studio.db.session() as session:
        job = job_repo.get(session, job_id=replies[0].job_id)
        assert job is not None
        session.expunge(job)
        return job


def job_count(studio: Studio) -> int:
    with studio.db.session() as session:
        return len(job_repo.recent(session, owner_id=owner_id(studio), limit=100))


def assets_of(studio: Studio, user: str = "ann") -> list[Asset]:
    with studio.db.session() as session:
        found = list(asset_repo.recent(session, owner_id=owner_id(studio, user), limit=100, origins=None))
        for asset in found:
            session.expunge(asset)
        return found


# ---- choosing the image --------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["#{id}", "{id}", "#{ID}"])
def test_an_explicit_id_is_animated_with_exactly_the_spec_asked_for(studio: Studio, ref: str) -> None:
    wanted = add_asset(studio, age_s=60)
    add_asset(studio, shade=9)  # newer, so picking it would be the "last image" fallback at work
    text = "/animate " + ref.format(id=wanted, ID=wanted.upper()) + " --motion zoom-in --seconds 4"
    replies = say(studio, text)
    job = queued_job(studio, replies)
    assert job.kind == "video" and job.queue == "gpu" and job.status == "queued"
    assert job.owner_id == owner_id(studio)
    assert job.spec == {"asset_id": wanted, "motion": "zoom-in", "seconds": 4.0}
    assert f"animating #{wanted} · zoom-in · 4 s" in replies[0].text
    assert "animation queued" in replies[0].text
    assert [(b.label, b.action) for b in replies[0].buttons] == [("Cancel", f"cancel:{job.id}")]


def test_bare_words_and_plain_sentences_work_like_options(studio: Studio) -> None:
    image = add_asset(studio)
    job = queued_job(studio, say(studio, f"/animate {image} pan-left 6s"))
    assert job.spec == {"asset_id": image, "motion": "pan-left", "seconds": 6.0}
    job = queued_job(studio, say(studio, "animate it for 5 seconds"))
    assert job.spec == {"asset_id": image, "motion": None, "seconds": 5.0}
    job = queued_job(studio, say(studio, f"animate #{image} with a slow zoom out"))
    assert job.spec == {"asset_id": image, "motion": "zoom-out", "seconds": None}
    replies = say(studio, "make it move")
    assert queued_job(studio, replies).spec == {"asset_id": image, "motion": None, "seconds": None}
    assert f"animating #{image} · default motion · 4 s" in replies[0].text


def test_the_replied_to_image_comes_before_an_attachment_and_the_newest(studio: Studio) -> None:
    replied = add_asset(studio, age_s=60)
    add_asset(studio, shade=9)
    photo = Upload(png((200, 10, 10)), "mine.png")
    job = queued_job(studio, say(studio, "/animate", reply_to_asset=replied, uploads=(photo,)))
    assert job.spec["asset_id"] == replied
    explicit = add_asset(studio, shade=20, age_s=120)
    job = queued_job(studio, say(studio, f"/animate {explicit}", reply_to_asset=replied))
    assert job.spec["asset_id"] == explicit, "an id typed in the command wins over the replied-to image"
    assert len(assets_of(studio)) == 3, "an attachment that was not used is not stored"


def test_an_attached_photo_becomes_an_uploaded_image_and_is_animated(studio: Studio) -> None:
    add_asset(studio)  # an older image that must not be picked
    data = png((10, 200, 10), size=(200, 120))
    replies = say(studio, "/animate --motion orbit", uploads=(Upload(data, "beach.png"),))
    job = queued_job(studio, replies)
    uploaded = next(a for a in assets_of(studio) if a.id == job.spec["asset_id"])
    assert uploaded.kind == "image" and uploaded.tags == ["uploaded"] and uploaded.owner_id == owner_id(studio)
    assert (uploaded.width, uploaded.height, uploaded.mime) == (200, 120, "image/png")
    with Image.open(io.BytesIO(studio.blobs.read_bytes(uploaded.blob))) as stored:
        assert stored.size == (200, 120) and stored.getpixel((5, 5)) == (10, 200, 10)
    assert job.spec == {"asset_id": uploaded.id, "motion": "orbit", "seconds": None}

    # The same photo again (a caption sentence this time) is the same asset, not a second copy.
    job = queued_job(studio, say(studio, "animate it for 3 seconds", uploads=(Upload(data, "again.png"),)))
    assert job.spec == {"asset_id": uploaded.id, "motion": None, "seconds": 3.0}
    assert len(assets_of(studio)) == 2


def test_what_intake_changed_in_the_photo_is_said(studio: Studio) -> None:
    buffer = io.BytesIO()
    frames = [Image.new("RGB", (120, 90), (shade, 0, 0)) for shade in (10, 200)]
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    replies = say(studio, "/animate", uploads=(Upload(buffer.getvalue(), "loop.gif"),))
    queued_job(studio, replies)
    assert "loop.gif is animated (2 frames); only the first frame was kept." in replies[0].text


def test_without_any_hint_the_newest_image_is_animated_never_a_video(studio: Studio) -> None:
    add_asset(studio, age_s=300, shade=1)
    newest_image = add_asset(studio, age_s=120, shade=2)
    add_asset(studio, kind="video", age_s=0)
    add_asset(studio, user="bob", age_s=0, shade=3)  # someone else's newer image
    assert queued_job(studio, say(studio, "/animate")).spec["asset_id"] == newest_image


# ---- refusals ------------------------------------------------------------------------------------------


def refusal(replies: list[Reply]) -> str:
    assert len(replies) == 1 and replies[0].error and replies[0].job_id is None, [r.text for r in replies]
    return replies[0].text


def test_with_no_image_at_all_it_says_how_to_give_one(studio: Studio) -> None:
    add_asset(studio, kind="video")
    assert refusal(say(studio, "/animate --motion zoom-in")) == NO_IMAGE
    assert refusal(say(studio, "make it move")) == NO_IMAGE
    assert job_count(studio) == 0


def test_other_peoples_and_unknown_ids_get_the_same_answer(studio: Studio) -> None:
    theirs = add_asset(studio, user="bob")
    missing = "0123456789abcdef"
    for text in (f"/animate {theirs}", f"/animate #{missing}"):
        answer = refusal(say(studio, text))
        asset = text.split()[-1].lstrip("#")
        assert answer == f"No image #{asset} among yours; /gallery shows your ids."
    assert refusal(say(studio, "/animate", reply_to_asset=theirs)).startswith(f"No image #{theirs} among yours")
    assert refusal(press(studio, f"anim:{theirs}")).startswith(f"No image #{theirs} among yours")
    assert refusal(press(studio, f"motions:{theirs}")).startswith(f"No image #{theirs} among yours")
    assert job_count(studio) == 0


def test_a_video_is_not_animated_again(studio: Studio) -> None:
    video = add_asset(studio, kind="video")
    add_asset(studio, age_s=60)
    for replies in (say(studio, f"/animate #{video}"), say(studio, "/animate", reply_to_asset=video),
                    press(studio, f"anim:{video}")):
        answer = refusal(replies)
        assert answer.startswith(f"/animate works on images; #{video} is a video.")
    assert job_count(studio) == 0


@pytest.mark.parametrize(("data", "expected"), [
    (b"hello, I am a text file", "notes.txt is not an image we recognise"),
    (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "clip.mp4 is a video, not a photo"),
    (png((1, 1, 1), size=(20, 20)), "tiny.png is only 20x20 pixels"),
])
def test_an_attachment_that_is_not_a_usable_photo_is_refused(studio: Studio, data: bytes, expected: str) -> None:
    add_asset(studio)  # present, but a refused attachment must not silently fall back on it
    name = expected.split()[0]
    assert refusal(say(studio, "/animate", uploads=(Upload(data, name),))).startswith(expected)
    assert job_count(studio) == 0 and len(assets_of(studio)) == 1


def test_several_photos_at_once_are_refused(studio: Studio) -> None:
    photos = (Upload(png((1, 2, 3)), "a.png"), Upload(png((4, 5, 6)), "b.png"))
    assert refusal(say(studio, "/animate", uploads=photos)) == "Send one photo at a time with /animate."
    assert assets_of(studio) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("/animate --motion spin", "--motion 'spin' is unknown; choose one of zoom-in"),
    ("/animate --seconds 12", "--seconds must be from 2 to 10, not 12"),
    ("/animate zoom", "'zoom' is neither an image id (see /gallery) nor a motion"),
    ("/animate abcdef12 0123456789", "/animate takes one image id"),
    ("animate it for 30 seconds", "seconds must be from 2 to 10, not 30"),
])
def test_bad_options_are_answered_with_what_to_do(studio: Studio, text: str, expected: str) -> None:
    add_asset(studio)
    assert refusal(say(studio, text)).startswith(expected)
    assert job_count(studio) == 0


# ---- defaults and quotas -------------------------------------------------------------------------------


def test_user_defaults_fill_what_the_command_leaves_out(studio: Studio) -> None:
    image = add_asset(studio)
    assert say(studio, "/settings motion Pan-Left")[0].text == "Saved: motion is now pan-left."
    assert say(studio, "/settings seconds 6")[0].text == "Saved: seconds is now 6 s."
    assert "• motion: pan-left\n• seconds: 6 s" in say(studio, "/settings")[0].text
    assert queued_job(studio, say(studio, "/animate")).spec == {"asset_id": image, "motion": "pan-left",
                                                                 "seconds": 6.0}
    job = queued_job(studio, say(studio, "/animate --motion tilt-up --seconds 2.5"))
    assert job.spec == {"asset_id": image, "motion": "tilt-up", "seconds": 2.5}, "the command wins"
    assert queued_job(studio, press(studio, f"anim:{image}")).spec["motion"] == "pan-left"

    assert refusal(say(studio, "/settings motion spin")).startswith("motion 'spin' is unknown")
    assert refusal(say(studio, "/settings seconds 11")) == "seconds must be from 2 to 10, not 11."
    say(studio, "/settings motion default")
    assert queued_job(studio, say(studio, "/animate")).spec == {"asset_id": image, "motion": None, "seconds": 6.0}


def test_quotas_apply_and_a_refused_upload_leaves_nothing_behind(studio: Studio) -> None:
    studio.settings.max_queued_jobs, studio.settings.max_running_jobs = 1, 1
    image = add_asset(studio)
    queued_job(studio, say(studio, "/animate"))
    queued_job(studio, press(studio, f"anim:{image}"))
    for replies in (say(studio, "/animate"), press(studio, f"anim:{image}"),
                    say(studio, "/animate", uploads=(Upload(png((50, 60, 70)), "new.png"),))):
        assert "You already have 2 jobs waiting or running (limit 2)" in refusal(replies)
    assert job_count(studio) == 2 and len(assets_of(studio)) == 1


# ---- buttons -------------------------------------------------------------------------------------------


def test_the_animate_button_queues_the_pressers_own_image(studio: Studio) -> None:
    image = add_asset(studio, user="bob")
    assert refusal(press(studio, f"anim:{image}", user="ann")).startswith("No image")
    replies = press(studio, f"anim:{image}", user="bob")
    job = queued_job(studio, replies)
    assert job.owner_id == owner_id(studio, "bob") and job.kind == "video"
    assert job.spec == {"asset_id": image, "motion": None, "seconds": None}
    job = queued_job(studio, press(studio, f"anim:{image}:orbit", user="bob"))
    assert job.spec == {"asset_id": image, "motion": "orbit", "seconds": None}


@pytest.mark.parametrize("forged", ["anim:", "anim:xyz", "anim:0123456789abcdef:spin", "motions:", "motions:../x",
                                    "anim:0123456789abcdef:orbit:again"])
def test_forged_animation_buttons_are_answered(studio: Studio, forged: str) -> None:
    assert refusal(press(studio, forged)) == "That button has expired. Send the command again."


def test_the_motion_picker_offers_every_preset(studio: Studio) -> None:
    image = add_asset(studio)
    (reply,) = press(studio, f"motions:{image}")
    assert reply.text == f"Which camera motion for #{image}?"
    assert [(b.label, b.action) for b in reply.buttons] == [(m, f"anim:{image}:{m}") for m in MOTIONS]
    longest = f"anim:{'f' * 32}:{max(MOTIONS, key=len)}"
    assert len(longest.encode()) < MAX_ACTION_BYTES, "even the longest asset id fits Telegram's callback data"


def test_a_finished_animation_is_presented_with_its_own_buttons(studio: Studio) -> None:
    source = add_asset(studio)
    job_id = queued_job(studio, say(studio, f"/animate {source} --motion zoom-in")).id
    video = add_asset(studio, kind="video")
    jobs = studio.jobs
    assert jobs.transition(job_id, JobStatus.RUNNING, expect=[JobStatus.QUEUED])
    item = {"blob": "a" * 64, "kind": "video", "filename": f"{video}.mp4", "caption": "zoom-in · 4 s",
            "asset_id": video, "size_bytes": 1234, "width": 768, "height": 512, "duration_s": 4.0,
            "mime": "video/mp4"}
    assert jobs.transition(job_id, JobStatus.DONE, expect=[JobStatus.RUNNING],
                           result={"message": "Animated", "media": [item], "asset_ids": [video]})
    shown = present(studio.db, DeliveryEvent(job_id=job_id, status="done"))
    assert shown is not None and shown.status_text == f"✅ animation done · {job_tag(job_id)}"
    (reply,) = shown.results
    (media,) = reply.media
    assert (media.kind, media.width, media.height, media.duration_s, media.mime) == (
        "video", 768, 512, 4.0, "video/mp4")
    assert media.caption == f"#{video} · zoom-in · 4 s", "every result names its id for replies and commands"
    assert [(b.label, b.action) for b in reply.buttons] == [("🎞 Other motion", f"motions:{source}"),
                                                           ("📦 Export", f"exp:{video}")]
    (platforms,) = press(studio, f"exp:{video}")
    assert "for which platform?" in platforms.text and platforms.buttons[0].action == f"exp:{video}:instagram"
    (picker,) = press(studio, f"motions:{source}")
    assert queued_job(studio, press(studio, picker.buttons[3].action)).spec["motion"] == MOTIONS[3]


def test_help_and_settings_describe_animation(studio: Studio) -> None:
    text = say(studio, "/help animate")[0].text
    assert "--motion" in text and "/settings motion" in text and "reply" in text
    assert "motion, seconds" in say(studio, "/settings colour red")[0].text
