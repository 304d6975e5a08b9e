"""What every handler shares: replying with blocks, and editing the message of a button."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from bot.render import split_message

MAX_REPLY_MESSAGES = 4  # one reply never floods a chat (replies are built to need fewer)


async def reply_blocks(
    message: Message, blocks: Sequence[str], markup: InlineKeyboardMarkup | None = None
) -> list[Message]:
    """Send blocks as one or more messages; the keyboard goes on the last one."""
    parts = split_message(blocks)[:MAX_REPLY_MESSAGES]
    sent = []
    for number, part in enumerate(parts, 1):
        sent.append(
            await message.reply_text(part, reply_markup=markup if number == len(parts) else None)
        )
    return sent


async def edit_or_reply(
    update: Update, blocks: Sequence[str], markup: InlineKeyboardMarkup | None
) -> None:
    """Show new content in the message whose button was pressed, if it fits one message."""
    query = update.callback_query
    assert query is not None
    parts = split_message(blocks)
    message = query.message
    if len(parts) == 1 and isinstance(message, Message):
        try:
            await message.edit_text(parts[0], reply_markup=markup)
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise
        return
    if isinstance(message, Message):
        await reply_blocks(message, blocks, markup)
