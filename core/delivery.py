"""Delivery events: every job state change goes onto a Redis Stream per front end, read by consumer groups.

A front end acknowledges an event only after the chat API accepted its message, so a restart re-reads
whatever was in flight: nothing is lost, and at worst a progress edit is repeated.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from redis import Redis
from redis.exceptions import ResponseError

log = logging.getLogger(__name__)

STREAM_PREFIX = "studio:delivery:"
GROUP = "frontend"
STREAM_MAXLEN = 100_000
# A consumer that died keeps its unacknowledged events; another takes them over after this long.
CLAIM_IDLE_MS = 60_000


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
    """Reads one front end's stream as a named member of the consumer group."""

    def __init__(self, connection: Redis, *, platform: str, consumer: str) -> None:
        self.connection = connection
        self.stream = stream_key(platform)
        self.consumer = consumer
        self._pending_done = False
        self._ensure_group()

    def _ensure_group(self) -> None:
        try:
            # "0": a new group starts from the beginning so events written before the first start count.
            self.connection.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, *, count: int = 50, block_ms: int = 1000) -> list[DeliveryEvent]:
        """The next events: first our own unacknowledged ones (after a restart), then abandoned, then new."""
        if not self._pending_done:
            events = self._read_from("0", count=count, block_ms=None)
            if events:
                return events
            self._pending_done = True
            claimed = self._claim_abandoned(count)
            if claimed:
                return claimed
        return self._read_from(">", count=count, block_ms=block_ms)

    def _read_from(self, start: str, *, count: int, block_ms: int | None) -> list[DeliveryEvent]:
        response = self.connection.xreadgroup(
            GROUP, self.consumer, {self.stream: start}, count=count, block=block_ms
        )
        events: list[DeliveryEvent] = []
        for _stream, entries in response or []:
            for raw_id, fields in entries:
                if not fields:  # an entry trimmed away while pending
                    self.connection.xack(self.stream, GROUP, raw_id)
                    continue
                events.append(DeliveryEvent.from_fields(_decode(raw_id), fields))
        return events

    def _claim_abandoned(self, count: int) -> list[DeliveryEvent]:
        result = self.connection.xautoclaim(
            self.stream, GROUP, self.consumer, min_idle_time=CLAIM_IDLE_MS, start_id="0-0", count=count
        )
        entries = result[1] if result else []
        return [DeliveryEvent.from_fields(_decode(raw_id), fields) for raw_id, fields in entries if fields]

    def ack(self, event: DeliveryEvent) -> None:
        """Mark ``event`` handled: the chat accepted the message it caused."""
        self.connection.xack(self.stream, GROUP, event.event_id)

    def pending_count(self) -> int:
        """Events delivered to this group but not yet acknowledged."""
        info = self.connection.xpending(self.stream, GROUP)
        return int(info["pending"]) if isinstance(info, dict) else int(info[0])


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


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
