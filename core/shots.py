"""A photoshoot's plan: the curated shots (pose, angle, expression), how many a shoot makes, and the prompt of
each shot — the scene (outfit, place, light) shared word for word, the shot's own framing added after it.

Pure data and functions: the assistant picks the shots when a shoot is asked for, the worker reads them back
from the spec, so a shoot's plan is decided once and repeated exactly by "more like #k".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.limits import SHOOT_SIZE, SHOOT_SIZE_DEFAULT

if TYPE_CHECKING:
    from storage.models import Persona

SCENE_CHARS = 1200  # a scene's length: each shot's prompt adds its framing to it, within the prompt limit
MORE_LIKE_SIZE = 4  # a "more like #k" shoot: a short second round, not a whole new shoot
SEED_STRIDE = 7919  # shot k's seed is the family's seed + k × this (a prime: no two families share a seed)


@dataclass(frozen=True)
class Shot:
    """One entry of the curated list: its name (kept in specs and buttons), what a sheet calls it, and the
    words that ask the model for it."""

    name: str
    label: str
    prompt: str


# In the order a shoot takes them: a set of 4 already covers close, half, full and a turned head; the rest
# vary angle and mood.
SHOTS: tuple[Shot, ...] = (
    Shot("closeup", "close-up", "close-up portrait, head and shoulders, looking into the camera, soft smile"),
    Shot("half", "half body", "half-body shot from the waist up, relaxed pose, confident expression"),
    Shot("full", "full body", "full-body shot, standing, whole outfit visible, natural pose"),
    Shot("profile", "profile", "side profile, looking away into the distance, calm expression"),
    Shot("shoulder", "over the shoulder", "over-the-shoulder shot, looking back at the camera, playful smile"),
    Shot("laugh", "candid laugh", "candid moment, laughing, eyes half closed, caught mid-movement"),
    Shot("three-quarter", "three-quarter", "three-quarter view, head slightly tilted, gentle smile"),
    Shot("walk", "walking", "walking towards the camera, mid-stride, hair moving"),
    Shot("seated", "seated", "sitting down, leaning forward, elbows on knees, thoughtful look"),
    Shot("low", "low angle", "low-angle shot from below, strong stance, serious expression"),
    Shot("above", "from above", "high-angle shot from above, looking up at the camera, bright smile"),
    Shot("hands", "hands in hair", "hands in the hair, eyes closed, serene expression"),
    Shot("lean", "leaning", "leaning against a wall, arms crossed, slight smirk"),
    Shot("wide", "wide", "wide shot, the subject small in the scene, looking at the view"),
    Shot("detail", "detail", "tight close-up of the face, dramatic expression, shallow depth of field"),
    Shot("glance", "glance", "glancing sideways at the camera, lips parted, candid"),
)
BY_NAME = {shot.name: shot for shot in SHOTS}
# Said once for the whole set, so the model keeps what the scene asks for in every shot.
CONSISTENCY = "same outfit, same location, same lighting as the rest of the set"


def default_shoot_size(persona: Persona) -> int:
    """How many shots a shoot makes when the user gives no number: the persona's own size (``/persona set``),
    else ``SHOOT_SIZE_DEFAULT``."""
    size = persona.shoot_size
    return size if size is not None and SHOOT_SIZE[0] <= size <= SHOOT_SIZE[1] else SHOOT_SIZE_DEFAULT


def default_platform(persona: Persona, preferences: dict[str, Any]) -> str | None:
    """The platform a shoot is sized and exported for when none is named: the persona's own (``/persona set``),
    else the user's /settings platform, else none."""
    for value in (persona.default_platform, preferences.get("platform")):
        if isinstance(value, str) and value:
            return value
    return None


def choose(count: int, *, used: Iterable[str] = ()) -> tuple[str, ...]:
    """``count`` shot names in the curated order, those in ``used`` last (a second round asks for new poses;
    when the list runs out, poses repeat, with new seeds)."""
    taken = set(used)
    order = [s.name for s in SHOTS if s.name not in taken] + [s.name for s in SHOTS if s.name in taken]
    return tuple(order[i % len(order)] for i in range(count))


@dataclass(frozen=True)
class PlannedShot:
    """One shot of a shoot: its number on the sheet (1-based), its entry, its prompt and its seed."""

    number: int
    shot: Shot
    prompt: str
    seed: int


def plan(scene: str, names: Sequence[str], *, seed: int) -> list[PlannedShot]:
    """The shoot's prompt plan: every shot is the scene (shared, first, so it steers most) plus the consistency
    clause plus its own framing; seeds come from one family."""
    shared = f"{scene.strip().rstrip(',.')}, {CONSISTENCY}"
    return [PlannedShot(number=index + 1, shot=BY_NAME[name], prompt=f"{shared}, {BY_NAME[name].prompt}",
                        seed=(seed + index * SEED_STRIDE) % 2**32)
            for index, name in enumerate(names)]
