"""The likeness scale: a distance on the persona's own scale, the threshold at 70 %, captions people read."""

from __future__ import annotations

import pytest

from core.likeness import (
    THRESHOLD_PERCENT,
    Likeness,
    LikenessScale,
    calibration_for,
    calibration_text,
    distance_from_score,
    likeness_from_score,
    read,
    scale_of,
)

# A dlib persona as analysis stores it: own photos 0.2 from the persona, limit 0.5, strangers about 0.8.
DLIB_ENTRY = {"vector": [0.0] * 128, "threshold": 0.5, "similarity_threshold": 0.5, "spread": 0.2,
              "likeness_full": 0.2, "likeness_zero": 0.8, "count": 5, "metric": "euclidean"}


def test_anchors_read_100_70_and_0_percent_and_the_scale_is_linear_between() -> None:
    scale = LikenessScale(full=0.2, threshold=0.5, zero=0.8)
    assert scale.percent(0.0) == scale.percent(0.2) == 100.0
    assert scale.percent(0.5) == pytest.approx(THRESHOLD_PERCENT) == pytest.approx(70.0)
    assert scale.percent(0.35) == pytest.approx(85.0)
    assert scale.percent(0.65) == pytest.approx(35.0)
    assert scale.percent(0.8) == scale.percent(1.4) == 0.0
    distances = [i / 100 for i in range(0, 120)]
    percents = [scale.percent(d) for d in distances]
    assert percents == sorted(percents, reverse=True), "farther never reads closer"
    for percent in (100.0, 91.0, 70.0, 58.0, 1.0):
        assert scale.percent(scale.distance_at(percent)) == pytest.approx(percent)


def test_captions_say_the_percentage_and_mark_the_threshold() -> None:
    scale = LikenessScale(full=0.2, threshold=0.5, zero=0.8)
    assert read(0.254, scale) == Likeness(percent=95, passed=True)
    assert read(0.254, scale).caption == "likeness 95 %"
    below = read(scale.distance_at(58.3), scale)
    assert below == Likeness(percent=58, passed=False)
    assert below.caption == "likeness 58 % (below 70 %)"
    assert read(0.1, scale).caption == "likeness 100 %"
    assert read(5.0, scale).caption == "likeness 0 % (below 70 %)"


def test_rounding_never_crosses_the_threshold() -> None:
    scale = LikenessScale(full=0.2, threshold=0.5, zero=0.8)
    at_limit = read(0.5, scale)
    assert at_limit == Likeness(percent=70, passed=True)
    just_over = read(0.5 + 1e-6, scale)  # 69.9999 % would round to 70: it failed, so it says 69
    assert just_over == Likeness(percent=69, passed=False)
    assert just_over.caption == "likeness 69 % (below 70 %)"


def test_a_stored_score_reads_through_the_personas_calibration() -> None:
    identity = {"dlib": DLIB_ENTRY}
    assert distance_from_score(0.75) == pytest.approx(0.25)
    passing = likeness_from_score(0.75, identity)  # distance 0.25: a little farther than its own photos
    assert passing == Likeness(percent=95, passed=True)
    failing = likeness_from_score(0.42, identity, engine="dlib")  # distance 0.58
    assert failing is not None and not failing.passed and failing.percent == 51
    assert likeness_from_score(None, identity) is None
    assert likeness_from_score(0.9, {}) is None and likeness_from_score(0.9, None) is None
    with pytest.raises(ValueError, match="score must be a similarity"):
        distance_from_score(1.5)


def test_the_same_distance_reads_differently_for_a_strict_and_a_loose_persona() -> None:
    strict = {"dlib": DLIB_ENTRY | {"threshold": 0.35, "likeness_full": 0.1}}
    loose = {"dlib": DLIB_ENTRY | {"threshold": 0.6, "likeness_full": 0.35}}
    strict_read, loose_read = likeness_from_score(0.55, strict), likeness_from_score(0.55, loose)
    assert strict_read is not None and loose_read is not None
    assert not strict_read.passed and loose_read.passed
    assert strict_read.percent < 70 <= loose_read.percent


def test_scores_from_one_engine_never_read_on_another_engines_scale() -> None:
    arcface = {"threshold": 0.6, "likeness_full": 0.3, "likeness_zero": 1.0, "metric": "cosine"}
    both = {"dlib": DLIB_ENTRY, "insightface:buffalo_l": arcface}
    assert calibration_for(both, "dlib") is DLIB_ENTRY
    assert calibration_for(both) is None, "two engines and none named: no guess"
    assert likeness_from_score(0.7, both) is None
    assert likeness_from_score(0.7, both, engine="insightface:antelopev2") is None
    on_arcface = likeness_from_score(0.7, both, engine="insightface:buffalo_l")  # distance 0.3 = its own photos
    assert on_arcface == Likeness(percent=100, passed=True)


def test_personas_analysed_before_the_scale_existed_still_read() -> None:
    legacy = {"vector": [0.0] * 128, "threshold": 0.45, "similarity_threshold": 0.55, "spread": 0.15,
              "count": 5, "metric": "euclidean"}
    scale = scale_of(legacy)
    assert scale is not None
    assert scale.full == pytest.approx(0.15) and scale.threshold == pytest.approx(0.45)
    # 0 % continues the slope from 100 % to the threshold: 30 points per 0.3 → 70 more points by 1.15.
    assert scale.zero == pytest.approx(0.45 + 0.3 * 70 / 30)
    assert scale_of({"vector": [], "spread": 0.1}) is None
    assert scale_of({"threshold": "0.5"}) is None


def test_calibrations_that_squeeze_the_anchors_still_give_an_ordered_scale() -> None:
    squeezed = LikenessScale.from_calibration(full=0.62, threshold=0.6, zero=0.55)
    assert squeezed.full < squeezed.threshold < squeezed.zero
    assert read(0.6, squeezed).passed and not read(0.61, squeezed).passed
    with pytest.raises(ValueError, match="0 <= full < threshold < zero"):
        LikenessScale(full=0.3, threshold=0.3, zero=0.8)
    with pytest.raises(ValueError, match="threshold must be a positive distance"):
        LikenessScale.from_calibration(full=0.1, threshold=0.0)
    with pytest.raises(ValueError, match="distance must be a non-negative number"):
        read(float("nan"), squeezed)


def test_the_calibration_reads_as_one_line_for_the_persona_card() -> None:
    entry = DLIB_ENTRY | {"threshold": 0.4, "engine_threshold": 0.6, "floor": 0.4, "likeness_full": 0.081}
    assert calibration_text(entry) == ("same-person limit 0.40 (euclidean distance; engine 0.60, floor 0.40) "
                                       "= 70 % likeness; own photos 0.08 = 100 %")
    legacy = {"threshold": 0.45, "spread": 0.15}
    assert calibration_text(legacy) == "same-person limit 0.45 (distance) = 70 % likeness; own photos 0.15 = 100 %"
    assert calibration_text(None) is None and calibration_text({"spread": 0.1}) is None
