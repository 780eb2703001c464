"""Housekeeping of the blob store: expired export zips and blobs that no row refers to any more.

It runs on a timer in one worker of the deployment (``inference.housekeeping``) or by hand
(``studio storage sweep``), on whatever store is configured, and is safe while jobs run:

- a job stores a blob before it records the row that refers to it, and every store (re)writes the blob, so a
  blob that a job is about to record is younger than the grace period and is left alone;
- each blob about to go is looked up again just before: still unreferenced, still older than the grace;
- the only rows it changes are export packages past their expiry, whose zip reference is cleared (the rows
  stay, so an old link still says "expired").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from storage.blobs import BlobStore
from storage.db import Database
from storage.models import utcnow
from storage.repositories import blob_refs
from storage.repositories import exports as export_repo

log = logging.getLogger(__name__)

# Leftovers of uploads that never finished (a process killed mid-write) older than this are removed.
TEMPORARY_AGE = timedelta(hours=6)
_BATCH = 100


@dataclass
class SweepReport:
    """What one sweep did."""

    expired_exports: int = 0
    blobs_removed: int = 0
    bytes_freed: int = 0
    kept_young: int = 0  # unreferenced, but within the grace period
    temporary_removed: int = 0
    missing: list[str] = field(default_factory=list)  # referenced by rows, absent from the store

    def summary(self) -> str:
        """One line for logs and the command line."""
        line = (f"{self.expired_exports} expired export(s) cleared, {self.blobs_removed} unreferenced blob(s) "
                f"removed ({self.bytes_freed / 2**20:.1f} MB), {self.kept_young} kept within the grace period, "
                f"{self.temporary_removed} unfinished upload(s) cleared")
        if self.missing:
            line += f"; {len(self.missing)} referenced blob(s) missing from the store"
        return line


def prune_expired_exports(db: Database, blobs: BlobStore, *, now: datetime | None = None) -> int:
    """Delete the zips of packages whose links have expired; returns how many packages were cleared.

    The row forgets its zip first; a zip whose deletion then fails is unreferenced and goes with the next sweep.
    """
    cleared = 0
    while True:
        with db.session() as session:
            stale = export_repo.expired_with_files(session, now=now, limit=_BATCH)
            digests = [package.blob for package in stale if package.blob]
            for package in stale:
                package.blob = None
            freed = blob_refs.unused(session, digests)
        for digest in freed:
            blobs.delete(digest)
        cleared += len(stale)
        if len(stale) < _BATCH:
            return cleared


def remove_unreferenced(db: Database, blobs: BlobStore, *, grace: timedelta, now: datetime | None = None,
                        report: SweepReport | None = None) -> SweepReport:
    """Delete stored blobs that no row refers to and that are older than ``grace``."""
    report = report if report is not None else SweepReport()
    cutoff = (now or utcnow()) - grace
    with db.session() as session:
        referenced = blob_refs.referenced(session)
    stored: set[str] = set()
    candidates = []
    for entry in blobs.entries():
        stored.add(entry.digest)
        if entry.digest in referenced:
            continue
        if entry.modified >= cutoff:
            report.kept_young += 1
        else:
            candidates.append(entry)
    for entry in candidates:
        with db.session() as session:
            if blob_refs.in_use(session, blob=entry.digest):
                continue  # recorded since the listing
        again = blobs.stat(entry.digest)
        if again is None or again.modified >= cutoff:
            continue  # gone already, or stored again a moment ago by a job about to record it
        if blobs.delete(entry.digest):
            report.blobs_removed += 1
            report.bytes_freed += again.size
    missing = sorted(referenced - stored)
    report.missing = missing
    new = blobs.first_reports(missing)
    if new:
        shown = ", ".join(new[:5]) + (" …" if len(new) > 5 else "")
        log.error("%d blob(s) that rows refer to are missing from %s: %s", len(new), blobs.location, shown)
    return report


def sweep(db: Database, blobs: BlobStore, *, grace: timedelta, now: datetime | None = None) -> SweepReport:
    """Expired export zips, then unreferenced blobs older than ``grace``, then unfinished uploads."""
    report = SweepReport()
    report.expired_exports = prune_expired_exports(db, blobs, now=now)
    remove_unreferenced(db, blobs, grace=grace, now=now, report=report)
    report.temporary_removed = blobs.sweep_temporary(older_than=TEMPORARY_AGE)
    log.info("housekeeping of %s: %s", blobs.location, report.summary())
    return report
