"""/imagine jobs end to end through a real worker on the tiny model: assets, blobs, variations, bad input."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from redis import Redis

from core.delivery import DeliveryConsumer
from core.errors import UsageError
from core.jobs import JobService
from core.settings import Settings
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import User
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from tests.workers import drain

CHAT = {"platform": "console", "chat_id": "1"}


def _user(db: Database) -> User:
    with db.session() as session:
        return user_repo.get_or_create(session, platform="console", platform_user_id="alice")


def _persona(db: Database, user: User, name: str = "Ava") -> int:
    with db.session() as session:
        persona = persona_repo.create(session, owner_id=user.id, name=name, trigger_token="zkvtr")
        persona.description = "woman with red hair"
        return persona.id


def _run(settings: Settings, db: Database, redis: Redis, user: User, spec: dict[str, Any]) -> Any:
    jobs = JobService(db=db, redis=redis, settings=settings)
    submitted = jobs.submit(user=user, spec=JobService.validate("image", spec), chat=CHAT)
    drain(settings, db, redis)
    with db.session() as session:
        job = job_repo.get(session, job_id=submitted.job_id)
        assert job is not None
        return job


def spec(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"persona_id": None, "prompt": "drinking coffee in a cafe", "aspect_ratio": None,
                            "n": 1, "seed": None, "steps": None, "template": None, "platform": None,
                            "negative": None, "variation_of": None, "variation": None}
    base.update(changes)
    return base


def test_image_job_stores_assets_and_png_blobs(tiny_settings: Settings, db: Database, redis: Redis) -> None:
    user = _user(db)
    persona_id = _persona(db, user)
    consumer = DeliveryConsumer(redis, platform="console", consumer="test")

    job = _run(tiny_settings, db, redis, user, spec(persona_id=persona_id, n=2, seed=7,
                                                    template="instagram-lifestyle", negative="hats"))

    assert job.status == "done", job.error
    media = job.result["media"]
    assert [m["kind"] for m in media] == ["image", "image"]
    assert job.result["asset_ids"] == [m["asset_id"] for m in media]
    blobs = LocalBlobStore(tiny_settings.blobs_dir)
    with db.session() as session:
        assets = asset_repo.for_job(session, job_id=job.id)
        assert {a.id for a in assets} == set(job.result["asset_ids"])
        for asset in assets:
            assert (asset.kind, asset.mime, asset.persona_id, asset.owner_id) == ("image", "image/png",
                                                                                 persona_id, user.id)
            assert (asset.width, asset.height) == (58, 72)  # 4:5 from the template at the tiny size
            assert asset.identity_score is None  # the persona has no analysed photos: no gate
            assert asset.meta["model"] == "sd3-tiny@tiny-v1" and asset.meta["steps"] == 4
            assert asset.meta["prompt"].startswith("woman with red hair, drinking coffee in a cafe, candid")
            assert "zkvtr" not in asset.meta["prompt"]  # no LoRA yet: the trigger token would mean nothing
            assert asset.meta["negative"].endswith("hats")
            image = Image.open(io.BytesIO(blobs.read_bytes(asset.blob)))
            assert image.format == "PNG" and image.size == (58, 72)
        assert sorted(a.meta["seed"] for a in assets) == [7, 8]
    events = consumer.read(block_ms=100)
    assert any(0 < e.progress < 1 and "denoising" in e.stage for e in events)


def test_platform_and_explicit_aspect_ratio(tiny_settings: Settings, db: Database, redis: Redis) -> None:
    user = _user(db)
    tiktok = _run(tiny_settings, db, redis, user, spec(platform="tiktok", seed=1))
    square = _run(tiny_settings, db, redis, user, spec(platform="tiktok", aspect_ratio="1:1", seed=1))
    with db.session() as session:
        tall = asset_repo.get_owned(session, asset_id=tiktok.result["asset_ids"][0], owner_id=user.id)
        sq = asset_repo.get_owned(session, asset_id=square.result["asset_ids"][0], owner_id=user.id)
        assert tall is not None and sq is not None
        assert (tall.width, tall.height) == (48, 86) and (sq.width, sq.height) == (64, 64)


def test_bad_parameters_fail_the_job_naming_the_argument(tiny_settings: Settings, db: Database,
                                                         redis: Redis) -> None:
    user = _user(db)
    cases: list[tuple[dict[str, Any], str]] = [
                              ({"aspect_ratio": "0:1"}, "--ar"),
                              ({"template": "nope"}, "--template: unknown template 'nope'"),
                              ({"steps": 500}, "--steps must be between 1 and 50"),
                              ({"persona_id": 999}, "No such persona")]
    for changes, expected in cases:
        job = _run(tiny_settings, db, redis, user, spec(**changes))
        assert job.status == "failed"
        assert expected in (job.error or ""), (changes, job.error)
    # What the spec itself rules out never reaches a worker: the submission is refused, naming the field.
    for changes, field in (({"n": 9}, "n"), ({"seed": -1}, "seed"), ({"variation": "prompt"}, "variation")):
        with pytest.raises(UsageError, match=field):
            _run(tiny_settings, db, redis, user, spec(**changes))


def test_variations_by_seed_and_by_prompt(tiny_settings: Settings, db: Database, redis: Redis) -> None:
    user = _user(db)
    original = _run(tiny_settings, db, redis, user, spec(prompt="a red bicycle", seed=42, template="x-post"))
    source_id = original.result["asset_ids"][0]

    seeds = _run(tiny_settings, db, redis, user, spec(prompt="", variation_of=source_id, variation="seeds", n=2))
    prompt = _run(tiny_settings, db, redis, user, spec(prompt="", variation_of=source_id, variation="prompt"))

    assert seeds.status == "done" and prompt.status == "done", (seeds.error, prompt.error)
    with db.session() as session:
        source = asset_repo.get_owned(session, asset_id=source_id, owner_id=user.id)
        by_seed = asset_repo.for_job(session, job_id=seeds.id)
        (by_prompt,) = asset_repo.for_job(session, job_id=prompt.id)
        assert source is not None and len(by_seed) == 2
        for asset in by_seed:
            assert asset.meta["prompt"] == source.meta["prompt"] and asset.meta["seed"] != 42
            assert (asset.width, asset.height) == (source.width, source.height)  # the template's 16:9
            assert asset.meta["variation_of"] == source_id
        assert by_prompt.meta["seed"] == 42
        assert by_prompt.meta["prompt"] != source.meta["prompt"]
        assert by_prompt.meta["prompt"].startswith("a red bicycle")


def test_variation_of_someone_elses_image_is_refused(tiny_settings: Settings, db: Database,
                                                     redis: Redis) -> None:
    alice = _user(db)
    with db.session() as session:
        bob = user_repo.get_or_create(session, platform="console", platform_user_id="bob")
    original = _run(tiny_settings, db, redis, alice, spec(seed=1))
    stolen = _run(tiny_settings, db, redis, bob, spec(variation_of=original.result["asset_ids"][0]))
    assert stolen.status == "failed" and "No image" in (stolen.error or "")
