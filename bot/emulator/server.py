"""A Bot API emulator on 127.0.0.1: enough of Telegram for the bot, its demo and its tests.

It speaks the HTTP Bot API as python-telegram-bot uses it and is as strict as Telegram (see
:mod:`bot.emulator.rules`: HTML, lengths, buttons, chats the bot may not post in, flood
limits answered 429 with ``retry_after``, 401 for a token it does not know, "query is too
old" for a button press answered too late). It is made of parts:

- :mod:`~bot.emulator.world`: chats, users, and the messages the bot sent;
- :mod:`~bot.emulator.rules`: what Telegram refuses, and the flood windows;
- :mod:`~bot.emulator.methods`: the Bot API methods, answered from the world by the rules;
- :mod:`~bot.emulator.transport`: the HTTP front, getUpdates and webhook pushes;
- :mod:`~bot.emulator.script`: the users a test scripts, and the faults it injects.

:class:`BotApiEmulator` puts them together; it is the users' side, with the state a test
looks at.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable
from typing import Any

from bot.emulator.methods import BotApi
from bot.emulator.rules import ApiError, FloodLimits
from bot.emulator.script import Faults, ScriptedUsers
from bot.emulator.transport import BAD_GATEWAY, HttpFront, Outage, UpdateStream
from bot.emulator.world import BOT_ID, Chat, SentMessage, World

__all__ = ["BOT_ID", "ApiError", "BotApiEmulator", "Chat", "SentMessage"]


class BotApiEmulator(ScriptedUsers):
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
        world = World(bot_username, keep_messages)
        super().__init__(world, UpdateStream())
        self.bot_username = bot_username
        self.faults = Faults()
        # Paid broadcasts (allow_paid_broadcast) have a window of their own, up to 1000/s.
        self.limits = FloodLimits(
            messages_per_second, group_messages_per_minute, paid_messages_per_second
        )
        self.api = BotApi(world, self.limits, self.updates, self.faults)
        self.front = HttpFront(self.api.dispatch, world.files, token)
        # What tests look at, by the names they always had (the same objects, not copies).
        self.chats, self.users, self.languages = world.chats, world.users, world.languages
        self.sent, self.by_id, self.user_messages = world.sent, world.by_id, world.user_messages
        self.sent_count, self.arrivals, self.files = world.sent_count, world.arrivals, world.files
        self.callback_answers, self.inline_answers = world.callback_answers, world.inline_answers
        self.menus, self.deleted = world.menus, world.deleted
        self.menu_buttons = world.menu_buttons
        self.late_answers = self.faults.late_answers
        self.paid_arrivals, self.throttled_at = self.limits.paid_arrivals, self.limits.throttled_at
        self.calls, self.errors = self.front.calls, self.front.errors
        self.requests, self.content_types = self.front.requests, self.front.content_types
        self.webhook_answers = self.updates.webhook_answers
        self._seen: dict[int, int] = {}

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        # Telegram does not pause. A full collection of the process it runs in (a test's,
        # with every module and fixture in it) took 100 ms and more, and the requests that
        # came meanwhile were then timed as one burst. What exists now is left out of
        # collections while it runs, so that they scan only what it makes.
        gc.freeze()
        return await self.front.start(host, port)

    async def stop(self) -> None:
        self.updates.close()
        await self.front.stop()
        gc.unfreeze()

    @property
    def url(self) -> str:
        return self.front.url

    # --- faults and knobs -----------------------------------------------------------------

    def flood(self, count: int, retry_after: int = 1) -> None:
        """Answer the next ``count`` sends with 429, as a flood wait would."""
        self.faults.flood_next, self.faults.flood_retry_after = count, retry_after

    def outage(
        self,
        status: int = 502,
        body: str = BAD_GATEWAY,
        content_type: str = "text/html",
        *,
        silent: bool = False,
        methods: tuple[str, ...] | None = None,
    ) -> Outage:
        """From now until :meth:`Outage.over` is set, answer requests as an outage would
        (see :class:`~bot.emulator.transport.Outage`); nothing reaches the Bot API."""
        names = None if methods is None else frozenset(m.lower() for m in methods)
        self.front.outage = Outage(status, body, content_type, silent, names)
        return self.front.outage

    def route(self, host: str, *to: str) -> None:
        self.updates.route(host, *to)

    @property
    def on_send(self) -> Callable[[SentMessage], None] | None:
        return self.faults.on_send

    @on_send.setter
    def on_send(self, hook: Callable[[SentMessage], None] | None) -> None:
        self.faults.on_send = hook

    @property
    def before_send(self) -> Callable[[str, dict[str, Any]], None] | None:
        return self.faults.before_send

    @before_send.setter
    def before_send(self, hook: Callable[[str, dict[str, Any]], None] | None) -> None:
        self.faults.before_send = hook

    @property
    def callback_timeout(self) -> float:
        return self.api.callback_timeout

    @callback_timeout.setter
    def callback_timeout(self, seconds: float) -> None:
        self.api.callback_timeout = seconds

    # --- what a test looks at -------------------------------------------------------------

    @property
    def throttled(self) -> int:
        """429s answered, by the flood windows or injected."""
        return self.limits.throttled

    @property
    def webhook(self) -> dict[str, Any] | None:
        return self.updates.webhook

    @property
    def commands(self) -> list[dict[str, Any]]:
        """The menu of users whose language has no menu of its own."""
        return self.menus.get("", [])

    def messages_in(self, chat_id: int) -> list[SentMessage]:
        return self.world.messages_in(chat_id)

    async def wait_until(self, predicate: Callable[[], object], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds, checking after every Bot API call (and every
        50 ms, for conditions on other state such as the database)."""
        deadline = time.monotonic() + timeout
        changed = self.api.changed
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the bot did not do what was expected in time")
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.05))

    async def answered(self, query_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until the bot answered the callback or inline query ``query_id``; the answer."""
        answers = self.callback_answers
        await self.wait_until(
            lambda: query_id in answers or query_id in self.inline_answers, timeout
        )
        return answers[query_id] if query_id in answers else self.inline_answers[query_id]

    async def replies(
        self, chat_id: int, count: int = 1, timeout: float = 10.0
    ) -> list[SentMessage]:
        """Wait for ``count`` new messages in a chat since the last call; return them."""
        start = self._seen.get(chat_id, 0)
        await self.wait_until(lambda: len(self.messages_in(chat_id)) >= start + count, timeout)
        new = self.messages_in(chat_id)[start:]
        self._seen[chat_id] = start + len(new)
        return new
