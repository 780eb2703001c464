"""Slash-command options become the text a user could type, and the grammar reads it back as intended."""

from __future__ import annotations

import pytest

from bots.discord_front.commands import (
    animate_text,
    echo_text,
    export_text,
    imagine_text,
    persona_text,
    settings_text,
    simple_text,
    swap_text,
    template_text,
)
from core import grammar
from core.errors import UsageError


def parse(text: str, *names: str) -> grammar.Command:
    return grammar.parse(text, persona_names=names)


def test_imagine_options_round_trip_with_quotes_colons_and_dashes() -> None:
    text = imagine_text("Ava's café — \"golden hour\", 50mm", persona="Mary Jane", ar="4:5", n=2, seed=7, steps=30,
                        template="travel", platform="instagram", negative="blurry, extra fingers")
    assert parse(text, "Mary Jane") == grammar.Imagine(
        prompt="Ava's café -- \"golden hour\", 50mm", persona="Mary Jane", aspect_ratio="4:5", n=2, seed=7,
        steps=30, template="travel", platform="instagram", negative="blurry, extra fingers")
    assert parse(imagine_text("a lighthouse")) == grammar.Imagine(prompt="a lighthouse")
    assert parse(imagine_text("rain", persona="O'Neil")) == grammar.Imagine(prompt="rain", persona="O'Neil")
    # Phones type typographic apostrophes; the grammar reads them as plain ones.
    assert parse(imagine_text("Ava\u2019s \u201cbest\u201d day")).prompt == "Ava's \"best\" day"


def test_option_values_never_turn_into_options() -> None:
    # A prompt that looks like options stays the prompt: the user typed it into the prompt field.
    assert parse(imagine_text("a sign that says --ar 2:3")).prompt == "a sign that says --ar 2:3"


def test_animate_swap_export_and_the_rest() -> None:
    assert parse(animate_text(image="#1a2b3c4d", motion="zoom-in", seconds=4.5)) == grammar.Animate(
        asset="1a2b3c4d", motion="zoom-in", seconds=4.5)
    assert parse(animate_text(image="1a2b3c4d")) == grammar.Animate(asset="1a2b3c4d")
    assert parse(animate_text()) == grammar.Animate()
    assert parse(swap_text("Mary Jane", asset="abcdef12")) == grammar.Swap(persona="Mary Jane", asset="abcdef12")
    assert parse(export_text("tiktok", assets="#abcdef12, 1234567a")) == grammar.Export(
        platform="tiktok", assets=("abcdef12", "1234567a"))
    assert parse(export_text("x", last=3)) == grammar.Export(platform="x", last=3)
    assert parse(persona_text("rename", "Ava", "Ava Rose")) == grammar.PersonaRename(old="Ava", new="Ava Rose")
    assert parse(persona_text("new", "D'Arcy")) == grammar.PersonaNew(name="D'Arcy")
    assert parse(settings_text("ar", "9:16")) == grammar.SettingsCmd(key="ar", value="9:16")
    assert parse(settings_text()) == grammar.SettingsCmd()
    assert parse(echo_text("it's fine", seconds=1.5)) == grammar.Echo(text="it's fine", seconds=1.5)
    assert parse(template_text("save", "beach", "{subject} on a beach, {prompt}")) == grammar.TemplateCmd(
        action="save", name="beach", text="{subject} on a beach, {prompt}")
    assert parse(simple_text("gallery", 5)) == grammar.Gallery(n=5)
    assert parse(simple_text("cancel", None)) == grammar.Abort()
    assert parse(simple_text("help", "imagine")) == grammar.Help(topic="imagine")


def test_a_bad_value_gets_the_grammars_hint() -> None:
    with pytest.raises(UsageError, match="not an asset id"):
        parse(swap_text("Ava", asset="not-an-id"))
