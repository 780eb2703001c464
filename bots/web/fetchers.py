"""Chat apps fetch links posted in a chat to draw a preview (title, text, picture). Our links are private, so
such a fetcher gets a page that shows nothing of the content, and its fetch is never counted as a download.
"""

from __future__ import annotations

from fastapi import Request

PREVIEW_AGENTS = ("telegrambot", "discordbot", "twitterbot", "facebookexternalhit", "slackbot", "whatsapp",
                  "linkedinbot", "skypeuripreview", "vkshare", "applebot")


def is_preview_fetcher(request: Request) -> bool:
    """Whether the request comes from a chat app drawing a link preview, not from a person."""
    agent = request.headers.get("user-agent", "").lower()
    return any(name in agent for name in PREVIEW_AGENTS)
