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
        ("/cancel #0123", g.CancelJob("0123")),
        ("/cancel all", g.CancelAll()),
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
    assert g.parse("/animate mia pan-left", persona_names=["Mia"]) == g.Animate(motion="pan-left", persona="Mia")


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
        ("/cancel abc", "'abc' is not a job id"),
        ("/swap Ava /missing.jpg", "/missing.jpg: file not found"),
        ("/animate ~/beach.png", "~/beach.png: file not found"),
        ("/export instagram holiday.mp4", "holiday.mp4: file not found"),
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


NAMES = ["Ava", "Zoe", "Mia", "Rose"]

# The cases of the issue, then sentences people write, each with the command it must become.
SENTENCES = [
    # A video of a persona animates that persona's newest picture; it never queues pictures of "video of Mia".
    ("make a video of Mia", g.Animate(persona="Mia")),
    ("make a video of mia", g.Animate(persona="Mia")),
    ("animate Mia's latest picture with a slow zoom in for 5 seconds",
     g.Animate(motion="zoom-in", seconds=5.0, persona="Mia")),
    ("turn #1a2b3c4d into a 6 second clip panning left", g.Animate(asset="1a2b3c4d", motion="pan-left", seconds=6.0)),
    ("could you animate my last image with AI", g.Animate(motion="ai")),
    ("let's do a video of Zoe", g.Animate(persona="Zoe")),
    ("make it move", g.Animate()),
    ("make a short clip of Ava orbiting", g.Animate(motion="orbit", persona="Ava")),
    # A swap, an export and settings go to those commands.
    ("put Ava's face on #abcdef12", g.Swap("Ava", asset="abcdef12")),
    ("face swap Mia into this video", g.Swap("Mia")),
    ("replace the face in this photo with Zoe", g.Swap("Zoe")),
    ("export the last 3 for tiktok", g.Export("tiktok", last=3)),
    ("package #abcdef12 for instagram", g.Export("instagram", assets=("abcdef12",))),
    ("get my newest ready for x", g.Export("x", last=1)),
    ("export everything for youtube shorts", g.Export("youtube", last=50)),
    ("set my default aspect ratio to 4:5", g.SettingsCmd("ar", "4:5")),
    ("always make two versions", g.SettingsCmd("n", "2")),
    ("use tiktok by default", g.SettingsCmd("platform", "tiktok")),
    ("default motion orbit", g.SettingsCmd("motion", "orbit")),
    ("make 6 seconds my default length", g.SettingsCmd("seconds", "6")),
    ("always animate with a slow pan left", g.SettingsCmd("motion", "pan-left")),
    ("reset my motion", g.SettingsCmd("motion", "default")),
    ("change the format to portrait", g.SettingsCmd("ar", "4:5")),
    ("show my settings", g.SettingsCmd()),
    # A persona named anywhere in a sentence is applied.
    ("a selfie of Ava in Tokyo", g.Imagine(prompt="a selfie in Tokyo", persona="Ava")),
    ("Tokyo street style featuring Zoe, vertical", g.Imagine(prompt="Tokyo street style", persona="Zoe",
                                                             aspect_ratio="9:16")),
    ("a close-up of Ava's face, golden hour", g.Imagine(prompt="a close-up of their face, golden hour",
                                                        persona="Ava")),
    ("a picture of mia at the gym", g.Imagine(prompt="at the gym", persona="Mia")),
    ("put Ava on a beach", g.Imagine(prompt="on a beach", persona="Ava")),
    ("can you make a picture of Ava", g.Imagine(prompt="a portrait", persona="Ava")),
    ("a bouquet of roses for Ava", g.Imagine(prompt="a bouquet of roses", persona="Ava")),
    ("Ava filming a video in Tokyo", g.Imagine(prompt="filming a video in Tokyo", persona="Ava")),
    ("draw three pictures of a lighthouse in a storm, landscape",
     g.Imagine(prompt="a lighthouse in a storm", n=3, aspect_ratio="16:9")),
    # Jobs, gallery and questions.
    ("cancel job 1a2b3c4d", g.CancelJob("1a2b3c4d")),
    ("stop it", g.Abort()),
    ("cancel everything", g.CancelAll()),
    ("show me my last 5 images", g.Gallery(5)),
    ("what's running", g.Jobs()),
    ("i want a new persona called Lily", g.PersonaNew("Lily")),
    ("how do I make a video?", g.Help(topic="animate")),
    ("can I export to tiktok?", g.Help(topic="export")),
]


@pytest.mark.parametrize(("text", "expected"), SENTENCES, ids=[text for text, _ in SENTENCES])
def test_sentences_people_write(text: str, expected: g.Command) -> None:
    assert g.parse(text, persona_names=NAMES) == expected


def _choices(command: g.Command) -> list[tuple[str, g.Command]]:
    assert isinstance(command, g.Ask), command
    return [(choice.label, choice.command) for choice in command.choices]


def test_a_video_of_a_new_scene_asks_whether_to_animate_or_make_the_picture_first() -> None:
    asked = g.parse("make a video of Mia dancing on the beach", persona_names=NAMES)
    assert _choices(asked) == [("🎬 Animate Mia's newest picture", g.Animate(persona="Mia")),
                               ("🖼 Make the picture first", g.Imagine(prompt="dancing on the beach", persona="Mia"))]
    asked = g.parse("make a video of a sunset over the sea", persona_names=NAMES)
    assert [command for _label, command in _choices(asked)] == [g.Animate(),
                                                                g.Imagine(prompt="a sunset over the sea")]


def test_two_personas_in_one_picture_ask_whose_face() -> None:
    asked = g.parse("Mia and Ava at a party", persona_names=NAMES)
    assert _choices(asked) == [("Mia", g.Imagine(prompt="Ava at a party", persona="Mia")),
                               ("Ava", g.Imagine(prompt="Mia at a party", persona="Ava"))]
    assert [label for label, _ in _choices(g.parse("make a video of Mia and Zoe", persona_names=NAMES))] == [
        "Mia", "Zoe"]


def test_a_swap_or_an_export_missing_a_piece_asks_for_it() -> None:
    assert [label for label, _ in _choices(g.parse("face swap into my photo", persona_names=NAMES))] == sorted(NAMES)
    platforms = _choices(g.parse("export my last three images", persona_names=NAMES))
    assert [command for _label, command in platforms] == [g.Export(p, last=3) for p in
                                                          ("instagram", "tiktok", "youtube", "x", "facebook")]
    assert [label for label, _ in platforms] == ["Instagram", "TikTok", "YouTube Shorts", "X", "Facebook"]


def test_a_description_without_a_verb_is_offered_not_guessed() -> None:
    asked = g.parse("a cat in a hat", persona_names=["Ava"])
    assert asked == g.Ask("Shall I make a picture of “a cat in a hat”?", (
        g.Choice("🖼 Make this picture", g.Imagine(prompt="a cat in a hat")),
        g.Choice("🖼 With Ava", g.Imagine(prompt="a cat in a hat", persona="Ava"))))
    # A common word is not read as a persona's name: "a red rose" is not Rose.
    assert _choices(g.parse("a red rose on a table", persona_names=["Rose"]))[0][1] == g.Imagine(
        prompt="a red rose on a table")


def test_a_photoshoot_sentence_is_a_shoot() -> None:
    assert g.parse("a beach shoot of Ava in a red dress, 8 photos", persona_names=NAMES) == g.Shoot(
        persona="Ava", scene="beach in a red dress", n=8)
    assert g.parse("plan a photoshoot for Zoe at the gym, square", persona_names=NAMES) == g.Shoot(
        persona="Zoe", scene="at the gym", aspect_ratio="1:1")
    with pytest.raises(UsageError, match="Whose photoshoot"):
        g.parse("a beach shoot, 8 photos", persona_names=NAMES)
    with pytest.raises(UsageError, match="4 to 12 photos, not 20"):
        g.parse("a beach shoot of Ava, 20 photos", persona_names=NAMES)


def test_shoot_takes_a_persona_a_count_and_a_scene() -> None:
    assert g.parse("/shoot Ava 8 on a beach at sunset, red dress", persona_names=NAMES) == g.Shoot(
        persona="Ava", scene="on a beach at sunset, red dress", n=8)
    assert g.parse("/shoot ava a rooftop at night --ar 4:5 --seed 7", persona_names=NAMES) == g.Shoot(
        persona="Ava", scene="a rooftop at night", aspect_ratio="4:5", seed=7)
    # Someone the sender has no persona of is still parsed: the assistant answers that it is not theirs.
    assert g.parse("/shoot Bob 4 in a park", persona_names=NAMES) == g.Shoot(persona="Bob", scene="in a park", n=4)
    for text, words in (("/shoot Ava 3 at the beach", "4 to 12 photos, not 3"),
                        ("/shoot Ava 13 at the beach", "4 to 12 photos, not 13"),
                        ("/shoot Ava 8", "Where is Ava's shoot"), ("/shoot", "Use /shoot <persona>")):
        with pytest.raises(UsageError, match=words):
            g.parse(text, persona_names=NAMES)


@pytest.mark.parametrize("command", [
    g.Imagine(prompt="x", persona="Ava", aspect_ratio="4:5", n=2), g.Animate(persona="Mia", seconds=4.5),
    g.Export("tiktok", assets=("abcdef12", "12345678")), g.Swap("Ava", asset="abcdef12"), g.CancelAll(),
    g.SettingsCmd("ar", "4:5"), g.Gallery(5),
])
def test_a_questions_choices_are_stored_and_read_back_as_they_were(command: g.Command) -> None:
    import json

    assert g.from_data(json.loads(json.dumps(g.to_data(command)))) == command


def test_stored_choices_from_another_release_are_refused() -> None:
    for data in ({"type": "Nope"}, {"type": "Imagine", "colour": "red"}, {}):
        with pytest.raises(ValueError):
            g.from_data(data)


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


@pytest.mark.parametrize("text", ["that's all for now", "thanks a lot buddy", "here are my photos", "blorp",
                                  "what is this thing"])
def test_chat_is_not_offered_as_a_picture(text: str) -> None:
    with pytest.raises(UsageError, match="I didn't catch that"):
        g.parse(text, persona_names=NAMES)
