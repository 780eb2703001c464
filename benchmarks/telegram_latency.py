"""Telegram front-end latency: from an update handed out by getUpdates to the bot's first answer in that chat.

Two modes, both against the loopback fake Bot API (tests/fake_telegram.py) with a real Redis and a SQLite
database in a temporary directory:

- bursts (default): the real python-telegram-bot Application in this process; each round, N users send a
  command at the same moment; median and 95th percentile of (sendMessage received − update handed out).
- sustained (``--minutes``): `studio telegram` and `studio worker` as processes of their own, as deployed; N
  users each send a command, wait for the answer (and, for a job, its result), think for a moment and send
  the next, for that many minutes. Prints the answer latency, the result latency of jobs, whether every job
  submitted ended and was delivered exactly once, and the memory (RSS) of the bot and the worker at the start
  and the end.

    STUDIO_TEST_REDIS_DB=14 .venv/bin/python benchmarks/telegram_latency.py --users 50 --rounds 5
    STUDIO_TEST_REDIS_DB=14 .venv/bin/python benchmarks/telegram_latency.py --users 50 --minutes 2
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bots.telegram_bot import TelegramFrontend
from core.app import Studio
from core.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Job
from tests import services
from tests.fake_telegram import TOKEN, FakeTelegram, fake_telegram, running

ROOT = Path(__file__).resolve().parent.parent
# What a user types in the sustained mode: mostly quick answers, a job now and then.
COMMANDS = ("/start", "/help imagine", "/jobs", "/gallery", "/echo {tag}")
THINK_S = (1.0, 3.0)


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


def _line(label: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds] or [0.0]
    return (f"{label:34s} n={len(seconds):5d}  median {statistics.median(ms):7.1f} ms  p95 {_p95(ms):7.1f} ms  "
            f"max {max(ms):7.1f} ms")


def bursts(args: argparse.Namespace, settings: Settings, redis: Redis, fake: FakeTelegram) -> None:
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
            print(_line(label, samples))
    frontend.close()
    studio.close()


@dataclass
class _User:
    uid: int
    next_at: float
    update_id: int | None = None
    sent_at_call: int = 0
    echo: str | None = None
    count: int = 0
    answers: list[float] = field(default_factory=list)


def _spawn(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env.update(STUDIO_ENVIRONMENT="test", STUDIO_DATA_DIR=str(settings.data_dir),
               STUDIO_REDIS_URL=settings.redis_url or "", STUDIO_MODEL_PROFILE="tiny",
               STUDIO_TELEGRAM_TOKEN=TOKEN, STUDIO_TELEGRAM_BASE_URL=settings.telegram_base_url or "",
               STUDIO_TELEGRAM_BASE_FILE_URL=settings.telegram_base_file_url or "",
               STUDIO_MAX_QUEUED_JOBS="100", STUDIO_PROGRESS_INTERVAL_S="2")
    return subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _rss_mb(proc: subprocess.Popen[bytes]) -> float:
    return psutil.Process(proc.pid).memory_info().rss / 2**20


def sustained(args: argparse.Namespace, settings: Settings, fake: FakeTelegram) -> None:
    database = Database(settings.resolved_database_url)
    upgrade(database.engine)
    bot = _spawn(settings, "telegram")
    worker = _spawn(settings, "worker", "--queues", "gpu,cpu")
    rng = random.Random(7)
    try:
        # Warm-up: every user says hello once, so both processes have loaded what they use before measuring.
        _round(fake, range(1, args.users + 1), "/start")
        warm = fake.calls_to("sendMessage")
        assert warm
        time.sleep(2)
        rss_start = (_rss_mb(bot), _rss_mb(worker))
        print(f"{args.users} users for {args.minutes:g} min, think time {THINK_S[0]:g}-{THINK_S[1]:g} s, "
              f"{os.cpu_count()} CPUs; bot and worker are processes of their own")
        now = time.monotonic()
        users = [_User(uid=1000 + index, next_at=now + rng.uniform(0, THINK_S[1])) for index in range(args.users)]
        answers: list[float] = []
        results: list[float] = []
        peaks = list(rss_start)
        seen = len(fake.calls)
        echoes: dict[str, float] = {}
        shown: Counter[str] = Counter()
        end = now + args.minutes * 60
        next_sample = now + 5
        while time.monotonic() < end or any(u.update_id is not None or u.echo for u in users):
            now = time.monotonic()
            calls = fake.calls[seen:]
            seen += len(calls)
            by_chat = {u.uid: u for u in users}
            for call in calls:
                if call.method != "sendMessage" or call.status != 200:
                    continue
                user = by_chat.get(call.chat_id or 0)
                if user is None:
                    continue
                if user.update_id is not None:
                    answers.append(call.at - fake.handed_out[user.update_id])
                    user.update_id = None
                    if user.echo is None:
                        user.next_at = call.at + rng.uniform(*THINK_S)
                if call.text.startswith("echo: "):
                    tag = call.text.removeprefix("echo: ")
                    shown[tag] += 1
                    if tag in echoes and shown[tag] == 1:
                        results.append(call.at - echoes[tag])
                    if user.echo == tag:
                        user.echo = None
                        user.next_at = call.at + rng.uniform(*THINK_S)
            if now < end:
                for user in users:
                    if user.update_id is None and user.echo is None and now >= user.next_at:
                        user.count += 1
                        command = rng.choice(COMMANDS)
                        if "{tag}" in command:
                            user.echo = f"u{user.uid}-{user.count}"
                            command = command.format(tag=user.echo)
                        user.update_id = fake.text(user.uid, command)
                        if user.echo:
                            echoes[user.echo] = time.monotonic()
            if now >= next_sample:
                next_sample = now + 5
                peaks = [max(peaks[0], _rss_mb(bot)), max(peaks[1], _rss_mb(worker))]
            if now > end + 120:
                print("gave up waiting for the last answers")
                break
            time.sleep(0.01)
        rss_end = (_rss_mb(bot), _rss_mb(worker))
        print(_line("answer (first sendMessage)", answers))
        print(_line("/echo result (update → result)", results))
        with database.session() as session:
            rows = session.query(Job.status).all()
        ended = Counter(status for (status,) in rows)
        duplicated = sum(1 for count in shown.values() if count > 1)
        print(f"jobs: submitted {len(echoes)}, rows {len(rows)}, ended {dict(ended)}, delivered "
              f"{sum(1 for tag in echoes if shown[tag])}, duplicated {duplicated}")
        print(f"RSS bot    {rss_start[0]:6.0f} → {rss_end[0]:6.0f} MB (peak {peaks[0]:.0f})")
        print(f"RSS worker {rss_start[1]:6.0f} → {rss_end[1]:6.0f} MB (peak {peaks[1]:.0f})")
    finally:
        for proc in (bot, worker):
            proc.terminate()
        for proc in (bot, worker):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=0.0, help="sustained load for this long (0: bursts)")
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
            if args.minutes:
                sustained(args, settings, fake)
            else:
                bursts(args, settings, redis, fake)
        redis.flushdb()
        redis.close()


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"total {time.monotonic() - started:.1f} s")
