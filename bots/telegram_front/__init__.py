"""The Telegram front end's own parts around the shared inbound path (``bots.inbound``): inbound (updates →
``Arrival``, albums, downloads), answers (in the chat, or to a button press), outbound (replies → Bot API calls),
delivery.

The entry point is ``bots.telegram_bot.run_telegram``; this package is named so it never shadows the
``telegram`` library.
"""
