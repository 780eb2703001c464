"""The identity gate: every output of a persona job scored on its main subject's face, refined by a face swap
when it falls short, and regenerated with a new seed when even that fails.

The layers, cheapest first (the persona's LoRA, when it has one, ran before this in the generation itself):
1. score the main subject (the largest face) against the persona;
2. below the persona's threshold → ``refine`` (a swap of the persona's face onto that face only) and score
   again;
3. still below → a new seed (``regenerate``), then refine again, up to ``retries`` times;
4. deliver the best attempt, honestly marked when it never passed.

An output with no face at all (a prompt that shows nobody) is delivered once, said to have no face: no seed
would put a face into a picture of a beach at dusk, so it is not regenerated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from PIL import Image

from inference.engines.image.pipeline import GeneratedImage

# (similarity of the main subject's face in [0, 1], or None when there is no face; whether it is the persona)
Score = Callable[[Image.Image], tuple[float | None, bool]]
# Called with the output slot and the attempt number (2, 3, ...); returns a fresh image for that slot.
Regenerate = Callable[[int, int], GeneratedImage]


@dataclass(frozen=True)
class Refined:
    """An output with the persona's face swapped onto its main subject, and the reference photo used."""

    image: GeneratedImage
    reference: str


Refine = Callable[[GeneratedImage], Refined | None]  # None: no face to put the persona's onto


@dataclass(frozen=True)
class GatedImage:
    """One output after the gate: the image kept, its score, whether it passed, how many seeds it took, and which
    layers made it (``refined`` with the ``reference`` photo swapped in; ``no_face`` when there was none)."""

    image: GeneratedImage
    score: float | None
    passed: bool
    attempts: int
    refined: bool = False
    reference: str | None = None
    no_face: bool = False


def identity_gate(images: Sequence[GeneratedImage], *, score: Score, regenerate: Regenerate, retries: int,
                  refine: Refine | None = None) -> list[GatedImage]:
    """Each image through the layers above; see the module docstring."""
    gated: list[GatedImage] = []
    for slot, first in enumerate(images):
        candidate = first
        best: GatedImage | None = None
        attempt = 1
        while True:
            current = _layers(candidate, attempt, score=score, refine=refine)
            if current.no_face and best is None:
                best = current  # a picture without a face: delivered once, as it is
                break
            if best is None or _rank(current) > _rank(best):
                best = current
            if best.passed or attempt > retries:
                break
            attempt += 1
            candidate = regenerate(slot, attempt)
        gated.append(replace(best, attempts=attempt))
    return gated


def _layers(candidate: GeneratedImage, attempt: int, *, score: Score, refine: Refine | None) -> GatedImage:
    value, same = score(candidate.image)
    if value is None:
        return GatedImage(image=candidate, score=None, passed=False, attempts=attempt, no_face=True)
    plain = GatedImage(image=candidate, score=value, passed=same, attempts=attempt)
    if same or refine is None:
        return plain
    refined = refine(candidate)
    if refined is None:
        return plain
    refined_value, refined_same = score(refined.image.image)
    if refined_value is None or (not refined_same and refined_value <= value):
        return plain  # the swap did not bring it closer: the untouched image is the honest one to keep
    return GatedImage(image=refined.image, score=refined_value, passed=refined_same, attempts=attempt,
                      refined=True, reference=refined.reference)


def _rank(item: GatedImage) -> tuple[int, int, float]:
    # Passing first, then any face over none, then the closer likeness.
    return int(item.passed), 0 if item.score is None else 1, item.score or 0.0
