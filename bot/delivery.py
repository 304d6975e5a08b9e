"""Posting a day's digest to subscribed chats: exactly once each, within Telegram's limits.

A pass hands chats to a small pool of workers; the paced rate limiter spaces their messages
evenly, so the pool only has to keep enough requests in flight to fill every slot. For each
chat the pass claims the delivery row (:mod:`bot.store.subscriptions`): a lease that only
one pass holds, renewed every few seconds while the pass runs, and taken over by another
pass only once it has run out. Each message Telegram accepted advances the row. A message
whose answer never came (a read timeout: Telegram may have accepted it) is marked unsure and
sent again once, by a later pass; a message that surely never left (a connection or pool
error, a 429) is simply tried again later. A hard kill can at most repeat the one message
that was in flight for a chat. On shutdown workers stop taking chats, finish the message
in hand and let their claims go; what is left is picked up by the next pass.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from telegram import InlineKeyboardMarkup
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

from bot import render
from bot.buttons import keyboard, paper_buttons
from bot.pacing import Priority
from bot.services import Services
from bot.store import queries
from bot.store import subscriptions as subs
from bot.store.models import StopReason
from bot.store.subscriptions import Claim, Held, LeaseLost, SubscriptionView

log = logging.getLogger(__name__)

WORKERS = 24
SUBSCRIPTION_PAGE = 500
MAX_REFUSALS = 3  # passes a chat may refuse a day in (e.g. no rights to post) before it stops


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
    busy: int = 0  # another pass is sending to them right now
    unsure: int = 0  # a message went out without an answer: the next pass repeats it once
    failed: int = 0  # Telegram refused the day for good (bounded tries)
    delivered_to: list[int] = field(default_factory=list)
    handled: list[int] = field(default_factory=list)  # chats this day is settled for

    def summary(self) -> str:
        return (
            f"{self.day}: 구독 {self.chats}곳 · 보냄 {len(self.delivered_to)}곳({self.messages}개) · "
            f"이미 받음 {self.already} · 해당 없음 {self.empty} · 중단 {self.deactivated} · "
            f"이전 {self.migrated} · 다른 전달이 진행 중 {self.busy} · 실패 {self.failed} · "
            f"다음으로 미룸 {self.postponed}"
        )


Message = tuple[str, InlineKeyboardMarkup | None]


def digest_messages(day: date, papers: Sequence[queries.PaperView], total: int) -> list[Message]:
    """The compact digest as messages; paper buttons go under the last one."""
    parts = render.split_message(render.digest_blocks(day, papers, total))
    markup = keyboard(paper_buttons(papers))
    return [(text, markup if i == len(parts) - 1 else None) for i, text in enumerate(parts)]


def outcome_unknown(error: TelegramError) -> bool:
    """May Telegram have accepted the request this error ended? A read timeout or a
    connection lost after sending: yes. A connection never made, a pool that had no room,
    a request not fully written: no (Telegram acts on whole requests only)."""
    if not isinstance(error, TimedOut | NetworkError) or isinstance(error, BadRequest):
        return False
    cause = error.__cause__
    never_sent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout)
    return not isinstance(cause, never_sent)


def pass_owner() -> str:
    """A name for one pass, unique across processes and hosts (it holds the claims)."""
    return f"{socket.gethostname()[:16]}:{os.getpid()}:{uuid.uuid4().hex[:10]}"


class Deliverer:
    def __init__(self, bot: ExtBot[Any], services: Services, workers: int = WORKERS) -> None:
        self.bot = bot
        self.services = services
        self.workers = workers
        self.stopping = False
        self._passes: set[asyncio.Task[PassReport]] = set()
        settings = services.settings
        self.lease = timedelta(seconds=settings.delivery_lease_seconds)
        self.send_timeout = settings.send_timeout_seconds

    async def run_pass(
        self, day: date | None = None, chat_ids: Sequence[int] | None = None
    ) -> PassReport:
        """Deliver ``day`` (default: the newest) to the given chats (default: all active).
        Every pass, however started, is waited for by :meth:`stop`."""
        task = asyncio.current_task()
        assert task is not None
        self._passes.add(task)
        try:
            return await self._run_pass(day, chat_ids)
        finally:
            self._passes.discard(task)

    async def _run_pass(self, day: date | None, chat_ids: Sequence[int] | None) -> PassReport:
        db = self.services.db
        report = PassReport(day=day or await db(queries.latest_day))
        if report.day is None or self.stopping:
            return report
        day = report.day
        owner = pass_owner()
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
                    await self._deliver(chat, digest_of(chat), owner, report)
                except Exception:  # one chat's failure must not stop the others
                    report.postponed += 1
                    log.exception("delivery to chat %s failed", chat.chat_id)

        heartbeat = asyncio.ensure_future(self._renew(owner))
        try:
            await asyncio.gather(produce(), *(worker() for _ in range(self.workers)))
        finally:
            heartbeat.cancel()
        log.info("delivery pass %s", report.summary())
        return report

    async def _renew(self, owner: str) -> None:
        """Keep this pass's claims alive while it runs (a dead pass's claims run out)."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                await self.services.db(subs.renew_leases, owner, self.lease)
            except Exception:
                log.warning("could not renew delivery claims", exc_info=True)

    async def _deliver(
        self, chat: SubscriptionView, messages: list[Message], owner: str, report: PassReport
    ) -> None:
        db = self.services.db
        assert report.day is not None
        day, chat_id = report.day, chat.chat_id
        if not messages:
            report.handled.append(chat_id)
            if await db(subs.mark_empty, chat_id, day):
                report.empty += 1
            else:
                report.already += 1
            return
        claim = await db(subs.claim_delivery, chat_id, day, len(messages), owner, self.lease)
        if claim is Held.DONE:
            report.already += 1
            report.handled.append(chat_id)
            return
        if claim is Held.BUSY:
            report.busy += 1
            return
        assert isinstance(claim, Claim)
        try:
            settled = await self._send_claimed(chat_id, day, claim, owner, messages, report)
        except LeaseLost:
            log.warning("chat %s: another pass took over its delivery of %s", chat_id, day)
            settled = False
        if settled:  # else the chat's slot stays due, and the next pass looks again
            report.handled.append(chat_id)

    async def _send_claimed(
        self,
        chat_id: int,
        day: date,
        claim: Claim | Held,
        owner: str,
        messages: list[Message],
        report: PassReport,
    ) -> bool:
        """Send the claimed messages in turn, recording each; every way out leaves the row
        settled (True) or its claim let go for a later pass (False)."""
        db = self.services.db
        while isinstance(claim, Claim):
            repeat = claim.repeat
            for number in range(claim.resume_at, len(messages)):
                if self.stopping:
                    await db(subs.release, chat_id, day, owner)
                    report.postponed += 1
                    return False
                if repeat:
                    await db(subs.mark_repeating, chat_id, day, owner)
                text, markup = messages[number]
                try:
                    await self.bot.send_message(
                        chat_id,
                        text,
                        reply_markup=markup,
                        rate_limit_args=Priority.BULK,
                        read_timeout=self.send_timeout,
                        write_timeout=self.send_timeout,
                    )
                except ChatMigrated as exc:  # the same chat, under a new id: claim that one
                    await db(subs.migrate_chat, chat_id, exc.new_chat_id)
                    report.migrated += 1
                    chat_id = exc.new_chat_id
                    claim = await db(
                        subs.claim_delivery, chat_id, day, len(messages), owner, self.lease
                    )
                    if claim is Held.BUSY:
                        report.busy += 1
                    elif claim is Held.DONE:
                        report.already += 1
                    break  # on with the new id's claim, if this pass got it
                except (Forbidden, BadRequest) as exc:
                    return await self._refused(chat_id, day, owner, exc, report)
                except (RetryAfter, TimedOut, NetworkError) as exc:
                    if not outcome_unknown(exc):
                        await db(subs.release, chat_id, day, owner)
                        report.postponed += 1
                        return False
                    if not repeat:
                        log.warning(
                            "chat %s: no answer to a digest message; repeating it once later",
                            chat_id,
                        )
                        await db(subs.mark_unsure, chat_id, day, owner, number)
                        report.unsure += 1
                        report.postponed += 1
                        return False
                    log.warning(
                        "chat %s: its one repeat got no answer either; taken as sent", chat_id
                    )
                else:
                    report.messages += 1
                done = number + 1 == len(messages)
                await db(subs.mark_sent, chat_id, day, owner, number + 1, done, self.lease)
                repeat = False
            else:
                report.delivered_to.append(chat_id)
                return True
        return claim is Held.DONE  # after a migration: the new id had it, or another pass has

    async def _refused(
        self, chat_id: int, day: date, owner: str, error: TelegramError, report: PassReport
    ) -> bool:
        """Telegram refused the chat: stop for good (blocked, gone), or count the refusal
        and stop after a few (no rights to post yet, or anything else it may get over).
        True when the day is settled for the chat."""
        db = self.services.db
        message = str(error)
        gone = isinstance(error, Forbidden) or "chat not found" in message.lower()
        if gone:
            await db(subs.mark_failed, chat_id, day, owner, message)
            await db(subs.deactivate, chat_id, StopReason.BLOCKED)
            report.deactivated += 1
            return True
        if not await db(subs.refused, chat_id, day, owner, message, MAX_REFUSALS):
            log.warning("chat %s refused the digest (%s); trying again later", chat_id, message)
            report.postponed += 1
            return False
        report.failed += 1
        if "rights" in message.lower():
            await db(subs.deactivate, chat_id, StopReason.NO_RIGHTS)
            report.deactivated += 1
            log.warning(
                "chat %s: the bot may not post there (%s); subscription stopped", chat_id, message
            )
        else:
            log.warning(
                "chat %s refused %s %d times (%s); given up", chat_id, day, MAX_REFUSALS, message
            )
        return True

    def start_pass(
        self, day: date | None = None, chat_ids: Sequence[int] | None = None
    ) -> asyncio.Task[PassReport]:
        """Run a pass in the background (it is awaited on shutdown)."""
        return asyncio.ensure_future(self.run_pass(day, chat_ids))

    async def stop(self) -> None:
        """Graceful stop: no new chats or messages; wait for the messages in flight (their
        passes let go of the claims they did not finish)."""
        self.stopping = True
        current = asyncio.current_task()
        passes = [task for task in self._passes if task is not current]
        if passes:
            await asyncio.gather(*passes, return_exceptions=True)
