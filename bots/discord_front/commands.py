"""The slash commands: one per command of the conversation grammar, with typed options, choices and suggestions.

A slash command becomes the same text a user could type (``/imagine 'Ava:' 'on a beach' --ar 4:5``), and that
text goes through the assistant like any message, so Discord behaves exactly like the other front ends.
Values are quoted for the grammar's shell-style splitting, so a prompt with an apostrophe arrives intact.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Protocol

import discord
from discord import app_commands

from bots.discord_front.inbound import asset_tag
from core import help
from core.assistant import USER_SETTINGS
from core.grammar import MOTIONS
from core.prompts import PLATFORMS

Choice = app_commands.Choice

# Commands whose answers are for everyone in a server channel: they make content. The rest (lists, links,
# settings, the persona dialogue) are shown to the user alone there.
PUBLIC_COMMANDS = frozenset({"imagine", "animate", "swap", "export", "echo", "Animate"})
ASPECTS = (("1:1 square", "1:1"), ("4:5 portrait (Instagram feed)", "4:5"), ("9:16 vertical (Reels, TikTok, Shorts)",
           "9:16"), ("16:9 landscape (YouTube, X)", "16:9"), ("2:3 portrait", "2:3"), ("3:2 landscape", "3:2"),
           ("3:4 portrait", "3:4"), ("4:3 landscape", "4:3"))
PLATFORM_LABELS = {"instagram": "Instagram", "tiktok": "TikTok", "youtube": "YouTube Shorts", "x": "X",
                   "facebook": "Facebook"}
DESCRIPTIONS = {name: desc for name, desc, _ in help.COMMANDS}


class CommandHost(Protocol):
    """What the commands need from the front end."""

    async def run_command(self, interaction: discord.Interaction, text: str, *, name: str,
                          attachments: Sequence[discord.Attachment] = (),
                          reply_to_asset: str | None = None) -> None:
        """Handle ``text`` as if the user had typed it, with ``attachments`` as its files."""

    async def suggest(self, interaction: discord.Interaction, what: str, current: str) -> list[Choice[str]]:
        """Autocomplete suggestions of kind ``what`` (persona, template, image, job) matching ``current``."""

    async def refuse(self, interaction: discord.Interaction, text: str) -> None:
        """Answer ``text`` to the user alone."""


# ---- command text ------------------------------------------------------------------------------------------


# The grammar turns typographic quotes and dashes into plain ones before it splits words; doing it first keeps the
# quoting intact (a phone's ’ inside '…' would otherwise end the quote early).
_PLAIN = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2014": "--", "\u2013": "--"})


def q(value: str) -> str:
    """One word for the grammar, whatever spaces or quotes ``value`` holds."""
    return shlex.quote(value.translate(_PLAIN))


def _flags(*pairs: tuple[str, object]) -> list[str]:
    words: list[str] = []
    for flag, value in pairs:
        if value is None or value == "":
            continue
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        words += [flag, q(shown)]
    return words


def _asset(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return "#" + value.strip().lstrip("#")


def imagine_text(prompt: str, *, persona: str | None = None, ar: str | None = None, n: int | None = None,
                 seed: int | None = None, steps: int | None = None, template: str | None = None,
                 platform: str | None = None, negative: str | None = None) -> str:
    """``/imagine [<persona>:] <prompt> [--ar …]`` for these options."""
    words = ["/imagine"]
    if persona:
        words.append(q(f"{persona}:"))
    words.append(q(prompt))
    words += _flags(("--ar", ar), ("--n", n), ("--seed", seed), ("--steps", steps), ("--template", template),
                    ("--platform", platform), ("--no", negative))
    return " ".join(words)


def animate_text(*, image: str | None = None, motion: str | None = None, seconds: float | None = None) -> str:
    """``/animate [<asset>] [--motion …] [--seconds …]``."""
    asset = _asset(image)
    return " ".join(["/animate", *([q(asset)] if asset else []), *_flags(("--motion", motion), ("--seconds", seconds))])


def swap_text(persona: str, *, asset: str | None = None) -> str:
    """``/swap <persona> [<asset>]``."""
    target = _asset(asset)
    return " ".join(["/swap", q(persona), *([q(target)] if target else [])])


def export_text(platform: str, *, assets: str | None = None, last: int | None = None) -> str:
    """``/export <platform> [<asset> … | last N]``; ``assets`` may be separated by spaces or commas."""
    words = ["/export", q(platform)]
    if assets and assets.strip():
        words += [q(_asset(item) or item) for item in assets.replace(",", " ").split()]
    elif last is not None:
        words += ["last", str(last)]
    return " ".join(words)


def persona_text(action: str, *names: str) -> str:
    """``/persona <action> [<name> …]``."""
    return " ".join(["/persona", action, *(q(name) for name in names)])


def settings_text(key: str | None = None, value: str | None = None) -> str:
    """``/settings [<key> [<value>]]``."""
    words = ["/settings"]
    if key:
        words.append(key)
        if value is not None and value.strip():
            words.append(q(value.strip()))
    return " ".join(words)


def echo_text(text: str, *, seconds: float | None = None) -> str:
    """``/echo <text> [--seconds N]``."""
    return " ".join(["/echo", q(text), *_flags(("--seconds", seconds))])


def template_text(action: str, name: str | None = None, text: str | None = None) -> str:
    """``/template <action> [<name> [<text>]]`` (this command reads its words as typed, without quoting)."""
    return " ".join(part for part in ("/template", action, (name or "").strip(), (text or "").strip()) if part)


def simple_text(command: str, argument: str | int | None = None) -> str:
    """``/<command> [<argument>]`` for commands that take one plain word."""
    if argument is None or str(argument).strip() == "":
        return f"/{command}"
    return f"/{command} {str(argument).strip()}"


# ---- the tree --------------------------------------------------------------------------------------------------


def _choices(pairs: Sequence[tuple[str, str]]) -> list[Choice[str]]:
    return [Choice(name=label, value=value) for label, value in pairs]


ASPECT_CHOICES = _choices(ASPECTS)
PLATFORM_CHOICES = _choices([(PLATFORM_LABELS.get(p, p), p) for p in PLATFORMS])
MOTION_CHOICES = _choices([(m if m != "ai" else "ai (a video model invents the movement)", m) for m in MOTIONS])
SETTING_CHOICES = _choices([(key, key) for key in USER_SETTINGS])
HELP_CHOICES = _choices([(name, name) for name, _desc in help.menu()])


def build_tree(client: discord.Client, host: CommandHost) -> app_commands.CommandTree[discord.Client]:
    """The command tree with every command of the grammar; ``host`` runs them."""
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

    async def personas(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        return await host.suggest(interaction, "persona", current)

    async def templates(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        return await host.suggest(interaction, "template", current)

    async def images(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        return await host.suggest(interaction, "image", current)

    async def jobs(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        return await host.suggest(interaction, "job", current)

    @tree.command(name="start", description=DESCRIPTIONS["start"])
    async def start(interaction: discord.Interaction) -> None:
        await host.run_command(interaction, "/start", name="start")

    @tree.command(name="help", description=DESCRIPTIONS["help"])
    @app_commands.describe(command="The command to explain")
    @app_commands.choices(command=HELP_CHOICES)
    async def help_(interaction: discord.Interaction, command: str | None = None) -> None:
        await host.run_command(interaction, simple_text("help", command), name="help")

    persona = app_commands.Group(name="persona", description=DESCRIPTIONS["persona"])

    @persona.command(name="new", description="Start a persona: confirm consent, send 3-10 photos, then /done")
    @app_commands.describe(name="Its name (letters, digits, spaces, dots, dashes)")
    async def persona_new(interaction: discord.Interaction, name: app_commands.Range[str, 1, 32]) -> None:
        await host.run_command(interaction, persona_text("new", name), name="persona new")

    @persona.command(name="list", description="Your personas and their state")
    async def persona_list(interaction: discord.Interaction) -> None:
        await host.run_command(interaction, persona_text("list"), name="persona list")

    @persona.command(name="show", description="A persona's photos, identity check and LoRA")
    @app_commands.describe(name="Which persona")
    @app_commands.autocomplete(name=personas)
    async def persona_show(interaction: discord.Interaction, name: str) -> None:
        await host.run_command(interaction, persona_text("show", name), name="persona show")

    @persona.command(name="rename", description="Give a persona a new name")
    @app_commands.describe(old="Which persona", new="Its new name")
    @app_commands.autocomplete(old=personas)
    async def persona_rename(interaction: discord.Interaction, old: str, new: app_commands.Range[str, 1, 32]) -> None:
        await host.run_command(interaction, persona_text("rename", old, new), name="persona rename")

    @persona.command(name="delete", description="Delete a persona with its photos (asks first)")
    @app_commands.describe(name="Which persona")
    @app_commands.autocomplete(name=personas)
    async def persona_delete(interaction: discord.Interaction, name: str) -> None:
        await host.run_command(interaction, persona_text("delete", name), name="persona delete")

    @persona.command(name="train", description="Train a LoRA for a stronger likeness")
    @app_commands.describe(name="Which persona")
    @app_commands.autocomplete(name=personas)
    async def persona_train(interaction: discord.Interaction, name: str) -> None:
        await host.run_command(interaction, persona_text("train", name), name="persona train")

    tree.add_command(persona)

    @tree.command(name="imagine", description=DESCRIPTIONS["imagine"])
    @app_commands.describe(prompt="What the picture shows", persona="Whose face (one of your personas)",
                           ar="Aspect ratio", n="How many versions (1-4)", seed="Seed, to repeat a result",
                           steps="Denoising steps", template="A prompt template (/template list)",
                           platform="Size and style for a platform", negative="What to keep out of the picture")
    @app_commands.choices(ar=ASPECT_CHOICES, platform=PLATFORM_CHOICES)
    @app_commands.autocomplete(persona=personas, template=templates)
    async def imagine(interaction: discord.Interaction, prompt: app_commands.Range[str, 1, 1500],
                      persona: str | None = None, ar: str | None = None,
                      n: app_commands.Range[int, 1, 4] | None = None,
                      seed: app_commands.Range[int, 0, 2**32 - 1] | None = None,
                      steps: app_commands.Range[int, 1, 100] | None = None, template: str | None = None,
                      platform: str | None = None, negative: str | None = None) -> None:
        text = imagine_text(prompt, persona=persona, ar=ar, n=n, seed=seed, steps=steps, template=template,
                            platform=platform, negative=negative)
        await host.run_command(interaction, text, name="imagine")

    template = app_commands.Group(name="template", description=DESCRIPTIONS["template"])

    @template.command(name="list", description="Every template you can use")
    async def template_list(interaction: discord.Interaction) -> None:
        await host.run_command(interaction, template_text("list"), name="template list")

    @template.command(name="show", description="What a template writes")
    @app_commands.autocomplete(name=templates)
    async def template_show(interaction: discord.Interaction, name: str) -> None:
        await host.run_command(interaction, template_text("show", name), name="template show")

    @template.command(name="save", description="Save your own template ({subject} = persona, {prompt} = your words)")
    @app_commands.describe(name="Lower-case letters, digits and dashes", text="The template text")
    async def template_save(interaction: discord.Interaction, name: app_commands.Range[str, 1, 32],
                            text: app_commands.Range[str, 1, 1500]) -> None:
        await host.run_command(interaction, template_text("save", name, text), name="template save")

    @template.command(name="delete", description="Delete one of your templates")
    @app_commands.autocomplete(name=templates)
    async def template_delete(interaction: discord.Interaction, name: str) -> None:
        await host.run_command(interaction, template_text("delete", name), name="template delete")

    tree.add_command(template)

    @tree.command(name="animate", description=DESCRIPTIONS["animate"])
    @app_commands.describe(image="One of your images (#id); default: the photo attached, else your newest image",
                           photo="A photo to animate", motion="Camera move, or ai", seconds="Length (2-10 s)")
    @app_commands.choices(motion=MOTION_CHOICES)
    @app_commands.autocomplete(image=images)
    async def animate(interaction: discord.Interaction, image: str | None = None,
                      photo: discord.Attachment | None = None, motion: str | None = None,
                      seconds: app_commands.Range[float, 2, 10] | None = None) -> None:
        await host.run_command(interaction, animate_text(image=image, motion=motion, seconds=seconds), name="animate",
                               attachments=[photo] if photo is not None else [])

    @tree.command(name="swap", description=DESCRIPTIONS["swap"])
    @app_commands.describe(persona="Whose face", media="The photo or video to put it into",
                           asset="Or one of your results (#id)")
    @app_commands.autocomplete(persona=personas, asset=images)
    async def swap(interaction: discord.Interaction, persona: str, media: discord.Attachment | None = None,
                   asset: str | None = None) -> None:
        await host.run_command(interaction, swap_text(persona, asset=asset), name="swap",
                               attachments=[media] if media is not None else [])

    @tree.command(name="export", description=DESCRIPTIONS["export"])
    @app_commands.describe(platform="Where it will be posted", assets="Result ids (#id …); default: your newest",
                           last="Or your newest N results")
    @app_commands.choices(platform=PLATFORM_CHOICES)
    async def export(interaction: discord.Interaction, platform: str, assets: str | None = None,
                     last: app_commands.Range[int, 1, 50] | None = None) -> None:
        await host.run_command(interaction, export_text(platform, assets=assets, last=last), name="export")

    @tree.command(name="gallery", description=DESCRIPTIONS["gallery"])
    @app_commands.describe(count="How many (1-50, default 10)")
    async def gallery(interaction: discord.Interaction, count: app_commands.Range[int, 1, 50] | None = None) -> None:
        await host.run_command(interaction, simple_text("gallery", count), name="gallery")

    @tree.command(name="jobs", description=DESCRIPTIONS["jobs"])
    async def jobs_(interaction: discord.Interaction) -> None:
        await host.run_command(interaction, "/jobs", name="jobs")

    @tree.command(name="cancel", description=DESCRIPTIONS["cancel"])
    @app_commands.describe(job="The job to stop (see /jobs); leave out to abort what you are doing")
    @app_commands.autocomplete(job=jobs)
    async def cancel(interaction: discord.Interaction, job: str | None = None) -> None:
        await host.run_command(interaction, simple_text("cancel", job), name="cancel")

    @tree.command(name="done", description=DESCRIPTIONS["done"])
    async def done(interaction: discord.Interaction) -> None:
        await host.run_command(interaction, "/done", name="done")

    @tree.command(name="consent", description=DESCRIPTIONS["consent"])
    async def consent(interaction: discord.Interaction) -> None:
        await host.run_command(interaction, "/consent", name="consent")

    @tree.command(name="settings", description=DESCRIPTIONS["settings"])
    @app_commands.describe(key="The setting; leave out to see them all", value="New value, or 'default'")
    @app_commands.choices(key=SETTING_CHOICES)
    async def settings(interaction: discord.Interaction, key: str | None = None, value: str | None = None) -> None:
        await host.run_command(interaction, settings_text(key, value), name="settings")

    @tree.command(name="web", description=DESCRIPTIONS["web"])
    @app_commands.describe(revoke="Invalidate every link sent so far")
    async def web(interaction: discord.Interaction, revoke: bool = False) -> None:
        await host.run_command(interaction, "/web revoke" if revoke else "/web", name="web")

    @tree.command(name="link", description=DESCRIPTIONS["link"])
    @app_commands.describe(code="The code your other account got; leave out to get one here")
    async def link(interaction: discord.Interaction, code: str | None = None) -> None:
        await host.run_command(interaction, simple_text("link", code), name="link")

    @tree.command(name="echo", description=DESCRIPTIONS["echo"])
    @app_commands.describe(text="Any text", seconds="How long the job takes (0-60 s)")
    async def echo(interaction: discord.Interaction, text: app_commands.Range[str, 1, 500],
                   seconds: app_commands.Range[float, 0, 60] | None = None) -> None:
        await host.run_command(interaction, echo_text(text, seconds=seconds), name="echo")

    @app_commands.context_menu(name="Animate")
    async def animate_message(interaction: discord.Interaction, message: discord.Message) -> None:
        # A result of ours is named by its id; someone's photo is fetched, as "/animate" sent in reply to it.
        ours = client.user is not None and message.author.id == client.user.id
        tag = asset_tag(message) if ours else None
        if (ours and tag is None) or (not ours and not message.attachments):
            await host.refuse(interaction, "That message has no image to animate: pick one with a photo, "
                                           "or one of my results.")
            return
        await host.run_command(interaction, "/animate", name="Animate",
                               attachments=[] if ours else list(message.attachments)[:1], reply_to_asset=tag)

    tree.add_command(animate_message)
    return tree
