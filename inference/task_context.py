"""What a task function gets for one job (``TaskContext``): its spec, engines, a work folder, progress and cancel
checks, and the one way to keep outputs (``store``/``store_assets``: written, stamped, recorded, or nothing).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from core.errors import JobCancelled
from core.jobresults import JobResult
from core.jobspecs import JobSpec
from core.outages import is_outage, through_outage
from core.settings import Settings
from inference.engines.base import Engine
from inference.provenance.credentials import Ingredient
from inference.resources import WorkerResources, checkpoint
from storage.blobs import BlobStore, BlobStoreUnavailable
from storage.db import Database
from storage.models import Persona, new_id
from storage.repositories import assets as asset_repo
from storage.repositories import blob_refs
from storage.repositories import jobs as job_repo
from storage.states import AssetOrigin

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Engine)
S = TypeVar("S", bound=JobSpec)
T = TypeVar("T")

# What a result's bytes are written as before they are stamped (the stamper tells containers by content).
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4"}


@dataclass
class NewAsset:
    """One output to store: its bytes (or a finished file) and its row's fields.

    Every stored result carries both provenance layers: ``store_assets`` watermarks it with ``id`` (unless
    ``marked``: its frames carry the mark already, added while they were encoded) and signs it with Content
    Credentials naming ``ingredients`` (the files of ours it was made from; the first ``parentOf`` makes it an
    edit). The id is chosen here, before the file exists, so an encoder can mark frames with it.
    """

    content: bytes | Path
    kind: str
    origin: AssetOrigin
    mime: str
    id: str = field(default_factory=new_id)
    marked: bool = False
    ingredients: tuple[Ingredient, ...] = ()
    width: int = 0
    height: int = 0
    duration_s: float | None = None
    persona_id: int | None = None
    tags: list[str] = field(default_factory=list)
    identity_score: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredAsset:
    """What a task needs to describe a stored output in its result."""

    id: str
    blob: str
    size_bytes: int


class JobSuperseded(Exception):
    """This try was replaced by a retry (its worker was thought dead): what it made is not kept."""


class WorkerStopping(Exception):
    """The worker was asked to stop (SIGTERM, Ctrl-C): the job goes back to the queue for another worker."""


class TaskContext:
    """Everything a task function needs for one job."""

    def __init__(self, resources: WorkerResources, *, job_id: str, owner_id: int, kind: str,
                 spec: JobSpec, attempt: int, content_owner_id: int | None = None) -> None:
        self.resources = resources
        self.job_id = job_id
        self.owner_id = owner_id
        # Whose personas and assets the job works with: the primary account when accounts are linked.
        self.content_owner_id = content_owner_id if content_owner_id is not None else owner_id
        self.kind = kind
        self.spec = spec
        self.attempt = attempt
        self._last_report = 0.0
        self._reported = False
        self._outages_logged: set[str] = set()

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    @property
    def db(self) -> Database:
        return self.resources.db

    @property
    def blobs(self) -> BlobStore:
        return self.resources.blobs

    def engine(self, key: str, load: Callable[[], E]) -> E:
        """A warm engine from the worker's cache, loaded on first use."""
        return self.resources.engines.get(key, load)

    @contextmanager
    def workdir(self) -> Iterator[Path]:
        """A private folder under the data dir for this job's intermediate files, removed however the job ends."""
        root = self.settings.resolved_data_dir / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"{self.kind}-{self.job_id}-", dir=root))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def spec_as(self, spec_type: type[S]) -> S:
        """The job's spec as the type its task expects."""
        if not isinstance(self.spec, spec_type):
            raise TypeError(f"{self.kind} job carries a {type(self.spec).__name__}, not a {spec_type.__name__}")
        return self.spec

    def store(self, contents: Sequence[bytes | Path], write: Callable[[Session, list[str]], T]) -> T:
        """The one way a task keeps what it made: ``contents`` go into the blob store, then ``write`` adds the
        rows that refer to them in one transaction, and a cancel is checked last (raising then rolls the rows
        back). However this fails, the blobs it stored are removed again unless another row shares them, so
        nothing is left half-written; a try that a retry has replaced keeps nothing."""
        digests: list[str] = []

        def rows() -> T:
            with self.db.session() as session:
                if not job_repo.is_current_try(session, job_id=self.job_id, attempt=self.attempt):
                    raise JobSuperseded(self.job_id)
                written = write(session, digests)
                session.flush()
                # The last moment a cancel can still leave nothing behind.
                self.check_cancelled()
                return written

        try:
            for content in contents:
                digests.append(self.blobs.put_file(content) if isinstance(content, Path)
                               else self.blobs.put_bytes(content))
            # The work is done and its files are stored: a database restart now is waited out, not redone.
            written = through_outage(rows, within_s=self.settings.job_outage_retry_s,
                                     what=f"storing the outputs of job {self.job_id}")
        except BaseException:
            self._discard(digests)
            raise
        self._checkpoint("stored")
        return written

    def store_assets(self, items: Sequence[NewAsset]) -> list[StoredAsset]:
        """Store the job's outputs as the owner's assets, all or none (see ``store``).

        A persona deleted while the job ran is unlinked from them; the results are kept.
        """
        def write(session: Session, digests: list[str]) -> list[StoredAsset]:
            stored = []
            for item, digest in zip(items, digests, strict=True):
                persona_id = item.persona_id
                if persona_id is not None and session.get(Persona, persona_id) is None:
                    persona_id = None
                asset = asset_repo.create(
                    session, owner_id=self.content_owner_id, kind=item.kind, origin=item.origin, blob=digest,
                    mime=item.mime, width=item.width, height=item.height, duration_s=item.duration_s,
                    persona_id=persona_id, job_id=self.job_id, tags=item.tags, identity_score=item.identity_score,
                    meta=item.meta, asset_id=item.id)
                stored.append(StoredAsset(id=asset.id, blob=digest, size_bytes=self.blobs.size(digest)))
            return stored

        with self.workdir() as workdir:
            files = [self._stamped(item, workdir / f"out-{index}") for index, item in enumerate(items)]
            return self.store(files, write)

    def _stamped(self, item: NewAsset, name: Path) -> Path:
        """The output's file with its watermark and Content Credentials (rewritten in place when it is one)."""
        if isinstance(item.content, Path):
            path = item.content
        else:
            path = name.with_suffix("." + _EXTENSIONS.get(item.mime, "bin"))
            path.write_bytes(item.content)
        self.resources.stamper().stamp(path, kind=item.kind, origin=item.origin, asset_id=item.id,
                                       ingredients=item.ingredients, mark=not item.marked)
        return path

    def _discard(self, digests: list[str]) -> None:
        for digest in digests:
            self.discard_blob(digest)

    def discard_blob(self, blob: str) -> None:
        """Delete a blob this job stored but could not keep, unless some row refers to it (identical content).

        Best effort: with the store out of reach the blob stays, and housekeeping removes it later.
        """
        with self.db.session() as session:
            if not blob_refs.in_use(session, blob=blob):
                try:
                    self.blobs.delete(blob)
                except BlobStoreUnavailable as exc:
                    log.warning("could not delete blob %s now (%s); housekeeping will", blob, exc)

    def check_cancelled(self) -> None:
        """Raise ``JobCancelled`` if the owner cancelled this job (``WorkerStopping`` if the worker is stopping).

        Without Redis the job goes on: a cancel sent meanwhile is seen once Redis is back.
        """
        if self.resources.stopping.is_set():
            raise WorkerStopping(self.job_id)
        try:
            cancelled = self.resources.jobs.is_cancelled(self.job_id)
        except Exception as exc:
            if not is_outage(exc):
                raise
            self._outage("checking for a cancel", exc)
            return
        if cancelled:
            raise JobCancelled(self.job_id)

    def progress(self, fraction: float, stage: str) -> None:
        """Report progress (throttled to one update per ``progress_interval_s``) and honour cancel and stop.

        Progress is advisory: without Redis or the database the job goes on and the next report catches up.
        """
        self.check_cancelled()
        if not self._reported:
            self._reported = True
            self._checkpoint("running")
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_report < self.resources.settings.progress_interval_s:
            return
        self._last_report = now
        try:
            self.resources.jobs.progress(self.job_id, fraction, stage)
        except Exception as exc:
            if not is_outage(exc):
                raise
            self._outage("reporting progress", exc)

    def _outage(self, what: str, exc: Exception) -> None:
        # Once per job and kind of work: a long outage must not flood the log with one line per progress step.
        if what not in self._outages_logged:
            self._outages_logged.add(what)
            log.warning("job %s: %s failed (%s); going on without it", self.job_id, what, exc)

    def _checkpoint(self, step: str) -> None:
        checkpoint(self.resources, self.job_id, step)


TaskFunction = Callable[[TaskContext], JobResult]
