"""Likeness on a persona's own scale: an identity distance as a percentage people can read.

Face engines compare faces by a distance whose numbers mean nothing to a person (dlib: euclidean, same person
below 0.6; ArcFace: 1 - cosine). Persona analysis stores, per engine, three distances in
``Persona.identity[engine]`` that pin a piecewise-linear scale:

==========================  =====================================================================  ==========
stored key                  what it is                                                             on scale
==========================  =====================================================================  ==========
``likeness_full``           how far the persona's own photos are from the persona: the median of   100 %
                            their leave-one-out distances (each photo against the others' centre)
``threshold``               the persona's calibrated same-person limit (what the identity gate     70 %
                            uses: at or under it an output passes)
``likeness_zero``           how far a stranger typically is under this engine                      0 %
==========================  =====================================================================  ==========

Closer than the persona's own photos reads 100 %, farther than a typical stranger 0 %, and between the anchors
the percentage is linear in the distance. The threshold always sits at ``THRESHOLD_PERCENT`` (70 %), so every
persona reads the same way: 70 % and up passed, under 70 % did not, whatever its photos and engine.

Scores are stored as similarities (``Asset.identity_score`` = ``max(0, 1 - distance)`` for every engine), so
``likeness_from_score`` turns one back into a distance first. Older personas, analysed before the two extra
keys were stored, use ``spread`` (the same median) for 100 % and continue the upper slope to find 0 %.

Pure functions on plain values: no engine, model or database is needed to read a caption.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

THRESHOLD_PERCENT = 70.0
# The anchors must keep an order with a gap; a calibration that squeezes them gets this much room.
_MIN_GAP = 1e-3


@dataclass(frozen=True)
class LikenessScale:
    """Three distances of one engine's metric: at 100 % (``full``), at the threshold, and at 0 % (``zero``)."""

    full: float
    threshold: float
    zero: float

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.full, self.threshold, self.zero)):
            raise ValueError(f"likeness anchors must be finite, got {self}")
        if not 0.0 <= self.full < self.threshold < self.zero:
            raise ValueError(f"likeness anchors must satisfy 0 <= full < threshold < zero, got {self}")

    @classmethod
    def from_calibration(cls, *, full: float, threshold: float, zero: float | None = None) -> LikenessScale:
        """A scale that always has the anchors in order, whatever a calibration produced.

        ``full`` is clamped under the threshold (a persona whose photos disagree as much as the limit allows
        still has a 100 % point); a missing or too small ``zero`` continues the slope from ``full`` to the
        threshold down to 0 %.
        """
        if not math.isfinite(threshold) or threshold <= 0:
            raise ValueError(f"threshold must be a positive distance, got {threshold!r}")
        full = min(max(0.0, full), threshold * (1.0 - _MIN_GAP))
        extrapolated = threshold + (threshold - full) * THRESHOLD_PERCENT / (100.0 - THRESHOLD_PERCENT)
        if zero is None or not math.isfinite(zero) or zero <= threshold:
            zero = extrapolated
        return cls(full=full, threshold=threshold, zero=zero)

    def percent(self, distance: float) -> float:
        """``distance`` on this scale, in [0, 100] (not rounded)."""
        if distance <= self.full:
            return 100.0
        if distance <= self.threshold:
            share = (distance - self.full) / (self.threshold - self.full)
            return 100.0 - share * (100.0 - THRESHOLD_PERCENT)
        if distance >= self.zero:
            return 0.0
        share = (distance - self.threshold) / (self.zero - self.threshold)
        return THRESHOLD_PERCENT * (1.0 - share)

    def distance_at(self, percent: float) -> float:
        """The distance that reads ``percent`` (the inverse of ``percent`` inside (0, 100))."""
        if not 0.0 <= percent <= 100.0:
            raise ValueError(f"percent must be within 0-100, got {percent!r}")
        if percent >= THRESHOLD_PERCENT:
            share = (100.0 - percent) / (100.0 - THRESHOLD_PERCENT)
            return self.full + share * (self.threshold - self.full)
        share = 1.0 - percent / THRESHOLD_PERCENT
        return self.threshold + share * (self.zero - self.threshold)


@dataclass(frozen=True)
class Likeness:
    """A score read on a persona's scale: the whole percentage shown and whether it passed the threshold."""

    percent: int
    passed: bool

    @property
    def caption(self) -> str:
        """``likeness 91 %``, or ``likeness 58 % (below 70 %)`` for one under the threshold."""
        if self.passed:
            return f"likeness {self.percent} %"
        return f"likeness {self.percent} % (below {THRESHOLD_PERCENT:.0f} %)"


def read(distance: float, scale: LikenessScale) -> Likeness:
    """``distance`` as a ``Likeness``: passed at or under the threshold, exactly as the identity gate decides.

    Rounding never crosses the threshold: a failing face never shows 70 % and a passing one never 69 %.
    """
    if not math.isfinite(distance) or distance < 0:
        raise ValueError(f"distance must be a non-negative number, got {distance!r}")
    value = scale.percent(distance)
    passed = distance <= scale.threshold
    shown = max(round(value), int(THRESHOLD_PERCENT)) if passed else min(math.floor(value),
                                                                         int(THRESHOLD_PERCENT) - 1)
    return Likeness(percent=int(shown), passed=passed)


def distance_from_score(score: float) -> float:
    """The distance behind a stored similarity score (``score = max(0, 1 - distance)``)."""
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        raise ValueError(f"score must be a similarity within 0-1, got {score!r}")
    return 1.0 - score


def scale_of(entry: Mapping[str, Any]) -> LikenessScale | None:
    """The scale of one engine's stored calibration (``Persona.identity[engine]``), or None without a threshold."""
    threshold = _number(entry.get("threshold"))
    if threshold is None or threshold <= 0:
        return None
    full = _number(entry.get("likeness_full"))
    if full is None:
        full = _number(entry.get("spread")) or 0.0
    return LikenessScale.from_calibration(full=full, threshold=threshold, zero=_number(entry.get("likeness_zero")))


def calibration_for(identity: Mapping[str, Any] | None, engine: str | None = None) -> Mapping[str, Any] | None:
    """The stored calibration a score was made under: ``engine``'s, else the persona's only one, else None.

    Scores made with one engine never read on another engine's scale: with several engines stored and no
    engine named there is no right answer, so there is none.
    """
    if not identity:
        return None
    if engine is not None:
        entry = identity.get(engine)
        return entry if isinstance(entry, Mapping) else None
    entries = [v for v in identity.values() if isinstance(v, Mapping)]
    return entries[0] if len(entries) == 1 else None


def likeness_from_score(score: float | None, identity: Mapping[str, Any] | None,
                        engine: str | None = None) -> Likeness | None:
    """A stored similarity score read on the persona's scale, or None when either side is missing."""
    if score is None:
        return None
    entry = calibration_for(identity, engine)
    scale = scale_of(entry) if entry is not None else None
    if scale is None:
        return None
    return read(distance_from_score(min(1.0, max(0.0, score))), scale)


def calibration_text(entry: Mapping[str, Any] | None) -> str | None:
    """One line on a persona's calibration for its card and ``/info``, or None without one.

    E.g. ``same-person limit 0.40 (dlib distance; engine 0.60, floor 0.40) = 70 % likeness; own photos 0.08``.
    """
    scale = scale_of(entry) if entry is not None else None
    if entry is None or scale is None:
        return None
    bounds = [f"{name} {value:.2f}" for name, key in (("engine", "engine_threshold"), ("floor", "floor"))
              if (value := _number(entry.get(key))) is not None]
    metric = entry.get("metric")
    unit = f"{metric} distance" if isinstance(metric, str) else "distance"
    detail = "; ".join([unit, ", ".join(bounds)] if bounds else [unit])
    return (f"same-person limit {scale.threshold:.2f} ({detail}) = {THRESHOLD_PERCENT:.0f} % likeness; "
            f"own photos {scale.full:.2f} = 100 %")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
