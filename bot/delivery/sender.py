"""Sending one message of a digest or alert, and what came of it.

Every way a send can end is one :class:`Outcome`; the runner decides what the ledger
records for each (:mod:`bot.delivery.runner`).
"""

from __future__ import annotations

import functools
import json
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

from bot.delivery.outage import Outage
from bot.pacing import Priority
from bot.posts import Post
from bot.transport import AiohttpRequest, NotSent, refusal

NO_PREVIEW = '{"is_disabled":true}'  # as every message the bot sends (bot.app's defaults)


class Outcome(Enum):
    SENT = "sent"  # Telegram accepted it
    UNSURE = "unsure"  # it went out, and no answer came: it may have arrived
    # It surely never reached Telegram: no connection, a flood wait, or an answer that is
    # not the Bot API's (a 5xx, a proxy's page: see bot.transport.Unavailable).
    NOT_SENT = "not sent"
    MIGRATED = "migrated"  # the group is a supergroup now, under a new id
    GONE = "gone"  # blocked, removed, or the chat is no more
    NO_RIGHTS = "no rights"  # the bot may not post there (yet): an admin may still allow it
    REFUSED = "refused"  # Telegram refused it (a bad request)


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
        rights = "rights" in str(error).lower()  # "not enough rights", "have no rights"
        return Result(Outcome.NO_RIGHTS if rights else Outcome.REFUSED, error)
    if isinstance(error, RetryAfter) or not outcome_unknown(error):
        return Result(Outcome.NOT_SENT, error)
    return Result(Outcome.UNSURE, error)


def request_body(chat_id: int, post: Post, paid: bool) -> bytes:
    """``sendMessage``'s JSON body for one chat: the rest of it is made once per message of
    a digest, however many chats get it, and only the chat's id is put in front."""
    return b'{"chat_id":%d,%s' % (chat_id, _rest_of_body(post.text, post.buttons, paid))


def whole_body(chat_id: int, post: Post, paid: bool) -> bytes:
    """The same body built whole (what :func:`request_body` must equal, byte for byte)."""
    return json.dumps(_fields(chat_id, post.text, post.buttons, paid), **_JSON).encode()


_JSON: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":")}


def _fields(chat_id: int | None, text: str, buttons: str | None, paid: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {} if chat_id is None else {"chat_id": chat_id}
    fields |= {"text": text, "parse_mode": "HTML", "link_preview_options": NO_PREVIEW}
    if buttons is not None:
        fields["reply_markup"] = buttons
    if paid:
        fields["allow_paid_broadcast"] = True
    return fields


@functools.lru_cache(maxsize=64)  # a pass sends a few distinct messages to many chats
def _rest_of_body(text: str, buttons: str | None, paid: bool) -> bytes:
    return json.dumps(_fields(None, text, buttons, paid), **_JSON).encode()[1:]


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
        # The bot's own pace and transport (bot.app builds both).
        assert bot.rate_limiter is not None and isinstance(bot.request, AiohttpRequest)
        self.limiter, self.request = bot.rate_limiter, bot.request
        self.url = f"{bot.base_url}/sendMessage"

    async def _post(self, body: bytes) -> bool:
        """``sendMessage`` with ``body`` as it is; a success's answer is not read."""
        status, payload = await self.request.post_json(self.url, body, self.timeout, self.timeout)
        if not 200 <= status <= 299:
            raise refusal(status, payload)
        return True

    async def probe(self) -> bool:
        """Does Telegram answer? (``getMe``: it sends nobody anything.)"""
        try:
            await self.bot.get_me(read_timeout=min(self.timeout, 10.0), write_timeout=5.0)
        except TelegramError as error:
            return isinstance(error, RetryAfter) or not isinstance(error, TimedOut | NetworkError)
        return True

    async def send(self, chat_id: int, post: Post) -> Result:
        body = request_body(chat_id, post, self.paid)
        try:
            await self.limiter.process_request(
                callback=self._post,
                args=(body,),
                kwargs={},
                endpoint="sendMessage",
                data={"chat_id": chat_id},
                rate_limit_args=Priority.BULK,
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
