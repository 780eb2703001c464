"""Slash-command options → the grammar's typed commands, checked by the grammar's own option parsers.

Discord has already typed and bounded each option (choices, ranges); what it cannot check (an aspect ratio's
form, a persona name's characters, an asset id) goes through the parsers typed text goes through, so a bad value
is refused in the same words on every platform. Values are taken as typed: a prompt keeps its dashes, quotes and
colons and never turns into options or a persona.
"""

from __future__ import annotations

from core import grammar
from core.errors import UsageError


def _text(value: int | None) -> str | None:
    # The grammar's number parsers read text, as typed after an option.
    return None if value is None else str(value)


def _optional_asset(value: str | None) -> str | None:
    return grammar.asset_option(value) if value and value.strip() else None


def imagine(prompt: str, *, persona: str | None = None, ar: str | None = None, n: int | None = None,
            seed: int | None = None, steps: int | None = None, template: str | None = None,
            platform: str | None = None, negative: str | None = None) -> grammar.Imagine:
    """``/imagine`` with these options."""
    prompt = prompt.strip()
    if not prompt:
        raise UsageError("Say what to draw: /imagine [persona:] <prompt>, e.g. /imagine Ava: reading in a café.")
    return grammar.Imagine(
        prompt=prompt,
        persona=grammar.name_option(persona, "imagine") if persona else None,
        aspect_ratio=grammar.aspect_option(ar),
        n=grammar.int_option(_text(n), "--n", 1, 4, default=None),
        seed=grammar.int_option(_text(seed), "--seed", 0, 2**32 - 1, default=None),
        steps=grammar.int_option(_text(steps), "--steps", 1, 100, default=None),
        template=template.strip() or None if template else None,
        platform=grammar.platform_option(platform) if platform else None,
        negative=negative.strip() or None if negative else None,
    )


def animate(*, image: str | None = None, motion: str | None = None, seconds: float | None = None) -> grammar.Animate:
    """``/animate`` with these options (the image: one of the user's, by id)."""
    return grammar.Animate(
        asset=_optional_asset(image),
        motion=grammar.motion_option(motion, "--motion") if motion else None,
        seconds=grammar.seconds_option(f"{seconds:g}", "--seconds") if seconds is not None else None,
    )


def swap(persona: str, *, asset: str | None = None) -> grammar.Swap:
    """``/swap`` of ``persona``'s face into one of the user's results, or into the file sent along."""
    return grammar.Swap(persona=grammar.name_option(persona, "swap"), asset=_optional_asset(asset))


def shoot(persona: str, scene: str, *, count: int | None = None, ar: str | None = None, seed: int | None = None,
          platform: str | None = None) -> grammar.Shoot:
    """``/shoot`` of ``persona`` in ``scene``: ``count`` shots (the default size when not given)."""
    scene = scene.strip()
    if not scene:
        raise UsageError("Describe the scene: where, what they wear, the light, e.g. on a beach at sunset in a red "
                         "dress.")
    return grammar.Shoot(persona=grammar.name_option(persona, "shoot"), scene=scene,
                         n=grammar.shoot_size_option(_text(count)), aspect_ratio=grammar.aspect_option(ar),
                         seed=grammar.int_option(_text(seed), "--seed", 0, 2**32 - 1, default=None),
                         platform=grammar.platform_option(platform) if platform else None)


def export(platform: str, *, assets: str | None = None, last: int | None = None) -> grammar.Export:
    """``/export`` for ``platform`` of the named results (spaces or commas between them), the newest N, or the
    newest one."""
    name = grammar.platform_option(platform)
    if assets and assets.strip():
        return grammar.Export(platform=name,
                              assets=tuple(grammar.asset_option(a) for a in assets.replace(",", " ").split()))
    return grammar.Export(platform=name, last=grammar.int_option(_text(last), "last", 1, 50, default=1))


def gallery(count: int | None = None) -> grammar.Gallery:
    """``/gallery`` of the newest ``count`` results."""
    return grammar.Gallery(n=grammar.int_option(_text(count), "gallery size", 1, 50, default=10))


def cancel(job: str | None = None) -> grammar.CancelJob | grammar.Abort:
    """``/cancel`` of a job by id or prefix, or (none named) of what is in progress."""
    if job is None or not job.strip():
        return grammar.Abort()
    return grammar.CancelJob(job_id=grammar.job_option(job))


def settings(key: str | None = None, value: str | None = None) -> grammar.SettingsCmd:
    """``/settings``: all of them, one, or one set to ``value`` (the assistant checks the value)."""
    if not key:
        return grammar.SettingsCmd()
    if value is None or not value.strip():
        return grammar.SettingsCmd(key=key.lower())
    return grammar.SettingsCmd(key=key.lower(), value=value.strip())


def template(action: str, name: str | None = None, text: str | None = None) -> grammar.TemplateCmd:
    """``/template list | show | save | delete`` (the assistant checks names and text)."""
    if action == "list":
        return grammar.TemplateCmd()
    return grammar.TemplateCmd(action=action, name=(name or "").strip().lower() or None,
                               text=(text or "").strip() or None)


def help_(command: str | None = None) -> grammar.Help:
    """``/help``, or the help of one command."""
    topic = (command or "").strip().lstrip("/").split(" ")[0].lower()
    return grammar.Help(topic=topic or None)


def link(code: str | None = None) -> grammar.Link:
    """``/link``: a code to send from the other account, or the code that account got."""
    return grammar.Link(code=grammar.link_code_option(code) if code and code.strip() else None)


def echo(text: str, *, seconds: float | None = None) -> grammar.Echo:
    """``/echo``: a no-model job that runs ``seconds`` (0-60, bounded by the option)."""
    return grammar.Echo(text=text[:500], seconds=seconds or 0.0)


def persona_set(name: str, setting: str, value: str | None) -> grammar.PersonaSet:
    """``/persona set``: one of the persona's profile values, checked as typed text is."""
    key, checked = grammar.persona_setting_option(setting, value)
    return grammar.PersonaSet(name=grammar.name_option(name, "persona set"), key=key, value=checked)


def _owner(persona: str | None) -> str | None:
    return grammar.name_option(persona, "wardrobe") if persona and persona.strip() else None


def wardrobe_save(name: str, description: str | None = None, *, persona: str | None = None) -> grammar.WardrobeSave:
    """``/wardrobe save``: the outfit's name and words (a photo comes as the attachment option)."""
    return grammar.WardrobeSave(name=grammar.outfit_name_option(name),
                                description=grammar.outfit_description_option(description), persona=_owner(persona))


def wardrobe_list(persona: str | None = None) -> grammar.WardrobeList:
    """``/wardrobe list``, of one persona or all."""
    return grammar.WardrobeList(persona=_owner(persona))


def wardrobe_delete(name: str, *, persona: str | None = None) -> grammar.WardrobeDelete:
    """``/wardrobe delete`` of an outfit by name."""
    return grammar.WardrobeDelete(name=grammar.outfit_name_option(name), persona=_owner(persona))
