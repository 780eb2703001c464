"""Platform presets and post text: the data agrees with the grammar, and captions keep every platform's limits."""

from __future__ import annotations

from fractions import Fraction

import pytest

from core.grammar import PLATFORM_ALIASES, platform_option
from core.platforms import PRESETS, get
from core.prompts import PLATFORM_ASPECT, PLATFORMS
from inference.export.captions import DISCLOSURE_TAG, candidate_tags, hashtag, post_text, shorten


def test_every_platform_the_grammar_accepts_has_presets() -> None:
    assert tuple(PRESETS) == PLATFORMS
    assert set(PLATFORM_ALIASES.values()) == set(PRESETS)
    for alias, name in PLATFORM_ALIASES.items():
        assert get(platform_option(alias)).name == name
    with pytest.raises(ValueError, match="platform must be one of"):
        get("myspace")


@pytest.mark.parametrize("name", PLATFORMS)
def test_presets_are_sane(name: str) -> None:
    platform = PRESETS[name]
    assert platform.name == name and platform.title
    assert platform.presets_for("image") and platform.presets_for("video"), "both kinds can be exported"
    assert len({p.name for p in platform.presets}) == len(platform.presets)
    for preset in platform.presets:
        assert preset.width % 2 == 0 and preset.height % 2 == 0, "H.264 in yuv420p needs even sizes"
        assert min(preset.width, preset.height) >= 600 and max(preset.width, preset.height) <= 1920
        ratio = Fraction(preset.width, preset.height)
        assert preset.aspect == f"{ratio.numerator}:{ratio.denominator}"
        assert preset.aspect in ("4:5", "1:1", "9:16", "16:9")
        assert platform.max_seconds(preset) <= platform.video.max_seconds
    image, video = platform.image, platform.video
    assert 85 <= image.quality <= 95 and image.min_quality < image.quality and image.max_bytes >= 2**20
    assert video.fps == 30 and 1000 <= video.max_kbps <= 10000 and 15 <= video.max_seconds <= 600
    assert 18 <= video.crf <= 23 and video.audio_kbps >= 96
    assert platform.caption_limit >= 100 and 1 <= platform.hashtag_limit <= 30
    # The aspect /imagine uses for a platform is one the export keeps without cropping.
    assert PLATFORM_ASPECT[name] in {p.aspect for p in platform.presets}


def test_the_published_sizes() -> None:
    sizes = {name: {p.name: (p.width, p.height) for p in platform.presets} for name, platform in PRESETS.items()}
    assert sizes["instagram"] == {"feed": (1080, 1350), "square": (1080, 1080), "story": (1080, 1920)}
    assert sizes["tiktok"] == {"vertical": (1080, 1920)} and sizes["youtube"] == {"shorts": (1080, 1920)}
    assert sizes["x"] == {"landscape": (1600, 900), "square": (1200, 1200)}
    assert sizes["facebook"] == {"feed": (1080, 1350), "square": (1080, 1080), "story": (1080, 1920)}
    assert PRESETS["x"].caption_limit == 280 and PRESETS["youtube"].hashtag_limit == 15
    story = PRESETS["instagram"].presets[2]
    assert PRESETS["instagram"].max_seconds(story) == 60.0 < PRESETS["instagram"].video.max_seconds


# ---- captions and hashtags ------------------------------------------------------------------------------------


def test_hashtags_come_from_the_persona_and_the_prompts_content_words() -> None:
    prompt = "a photo of Ava walking on a beach at sunset, golden hour, 85mm, high detail"
    tags = candidate_tags(prompt, "Ava Rose", "generated")
    assert tags[:3] == [DISCLOSURE_TAG, "#AvaRose", "#Walking"]
    assert "#Beach" in tags and "#Sunset" in tags and "#Golden" in tags
    assert "#Photo" not in tags and "#Detail" not in tags and "#85mm" not in tags, "picture-making words are left out"
    assert len(tags) == len({t.lower() for t in tags}), "no repeats"
    assert hashtag("café-au-lait") == "#CaféAuLait" and hashtag("--") == ""
    assert candidate_tags(prompt, "Ava Rose", "edited")[0] == "#AIedited", "a face swap is disclosed as an AI edit"
    assert candidate_tags(prompt, "Ava Rose", "uploaded")[:2] == ["#AvaRose", "#Walking"], "an upload is not AI"


@pytest.mark.parametrize("name", PLATFORMS)
def test_post_text_keeps_the_platforms_limits(name: str) -> None:
    platform = PRESETS[name]
    words = " ".join(f"subject{i} scenery{i}" for i in range(5000))
    post = post_text(platform, prompt=f"Ava among {words}", persona="Ava", origin="generated")
    assert len(post.text) <= platform.caption_limit
    assert len(post.hashtags) <= platform.hashtag_limit
    if platform.caption_limit >= 2000:
        assert len(post.hashtags) == platform.hashtag_limit, "a long prompt fills the hashtag allowance"
    assert post.hashtags[0] == DISCLOSURE_TAG and post.hashtags[1] == "#Ava"
    assert post.caption.startswith("Ava among") and post.caption.endswith("…")
    assert len(post.caption) >= platform.caption_limit * 0.6, "hashtags never crowd out the caption"
    assert post.caption[:-1].split()[-1] in words.split(), "cut at a word, never inside one"
    short = post_text(platform, prompt="ava at the harbour", persona=None, origin="generated")
    assert short.caption == "Ava at the harbour" and short.text == "Ava at the harbour\n\n#AIgenerated #Harbour"
    own = post_text(platform, prompt="ava at the harbour", persona=None, origin="uploaded")
    assert own.text == "Ava at the harbour\n\n#Harbour", "a user's own upload gets no AI disclosure tag"


def test_shorten() -> None:
    assert shorten("short text", 20) == "short text"
    assert shorten("one two three four", 12) == "one two…"
    assert shorten("abcdefghijkl", 6) == "abcde…"
    assert shorten("anything", 1) == ""
