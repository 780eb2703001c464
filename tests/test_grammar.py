"""The conversation grammar: slash commands, plain sentences and the hints for what cannot be placed."""

from __future__ import annotations

import pytest

from core import grammar as g
from core.errors import UsageError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/start", g.Start()),
        ("/help imagine", g.Help(topic="imagine")),
        ("/persona new Ava", g.PersonaNew("Ava")),
        ('/persona new "Ava Rose"', g.PersonaNew("Ava Rose")),
        ("/persona list", g.PersonaList()),
        ("/persona rename Ava Zoe", g.PersonaRename("Ava", "Zoe")),
        ("/persona delete Ava", g.PersonaDelete("Ava")),
        ("/persona train Ava", g.PersonaTrain("Ava")),
        ("/done", g.Done()),
        ("/cancel", g.Abort()),
        ("/cancel 0123abcd", g.CancelJob("0123abcd")),
        ("/gallery 5", g.Gallery(5)),
        ("/jobs", g.Jobs()),
        ("/settings ar 4:5", g.SettingsCmd("ar", "4:5")),
        ("/export tiktok last 3", g.Export("tiktok", last=3)),
        ("/export ig abc123ef", g.Export("instagram", assets=("abc123ef",))),
        ("/swap Ava", g.Swap("Ava")),
        ("/export youtube shorts last 3", g.Export(platform="youtube", last=3)),
        ("/export Tik Tok", g.Export(platform="tiktok", last=1)),
        ("/animate --motion zoom-in --seconds 4", g.Animate(motion="zoom-in", seconds=4.0)),
        ("/echo hi --seconds 2", g.Echo("hi", 2.0)),
        ("/template", g.TemplateCmd()),
        ("/template show Headshot", g.TemplateCmd("show", "headshot")),
        ("/template save cozy {subject} by a fire, {prompt}",
         g.TemplateCmd("save", "cozy", "{subject} by a fire, {prompt}")),
        ("/imagine@StudioBot a cat", g.Imagine(prompt="a cat")),
    ],
)
def test_slash_commands(text: str, expected: g.Command) -> None:
    assert g.parse(text, bot_username="StudioBot") == expected


def test_imagine_with_every_option() -> None:
    cmd = g.parse("/imagine Ava: reading in a café --ar 4:5 --n 2 --seed 7 --steps 20 --template headshot "
                  "--platform insta --no blurry, text")
    assert cmd == g.Imagine(prompt="reading in a café", persona="Ava", aspect_ratio="4:5", n=2, seed=7, steps=20,
                            template="headshot", platform="instagram", negative="blurry, text")


def test_phone_dashes_are_accepted() -> None:
    assert g.parse("/imagine a cat \u2014ar 16:9") == g.Imagine(prompt="a cat", aspect_ratio="16:9")


def test_known_persona_without_colon() -> None:
    cmd = g.parse("/imagine ava in Paris", persona_names=["Ava"])
    assert cmd == g.Imagine(prompt="in Paris", persona="Ava")


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("/imagine a cat --ar 0:1", "--ar needs two positive numbers"),
        ("/imagine a cat --n 9", "--n must be from 1 to 4"),
        ("/imagine a cat --ar 10:1", "too extreme"),
        ("/imagine a cat --steps lots", "whole number"),
        ("/imagine a cat --size 5", "--size is not an option"),
        ("/imagine --n 2", "Say what to draw"),
        ("/imagine a cat --seed", "--seed needs a value"),
        ("/export myspace", "not a platform"),
        ("/persona", "/persona new <name>"),
        ("/persona fly Ava", "not a thing"),
        ("/persona new", "needs a name"),
        ("/persona new <script>", "Names are"),
        ("/cancel ../../x", "not a job id"),
        ("/imagin a cat", "Did you mean /imagine?"),
        ("/frobnicate", "I don't know /frobnicate"),
        ('/imagine "unclosed', "quote is not closed"),
        ("/animate --motion spin", "--motion 'spin' is unknown"),
        ("/animate --seconds 30", "from 2 to 10"),
        ("/template save cozy", "/template save <name>"),
        ("", "Send a command"),
        ("blorp", "I didn't catch that"),
        ("make 7 versions of a cat", "1 to 4"),
        ("Ava", "Tell me what the picture should show"),
    ],
)
def test_mistakes_get_specific_hints(text: str, hint: str) -> None:
    with pytest.raises(UsageError, match=None) as info:
        g.parse(text, persona_names=["Ava"])
    assert hint in str(info.value)


def test_plain_sentence_maps_to_imagine() -> None:
    cmd = g.parse("Ava on a beach at sunset, 4:5, four versions", persona_names=["Ava", "Zoe"])
    assert cmd == g.Imagine(prompt="on a beach at sunset", persona="Ava", aspect_ratio="4:5", n=4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("generate a portrait of a chef, square", g.Imagine(prompt="a chef", aspect_ratio="1:1")),
        ("make me two pictures of Zoe skiing for tiktok",
         g.Imagine(prompt="skiing", persona="Zoe", n=2, platform="tiktok")),
        ("create a new persona called Mia", g.PersonaNew("Mia")),
        ("show my personas", g.PersonaList()),
        ("help", g.Help()),
        ("done", g.Done()),
        ("I agree", g.Consent()),
        ("animate it for 5 seconds", g.Animate(seconds=5.0)),
        ("export the last one for instagram", g.Export("instagram", last=1)),
        ("swap Zoe's face into this", g.Swap("Zoe")),
        ("my jobs", g.Jobs()),
    ],
)
def test_plain_sentences(text: str, expected: g.Command) -> None:
    assert g.parse(text, persona_names=["Ava", "Zoe"]) == expected
