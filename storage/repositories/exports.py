"""Export packages: zips of a user's assets for one platform, behind expiring, revocable links."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import ExportPackage, utcnow


def create(session: Session, *, package_id: str, owner_id: int, platform: str, asset_ids: list[str],
           job_id: str | None, blob: str, manifest: dict[str, Any], expires_at: datetime) -> ExportPackage:
    """A new package row pointing at its stored zip."""
    package = ExportPackage(id=package_id, owner_id=owner_id, platform=platform, asset_ids=list(asset_ids),
                            job_id=job_id, blob=blob, manifest=manifest, expires_at=expires_at)
    session.add(package)
    session.flush()
    return package


def get_owned(session: Session, *, package_id: str, owner_id: int) -> ExportPackage | None:
    """The package only if ``owner_id`` owns it."""
    package = session.get(ExportPackage, package_id)
    return package if package is not None and package.owner_id == owner_id else None


def count_download(session: Session, *, package_id: str) -> None:
    """Add one to the package's download count (in the database, so parallel downloads all count)."""
    session.execute(update(ExportPackage).where(ExportPackage.id == package_id)
                    .values(download_count=ExportPackage.download_count + 1))


def revoke_all(session: Session, *, owner_id: int) -> int:
    """Mark every package of ``owner_id`` revoked; returns how many were not already."""
    result = session.execute(update(ExportPackage)
                             .where(ExportPackage.owner_id == owner_id, ExportPackage.revoked.is_(False))
                             .values(revoked=True))
    return int(getattr(result, "rowcount", 0) or 0)


def expired_with_files(session: Session, *, now: datetime | None = None, limit: int = 100) -> Sequence[ExportPackage]:
    """Packages past their expiry whose zip is still stored (their files can go)."""
    moment = now or utcnow()
    stmt = (select(ExportPackage).where(ExportPackage.expires_at < moment, ExportPackage.blob.is_not(None))
            .order_by(ExportPackage.expires_at).limit(limit))
    return session.scalars(stmt).all()


def expires_at(package: ExportPackage) -> datetime | None:
    """When the package's link time is over, in UTC (rows written by SQLite come back without a time zone)."""
    expires = package.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires


def is_expired(package: ExportPackage, *, now: datetime | None = None) -> bool:
    """Whether the package's link time is over."""
    expires = expires_at(package)
    return expires is not None and expires <= (now or utcnow())
