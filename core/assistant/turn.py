"""One message's context: who sent it, whose content they see, their defaults, and one database session."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import actions
from core.errors import NotFound, UsageError
from core.grammar import Command
from core.jobkinds import for_spec
from core.jobs import JobService
from core.jobspecs import JobSpec
from core.limits import MAX_PHOTOS, MIN_PHOTOS
from core.messages import Incoming, Reply, Upload
from core.progress import queued_text, short_id
from core.settings import Settings
from storage.blobs import BlobStore, BlobStoreUnavailable
from storage.db import Database
from storage.models import Asset, Job, Persona
from storage.repositories import assets as asset_repo
from storage.repositories import blob_refs
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from storage.states import AssetOrigin, JobStatus, PersonaStatus

Dispatch = Callable[["Turn", Command], list[Reply]]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """What every feature may use; one instance per front-end process."""

    db: Database
    blobs: BlobStore
    jobs: JobService
    settings: Settings


class Turn:
    """Built once per message (or button press) and handed to the feature that handles it.

    The session commits when the handler returns and rolls back when it raises, so a refused request leaves
    nothing behind; ``submit`` commits first, because the job row is written in a transaction of its own.
    """

    def __init__(self, services: Services, msg: Incoming, session: Session, *, dispatch: Dispatch) -> None:
        self.services = services
        self.msg = msg
        self.session = session
        self._dispatch = dispatch
        self.user = user_repo.get_or_create(
            session,
            platform=msg.platform,
            platform_user_id=msg.user_id,
            display_name=msg.display_name,
            is_admin=services.settings.is_admin(msg.platform, msg.user_id),
        )
        # Whose personas and assets this user works with: the primary account when accounts are linked.
        self.owner_id = user_repo.content_owner_id(self.user)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def prefs(self) -> dict[str, Any]:
        """The user's /settings defaults (a copy: change them by assigning ``user.preferences``)."""
        return dict(self.user.preferences or {})

    def persona_names(self) -> list[str]:
        return [p.name for p in persona_repo.list_for(self.session, owner_id=self.owner_id)]

    def dispatch(self, command: Command) -> list[Reply]:
        """Replies to ``command`` as if the user had typed it (a question's answer runs the command it stood for)."""
        return self._dispatch(self, command)

    # ---- jobs ---------------------------------------------------------------------------------------

    def submit(self, spec: JobSpec, *, label: str = "", notes: list[str] | None = None) -> list[Reply]:
        """Queue ``spec`` and answer with its status message (which delivery then edits in place)."""
        self.session.commit()
        chat = {"platform": self.msg.platform, "chat_id": self.msg.chat_id, "user_id": self.msg.user_id,
                "reply_to": self.msg.message_id}
        submitted = self.services.jobs.submit(user=self.user, spec=spec, chat=chat)
        text = queued_text(for_spec(spec).kind, submitted.job_id, submitted.position, [label, *(notes or [])])
        return [Reply(text=text, job_id=submitted.job_id,
                      buttons=[actions.button("Cancel", actions.CancelJob(submitted.job_id))])]

    # ---- lookups that answer the same whether a thing never existed or is someone else's --------------

    def jobs_by_prefix(self, prefix: str, *, limit: int = 5) -> Sequence[Job]:
        """The user's jobs whose id starts with ``prefix``, newest first."""
        stmt = (select(Job).where(Job.owner_id == self.user.id, Job.id.startswith(prefix.lower(), autoescape=True))
                .order_by(Job.created_at.desc()).limit(limit))
        return self.session.scalars(stmt).all()

    def job(self, prefix: str) -> Job:
        """The user's one job whose id is or starts with ``prefix``."""
        found = self.jobs_by_prefix(prefix)
        if not found:
            raise NotFound(f"No job #{prefix} among yours; /jobs lists them.")
        exact = [job for job in found if job.id == prefix]
        if exact:
            return exact[0]
        if len(found) > 1:
            ids = [short_id(job.id) for job in found]
            shown = ", ".join(f"#{i}" for i in (ids if len(set(ids)) == len(ids) else [job.id for job in found]))
            raise UsageError(f"#{prefix} fits several of your jobs ({shown}); give more of its id.")
        return found[0]

    def active_jobs(self) -> list[Job]:
        """The user's queued and running jobs: running ones first, newest first within each."""
        jobs = [job for job in job_repo.recent(self.session, owner_id=self.user.id, limit=50)
                if job.status in (JobStatus.QUEUED.value, JobStatus.RUNNING.value)]
        return sorted(jobs, key=lambda job: job.status != JobStatus.RUNNING.value)

    def replied_job(self) -> Job | None:
        """The job whose status message this message replies to (its ``job #<id>`` tag), if it is the user's."""
        tag = self.msg.reply_to_asset
        if not tag:
            return None
        found = self.jobs_by_prefix(tag, limit=2)
        return found[0] if len(found) == 1 else None

    def replied_asset(self) -> str | None:
        """The result this message replies to: a result's ``#<id>``, or the first output of the job whose status
        message it replies to."""
        tag = self.msg.reply_to_asset
        if not tag:
            return None
        if asset_repo.get_owned(self.session, asset_id=tag, owner_id=self.owner_id) is not None:
            return tag
        job = self.replied_job()
        if job is None:
            return tag  # not one of ours: the caller says it found no such result
        outputs = asset_repo.for_job(self.session, job_id=job.id)
        if not outputs:
            raise UsageError(f"Job #{short_id(job.id)} has no result yet ({job.status}); reply to one of its "
                             "results once it is done.")
        return outputs[0].id

    def persona(self, name: str) -> Persona:
        """The user's persona called ``name`` (any case)."""
        persona = persona_repo.by_name(self.session, owner_id=self.owner_id, name=name)
        if persona is None:
            raise NotFound(f"You have no persona called {name}. /persona list shows yours.")
        return persona

    def persona_by_id(self, persona_id: int) -> Persona:
        persona = persona_repo.get_owned(self.session, persona_id=persona_id, owner_id=self.owner_id)
        if persona is None:
            raise NotFound("That persona is not yours or was deleted; /persona list shows yours.")
        return persona

    def asset(self, asset_id: str, *, kinds: tuple[str, ...] = ("image", "video"), what: str = "result") -> Asset:
        """The user's asset ``asset_id`` of one of ``kinds``."""
        asset = asset_repo.get_owned(self.session, asset_id=asset_id, owner_id=self.owner_id)
        if asset is None or asset.kind not in kinds:
            raise NotFound(f"No {what} #{asset_id} among yours; /gallery shows your ids.")
        return asset

    def forget_blobs(self, digests: Iterable[str]) -> None:
        """Commit the turn, then delete the files of ``digests`` that no row refers to any more (a rollback
        before the commit keeps rows and files; a store that is down leaves the files to housekeeping)."""
        freed = blob_refs.unused(self.session, digests)
        self.session.commit()
        try:
            for digest in freed:
                self.services.blobs.delete(digest)
        except BlobStoreUnavailable as exc:  # the rows are gone: the files are left to housekeeping, not the user
            log.warning("blobs left for housekeeping: %s", exc)

    # ---- uploads ------------------------------------------------------------------------------------

    def store_upload(self, kind: str, data: bytes, *, mime: str, meta: dict[str, Any], width: int = 0,
                     height: int = 0) -> Asset:
        """The user's ``kind`` asset holding ``data``, origin uploaded: the same file sent twice is one asset."""
        digest = self.services.blobs.put_bytes(data)
        known = self.session.scalars(select(Asset).where(
            Asset.owner_id == self.owner_id, Asset.blob == digest, Asset.kind == kind).limit(1)).first()
        if known is not None:
            return known
        return asset_repo.create(self.session, owner_id=self.owner_id, kind=kind, origin=AssetOrigin.UPLOADED,
                                 blob=digest, mime=mime, width=width, height=height, tags=["uploaded"], meta=meta)

    def uploaded_image(self, uploads: tuple[Upload, ...], *, command: str) -> tuple[str, list[str]]:
        """The attached photo stored as the user's image: its id and what intake changed (an EXIF turn ...).

        The photo is checked before anything else touches it.
        """
        from core.uploads import check_image  # intake checks run before anything else touches a file

        if len(uploads) > 1:
            raise UsageError(f"Send one photo at a time with {command}.")
        upload = uploads[0]
        checked = check_image(upload.data, filename=upload.filename or "your file", settings=self.settings)
        asset = self.store_upload("image", checked.data, mime=checked.mime, width=checked.width,
                                  height=checked.height, meta={"filename": upload.filename, "notes": checked.notes})
        return asset.id, checked.notes


def ready(persona: Persona) -> Persona:
    """``persona`` if its photos are analysed; otherwise a message saying what to do."""
    if persona.status == PersonaStatus.ANALYZING.value:
        raise UsageError(f"{persona.name} is still being analysed; try again when it is ready.")
    if persona.status != PersonaStatus.READY.value:
        raise UsageError(f"{persona.name} has no analysed photos yet: send {MIN_PHOTOS}-{MAX_PHOTOS} photos "
                         f"and /done first (/persona show {persona.name}).")
    return persona


def private_only(msg: Incoming, what: str) -> None:
    """Refuse in group chats: ``what`` (a link) would open private files to everyone reading along."""
    if not msg.private:
        raise UsageError(what)

