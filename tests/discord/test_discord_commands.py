"""Slash-command options become the grammar's typed commands, as typed, and bad values are refused in the words a
typed command gets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bots.discord_front import options
from core import grammar
from core.errors import UsageError


def test_imagine_options_become_the_typed_command_as_typed() -> None:
    command = options.imagine("Ava's café — \"golden hour\", 50mm", persona="Mary Jane", ar="4:5", n=2, seed=7,
                              steps=30, template="travel", platform="instagram", negative="blurry, extra fingers")
    assert command == grammar.Imagine(
        prompt="Ava's café — \"golden hour\", 50mm", persona="Mary Jane", aspect_ratio="4:5", n=2, seed=7,
        steps=30, template="travel", platform="instagram", negative="blurry, extra fingers")
    assert options.imagine("a lighthouse") == grammar.Imagine(prompt="a lighthouse")
    assert options.imagine("rain", persona="O'Neil") == grammar.Imagine(prompt="rain", persona="O'Neil")
    assert options.imagine("rain", ar="16x9").aspect_ratio == "16:9", "the grammar normalises the ratio"


def test_option_values_never_turn_into_options_or_a_persona() -> None:
    # What the user typed into the prompt field is the prompt, whatever it looks like.
    assert options.imagine("a sign that says --ar 2:3").prompt == "a sign that says --ar 2:3"
    assert options.imagine("Portrait: a woman in the rain") == grammar.Imagine(prompt="Portrait: a woman in the rain")
    assert options.echo("it's fine --seconds 9", seconds=1.5) == grammar.Echo(text="it's fine --seconds 9",
                                                                               seconds=1.5)


def test_shoot_options_become_the_typed_command() -> None:
    assert options.shoot("Ava", "on a beach at sunset, red dress", count=8, ar="4:5") == grammar.Shoot(
        persona="Ava", scene="on a beach at sunset, red dress", n=8, aspect_ratio="4:5")
    assert options.shoot("Ava", "--ar 2:3 in a park") == grammar.Shoot(persona="Ava", scene="--ar 2:3 in a park")


def test_animate_swap_export_and_the_rest() -> None:
    assert options.animate(image="#1A2B3C4D", motion="Zoom-In", seconds=4.5) == grammar.Animate(
        asset="1a2b3c4d", motion="zoom-in", seconds=4.5)
    assert options.animate(image="1a2b3c4d") == grammar.Animate(asset="1a2b3c4d")
    assert options.animate() == grammar.Animate()
    assert options.swap("Mary Jane", asset="abcdef12") == grammar.Swap(persona="Mary Jane", asset="abcdef12")
    assert options.export("tiktok", assets="#abcdef12, 1234567a") == grammar.Export(
        platform="tiktok", assets=("abcdef12", "1234567a"))
    assert options.export("x", last=3) == grammar.Export(platform="x", last=3)
    assert options.export("youtube") == grammar.Export(platform="youtube", last=1), "the newest one by default"
    assert grammar.name_option(" D'Arcy ", "persona new") == "D'Arcy"
    assert options.settings("ar", " 9:16 ") == grammar.SettingsCmd(key="ar", value="9:16")
    assert options.settings("motion", " ") == grammar.SettingsCmd(key="motion")
    assert options.settings() == grammar.SettingsCmd()
    assert options.template("save", "Beach", " {subject} on a beach, {prompt} ") == grammar.TemplateCmd(
        action="save", name="beach", text="{subject} on a beach, {prompt}")
    assert options.template("list") == grammar.TemplateCmd()
    assert options.gallery(5) == grammar.Gallery(n=5) and options.gallery() == grammar.Gallery(n=10)
    assert options.cancel(None) == grammar.Abort() and options.cancel(" ") == grammar.Abort()
    assert options.cancel("ABCDEF12") == grammar.CancelJob(job_id="abcdef12")
    assert options.help_("imagine") == grammar.Help(topic="imagine") and options.help_() == grammar.Help()
    assert options.link(" ab12cd ") == grammar.Link(code="AB12CD") and options.link() == grammar.Link()


def _persona_new(name: str) -> Callable[[], object]:
    return lambda: grammar.PersonaNew(grammar.name_option(name, "persona new"))


@pytest.mark.parametrize(("typed", "text"), [
    (lambda: options.swap("Ava", asset="not-an-id"), "/swap Ava not-an-id"),
    (lambda: options.export("tiktok", assets="abcdef12 nope"), "/export tiktok abcdef12 nope"),
    (_persona_new("Ava/Bob"), "/persona new Ava/Bob"),
    (_persona_new("  "), "/persona new"),
    (lambda: options.imagine("x", persona="<@everyone>"), "/imagine '<@everyone>:' x"),
    (lambda: options.imagine("   "), "/imagine   "),
    (lambda: options.imagine("x", ar="5:0"), "/imagine x --ar 5:0"),
    (lambda: options.imagine("x", n=9), "/imagine x --n 9"),
    (lambda: options.animate(motion="spin"), "/animate --motion spin"),
    (lambda: options.animate(seconds=12), "/animate --seconds 12"),
    (lambda: options.export("myspace"), "/export myspace"),
    (lambda: options.gallery(99), "/gallery 99"),
    (lambda: options.cancel("zzzz"), "/cancel zzzz"),
    (lambda: options.link("abc"), "/link abc"),
    (lambda: options.shoot("Ava", "a beach", count=20), "/shoot Ava 20 a beach"),
    (lambda: options.shoot("Ava", "a beach", ar="5:0"), "/shoot Ava a beach --ar 5:0"),
])
def test_a_bad_value_gets_the_same_hint_as_typed_text(typed: Callable[[], object], text: str) -> None:
    with pytest.raises(UsageError) as from_text:
        grammar.parse(text)
    with pytest.raises(UsageError) as from_options:
        typed()
    assert str(from_options.value) == str(from_text.value)
