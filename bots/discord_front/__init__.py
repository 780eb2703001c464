"""The Discord front end's own parts around the shared inbound path (``bots.inbound``): inbound (messages →
``Arrival``, attachments), commands (the slash-command tree) and options (their typed commands), answers and
interactions (answering in a channel, or an interaction within Discord's deadline), outbound (replies →
messages) and delivery.

The entry point is ``bots.discord_bot.run_discord``; this package is named so it never shadows the ``discord``
library.
"""
