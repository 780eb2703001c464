"""The /animate job: one of the user's images → a short MP4 (camera-motion preset or AI motion), stored as an asset."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from PIL import Image

from core.errors import NotAvailable, NotFound, UsageError
from core.jobresults import JobResult
from core.jobspecs import VideoSpec
from core.likeness import likeness_from_score
from core.messages import Media
from core.settings import Settings
from inference.device import pick_device, plan_for
from inference.engines.base import scaled
from inference.engines.video import (
    AI,
    LtxVideoEngine,
    MotionEngine,
    VideoRequest,
    VideoResult,
    check_seconds,
)
from inference.engines.video.ltx import NEGATIVE_PROMPT, NEUTRAL_PROMPT
from inference.identity import load_rgb, scorer_for
from inference.models.registry import video_model_for_profile
from inference.models.resolve import store_for, video_model
from inference.models.store import ResolvedModel
from inference.provenance.credentials import Ingredient
from inference.provenance.stamp import frame_marks
from inference.runtime import task
from inference.task_context import NewAsset, TaskContext
from storage.models import Persona, new_id
from storage.repositories import assets as asset_repo
from storage.repositories import personas as persona_repo
from storage.states import AssetOrigin

log = logging.getLogger(__name__)

DEFAULT_PRESET = "zoom-in"
ENGINE_SHARE = (0.03, 0.92)  # of the job's progress bar; before it loading, after it scoring and storing
MOTION_HINT = "natural subtle motion, gentle camera movement"


@dataclass
class _Source:
    """The image being animated, read before the (long) render so no database session stays open."""

    asset_id: str
    blob: str
    persona_id: int | None
    identity_score: float | None
    prompt: str
    persona: Persona | None
    origin: str = AssetOrigin.GENERATED.value
    identity_engine: str | None = None  # the face engine the score was made with (the still's, else the clip's)
    notes: list[str] = field(default_factory=list)


def _read_source(ctx: TaskContext, asset_id: str) -> _Source:
    with ctx.db.session() as session:
        asset = asset_repo.get_owned(session, asset_id=asset_id, owner_id=ctx.content_owner_id)
        if asset is None:
            raise NotFound("That image is gone or isn't yours; /gallery shows the ones you can animate.")
        if asset.kind != "image":
            raise UsageError(f"{asset_id} is a {asset.kind}, not an image: /animate works on a still image.")
        persona = None
        if asset.persona_id is not None:
            persona = persona_repo.get_owned(session, persona_id=asset.persona_id, owner_id=ctx.content_owner_id)
            if persona is not None:
                _ = list(persona.references)  # loaded now: the likeness check may read them after the session
        prompt = (asset.meta or {}).get("prompt")
        return _Source(asset_id=asset.id, blob=asset.blob, persona_id=asset.persona_id,
                       identity_score=asset.identity_score, prompt=prompt if isinstance(prompt, str) else "",
                       persona=persona, origin=asset.origin,
                       identity_engine=(asset.meta or {}).get("identity_engine"))


def _not_available(settings: Settings) -> NotAvailable:
    spec = video_model_for_profile(settings.model_profile, store_for(settings).registry)
    if spec is None:
        full = video_model_for_profile("full")
        name = full.name if full is not None else "image-to-video"
        return NotAvailable(f"AI motion needs a GPU worker with the {name} model; this one makes camera moves "
                            f"only: try --motion zoom-in or another preset.")
    return NotAvailable(f"AI motion needs the {spec.name} model on the worker (studio models pull {spec.name}); "
                        f"try --motion zoom-in or another preset.")


def _on_cuda(settings: Settings) -> bool:
    return torch.device(pick_device(settings.torch_device)).type == "cuda"


def choose_motion(settings: Settings, requested: str | None) -> tuple[str, ResolvedModel | None]:
    """The motion to make and, for AI motion, the model that makes it.

    Unasked, AI motion is the default only where it runs at a usable speed (a CUDA device with the profile's
    video model); elsewhere a zoom-in, which any CPU renders faster than real time. Asked for explicitly, AI
    motion runs wherever the model is installed, and ``NotAvailable`` says what to do where it is not.
    """
    if requested is not None and requested != AI:
        return requested, None
    if requested == AI:
        model = video_model(settings)
        if model is None:
            raise _not_available(settings)
        if model.spec.source != "tiny" and not _on_cuda(settings):
            # A full-size video model on a CPU takes hours per clip and would only run into the job timeout.
            raise NotAvailable("AI motion needs a GPU worker and this one has none; try --motion zoom-in or "
                               "another preset.")
        return AI, model
    if _on_cuda(settings):
        model = video_model(settings)
        if model is not None:
            return AI, model
    return DEFAULT_PRESET, None


def _load_ltx(ctx: TaskContext, model: ResolvedModel) -> LtxVideoEngine:
    spec = model.spec
    plan = plan_for(full_gb=spec.full_vram_gb, min_gb=spec.min_vram_gb, prefer=ctx.settings.torch_device)
    return ctx.engine(f"video:{model.key}", lambda: LtxVideoEngine.load(model, plan))


def _likeness(ctx: TaskContext, source: _Source, result: VideoResult) -> float | None:
    """For AI motion: how much the face in the last frame still looks like the persona (the model may drift)."""
    persona = source.persona
    if persona is None or not persona.identity:
        return None
    try:
        verdict = scorer_for(ctx).score(Image.fromarray(result.last_frame), persona)
    except NotAvailable as exc:
        log.info("no likeness check for job %s: %s", ctx.job_id, exc)
        return None
    subject = verdict.subject
    if subject is None:
        source.notes.append(f"No face is visible in the last frame, so {persona.name}'s likeness was not checked.")
        return None
    source.identity_engine = verdict.engine
    if not subject.same_person:
        shown = subject.likeness.caption if subject.likeness is not None else f"{subject.similarity:.2f}"
        source.notes.append(f"By the last frame the face drifts from {persona.name}'s likeness ({shown}); a "
                            "camera-motion preset keeps it.")
    return subject.similarity


def _animate(ctx: TaskContext) -> JobResult:
    settings = ctx.settings
    spec = ctx.spec_as(VideoSpec)
    seconds = check_seconds(settings.video_default_seconds if spec.seconds is None else spec.seconds)
    source = _read_source(ctx, spec.asset_id)
    # Said before resolving the model: on the tiny profile's first use that builds the model files.
    may_load = spec.motion == AI or (spec.motion is None and _on_cuda(settings))
    ctx.progress(0.01, "loading model" if may_load else "preparing")
    motion, model = choose_motion(settings, spec.motion)
    clip_id = new_id()  # the clip's asset id, known before its frames exist: they carry it as the watermark
    with ctx.workdir() as workdir:
        still = ctx.blobs.fetch(source.blob, into=workdir)
        image = Image.fromarray(load_rgb(still.read_bytes()))
        request = VideoRequest(image=image, output=workdir / f"{ctx.job_id}.mp4", motion=motion,
                               seconds=seconds, fps=settings.video_fps, max_side=settings.video_max_side,
                               mark=frame_marks(clip_id))
        engine: MotionEngine | LtxVideoEngine = MotionEngine()
        if model is not None:
            engine = _load_ltx(ctx, model)
            # The still's own prompt describes what is in it; the model still needs telling that it moves.
            request = replace(request, prompt=f"{source.prompt}, {MOTION_HINT}" if source.prompt else NEUTRAL_PROMPT,
                              negative=NEGATIVE_PROMPT, seed=secrets.randbelow(2**32), steps=settings.video_ai_steps)
        engine.check_inputs(request)
        result = engine.run(request, scaled(ctx.progress, *ENGINE_SHARE))
        score = source.identity_score
        if motion == AI:
            ctx.progress(ENGINE_SHARE[1], "checking likeness")
            score = _likeness(ctx, source, result)
        ctx.progress(0.96, "saving")
        return _store(ctx, seconds, source, request, result, score,
                      NewAsset(id=clip_id, marked=True, ingredients=(Ingredient(still, source.asset_id),),
                               content=result.path, kind="video", mime="video/mp4", origin=_origin(source)))


def _origin(source: _Source) -> AssetOrigin:
    # Our own still moved is still ours; a user's photo moved by us is their picture, edited.
    return AssetOrigin.GENERATED if source.origin == AssetOrigin.GENERATED else AssetOrigin.EDITED


def _store(ctx: TaskContext, seconds: float, source: _Source, request: VideoRequest, result: VideoResult,
           score: float | None, clip: NewAsset) -> JobResult:
    duration = round(result.duration_s, 3)
    meta: dict[str, Any] = {"source_asset": source.asset_id, "motion": result.motion, "seconds": seconds,
                            "fps": result.fps, "frames": result.frames, "engine": result.engine,
                            "identity_engine": source.identity_engine}
    if result.motion == AI:
        meta.update(model=result.model, seed=result.seed, prompt=request.prompt, negative=request.negative,
                    steps=result.steps, guidance=result.guidance)
    [stored] = ctx.store_assets([replace(
        clip, width=result.width, height=result.height, duration_s=duration, persona_id=source.persona_id,
        tags=["animated", result.motion], identity_score=score, meta=meta)])
    label = "AI" if result.motion == AI else result.motion
    caption = f"{label} · {duration:.1f} s · {result.width}x{result.height}"
    if result.seed is not None:
        caption += f" · seed {result.seed}"
    if result.motion == AI and source.persona is not None:
        read = likeness_from_score(score, source.persona.identity, source.identity_engine)
        if read is not None:
            caption += f" · {read.caption}"
    message = f"{seconds:g} s {label} animation of {source.asset_id}"
    if source.notes:
        message += "\n" + "\n".join(source.notes)
    media = Media(blob=stored.blob, kind="video", filename=f"{ctx.job_id}.mp4", caption=caption,
                        asset_id=stored.id, size_bytes=stored.size_bytes, width=result.width, height=result.height,
                        duration_s=duration, mime="video/mp4")
    return JobResult(message=message, media=[media], asset_ids=[stored.id])



animate = task(_animate)
