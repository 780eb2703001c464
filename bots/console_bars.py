"""The console's live progress bars: one per job in flight, drawn above the input line, gone when the job ends."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from core.jobkinds import label as kind_label
from core.progress import short_id, shorten

BAR_CELLS = 20


@dataclass
class _Bar:
    label: str
    fraction: float = 0.0
    stage: str = "queued"
    status: str = "queued"


class LiveBars:
    """What each job in flight shows; safe to update from the delivery thread while the screen reads it."""

    def __init__(self) -> None:
        self._bars: dict[str, _Bar] = {}
        self._lock = threading.Lock()

    def start(self, job_id: str, label: str) -> None:
        """A job was accepted: its bar appears, labelled with what it makes."""
        with self._lock:
            self._bars.setdefault(job_id, _Bar(label=label))

    def update(self, job_id: str, *, status: str, fraction: float, stage: str, kind: str = "") -> None:
        """A progress event; a job this console did not start (an earlier run's) gets a bar too."""
        with self._lock:
            bar = self._bars.setdefault(job_id, _Bar(label=kind_label(kind) if kind else "job"))
            bar.status, bar.fraction, bar.stage = status, min(max(fraction, 0.0), 1.0), stage

    def finish(self, job_id: str) -> bool:
        """The job ended: its bar goes (its final line is printed instead); whether it had one."""
        with self._lock:
            return self._bars.pop(job_id, None) is not None

    def job_ids(self) -> list[str]:
        """The jobs with a bar, oldest first."""
        with self._lock:
            return list(self._bars)

    def __len__(self) -> int:
        with self._lock:
            return len(self._bars)

    def lines(self, width: int) -> list[str]:
        """One line per job, oldest first, each at most ``width`` characters (a wrapped bar would be torn)."""
        with self._lock:
            bars = list(self._bars.items())
        return [_line(job_id, bar, width) for job_id, bar in bars]


def _line(job_id: str, bar: _Bar, width: int) -> str:
    filled = round(bar.fraction * BAR_CELLS)
    meter = "━" * filled + "─" * (BAR_CELLS - filled)
    if bar.status == "queued":
        state = "queued"
    else:
        state = f"{meter} {round(bar.fraction * 100):>3}%" + (f" · {bar.stage}" if bar.stage else "")
    tail = f" · #{short_id(job_id)}"
    head = shorten(bar.label, max(12, min(40, width // 3)))
    return shorten(f"{head} {state}", max(10, width - len(tail))) + tail
