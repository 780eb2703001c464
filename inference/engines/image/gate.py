"""The identity gate: outputs whose face does not match the persona are regenerated with new seeds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

from inference.engines.image.pipeline import GeneratedImage

# (similarity in [0, 1] or None when no face was found, whether it counts as the same person)
Score = Callable[[Image.Image], tuple[float | None, bool]]
# Called with the output slot and the attempt number (2, 3, ...); returns a fresh image for that slot.
Regenerate = Callable[[int, int], GeneratedImage]


@dataclass(frozen=True)
class GatedImage:
    """One output after the gate: the image kept, its score, whether it passed and how many tries it took."""

    image: GeneratedImage
    score: float | None
    passed: bool
    attempts: int


def identity_gate(
    images: Sequence[GeneratedImage], *, score: Score, regenerate: Regenerate, retries: int
) -> list[GatedImage]:
    """Each image scored; one that fails (below threshold, or no face) is regenerated up to ``retries`` times.

    When every attempt fails the best-scoring one is kept and marked as not passed, so the user still gets an
    image and the caption can say the likeness is weak (the caller decides how to present it).
    """
    gated: list[GatedImage] = []
    for slot, first in enumerate(images):
        candidate = first
        best: GatedImage | None = None
        attempt = 1
        while True:
            value, same = score(candidate.image)
            current = GatedImage(image=candidate, score=value, passed=bool(same), attempts=attempt)
            if current.passed:
                best = current
                break
            if best is None or _rank(current) > _rank(best):
                best = current
            if attempt > retries:
                break
            attempt += 1
            candidate = regenerate(slot, attempt)
        gated.append(GatedImage(image=best.image, score=best.score, passed=best.passed, attempts=attempt))
    return gated


def _rank(item: GatedImage) -> float:
    # An attempt without a face ranks below any attempt with one.
    return -1.0 if item.score is None else item.score
