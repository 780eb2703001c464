"""Redis faults under the real Telegram front end and real workers (issue cases 1-4): a blip while a lane waits
out flood control, a restart that loses everything, an outage while a job runs, a command during an outage."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from redis import Redis

from core.delivery import DeliveryConsumer
from core.jobs import JobService
from core.jobspecs import EchoSpec
from core.settings import Settings
from storage.db import Database
from storage.models import Job
from storage.repositories import users as user_repo
from tests.fake_telegram import FakeTelegram, fake_telegram
from tests.faults import jobs as fj
from tests.faults.bot import ALICE, queued_job, results, telegram_bot
from tests.faults.ledger import Ledger
from tests.faults.processes import fork_worker, stop
from tests.faults.servers import FaultRedis
from tests.workers import drain


def _pending(frontend: object) -> int:
    delivery = getattr(frontend, "delivery", None)
    assert delivery is not None
    consumer: DeliveryConsumer = delivery.consumer
    return consumer.pending_count()


def test_a_redis_blip_while_a_lane_waits_out_flood_control_loses_and_holds_up_nothing(
        settings: Settings, db: Database, redis: Redis, fault_redis: FaultRedis) -> None:
    with fake_telegram() as fake, telegram_bot(settings, fake, redis) as frontend:
        submitted = []
        for text in ("first", "second", "third"):
            before = len(fake.calls)
            fake.text(ALICE, f"/echo {text}")
            submitted.append(queued_job(fake, ALICE, after=before))
        # Telegram's flood control on the chat: the lane waits 1 s before its first edit goes through ...
        fake.fail_next("editMessageText", retry_after=1)
        drain(settings, db, redis)
        fake.wait_for(lambda: any(c.status == 429 for c in fake.calls_to("editMessageText", chat_id=ALICE)),
                      what="the chat under flood control")
        # ... and Redis drops out meanwhile, so the lane's acknowledgement meets a dead connection.
        fault_redis.stop()
        time.sleep(1.5)
        fault_redis.start()
        fake.wait_for(lambda: len(results(fake, ALICE)) == 3, timeout=30, what="all three results")
        fake.wait_for(lambda: _pending(frontend) == 0, timeout=30, what="every event acknowledged")
        assert frontend.delivery is not None and not frontend.delivery._in_flight, "nothing left marked in flight"
        ledger = Ledger.count(db, submitted, _by_job(fake, dict(zip(submitted, ("first", "second", "third"),
                                                                     strict=True))))
    assert ledger.balanced(), ledger


def test_redis_restarted_empty_recreates_the_group_and_delivery_goes_on(
        settings: Settings, db: Database, redis: Redis, fault_redis: FaultRedis) -> None:
    with fake_telegram() as fake, telegram_bot(settings, fake, redis):
        before = len(fake.calls)
        fake.text(ALICE, "/echo before")
        first = queued_job(fake, ALICE, after=before)
        drain(settings, db, redis)
        fake.wait_call("sendMessage", chat_id=ALICE, contains="echo: before")

        fault_redis.restart(empty=True)  # no AOF, no snapshot: streams, groups and queues are gone
        before = len(fake.calls)
        fake.text(ALICE, "/echo after")
        second = queued_job(fake, ALICE, after=before)
        drain(settings, db, redis)
        fake.wait_call("sendMessage", chat_id=ALICE, contains="echo: after", timeout=20)
        time.sleep(0.3)
        ledger = Ledger.count(db, [first, second], _by_job(fake, {first: "before", second: "after"}))
    assert ledger.balanced(), ledger


def test_a_final_event_lost_with_the_stream_is_published_again_from_the_database(
        settings: Settings, db: Database, redis: Redis, fault_redis: FaultRedis) -> None:
    jobs = JobService(db=db, redis=redis, settings=settings)
    with db.session() as session:
        owner = user_repo.get_or_create(session, platform="telegram", platform_user_id=str(ALICE))
    job_id = jobs.submit(user=owner, spec=EchoSpec(text="lost"),
                         chat={"platform": "telegram", "chat_id": str(ALICE), "user_id": str(ALICE)}).job_id
    drain(settings, db, redis)  # done, its final event on the stream, no bot running to show it ...
    fault_redis.restart(empty=True)  # ... and the stream is gone with Redis
    with fake_telegram() as fake, telegram_bot(settings, fake, redis):
        fake.wait_call("sendMessage", chat_id=ALICE, contains="echo: lost", timeout=20)
        time.sleep(0.7)  # past the next redelivery sweep: the result must not come a second time
        ledger = Ledger.count(db, [job_id], _by_job(fake, {job_id: "lost"}))
    assert ledger.balanced(), ledger


def test_a_redis_outage_while_a_job_runs_is_waited_out_by_the_worker_and_the_chat(
        settings: Settings, db: Database, redis: Redis, fault_redis: FaultRedis) -> None:
    worker = fork_worker(settings, queues=("cpu",))
    try:
        with fake_telegram() as fake, telegram_bot(settings, fake, redis):
            before = len(fake.calls)
            fake.text(ALICE, "/echo slow --seconds 1")
            first = queued_job(fake, ALICE, after=before)
            fj.wait_until(db, [first], status={"running"}, running=True)
            fault_redis.stop()  # the job ends while Redis is away: its final event cannot be published
            time.sleep(2.5)
            fault_redis.start()
            fake.wait_call("sendMessage", chat_id=ALICE, contains="echo: slow", timeout=30)
            assert worker.is_alive(), "the worker survives the outage"
            before = len(fake.calls)
            fake.text(ALICE, "/echo again")
            second = queued_job(fake, ALICE, after=before)
            fake.wait_call("sendMessage", chat_id=ALICE, contains="echo: again", timeout=30)
            time.sleep(0.6)  # past the next redelivery sweep: no second copy
            ledger = Ledger.count(db, [first, second], _by_job(fake, {first: "slow", second: "again"}))
            with db.session() as session:
                row = session.get(Job, first)
                assert row is not None and row.status == "done", (row.status, row.error) if row else None
    finally:
        stop([worker])
    assert ledger.balanced(), ledger


def test_a_command_during_a_redis_outage_is_refused_and_never_runs_later(
        settings: Settings, db: Database, redis: Redis, fault_redis: FaultRedis, tmp_path: Path) -> None:
    with fake_telegram() as fake, telegram_bot(settings, fake, redis):
        # Issue case 7 on the way: button data with huge numbers is an expired button, not a database error.
        fake.text(ALICE, "/start")
        message = fake.message_of(fake.wait_call("sendMessage", chat_id=ALICE))
        for data in ("pdel:" + "9" * 40, "swap:1a2b3c4d:" + "1" * 30, "anim:1a2b3c4d:" + "7" * 25):
            before = len(fake.calls)
            fake.press(ALICE, message, data)
            alert = fake.wait_call("answerCallbackQuery", after=before)
            assert alert.params["text"] == "That button has expired. Send the command again.", data

        fault_redis.stop()
        before = len(fake.calls)
        fake.text(ALICE, "/echo phantom")
        refusal = fake.wait_call("sendMessage", chat_id=ALICE, after=before, timeout=20)
        fault_redis.start()
        assert "nothing was started" in refusal.text and "try again" in refusal.text, refusal.text
        drain(settings, db, redis)  # a worker that finds anything queued would run it now
        time.sleep(1.0)
        with db.session() as session:
            rows = session.query(Job).all()
        assert [(row.status, row.started_at) for row in rows] == [("failed", None)], "written, failed, never run"
        assert results(fake, ALICE) == {}, "no phantom result"


def _by_job(fake: FakeTelegram, texts: dict[str, str]) -> Counter[str]:
    """How often each job's echo result was accepted in Alice's chat."""
    shown = results(fake, ALICE)
    return Counter({job_id: shown[f"echo: {text}"] for job_id, text in texts.items()})
