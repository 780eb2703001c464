"""The real Telegram front end against the loopback fake Bot API, on the fault tests' Redis."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis

from bots.telegram_bot import TelegramFrontend
from core.app import Studio
from core.settings import Settings
from tests.fake_telegram import TOKEN, FakeTelegram, running

ALICE, BOB = 1001, 1002


def telegram_settings(settings: Settings, fake: FakeTelegram) -> Settings:
    return settings.model_copy(update={"telegram_token": TOKEN, "telegram_base_url": fake.base_url,
                                       "telegram_base_file_url": fake.base_file_url})


@contextmanager
def telegram_bot(settings: Settings, fake: FakeTelegram, redis: Redis) -> Iterator[TelegramFrontend]:
    """A running ``TelegramFrontend`` (long polling, delivery lanes, redelivery sweeps) until the block ends."""
    studio = Studio.build(telegram_settings(settings, fake), redis=redis)
    frontend = TelegramFrontend(studio, album_quiet_s=0.2)
    try:
        with running(frontend, fake):
            yield frontend
    finally:
        frontend.close()
        studio.db.dispose()


def results(fake: FakeTelegram, chat_id: int, prefix: str = "echo: ") -> Counter[str]:
    """Echo results Telegram accepted in ``chat_id``, by text: a count above one is a duplicate."""
    return Counter(call.text for call in fake.calls_to("sendMessage", chat_id=chat_id)
                   if call.status == 200 and call.text.startswith(prefix))


def queued_job(fake: FakeTelegram, chat_id: int, *, after: int) -> str:
    """The id of the job whose "queued" status message the bot sent to ``chat_id`` after call ``after``."""
    call = fake.wait_call("sendMessage", chat_id=chat_id, contains="queued", after=after)
    for button_label, data in call.buttons:
        if button_label == "Cancel" and data.startswith("cancel:"):
            return data.split(":", 1)[1]
    raise AssertionError(f"no job id in {call.text!r}")
