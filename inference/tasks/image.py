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
from core.likeness import likeness_from_score
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
    identity_gate,
)
from inference.engines.image.gate import Score
from inference.identity import scorer_for
from inference.models import image_model
from inference.models.store import ResolvedModel
from inference.persona_face import references_of
from inference.refinement import refiner
from inference.runtime import NewAsset, TaskContext, task
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


class _StepProgress:
    """Maps denoising steps of every engine call (first pass and regenerations) onto the job's bar."""

    def __init__(self, ctx: TaskContext, planned_steps: int) -> None:
        self.ctx = ctx
        self.planned = max(1, planned_steps)
        self.done = 0

    def run(self, steps: int, label: str) -> Progress:
        start = self.done
        self.done += steps
        self.planned = max(self.planned, self.done)

        def report(fraction: float, stage: str) -> None:
            current = start + fraction * steps
            self.ctx.progress(GENERATION_SHARE * current / self.planned, f"{label}: {stage}")

        return report


def _load_engine(ctx: TaskContext, model: ResolvedModel) -> ImageEngine:
    spec = model.spec
    plan = plan_for(full_gb=spec.full_vram_gb, min_gb=spec.min_vram_gb, prefer=ctx.settings.torch_device,
                    compile=ctx.settings.image_compile)
    return ctx.engine(f"image:{model.key}", lambda: ImageEngine.load(model, plan))


def adapter_name(lora: LoraWeights) -> str:
    """The adapter name a LoRA is loaded under: its weights' digest, so a warm engine reuses it across jobs
    and can never mistake one persona's weights for another's (row ids can be reused after a delete)."""
    return f"lora-{lora.blob[:16]}"


def _apply_lora(ctx: TaskContext, engine: ImageEngine, inputs: _JobInputs) -> str | None:
    lora = inputs.lora
    if lora is None:
        return None
    model = engine.model
    if not model.spec.supports_lora:
        inputs.notes.append(f"{model.name} cannot use the persona's trained LoRA; identity comes from the gate.")
        return None
    trained_for = lora.base_model.split("@", 1)[0]
    if trained_for != model.name:
        inputs.notes.append(f"The persona's LoRA v{lora.version} was trained for {trained_for}, not "
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


def _request(engine: ImageEngine, built: BuiltPrompt, seeds: list[int], steps: int,
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


def _identity_score(ctx: TaskContext, persona: Persona | None) -> tuple[Score, str] | None:
    """The gate's scoring function for ``persona`` and the face engine it scores with, or None when the gate
    does not apply."""
    if persona is None or not persona.identity:
        return None
    scorer = scorer_for(ctx)

    def score(image: Image.Image) -> tuple[float | None, bool]:
        # The main subject is judged, never a bystander who happens to look more like the persona.
        subject = scorer.score(image, persona).subject
        if subject is None:
            return None, False
        return subject.similarity, subject.same_person

    return score, scorer.engine


def _png(image: Image.Image, meta: dict[str, Any]) -> bytes:
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
    engine = _load_engine(ctx, model)
    adapter = _apply_lora(ctx, engine, inputs)
    prompts = _prompts(engine, inputs, adapter, spec.n)

    if spec.variation == "prompt" and inputs.source_seed is not None:
        seeds = [int(inputs.source_seed)] * spec.n
    elif spec.seed is not None:
        seeds = [(spec.seed + i) % 2**32 for i in range(spec.n)]
    else:
        seeds = [secrets.randbelow(2**32) for _ in range(spec.n)]

    scoring = _identity_score(ctx, inputs.persona)
    retries = max(0, ctx.settings.identity_gate_retries) if scoring is not None else 0
    tracker = _StepProgress(ctx, planned_steps=steps * spec.n)

    # Same prompt for every output: one batched call. Prompt variations differ per output: one call each.
    generated: list[GeneratedImage] = []
    prompt_of: list[BuiltPrompt] = []
    groups = [(prompts[0], seeds)] if len({p.text for p in prompts}) == 1 else [
        (p, [s]) for p, s in zip(prompts, seeds, strict=True)]
    for built, group_seeds in groups:
        request = _request(engine, built, group_seeds, steps, adapter)
        engine.check_inputs(request)
        label = f"{len(generated) + 1}-{len(generated) + len(group_seeds)} of {spec.n}"
        result = engine.run(request, tracker.run(steps * len(group_seeds), f"image {label}"))
        generated.extend(result.images)
        prompt_of.extend([built] * len(group_seeds))

    gated: list[GatedImage]
    engine_name: str | None = None
    if scoring is None or inputs.persona is None:
        gated = [GatedImage(image=g, score=None, passed=True, attempts=1) for g in generated]
    else:
        score, engine_name = scoring
        def regenerate(slot: int, attempt: int) -> GeneratedImage:
            tracker.planned += steps
            request = _request(engine, prompt_of[slot], [secrets.randbelow(2**32)], steps, adapter)
            label = f"image {slot + 1} of {spec.n}, try {attempt} (likeness check)"
            return engine.run(request, tracker.run(steps, label)).images[0]

        persona = inputs.persona
        refine = refiner(ctx, persona, references_of(persona)) if ctx.settings.identity_refine else None
        ctx.progress(GENERATION_SHARE, "checking likeness")
        gated = identity_gate(generated, score=score, regenerate=regenerate, retries=retries, refine=refine)

    ctx.progress(0.96, "saving")
    return _store(ctx, spec, inputs, model, steps, adapter, gated, prompt_of, engine_name)


def _store(ctx: TaskContext, spec: ImageSpec, inputs: _JobInputs, model: ResolvedModel, steps: int,
           adapter: str | None, gated: list[GatedImage], prompt_of: list[BuiltPrompt],
           identity_engine: str | None = None) -> JobResult:
    persona = inputs.persona
    checked = persona is not None and bool(persona.identity) and identity_engine is not None
    items: list[NewAsset] = []
    for index, item in enumerate(gated):
        built = prompt_of[index]
        image = item.image
        layers = [name for name, ran in (("lora", bool(adapter)), ("refined", item.refined)) if ran]
        meta = {
            "prompt": built.text,
            "clip_prompt": built.clip_text,
            "negative": built.negative,
            "seed": image.seed,
            "steps": steps,
            "guidance": model.spec.default_guidance,
            "width": image.width,
            "height": image.height,
            "aspect_ratio": built.aspect_ratio,
            "model": model.key,
            "template": built.template,
            "platform": built.platform,
            "lora": adapter,
            "lora_version": inputs.lora.version if adapter and inputs.lora is not None else None,
            "identity_passed": item.passed if checked else None,
            "identity_engine": identity_engine if checked else None,
            "no_face": item.no_face if checked else None,
            "layers": layers,
            "reference": item.reference,
            "attempts": item.attempts,
            "variation_of": spec.variation_of,
            "variation": spec.variation,
            "outfits": list(spec.outfits),
            "request": spec.request_fields(),
        }
        # A refined image is the model's picture with the persona's face put in: an edit, labelled as one.
        items.append(NewAsset(content=_png(image.image, meta), kind="image",
                              origin=AssetOrigin.EDITED if item.refined else AssetOrigin.GENERATED,
                              mime="image/png", width=image.width, height=image.height,
                              persona_id=persona.id if persona is not None else None,
                              tags=[t for t in ("generated", built.template, built.platform) if t],
                              identity_score=item.score, meta=meta))
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


def likeness_caption(item: GatedImage, identity: dict[str, Any] | None, engine: str | None) -> str:
    """What a result's caption says of its likeness: on the persona's own scale, which layer made it."""
    if item.no_face:
        return "no face in this picture"
    read = likeness_from_score(item.score, identity, engine)
    text = read.caption if read is not None else f"likeness {item.score or 0:.2f}"
    return text + (" · refined" if item.refined else "")


def likeness_notes(gated: list[GatedImage], name: str) -> list[str]:
    """One line each for images that never reached the persona's likeness, and images without a face."""
    notes = []
    weak = sum(1 for g in gated if not g.passed and not g.no_face)
    if weak:
        notes.append(f"{weak} image{'s' if weak != 1 else ''} did not reach {name}'s likeness threshold even "
                     "after refining and new seeds; the closest is shown. /info <id> says what was tried.")
    faceless = sum(1 for g in gated if g.no_face)
    if faceless:
        notes.append(f"{faceless} image{'s' if faceless != 1 else ''} show{'s' if faceless == 1 else ''} no face, "
                     f"so {name}'s likeness was not checked.")
    return notes


generate_images = task(_generate)
