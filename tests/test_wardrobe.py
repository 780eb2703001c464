"""Wardrobe and persona profile: storage on both databases, outfits written out in prompts, and the commands as
every front end sees them (save, list, delete, /persona set, /imagine with an outfit), bad inputs included."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from PIL import Image
from redis import Redis
from sqlalchemy.exc import IntegrityError

from core import outfits
from core.app import Studio
from core.colour_names import colour_name, dominant_colours
from core.errors import UsageError
from core.messages import Incoming, Reply, Upload
from core.prompts import PersonaText, build_prompt
from core.settings import Settings
from storage.blobs import BlobStore
from storage.db import Database
from storage.housekeeping import remove_unreferenced
from storage.models import Persona
from storage.repositories import blob_refs
from storage.repositories import jobs as job_repo
from storage.repositories import personas as persona_repo
from storage.repositories import users as user_repo
from storage.repositories import wardrobe as wardrobe_repo
from storage.states import PersonaStatus


def photo(colours: tuple[tuple[int, int, int], ...], size: int = 240, fmt: str = "JPEG") -> bytes:
    """A picture in vertical bands of ``colours`` (an outfit photo as far as colours go)."""
    image = Image.new("RGB", (size, size))
    band = size // len(colours)
    for index, colour in enumerate(colours):
        image.paste(colour, (0, index * band, size, size if index == len(colours) - 1 else (index + 1) * band))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


# ---- storage ----------------------------------------------------------------------------------------------------


def test_outfit_names_are_unique_per_persona_however_spelt(any_db: Database) -> None:
    with any_db.session() as session:
        ann = user_repo.get_or_create(session, platform="telegram", platform_user_id="1")
        ava = persona_repo.create(session, owner_id=ann.id, name="Ava")
        mia = persona_repo.create(session, owner_id=ann.id, name="Mia")
        item, _ = wardrobe_repo.save(session, persona=ava, name="red-dress", description="a red satin slip dress")
        wardrobe_repo.save(session, persona=mia, name="red-dress", description="a red wool dress")
        assert wardrobe_repo.by_name(session, persona_id=ava.id, name="Red Dress") is item
        assert wardrobe_repo.by_name(session, persona_id=ava.id, name="red_dress") is item
        again, replaced = wardrobe_repo.save(session, persona=ava, name="Red_Dress", description="a red gown")
        assert again is item and item.description == "a red gown" and replaced is None
        ava_id = ava.id
    with pytest.raises(IntegrityError), any_db.session() as session:
        session.add(wardrobe_repo.WardrobeItem(persona_id=ava_id, name="RED-DRESS", name_key="red-dress"))


def test_outfit_photos_count_as_referenced_and_go_with_their_persona(any_db: Database) -> None:
    with any_db.session() as session:
        ann = user_repo.get_or_create(session, platform="console", platform_user_id="c")
        ava = persona_repo.create(session, owner_id=ann.id, name="Ava")
        wardrobe_repo.save(session, persona=ava, name="coat", description="a camel coat", photo_blob="c" * 64)
        assert "c" * 64 in persona_repo.blobs_of(ava)
        ava_id = ava.id
    with any_db.session() as session:
        assert blob_refs.in_use(session, blob="c" * 64) and "c" * 64 in blob_refs.referenced(session)
        session.delete(persona_repo.get_owned(session, persona_id=ava_id, owner_id=ann.id))
    with any_db.session() as session:
        assert not blob_refs.in_use(session, blob="c" * 64)
        assert wardrobe_repo.list_for(session, persona_id=ava_id) == []


def test_housekeeping_keeps_an_outfit_photo(db: Database, blobs: BlobStore) -> None:
    kept = blobs.put_bytes(photo(((200, 20, 20),)))
    stray = blobs.put_bytes(photo(((20, 200, 20),)))
    with db.session() as session:
        ann = user_repo.get_or_create(session, platform="console", platform_user_id="h")
        ava = persona_repo.create(session, owner_id=ann.id, name="Ava")
        wardrobe_repo.save(session, persona=ava, name="red-dress", description="red", photo_blob=kept)
    remove_unreferenced(db, blobs, grace=timedelta(0))
    assert blobs.exists(kept) and not blobs.exists(stray)


# ---- outfits in prompts -----------------------------------------------------------------------------------------


@pytest.fixture
def ava(db: Database) -> tuple[Database, int]:
    with db.session() as session:
        ann = user_repo.get_or_create(session, platform="console", platform_user_id="o")
        persona = persona_repo.create(session, owner_id=ann.id, name="Ava")
        wardrobe_repo.save(session, persona=persona, name="red-dress", description="a red satin slip dress")
        wardrobe_repo.save(session, persona=persona, name="denim_jacket", description="washed denim jacket")
        persona_id = persona.id
    return db, persona_id


def _expand(ava: tuple[Database, int], text: str) -> outfits.OutfitUse:
    db, persona_id = ava
    with db.session() as session:
        return outfits.expand(session, session.get(Persona, persona_id), text)


@pytest.mark.parametrize(("text", "expected"), [
    ("in her red-dress at a café", "in a red satin slip dress at a café"),
    ("wearing red-dress, golden hour", "wearing a red satin slip dress, golden hour"),
    ("her Red Dress on a rooftop", "a red satin slip dress on a rooftop"),
    ("Ava's red_dress by the sea", "a red satin slip dress by the sea"),
    ("in 'red dress' at night", "in a red satin slip dress at night"),
    ("in her denim jacket and red-dress", "in her washed denim jacket and a red satin slip dress"),
])
def test_outfits_named_in_a_prompt_are_written_out(ava: tuple[Database, int], text: str, expected: str) -> None:
    used = _expand(ava, text)
    assert used.text == expected
    assert set(used.outfits) <= {"red-dress", "denim_jacket"} and used.outfits


@pytest.mark.parametrize("text", [
    "her hair in the wind", "in a red dress at a café", "wearing a t-shirt", "in her off-shoulder top at a café",
    "a red dress shop window", "in her pale-blue dress",
])
def test_ordinary_words_are_left_alone(ava: tuple[Database, int], text: str) -> None:
    assert _expand(ava, text) == outfits.OutfitUse(text=text)


@pytest.mark.parametrize("text", ["in her blue-gown at a café", "wearing her blue-gown",
                                  "wearing 'blue gown' at the beach"])
def test_an_explicit_unknown_outfit_is_refused_with_the_wardrobe(ava: tuple[Database, int], text: str) -> None:
    with pytest.raises(UsageError, match=r"no outfit called blue.gown; the wardrobe has denim_jacket, red-dress"):
        _expand(ava, text)


def test_style_notes_end_every_prompt_of_the_persona() -> None:
    look = PersonaText(description="a woman with short black hair", style="soft film grain, pastel tones")
    built = build_prompt("reading in a café", persona=look)
    assert built.text == "a woman with short black hair, reading in a café, soft film grain, pastel tones"
    templated = build_prompt("on a beach", persona=look, template="profile-headshot")
    assert templated.text.endswith("soft film grain, pastel tones") and "on a beach" in templated.text


def test_colours_are_named_as_people_say_them() -> None:
    assert [colour_name(*rgb) for rgb in ((200, 20, 30), (10, 10, 10), (250, 250, 250), (20, 30, 90),
                                          (230, 210, 170), (110, 60, 20))] == [
        "red", "black", "white", "navy", "beige", "brown"]
    assert dominant_colours(photo(((200, 20, 30), (200, 20, 30), (10, 10, 10)))) == ["red", "black"]


# ---- the commands -----------------------------------------------------------------------------------------------


@pytest.fixture
def studio(settings: Settings, db: Database, redis: Redis) -> Iterator[Studio]:
    built = Studio.build(settings, redis=redis)
    yield built
    built.close()


def replies(studio: Studio, text: str = "", *, user: str = "ann", uploads: tuple[Upload, ...] = ()) -> list[Reply]:
    return studio.assistant.handle(Incoming(platform="telegram", user_id=user, chat_id=user, text=text,
                                            uploads=uploads))


def say(studio: Studio, text: str = "", *, user: str = "ann", uploads: tuple[Upload, ...] = ()) -> str:
    return "\n".join(r.text for r in replies(studio, text, user=user, uploads=uploads))


def ready_persona(studio: Studio, name: str, *, user: str = "ann", platform: str = "telegram") -> int:
    """A persona whose photos were analysed (the analysis itself is tested elsewhere)."""
    with studio.db.session() as session:
        owner = user_repo.get_or_create(session, platform=platform, platform_user_id=user)
        persona = persona_repo.create(session, owner_id=owner.id, name=name)
        persona.status = PersonaStatus.READY.value
        return persona.id


def test_save_list_use_and_delete_with_one_persona(studio: Studio, db: Database) -> None:
    assert "create one first" in say(studio, "/wardrobe save red-dress a red satin slip dress")
    ready_persona(studio, "Ava")
    saved = say(studio, "/wardrobe save red-dress a red satin slip dress")
    assert saved.startswith("Saved Ava's red-dress: a red satin slip dress."), saved
    assert "Updated Ava's red-dress" in say(studio, "save Ava's Red_Dress: a red satin slip dress, thin straps")
    listed = say(studio, "/wardrobe list")
    assert "Ava's wardrobe:\n• red-dress — a red satin slip dress, thin straps" in listed

    say(studio, "/settings platform tiktok")
    say(studio, "/persona set Ava style soft film grain, Ava's pastel look")
    say(studio, "/persona set Ava platform ig")
    assert "makes 8 photos" in say(studio, "/persona set Ava shoot-size 8")
    card = say(studio, "/persona show Ava")
    for line in ("Style: soft film grain, Ava's pastel look", "Shoot size: 8 photos", "Platform: instagram",
                 "Wardrobe (1):", "• red-dress — a red satin slip dress, thin straps"):
        assert line in card, card

    queued = replies(studio, "Ava in her red-dress at a café")
    assert "Wearing red-dress from the wardrobe." in queued[0].text
    with db.session() as session:
        job = job_repo.get(session, job_id=queued[0].job_id or "")
        assert job is not None
        assert job.spec["prompt"] == "in a red satin slip dress, thin straps at a café"
        assert job.spec["outfits"] == ["red-dress"]
        assert job.spec["platform"] == "instagram", "the persona's platform before the user's general default"
    assert "no outfit called blue-gown; the wardrobe has red-dress" in say(studio, "/imagine Ava: in her blue-gown")

    assert say(studio, "/persona set Ava shoot-size default").endswith("makes 6 photos unless told.")
    assert "Deleted Ava's red-dress." in say(studio, "/wardrobe delete red dress")
    assert "Ava's wardrobe is empty" in say(studio, "/wardrobe list Ava")
    assert "None of your personas has an outfit called red-dress" in say(studio, "/wardrobe delete red-dress")


def test_with_several_personas_it_asks_whose_and_a_press_saves_it_with_the_photo(studio: Studio) -> None:
    ready_persona(studio, "Ava")
    ready_persona(studio, "Mia")
    picture = photo(((30, 40, 150), (30, 40, 150), (250, 250, 250)))
    asked = replies(studio, "/wardrobe save blue-suit", uploads=(Upload(picture, "suit.jpg"),))
    assert asked[0].text == "Whose outfit is blue-suit?"
    assert [b.label for b in asked[0].buttons] == ["Ava", "Mia"]
    pressed = studio.assistant.press(Incoming(platform="telegram", user_id="ann", chat_id="ann"),
                                     asked[0].buttons[1].action)
    text = pressed[0].text
    assert text.startswith("Saved Mia's blue-suit: blue and white outfit."), text
    assert "only its colours" in text
    listed = replies(studio, "/wardrobe list")
    assert "• blue-suit — blue and white outfit (colours read from the photo) (photo)" in listed[0].text
    assert [(m.caption, m.mime) for m in listed[0].media] == [("Mia · blue-suit", "image/jpeg")]
    digest = listed[0].media[0].blob
    # Words later replace the colours; the photo stays.
    assert "Updated Mia's blue-suit" in say(studio, "/wardrobe save Mia: blue-suit a navy three-piece suit")
    assert "• blue-suit — a navy three-piece suit (photo)" in say(studio, "/wardrobe list Mia")
    # Two personas with the same outfit name: deleting asks whose; the photo goes with the last outfit using it.
    say(studio, "/wardrobe save Ava: blue-suit a light blue linen suit")
    assert "Several personas have blue-suit" in say(studio, "/wardrobe delete blue-suit")
    assert studio.blobs.exists(digest)
    assert "Deleted Mia's blue-suit." in say(studio, "/wardrobe delete Mia: blue-suit")
    assert not studio.blobs.exists(digest)


def test_bad_inputs_get_one_line_saying_what_to_do(studio: Studio) -> None:
    ready_persona(studio, "Ava")
    ready_persona(studio, "Zed", user="bob")
    assert "no persona called Zed" in say(studio, "/wardrobe save Zed: tux a black tuxedo")
    assert "no persona called Zed" in say(studio, "/wardrobe list Zed")
    assert "no persona called Zed" in say(studio, "/persona set Zed style noir")
    assert "keep it to 32" in say(studio, "/wardrobe save " + "a" * 33 + " a dress")
    assert "Outfit names are letters" in say(studio, "/wardrobe save red/dress a dress")
    assert "Outfit names are letters" in say(studio, "/wardrobe save <b>dress</b> a dress")
    assert "Describe red-dress" in say(studio, "/wardrobe save Ava: red-dress")
    not_an_image = say(studio, "/wardrobe save red-dress", uploads=(Upload(b"%PDF-1.7 not a photo", "dress.jpg"),))
    assert not_an_image == "dress.jpg is not an image we recognise; send a JPEG, PNG or WebP photo."
    assert "one photo per outfit" in say(studio, "/wardrobe save red-dress", uploads=(
        Upload(photo(((1, 2, 3),)), "a.jpg"), Upload(photo(((3, 2, 1),)), "b.jpg")))
    assert "Ava has no outfits yet; add one with /wardrobe save Ava: tux" in say(studio, "/wardrobe delete Ava: tux")
    assert "shoot size must be from 4 to 12" in say(studio, "/persona set Ava shoot-size 13")
    assert "not a persona setting" in say(studio, "/persona set Ava mood happy")
    with studio.db.session() as session:
        bob = user_repo.get_or_create(session, platform="telegram", platform_user_id="bob")
        zed = persona_repo.by_name(session, owner_id=bob.id, name="Zed")
        assert zed is not None and zed.wardrobe == [] and zed.style_notes == ""
