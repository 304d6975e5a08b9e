"""Posting digests and alerts to chats: exactly once each, within Telegram's limits.

Three kinds of pass share one pipeline: the daily digest, the weekly digest, and follow
and watch alerts (each a row of the delivery ledger, :mod:`bot.store.deliveries`, per
chat, kind and date). A planner (:mod:`bot.delivery.plans`) turns the chats into jobs (a
row and its messages, each distinct digest built once per pass); the runner
(:mod:`bot.delivery.runner`) claims them in batches, sends them through the paced limiter
with many messages in flight, and records what Telegram accepted; the sender
(:mod:`bot.delivery.sender`) names what came of each message. A message whose answer never
came (Telegram may have accepted it) is marked unsure and sent again once, by a later
pass; one that surely never left (no connection, a flood wait) is simply tried again
later. A hard kill can at most repeat the messages in flight, one per chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from telegram.ext import ExtBot

from bot.delivery import plans
from bot.delivery.runner import (
    Address,
    Outgoing,
    Runner,
    claim_batch_for,
    workers_for,
)
from bot.delivery.sender import Sender, outcome_unknown
from bot.pacing import update_slot
from bot.posts import Post
from bot.reports import ADDED_UP, COUNTERS, PassReport
from bot.services import Services
from bot.store import deliveries as ledger
from bot.store import queries
from bot.store import subscriptions as subs
from bot.store.db import holder_name, now_utc
from bot.store.models import DeliveryKind, Every
from bot.store.slots import SubscriptionView

__all__ = [
    "ADDED_UP",
    "COUNTERS",
    "Address",
    "Deliverer",
    "PassReport",
    "outcome_unknown",
]

log = logging.getLogger(__name__)

JOIN_SECONDS = 1.0  # how often an instance looks for a pass another opened
SETTLE_LOOK_SECONDS = 0.2  # how often a pass looks whether the instances that joined it are done


class Deliverer:
    """Passes in this process. ``shared`` (instances on one PostgreSQL): a daily pass opens
    its chats' rows for every instance to claim a batch at a time, and each instance joins
    the passes another opened (:meth:`join_passes`): the fan-out is shared, under the one
    shared pace, each chat still claimed by one pass at a time."""

    def __init__(
        self,
        bot: ExtBot[Any],
        services: Services,
        workers: int | None = None,
        shared: bool = False,
    ) -> None:
        self.services = services
        self.shared = shared
        self.stopping = False
        self._passes: set[asyncio.Task[PassReport]] = set()
        self._working: set[date] = set()  # days whose opened rows a pass here claims
        self._joining: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
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

    async def _run(
        self,
        jobs: AsyncIterator[Outgoing],
        report: PassReport,
        owner: str | None = None,
        renewed: Sequence[str] = (),
    ) -> None:
        runner = Runner(
            self.services,
            self.sender,
            report,
            self.lease,
            self.workers,
            self.batch,
            lambda: self.stopping,
            owner,
        )
        runner.renewed += renewed
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
        digests = await plans.daily_digests(self.services, report.day)
        jobs = plans.daily_jobs(
            self.services, report.day, digests, lambda: self.stopping, chat_ids, chats
        )
        if self.shared and not quiet:
            await self._shared_pass(jobs, digests, report)
        else:
            await self._run(jobs, report)
        if not quiet:
            log.info("delivery pass %s", report.log_line())
        return report

    # --- a daily pass every instance works at -----------------------------------------------

    async def _shared_pass(
        self, jobs: AsyncIterator[Outgoing], digests: plans.Digests, report: PassReport
    ) -> None:
        """Open the rows of the pass's chats for every instance (a row that exists already
        is claimed here the usual way), claim them a batch at a time beside the instances
        that join, then wait for what they claimed to be settled, as long as a claim may
        live: what they settled counts as handled (``shared``), what they left as busy."""
        assert report.day is not None
        day, owner = report.day, holder_name()
        name = f"{ledger.OPEN}{owner.rsplit(':', 1)[-1]}"
        opened: dict[int, list[Post]] = {}  # the rows this pass opened, and their messages
        mine: set[int] = set()

        async def opening() -> AsyncIterator[Outgoing]:
            batch: list[Outgoing] = []
            async for job in jobs:
                if not job.posts:
                    yield job  # nothing to send: recorded as such here
                    continue
                batch.append(job)
                if len(batch) >= plans.SUBSCRIPTION_PAGE:
                    async for kept in self._open(batch, name, opened):
                        yield kept
                    batch = []
            async for kept in self._open(batch, name, opened):
                yield kept
            async for job in self._claimed(day, digests, owner, opened):
                mine.add(job.target.chat_id)
                yield job

        with self._working_on(day):
            await self._run(opening(), report, owner, [name])
        await self._settled_by_others([c for c in opened if c not in mine], report)

    async def _open(
        self, batch: Sequence[Outgoing], name: str, opened: dict[int, list[Post]]
    ) -> AsyncIterator[Outgoing]:
        """Open the rows of ``batch``; yield the jobs whose rows existed already."""
        if not batch:
            return
        wants = [job.target.want(len(job.posts)) for job in batch]
        try:
            added = await self.services.db(ledger.open_rows, wants, name, self.lease)
        except Exception:  # then this pass claims them itself, the usual way
            log.warning("could not open %d chats to other instances", len(batch), exc_info=True)
            added = set()
        for job in batch:
            if job.target.key in added:
                opened[job.target.chat_id] = job.posts
            else:
                yield job

    async def _claimed(
        self, day: date, digests: plans.Digests, owner: str, known: Mapping[int, list[Post]] = {}
    ) -> AsyncIterator[Outgoing]:
        """The opened rows of ``day`` this pass claims, a batch at a time, until none is
        left unclaimed: each with its chat's messages (``known`` already, or built from its
        subscription)."""
        db = self.services.db
        while not self.stopping:
            try:
                claimed = await db(
                    ledger.claim_open, day, DeliveryKind.DAILY, owner, self.lease, self.batch
                )
                if not claimed:
                    return
                unknown = [chat_id for chat_id, _ in claimed if chat_id not in known]
                chats = await db(subs.active_subscriptions, unknown) if unknown else []
            except Exception:  # what this pass claimed lapses; the rest stays open
                log.warning("could not claim chats of a pass; left for later", exc_info=True)
                return
            views = {chat.chat_id: chat for chat in chats if chat.every is Every.DAILY}
            for chat_id, claim in claimed:
                view = views.get(chat_id)
                posts = known.get(chat_id) or (digests.of(view) if view is not None else [])
                yield Outgoing(Address(chat_id, day), posts, claim)

    async def _settled_by_others(self, chat_ids: Sequence[int], report: PassReport) -> None:
        if not chat_ids or report.day is None:
            return
        db, day = self.services.db, report.day
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lease.total_seconds() + 1.0
        left = dict.fromkeys(chat_ids, False)
        try:
            left = await db(ledger.unsettled, day, DeliveryKind.DAILY, chat_ids)
            while not self.stopping and not all(left.values()) and loop.time() < deadline:
                await asyncio.sleep(SETTLE_LOOK_SECONDS)
                left = await db(ledger.unsettled, day, DeliveryKind.DAILY, list(left))
        except Exception:  # what is not known settled is looked at again, as busy
            log.warning("could not see what other instances settled", exc_info=True)
        settled = [chat_id for chat_id in chat_ids if chat_id not in left]
        report.shared += len(settled)
        report.handled += settled
        report.busy += len(left)
        report.busy_chats += list(left)

    async def join_passes(self) -> None:
        """Join, every ``JOIN_SECONDS``, the daily passes another instance opened (until
        :meth:`stop`)."""
        while not self.stopping:
            try:
                days = await self.services.db(ledger.open_days)
            except Exception:
                log.warning("could not look for passes to join", exc_info=True)
                days = []
            for day in days:
                if day not in self._working and not self.stopping:
                    await self._tracked(self._join(day))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), JOIN_SECONDS)

    @contextlib.contextmanager
    def _working_on(self, day: date) -> Iterator[None]:
        """A pass here claims the opened rows of ``day``: this process does not join it."""
        self._working.add(day)
        try:
            yield
        finally:
            self._working.discard(day)

    def start_joining(self) -> None:
        self._joining = asyncio.ensure_future(self.join_passes())

    async def _join(self, day: date) -> PassReport:
        report = PassReport(day=day)
        digests = await plans.daily_digests(self.services, day)
        owner = holder_name()
        with self._working_on(day):
            await self._run(self._claimed(day, digests, owner), report, owner)
        if report.chats:
            log.info("joined a delivery pass %s", report.log_line())
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
        started = now_utc()
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
        await self._run(plans.weekly_jobs(self.services, report.day, chats), report)
        log.info("weekly pass %s", report.log_line())
        return report

    # --- follow and watch alerts ------------------------------------------------------------

    async def run_alert_pass(self) -> PassReport:
        """Send every planned follow and watch alert not sent yet (see
        :mod:`bot.store.alerts`)."""
        return await self._tracked(self._alerts())

    async def _alerts(self) -> PassReport:
        report = PassReport()
        await self._run(plans.alert_jobs(self.services, lambda: self.stopping), report)
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
        self._stopped.set()
        if self._joining is not None:  # a pass it joined finishes its messages in hand
            await asyncio.gather(self._joining, return_exceptions=True)
        current = asyncio.current_task()
        passes = [task for task in self._passes if task is not current]
        if passes:
            await asyncio.gather(*passes, return_exceptions=True)
