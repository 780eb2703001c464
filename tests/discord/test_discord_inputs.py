"""What users send that the bot cannot use, files through slash commands, slow answers, and failures that must not
stop the bot."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from PIL import Image
from redis import Redis

from core.messages import Incoming
from core.settings import Settings
from storage.db import Database
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import users as user_repo
from tests.discord.support import ALICE, BOB, DM_ALICE, Bot, finish_image_job, job_of, started
from tests.fake_discord import GUILD_CHANNEL, fake_discord


def _png(shade: int, size: int = 96) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (shade, 120, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def _job_spec(db: Database, job_id: str) -> dict[str, object]:
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None
        return dict(job.spec)


def _uploaded(db: Database, uid: int, asset_id: str) -> tuple[str, list[str], int]:
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="discord", platform_user_id=str(uid))
        asset = asset_repo.get_owned(session, asset_id=asset_id, owner_id=user.id)
        assert asset is not None
        return asset.kind, list(asset.tags), asset.width


# ---- files ---------------------------------------------------------------------------------------------------


def test_files_we_cannot_use_get_one_line_each_and_big_ones_are_not_downloaded(bot: Bot) -> None:
    fake = bot.fake
    huge = fake.add_file(b"\xff\xd8\xff" + b"0" * 100, filename="huge.jpg", content_type="image/jpeg",
                         size=30 * 2**20)
    fake.send(ALICE, "", attachments=[huge])
    answer = fake.wait_call("send", channel_id=DM_ALICE, contains="huge.jpg")
    assert "30.0 MB" in answer.text and "20 MB" in answer.text and "\n" not in answer.text
    assert fake.calls_to("download") == [], "refused before downloading"

    before = len(fake.calls)
    song = fake.add_file(b"ID3" + b"1" * 50, filename="song.mp3", content_type="audio/mpeg")
    report = fake.add_file(b"%PDF-1.7", filename="report.pdf", content_type="application/pdf")
    fake.send(ALICE, "", attachments=[song, report])
    refusal = fake.wait_call("send", channel_id=DM_ALICE, after=before)
    assert refusal.text.splitlines() == ["song.mp3 can't be used here: send photos (JPEG, PNG or WebP) or a video.",
                                         "report.pdf can't be used here: send photos (JPEG, PNG or WebP) or a video."]

    before = len(fake.calls)
    voice = fake.add_file(b"OggS" + b"2" * 50, filename="voice-message.ogg", content_type="audio/ogg")
    fake.send(ALICE, "", attachments=[voice], flags=8192)
    assert fake.wait_call("send", channel_id=DM_ALICE, after=before).text.startswith(
        "I can't listen to voice messages")
    before = len(fake.calls)
    fake.send(ALICE, "", sticker_items=[{"id": "749054660769218631", "name": "wave", "format_type": 1}])
    assert fake.wait_call("send", channel_id=DM_ALICE, after=before).text.startswith("Stickers can't be used here")

    before = len(fake.calls)
    photo = fake.add_file(_png(10), filename="me.png", content_type="image/png")
    fake.send(ALICE, "", attachments=[photo])
    assert "Got your file" in fake.wait_call("send", channel_id=DM_ALICE, after=before).text


def test_slash_animate_takes_an_attached_photo_and_refuses_one_too_big(bot: Bot, db: Database) -> None:
    fake = bot.fake
    photo = fake.add_file(_png(30, 128), filename="beach.png", content_type="image/png")
    asked = fake.slash(ALICE, "animate", photo=photo, motion="pan-left", seconds=3.5)
    status = fake.answer_to(asked, contains="animation queued")
    spec = _job_spec(db, job_of(status))
    assert (spec["motion"], spec["seconds"]) == ("pan-left", 3.5)
    assert _uploaded(db, ALICE, str(spec["asset_id"])) == ("image", ["uploaded"], 128)
    assert len(fake.calls_to("download")) == 1

    big = fake.add_file(b"\xff\xd8\xff", filename="big.jpg", content_type="image/jpeg", size=25 * 2**20)
    refused = fake.answer_to(fake.slash(ALICE, "animate", photo=big), contains="big.jpg")
    assert refused.ephemeral and "25.0 MB; the limit is 20 MB" in refused.text
    assert len(fake.calls_to("download")) == 1


def test_animate_a_replied_photo_a_result_or_a_message_through_the_app_menu(
        bot: Bot, db: Database) -> None:
    fake = bot.fake
    photo = fake.add_file(_png(40, 100), filename="mine.png", content_type="image/png")
    mine = fake.user_message(ALICE, "", attachments=[photo])
    fake.send(ALICE, "/animate --motion tilt-up", reply_to=mine)
    status = fake.wait_call("send", channel_id=DM_ALICE, contains="animation queued")
    spec = _job_spec(db, job_of(status))
    assert spec["motion"] == "tilt-up" and _uploaded(db, ALICE, str(spec["asset_id"]))[2] == 100

    finish_image_job(bot, db, ALICE, [("image", _png(50), 0)])
    result = fake.wait_call("send", channel_id=DM_ALICE, contains="Here you go.")
    image_id = dict(result.buttons)["🎬 Animate"].removeprefix("anim:")
    menu = fake.context_menu(ALICE, "Animate", fake.message(result))
    assert f"animating #{image_id}" in fake.answer_to(menu, contains="animation queued").text

    talk = fake.user_message(ALICE, "just words")
    refused = fake.answer_to(fake.context_menu(ALICE, "Animate", talk), contains="no image to animate")
    assert refused.ephemeral
    other = fake.answer_to(fake.context_menu(BOB, "Animate", fake.message(result)), contains="among yours")
    assert other.ephemeral, "someone else's result is not theirs to animate"


# ---- answers that take a while ---------------------------------------------------------------------------------


@pytest.fixture
def slow_bot(settings: Settings, db: Database, redis: Redis) -> Iterator[Bot]:
    """A bot whose every interaction is deferred at once, as when the answer takes longer than Discord's 3 s."""
    with fake_discord() as fake, started(settings, redis, fake, ack_budget_s=0.0) as running_bot:
        yield running_bot


def test_deferred_answers_replace_the_thinking_message_or_follow_it(slow_bot: Bot, db: Database) -> None:
    fake = slow_bot.fake
    asked = fake.slash(ALICE, "help", command="web")
    deferred = fake.wait_call("callback", contains="")
    assert deferred.callback_type == 5 and not deferred.ephemeral
    answer = fake.answer_to(asked)
    assert answer.route == "edit_original" and "/web" in answer.text

    private = fake.slash(ALICE, "persona list", guild=True)
    answer = fake.answer_to(private, contains="No personas yet")
    thinking = next(c for c in fake.calls_to("callback") if private["token"] in c.path)
    assert thinking.callback_type == 5 and thinking.ephemeral and answer.route == "edit_original"

    # A public command that ends in a refusal: the refusal goes to the user alone, the public "thinking" goes away.
    wrong = fake.slash(BOB, "imagine", prompt="a cat", persona="Zed", guild=True)
    refusal = fake.answer_to(wrong, contains="no persona called Zed")
    assert refusal.route == "followup" and refusal.ephemeral
    fake.wait_for(lambda: [c for c in fake.calls_to("delete_original") if wrong["token"] in c.path],
                  what="the thinking message removed")

    job = fake.slash(BOB, "echo", text="later", guild=True)
    status = fake.answer_to(job, contains="echo queued")
    assert status.route == "edit_original" and not status.ephemeral
    job_id = job_of(status)
    fake.wait_for(lambda: _status_id(db, job_id) == str(fake.message(status)["id"]), what="status attached")

    before = len(fake.calls)
    fake.press(ALICE, fake.message(status), f"cancel:{job_id}")
    refusal = fake.wait_call("followup", after=before)
    assert refusal.ephemeral and "among yours" in refusal.text
    assert next(c for c in fake.calls[before:] if c.route == "callback").callback_type == 6, "a silent deferral"
    fake.press(BOB, fake.message(status), f"cancel:{job_id}")
    fake.wait_call("followup", contains="cancelled before it started")
    fake.wait_call("edit", channel_id=GUILD_CHANNEL, contains="echo cancelled")
    assert not any(i.late for i in fake.interactions.values())


def _status_id(db: Database, job_id: str) -> str | None:
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        return job.chat.get("status_message_id") if job is not None else None


# ---- accounts, mistakes and failures ---------------------------------------------------------------------------


def test_linking_shares_a_telegram_accounts_personas(bot: Bot) -> None:
    assistant = bot.studio.assistant
    telegram = Incoming(platform="telegram", user_id="77", chat_id="77")
    assert "Creating Ava" in assistant.handle(_with(telegram, "/persona new Ava"))[0].text
    code = assistant.handle(_with(telegram, "/link"))[0].text.split("/link ")[1].split()[0]

    fake = bot.fake
    linked = fake.slash(ALICE, "link", code=code)
    assert "Linked" in fake.answer_to(linked).text
    listing = fake.answer_to(fake.slash(ALICE, "persona list"))
    assert "Ava — collecting" in listing.text


def _with(incoming: Incoming, text: str) -> Incoming:
    return Incoming(platform=incoming.platform, user_id=incoming.user_id, chat_id=incoming.chat_id, text=text)


def test_slash_options_reach_the_assistant_as_typed_and_bad_ones_are_refused_privately(
        bot: Bot, db: Database) -> None:
    fake = bot.fake
    # Dashes, quotes and option-like words in a text option stay the user's text: nothing is parsed again.
    typed = "it\u2019s \u2014 \"fine\" --seconds 9"
    status = fake.answer_to(fake.slash(ALICE, "echo", text=typed, seconds=2.5), contains="echo queued")
    spec = _job_spec(db, job_of(status))
    assert (spec["text"], spec["seconds"]) == (typed, 2.5)

    refused = fake.answer_to(fake.slash(BOB, "swap", persona="Ava", asset="nope", guild=True),
                             contains="not an asset id")
    assert refused.ephemeral and refused.text == "'nope' is not an asset id; /gallery shows ids under each item."
    bad_name = fake.answer_to(fake.slash(BOB, "persona new", name="Ava/Bob", guild=True))
    assert bad_name.ephemeral and bad_name.text.startswith("Names are 1-32 letters")
    assert fake.calls_to("send", channel_id=GUILD_CHANNEL) == [], "refusals never reach the channel"


def test_mistakes_get_a_hint_and_a_stale_command_an_apology(bot: Bot) -> None:
    fake = bot.fake
    fake.send(ALICE, "/imagin a cat")
    assert "Did you mean /imagine?" in fake.wait_call("send", channel_id=DM_ALICE).text
    stale = fake.answer_to(fake.stale_command(ALICE, "oldcommand", guild=True))
    assert stale.ephemeral and "changed" in stale.text


def test_a_failure_is_logged_answered_in_one_line_and_the_bot_keeps_going(
        bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    fake = bot.fake
    caplog.set_level(logging.ERROR)
    gone = fake.add_file(_png(1), filename="gone.png", content_type="image/png")
    fake.files.clear()  # Discord's CDN lost the file: the download fails with 404
    sent = fake.send(ALICE, "", attachments=[gone])
    sorry = fake.wait_call("send", channel_id=DM_ALICE, contains="something went wrong")
    assert "\n" not in sorry.text
    assert any(r.exc_info and f"message {sent['id']}" in r.getMessage() and str(ALICE) in r.getMessage()
               for r in caplog.records), "logged with the message, channel and user it came from"
    fake.send(ALICE, "/start")
    fake.wait_call("send", channel_id=DM_ALICE, contains="/help lists every command")
