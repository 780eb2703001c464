"""Identity-guided choice for a still: a few candidate swaps, each scored by the face engine, the best kept.

No single setting suits every pair of faces: moving the jaw line helps a likeness until the target's head
cannot follow, a high forehead carries the persona's brow until it reaches hair, the target's light helps a
face sit in the picture until it carries the target's features. So a still tries candidates (the best
references by pose × a short list of settings), in order of how often each wins, scores each swapped face
against the persona's identity, and keeps the closest. A time budget bounds the search: the first candidate
is always made, further ones only while the budget allows another.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from inference.engines.faceswap.render import Patch, PreparedSource, SwapSettings, render
from inference.engines.faceswap.warp import region_around

# Candidates in the order they are tried, as (rank of the reference by pose, settings): the default on the
# best-matching reference first, then the variations that most often gave a closer likeness on the shipped
# test faces, the next-best references among them. Ranks beyond the persona's photos are skipped.
ORDER = (
    (0, SwapSettings()),
    (0, SwapSettings(forehead=0.28)),
    (0, SwapSettings(outline=0.5)),
    (1, SwapSettings()),
    (1, SwapSettings(features=0.7, outline=0.6)),
    (0, SwapSettings(light=0.3)),
    (2, SwapSettings(outline=0.0)),
    (0, SwapSettings(forehead=0.1)),
)
CANDIDATES = 5  # tried per face by default
BUDGET_S = 0.8  # and at most this long
# The scorer sees the face with this margin (of its size) around its landmarks: the recogniser's crop reaches
# a quarter of the face beyond them.
VIEW_MARGIN = 0.5


@dataclass(frozen=True)
class Candidate:
    """One way to swap a face: which prepared source (index) with which settings."""

    source: int
    settings: SwapSettings


@dataclass(frozen=True)
class Choice:
    """The candidate kept for a face, its patch, its distance to the persona (None: not scored) and how many
    candidates were tried."""

    candidate: Candidate
    patch: Patch
    distance: float | None
    tried: int


def candidates(ranked: Sequence[int], count: int = CANDIDATES, *, first: SwapSettings | None = None) -> list[Candidate]:
    """Up to ``count`` candidates in the order they are tried, for references ranked best first (indices).

    ``first``: the settings of the first candidate (an engine's configured default) instead of ``ORDER``'s."""
    order = [Candidate(source=ranked[rank], settings=settings) for rank, settings in ORDER if rank < len(ranked)]
    if first is not None:
        order[0] = Candidate(source=order[0].source, settings=first)
    return order[:max(1, count)]


# A scorer: the distance between the face with these landmarks in this picture and the persona (lower is
# closer), or None when the face cannot be read.
Scorer = Callable[[np.ndarray, np.ndarray], "float | None"]


def choose(frame: np.ndarray, target: np.ndarray, sources: Sequence[PreparedSource], order: Sequence[Candidate],
           scorer: Scorer | None, *, budget_s: float = BUDGET_S) -> Choice | None:
    """The best of ``order`` for the face at ``target`` (68 landmarks) in ``frame``; None when no candidate
    could be placed. Without a scorer, or with one candidate, the first is kept unscored."""
    started = time.perf_counter()
    best: Choice | None = None
    tried = 0
    for candidate in order:
        elapsed = time.perf_counter() - started
        if best is not None and (scorer is None or elapsed + elapsed / tried > budget_s):
            break
        patch = render(frame, target, sources[candidate.source], candidate.settings)
        tried += 1
        if patch is None:
            continue
        distance = None
        if scorer is not None and len(order) > 1:
            view, points = scoring_view(frame, patch)
            distance = scorer(view, points)
        if best is None or (distance is not None and (best.distance is None or distance < best.distance)):
            best = Choice(candidate=candidate, patch=patch, distance=distance, tried=tried)
    if best is None:
        return None
    return Choice(candidate=best.candidate, patch=best.patch, distance=best.distance, tried=tried)


def scoring_view(frame: np.ndarray, patch: Patch) -> tuple[np.ndarray, np.ndarray]:
    """A crop of ``frame`` around the swapped face with ``patch`` in, and the face's landmarks in the crop:
    what a scorer needs, without copying the whole picture per candidate."""
    view = region_around(patch.points, frame.shape, margin=VIEW_MARGIN)
    crop = np.array(frame[view.slices], copy=True)
    x0, y0 = max(view.x, patch.region.x), max(view.y, patch.region.y)
    x1 = min(view.x + view.width, patch.region.x + patch.region.width)
    y1 = min(view.y + view.height, patch.region.y + patch.region.height)
    if x1 > x0 and y1 > y0:
        crop[y0 - view.y:y1 - view.y, x0 - view.x:x1 - view.x] = \
            patch.pixels[y0 - patch.region.y:y1 - patch.region.y, x0 - patch.region.x:x1 - patch.region.x]
    return crop, patch.points - view.offset
