"""The /swap job: a persona's face put into one of the user's photos or videos, stored as a new asset.

Spec: ``{"persona_id": int, "asset_id": str}``. Both must belong to the job's content owner (the primary
account of linked accounts): face swap only ever uses the user's own personas as the source face. The
persona must be ready (its photos analysed); its best reference photo is the source.

Photos come back in their own format family (JPEG stays JPEG, anything else becomes PNG); videos as H.264
MP4 with the original audio, at most ``STUDIO_SWAP_MAX_SECONDS`` long and ``STUDIO_SWAP_MAX_SIDE`` on the
longer side. Which faces are swapped is ``STUDIO_SWAP_FACES`` (the largest by default). The result is scored
against the persona (for a video, on a few frames) and the score stored on the asset.

A target the worker refuses (unreadable, damaged, too long) that the user uploaded for the swap is removed from
their gallery with the refusal: it could never be used for anything.
"""

from __future__ import annotations

import io
import logging
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import NotAvailable, NotFound, UsageError
from core.jobresults import JobResult
from core.jobspecs import FaceSwapSpec
from core.likeness import THRESHOLD_PERCENT, likeness_from_score
from core.messages import Media
from inference.engines.base import scaled
from inference.engines.faceswap import (
    SourceFace,
    SwapRequest,
    SwapResult,
)
from inference.identity import load_rgb, scorer_for
from inference.media import MediaError, VideoInfo, probe
from inference.persona_face import Reference, prepare, references_of
from inference.provenance.credentials import Ingredient
from inference.provenance.stamp import frame_marks
from inference.runtime import task
from inference.task_context import NewAsset, TaskContext
from storage.models import Asset, Persona
from storage.repositories import assets as asset_repo
from storage.repositories import blob_refs
from storage.repositories import personas as persona_repo
from storage.states import AssetOrigin, PersonaStatus

log = logging.getLogger(__name__)

ENGINE_SHARE = (0.05, 0.9)  # of the job's progress bar; before it loading, after it scoring and storing
JPEG_QUALITY = 95
# Reference ranking: a swap warps the source onto the target's pose, so a turned source leaves its hidden
# side smeared; frontal counts most, then sharpness, then size (each saturating where more stops helping).
SHARP_ENOUGH = 150.0
LARGE_ENOUGH = 400.0
MAX_ALTERNATIVES = 5  # other reference photos a landmark swap may choose from by pose
NO_FACE_HINT = "send one where a face is clearly visible, facing the camera and at least 40 pixels across"


class TargetRefused(UsageError):
    """The photo or video to swap into cannot be used at all (unreadable, damaged, too long)."""


@dataclass
class _Job:
    """What the job works on, read before the (long) swap so no database session stays open."""

    persona: Persona
    references: list[Reference]
    asset_id: str
    kind: str
    blob: str
    mime: str
    origin: str = ""
    notes: list[str] = field(default_factory=list)


def _read(ctx: TaskContext, spec: FaceSwapSpec) -> _Job:
    with ctx.db.session() as session:
        asset = asset_repo.get_owned(session, asset_id=spec.asset_id, owner_id=ctx.content_owner_id)
        if asset is None:
            raise NotFound("That photo or video is gone or isn't yours; /gallery shows the ones you can use.")
        if asset.kind not in ("image", "video"):
            raise UsageError(f"#{asset.id} is a {asset.kind}; /swap works on a photo or a video.")
        persona = persona_repo.get_owned(session, persona_id=spec.persona_id, owner_id=ctx.content_owner_id)
        if persona is None:
            # Only the user's own personas may lend their face: anyone else's is as good as missing.
            raise NotFound("That persona is gone or isn't yours; /persona list shows yours.")
        if persona.status != PersonaStatus.READY.value:
            raise UsageError(f"{persona.name} is not ready yet ({persona.status}); try again once its photos "
                             "are analysed.")
        return _Job(persona=persona, references=references_of(persona), asset_id=asset.id, kind=asset.kind,
                    blob=asset.blob, mime=asset.mime, origin=asset.origin)


def _video_info(ctx: TaskContext, job: _Job, path: Path) -> VideoInfo:
    """The target video's size and length (written onto an upload's row); refuses one too long."""
    try:
        info = probe(path)
    except MediaError:
        raise TargetRefused(f"I could not read #{job.asset_id} as a video; send it again as an MP4.") from None
    _fill_in_upload(ctx, job, info)
    limit = ctx.settings.swap_max_seconds
    if info.duration_s > limit + 0.05:
        raise TargetRefused(f"That video is {info.duration_s:.0f} s long; face swap takes videos up to {limit:g} s. "
                         "Trim it and send it again.")
    return info


def _fill_in_upload(ctx: TaskContext, job: _Job, info: VideoInfo) -> None:
    """An uploaded video arrives as bytes only: its size and length are written once the worker has read it."""
    width, height = info.display_size
    with ctx.db.session() as session:
        asset = session.get(Asset, job.asset_id)
        if asset is not None and (not asset.width or asset.duration_s is None):
            asset.width, asset.height, asset.duration_s = width, height, round(info.duration_s, 3)


def _forget_refused_upload(ctx: TaskContext, job: _Job) -> bool:
    """Remove a refused target the user uploaded for this swap (row and file); returns whether it was removed.

    Generated and edited results stay: they were usable once and may be again elsewhere.
    """
    if job.origin != AssetOrigin.UPLOADED.value:
        return False
    with ctx.db.session() as session:
        asset = asset_repo.get_owned(session, asset_id=job.asset_id, owner_id=ctx.content_owner_id)
        if asset is None:
            return False
        session.delete(asset)
        session.flush()
        unused = bool(blob_refs.unused(session, [job.blob]))
    if unused:
        ctx.blobs.delete(job.blob)
    log.info("job %s: removed the refused upload #%s", ctx.job_id, job.asset_id)
    return True


def _swap(ctx: TaskContext) -> JobResult:
    job = _read(ctx, ctx.spec_as(FaceSwapSpec))
    try:
        return _swap_into(ctx, job)
    except TargetRefused as exc:
        if _forget_refused_upload(ctx, job):
            raise TargetRefused(f"{exc} (I removed #{job.asset_id} from your gallery.)") from None
        raise


def _swap_into(ctx: TaskContext, job: _Job) -> JobResult:
    settings = ctx.settings
    ctx.progress(0.01, f"preparing {job.persona.name}'s face")
    face = prepare(ctx, job.persona, job.references)
    engine, source = face.engine, face.source
    output = NewAsset(content=b"", kind=job.kind, origin=AssetOrigin.EDITED, mime="")
    with ctx.workdir() as workdir:
        target: np.ndarray | Path
        info: VideoInfo | None = None
        original = ctx.blobs.fetch(job.blob, into=workdir)
        # The photo or video the face went into is the result's parent in its Content Credentials.
        output = replace(output, ingredients=(Ingredient(original, job.asset_id),))
        if job.kind == "video":
            target = original
            info = _video_info(ctx, job, target)
            output = replace(output, marked=True)  # its frames carry the watermark as they are encoded
        else:
            try:
                target = load_rgb(original.read_bytes())
            except (UnidentifiedImageError, OSError):
                raise TargetRefused(f"I could not read #{job.asset_id} as a photo; send it again as a JPEG or "
                                    "PNG.") from None
        request = SwapRequest(source=source, alternatives=face.alternatives, identity=face.identity, target=target,
                              output=workdir / f"{ctx.job_id}.mp4",
                              candidates=settings.swap_candidates, choice_budget_s=settings.swap_choice_budget_s,
                              faces=settings.swap_faces, max_seconds=settings.swap_max_seconds,
                              max_side=settings.swap_max_side, detect_every=settings.swap_detect_every,
                              info=info, mark=frame_marks(output.id) if job.kind == "video" else None)
        try:  # run() checks the request first: ValueError names the argument at fault
            result = engine.run(request, scaled(ctx.progress, *ENGINE_SHARE))
        except MediaError:
            log.warning("face swap of %s failed reading or writing video", job.asset_id, exc_info=True)
            raise TargetRefused(f"I could not process #{job.asset_id} as a video (it may be damaged); send it "
                             "again as an MP4.") from None
        if result.faces_swapped == 0:
            what = "video" if job.kind == "video" else "photo"
            raise UsageError(f"I found no face in that {what}; {NO_FACE_HINT}.")
        ctx.progress(ENGINE_SHARE[1], "checking likeness")
        likeness = _likeness(ctx, job, result)
        ctx.progress(0.96, "saving")
        return _store(ctx, job, source, result, likeness, output)


@dataclass(frozen=True)
class _Likeness:
    """How like the persona the swapped face is: the score stored on the asset and what the chat says."""

    score: float | None = None
    engine: str | None = None
    caption: str = ""
    frames_passing: tuple[int, int] | None = None  # a video: sampled frames at the persona's likeness, of all


def _likeness(ctx: TaskContext, job: _Job, result: SwapResult) -> _Likeness:
    """The persona likeness of the swapped face (median over a video's sampled frames); notes a weak one."""
    persona = job.persona
    try:
        scorer = scorer_for(ctx)
    except NotAvailable as exc:
        log.info("no likeness check for job %s: %s", ctx.job_id, exc)
        return _Likeness()
    matches = []
    for sample in result.samples:
        verdict = scorer.score(Image.fromarray(sample), persona)
        # The face that was swapped: the main subject, unless every face was.
        match = verdict.subject if ctx.settings.swap_faces == "largest" else verdict.best
        if match is not None:
            matches.append(match)
    if not matches:
        job.notes.append(f"The swapped face is not recognisable as a face any more, so {persona.name}'s "
                         "likeness was not checked.")
        return _Likeness(engine=scorer.engine)
    score = float(statistics.median(match.similarity for match in matches))
    read = likeness_from_score(score, persona.identity, scorer.engine)
    caption = read.caption if read is not None else f"likeness {score:.2f}"
    passing = sum(1 for match in matches if match.same_person)
    frames = (passing, len(result.samples)) if result.kind == "video" else None
    if frames is not None:
        job.notes.append(f"{persona.name}'s likeness holds in {passing} of {len(result.samples)} sampled frames.")
    if read is not None and not read.passed:
        job.notes.append(f"Weak likeness: {read.percent} % ({persona.name}'s own photos are 100 %, a clear match "
                         f"{THRESHOLD_PERCENT:.0f} % or more). A sharper, more frontal target gives a closer result.")
    return _Likeness(score=score, engine=scorer.engine, caption=caption, frames_passing=frames)


def _encode_image(image: np.ndarray, mime: str) -> tuple[bytes, str, str]:
    """The photo as (bytes, mime, extension): JPEG stays JPEG, anything else becomes PNG."""
    out = io.BytesIO()
    picture = Image.fromarray(image)
    if mime == "image/jpeg":
        picture.save(out, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
        return out.getvalue(), "image/jpeg", "jpg"
    picture.save(out, format="PNG", compress_level=6)
    return out.getvalue(), "image/png", "png"


def _store(ctx: TaskContext, job: _Job, source: SourceFace, result: SwapResult, likeness: _Likeness,
           output: NewAsset) -> JobResult:
    persona = job.persona
    meta: dict[str, Any] = {"source_asset": job.asset_id, "engine": result.engine,
                            "faces_swapped": result.faces_swapped, "faces": ctx.settings.swap_faces,
                            "reference": result.reference or source.label, "times": result.times.as_dict(),
                            "identity_engine": likeness.engine}
    if likeness.frames_passing is not None:
        meta["frames_passing"] = list(likeness.frames_passing)
    if result.choices:
        meta["choices"] = [choice.as_dict() for choice in result.choices]
    content: bytes | Path
    if result.kind == "video":
        assert result.path is not None
        content, mime, extension = result.path, "video/mp4", "mp4"
        meta.update(frames=result.frames, fps=round(result.fps, 3), has_audio=result.has_audio,
                    frames_with_faces=result.frames_with_faces)
    else:
        assert result.image is not None
        content, mime, extension = _encode_image(result.image, job.mime)
    if job.notes:
        meta["notes"] = list(job.notes)
    duration = round(result.duration_s, 3) if result.kind == "video" else None
    [stored] = ctx.store_assets([replace(
        output, content=content, kind=result.kind, origin=AssetOrigin.EDITED, mime=mime, width=result.width,
        height=result.height, duration_s=duration, persona_id=persona.id, tags=["swapped"],
        identity_score=likeness.score, meta=meta)])
    caption = f"{persona.name} · {result.engine} swap"
    if duration is not None:
        caption += f" · {duration:.1f} s"
    if likeness.caption:
        caption += f" · {likeness.caption}"
    faces = f"{result.faces_swapped} faces" if result.faces_swapped > 1 else "the face"
    message = f"{persona.name}'s face swapped into #{job.asset_id} ({faces})."
    if job.notes:
        message += "\n" + "\n".join(job.notes)
    media = Media(blob=stored.blob, kind=result.kind, filename=f"{ctx.job_id}.{extension}", caption=caption,
                        asset_id=stored.id, size_bytes=stored.size_bytes, width=result.width, height=result.height,
                        mime=mime, duration_s=duration)
    return JobResult(message=message, media=[media], asset_ids=[stored.id])


swap_faces = task(_swap)
