"""The wardrobe on Telegram: a photo of an outfit sent with /wardrobe save, listed with its photo, worn by name in
/imagine (real worker, tiny models); a file that is not a photo, and someone else's persona, refused."""

from __future__ import annotations

import io

from PIL import Image

from storage.db import Database
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from storage.states import PersonaStatus
from tests.telegram.support import ALICE, BOB, Bot
from tests.workers import drain


def _outfit_photo() -> bytes:
    image = Image.new("RGB", (320, 480), (250, 250, 250))
    image.paste((190, 20, 30), (60, 40, 260, 460))  # a red dress on a white wall
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _ready_persona(db: Database, uid: int, name: str) -> None:
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="telegram", platform_user_id=str(uid))
        persona_repo.create(session, owner_id=user.id, name=name).status = PersonaStatus.READY.value


def test_an_outfit_photo_saved_listed_and_worn(bot: Bot, db: Database) -> None:
    fake = bot.fake
    _ready_persona(db, ALICE, "Ava")
    _ready_persona(db, BOB, "Zed")

    fake.document(ALICE, b"%PDF-1.7 a dress catalogue", filename="dress.pdf", mime="application/pdf",
                  caption="/wardrobe save red-dress")
    refused = fake.wait_call("sendMessage", chat_id=ALICE, contains="dress.pdf")
    assert "is not an image we recognise" in refused.text

    fake.photo(ALICE, _outfit_photo(), caption="/wardrobe save red-dress")
    saved = fake.wait_call("sendMessage", chat_id=ALICE, contains="Saved Ava's red-dress")
    # The middle of the photo is the dress; the white wall around it is background and is not named.
    assert "Saved Ava's red-dress: red outfit." in saved.text and "only its colours" in saved.text
    before = len(fake.calls)
    fake.text(ALICE, "/wardrobe save Ava: red-dress a red satin slip dress")
    assert "the photo stays" not in fake.wait_call("sendMessage", chat_id=ALICE, contains="Updated", after=before).text

    before = len(fake.calls)
    fake.text(ALICE, "/wardrobe list")
    fake.wait_for(lambda: any("Ava · red-dress" in c.text for c in fake.calls[before:]), what="the outfit's photo")
    assert any("• red-dress — a red satin slip dress (photo)" in c.text for c in fake.calls[before:])

    before = len(fake.calls)
    fake.text(ALICE, "/wardrobe save Zed: tux a black tuxedo")
    assert "You have no persona called Zed" in fake.wait_call("sendMessage", chat_id=ALICE, after=before).text

    before = len(fake.calls)
    fake.text(ALICE, "/imagine Ava: wearing her red-dress on a boat")
    status = fake.wait_call("sendMessage", chat_id=ALICE, contains="Wearing red-dress", after=before)
    job_id = dict(status.buttons)["Cancel"].removeprefix("cancel:")
    drain(bot.settings, db, bot.studio.redis)
    fake.wait_call("editMessageText", chat_id=ALICE, contains="image done", after=before)
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        assert job is not None and job.status == "done", job.error if job else None
        made = asset_repo.for_job(session, job_id=job_id)
        assert made and made[0].meta["prompt"] == "wearing a red satin slip dress on a boat"
        assert made[0].meta["outfits"] == ["red-dress"]
