"""The Telegram bot end to end: the real python-telegram-bot Application against a fake Bot API on loopback."""

from __future__ import annotations

from redis import Redis
from sqlalchemy import select

from bots.telegram_bot import TelegramFrontend
from core import help
from core.app import Studio
from core.progress import job_tag
from core.settings import Settings
from storage.db import Database
from storage.models import Persona
from storage.repositories import jobs as job_repo
from tests.fake_telegram import BOT_USER, fake_telegram, running
from tests.telegram.support import ALICE, BOB, Bot, telegram_settings
from tests.workers import drain


def test_start_registers_the_command_menu_and_answers(bot: Bot) -> None:
    commands = bot.fake.wait_call("setMyCommands").params["commands"]
    assert [(c["command"], c["description"]) for c in commands] == help.menu()
    bot.fake.text(ALICE, "/start")
    assert "/persona new <name>" in bot.fake.wait_call("sendMessage", chat_id=ALICE).text
    bot.fake.text(ALICE, "/help imagine")
    assert bot.fake.wait_call("sendMessage", chat_id=ALICE, contains="--ar W:H").text == help.for_command("imagine")


def test_echo_job_status_is_edited_in_place_then_the_result_arrives(bot: Bot, db: Database) -> None:
    bot.fake.text(ALICE, "/echo hello studio")
    status = bot.fake.wait_call("sendMessage", chat_id=ALICE, contains="echo queued")
    assert status.buttons[0][0] == "Cancel"
    job_id = status.buttons[0][1].removeprefix("cancel:")
    message_id = status.params["_message_id"]
    bot.fake.wait_for(lambda: _status_message_id(db, job_id) == str(message_id), what="status message attached")

    drain(bot.settings, db, bot.studio.redis)
    done = bot.fake.wait_call("editMessageText", chat_id=ALICE, contains="done")
    assert done.params["message_id"] == message_id
    assert done.text == f"✅ echo done · {job_tag(job_id)}"
    assert "reply_markup" not in done.params, "the Cancel button goes once the job is over"
    bot.fake.wait_call("sendMessage", chat_id=ALICE, contains="echo: hello studio")
    bot.fake.wait_for(lambda: bot.pending() == 0, what="every event acknowledged")


def _status_message_id(db: Database, job_id: str) -> str | None:
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        return job.chat.get("status_message_id") if job is not None else None


def test_bot_user_is_the_fake_one(bot: Bot) -> None:
    assert bot.frontend.application.bot.username == BOT_USER["username"]


# ---- helpers -------------------------------------------------------------------------------------------


def face_photos(count: int) -> list[bytes]:
    """Distinct JPEGs of one real face: flips, crops and brightness changes of insightface's sample photo."""
    import io
    from pathlib import Path

    import insightface
    from PIL import Image, ImageEnhance, ImageOps

    source = Path(insightface.__file__).parent / "data" / "images" / "Tom_Hanks_54745.png"
    # The sample is a 112 px aligned crop; enlarge it so the face clears the analysis' minimum size.
    base = Image.open(source).convert("RGB").resize((336, 336), Image.Resampling.LANCZOS)
    variants = [
        base,
        ImageOps.mirror(base),
        ImageEnhance.Brightness(base).enhance(1.2),
        base.crop((12, 12, base.width - 12, base.height - 12)),
        ImageEnhance.Brightness(ImageOps.mirror(base)).enhance(0.85),
        ImageEnhance.Contrast(base).enhance(1.15),
    ]
    out = []
    for image in variants[:count]:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=92)
        out.append(buffer.getvalue())
    return out


# ---- the persona flow, images and jobs ------------------------------------------------------------------


def test_persona_from_an_album_is_one_message_then_analysis_is_queued(bot: Bot, db: Database) -> None:
    fake = bot.fake
    fake.text(ALICE, "/persona new Ava")
    ask = fake.wait_call("sendMessage", chat_id=ALICE, contains="Creating Ava")
    assert [label for label, _ in ask.buttons] == ["I agree", "Cancel"]
    fake.press(ALICE, fake.message_of(ask), dict((label, data) for label, data in ask.buttons)["I agree"])
    fake.wait_call("sendMessage", chat_id=ALICE, contains="Now send 3-10 photos of Ava")
    fake.wait_call("answerCallbackQuery")

    before = len(fake.calls)
    for data in face_photos(4):
        fake.photo(ALICE, data, media_group_id="album-1")
    summary = fake.wait_call("sendMessage", chat_id=ALICE, contains="so far", after=before)
    assert "4 photo(s) so far" in summary.text, "the album reaches the assistant as one message"
    assert summary.text.count("received") == 4
    downloaded = {c.params["file_id"] for c in fake.calls_to("download")}
    assert all(fake.files[f] != b"not the largest size" for f in downloaded), "the largest photo size is used"

    fake.text(ALICE, "/done")
    status = fake.wait_call("sendMessage", chat_id=ALICE, contains="persona analysis queued")
    assert "Checking 4 photos of Ava" in status.text
    job_id = status.buttons[0][1].removeprefix("cancel:")
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.kind == "persona_analyze" and job.status == "queued"
        assert job.chat["platform"] == "telegram" and job.chat["chat_id"] == str(ALICE)

    # The face analysis runs for real on the CPU worker; its progress edits the same status message.
    drain(bot.settings, db, bot.studio.redis, queues=("cpu",))
    fake.wait_call("editMessageText", chat_id=ALICE, contains="persona analysis done", timeout=60)
    edits = fake.calls_to("editMessageText", chat_id=ALICE)
    assert {c.params["message_id"] for c in edits} == {status.params["_message_id"]}
    # The spacing itself is checked on a virtual clock in test_chat_pacer; arrival times here depend on load.
    assert len(edits) >= 2 and "done" in edits[-1].text
    fake.wait_for(lambda: bot.pending() == 0, what="every event acknowledged")
    with db.session() as session:
        persona = session.scalars(select(Persona).where(Persona.name == "Ava")).one()
        assert persona.status == "ready", fake.texts(ALICE)[-3:]

    fake.text(ALICE, "/imagine Ava: reading in a Paris café, golden hour --n 2")
    imagine = fake.wait_call("sendMessage", chat_id=ALICE, contains="image queued")
    assert "Ava: reading in a Paris café" in imagine.text


def test_imagine_is_queued_and_cancel_by_command_edits_the_status(bot: Bot) -> None:
    fake = bot.fake
    fake.text(ALICE, "/imagine a lighthouse in a storm --ar 4:5")
    status = fake.wait_call("sendMessage", chat_id=ALICE, contains="image queued")
    job_id = status.buttons[0][1].removeprefix("cancel:")
    fake.text(ALICE, f"/cancel {job_id}")
    fake.wait_call("sendMessage", chat_id=ALICE, contains="cancelled before it started")
    edit = fake.wait_call("editMessageText", chat_id=ALICE, contains="cancelled")
    assert edit.params["message_id"] == status.params["_message_id"]
    assert edit.text == f"⏹ image cancelled · {job_tag(job_id)}"


def test_cancel_button_only_works_for_its_owner_and_forged_data_is_refused(bot: Bot) -> None:
    fake = bot.fake
    fake.text(ALICE, "/echo slow --seconds 5")
    status = fake.wait_call("sendMessage", chat_id=ALICE, contains="echo queued")
    message = fake.message_of(status)
    cancel = status.buttons[0][1]

    before = len(fake.calls)
    fake.press(BOB, message, cancel)
    alert = fake.wait_call("answerCallbackQuery", after=before)
    assert alert.params["show_alert"] is True
    assert "No job" in alert.params["text"] and "among yours" in alert.params["text"]

    for forged in ("cancel:zzzz", "var:../../etc", "x" * 64):
        before = len(fake.calls)
        fake.press(ALICE, message, forged)
        alert = fake.wait_call("answerCallbackQuery", after=before)
        assert alert.params["text"] == "That button has expired. Send the command again."

    fake.press(ALICE, message, cancel)
    fake.wait_call("sendMessage", chat_id=ALICE, contains="cancelled before it started")
    fake.wait_call("editMessageText", chat_id=ALICE, contains="echo cancelled")
    refusals = [c for c in fake.calls_to("sendMessage", chat_id=ALICE) if "expired" in c.text or "No job" in c.text]
    assert refusals == [], "refused presses answer the presser privately, never in the chat"


def test_animate_swap_and_export_answer_honestly(bot: Bot) -> None:
    fake = bot.fake
    for command, expected in (("/animate --motion zoom-in", "Send /animate with a photo attached, reply "
                                                            "/animate to one of your images, or make one"),
                              ("/swap Ava", "You have no persona called Ava"),
                              ("/export instagram last 3", "You have nothing to export yet")):
        fake.text(ALICE, command)
        fake.wait_call("sendMessage", chat_id=ALICE, contains=expected)


def test_buttons_work_after_a_restart(settings: Settings, db: Database, redis: Redis) -> None:
    with fake_telegram() as fake:
        tg_settings = telegram_settings(settings, fake)
        studio = Studio.build(tg_settings, redis=redis)
        first = TelegramFrontend(studio)
        with running(first, fake):
            fake.text(ALICE, "/echo later --seconds 5")
            status = fake.wait_call("sendMessage", chat_id=ALICE, contains="echo queued")
        first.close()
        second = TelegramFrontend(studio)
        with running(second, fake):
            fake.press(ALICE, fake.message_of(status), status.buttons[0][1])
            fake.wait_call("sendMessage", chat_id=ALICE, contains="cancelled before it started")
            fake.wait_call("editMessageText", chat_id=ALICE, contains="echo cancelled")
        second.close()
        studio.close()
