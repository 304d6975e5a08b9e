"""Fair update processing: one busy chat never slows down the others.

python-telegram-bot runs up to N updates at once, first come, first served: forty commands
in one group would take every slot while their replies wait for the group's pace (20
messages a minute), and a private ``/start`` behind them would wait too. Here each chat
has a lane: at most ``per_chat`` of its updates run at once and ``backlog`` more wait in
it; past that, an update is dropped and the chat is told once (coalesced) to try again
later. Updates of different chats only share the overall limit, and an update waiting
for its pace slot gives its share back meanwhile (:func:`bot.pacing.pace_wait`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.pacing import update_slot

log = logging.getLogger(__name__)

Dropped = Callable[[Update], Awaitable[None]]
NOTICE_EVERY = 60.0  # seconds between two "try again later" notices to one chat


@dataclass
class _Lane:
    running: int = 0
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)


def chat_key(update: object) -> int | None:
    """Whose lane an update runs in: its chat, else its sender (inline queries)."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    return update.effective_user.id if update.effective_user else None


class FairUpdateProcessor(BaseUpdateProcessor):
    def __init__(
        self,
        total: int = 32,
        per_chat: int = 2,
        backlog: int = 3,
        on_dropped: Dropped | None = None,
    ) -> None:
        # The base class's own limit only bounds the tasks in hand; ours do the work.
        super().__init__(max_concurrent_updates=max(1024, total))
        self.total = asyncio.BoundedSemaphore(total)
        self.per_chat, self.backlog = per_chat, backlog
        self.on_dropped = on_dropped
        self.lanes: dict[int, _Lane] = {}
        self.dropped = 0
        self.told: dict[int, float] = {}  # chat → when it was last told to wait

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        if key is None:
            await self._run(coroutine)
            return
        lane = self.lanes.setdefault(key, _Lane())
        if lane.running >= self.per_chat:
            if len(lane.waiting) >= self.backlog:
                self._drop(update, coroutine)
                return
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            lane.waiting.append(turn)
            await turn  # handed on by an update of this chat that finished
        else:
            lane.running += 1
        try:
            await self._run(coroutine)
        finally:
            if lane.waiting:
                lane.waiting.popleft().set_result(None)  # its share passes on
            else:
                lane.running -= 1
                if not lane.running:
                    del self.lanes[key]

    async def _run(self, coroutine: Awaitable[Any]) -> None:
        async with self.total:
            token = update_slot.set(self.total)
            try:
                await coroutine
            finally:
                update_slot.reset(token)

    def _drop(self, update: object, coroutine: Awaitable[Any]) -> None:
        self.dropped += 1
        close = getattr(coroutine, "close", None)
        if close is not None:
            close()  # never started
        if self.on_dropped is None or not isinstance(update, Update):
            return
        key, now = chat_key(update), time.monotonic()
        if update.callback_query is None:  # a message: one notice per chat and minute
            if key is None or now - self.told.get(key, -NOTICE_EVERY) < NOTICE_EVERY:
                return
            if len(self.told) > 10_000:
                self.told.clear()
            self.told[key] = now
        task = asyncio.ensure_future(self.on_dropped(update))  # paced on its own, not here
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not tell a busy chat to wait: %s", task.exception())
