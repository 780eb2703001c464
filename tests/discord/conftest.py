"""The running Discord bot against the fake Discord, for every test in this folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from core.settings import Settings
from storage.db import Database
from tests.discord.support import Bot, started
from tests.fake_discord import fake_discord


@pytest.fixture
def bot(settings: Settings, db: Database, redis: Redis) -> Iterator[Bot]:
    with fake_discord() as fake, started(settings, redis, fake) as running_bot:
        yield running_bot
