"""The identity layers for one job's outputs, shared by /imagine and /shoot: each output's main subject scored
against the persona, refined with the persona's face when short, regenerated when even that fails (the layers
themselves: ``inference.engines.image.gate``), and what a caption says of the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from core.likeness import likeness_from_score
from inference.engines.image import GatedImage, GeneratedImage, identity_gate
from inference.engines.image.gate import Refine, Regenerate, Score
from inference.identity import scorer_for
from inference.persona_face import references_of
from inference.refinement import refiner
from inference.task_context import TaskContext
from storage.models import Persona


@dataclass(frozen=True)
class IdentityPass:
    """How this job checks its outputs against ``persona``: the scoring, the face engine it scores with (stored
    with each score, as a score reads only on its engine's scale), and the refinement (None when switched off)."""

    persona: Persona
    score: Score
    engine: str
    refine: Refine | None

    def run(self, images: Sequence[GeneratedImage], *, regenerate: Regenerate, retries: int) -> list[GatedImage]:
        """``images`` through the layers, new seeds from ``regenerate`` up to ``retries`` times each."""
        return identity_gate(images, score=self.score, regenerate=regenerate, retries=retries, refine=self.refine)


def identity_pass(ctx: TaskContext, persona: Persona | None) -> IdentityPass | None:
    """The identity pass for ``persona``'s outputs in this job, or None when there is nothing to check against
    (no persona, or one without an analysed face)."""
    if persona is None or not persona.identity:
        return None
    scorer = scorer_for(ctx)

    def score(image: Image.Image) -> tuple[float | None, bool]:
        # The main subject is judged, never a bystander who happens to look more like the persona.
        subject = scorer.score(image, persona).subject
        if subject is None:
            return None, False
        return subject.similarity, subject.same_person

    refine = refiner(ctx, persona, references_of(persona)) if ctx.settings.identity_refine else None
    return IdentityPass(persona=persona, score=score, engine=scorer.engine, refine=refine)


def likeness_caption(item: GatedImage, identity: dict[str, Any] | None, engine: str | None) -> str:
    """What a result's caption says of its likeness: on the persona's own scale, which layer made it."""
    if item.no_face:
        return "no face in this picture"
    read = likeness_from_score(item.score, identity, engine)
    text = read.caption if read is not None else f"likeness {item.score or 0:.2f}"
    return text + (" · refined" if item.refined else "")


def likeness_notes(gated: list[GatedImage], name: str) -> list[str]:
    """One line each for images that never reached the persona's likeness, and images without a face."""
    notes = []
    weak = sum(1 for g in gated if not g.passed and not g.no_face)
    if weak:
        notes.append(f"{weak} image{'s' if weak != 1 else ''} did not reach {name}'s likeness threshold even "
                     "after refining and new seeds; the closest is shown. /info <id> says what was tried.")
    faceless = sum(1 for g in gated if g.no_face)
    if faceless:
        notes.append(f"{faceless} image{'s' if faceless != 1 else ''} show{'s' if faceless == 1 else ''} no face, "
                     f"so {name}'s likeness was not checked.")
    return notes
