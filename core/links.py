"""Download links: signed, expiring, and revocable per user (``/web revoke`` bumps the user's link epoch).

A page link opens the owner's whole downloads page; an asset link opens one file and nothing else, so a link
sent for one large result never exposes the rest of the gallery. An export link opens one export package (a
zip) until the package expires; ``check`` refuses it, so it never opens a page or a file either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from core.settings import Settings
from core.signing import BadToken, sign, verify
from storage.db import Database
from storage.models import Asset, ExportPackage, User
from storage.repositories import exports as export_repo

PAGE_TTL_S = 24 * 3600
ASSET_TTL_S = 7 * 24 * 3600
EPOCH_KEY = "link_epoch"


@dataclass(frozen=True)
class Grant:
    """What a valid token opens: the downloads page of ``owner_id``, or only ``asset_id``."""

    owner_id: int
    asset_id: str | None = None


def _epoch(user: User | None) -> int:
    return int((user.preferences or {}).get(EPOCH_KEY, 0)) if user is not None else 0


def page_url(settings: Settings, session: Session, *, owner_id: int) -> str:
    """A link to ``owner_id``'s downloads page, valid for a day."""
    token = sign(settings.secret_key, f"user:{owner_id}:{_epoch(session.get(User, owner_id))}", ttl_s=PAGE_TTL_S)
    return f"{settings.public_url.rstrip('/')}/u/{token}"


def asset_url(settings: Settings, session: Session, *, asset: Asset) -> str:
    """A link to one asset's file, valid for a week."""
    epoch = _epoch(session.get(User, asset.owner_id))
    token = sign(settings.secret_key, f"asset:{asset.id}:{asset.owner_id}:{epoch}", ttl_s=ASSET_TTL_S)
    return f"{settings.public_url.rstrip('/')}/a/{token}"


def export_url(settings: Settings, session: Session, *, package: ExportPackage) -> str:
    """A link to one export package's zip, valid until the package expires."""
    epoch = _epoch(session.get(User, package.owner_id))
    now = datetime.now(UTC)
    ttl = max(1, int(((export_repo.expires_at(package) or now) - now).total_seconds()))
    token = sign(settings.secret_key, f"export:{package.id}:{package.owner_id}:{epoch}", ttl_s=ttl)
    return f"{settings.public_url.rstrip('/')}/x/{token}"


class Revoked(BadToken):
    """The token is genuine, but its owner revoked every link issued before (``/web revoke``)."""


@dataclass(frozen=True)
class ExportGrant:
    """What a valid export token opens: package ``package_id`` of ``owner_id``."""

    owner_id: int
    package_id: str


def check_export(settings: Settings, session: Session, token: str) -> ExportGrant:
    """The package ``token`` opens; raises ``ExpiredToken`` when its time is over, ``Revoked`` after
    ``/web revoke``, ``BadToken`` when it is altered or not an export link."""
    parts = verify(settings.secret_key, token).split(":")
    if parts[0] != "export" or len(parts) != 4 or not parts[2].isdigit() or not parts[3].isdigit():
        raise BadToken("this link is not valid")
    grant = ExportGrant(owner_id=int(parts[2]), package_id=parts[1])
    if int(parts[3]) != _epoch(session.get(User, grant.owner_id)):
        raise Revoked("this link was revoked")
    return grant


def asset_link(settings: Settings, db: Database, asset_id: str | None) -> str:
    """A signed link to just this asset's file, or the public page when it is gone (blocking: reads the database).

    Front ends send it in place of a file too big to upload; it never opens the rest of the owner's gallery.
    """
    with db.session() as session:
        asset = session.get(Asset, asset_id) if asset_id is not None else None
        if asset is None:
            return settings.public_url.rstrip("/")
        return asset_url(settings, session, asset=asset)


def revoke_all(session: Session, *, owner_id: int) -> None:
    """Invalidate every link issued so far for ``owner_id``'s content."""
    user = session.get(User, owner_id)
    if user is not None:
        user.preferences = {**(user.preferences or {}), EPOCH_KEY: _epoch(user) + 1}
    # The new epoch already stops every export link; the flag keeps that on each package, as the web page checks.
    export_repo.revoke_all(session, owner_id=owner_id)


def check(settings: Settings, session: Session, token: str) -> Grant:
    """What ``token`` grants; raises ``ExpiredToken`` when its time is over, ``Revoked`` after ``/web revoke``,
    ``BadToken`` when it is altered or not a page or file link."""
    payload = verify(settings.secret_key, token)
    parts = payload.split(":")
    if parts[0] == "user" and len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        grant, epoch = Grant(owner_id=int(parts[1])), int(parts[2])
    elif parts[0] == "asset" and len(parts) == 4 and parts[2].isdigit() and parts[3].isdigit():
        grant, epoch = Grant(owner_id=int(parts[2]), asset_id=parts[1]), int(parts[3])
    else:
        raise BadToken("this link is not valid")
    if epoch != _epoch(session.get(User, grant.owner_id)):
        raise Revoked("this link was revoked; ask the bot for a new one with /web")
    return grant
