"""Posting digests and alerts to chats: exactly once each, within Telegram's limits.

Three kinds of pass share one discipline: the daily digest, the weekly digest, and follow
and watch alerts (each a delivery row of its kind per chat and date). A pass hands chats to a small pool of workers; the paced rate limiter spaces their messages
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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import partial
from typing import Any

import httpx
from sqlalchemy.exc import InterfaceError, OperationalError
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
from bot.i18n import N_, _, speaking
from bot.pacing import Priority, update_slot
from bot.services import Services
from bot.store import alerts, feed, languages, queries
from bot.store import subscriptions as subs
from bot.store.models import Every, Kind, StopReason
from bot.store.subscriptions import Claim, Held, LeaseLost, SubscriptionView

log = logging.getLogger(__name__)

WORKERS = 24
SUBSCRIPTION_PAGE = 500
WEEK_PAPERS = 2000  # a week's papers a weekly digest chooses from (a week has a few hundred)
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
    looked_again: int = 0  # held by another pass; looked at again once its claims could lapse
    unsure: int = 0  # a message went out without an answer: the next pass repeats it once
    failed: int = 0  # Telegram refused the day for good (bounded tries)
    delivered_to: list[int] = field(default_factory=list)
    handled: list[int] = field(default_factory=list)  # chats this day is settled for
    busy_chats: list[int] = field(default_factory=list)

    def then(self, later: PassReport) -> None:
        """Add a second look at this pass's busy chats to this report."""
        for name in ADDED_UP:
            setattr(self, name, getattr(self, name) + getattr(later, name))
        self.busy, self.busy_chats = later.busy, later.busy_chats

    def summary(self) -> str:
        """One line for operators: the day, the chats, and every counter that is not zero."""
        counts = {
            "sent": len(self.delivered_to),
            "already": self.already,
            "empty": self.empty,
            "deactivated": self.deactivated,
            "migrated": self.migrated,
            "looked_again": self.looked_again,
            "busy": self.busy,
            "failed": self.failed,
            "postponed": self.postponed,
        }
        parts = [_("{day}: {count} chats").format(day=self.day, count=self.chats)]
        parts += [
            _(COUNTERS[name]).format(count=count, messages=self.messages)
            for name, count in counts.items()
            if count
        ]
        return " · ".join(parts)

    def log_line(self) -> str:
        """The summary as the log has it: in English, whoever asked for the pass."""
        with speaking("en"):
            return self.summary()


ADDED_UP = (  # what a second look adds to a report (what is still busy, it replaces)
    "messages", "already", "empty", "deactivated", "migrated", "postponed", "unsure", "failed",
    "delivered_to", "handled",
)  # fmt: skip
COUNTERS = {
    "sent": N_("sent to {count} ({messages} messages)"),
    "already": N_("had it already {count}"),
    "empty": N_("nothing for them {count}"),
    "deactivated": N_("stopped (blocked or removed) {count}"),
    "migrated": N_("moved to a supergroup {count}"),
    "looked_again": N_("looked at again once another pass's claims lapsed {count}"),
    "busy": N_("another pass is on them {count}"),
    "failed": N_("refused for good {count}"),
    "postponed": N_("left for later {count}"),
}


Message = tuple[str, InlineKeyboardMarkup | None]


def _with_buttons(blocks: list[str], papers: Sequence[queries.PaperView]) -> list[Message]:
    """Blocks as messages; the paper buttons go under the last one."""
    parts = render.split_message(blocks)
    markup = keyboard(paper_buttons(papers))
    return [(text, markup if i == len(parts) - 1 else None) for i, text in enumerate(parts)]


def digest_messages(day: date, papers: Sequence[queries.PaperView], total: int) -> list[Message]:
    """The compact daily digest."""
    return _with_buttons(render.digest_blocks(day, papers, total), papers)


def weekly_messages(
    first: date, last: date, papers: Sequence[queries.PaperView], total: int
) -> list[Message]:
    """The weekly digest: the window's most-voted papers."""
    return _with_buttons(render.weekly_blocks(first, last, papers, total), papers)


def alert_messages(
    day: date, found: Sequence[tuple[queries.PaperView, Sequence[str]]]
) -> list[Message]:
    """A chat's follow and watch alert for the papers a load added to ``day``: one
    message, however many they are."""
    if not found:
        return []
    blocks, shown = render.alert_blocks(day, found)
    return _with_buttons(blocks, [paper for paper, _why in found[:shown]])


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


@dataclass(frozen=True)
class Target:
    """What a delivery row sends: one chat's digest of a day, weekly digest or alert."""

    chat_id: int
    day: date
    kind: Kind = Kind.DAILY
    covers: date | None = None  # a weekly digest: the newest day it is made of


Job = tuple[Target, Callable[[], Awaitable[list[Message]]]]


async def _ready(messages: list[Message]) -> list[Message]:
    return messages


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
        self.paid = settings.paid_broadcast  # digests and alerts as paid broadcasts

    @property
    def busy(self) -> bool:
        """Is a pass running in this process?"""
        return bool(self._passes)

    async def _tracked(self, work: Awaitable[PassReport]) -> PassReport:
        """Every pass, however started, is waited for by :meth:`stop`. A pass started from
        a handler runs on its own: the handler's update slot is not its to give back while
        it waits for pace (see :func:`bot.pacing.pace_wait`)."""
        task = asyncio.current_task()
        assert task is not None
        update_slot.set(None)  # in this task's own copy of the context
        self._passes.add(task)
        try:
            return await work
        finally:
            self._passes.discard(task)

    async def run_pass(
        self, day: date | None = None, chat_ids: Sequence[int] | None = None, finish: bool = False
    ) -> PassReport:
        """Deliver the daily digest of ``day`` (default: the newest) to the given chats
        (default: every active daily subscription). ``finish`` (an operator asked for the
        pass): chats another pass holds are looked at again once its claims could have
        lapsed, so that a pass that died (its claims never let go) leaves nobody behind."""
        return await self._tracked(
            self._finished(day, chat_ids) if finish else self._run_pass(day, chat_ids)
        )

    async def _finished(self, day: date | None, chat_ids: Sequence[int] | None) -> PassReport:
        report = await self._run_pass(day, chat_ids)
        if report.busy_chats:
            report.looked_again = len(report.busy_chats)
            log.info(
                "%d chats held by another pass: looking again until its claims lapse", report.busy
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lease.total_seconds() + 1.0
        while report.busy_chats and not self.stopping and loop.time() < deadline:
            # Each look is one claim attempt a chat: the chats a live pass finishes come
            # back as had, those of a dead one once its leases lapsed.
            await asyncio.sleep(min(1.0, max(0.0, deadline - loop.time())))
            report.then(await self._run_pass(report.day, report.busy_chats))
        return report

    async def _run_pass(self, day: date | None, chat_ids: Sequence[int] | None) -> PassReport:
        db = self.services.db
        report = PassReport(day=day or await db(queries.latest_day))
        if report.day is None or self.stopping:
            return report
        the_day = report.day
        # Chats with the same filters get the same digest: render it once per pass.
        day_papers = await db(queries.top_papers, the_day)
        digests: dict[tuple[int, int, tuple[str, ...], str], list[Message]] = {}

        def digest_of(chat: SubscriptionView) -> list[Message]:
            key = (chat.top_n, chat.min_votes, chat.keywords, chat.lang)
            if key not in digests:
                papers = subs.choose_papers(day_papers, chat)
                with speaking(chat.lang):
                    messages = digest_messages(the_day, papers, len(day_papers)) if papers else []
                digests[key] = messages
            return digests[key]

        async def jobs() -> AsyncIterator[Job]:
            # Chats are read a page at a time: memory does not grow with their number.
            after = None
            while not self.stopping:
                page = await db(subs.active_subscriptions, chat_ids, after, SUBSCRIPTION_PAGE)
                for chat in page:
                    if chat.every is Every.DAILY:
                        yield Target(chat.chat_id, the_day), partial(_ready, digest_of(chat))
                if len(page) < SUBSCRIPTION_PAGE:
                    break
                after = page[-1].chat_id

        await self._drive(jobs(), report)
        log.info("delivery pass %s", report.log_line())
        return report

    async def run_weekly_pass(self, chats: Sequence[tuple[SubscriptionView, date]]) -> PassReport:
        """Post weekly digests: for each (chat, the local date of its weekly slot), the top
        papers of the 7 days ending with the newest loaded day, once per (chat, that date),
        and only when a day was loaded since its last weekly digest."""
        return await self._tracked(self._run_weekly_pass(chats))

    async def _run_weekly_pass(self, chats: Sequence[tuple[SubscriptionView, date]]) -> PassReport:
        db = self.services.db
        report = PassReport(day=await db(queries.latest_day))
        if report.day is None or self.stopping or not chats:
            return report
        last = report.day
        first = last - timedelta(days=6)
        window = (await db(feed.top_in_window, first, last, 0, WEEK_PAPERS)).items
        digests: dict[tuple[int, int, tuple[str, ...], str], list[Message]] = {}

        def digest_of(chat: SubscriptionView) -> list[Message]:
            key = (chat.top_n, chat.min_votes, chat.keywords, chat.lang)
            if key not in digests:
                papers = subs.choose_papers(window, chat)
                with speaking(chat.lang):
                    messages = weekly_messages(first, last, papers, len(window)) if papers else []
                digests[key] = messages
            return digests[key]

        async def weekly(chat: SubscriptionView, posted: date) -> list[Message]:
            covered = await db(subs.last_weekly_cover, chat.chat_id, posted)
            return [] if covered is not None and covered >= last else digest_of(chat)

        async def jobs() -> AsyncIterator[Job]:
            for chat, posted in chats:
                target = Target(chat.chat_id, posted, Kind.WEEKLY, covers=last)
                yield target, partial(weekly, chat, posted)

        await self._drive(jobs(), report)
        log.info("weekly pass %s", report.log_line())
        return report

    async def run_alert_pass(self) -> PassReport:
        """Send every planned follow and watch alert not sent yet (see
        :mod:`bot.store.alerts`)."""
        return await self._tracked(self._run_alert_pass())

    async def _run_alert_pass(self) -> PassReport:
        db = self.services.db
        report = PassReport()
        days: dict[date, dict[int, queries.PaperView]] = {}  # each day's papers, read once

        async def jobs() -> AsyncIterator[Job]:
            after = None
            while not self.stopping:
                page = await db(alerts.pending_alerts, after, SUBSCRIPTION_PAGE)
                chosen = await db(alerts.alert_rows, page)
                spoken = await db(languages.for_deliveries, {chat for chat, _day in page})
                for day in sorted({day for _chat, day in page} - days.keys()):
                    days[day] = await db(alerts.day_papers, day)
                for chat_id, day in page:
                    found = alerts.arrange(days[day], chosen[chat_id, day])
                    with speaking(spoken[chat_id]):
                        messages = alert_messages(day, found)
                    yield Target(chat_id, day, Kind.ALERT), partial(_ready, messages)
                if len(page) < SUBSCRIPTION_PAGE:
                    break
                after = page[-1]

        await self._drive(jobs(), report)
        if report.chats:
            log.info("alert pass %s", report.log_line())
        return report

    async def _drive(self, jobs: AsyncIterator[Job], report: PassReport) -> None:
        """Hand the jobs to the workers, through a short queue; claims are held by a name
        for this pass and renewed while it runs."""
        owner = pass_owner()
        queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=2 * self.workers)

        async def produce() -> None:
            try:
                async for job in jobs:
                    if self.stopping:
                        break
                    report.chats += 1
                    await queue.put(job)
            finally:
                for _worker in range(self.workers):
                    await queue.put(None)

        async def worker() -> None:
            while (job := await queue.get()) is not None:
                target, make = job
                if self.stopping:
                    report.postponed += 1
                    continue
                try:
                    await self._deliver(target, await make(), owner, report)
                except Exception:  # one chat's failure must not stop the others
                    report.postponed += 1
                    log.exception("delivery to chat %s failed", target.chat_id)

        heartbeat = asyncio.ensure_future(self._renew(owner))
        try:
            await asyncio.gather(produce(), *(worker() for _worker in range(self.workers)))
        finally:
            heartbeat.cancel()

    async def _renew(self, owner: str) -> None:
        """Keep this pass's claims alive while it runs (a dead pass's claims run out)."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                await self.services.db(subs.renew_leases, owner, self.lease)
            except Exception:
                log.warning("could not renew delivery claims", exc_info=True)

    async def _deliver(
        self, target: Target, messages: list[Message], owner: str, report: PassReport
    ) -> None:
        db = self.services.db
        chat_id, day, kind = target.chat_id, target.day, target.kind
        if not messages:
            report.handled.append(chat_id)
            if await db(subs.mark_empty, chat_id, day, kind):
                report.empty += 1
            else:
                report.already += 1
            return
        claim = await db(
            subs.claim_delivery, chat_id, day, len(messages), owner, self.lease, kind, target.covers
        )
        if claim is Held.DONE:
            report.already += 1
            report.handled.append(chat_id)
            return
        if claim is Held.BUSY:
            report.busy += 1
            report.busy_chats.append(chat_id)
            return
        assert isinstance(claim, Claim)
        try:
            settled = await self._send_claimed(target, claim, owner, messages, report)
        except LeaseLost:
            log.warning("chat %s: another pass took over its %s of %s", chat_id, kind, day)
            settled = False
        if settled:  # else the chat's slot stays due, and the next pass looks again
            report.handled.append(chat_id)

    async def _send_claimed(
        self,
        target: Target,
        claim: Claim | Held,
        owner: str,
        messages: list[Message],
        report: PassReport,
    ) -> bool:
        """Send the claimed messages in turn, recording each; every way out leaves the row
        settled (True) or its claim let go for a later pass (False)."""
        db = self.services.db
        day, kind = target.day, target.kind
        chat_id = target.chat_id
        while isinstance(claim, Claim):
            repeat = claim.repeat
            if claim.resume_at >= len(messages):  # what is left to send got shorter
                await db(
                    subs.mark_sent, chat_id, day, owner, claim.resume_at, True, self.lease, kind
                )
                return True
            for number in range(claim.resume_at, len(messages)):
                if self.stopping:
                    await db(subs.release, chat_id, day, owner, kind)
                    report.postponed += 1
                    return False
                if repeat:
                    await db(subs.mark_repeating, chat_id, day, owner, kind)
                text, markup = messages[number]
                try:
                    await self.bot.send_message(
                        chat_id,
                        text,
                        reply_markup=markup,
                        rate_limit_args=Priority.BULK,
                        allow_paid_broadcast=self.paid or None,
                        read_timeout=self.send_timeout,
                        write_timeout=self.send_timeout,
                    )
                except ChatMigrated as exc:  # the same chat, under a new id: claim that one
                    await db(subs.migrate_chat, chat_id, exc.new_chat_id)
                    report.migrated += 1
                    chat_id = exc.new_chat_id
                    claim = await db(
                        subs.claim_delivery,
                        chat_id,
                        day,
                        len(messages),
                        owner,
                        self.lease,
                        kind,
                        target.covers,
                    )
                    if claim is Held.BUSY:
                        report.busy += 1
                        report.busy_chats.append(chat_id)
                    elif claim is Held.DONE:
                        report.already += 1
                    break  # on with the new id's claim, if this pass got it
                except (Forbidden, BadRequest) as exc:
                    return await self._refused(replace(target, chat_id=chat_id), owner, exc, report)
                except (RetryAfter, TimedOut, NetworkError) as exc:
                    if not outcome_unknown(exc):
                        await db(subs.release, chat_id, day, owner, kind)
                        report.postponed += 1
                        return False
                    if not repeat:
                        log.warning(
                            "chat %s: no answer to a %s message; repeating it once later",
                            chat_id,
                            kind,
                        )
                        await db(subs.mark_unsure, chat_id, day, owner, number, kind)
                        report.unsure += 1
                        report.postponed += 1
                        return False
                    log.warning(
                        "chat %s: its one repeat got no answer either; taken as sent", chat_id
                    )
                else:
                    report.messages += 1
                done = number + 1 == len(messages)
                await self._record(
                    subs.mark_sent, chat_id, day, owner, number + 1, done, self.lease, kind
                )
                repeat = False
            else:
                report.delivered_to.append(chat_id)
                return True
        return claim is Held.DONE  # after a migration: the new id had it, or another pass has

    async def _record(self, work: Callable[..., None], *args: Any) -> None:
        """Write what Telegram accepted. The message is out: the record must follow it, so a
        database that does not answer is asked again (kept in memory meanwhile) rather than
        letting the claim run out and a later pass send the message again. Only when the
        bot is stopping and the database stayed away a whole lease is the record given up."""
        delay, waited, warned = 0.1, 0.0, False
        while True:
            try:
                await self.services.db(work, *args)
                if warned:
                    log.info("delivery record written once the database answered again")
                return
            except (OperationalError, InterfaceError):
                if self.stopping and waited >= self.lease.total_seconds():
                    raise
                if not warned:
                    log.warning("the database did not take a delivery record; trying again")
                    warned = True
            await asyncio.sleep(delay)
            waited += delay
            delay = min(2 * delay, 2.0)

    async def _refused(
        self, target: Target, owner: str, error: TelegramError, report: PassReport
    ) -> bool:
        """Telegram refused the chat: stop for good (blocked, gone), or count the refusal
        and stop after a few (no rights to post yet, or anything else it may get over).
        True when the row is settled for the chat."""
        db = self.services.db
        chat_id, day, kind = target.chat_id, target.day, target.kind
        message = str(error)
        gone = isinstance(error, Forbidden) or "chat not found" in message.lower()
        if gone:
            await db(subs.mark_failed, chat_id, day, owner, message, kind)
            await db(subs.deactivate, chat_id, StopReason.BLOCKED)
            await db(alerts.drop_chat, chat_id)
            report.deactivated += 1
            return True
        if not await db(subs.refused, chat_id, day, owner, message, MAX_REFUSALS, kind):
            log.warning("chat %s refused the %s (%s); trying again later", chat_id, kind, message)
            report.postponed += 1
            return False
        report.failed += 1
        if "rights" in message.lower():
            await db(subs.deactivate, chat_id, StopReason.NO_RIGHTS)
            await db(alerts.drop_chat, chat_id)
            report.deactivated += 1
            log.warning(
                "chat %s: the bot may not post there (%s); subscription stopped", chat_id, message
            )
        else:
            log.warning(
                "chat %s refused %s %s %d times (%s); given up",
                chat_id,
                kind,
                day,
                MAX_REFUSALS,
                message,
            )
        return True

    def start_pass(
        self, day: date | None = None, chat_ids: Sequence[int] | None = None, finish: bool = False
    ) -> asyncio.Task[PassReport]:
        """Run a pass in the background (it is awaited on shutdown)."""
        return asyncio.ensure_future(self.run_pass(day, chat_ids, finish))

    async def stop(self) -> None:
        """Graceful stop: no new chats or messages; wait for the messages in flight (their
        passes let go of the claims they did not finish)."""
        self.stopping = True
        current = asyncio.current_task()
        passes = [task for task in self._passes if task is not current]
        if passes:
            await asyncio.gather(*passes, return_exceptions=True)
