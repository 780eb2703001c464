"""The slash commands: one per command of the conversation grammar, with typed options, choices and suggestions.

Each command hands the assistant the grammar's typed command for its options (``options`` builds and checks
it), so nothing is turned back into text for the grammar to parse again, and Discord still behaves like the
other front ends: the same commands, the same checks, the same answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import discord
from discord import app_commands

from bots.discord_front import options
from bots.discord_front.inbound import asset_tag
from core import grammar, help
from core.assistant import USER_SETTINGS
from core.grammar import ANIMATE_SECONDS, MAX_PROMPT_CHARS, MOTIONS, Command
from core.limits import MAX_PHOTOS, OUTFIT_DESCRIPTION_CHARS, SHOOT_SIZE, STYLE_NOTES_CHARS
from core.prompts import PLATFORMS
from core.shots import SCENE_CHARS

Choice = app_commands.Choice
Build = Callable[[], Command]  # makes the command from the options; may raise ``UsageError``

# Commands whose answers are for everyone in a server channel: they make content. The rest (lists, links,
# settings, the persona dialogue) are shown to the user alone there.
PUBLIC_COMMANDS = frozenset({"imagine", "shoot", "animate", "swap", "export", "echo", "Animate"})
ASPECTS = (("1:1 square", "1:1"), ("4:5 portrait (Instagram feed)", "4:5"), ("9:16 vertical (Reels, TikTok, Shorts)",
           "9:16"), ("16:9 landscape (YouTube, X)", "16:9"), ("2:3 portrait", "2:3"), ("3:2 landscape", "3:2"),
           ("3:4 portrait", "3:4"), ("4:3 landscape", "4:3"))
PLATFORM_LABELS = {"instagram": "Instagram", "tiktok": "TikTok", "youtube": "YouTube Shorts", "x": "X",
                   "facebook": "Facebook"}
DESCRIPTIONS = {name: desc for name, desc, _ in help.COMMANDS}


class CommandHost(Protocol):
    """What the commands need from the front end."""

    async def run_command(self, interaction: discord.Interaction, build: Build, *, name: str,
                          attachments: Sequence[discord.Attachment] = (),
                          reply_to_asset: str | None = None) -> None:
        """Hand the command ``build`` makes to the assistant, with ``attachments`` as its files."""

    async def suggest(self, interaction: discord.Interaction, what: str, current: str) -> list[Choice[str]]:
        """Autocomplete suggestions of kind ``what`` (persona, template, image, job) matching ``current``."""

    async def refuse(self, interaction: discord.Interaction, text: str) -> None:
        """Answer ``text`` to the user alone."""


# ---- the tree --------------------------------------------------------------------------------------------------


def _choices(pairs: Sequence[tuple[str, str]]) -> list[Choice[str]]:
    return [Choice(name=label, value=value) for label, value in pairs]


ASPECT_CHOICES = _choices(ASPECTS)
PLATFORM_CHOICES = _choices([(PLATFORM_LABELS.get(p, p), p) for p in PLATFORMS])
MOTION_CHOICES = _choices([(m if m != "ai" else "ai (a video model invents the movement)", m) for m in MOTIONS])
SETTING_CHOICES = _choices([(key, key) for key in USER_SETTINGS])
HELP_CHOICES = _choices([(name, name) for name, _desc in help.menu()])
PERSONA_SETTING_CHOICES = _choices([("style — the look every picture carries", "style"),
                                    (f"shoot-size — photos a shoot makes ({SHOOT_SIZE[0]}-{SHOOT_SIZE[1]})",
                                     "shoot-size"), ("platform — what its pictures are made for", "platform")])


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

    async def outfits(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        return await host.suggest(interaction, "outfit", current)

    def plain(name: str, command: Build) -> None:
        """A command without options."""
        async def callback(interaction: discord.Interaction) -> None:
            await host.run_command(interaction, command, name=name)
        tree.command(name=name, description=DESCRIPTIONS[name])(callback)

    plain("start", grammar.Start)

    @tree.command(name="help", description=DESCRIPTIONS["help"])
    @app_commands.describe(command="The command to explain")
    @app_commands.choices(command=HELP_CHOICES)
    async def help_(interaction: discord.Interaction, command: str | None = None) -> None:
        await host.run_command(interaction, lambda: options.help_(command), name="help")

    persona = app_commands.Group(name="persona", description=DESCRIPTIONS["persona"])

    @persona.command(name="new", description="Start a persona: attach 3-10 photos (or send them after), confirm "
                                             "consent, then /done")
    @app_commands.describe(name="Its name (letters, digits, spaces, dots, dashes)",
                           **{f"photo{i}": f"Photo {i} of the face (optional)" for i in range(1, MAX_PHOTOS + 1)})
    async def persona_new(interaction: discord.Interaction, name: app_commands.Range[str, 1, 32],
                          photo1: discord.Attachment | None = None, photo2: discord.Attachment | None = None,
                          photo3: discord.Attachment | None = None, photo4: discord.Attachment | None = None,
                          photo5: discord.Attachment | None = None, photo6: discord.Attachment | None = None,
                          photo7: discord.Attachment | None = None, photo8: discord.Attachment | None = None,
                          photo9: discord.Attachment | None = None, photo10: discord.Attachment | None = None) -> None:
        photos = [p for p in (photo1, photo2, photo3, photo4, photo5, photo6, photo7, photo8, photo9, photo10) if p]
        await host.run_command(interaction, lambda: grammar.PersonaNew(grammar.name_option(name, "persona new")),
                               name="persona new", attachments=photos)

    @persona.command(name="list", description="Your personas and their state")
    async def persona_list(interaction: discord.Interaction) -> None:
        await host.run_command(interaction, grammar.PersonaList, name="persona list")

    def persona_by_name(action: str, description: str, make: Callable[[str], Command]) -> None:
        """``/persona <action> <name>`` for one of the user's personas."""
        async def callback(interaction: discord.Interaction, name: str) -> None:
            await host.run_command(interaction, lambda: make(grammar.name_option(name, f"persona {action}")),
                                   name=f"persona {action}")
        command = app_commands.describe(name="Which persona")(app_commands.autocomplete(name=personas)(callback))
        persona.command(name=action, description=description)(command)

    persona_by_name("show", "A persona's photos, identity check and LoRA", grammar.PersonaShow)

    @persona.command(name="rename", description="Give a persona a new name")
    @app_commands.describe(old="Which persona", new="Its new name")
    @app_commands.autocomplete(old=personas)
    async def persona_rename(interaction: discord.Interaction, old: str, new: app_commands.Range[str, 1, 32]) -> None:
        await host.run_command(interaction, lambda: grammar.PersonaRename(
            old=grammar.name_option(old, "persona rename"), new=grammar.name_option(new, "persona rename")),
            name="persona rename")

    persona_by_name("delete", "Delete a persona with its photos (asks first)", grammar.PersonaDelete)
    persona_by_name("train", "Train a LoRA for a stronger likeness", grammar.PersonaTrain)

    @persona.command(name="set", description="A persona's look, shoot size or platform")
    @app_commands.describe(name="Which persona", setting="What to set",
                           value=f"Style notes (up to {STYLE_NOTES_CHARS} characters), a shoot size or a platform; "
                                 "'default' clears it")
    @app_commands.choices(setting=PERSONA_SETTING_CHOICES)
    @app_commands.autocomplete(name=personas)
    async def persona_set(interaction: discord.Interaction, name: str, setting: str, value: str) -> None:
        await host.run_command(interaction, lambda: options.persona_set(name, setting, value), name="persona set")

    tree.add_command(persona)

    wardrobe = app_commands.Group(name="wardrobe", description=DESCRIPTIONS["wardrobe"])

    @wardrobe.command(name="save", description="Keep an outfit under a name: words, a photo of it, or both")
    @app_commands.describe(name="One word, e.g. red-dress", description="What it is: colour, fabric, cut",
                           persona="Whose outfit (leave out when you have one persona)",
                           photo="A photo of the outfit, kept as a reference")
    @app_commands.autocomplete(persona=personas)
    async def wardrobe_save(interaction: discord.Interaction, name: str,
                            description: app_commands.Range[str, 1, OUTFIT_DESCRIPTION_CHARS] | None = None,
                            persona: str | None = None, photo: discord.Attachment | None = None) -> None:
        await host.run_command(interaction, lambda: options.wardrobe_save(name, description, persona=persona),
                               name="wardrobe save", attachments=[photo] if photo is not None else [])

    @wardrobe.command(name="list", description="Your personas' outfits")
    @app_commands.describe(persona="Only this persona's")
    @app_commands.autocomplete(persona=personas)
    async def wardrobe_list(interaction: discord.Interaction, persona: str | None = None) -> None:
        await host.run_command(interaction, lambda: options.wardrobe_list(persona), name="wardrobe list")

    @wardrobe.command(name="delete", description="Remove an outfit")
    @app_commands.describe(name="Which outfit", persona="Whose (leave out unless several have that name)")
    @app_commands.autocomplete(name=outfits, persona=personas)
    async def wardrobe_delete(interaction: discord.Interaction, name: str, persona: str | None = None) -> None:
        await host.run_command(interaction, lambda: options.wardrobe_delete(name, persona=persona),
                               name="wardrobe delete")

    tree.add_command(wardrobe)

    @tree.command(name="imagine", description=DESCRIPTIONS["imagine"])
    @app_commands.describe(prompt="What the picture shows", persona="Whose face (one of your personas)",
                           ar="Aspect ratio", n="How many versions (1-4)", seed="Seed, to repeat a result",
                           steps="Denoising steps", template="A prompt template (/template list)",
                           platform="Size and style for a platform", negative="What to keep out of the picture")
    @app_commands.choices(ar=ASPECT_CHOICES, platform=PLATFORM_CHOICES)
    @app_commands.autocomplete(persona=personas, template=templates)
    async def imagine(interaction: discord.Interaction, prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
                      persona: str | None = None, ar: str | None = None,
                      n: app_commands.Range[int, 1, 4] | None = None,
                      seed: app_commands.Range[int, 0, 2**32 - 1] | None = None,
                      steps: app_commands.Range[int, 1, 100] | None = None, template: str | None = None,
                      platform: str | None = None, negative: str | None = None) -> None:
        await host.run_command(interaction, lambda: options.imagine(
            prompt, persona=persona, ar=ar, n=n, seed=seed, steps=steps, template=template, platform=platform,
            negative=negative), name="imagine")

    template = app_commands.Group(name="template", description=DESCRIPTIONS["template"])

    @template.command(name="list", description="Every template you can use")
    async def template_list(interaction: discord.Interaction) -> None:
        await host.run_command(interaction, grammar.TemplateCmd, name="template list")

    @template.command(name="show", description="What a template writes")
    @app_commands.autocomplete(name=templates)
    async def template_show(interaction: discord.Interaction, name: str) -> None:
        await host.run_command(interaction, lambda: options.template("show", name), name="template show")

    @template.command(name="save", description="Save your own template ({subject} = persona, {prompt} = your words)")
    @app_commands.describe(name="Lower-case letters, digits and dashes", text="The template text")
    async def template_save(interaction: discord.Interaction, name: app_commands.Range[str, 1, 32],
                            text: app_commands.Range[str, 1, MAX_PROMPT_CHARS]) -> None:
        await host.run_command(interaction, lambda: options.template("save", name, text), name="template save")

    @template.command(name="delete", description="Delete one of your templates")
    @app_commands.autocomplete(name=templates)
    async def template_delete(interaction: discord.Interaction, name: str) -> None:
        await host.run_command(interaction, lambda: options.template("delete", name), name="template delete")

    tree.add_command(template)

    @tree.command(name="animate", description=DESCRIPTIONS["animate"])
    @app_commands.describe(image="One of your images (#id); default: the photo attached, else your newest image",
                           photo="A photo to animate", motion="Camera move, or ai", seconds="Length (2-10 s)")
    @app_commands.choices(motion=MOTION_CHOICES)
    @app_commands.autocomplete(image=images)
    async def animate(interaction: discord.Interaction, image: str | None = None,
                      photo: discord.Attachment | None = None, motion: str | None = None,
                      seconds: app_commands.Range[float, ANIMATE_SECONDS[0], ANIMATE_SECONDS[1]] | None = None) -> None:
        await host.run_command(interaction, lambda: options.animate(image=image, motion=motion, seconds=seconds),
                               name="animate", attachments=[photo] if photo is not None else [])

    @tree.command(name="swap", description=DESCRIPTIONS["swap"])
    @app_commands.describe(persona="Whose face", media="The photo or video to put it into",
                           asset="Or one of your results (#id)")
    @app_commands.autocomplete(persona=personas, asset=images)
    async def swap(interaction: discord.Interaction, persona: str, media: discord.Attachment | None = None,
                   asset: str | None = None) -> None:
        await host.run_command(interaction, lambda: options.swap(persona, asset=asset), name="swap",
                               attachments=[media] if media is not None else [])

    @tree.command(name="shoot", description=DESCRIPTIONS["shoot"])
    @app_commands.describe(persona="Whose shoot (one of your personas)",
                           scene="Place, outfit and light, shared by every shot", count="How many shots (4-12)",
                           ar="Aspect ratio", seed="Seed family, to repeat a shoot",
                           platform="Size and style for a platform")
    @app_commands.choices(ar=ASPECT_CHOICES, platform=PLATFORM_CHOICES)
    @app_commands.autocomplete(persona=personas)
    async def shoot(interaction: discord.Interaction, persona: str,
                    scene: app_commands.Range[str, 1, SCENE_CHARS],
                    count: app_commands.Range[int, SHOOT_SIZE[0], SHOOT_SIZE[1]] | None = None,
                    ar: str | None = None, seed: app_commands.Range[int, 0, 2**32 - 1] | None = None,
                    platform: str | None = None) -> None:
        await host.run_command(interaction, lambda: options.shoot(persona, scene, count=count, ar=ar, seed=seed,
                                                                  platform=platform), name="shoot")

    @tree.command(name="info", description=DESCRIPTIONS["info"])
    @app_commands.describe(asset="One of your results (#id)")
    @app_commands.autocomplete(asset=images)
    async def info(interaction: discord.Interaction, asset: str) -> None:
        await host.run_command(interaction, lambda: grammar.Info(asset=grammar.asset_option(asset)), name="info")

    @tree.command(name="verify", description=DESCRIPTIONS["verify"])
    @app_commands.describe(file="The photo or video to check")
    async def verify(interaction: discord.Interaction, file: discord.Attachment) -> None:
        await host.run_command(interaction, grammar.Verify, name="verify", attachments=[file])

    @tree.command(name="export", description=DESCRIPTIONS["export"])
    @app_commands.describe(platform="Where it will be posted", assets="Result ids (#id …); default: your newest",
                           last="Or your newest N results")
    @app_commands.choices(platform=PLATFORM_CHOICES)
    async def export(interaction: discord.Interaction, platform: str, assets: str | None = None,
                     last: app_commands.Range[int, 1, 50] | None = None) -> None:
        await host.run_command(interaction, lambda: options.export(platform, assets=assets, last=last), name="export")

    @tree.command(name="gallery", description=DESCRIPTIONS["gallery"])
    @app_commands.describe(count="How many (1-50, default 10)")
    async def gallery(interaction: discord.Interaction, count: app_commands.Range[int, 1, 50] | None = None) -> None:
        await host.run_command(interaction, lambda: options.gallery(count), name="gallery")

    plain("jobs", grammar.Jobs)

    @tree.command(name="cancel", description=DESCRIPTIONS["cancel"])
    @app_commands.describe(job="The job to stop (its id or first characters, see /jobs); leave out for the one in "
                               "progress")
    @app_commands.autocomplete(job=jobs)
    async def cancel(interaction: discord.Interaction, job: str | None = None) -> None:
        await host.run_command(interaction, lambda: options.cancel(job), name="cancel")

    plain("done", grammar.Done)
    plain("consent", grammar.Consent)

    @tree.command(name="settings", description=DESCRIPTIONS["settings"])
    @app_commands.describe(key="The setting; leave out to see them all", value="New value, or 'default'")
    @app_commands.choices(key=SETTING_CHOICES)
    async def settings(interaction: discord.Interaction, key: str | None = None, value: str | None = None) -> None:
        await host.run_command(interaction, lambda: options.settings(key, value), name="settings")

    @tree.command(name="web", description=DESCRIPTIONS["web"])
    @app_commands.describe(revoke="Invalidate every link sent so far")
    async def web(interaction: discord.Interaction, revoke: bool = False) -> None:
        await host.run_command(interaction, lambda: grammar.Web(revoke=revoke), name="web")

    @tree.command(name="link", description=DESCRIPTIONS["link"])
    @app_commands.describe(code="The code your other account got; leave out to get one here")
    async def link(interaction: discord.Interaction, code: str | None = None) -> None:
        await host.run_command(interaction, lambda: options.link(code), name="link")

    @tree.command(name="echo", description=DESCRIPTIONS["echo"])
    @app_commands.describe(text="Any text", seconds="How long the job takes (0-60 s)")
    async def echo(interaction: discord.Interaction, text: app_commands.Range[str, 1, 500],
                   seconds: app_commands.Range[float, 0, 60] | None = None) -> None:
        await host.run_command(interaction, lambda: options.echo(text, seconds=seconds), name="echo")

    @app_commands.context_menu(name="Animate")
    async def animate_message(interaction: discord.Interaction, message: discord.Message) -> None:
        # A result of ours is named by its id; someone's photo is fetched, as "/animate" sent in reply to it.
        ours = client.user is not None and message.author.id == client.user.id
        tag = asset_tag(message) if ours else None
        if (ours and tag is None) or (not ours and not message.attachments):
            await host.refuse(interaction, "That message has no image to animate: pick one with a photo, "
                                           "or one of my results.")
            return
        await host.run_command(interaction, grammar.Animate, name="Animate",
                               attachments=[] if ours else list(message.attachments)[:1], reply_to_asset=tag)

    tree.add_command(animate_message)
    return tree
