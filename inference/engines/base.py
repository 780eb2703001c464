"""The engine contract every capability implements, and the progress callback engines report through."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


class Progress(Protocol):
    """Called by engines with a fraction in [0, 1] and a short stage text.

    It raises ``core.errors.JobCancelled`` when the owner cancelled the job, so an engine stops
    at its next report without any cancel logic of its own.
    """

    def __call__(self, fraction: float, stage: str) -> None: ...


def no_progress(fraction: float, stage: str) -> None:
    """A progress callback that ignores reports (benchmarks, scripts)."""


@runtime_checkable
class Engine(Protocol):
    """A loaded capability kept warm in the worker's engine cache."""

    name: str

    def check_inputs(self, spec: Any) -> None:
        """Raise ``ValueError`` naming the bad argument and its value."""

    def run(self, spec: Any, progress: Progress) -> Any:
        """Do the work and return a typed result."""

    def unload(self) -> None:
        """Release memory (GPU and host) held by the engine."""

    def memory_bytes(self) -> int:
        """Approximate memory the engine holds while loaded (for the cache budget)."""


def scaled(progress: Progress, start: float, end: float) -> Progress:
    """A callback mapping [0, 1] onto [start, end] of ``progress`` (for sub-steps of a job)."""

    def report(fraction: float, stage: str) -> None:
        progress(start + (end - start) * min(max(fraction, 0.0), 1.0), stage)

    return report
