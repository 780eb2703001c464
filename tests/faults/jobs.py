"""Jobs for fault tests: who asks, what they ask for, and waiting for the outcome."""

from __future__ import annotations

import io
import time

from PIL import Image

from core.jobs import JobService
from core.jobspecs import EchoSpec, JobSpec, VideoSpec
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import Job, User
from storage.repositories import assets as asset_repo
from storage.repositories import users as user_repo
from storage.states import AssetOrigin, JobStatus
from tests.faults.chat import CHAT


def user(db: Database, name: str = "alice") -> User:
    with db.session() as session:
        return user_repo.get_or_create(session, platform="console", platform_user_id=name)


def picture(db: Database, blobs: BlobStore, owner: User, shade: int = 120) -> str:
    """A small generated picture of ``owner``'s, as /imagine would have stored it."""
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (shade, 90, 200)).save(buffer, format="PNG")
    with db.session() as session:
        return asset_repo.create(session, owner_id=owner.id, kind="image", blob=blob_of(blobs, buffer.getvalue()),
                                 mime="image/png", width=96, height=64, origin=AssetOrigin.GENERATED,
                                 meta={"prompt": "a test card"}).id


def blob_of(blobs: BlobStore, data: bytes) -> str:
    return blobs.put_bytes(data)


def animate(asset_id: str) -> VideoSpec:
    """A camera-motion clip of a picture: a GPU-queue job with one stored output and no model to load."""
    return VideoSpec(asset_id=asset_id, motion="zoom-in", seconds=2)


def echo(text: str, seconds: float = 0.0) -> EchoSpec:
    return EchoSpec(text=text, seconds=seconds)


def submit(jobs: JobService, owner: User, spec: JobSpec) -> str:
    return jobs.submit(user=owner, spec=spec, chat=dict(CHAT)).job_id


def wait_until(db: Database, job_ids: list[str], *, status: set[str] | None = None, timeout: float = 60.0,
               running: bool = False) -> None:
    """Block until every job is final (or in ``status``; ``running``: running with some progress)."""
    wanted = status or {s.value for s in JobStatus if s.is_final}
    deadline = time.monotonic() + timeout
    while True:
        with db.session() as session:
            rows = [session.get(Job, job_id) for job_id in job_ids]
            states = {row.id: (row.status, row.progress) for row in rows if row is not None}
        if all(job_id in states and states[job_id][0] in wanted and (not running or states[job_id][1] > 0)
               for job_id in job_ids):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs never reached {sorted(wanted)}: {states}")
        time.sleep(0.05)


def eventually(check: object, *, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``check()`` until it is true."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
