"""Private links in chat messages go out without a link preview: Telegram's preview fetcher would otherwise
open the gallery or package page. Checked on the real python-telegram-bot against the loopback Bot API."""

from __future__ import annotations

from tests.telegram.support import ALICE, Bot


def test_link_messages_carry_no_preview(bot: Bot) -> None:
    fake = bot.fake
    fake.text(ALICE, "/web")
    link = fake.wait_call("sendMessage", chat_id=ALICE, contains=f"{bot.settings.public_url}/u/")
    assert link.params["link_preview_options"] == {"is_disabled": True}

    before = len(fake.calls)
    fake.text(ALICE, "/start")
    plain = fake.wait_call("sendMessage", chat_id=ALICE, contains="/help", after=before)
    assert "link_preview_options" not in plain.params, "messages without a link keep Telegram's default"
