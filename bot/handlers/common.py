"""What every handler shares: the services behind the bot, the typed context, replying."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy.orm import Session, sessionmaker
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import CallbackContext, ExtBot

from bot.config import Settings
from bot.render import split_message

if TYPE_CHECKING:
    from bot.app import PapersApplication
    from bot.delivery import Deliverer

T = TypeVar("T")


@dataclass
class AdminCache:
    """Who administers which chat, remembered briefly to spare getChatMember calls."""

    ttl: float = 60.0
    entries: dict[tuple[int, int], tuple[float, bool]] = field(default_factory=dict)

    def get(self, chat_id: int, user_id: int) -> bool | None:
        hit = self.entries.get((chat_id, user_id))
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, chat_id: int, user_id: int, is_admin: bool) -> None:
        if len(self.entries) > 50_000:
            self.entries.clear()
        self.entries[(chat_id, user_id)] = (time.monotonic() + self.ttl, is_admin)


@dataclass
class Services:
    """The bot's long-lived collaborators, built once in :mod:`bot.app`."""

    settings: Settings
    Session: sessionmaker[Session]
    admins: AdminCache = field(default_factory=AdminCache)
    deliverer: Deliverer | None = None

    async def db(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(session, *args)`` in a worker thread with its own session."""

        def run() -> T:
            with self.Session() as session:
                return work(session, *args)

        return await asyncio.to_thread(run)

    def today(self) -> date:
        """Today in the digest's time zone (what "today" means to the readers)."""
        return datetime.now(self.settings.tz).date()

    def is_operator(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_ids


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """Handlers' context, with the bot's services as a typed property."""

    @property
    def services(self) -> Services:
        return cast("PapersApplication", self.application).services


def keyboard(rows: Sequence[Sequence[tuple[str, str]]]) -> InlineKeyboardMarkup | None:
    """(label, callback data) rows → an inline keyboard; empty rows are dropped."""
    buttons = [
        [InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows
    ]
    buttons = [row for row in buttons if row]
    return InlineKeyboardMarkup(buttons) if buttons else None


async def reply_blocks(
    message: Message, blocks: Sequence[str], markup: InlineKeyboardMarkup | None = None
) -> list[Message]:
    """Send blocks as one or more messages; the keyboard goes on the last one."""
    parts = split_message(blocks)
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
