"""Posting a day's digest to subscribed chats: exactly once each, within Telegram's limits.

A pass hands chats to a small pool of workers; the paced rate limiter spaces their messages
evenly, so the pool only has to keep enough requests in flight to fill every slot. For each
chat the delivery row is claimed before the first message and advanced after each one
Telegram accepted: a restart resumes, and a received day is never sent again. A hard kill
can at most repeat the one message that was in flight for a chat (sent, not yet recorded).
On shutdown workers stop taking chats and finish the message in hand; what is left is
picked up by the next pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from telegram import InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ExtBot

from bot import render
from bot.handlers.browse import paper_buttons
from bot.handlers.common import Services, keyboard
from bot.pacing import Priority
from bot.store import queries
from bot.store import subscriptions as subs
from bot.store.subscriptions import SubscriptionView

log = logging.getLogger(__name__)

WORKERS = 24
SUBSCRIPTION_PAGE = 500


@dataclass
class PassReport:
    day: date | None = None
    chats: int = 0
    messages: int = 0
    already: int = 0
    empty: int = 0
    deactivated: int = 0
    migrated: int = 0
    postponed: int = 0  # left for the next pass (shutdown, network trouble, flood waits)
    delivered_to: list[int] = field(default_factory=list)
    handled: list[int] = field(default_factory=list)  # chats this day is settled for

    def summary(self) -> str:
        return (
            f"{self.day}: 구독 {self.chats}곳 · 보냄 {len(self.delivered_to)}곳({self.messages}개) · "
            f"이미 받음 {self.already} · 해당 없음 {self.empty} · 중단 {self.deactivated} · "
            f"이전 {self.migrated} · 다음으로 미룸 {self.postponed}"
        )


Message = tuple[str, InlineKeyboardMarkup | None]


def digest_messages(day: date, papers: Sequence[queries.PaperView], total: int) -> list[Message]:
    """The compact digest as messages; paper buttons go under the last one."""
    parts = render.split_message(render.digest_blocks(day, papers, total))
    markup = keyboard(paper_buttons(papers))
    return [(text, markup if i == len(parts) - 1 else None) for i, text in enumerate(parts)]


class Deliverer:
    def __init__(self, bot: ExtBot[Any], services: Services, workers: int = WORKERS) -> None:
        self.bot = bot
        self.services = services
        self.workers = workers
        self.stopping = False
        self._passes: set[asyncio.Task[PassReport]] = set()

    async def run_pass(
        self, day: date | None = None, chat_ids: Sequence[int] | None = None
    ) -> PassReport:
        """Deliver ``day`` (default: the newest) to the given chats (default: all active)."""
        db = self.services.db
        report = PassReport(day=day or await db(queries.latest_day))
        if report.day is None or self.stopping:
            return report
        day = report.day
        # Chats with the same filters get the same digest: render it once per pass.
        day_papers = await db(queries.top_papers, day)
        digests: dict[tuple[int, int, tuple[str, ...]], list[Message]] = {}

        def digest_of(chat: SubscriptionView) -> list[Message]:
            key = (chat.top_n, chat.min_votes, chat.keywords)
            if key not in digests:
                papers = subs.choose_papers(day_papers, chat)
                digests[key] = digest_messages(day, papers, len(day_papers)) if papers else []
            return digests[key]

        # Chats are read a page at a time into a short queue: memory does not grow with
        # the number of subscribers.
        queue: asyncio.Queue[SubscriptionView | None] = asyncio.Queue(maxsize=2 * self.workers)

        async def produce() -> None:
            after = None
            try:
                while not self.stopping:
                    page = await db(subs.active_subscriptions, chat_ids, after, SUBSCRIPTION_PAGE)
                    for chat in page:
                        report.chats += 1
                        await queue.put(chat)
                    if len(page) < SUBSCRIPTION_PAGE:
                        break
                    after = page[-1].chat_id
            finally:
                for _ in range(self.workers):
                    await queue.put(None)

        async def worker() -> None:
            while (chat := await queue.get()) is not None:
                if self.stopping:
                    report.postponed += 1
                    continue
                try:
                    await self._deliver(chat, digest_of(chat), report)
                except Exception:  # one chat's failure must not stop the others
                    report.postponed += 1
                    log.exception("delivery to chat %s failed", chat.chat_id)

        await asyncio.gather(produce(), *(worker() for _ in range(self.workers)))
        log.info("delivery pass %s", report.summary())
        return report

    async def _deliver(
        self, chat: SubscriptionView, messages: list[Message], report: PassReport
    ) -> None:
        db = self.services.db
        assert report.day is not None
        day = report.day
        if not messages:
            if await db(subs.mark_empty, chat.chat_id, day):
                report.empty += 1
            else:
                report.already += 1
            report.handled.append(chat.chat_id)
            return
        claim = await db(subs.claim_delivery, chat.chat_id, day, len(messages))
        if claim is None:
            report.already += 1
            report.handled.append(chat.chat_id)
            return
        chat_id = chat.chat_id
        for number in range(claim.resume_at, len(messages)):
            if self.stopping:
                report.postponed += 1
                return
            text, markup = messages[number]
            try:
                chat_id = await self._send(chat_id, text, markup, report)
            except Forbidden:
                await db(subs.deactivate, chat_id)
                report.deactivated += 1
                report.handled.append(chat.chat_id)
                return
            except BadRequest as exc:
                if "chat not found" in str(exc).lower():
                    await db(subs.deactivate, chat_id)
                    report.deactivated += 1
                    report.handled.append(chat.chat_id)
                    return
                raise
            except (RetryAfter, TimedOut, NetworkError):
                report.postponed += 1
                return
            await db(subs.mark_sent, chat_id, day, number + 1, number + 1 == len(messages))
            report.messages += 1
        report.delivered_to.append(chat_id)
        report.handled.append(chat.chat_id)

    async def _send(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None, report: PassReport
    ) -> int:
        """Send one message; follow a group's move to a supergroup. Returns the chat id used."""
        try:
            await self.bot.send_message(
                chat_id, text, reply_markup=markup, rate_limit_args=Priority.BULK
            )
            return chat_id
        except ChatMigrated as exc:
            new_id = exc.new_chat_id
            await self.services.db(subs.migrate_chat, chat_id, new_id)
            report.migrated += 1
            await self.bot.send_message(
                new_id, text, reply_markup=markup, rate_limit_args=Priority.BULK
            )
            return new_id

    def start_pass(
        self, day: date | None = None, chat_ids: Sequence[int] | None = None
    ) -> asyncio.Task[PassReport]:
        """Run a pass in the background (it is awaited on shutdown)."""
        task = asyncio.ensure_future(self.run_pass(day, chat_ids))
        self._passes.add(task)
        task.add_done_callback(self._passes.discard)
        return task

    async def stop(self) -> None:
        """Graceful stop: no new chats or messages; wait for the messages in flight."""
        self.stopping = True
        if self._passes:
            await asyncio.gather(*self._passes, return_exceptions=True)
