"""Random-weight models built locally for the ``tiny`` profile, written as real pipelines are."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from inference.models.registry import ModelSpec


class TinySource:
    """``source = "tiny"``: a seeded random-weight pipeline for the entry's role, saved with ``save_pretrained``."""

    resumable = False  # a build takes seconds and leaves nothing worth continuing

    def revision(self, spec: ModelSpec, requested: str) -> str:
        """The registry's revision: a build is fixed by the code, so there is nothing else to ask for."""
        return spec.revision

    def fetch(self, spec: ModelSpec, revision: str, into: Path) -> None:
        """Build the pipeline and save it into ``into`` (diffusers layout)."""
        build = builder(spec)
        build().save_pretrained(into)


def builder(spec: ModelSpec) -> Callable[[], Any]:
    """The function that builds ``spec``'s tiny pipeline; raises ``ValueError`` for a role none is made for."""
    # Imported here: the builders import the store, which imports this module.
    from inference.models.tiny import build_tiny_sd3_pipeline
    from inference.models.tiny_video import build_tiny_ltx_pipeline

    builders: dict[str, Callable[[], Any]] = {
        "text-to-image": build_tiny_sd3_pipeline,
        "image-to-video": build_tiny_ltx_pipeline,
    }
    if spec.source != "tiny" or spec.role not in builders:
        raise ValueError(f"{spec.name} is not a tiny model this studio can build "
                         f"(source {spec.source!r}, role {spec.role!r})")
    return builders[spec.role]
