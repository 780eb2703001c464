"""The running Telegram bot against the fake Bot API, for every test in this folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from bots.telegram_bot import TelegramFrontend
from core.app import Studio
from core.settings import Settings
from storage.db import Database
from tests.fake_telegram import fake_telegram, running
from tests.telegram.support import Bot, telegram_settings


@pytest.fixture
def bot(settings: Settings, db: Database, redis: Redis) -> Iterator[Bot]:
    with fake_telegram() as fake:
        tg_settings = telegram_settings(settings, fake)
        studio = Studio.build(tg_settings, redis=redis)
        frontend = TelegramFrontend(studio, album_quiet_s=0.5)
        with running(frontend, fake):
            yield Bot(fake, frontend, studio, tg_settings)
        frontend.close()
        studio.close()
