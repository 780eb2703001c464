"""Persona analysis: checks each reference photo, drops the unusable ones, writes the identity and the card.

Spec: ``{"persona_id": int, "engine": "dlib" | "insightface" (optional)}``. The assistant has set the persona
to ``analyzing`` before submitting. With at least ``MIN_PHOTOS`` usable photos the persona becomes ``ready``;
otherwise it goes back to ``collecting`` and the message says how many more photos to send.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.jobresults import PersonaResult, card_filename
from core.jobspecs import PersonaAnalyzeSpec
from core.limits import MIN_PHOTOS  # one number for intake and analysis
from core.messages import Media
from inference.engines.faces import (
    Face,
    FaceAnalyzer,
    align_face,
    choose_backend,
    engine_key,
    load_analyzer,
)
from inference.engines.faces.annotate import render_faces
from inference.engines.faces.card import CELL as CARD_CELL
from inference.engines.faces.card import CardEntry, render_card
from inference.identity import build_identity, leave_one_out, load_rgb
from inference.runtime import task
from inference.task_context import TaskContext
from storage.models import Persona, ReferenceImage
from storage.repositories import blob_refs
from storage.repositories import personas as persona_repo
from storage.states import PersonaStatus

log = logging.getLogger(__name__)

MIN_FACE_PX = 80
MIN_SHARPNESS = 30.0  # variance of the Laplacian on the aligned crop; Gaussian blur of ~1.5% of the face is below
MAX_YAW = 45.0
MAX_PITCH = 40.0  # the estimate reads frontal faces as up to ~30 degrees pitched: leave room
MAX_ROLL = 45.0
# A second face counts when the detector is sure of it and it is not tiny next to the subject (people far
# behind are fine). dlib's finds are already confirmed by its CNN where the HOG margin is low, so each counts;
# SCRFD's probability needs a bar of its own.
OTHER_FACE_SCORE = {"dlib": 0.0, "insightface": 0.6}
OTHER_FACE_RATIO = 0.4
CARD_ZOOM = 0.72
CARD_FILL = (235, 235, 232)


@dataclass
class _Photo:
    ref_id: int
    blob: str
    label: str
    face: Face | None = None
    crop: np.ndarray | None = None
    reason: str | None = None
    marked: bytes | None = None  # the photo with its faces boxed, when refused for showing several


def counted_faces(faces: list[Face], analyzer: FaceAnalyzer) -> list[Face]:
    """The subject (largest face) and every other face that makes the photo a group photo."""
    if not faces:
        return []
    main = faces[0]
    min_score = OTHER_FACE_SCORE.get(analyzer.name.split(":", 1)[0], 0.5)
    others = [f for f in faces[1:] if f.quality.face_px >= OTHER_FACE_RATIO * main.quality.face_px
              and f.score >= min_score]
    return [main, *others]


def face_problem(faces: list[Face], analyzer: FaceAnalyzer, *, label: str, persona: str) -> str | None:
    """Why this photo cannot be a reference (a sentence naming it and what to send instead), or None."""
    if not faces:
        return f"no face found in {label}; send a photo where {persona}'s face is clearly visible"
    main = faces[0]
    counted = counted_faces(faces, analyzer)
    if len(counted) > 1:
        return f"{label} shows {len(counted)} faces; send photos of {persona} alone"
    q = main.quality
    if q.face_px < MIN_FACE_PX:
        return (f"the face in {label} is too small ({q.face_px} px); send a closer photo "
                f"(the face at least {MIN_FACE_PX} px across)")
    if q.blur < MIN_SHARPNESS:
        return f"{label} is blurred; send a sharp photo"
    if abs(q.pose.yaw) > MAX_YAW or abs(q.pose.pitch) > MAX_PITCH or abs(q.pose.roll) > MAX_ROLL:
        return f"the face in {label} is turned too far away; send a photo facing the camera"
    return None


def _analyze(ctx: TaskContext) -> PersonaResult:
    # Failed or cancelled on any path, the job service puts the persona back to collecting.
    spec = ctx.spec_as(PersonaAnalyzeSpec)
    return _run(ctx, spec.persona_id, spec.engine)


def _run(ctx: TaskContext, persona_id: int, engine: str | None) -> PersonaResult:
    with ctx.db.session() as session:
        persona = session.get(Persona, persona_id)
        if persona is None:
            raise NotFound("That persona no longer exists.")
        name = persona.name
        photos = [_Photo(ref_id=ref.id, blob=ref.blob, label=ref.filename or f"photo {index + 1}")
                  for index, ref in enumerate(persona.references)]
    backend = engine or choose_backend(ctx.settings)
    ctx.progress(0.0, "loading the face models")
    analyzer: FaceAnalyzer = ctx.engine(engine_key(backend), lambda: load_analyzer(ctx.settings, backend))

    total = len(photos)
    for index, photo in enumerate(photos):
        ctx.progress(index / (total + 1), f"checking {photo.label} ({index + 1}/{total})")
        try:
            image = load_rgb(ctx.blobs.read_bytes(photo.blob))
        except Exception:  # a stored photo that no longer decodes is refused, not fatal to the job
            log.warning("reference %s of persona %s does not decode", photo.ref_id, persona_id, exc_info=True)
            photo.reason = f"{photo.label} could not be read as an image; send it again as JPEG or PNG"
            continue
        faces = analyzer.analyze(image)
        photo.reason = face_problem(faces, analyzer, label=photo.label, persona=name)
        counted = counted_faces(faces, analyzer)
        if len(counted) > 1:  # shown back to the user with the faces boxed, so they see why
            photo.marked = render_faces(image, [f.box for f in counted])
        if photo.reason is None:
            photo.face = faces[0]
            photo.crop = align_face(image, faces[0].five, size=CARD_CELL, zoom=CARD_ZOOM, fill=CARD_FILL)
    ctx.progress(total / (total + 1), "comparing photos")
    _flag_duplicates(photos, analyzer)
    _flag_other_people(photos, analyzer, persona=name)
    return _save(ctx, persona_id, name, photos, analyzer)


def _flag_duplicates(photos: list[_Photo], analyzer: FaceAnalyzer) -> None:
    # The first of a pair stays: it is the one the user sent first.
    kept: list[_Photo] = []
    for photo in photos:
        if photo.face is None:
            continue
        twin = next((k for k in kept if k.blob == photo.blob or _distance(analyzer, k, photo)
                     < analyzer.duplicate_distance), None)
        if twin is not None:
            photo.reason = f"{photo.label} is a near-duplicate of {twin.label}; send a different photo instead"
            photo.face = None
        else:
            kept.append(photo)


def _distance(analyzer: FaceAnalyzer, a: _Photo, b: _Photo) -> float:
    if a.face is None or b.face is None:
        return float("inf")
    return analyzer.distance(a.face.embedding, b.face.embedding)


def _flag_other_people(photos: list[_Photo], analyzer: FaceAnalyzer, *, persona: str) -> None:
    usable = [p for p in photos if p.face is not None]
    if len(usable) < 3:
        return  # two photos that disagree cannot say which one is the persona; the count check refuses anyway
    vectors = [p.face.embedding for p in usable if p.face is not None]
    for photo, distance in zip(usable, leave_one_out(analyzer, vectors), strict=True):
        if distance > analyzer.threshold:
            photo.reason = f"{photo.label} looks like a different person from your other photos of {persona}"
            photo.face = None


def _save(ctx: TaskContext, persona_id: int, name: str, photos: list[_Photo],
          analyzer: FaceAnalyzer) -> PersonaResult:
    accepted = [p for p in photos if p.face is not None]
    rejected = [p for p in photos if p.face is None]
    ready = len(accepted) >= MIN_PHOTOS
    cards: list[bytes | Path] = []
    if ready:
        entries = [CardEntry(crop=p.crop, label=p.label, quality=p.face.quality)
                   for p in accepted if p.face is not None and p.crop is not None]
        cards.append(render_card(f"{name} · {len(accepted)} photos · {analyzer.name}", entries))
    # Photos refused for showing several people go back with the faces boxed, so the user sees why.
    boxed = [p for p in rejected if p.marked]

    def write(session: Session, digests: list[str]) -> tuple[str | None, list[str], list[str]]:
        card_blob = digests[0] if cards else None
        persona = session.get(Persona, persona_id)
        if persona is None:
            raise NotFound("That persona was deleted while its photos were being checked.")
        freed: set[str] = set()
        by_id = {ref.id: ref for ref in persona.references}
        for photo in rejected:
            ref = by_id.pop(photo.ref_id, None)
            if ref is not None:
                persona.references.remove(ref)
                freed.add(ref.blob)
        session.flush()
        for position, ref in enumerate(persona.references):
            ref.position = position
        if ready:
            _write_faces(persona, accepted, by_id, analyzer, changed=bool(rejected))
            old_card, persona.card_blob = persona.card_blob, card_blob
            if old_card and old_card != card_blob:
                freed.add(old_card)
            persona.status = PersonaStatus.READY.value
        else:
            persona_repo.reopen_collection(session, persona_id=persona.id, user_id=ctx.owner_id)
        return card_blob, blob_refs.unused(session, freed), digests[len(cards):]

    contents: list[bytes | Path] = [*cards, *(p.marked for p in boxed if p.marked)]
    card_blob, unused, boxed_blobs = ctx.store(contents, write)
    for blob in unused:  # committed already: a store outage now must not send the job round again
        ctx.discard_blob(blob)
    marked = [(p.label, digest, p.reason or "") for p, digest in zip(boxed, boxed_blobs, strict=True)]
    ctx.progress(1.0, "done")
    return _result(persona_id, name, accepted, rejected, card_blob, analyzer, marked)


def _write_faces(persona: Persona, accepted: list[_Photo], refs: dict[int, ReferenceImage],
                 analyzer: FaceAnalyzer, *, changed: bool) -> None:
    for photo in accepted:
        ref, face = refs[photo.ref_id], photo.face
        if face is None:
            continue
        ref.face_box = list(face.box)
        ref.landmarks = np.round(face.landmarks, 1).tolist()
        ref.quality = face.quality.as_dict() | {"detector_score": round(face.score, 3)}
        ref.embeddings = {**(ref.embeddings or {}), analyzer.name: [float(v) for v in face.embedding]}
    vectors = [p.face.embedding for p in accepted if p.face is not None]
    identity = build_identity(analyzer, vectors)
    # Other engines' aggregates were built from a photo set that no longer exists: they are recomputed
    # when those engines next run, never reused.
    others = {} if changed else {k: v for k, v in (persona.identity or {}).items() if k != analyzer.name}
    persona.identity = {**others, analyzer.name: identity.to_json(analyzer)}


def _result(persona_id: int, name: str, accepted: list[_Photo], rejected: list[_Photo], card_blob: str | None,
            analyzer: FaceAnalyzer, marked: list[tuple[str, str, str]]) -> PersonaResult:
    refused = [{"photo": p.label, "reason": p.reason or "refused"} for p in rejected]
    refused_text = "Removed: " + "; ".join(p.reason or p.label for p in rejected) + "." if rejected else ""
    media: list[Media] = []
    if card_blob is not None:
        message = f"{name} is ready: {len(accepted)} of {len(accepted) + len(rejected)} photos accepted."
        media = [Media(blob=card_blob, kind="image", filename=card_filename(name),
                             caption=f"{name}: {len(accepted)} reference photos ({analyzer.name})")]
    else:
        missing = MIN_PHOTOS - len(accepted)
        message = (f"{name} needs at least {MIN_PHOTOS} good photos and has {len(accepted)}. Send {missing} more "
                   f"clear photo{'s' if missing != 1 else ''} of {name} alone, facing the camera, then /done again.")
    if refused_text:
        message = f"{message} {refused_text}"
    media += [Media(blob=blob, kind="image", filename=f"{_stem(label)}-faces.jpg",
                    caption=f"{reason} (the faces found are boxed)")
              for label, blob, reason in marked]
    return PersonaResult(message=message, media=media, persona_id=persona_id, accepted=len(accepted),
                         rejected=refused)


def _stem(label: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", label.rsplit(".", 1)[0]).strip("-")
    return stem or "photo"


analyze_persona = task(_analyze)
