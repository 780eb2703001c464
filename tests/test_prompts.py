"""Prompt builder: templates, persona subject, negatives, aspect ratios, CLIP length, user templates."""

from __future__ import annotations

from typing import Any

import pytest

from core.prompts import (
    CLIP_TOKEN_LIMIT,
    PLATFORM_ASPECT,
    PersonaText,
    build_prompt,
    builtin_templates,
    default_negative,
    delete_template,
    estimate_clip_tokens,
    fit_tokens,
    get_template,
    list_templates,
    parse_aspect_ratio,
    save_template,
    vary_prompt,
)


def test_template_expands_with_persona_subject_and_user_words() -> None:
    built = build_prompt("drinking coffee in paris", persona=PersonaText("zkvtr", "woman with red hair"),
                         template="instagram-lifestyle")
    assert built.text.startswith("zkvtr woman with red hair, drinking coffee in paris, candid lifestyle photo")
    assert built.aspect_ratio == "4:5" and built.platform == "instagram"
    assert "studio backdrop" in built.negative and default_negative().split(",")[0] in built.negative
    assert "{" not in built.text


def test_no_persona_and_no_template_leaves_no_stray_commas() -> None:
    built = build_prompt("  a red bicycle  ", negative="people")
    assert built.text == "a red bicycle"
    assert built.negative.endswith("people")
    assert built.aspect_ratio == "1:1" and built.template is None
    templated = build_prompt("", template="profile-headshot")
    assert not templated.text.startswith(",") and ", ," not in templated.text


def test_platform_sets_the_aspect_ratio_unless_given() -> None:
    assert build_prompt("x", platform="tiktok").aspect_ratio == "9:16"
    assert build_prompt("x", platform="X").aspect_ratio == PLATFORM_ASPECT["x"] == "16:9"
    assert build_prompt("x", platform="facebook").aspect_ratio == "1:1"
    assert build_prompt("x", platform="instagram", aspect_ratio="1:1").aspect_ratio == "1:1"
    # The platform wins over the template's own default.
    assert build_prompt("x", template="profile-headshot", platform="youtube").aspect_ratio == "9:16"


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"template": "nope"}, "--template"),
        ({"platform": "myspace"}, "--platform"),
        ({"aspect_ratio": "0:1"}, "--ar"),
        ({"aspect_ratio": "wide"}, "--ar"),
        ({"aspect_ratio": "9:1"}, "--ar"),
    ],
)
def test_bad_arguments_name_the_option(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        build_prompt("a cat", **kwargs)


def test_aspect_ratio_parsing() -> None:
    assert parse_aspect_ratio("4:5") == (4, 5)
    assert parse_aspect_ratio(" 16 x 9 ") == (16, 9)
    with pytest.raises(ValueError, match="--ar needs two positive numbers"):
        parse_aspect_ratio("0:1")


def test_long_prompts_keep_the_whole_text_for_t5_and_whole_phrases_for_clip() -> None:
    phrases = [f"detail number {i} with extra descriptive words" for i in range(30)]
    long_prompt = ", ".join(phrases)
    built = build_prompt(long_prompt, persona=PersonaText("", "a woman"))
    assert built.trimmed
    assert built.text.endswith(phrases[-1])
    assert estimate_clip_tokens(built.clip_text) <= CLIP_TOKEN_LIMIT
    assert built.clip_text.startswith("a woman, detail number 0")
    assert built.clip_text.split(", ")[-1] in phrases  # cut at a phrase boundary
    short = build_prompt("a cat on a sofa")
    assert not short.trimmed and short.clip_text == short.text


def test_fit_tokens_with_a_real_counter_cuts_words_of_a_single_long_phrase() -> None:
    words = " ".join(f"w{i}" for i in range(200))
    fitted = fit_tokens(words, limit=10, count=lambda text: len(text.split()))
    assert fitted == " ".join(f"w{i}" for i in range(10))


def test_prompt_too_long_is_refused() -> None:
    with pytest.raises(ValueError, match="prompt is 2000 characters"):
        build_prompt("a" * 2000)


def test_user_templates_save_list_use_and_delete() -> None:
    prefs: dict[str, object] = {"aspect_ratio": "4:5"}
    prefs = save_template(prefs, name="My-Beach", prompt="{subject} on a beach at sunset", negative="crowds",
                          aspect_ratio="3:4")
    assert prefs["aspect_ratio"] == "4:5"  # other preferences survive
    template = get_template("my-beach", prefs)
    assert template.user and template.prompt.endswith("{prompt}")  # user words are never dropped
    names = [t.name for t in list_templates(prefs)]
    assert names[-1] == "my-beach" and set(builtin_templates()) <= set(names)
    built = build_prompt("with a dog", persona=PersonaText("", "a man"), template="my-beach", preferences=prefs)
    assert built.text == "a man on a beach at sunset, with a dog"
    assert built.aspect_ratio == "3:4" and "crowds" in built.negative
    prefs = delete_template(prefs, "my-beach")
    with pytest.raises(ValueError, match="--template: unknown template 'my-beach'"):
        get_template("my-beach", prefs)


def test_user_templates_are_checked() -> None:
    with pytest.raises(ValueError, match="taken by a shipped template"):
        save_template({}, name="tiktok-cover", prompt="x")
    with pytest.raises(ValueError, match="unknown placeholder"):
        save_template({}, name="mine", prompt="{subject} {style}")
    with pytest.raises(ValueError, match="--ar"):
        save_template({}, name="mine", prompt="x", aspect_ratio="1:0")
    with pytest.raises(ValueError, match="template name"):
        save_template({}, name="../etc", prompt="x")


def test_prompt_variations_append_one_small_change() -> None:
    first, second = vary_prompt("a cat", 0), vary_prompt("a cat", 1)
    assert first.startswith("a cat, ") and second.startswith("a cat, ") and first != second
