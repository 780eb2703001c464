"""What the Discord tests share: the running bot, its users and channels, and a job finished as a worker would."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from PIL import Image
from redis import Redis

from bots.discord_bot import DiscordFrontend
from core.app import Studio
from core.jobs import JobService
from core.jobspecs import ImageSpec
from core.settings import Settings
from storage.db import Database
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import users as user_repo
from storage.states import JobStatus
from tests import faces_data
from tests.fake_discord import TOKEN, Call, FakeDiscord, dm_channel, running

ALICE, BOB = 1001, 1002
DM_ALICE, DM_BOB = dm_channel(ALICE), dm_channel(BOB)


@dataclass
class Bot:
    fake: FakeDiscord
    frontend: DiscordFrontend
    studio: Studio
    settings: Settings

    def pending(self) -> int:
        assert self.frontend.delivery is not None
        return self.frontend.delivery.consumer.pending_count()


def discord_settings(settings: Settings, fake: FakeDiscord, **extra: object) -> Settings:
    return settings.model_copy(update={"discord_token": TOKEN, "discord_base_url": fake.base_url,
                                       "discord_gateway_url": fake.gateway_url, **extra})


@contextmanager
def started(settings: Settings, redis: Redis, fake: FakeDiscord, *, ack_budget_s: float = 2.0,
            **extra: object) -> Iterator[Bot]:
    """A running front end against ``fake``; quick retries so outages are tried again within a test."""
    bot_settings = discord_settings(settings, fake, **extra)
    studio = Studio.build(bot_settings, redis=redis)
    # The fake sends its one server right after READY: no need to wait for more. Short stream reads make the
    # shutdown at the end of each test quick (it lets the read in flight finish).
    frontend = DiscordFrontend(studio, retry_backoff_s=0.2, guild_ready_timeout_s=0.1, ack_budget_s=ack_budget_s,
                               delivery_block_ms=200)
    try:
        with running(frontend, fake):
            yield Bot(fake, frontend, studio, bot_settings)
    finally:
        frontend.close()
        studio.close()


def face_photos(count: int) -> list[bytes]:
    """Distinct JPEGs of one real face (augmentations of a photo shipped with an installed package)."""
    kinds = faces_data.AUGMENTATIONS[:count]
    return [faces_data.jpeg_bytes(faces_data.augment(faces_data.tom(), kind)) for kind in kinds]


def job_of(call: Call) -> str:
    """The job id a status message's Cancel button names."""
    return dict(call.buttons)["Cancel"].removeprefix("cancel:")


def callback_of(fake: FakeDiscord, interaction: dict[str, Any]) -> Call:
    """The callback the bot made for ``interaction`` (whatever its type)."""
    return fake.wait_for(lambda: next((c for c in fake.calls_to("callback") if interaction["token"] in c.path), None),
                         what=f"the callback of interaction {interaction['id']}")


def status_message_id(db: Database, job_id: str) -> str | None:
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        return job.chat.get("status_message_id") if job is not None else None


def png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 96), (shade, 80, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def finish_image_job(bot: Bot, db: Database, uid: int, items: list[tuple[str, bytes, int]]) -> str:
    """Submit an image job for ``uid`` and complete it as a worker would: assets, blobs, then ``done``.

    The image engine is not needed to check what the channel shows; the job row, the delivery event and the
    presenter are the real ones. ``items`` are (kind, bytes, claimed size or 0).
    """
    jobs: JobService = bot.studio.jobs
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="discord", platform_user_id=str(uid))
    chat = {"platform": "discord", "chat_id": str(dm_channel(uid)), "user_id": str(uid)}
    job_id = jobs.submit(user=user, spec=ImageSpec(prompt="test"), chat=chat).job_id
    assert jobs.transition(job_id, JobStatus.RUNNING, expect=[JobStatus.QUEUED])
    media: list[dict[str, Any]] = []
    with db.session() as session:
        for index, (kind, data, claimed) in enumerate(items):
            digest = bot.studio.blobs.put_bytes(data)
            asset = asset_repo.create(session, owner_id=user.id, kind=kind, blob=digest,
                                      mime="video/mp4" if kind == "video" else "image/png", job_id=job_id,
                                      meta={"prompt": "test"}, origin="generated")
            media.append({"blob": digest, "kind": kind, "filename": f"{asset.id}.{'mp4' if kind == 'video' else 'png'}",
                          "caption": f"#{asset.id}", "asset_id": asset.id, "size_bytes": claimed or len(data),
                          "index": index})
    assert jobs.transition(job_id, JobStatus.DONE, expect=[JobStatus.RUNNING],
                           result={"media": media, "message": "Here you go."})
    return job_id
