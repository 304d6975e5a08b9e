"""A Bot API emulator on 127.0.0.1: enough of Telegram for the bot, its demo and its tests.

It speaks the HTTP Bot API as python-telegram-bot uses it (``/bot<token>/<method>`` and
``/file/bot<token>/<path>``) and is as strict as Telegram: it refuses malformed or
unsupported HTML, texts over 4096 UTF-16 units, callback data over 64 bytes, edits that
change nothing; it answers 429 with ``retry_after`` past 30 messages in any one-second
window or 20 a minute in a group, 403 for chats that blocked or removed the bot, and 400
with ``migrate_to_chat_id`` for a group that became a supergroup, 400 where the bot may
not post, 401 for a token it does not know, "query is too old" for a button press answered
too late, and more than 100 buttons (or 8 in a row) under one message are refused. Faults
can be injected: a chat whose sends are accepted but answered late (after the client's
timeout, as a slow Telegram does). The other side of the chat is scripted from Python:
users send messages, press buttons, upload documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.emulator.telegram_html import EntityError, parse_html, utf16_length

BOT_ID = 7_000_000_001
SEND_METHODS = {
    "sendmessage",
    "editmessagetext",
    "senddocument",
    "sendphoto",
    "copymessage",
    "forwardmessage",
    "editmessagereplymarkup",
}
JSON_FIELDS = {
    "reply_markup",
    "reply_parameters",
    "link_preview_options",
    "commands",
    "scope",
    "allowed_updates",
    "entities",
    "results",
    "button",
}
INLINE_TIMEOUT = 10.0  # seconds Telegram waits for an inline query's answer
BUTTON_ACTIONS = ("callback_data", "url", "switch_inline_query", "switch_inline_query_current_chat")


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


@dataclass
class Chat:
    id: int
    type: str  # private, group, supergroup
    title: str
    admins: set[int] = field(default_factory=set)
    creator: int | None = None
    blocked: bool = False
    migrated_to: int | None = None
    can_post: bool = True  # False: a group where the bot may not send messages
    username: str | None = None  # a public channel's @name
    bot_status: str = "member"  # in a channel: administrator (with can_post), or left

    def as_dict(self) -> dict[str, Any]:
        if self.type == "private":
            return {"id": self.id, "type": "private", "first_name": self.title}
        found = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            found["username"] = self.username
        return found


@dataclass
class SentMessage:
    """A message the bot sent (or its latest edit)."""

    chat_id: int
    message_id: int
    html: str
    text: str
    reply_markup: dict[str, Any] | None
    at: float
    edits: int = 0
    reply_to: int | None = None
    via_bot: bool = False  # posted by a user choosing an inline result
    link_preview: dict[str, Any] | None = None

    def buttons(self) -> list[tuple[str, str]]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]

    def button_of(self, label: str) -> dict[str, Any]:
        """The whole button whose text starts with ``label`` (any kind)."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return next(b for row in rows for b in row if b["text"].startswith(label))

    def button(self, label: str) -> str:
        """The callback data of the button whose label contains ``label``."""
        for text, data in self.buttons():
            if label in text:
                return data
        raise KeyError(f"no button {label!r} in {self.buttons()}")


def _chat_number(value: object) -> int:
    """A request's numeric chat id (0 for none, or for an ``@username``)."""
    try:
        return int(str(value or 0))
    except ValueError:
        return 0


def _flag(value: object) -> bool:
    """A Bot API boolean as it arrives (JSON true, or "true" in a form)."""
    return value is True or str(value).lower() == "true"


class BotApiEmulator:
    def __init__(
        self,
        *,
        messages_per_second: float = 30.0,
        group_messages_per_minute: float = 20.0,
        paid_messages_per_second: float = 1000.0,
        bot_username: str = "DailyPapersBot",
        keep_messages: bool = True,
        token: str | None = None,
    ) -> None:
        self.token = token  # when set, any other token is refused with 401
        self.keep_messages = keep_messages  # False: count sends only (for load benchmarks)
        self.sent_count: Counter[int] = Counter()
        self.arrivals: list[float] = []
        self.rate = messages_per_second
        self.group_rate = group_messages_per_minute
        # Paid broadcasts (allow_paid_broadcast) have a window of their own, up to 1000/s.
        self.paid_rate = paid_messages_per_second
        self.paid_arrivals: list[float] = []
        self.bot_username = bot_username
        self.chats: dict[int, Chat] = {}
        self.users: dict[int, str] = {}
        self.sent: list[SentMessage] = []  # every send, in order (edits update in place)
        self.by_id: dict[tuple[int, int], SentMessage] = {}
        self.user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        # The command menu per language_code ("" for everyone without one of their own).
        self.menus: dict[str, list[dict[str, Any]]] = {}
        self.languages: dict[int, str] = {}  # user → language_code (none: not sent)
        self.files: dict[str, bytes] = {}
        self.errors: list[tuple[str, int, str]] = []  # (method, code, description) refused
        self.calls: list[str] = []
        # When each request arrived, before it was read (what a bot's latency ends with).
        self.requests: deque[tuple[str, float]] = deque(maxlen=1000)
        self.content_types: Counter[str] = Counter()  # how requests were encoded
        self.throttled = 0  # 429s answered
        self.throttled_at: list[tuple[float, int]] = []  # when, and to which chat (limits)
        self.flood_next = 0  # the next N send requests get 429 regardless of rate
        self.flood_retry_after = 1
        self.late_answers: dict[int, float] = {}  # chat id → seconds a send's answer is held back
        self.callback_timeout = 15.0  # seconds a button press can be answered in
        self.deleted: set[tuple[int, int]] = set()
        self._pressed_at: dict[str, float] = {}
        self.on_send: Callable[[SentMessage], None] | None = None  # after a message is recorded
        self.before_send: Callable[[str, dict[str, Any]], None] | None = None  # before it is
        self._window: deque[float] = deque()
        self._paid_window: deque[float] = deque()
        self._group_windows: dict[int, deque[float]] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._new_update = asyncio.Event()
        self._changed = asyncio.Event()  # set after every Bot API call
        self._runner: web.AppRunner | None = None
        self.url = ""
        # Webhooks: what setWebhook registered; where a public host really is (as DNS and a
        # load balancer would say); how each delivery was answered.
        self.webhook: dict[str, Any] | None = None
        self.routes: dict[str, list[str]] = {}
        self.webhook_answers: list[int] = []
        self._webhook_queue: asyncio.Queue[dict[str, Any]] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_turn = itertools.count()
        # Inline mode: queries asked (id → when), and the answers the bot gave.
        self.inline_answers: dict[str, dict[str, Any]] = {}
        self._inline_asked: dict[str, float] = {}
        self._inline_ids = itertools.count(1)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        # aiohttp keeps the listening server private (and typed as maybe not started).
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.url = f"http://{host}:{sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        self._new_update.set()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
        if self._runner:
            await self._runner.cleanup()

    # --- the users' side -----------------------------------------------------------------

    def private_chat(self, user_id: int, name: str = "사용자") -> Chat:
        self.users[user_id] = name
        return self.chats.setdefault(user_id, Chat(user_id, "private", name))

    def group(
        self,
        chat_id: int,
        title: str,
        *,
        admins: tuple[int, ...] = (),
        creator: int | None = None,
        kind: str = "supergroup",
    ) -> Chat:
        chat = Chat(chat_id, kind, title, set(admins), creator)
        self.chats[chat_id] = chat
        return chat

    def channel(
        self,
        chat_id: int,
        title: str,
        username: str | None = None,
        *,
        admins: tuple[int, ...] = (),
        creator: int | None = None,
        bot_status: str = "administrator",
        can_post: bool = True,
    ) -> Chat:
        """A channel: its admins post; the bot posts only as an administrator allowed to."""
        chat = Chat(chat_id, "channel", title, set(admins), creator, username=username)
        chat.bot_status = bot_status
        chat.can_post = can_post and bot_status == "administrator"
        self.chats[chat_id] = chat
        return chat

    def _find_chat(self, chat_id: object) -> Chat:
        """A chat by its id, or a public channel by ``@username``."""
        text = str(chat_id)
        if text.startswith("@"):
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == text[1:].lower():
                    return chat
        elif (found := self.chats.get(_chat_number(text))) is not None:
            return found
        raise ApiError(400, "Bad Request: chat not found")

    async def _m_getchat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._find_chat(params.get("chat_id"))
        if chat.type == "channel" and chat.bot_status == "left" and not chat.username:
            raise ApiError(400, "Bad Request: chat not found")  # a private channel it is not in
        return {**chat.as_dict(), "accent_color_id": 0, "max_reaction_count": 11}

    def _user(self, user_id: int) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": self.users.get(user_id, f"user{user_id}"),
        }
        if user_id in self.languages:  # the language of the user's Telegram app
            user["language_code"] = self.languages[user_id]
        return user

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Daily Papers",
            "username": self.bot_username,
        }

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def route(self, host: str, *to: str) -> None:
        """Webhook calls for ``host`` go to ``to`` (``http://127.0.0.1:PORT``) instead; with
        several, in turn, skipping one that does not answer (a load balancer)."""
        self.routes[host] = [target.rstrip("/") for target in to]

    async def _m_setwebhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return await self._m_deletewebhook(params)
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "https":
            raise ApiError(400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
        if (parsed.port or 443) not in (443, 80, 88, 8443):
            raise ApiError(
                400,
                "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
            )
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret}
        if self._webhook_queue is None:
            self._webhook_queue = asyncio.Queue()
            self._webhook_task = asyncio.ensure_future(self._post_updates())
        for update in self._updates:  # pending ones go by webhook now
            self._webhook_queue.put_nowait(update)
        self._updates = []
        return True

    async def _m_deletewebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        return True

    async def _m_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        url = self.webhook["url"] if self.webhook else ""
        return {"url": url, "has_custom_certificate": False, "pending_update_count": 0}

    async def _post_updates(self) -> None:
        """Deliver updates to the webhook one by one, as Telegram does, retrying until the
        bot answers 2xx (a refused one is retried a few times, then dropped)."""
        assert self._webhook_queue is not None
        async with aiohttp.ClientSession() as http:
            while True:
                update = await self._webhook_queue.get()
                for attempt in range(10):
                    hook = self.webhook
                    if hook is None:
                        break
                    parts = urllib.parse.urlsplit(hook["url"])
                    targets = self.routes.get(parts.hostname or "") or [
                        f"{parts.scheme}://{parts.netloc}"
                    ]
                    base = targets[(next(self._webhook_turn) + attempt) % len(targets)]
                    headers = {}
                    if hook["secret_token"]:
                        headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
                    try:
                        async with http.post(
                            base + (parts.path or "/"), json=update, headers=headers
                        ) as answer:
                            self.webhook_answers.append(answer.status)
                            if answer.status < 300:
                                break
                    except aiohttp.ClientError:
                        self.webhook_answers.append(0)
                    await asyncio.sleep(0.2)

    def _push(self, update: dict[str, Any]) -> int:
        update_id = update["update_id"] = next(self._update_ids)
        if self.webhook is not None and self._webhook_queue is not None:
            self._webhook_queue.put_nowait(update)
            return update_id
        self._updates.append(update)
        self._new_update.set()
        return update_id

    def inline_query(self, user_id: int, query: str, offset: str = "") -> str:
        """A user types ``@bot query`` somewhere; the id to find the bot's answer by."""
        query_id = f"iq{next(self._inline_ids)}"
        self._inline_asked[query_id] = time.monotonic()
        self._push(
            {
                "inline_query": {
                    "id": query_id,
                    "from": self._user(user_id),
                    "query": query,
                    "offset": offset,
                    "chat_type": "supergroup",
                }
            }
        )
        return query_id

    def choose_inline(
        self, chat_id: int, user_id: int, query_id: str, result_id: str
    ) -> SentMessage:
        """The user picks a result: its message appears in the chat, sent via the bot."""
        result = next(r for r in self.inline_answers[query_id]["results"] if r["id"] == result_id)
        content = result["input_message_content"]
        params = {**content, "text": content["message_text"]}
        params["reply_markup"] = result.get("reply_markup")
        html_text, visible = self._checked_text(params)
        sent = SentMessage(
            chat_id,
            self._next_message_id(chat_id),
            html_text,
            visible,
            result.get("reply_markup"),
            time.monotonic(),
            via_bot=True,
            link_preview=content.get("link_preview_options"),
        )
        if self.keep_messages:
            self.sent.append(sent)
            self.by_id[(chat_id, sent.message_id)] = sent
        self._push(
            {
                "chosen_inline_result": {
                    "result_id": result_id,
                    "from": self._user(user_id),
                    "query": "",
                }
            }
        )
        return sent

    async def _m_answerinlinequery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("inline_query_id"))
        asked = self._inline_asked.get(query_id)
        if asked is None or time.monotonic() - asked > INLINE_TIMEOUT:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query id is invalid",
            )
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
            self._checked_text(
                {
                    **content,
                    "text": content["message_text"],
                    "reply_markup": result.get("reply_markup"),
                }
            )
        self.inline_answers[query_id] = params
        return True

    def send(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        sender_chat_id: int | None = None,
        reply_to: int | None = None,
        document: dict[str, Any] | None = None,
    ) -> int:
        """A user writes ``text`` (a command, or a caption when ``document`` is given)."""
        chat = self.chats[chat_id]
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat.as_dict(),
            "from": self._user(user_id),
        }
        if sender_chat_id is not None:  # an anonymous admin, posting as the group
            message["from"] = {
                "id": 1087968824,
                "is_bot": True,
                "first_name": "Group",
                "username": "GroupAnonymousBot",
            }
            message["sender_chat"] = self.chats[sender_chat_id].as_dict()
        entities = []
        if text.startswith("/"):
            entities = [
                {"type": "bot_command", "offset": 0, "length": utf16_length(text.split()[0])}
            ]
        if document is not None:
            message["document"] = document
            if text:
                message["caption"] = text
                message["caption_entities"] = entities
        else:
            message["text"] = text
            if entities:
                message["entities"] = entities
        if reply_to is not None:
            original = self.by_id.get((chat_id, reply_to)) or self.user_messages.get(
                (chat_id, reply_to)
            )
            if isinstance(original, SentMessage):
                message["reply_to_message"] = self._message_dict(original)
            elif original is not None:
                message["reply_to_message"] = original
        self.user_messages[(chat_id, message["message_id"])] = message
        self._push({"message": message})
        return int(message["message_id"])

    def send_document(
        self,
        chat_id: int,
        user_id: int,
        name: str,
        content: bytes,
        caption: str = "",
        reply_to: int | None = None,
    ) -> int:
        file_id = f"doc{len(self.files) + 1}"
        self.files[file_id] = content
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": name,
            "mime_type": "text/markdown",
            "file_size": len(content),
        }
        return self.send(chat_id, user_id, caption, document=document, reply_to=reply_to)

    def press(self, chat_id: int, message_id: int, data: str, user_id: int) -> str:
        """A user presses an inline button under one of the bot's messages."""
        message = self._message_dict(self.by_id[(chat_id, message_id)])
        return self._press(user_id, data, chat_instance=str(chat_id), message=message)

    def press_inline(self, inline_message_id: str, data: str, user_id: int) -> str:
        """A user presses a button under a message posted through inline mode (Telegram
        says which one by its id only; the bot is never shown the message)."""
        return self._press(
            user_id, data, chat_instance="inline", inline_message_id=inline_message_id
        )

    def _press(self, user_id: int, data: str, **where: object) -> str:
        query_id = f"cb{next(self._update_ids)}"
        self._pressed_at[query_id] = time.monotonic()
        self._push(
            {"callback_query": {"id": query_id, "from": self._user(user_id), "data": data, **where}}
        )
        return query_id

    def remove_bot(self, chat_id: int, by_user: int, status: str = "kicked") -> None:
        """The bot is blocked (private) or removed from a group: 403 from now on."""
        self.chats[chat_id].blocked = True
        self._membership(chat_id, by_user, "member", {"status": status, "until_date": 0})

    def add_bot(self, chat_id: int, by_user: int, payload: str | None = None) -> None:
        """A user adds the bot to a group; through a ``?startgroup=PAYLOAD`` link Telegram
        then also posts ``/start@Bot PAYLOAD`` there from that user."""
        self.chats[chat_id].blocked = False
        self._membership(chat_id, by_user, "left", {"status": "member"})
        if payload is not None:
            self.send(chat_id, by_user, f"/start@{self.bot_username} {payload}")

    def _membership(self, chat_id: int, by_user: int, old: str, new: dict[str, Any]) -> None:
        """A ``my_chat_member`` update: the bot's status in the chat changed."""
        bot = self._bot_user()
        self._push(
            {
                "my_chat_member": {
                    "chat": self.chats[chat_id].as_dict(),
                    "from": self._user(by_user),
                    "date": int(time.time()),
                    "old_chat_member": {"user": bot, "status": old},
                    "new_chat_member": {"user": bot, **new},
                }
            }
        )

    def migrate(self, chat_id: int, new_chat_id: int) -> Chat:
        """A group becomes a supergroup with a new id."""
        old = self.chats[chat_id]
        old.migrated_to = new_chat_id
        return self.group(new_chat_id, old.title, admins=tuple(old.admins), creator=old.creator)

    def delete(self, chat_id: int, message_id: int) -> None:
        """Someone deletes one of the bot's messages (a client may still show it a while,
        and press its buttons)."""
        self.deleted.add((chat_id, message_id))

    def flood(self, count: int, retry_after: int = 1) -> None:
        """Answer the next ``count`` sends with 429, as a flood wait would."""
        self.flood_next, self.flood_retry_after = count, retry_after

    def messages_in(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds, checking after every Bot API call (and every
        50 ms, for conditions on other state such as the database)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the bot did not do what was expected in time")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))

    async def replies(
        self, chat_id: int, count: int = 1, timeout: float = 10.0
    ) -> list[SentMessage]:
        """Wait for ``count`` new messages in a chat since the last call; return them."""
        seen = getattr(self, "_seen", {})
        self._seen = seen
        start = seen.get(chat_id, 0)
        await self.wait_until(lambda: len(self.messages_in(chat_id)) >= start + count, timeout)
        new = self.messages_in(chat_id)[start:]
        seen[chat_id] = start + len(new)
        return new

    # --- the bot's side ------------------------------------------------------------------

    def _message_dict(self, sent: SentMessage) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": self.chats[sent.chat_id].as_dict(),
            "from": self._bot_user(),
            "text": sent.text,
        }
        if sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        asked = self.user_messages.get((sent.chat_id, sent.reply_to or 0))
        if asked is not None:  # as Telegram does: the message it answers, one level deep
            message["reply_to_message"] = {
                k: v for k, v in asked.items() if k != "reply_to_message"
            }
        if sent.edits:
            message["edit_date"] = int(time.time())
        return message

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            raw = await request.json()
        else:
            raw = dict(await request.post())
            raw.update(request.query)
        params = {}
        for key, value in raw.items():
            if isinstance(value, str) and key in JSON_FIELDS:
                value = json.loads(value)
            params[key] = value
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        self.calls.append(method)
        self.requests.append((method, time.perf_counter()))
        self.content_types[request.content_type] += 1
        try:
            if self.token is not None and request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            params = await self._params(request)
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            if method in SEND_METHODS:
                self._check_chat(params)
                self._check_rate(int(params["chat_id"]), _flag(params.get("allow_paid_broadcast")))
                if self.before_send:
                    self.before_send(method, params)
            result = await handler(params)
            self._changed.set()
            late = self.late_answers.get(_chat_number(params.get("chat_id")), 0.0)
            if late and method in SEND_METHODS:
                await asyncio.sleep(late)  # accepted, but the answer comes late
            return web.json_response({"ok": True, "result": result})
        except ApiError as exc:
            self._changed.set()
            self.errors.append((method, exc.code, exc.description))
            body: dict[str, Any] = {
                "ok": False,
                "error_code": exc.code,
                "description": exc.description,
            }
            if exc.parameters:
                body["parameters"] = exc.parameters
            return web.json_response(body, status=exc.code)

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        content = self.files.get(path.rsplit("/", 1)[-1])
        if content is None:
            return web.Response(status=404)
        return web.Response(body=content)

    def _check_chat(self, params: dict[str, Any]) -> None:
        try:
            chat_id = int(params.get("chat_id", ""))
        except ValueError:
            raise ApiError(400, "Bad Request: chat not found") from None
        chat = self.chats.get(chat_id)
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

    def _check_rate(self, chat_id: int, paid: bool = False) -> None:
        """Telegram's limits: 30 a second overall (paid broadcasts: their own 1000), 20 a
        minute per group either way."""
        now = time.monotonic()
        if self.flood_next > 0:
            self.flood_next -= 1
            self.throttled += 1
            raise ApiError(
                429,
                f"Too Many Requests: retry after {self.flood_retry_after}",
                {"retry_after": self.flood_retry_after},
            )
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
                retry = max(1, math.ceil(queue[0] + span - now))
                raise ApiError(
                    429, f"Too Many Requests: retry after {retry}", {"retry_after": retry}
                )
        window.append(now)
        if paid:
            self.paid_arrivals.append(now)
        if group is not None:
            group.append(now)

    def _checked_text(self, params: dict[str, Any]) -> tuple[str, str]:
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
        self._check_markup(params.get("reply_markup"))
        return html_text, visible

    def _check_markup(self, markup: dict[str, Any] | None) -> None:
        """An inline keyboard as Telegram takes it: at most 100 buttons, 8 a row, each with
        a label and exactly one action, callback data of at most 64 bytes."""
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

    def _record(self, sent: SentMessage) -> None:
        if self.on_send:
            self.on_send(sent)

    async def _m_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._bot_user() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,  # inline mode, as BotFather's /setinline sets
        }

    @property
    def commands(self) -> list[dict[str, Any]]:
        """The menu of users whose language has no menu of its own."""
        return self.menus.get("", [])

    async def _m_setmycommands(self, params: dict[str, Any]) -> bool:
        """As Telegram checks it: at most 100 commands, each 1-32 lower-case letters, digits
        or underscores with a description of 1-256 characters; a two-letter language."""
        commands = params.get("commands", [])
        if isinstance(commands, str):
            commands = json.loads(commands)
        language = params.get("language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise ApiError(400, "Bad Request: invalid language code specified")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.menus[language] = commands
        return True

    async def _m_getmycommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.menus.get(params.get("language_code") or "", [])

    async def _m_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), float(params.get("timeout") or 0))
        limit = int(params.get("limit") or 100)
        return self._updates[:limit]

    async def _m_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        html_text, visible = self._checked_text(params)
        chat_id = int(params["chat_id"])
        reply = params.get("reply_parameters") or {}
        sent = SentMessage(
            chat_id,
            self._next_message_id(chat_id),
            html_text,
            visible,
            params.get("reply_markup"),
            time.monotonic(),
            reply_to=reply.get("message_id"),
            link_preview=params.get("link_preview_options"),
        )
        self.sent_count[chat_id] += 1
        self.arrivals.append(sent.at)
        if self.keep_messages:
            self.sent.append(sent)
            self.by_id[(chat_id, sent.message_id)] = sent
        self._record(sent)
        return self._message_dict(sent)

    async def _m_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        html_text, visible = self._checked_text(params)
        key = (int(params["chat_id"]), int(params["message_id"]))
        sent = self.by_id.get(key)
        if sent is None or key in self.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup")
        if sent.html == html_text and sent.reply_markup == markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content "
                "and reply markup are exactly the same as a current content and reply "
                "markup of the message",
            )
        sent.html, sent.text, sent.reply_markup = html_text, visible, markup
        sent.edits += 1
        return self._message_dict(sent)

    async def _m_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        markup = params.get("reply_markup")
        self._check_markup(markup)
        key = (int(params["chat_id"]), int(params["message_id"]))
        sent = self.by_id.get(key)
        if sent is None or key in self.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if sent.reply_markup == markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content "
                "and reply markup are exactly the same as a current content and reply "
                "markup of the message",
            )
        sent.reply_markup = markup
        sent.edits += 1
        return self._message_dict(sent)

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> bool:
        query_id = str(params["callback_query_id"])
        pressed = self._pressed_at.get(query_id)
        if pressed is None or time.monotonic() - pressed > self.callback_timeout:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query id is invalid",
            )
        url = params.get("url")
        if url is not None and not str(url).startswith(f"https://t.me/{self.bot_username}?start="):
            raise ApiError(400, "Bad Request: URL_INVALID")  # bots without games: own links only
        self.callback_answers[query_id] = params
        return True

    async def _m_sendchataction(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_getchatmember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._find_chat(params["chat_id"])
        user_id = int(params["user_id"])
        if user_id == BOT_ID:
            return self._bot_member(chat)
        if chat.type == "channel" and chat.bot_status != "administrator":
            raise ApiError(400, "Bad Request: member list is inaccessible")
        user = self._user(user_id)
        if user_id == chat.creator:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in chat.admins:
            rights = dict.fromkeys(
                [
                    "can_be_edited",
                    "is_anonymous",
                    "can_manage_chat",
                    "can_delete_messages",
                    "can_manage_video_chats",
                    "can_restrict_members",
                    "can_promote_members",
                    "can_change_info",
                    "can_invite_users",
                    "can_post_stories",
                    "can_edit_stories",
                    "can_delete_stories",
                ],
                False,
            )
            return {"status": "administrator", "user": user, **rights, "can_manage_chat": True}
        return {"status": "member", "user": user}

    def _bot_member(self, chat: Chat) -> dict[str, Any]:
        bot = self._bot_user()
        if chat.blocked or chat.bot_status == "left":
            return {"status": "left", "user": bot}
        if chat.type == "channel" and chat.bot_status == "administrator":
            return {
                "status": "administrator",
                "user": bot,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_post_messages": chat.can_post,
                "can_edit_messages": chat.can_post,
                "can_delete_messages": False,
                "can_manage_video_chats": False,
                "can_restrict_members": False,
                "can_promote_members": False,
                "can_change_info": False,
                "can_invite_users": False,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            }
        return {"status": "member", "user": bot}

    async def _m_getfile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(self.files[file_id]),
            "file_path": f"documents/{file_id}",
        }
