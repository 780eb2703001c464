"""Where models come from: the Hugging Face Hub, a URL archive, or a local tiny build, behind one protocol."""

from __future__ import annotations

from collections.abc import Mapping

from inference.models.registry import ModelSpec
from inference.models.sources.archive import UrlArchiveSource
from inference.models.sources.base import ModelSource, PullFailed
from inference.models.sources.hub import HubSource
from inference.models.sources.local import LocalSource
from inference.models.sources.tiny import TinySource

# One per registry ``source`` value (see registry.SOURCES).
DEFAULT_SOURCES: Mapping[str, ModelSource] = {"hf": HubSource(), "url": UrlArchiveSource(), "tiny": TinySource(),
                                              "local": LocalSource()}


def source_for(spec: ModelSpec, sources: Mapping[str, ModelSource] = DEFAULT_SOURCES) -> ModelSource:
    """The source that fetches ``spec``."""
    return sources[spec.source]


__all__ = ["DEFAULT_SOURCES", "HubSource", "LocalSource", "ModelSource", "PullFailed", "TinySource", "UrlArchiveSource",
           "source_for"]
