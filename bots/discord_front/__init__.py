"""The Discord front end's parts: inbound (messages → ``Incoming``), commands (the slash-command tree),
interactions (answering within Discord's deadline), outbound (replies → messages) and delivery.

The entry point is ``bots.discord_bot.run_discord``; this package is named so it never shadows the ``discord``
library.
"""
