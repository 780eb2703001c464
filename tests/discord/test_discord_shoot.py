"""A photoshoot through the real discord.py bot against the fake Discord: slash /shoot → the real worker on real
faces (the stand-in model) → the contact sheet as one attachment with its buttons → picks toggled on the sheet
itself (someone else's press refused to them alone) → a carousel export in pick order, in a DM. Bad inputs: a
shoot size out of range and someone else's persona."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bots.discord_front.outbound import StaticButtons
from core.jobresults import ShootResult, ShotResult
from core.settings import Settings
from core.shoot_buttons import sheet_buttons
from storage.db import Database
from storage.models import Job
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from storage.states import PersonaStatus
from tests import faceswap_data, standin
from tests.discord.support import ALICE, BOB, DM_ALICE, Bot, callback_of, job_of, started
from tests.fake_discord import fake_discord
from tests.shoots import carousel_in_pick_order
from tests.workers import drain


@pytest.fixture
def shoot_bot(settings: Settings, db: Database, redis: Redis, tmp_path: Path) -> Iterator[Bot]:
    """The bot, a worker's stand-in model on real faces, and Alice's analysed persona Lisa."""
    models = tmp_path / "models"
    name = standin.install(models, people=[0, 1, 2, 4, 5])
    with fake_discord() as fake, started(settings, redis, fake, models_dir=models, image_model=name) as bot:
        with db.session() as session:
            owner = user_repo.get_or_create(session, platform="discord", platform_user_id=str(ALICE))
        faceswap_data.analysed_persona(bot.settings, db, redis, owner, name="Lisa")
        yield bot


def test_shoot_sheet_picks_and_carousel_through_discord(shoot_bot: Bot, db: Database) -> None:
    bot, fake = shoot_bot, shoot_bot.fake
    asked = fake.slash(ALICE, "shoot", persona="Lisa", scene="on a rooftop at night in a black leather jacket",
                       count=4, seed=3)
    status = fake.answer_to(asked, contains="photoshoot queued")
    assert "4 shots" in status.text and not status.ephemeral
    job_id = job_of(status)
    drain(bot.settings, db, bot.studio.redis, queues=("gpu",))

    sheet = fake.wait_call("send", channel_id=DM_ALICE, contains="📸 Lisa: 4 shots", timeout=60)
    [(filename, data)] = sheet.files
    assert filename == f"shoot-{job_id}-sheet.jpg" and data[:3] == b"\xff\xd8\xff", "the sheet is one JPEG"
    labels = [label for label, _ in sheet.buttons]
    assert labels == ["☆ 1", "☆ 2", "☆ 3", "☆ 4", "⬇ Picks full size", "🎬 Animate picks", "📦 Carousel"]
    shown = fake.message(sheet)
    sheet_id = int(shown["id"])
    fake.wait_for(lambda: bot.pending() == 0, what="the sheet acknowledged")

    def sheet_labels() -> list[str]:
        return [b["label"] for row in fake.messages[(DM_ALICE, sheet_id)]["components"] for b in row["components"]]

    # Someone else's press is refused to them alone, and the sheet stays as it was.
    before = len(fake.calls)
    fake.press(BOB, shown, dict(sheet.buttons)["☆ 1"])
    refusal = fake.wait_call("callback", after=before)
    assert refusal.ephemeral and "not yours" in refusal.text
    assert sheet_labels()[:4] == ["☆ 1", "☆ 2", "☆ 3", "☆ 4"]

    # Alice picks 2 then 1: the sheet's own buttons show the picks, and she is told the carousel order.
    for number, order in ((2, "#2."), (1, "#2, #1.")):
        pressed = fake.press(ALICE, fake.messages[(DM_ALICE, sheet_id)], dict(sheet.buttons)[f"☆ {number}"])
        update = callback_of(fake, pressed)
        assert update.callback_type == 7, "the press redraws the sheet it was made on"
        told = fake.wait_call("followup", contains=f"carousel order: {order}")
        assert told.ephemeral and str(pressed["token"]) in told.path
    assert sheet_labels()[:6] == ["★ 1", "★ 2", "☆ 3", "☆ 4", "🔁 More like #2", "🔁 More like #1"]
    assert sheet_labels()[-1] == "📦 Carousel"

    # The carousel: which platform (the shoot named none), then the export job on the CPU worker.
    before = len(fake.calls)
    fake.press(ALICE, fake.messages[(DM_ALICE, sheet_id)], dict(sheet.buttons)["📦 Carousel"])
    picker = fake.wait_call("callback", after=before, contains="A carousel for which platform?")
    carousel = fake.press(ALICE, fake.message(picker), dict(picker.buttons)["Instagram"])
    queued = fake.answer_to(carousel, contains="Instagram carousel of 2 picks in this order: #2 #1")
    assert not queued.ephemeral
    drain(bot.settings, db, bot.studio.redis, queues=("cpu",))
    delivered = fake.wait_call("send", channel_id=DM_ALICE, contains="Instagram carousel:", timeout=60)
    carousel_in_pick_order(db, bot.studio.blobs, job_id, [2, 1])
    assert "://" in delivered.text and delivered.embeds_suppressed, "a private link, never unfurled"


def test_bad_shoots_are_refused_in_discord(bot: Bot, db: Database) -> None:
    fake = bot.fake
    with db.session() as session:
        alice = user_repo.get_or_create(session, platform="discord", platform_user_id=str(ALICE))
        persona_repo.create(session, owner_id=alice.id, name="Lisa").status = PersonaStatus.READY.value
    too_many = fake.answer_to(fake.slash(ALICE, "shoot", persona="Lisa", scene="at the beach", count=20))
    assert too_many.ephemeral and "4 to 12 photos, not 20" in too_many.text
    theirs = fake.answer_to(fake.slash(BOB, "shoot", persona="Lisa", scene="at the beach", count=4))
    assert theirs.ephemeral and "You have no persona called Lisa" in theirs.text
    with db.session() as session:
        assert session.query(Job).filter(Job.kind == "shoot").count() == 0


def test_a_full_sheet_with_every_shot_picked_keeps_its_actions_on_discord() -> None:
    # 12 toggles, a "more like" per pick and 3 actions were 27 buttons: Discord draws 20, so Carousel went first.
    result = ShootResult(message="", shots=[ShotResult(number=n, asset_id=f"{n:016x}", shot="closeup", label=f"{n}")
                                            for n in range(1, 13)], picks=list(range(12, 0, -1)))

    async def drawn() -> list[str]:  # a discord.py view is made inside the event loop
        return [str(getattr(item, "label", "")) for item in StaticButtons(sheet_buttons("0" * 16, result)).children]

    labels = asyncio.run(drawn())
    assert labels[:12] == [f"★ {n}" for n in range(1, 13)], "every shot can still be dropped from the picks"
    assert labels[12:-3] == [f"🔁 More like #{n}" for n in (12, 11, 10, 9, 8)], "the first picks, as room allows"
    assert labels[-3:] == ["⬇ Picks full size", "🎬 Animate picks", "📦 Carousel"]
