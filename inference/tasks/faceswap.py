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
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import NotAvailable, NotFound, UsageError
from core.jobresults import JobResult
from core.jobspecs import FaceSwapSpec
from core.messages import Media
from inference.engines.base import scaled
from inference.engines.faces import FaceAnalyzer, engine_key, load_analyzer
from inference.engines.faces.dlib_backend import DlibFaceAnalyzer
from inference.engines.faces.geometry import five_from_68
from inference.engines.faceswap import (
    INSWAPPER_MODEL,
    FaceSwapEngine,
    LandmarkSwapEngine,
    SourceFace,
    SwapRequest,
    SwapResult,
    choose_engine,
)
from inference.engines.faceswap.inswapper import InswapperEngine
from inference.engines.faceswap.sources import load_source
from inference.identity import load_rgb, scorer_for
from inference.media import MediaError, VideoInfo, probe
from inference.models.resolve import store_for
from inference.runtime import NewAsset, TaskContext, task
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


@dataclass(frozen=True)
class Reference:
    """One analysed reference photo of the persona, as face analysis stored it."""

    blob: str
    label: str
    landmarks: list[list[float]] | None
    face_box: list[int] | None
    quality: dict[str, Any]


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


def reference_score(quality: dict[str, Any]) -> float:
    """How good a reference photo is as a swap source (higher is better; 0 for one never analysed)."""
    if not quality:
        return 0.0
    yaw = min(abs(float(quality.get("yaw", 90.0))), 90.0)
    frontal = math.cos(math.radians(yaw)) ** 2
    sharp = min(float(quality.get("blur", 0.0)), SHARP_ENOUGH) / SHARP_ENOUGH
    size = min(float(quality.get("face_px", 0.0)), LARGE_ENOUGH) / LARGE_ENOUGH
    return frontal * (0.5 + 0.5 * sharp) * (0.5 + 0.5 * size)


def best_reference(references: list[Reference]) -> Reference:
    """The persona's best swap source: most frontal, sharp and large among its analysed photos."""
    analysed = [ref for ref in references if ref.quality and ref.face_box]
    if not analysed:
        raise NotAvailable("That persona has no analysed photos yet; send its photos and /done first.")
    return max(analysed, key=lambda ref: reference_score(ref.quality))


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
        references = [Reference(blob=ref.blob, label=ref.filename or f"photo {index + 1}",
                                landmarks=ref.landmarks, face_box=ref.face_box, quality=dict(ref.quality or {}))
                      for index, ref in enumerate(persona.references)]
        return _Job(persona=persona, references=references, asset_id=asset.id, kind=asset.kind, blob=asset.blob,
                    mime=asset.mime, origin=asset.origin)


def _dlib(ctx: TaskContext) -> DlibFaceAnalyzer:
    analyzer = ctx.engine(engine_key("dlib"), lambda: load_analyzer(ctx.settings, "dlib"))
    assert isinstance(analyzer, DlibFaceAnalyzer)
    return analyzer


def _load_engine(ctx: TaskContext, name: str) -> FaceSwapEngine[Any]:
    if name == "landmark":
        return LandmarkSwapEngine(_dlib(ctx))
    from inference.engines.faces.insightface_backend import InsightFaceAnalyzer
    from inference.engines.faceswap.inswapper import load_inswapper

    model = store_for(ctx.settings).resolve(INSWAPPER_MODEL)
    analyzer: FaceAnalyzer = ctx.engine(engine_key("insightface"),
                                        lambda: load_analyzer(ctx.settings, "insightface"))
    assert isinstance(analyzer, InsightFaceAnalyzer)
    swapper = ctx.engine(f"faceswap:{model.key}", lambda: load_inswapper(model.path))
    return InswapperEngine(swapper, analyzer)


def _nearest(faces: list[np.ndarray], box: list[int] | None) -> np.ndarray:
    """The landmarks (of several faces) whose centre is nearest the stored face box's centre."""
    if box is None or len(faces) == 1:
        return faces[0]
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    return min(faces, key=lambda points: float(np.linalg.norm(points.mean(axis=0) - centre)))


def _source_face(ctx: TaskContext, job: _Job, engine: FaceSwapEngine[Any]) -> SourceFace:
    """The persona's best reference photo with the landmarks (and, for inswapper, embedding) it needs."""
    ref = best_reference(job.references)
    image = load_rgb(ctx.blobs.read_bytes(ref.blob))
    stored = np.asarray(ref.landmarks, dtype=np.float64) if ref.landmarks else None
    if isinstance(engine, LandmarkSwapEngine):
        if stored is None or stored.shape != (68, 2):
            # Analysed by a five-point engine: dlib places the 68 points the landmark swap needs.
            found = _dlib(ctx).detect(image)
            if not found:
                raise NotAvailable(f"No face could be found again in {job.persona.name}'s photo {ref.label}; "
                                   "re-create the persona with clearer photos.")
            stored = _nearest([face.landmarks for face in found], ref.face_box)
        return SourceFace(image=image, points=stored, label=ref.label)
    assert isinstance(engine, InswapperEngine)
    # The persona's aggregate embedding under the pack's engine, where analysis stored one: steadier than any
    # single photo's. Otherwise the engine embeds the reference photo itself.
    identity = (job.persona.identity or {}).get(engine.analyzer.name) or {}
    vector = identity.get("vector")
    embedding = np.asarray(vector, dtype=np.float64) if vector else None
    points = stored if stored is not None else np.zeros((5, 2))
    if points.shape == (68, 2):
        points = five_from_68(points)
    return SourceFace(image=image, points=points, embedding=embedding, label=ref.label)


def _landmark_choices(ctx: TaskContext, job: _Job, engine: FaceSwapEngine[Any],
                      source: SourceFace) -> tuple[tuple[SourceFace, ...], np.ndarray | None]:
    """For the landmark swap: the persona's other analysed photos (each face is swapped with the one whose
    head pose matches it best) and its dlib identity (what the engine scores its candidates against)."""
    if not isinstance(engine, LandmarkSwapEngine):
        return (), None
    best = best_reference(job.references)
    others = sorted((ref for ref in job.references if ref.blob != best.blob and ref.quality and ref.landmarks
                     and np.asarray(ref.landmarks).shape == (68, 2)),
                    key=lambda ref: reference_score(ref.quality), reverse=True)[:MAX_ALTERNATIVES]
    alternatives = tuple(load_source(ctx.blobs.read_bytes(ref.blob), np.asarray(ref.landmarks, dtype=np.float64),
                                     label=ref.label) for ref in others)
    vector = ((job.persona.identity or {}).get("dlib") or {}).get("vector")
    return alternatives, np.asarray(vector, dtype=np.float64) if vector else None


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
    ctx.progress(0.01, "loading the face models")
    engine = _load_engine(ctx, choose_engine(settings))
    ctx.progress(0.03, f"preparing {job.persona.name}'s face")
    source = _source_face(ctx, job, engine)
    alternatives, identity = _landmark_choices(ctx, job, engine, source)
    with ctx.workdir() as workdir:
        target: np.ndarray | Path
        info: VideoInfo | None = None
        if job.kind == "video":
            target = ctx.blobs.fetch(job.blob, into=workdir)
            info = _video_info(ctx, job, target)
        else:
            try:
                target = load_rgb(ctx.blobs.read_bytes(job.blob))
            except (UnidentifiedImageError, OSError):
                raise TargetRefused(f"I could not read #{job.asset_id} as a photo; send it again as a JPEG or "
                                    "PNG.") from None
        request = SwapRequest(source=source, alternatives=alternatives, identity=identity, target=target,
                              output=workdir / f"{ctx.job_id}.mp4",
                              faces=settings.swap_faces, max_seconds=settings.swap_max_seconds,
                              max_side=settings.swap_max_side, detect_every=settings.swap_detect_every,
                              info=info)
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
        score = _likeness(ctx, job, result)
        ctx.progress(0.96, "saving")
        return _store(ctx, job, source, result, score)


def _likeness(ctx: TaskContext, job: _Job, result: SwapResult) -> float | None:
    """The persona likeness of the swapped face (median over a video's sampled frames); notes a weak one."""
    persona = job.persona
    try:
        scorer = scorer_for(ctx)
    except NotAvailable as exc:
        log.info("no likeness check for job %s: %s", ctx.job_id, exc)
        return None
    scores: list[float] = []
    threshold = None
    for sample in result.samples:
        verdict = scorer.score(Image.fromarray(sample), persona)
        threshold = verdict.threshold
        if verdict.score is not None:
            scores.append(verdict.score)
    if not scores:
        job.notes.append(f"The swapped face is not recognisable as a face any more, so {persona.name}'s "
                         "likeness was not checked.")
        return None
    score = float(statistics.median(scores))
    if threshold is not None and score < threshold:
        job.notes.append(f"Weak likeness: the face matches {persona.name} at {score:.2f} (a clear match is "
                         f"{threshold:.2f} or more). A sharper, more frontal target gives a closer result.")
    return score


def _encode_image(image: np.ndarray, mime: str) -> tuple[bytes, str, str]:
    """The photo as (bytes, mime, extension): JPEG stays JPEG, anything else becomes PNG."""
    out = io.BytesIO()
    picture = Image.fromarray(image)
    if mime == "image/jpeg":
        picture.save(out, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
        return out.getvalue(), "image/jpeg", "jpg"
    picture.save(out, format="PNG", compress_level=6)
    return out.getvalue(), "image/png", "png"


def _store(ctx: TaskContext, job: _Job, source: SourceFace, result: SwapResult,
           score: float | None) -> JobResult:
    persona = job.persona
    meta: dict[str, Any] = {"source_asset": job.asset_id, "engine": result.engine,
                            "faces_swapped": result.faces_swapped, "faces": ctx.settings.swap_faces,
                            "reference": result.reference or source.label, "times": result.times.as_dict()}
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
    [stored] = ctx.store_assets([NewAsset(
        content=content, kind=result.kind, origin=AssetOrigin.EDITED, mime=mime, width=result.width,
        height=result.height, duration_s=duration, persona_id=persona.id, tags=["swapped"], identity_score=score,
        meta=meta)])
    caption = f"{persona.name} · {result.engine} swap"
    if duration is not None:
        caption += f" · {duration:.1f} s"
    if score is not None:
        caption += f" · likeness {score:.2f}"
    faces = f"{result.faces_swapped} faces" if result.faces_swapped > 1 else "the face"
    message = f"{persona.name}'s face swapped into #{job.asset_id} ({faces})."
    if job.notes:
        message += "\n" + "\n".join(job.notes)
    media = Media(blob=stored.blob, kind=result.kind, filename=f"{ctx.job_id}.{extension}", caption=caption,
                        asset_id=stored.id, size_bytes=stored.size_bytes, width=result.width, height=result.height,
                        mime=mime, duration_s=duration)
    return JobResult(message=message, media=[media], asset_ids=[stored.id])


swap_faces = task(_swap)
