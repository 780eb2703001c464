"""What the Telegram tests share: the running bot, its users, and a job finished as a worker would finish it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image

from bots.telegram_bot import TelegramFrontend
from core.app import Studio
from core.jobs import JobService
from core.jobspecs import ImageSpec
from core.settings import Settings
from storage.db import Database
from storage.repositories import assets as asset_repo
from storage.repositories import users as user_repo
from storage.states import JobStatus
from tests.fake_telegram import TOKEN, FakeTelegram

ALICE, BOB = 1001, 1002


@dataclass
class Bot:
    fake: FakeTelegram
    frontend: TelegramFrontend
    studio: Studio
    settings: Settings

    def pending(self) -> int:
        assert self.frontend.delivery is not None
        return self.frontend.delivery.consumer.pending_count()


def telegram_settings(settings: Settings, fake: FakeTelegram, **extra: object) -> Settings:
    return settings.model_copy(update={"telegram_token": TOKEN, "telegram_base_url": fake.base_url,
                                       "telegram_base_file_url": fake.base_file_url, **extra})


def png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 96), (shade, 80, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def finish_image_job(tg: Bot, db: Database, uid: int, items: list[tuple[str, bytes, int]]) -> str:
    """Submit an image job for ``uid`` and complete it as a worker would: assets, blobs, then ``done``.

    The image engine is not needed to check what the chat shows; the job row, the delivery event and the
    presenter are the real ones. ``items`` are (kind, bytes, claimed size or 0).
    """
    jobs: JobService = tg.studio.jobs
    with db.session() as session:
        user = user_repo.get_or_create(session, platform="telegram", platform_user_id=str(uid))
    chat = {"platform": "telegram", "chat_id": str(uid), "user_id": str(uid)}
    job_id = jobs.submit(user=user, spec=ImageSpec(prompt="test"), chat=chat).job_id
    assert jobs.transition(job_id, JobStatus.RUNNING, expect=[JobStatus.QUEUED])
    media: list[dict[str, Any]] = []
    with db.session() as session:
        for index, (kind, data, claimed) in enumerate(items):
            digest = tg.studio.blobs.put_bytes(data)
            asset = asset_repo.create(session, owner_id=user.id, kind=kind, blob=digest,
                                      mime="video/mp4" if kind == "video" else "image/png", job_id=job_id,
                                      meta={"prompt": "test"}, origin="generated")
            media.append({"blob": digest, "kind": kind, "filename": f"{asset.id}.{'mp4' if kind == 'video' else 'png'}",
                          "caption": f"#{asset.id}", "asset_id": asset.id, "size_bytes": claimed or len(data),
                          "index": index})
    assert jobs.transition(job_id, JobStatus.DONE, expect=[JobStatus.RUNNING],
                           result={"media": media, "message": "Here you go."})
    return job_id
