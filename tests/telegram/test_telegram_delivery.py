"""Results into chats: photos, albums, videos, links for files too big, result buttons, flood control, floods."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from core.jobs import JobService
from core.jobspecs import ImageSpec
from storage.db import Database
from storage.models import User
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import users as user_repo
from storage.states import JobStatus
from tests.telegram.support import ALICE, BOB, Bot, finish_image_job, png
from tests.workers import drain


def test_one_image_is_a_photo_with_result_buttons_that_work(bot: Bot, db: Database) -> None:
    fake = bot.fake
    finish_image_job(bot, db, ALICE, [("image", png(10), 0)])
    photo = fake.wait_call("sendPhoto", chat_id=ALICE)
    assert photo.text.startswith("Here you go.")
    assert [label for label, _ in photo.buttons] == ["🔁 Variations", "✏️ Remix", "🎬 Animate", "📦 Export"]
    assert photo.files["photo"][1] == png(10)
    status = fake.wait_call("sendMessage", chat_id=ALICE, contains="image done")
    assert status.text.startswith("✅"), "a status line even without a status message"
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged")

    actions = dict(photo.buttons)
    message = fake.message_of(photo)
    before = len(fake.calls)
    fake.press(BOB, message, actions["🔁 Variations"])
    alert = fake.wait_call("answerCallbackQuery", after=before)
    assert alert.params["show_alert"] is True and "not yours" in alert.params["text"]

    before = len(fake.calls)
    fake.press(ALICE, message, actions["📦 Export"])
    picker = fake.wait_call("sendMessage", chat_id=ALICE, contains="for which platform?", after=before)
    assert [label for label, _ in picker.buttons] == ["Instagram", "TikTok", "YouTube Shorts", "X", "Facebook"]
    fake.press(ALICE, fake.message_of(picker), dict(picker.buttons)["TikTok"])
    status = fake.wait_call("sendMessage", chat_id=ALICE, contains="export queued", after=before)
    assert "TikTok package of 1 result(s)" in status.text

    fake.press(ALICE, message, actions["🔁 Variations"])
    status = fake.wait_call("sendMessage", chat_id=ALICE, contains="image queued")
    assert "Variations of your image" in status.text


def test_albums_videos_and_oversized_files(bot: Bot, db: Database) -> None:
    fake = bot.fake
    finish_image_job(bot, db, ALICE, [("image", png(20), 0), ("image", png(30), 0), ("image", png(40), 0)])
    group = fake.wait_call("sendMediaGroup", chat_id=ALICE)
    assert [item["type"] for item in group.params["media"]] == ["photo"] * 3
    assert len(group.files) == 3
    buttons = fake.wait_call("sendMessage", chat_id=ALICE, contains="Here you go.")
    assert buttons.buttons[0][0] == "🔁 Variations", "albums cannot carry buttons: they follow in a message"

    finish_image_job(bot, db, BOB, [("video", b"\x00\x00\x00\x18ftypmp42" + b"v" * 300, 0)])
    assert fake.wait_call("sendVideo", chat_id=BOB).files["video"][1].startswith(b"\x00\x00\x00\x18ftyp")

    finish_image_job(bot, db, 1003, [("video", b"\x00\x00\x00\x18ftypmp42", 60 * 2**20)])
    link = fake.wait_call("sendMessage", chat_id=1003, contains="Download it here")
    assert "60 MB" in link.text and f"{bot.settings.public_url}/a/" in link.text, "a link to that file only"
    assert fake.calls_to("sendVideo", chat_id=1003) == []
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged")


def test_flood_control_is_waited_out_not_dropped(bot: Bot, db: Database) -> None:
    fake = bot.fake
    fake.fail_next("sendMessage", retry_after=1)
    fake.text(ALICE, "/start")
    refused, answer = fake.wait_for(lambda: len(tries := fake.calls_to("sendMessage", chat_id=ALICE)) >= 2 and tries,
                                    what="the retry")
    assert refused.text == answer.text and "/help lists every command" in answer.text
    assert answer.at - refused.at >= 1.0, "the bot waited retry_after before trying again"

    fake.text(ALICE, "/echo patience")
    fake.wait_call("sendMessage", chat_id=ALICE, contains="echo queued")
    fake.fail_next("editMessageText", retry_after=1, times=2)
    drain(bot.settings, db, bot.studio.redis)
    # The accepted edit (progress of a job that has ended is no longer shown, so the refusals may be its own).
    edit = fake.wait_for(lambda: next((c for c in fake.calls_to("editMessageText", chat_id=ALICE)
                                       if c.status == 200 and "echo done" in c.text), None), what="the done edit")
    refused = [c for c in fake.calls_to("editMessageText", chat_id=ALICE) if c.at < edit.at]
    assert len(refused) >= 2 and edit.at - refused[0].at >= 2.0
    fake.wait_call("sendMessage", chat_id=ALICE, contains="echo: patience")
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged only after Telegram accepted")


def test_fifty_users_at_once(bot: Bot, db: Database) -> None:
    fake = bot.fake
    users = list(range(5000, 5050))
    started = time.monotonic()
    for uid in users:
        fake.text(uid, f"/echo hi {uid}")
    for uid in users:
        fake.wait_call("sendMessage", chat_id=uid, contains="echo queued", timeout=20)
    answered = time.monotonic() - started
    drain(bot.settings, db, bot.studio.redis)
    for uid in users:
        fake.wait_call("sendMessage", chat_id=uid, contains=f"echo: hi {uid}", timeout=20)
        fake.wait_call("editMessageText", chat_id=uid, contains="echo done", timeout=20)
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged")
    assert answered < 15, f"50 status messages took {answered:.1f} s"


def test_results_stay_unacknowledged_until_telegram_accepts_them(bot: Bot, db: Database) -> None:
    fake = bot.fake
    fake.fail_next("sendPhoto", status=502, times=2)
    finish_image_job(bot, db, ALICE, [("image", png(50), 0)])
    fake.wait_for(lambda: len(fake.calls_to("sendPhoto", chat_id=ALICE)) >= 1, what="the first, failing try")
    assert bot.pending() >= 1, "an event whose message Telegram refused must not be acknowledged"
    fake.wait_for(lambda: len(fake.calls_to("sendPhoto", chat_id=ALICE)) >= 3, what="the retries", timeout=60)
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged once Telegram accepted", timeout=60)
    photos = fake.calls_to("sendPhoto", chat_id=ALICE)
    assert len(photos) == 3 and photos[-1].files["photo"][1] == png(50)


def test_a_long_outage_is_not_shown_twice_when_the_event_is_taken_over_again(
        bot: Bot, db: Database) -> None:
    fake = bot.fake
    assert bot.frontend.delivery is not None
    consumer = bot.frontend.delivery.consumer
    fake.fail_next("sendPhoto", status=502, times=10_000)
    finish_image_job(bot, db, ALICE, [("image", png(90), 0)])
    fake.wait_for(lambda: fake.calls_to("sendPhoto", chat_id=ALICE), what="the first, failing try")
    # As if the outage had lasted past the consumer's idle time: the event is taken over while still retried.
    consumer.retry_idle_ms = 200
    consumer._next_claim = 0.0
    fake.wait_for(lambda: _times_delivered(consumer) >= 3, what="the event taken over again")
    fake.clear_failures()
    delivery = bot.frontend.delivery
    fake.wait_for(lambda: bot.pending() == 0 and not delivery.busy, what="acknowledged, lanes empty", timeout=60)
    accepted = [c for c in fake.calls_to("sendPhoto", chat_id=ALICE) if c.status == 200]
    assert len(accepted) == 1 and accepted[0].files["photo"][1] == png(90), "the result is sent exactly once"


def _times_delivered(consumer: Any) -> int:
    from core.delivery import GROUP

    entries = consumer.connection.xpending_range(consumer.stream, GROUP, min="-", max="+", count=10)
    return max((int(e["times_delivered"]) for e in entries), default=0)


def test_a_blocked_bot_drops_the_result_instead_of_retrying_forever(bot: Bot, db: Database) -> None:
    fake = bot.fake
    fake.fail_next("sendPhoto", status=403)  # Forbidden: the user blocked the bot
    finish_image_job(bot, db, ALICE, [("image", png(60), 0)])
    fake.wait_for(lambda: bot.pending() == 0, what="a permanent refusal is acknowledged", timeout=30)
    time.sleep(0.5)
    assert len(fake.calls_to("sendPhoto", chat_id=ALICE)) == 1, "no retries against a permanent error"


def test_a_result_whose_file_left_the_store_is_named_once(bot: Bot, db: Database) -> None:
    fake = bot.fake
    jobs: JobService = bot.studio.jobs
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="telegram", platform_user_id=str(BOB))
    job_id = jobs.submit(user=user, spec=ImageSpec(prompt="x"),
                         chat={"platform": "telegram", "chat_id": str(BOB), "user_id": str(BOB)}).job_id
    assert jobs.transition(job_id, JobStatus.RUNNING, expect=[JobStatus.QUEUED])
    missing = {"blob": "f" * 64, "kind": "image", "filename": "gone.png", "caption": "", "asset_id": None}
    assert jobs.transition(job_id, JobStatus.DONE, expect=[JobStatus.RUNNING], result={"media": [missing]})
    fake.wait_call("sendMessage", chat_id=BOB, contains="image done")
    fake.wait_call("sendMessage", chat_id=BOB, contains="gone.png could not be sent: its file is missing from storage")
    fake.wait_for(lambda: bot.pending() == 0, what="retrying cannot bring the file back: the event is done")
    time.sleep(0.5)
    notes = [c for c in fake.calls_to("sendMessage", chat_id=BOB) if "missing from storage" in c.params["text"]]
    assert len(notes) == 1, "said once"
    assert fake.calls_to("sendPhoto", chat_id=BOB) == []


# ---- animation ------------------------------------------------------------------------------------------


def _mp4(tmp_path: Path, *, size: tuple[int, int] = (64, 48), frames: int = 16, fps: float = 8.0) -> bytes:
    """A real H.264 MP4 (2 s of a brightening frame by default), encoded as the video worker encodes."""
    from inference.media import write_video

    width, height = size
    pictures = [np.full((height, width, 3), 10 * i, np.uint8) for i in range(frames)]
    return write_video(pictures, tmp_path / "clip.mp4", fps=fps).read_bytes()


def finish_video_job(tg: Bot, db: Database, job_id: str, data: bytes, tmp_path: Path) -> str:
    """Complete the queued video job ``job_id`` as the worker would: a video asset, its blob, then ``done``."""
    from inference.media import probe

    info = probe(tmp_path / "clip.mp4")
    jobs: JobService = tg.studio.jobs
    assert jobs.transition(job_id, JobStatus.RUNNING, expect=[JobStatus.QUEUED])
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None
        owner, source = job.owner_id, job.spec["asset_id"]
        asset = asset_repo.create(session, owner_id=owner, kind="video", blob=tg.studio.blobs.put_bytes(data),
                                  mime="video/mp4", width=info.width, height=info.height,
                                  duration_s=info.duration_s, job_id=job_id, origin="generated")
        video_id = asset.id
    item = {"blob": asset.blob, "kind": "video", "filename": f"{video_id}.mp4", "caption": "zoom-in · 2 s",
            "asset_id": video_id, "size_bytes": len(data), "width": info.width, "height": info.height,
            "duration_s": info.duration_s, "mime": "video/mp4"}
    # The message names the source image first: a reply must still find the video's own id.
    assert jobs.transition(job_id, JobStatus.DONE, expect=[JobStatus.RUNNING],
                           result={"message": f"Animated #{source}", "media": [item], "asset_ids": [video_id]})
    return video_id


def _job(db: Database, job_id: str) -> tuple[str, dict[str, Any], str]:
    """(kind, spec, the owner's Telegram user id) of a job row."""
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None
        owner = session.get(User, job.owner_id)
        assert owner is not None and owner.platform == "telegram"
        return job.kind, dict(job.spec), owner.platform_user_id


def test_animate_button_queues_a_video_for_its_owner_and_the_video_arrives_with_its_buttons(
        bot: Bot, db: Database, tmp_path: Path) -> None:
    fake = bot.fake
    finish_image_job(bot, db, ALICE, [("image", png(70), 0)])
    photo = fake.wait_call("sendPhoto", chat_id=ALICE)
    actions = dict(photo.buttons)
    image_id = actions["🎬 Animate"].removeprefix("anim:")
    message = fake.message_of(photo)

    before = len(fake.calls)
    fake.press(BOB, message, actions["🎬 Animate"])
    alert = fake.wait_call("answerCallbackQuery", after=before)
    assert alert.params["show_alert"] is True and f"No image #{image_id} among yours" in alert.params["text"]

    fake.press(ALICE, message, actions["🎬 Animate"])
    status = fake.wait_call("sendMessage", chat_id=ALICE, contains="animation queued")
    assert f"animating #{image_id} · default motion · 4 s" in status.text
    job_id = status.buttons[0][1].removeprefix("cancel:")
    assert _job(db, job_id) == ("video", {"asset_id": image_id, "motion": None, "seconds": None}, str(ALICE))
    assert not [c for c in fake.calls_to("sendMessage", chat_id=ALICE) if "No image" in c.text], \
        "a refused press answers the presser privately, never in the chat"
    fake.wait_for(lambda: _status_message(db, job_id) == str(status.params["_message_id"]), what="status attached")

    data = _mp4(tmp_path)
    video_id = finish_video_job(bot, db, job_id, data, tmp_path)
    video = fake.wait_call("sendVideo", chat_id=ALICE)
    assert video.files["video"][1] == data
    assert (video.params["duration"], video.params["width"], video.params["height"]) == (2, 64, 48)
    assert video.params["supports_streaming"] is True
    assert video.text.startswith(f"Animated #{image_id}") and f"#{video_id} · zoom-in · 2 s" in video.text
    assert video.buttons == [("🎞 Other motion", f"motions:{image_id}"), ("📦 Export", f"exp:{video_id}")]
    done = fake.wait_call("editMessageText", chat_id=ALICE, contains="animation done")
    assert done.params["message_id"] == status.params["_message_id"]
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged")

    # Another camera move: only for the owner; a picker of every preset, in rows a phone can show.
    clip = fake.message_of(video)
    before = len(fake.calls)
    fake.press(BOB, clip, f"motions:{image_id}")
    assert "among yours" in fake.wait_call("answerCallbackQuery", after=before).params["text"]
    fake.press(ALICE, clip, f"motions:{image_id}")
    picker = fake.wait_call("sendMessage", chat_id=ALICE, contains="Which camera motion")
    assert [len(row) for row in picker.params["reply_markup"]["inline_keyboard"]] == [4, 4]
    fake.press(ALICE, fake.message_of(picker), dict(picker.buttons)["orbit"])
    again = fake.wait_call("sendMessage", chat_id=ALICE, contains="· orbit ·")
    assert _job(db, again.buttons[0][1].removeprefix("cancel:"))[1]["motion"] == "orbit"

    # Replies: to the video, a clear refusal; to the image, that image (whatever was made since).
    fake.text(ALICE, "/animate", reply_to=clip)
    fake.wait_call("sendMessage", chat_id=ALICE, contains=f"/animate works on images; #{video_id} is a video")
    fake.text(ALICE, "/animate --seconds 3", reply_to=message)
    replied = fake.wait_call("sendMessage", chat_id=ALICE, contains="· 3 s")
    assert _job(db, replied.buttons[0][1].removeprefix("cancel:"))[1] == {"asset_id": image_id, "motion": None,
                                                                          "seconds": 3.0}


def test_animate_as_a_reply_to_the_users_own_photo_uses_that_photo(bot: Bot, db: Database) -> None:
    fake = bot.fake
    photo = png(90)
    thumb, _ = fake.add_file(b"not the largest size")
    full, size = fake.add_file(photo)
    sent = {"message_id": 1, "date": int(time.time()), "chat": fake.chat(ALICE), "from": fake.user(ALICE),
            "photo": [{"file_id": thumb, "file_unique_id": thumb, "width": 90, "height": 90, "file_size": 20},
                      {"file_id": full, "file_unique_id": full, "width": 96, "height": 96, "file_size": size}]}
    fake.text(ALICE, "/animate --motion tilt-up", reply_to=sent)
    status = fake.wait_call("sendMessage", chat_id=ALICE, contains="animation queued")
    kind, spec, owner = _job(db, status.buttons[0][1].removeprefix("cancel:"))
    assert (kind, spec["motion"], owner) == ("video", "tilt-up", str(ALICE))
    with db.session() as session:
        asset = asset_repo.get_owned(session, asset_id=spec["asset_id"],
                                     owner_id=user_repo.get_or_create(session, platform="telegram",
                                                                      platform_user_id=str(ALICE)).id)
        assert asset is not None and asset.kind == "image" and asset.tags == ["uploaded"]
        assert (asset.width, asset.height) == (96, 96)
    assert [c.params["file_id"] for c in fake.calls_to("download")] == [full], "the largest size, once"

    # Any other command replying to a photo leaves it alone.
    fake.text(ALICE, "/jobs", reply_to=sent)
    fake.wait_call("sendMessage", chat_id=ALICE, contains="Your jobs")
    assert len(fake.calls_to("download")) == 1


def test_an_album_mixing_photos_and_videos_is_one_media_group(
        bot: Bot, db: Database, tmp_path: Path) -> None:
    fake = bot.fake
    finish_image_job(bot, db, ALICE, [("image", png(80), 0), ("video", _mp4(tmp_path), 0)])
    group = fake.wait_call("sendMediaGroup", chat_id=ALICE)
    assert [item["type"] for item in group.params["media"]] == ["photo", "video"]
    assert group.params["media"][1]["supports_streaming"] is True
    fake.wait_for(lambda: bot.pending() == 0, what="acknowledged")


def _status_message(db: Database, job_id: str) -> str | None:
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        return job.chat.get("status_message_id") if job is not None else None
