"""A local Bot API emulator (see :mod:`bot.emulator.server`)."""

from bot.emulator.server import BotApiEmulator, Chat, SentMessage

__all__ = ["BotApiEmulator", "Chat", "SentMessage"]
