"""The Telegram front end's parts: inbound (updates → ``Incoming``), outbound (replies → Bot API calls), delivery.

The entry point is ``bots.telegram_bot.run_telegram``; this package is named so it never shadows the
``telegram`` library.
"""
