"""`studio provenance`: which certificate signs Content Credentials, and what a file carries."""

from __future__ import annotations

import sys
from pathlib import Path

import c2pa
import click

from core.settings import Settings


@click.group()
def provenance() -> None:
    """Content Credentials, AI labels and watermarks: the signing key, and checking a file."""


@provenance.command("status")
def provenance_status() -> None:
    """Which certificate signs Content Credentials, and what validators elsewhere will make of it."""

    from core.errors import NotAvailable
    from inference.provenance import watermark
    from inference.provenance.credentials import studio_version
    from inference.provenance.keys import load_keys

    settings = Settings()
    try:
        keys = load_keys(settings)
    except NotAvailable as exc:
        raise click.ClickException(str(exc)) from None
    leaf = keys.certificate
    click.echo(f"signing certificate: {leaf.subject.rfc4514_string()}")
    click.echo(f"  issued by:   {leaf.issuer.rfc4514_string()}")
    click.echo(f"  valid:       {leaf.not_valid_before_utc:%Y-%m-%d} to {leaf.not_valid_after_utc:%Y-%m-%d}")
    click.echo(f"  SHA-256:     {keys.fingerprint}")
    click.echo(f"  algorithm:   {keys.alg}; keys: {keys.where}")
    if keys.local:
        click.echo("  note: a local certificate made by this installation. Validators elsewhere (Content "
                   "Credentials Verify, the platforms) show files signed with it as signed by an untrusted "
                   "certificate until STUDIO_C2PA_CERT and STUDIO_C2PA_KEY name a chain from a CA they trust.")
    click.echo(f"claim generator: persona-studio {studio_version()} (c2pa-python {c2pa.__version__}, "
               f"{c2pa.sdk_version()})")
    click.echo(f"watermark: {watermark.VERSION}, the first 8 hex digits of the asset id with a CRC-16 and a "
               "rate-1/2 convolutional code, in the brightness of every image and video frame")


@provenance.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
def provenance_verify(file: Path, as_json: bool) -> None:
    """What FILE carries: Content Credentials, the IPTC AI label and a Persona Studio watermark."""
    import json

    from inference.provenance.verify import verify
    from storage.db import Database

    settings = Settings()
    database = Database(settings.resolved_database_url)
    try:
        report = verify(file, settings=settings, db=database)
    finally:
        database.dispose()
    click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) if as_json else report.answer())
    if not report.supported:
        sys.exit(1)
