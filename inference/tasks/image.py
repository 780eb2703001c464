"""The /imagine job: prompt → images of the persona, gated on identity, stored as assets."""

from __future__ import annotations

import io
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from core.errors import NotFound
from core.jobresults import JobResult
from core.jobspecs import ImageSpec
from core.messages import Media
from core.prompts import BuiltPrompt, PersonaText, build_prompt, vary_prompt
from inference.device import plan_for
from inference.engines.base import Progress
from inference.engines.image import (
    GatedImage,
    GeneratedImage,
    ImageEngine,
    ImageRequest,
    check_steps,
)
from inference.identity_pass import identity_pass, likeness_caption, likeness_notes
from inference.models import image_model
from inference.models.store import ResolvedModel
from inference.runtime import task
from inference.task_context import NewAsset, TaskContext
from storage.models import LoraWeights, Persona
from storage.repositories import assets as asset_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from storage.states import AssetOrigin

log = logging.getLogger(__name__)

GENERATION_SHARE = 0.92  # of the job's progress bar; the rest is scoring and storing


@dataclass
class _JobInputs:
    """Everything read from the database before the (long) generation, so no session stays open."""

    spec: ImageSpec
    preferences: dict[str, Any]
    persona: Persona | None
    lora: LoraWeights | None
    source_seed: int | None = None
    notes: list[str] = field(default_factory=list)


def _read_inputs(ctx: TaskContext, spec: ImageSpec) -> _JobInputs:
    with ctx.db.session() as session:
        user = user_repo.get(session, user_id=ctx.owner_id)
        preferences = dict(user.preferences or {}) if user is not None else {}
        source_seed = None
        if spec.variation_of:
            source = asset_repo.get_owned(session, asset_id=spec.variation_of, owner_id=ctx.content_owner_id)
            if source is None or source.kind != "image":
                raise NotFound(f"No image {spec.variation_of!r} among yours to make variations of.")
            original = dict(source.meta.get("request") or {})
            source_seed = source.meta.get("seed")
            # The variation repeats the original request; anything the user gives now takes precedence.
            spec = spec.model_copy(update=dict(
                prompt=spec.prompt if spec.variation == "seeds" and spec.prompt else original.get("prompt", ""),
                persona_id=spec.persona_id if spec.persona_id is not None else source.persona_id,
                aspect_ratio=spec.aspect_ratio or original.get("aspect_ratio"),
                steps=spec.steps or original.get("steps"),
                template=spec.template or original.get("template"),
                platform=spec.platform or original.get("platform"),
                negative=spec.negative or original.get("negative"),
                outfits=spec.outfits or tuple(original.get("outfits") or ()),
            ))
            asked = ctx.spec_as(ImageSpec).prompt
            if spec.variation == "prompt" and asked:
                spec = spec.model_copy(update={"prompt": f"{original.get('prompt', '')}, {asked}"})
        persona = lora = None
        if spec.persona_id is not None:
            persona = persona_repo.get_owned(session, persona_id=spec.persona_id, owner_id=ctx.content_owner_id)
            if persona is None:
                raise NotFound("No such persona among yours; /persona list shows them.")
            _ = list(persona.references)  # loaded now: the identity scorer may read them after the session
            active = [w for w in persona.loras if w.active]
            lora = active[-1] if active else None
    return _JobInputs(spec=spec, preferences=preferences, persona=persona, lora=lora, source_seed=source_seed)


class StepProgress:
    """Maps denoising steps of every engine call (first pass and regenerations) onto the job's bar."""

    def __init__(self, ctx: TaskContext, planned_steps: int) -> None:
        self.ctx = ctx
        self.planned = max(1, planned_steps)
        self.done = 0

    def fraction(self) -> float:
        """The share of the job's bar done so far."""
        return GENERATION_SHARE * self.done / self.planned

    def run(self, steps: int, label: str) -> Progress:
        start = self.done
        self.done += steps
        self.planned = max(self.planned, self.done)

        def report(fraction: float, stage: str) -> None:
            current = start + fraction * steps
            self.ctx.progress(GENERATION_SHARE * current / self.planned, f"{label}: {stage}")

        return report


def load_engine(ctx: TaskContext, model: ResolvedModel) -> ImageEngine:
    """The profile's image engine, warm from the worker's cache when another job loaded it."""
    spec = model.spec
    plan = plan_for(full_gb=spec.full_vram_gb, min_gb=spec.min_vram_gb, prefer=ctx.settings.torch_device,
                    compile=ctx.settings.image_compile)
    return ctx.engine(f"image:{model.key}", lambda: ImageEngine.load(model, plan))


def adapter_name(lora: LoraWeights) -> str:
    """The adapter name a LoRA is loaded under: its weights' digest, so a warm engine reuses it across jobs
    and can never mistake one persona's weights for another's (row ids can be reused after a delete)."""
    return f"lora-{lora.blob[:16]}"


def apply_lora(ctx: TaskContext, engine: ImageEngine, lora: LoraWeights | None, notes: list[str]) -> str | None:
    """The adapter name of the persona's LoRA loaded into ``engine``, or None (with a note in ``notes`` when the
    persona has one this model cannot use)."""
    if lora is None:
        return None
    model = engine.model
    if not model.spec.supports_lora:
        notes.append(f"{model.name} cannot use the persona's trained LoRA; identity comes from the gate.")
        return None
    trained_for = lora.base_model.split("@", 1)[0]
    if trained_for != model.name:
        notes.append(f"The persona's LoRA v{lora.version} was trained for {trained_for}, not "
                            f"{model.name}; generating without it.")
        return None
    name = adapter_name(lora)
    if name not in engine.adapters:
        with ctx.workdir() as workdir:  # the weights are read into memory; the file goes with the folder
            engine.load_adapter(name, ctx.blobs.fetch(lora.blob, into=workdir))
    return name


def _prompts(engine: ImageEngine, inputs: _JobInputs, adapter: str | None, count: int) -> list[BuiltPrompt]:
    """One built prompt per output: the same for all, except prompt variations (one change each)."""
    spec = inputs.spec
    persona = inputs.persona
    subject = None
    if persona is not None:
        # The trigger token only means something to the model once the persona's LoRA is loaded.
        subject = PersonaText(trigger_token=persona.trigger_token if adapter else "",
                              description=persona.description, style=persona.style_notes)
    texts = [spec.prompt] * count
    if spec.variation == "prompt":
        # Same seed, one small change per output, so the variations differ from the original and each other.
        offset = secrets.randbelow(1000)
        texts = [vary_prompt(spec.prompt, offset + i) for i in range(count)]
    built = []
    for text in texts:
        built.append(build_prompt(
            text,
            persona=subject,
            template=spec.template,
            platform=spec.platform,
            negative=spec.negative,
            aspect_ratio=spec.aspect_ratio,
            preferences=inputs.preferences,
            clip_limit=engine.clip_limit,
            count_tokens=engine.count_clip_tokens,
        ))
    return built


def image_request(engine: ImageEngine, built: BuiltPrompt, seeds: list[int], steps: int,
             adapter: str | None) -> ImageRequest:
    return ImageRequest(
        prompt=built.clip_text,
        prompt_3=built.text,
        negative=built.negative,
        aspect_ratio=built.aspect_ratio,
        seeds=tuple(seeds),
        steps=steps,
        guidance=engine.model.spec.default_guidance,
        adapter=adapter,
    )


def png_bytes(image: Image.Image, meta: dict[str, Any]) -> bytes:
    """``image`` as PNG with the request's prompt, seed, steps and model in its text chunks."""
    info = PngInfo()
    for key in ("prompt", "negative", "seed", "steps", "model"):
        info.add_text(f"studio:{key}", str(meta.get(key, "")))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _generate(ctx: TaskContext) -> JobResult:
    spec = ctx.spec_as(ImageSpec)
    inputs = _read_inputs(ctx, spec)
    spec = inputs.spec
    # Said before resolving the model: on the tiny profile's first use that builds the model files.
    ctx.progress(0.01, "loading model")
    model = image_model(ctx.settings)
    steps = check_steps(spec.steps or model.spec.default_steps, max_steps=model.spec.max_steps)
    engine = load_engine(ctx, model)
    adapter = apply_lora(ctx, engine, inputs.lora, inputs.notes)
    prompts = _prompts(engine, inputs, adapter, spec.n)

    if spec.variation == "prompt" and inputs.source_seed is not None:
        seeds = [int(inputs.source_seed)] * spec.n
    elif spec.seed is not None:
        seeds = [(spec.seed + i) % 2**32 for i in range(spec.n)]
    else:
        seeds = [secrets.randbelow(2**32) for _ in range(spec.n)]

    checking = identity_pass(ctx, inputs.persona)
    retries = max(0, ctx.settings.identity_gate_retries) if checking is not None else 0
    tracker = StepProgress(ctx, planned_steps=steps * spec.n)

    # Same prompt for every output: one batched call. Prompt variations differ per output: one call each.
    generated: list[GeneratedImage] = []
    prompt_of: list[BuiltPrompt] = []
    groups = [(prompts[0], seeds)] if len({p.text for p in prompts}) == 1 else [
        (p, [s]) for p, s in zip(prompts, seeds, strict=True)]
    for built, group_seeds in groups:
        request = image_request(engine, built, group_seeds, steps, adapter)
        engine.check_inputs(request)
        label = f"{len(generated) + 1}-{len(generated) + len(group_seeds)} of {spec.n}"
        result = engine.run(request, tracker.run(steps * len(group_seeds), f"image {label}"))
        generated.extend(result.images)
        prompt_of.extend([built] * len(group_seeds))

    gated: list[GatedImage]
    engine_name: str | None = None
    if checking is None:
        gated = [GatedImage(image=g, score=None, passed=True, attempts=1) for g in generated]
    else:
        engine_name = checking.engine

        def regenerate(slot: int, attempt: int) -> GeneratedImage:
            tracker.planned += steps
            request = image_request(engine, prompt_of[slot], [secrets.randbelow(2**32)], steps, adapter)
            label = f"image {slot + 1} of {spec.n}, try {attempt} (likeness check)"
            return engine.run(request, tracker.run(steps, label)).images[0]

        ctx.progress(GENERATION_SHARE, "checking likeness")
        gated = checking.run(generated, regenerate=regenerate, retries=retries)

    ctx.progress(0.96, "saving")
    return _store(ctx, spec, inputs, model, steps, adapter, gated, prompt_of, engine_name)


def _store(ctx: TaskContext, spec: ImageSpec, inputs: _JobInputs, model: ResolvedModel, steps: int,
           adapter: str | None, gated: list[GatedImage], prompt_of: list[BuiltPrompt],
           identity_engine: str | None = None) -> JobResult:
    persona = inputs.persona
    checked = persona is not None and bool(persona.identity) and identity_engine is not None
    made = ImageMaking(model=model, steps=steps, adapter=adapter,
                       lora_version=inputs.lora.version if adapter and inputs.lora is not None else None,
                       persona_id=persona.id if persona is not None else None,
                       identity_engine=identity_engine if checked else None)
    items = [made.asset(item, prompt_of[index], request=spec.request_fields(),
                        extra={"variation_of": spec.variation_of, "variation": spec.variation,
                               "outfits": list(spec.outfits)})
             for index, item in enumerate(gated)]
    stored = ctx.store_assets(items)
    media = []
    for index, (item, saved) in enumerate(zip(gated, stored, strict=True)):
        caption = f"seed {item.image.seed}"
        if checked and persona is not None:
            caption += " · " + likeness_caption(item, persona.identity, identity_engine)
        media.append(Media(blob=saved.blob, kind="image", filename=f"{ctx.job_id}-{index + 1}.png",
                           caption=caption, asset_id=saved.id, size_bytes=saved.size_bytes,
                           width=item.image.width, height=item.image.height, mime="image/png"))
    who = f"{persona.name}: " if persona is not None else ""
    count = len(media)
    message = f"{count} image{'s' if count != 1 else ''} — {who}{spec.prompt or prompt_of[0].text}"[:300]
    if spec.outfits:
        message += f"\nOutfit: {', '.join(spec.outfits)}"
    notes = list(inputs.notes)
    if prompt_of and prompt_of[0].trimmed:
        notes.append("The prompt is long: the first part steers composition most.")
    if checked and persona is not None:
        notes += likeness_notes(gated, persona.name)
    if notes:
        message += "\n" + "\n".join(notes)
    return JobResult(message=message, media=media, asset_ids=[saved.id for saved in stored])


@dataclass(frozen=True)
class ImageMaking:
    """How a job's pictures were made (model, steps, LoRA, persona, face engine): what every output's asset row
    and meta record, for /info, variations and exports."""

    model: ResolvedModel
    steps: int
    adapter: str | None
    lora_version: int | None
    persona_id: int | None
    identity_engine: str | None  # None: likeness not checked

    def asset(self, item: GatedImage, built: BuiltPrompt, *, request: dict[str, Any], extra: dict[str, Any],
              tags: tuple[str, ...] = ()) -> NewAsset:
        """The asset to store for ``item`` made from ``built``; ``request`` is what a variation repeats."""
        image = item.image
        checked = self.identity_engine is not None
        layers = [name for name, ran in (("lora", bool(self.adapter)), ("refined", item.refined)) if ran]
        meta = {
            "prompt": built.text,
            "clip_prompt": built.clip_text,
            "negative": built.negative,
            "seed": image.seed,
            "steps": self.steps,
            "guidance": self.model.spec.default_guidance,
            "width": image.width,
            "height": image.height,
            "aspect_ratio": built.aspect_ratio,
            "model": self.model.key,
            "template": built.template,
            "platform": built.platform,
            "lora": self.adapter,
            "lora_version": self.lora_version,
            "identity_passed": item.passed if checked else None,
            "identity_engine": self.identity_engine,
            "no_face": item.no_face if checked else None,
            "layers": layers,
            "reference": item.reference,
            "attempts": item.attempts,
            **extra,
            "request": request,
        }
        # A refined image is the model's picture with the persona's face put in: an edit, labelled as one.
        return NewAsset(content=png_bytes(image.image, meta), kind="image",
                        origin=AssetOrigin.EDITED if item.refined else AssetOrigin.GENERATED,
                        mime="image/png", width=image.width, height=image.height, persona_id=self.persona_id,
                        tags=[t for t in ("generated", *tags, built.template, built.platform) if t],
                        identity_score=item.score, meta=meta)


generate_images = task(_generate)
