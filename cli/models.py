"""`studio models`: list, pull, verify, make-tiny and activate models in the store."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from core.errors import StudioError
from core.settings import Settings
from inference.models.registry import UnknownModel
from inference.models.store import ModelStore


def _store(models_dir: Path | None) -> ModelStore:
    if models_dir is not None:
        return ModelStore(models_dir)
    return ModelStore(Settings().resolved_models_dir)


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group()
@click.option("--models-dir", type=click.Path(path_type=Path), default=None,
              help="Model store directory (default: STUDIO_MODELS_DIR or <data dir>/models).")
@click.pass_context
def models(ctx: click.Context, models_dir: Path | None) -> None:
    """Model store: pinned revisions with checksums, one active per model."""
    ctx.obj = _store(models_dir)


@models.command("list")
@click.pass_obj
def list_models(store: ModelStore) -> None:
    """Every registry model, its licence and needs, and what is installed."""
    table = Table(title=f"models in {store.root}")
    for column in ("name", "role", "profile", "size", "licence", "min hardware", "active", "installed"):
        table.add_column(column, overflow="fold")
    for status in store.listing():
        spec = status.spec
        others = [rev[:12] for rev in status.revisions if rev != status.active]
        table.add_row(
            spec.name,
            spec.role,
            spec.profile or "",
            f"{spec.size_gb:g} GB",
            spec.licence,
            spec.min_hardware,
            (status.active or "-")[:12],
            ", ".join(others) or "",
        )
    Console().print(table)


@models.command()
@click.argument("name")
@click.option("--revision", default=None, help="Revision to pull instead of the registry's pinned one.")
@click.option("--no-activate", is_flag=True, help="Download and checksum only; keep the active revision.")
@click.pass_obj
def pull(store: ModelStore, name: str, revision: str | None, no_activate: bool) -> None:
    """Download NAME at its pinned revision (resumes an interrupted pull)."""
    try:
        resolved = store.pull(name, revision=revision, activate=not no_activate)
    except (StudioError, UnknownModel, ValueError) as exc:
        raise _fail(exc) from None
    state = "active" if store.active_revision(name) == resolved.revision else "installed, not active"
    click.echo(f"{name}@{resolved.revision} {state} at {resolved.path}")
    if resolved.revision != resolved.spec.revision:
        click.echo(f"pin it in inference/models/registry.toml: revision = \"{resolved.revision}\"")


@models.command()
@click.argument("name")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--revision", default=None, help="Revision name (default: the registry's).")
@click.option("--no-activate", is_flag=True, help="Install and checksum only; keep the active revision.")
@click.pass_obj
def install(store: ModelStore, name: str, folder: Path, revision: str | None, no_activate: bool) -> None:
    """Copy FOLDER into the store as model NAME (a model of your own, listed in <models dir>/registry.toml)."""
    try:
        spec = store.spec(name)
        resolved = store.install_copy(name, revision or spec.revision, folder, activate=not no_activate)
    except (StudioError, UnknownModel, ValueError, OSError) as exc:
        raise _fail(exc) from None
    click.echo(f"{name}@{resolved.revision} installed at {resolved.path}")


@models.command()
@click.argument("name", required=False)
@click.option("--revision", default=None, help="Revision to check (default: the active one).")
@click.pass_obj
def verify(store: ModelStore, name: str | None, revision: str | None) -> None:
    """Re-check checksums of NAME (or of every installed model)."""
    names = [name] if name else [s.spec.name for s in store.listing() if s.active]
    if not names:
        click.echo("no models installed")
        return
    failed = False
    for model in names:
        try:
            report = store.verify(model, revision)
        except (StudioError, UnknownModel, ValueError) as exc:
            raise _fail(exc) from None
        if report.ok:
            click.echo(f"ok      {model}@{report.revision} ({report.checked} files)")
            continue
        failed = True
        click.echo(f"FAILED  {model}@{report.revision}")
        for rel in report.missing:
            click.echo(f"  missing  {rel}")
        for rel in report.mismatched:
            click.echo(f"  changed  {rel}")
        click.echo(f"  fix: delete {store.revision_dir(model, report.revision)} and run "
                   f"`studio models pull {model}`")
    if failed:
        raise SystemExit(1)


@models.command("make-tiny")
@click.pass_obj
def make_tiny_command(store: ModelStore) -> None:
    """Write the random-weight tiny SD3 and tiny LTX for STUDIO_MODEL_PROFILE=tiny (offline, seconds)."""
    from inference.models.tiny import make_tiny
    from inference.models.tiny_video import make_tiny_video

    for resolved in (make_tiny(store), make_tiny_video(store)):
        click.echo(f"{resolved.key} active at {resolved.path}")


@models.command()
@click.argument("name")
@click.argument("revision", required=False)
@click.option("--rollback", is_flag=True, help="Re-activate the previously active revision.")
@click.pass_obj
def activate(store: ModelStore, name: str, revision: str | None, rollback: bool) -> None:
    """Make REVISION of NAME the one workers load (or --rollback to the previous one)."""
    try:
        if rollback:
            revision = store.rollback(name)
        elif revision is None:
            raise click.UsageError("give a REVISION or --rollback")
        else:
            store.activate(name, revision)
    except (StudioError, UnknownModel, ValueError) as exc:
        raise _fail(exc) from None
    click.echo(f"{name}@{revision} is active; restart workers (or let their cache expire) to load it")
