"""Models of the operator's own: nothing to download, the files are copied in by hand."""

from __future__ import annotations

from pathlib import Path

from inference.models.registry import ModelSpec
from inference.models.sources.base import PullFailed


class LocalSource:
    """``source = "local"``: the revision is the registry's; the files come from `studio models install`."""

    resumable = False

    def revision(self, spec: ModelSpec, requested: str) -> str:
        """The registry's revision (or the one asked for): a local model has no other."""
        return requested or spec.revision

    def fetch(self, spec: ModelSpec, revision: str, into: Path) -> None:
        """Nothing can be fetched: say how to put the files in place."""
        raise PullFailed(f"{spec.name} is a model of your own: copy its folder into the store with "
                         f"`studio models install {spec.name} <folder>`.")
