"""The Telegram bot process killed (SIGKILL) while its results wait out flood control: the next process shows
each of them once."""

from __future__ import annotations

from collections import Counter

from redis import Redis

from core.delivery import GROUP, stream_key
from core.settings import Settings
from storage.db import Database
from tests.fake_telegram import fake_telegram
from tests.faults.bot import ALICE, BOB, queued_job, results, telegram_settings
from tests.faults.ledger import Ledger
from tests.faults.processes import fork_telegram, kill, stop
from tests.workers import drain


def _pending(redis: Redis) -> int:
    info = redis.xpending(stream_key("telegram"), GROUP)
    return int(info["pending"])


def test_a_bot_killed_with_results_pending_shows_each_once_after_it_restarts(
        settings: Settings, db: Database, redis: Redis) -> None:
    with fake_telegram() as fake:
        tg = telegram_settings(settings, fake)
        bot = fork_telegram(tg)
        try:
            submitted: dict[str, tuple[int, str]] = {}
            for chat_id, text in ((ALICE, "one"), (ALICE, "two"), (BOB, "three")):
                before = len(fake.calls)
                fake.text(chat_id, f"/echo {text}")
                submitted[queued_job(fake, chat_id, after=before)] = (chat_id, text)
            fake.fail_next("editMessageText", retry_after=30, times=2)  # both chats wait half a minute
            drain(tg, db, redis)
            fake.wait_for(lambda: len([c for c in fake.calls_to("editMessageText") if c.status == 429]) == 2,
                          what="both chats under flood control")
            assert _pending(redis) > 0
            kill(bot)  # with every result still pending
            fake.clear_failures()
            bot = fork_telegram(tg)
            for chat_id, text in submitted.values():
                fake.wait_call("sendMessage", chat_id=chat_id, contains=f"echo: {text}", timeout=30)
            fake.wait_for(lambda: _pending(redis) == 0, what="every event acknowledged")
        finally:
            stop([bot])
            # Wake the fake's long polls still open (the killed bot's among them): they would hold its shutdown
            # for the rest of their 10 s.
            fake.text(1, "/start")
        shown = Counter({job_id: results(fake, chat_id)[f"echo: {text}"]
                         for job_id, (chat_id, text) in submitted.items()})
        edits = {job_id: [c for c in fake.calls_to("editMessageText", chat_id=chat_id)
                          if c.status == 200 and "echo done" in c.text and job_id[:8] in c.text]
                 for job_id, (chat_id, _text) in submitted.items()}
    ledger = Ledger.count(db, list(submitted), shown)
    assert ledger.balanced(), ledger
    assert all(len(done) == 1 for done in edits.values()), edits
