"""The model registry: typed entries read from ``registry.toml`` (the one file that lists every model)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

REGISTRY_FILE = Path(__file__).with_name("registry.toml")
SOURCES = ("hf", "url", "tiny", "local")
# "local": a model of the operator's own, copied in with `studio models install` (nothing to download).
Source = Literal["hf", "url", "tiny", "local"]
# Models of the operator's own are listed in this file in the model store, beside the shipped registry.
LOCAL_REGISTRY = "registry.toml"


class UnknownModel(KeyError):
    """No registry entry has that name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown model"


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry: where a model comes from, what it is for and what it needs."""

    name: str
    title: str
    source: Source
    repo: str
    revision: str
    files: tuple[str, ...]
    licence: str
    size_gb: float
    role: str
    min_hardware: str
    gated: bool = False
    url: str = ""
    # sha256 of the file at ``url``: a changed or tampered archive is refused before anything is unpacked.
    sha256: str = ""
    variant: str | None = None
    # A diffusers pipeline class, or "custom": the model's folder carries its own ``pipeline.py``.
    pipeline: str = ""
    profile: str | None = None
    min_vram_gb: float = 0.0
    full_vram_gb: float = 0.0
    default_steps: int = 28
    max_steps: int = 80
    default_guidance: float = 7.0
    supports_lora: bool = False
    native_side: int = 0  # longest side the model was trained for (video models; 0 where it does not apply)

    @property
    def is_sd3(self) -> bool:
        """Whether the model loads as ``StableDiffusion3Pipeline`` (three text encoders, LoRA on the transformer)."""
        return self.pipeline == "StableDiffusion3Pipeline"


_REQUIRED = ("source", "revision", "licence", "size_gb", "role", "min_hardware")


def _entry(name: str, raw: Mapping[str, Any]) -> ModelSpec:
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise ValueError(f"registry entry {name!r} lacks {', '.join(missing)}")
    source = raw["source"]
    if source not in SOURCES:
        raise ValueError(f"registry entry {name!r}: source must be one of {', '.join(SOURCES)}, got {source!r}")
    if source == "hf" and not raw.get("repo"):
        raise ValueError(f"registry entry {name!r}: source 'hf' needs a repo")
    if source == "url" and not raw.get("url"):
        raise ValueError(f"registry entry {name!r}: source 'url' needs a url")
    if raw.get("pipeline") == "custom" and source != "local":
        # Its pipeline.py would run as code: only for a model the operator copied in themselves.
        raise ValueError(f"registry entry {name!r}: pipeline 'custom' is only for source 'local'")
    known = set(ModelSpec.__dataclass_fields__) - {"name"}
    unknown = set(raw) - known
    if unknown:
        # A misspelt key would silently fall back to a default; refuse it instead.
        raise ValueError(f"registry entry {name!r}: unknown keys {', '.join(sorted(unknown))}")
    values = dict(raw)
    values["files"] = tuple(values.get("files", ()))
    values.setdefault("title", name)
    values.setdefault("repo", "")
    return ModelSpec(name=name, **values)


def parse_registry(text: str) -> dict[str, ModelSpec]:
    """Registry entries by name, parsed and checked from TOML text; raises ``ValueError`` on a bad entry."""
    data = tomllib.loads(text)
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise ValueError("the registry has no [models.<name>] tables")
    return {name: _entry(name, raw) for name, raw in models.items()}


def load_registry(path: Path = REGISTRY_FILE, *, local: Path | None = None) -> dict[str, ModelSpec]:
    """Registry entries by name from ``path`` (the shipped ``registry.toml`` by default), plus the operator's own
    from ``local`` where that file exists; a name may not stand in both."""
    entries = parse_registry(path.read_text(encoding="utf-8"))
    if local is not None and local.is_file():
        own = parse_registry(local.read_text(encoding="utf-8"))
        clash = sorted(entries.keys() & own.keys())
        if clash:
            raise ValueError(f"{local} names shipped models again ({', '.join(clash)}); pick other names")
        entries.update(own)
    return entries


def get_spec(name: str, registry: Mapping[str, ModelSpec] | None = None) -> ModelSpec:
    """The registry entry ``name``; raises ``UnknownModel`` listing the names there are."""
    entries = registry if registry is not None else load_registry()
    try:
        return entries[name]
    except KeyError:
        raise UnknownModel(f"no model {name!r} in the registry; known: {', '.join(sorted(entries))}") from None


def image_model_for_profile(profile: str, registry: Mapping[str, ModelSpec] | None = None) -> ModelSpec:
    """The text-to-image model a ``STUDIO_MODEL_PROFILE`` uses (``full`` → SD3 Medium, ``tiny`` → tiny SD3)."""
    entries = registry if registry is not None else load_registry()
    for spec in entries.values():
        if spec.role == "text-to-image" and spec.profile == profile:
            return spec
    raise UnknownModel(f"no text-to-image model in the registry for profile {profile!r}")


def video_model_for_profile(profile: str, registry: Mapping[str, ModelSpec] | None = None) -> ModelSpec | None:
    """The image-to-video model a ``STUDIO_MODEL_PROFILE`` uses, or None where the profile has none (``cpu``)."""
    entries = registry if registry is not None else load_registry()
    for spec in entries.values():
        if spec.role == "image-to-video" and spec.profile == profile:
            return spec
    return None
