"""`studio` command line: up, chat, telegram, discord, web, worker, db, storage, models, provenance."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
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


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# `studio up` runs one worker per queue. A single worker on "gpu,cpu" always takes GPU work first, so a persona
# analysis or an export waited behind every image job queued before it; with a worker of its own the CPU queue
# never waits for GPU work (priorities would still leave it behind the job in flight, minutes for a LoRA).
# STUDIO_MAX_RUNNING_JOBS holds across both: a worker starts a job only after counting its owner's running
# jobs under a lock on the owner's row.
UP_WORKERS = (("worker-gpu", "gpu"), ("worker-cpu", "cpu"))


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)


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
    from inference.resources import WorkerResources
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
    from core.app import Studio

    _exit_on_hangup_and_term()
    settings = _settings()
    studio = Studio.build(settings)
    from rq import Worker

    if not Worker.all(connection=studio.redis):
        click.echo("No worker is running: jobs will wait until one starts (`studio worker`), "
                   "or use `studio up` to run everything.", err=True)
    try:
        _console(studio, user)
    finally:
        studio.close()


def _console(studio: Any, user: str | None) -> None:
    """The console chat until the user leaves; log lines go to ``<data dir>/logs/console.log``, never into the
    chat."""
    from bots.console import ConsoleFrontend

    logs = _logs_dir(studio.settings)
    with _log_to(logs / "console.log"):
        ConsoleFrontend(studio, user_id=user).run(sys.stdin)


def _logs_dir(settings: Settings) -> Path:
    logs = settings.resolved_data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """Send this process's log records and stray stderr output (warnings, a thread's traceback) to ``path``."""
    root = logging.getLogger()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    previous = list(root.handlers)
    for old in previous:
        root.removeHandler(old)
    root.addHandler(handler)
    logging.captureWarnings(True)
    stderr = sys.stderr
    with path.open("a", encoding="utf-8", buffering=1) as sink:
        sys.stderr = sink
        try:
            yield
        finally:
            sys.stderr = stderr
            logging.captureWarnings(False)
            root.removeHandler(handler)
            handler.close()
            for old in previous:
                root.addHandler(old)


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
    # With the console in this terminal, the children's output would land in the chat: it goes to log files.
    console = not (settings.telegram_token or settings.discord_token)
    logs = _logs_dir(settings)

    def spawn(label: str, *args: str) -> None:
        children.append((label, _spawn(list(args), env=env, log_path=logs / f"{label}.log" if console else None)))

    for label, queues in UP_WORKERS:
        spawn(label, "worker", "--queues", queues)
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
        from core.app import Studio

        click.echo(f"logs in {logs}")
        # The same settings reach the embedded Redis started above (one per data dir and process).
        studio = Studio.build(settings, migrate=False)
        try:
            _console(studio, user)
        finally:
            studio.close()
    except KeyboardInterrupt:
        click.echo("stopping…")
    finally:
        # Children first (they are the embedded Redis's other clients), then the embedded Redis itself.
        _stop(children)
        studio_queue.shutdown_embedded()


# A stopped child gets this long to finish (a worker hands its job back to the queue) before it is killed, so
# `studio up` is gone within about 3 s when idle and 5 s with a job running.
STOP_GRACE_S = 3.0


def _spawn(args: list[str], *, env: dict[str, str], log_path: Path | None) -> subprocess.Popen[Any]:
    """A child process in a process group of its own: a terminal's Ctrl-C reaches `studio up` alone, which stops
    the children in order. Its output goes to ``log_path`` when the console chat owns the terminal."""
    output = log_path.open("ab") if log_path is not None else None
    try:
        return subprocess.Popen([sys.executable, "-m", "cli.main", *args], env=env, stdin=subprocess.DEVNULL,
                                stdout=output, stderr=subprocess.STDOUT if output else None,
                                process_group=0, preexec_fn=_die_with_parent)
    finally:
        if output is not None:
            output.close()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when `studio up` dies, even by SIGKILL, so no child outlives it (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop(children: list[tuple[str, subprocess.Popen[Any]]]) -> None:
    for _, proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for _, proc in children:
        try:
            proc.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _add_optional_groups() -> None:
    from cli.storage import storage

    cli.add_command(storage)
    try:
        from cli.models import models
        from cli.provenance import provenance
    except ImportError:  # these groups need the inference extra
        return
    cli.add_command(models)
    cli.add_command(provenance)


_add_optional_groups()


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
