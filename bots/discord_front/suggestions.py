"""Autocomplete for slash-command options: the user's personas, outfits, templates, images and jobs (read-only)."""

from __future__ import annotations

from sqlalchemy import select

from core import prompts
from core.jobkinds import label as kind_label
from core.progress import short_id, shorten
from storage.db import Database
from storage.models import User
from storage.repositories import assets as asset_repo
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from storage.repositories import wardrobe as wardrobe_repo

MAX_CHOICES = 25  # Discord shows at most 25 suggestions
NAME_LIMIT = 100  # and each label and value is at most 100 characters


def suggestions(db: Database, *, platform: str, platform_user_id: str, what: str,
                current: str) -> list[tuple[str, str]]:
    """(label, value) pairs of kind ``what`` whose label contains ``current``; blocking (reads the database).

    Nothing is created for a user who never wrote to the bot: they simply get no personal suggestions.
    """
    with db.session() as session:
        user = session.scalars(select(User).where(User.platform == platform,
                                                  User.platform_user_id == platform_user_id)).first()
        items: list[tuple[str, str]] = []
        if what == "template":
            prefs = dict(user.preferences) if user is not None else {}
            items = [(f"{t.name} — {t.title}", t.name) for t in prompts.list_templates(prefs)]
        elif user is not None and what == "persona":
            owner_id = user_repo.content_owner_id(user)
            items = [(f"{p.name} — {p.status}", p.name) for p in persona_repo.list_for(session, owner_id=owner_id)]
        elif user is not None and what == "outfit":
            for persona in persona_repo.list_for(session, owner_id=user_repo.content_owner_id(user)):
                items += [(f"{item.name} — {persona.name}: {item.description}", item.name)
                          for item in wardrobe_repo.list_for(session, persona_id=persona.id)]
        elif user is not None and what == "image":
            owner_id = user_repo.content_owner_id(user)
            for asset in asset_repo.recent(session, owner_id=owner_id, kind="image", limit=MAX_CHOICES, origins=None):
                prompt = str((asset.meta or {}).get("prompt") or "uploaded photo")
                items.append((f"#{asset.id} · {prompt}", asset.id))
        elif user is not None and what == "job":
            for job in job_repo.recent(session, owner_id=user.id, limit=MAX_CHOICES):
                if job.status in ("queued", "running"):
                    items.append((f"#{short_id(job.id)} · {kind_label(job.kind)} · {job.status}", job.id))
    wanted = current.strip().casefold()
    matching = [(label, value) for label, value in items if wanted in label.casefold()]
    return [(_clip(label), value[:NAME_LIMIT]) for label, value in matching[:MAX_CHOICES]]


def _clip(text: str) -> str:
    return shorten(text, NAME_LIMIT)  # cut at a word
