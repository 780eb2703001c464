"""What every model source provides: the exact revision a request names, and that revision's files."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from core.errors import NotAvailable
from inference.models.registry import ModelSpec


class PullFailed(NotAvailable):
    """A model could not be fetched; the message says what to run or accept."""


class ModelSource(Protocol):
    """Where a registry entry's files come from (``source`` in ``registry.toml``).

    The store asks for the exact revision first (its directory is named after it, and a revision already on
    disk is not fetched again), then has the files written into a working directory it checksums and renames
    into place.
    """

    # Whether a failed fetch leaves files the next fetch continues from: the store then keeps the working
    # directory (``.partial/<revision>``) between pulls instead of starting a fresh one each time.
    resumable: bool

    def revision(self, spec: ModelSpec, requested: str) -> str:
        """The exact revision ``requested`` names (a branch becomes its commit); raises ``PullFailed``."""
        ...

    def fetch(self, spec: ModelSpec, revision: str, into: Path) -> None:
        """Write the model's files at ``revision`` into ``into``; raises ``PullFailed`` saying what to do.

        Anything kept under ``into/.cache`` (resume state, a download) is left out of the model.
        """
        ...
