"""The channel-neutral assistant: turns one incoming message into replies and jobs, for every front end."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import grammar, help, links, platforms, prompts
from core.errors import InvalidUpload, NotFound, StudioError, UsageError
from core.grammar import Command
from core.jobs import JobService
from core.messages import Button, Incoming, Media, Reply, Upload
from core.progress import KIND_LABELS, bar, queued_text
from core.quotas import check_can_submit
from core.settings import Settings
from storage.blobs import BlobStore, BlobStoreUnavailable
from storage.db import Database
from storage.models import Asset, Persona, User, utcnow
from storage.repositories import assets as asset_repo
from storage.repositories import blob_refs
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from storage.states import AssetOrigin, PersonaStatus

log = logging.getLogger(__name__)

MIN_PHOTOS = 3
MAX_PHOTOS = 10
LINK_CODE_TTL = timedelta(minutes=10)
USER_SETTINGS: dict[str, Callable[[str], Any]] = {
    "ar": grammar.aspect_option,
    "n": lambda v: grammar.int_option(v, "n", 1, 4, default=1),
    "steps": lambda v: grammar.int_option(v, "steps", 1, 100, default=None),
    "platform": grammar.platform_option,
    "motion": grammar.motion_option,
    "seconds": grammar.seconds_option,
}
NO_IMAGE = ("Send /animate with a photo attached, reply /animate to one of your images, "
            "or make one with /imagine first.")
STORAGE_UNAVAILABLE = ("Storage is temporarily unavailable, so that could not be saved or shown. Nothing of yours "
                       "is lost: send it again in a few minutes.")
NO_SWAP_TARGET = ("Send /swap {name} with a photo or video attached, reply /swap {name} to one of your images "
                  "or videos, or name one: /swap {name} #1a2b3c4d (/gallery shows ids).")


class Assistant:
    """One instance per front-end process; stateless between messages (state lives in the database)."""

    def __init__(self, *, db: Database, blobs: BlobStore, jobs: JobService, settings: Settings) -> None:
        self.db = db
        self.blobs = blobs
        self.jobs = jobs
        self.settings = settings

    # ---- entry points -----------------------------------------------------------------------------

    def handle(self, msg: Incoming) -> list[Reply]:
        """Replies to one message; user mistakes become one-line answers, never exceptions."""
        try:
            return self._handle(msg)
        except StudioError as exc:
            return [Reply(text=str(exc), error=True)]
        except BlobStoreUnavailable as exc:
            log.warning("blob store unavailable: %s", exc)
            return [Reply(text=STORAGE_UNAVAILABLE, error=True)]

    def handle_command(self, msg: Incoming, command: Command) -> list[Reply]:
        """Replies to an already typed command (a Discord slash command's options), as ``handle`` does for text."""
        try:
            return self._dispatch(msg, command)
        except StudioError as exc:
            return [Reply(text=str(exc), error=True)]
        except BlobStoreUnavailable as exc:
            log.warning("blob store unavailable: %s", exc)
            return [Reply(text=STORAGE_UNAVAILABLE, error=True)]

    def press(self, msg: Incoming, action: str) -> list[Reply]:
        """Replies to a button press; ``msg`` identifies who pressed it (only the owner's content is reachable)."""
        try:
            return self._press(msg, action)
        except StudioError as exc:
            return [Reply(text=str(exc), error=True)]
        except BlobStoreUnavailable as exc:
            log.warning("blob store unavailable: %s", exc)
            return [Reply(text=STORAGE_UNAVAILABLE, error=True)]

    def attach_status_message(self, job_id: str, message_id: str) -> None:
        """Record which chat message shows ``job_id``'s status, so delivery edits it in place."""
        with self.db.session() as session:
            job_repo.update_chat(session, job_id=job_id, status_message_id=message_id)

    # ---- dispatch ---------------------------------------------------------------------------------

    def _user(self, session: Session, msg: Incoming) -> User:
        return user_repo.get_or_create(
            session,
            platform=msg.platform,
            platform_user_id=msg.user_id,
            display_name=msg.display_name,
            is_admin=self.settings.is_admin(msg.platform, msg.user_id),
        )

    def _handle(self, msg: Incoming) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            owner_id = user_repo.content_owner_id(user)
            names = [p.name for p in persona_repo.list_for(session, owner_id=owner_id)]
            flow = dict(user.dialogue)
        text = msg.text.strip()
        if msg.uploads and not text.startswith("/"):
            if flow.get("flow") == "persona":
                return self._persona_photos(msg)
            if not text:
                return [Reply(text=(
                    "Got your file. To build a persona from photos start with /persona new <name>; "
                    "to turn a photo into a short video send it with /animate as its caption, or reply "
                    "/animate to it."
                ))]
        command = grammar.parse(text, persona_names=names)
        return self._dispatch(msg, command)

    def _dispatch(self, msg: Incoming, command: Command) -> list[Reply]:
        match command:
            case grammar.Start():
                return [Reply(text=help.WELCOME)]
            case grammar.Help(topic=topic):
                return [Reply(text=help.for_command(topic) if topic else help.overview())]
            case grammar.PersonaNew(name=name):
                return self._persona_new(msg, name)
            case grammar.Consent():
                return self._consent(msg)
            case grammar.Done():
                return self._persona_done(msg)
            case grammar.Abort():
                return self._abort(msg)
            case grammar.PersonaList():
                return self._persona_list(msg)
            case grammar.PersonaShow(name=name):
                return self._persona_show(msg, name)
            case grammar.PersonaRename(old=old, new=new):
                return self._persona_rename(msg, old, new)
            case grammar.PersonaDelete(name=name):
                return self._persona_delete_ask(msg, name)
            case grammar.PersonaTrain(name=name):
                return self._persona_train(msg, name)
            case grammar.Imagine():
                return self._imagine(msg, command)
            case grammar.Animate():
                return self._animate(msg, command)
            case grammar.Swap():
                return self._swap(msg, command)
            case grammar.Export():
                return self._export(msg, command)
            case grammar.Gallery(n=n):
                return self._gallery(msg, n)
            case grammar.Jobs():
                return self._jobs(msg)
            case grammar.CancelJob(job_id=job_id):
                return self._cancel_job(msg, job_id)
            case grammar.SettingsCmd(key=key, value=value):
                return self._settings(msg, key, value)
            case grammar.Web(revoke=revoke):
                return self._web(msg, revoke)
            case grammar.Echo(text=text, seconds=seconds):
                return self._submit(msg, "echo", {"text": text, "seconds": seconds}, label=f"echo “{text[:40]}”")
            case grammar.Link(code=code):
                return self._link(msg, code)
            case grammar.TemplateCmd(action=action, name=name, text=text):
                return self._template(msg, action, name, text)
        raise UsageError("I understood that but can't do it yet.")  # pragma: no cover - every command is matched

    # ---- jobs -------------------------------------------------------------------------------------

    def _chat(self, msg: Incoming) -> dict[str, Any]:
        return {"platform": msg.platform, "chat_id": msg.chat_id, "user_id": msg.user_id,
                "reply_to": msg.message_id}

    def _submit(self, msg: Incoming, kind: str, spec: dict[str, Any], *, label: str = "") -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
        submitted = self.jobs.submit(user=user, kind=kind, spec=spec, chat=self._chat(msg))
        text = queued_text(kind, submitted.job_id, submitted.position)
        if label:
            text += f"\n{label}"
        return [Reply(text=text, job_id=submitted.job_id,
                      buttons=[Button("Cancel", f"cancel:{submitted.job_id}")])]

    def _jobs(self, msg: Incoming) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            recent = job_repo.recent(session, owner_id=user.id, limit=10)
            lines = []
            for job in recent:
                label = KIND_LABELS.get(job.kind, job.kind)
                state = bar(job.progress) if job.status == "running" else job.status
                if job.cancel_requested and job.status == "running":
                    state += " (stopping)"
                lines.append(f"{job.id} · {label} · {state}")
        if not lines:
            return [Reply(text="No jobs yet. Try /imagine or /persona new <name>.")]
        return [Reply(text="Your jobs (newest first):\n" + "\n".join(lines) + "\n/cancel <job> stops one.")]

    def _cancel_job(self, msg: Incoming, job_id: str) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
        return [Reply(text=self.jobs.cancel(owner_id=user.id, job_id=job_id))]

    # ---- personas ---------------------------------------------------------------------------------

    def _persona_new(self, msg: Incoming, name: str) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            owner_id = user_repo.content_owner_id(user)
            if user.dialogue.get("flow") == "persona":
                current = persona_repo.get_owned(session, persona_id=user.dialogue["persona_id"], owner_id=owner_id)
                if current is not None:
                    raise UsageError(
                        f"You are still creating {current.name}: send its photos and /done, or /cancel first."
                    )
            if persona_repo.by_name(session, owner_id=owner_id, name=name) is not None:
                raise UsageError(
                    f"You already have a persona called {name}; pick another name or /persona show {name}."
                )
            persona = persona_repo.create(session, owner_id=owner_id, name=name)
            user.dialogue = {"flow": "persona", "persona_id": persona.id}
        return [Reply(
            text=(
                f"Creating {name}. First, please confirm: the photos you will send show you, or someone who "
                "agreed to be turned into an AI persona. Reply /consent (or press I agree); /cancel stops here."
            ),
            buttons=[Button("I agree", "consent"), Button("Cancel", "abort")],
        )]

    def _flow_persona(self, session: Session, user: User) -> Persona:
        if user.dialogue.get("flow") != "persona":
            raise UsageError("You are not creating a persona right now. Start with /persona new <name>.")
        persona = persona_repo.get_owned(
            session, persona_id=int(user.dialogue["persona_id"]), owner_id=user_repo.content_owner_id(user)
        )
        if persona is None:
            user.dialogue = {}
            raise UsageError("That persona is gone. Start again with /persona new <name>.")
        return persona

    def _consent(self, msg: Incoming) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            persona = self._flow_persona(session, user)
            persona.consent_at = utcnow()
            name = persona.name
        return [Reply(text=(
            f"Thanks. Now send {MIN_PHOTOS}-{MAX_PHOTOS} photos of {name}: one face per photo, clear and "
            "well lit, different angles and expressions (an album is fine). Send /done when finished."
        ))]

    def _persona_photos(self, msg: Incoming) -> list[Reply]:
        from core.uploads import check_image  # intake checks run before anything else touches a file

        lines: list[str] = []
        with self.db.session() as session:
            user = self._user(session, msg)
            persona = self._flow_persona(session, user)
            if persona.consent_at is None:
                raise UsageError("Please confirm consent first with /consent, then send the photos again.")
            if persona.status != PersonaStatus.COLLECTING.value:
                raise UsageError(f"{persona.name}'s photos are being analysed; wait for the result.")
            known = {ref.blob for ref in persona.references}
            for upload in msg.uploads:
                label = upload.filename or f"photo {len(persona.references) + 1}"
                if len(persona.references) >= MAX_PHOTOS:
                    lines.append(f"{label}: skipped, {MAX_PHOTOS} photos is the maximum.")
                    continue
                try:
                    checked = check_image(upload.data, filename=label, settings=self.settings)
                except InvalidUpload as exc:
                    lines.append(str(exc))
                    continue
                digest = self.blobs.put_bytes(checked.data)
                if digest in known:
                    lines.append(f"{label}: you already sent this photo; skipped.")
                    continue
                known.add(digest)
                persona_repo.add_reference(session, persona=persona, blob=digest, filename=label,
                                           width=checked.width, height=checked.height)
                note = f" ({'; '.join(checked.notes)})" if checked.notes else ""
                lines.append(f"{label}: received{note}.")
            count = len(persona.references)
        more = MIN_PHOTOS - count
        tail = f"{count} photo(s) so far; send {more} more." if more > 0 else \
            f"{count} photo(s) so far. Send more (up to {MAX_PHOTOS}) or /done to analyse them."
        return [Reply(text="\n".join([*lines, tail]))]

    def _persona_done(self, msg: Incoming) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            persona = self._flow_persona(session, user)
            if persona.consent_at is None:
                raise UsageError("Please confirm consent with /consent first.")
            count = len(persona.references)
            if count < MIN_PHOTOS:
                raise UsageError(
                    f"{persona.name} has {count} photo(s); send at least {MIN_PHOTOS - count} more, then /done."
                )
            persona.status = PersonaStatus.ANALYZING.value
            persona_id, name = persona.id, persona.name
            user.dialogue = {}
        try:
            return self._submit(msg, "persona_analyze", {"persona_id": persona_id},
                                label=f"Checking {count} photos of {name}…")
        except StudioError:
            with self.db.session() as session:
                user = self._user(session, msg)
                row = persona_repo.get_owned(session, persona_id=persona_id, owner_id=user_repo.content_owner_id(user))
                if row is not None:
                    row.status = PersonaStatus.COLLECTING.value
                user.dialogue = {"flow": "persona", "persona_id": persona_id}
            raise

    def _abort(self, msg: Incoming) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            if user.dialogue.get("flow") != "persona":
                user.dialogue = {}
                return [Reply(text="Nothing to cancel. To stop a job use /cancel <job> (see /jobs).")]
            persona = persona_repo.get_owned(session, persona_id=int(user.dialogue["persona_id"]),
                                             owner_id=user_repo.content_owner_id(user))
            user.dialogue = {}
            if persona is None:
                return [Reply(text="Cancelled.")]
            name = persona.name
            freed = self._delete_persona(session, persona)
        self._delete_blobs(freed)
        return [Reply(text=f"Cancelled: {name} and the photos you sent are deleted.")]

    def _persona_list(self, msg: Incoming) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            personas = persona_repo.list_for(session, owner_id=user_repo.content_owner_id(user))
            lines = [
                f"• {p.name} — {p.status}, {len(p.references)} photo(s)"
                + (f", LoRA v{p.loras[-1].version}" if p.loras else "")
                for p in personas
            ]
        if not lines:
            return [Reply(text="No personas yet. Create one with /persona new <name>.")]
        return [Reply(text="Your personas:\n" + "\n".join(lines))]

    def _owned_persona(self, session: Session, user: User, name: str) -> Persona:
        persona = persona_repo.by_name(session, owner_id=user_repo.content_owner_id(user), name=name)
        if persona is None:
            raise NotFound(f"You have no persona called {name}. /persona list shows yours.")
        return persona

    def _persona_show(self, msg: Incoming, name: str) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            persona = self._owned_persona(session, user, name)
            identity = ", ".join(
                f"{engine} (threshold {data.get('threshold', 0):.2f})" for engine, data in persona.identity.items()
            ) or "not analysed yet"
            lora = f"v{persona.loras[-1].version}" if persona.loras else f"none (/persona train {persona.name})"
            text = (
                f"{persona.name} — {persona.status}\n"
                f"Photos: {len(persona.references)} · identity: {identity}\n"
                f"LoRA: {lora}"
            )
            if persona.description:
                text += f"\n{persona.description}"
            media = [Media(blob=persona.card_blob, kind="image", filename=f"{persona.name}-card.png",
                           caption=f"{persona.name}'s reference faces")] if persona.card_blob else []
        return [Reply(text=text, media=media)]

    def _persona_rename(self, msg: Incoming, old: str, new: str) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            persona = self._owned_persona(session, user, old)
            clash = persona_repo.by_name(session, owner_id=persona.owner_id, name=new)
            if clash is not None and clash.id != persona.id:
                raise UsageError(f"You already have a persona called {new}.")
            persona.name, persona.name_key = new, persona_repo.name_key(new)
        return [Reply(text=f"Renamed {old} to {new}.")]

    def _persona_delete_ask(self, msg: Incoming, name: str) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            persona = self._owned_persona(session, user, name)
            persona_id = persona.id
        return [Reply(
            text=f"Delete {name}, its photos, embeddings and LoRA weights? This cannot be undone.",
            buttons=[Button(f"Delete {name}", f"pdel:{persona_id}"), Button("Keep", "noop")],
        )]

    def _delete_persona(self, session: Session, persona: Persona) -> list[str]:
        """Delete the persona's rows; returns the blobs to delete once the session has committed."""
        digests = persona_repo.blobs_of(persona)
        session.delete(persona)
        return blob_refs.unused(session, digests)

    def _delete_blobs(self, digests: list[str]) -> None:
        # After the rows are gone: a store out of reach leaves the files to housekeeping, not to the user.
        try:
            for digest in digests:
                self.blobs.delete(digest)
        except BlobStoreUnavailable as exc:
            log.warning("blobs left for housekeeping: %s", exc)

    def _persona_train(self, msg: Incoming, name: str) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            persona = self._owned_persona(session, user, name)
            if persona.status != PersonaStatus.READY.value:
                raise UsageError(f"{persona.name} is {persona.status}; train once its photos are analysed.")
            persona_id = persona.id
        return self._submit(msg, "train_lora", {"persona_id": persona_id},
                            label=f"Training a LoRA for {name}; you can keep using /imagine meanwhile.")

    # ---- images -----------------------------------------------------------------------------------

    def _imagine(self, msg: Incoming, cmd: grammar.Imagine) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            prefs = dict(user.preferences)
            if cmd.template:
                try:
                    prompts.get_template(cmd.template, prefs)
                except ValueError as exc:
                    raise UsageError(f"{exc}. /template list shows them.") from None
            persona_id: int | None = None
            if cmd.persona:
                persona = self._owned_persona(session, user, cmd.persona)
                if persona.status != PersonaStatus.READY.value:
                    raise UsageError(f"{persona.name} is not ready yet ({persona.status}).")
                persona_id = persona.id
        spec = {
            "persona_id": persona_id,
            "prompt": cmd.prompt,
            "aspect_ratio": cmd.aspect_ratio or prefs.get("ar"),
            "n": cmd.n if cmd.n is not None else int(prefs.get("n", 1)),
            "seed": cmd.seed,
            "steps": cmd.steps or prefs.get("steps"),
            "template": cmd.template,
            "platform": cmd.platform or prefs.get("platform"),
            "negative": cmd.negative,
            "variation_of": None,
            "variation": None,
        }
        who = f"{cmd.persona}: " if cmd.persona else ""
        return self._submit(msg, "image", spec, label=f"{who}{cmd.prompt[:80]}")

    def _variations(self, msg: Incoming, asset_id: str, *, variation: str = "seeds") -> list[Reply]:
        """New seeds on the same prompt ("seeds"), or the same seed with a small prompt change ("prompt")."""
        with self.db.session() as session:
            user = self._user(session, msg)
            asset = asset_repo.get_owned(session, asset_id=asset_id, owner_id=user_repo.content_owner_id(user))
            if asset is None:
                raise NotFound("That result is not yours or no longer exists.")
        # The worker repeats the original request stored with the asset; only what changes is sent.
        spec = {"n": 2, "variation_of": asset_id, "variation": variation}
        label = "Variations of your image" if variation == "seeds" else "A remix of your image (same seed)"
        return self._submit(msg, "image", spec, label=label)

    def _gallery(self, msg: Incoming, n: int) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            recent = asset_repo.recent(session, owner_id=user_repo.content_owner_id(user), limit=n)
            media = [
                Media(blob=a.blob, kind=a.kind, filename=f"{a.id}.{_extension(a)}",
                      caption=f"#{a.id}" + _identity_note(a.identity_score),
                      asset_id=a.id, width=a.width, height=a.height, duration_s=a.duration_s, mime=a.mime)
                for a in recent
            ]
        if not media:
            return [Reply(text="Your gallery is empty. Try /imagine.")]
        return [Reply(text=f"Your latest {len(media)}:", media=media)]

    def _template(self, msg: Incoming, action: str, name: str | None, text: str | None) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            prefs = dict(user.preferences)
            try:
                if action == "save" and name and text:
                    user.preferences = prompts.save_template(prefs, name=name, prompt=text)
                    return [Reply(text=f"Saved template {name}: use /imagine <prompt> --template {name}.")]
                if action == "delete" and name:
                    user.preferences = prompts.delete_template(prefs, name)
                    return [Reply(text=f"Deleted your template {name}.")]
                if action == "show" and name:
                    found = prompts.get_template(name, prefs)
                    return [Reply(text=f"{found.name} — {found.title}\n{found.prompt}")]
            except ValueError as exc:
                raise UsageError(f"{exc}.") from None
            lines = [f"• {t.name} — {t.title}{' (yours)' if t.user else ''}" for t in prompts.list_templates(prefs)]
        return [Reply(text="Templates (use --template <name>):\n" + "\n".join(lines))]

    # ---- animation --------------------------------------------------------------------------------

    def _animate(self, msg: Incoming, cmd: grammar.Animate) -> list[Reply]:
        """Animate the named image, else the replied-to one, else the attached photo, else the newest image."""
        notes: list[str] = []
        with self.db.session() as session:
            user = self._user(session, msg)
            owner_id = user_repo.content_owner_id(user)
            prefs = dict(user.preferences)
            named = cmd.asset or msg.reply_to_asset
            if named:
                asset_id = self._owned_image(session, owner_id, named).id
            elif msg.uploads:
                # Checked before the upload is stored, so a refused request leaves nothing behind.
                check_can_submit(session, user=user, settings=self.settings)
                asset_id, notes = self._uploaded_image(session, owner_id, msg.uploads)
            else:
                newest = asset_repo.recent(session, owner_id=owner_id, kind="image", limit=1,
                                           origins=None)
                if not newest:
                    raise UsageError(NO_IMAGE)
                asset_id = newest[0].id
        return self._submit_animation(msg, asset_id, prefs, motion=cmd.motion, seconds=cmd.seconds, notes=notes)

    def _submit_animation(self, msg: Incoming, asset_id: str, prefs: dict[str, Any], *, motion: str | None,
                          seconds: float | None, notes: list[str] | None = None) -> list[Reply]:
        """Queue a video job; what the request leaves out comes from the user's /settings, else the worker."""
        motion = motion or prefs.get("motion")
        length = seconds if seconds is not None else prefs.get("seconds")
        spec = {"asset_id": asset_id, "motion": motion,
                "seconds": float(length) if length is not None else None}
        label = " · ".join((f"animating #{asset_id}", motion or "default motion",
                            f"{float(length):g} s" if length is not None else "default length"))
        return self._submit(msg, "video", spec, label="\n".join([label, *(notes or [])]))

    def _owned_image(self, session: Session, owner_id: int, asset_id: str) -> Asset:
        asset = asset_repo.get_owned(session, asset_id=asset_id, owner_id=owner_id)
        if asset is None:
            # The same answer whether it never existed or is someone else's: ids reveal nothing.
            raise NotFound(f"No image #{asset_id} among yours; /gallery shows your ids.")
        if asset.kind != "image":
            raise UsageError(f"/animate works on images; #{asset_id} is a {asset.kind}. "
                             "Pick an image from /gallery, or send a photo with /animate.")
        return asset

    def _uploaded_image(self, session: Session, owner_id: int,
                        uploads: tuple[Upload, ...]) -> tuple[str, list[str]]:
        """The attached photo stored as the user's image asset: its id and what intake changed (EXIF turn ...).

        The photo is checked before anything else touches it; the same photo sent twice is one asset.
        """
        from core.uploads import check_image  # intake checks run before anything else touches a file

        if len(uploads) > 1:
            raise UsageError("Send one photo at a time with /animate.")
        upload = uploads[0]
        checked = check_image(upload.data, filename=upload.filename or "your file", settings=self.settings)
        asset = self._stored_upload(session, owner_id, "image", checked.data, mime=checked.mime,
                                    width=checked.width, height=checked.height,
                                    meta={"filename": upload.filename, "notes": checked.notes})
        return asset.id, checked.notes

    def _stored_upload(self, session: Session, owner_id: int, kind: str, data: bytes, *, mime: str,
                       meta: dict[str, Any], width: int = 0, height: int = 0) -> Asset:
        """The user's ``kind`` asset holding ``data``: the same file sent twice is one asset."""
        digest = self.blobs.put_bytes(data)
        known = session.scalars(select(Asset).where(Asset.owner_id == owner_id, Asset.blob == digest,
                                                    Asset.kind == kind).limit(1)).first()
        if known is not None:
            return known
        return asset_repo.create(session, owner_id=owner_id, kind=kind, blob=digest, mime=mime, width=width,
                                 height=height, tags=["uploaded"], meta=meta,
                                 origin=AssetOrigin.UPLOADED)

    def _motion_picker(self, msg: Incoming, asset_id: str) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            self._owned_image(session, user_repo.content_owner_id(user), asset_id)
        return [Reply(text=f"Which camera motion for #{asset_id}?",
                      buttons=[Button(motion, f"anim:{asset_id}:{motion}") for motion in grammar.MOTIONS])]

    def _animate_pressed(self, msg: Incoming, asset_id: str, motion: str | None) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            self._owned_image(session, user_repo.content_owner_id(user), asset_id)
            prefs = dict(user.preferences)
        return self._submit_animation(msg, asset_id, prefs, motion=motion, seconds=None)

    # ---- export -----------------------------------------------------------------------------------

    def _export(self, msg: Incoming, cmd: grammar.Export) -> list[Reply]:
        """Package the named results, else the newest N (``last N``; the newest one when nothing is named)."""
        _export_here(msg)
        limit = self.settings.export_max_assets
        note = ""
        with self.db.session() as session:
            owner_id = user_repo.content_owner_id(self._user(session, msg))
            if cmd.assets:
                asset_ids = list(dict.fromkeys(cmd.assets))
                if len(asset_ids) > limit:
                    raise UsageError(f"At most {limit} results per export and you named {len(asset_ids)}: "
                                     "split them over two /export commands.")
                for asset_id in asset_ids:
                    _owned_result(session, owner_id, asset_id)
            else:
                wanted = cmd.last or 1
                if wanted > limit:
                    raise UsageError(f"At most {limit} results per export: try /export {cmd.platform} last {limit}.")
                asset_ids = [a.id for a in asset_repo.recent(session, owner_id=owner_id, limit=wanted)]
                if not asset_ids:
                    raise UsageError("You have nothing to export yet: make an image with /imagine (or /animate a "
                                     "photo), then /export it.")
                if len(asset_ids) < wanted:
                    note = f"You have {len(asset_ids)} result(s) so far, so that is all of them."
        return self._submit_export(msg, cmd.platform, asset_ids, note=note)

    def _submit_export(self, msg: Incoming, platform_name: str, asset_ids: list[str], *,
                       note: str = "") -> list[Reply]:
        platform = platforms.get(platform_name)
        shown = " ".join(f"#{a}" for a in asset_ids[:5]) + (" …" if len(asset_ids) > 5 else "")
        label = f"{platform.title} package of {len(asset_ids)} result(s): {shown}"
        spec = {"platform": platform.name, "asset_ids": asset_ids}
        return self._submit(msg, "export", spec, label="\n".join(line for line in (label, note) if line))

    def _export_pressed(self, msg: Incoming, asset_id: str, platform_name: str | None) -> list[Reply]:
        """The result's Export button: for the platform picked, else the /settings default, else ask which."""
        _export_here(msg)
        with self.db.session() as session:
            user = self._user(session, msg)
            _owned_result(session, user_repo.content_owner_id(user), asset_id)
            chosen = platform_name or user.preferences.get("platform")
        if chosen not in platforms.PRESETS:
            return [Reply(text=f"Export #{asset_id} for which platform? (/settings platform <name> skips this "
                               "question next time.)",
                          buttons=[Button(p.title, f"exp:{asset_id}:{p.name}") for p in platforms.PRESETS.values()])]
        return self._submit_export(msg, str(chosen), [asset_id])

    # ---- face swap --------------------------------------------------------------------------------

    def _swap(self, msg: Incoming, cmd: grammar.Swap) -> list[Reply]:
        """Swap into the named photo or video, else the replied-to one, else the one sent with the command."""
        notes: list[str] = []
        with self.db.session() as session:
            user = self._user(session, msg)
            owner_id = user_repo.content_owner_id(user)
            # Only the user's own personas lend their face: someone else's name finds nothing here.
            persona = self._ready_persona(self._owned_persona(session, user, cmd.persona))
            named = cmd.asset or msg.reply_to_asset
            if named:
                asset_id = self._swap_target(session, owner_id, named).id
            elif msg.uploads:
                # Checked before the upload is stored, so a refused request leaves nothing behind.
                check_can_submit(session, user=user, settings=self.settings)
                asset_id, notes = self._uploaded_swap_target(session, owner_id, msg.uploads)
            else:
                raise UsageError(NO_SWAP_TARGET.format(name=persona.name))
            persona_id, name = persona.id, persona.name
        return self._submit_swap(msg, persona_id, name, asset_id, notes=notes)

    def _ready_persona(self, persona: Persona) -> Persona:
        if persona.status == PersonaStatus.ANALYZING.value:
            raise UsageError(f"{persona.name} is still being analysed; try again when it is ready.")
        if persona.status != PersonaStatus.READY.value:
            raise UsageError(f"{persona.name} has no analysed photos yet: send {MIN_PHOTOS}-{MAX_PHOTOS} photos "
                             f"and /done first (/persona show {persona.name}).")
        return persona

    def _swap_target(self, session: Session, owner_id: int, asset_id: str) -> Asset:
        asset = asset_repo.get_owned(session, asset_id=asset_id, owner_id=owner_id)
        if asset is None or asset.kind not in ("image", "video"):
            # The same answer whether it never existed or is someone else's: ids reveal nothing.
            raise NotFound(f"No photo or video #{asset_id} among yours; /gallery shows your ids.")
        return asset

    def _uploaded_swap_target(self, session: Session, owner_id: int,
                              uploads: tuple[Upload, ...]) -> tuple[str, list[str]]:
        """The attached photo or video stored as the user's asset: its id and what intake changed."""
        from core.uploads import check_video, sniff_kind  # intake checks run before anything else touches a file

        if len(uploads) > 1:
            raise UsageError("Send one photo or video at a time with /swap.")
        upload = uploads[0]
        if sniff_kind(upload.data) != "video":
            return self._uploaded_image(session, owner_id, uploads)
        checked = check_video(upload.data, filename=upload.filename or "your video", settings=self.settings)
        # Size and length are unknown here (no decoder in front ends); the worker fills them in.
        asset = self._stored_upload(session, owner_id, "video", checked.data, mime=checked.mime,
                                    meta={"filename": upload.filename})
        return asset.id, []

    def _swap_pressed(self, msg: Incoming, asset_id: str, persona_id: int | None) -> list[Reply]:
        """A result's swap button: straight to the swap with the one ready persona, else ask whose face."""
        with self.db.session() as session:
            user = self._user(session, msg)
            owner_id = user_repo.content_owner_id(user)
            self._swap_target(session, owner_id, asset_id)
            if persona_id is not None:
                chosen = persona_repo.get_owned(session, persona_id=persona_id, owner_id=owner_id)
                if chosen is None:
                    raise NotFound("That persona is not yours or was deleted; /persona list shows yours.")
                persona = self._ready_persona(chosen)
            else:
                ready = [p for p in persona_repo.list_for(session, owner_id=owner_id)
                         if p.status == PersonaStatus.READY.value]
                if not ready:
                    raise UsageError("You have no ready persona yet: create one with /persona new <name>, "
                                     "then swap its face in.")
                if len(ready) > 1:
                    return [Reply(text=f"Whose face goes into #{asset_id}?",
                                  buttons=[Button(p.name, f"swap:{asset_id}:{p.id}") for p in ready])]
                persona = ready[0]
            found_id, name = persona.id, persona.name
        return self._submit_swap(msg, found_id, name, asset_id)

    def _submit_swap(self, msg: Incoming, persona_id: int, name: str, asset_id: str, *,
                     notes: list[str] | None = None) -> list[Reply]:
        spec = {"persona_id": persona_id, "asset_id": asset_id}
        label = f"{name}'s face into #{asset_id}"
        return self._submit(msg, "faceswap", spec, label="\n".join([label, *(notes or [])]))

    # ---- settings, web, linking -------------------------------------------------------------------

    def _settings(self, msg: Incoming, key: str | None, value: str | None) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            prefs = dict(user.preferences)
            if key is None:
                shown = {k: prefs.get(k, "default") for k in USER_SETTINGS}
                return [Reply(text="Your defaults: " + ", ".join(f"{k}={v}" for k, v in shown.items())
                              + "\nChange one with /settings <key> <value>.")]
            if key not in USER_SETTINGS:
                raise UsageError(f"Unknown setting {key!r}; choose {', '.join(USER_SETTINGS)}.")
            if value is None:
                return [Reply(text=f"{key} = {prefs.get(key, 'default')}")]
            if value.lower() in ("default", "reset", "none"):
                prefs.pop(key, None)
            else:
                prefs[key] = USER_SETTINGS[key](value)
            user.preferences = prefs
        return [Reply(text=f"Saved: {key} = {prefs.get(key, 'default')}.")]

    def _web(self, msg: Incoming, revoke: bool) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            owner_id = user_repo.content_owner_id(user)
            if revoke:
                links.revoke_all(session, owner_id=owner_id)
                return [Reply(text="Every download link sent so far is now invalid. /web gives a new one.")]
            if not msg.private:
                raise UsageError("Your downloads link is private: message me directly and send /web there.")
            url = links.page_url(self.settings, session, owner_id=owner_id)
        return [Reply(text=f"Your downloads page (private, valid 24 h; /web revoke cancels it): {url}")]

    def _link(self, msg: Incoming, code: str | None) -> list[Reply]:
        with self.db.session() as session:
            user = self._user(session, msg)
            if code is None:
                user.link_code = secrets.token_hex(4).upper()
                user.link_code_expires_at = datetime.now(UTC) + LINK_CODE_TTL
                return [Reply(text=f"Send /link {user.link_code} from your other account within 10 minutes.")]
            other = session.scalars(select(User).where(User.link_code == code)).first()
            expires = other.link_code_expires_at if other else None
            if expires is not None and expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            if other is None or expires is None or expires < datetime.now(UTC):
                raise UsageError("That code is unknown or expired; ask for a new one with /link.")
            if other.id == user.id or other.platform == user.platform:
                raise UsageError("Send the code from your account on the other platform.")
            user.linked_to_id = user_repo.content_owner_id(other)
            other.link_code = None
        return [Reply(text="Linked: both accounts now share personas and results.")]

    # ---- buttons ----------------------------------------------------------------------------------

    def _press(self, msg: Incoming, action: str) -> list[Reply]:
        verb, _, arg = action.partition(":")
        if verb == "noop":
            return [Reply(text="OK.")]
        if verb == "consent":
            return self._consent(msg)
        if verb == "abort":
            return self._abort(msg)
        if verb == "cancel" and grammar.JOB_ID_RE.match(arg):
            return self._cancel_job(msg, arg)
        if verb == "var" and grammar.ASSET_ID_RE.match(arg):
            return self._variations(msg, arg)
        if verb == "remix" and grammar.ASSET_ID_RE.match(arg):
            return self._variations(msg, arg, variation="prompt")
        if verb == "anim":
            asset_id, _, motion = arg.partition(":")
            if grammar.ASSET_ID_RE.match(asset_id) and (not motion or motion in grammar.MOTIONS):
                return self._animate_pressed(msg, asset_id, motion or None)
        if verb == "motions" and grammar.ASSET_ID_RE.match(arg):
            return self._motion_picker(msg, arg)
        if verb == "exp":
            asset_id, _, platform = arg.partition(":")
            if grammar.ASSET_ID_RE.match(asset_id) and (not platform or platform in platforms.PRESETS):
                return self._export_pressed(msg, asset_id, platform or None)
        if verb == "swap":
            asset_id, _, persona_id = arg.partition(":")
            if grammar.ASSET_ID_RE.match(asset_id) and (not persona_id or persona_id.isdigit()):
                return self._swap_pressed(msg, asset_id, int(persona_id) if persona_id else None)
        if verb == "pdel" and arg.isdigit():
            with self.db.session() as session:
                user = self._user(session, msg)
                owner_id = user_repo.content_owner_id(user)
                persona = persona_repo.get_owned(session, persona_id=int(arg), owner_id=owner_id)
                if persona is None:
                    raise NotFound("That persona is not yours or was already deleted.")
                name = persona.name
                if user.dialogue.get("persona_id") == persona.id:
                    user.dialogue = {}
                freed = self._delete_persona(session, persona)
            self._delete_blobs(freed)
            return [Reply(text=f"Deleted {name} with its photos, embeddings and LoRA weights.")]
        raise UsageError("That button has expired. Send the command again.")


def _owned_result(session: Session, owner_id: int, asset_id: str) -> Asset:
    asset = asset_repo.get_owned(session, asset_id=asset_id, owner_id=owner_id)
    if asset is None:
        # The same answer whether it never existed or is someone else's: ids reveal nothing.
        raise NotFound(f"No result #{asset_id} among yours; /gallery shows your ids.")
    return asset


def _export_here(msg: Incoming) -> None:
    # A package's link opens every file in it: it is sent only where no one else reads along.
    if not msg.private:
        raise UsageError("Export links are private: send /export to me in a direct message.")


def _extension(asset: Asset) -> str:
    # Named after what the file is: an uploaded JPEG or MOV called .png or .mp4 would mislead a download.
    known = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4",
             "video/quicktime": "mov", "video/webm": "webm", "video/x-msvideo": "avi"}
    return known.get(asset.mime, "mp4" if asset.kind == "video" else "png")


def _identity_note(score: float | None) -> str:
    return f" · identity {score:.2f}" if score is not None else ""
