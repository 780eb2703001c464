"""What users send that the bot cannot use, group-chat manners, and failures that must not stop the bot."""

from __future__ import annotations

import time
from typing import Any

from tests.fake_telegram import BOT_USER
from tests.telegram.support import ALICE, BOB, Bot

GROUP = -100200


def test_unsupported_content_gets_a_one_line_answer(bot: Bot) -> None:
    fake = bot.fake
    cases: list[tuple[dict[str, Any], str]] = [
        ({"sticker": {"file_id": "st", "file_unique_id": "st", "type": "regular", "width": 512, "height": 512,
                      "is_animated": False, "is_video": False}}, "Stickers can't be used here"),
        ({"voice": {"file_id": "vo", "file_unique_id": "vo", "duration": 3}}, "I can't listen to voice messages"),
        ({"location": {"latitude": 38.7, "longitude": -9.1}}, "Locations can't be used here"),
        ({"contact": {"phone_number": "+100", "first_name": "Eve"}}, "Contacts can't be used here"),
    ]
    for content, expected in cases:
        before = len(fake.calls)
        fake.content(ALICE, **content)
        answer = fake.wait_call("sendMessage", chat_id=ALICE, after=before)
        assert answer.text.startswith(expected) and "\n" not in answer.text


def test_a_30_mb_document_is_refused_before_downloading(bot: Bot) -> None:
    fake = bot.fake
    fake.document(ALICE, b"\xff\xd8\xff" + b"0" * 100, filename="huge.jpg", mime="image/jpeg", size=30 * 2**20)
    answer = fake.wait_call("sendMessage", chat_id=ALICE, contains="huge.jpg")
    assert "30.0 MB" in answer.text and "20 MB" in answer.text
    assert fake.calls_to("getFile") == [] and fake.calls_to("download") == []


def test_unknown_commands_and_forwarded_messages(bot: Bot) -> None:
    fake = bot.fake
    fake.text(ALICE, "/imagin a cat")
    assert "Did you mean /imagine?" in fake.wait_call("sendMessage", chat_id=ALICE).text
    # A forwarded message counts as its content: forwarded text is read like typed text ...
    origin = {"type": "user", "date": int(time.time()), "sender_user": fake.user(BOB)}
    before = len(fake.calls)
    fake.text(ALICE, "/help gallery", forward_origin=origin)
    assert "/gallery [N]" in fake.wait_call("sendMessage", chat_id=ALICE, after=before).text
    # ... and a forwarded photo like a photo the user sent.
    before = len(fake.calls)
    fake.photo(ALICE, b"\xff\xd8\xff" + b"1" * 200, forward_origin=origin)
    assert "Got your file" in fake.wait_call("sendMessage", chat_id=ALICE, after=before).text


def test_groups_answer_only_when_addressed_and_personas_stay_private(bot: Bot) -> None:
    fake = bot.fake
    fake.text(ALICE, "what a nice day", chat_id=GROUP)
    fake.text(ALICE, "/start@some_other_bot", chat_id=GROUP)
    fake.text(ALICE, "/persona new Ava", chat_id=GROUP)
    fake.wait_call("sendMessage", chat_id=GROUP, contains="Creating Ava")
    assert len(fake.calls_to("sendMessage", chat_id=GROUP)) == 1, "chatter and other bots' commands are ignored"

    fake.text(BOB, f"/persona@{BOT_USER['username']} list", chat_id=GROUP)
    listing = fake.wait_call("sendMessage", chat_id=GROUP, contains="No personas yet")
    assert listing.params["reply_parameters"]["message_id"], "answers in groups quote the message they answer"

    mention = f"@{BOT_USER['username']}"
    fake.text(BOB, f"{mention} /jobs", chat_id=GROUP,
              entities=[{"type": "mention", "offset": 0, "length": len(mention)}])
    fake.wait_call("sendMessage", chat_id=GROUP, contains="No jobs yet")

    ours = fake.message_of(listing)
    before = len(fake.calls)
    fake.text(BOB, "/gallery", chat_id=GROUP, reply_to=ours, entities=[])
    fake.wait_call("sendMessage", chat_id=GROUP, contains="gallery is empty", after=before)


def test_a_failing_download_is_logged_answered_and_the_bot_keeps_going(bot: Bot, caplog) -> None:
    fake = bot.fake
    fake.text(ALICE, "/persona new Ava")
    fake.wait_call("sendMessage", chat_id=ALICE, contains="Creating Ava")
    fake.text(ALICE, "/consent")
    fake.wait_call("sendMessage", chat_id=ALICE, contains="Now send")
    fake.broken_files.add(f"file{fake.peek_id() + 1}")  # the full-size file of the next photo (thumb, full)
    update_id = fake.photo(ALICE, b"\xff\xd8\xff" + b"2" * 200)
    sorry = fake.wait_call("sendMessage", chat_id=ALICE, contains="something went wrong")
    assert "\n" not in sorry.text
    assert any(r.exc_info and f"update {update_id}" in r.getMessage() for r in caplog.records)
    fake.text(ALICE, "/start")
    fake.wait_call("sendMessage", chat_id=ALICE, contains="/help lists every command")
