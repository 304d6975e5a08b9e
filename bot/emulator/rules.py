"""Telegram's rules, as strict as Telegram: what it refuses, and with which error.

HTML it cannot parse, texts over 4096 UTF-16 units, keyboards over 100 buttons (or 8 in a
row) and callback data over 64 bytes; chats the bot may not post in (blocked, kicked,
migrated, without the right); command menus, inline answers and webhook URLs out of bounds;
and the flood limits: 30 messages in any one-second window (paid broadcasts: their own
1000), 20 a minute in a group, answered with 429 and ``retry_after``.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import time
import urllib.parse
from collections import deque
from typing import Any

import telegram

from bot.emulator.telegram_html import EntityError, parse_html, utf16_length
from bot.emulator.world import Chat

BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "copy_text",
    "web_app",
)
INLINE_TIMEOUT = 10.0  # seconds Telegram waits for an inline query's answer
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query id is invalid"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


# What python-telegram-bot's methods take that never goes to Telegram; and parameters of the
# Bot API that the library fills in under another name.
LIBRARY_ONLY = {
    "self", "read_timeout", "write_timeout", "connect_timeout", "pool_timeout", "api_kwargs",
    "rate_limit_args", "current_offset", "auto_pagination",
}  # fmt: skip
API_ONLY = {"answerinlinequery": {"next_offset"}}


@functools.cache
def parameters_of(method: str) -> frozenset[str]:
    """The parameters the Bot API method ``method`` (lower case) takes: the library mirrors
    each method of the published API with the same parameter names."""
    for name in dir(telegram.Bot):
        if name.lower() == method and name[0].islower() and not name.islower():
            signature = inspect.signature(getattr(telegram.Bot, name))
            names = set(signature.parameters) - LIBRARY_ONLY
            return frozenset(names | API_ONLY.get(method, set()))
    return frozenset()


def check_parameters(method: str, params: dict[str, Any]) -> None:
    """A stricter server than Telegram (which ignores what it does not know) refuses a
    parameter the method does not have: the bot must send only those it has."""
    unknown = sorted(set(params) - parameters_of(method))
    if unknown:
        raise ApiError(400, f"Bad Request: unknown parameter {unknown[0]!r} for {method}")


def too_many(retry_after: int) -> ApiError:
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


def check_postable(chat: Chat | None) -> None:
    """Whether the bot may send to the chat: it exists, is not a migrated group, has not
    blocked or removed the bot, and lets it post."""
    if chat is None:
        raise ApiError(400, "Bad Request: chat not found")
    if chat.migrated_to is not None:
        raise ApiError(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": chat.migrated_to},
        )
    if chat.blocked:
        if chat.type == "private":
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        raise ApiError(403, "Forbidden: bot was kicked from the supergroup chat")
    if not chat.can_post:
        if chat.type == "channel":
            raise ApiError(400, "Bad Request: need administrator rights in the channel chat")
        raise ApiError(400, "Bad Request: not enough rights to send text messages to the chat")


def checked_text(params: dict[str, Any], private: bool = True) -> tuple[str, str]:
    """A message's text as sent and as shown, if Telegram would take it with its options."""
    html_text = str(params.get("text", ""))
    if params.get("parse_mode", "").upper() == "HTML":
        try:
            visible = parse_html(html_text)
        except EntityError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
    else:
        visible = html_text
    if not visible.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_length(visible.strip()) > 4096:
        raise ApiError(400, "Bad Request: message is too long")
    preview = params.get("link_preview_options") or {}
    if preview.get("url") is not None and not re.match(r"https?://", str(preview["url"])):
        raise ApiError(400, "Bad Request: link preview URL is invalid")
    if preview.get("prefer_small_media") and preview.get("prefer_large_media"):
        raise ApiError(400, "Bad Request: can't prefer both small and large media")
    check_markup(params.get("reply_markup"), private)
    return html_text, visible


def check_markup(markup: dict[str, Any] | None, private: bool = True) -> None:
    """An inline keyboard as Telegram takes it: at most 100 buttons, 8 a row, each with a
    label and exactly one action, callback data of at most 64 bytes, text to copy of 1-256
    characters, a Mini App (``web_app``, https only) in a private chat only."""
    rows = (markup or {}).get("inline_keyboard", [])
    if sum(map(len, rows)) > 100 or any(len(row) > 8 for row in rows):
        raise ApiError(400, "Bad Request: reply markup is too long")
    for row in rows:
        for button in row:
            if len(button.get("callback_data", "").encode()) > 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if not button.get("text") or sum(k in button for k in BUTTON_ACTIONS) != 1:
                raise ApiError(400, "Bad Request: BUTTON_TYPE_INVALID")
            url = button.get("url")
            if url is not None and not re.match(r"(https?|tg)://", str(url)):
                raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
            if "copy_text" in button:
                copied = (button["copy_text"] or {}).get("text")
                if not isinstance(copied, str) or not 1 <= len(copied) <= 256:
                    raise ApiError(400, "Bad Request: BUTTON_COPY_TEXT_INVALID")
            if "web_app" in button:
                app = str((button["web_app"] or {}).get("url", ""))
                if not app.startswith("https://"):
                    raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
                if not private:
                    raise ApiError(400, "Bad Request: BUTTON_TYPE_INVALID")


def check_commands(commands: list[dict[str, Any]], language: str) -> None:
    """A command menu: at most 100 commands, each 1-32 lower-case letters, digits or
    underscores with a description of 1-256 characters; a two-letter language."""
    if language and not re.fullmatch(r"[a-z]{2}", language):
        raise ApiError(400, "Bad Request: invalid language code specified")
    if len(commands) > 100:
        raise ApiError(400, "Bad Request: too many commands specified")
    for command in commands:
        if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
            raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
            raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")


def check_inline_answer(params: dict[str, Any]) -> None:
    """An inline query's answer: at most 50 articles with unique ids of 1-64 bytes, titles,
    message texts Telegram would send; a next offset of at most 64 bytes."""
    results = params.get("results") or []
    if len(results) > 50:
        raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
    if len((params.get("next_offset") or "").encode()) > 64:
        raise ApiError(400, "Bad Request: NEXT_OFFSET_INVALID")
    seen = set()
    for result in results:
        result_id = str(result.get("id", ""))
        if not 1 <= len(result_id.encode()) <= 64:
            raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
        if result_id in seen:
            raise ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
        seen.add(result_id)
        if result.get("type") != "article" or not str(result.get("title", "")).strip():
            raise ApiError(400, "Bad Request: RESULT_TITLE_EMPTY")
        content = result.get("input_message_content") or {}
        if "message_text" not in content:
            raise ApiError(400, "Bad Request: MESSAGE_EMPTY")
        checked_text(
            {
                **content,
                "text": content["message_text"],
                "reply_markup": result.get("reply_markup"),
            },
            private=False,  # a result is posted in any chat
        )


def check_webhook(url: str, secret: object) -> None:
    """A webhook Telegram would call: HTTPS on one of its four ports, a plain secret."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "https":
        raise ApiError(400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
    if (parsed.port or 443) not in (443, 80, 88, 8443):
        raise ApiError(
            400, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
        )
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
        raise ApiError(400, "Bad Request: secret token contains unallowed characters")


class FloodLimits:
    """Telegram's flood windows: 30 a second overall (paid broadcasts: their own 1000), 20
    a minute per group either way; a send past them is answered 429."""

    def __init__(self, per_second: float, group_per_minute: float, paid_per_second: float):
        self.rate = per_second
        self.group_rate = group_per_minute
        self.paid_rate = paid_per_second
        self.throttled = 0  # 429s answered (the limits' and injected floods')
        self.throttled_at: list[tuple[float, int]] = []  # when, and to which chat (limits)
        self.paid_arrivals: list[float] = []
        self._window: deque[float] = deque()
        self._paid_window: deque[float] = deque()
        self._group_windows: dict[int, deque[float]] = {}

    def refuse(self, retry_after: int) -> ApiError:
        """A 429 that is not the windows' (a flood wait injected by a test)."""
        self.throttled += 1
        return too_many(retry_after)

    def admit(self, chat_id: int, paid: bool = False) -> None:
        now = time.monotonic()
        window = self._paid_window if paid else self._window
        while window and window[0] <= now - 1.0:
            window.popleft()
        group = None
        if chat_id < 0:
            group = self._group_windows.setdefault(chat_id, deque())
            while group and group[0] <= now - 60.0:
                group.popleft()
        rate = self.paid_rate if paid else self.rate
        for queue, limit, span in ((window, rate, 1.0), (group, self.group_rate, 60.0)):
            if queue is not None and len(queue) >= limit:
                self.throttled += 1
                self.throttled_at.append((now, chat_id))
                raise too_many(max(1, math.ceil(queue[0] + span - now)))
        window.append(now)
        if paid:
            self.paid_arrivals.append(now)
        if group is not None:
            group.append(now)
