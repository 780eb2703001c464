"""`studio storage`: check the blob store (reachable, writable, not public) and sweep it by hand."""

from __future__ import annotations

from datetime import timedelta

import click
from pydantic import ValidationError

from core.settings import Settings
from storage.blobs import BlobStore, BlobStoreUnavailable, open_blob_store


def _store() -> tuple[Settings, BlobStore]:
    try:
        settings = Settings()
    except ValidationError as exc:
        raise click.ClickException("; ".join(str(err.get("msg", err)) for err in exc.errors())) from None
    return settings, open_blob_store(settings)


@click.group()
def storage() -> None:
    """The blob store: a local folder, or the S3 bucket STUDIO_BLOB_URL names."""


@storage.command("check")
@click.option("--create-bucket", is_flag=True, help="Create the bucket (private) when it does not exist.")
def check(create_bucket: bool) -> None:
    """Round-trip a file through the store and make sure nobody without credentials can read it."""
    from storage.blobs.s3 import S3BlobStore

    _, blobs = _store()
    try:
        if create_bucket and isinstance(blobs, S3BlobStore) and blobs.ensure_bucket():
            click.echo(f"created bucket {blobs.bucket}")
        blobs.check()
        probe = blobs.put_bytes(b"persona-studio storage check\n")
        if blobs.read_bytes(probe) != b"persona-studio storage check\n":
            raise click.ClickException(f"{blobs.location} returned other bytes than were stored")
        blobs.delete(probe)
        findings = blobs.public_access() if isinstance(blobs, S3BlobStore) else []
    except BlobStoreUnavailable as exc:
        raise click.ClickException(f"{exc}\nCheck STUDIO_BLOB_URL, STUDIO_S3_ENDPOINT_URL and the AWS "
                                   "credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or ~/.aws).") from None
    if findings:
        raise click.ClickException(f"{blobs.location} is public: {'; '.join(findings)}. Remove the bucket policy "
                                   "or ACL that allows anonymous access.")
    click.echo(f"{blobs.location}: reachable, writes and reads back, not readable without credentials")


@storage.command("sweep")
@click.option("--grace-hours", type=float, default=None,
              help="Keep unreferenced blobs younger than this (default STUDIO_BLOB_ORPHAN_GRACE_HOURS).")
def sweep_command(grace_hours: float | None) -> None:
    """Remove expired export zips and blobs no row refers to (the workers also do this on a timer)."""
    from storage.db import Database
    from storage.housekeeping import sweep

    settings, blobs = _store()
    grace = timedelta(hours=settings.blob_orphan_grace_hours if grace_hours is None else grace_hours)
    database = Database(settings.resolved_database_url)
    try:
        report = sweep(database, blobs, grace=grace)
    except BlobStoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        database.dispose()
    click.echo(f"{blobs.location}: {report.summary()}")
