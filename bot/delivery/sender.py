"""Sending one message of a digest or alert, and what came of it.

Every way a send can end is one :class:`Outcome`; the runner decides what the ledger
records for each (:mod:`bot.delivery.runner`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import Enum
from typing import Any

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import ExtBot
from telegram.warnings import PTBUserWarning

from bot.delivery.outage import Outage
from bot.pacing import Priority
from bot.posts import Post
from bot.transport import NotSent

NO_PREVIEW = '{"is_disabled":true}'  # as every message the bot sends (bot.app's defaults)

# The library asks for send_message instead; the raw request is what is meant here.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.sendMessage'", category=PTBUserWarning)


class Outcome(Enum):
    SENT = "sent"  # Telegram accepted it
    UNSURE = "unsure"  # it went out, and no answer came: it may have arrived
    # It surely never reached Telegram: no connection, a flood wait, or an answer that is
    # not the Bot API's (a 5xx, a proxy's page: see bot.transport.Unavailable).
    NOT_SENT = "not sent"
    MIGRATED = "migrated"  # the group is a supergroup now, under a new id
    GONE = "gone"  # blocked, removed, or the chat is no more
    REFUSED = "refused"  # Telegram refused it (no rights to post yet, a bad request)


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    error: TelegramError | None = None

    @property
    def new_chat_id(self) -> int:
        assert isinstance(self.error, ChatMigrated)
        return self.error.new_chat_id


def outcome_unknown(error: TelegramError) -> bool:
    """May Telegram have accepted the request this error ended? A read timeout or a
    connection lost after sending: yes. A connection never made or none free in time:
    no (:class:`bot.transport.NotSent`; Telegram acts on whole requests only)."""
    if not isinstance(error, TimedOut | NetworkError) or isinstance(error, BadRequest):
        return False
    return not isinstance(error.__cause__, NotSent)


def classify(error: TelegramError) -> Result:
    """What a send that raised ``error`` came to."""
    if isinstance(error, ChatMigrated):
        return Result(Outcome.MIGRATED, error)
    if isinstance(error, Forbidden) or (
        isinstance(error, BadRequest) and "chat not found" in str(error).lower()
    ):
        return Result(Outcome.GONE, error)
    if isinstance(error, BadRequest):
        return Result(Outcome.REFUSED, error)
    if isinstance(error, RetryAfter) or not outcome_unknown(error):
        return Result(Outcome.NOT_SENT, error)
    return Result(Outcome.UNSURE, error)


class Sender:
    """Posts one message at a time as bulk (digest) traffic, paced by the bot's limiter.

    The request is the Bot API's own JSON (buttons serialized once per digest), and the
    answer is not made into a :class:`telegram.Message` nobody reads: at the paid pace
    building those objects was a fifth of the bot's time."""

    def __init__(self, bot: ExtBot[Any], paid: bool, timeout: float) -> None:
        self.bot = bot
        self.paid = paid  # as paid broadcasts (their own, faster pace)
        self.timeout = timeout
        self.outage = Outage(self.probe)

    async def probe(self) -> bool:
        """Does Telegram answer? (``getMe``: it sends nobody anything.)"""
        try:
            await self.bot.get_me(read_timeout=min(self.timeout, 10.0), write_timeout=5.0)
        except TelegramError as error:
            return isinstance(error, RetryAfter) or not isinstance(error, TimedOut | NetworkError)
        return True

    async def send(self, chat_id: int, post: Post) -> Result:
        request: dict[str, Any] = {
            "chat_id": chat_id,
            "text": post.text,
            "parse_mode": "HTML",
            "link_preview_options": NO_PREVIEW,
        }
        if post.buttons is not None:
            request["reply_markup"] = post.buttons
        if self.paid:
            request["allow_paid_broadcast"] = True
        try:
            await self.bot.do_api_request(
                "sendMessage",
                api_kwargs=request,
                rate_limit_args=Priority.BULK,
                read_timeout=self.timeout,
                write_timeout=self.timeout,
            )
        except TelegramError as error:
            result = classify(error)
            if result.outcome not in (Outcome.NOT_SENT, Outcome.UNSURE) or isinstance(
                error, RetryAfter
            ):
                self.outage.answered()
            elif result.outcome is Outcome.NOT_SENT:
                self.outage.lost()
            return result
        self.outage.answered()
        return Result(Outcome.SENT)
