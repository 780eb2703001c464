"""Delivery events: every job state change goes onto a Redis Stream per front end, read by consumer groups.

A front end acknowledges an event only after the chat API accepted its message, so a restart re-reads
whatever was in flight: nothing is lost. Delivery is at least once: a restart in the middle of sending a
result may send that result again.

The stream is a cache of what the database says, not the truth: a consumer whose group vanished (Redis
restarted empty) recreates it and goes on, and a final event lost with the stream (or never published while
Redis was away) is published again from the job row by ``core.recovery.Recovery.redeliver_lost``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from redis import Redis
from redis.exceptions import ResponseError

from storage.db import Database
from storage.repositories import jobs as job_repo
from storage.states import JobStatus

log = logging.getLogger(__name__)

STREAM_PREFIX = "studio:delivery:"
GROUP = "frontend"
STREAM_MAXLEN = 100_000
# Unacknowledged events idle this long are taken over and tried again: a consumer died, or showing them
# failed. Long enough that an event waiting out a chat's flood control is not handed out twice.
RETRY_IDLE_MS = 300_000
MAX_DELIVERIES = 5
DEAD_LETTER = "studio:delivery:dead"


def stream_key(platform: str) -> str:
    """The stream one front end reads."""
    return f"{STREAM_PREFIX}{platform}"


@dataclass(frozen=True)
class DeliveryEvent:
    """One state change of one job, as a front end sees it."""

    job_id: str
    status: str
    progress: float = 0.0
    stage: str = ""
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    event_id: str = ""

    @property
    def is_final(self) -> bool:
        """Whether this is the job's last event (done, failed or cancelled)."""
        return self.status in ("done", "failed", "cancelled")

    def to_fields(self) -> dict[str, str]:
        """Stream fields (flat strings)."""
        data = asdict(self)
        data.pop("event_id")
        data["extra"] = json.dumps(data["extra"])
        return {key: str(value) for key, value in data.items()}

    @classmethod
    def from_fields(cls, event_id: str, fields: dict[bytes, bytes]) -> DeliveryEvent:
        """Parse stream fields written by ``to_fields``."""
        text = {key.decode(): value.decode() for key, value in fields.items()}
        return cls(
            job_id=text["job_id"],
            status=text["status"],
            progress=float(text.get("progress", 0.0)),
            stage=text.get("stage", ""),
            message=text.get("message", ""),
            extra=json.loads(text.get("extra") or "{}"),
            event_id=event_id,
        )


def publish(connection: Redis, *, platform: str, event: DeliveryEvent) -> str:
    """Append ``event`` to the platform's stream; returns the stream id."""
    event_id = connection.xadd(
        stream_key(platform), event.to_fields(), maxlen=STREAM_MAXLEN, approximate=True
    )
    return event_id.decode() if isinstance(event_id, bytes) else str(event_id)


class DeliveryConsumer:
    """Reads one front end's stream as a named member of the consumer group.

    ``read`` returns, in order: this consumer's own unacknowledged events (once per start, in batches), events
    left unacknowledged for a long time by any consumer (a dead one, or a failure of our own), then new ones.
    An event delivered ``MAX_DELIVERIES`` times without being acknowledged is moved to the dead-letter stream,
    so one event that can never be shown cannot hold up the others.
    """

    def __init__(self, connection: Redis, *, platform: str, consumer: str,
                 retry_idle_ms: int = RETRY_IDLE_MS, group: str = GROUP, start_id: str = "0") -> None:
        self.connection = connection
        self.stream = stream_key(platform)
        self.consumer = consumer
        self.retry_idle_ms = retry_idle_ms
        # A group of its own reads every event of the stream (the console: one per user); ``start_id`` "$"
        # makes a new group skip what was written before it existed.
        self.group = group
        self.start_id = start_id
        self._pending_cursor: str | None = "0"
        self._next_claim = 0.0
        self._ensure_group()

    def _ensure_group(self) -> None:
        try:
            # By default ("0") a new group starts from the beginning, so events written before the first start count.
            self.connection.xgroup_create(self.stream, self.group, id=self.start_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, *, count: int = 50, block_ms: int = 1000) -> list[DeliveryEvent]:
        """The next events to show; see the class docstring for the order.

        A group that vanished (Redis restarted without its data, or someone deleted it) is created again and
        this call returns nothing; the next one reads whatever was written since.
        """
        try:
            return self._read(count=count, block_ms=block_ms)
        except ResponseError as exc:
            if not is_nogroup(exc):
                raise
            log.warning("delivery group %s on %s is gone (Redis restarted empty?); creating it again",
                        self.group, self.stream)
            self._ensure_group()
            self.rewind()
            return []

    def rewind(self) -> None:
        """Re-read this consumer's own unacknowledged events from the start (after a failure part-way through a
        batch: the events it had not routed yet would otherwise wait for the idle takeover)."""
        self._pending_cursor = "0"

    def _read(self, *, count: int, block_ms: int) -> list[DeliveryEvent]:
        if self._pending_cursor is not None:
            events = self._read_from(self._pending_cursor, count=count, block_ms=None)
            if events:
                # A cursor, not "0" again: events handed out but not yet acknowledged are not handed out twice.
                self._pending_cursor = events[-1].event_id
                return self._without_poison(events)
            self._pending_cursor = None
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + self.retry_idle_ms / 2000
            claimed = self._claim_idle(count)
            if claimed:
                return self._without_poison(claimed)
        return self._read_from(">", count=count, block_ms=block_ms)

    def _read_from(self, start: str, *, count: int, block_ms: int | None) -> list[DeliveryEvent]:
        response = self.connection.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=count, block=block_ms
        )
        events: list[DeliveryEvent] = []
        for _stream, entries in response or []:
            for raw_id, fields in entries:
                if not fields:  # an entry trimmed away while pending
                    self.connection.xack(self.stream, self.group, raw_id)
                    continue
                events.append(DeliveryEvent.from_fields(_decode(raw_id), fields))
        return events

    def _claim_idle(self, count: int) -> list[DeliveryEvent]:
        result = self.connection.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_time=self.retry_idle_ms, start_id="0-0", count=count
        )
        entries = result[1] if result else []
        return [DeliveryEvent.from_fields(_decode(raw_id), fields) for raw_id, fields in entries if fields]

    def _without_poison(self, events: list[DeliveryEvent]) -> list[DeliveryEvent]:
        kept = []
        for event in events:
            info = self.connection.xpending_range(self.stream, self.group, min=event.event_id, max=event.event_id,
                                                  count=1)
            deliveries = int(info[0]["times_delivered"]) if info else 0
            if deliveries > MAX_DELIVERIES:
                log.error("giving up on delivery event %s of job %s after %d tries; moved to %s",
                          event.event_id, event.job_id, deliveries - 1, DEAD_LETTER)
                fields = event.to_fields()
                fields["stream"] = self.stream
                self.connection.xadd(DEAD_LETTER, fields, maxlen=STREAM_MAXLEN, approximate=True)
                self.ack(event)
            else:
                kept.append(event)
        return kept

    def ack(self, event: DeliveryEvent) -> None:
        """Mark ``event`` handled: the chat accepted the message it caused.

        Acknowledging in a group that is gone does nothing (its pending list went with it).
        """
        self.connection.xack(self.stream, self.group, event.event_id)

    def pending_count(self) -> int:
        """Events delivered to this group but not yet acknowledged (none when the group is gone)."""
        try:
            info = self.connection.xpending(self.stream, self.group)
        except ResponseError as exc:
            if not is_nogroup(exc):
                raise
            return 0
        return int(info["pending"]) if isinstance(info, dict) else int(info[0])


# Key in ``Job.chat``: False from submission until a front end has shown the job's final event (or found it can
# never be shown), then True. The database is the truth about what the user has seen: redelivery looks for
# ended jobs still at False, and a front end skips a second copy of a final event once it is True.
DELIVERED = "delivered"


@dataclass(frozen=True)
class Receipt:
    """Where a job stands for delivery: its status now, and whether its final event was shown."""

    status: str
    delivered: bool

    def makes_stale(self, event: DeliveryEvent) -> bool:
        """Whether showing ``event`` now would be wrong or twice: a final event already shown, or progress of a
        job that has ended since (an event read again after a failure, or taken over from another consumer)."""
        if event.is_final:
            return self.delivered
        return JobStatus(self.status).is_final


def receipt(db: Database, job_id: str) -> Receipt | None:
    """The job's ``Receipt``; None when the job is gone."""
    with db.session() as session:
        job = job_repo.get(session, job_id=job_id)
        if job is None:
            return None
        return Receipt(status=job.status, delivered=bool((job.chat or {}).get(DELIVERED)))


def mark_delivered(db: Database, job_id: str) -> None:
    """Record that the job's final event has been shown (or can never be): redelivery leaves it alone."""
    with db.session() as session:
        job_repo.update_chat(session, job_id=job_id, **{DELIVERED: True})


def superseded(events: list[DeliveryEvent]) -> set[str]:
    """Ids of progress events made stale by a later event of the same job in the same batch.

    Skipping them (but acknowledging) keeps a slow chat from replaying every intermediate percentage.
    """
    latest: dict[str, str] = {}
    for event in events:
        latest[event.job_id] = event.event_id
    return {
        event.event_id
        for event in events
        if event.status == "running" and latest[event.job_id] != event.event_id
    }


def is_nogroup(exc: ResponseError) -> bool:
    """Whether Redis refused a group command because the stream or its consumer group does not exist."""
    return str(exc).startswith("NOGROUP")


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
