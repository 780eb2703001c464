"""A persona made through the console conversation with real face photos, analysed by a real worker."""

from __future__ import annotations

import io

from redis import Redis
from rich.console import Console

from bots.console import ConsoleFrontend
from core.app import Studio
from core.messages import Incoming, Upload
from core.settings import Settings
from storage.db import Database
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from tests import faces_data
from tests.workers import drain


def test_persona_from_photos_to_card(settings: Settings, db: Database, redis: Redis) -> None:
    out = io.StringIO()
    studio = Studio.build(settings, redis=redis)
    console = ConsoleFrontend(studio, user_id="maker", console=Console(file=out, width=140))
    console.feed("/persona new Tom")
    console.feed("!1")  # the "I agree" button
    photos = [faces_data.augment(faces_data.tom(), kind) for kind in ("flip", "crop", "brighter", "rotate_left")]
    album = tuple(Upload(faces_data.jpeg_bytes(p), f"tom{i}.jpg") for i, p in enumerate(photos))
    # The coffee cup rides along in the album: it passes intake but analysis must refuse it by name.
    album += (Upload(faces_data.jpeg_bytes(faces_data.no_face()), "coffee.jpg"),)
    replies = studio.assistant.handle(Incoming(platform="console", user_id="maker", chat_id="maker", uploads=album))
    assert "5 photo(s) so far" in replies[-1].text
    console.feed("/done")

    drain(settings, db, redis)
    while console.pump(block_ms=100):
        pass

    text = out.getvalue()
    assert "persona analysis done" in text
    assert "coffee.jpg" in text, "the refused photo is named in the result"
    assert "saved image:" in text and "Tom-card.png" in text
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="maker")
        persona = persona_repo.by_name(session, owner_id=user.id, name="tom")
        assert persona is not None and persona.status == "ready"
        assert [ref.filename for ref in persona.references] == [f"tom{i}.jpg" for i in range(4)]
        assert "dlib" in persona.identity and persona.card_blob
    shown = studio.assistant.handle(Incoming(platform="console", user_id="maker", chat_id="maker",
                                             text="/persona show Tom"))
    assert "ready" in shown[0].text and shown[0].media and shown[0].media[0].kind == "image"
    studio.close()
