"""`studio` command line: up, chat, telegram, discord, web, worker, db, models, provenance."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from core.settings import Settings


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        messages = "; ".join(str(err.get("msg", err)) for err in exc.errors())
        raise click.ClickException(messages) from None


def _exit_on_hangup_and_term() -> None:
    """Turn SIGTERM and SIGHUP (a closed terminal) into a normal exit, so cleanup runs: children are stopped
    and an embedded Redis is shut down instead of being left running."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGHUP, leave)


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group()
@click.option("--log-level", default=os.environ.get("STUDIO_LOG_LEVEL", "WARNING"), show_default=True)
def cli(log_level: str) -> None:
    """Persona Studio: AI persona images, videos and exports over chat."""
    _logging(log_level)


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations up to the newest schema."""
    from storage.db import Database
    from storage.migrate import upgrade

    settings = _settings()
    database = Database(settings.resolved_database_url)
    upgrade(database.engine)
    click.echo(f"database at {database.engine.url.render_as_string(hide_password=True)} is up to date")


@cli.command()
@click.option("--queues", default="gpu,cpu", show_default=True, help="Comma-separated queues, in priority order.")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--name", default=None, help="Worker name (unique per host).")
def worker(queues: str, burst: bool, name: str | None) -> None:
    """Run a worker that keeps engines warm and never forks per job."""
    from core import queue as studio_queue
    from inference.runtime import WorkerResources
    from inference.worker import run_worker

    settings = _settings()
    names = [q.strip() for q in queues.split(",") if q.strip()]
    for q in names:
        if q not in studio_queue.QUEUES:
            raise click.BadParameter(f"unknown queue {q!r}; use {', '.join(studio_queue.QUEUES)}")
    resources = WorkerResources.from_settings(settings, redis=studio_queue.connect(settings))
    run_worker(resources, queue_names=names, burst=burst, name=name)


@cli.command()
@click.option("--user", default=None, help="Console user name (defaults to your login).")
def chat(user: str | None) -> None:
    """Chat with the assistant in this terminal (a worker must be running: see `studio up`)."""
    from bots.console import ConsoleFrontend
    from core.app import Studio

    _exit_on_hangup_and_term()
    studio = Studio.build(_settings())
    from rq import Worker

    if not Worker.all(connection=studio.redis):
        click.echo("No worker is running: jobs will wait until one starts (`studio worker`), "
                   "or use `studio up` to run everything.", err=True)
    try:
        ConsoleFrontend(studio, user_id=user).run(sys.stdin)
    finally:
        studio.close()


@cli.command()
def web() -> None:
    """Serve the export download page."""
    import uvicorn

    from bots.web.app import create_app

    settings = _settings()
    uvicorn.run(create_app(settings), host=settings.web_host, port=settings.web_port, log_level="warning")


@cli.command()
def telegram() -> None:
    """Run the Telegram bot (STUDIO_TELEGRAM_TOKEN)."""
    from bots.telegram_bot import run_telegram

    settings = _settings()
    if not settings.telegram_token:
        raise click.ClickException("set STUDIO_TELEGRAM_TOKEN to the token from @BotFather")
    run_telegram(settings)


@cli.command()
def discord() -> None:
    """Run the Discord bot (STUDIO_DISCORD_TOKEN)."""
    import discord as discord_lib

    from bots.discord_bot import run_discord

    settings = _settings()
    if not settings.discord_token:
        raise click.ClickException("set STUDIO_DISCORD_TOKEN to the bot token from the Discord developer portal "
                                   "(your application → Bot → Reset Token)")
    try:
        run_discord(settings)
    except discord_lib.LoginFailure:
        raise click.ClickException("Discord refused STUDIO_DISCORD_TOKEN; copy the bot token again from the "
                                   "developer portal") from None
    except discord_lib.PrivilegedIntentsRequired:
        raise click.ClickException("turn on the Message Content intent for the bot in the Discord developer "
                                   "portal (your application → Bot → Privileged Gateway Intents)") from None


@cli.command()
@click.option("--no-web", is_flag=True, help="Do not start the web page.")
@click.option("--user", default=None, help="Console user name when no bot token is set.")
def up(no_web: bool, user: str | None) -> None:
    """Everything in one process group: migrations, embedded services, a worker, the web page and a front end."""
    from core import queue as studio_queue
    from storage.db import Database
    from storage.migrate import upgrade

    settings = _settings()
    _exit_on_hangup_and_term()
    click.echo(f"data in {settings.resolved_data_dir} · model profile {settings.model_profile}")
    database = Database(settings.resolved_database_url)
    upgrade(database.engine)
    database.dispose()
    env = dict(os.environ)
    # Children reach the embedded Redis (if any) through its socket; it lives as long as this process.
    env["STUDIO_REDIS_URL"] = studio_queue.redis_url(settings)
    env["STUDIO_DATA_DIR"] = str(settings.resolved_data_dir)
    children: list[tuple[str, subprocess.Popen[Any]]] = []

    def spawn(label: str, *args: str) -> None:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", *args], env=env,
                                stdin=subprocess.DEVNULL, start_new_session=False)
        children.append((label, proc))

    spawn("worker", "worker", "--queues", "gpu,cpu")
    if not no_web:
        spawn("web", "web")
        click.echo(f"web page on http://{settings.web_host}:{settings.web_port}")
    bots = []
    if settings.telegram_token:
        spawn("telegram", "telegram")
        bots.append("telegram")
    if settings.discord_token:
        spawn("discord", "discord")
        bots.append("discord")
    try:
        if bots:
            click.echo(f"running {', '.join(bots)}; Ctrl-C stops everything")
            while all(proc.poll() is None for _, proc in children):
                time.sleep(1)
            dead = [label for label, proc in children if proc.poll() is not None]
            raise click.ClickException(f"{', '.join(dead)} stopped; shutting down")
        from bots.console import ConsoleFrontend
        from core.app import Studio

        # The same settings reach the embedded Redis started above (one per data dir and process).
        studio = Studio.build(settings, migrate=False)
        try:
            ConsoleFrontend(studio, user_id=user).run(sys.stdin)
        finally:
            studio.close()
    except KeyboardInterrupt:
        pass
    finally:
        # Children first (they are the embedded Redis's other clients), then the embedded Redis itself.
        _stop(children)
        studio_queue.shutdown_embedded()


@cli.group()
def provenance() -> None:
    """Content Credentials, AI labels and watermarks: the signing key, and checking a file."""


def _needs_inference() -> None:
    try:
        import c2pa  # noqa: F401
        import cv2  # noqa: F401
    except ImportError:
        raise click.ClickException("this command needs the worker packages: pip install "
                                   "'persona-studio[inference]'") from None


@provenance.command("status")
def provenance_status() -> None:
    """Which certificate signs Content Credentials, and what validators elsewhere will make of it."""
    _needs_inference()
    import c2pa

    from core.errors import NotAvailable
    from inference.provenance import watermark
    from inference.provenance.credentials import studio_version
    from inference.provenance.keys import load_keys

    settings = _settings()
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
    _needs_inference()
    import json

    from inference.provenance.verify import verify
    from storage.db import Database

    settings = _settings()
    database = Database(settings.resolved_database_url)
    try:
        report = verify(file, settings=settings, db=database)
    finally:
        database.dispose()
    click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False) if as_json else report.answer())
    if not report.supported:
        sys.exit(1)


def _stop(children: list[tuple[str, subprocess.Popen[Any]]]) -> None:
    for _, proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for _, proc in children:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


def _add_optional_groups() -> None:
    try:
        from cli.models import models
    except ImportError:  # the models group needs the inference extra
        return
    cli.add_command(models)


_add_optional_groups()


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
