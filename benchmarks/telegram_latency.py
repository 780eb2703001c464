"""Telegram front-end latency: from an update handed out by getUpdates to the bot's first answer in that chat.

Runs the real python-telegram-bot Application against the loopback fake Bot API (tests/fake_telegram.py),
with a real Redis and a SQLite database in a temporary directory. Each round, N users send a command at the
same moment; we report the median and 95th percentile of (sendMessage received − update handed out).

    STUDIO_TEST_REDIS_DB=14 .venv/bin/python benchmarks/telegram_latency.py --users 50 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bots.telegram_bot import TelegramFrontend
from core.app import Studio
from core.settings import Settings
from tests import services
from tests.fake_telegram import TOKEN, FakeTelegram, fake_telegram, running


def _round(fake: FakeTelegram, users: range, command: str) -> list[float]:
    """Latencies (s) of one burst: every user in ``users`` sends ``command`` at once."""
    before = len(fake.calls)
    sent = {uid: fake.text(uid, command) for uid in users}
    answers: dict[int, float] = {}

    def all_answered() -> bool:
        for call in fake.calls[before:]:
            if call.method == "sendMessage" and call.chat_id in sent and call.chat_id not in answers:
                answers[call.chat_id] = call.at
        return len(answers) == len(sent)

    fake.wait_for(all_answered, timeout=60, what="every user answered")
    return [answers[uid] - fake.handed_out[update_id] for uid, update_id in sent.items()]


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis_url = services.redis_url(Path(tmp))
        redis = Redis.from_url(redis_url)
        redis.flushdb()
        with fake_telegram() as fake:
            settings = Settings(environment="test", data_dir=Path(tmp) / "data", redis_url=redis_url,
                                telegram_token=TOKEN, telegram_base_url=fake.base_url,
                                telegram_base_file_url=fake.base_file_url, max_queued_jobs=100,
                                _env_file=None)  # type: ignore[call-arg]
            studio = Studio.build(settings, redis=redis)
            frontend = TelegramFrontend(studio)
            print(f"{args.users} users at once, {args.rounds} rounds, {os.cpu_count()} CPUs; "
                  "latency = update handed out by getUpdates → first sendMessage to that chat")
            with running(frontend, fake):
                for command, label in (("/start", "/start (no job)"), ("/echo hi", "/echo (job queued + status)")):
                    samples: list[float] = []
                    for index in range(args.rounds):
                        first = 10_000 + index * args.users
                        samples += _round(fake, range(first, first + args.users), command)
                    ms = [s * 1000 for s in samples]
                    print(f"{label:32s} n={len(ms):4d}  median {statistics.median(ms):7.1f} ms  "
                          f"p95 {_p95(ms):7.1f} ms  max {max(ms):7.1f} ms")
            frontend.close()
            studio.close()
        redis.flushdb()
        redis.close()


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"total {time.monotonic() - started:.1f} s")
