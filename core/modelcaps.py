"""What the models of a profile accept, read from the model registry as data.

Options are checked against the model that will run them before a job is queued (``--steps 100`` on a model
that takes 50 is refused in the chat, not failed by the worker a minute later). The registry
(``inference/models/registry.toml``) stays the one place the limits are written; core reads the file and never
imports the worker package.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import UsageError

REGISTRY_FILE = Path(__file__).resolve().parent.parent / "inference" / "models" / "registry.toml"


@dataclass(frozen=True)
class ModelCaps:
    """One model's limits as the chat needs them."""

    name: str
    title: str
    default_steps: int
    max_steps: int
    guidance: float

    @property
    def short_title(self) -> str:
        """The title up to its first bracket ("Stable Diffusion 3 Medium")."""
        return self.title.split(" (")[0]


@functools.cache
def _entries(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}  # an install without the registry file: the worker still checks every option
    models = data.get("models")
    return models if isinstance(models, dict) else {}


def model_for(role: str, profile: str, *, path: Path = REGISTRY_FILE) -> ModelCaps | None:
    """The ``role`` model ("text-to-image", "image-to-video") of ``profile``; None where the profile has none."""
    for name, entry in _entries(path).items():
        if entry.get("role") == role and entry.get("profile") == profile:
            return ModelCaps(name=name, title=str(entry.get("title", name)),
                             default_steps=int(entry.get("default_steps", 28)),
                             max_steps=int(entry.get("max_steps", 80)),
                             guidance=float(entry.get("default_guidance", 7.0)))
    return None


def image_model(profile: str) -> ModelCaps | None:
    """The text-to-image model of ``profile``."""
    return model_for("text-to-image", profile)


def check_steps(steps: int | None, profile: str, *, label: str = "--steps") -> None:
    """Refuse ``steps`` the profile's image model does not take; the hint names the model and its range."""
    model = image_model(profile)
    if steps is None or model is None:
        return
    if not 1 <= steps <= model.max_steps:
        raise UsageError(f"{label} must be from 1 to {model.max_steps} for {model.short_title}, the image model "
                         f"here (it uses {model.default_steps} unless told), not {steps}.")


def check_motion(motion: str | None, profile: str) -> None:
    """Refuse AI motion where the profile has no image-to-video model (it would fail on the worker)."""
    if motion != "ai" or model_for("image-to-video", profile) is not None:
        return
    raise UsageError("AI motion needs a video model, and this server's workers make camera moves only: "
                     "try --motion zoom-in, pan-left or orbit.")
