"""The wardrobe through the console with a real worker and the tiny models: an outfit saved, listed, worn by name
in a picture with the persona's style notes, repeated by Variations, and named by /info."""

from __future__ import annotations

import io

from redis import Redis
from rich.console import Console

from bots.console import ConsoleFrontend
from core.app import Studio
from core.settings import Settings
from storage.db import Database
from storage.repositories import assets as asset_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from storage.states import PersonaStatus
from tests.workers import drain


def _pump(console: ConsoleFrontend) -> None:
    while console.pump(block_ms=100):
        pass


def test_an_outfit_worn_by_name_in_a_picture(settings: Settings, db: Database, redis: Redis) -> None:
    out = io.StringIO()
    studio = Studio.build(settings, redis=redis)
    console = ConsoleFrontend(studio, user_id="creator", console=Console(file=out, width=160))
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="creator")
        # Analysed photos are what makes a persona ready (tests/test_persona_conversation.py makes one that way).
        persona_repo.create(session, owner_id=user.id, name="Ava").status = PersonaStatus.READY.value
        owner_id = user.id
    console.feed("/wardrobe save red-dress a red satin slip dress")
    console.feed("/persona set Ava style soft film grain")
    console.feed("/wardrobe list")
    console.feed("Ava in her red-dress at a café")
    drain(settings, db, redis)
    _pump(console)
    text = out.getvalue()
    assert "Saved Ava's red-dress: a red satin slip dress." in text
    assert "• red-dress — a red satin slip dress" in text
    assert "Wearing red-dress from the wardrobe." in text and "image done" in text and "Outfit: red-dress" in text

    console.feed("!1")  # Variations: the same request, outfit included
    drain(settings, db, redis)
    _pump(console)
    with db.session() as session:
        made = asset_repo.recent(session, owner_id=owner_id, kind="image")
        assert len(made) == 3
        for asset in made:
            assert asset.meta["outfits"] == ["red-dress"], asset.meta
            assert asset.meta["prompt"] == "in a red satin slip dress at a café, soft film grain"
        newest = made[0].id
    info = console.feed(f"/info {newest}")[0].text
    assert "Outfit: red-dress" in info and "Prompt: in a red satin slip dress at a café" in info
    studio.close()
