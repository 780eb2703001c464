"""Wires one process's services from settings: database, Redis, blob store, job service and assistant."""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from core import queue
from core.assistant import Assistant
from core.jobs import JobService
from core.settings import Settings
from storage.blobs import BlobStore, open_blob_store
from storage.db import Database
from storage.migrate import upgrade


@dataclass
class Studio:
    """The services a front end needs; build once per process with ``Studio.build``."""

    settings: Settings
    db: Database
    redis: Redis
    blobs: BlobStore
    jobs: JobService
    assistant: Assistant

    @classmethod
    def build(cls, settings: Settings, *, migrate: bool = True, redis: Redis | None = None) -> Studio:
        """Connect everything; ``migrate`` brings the database schema up to date first."""
        db = Database(settings.resolved_database_url)
        if migrate:
            upgrade(db.engine)
        client = redis if redis is not None else queue.connect(settings)
        blobs = open_blob_store(settings)
        jobs = JobService(db=db, redis=client, settings=settings)
        assistant = Assistant(db=db, blobs=blobs, jobs=jobs, settings=settings)
        return cls(settings=settings, db=db, redis=client, blobs=blobs, jobs=jobs, assistant=assistant)

    def close(self) -> None:
        """Release connections."""
        self.redis.close()
        self.db.dispose()
