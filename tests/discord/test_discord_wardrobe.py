"""The wardrobe on Discord: typed options (name, description, persona, a photo attachment), the list, an outfit
worn by name in /imagine (real worker, tiny models), and bad values refused in the words typed text gets."""

from __future__ import annotations

import io

from PIL import Image

from core import grammar
from storage.db import Database
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from storage.states import PersonaStatus
from tests.discord.support import ALICE, Bot, job_of
from tests.workers import drain


def _outfit_photo() -> bytes:
    image = Image.new("RGB", (320, 480), (20, 30, 90))  # a navy suit, filling the frame
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_wardrobe_through_typed_options(bot: Bot, db: Database) -> None:
    fake = bot.fake
    with db.session() as session:
        alice = user_repo.get_or_create(session, platform="discord", platform_user_id=str(ALICE))
        for name in ("Ava", "Mia"):
            persona_repo.create(session, owner_id=alice.id, name=name).status = PersonaStatus.READY.value
    options = {o["name"]: o for o in fake.command("wardrobe")["options"]}
    assert set(options) == {"save", "list", "delete"}
    assert {o["name"] for o in options["save"]["options"]} == {"name", "description", "persona", "photo"}

    too_long = fake.answer_to(fake.slash(ALICE, "wardrobe save", name="x" * 40, description="a dress"),
                              contains="outfit name")
    assert too_long.text == "That outfit name is 40 characters; keep it to 32, e.g. red-dress."

    suit = fake.add_file(_outfit_photo(), filename="suit.png", content_type="image/png")
    saved = fake.answer_to(fake.slash(ALICE, "wardrobe save", name="blue-suit", persona="Mia", photo=suit,
                                      description="a navy three-piece suit"), contains="Saved")
    assert "Saved Mia's blue-suit: a navy three-piece suit." in saved.text and "reference" in saved.text

    asked = fake.answer_to(fake.slash(ALICE, "wardrobe save", name="red-dress", description="a red slip dress"),
                           contains="Whose outfit")
    assert [label for label, _ in asked.buttons] == ["Ava", "Mia"]

    listed = fake.answer_to(fake.slash(ALICE, "wardrobe list", persona="Mia"), contains="wardrobe")
    assert "• blue-suit — a navy three-piece suit (photo)" in listed.text

    shown = fake.answer_to(fake.slash(ALICE, "persona set", name="Mia", setting="shoot-size", value="10"),
                           contains="Saved")
    assert "A shoot of Mia makes 10 photos unless told." in shown.text
    card = fake.answer_to(fake.slash(ALICE, "persona show", name="Mia"), contains="Wardrobe")
    assert "Shoot size: 10 photos" in card.text and "• blue-suit — a navy three-piece suit" in card.text

    before = len(fake.calls)
    status = fake.answer_to(fake.slash(ALICE, "imagine", prompt="in her blue-suit at the office", persona="Mia"),
                            contains="Wearing blue-suit", after=before)
    job_id = job_of(status)
    drain(bot.settings, db, bot.studio.redis)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "done", job.error if job else None
        made = asset_repo.for_job(session, job_id=job_id)
        assert made[0].meta["prompt"] == "in a navy three-piece suit at the office"
    unknown = fake.answer_to(fake.slash(ALICE, "imagine", prompt="in her gold-gown", persona="Mia"),
                             contains="gold-gown")
    assert "Mia has no outfit called gold-gown; the wardrobe has blue-suit" in unknown.text
    assert grammar.OUTFIT_HINT in fake.answer_to(fake.slash(ALICE, "wardrobe delete", name="blue/suit"),
                                                 contains="Outfit names").text
