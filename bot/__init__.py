"""The Telegram adapter, the command-line interface and the composition root."""
