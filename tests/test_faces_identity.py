"""Identity scoring against a persona: robust aggregate, tightened threshold, verdicts on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import NotAvailable
from inference.engines.faces.dlib_backend import CALIBRATION_FLOOR, DlibFaceAnalyzer, load_dlib
from inference.identity import (
    LOO_MARGIN,
    IdentityScorer,
    IdentityVerdict,
    PersonaIdentity,
    build_identity,
    calibrated_threshold,
    leave_one_out,
    robust_center,
)
from storage.models import Persona
from tests.faces_data import astronaut, augment, group_faces, no_face, tom

PERSONA_PHOTOS = ("flip", "crop", "brighter", "contrast")


@pytest.fixture(scope="module")
def dlib_faces() -> DlibFaceAnalyzer:
    return load_dlib()


@pytest.fixture(scope="module")
def tom_vectors(dlib_faces: DlibFaceAnalyzer) -> list[np.ndarray]:
    photos = [tom()] + [augment(tom(), kind) for kind in PERSONA_PHOTOS]
    return [dlib_faces.analyze(photo)[0].embedding for photo in photos]


def _persona(dlib_faces: DlibFaceAnalyzer, vectors: list[np.ndarray]) -> Persona:
    return Persona(id=1, name="Tom", identity={"dlib": build_identity(dlib_faces, vectors).to_json(dlib_faces)})


def test_aggregate_ignores_one_photo_of_someone_else(dlib_faces: DlibFaceAnalyzer,
                                                     tom_vectors: list[np.ndarray]) -> None:
    intruder = dlib_faces.analyze(astronaut())[0].embedding
    clean = robust_center(dlib_faces, tom_vectors)
    polluted = robust_center(dlib_faces, [*tom_vectors, intruder])
    assert dlib_faces.distance(clean, polluted) < 0.01
    naive = np.mean([*tom_vectors, intruder], axis=0)
    assert dlib_faces.distance(clean, naive) > 0.1, "a plain mean would have moved"
    loo = leave_one_out(dlib_faces, [*tom_vectors, intruder])
    assert loo[-1] > dlib_faces.threshold > max(loo[:-1])


def test_threshold_is_tightened_from_the_personas_own_photos(dlib_faces: DlibFaceAnalyzer,
                                                            tom_vectors: list[np.ndarray]) -> None:
    identity = build_identity(dlib_faces, tom_vectors)
    assert identity.count == 5
    loo = leave_one_out(dlib_faces, tom_vectors)
    assert identity.threshold == pytest.approx(min(0.6, max(CALIBRATION_FLOOR, LOO_MARGIN * max(loo))))
    assert CALIBRATION_FLOOR <= identity.threshold < 0.6
    assert 0 < identity.spread < 0.3
    stored = identity.to_json(dlib_faces)
    assert stored["similarity_threshold"] == pytest.approx(1 - stored["threshold"], abs=1e-3)
    assert (stored["floor"], stored["engine_threshold"]) == (CALIBRATION_FLOOR, 0.6)
    assert stored["likeness_full"] == pytest.approx(identity.spread, abs=1e-4)
    assert stored["likeness_zero"] == dlib_faces.stranger_distance
    again = PersonaIdentity.from_json(stored)
    assert again.threshold == pytest.approx(identity.threshold, abs=1e-4)
    assert again.scale.full == pytest.approx(identity.scale.full, abs=1e-4)


def test_photos_that_agree_closely_are_held_to_the_floor_not_tighter(dlib_faces: DlibFaceAnalyzer,
                                                                    tom_vectors: list[np.ndarray]) -> None:
    # Near-copies of one picture: their own spread would put the limit far below what new photos reach.
    copies = tom_vectors[:1] + [dlib_faces.analyze(augment(tom(), kind))[0].embedding for kind in ("jpeg", "darker")]
    loo = leave_one_out(dlib_faces, copies)
    assert LOO_MARGIN * max(loo) < CALIBRATION_FLOOR
    assert calibrated_threshold(dlib_faces, loo) == CALIBRATION_FLOOR
    assert build_identity(dlib_faces, copies).threshold == CALIBRATION_FLOOR


def test_photos_that_disagree_never_loosen_the_limit_past_the_engines(dlib_faces: DlibFaceAnalyzer,
                                                                     tom_vectors: list[np.ndarray]) -> None:
    mixed = [*tom_vectors[:3], dlib_faces.analyze(astronaut())[0].embedding]
    loo = leave_one_out(dlib_faces, mixed)
    assert LOO_MARGIN * max(loo) > dlib_faces.threshold
    assert build_identity(dlib_faces, mixed).threshold == dlib_faces.threshold == 0.6
    assert calibrated_threshold(dlib_faces, loo[:1]) == 0.6, "one photo says nothing about the person's range"


def test_the_floor_covers_new_renderings_of_the_person_and_no_stranger(dlib_faces: DlibFaceAnalyzer,
                                                                      tom_vectors: list[np.ndarray]) -> None:
    # The hardest renderings measured by benchmarks/calibration.py: each must pass a persona held to the floor.
    persona = _persona(dlib_faces, tom_vectors)
    persona.identity["dlib"]["threshold"] = CALIBRATION_FLOOR
    scorer = IdentityScorer(dlib_faces)
    for kind in ("crop_tight", "flip_rotate_jpeg", "small", "side_light", "rotate_10"):
        verdict = scorer.score(augment(tom(), kind), persona)
        assert verdict.best is not None and verdict.best.same_person, f"{kind}: {verdict.best}"
    for stranger in (astronaut(), group_faces()[1], group_faces()[3]):
        verdict = scorer.score(stranger, persona)
        assert verdict.best is not None and verdict.best.distance > 0.6


def test_verdicts_for_same_person_other_person_and_no_face(dlib_faces: DlibFaceAnalyzer,
                                                          tom_vectors: list[np.ndarray]) -> None:
    persona = _persona(dlib_faces, tom_vectors)
    scorer = IdentityScorer(dlib_faces)

    same = scorer.score(augment(tom(), "darker"), persona)
    assert isinstance(same, IdentityVerdict) and same.engine == "dlib"
    assert same.best is not None and same.best.same_person
    assert same.score is not None and same.score > same.threshold > 0.4 - 1e-9
    assert same.best.similarity == pytest.approx(1 - same.best.distance)

    other = scorer.score(astronaut(), persona)
    assert other.best is not None and not other.best.same_person
    assert other.score is not None and other.score < other.threshold

    nobody = scorer.score(no_face(), persona)
    assert nobody.faces == [] and nobody.best is None and nobody.score is None


def test_verdicts_read_on_the_personas_likeness_scale(dlib_faces: DlibFaceAnalyzer,
                                                      tom_vectors: list[np.ndarray]) -> None:
    persona = _persona(dlib_faces, tom_vectors)
    scorer = IdentityScorer(dlib_faces)
    own = scorer.score(augment(tom(), "contrast"), persona).likeness  # one of the persona's own photos
    assert own is not None and own.passed and own.percent >= 95 and own.caption == f"likeness {own.percent} %"
    new = scorer.score(augment(tom(), "rotate_10"), persona).likeness
    assert new is not None and new.passed and 70 <= new.percent <= 100
    stranger = scorer.score(astronaut(), persona).likeness
    assert stranger is not None and not stranger.passed and stranger.percent < 40
    assert stranger.caption == f"likeness {stranger.percent} % (below 70 %)"
    assert scorer.score(no_face(), persona).likeness is None
    # A persona analysed before the scale was stored still reads, 100 % at its photos' spread.
    for key in ("likeness_full", "likeness_zero"):
        persona.identity["dlib"].pop(key)
    legacy = scorer.score(augment(tom(), "contrast"), persona).likeness
    assert legacy is not None and legacy.passed


def test_persona_without_identity_for_this_engine_is_never_scored_with_another(dlib_faces: DlibFaceAnalyzer,
                                                                           tom_vectors: list[np.ndarray]) -> None:
    foreign = Persona(id=2, name="Tom", identity={"insightface:buffalo_l": {"vector": [0.1] * 512,
                                                                           "threshold": 0.6}})
    with pytest.raises(NotAvailable, match="Tom has no analysed reference photos"):
        IdentityScorer(dlib_faces).score(tom(), foreign)


def test_verdicts_use_the_personas_own_limit_not_the_engines(dlib_faces: DlibFaceAnalyzer,
                                                            tom_vectors: list[np.ndarray]) -> None:
    persona = _persona(dlib_faces, tom_vectors)
    photo = augment(tom(), "darker")
    distance = IdentityScorer(dlib_faces).score(photo, persona).faces[0].distance
    assert distance < dlib_faces.threshold
    # A persona whose photos agree more closely than this face does holds it to that closeness.
    persona.identity["dlib"]["threshold"] = distance - 0.01
    strict = IdentityScorer(dlib_faces).score(photo, persona)
    assert strict.best is not None and not strict.best.same_person
    assert strict.threshold == pytest.approx(1 - (distance - 0.01))
    persona.identity["dlib"]["threshold"] = distance + 0.01
    assert IdentityScorer(dlib_faces).score(photo, persona).best.same_person  # type: ignore[union-attr]
