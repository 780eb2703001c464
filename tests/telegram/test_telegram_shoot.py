"""A photoshoot through the real Telegram bot against the fake Bot API: /shoot → the real worker on real faces
(the stand-in model) → the contact sheet as one photo with its buttons → picks (someone else's press refused
privately) → after a restart of the bot, a carousel export in pick order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bots.telegram_bot import TelegramFrontend
from core.app import Studio
from core.settings import Settings
from storage.db import Database
from storage.models import Job
from storage.repositories import users as user_repo
from tests import faceswap_data, standin
from tests.fake_telegram import FakeTelegram, fake_telegram, running
from tests.shoots import carousel_in_pick_order
from tests.telegram.support import ALICE, BOB, telegram_settings
from tests.workers import drain


@pytest.fixture
def world(settings: Settings, db: Database, redis: Redis, tmp_path: Path) -> Iterator[tuple[FakeTelegram, Studio]]:
    models = tmp_path / "models"
    name = standin.install(models, people=[0, 1, 2, 4, 5])
    with fake_telegram() as fake:
        tg_settings = telegram_settings(settings, fake, models_dir=models, image_model=name)
        studio = Studio.build(tg_settings, redis=redis)
        with db.session() as session:
            owner = user_repo.get_or_create(session, platform="telegram", platform_user_id=str(ALICE))
        faceswap_data.analysed_persona(tg_settings, db, redis, owner, name="Lisa")
        yield fake, studio
        studio.close()


def test_shoot_sheet_picks_and_carousel_through_telegram(world: tuple[FakeTelegram, Studio], db: Database,
                                                         redis: Redis) -> None:
    fake, studio = world
    first = TelegramFrontend(studio)
    with running(first, fake):
        fake.text(ALICE, "/shoot Lisa 4 on a rooftop at night in a black leather jacket --seed 3")
        fake.wait_call("sendMessage", chat_id=ALICE, contains="photoshoot queued")
        drain(studio.settings, db, redis, queues=("gpu",))
        sheet = fake.wait_call("sendPhoto", chat_id=ALICE, contains="📸 Lisa: 4 shots", timeout=60)
        assert sheet.files["photo"][1][:3] == b"\xff\xd8\xff", "the sheet is one JPEG"
        buttons = dict(sheet.buttons)
        assert [label for label, _ in sheet.buttons][:4] == ["☆ 1", "☆ 2", "☆ 3", "☆ 4"]
        message = fake.message_of(sheet)

        before = len(fake.calls)
        fake.press(BOB, message, buttons["☆ 1"])
        alert = fake.wait_call("answerCallbackQuery", after=before)
        assert alert.params["show_alert"] is True and "not yours" in alert.params["text"]

        # A pick redraws the sheet's own buttons and says the order in a toast: no new message in the chat.
        before = len(fake.calls)
        fake.press(ALICE, message, buttons["☆ 2"])
        fake.wait_call("editMessageReplyMarkup", chat_id=ALICE, after=before)
        toast = fake.wait_call("answerCallbackQuery", after=before)
        assert "carousel order: #2." in toast.params["text"] and not toast.params.get("show_alert")
        fake.press(ALICE, message, buttons["☆ 1"])
        toast = fake.wait_call("answerCallbackQuery", contains="carousel order: #2, #1.", after=before)
        labels = [b["text"] for row in message["reply_markup"]["inline_keyboard"] for b in row]
        assert labels[:4] == ["★ 1", "★ 2", "☆ 3", "☆ 4"], labels
        assert not [c for c in fake.calls[before:] if c.method.startswith("send")], "the chat stays clean"

        # A sheet that can no longer be edited (deleted meanwhile): the picks come as a new message with buttons.
        fake.messages.pop((ALICE, message["message_id"]))
        before = len(fake.calls)
        fake.press(ALICE, message, buttons["☆ 3"])
        again = fake.wait_call("sendMessage", chat_id=ALICE, contains="carousel order: #2, #1, #3.", after=before)
        assert [label for label, _ in again.buttons][:4] == ["★ 1", "★ 2", "★ 3", "☆ 4"]
        fake.messages[(ALICE, message["message_id"])] = message
        fake.press(ALICE, message, buttons["☆ 3"])  # back to the two picks the carousel below expects
        fake.wait_call("answerCallbackQuery", contains="carousel order: #2, #1.", after=before)
    first.close()

    # A new bot process: the picks are on the job, the sheet's buttons still work.
    second = TelegramFrontend(studio)
    with running(second, fake):
        fake.press(ALICE, message, buttons["📦 Carousel"])
        picker = fake.wait_call("sendMessage", chat_id=ALICE, contains="A carousel for which platform?")
        fake.press(ALICE, fake.message_of(picker), dict(picker.buttons)["Instagram"])
        fake.wait_call("sendMessage", chat_id=ALICE, contains="Instagram carousel of 2 picks in this order: #2 #1")
        drain(studio.settings, db, redis, queues=("cpu",))
        fake.wait_call("sendMessage", chat_id=ALICE, contains="Instagram carousel:", timeout=60)
    second.close()
    with db.session() as session:
        shoot_id = session.query(Job).filter(Job.kind == "shoot").one().id
    carousel_in_pick_order(db, studio.blobs, shoot_id, [2, 1])
