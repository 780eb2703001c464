"""Discord front-end latency: from a gateway event sent to the bot to the bot's first answer to it.

Runs the real discord.py client against the loopback fake Discord (tests/fake_discord.py), with a real Redis and
a SQLite database in a temporary directory. Each round, N users act at the same moment: a DM message, or a slash
command; we report the median and 95th percentile of (first answer received − event dispatched), where the
answer is the message posted into that DM, or the interaction's callback.

    STUDIO_TEST_REDIS_DB=14 .venv/bin/python benchmarks/discord_latency.py --users 50 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bots.discord_bot import DiscordFrontend
from core.app import Studio
from core.settings import Settings
from tests import services
from tests.fake_discord import TOKEN, FakeDiscord, dm_channel, fake_discord, running

Act = Callable[[FakeDiscord, int], dict[str, Any]]
ACTIONS: tuple[tuple[str, Act], ...] = (
    ("DM /start (no job)", lambda fake, uid: fake.send(uid, "/start")),
    ("DM /echo (job queued + status)", lambda fake, uid: fake.send(uid, "/echo hi")),
    ("slash /help (interaction)", lambda fake, uid: fake.slash(uid, "help")),
    ("slash /echo (job queued + status)", lambda fake, uid: fake.slash(uid, "echo", text="hi")),
)


def _answer_at(fake: FakeDiscord, event: dict[str, Any], uid: int, after: int) -> float | None:
    """When the first answer to ``event`` arrived, or None yet."""
    for call in fake.calls[after:]:
        if not call.ok:
            continue
        if "token" in event and call.route == "callback" and event["token"] in call.path:
            return call.at
        if "token" not in event and call.route == "send" and call.channel_id == dm_channel(uid):
            return call.at
    return None


def _round(fake: FakeDiscord, users: range, act: Act) -> list[float]:
    """Latencies (s) of one burst: every user in ``users`` acts at once."""
    before = len(fake.calls)
    sent = {uid: act(fake, uid) for uid in users}
    answers: dict[int, float] = {}

    def all_answered() -> bool:
        for uid, event in sent.items():
            if uid not in answers and (at := _answer_at(fake, event, uid, before)) is not None:
                answers[uid] = at
        return len(answers) == len(sent)

    fake.wait_for(all_answered, timeout=60, what="every user answered")
    return [answers[uid] - fake.dispatched[event["id"]] for uid, event in sent.items()]


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
        with fake_discord() as fake:
            settings = Settings(environment="test", data_dir=Path(tmp) / "data", redis_url=redis_url,
                                discord_token=TOKEN, discord_base_url=fake.base_url,
                                discord_gateway_url=fake.gateway_url, max_queued_jobs=100,
                                _env_file=None)  # type: ignore[call-arg]
            studio = Studio.build(settings, redis=redis)
            frontend = DiscordFrontend(studio, guild_ready_timeout_s=0.1)
            print(f"{args.users} users at once, {args.rounds} rounds, {os.cpu_count()} CPUs; "
                  "latency = gateway event dispatched → first answer (DM message or interaction callback)")
            with running(frontend, fake):
                for index, (label, act) in enumerate(ACTIONS):
                    samples: list[float] = []
                    for round_no in range(args.rounds):
                        first = 10_000 + (index * args.rounds + round_no) * args.users
                        samples += _round(fake, range(first, first + args.users), act)
                    ms = [s * 1000 for s in samples]
                    print(f"{label:36s} n={len(ms):4d}  median {statistics.median(ms):7.1f} ms  "
                          f"p95 {_p95(ms):7.1f} ms  max {max(ms):7.1f} ms")
                late = sum(1 for i in fake.interactions.values() if i.late)
                print(f"interactions answered after Discord's 3 s deadline: {late}")
            frontend.close()
            studio.close()
        redis.flushdb()
        redis.close()


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"total {time.monotonic() - started:.1f} s")
