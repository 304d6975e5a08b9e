"""Posting digests and alerts to chats: exactly once each, within Telegram's limits.

Three kinds of pass share one pipeline: the daily digest, the weekly digest, and follow
and watch alerts (each a row of the delivery ledger, :mod:`bot.store.deliveries`, per
chat, kind and date). A planner here turns the chats into jobs (a row and its messages,
each distinct digest built once per pass); the runner (:mod:`bot.delivery.runner`)
claims them in batches, sends them through the paced limiter with many messages in
flight, and records what Telegram accepted; the sender (:mod:`bot.delivery.sender`)
names what came of each message. A message whose answer never came (Telegram may have
accepted it) is marked unsure and sent again once, by a later pass; one that surely
never left (no connection, a flood wait) is simply tried again later. A hard kill can at
most repeat the messages in flight, one per chat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date, timedelta
from typing import Any

from telegram.ext import ExtBot

from bot.delivery.report import ADDED_UP, COUNTERS, PassReport
from bot.delivery.runner import Address, Outgoing, Runner, claim_batch_for, workers_for
from bot.delivery.sender import Sender, outcome_unknown
from bot.i18n import speaking
from bot.pacing import update_slot
from bot.posts import Post, alert_posts, digest_posts, weekly_posts
from bot.services import Services
from bot.store import alerts, feed, languages, queries
from bot.store import deliveries as ledger
from bot.store import subscriptions as subs
from bot.store.models import DeliveryKind, Every
from bot.store.subscriptions import SubscriptionView

__all__ = [
    "ADDED_UP",
    "COUNTERS",
    "Address",
    "Deliverer",
    "PassReport",
    "outcome_unknown",
]

log = logging.getLogger(__name__)

SUBSCRIPTION_PAGE = 500
WEEK_PAPERS = 2000  # a week's papers a weekly digest chooses from (a week has a few hundred)


class Digests:
    """Each distinct digest of a pass, built once: chats with the same filters, top N and
    language get the same one, chosen from the same papers."""

    def __init__(
        self,
        papers: Sequence[queries.PaperView],
        build: Callable[[Sequence[queries.PaperView]], list[Post]],
    ) -> None:
        self.papers = papers
        self.build = build
        self.built: dict[tuple[int, int, tuple[str, ...], str], list[Post]] = {}

    def of(self, chat: SubscriptionView) -> list[Post]:
        key = (chat.top_n, chat.min_votes, chat.keywords, chat.lang)
        if key not in self.built:
            chosen = subs.choose_papers(self.papers, chat)
            with speaking(chat.lang):
                self.built[key] = self.build(chosen) if chosen else []
        return self.built[key]


class Deliverer:
    def __init__(self, bot: ExtBot[Any], services: Services, workers: int | None = None) -> None:
        self.services = services
        self.stopping = False
        self._passes: set[asyncio.Task[PassReport]] = set()
        settings = services.settings
        self.lease = timedelta(seconds=settings.delivery_lease_seconds)
        self.sender = Sender(bot, settings.paid_broadcast, settings.send_timeout_seconds)
        self.workers = workers or workers_for(settings.messages_per_second)
        self.batch = claim_batch_for(settings.messages_per_second)

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

    async def _run(self, jobs: AsyncIterator[Outgoing], report: PassReport) -> None:
        runner = Runner(
            self.services,
            self.sender,
            report,
            self.lease,
            self.workers,
            self.batch,
            lambda: self.stopping,
        )
        await runner.run(jobs)

    # --- the daily digest -------------------------------------------------------------------

    async def run_pass(
        self, day: date | None = None, chat_ids: Sequence[int] | None = None, finish: bool = False
    ) -> PassReport:
        """Deliver the daily digest of ``day`` (default: the newest) to the given chats
        (default: every active daily subscription). ``finish`` (an operator asked for the
        pass): chats another pass holds are looked at again once its claims could have
        lapsed, so that a pass that died (its claims never let go) leaves nobody behind."""
        return await self._tracked(
            self._finished(day, chat_ids) if finish else self._daily(day, chat_ids)
        )

    async def _finished(self, day: date | None, chat_ids: Sequence[int] | None) -> PassReport:
        report = await self._daily(day, chat_ids)
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
            report.then(await self._daily(report.day, report.busy_chats, quiet=True))
        return report

    async def _daily(
        self,
        day: date | None,
        chat_ids: Sequence[int] | None,
        quiet: bool = False,
        chats: Sequence[SubscriptionView] | None = None,
    ) -> PassReport:
        """The daily digest to ``chats`` (views a caller read already), or else to the
        active daily subscriptions (only ``chat_ids``, if given), read a page at a time."""
        db = self.services.db
        report = PassReport(day=day or await db(queries.latest_day))
        if report.day is None or self.stopping:
            return report
        the_day = report.day
        papers = await db(queries.top_papers, the_day)
        digests = Digests(papers, lambda chosen: digest_posts(the_day, chosen, len(papers)))

        async def jobs() -> AsyncIterator[Outgoing]:
            if chats is not None:
                for chat in chats:
                    if self.stopping:
                        return
                    yield Outgoing(Address(chat.chat_id, the_day), digests.of(chat))
                return
            # Chats are read a page at a time: memory does not grow with their number.
            after = None
            while not self.stopping:
                page = await db(subs.active_subscriptions, chat_ids, after, SUBSCRIPTION_PAGE)
                for chat in page:
                    if chat.every is Every.DAILY:
                        yield Outgoing(Address(chat.chat_id, the_day), digests.of(chat))
                if len(page) < SUBSCRIPTION_PAGE:
                    break
                after = page[-1].chat_id

        await self._run(jobs(), report)
        if not quiet:
            log.info("delivery pass %s", report.log_line())
        return report

    # --- a schedule's slot ------------------------------------------------------------------

    async def run_slot(
        self,
        daily: Sequence[SubscriptionView],
        weekly: Sequence[tuple[SubscriptionView, date]] = (),
    ) -> list[PassReport]:
        """A slot came (or passed while the bot was down): the newest day's digest to the
        ``daily`` chats, their week's digest to the ``weekly`` ones (each with the local date
        of its slot); then the slot is recorded as handled for every chat a pass settled."""
        started = subs.now_utc()
        reports = []
        if daily:
            reports.append(await self._tracked(self._daily(None, None, chats=daily)))
        if weekly:
            reports.append(await self._tracked(self._weekly(weekly)))
        handled = [chat_id for report in reports for chat_id in report.handled]
        await self.services.db(subs.record_slot, handled, started)
        return reports

    # --- the weekly digest ------------------------------------------------------------------

    async def _weekly(self, chats: Sequence[tuple[SubscriptionView, date]]) -> PassReport:
        """For each (chat, the local date of its weekly slot): the top papers of the 7 days
        ending with the newest loaded day, once per (chat, that date), and only when a day
        was loaded since its last weekly digest."""
        db = self.services.db
        report = PassReport(day=await db(queries.latest_day))
        if report.day is None or self.stopping or not chats:
            return report
        last = report.day
        first = last - timedelta(days=6)
        window = (await db(feed.top_in_window, first, last, 0, WEEK_PAPERS)).items
        digests = Digests(window, lambda chosen: weekly_posts(first, last, chosen, len(window)))

        async def jobs() -> AsyncIterator[Outgoing]:
            for chat, posted in chats:
                covered = await db(ledger.last_weekly_cover, chat.chat_id, posted)
                fresh = covered is None or covered < last
                target = Address(chat.chat_id, posted, DeliveryKind.WEEKLY, covers=last)
                yield Outgoing(target, digests.of(chat) if fresh else [])

        await self._run(jobs(), report)
        log.info("weekly pass %s", report.log_line())
        return report

    # --- follow and watch alerts ------------------------------------------------------------

    async def run_alert_pass(self) -> PassReport:
        """Send every planned follow and watch alert not sent yet (see
        :mod:`bot.store.alerts`)."""
        return await self._tracked(self._alerts())

    async def _alerts(self) -> PassReport:
        db = self.services.db
        report = PassReport()
        days: dict[date, dict[int, queries.PaperView]] = {}  # each day's papers, read once

        async def jobs() -> AsyncIterator[Outgoing]:
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
                        posts = alert_posts(day, found)
                    yield Outgoing(Address(chat_id, day, DeliveryKind.ALERT), posts)
                if len(page) < SUBSCRIPTION_PAGE:
                    break
                after = page[-1]

        await self._run(jobs(), report)
        if report.chats:
            log.info("alert pass %s", report.log_line())
        return report

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
