"""Front ends: console, Telegram, Discord and the web page. No torch, no inference imports here."""
