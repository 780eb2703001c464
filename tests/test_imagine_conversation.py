"""/imagine of a persona through the console: real worker, tiny SD3, the real identity gate and variations."""

from __future__ import annotations

import io

from redis import Redis
from rich.console import Console

from bots.console import ConsoleFrontend
from core.app import Studio
from core.messages import Incoming, Upload
from core.settings import Settings
from storage.db import Database
from storage.repositories import assets as asset_repo
from storage.repositories import users as user_repo
from tests import faces_data
from tests.workers import drain


def _pump(console: ConsoleFrontend) -> None:
    while console.pump(block_ms=100):
        pass


def test_imagine_a_persona_then_variations(settings: Settings, db: Database, redis: Redis) -> None:
    settings.identity_gate_retries = 1
    out = io.StringIO()
    studio = Studio.build(settings, redis=redis)
    console = ConsoleFrontend(studio, user_id="creator", console=Console(file=out, width=160))
    console.feed("/persona new Tom")
    console.feed("/consent")
    photos = [faces_data.augment(faces_data.tom(), k) for k in ("flip", "crop", "brighter")]
    studio.assistant.handle(Incoming(platform="console", user_id="creator", chat_id="creator", uploads=tuple(
        Upload(faces_data.jpeg_bytes(p), f"t{i}.jpg") for i, p in enumerate(photos))))
    console.feed("/done")
    drain(settings, db, redis)
    _pump(console)

    console.feed("Tom reading in a café, 4:5, two versions")
    drain(settings, db, redis)
    _pump(console)
    text = out.getvalue()
    assert "image done" in text, text
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="console", platform_user_id="creator")
        made = asset_repo.recent(session, owner_id=user.id, kind="image")
        assert len(made) == 2
        for asset in made:
            assert asset.persona_id is not None and asset.meta["request"]["aspect_ratio"] == "4:5"
            # Random-weight images hold no face: delivered once, said to have none (no seed would add a face).
            assert asset.meta["identity_passed"] is False and asset.meta["no_face"] is True
            assert asset.meta["attempts"] == 1
            assert asset.height > asset.width
            assert studio.blobs.exists(asset.blob)
    assert "[!1] 🔁 Variations" in text

    console.feed("!1")
    drain(settings, db, redis)
    _pump(console)
    with db.session() as session:
        assert len(asset_repo.recent(session, owner_id=user.id, kind="image")) == 4

    console.feed("!2")  # Remix: same seed, a small change to the prompt: one picture
    drain(settings, db, redis)
    _pump(console)
    with db.session() as session:
        newest = asset_repo.recent(session, owner_id=user.id, kind="image", limit=6)
        assert len(newest) == 5
        remixed = [a for a in newest if a.meta["variation"] == "prompt"]
        originals = {a.meta["prompt"] for a in newest if a.meta["variation"] is None}
        assert len(remixed) == 1 and all(a.meta["prompt"] not in originals for a in remixed), \
            "a remix changes the prompt a little"
        assert remixed[0].meta["seed"] in {a.meta["seed"] for a in newest if a is not remixed[0]}, "the same seed"
        # A remix repeats the original request: the template and negatives are not applied twice.
        assert all(a.meta["request"]["prompt"].count("reading in a café") == 1 for a in newest)

    # The same creator on Telegram, linked to the console account, uses the persona; results are shared.
    code = console.feed("/link")[0].text.split("/link ")[1].split()[0]
    linked = Incoming(platform="telegram", user_id="77", chat_id="77", text=f"/link {code}")
    assert "Linked" in studio.assistant.handle(linked)[0].text
    job_id = studio.assistant.handle(Incoming(platform="telegram", user_id="77", chat_id="77",
                                              text="/imagine Tom: on a boat"))[0].job_id
    drain(settings, db, redis)
    with db.session() as session:
        from storage.repositories import jobs as job_repo

        job = job_repo.get(session, job_id=job_id or "")
        assert job is not None and job.status == "done", job.error if job else None
        made = asset_repo.for_job(session, job_id=job.id)
        assert made and all(a.owner_id == user.id for a in made), "linked accounts share one gallery"
    studio.close()
