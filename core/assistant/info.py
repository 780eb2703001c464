"""/info <id>: how one of the user's results was made, how like its persona it is, and what it is labelled."""

from __future__ import annotations

from typing import Any

from core import grammar
from core.assistant.turn import Turn
from core.likeness import calibration_for, calibration_text, likeness_from_score
from core.messages import Reply
from storage.models import Asset, Persona
from storage.states import AssetOrigin

LABELS = {AssetOrigin.GENERATED: "AI-generated", AssetOrigin.EDITED: "AI-edited (a real picture changed by AI)",
          AssetOrigin.UPLOADED: "your own upload (no AI label)"}


def info(turn: Turn, cmd: grammar.Info) -> list[Reply]:
    asset = turn.asset(cmd.asset, kinds=("image", "video"), what="image or video")
    persona = turn.session.get(Persona, asset.persona_id) if asset.persona_id is not None else None
    lines = [_headline(asset)]
    meta = dict(asset.meta or {})
    prompt = (meta.get("request") or {}).get("prompt") or meta.get("prompt")
    if isinstance(prompt, str) and prompt:
        lines.append(f"Prompt: {prompt}")
    worn = meta.get("outfits")
    if isinstance(worn, list) and worn:
        lines.append("Outfit: " + ", ".join(str(name) for name in worn) + " (from the wardrobe, written out in the "
                     "prompt).")
    made = [f"{k} {meta[k]}" for k in ("seed", "steps") if meta.get(k) is not None]
    if meta.get("model"):
        made.append(f"model {meta['model']}")
    if meta.get("engine"):
        made.append(f"{meta['engine']} engine")
    if made:
        lines.append("Made with " + ", ".join(str(part) for part in made) + ".")
    lines += _likeness(asset, persona, meta)
    return [Reply(text="\n".join(lines))]


def _headline(asset: Asset) -> str:
    size = f" · {asset.width}×{asset.height}" if asset.width and asset.height else ""
    length = f" · {asset.duration_s:.1f} s" if asset.duration_s else ""
    label = LABELS.get(AssetOrigin(asset.origin), asset.origin)
    return f"#{asset.id} · {asset.kind}{size}{length} · {asset.created_at:%Y-%m-%d %H:%M} UTC · {label}"


def _likeness(asset: Asset, persona: Persona | None, meta: dict[str, Any]) -> list[str]:
    if persona is None:
        return ["No persona: likeness does not apply."] if asset.origin != AssetOrigin.UPLOADED else []
    if meta.get("no_face"):
        return [f"Persona: {persona.name} — no face in this picture, so likeness was not checked."]
    engine = meta.get("identity_engine")
    read = likeness_from_score(asset.identity_score, persona.identity, engine if isinstance(engine, str) else None)
    if read is not None:
        score = read.caption
    elif asset.identity_score is not None:
        score = f"similarity {asset.identity_score:.2f}"
    else:
        score = "not scored"
    lines = [f"Persona: {persona.name} — {score}."]
    calibration = calibration_text(calibration_for(persona.identity, engine if isinstance(engine, str) else None))
    if calibration:
        lines.append(f"Its threshold: {calibration}.")
    layers = []
    if meta.get("lora"):
        version = meta.get("lora_version")
        layers.append(f"the persona's LoRA{f' v{version}' if version else ''}")
    if "refined" in (meta.get("layers") or []) or "swapped" in (asset.tags or []):
        reference = meta.get("reference")
        layers.append(f"refined: {persona.name}'s face put in from the photo {reference}" if reference
                      else f"refined: {persona.name}'s face put in")
    attempts = meta.get("attempts")
    if isinstance(attempts, int) and attempts > 1:
        layers.append(f"{attempts} seeds tried")
    if layers:
        lines.append("Identity layers: " + "; ".join(layers) + ".")
    elif asset.kind == "image" and asset.origin == AssetOrigin.GENERATED:
        lines.append("Identity layers: none were needed (it matched as generated).")
    frames = meta.get("frames_passing")
    if isinstance(frames, list) and len(frames) == 2:
        lines.append(f"Sampled frames at the persona's likeness: {frames[0]} of {frames[1]}.")
    return lines


COMMANDS = {grammar.Info: info}
