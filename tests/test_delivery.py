"""The delivery stream: pending events re-read once per start, failures retried, poison events set aside."""

from __future__ import annotations

from redis import Redis

from core.delivery import DEAD_LETTER, MAX_DELIVERIES, DeliveryConsumer, DeliveryEvent, publish, superseded


def _publish(redis: Redis, job_id: str, status: str = "done") -> None:
    publish(redis, platform="telegram", event=DeliveryEvent(job_id=job_id, status=status))


def test_pending_events_are_handed_out_once_per_start(redis: Redis) -> None:
    DeliveryConsumer(redis, platform="telegram", consumer="bot")
    for job in ("a", "b", "c"):
        _publish(redis, job)
    first = DeliveryConsumer(redis, platform="telegram", consumer="bot")
    assert [e.job_id for e in first.read(block_ms=10)] == ["a", "b", "c"]  # then the process dies, no acks

    restarted = DeliveryConsumer(redis, platform="telegram", consumer="bot")
    assert [e.job_id for e in restarted.read(count=2, block_ms=10)] == ["a", "b"]
    assert [e.job_id for e in restarted.read(count=2, block_ms=10)] == ["c"], "a cursor, not the same batch again"
    _publish(redis, "d")
    assert [e.job_id for e in restarted.read(block_ms=10)] == ["d"], "new events flow while old ones are in flight"


def test_a_failed_event_is_retried_then_set_aside(redis: Redis) -> None:
    consumer = DeliveryConsumer(redis, platform="telegram", consumer="bot", retry_idle_ms=0)
    _publish(redis, "poison")
    tries = 0
    for _ in range(MAX_DELIVERIES + 3):
        events = [e for e in consumer.read(block_ms=10) if e.job_id == "poison"]
        tries += len(events)  # showing it fails every time: never acknowledged
    assert tries == MAX_DELIVERIES
    assert consumer.pending_count() == 0
    dead = redis.xrange(DEAD_LETTER)
    assert len(dead) == 1 and dead[0][1][b"job_id"] == b"poison"
    _publish(redis, "fine")
    assert [e.job_id for e in consumer.read(block_ms=10)] == ["fine"]


def test_superseded_progress_is_skipped_but_final_events_never_are() -> None:
    events = [
        DeliveryEvent(job_id="j", status="running", progress=0.1, event_id="1-0"),
        DeliveryEvent(job_id="k", status="running", progress=0.5, event_id="2-0"),
        DeliveryEvent(job_id="j", status="running", progress=0.6, event_id="3-0"),
        DeliveryEvent(job_id="j", status="done", event_id="4-0"),
    ]
    assert superseded(events) == {"1-0", "3-0"}
