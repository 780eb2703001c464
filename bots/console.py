"""The console front end (`studio chat`): the same assistant in a terminal, local file paths as uploads.

In a terminal the input line stays at the bottom, usable while results print above it and one live bar per job
in flight is redrawn between them (``console_terminal``); with piped input it reads lines and prints results.
Each console user reads the console stream in a consumer group of their own and shows only their own jobs, so
two users of one deployment never see each other's results.
"""

from __future__ import annotations

import getpass
import logging
import shlex
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from rich.console import Console

from bots.console_bars import LiveBars
from core.app import Studio
from core.delivery import GROUP, DeliveryConsumer, mark_delivered, receipt, superseded
from core.messages import Button, Incoming, Media, Reply, Upload
from core.outages import is_outage
from core.presenter import present
from core.progress import short_id, shorten
from core.recovery import Recovery
from storage.blobs import BlobNotFound

log = logging.getLogger(__name__)

PLATFORM = "console"
MAX_FILE_BYTES = 200 * 2**20
# How long one read of the delivery stream waits: also how long stopping waits for the delivery thread.
DELIVERY_BLOCK_MS = 250
GREETING = ("Persona Studio console. /help lists commands; file paths attach files; !N presses a button; "
            "Ctrl-D or Ctrl-C quits.")


def consumer_for(studio: Studio, user_id: str) -> DeliveryConsumer:
    """The console user's own reader of the console stream: a group per user, so every user sees every event
    of the stream and shows those of their own jobs (in a shared group each event would go to one of them)."""
    return DeliveryConsumer(studio.redis, platform=PLATFORM, consumer=f"console-{user_id}",
                            group=f"{GROUP}:console:{user_id}", start_id="$")


class ConsoleFrontend:
    """One terminal user talking to the assistant; results are saved under ``<data dir>/outbox``."""

    def __init__(self, studio: Studio, *, user_id: str | None = None, console: Console | None = None) -> None:
        self.studio = studio
        self.user_id = user_id or getpass.getuser()
        self.console = console or Console(highlight=False)
        self.outbox = studio.settings.resolved_data_dir / "outbox"
        self.outbox.mkdir(parents=True, exist_ok=True)
        self.consumer = consumer_for(studio, self.user_id)
        self._next_redelivery = 0.0
        self.bars = LiveBars()
        # The terminal redraws the bars when told; nothing to do without one.
        self.redraw: Callable[[], None] = lambda: None
        self.stopping = threading.Event()
        self._buttons: list[Button] = []
        self._lock = threading.Lock()
        self._delivery: threading.Thread | None = None

    # ---- input --------------------------------------------------------------------------------------

    def incoming(self, line: str) -> Incoming:
        """A message from a typed line; words that are paths of existing files become uploads."""
        words, uploads = [], []
        try:
            tokens = shlex.split(line)
        except ValueError:
            tokens = line.split()
        for token in tokens:
            path = Path(token).expanduser()
            if len(token) > 2 and path.is_file():
                if path.stat().st_size > MAX_FILE_BYTES:
                    self.say(f"{path.name}: larger than {MAX_FILE_BYTES // 2**20} MB; skipped.")
                    continue
                uploads.append(Upload(data=path.read_bytes(), filename=path.name, kind="document"))
            else:
                words.append(token)
        text = line if not uploads else " ".join(words)
        return Incoming(platform=PLATFORM, user_id=self.user_id, chat_id=self.user_id, text=text,
                        display_name=self.user_id, uploads=tuple(uploads))

    def feed(self, line: str) -> list[Reply]:
        """Handle one typed line (``!N`` presses button N of the last message) and print the replies."""
        line = line.strip()
        if not line:
            return []
        msg = self.incoming(line)
        if line.startswith("!") and line[1:].isdigit():
            index = int(line[1:]) - 1
            if not 0 <= index < len(self._buttons):
                self.say("No such button.")
                return []
            replies = self.studio.assistant.press(msg, self._buttons[index].action)
        else:
            replies = self.studio.assistant.handle(msg)
        for reply in replies:
            self._show(reply)
        return replies

    # ---- output -------------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """Print ``text`` above the input line (chat text, never read as markup)."""
        with self._lock:
            self.console.print(text, highlight=False, markup=False, emoji=False)

    def _show(self, reply: Reply) -> None:
        if reply.text:
            self.say(reply.text)
        for media in reply.media:
            target = self.outbox / Path(media.filename).name
            try:
                self.studio.blobs.copy_to(media.blob, target)
            except BlobNotFound:  # reported once by the store; the rest of the reply still shows
                self.say(f"  {media.filename} could not be saved: its file is missing from storage.")
                continue
            caption = f" — {media.caption}" if media.caption else ""
            self.say(f"  saved {media.kind}{_details(media)}: {target}{caption}")
        if reply.buttons:
            self._buttons = list(reply.buttons)
            self.say("  " + " ".join(f"[!{i + 1}] {b.label}" for i, b in enumerate(reply.buttons)))
        if reply.job_id:
            self.studio.assistant.attach_status_message(reply.job_id, f"console:{reply.job_id}")
            # The second line of a status message names the work ("echo “hi”"); the first is the state.
            lines = reply.text.splitlines()
            self.bars.start(reply.job_id, shorten(lines[1] if len(lines) > 1 else lines[0], 60))
            self.redraw()

    def pump(self, *, block_ms: int = 500) -> int:
        """Read and show pending delivery events, acknowledging each once shown; returns how many."""
        self._redeliver_lost()
        events = self.consumer.read(block_ms=block_ms)
        stale = superseded(events)
        db = self.studio.db
        for event in events:
            if event.event_id not in stale:
                shown = present(db, event)
                # The stream carries every console user's events: another user's are acknowledged unseen.
                if shown is not None and str(shown.chat.get("user_id")) == self.user_id:
                    seen = receipt(db, event.job_id)
                    if seen is None or not seen.makes_stale(event):
                        self._on_event(event.job_id, event.status, event.progress, event.stage, shown.status_text,
                                       shown.results, kind=str(event.extra.get("kind", "")))
                        if event.is_final:
                            mark_delivered(db, event.job_id)
            self.consumer.ack(event)
        return len(events)

    def _redeliver_lost(self) -> None:
        # A final event lost with Redis is published again from the database (one sweep per interval for all
        # console users; Recovery keeps it cheap), so a result shows late rather than never.
        now = time.monotonic()
        if now < self._next_redelivery:
            return
        self._next_redelivery = now + self.studio.settings.delivery_redeliver_interval_s
        try:
            Recovery(self.studio.jobs).redeliver_lost(PLATFORM)
        except Exception as exc:  # an outage: the next sweep tries again
            if not is_outage(exc):
                raise
            log.warning("redelivery sweep skipped: %s", exc)

    def _on_event(self, job_id: str, status: str, fraction: float, stage: str, text: str,
                  results: list[Reply], *, kind: str = "") -> None:
        if status in ("running", "queued"):
            self.bars.update(job_id, status=status, fraction=fraction, stage=stage, kind=kind)
            self.redraw()
            return
        # A finished job's bar gives way to its final line and results.
        self.bars.finish(job_id)
        self.say(text)
        for reply in results:
            self._show(reply)
        self.redraw()

    # ---- loop ---------------------------------------------------------------------------------------

    def start_delivery(self) -> None:
        """Show delivery events on a thread of their own until ``stop``."""
        def deliver() -> None:
            while not self.stopping.is_set():
                try:
                    self.pump(block_ms=DELIVERY_BLOCK_MS)
                except Exception:  # the event stays pending and is shown on a later read; the log says why
                    log.exception("showing delivery events failed; retrying")
                    self.stopping.wait(1.0)

        self._delivery = threading.Thread(target=deliver, name="console-delivery", daemon=True)
        self._delivery.start()

    def stop(self) -> None:
        """Say so and stop reading events (within one read's wait)."""
        if not self.stopping.is_set():
            self.stopping.set()
            self.say("stopping…")
            waiting = self.bars.job_ids()
            if waiting:
                shown = ", ".join(f"#{short_id(job_id)}" for job_id in waiting)
                self.say(f"Not finished: {shown}. A job carries on (or starts again when the studio does) and its "
                         "result shows the next time you open the console.")
        if self._delivery is not None:
            self._delivery.join(timeout=DELIVERY_BLOCK_MS / 1000 + 1.0)

    def run(self, stdin: TextIO) -> None:
        """The chat until Ctrl-D, Ctrl-C or "quit": in a terminal with the live screen, else line by line."""
        from bots.console_terminal import interactive, run_terminal

        self.start_delivery()
        try:
            if interactive(stdin):
                run_terminal(self)
            else:
                self.say(GREETING)
                for line in stdin:
                    if line.strip() in ("quit", "exit", "/quit", "/exit"):
                        break
                    self.feed(line)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()


def _details(media: Media) -> str:
    """" (4 s, 768×512)" for a video, so its length and shape show without opening it; "" when unknown."""
    if media.kind != "video":
        return ""
    parts = []
    if media.duration_s:
        parts.append(f"{round(media.duration_s, 1):g} s")
    if media.width and media.height:
        parts.append(f"{media.width}×{media.height}")
    return f" ({', '.join(parts)})" if parts else ""
