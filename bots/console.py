"""The console front end (`studio chat`): the same assistant in a terminal, local file paths as uploads."""

from __future__ import annotations

import getpass
import shlex
import threading
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from core.app import Studio
from core.delivery import DeliveryConsumer, superseded
from core.messages import Button, Incoming, Media, Reply, Upload
from core.presenter import present
from storage.blobs import BlobNotFound

PLATFORM = "console"
MAX_FILE_BYTES = 200 * 2**20


class ConsoleFrontend:
    """One terminal user talking to the assistant; results are saved under ``<data dir>/outbox``."""

    def __init__(self, studio: Studio, *, user_id: str | None = None, console: Console | None = None) -> None:
        self.studio = studio
        self.user_id = user_id or getpass.getuser()
        self.console = console or Console()
        self.outbox = studio.settings.resolved_data_dir / "outbox"
        self.outbox.mkdir(parents=True, exist_ok=True)
        self.consumer = DeliveryConsumer(studio.redis, platform=PLATFORM, consumer=f"console-{self.user_id}")
        self.progress = Progress(
            TextColumn("{task.fields[label]}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[stage]}"), console=self.console, transient=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self._buttons: list[Button] = []
        self._lock = threading.Lock()

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
                    self.console.print(f"{path.name}: larger than {MAX_FILE_BYTES // 2**20} MB; skipped.")
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
                self.console.print("No such button.")
                return []
            replies = self.studio.assistant.press(msg, self._buttons[index].action)
        else:
            replies = self.studio.assistant.handle(msg)
        for reply in replies:
            self._show(reply)
        return replies

    # ---- output -------------------------------------------------------------------------------------

    def _show(self, reply: Reply) -> None:
        with self._lock:
            if reply.text:
                self.console.print(reply.text, highlight=False)
            for media in reply.media:
                target = self.outbox / Path(media.filename).name
                try:
                    self.studio.blobs.copy_to(media.blob, target)
                except BlobNotFound:  # reported once by the store; the rest of the reply still shows
                    self.console.print(f"  {media.filename} could not be saved: its file is missing from storage.",
                                       highlight=False)
                    continue
                caption = f" — {media.caption}" if media.caption else ""
                self.console.print(f"  saved {media.kind}{_details(media)}: {target}{caption}", highlight=False)
            if reply.buttons:
                self._buttons = list(reply.buttons)
                self.console.print("  " + "  ".join(f"[!{i + 1}] {b.label}" for i, b in enumerate(reply.buttons)),
                                   highlight=False, markup=False)
            if reply.job_id:
                self.studio.assistant.attach_status_message(reply.job_id, f"console:{reply.job_id}")
                # The second line of a status message names the work ("echo “hi”"); the first is the state.
                lines = reply.text.splitlines()
                label = (lines[1] if len(lines) > 1 else reply.job_id)[:40]
                self._tasks[reply.job_id] = self.progress.add_task("", total=1.0, label=label, stage="queued")
                self.progress.start()

    def pump(self, *, block_ms: int = 500) -> int:
        """Read and show pending delivery events, acknowledging each once shown; returns how many."""
        events = self.consumer.read(block_ms=block_ms)
        stale = superseded(events)
        for event in events:
            if event.event_id not in stale:
                shown = present(self.studio.db, event)
                if shown is not None:
                    self._on_event(event.job_id, event.status, event.progress, event.stage, shown.status_text,
                                   shown.results)
            self.consumer.ack(event)
        return len(events)

    def _on_event(self, job_id: str, status: str, fraction: float, stage: str, text: str,
                  results: list[Reply]) -> None:
        task = self._tasks.get(job_id)
        if status in ("running", "queued"):
            if task is None:
                task = self._tasks[job_id] = self.progress.add_task("", total=1.0, label=job_id, stage="")
                self.progress.start()
            self.progress.update(task, completed=fraction, stage=stage or status)
            return
        if task is not None:
            self.progress.remove_task(task)
            del self._tasks[job_id]
            if not self._tasks:
                self.progress.stop()
        self.console.print(text, highlight=False)
        for reply in results:
            self._show(reply)

    # ---- loop ---------------------------------------------------------------------------------------

    def run(self, stdin: TextIO) -> None:
        """Interactive loop: a thread shows delivery events while the main thread reads lines."""
        stop = threading.Event()

        def deliver() -> None:
            while not stop.is_set():
                try:
                    self.pump(block_ms=500)
                except Exception:  # keep the chat alive; the event stays pending and is retried
                    self.console.print_exception(max_frames=1)
                    stop.wait(1.0)

        thread = threading.Thread(target=deliver, name="console-delivery", daemon=True)
        thread.start()
        self.console.print("Persona Studio console. /help lists commands; file paths attach files; "
                           "!N presses a button; Ctrl-D quits.", highlight=False)
        try:
            for line in stdin:
                if line.strip() in ("quit", "exit", "/quit", "/exit"):
                    break
                self.feed(line)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            thread.join(timeout=2)
            self.progress.stop()


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
